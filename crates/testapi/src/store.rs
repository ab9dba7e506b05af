//! The object store with one global, strictly increasing resourceVersion (reference §14
//! "Storage") and the event history that watches replay (§8).

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;

/// One change, as a watch sends it, with the object it replaced: etcd keeps every revision
/// until compaction, so a LIST can be continued at the revision it started at.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub rv: u64,
    pub resource: &'static str,
    pub etype: &'static str,
    pub object: Value,
    pub key: ObjectKey,
    /// The stored object before this change (`None` for ADDED).
    pub prev: Option<Value>,
}

/// Where an object is stored: (resource, namespace, name).
pub(crate) type ObjectKey = (&'static str, String, String);

/// How many events watches can replay; older resourceVersions get 410 Expired (§8).
pub(crate) const HISTORY: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Store {
    pub rv: u64,
    pub objects: BTreeMap<ObjectKey, Value>,
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
    pub(crate) fn write(
        &mut self,
        key: ObjectKey,
        mut object: Value,
        etype: &'static str,
    ) -> Value {
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
    pub(crate) fn objects_at(&self, resource: &str, rv: u64) -> Option<BTreeMap<ObjectKey, Value>> {
        if rv < self.compacted || rv > self.rv {
            return None;
        }
        let mut out: BTreeMap<ObjectKey, Value> = self
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
