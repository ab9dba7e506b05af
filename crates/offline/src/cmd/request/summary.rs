//! What `kcsr request` reports: the JSON object, the manifests of a dry run, and the lines
//! for the operator.

use std::path::{Path, PathBuf};

use kcsr_core::checks::Finding;
use kcsr_core::csr::CsrInfo;
use kcsr_core::expiry::Expiration;
use kcsr_core::key::CsrSigner as _;
use kcsr_core::media::SUMS_SIGNATURE_FILE;
use kcsr_core::names::ObjectName;
use kcsr_core::signer::SignerName;
use kcsr_core::station::RequestRecord;
use kcsr_core::sums;
use serde_json::json;

use crate::cli::RequestArgs;
use crate::fail::Result;
use crate::plan::{self, KeySource};
use crate::report;
use crate::user_key::{TokenSummary, UserKey};

pub(super) struct Summary<'a> {
    pub(super) args: &'a RequestArgs,
    pub(super) name: &'a ObjectName,
    pub(super) signer: Option<&'a SignerName>,
    pub(super) usages: Vec<&'a str>,
    pub(super) expiration: Option<Expiration>,
    pub(super) csr: &'a CsrInfo,
    /// `None` for a request from the user's own CSR.
    pub(super) key: Option<&'a UserKey>,
    pub(super) key_path: Option<&'a Path>,
    pub(super) source: KeySource,
    pub(super) encrypted: bool,
    pub(super) token: Option<&'a TokenSummary>,
    pub(super) manifest_file: PathBuf,
    pub(super) binding_file: Option<PathBuf>,
    pub(super) manifest_yaml: &'a str,
    pub(super) binding_yaml: Option<&'a str>,
    pub(super) findings: &'a [Finding],
    pub(super) unchanged: bool,
    pub(super) written: &'a [(String, PathBuf)],
    pub(super) record: &'a RequestRecord,
    pub(super) record_path: PathBuf,
}

impl<'a> Summary<'a> {
    fn status(&self) -> &'static str {
        if self.args.dry_run {
            "dry-run"
        } else if self.unchanged {
            "unchanged"
        } else {
            "written"
        }
    }
}

pub(super) fn summarize(s: &Summary<'_>) -> Result<()> {
    let status = s.status();
    if s.args.output.json {
        report::json(&json_report(s, status))?;
    }
    if s.args.dry_run && !s.args.output.json {
        report::data(&format!(
            "# {} (not written)\n{}",
            s.manifest_file.display(),
            s.manifest_yaml
        ))?;
        if let (Some(p), Some(b)) = (&s.binding_file, s.binding_yaml) {
            report::data(&format!("---\n# {} (not written)\n{b}", p.display()))?;
        }
    }
    if s.args.output.quiet {
        return Ok(());
    }
    say_headline(s, status);
    say_key(s);
    say_files(s, status);
    Ok(())
}

/// The `--json` report.
fn json_report(s: &Summary<'_>, status: &str) -> serde_json::Value {
    let key_source = match s.source {
        KeySource::New => "new",
        KeySource::Reused => "reused",
        KeySource::External => "external",
        KeySource::Csr => plan::EXTERNAL_CSR,
    };
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
            "path": s.key_path.filter(|_| s.key.is_some()).map(|p| p.display().to_string()),
            "type": s.csr.public_key.kind.to_string(),
            "source": key_source,
            "encrypted": s.key.map(|_| s.encrypted),
        },
        "csr": s.key_path.filter(|_| s.key.is_none()).map(|p| p.display().to_string()),
        "publicKeySha256": s.csr.public_key.fingerprint,
        "grants": s.record.grant_list(),
        "ticket": s.record.ticket,
        "operator": s.record.operator,
        "manifest": s.manifest_file.display().to_string(),
        "binding": s.binding_file.as_ref().map(|p| p.display().to_string()),
        "checksums": s.args.media.join(sums::FILE_NAME).display().to_string(),
        "signature": s.args.media.join(SUMS_SIGNATURE_FILE).display().to_string(),
        "station": s.record.station,
        "cluster": s.record.cluster.as_ref().map(|c| c.as_str()),
        "clusterCaSha256": s.record.cluster_ca_sha256,
        "created": s.record.created,
        "notAfter": s.record.not_after,
        "record": s.record_path.display().to_string(),
        "findings": s.findings,
        "written": s.written.iter().map(|(k, p)| json!({"kind": k, "path": p.display().to_string()})).collect::<Vec<_>>(),
    });
    let mut value = value;
    if let Some(t) = s.token {
        value["key"]["pkcs11"] = json!({
            "uri": t.uri,
            "token": t.token,
            "object": t.object,
            "extractable": t.attributes.map(|a| a.extractable),
            "sensitive": t.attributes.map(|a| a.sensitive),
        });
    }
    value
}

