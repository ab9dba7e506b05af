//! `kcsr request`: key, CSR, checks, CSR manifest (and binding) onto the media.
//!
//! Order of work: everything is built and checked in memory first; nothing is written when a
//! check fails. Then the key (create-new, 0600, fsynced), then the media files, then
//! `SHA256SUMS`. A run interrupted after the key was written resumes with that key.

use std::path::{Path, PathBuf};

use kcsr_core::checks::{self, Finding, Request};
use kcsr_core::csr::CsrInfo;
use kcsr_core::expiry::Expiration;
use kcsr_core::key::{KeyFormat, PrivateKey};
use kcsr_core::manifest::{self, ApiVersion, CsrManifest, NameInputs, NewCsrManifest};
use kcsr_core::media::{BINDING_SUFFIX, CSR_MANIFEST_SUFFIX};
use kcsr_core::names::ObjectName;
use kcsr_core::rbac::{BindingManifest, Grant};
use kcsr_core::signer::SignerName;
use kcsr_core::sums;
use secrecy::SecretString;
use serde_json::json;

use crate::cli::RequestArgs;
use crate::fail::{Context as _, Fail, Hint as _, Result};
use crate::media_dir::MediaDir;
use crate::output::{self, Mode, Overwrite};
use crate::passphrase::{self, Purpose};
use crate::paths;
use crate::report;

/// Default lifetime when `--expiration` is not given (v1).
const DEFAULT_EXPIRATION: &str = "30d";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeySource {
    /// Generated now.
    New,
    /// Found in the key directory from an earlier (possibly interrupted) run.
    Reused,
    /// Given with --key.
    External,
}

