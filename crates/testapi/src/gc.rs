//! The CSR cleaner (reference §11) on the server's injectable clock. Deletes a CSR when:
//! approved + issued and the Approved condition is older than 1 h; Denied older than 1 h;
//! Failed older than 1 h; no conditions at all and created more than 24 h ago; or the issued
//! certificate has expired. Zero timestamps never count as old.

use serde_json::Value;
use x509_parser::prelude::FromDer as _;

use crate::clock::parse_rfc3339;
use crate::fields::{bytes_at, conditions, str_at};
use crate::pki::pem_blocks;
use crate::state::Shared;

const HOUR: i64 = 3600;

fn older_than(ts: &str, now: i64, age: i64) -> bool {
    parse_rfc3339(ts).is_some_and(|t| now - t > age)
}

fn condition_old(obj: &Value, ty: &str, now: i64) -> bool {
    conditions(obj)
        .iter()
        .any(|c| str_at(c, "/type") == ty && older_than(str_at(c, "/lastUpdateTime"), now, HOUR))
}

fn cert_expired(obj: &Value, now: i64) -> bool {
    let pem = bytes_at(obj, "/status/certificate");
    pem_blocks(&pem).first().is_some_and(|b| {
        x509_parser::certificate::X509Certificate::from_der(&b.der)
            .is_ok_and(|(_, c)| c.validity().not_after.timestamp() < now)
    })
}

pub(crate) fn should_delete(obj: &Value, now: i64) -> bool {
    let issued = !str_at(obj, "/status/certificate").is_empty();
    let conds = conditions(obj);
    (issued && condition_old(obj, "Approved", now))
        || condition_old(obj, "Denied", now)
        || condition_old(obj, "Failed", now)
        || (conds.is_empty()
            && older_than(str_at(obj, "/metadata/creationTimestamp"), now, 24 * HOUR))
        || (issued
            && conds.iter().any(|c| str_at(c, "/type") == "Approved")
            && cert_expired(obj, now))
}

/// One cleaner pass; returns the names it deleted.
pub(crate) fn run(sh: &Shared) -> Vec<String> {
    let now = sh.clock.now();
    let mut st = sh.store();
    let victims: Vec<(String, Value)> = st
        .objects
        .iter()
        .filter(|((r, _, _), v)| *r == "certificatesigningrequests" && should_delete(v, now))
        .map(|((_, _, n), v)| (n.clone(), v.clone()))
        .collect();
    let mut names = Vec::new();
    for (name, obj) in victims {
        st.write(
            ("certificatesigningrequests", String::new(), name.clone()),
            obj,
            "DELETED",
        );
        names.push(name);
    }
    drop(st);
    sh.changed.notify_all();
    names
}
