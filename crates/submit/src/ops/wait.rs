//! Waiting for the certificate: watch from the object's resourceVersion, falling back to
//! polling (§8/§13), and the problems a wait ends with when no certificate came.

use std::time::{Duration, Instant};

use serde_json::Value;

use kcsr_core::manifest::ApiVersion;

use super::read::get;
use crate::client::{Client, ClientError, query_escape};
use crate::objects::{self, CsrObject, State};
use crate::problem::{Cause, Problem, ProblemKind};
use crate::sanitize::one_line;
use crate::watch::WatchEvent;

/// The end of a wait that is not an issued certificate.
pub fn state_problem(name: &str, obj: &CsrObject) -> Option<Problem> {
    match obj.state() {
        State::Denied(reason, message) => Some(Problem::refused(
            format!(
                "certificate signing request {name} was Denied: reason {:?}, message {:?}",
                one_line(&reason),
                one_line(&message)
            ),
            Some("ask the approver why; create a new request offline (kcsr request) once resolved"),
        )),
        State::Failed(reason, message) => Some(Problem::refused(
            format!(
                "certificate signing request {name} Failed: the signer refused it: reason {:?}, message {:?}",
                one_line(&reason),
                one_line(&message)
            ),
            Some(
                "the request does not meet the signer's rules (usages, subject): re-create it offline with kcsr request",
            ),
        )),
        _ => None,
    }
}

/// What was seen when waiting ran out, as a problem (exit 4).
pub fn not_issued_problem(name: &str, obj: &CsrObject, waited: Option<Duration>) -> Problem {
    let within = waited.map_or_else(String::new, |d| format!(" within {} s", d.as_secs()));
    let signer = one_line(
        obj.spec
            .signer_name
            .as_deref()
            .unwrap_or("(server default)"),
    );
    if obj.condition("Approved").is_some() {
        Problem::new(
            ProblemKind::TimedOut,
            format!(
                "{name} was approved but not issued{within}: the signer {signer} has not written a certificate"
            ),
            Some(&format!(
                "the signer may not be running (kube-controller-manager's csrsigning controller), the platform may not sign {signer} (managed clusters often do not), or the usages may not be allowed for it; run `kcsr-submit fetch MEDIA_DIR --wait 5m` later"
            )),
        )
    } else {
        Problem::new(
            ProblemKind::TimedOut,
            format!("{name} is not approved yet{within}"),
            Some(
                "an approver must run `kcsr-submit approve MEDIA_DIR` (or kubectl certificate approve NAME); then run `kcsr-submit fetch MEDIA_DIR --wait 5m`",
            ),
        )
    }
}

/// Extra time a watch gets past its `timeoutSeconds` before it is abandoned.
const WATCH_GRACE: Duration = Duration::from_secs(5);

/// How long one watch may last: the server is asked to end it after the per-call timeout (or
/// what is left of the wait), and a watch it does not end by then (a stalled server, a
/// half-open connection that never delivers another byte) is abandoned a little later. Without
/// this bound a silent watch would hold the whole wait although the certificate was issued.
/// Returns `timeoutSeconds` for the server and the client's own bound.
fn watch_window(per_call: Duration, remaining: Duration) -> (u64, Duration) {
    let seconds = remaining.min(per_call).as_secs().max(1);
    let window = Duration::from_secs(seconds);
    (seconds, window + window.min(WATCH_GRACE))
}

/// GET during a wait. The request is on the server by now, so losing the server (down,
/// restarting, too slow) is answered with a way to come back for the certificate later.
fn get_while_waiting(
    client: &Client,
    version: ApiVersion,
    name: &str,
) -> Result<CsrObject, Problem> {
    let raw: Value = client
        .get_json(&objects::object_path(version, name))
        .map_err(|e| {
            let lost = matches!(e, ClientError::Connect { .. } | ClientError::Timeout { .. });
            let mut p = Problem::from(e);
            if lost {
                p.message = format!("lost the API server while waiting for {name}: {}", p.message);
                p.hint = Some(format!(
                    "{name} is on the server already: once {} answers again, run `kcsr-submit fetch MEDIA_DIR --wait 5m` to bring the certificate back (nothing is created twice)",
                    client.server()
                ));
            }
            p
        })?;
    CsrObject::from_value(raw).map_err(Problem::failed)
}

