//! Watch streams (reference §8): HTTP 200, chunked, one compact JSON event per line.
//! No resourceVersion (or "0") → synthetic ADDED for the current state, then changes;
//! any other value → only changes after it; a compacted one → an in-stream ERROR event with
//! the 410 `Expired` Status. The stream ends cleanly at `timeoutSeconds` or when the server
//! stops, and abruptly when it goes down; an idle stream sends a BOOKMARK every few seconds when
//! asked for bookmarks.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::discovery;
use crate::field_error::{FieldError, quote};
use crate::http::{Request, head_bytes, write_chunk};
use crate::selector::Selector;
use crate::state::Shared;
use crate::status::{ApiError, Resource, status_value};

/// A watch to stream (reference §8).
#[derive(Debug)]
pub(crate) struct WatchSpec {
    pub res: Resource,
    pub api_version: String,
    /// `None`: send the current state as ADDED first ("Get State and Start at Most Recent").
    pub since: Option<u64>,
    pub selector: Selector,
    pub namespace: String,
    pub deadline: Instant,
    pub bookmarks: bool,
    /// Send each object as a one-row Table (`kubectl get -w`).
    pub table: bool,
    /// After the initial ADDED events, a BOOKMARK annotated `k8s.io/initial-events-end`.
    pub initial_events_end: bool,
}

impl WatchSpec {
    /// The watch a GET with `watch=true` asks for (reference §8), or the 400/422 its options get.
    pub(crate) fn from_request(
        req: &Request,
        res: Resource,
        api_version: String,
        sel: Selector,
        namespace: &str,
    ) -> Result<WatchSpec, ApiError> {
        // Watch-list (§8): initial state, then a BOOKMARK marking its end.
        let send_initial = matches!(req.param("sendInitialEvents"), Some("true" | "1"));
        let bookmarks = matches!(req.param("allowWatchBookmarks"), Some("true" | "1"));
        if send_initial {
            let mut errs = Vec::new();
            if req.param("resourceVersionMatch") != Some("NotOlderThan") {
                errs.push(FieldError::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
            ));
            }
            if !bookmarks {
                errs.push(FieldError::forbidden(
                    "allowWatchBookmarks",
                    "allowWatchBookmarks must be set to true when sendInitialEvents is set",
                ));
            }
            if !errs.is_empty() {
                return Err(ApiError::invalid_options("ListOptions", &errs));
            }
        }
        let since = match req.param("resourceVersion").unwrap_or("") {
            _ if send_initial => None,
            "" | "0" => None,
            rv => Some(rv.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {}", quote(rv)))
            })?),
        };
        let timeout = match req.param("timeoutSeconds") {
            // Unset or 0: the server's own limit (kube-apiserver: 30–60 min).
            None | Some("0") => 1800,
            Some(t) => t.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid timeoutSeconds: {}", quote(t)))
            })?,
        };
        Ok(WatchSpec {
            res,
            api_version,
            since,
            selector: sel,
            namespace: namespace.to_string(),
            deadline: Instant::now() + Duration::from_secs(timeout.min(24 * 3600)),
            bookmarks,
            table: discovery::wants_table(req.header("accept")),
            initial_events_end: send_initial,
        })
    }
}

fn event(etype: &str, object: &Value) -> Vec<u8> {
    let mut v = serde_json::to_vec(&json!({"type": etype, "object": object})).unwrap_or_default();
    v.push(b'\n');
    v
}

fn in_scope(spec: &WatchSpec, obj: &Value) -> bool {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    (spec.namespace.is_empty() || spec.namespace == ns) && spec.selector.matches(obj)
}

fn typed(sh: &Shared, spec: &WatchSpec, obj: &Value, first: &mut bool) -> Value {
    if spec.table {
        // Server-side printing: column definitions only with the first event.
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let t = discovery::table(
            spec.res.resource,
            std::slice::from_ref(obj),
            rv,
            sh.clock.now(),
            *first,
        );
        *first = false;
        return t;
    }
    let mut o = obj.clone();
    o["kind"] = json!(spec.res.kind);
    o["apiVersion"] = json!(spec.api_version);
    o
}

/// Counts a stream as open for as long as it lives.
struct OpenWatch<'a>(&'a AtomicUsize);

impl<'a> OpenWatch<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        OpenWatch(counter)
    }
}

