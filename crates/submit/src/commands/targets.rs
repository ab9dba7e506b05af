//! What `approve`, `deny` and `status` work on: one MEDIA_DIR, or object names.

use std::path::Path;

use kcsr_core::exit::Exit;

use super::media_checks::{open_media, open_signed};
use super::parallel::{DEFAULT_PARALLEL, par_for_each};
use super::session::Fatal;
use super::slot::{Slot, media_slots};
use crate::client::Client;
use crate::media::Media;
use crate::objects::{self, CsrObject};
use crate::ops::{self, Problem};
use crate::sanitize::one_line;
use crate::signers::{MediaSigner, Trust};
use crate::state::RequestState;

/// MEDIA_DIR (with who signed it) or object names.
pub(super) enum Targets {
    Media(Box<Media>, Option<MediaSigner>),
    Names(Vec<String>),
}

/// The targets; `trust`: check the media's signature (approve), or `None` (status and deny
/// only read it: a denial can never grant anything).
pub(super) fn targets(
    args: &[String],
    trust: Option<&Trust>,
    out: Option<&Path>,
) -> anyhow::Result<Targets> {
    if let [one] = args
        && Path::new(one).is_dir()
    {
        let dir = Path::new(one);
        return Ok(match trust {
            Some(trust) => {
                let (media, signer) = open_signed(dir, out, trust)?;
                Targets::Media(Box::new(media), signer)
            }
            None => Targets::Media(Box::new(open_media(dir)?), None),
        });
    }
    if out.is_some() {
        return Err(Fatal::new(
            Exit::Usage,
            "--out names where a media's results are: it goes with MEDIA_DIR, not with object names",
            Some("pass one MEDIA_DIR with --out, or leave out --out"),
        )
        .into());
    }
    for name in args {
        if name.parse::<kcsr_core::names::ObjectName>().is_err() {
            return Err(Fatal::new(
                Exit::Usage,
                format!("{:?} is neither a media directory nor a CertificateSigningRequest name", one_line(name)),
                Some("pass one MEDIA_DIR, or one or more object names (kcsr-submit status MEDIA_DIR lists them)"),
            )
            .into());
        }
    }
    Ok(Targets::Names(args.to_vec()))
}

pub(super) fn slots_for(targets: &Targets) -> Vec<Slot> {
    match targets {
        Targets::Media(m, signer) => media_slots(m, signer.as_ref()),
        Targets::Names(names) => names.iter().map(|n| Slot::from_name(n)).collect(),
    }
}

/// Reads every slot's object. `compare`: it must be the media's request. A slot whose
/// certificate is on the media may be gone from the server (garbage-collected an hour after
/// issue): that is not a problem.
pub(super) fn get_all(slots: &mut [Slot], client: &Client, compare: bool) {
    par_for_each(slots, DEFAULT_PARALLEL.into(), |slot| {
        if slot.report.problem.is_some() {
            return;
        }
        let path = objects::object_path(slot.version, &slot.report.name);
        let result = client
            .get_json::<serde_json::Value>(&path)
            .map_err(Problem::from)
            .and_then(|raw| CsrObject::from_value(raw).map_err(Problem::failed));
        match result {
            Ok(obj) => {
                if compare
                    && let Some(req) = &slot.req
                    && let Err(p) = ops::compare_existing(req, &obj)
                {
                    slot.fail(p);
                    return;
                }
                slot.set_obj(obj);
            }
            Err(p) => {
                let not_found = p.cause == ops::Cause::NotFound;
                if not_found && slot.report.state == RequestState::OnMedia {
                    return;
                }
                slot.fail(if not_found {
                    p.with_hint(
                        "no such request on the server: create it with kcsr-submit apply MEDIA_DIR",
                    )
                } else {
                    p
                });
            }
        }
    });
}