/// Waits until `name` is issued, Denied or Failed, or `timeout` passes: GET, then watch from
/// that resourceVersion with a name field selector (re-watch on EOF, re-GET on an ERROR
/// event or a broken or silent stream), falling back to polling every 1.5 s if watching does
/// not work. Each watch is bounded by [`watch_window`].
pub fn wait_issued(
    client: &Client,
    version: ApiVersion,
    name: &str,
    timeout: Duration,
) -> Result<CsrObject, Problem> {
    let deadline = Instant::now() + timeout;
    let mut obj = get_while_waiting(client, version, name)?;
    let uid = obj.meta.uid.clone();
    let mut watch_failures = 0u32;
    loop {
        if let Some(p) = state_problem(name, &obj) {
            return Err(p);
        }
        if obj.is_issued() {
            return Ok(obj);
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(not_issued_problem(name, &obj, Some(timeout)));
        }
        if watch_failures >= 3 {
            std::thread::sleep(remaining.min(Duration::from_millis(1500)));
            obj = get_while_waiting(client, version, name)?;
            continue;
        }
        let (seconds, bound) = watch_window(client.timeout(), remaining);
        let path = format!(
            "{}?watch=true&fieldSelector={}&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds={seconds}",
            objects::collection_path(version),
            query_escape(&format!("metadata.name={name}")),
            query_escape(&obj.meta.resource_version),
        );
        let Ok(stream) = client.watch::<Value>(&path, bound) else {
            watch_failures += 1;
            std::thread::sleep(Duration::from_millis(200).min(remaining));
            obj = get_while_waiting(client, version, name)?;
            continue;
        };
        let mut regets = false;
        for event in stream {
            match event {
                Ok(WatchEvent::Added(raw) | WatchEvent::Modified(raw)) => {
                    let next = CsrObject::from_value(raw).map_err(Problem::failed)?;
                    if next.meta.name != name {
                        continue;
                    }
                    if !uid.is_empty() && !next.meta.uid.is_empty() && next.meta.uid != uid {
                        return Err(Problem::failed(format!(
                            "csr {name:?} changed UIDs: it was deleted and created again by someone else"
                        )));
                    }
                    obj = next;
                    if obj.is_issued() || state_problem(name, &obj).is_some() {
                        break;
                    }
                }
                Ok(WatchEvent::Deleted(_)) => {
                    return Err(Problem::failed(format!(
                        "csr {name:?} was deleted while waiting for it"
                    ))
                    .with_hint("run kcsr-submit apply MEDIA_DIR again to re-create it"));
                }
                Ok(WatchEvent::Bookmark { resource_version }) => {
                    if !resource_version.is_empty() {
                        obj.meta.resource_version = resource_version;
                    }
                }
                Ok(WatchEvent::Error(_)) | Err(_) => {
                    regets = true;
                    break;
                }
            }
        }
        if regets {
            watch_failures += 1;
            obj = get_while_waiting(client, version, name)?;
        }
    }
}

/// Current state without waiting: the object if issued, a problem for Denied/Failed, or a
/// not-issued problem (exit 4).
pub fn check_issued(
    client: &Client,
    version: ApiVersion,
    name: &str,
) -> Result<CsrObject, Problem> {
    let obj = match get(client, version, name) {
        Err(p) if p.cause == Cause::NotFound => {
            return Err(p.with_hint(
                "the request is not on the server: run kcsr-submit apply MEDIA_DIR first (it may also have been garbage-collected)",
            ));
        }
        other => other?,
    };
    if let Some(p) = state_problem(name, &obj) {
        return Err(p);
    }
    if obj.is_issued() {
        Ok(obj)
    } else {
        Err(not_issued_problem(name, &obj, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_is_bounded_by_the_per_call_timeout_and_the_wait() {
        let s = Duration::from_secs;
        // The server is asked to end it first; the client gives up only a little later.
        assert_eq!(watch_window(s(30), s(300)), (30, s(35)));
        assert_eq!(watch_window(s(600), s(90)), (90, s(95)));
        // Short windows get a grace as long as themselves, not a fixed 5 s.
        assert_eq!(watch_window(s(1), s(60)), (1, s(2)));
        // timeoutSeconds=0 would mean "no timeout" to the server.
        assert_eq!(
            watch_window(Duration::from_millis(300), Duration::from_millis(200)),
            (1, s(2))
        );
    }
}
