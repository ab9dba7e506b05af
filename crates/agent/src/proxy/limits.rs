//! What a local user without the token can make the agent do: hold at most
//! [`MAX_UNAUTHENTICATED`] connections waiting to authenticate, and print at most
//! [`LOG_LINES`] refusal lines per [`LOG_WINDOW`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Connections not yet authenticated at once; more are closed at once, so that a local user
/// without the token cannot use up the agent's threads and file descriptors.
pub(crate) const MAX_UNAUTHENTICATED: usize = 64;
/// Refusal lines said on stderr per [`LOG_WINDOW`]; the rest are counted.
const LOG_LINES: u32 = 20;
const LOG_WINDOW: Duration = Duration::from_secs(10);

/// Says a line about a refused request on stderr, at most [`LOG_LINES`] per [`LOG_WINDOW`]:
/// a flood of refused connections cannot flood the operator's terminal or log.
pub(crate) fn say_refusal(line: &str) {
    static STATE: Mutex<Option<(Instant, u32, u64)>> = Mutex::new(None);
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    let (start, said, held) = state.get_or_insert((now, 0, 0));
    if now.duration_since(*start) >= LOG_WINDOW {
        if *held > 0 {
            eprintln!("kcsr-agent: {held} more refused request(s) not shown");
        }
        (*start, *said, *held) = (now, 0, 0);
    }
    if *said < LOG_LINES {
        *said += 1;
        eprintln!("{line}");
    } else {
        *held += 1;
    }
}

/// Counts a connection as not yet authenticated while it lives, or until [`Self::done`].
pub(crate) struct Unauthenticated {
    count: Arc<AtomicUsize>,
    counted: bool,
}

impl Unauthenticated {
    /// Counts one more, or `None` when [`MAX_UNAUTHENTICATED`] are already waiting.
    pub(crate) fn enter(count: &Arc<AtomicUsize>) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_UNAUTHENTICATED).then_some(n + 1)
            })
            .ok()
            .map(|_| Self {
                count: count.clone(),
                counted: true,
            })
    }

    pub(super) fn done(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Unauthenticated {
    fn drop(&mut self) {
        self.done();
    }
}
