//! Issue 13 part 2: validation of requests made through `certificates.k8s.io/v1beta1` on a
//! 1.19–1.21 server (`--legacy`), and validation before admission.
//!
//! Upstream sources of the expectations (kubernetes/kubernetes, release-1.19 to 1.21):
//! - `pkg/apis/certificates/validation/validation.go: getValidationOptions(version, newCSR,
//!   oldCSR)`: for a v1beta1 request `allowLegacySignerName`, `allowDuplicateConditionTypes`,
//!   `allowEmptyConditionType`, `allowArbitraryCertificate`, `allowUnknownUsages`,
//!   `allowDuplicateUsages` and `allowResettingCertificate` are all true (validation_test.go:
//!   `Test_getValidationOptions`, case "v1beta1 compatible create"); v1 gets none of them;
//! - `pkg/registry/certificates/certificates/strategy.go: Validate` passes the request's
//!   group/version; create validation (422) runs before validating admission (403,
//!   `plugin/pkg/admission/certificates/subjectrestriction`) in
//!   `apiserver pkg/registry/generic/registry/store.go: Create` → `rest.BeforeCreate`;
//! - `pkg/apis/certificates/v1beta1/defaults.go`: v1beta1 condition status defaults to True.

// Helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kcsr_testapi::{Config, TestServer};
use serde_json::{Value, json};

const BETA: &str = "/apis/certificates.k8s.io/v1beta1/certificatesigningrequests";
const NOWHERE: &str = "example.com/nobody-signs";

fn legacy() -> TestServer {
    TestServer::start(Config {
        legacy: true,
        ..Config::default()
    })
    .unwrap()
}

fn body(version: &str, name: &str, org: &str, signer: &str, usages: &[&str]) -> Value {
    json!({"apiVersion":format!("certificates.k8s.io/{version}"),"kind":"CertificateSigningRequest",
        "metadata":{"name":name},
        "spec":{"request":b64(&csr_pem(name, Some(org), &[])),"signerName":signer,"usages":usages}})
}

fn causes(r: &Resp) -> Vec<String> {
    r.json()["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}: {}",
                c["field"].as_str().unwrap(),
                c["message"].as_str().unwrap()
            )
        })
        .collect()
}

// "v1beta1 compatible create": unknown and duplicate usages pass on create; v1 on the same
// server and on a current one refuses them.
#[test]
fn v1beta1_create_allows_unknown_and_duplicate_usages() {
    let s = legacy();
    let adm = admin(&s);
    let usages = ["client auth", "client auth", "made up"];
    let r = adm.post(BETA, &body("v1beta1", "beta", "dev", NOWHERE, &usages));
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(r.json()["spec"]["usages"], json!(usages));

    let v1 = adm.post(CSRS, &body("v1", "v1", "dev", NOWHERE, &usages));
    assert_eq!(v1.code, 422, "{}", v1.body);
    let c = causes(&v1);
    assert!(
        c[0].starts_with(
            "spec.usages[2]: Unsupported value: \"made up\": supported values: \"any\""
        ),
        "{c:?}"
    );
    assert_eq!(c[1], "spec.usages[1]: Duplicate value: \"client auth\"");

    let modern = TestServer::start(Config::default()).unwrap();
    let r = admin(&modern).post(CSRS, &body("v1", "v1", "dev", NOWHERE, &usages));
    assert_eq!(r.code, 422);
}

// Validation first, admission after: through v1beta1 the lenient validation lets the request
// reach CertificateSubjectRestriction (403); through v1 validation answers first (422).
#[test]
fn validation_runs_before_admission() {
    let s = legacy();
    let adm = admin(&s);
    let usages = ["client auth", "made up"];
    let r = adm.post(
        BETA,
        &body(
            "v1beta1",
            "root",
            "system:masters",
            "kubernetes.io/kube-apiserver-client",
            &usages,
        ),
    );
    assert_eq!(r.code, 403, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        "certificatesigningrequests.certificates.k8s.io \"root\" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"
    );
    let r = adm.post(
        CSRS,
        &body(
            "v1",
            "root",
            "system:masters",
            "kubernetes.io/kube-apiserver-client",
            &usages,
        ),
    );
    assert_eq!(r.code, 422, "{}", r.body);
    assert!(causes(&r)[0].starts_with("spec.usages[1]: Unsupported value: \"made up\""));
}

fn put_status(c: &Client, base: &str, name: &str, f: impl Fn(&mut Value)) -> Resp {
    let mut obj = c.get(&format!("{base}/{name}")).json();
    f(&mut obj);
    c.put(&format!("{base}/{name}/status"), &obj)
}

