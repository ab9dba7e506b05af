//! `kcsr check`: the whole audit of a media directory, on either side, before the stick
//! leaves: every file against `SHA256SUMS` and `RETURNED.SHA256SUMS`, the signature (the
//! station's own key with `--keys`, else an `allowed_signers` file), every request (the
//! cluster's rules, its binding against its grant, its `kcsr.dev/not-after`, and with
//! `--keys` the station's record of it), and every returned certificate against its request.
//! A return directory (no `SHA256SUMS`, only results and `RETURNED.SHA256SUMS`) is audited as
//! `kcsr assemble` reads it: each result for a request the station recorded under its stem.
//! It reads and reports; it writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use kcsr_core::checks::{self, Finding, Request};
use kcsr_core::manifest::{self, CsrManifest, Document, GRANT_ANNOTATION, NOT_AFTER_ANNOTATION};
use kcsr_core::media::{
    self as layout, BINDING_SUFFIX, CSR_MANIFEST_SUFFIX, MAX_SUMS_FILE_BYTES, RETURNED_SUMS_FILE,
    SIGNATURE_NAMESPACE, SUMS_SIGNATURE_FILE,
};
use kcsr_core::names::{ObjectName, UserName};
use kcsr_core::rbac::{BindingManifest, Grant};
use kcsr_core::sshsig::{AllowedSigners, Signature};
use kcsr_core::station::RequestRecord;
use kcsr_core::sums::{self, Sums};
use kcsr_core::time;
use serde_json::{Value, json};

use crate::cli::CheckArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Fail, Result};
use crate::media_dir::{self, MediaDir};
use crate::station::Station;
use crate::{report, signing, vouch};
use findings::Findings;
use kcsr_fs as output;
use returned::{KeysByStem, result, return_dir_keys};

mod findings;
mod returned;

