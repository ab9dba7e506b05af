//! `kcsr station show|rotate`: the station's signing key as the connected side needs it, an
//! OpenSSH `allowed_signers` line (decision 0009), and its replacement.

use kcsr_core::time;
use kcsr_fs::Overwrite;
use serde_json::json;

use crate::cli::{StationCommand, StationRotateArgs, StationShowArgs};
use crate::cmd::verify::unix_now;
use crate::fail::{Fail, Result};
use crate::passphrase::{self, Purpose};
use crate::report;
use crate::signing;
use crate::station::Station;

pub(crate) fn run(command: StationCommand) -> Result<()> {
    match command {
        StationCommand::Show(args) => show(&args),
        StationCommand::Rotate(args) => rotate(&args),
    }
}

fn show(args: &StationShowArgs) -> Result<()> {
    let station = Station::new(&args.keys);
    let principal = signing::principal(args.principal.as_deref())?;
    let public = signing::public_key(&station)?;
    if public.is_none() && std::fs::symlink_metadata(signing::key_path(&station)).is_ok() {
        return Err(Fail::new(format!(
            "the station's public line {} is missing",
            station.dir.join(crate::station::SIGNING_PUB_FILE).display()
        ))
        .hint(format!(
            "the next kcsr request, batch or renew with --keys {} writes it again from the key",
            args.keys.display()
        )));
    }
    let public = public.ok_or_else(|| {
        Fail::new(format!(
            "the station in {} has no signing key yet",
            args.keys.display()
        ))
        .hint(format!(
            "the first kcsr request, batch or renew with --keys {} makes it; or make it now with kcsr station rotate --keys {}",
            args.keys.display(),
            args.keys.display()
        ))
    })?;
    let line = signing::allowed_line(&principal, &public, None);
    if args.output.json {
        return report::json(&json!({
            "fingerprint": public.fingerprint(),
            "publicKey": public.to_openssh(),
            "principal": principal,
            "allowedSigners": line,
            "path": signing::key_path(&station).display().to_string(),
            "retired": signing::retired_lines(&station)?,
        }));
    }
    if !args.output.quiet {
        report::say(&format!(
            "kcsr: the station's signing key {} ({})",
            signing::key_path(&station).display(),
            public.fingerprint()
        ));
        report::say(
            "  add this line to the connected machine's allowed_signers file (kcsr-submit --allowed-signers, or ~/.config/kcsr/allowed_signers), and compare the fingerprint there:",
        );
    }
    report::data(&format!("{line}\n"))
}

fn rotate(args: &StationRotateArgs) -> Result<()> {
    let station = Station::new(&args.keys);
    let principal = signing::principal(args.principal.as_deref())?;
    let passphrase = args
        .passphrase_file
        .as_deref()
        .map(|f| passphrase::obtain(Some(f), Purpose::NewKey, "the station's new signing key"))
        .transpose()?;
    let now = unix_now();
    let old = signing::public_key(&station)?;
    // The old line is kept before the new key replaces it: a rotation stopped in between is
    // finished by the next run that loads the key.
    if let Some(old) = &old {
        signing::retire(&station, old, &time::format_rfc3339(now))?;
    }
    let new = signing::create(&station, passphrase.as_ref(), Overwrite::Allow)?;
    let new_line = signing::allowed_line(&principal, new.public(), None);
    let old_line = old
        .as_ref()
        .map(|o| signing::allowed_line(&principal, o, Some(now)));
    if args.output.json {
        return report::json(&json!({
            "fingerprint": new.fingerprint(),
            "allowedSigners": new_line,
            "path": signing::key_path(&station).display().to_string(),
            "encrypted": passphrase.is_some(),
            "retired": old.as_ref().map(|o| json!({
                "fingerprint": o.fingerprint(),
                "allowedSigners": old_line,
                "validBefore": time::format_rfc3339(now),
            })),
        }));
    }
    if !args.output.quiet {
        report::say(&format!(
            "kcsr: new station signing key {} ({}{})",
            signing::key_path(&station).display(),
            new.fingerprint(),
            if passphrase.is_some() {
                ", encrypted"
            } else {
                ""
            }
        ));
        match &old {
            Some(o) => report::say(&format!(
                "  the old key {} is kept in station/retired.pub; replace its line in the connected machine's allowed_signers with these two (the old one stops being accepted now; remove it to revoke it entirely):",
                o.fingerprint()
            )),
            None => report::say("  add this line to the connected machine's allowed_signers file:"),
        }
    }
    let mut out = format!("{new_line}\n");
    if let Some(l) = old_line {
        out.push_str(&format!("{l}\n"));
    }
    report::data(&out)
}
