//! Fault injection switches. They apply to requests under `/apis/certificates.k8s.io/`
//! (the API the connected client talks to), not to discovery, RBAC or authentication calls, so
//! a test can break CSR traffic while kubectl's discovery keeps working.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Switches a test flips on [`crate::TestServer::faults`]. All are off by default.
#[derive(Debug, Default)]
pub struct Faults {
    latency_ms: AtomicU64,
    fail_500: AtomicU32,
    fail_429: AtomicU32,
    retry_after: AtomicU32,
    close_mid_response: AtomicU32,
    signer_stopped: AtomicBool,
    signer_delay_ms: AtomicU64,
    method: Mutex<Option<String>>,
    watch_max_ms: AtomicU64,
    expire_watches: AtomicU32,
    stall: AtomicU32,
    stall_ms: AtomicU64,
    stall_mid_body: AtomicU32,
    stall_mid_body_ms: AtomicU64,
    watch_silence_ms: AtomicU64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl Faults {
    /// Adds this much latency before every CSR API request is handled.
    pub fn set_latency(&self, d: Duration) {
        self.latency_ms.store(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
    /// The next `n` CSR API requests fail with 500 `InternalError`.
    pub fn fail_next_with_500(&self, n: u32) {
        self.fail_500.store(n, Ordering::SeqCst);
    }
    /// The next `n` CSR API requests fail with 429 `TooManyRequests` and
    /// `Retry-After: retry_after_secs` (also in `details.retryAfterSeconds`).
    pub fn fail_next_with_429(&self, n: u32, retry_after_secs: u32) {
        self.retry_after.store(retry_after_secs, Ordering::SeqCst);
        self.fail_429.store(n, Ordering::SeqCst);
    }
    /// The next `n` CSR API responses are cut off: the status line, headers and half of the
    /// body are sent, then the connection is closed.
    pub fn close_next_mid_response(&self, n: u32) {
        self.close_mid_response.store(n, Ordering::SeqCst);
    }
    /// A stopped signer leaves approved CSRs approved without a certificate; restarting it
    /// issues the backlog.
    pub fn set_signer_stopped(&self, stopped: bool) {
        self.signer_stopped.store(stopped, Ordering::SeqCst);
    }
    /// Delay before each issuance (a slow signer).
    pub fn set_signer_delay(&self, d: Duration) {
        self.signer_delay_ms.store(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
    /// Restricts the request faults (latency, 500, 429, cut and stalled responses) to one HTTP
    /// method (e.g. `Some("PUT")` to hit only approvals); `None` = every method.
    pub fn only_method(&self, method: Option<&str>) {
        *crate::locks::lock(&self.method) = method.map(str::to_ascii_uppercase);
    }
    /// Ends every watch stream after at most this long (a clean EOF, as when kube-apiserver's
    /// timeout expires), so clients must re-watch. `Duration::ZERO` = no cap.
    pub fn set_watch_max_duration(&self, d: Duration) {
        self.watch_max_ms.store(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
    /// The next `n` watches that start from a resourceVersion get the in-stream ERROR event
    /// with the 410 `Expired` Status right away (§8), so clients must re-list.
    pub fn expire_next_watches(&self, n: u32) {
        self.expire_watches.store(n, Ordering::SeqCst);
    }
    /// The next `n` CSR API requests are read and then left unanswered for `d`: not even a
    /// status line, the connection open (a hung server, or a path that drops packets). After
    /// `d` the request is handled as usual, if the client is still there. Clients must time
    /// out.
    pub fn stall_next(&self, n: u32, d: Duration) {
        self.stall_ms.store(millis(d), Ordering::SeqCst);
        self.stall.store(n, Ordering::SeqCst);
    }
    /// The next `n` CSR API responses (not watches) stop after the headers and half of the
    /// body for `d`, the connection open; then the rest follows.
    pub fn stall_next_mid_body(&self, n: u32, d: Duration) {
        self.stall_mid_body_ms.store(millis(d), Ordering::SeqCst);
        self.stall_mid_body.store(n, Ordering::SeqCst);
    }
    /// Every watch started while this is set sends its `200` headers and then nothing at all
    /// (no event, no BOOKMARK, no end) for `d`, even past its `timeoutSeconds`, as a
    /// half-open connection would; then it carries on (ending at once if its time is up).
    /// `Duration::ZERO` = off.
    pub fn set_watch_silence(&self, d: Duration) {
        self.watch_silence_ms.store(millis(d), Ordering::SeqCst);
    }
    /// Switches everything off.
    pub fn reset(&self) {
        self.stall_next(0, Duration::ZERO);
        self.stall_next_mid_body(0, Duration::ZERO);
        self.set_watch_silence(Duration::ZERO);
        self.only_method(None);
        self.set_watch_max_duration(Duration::ZERO);
        self.expire_next_watches(0);
        self.set_latency(Duration::ZERO);
        self.fail_next_with_500(0);
        self.fail_next_with_429(0, 0);
        self.close_next_mid_response(0);
        self.set_signer_stopped(false);
        self.set_signer_delay(Duration::ZERO);
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::SeqCst))
    }
    pub(crate) fn take_500(&self) -> bool {
        take_one(&self.fail_500)
    }
    pub(crate) fn take_429(&self) -> Option<u32> {
        take_one(&self.fail_429).then(|| self.retry_after.load(Ordering::SeqCst))
    }
    pub(crate) fn take_close(&self) -> bool {
        take_one(&self.close_mid_response)
    }
    pub(crate) fn applies_to(&self, method: &str) -> bool {
        crate::locks::lock(&self.method)
            .as_deref()
            .is_none_or(|m| m == method)
    }
    pub(crate) fn watch_max(&self) -> Option<Duration> {
        let ms = self.watch_max_ms.load(Ordering::SeqCst);
        (ms > 0).then(|| Duration::from_millis(ms))
    }
    pub(crate) fn take_expire_watch(&self) -> bool {
        take_one(&self.expire_watches)
    }
    pub(crate) fn take_stall(&self) -> Option<Duration> {
        take_one(&self.stall).then(|| Duration::from_millis(self.stall_ms.load(Ordering::SeqCst)))
    }
    pub(crate) fn take_stall_mid_body(&self) -> Option<Duration> {
        take_one(&self.stall_mid_body)
            .then(|| Duration::from_millis(self.stall_mid_body_ms.load(Ordering::SeqCst)))
    }
    pub(crate) fn watch_silence(&self) -> Duration {
        Duration::from_millis(self.watch_silence_ms.load(Ordering::SeqCst))
    }
    pub(crate) fn signer_stopped(&self) -> bool {
        self.signer_stopped.load(Ordering::SeqCst)
    }
    pub(crate) fn signer_delay(&self) -> Duration {
        Duration::from_millis(self.signer_delay_ms.load(Ordering::SeqCst))
    }
}