impl Drop for OpenWatch<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where a stream starts: the events to send first (the current state as ADDED, when no
/// resourceVersion was given) and the resourceVersion after them; the 410 for a compacted one.
fn initial(
    sh: &Shared,
    spec: &WatchSpec,
    first: &mut bool,
) -> Result<(Vec<Vec<u8>>, u64), ApiError> {
    let st = sh.store();
    match spec.since {
        None => {
            let mut out = Vec::new();
            for ((r, _, _), obj) in &st.objects {
                if *r == spec.res.resource && in_scope(spec, obj) {
                    out.push(event("ADDED", &typed(sh, spec, obj, first)));
                }
            }
            if spec.initial_events_end {
                out.push(event(
                    "BOOKMARK",
                    &json!({"kind": spec.res.kind, "apiVersion": spec.api_version,
                        "metadata": {"resourceVersion": st.rv.to_string(),
                            "annotations": {"k8s.io/initial-events-end": "true"}}}),
                ));
            }
            Ok((out, st.rv))
        }
        Some(rv) if rv < st.compacted => Err(ApiError::expired(rv, st.compacted)),
        Some(rv) => Ok((Vec::new(), rv)),
    }
}

pub(crate) fn serve<S: Write>(
    sh: &Shared,
    s: &mut S,
    spec: &WatchSpec,
    epoch: u64,
) -> std::io::Result<()> {
    let _open = OpenWatch::new(&sh.watches);
    s.write_all(&head_bytes(200, "application/json", &[], None))?;
    s.flush()?;
    let silence = sh.faults.watch_silence();
    if !silence.is_zero() && !sh.pause(epoch, silence) {
        return Ok(());
    }
    let deadline = match sh.faults.watch_max() {
        Some(cap) => spec.deadline.min(Instant::now() + cap),
        None => spec.deadline,
    };
    if let Some(rv) = spec.since
        && sh.faults.take_expire_watch()
    {
        return end_with_error(s, &ApiError::expired(rv, rv));
    }
    let mut first = true;
    let (mut out, mut cursor) = match initial(sh, spec, &mut first) {
        Ok(start) => start,
        Err(e) => return end_with_error(s, &e),
    };
    let mut last_sent = Instant::now();
    for _ in 0..10_000_000u64 {
        for chunk in out.drain(..) {
            write_chunk(s, &chunk)?;
            last_sent = Instant::now();
        }
        if sh.gone(epoch) && !sh.stopping() {
            // Going down: no final chunk, the stream just breaks off.
            return Ok(());
        }
        if sh.stopping() || Instant::now() >= deadline {
            break;
        }
        match next_events(sh, spec, &mut cursor, deadline, &mut first, last_sent) {
            Ok(events) => out = events,
            Err(error) => {
                write_chunk(s, &error)?;
                break;
            }
        }
    }
    write_chunk(s, b"")
}

/// An ERROR event for `e`, and the stream's end.
fn end_with_error<S: Write>(s: &mut S, e: &ApiError) -> std::io::Result<()> {
    write_chunk(s, &event("ERROR", &status_value(&e.status)))?;
    write_chunk(s, b"")
}

/// The events after `cursor` (moved past them), waiting a little (250 ms at most, never past
/// `deadline`) for a change when there is none; a BOOKMARK when nothing was sent for 5 s and
/// the client wants them. `Err`: the cursor was compacted away, the ERROR event that ends the
/// stream.
fn next_events(
    sh: &Shared,
    spec: &WatchSpec,
    cursor: &mut u64,
    deadline: Instant,
    first: &mut bool,
    last_sent: Instant,
) -> Result<Vec<Vec<u8>>, Vec<u8>> {
    let mut st = sh.store();
    if st.rv <= *cursor {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(250));
        st = match sh.changed.wait_timeout(st, wait) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        };
    }
    if *cursor < st.compacted {
        let e = ApiError::expired(*cursor, st.compacted);
        return Err(event("ERROR", &status_value(&e.status)));
    }
    let mut out = Vec::new();
    let start = st.history.partition_point(|e| e.rv <= *cursor);
    for e in st.history.iter().skip(start) {
        *cursor = e.rv;
        if e.resource == spec.res.resource && in_scope(spec, &e.object) {
            out.push(event(e.etype, &typed(sh, spec, &e.object, first)));
        }
    }
    if out.is_empty() && spec.bookmarks && last_sent.elapsed() > Duration::from_secs(5) {
        out.push(event(
            "BOOKMARK",
            &json!({"kind": spec.res.kind, "apiVersion": spec.api_version,
                    "metadata": {"resourceVersion": st.rv.to_string()}}),
        ));
    }
    Ok(out)
}
