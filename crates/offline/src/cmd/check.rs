//! `kcsr check`: the whole audit of a media directory, on either side, before the stick
//! leaves: every file against `SHA256SUMS` and `RETURNED.SHA256SUMS`, the signature (the
//! station's own key with `--keys`, else an `allowed_signers` file), every request (the
//! cluster's rules, its binding against its grant, its `kcsr.dev/not-after`, and with
//! `--keys` the station's record of it), and every returned certificate against its request.
//! A return directory (no `SHA256SUMS`, only results and `RETURNED.SHA256SUMS`) is audited as
//! `kcsr assemble` reads it: each result for a request the station recorded under its stem.
//! It reads and reports; it writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use kcsr_core::media::{
    self as layout, BINDING_SUFFIX, CSR_MANIFEST_SUFFIX, MAX_SUMS_FILE_BYTES, RETURNED_SUMS_FILE,
    SUMS_SIGNATURE_FILE,
};
use kcsr_core::sums::{self, Sums};
use kcsr_core::time;
use serde_json::{Value, json};

use crate::cli::CheckArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Fail, Result};
use crate::media_dir::{self, MediaDir};
use crate::station::Station;
use crate::{report, vouch};
use findings::Findings;
use kcsr_fs as output;
use request::request;
use returned::{KeysByStem, result, return_dir_keys};
use signature::signature;

mod findings;
mod request;
mod returned;
mod signature;

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
    let sums_data = read_sums(&args)?;
    // A return directory (`kcsr-submit apply --out DIR`): results and RETURNED.SHA256SUMS only.
    let return_dir = sums_data.is_none()
        && std::fs::symlink_metadata(args.media.join(RETURNED_SUMS_FILE)).is_ok();
    let signed = signed_sums(sums_data.as_deref(), return_dir, &mut f);
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
    let results = results(
        &returned,
        &content,
        keys_by_stem.as_ref(),
        return_dir,
        now,
        &mut f,
    );
    let audit = Audit {
        return_dir,
        now,
        signature,
        requests,
        results,
        ignored,
    };
    say(&args, &audit, &f)?;
    verdict(&args, &f)
}

/// The signed `SHA256SUMS` as read; a missing (on request media) or unreadable one is a
/// problem, and nothing is listed.
fn signed_sums(sums_data: Option<&[u8]>, return_dir: bool, f: &mut Findings) -> Sums {
    if sums_data.is_none() && !return_dir {
        f.problem(format!(
            "{}: missing: the station writes it with every request",
            sums::FILE_NAME
        ));
    }
    match sums_data.map(Sums::parse) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            f.problem(format!("{}: {e}", sums::FILE_NAME));
            Sums::default()
        }
        None => Sums::default(),
    }
}

/// Every returned file listed in `RETURNED.SHA256SUMS`, judged against the request it answers.
fn results(
    returned: &Sums,
    content: &BTreeMap<&str, &[u8]>,
    keys_by_stem: Option<&KeysByStem>,
    return_dir: bool,
    now: i64,
    f: &mut Findings,
) -> Vec<Value> {
    let mut results = Vec::new();
    for name in returned.names() {
        let Some(data) = content.get(name) else {
            continue;
        };
        if let Some(r) = result(name, data, keys_by_stem, return_dir, now, f) {
            results.push(r);
        }
    }
    results
}

/// `SHA256SUMS`, or `None` when there is none.
fn read_sums(args: &CheckArgs) -> Result<Option<Vec<u8>>> {
    let sums_path = args.media.join(sums::FILE_NAME);
    match output::read_limited(&sums_path, MAX_SUMS_FILE_BYTES) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Fail::new(format!(
            "failed to read {}: {e}",
            sums_path.display()
        ))),
    }
}

/// What the audit found, for the report.
struct Audit {
    return_dir: bool,
    now: i64,
    signature: Value,
    requests: Vec<Value>,
    results: Vec<Value>,
    ignored: Vec<String>,
}

fn say(args: &CheckArgs, a: &Audit, f: &Findings) -> Result<()> {
    let note = media_dir::ignored_note(&args.media, &a.ignored);
    if args.output.json {
        report::json(&json!({
            "media": args.media.display().to_string(),
            "returnDirectory": a.return_dir,
            "ok": f.problems.is_empty(),
            "at": time::format_rfc3339(a.now),
            "signature": a.signature,
            "requests": a.requests,
            "results": a.results,
            "ignored": a.ignored,
            "problems": f.problems,
            "warnings": f.warnings,
        }))?;
    } else if !args.output.quiet {
        if let Some(n) = &note {
            report::say(n);
        }
        if a.return_dir {
            report::say(&format!(
                "kcsr check: {}: a return directory (no {}): {} returned file(s)",
                args.media.display(),
                sums::FILE_NAME,
                a.results.len()
            ));
        } else {
            report::say(&format!(
                "kcsr check: {}: {} request(s), {} returned file(s)",
                args.media.display(),
                a.requests.len(),
                a.results.len()
            ));
        }
        report::say(&format!(
            "  signature  {}",
            a.signature["summary"].as_str().unwrap_or_default()
        ));
        for r in &a.requests {
            report::say(&format!(
                "  request    {}",
                r["summary"].as_str().unwrap_or_default()
            ));
        }
        for r in &a.results {
            report::say(&format!(
                "  returned   {}",
                r["summary"].as_str().unwrap_or_default()
            ));
        }
        for w in &f.warnings {
            report::say(&format!("warning: {}", report::sanitize(w)));
        }
    }
    Ok(())
}

/// No problem, or the refusal listing each.
fn verdict(args: &CheckArgs, f: &Findings) -> Result<()> {
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
