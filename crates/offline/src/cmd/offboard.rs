//! `kcsr offboard`: client certificates cannot be revoked, so a user leaves by losing their
//! bindings. The station writes `<slug>.offboard.yaml` (decision 0010) onto the media, listed
//! in `SHA256SUMS` and signed like requests, and marks every request of the user `offboarded`
//! so that `kcsr renew` refuses them. The records are marked first: a run interrupted before
//! the media is written leaves the station refusing renewals, and a re-run writes the media.

use std::path::PathBuf;

use kcsr_core::media::OFFBOARD_SUFFIX;
use kcsr_core::outcome::{self, OffboardRequest};
use kcsr_core::station::RequestState;
use kcsr_core::time;
use serde_json::json;

use crate::cli::OffboardArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Fail, Result};
use crate::media_dir::MediaDir;
use crate::station::Station;
use crate::{media_file, passphrase, paths, plan, policy, report, signing};

pub(crate) fn run(args: OffboardArgs) -> Result<()> {
    paths::check_key_dir_outside_media(&args.keys, &args.media)?;
    let station = Station::new(&args.keys);
    let site_policy = policy::load(&station)?;
    let now = unix_now();
    let at = time::format_rfc3339(now);
    let user = args.user.as_str();
    let request = OffboardRequest {
        api_version: outcome::API_VERSION.to_owned(),
        kind: outcome::OFFBOARD_KIND.to_owned(),
        user: user.to_owned(),
        created: at.clone(),
        not_after: time::format_rfc3339(now.saturating_add(args.valid_for.seconds())),
        ticket: args.who.ticket.as_ref().map(ToString::to_string),
        operator: Some(plan::operator(args.who.operator.as_ref()).to_string()),
    };
    let yaml = request
        .to_yaml()
        .map_err(|e| Fail::new(format!("failed to encode the offboard request: {e}")))?;
    let file = format!("{}{OFFBOARD_SUFFIX}", args.user.slug());

    let existing = passphrase::Source::new(args.passphrase_file.as_deref());
    let signer = signing::obtain(
        &station,
        None,
        args.passphrase_file.as_deref(),
        &existing,
        args.output.quiet,
    )?;
    // The station's record first: from now on the user is not renewed.
    let mut marked = Vec::new();
    let mut kept = Vec::new();
    for mut r in station.records()?.into_iter().filter(|r| r.user == user) {
        match r.state {
            RequestState::Written | RequestState::Assembled | RequestState::Denied => {
                r.set_state(RequestState::Offboarded, &at);
                station.save_record(&r)?;
                marked.push(r.name);
            }
            _ => kept.push((r.name, r.state)),
        }
    }
    // Kept by the station before the media gets it, so that later writes can vouch for it.
    station.write(Some(crate::vouch::OFFBOARDS_DIR), &file, &yaml)?;
    let mut media = MediaDir::open(&args.media, true)?;
    policy::sync(&mut media, site_policy.as_ref())?;
    let path = media_file::write(&media.path, &file, yaml.as_bytes())?;
    media.sums.insert(&file, yaml.as_bytes());
    let [sums, signature] = media.save_sums(&signer)?;
    summarize(&args, &request, &path, &[sums, signature], &marked, &kept)
}

fn summarize(
    args: &OffboardArgs,
    request: &OffboardRequest,
    path: &std::path::Path,
    control: &[PathBuf; 2],
    marked: &[String],
    kept: &[(String, RequestState)],
) -> Result<()> {
    if args.output.json {
        report::json(&json!({
            "user": request.user,
            "file": path.display().to_string(),
            "created": request.created,
            "notAfter": request.not_after,
            "ticket": request.ticket,
            "operator": request.operator,
            "offboarded": marked,
            "unchanged": kept.iter().map(|(n, s)| json!({"name": n, "state": s.as_str()})).collect::<Vec<_>>(),
            "checksums": control[0].display().to_string(),
            "signature": control[1].display().to_string(),
        }))?;
    }
    if args.output.quiet {
        return Ok(());
    }
    let user = report::sanitize(&request.user);
    report::say(&format!("kcsr: offboard request for user {user:?} written"));
    report::say(&format!(
        "  request    {}  (accepted until {})",
        path.display(),
        request.not_after
    ));
    report::say(&format!("  signature  {}", control[1].display()));
    if marked.is_empty() && kept.is_empty() {
        report::say(&format!(
            "  records    the station wrote no request for {user:?}: its bindings are removed all the same"
        ));
    } else {
        report::say(&format!(
            "  records    {} request(s) marked offboarded (kcsr renew refuses them){}",
            marked.len(),
            if kept.is_empty() {
                String::new()
            } else {
                format!(", {} withdrawn or retired left as they are", kept.len())
            }
        ));
    }
    report::say(&format!(
        "next: carry {} to the connected machine: kcsr-submit apply {} shows the user's bindings and deletes them once approved; its certificates stay valid until they expire",
        args.media.display(),
        args.media.display()
    ));
    Ok(())
}