// allowArbitraryCertificate + allowResettingCertificate for v1beta1: status.certificate need
// not hold PEM, and may be replaced; v1 refuses both.
#[test]
fn v1beta1_status_certificate_need_not_be_pem() {
    let s = legacy();
    let adm = admin(&s);
    let r = adm.post(
        BETA,
        &body("v1beta1", "c", "dev", NOWHERE, &["client auth"]),
    );
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(adm.add_condition("c", "Approved", "ok", "ok").code, 200);

    let v1 = put_status(&adm, CSRS, "c", |o| {
        o["status"]["certificate"] = json!(b64("not a certificate"));
    });
    assert_eq!(v1.code, 422, "{}", v1.body);
    assert_eq!(
        causes(&v1),
        [
            "status.certificate: Invalid value: \"<certificate data>\": must contain at least one CERTIFICATE PEM block"
        ]
    );

    let beta = put_status(&adm, BETA, "c", |o| {
        o["status"]["certificate"] = json!(b64("not a certificate"));
    });
    assert_eq!(beta.code, 200, "{}", beta.body);
    let again = put_status(&adm, BETA, "c", |o| {
        o["status"]["certificate"] = json!(b64("something else"));
    });
    assert_eq!(again.code, 200, "{}", again.body);
    let v1 = put_status(&adm, CSRS, "c", |o| {
        o["status"]["certificate"] = json!(b64("a third thing"));
    });
    assert_eq!(v1.code, 422);
    assert_eq!(
        causes(&v1),
        ["status.certificate: Forbidden: updates may not modify existing certificate content"]
    );
}

// allowDuplicateConditionTypes / allowEmptyConditionType for v1beta1 updates.
#[test]
fn v1beta1_updates_allow_duplicate_and_empty_condition_types() {
    let s = legacy();
    let adm = admin(&s);
    assert_eq!(
        adm.post(
            BETA,
            &body("v1beta1", "d", "dev", NOWHERE, &["client auth"])
        )
        .code,
        201
    );
    let conds = json!([{"type":"Progress","status":"True"},{"type":"Progress","status":"True"},{"type":"","status":"False"}]);
    let v1 = put_status(&adm, CSRS, "d", |o| {
        o["status"]["conditions"] = conds.clone()
    });
    assert_eq!(v1.code, 422);
    assert_eq!(
        causes(&v1),
        [
            "status.conditions[1].type: Duplicate value: \"Progress\"",
            "status.conditions[2].type: Required value"
        ]
    );
    let beta = put_status(&adm, BETA, "d", |o| {
        o["status"]["conditions"] = conds.clone()
    });
    assert_eq!(beta.code, 200, "{}", beta.body);
    assert_eq!(beta.json()["status"]["conditions"][2]["type"], "");
    // Once stored, v1 tolerates what the object already has (compatibility with data).
    let v1 = put_status(&adm, CSRS, "d", |o| {
        o["status"]["conditions"][0]["message"] = json!("still here");
    });
    assert_eq!(v1.code, 200, "{}", v1.body);
}

// A 1.19–1.21 server: v1beta1 has no spec.expirationSeconds (added in 1.22, KEP-2784), and
// there is no server-side field validation (the fieldValidation parameter came in 1.23), so
// the unknown field is dropped without a warning, whatever fieldValidation says.
#[test]
fn v1beta1_has_no_expiration_seconds_and_unknown_fields_drop_silently() {
    let s = legacy();
    let adm = admin(&s);
    let mut b = body("v1beta1", "short", "dev", NOWHERE, &["client auth"]);
    b["spec"]["expirationSeconds"] = json!(60);
    b["spec"]["bogus"] = json!(true);
    let r = adm.post(&format!("{BETA}?fieldValidation=Strict"), &b);
    assert_eq!(r.code, 201, "{}", r.body);
    assert!(r.json()["spec"].get("expirationSeconds").is_none());
    assert!(r.header("warning").is_none(), "{:?}", r.headers);
    let r = adm.post(&format!("{CSRS}?fieldValidation=Nonsense"), &{
        let mut v = body("v1", "v1-bogus", "dev", NOWHERE, &["client auth"]);
        v["spec"]["bogus"] = json!(true);
        v
    });
    assert_eq!(r.code, 201, "{}", r.body);
    // A current server refuses both.
    let modern = TestServer::start(Config::default()).unwrap();
    let mut v = body("v1", "strict", "dev", NOWHERE, &["client auth"]);
    v["spec"]["bogus"] = json!(true);
    let r = admin(&modern).post(&format!("{CSRS}?fieldValidation=Strict"), &v);
    assert_eq!(r.code, 400);
    assert_eq!(
        r.json()["message"],
        "strict decoding error: unknown field \"spec.bogus\""
    );
}