pub(crate) fn run(args: RequestArgs) -> Result<()> {
    let stem = match &args.name {
        Some(n) => n.as_str().to_owned(),
        None => args.user.slug(),
    };
    let signer: Option<SignerName> = if args.no_signer {
        if args.api_version == ApiVersion::V1 {
            return Err(Fail::new(
                "--no-signer needs --api-version v1beta1: v1 requires spec.signerName",
            )
            .hint("drop --no-signer, or add --api-version v1beta1 for a cluster older than 1.22"));
        }
        None
    } else {
        Some(args.signer.clone())
    };
    let grant = match (&args.clusterrole, &args.role, &args.namespace) {
        (Some(r), None, None) => Some(Grant::ClusterRole(r.clone())),
        (Some(r), None, Some(ns)) => Some(Grant::ClusterRoleInNamespace(r.clone(), ns.clone())),
        (None, Some(r), Some(ns)) => Some(Grant::Role(r.clone(), ns.clone())),
        (None, None, Some(_)) => {
            return Err(Fail::new("--namespace needs --role or --clusterrole")
                .hint("add --role ROLE or --clusterrole ROLE, or drop --namespace"));
        }
        _ => None,
    };
    if let Some(g) = &grant {
        let (role, ns) = match g {
            Grant::ClusterRole(r) => (r, None),
            Grant::ClusterRoleInNamespace(r, ns) | Grant::Role(r, ns) => (r, Some(ns)),
        };
        if !kcsr_core::names::is_dns1123_subdomain(role) && !role.contains(':') {
            return Err(Fail::new(format!(
                "role name {role:?} is not a valid Kubernetes role name"
            )));
        }
        if let Some(ns) = ns
            && !kcsr_core::names::is_dns1123_label(ns)
        {
            return Err(Fail::new(format!(
                "namespace {ns:?} is not a DNS-1123 label (lowercase letters, digits and '-')"
            )));
        }
    }
    let expiration = match (args.api_version, args.expiration) {
        (ApiVersion::V1, None) => Some(
            DEFAULT_EXPIRATION
                .parse::<Expiration>()
                .map_err(|e| Fail::new(e.to_string()))?,
        ),
        (_, e) => e,
    };

    if let Some(keys) = &args.keys {
        paths::check_key_dir_outside_media(keys, &args.media)?;
    }
    if let Some(key) = &args.key
        && paths::resolve(key).starts_with(paths::resolve(&args.media))
    {
        return Err(Fail::new(format!(
            "the key {} is on the media {}; private keys must never travel",
            key.display(),
            args.media.display()
        ))
        .hint("move the key off the media and delete it there"));
    }

    // The key: given, left from an earlier run, or new.
    let key_path = args
        .keys
        .as_ref()
        .map(|k| k.join(format!("{stem}.key.pem")));
    let (key, source, passphrase) = obtain_key(&args, key_path.as_deref())?;

    let csr = key
        .sign_csr(&args.user, &args.groups, &args.dns, &args.ips)
        .map_err(|e| Fail::new(format!("failed to build the CSR: {e}")))?;
    let usages = if args.usages.is_empty() {
        checks::default_usages(signer.as_ref(), key.kind())
    } else {
        args.usages.clone()
    };
    let findings = checks::check(&Request {
        api_version: args.api_version,
        signer: signer.as_ref(),
        usages: &usages,
        expiration_seconds: expiration.map(Expiration::seconds),
        csr: &csr,
    });
    if checks::has_errors(&findings) {
        let mut message = format!(
            "the request for user {:?} would be refused by the cluster; nothing was written\n",
            report::sanitize(args.user.as_str())
        );
        message.push_str(report::findings(&findings, "  ").trim_end());
        return Err(Fail::new(message)
            .hint("fix what the findings above name and run kcsr request again")
            .refused());
    }

    let mut subject = vec![args.user.as_str().to_owned()];
    subject.extend(args.groups.iter().map(|g| format!("O={g}")));
    subject.extend(args.dns.iter().map(|d| format!("DNS={d}")));
    subject.extend(args.ips.iter().map(|i| format!("IP={i}")));
    let name: ObjectName = match &args.name {
        Some(n) => n.clone(),
        None => manifest::default_object_name(&NameInputs {
            user_slug: &stem,
            spki_der: &csr.public_key.spki_der,
            subject: &subject,
            signer: signer.as_ref(),
            usages: &usages,
            expiration,
            api_version: args.api_version,
        }),
    };
    let csr_manifest = CsrManifest::new(&NewCsrManifest {
        api_version: args.api_version,
        name: &name,
        csr: &csr,
        signer: signer.as_ref(),
        usages: &usages,
        expiration,
    });
    let manifest_yaml = csr_manifest
        .to_yaml()
        .map_err(|e| Fail::new(format!("failed to encode the manifest: {e}")))?;
    let binding_yaml = grant
        .as_ref()
        .map(|g| BindingManifest::for_user(&name, &args.user, g).to_yaml())
        .transpose()
        .map_err(|e| Fail::new(format!("failed to encode the binding: {e}")))?;

    let manifest_file = format!("{stem}{CSR_MANIFEST_SUFFIX}");
    let binding_file = format!("{stem}{BINDING_SUFFIX}");
    let state = media_state(
        &args.media,
        &manifest_file,
        &binding_file,
        &name,
        binding_yaml.as_deref(),
    )?;
    if state == MediaState::Different && !args.force {
        return Err(Fail::new(format!(
            "the media already holds a different request for user {:?} ({})",
            report::sanitize(args.user.as_str()),
            args.media.join(&manifest_file).display()
        ))
        .hint("pass --force to replace it, or --name NAME to add a second request"));
    }
    let unchanged = state == MediaState::Same && source != KeySource::New;

    let mut written: Vec<(String, PathBuf)> = Vec::new();
    if !args.dry_run && !unchanged {
        if source == KeySource::New
            && let Some(kp) = &key_path
        {
            write_key(&key, kp, passphrase.as_ref(), args.force)?;
            written.push(("key".to_owned(), kp.clone()));
        }
        let mut media = MediaDir::open(&args.media, true)?;
        written.push((
            "manifest".to_owned(),
            media.write(&manifest_file, manifest_yaml.as_bytes())?,
        ));
        match &binding_yaml {
            Some(b) => written.push((
                "binding".to_owned(),
                media.write(&binding_file, b.as_bytes())?,
            )),
            None => {
                if media.path.join(&binding_file).exists() {
                    output::remove_file(&media.path, &binding_file)
                        .context(|| format!("failed to remove the stale {binding_file}"))?;
                    media.sums.remove(&binding_file);
                }
            }
        }
        written.push(("checksums".to_owned(), media.save_sums()?));
    }

    summarize(&Summary {
        args: &args,
        name: &name,
        signer: signer.as_ref(),
        usages: &usages.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        expiration,
        csr: &csr,
        key: &key,
        key_path: args.key.as_deref().or(key_path.as_deref()),
        source,
        encrypted: passphrase.is_some() && source == KeySource::New
            || key.format() == KeyFormat::EncryptedPkcs8,
        manifest_file: &args.media.join(&manifest_file),
        binding_file: binding_yaml
            .as_ref()
            .map(|_| args.media.join(&binding_file)),
        manifest_yaml: &manifest_yaml,
        binding_yaml: binding_yaml.as_deref(),
        findings: &findings,
        unchanged,
        written: &written,
    });
    Ok(())
}