pub(crate) fn run(args: CheckArgs) -> Result<()> {
    if !args.media.is_dir() {
        return Err(Fail::new(format!(
            "media directory {} does not exist",
            args.media.display()
        ))
        .hint("pass the directory kcsr request wrote to (--media)"));
    }
    let now = args.at.unwrap_or_else(unix_now);
    let mut f = Findings::default();
    let sums_path = args.media.join(sums::FILE_NAME);
    let sums_data = match output::read_limited(&sums_path, MAX_SUMS_FILE_BYTES) {
        Ok(d) => Some(d),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Fail::new(format!(
                "failed to read {}: {e}",
                sums_path.display()
            )));
        }
    };
    // A return directory (`kcsr-submit apply --out DIR`): results and RETURNED.SHA256SUMS only.
    let return_dir = sums_data.is_none()
        && std::fs::symlink_metadata(args.media.join(RETURNED_SUMS_FILE)).is_ok();
    if sums_data.is_none() && !return_dir {
        f.problem(format!(
            "{}: missing: the station writes it with every request",
            sums::FILE_NAME
        ));
    }
    let signed = match sums_data.as_deref().map(Sums::parse) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            f.problem(format!("{}: {e}", sums::FILE_NAME));
            Sums::default()
        }
        None => Sums::default(),
    };
    let media = MediaDir::open_listing(&args.media, signed.clone());
    let (scanned, ignored) = media.scan()?;
    let content: BTreeMap<&str, &[u8]> = scanned
        .iter()
        .filter(|e| e.kind == output::EntryKind::File)
        .filter_map(|e| e.data.as_deref().map(|d| (e.name.as_str(), d)))
        .collect();
    let returned = match content.get(RETURNED_SUMS_FILE) {
        Some(d) => Sums::parse(d).unwrap_or_else(|e| {
            f.problem(format!("{RETURNED_SUMS_FILE}: {e}"));
            Sums::default()
        }),
        None => Sums::default(),
    };

    let station = args.keys.as_deref().map(Station::new);
    let mut requests = Vec::new();
    let mut results = Vec::new();
    let found = scanned.iter().map(|e| layout::Found {
        name: &e.name,
        regular: e.kind == output::EntryKind::File,
        data: e.data.as_deref(),
    });
    let (signature, keys_by_stem) = if return_dir {
        return_dir_keys(station.as_ref(), &returned, &content, found, &mut f)?
    } else {
        let media = Media {
            signed: &signed,
            sums_data: sums_data.as_deref(),
            returned: &returned,
            content: &content,
        };
        let (signature, keys) = request_media(
            &args,
            station.as_ref(),
            &media,
            found,
            &mut requests,
            now,
            &mut f,
        )?;
        (signature, Some(keys))
    };
    for name in returned.names() {
        let Some(data) = content.get(name) else {
            continue;
        };
        if let Some(r) = result(name, data, keys_by_stem.as_ref(), return_dir, now, &mut f) {
            results.push(r);
        }
    }

    let note = media_dir::ignored_note(&args.media, &ignored);
    if args.output.json {
        report::json(&json!({
            "media": args.media.display().to_string(),
            "returnDirectory": return_dir,
            "ok": f.problems.is_empty(),
            "at": time::format_rfc3339(now),
            "signature": signature,
            "requests": requests,
            "results": results,
            "ignored": ignored,
            "problems": f.problems,
            "warnings": f.warnings,
        }))?;
    } else if !args.output.quiet {
        if let Some(n) = &note {
            report::say(n);
        }
        if return_dir {
            report::say(&format!(
                "kcsr check: {}: a return directory (no {}): {} returned file(s)",
                args.media.display(),
                sums::FILE_NAME,
                results.len()
            ));
        } else {
            report::say(&format!(
                "kcsr check: {}: {} request(s), {} returned file(s)",
                args.media.display(),
                requests.len(),
                results.len()
            ));
        }
        report::say(&format!(
            "  signature  {}",
            signature["summary"].as_str().unwrap_or_default()
        ));
        for r in &requests {
            report::say(&format!(
                "  request    {}",
                r["summary"].as_str().unwrap_or_default()
            ));
        }
        for r in &results {
            report::say(&format!(
                "  returned   {}",
                r["summary"].as_str().unwrap_or_default()
            ));
        }
        for w in &f.warnings {
            report::say(&format!("warning: {}", report::sanitize(w)));
        }
    }
    if f.problems.is_empty() {
        if !args.output.quiet && !args.output.json {
            report::say("kcsr check: no problem found");
        }
        return Ok(());
    }
    Err(Fail::new(format!(
        "{} problem(s) on {}\n  {}",
        f.problems.len(),
        args.media.display(),
        f.problems
            .iter()
            .map(|p| report::sanitize(p))
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
    .hint("fix what each line names before the media leaves: run kcsr request again for a request, kcsr withdraw for one that should not go; a file nobody wrote means the media was changed: do not use it")
    .refused())
}

/// What `kcsr check` read of request media (with `SHA256SUMS`).
#[derive(Clone, Copy)]
struct Media<'a> {
    signed: &'a Sums,
    sums_data: Option<&'a [u8]>,
    returned: &'a Sums,
    content: &'a BTreeMap<&'a str, &'a [u8]>,
}

/// Request media: the sums, the signature, every request (against the station's record with
/// `--keys`) and every binding. Returns the signature's report and each request's key by stem.
fn request_media<'a>(
    args: &CheckArgs,
    station: Option<&Station>,
    media: &Media<'_>,
    found: impl IntoIterator<Item = layout::Found<'a>>,
    requests: &mut Vec<Value>,
    now: i64,
    f: &mut Findings,
) -> Result<(Value, KeysByStem)> {
    let Media {
        signed,
        sums_data,
        returned,
        content,
    } = *media;
    // Sums: every file listed with its digest, nothing else, no keys, no links.
    for p in layout::audit_returned(signed, returned, found, false) {
        f.problem(p);
    }

    let signature = signature(
        args,
        sums_data,
        content.get(SUMS_SIGNATURE_FILE).copied(),
        now,
        f,
    )?;
    let mut keys_by_stem = BTreeMap::new();
    for name in signed.names() {
        let Some(stem) = layout::stem(name, CSR_MANIFEST_SUFFIX) else {
            continue;
        };
        let Some(data) = content.get(name) else {
            continue; // missing: the sums audit said so
        };
        let r = request(
            stem,
            data,
            content
                .get(format!("{stem}{BINDING_SUFFIX}").as_str())
                .copied(),
            station,
            now,
            f,
        )?;
        if let Some(fp) = r.get("publicKeySha256").and_then(Value::as_str) {
            keys_by_stem.insert(stem.to_owned(), BTreeSet::from([fp.to_owned()]));
        }
        requests.push(r);
    }
    // Every listed file the station's records do not vouch for, judged as the station judges
    // before it signs: a request said so above is not said again.
    if let Some(station) = station {
        for name in vouch::foreign(signed, station, &mut vouch::Cache::default())? {
            let said = format!("{name}:");
            if !f.problems.iter().any(|p| p.starts_with(&said)) {
                f.problem(format!(
                    "{name}: listed in {}, but this station did not write it (no record of it vouches for this content)",
                    sums::FILE_NAME
                ));
            }
        }
    }
    for name in signed.names() {
        if let Some(stem) = layout::stem(name, BINDING_SUFFIX)
            && signed
                .get(&format!("{stem}{CSR_MANIFEST_SUFFIX}"))
                .is_none()
        {
            f.problem(format!(
                "{name}: a binding without its request {stem}{CSR_MANIFEST_SUFFIX}"
            ));
        }
    }
    Ok((signature, keys_by_stem))
}