/// What happened, for whom.
fn say_headline(s: &Summary<'_>, status: &str) {
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
}

/// Where the key is (or the user's CSR), and what protects it.
fn say_key(s: &Summary<'_>) {
    match (s.key_path, s.key) {
        (Some(kp), Some(key)) => {
            let how = match s.source {
                KeySource::New if s.args.dry_run => "would be generated",
                KeySource::New => "new",
                KeySource::Reused => "reused from an earlier run; --force makes a new one",
                KeySource::External | KeySource::Csr => "given with --key, not copied",
            };
            report::say(&format!(
                "  key        {}  ({}, {}{}, {how})",
                kp.display(),
                key.kind(),
                if s.encrypted {
                    "encrypted PKCS#8"
                } else {
                    key.file().map_or("PKCS#8", |k| k.format().describe())
                },
                if s.source == KeySource::External {
                    ""
                } else {
                    ", 0600"
                }
            ));
        }
        (Some(csr), None) => report::say(&format!(
            "  csr        {}  ({}; the user's own: the key is theirs and never here)",
            csr.display(),
            s.csr.public_key.kind
        )),
        _ => {}
    }
    if let (Some(t), Some(key)) = (s.token, s.key) {
        report::say(&token_line(t, key, s.source, s.args.dry_run));
    }
}

/// The media files, the record and what comes next.
fn say_files(s: &Summary<'_>, status: &str) {
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
        report::say(&format!(
            "  binding    {}  ({})",
            p.display(),
            s.record.grant_list().join(", ")
        ));
    }
    if let Some(t) = &s.record.ticket {
        report::say(&format!("  ticket     {}", report::sanitize(t)));
    }
    if let Some(o) = &s.record.operator {
        report::say(&format!("  operator   {}", report::sanitize(o)));
    }
    report::say(&format!(
        "  checksums  {}",
        s.args.media.join(sums::FILE_NAME).display()
    ));
    if status != "dry-run" {
        report::say(&format!(
            "  signature  {}  (station key {})",
            s.args.media.join(SUMS_SIGNATURE_FILE).display(),
            s.record.station
        ));
    }
    if let Some(cluster) = &s.record.cluster {
        report::say(&format!(
            "  cluster    {cluster}  (server CA {})",
            s.record.cluster_ca_sha256.join(", ")
        ));
    }
    report::say(&format!(
        "  record     {}  (accepted until {})",
        s.record_path.display(),
        s.record.not_after
    ));
    report::say(&format!(
        "  public key sha256 {}",
        s.csr.public_key.fingerprint
    ));
    if !s.findings.is_empty() {
        report::say(report::findings(s.findings, "  ").trim_end());
    }
    if status != "dry-run" {
        report::say(&next_steps(&s.args.media));
    }
}

/// The report line of a key in a token: where it is and what protects it.
fn token_line(t: &TokenSummary, key: &UserKey, source: KeySource, dry_run: bool) -> String {
    let how = match source {
        KeySource::New if dry_run => "would be generated in the token",
        KeySource::New => "generated in the token",
        _ => "already in the token",
    };
    let protection = match t.attributes {
        Some(a) if a.can_leave() => "EXTRACTABLE: its private key can leave the token",
        Some(a) if a.generated_inside => "non-extractable, sensitive, never left the token",
        Some(_) => "non-extractable, sensitive",
        None => "non-extractable, sensitive",
    };
    format!(
        "  key        in token {:?} as {:?}  ({}, {protection}, {how})\n             {}",
        t.token,
        t.object,
        key.kind(),
        t.uri
    )
}

/// What happens to the media next, with separation of duties: the submitter creates the
/// requests, another person approves them; never the submitter's own approval.
pub(crate) fn next_steps(media: &Path) -> String {
    let m = media.display();
    format!(
        "next: carry {m} to the connected machine; the submitter runs kcsr-submit apply {m}, then the approver (another person) runs kcsr-submit approve {m}; then kcsr-submit fetch {m} --wait 10m brings the certificates back for kcsr assemble"
    )
}