fn obtain_key(
    args: &RequestArgs,
    key_path: Option<&Path>,
) -> Result<(PrivateKey, KeySource, Option<SecretString>)> {
    if let Some(path) = &args.key {
        let key = read_key(path, args.passphrase_file.as_deref())?;
        return Ok((key, KeySource::External, None));
    }
    let Some(key_path) = key_path else {
        return Err(Fail::new(
            "--keys KEY_DIR is required unless --key FILE is given",
        ));
    };
    if key_path.exists() && !args.force {
        let key = read_key(key_path, args.passphrase_file.as_deref()).hint(|| {
            format!(
                "pass --force to replace {} with a new key",
                key_path.display()
            )
        })?;
        if key.kind() != &args.key_type.kind() {
            return Err(Fail::new(format!(
                "{} holds a {} key but --key-type {} was asked for",
                key_path.display(),
                key.kind(),
                args.key_type
            ))
            .hint("pass --force to replace the key, or the --key-type of the existing key"));
        }
        return Ok((key, KeySource::Reused, None));
    }
    let passphrase = if args.encrypt_key {
        Some(passphrase::obtain(
            args.passphrase_file.as_deref(),
            Purpose::NewKey,
            &format!("the new key {}", key_path.display()),
        )?)
    } else {
        None
    };
    let key = PrivateKey::generate(args.key_type).map_err(|e| Fail::new(e.to_string()))?;
    Ok((key, KeySource::New, passphrase))
}

fn read_key(path: &Path, passphrase_file: Option<&Path>) -> Result<PrivateKey> {
    let data = zeroize::Zeroizing::new(
        output::read_limited(path, 1 << 20)
            .context(|| format!("failed to read key {}", path.display()))?,
    );
    match PrivateKey::from_bytes(&data, None) {
        Err(kcsr_core::key::KeyError::NeedPassphrase) => {
            let pass = passphrase::obtain(
                passphrase_file,
                Purpose::Existing,
                &path.display().to_string(),
            )?;
            PrivateKey::from_bytes(&data, Some(&pass))
                .map_err(|e| Fail::new(format!("{}: {e}", path.display())))
        }
        Err(e @ kcsr_core::key::KeyError::RsaTooSmall(_)) => {
            Err(Fail::new(format!("{}: {e}", path.display()))
                .hint("generate a new key: kcsr request --key-type rsa2048 (or p256)")
                .refused())
        }
        other => other.map_err(|e| {
            Fail::new(format!("{}: {e}", path.display())).hint(
                "convert it with openssl pkey -in FILE -out key.pem (add -traditional for PKCS#1)",
            )
        }),
    }
}

fn write_key(
    key: &PrivateKey,
    path: &Path,
    passphrase: Option<&SecretString>,
    force: bool,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    output::create_dir(dir, 0o700)
        .context(|| format!("failed to create key directory {}", dir.display()))?;
    let pem = match passphrase {
        Some(p) => key
            .to_encrypted_pem(p)
            .map_err(|e| Fail::new(e.to_string()))?,
        None => key.to_pem(),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Fail::new(format!("{} is not a file path", path.display())))?;
    let overwrite = if force {
        Overwrite::Allow
    } else {
        Overwrite::Deny
    };
    output::write_file(dir, name, pem.as_bytes(), Mode::Secret, overwrite)
        .context(|| format!("failed to write key {}", path.display()))
        .hint(|| "pass --force to replace an existing key".to_owned())?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaState {
    Absent,
    Same,
    Different,
}

/// Whether the media already holds this request (same object name, binding and checksums).
fn media_state(
    media: &Path,
    manifest_file: &str,
    binding_file: &str,
    name: &ObjectName,
    binding_yaml: Option<&str>,
) -> Result<MediaState> {
    if !media.join(manifest_file).exists() {
        return Ok(MediaState::Absent);
    }
    let dir = MediaDir::open(media, false)?;
    let data = dir.read(manifest_file)?;
    let docs = manifest::parse_documents(&data)
        .map_err(|e| Fail::new(format!("{}: {e}", media.join(manifest_file).display())))?;
    let same_name =
        matches!(docs.as_slice(), [manifest::Document::Csr(m)] if m.metadata.name == name.as_str());
    let listed = dir.sums.matches(manifest_file, &data);
    let binding_same = match binding_yaml {
        Some(b) => {
            dir.sums.matches(binding_file, b.as_bytes())
                && dir.read(binding_file).ok().as_deref() == Some(b.as_bytes())
        }
        None => !media.join(binding_file).exists(),
    };
    Ok(if same_name && listed && binding_same {
        MediaState::Same
    } else {
        MediaState::Different
    })
}

struct Summary<'a> {
    args: &'a RequestArgs,
    name: &'a ObjectName,
    signer: Option<&'a SignerName>,
    usages: &'a [&'a str],
    expiration: Option<Expiration>,
    csr: &'a CsrInfo,
    key: &'a PrivateKey,
    key_path: Option<&'a Path>,
    source: KeySource,
    encrypted: bool,
    manifest_file: &'a Path,
    binding_file: Option<PathBuf>,
    manifest_yaml: &'a str,
    binding_yaml: Option<&'a str>,
    findings: &'a [Finding],
    unchanged: bool,
    written: &'a [(String, PathBuf)],
}