/// The signature of `SHA256SUMS`, against the station's key (`--keys`), an `allowed_signers`
/// file, or (neither) only for its own consistency, said as such.
fn signature(
    args: &CheckArgs,
    sums: Option<&[u8]>,
    sig: Option<&[u8]>,
    now: i64,
    f: &mut Findings,
) -> Result<Value> {
    let (Some(sums), Some(sig)) = (sums, sig) else {
        if sums.is_some() {
            f.problem(format!(
                "{SUMS_SIGNATURE_FILE}: missing: the connected side refuses unsigned media when it trusts a station"
            ));
        }
        return Ok(json!({"verified": false, "summary": "none"}));
    };
    let parsed = match Signature::parse_armored(sig) {
        Ok(s) => s,
        Err(e) => {
            f.problem(format!("{SUMS_SIGNATURE_FILE}: {e}"));
            return Ok(json!({"verified": false, "summary": "unreadable"}));
        }
    };
    let fingerprint = parsed.public_key.fingerprint();
    if let Err(e) = parsed.verify(sums, SIGNATURE_NAMESPACE) {
        f.problem(format!(
            "{SUMS_SIGNATURE_FILE}: does not verify over {} ({e}): the file was changed after the station signed it",
            sums::FILE_NAME
        ));
        return Ok(
            json!({"verified": false, "key": fingerprint, "summary": format!("DOES NOT VERIFY (key {fingerprint})")}),
        );
    }
    let (against, summary) = if let Some(keys) = &args.keys {
        let station = Station::new(keys);
        let own = signing::public_key(&station)?;
        let retired = signing::retired(&station)?;
        if own.as_ref() == Some(&parsed.public_key) {
            (
                "station",
                format!(
                    "verified: {} signed by this station's key {fingerprint}",
                    sums::FILE_NAME
                ),
            )
        } else if retired.contains(&parsed.public_key) {
            f.warn(format!(
                "{SUMS_SIGNATURE_FILE}: signed by this station's retired key {fingerprint}; the connected side accepts it only while its allowed_signers line does"
            ));
            (
                "station-retired",
                format!(
                    "verified: {} signed by this station's retired key {fingerprint}",
                    sums::FILE_NAME
                ),
            )
        } else {
            f.problem(format!(
                "{SUMS_SIGNATURE_FILE}: signed by the key {fingerprint}, not by this station's ({}): another station, or someone else, wrote this media",
                own.map(|k| k.fingerprint()).unwrap_or_else(|| "none yet".to_owned())
            ));
            ("station", format!("NOT this station's: key {fingerprint}"))
        }
    } else if let Some(file) = &args.allowed_signers {
        let text = if file.as_os_str() == "-" {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(std::io::stdin(), 1 << 20),
                &mut buf,
            )
            .map_err(|e| Fail::new(format!("failed to read standard input: {e}")))?;
            buf
        } else {
            output::read_limited(file, 1 << 20)
                .map_err(|e| Fail::new(format!("failed to read {}: {e}", file.display())))?
        };
        let signers = AllowedSigners::parse(&String::from_utf8_lossy(&text)).map_err(|e| {
            Fail::new(format!("{}: {e}", file.display()))
                .hint("kcsr station show prints the station's allowed_signers line")
        })?;
        match signers.find(&parsed.public_key, SIGNATURE_NAMESPACE, now) {
            Ok(line) => (
                "allowed-signers",
                format!(
                    "verified: {} signed by {fingerprint}, line {} of {}",
                    sums::FILE_NAME,
                    line.line,
                    file.display()
                ),
            ),
            Err(e) => {
                f.problem(format!("{SUMS_SIGNATURE_FILE}: {e} ({})", file.display()));
                ("allowed-signers", format!("NOT trusted: {e}"))
            }
        }
    } else {
        f.warn(format!(
            "{SUMS_SIGNATURE_FILE}: the signature is intact but was not checked against a trusted key (pass --keys KEY_DIR on the station, or --allowed-signers FILE)"
        ));
        (
            "none",
            format!("intact, by key {fingerprint}, NOT checked against a trusted key"),
        )
    };
    Ok(
        json!({"verified": against != "none", "key": fingerprint, "against": against, "summary": summary}),
    )
}

