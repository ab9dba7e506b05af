//! The site's policy on the station (`KEY_DIR/station/policy.yaml`, decision 0010): read once
//! per run, every request checked against it before anything is written (exit 3, naming the
//! rule, the value and the fix), and copied onto the media as `station-policy.yaml`, listed in
//! `SHA256SUMS` and so signed, for the connected side's review.

use std::path::PathBuf;

use kcsr_core::media::POLICY_FILE;
use kcsr_core::policy::{Asked, Violation};
use kcsr_fs as output;

use crate::fail::{Context as _, Fail, Result};
use crate::media_dir::MediaDir;
use crate::media_file;
use crate::plan::{self, Spec};
use crate::report;
pub(crate) use crate::station_policy::{Loaded, load, path};

/// What `spec` breaks, if anything.
pub(crate) fn violations(loaded: &Loaded, spec: &Spec) -> Vec<Violation> {
    let groups: Vec<&str> = spec.groups.iter().map(|g| g.as_str()).collect();
    loaded.policy.check(&Asked {
        user: spec.user.as_str(),
        groups: &groups,
        grants: &spec.grants,
        ticket: spec.ticket.as_ref().map(|t| t.as_str()),
        expiration_seconds: plan::expiration(spec.api_version, spec.expiration)
            .map(kcsr_core::expiry::Expiration::seconds),
    })
}

/// Each violation on one line: the rule, what is wrong and the fix.
pub(crate) fn lines(violations: &[Violation], indent: &str) -> String {
    violations
        .iter()
        .map(|v| {
            format!(
                "{indent}{}: {} (fix: {})",
                v.rule,
                report::sanitize(&v.message),
                v.fix
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Refuses (exit 3) a request that breaks the policy, before anything is written.
pub(crate) fn enforce(loaded: Option<&Loaded>, spec: &Spec) -> Result<()> {
    let Some(loaded) = loaded else {
        return Ok(());
    };
    let v = violations(loaded, spec);
    if v.is_empty() {
        return Ok(());
    }
    Err(Fail::new(format!(
        "the request for user {:?} breaks the station policy {}; nothing was written\n{}",
        report::sanitize(spec.user.as_str()),
        loaded.path.display(),
        lines(&v, "  ")
    ))
    .hint(refusal_hint(&v))
    .refused())
}

/// The fixes of `violations`, each once.
pub(crate) fn refusal_hint(violations: &[Violation]) -> String {
    let mut fixes: Vec<&str> = Vec::new();
    for v in violations {
        if !fixes.contains(&v.fix.as_str()) {
            fixes.push(&v.fix);
        }
    }
    format!(
        "{}; the policy is the site's: only whoever keeps the station changes it",
        fixes.join("; ")
    )
}

/// Makes the media's `station-policy.yaml` the station's policy, listed in `media.sums` (the
/// caller saves and signs them), or removes a copy left from an earlier policy. Returns the
/// path when the media changed.
pub(crate) fn sync(media: &mut MediaDir, loaded: Option<&Loaded>) -> Result<Option<PathBuf>> {
    let file = media.path.join(POLICY_FILE);
    match loaded {
        Some(l) => {
            let on_media = output::read_limited(&file, kcsr_core::media::MAX_MEDIA_FILE_BYTES).ok();
            let listed = media.sums.get(POLICY_FILE) == Some(&kcsr_core::digest::sha256(&l.bytes));
            if listed && on_media.as_deref() == Some(l.bytes.as_slice()) {
                return Ok(None);
            }
            media_file::write(&media.path, POLICY_FILE, &l.bytes)?;
            media.sums.insert(POLICY_FILE, &l.bytes);
            Ok(Some(file))
        }
        None => {
            let present = std::fs::symlink_metadata(&file).is_ok();
            if !present && media.sums.get(POLICY_FILE).is_none() {
                return Ok(None);
            }
            if present {
                output::remove_file(&media.path, POLICY_FILE).context(|| {
                    format!(
                        "failed to remove {} (the station has no policy any more)",
                        file.display()
                    )
                })?;
            }
            media.sums.remove(POLICY_FILE);
            Ok(Some(file))
        }
    }
}