fn summarize(s: &Summary<'_>) {
    let status = if s.args.dry_run {
        "dry-run"
    } else if s.unchanged {
        "unchanged"
    } else {
        "written"
    };
    let key_source = match s.source {
        KeySource::New => "new",
        KeySource::Reused => "reused",
        KeySource::External => "external",
    };
    if s.args.output.json {
        let value = json!({
            "status": status,
            "user": s.args.user.as_str(),
            "groups": s.args.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "name": s.name.as_str(),
            "apiVersion": s.args.api_version.api_version(),
            "signerName": s.signer.map(SignerName::as_str),
            "usages": s.usages,
            "expirationSeconds": s.expiration.map(Expiration::seconds),
            "key": {
                "path": s.key_path.map(|p| p.display().to_string()),
                "type": s.key.kind().to_string(),
                "source": key_source,
                "encrypted": s.encrypted,
            },
            "publicKeySha256": s.csr.public_key.fingerprint,
            "manifest": s.manifest_file.display().to_string(),
            "binding": s.binding_file.as_ref().map(|p| p.display().to_string()),
            "checksums": s.args.media.join(sums::FILE_NAME).display().to_string(),
            "findings": s.findings,
            "written": s.written.iter().map(|(k, p)| json!({"kind": k, "path": p.display().to_string()})).collect::<Vec<_>>(),
        });
        report::json(&value);
    }
    if s.args.dry_run && !s.args.output.json {
        report::data(&format!(
            "# {} (not written)\n{}",
            s.manifest_file.display(),
            s.manifest_yaml
        ));
        if let (Some(p), Some(b)) = (&s.binding_file, s.binding_yaml) {
            report::data(&format!("---\n# {} (not written)\n{b}", p.display()));
        }
    }
    if s.args.output.quiet {
        return;
    }
    let groups = if s.args.groups.is_empty() {
        "no groups".to_owned()
    } else {
        format!(
            "groups: {}",
            s.args
                .groups
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let user = report::sanitize(s.args.user.as_str());
    let headline = match status {
        "dry-run" => format!("kcsr: dry run for user {user:?} ({groups}); nothing was written"),
        "unchanged" => format!(
            "kcsr: the request for user {user:?} ({groups}) is already on the media; nothing changed"
        ),
        _ => format!("kcsr: request for user {user:?} ({groups}) written"),
    };
    report::say(&headline);
    if let Some(kp) = s.key_path {
        let how = match s.source {
            KeySource::New if s.args.dry_run => "would be generated",
            KeySource::New => "new",
            KeySource::Reused => "reused from an earlier run; --force makes a new one",
            KeySource::External => "given with --key, not copied",
        };
        report::say(&format!(
            "  key        {}  ({}, {}{}, {how})",
            kp.display(),
            s.key.kind(),
            if s.encrypted {
                "encrypted PKCS#8"
            } else {
                s.key.format().describe()
            },
            if s.source == KeySource::External {
                ""
            } else {
                ", 0600"
            }
        ));
    }
    report::say(&format!(
        "  manifest   {}  (CertificateSigningRequest {}, {}, {}{})",
        s.manifest_file.display(),
        s.name,
        s.args.api_version,
        s.signer
            .map(SignerName::as_str)
            .unwrap_or("signer chosen by the server"),
        s.expiration.map(|e| format!(", {e}")).unwrap_or_default()
    ));
    if let Some(p) = &s.binding_file {
        report::say(&format!("  binding    {}", p.display()));
    }
    report::say(&format!(
        "  checksums  {}",
        s.args.media.join(sums::FILE_NAME).display()
    ));
    report::say(&format!(
        "  public key sha256 {}",
        s.csr.public_key.fingerprint
    ));
    if !s.findings.is_empty() {
        report::say(report::findings(s.findings, "  ").trim_end());
    }
    if status != "dry-run" {
        report::say(&format!(
            "next: carry {} to the connected machine and run: kcsr-submit apply {} --approve --wait 10m",
            s.args.media.display(),
            s.args.media.display()
        ));
    }
}