/// One request: its manifest, its checks, its binding, its freshness and (with the station)
/// its record.
fn request(
    stem: &str,
    data: &[u8],
    binding: Option<&[u8]>,
    station: Option<&Station>,
    now: i64,
    f: &mut Findings,
) -> Result<Value> {
    let file = format!("{stem}{CSR_MANIFEST_SUFFIX}");
    let mut out = json!({"file": file});
    let m = match manifest::parse_documents(data) {
        Ok(docs) => match docs.into_iter().next() {
            Some(Document::Csr(m)) => m,
            _ => {
                f.problem(format!("{file}: holds no CertificateSigningRequest"));
                out["summary"] = json!(format!("{file}: not a request"));
                return Ok(out);
            }
        },
        Err(e) => {
            f.problem(format!("{file}: {e}"));
            out["summary"] = json!(format!("{file}: unreadable"));
            return Ok(out);
        }
    };
    let csr = match m.decode_request() {
        Ok(c) => c,
        Err(e) => {
            f.problem(format!("{file}: {e}"));
            out["summary"] = json!(format!("{file}: unreadable request"));
            return Ok(out);
        }
    };
    let name = m.metadata.name.clone();
    let user = csr.subject.user().unwrap_or_default().to_owned();
    out["name"] = json!(name);
    out["user"] = json!(user);
    out["groups"] = json!(csr.subject.organizations);
    out["publicKeySha256"] = json!(csr.public_key.fingerprint);
    let findings = rules(&m, &csr);
    for e in findings.iter().filter(|x| x.level == checks::Level::Error) {
        f.problem(format!("{file}: [{}] {}", e.rule, e.message));
    }
    for w in findings
        .iter()
        .filter(|x| x.level == checks::Level::Warning)
    {
        f.warn(format!("{file}: [{}] {}", w.rule, w.message));
    }
    let mut said = vec![if findings.is_empty() {
        "checks ok".to_owned()
    } else {
        format!("{} finding(s)", findings.len())
    }];

    let not_after = m.metadata.annotations.get(NOT_AFTER_ANNOTATION);
    match not_after.map(|t| (t, time::parse_rfc3339(t))) {
        Some((t, Some(at))) if at <= now => {
            f.problem(format!(
                "{file}: past its {NOT_AFTER_ANNOTATION} ({t}): the connected side refuses it; make it again (kcsr request) or take it off (kcsr withdraw --user {user})"
            ));
            said.push(format!("EXPIRED {t}"));
        }
        Some((t, Some(_))) => said.push(format!("accepted until {t}")),
        Some((t, None)) => f.problem(format!(
            "{file}: {NOT_AFTER_ANNOTATION} {t:?} is not a time"
        )),
        None => f.warn(format!(
            "{file}: no {NOT_AFTER_ANNOTATION}: written before requests were stamped"
        )),
    }
    out["notAfter"] = json!(not_after);

    let grant = m.metadata.annotations.get(GRANT_ANNOTATION);
    match (grant, binding) {
        (None, None) => {}
        (Some(g), None) => {
            f.problem(format!(
                "{file}: asks for the binding {g} but {stem}{BINDING_SUFFIX} is missing"
            ));
        }
        (None, Some(_)) => f.problem(format!(
            "{stem}{BINDING_SUFFIX}: the request asks for no binding ({GRANT_ANNOTATION})"
        )),
        (Some(g), Some(b)) => match binding_problem(&name, &user, g, b) {
            None => said.push(format!("binding {g} ok")),
            Some(p) => f.problem(format!("{stem}{BINDING_SUFFIX}: {p}")),
        },
    }
    out["grant"] = json!(grant);

    if let Some(station) = station {
        match station.record(&name)? {
            None => f.problem(format!(
                "{file}: this station has no record of a request named {name:?}: it did not write it (or another key directory did)"
            )),
            Some(r) => {
                record_problems(&file, &r, data, &csr.public_key.fingerprint, f);
                said.push(format!("recorded ({})", r.state));
                out["state"] = json!(r.state);
            }
        }
    }
    out["summary"] = json!(format!(
        "{file} ({}, user {:?}, groups {}): {}",
        report::sanitize(&name),
        report::sanitize(&user),
        if csr.subject.organizations.is_empty() {
            "none".to_owned()
        } else {
            csr.subject.organizations.join(", ")
        },
        said.join(", ")
    ));
    Ok(out)
}

