//! Shared server state: the object store with one global, strictly increasing resourceVersion
//! (reference §14 "Storage"), the event history that watches replay (§8), users and tokens.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::clock::Clock;
use crate::faults::Faults;
use crate::pki::Ca;
use crate::rbac::Rule;
use crate::server::Conns;

/// Who a request authenticated as (reference §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub(crate) fn anonymous() -> Self {
        UserInfo {
            name: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
            extra: BTreeMap::new(),
        }
    }
    pub(crate) fn in_group(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }
}

/// One change, as a watch sends it, with the object it replaced: etcd keeps every revision
/// until compaction, so a LIST can be continued at the revision it started at.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub rv: u64,
    pub resource: &'static str,
    pub etype: &'static str,
    pub object: Value,
    pub key: Key,
    /// The stored object before this change (`None` for ADDED).
    pub prev: Option<Value>,
}

/// Key: (resource, namespace, name).
pub(crate) type Key = (&'static str, String, String);

/// How many events watches can replay; older resourceVersions get 410 Expired (§8).
pub(crate) const HISTORY: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Store {
    pub rv: u64,
    pub objects: BTreeMap<Key, Value>,
    pub history: VecDeque<Event>,
    /// Events with rv ≤ compacted are gone from `history`.
    pub compacted: u64,
    /// How many events to retain (0 = [`HISTORY`]).
    pub limit: usize,
}

impl Store {
    pub(crate) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }
    /// The one write path: the next resourceVersion, the object stored (or removed for
    /// DELETED) and the event recorded with the object it replaced. Returns the object as
    /// written (for DELETED: the last state, with the deletion's resourceVersion).
    pub(crate) fn write(&mut self, key: Key, mut object: Value, etype: &'static str) -> Value {
        let rv = self.next_rv();
        object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let prev = if etype == "DELETED" {
            self.objects.remove(&key)
        } else {
            self.objects.insert(key.clone(), object.clone())
        };
        self.history.push_back(Event {
            rv,
            resource: key.0,
            etype,
            object: object.clone(),
            key,
            prev,
        });
        let limit = if self.limit == 0 { HISTORY } else { self.limit };
        while self.history.len() > limit {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
        object
    }
    /// Forgets the history up to now, as etcd's compaction does (kube-apiserver compacts
    /// every 5 minutes): watches and LIST continuations from before it get 410 Expired.
    pub(crate) fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }
    /// The objects of `resource` as they were at `rv` (keys and objects), or `None` when that
    /// revision is compacted (etcd's `ErrCompacted`).
    pub(crate) fn objects_at(&self, resource: &str, rv: u64) -> Option<BTreeMap<Key, Value>> {
        if rv < self.compacted || rv > self.rv {
            return None;
        }
        let mut out: BTreeMap<Key, Value> = self
            .objects
            .iter()
            .filter(|((r, _, _), _)| *r == resource)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for e in self.history.iter().rev() {
            if e.rv <= rv {
                break;
            }
            if e.resource != resource {
                continue;
            }
            match &e.prev {
                Some(p) => {
                    out.insert(e.key.clone(), p.clone());
                }
                None => {
                    out.remove(&e.key);
                }
            }
        }
        Some(out)
    }
    pub(crate) fn csr(&self, name: &str) -> Option<&Value> {
        self.objects.get(&(
            "certificatesigningrequests",
            String::new(),
            name.to_string(),
        ))
    }
}

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

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread must not take the server down with it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// A random v4 UUID.
pub(crate) fn uuid() -> String {
    let mut b = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        // Uniqueness is all that matters here; fall back to the clock.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = t.to_be_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `storage/names/generate.go`: base truncated to 58 + 5 random characters.
pub(crate) fn generate_name(base: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut b = [0u8; 5];
    let _ = aws_lc_rs::rand::fill(&mut b);
    let base: String = base.chars().take(58).collect();
    let suffix: String = b
        .iter()
        .map(|x| char::from(ALPHABET[usize::from(*x) % ALPHABET.len()]))
        .collect();
    format!("{base}{suffix}")
}
