//! The signature of `SHA256SUMS`, as `kcsr check` judges it: against the station's own key
//! (`--keys`), an `allowed_signers` file, or (neither) only for its own consistency.

use std::path::Path;

use kcsr_core::media::{SIGNATURE_NAMESPACE, SUMS_SIGNATURE_FILE};
use kcsr_core::sshsig::{AllowedSigners, Signature};
use kcsr_core::sums;
use serde_json::{Value, json};

use super::findings::Findings;
use crate::cli::CheckArgs;
use crate::fail::{Fail, Result};
use crate::signing;
use crate::station::Station;
use kcsr_fs as output;

/// The signature of `SHA256SUMS`, against the station's key (`--keys`), an `allowed_signers`
/// file, or (neither) only for its own consistency, said as such.
pub(super) fn signature(
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
        by_station(keys, &parsed, &fingerprint, f)?
    } else if let Some(file) = &args.allowed_signers {
        by_allowed_signers(file, &parsed, &fingerprint, now, f)?
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

/// The signing key against the station's own (`--keys`): its current key, or a retired one.
fn by_station(
    keys: &Path,
    parsed: &Signature,
    fingerprint: &str,
    f: &mut Findings,
) -> Result<(&'static str, String)> {
    let station = Station::new(keys);
    let own = signing::public_key(&station)?;
    let retired = signing::retired(&station)?;
    Ok(if own.as_ref() == Some(&parsed.public_key) {
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
    })
}

/// The signing key against an `allowed_signers` file (`-`: standard input).
fn by_allowed_signers(
    file: &Path,
    parsed: &Signature,
    fingerprint: &str,
    now: i64,
    f: &mut Findings,
) -> Result<(&'static str, String)> {
    const MAX: u64 = 1 << 20;
    let text = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::io::stdin(), MAX + 1),
            &mut buf,
        )
        .map_err(|e| Fail::new(format!("failed to read standard input: {e}")))?;
        if buf.len() as u64 > MAX {
            return Err(Fail::new(
                "the allowed_signers file on standard input is larger than 1 MiB",
            )
            .hint(
                "give the allowed_signers file of the connected side, one line per station key",
            ));
        }
        buf
    } else {
        output::read_limited(file, MAX)
            .map_err(|e| Fail::new(format!("failed to read {}: {e}", file.display())))?
    };
    let signers = AllowedSigners::parse(&String::from_utf8_lossy(&text)).map_err(|e| {
        Fail::new(format!("{}: {e}", file.display()))
            .hint("kcsr station show prints the station's allowed_signers line")
    })?;
    Ok(
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
        },
    )
}
