//! Shared server state: the store, users and tokens, rules, the clock, faults and the
//! connections of the running incarnation.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::conns::Conns;
use crate::faults::Faults;
use crate::identity::UserInfo;
use crate::locks::lock;
use crate::pki::Ca;
use crate::rule::Rule;
use crate::store::Store;

pub(crate) struct Shared {
    pub legacy: bool,
    pub anonymous: bool,
    pub max_duration: Duration,
    pub port: u16,
    pub store: Mutex<Store>,
    pub changed: Condvar,
    pub stop: AtomicBool,
    /// Bumped when the server goes down: threads of an older incarnation end.
    pub epoch: AtomicU64,
    /// Between going down and coming back (no listener; signer and cleaner idle).
    pub down: AtomicBool,
    pub conns: Conns,
    /// Watch streams open now.
    pub watches: AtomicUsize,
    pub faults: Faults,
    pub clock: Clock,
    pub tokens: Mutex<HashMap<String, UserInfo>>,
    pub rules: Mutex<Vec<Rule>>,
    pub signers: Mutex<BTreeSet<String>>,
    pub client_ca: Ca,
    pub serving_ca_pem: String,
}

impl Shared {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
    pub(crate) fn now_rfc3339(&self) -> String {
        crate::clock::rfc3339(self.clock.now())
    }
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
    /// Whether a thread of incarnation `epoch` must end: the server stopped or went down.
    pub(crate) fn gone(&self, epoch: u64) -> bool {
        self.stopping() || self.epoch.load(Ordering::SeqCst) != epoch
    }
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
    /// Sleeps `d` in short steps; `false` as soon as incarnation `epoch` is gone.
    pub(crate) fn pause(&self, epoch: u64, d: Duration) -> bool {
        let end = Instant::now() + d;
        while !self.gone(epoch) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        false
    }
}