/// The cluster's rules for a manifest, as `kcsr inspect` and the connected side run them.
fn rules(m: &CsrManifest, csr: &kcsr_core::csr::CsrInfo) -> Vec<Finding> {
    let (Some(version), Ok(signer), Ok(usages)) = (m.version(), m.signer(), m.usages()) else {
        return vec![Finding {
            level: checks::Level::Error,
            rule: "manifest",
            message: "apiVersion, signerName or usages cannot be read".to_owned(),
            hint: None,
        }];
    };
    checks::check(&Request {
        api_version: version,
        signer: signer.as_ref(),
        usages: &usages,
        expiration_seconds: m.spec.expiration_seconds,
        csr,
    })
}

/// Whether the binding file holds exactly the bindings of the request's grants for its own
/// user (decision 0010: binding `i` named `<name>` for the first, `<name>-<i+1>` after).
fn binding_problem(name: &str, user: &str, grants: &str, data: &[u8]) -> Option<String> {
    let docs = match manifest::parse_documents(data) {
        Ok(d) => d,
        Err(e) => return Some(e.to_string()),
    };
    let on_media: Vec<&BindingManifest> = docs
        .iter()
        .filter_map(|d| match d {
            Document::Binding(b) => Some(b),
            Document::Csr(_) => None,
        })
        .collect();
    let (Ok(object), Ok(user)) = (name.parse::<ObjectName>(), user.parse::<UserName>()) else {
        return Some("the request's name or user cannot name a binding".to_owned());
    };
    let grants_read = match Grant::parse_list(grants) {
        Ok(g) => g,
        Err(e) => return Some(format!("the grant {grants:?} cannot be read: {e}")),
    };
    let want = match BindingManifest::for_grants(&object, &user, &grants_read) {
        Ok(w) => w,
        Err(e) => return Some(e.to_string()),
    };
    let same = on_media.len() == want.len() && on_media.iter().zip(&want).all(|(a, b)| *a == b);
    (!same).then(|| {
        format!(
            "is not exactly the binding(s) of the signed grant {grants} for user {user}: the connected side refuses it"
        )
    })
}

/// The media's request against the station's record of it.
fn record_problems(file: &str, r: &RequestRecord, data: &[u8], public_key: &str, f: &mut Findings) {
    if r.public_key_sha256 != public_key {
        f.problem(format!(
            "{file}: for the key sha256 {public_key}, but the station recorded {} for {}",
            r.public_key_sha256, r.name
        ));
    } else if r.manifest_sha256 != kcsr_core::digest::sha256_hex(data) {
        f.problem(format!(
            "{file}: not the manifest the station wrote for {} (its SHA-256 differs from the record's)",
            r.name
        ));
    }
    if !r.state.is_active() {
        f.problem(format!(
            "{file}: the station's record of {} is {}{}: it should not be on the media (kcsr withdraw --user {} takes it off)",
            r.name,
            r.state,
            r.state_at.as_deref().map(|t| format!(" since {t}")).unwrap_or_default(),
            r.user
        ));
    }
}
