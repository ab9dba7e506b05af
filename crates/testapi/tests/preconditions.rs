//! Optimistic concurrency on updates: a stale `metadata.resourceVersion` and a foreign
//! `metadata.uid` in the body of `PUT …/approval` (what `kubectl certificate approve` and
//! kcsr-submit send), and a uid changed by a PATCH.
//!
//! Upstream sources of the expectations (kubernetes/kubernetes, staging/src/k8s.io/apiserver):
//! - `pkg/registry/rest/update.go: defaultUpdatedObjectInfo.Preconditions`: a uid in the PUT
//!   body becomes a storage precondition; a PATCH's object info has none;
//! - `pkg/storage/etcd3/store.go: GuaranteedUpdate` checks the preconditions before the update
//!   function runs; the failure is `storage.NewInvalidObjError(key, "Precondition failed: UID
//!   in precondition: …, UID in object meta: …")` (`checkPreconditions`), which
//!   `pkg/storage/errors/storage.go: InterpretUpdateError` turns into 409 Conflict;
//! - `pkg/registry/generic/registry/store.go: Update`: then a resourceVersion that is not the
//!   stored one → 409 Conflict ("the object has been modified"), before any validation;
//! - `pkg/registry/rest/update.go: BeforeUpdate` → `ValidateObjectMetaAccessorUpdate`: a changed
//!   uid is `metadata.uid: Invalid value: …: field is immutable` (422), reachable through PATCH.

// Helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kcsr_testapi::{Config, TestServer};
use serde_json::{Value, json};

fn with_approval(obj: &mut Value) {
    obj["status"]["conditions"] =
        json!([{"type":"Approved","status":"True","reason":"R","message":"M"}]);
}

#[test]
fn a_stale_resource_version_on_approval_is_409_conflict() {
    let s = TestServer::start(Config::default()).unwrap();
    let adm = admin(&s);
    assert_eq!(adm.post(CSRS, &client_csr("rv")).code, 201);
    let mut obj = adm.get(&format!("{CSRS}/rv")).json();
    // Someone else changes the object first.
    let mut other = obj.clone();
    other["metadata"]["labels"] = json!({"x":"y"});
    assert_eq!(adm.put(&format!("{CSRS}/rv"), &other).code, 200);
    with_approval(&mut obj);
    let r = adm.put(&format!("{CSRS}/rv/approval"), &obj);
    assert_eq!(r.code, 409, "{}", r.body);
    let st = r.json();
    assert_eq!(st["reason"], "Conflict");
    assert_eq!(
        st["message"],
        "Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io \"rv\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(
        st["details"],
        json!({"name":"rv","group":"certificates.k8s.io","kind":"certificatesigningrequests"})
    );
    // The conflict comes before validation: an invalid body with a stale version is 409 too.
    obj["status"]["conditions"] = json!([{"type":"Approved","status":"Nope"}]);
    assert_eq!(adm.put(&format!("{CSRS}/rv/approval"), &obj).code, 409);
    // Without a resourceVersion the update is unconditional (AllowUnconditionalUpdate).
    with_approval(&mut obj);
    obj["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    assert_eq!(adm.put(&format!("{CSRS}/rv/approval"), &obj).code, 200);
}

#[test]
fn a_foreign_uid_on_approval_is_409_precondition_failed_before_anything_else() {
    let s = TestServer::start(Config::default()).unwrap();
    let adm = admin(&s);
    assert_eq!(adm.post(CSRS, &client_csr("uid")).code, 201);
    let mut obj = adm.get(&format!("{CSRS}/uid")).json();
    let stored_uid = obj["metadata"]["uid"].as_str().unwrap().to_string();
    with_approval(&mut obj);
    obj["metadata"]["uid"] = json!("00000000-0000-4000-8000-000000000000");
    // Even with a stale resourceVersion: the precondition is checked first.
    obj["metadata"]["resourceVersion"] = json!("1");
    let r = adm.put(&format!("{CSRS}/uid/approval"), &obj);
    assert_eq!(r.code, 409, "{}", r.body);
    let st = r.json();
    assert_eq!(st["reason"], "Conflict");
    assert_eq!(
        st["message"],
        format!(
            "Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io \"uid\": StorageError: invalid object, Code: 4, Key: /registry/certificatesigningrequests/uid, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: 00000000-0000-4000-8000-000000000000, UID in object meta: {stored_uid}"
        )
    );
    assert!(s.csr("uid").unwrap()["status"].get("conditions").is_none());
    // The same uid is fine.
    obj["metadata"]["uid"] = json!(stored_uid);
    obj["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    assert_eq!(adm.put(&format!("{CSRS}/uid/approval"), &obj).code, 200);
}

#[test]
fn a_patch_changing_the_uid_is_422_field_is_immutable() {
    let s = TestServer::start(Config::default()).unwrap();
    let adm = admin(&s);
    assert_eq!(adm.post(CSRS, &client_csr("p")).code, 201);
    let r = adm.send(
        "PATCH",
        &format!("{CSRS}/p/approval"),
        "application/merge-patch+json",
        br#"{"metadata":{"uid":"other"}}"#.to_vec(),
    );
    assert_eq!(r.code, 422, "{}", r.body);
    let st = r.json();
    assert_eq!(
        st["message"],
        "CertificateSigningRequest.certificates.k8s.io \"p\" is invalid: metadata.uid: Invalid value: \"other\": field is immutable"
    );
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.uid");
}
