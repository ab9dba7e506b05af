//! REST behaviour of the test server against the reference (k8s-csr-api.md), over real HTTPS.

// Helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::time::Duration;

use common::*;
use kcsr_testapi::{Config, Rule, Subject, TestServer, UserSpec};
use serde_json::{Value, json};

fn server() -> TestServer {
    TestServer::start(Config {
        users: vec!["alice:dev".parse().unwrap(), "bob".parse().unwrap()],
        ..Config::default()
    })
    .unwrap()
}

fn status_line(r: &Resp) -> String {
    r.body.trim_end().to_string()
}

// §6 row: bad credentials → 401 with the exact Status.
#[test]
fn bad_credentials_are_401() {
    let s = server();
    let other = TestServer::start(Config::default()).unwrap();
    let foreign = client_with(&s, Some(&other.admin_identity()), None);
    let r = foreign.get(CSRS);
    assert_eq!(r.code, 401);
    assert_eq!(
        status_line(&r),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
    );
    let bad_token = client_with(&s, None, Some("nope"));
    assert_eq!(bad_token.get(CSRS).code, 401);
    // A valid token works; no credentials at all is system:anonymous (403, not 401).
    s.add_token("t0k3n", "carol", &["system:masters"]);
    assert_eq!(client_with(&s, None, Some("t0k3n")).get(CSRS).code, 200);
    let anon = client_with(&s, None, None).get(CSRS);
    assert_eq!(anon.code, 403);
    assert!(
        anon.json()["message"]
            .as_str()
            .unwrap()
            .contains("User \"system:anonymous\" cannot list")
    );
}

// §6 RBAC row, §3 create ordering, §4.1 user info injection, §4.4 AlreadyExists, §6 NotFound.
#[test]
fn create_get_list_delete_and_error_rows() {
    let s = server();
    let alice = user(&s, "alice");
    let mut body = client_csr("alice-1");
    body["spec"]["username"] = json!("mallory");
    body["status"] = json!({"conditions":[{"type":"Approved","status":"True"}]});
    let r = alice.post(CSRS, &body);
    assert_eq!(r.code, 201, "{}", r.body);
    let obj = r.json();
    assert_eq!(obj["spec"]["username"], "alice");
    assert_eq!(
        obj["spec"]["groups"],
        json!(["dev", "system:authenticated"])
    );
    assert!(
        obj["spec"]["extra"]["authentication.kubernetes.io/credential-id"][0]
            .as_str()
            .unwrap()
            .starts_with("X509SHA256=")
    );
    assert_eq!(obj["status"], json!({}));
    assert!(obj["metadata"]["uid"].as_str().unwrap().len() == 36);
    let rv1: u64 = obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let dup = alice.post(CSRS, &body);
    assert_eq!(dup.code, 409);
    assert_eq!(
        status_line(&dup),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"certificatesigningrequests.certificates.k8s.io \"alice-1\" already exists","reason":"AlreadyExists","details":{"name":"alice-1","group":"certificates.k8s.io","kind":"certificatesigningrequests"},"code":409}"#
    );
    let missing = alice.get(&format!("{CSRS}/nope"));
    assert_eq!(missing.code, 404);
    assert_eq!(
        status_line(&missing),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"certificatesigningrequests.certificates.k8s.io \"nope\" not found","reason":"NotFound","details":{"name":"nope","group":"certificates.k8s.io","kind":"certificatesigningrequests"},"code":404}"#
    );
    // alice may not delete (requester rules only): exact RBAC 403.
    let forbidden = alice.delete(&format!("{CSRS}/alice-1"));
    assert_eq!(forbidden.code, 403);
    assert_eq!(
        status_line(&forbidden),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"certificatesigningrequests.certificates.k8s.io \"alice-1\" is forbidden: User \"alice\" cannot delete resource \"certificatesigningrequests\" in API group \"certificates.k8s.io\" at the cluster scope","reason":"Forbidden","details":{"name":"alice-1","group":"certificates.k8s.io","kind":"certificatesigningrequests"},"code":403}"#
    );
    // POST without permission: no name in the message.
    let stranger = s
        .add_user(UserSpec {
            name: "eve".into(),
            groups: vec![],
        })
        .unwrap();
    assert!(stranger.exists());
    let token_user = client_with(&s, None, Some("eve-token"));
    s.add_token("eve-token", "eve2", &[]);
    let r = token_user.post(CSRS, &client_csr("x"));
    assert_eq!(r.code, 403);
    assert_eq!(
        r.json()["message"],
        "certificatesigningrequests.certificates.k8s.io is forbidden: User \"eve2\" cannot create resource \"certificatesigningrequests\" in API group \"certificates.k8s.io\" at the cluster scope"
    );
    assert_eq!(
        r.json()["details"],
        json!({"group":"certificates.k8s.io","kind":"certificatesigningrequests"})
    );

    alice.post(
        CSRS,
        &csr_obj(
            "other-signer",
            &csr_pem("a", None, &[]),
            "example.com/signer",
            &["digital signature"],
        ),
    );
    let list = alice.get(&format!(
        "{CSRS}?fieldSelector=spec.signerName%3Dexample.com%2Fsigner"
    ));
    assert_eq!(list.code, 200);
    let list = list.json();
    assert_eq!(list["kind"], "CertificateSigningRequestList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["metadata"]["name"], "other-signer");
    assert!(list["items"][0].get("kind").is_none());
    let rv2: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    let by_name = alice
        .get(&format!("{CSRS}?fieldSelector=metadata.name=alice-1"))
        .json();
    assert_eq!(by_name["items"].as_array().unwrap().len(), 1);
    let bad_sel = alice.get(&format!("{CSRS}?fieldSelector=spec.username%3Dalice"));
    assert_eq!(bad_sel.code, 400);
    assert_eq!(
        status_line(&bad_sel),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"field label not supported: spec.username","reason":"BadRequest","code":400}"#
    );

    let adm = admin(&s);
    let del = adm.delete(&format!("{CSRS}/alice-1"));
    assert_eq!(del.code, 200);
    let del = del.json();
    assert_eq!(del["status"], "Success");
    assert_eq!(del["details"]["name"], "alice-1");
    assert_eq!(del["details"]["kind"], "certificatesigningrequests");
    assert_eq!(adm.get(&format!("{CSRS}/alice-1")).code, 404);
}

// §4.2 validation messages and the §6 Invalid shape.
#[test]
fn validation_errors_are_422_with_causes() {
    let s = server();
    let adm = admin(&s);
    let r = adm.post(
        CSRS,
        &json!({"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest",
        "metadata":{"name":"alice"},"spec":{"request": b64(&csr_pem("alice", None, &[]))}}),
    );
    assert_eq!(r.code, 422);
    assert_eq!(
        status_line(&r),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"CertificateSigningRequest.certificates.k8s.io \"alice\" is invalid: [spec.usages: Required value, spec.signerName: Required value]","reason":"Invalid","details":{"name":"alice","group":"certificates.k8s.io","kind":"CertificateSigningRequest","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.usages"},{"reason":"FieldValueRequired","message":"Required value","field":"spec.signerName"}]},"code":422}"#
    );
    let mut o = client_csr("v");
    o["spec"]["expirationSeconds"] = json!(599);
    o["spec"]["usages"] = json!(["client auth", "foo", "client auth"]);
    o["spec"]["signerName"] = json!("kubernetes.io/legacy-unknown");
    let r = adm.post(CSRS, &o).json();
    let causes = r["details"]["causes"].as_array().unwrap();
    let fields: Vec<&str> = causes
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "spec.usages[1]",
            "spec.usages[2]",
            "spec.signerName",
            "spec.expirationSeconds"
        ]
    );
    assert!(
        causes[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported value: \"foo\": supported values: \"any\", \"cert sign\"")
    );
    assert_eq!(causes[1]["message"], "Duplicate value: \"client auth\"");
    assert_eq!(
        causes[2]["message"],
        "Invalid value: \"kubernetes.io/legacy-unknown\": the legacy signerName is not allowed via this API version"
    );
    assert_eq!(
        causes[3]["message"],
        "Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)"
    );
    // NEW CERTIFICATE REQUEST label is refused (§4.2 item 2).
    let pem = csr_pem("x", None, &[]).replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
    let r = adm
        .post(CSRS, &csr_obj("x", &pem, "example.com/s", &["client auth"]))
        .json();
    assert_eq!(r["details"]["causes"][0]["field"], "spec.request");
    assert!(
        r["details"]["causes"][0]["message"]
            .as_str()
            .unwrap()
            .ends_with(": PEM block type must be CERTIFICATE REQUEST")
    );
    // Name required.
    let mut o = client_csr("n");
    o["metadata"] = json!({});
    let r = adm.post(CSRS, &o).json();
    assert_eq!(
        r["details"]["causes"][0]["message"],
        "Required value: name or generateName is required"
    );
    // generateName works.
    let mut o = client_csr("n");
    o["metadata"] = json!({"generateName":"gen-"});
    let r = adm.post(CSRS, &o);
    assert_eq!(r.code, 201);
    assert!(
        r.json()["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("gen-")
    );
}

// §4.3 admission, §4.5 dry run, §4.6 options, §3 step 8 resourceVersion on create, decode errors.
#[test]
fn admission_dry_run_options_and_decode_errors() {
    let s = server();
    let adm = admin(&s);
    let masters = csr_obj(
        "m",
        &csr_pem("m", Some("system:masters"), &[]),
        "kubernetes.io/kube-apiserver-client",
        &["client auth"],
    );
    let r = adm.post(CSRS, &masters);
    assert_eq!(r.code, 403);
    assert_eq!(
        status_line(&r),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"certificatesigningrequests.certificates.k8s.io \"m\" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed","reason":"Forbidden","details":{"name":"m","group":"certificates.k8s.io","kind":"certificatesigningrequests"},"code":403}"#
    );
    let rv = s.resource_version();
    let r = adm.post(&format!("{CSRS}?dryRun=All"), &client_csr("dry"));
    assert_eq!(r.code, 201);
    assert!(r.json()["metadata"].get("resourceVersion").is_none());
    assert!(r.json()["metadata"]["uid"].is_string());
    assert_eq!(s.resource_version(), rv);
    assert!(s.csr("dry").is_none());
    let r = adm.post(&format!("{CSRS}?dryRun=Foo"), &client_csr("dry"));
    assert_eq!(r.code, 422);
    assert_eq!(
        r.json()["message"],
        "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: [\"Foo\"]: supported values: \"All\""
    );
    let long = "x".repeat(129);
    let r = adm.post(&format!("{CSRS}?fieldManager={long}"), &client_csr("fm"));
    assert_eq!(
        r.json()["message"],
        "CreateOptions.meta.k8s.io \"\" is invalid: fieldManager: Too long: may not be more than 128 bytes"
    );
    let mut with_rv = client_csr("rv");
    with_rv["metadata"]["resourceVersion"] = json!("5");
    let r = adm.post(CSRS, &with_rv);
    assert_eq!(r.code, 500);
    assert_eq!(
        status_line(&r),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"resourceVersion should not be set on objects to be created","code":500}"#
    );
    // Decode errors are 400; unknown fields warn by default and fail under Strict (§17).
    assert_eq!(
        adm.send("POST", CSRS, "application/json", b"{not json".to_vec())
            .code,
        400
    );
    assert_eq!(
        adm.send("POST", CSRS, "application/json", b"[]".to_vec())
            .code,
        400
    );
    assert_eq!(
        adm.send("POST", CSRS, "text/plain", b"x".to_vec()).code,
        415
    );
    let mut bogus = client_csr("bogus");
    bogus["spec"]["bogus"] = json!(1);
    let strict = adm.post(&format!("{CSRS}?fieldValidation=Strict"), &bogus);
    assert_eq!(strict.code, 400);
    assert_eq!(
        strict.json()["message"],
        "strict decoding error: unknown field \"spec.bogus\""
    );
    let warn = adm.post(CSRS, &bogus);
    assert_eq!(warn.code, 201);
    assert_eq!(
        warn.header("warning"),
        Some("299 - \"unknown field \\\"spec.bogus\\\"\"")
    );
    let mut bad_b64 = client_csr("b");
    bad_b64["spec"]["request"] = json!("@@@");
    assert_eq!(adm.post(CSRS, &bad_b64).code, 400);
    // Unknown paths: plain 404 outside served groups, Status 404 inside.
    let r = adm.get("/apis/nope/v1/things");
    assert_eq!((r.code, r.body.as_str()), (404, "404 page not found\n"));
    assert_eq!(
        adm.get("/apis/certificates.k8s.io/v1/nothing").json()["reason"],
        "NotFound"
    );
}

// §5.2/§5.3/§6: approval rules, conflicts, signer admission; §9 signer issues.
#[test]
fn approval_pipeline_and_signer() {
    let s = server();
    let adm = admin(&s);
    let alice = user(&s, "alice");
    assert_eq!(alice.post(CSRS, &client_csr("alice")).code, 201);
    // alice cannot update /approval (RBAC) …
    let r = alice.approve("alice");
    assert_eq!(r.code, 403);
    assert_eq!(
        r.json()["message"],
        "certificatesigningrequests.certificates.k8s.io \"alice\" is forbidden: User \"alice\" cannot update resource \"certificatesigningrequests/approval\" in API group \"certificates.k8s.io\" at the cluster scope"
    );
    // … and with update but no `approve` on the signer it is the admission 403.
    s.grant(
        Rule::user("alice")
            .verbs(&["update"])
            .resources(&["certificatesigningrequests/approval"]),
    );
    let r = alice.approve("alice");
    assert_eq!(r.code, 403);
    assert_eq!(
        status_line(&r),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"certificatesigningrequests.certificates.k8s.io \"alice\" is forbidden: user not permitted to approve requests with signerName \"kubernetes.io/kube-apiserver-client\"","reason":"Forbidden","details":{"name":"alice","group":"certificates.k8s.io","kind":"certificatesigningrequests"},"code":403}"#
    );
    // Stale resourceVersion → 409 Conflict before validation.
    let mut stale = adm.get(&format!("{CSRS}/alice")).json();
    stale["metadata"]["resourceVersion"] = json!("12345");
    let r = adm.put(&format!("{CSRS}/alice/approval"), &stale);
    assert_eq!(r.code, 409);
    assert_eq!(
        r.json()["message"],
        "Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io \"alice\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // Name mismatch → 400.
    let mut other = adm.get(&format!("{CSRS}/alice")).json();
    other["metadata"]["name"] = json!("zed");
    let r = adm.put(&format!("{CSRS}/alice/approval"), &other);
    assert_eq!(r.code, 400);
    assert_eq!(
        r.json()["message"],
        "the name of the object (zed) does not match the name on the URL (alice)"
    );
    // Wildcard signer permission (§5.3 `domain/*`).
    s.grant(
        Rule::user("alice")
            .verbs(&["approve"])
            .resources(&["signers"])
            .names(&["kubernetes.io/*"]),
    );
    let r = alice.approve("alice");
    assert_eq!(r.code, 200, "{}", r.body);
    let cond = &r.json()["status"]["conditions"][0];
    assert_eq!(cond["reason"], "KubectlApprove");
    assert!(cond["lastUpdateTime"].is_string() && cond["lastTransitionTime"].is_string());
    let v = wait_for(&s, "alice", issued);
    let pem = decode_cert(&v);
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 1);
    // Issued: chains to the client CA, client auth, CA:FALSE, backdated 5 min, ≤ 1 year.
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|c: rustls_pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let ca_der: rustls_pki_types::CertificateDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(s.client_ca_pem().as_bytes()).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    cert.verify_signature(Some(ca.public_key())).unwrap();
    assert!(!cert.is_ca());
    let nb = cert.validity().not_before.timestamp();
    let na = cert.validity().not_after.timestamp();
    let now = s
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - nb - 300).abs() <= 5, "backdated 5 minutes");
    assert!(
        (na - nb - 365 * 86400).abs() <= 5,
        "exactly one year of validity"
    );
    assert_eq!(
        cert.subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap(),
        "alice"
    );
    // Approving a Denied CSR is a 422 (§5.2 consequences); denying an approved one too.
    let r = adm.deny("alice");
    assert_eq!(r.code, 422);
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive"
    );
    // Removing the Approved condition is forbidden.
    let mut cur = adm.get(&format!("{CSRS}/alice")).json();
    cur["status"]["conditions"] = json!([]);
    let r = adm.put(&format!("{CSRS}/alice/approval"), &cur);
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "Forbidden: updates may not remove a condition of type \"Approved\""
    );
    // Re-PUT of the unchanged object: 200, same resourceVersion (§5.2 no-op).
    let cur = adm.get(&format!("{CSRS}/alice")).json();
    let again = adm.put(&format!("{CSRS}/alice/approval"), &cur).json();
    assert_eq!(
        again["metadata"]["resourceVersion"],
        cur["metadata"]["resourceVersion"]
    );
    // Spec changes through PUT on the item are silently ignored (§5.1).
    let mut changed = cur.clone();
    changed["spec"]["signerName"] = json!("example.com/x");
    changed["metadata"]["labels"] = json!({"team":"a"});
    let r = adm.put(&format!("{CSRS}/alice"), &changed).json();
    assert_eq!(
        r["spec"]["signerName"],
        "kubernetes.io/kube-apiserver-client"
    );
    assert_eq!(r["metadata"]["labels"]["team"], "a");
}

// §9.1 signer rules → Failed/SignerValidationFailure; custom signers; stopped/slow signer.
#[test]
fn signer_rules_custom_signers_and_faults() {
    let s = server();
    let adm = admin(&s);
    adm.post(
        CSRS,
        &csr_obj(
            "srv-usage",
            &csr_pem("x", None, &[]),
            "kubernetes.io/kube-apiserver-client",
            &["server auth"],
        ),
    );
    adm.approve("srv-usage");
    let v = wait_for(&s, "srv-usage", |v| {
        v.pointer("/status/conditions/1").is_some()
    });
    assert_eq!(v["status"]["conditions"][1]["type"], "Failed");
    assert_eq!(
        v["status"]["conditions"][1]["reason"],
        "SignerValidationFailure"
    );
    assert_eq!(
        v["status"]["conditions"][1]["message"],
        "invalid usage for client certificate: server auth"
    );
    adm.post(
        CSRS,
        &csr_obj(
            "kubelet",
            &csr_pem("system:node:n1", Some("dev"), &[]),
            "kubernetes.io/kube-apiserver-client-kubelet",
            &["digital signature", "client auth"],
        ),
    );
    adm.approve("kubelet");
    let v = wait_for(&s, "kubelet", |v| {
        v.pointer("/status/conditions/1").is_some()
    });
    assert_eq!(
        v["status"]["conditions"][1]["message"],
        "subject organization is not system:nodes"
    );
    // Custom signer: approved, never issued … until registered.
    adm.post(
        CSRS,
        &csr_obj(
            "custom",
            &csr_pem("c", None, &[]),
            "example.com/signer",
            &["digital signature", "client auth"],
        ),
    );
    adm.approve("custom");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!issued(&s.csr("custom").unwrap()));
    s.register_signer("example.com/signer");
    wait_for(&s, "custom", issued);
    // Stopped signer: approved, never issued; restarting issues the backlog.
    s.faults().set_signer_stopped(true);
    adm.post(CSRS, &client_csr("held"));
    adm.approve("held");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!issued(&s.csr("held").unwrap()));
    s.faults().set_signer_delay(Duration::from_millis(100));
    s.faults().set_signer_stopped(false);
    wait_for(&s, "held", issued);
    // expirationSeconds is honoured and capped by max_duration.
    s.faults().reset();
    let mut short = client_csr("short");
    short["spec"]["expirationSeconds"] = json!(600);
    adm.post(CSRS, &short);
    adm.approve("short");
    let v = wait_for(&s, "short", issued);
    let pem = decode_cert(&v);
    let der: rustls_pki_types::CertificateDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let span = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
    assert!(
        (span - 900).abs() <= 5,
        "600 s TTL + 5 min backdate, got {span}"
    );
}

// Request-level faults: 500, 429 + Retry-After, latency, close mid-response.
#[test]
fn request_faults() {
    let s = server();
    let adm = admin(&s);
    s.faults().fail_next_with_500(2);
    assert_eq!(adm.get(CSRS).code, 500);
    // Discovery is not affected.
    assert_eq!(adm.get("/version").code, 200);
    assert_eq!(adm.get(CSRS).json()["reason"], "InternalError");
    assert_eq!(adm.get(CSRS).code, 200);
    s.faults().fail_next_with_429(1, 3);
    let r = adm.get(CSRS);
    assert_eq!(r.code, 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(r.json()["details"]["retryAfterSeconds"], 3);
    s.faults().set_latency(Duration::from_millis(200));
    let t = std::time::Instant::now();
    assert_eq!(adm.get(CSRS).code, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    s.faults().set_latency(Duration::ZERO);
    s.faults().close_next_mid_response(1);
    let fresh = admin(&s);
    assert!(
        fresh.try_send("GET", CSRS, Vec::new()).is_err(),
        "a cut response is an error"
    );
    assert_eq!(fresh.get(CSRS).code, 200);
}

// §8 watch: synthetic ADDED, exact-start, MODIFIED/DELETED, 410 in-stream, timeout.
#[test]
fn watch_streams_events() {
    let s = server();
    let adm = admin(&s);
    adm.post(CSRS, &client_csr("w1"));
    let list = adm.get(CSRS).json();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    let path = format!(
        "{CSRS}?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3Dw1&timeoutSeconds=5"
    );
    let stream = stream_lines(&s, &path, 3);
    adm.approve("w1");
    adm.delete(&format!("{CSRS}/w1"));
    let events: Vec<Value> = stream
        .join()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[0], "MODIFIED");
    assert!(types.contains(&"DELETED"), "{types:?}");
    assert_eq!(events[0]["object"]["kind"], "CertificateSigningRequest");
    // No RV: synthetic ADDED first.
    adm.post(CSRS, &client_csr("w2"));
    let stream = stream_lines(&s, &format!("{CSRS}?watch=true&timeoutSeconds=1"), 1);
    let first: Value = serde_json::from_str(&stream.join().unwrap()[0]).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["metadata"]["name"], "w2");
}

/// Reads up to `n` event lines from a watch (bounded by the watch's own timeout).
fn stream_lines(s: &TestServer, path: &str, n: usize) -> std::thread::JoinHandle<Vec<String>> {
    let id = s.admin_identity();
    let ca = s.serving_ca_pem();
    let url = format!("{}{}", s.url(), path);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
                ureq::tls::Certificate::from_pem(ca.as_bytes()).unwrap(),
            ])))
            .client_cert(Some(ureq::tls::ClientCert::new_with_certs(
                &[ureq::tls::Certificate::from_pem(id.cert_pem.as_bytes()).unwrap()],
                ureq::tls::PrivateKey::from_pem(id.key_pem.as_bytes()).unwrap(),
            )))
            .unversioned_rustls_crypto_provider(provider)
            .build();
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .tls_config(tls)
                .proxy(None)
                .build(),
        );
        let resp = agent.get(&url).call().unwrap();
        let _ = tx.send(());
        let reader = BufReader::new(resp.into_body().into_reader());
        reader.lines().take(n).map(|l| l.unwrap()).collect()
    });
    let _ = rx.recv_timeout(Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(100));
    h
}

#[test]
fn watch_from_a_compacted_version_gets_410_in_stream() {
    let s = TestServer::start(Config {
        watch_history: 50,
        ..Config::default()
    })
    .unwrap();
    let adm = admin(&s);
    adm.post(CSRS, &client_csr("c"));
    let mut obj = adm.get(&format!("{CSRS}/c")).json();
    // Push more than the retained history through cheap label updates.
    for i in 0..60 {
        obj["metadata"]["labels"] = json!({"i": i.to_string()});
        obj["metadata"]["resourceVersion"] = json!(null);
        let r = adm.put(&format!("{CSRS}/c"), &obj);
        assert_eq!(r.code, 200);
    }
    let stream = stream_lines(&s, &format!("{CSRS}?watch=true&resourceVersion=1"), 1);
    let ev: Value = serde_json::from_str(&stream.join().unwrap()[0]).unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    assert!(
        ev["object"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too old resource version: 1 (")
    );
}

// §11 cleaner with the injectable clock.
#[test]
fn garbage_collector_follows_the_clock() {
    let s = server();
    let adm = admin(&s);
    adm.post(CSRS, &client_csr("pending"));
    adm.post(CSRS, &client_csr("issued"));
    adm.approve("issued");
    wait_for(&s, "issued", issued);
    adm.post(CSRS, &client_csr("denied"));
    adm.deny("denied");
    adm.post(
        CSRS,
        &csr_obj(
            "stuck",
            &csr_pem("s", None, &[]),
            "example.com/nobody",
            &["client auth"],
        ),
    );
    adm.approve("stuck");
    assert!(s.run_gc().is_empty());
    s.advance_clock(Duration::from_secs(3601 + 60));
    let mut gone = s.run_gc();
    gone.sort();
    assert_eq!(gone, ["denied", "issued"]);
    s.advance_clock(Duration::from_secs(24 * 3600));
    assert_eq!(s.run_gc(), ["pending"]);
    // Approved but never issued stays (§11).
    assert!(s.csr("stuck").is_some());
}

// §1 v1beta1: plain 404 in modern mode; legacy mode defaults and signs legacy-unknown.
#[test]
fn v1beta1_modern_404_and_legacy_mode() {
    let s = server();
    let adm = admin(&s);
    let r = adm.get("/apis/certificates.k8s.io/v1beta1/certificatesigningrequests");
    assert_eq!((r.code, r.body.as_str()), (404, "404 page not found\n"));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let anon = client_with(&s, None, None)
        .get("/apis/certificates.k8s.io/v1beta1/certificatesigningrequests");
    assert_eq!(anon.code, 403, "RBAC runs first");

    let legacy = TestServer::start(Config {
        legacy: true,
        ..Config::default()
    })
    .unwrap();
    let adm = admin(&legacy);
    let beta = "/apis/certificates.k8s.io/v1beta1/certificatesigningrequests";
    // The classic walk-through: no signerName, a user in system:masters.
    let r = adm.post(beta, &json!({"apiVersion":"certificates.k8s.io/v1beta1","kind":"CertificateSigningRequest",
        "metadata":{"name":"classic"},"spec":{"request": b64(&csr_pem("classic", Some("system:masters"), &[])),"groups":["system:authenticated"]}}));
    assert_eq!(r.code, 201, "{}", r.body);
    let obj = r.json();
    assert_eq!(obj["apiVersion"], "certificates.k8s.io/v1beta1");
    assert_eq!(obj["spec"]["signerName"], "kubernetes.io/legacy-unknown");
    assert_eq!(
        obj["spec"]["usages"],
        json!(["digital signature", "key encipherment"])
    );
    let mut o = adm.get(&format!("{beta}/classic")).json();
    o["status"]["conditions"] = json!([{"type":"Approved","reason":"ok"}]);
    let r = adm.put(&format!("{beta}/classic/approval"), &o);
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["status"]["conditions"][0]["status"], "True");
    let v = wait_for(&legacy, "classic", issued);
    assert!(decode_cert(&v).contains("BEGIN CERTIFICATE"));
    assert_eq!(adm.get("/version").json()["minor"], "21");
}

// The item PATCH (merge patch) only changes metadata (§5.1), approval via JSON merge patch.
#[test]
fn patch_item_and_approval() {
    let s = server();
    let adm = admin(&s);
    adm.post(CSRS, &client_csr("p"));
    let r = adm.send(
        "PATCH",
        &format!("{CSRS}/p"),
        "application/merge-patch+json",
        br#"{"metadata":{"labels":{"a":"b"}},"spec":{"signerName":"x.io/y"}}"#.to_vec(),
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["metadata"]["labels"]["a"], "b");
    assert_eq!(
        r.json()["spec"]["signerName"],
        "kubernetes.io/kube-apiserver-client"
    );
    let r = adm.send(
        "PATCH",
        &format!("{CSRS}/p/approval"),
        "application/merge-patch+json",
        br#"{"status":{"conditions":[{"type":"Approved","status":"True","reason":"Patch"}]}}"#
            .to_vec(),
    );
    assert_eq!(r.code, 200, "{}", r.body);
    wait_for(&s, "p", issued);
    assert_eq!(
        adm.send(
            "PATCH",
            &format!("{CSRS}/p"),
            "application/json-patch+json",
            b"[]".to_vec()
        )
        .code,
        415
    );
}

// §16: approve with a protobuf body, as kubectl does.
#[test]
fn protobuf_approval_body() {
    let s = server();
    let adm = admin(&s);
    adm.post(CSRS, &client_csr("pb"));
    let mut obj = adm.get(&format!("{CSRS}/pb")).json();
    obj["status"]["conditions"] = json!([{"type":"Approved","status":"True","reason":"KubectlApprove",
        "message":"This CSR was approved by kubectl certificate approve.","lastUpdateTime":"2025-01-01T10:00:00Z"}]);
    let body = kcsr_testapi::encode_csr_for_tests(&obj);
    let r = adm.send(
        "PUT",
        &format!("{CSRS}/pb/approval"),
        "application/vnd.kubernetes.protobuf",
        body,
    );
    assert_eq!(r.code, 200, "{}", r.body);
    let c = &r.json()["status"]["conditions"][0];
    assert_eq!(c["lastUpdateTime"], "2025-01-01T10:00:00Z");
    assert!(c["lastTransitionTime"].as_str().unwrap() > "2025");
    wait_for(&s, "pb", issued);
    let garbage = adm.send(
        "PUT",
        &format!("{CSRS}/pb/approval"),
        "application/vnd.kubernetes.protobuf",
        b"k8s\x00\xff\x01".to_vec(),
    );
    assert_eq!(garbage.code, 400);
}

// Approver rules and RBAC binding objects through the API.
#[test]
fn rbac_rules_and_bindings() {
    let s = server();
    let bob = user(&s, "bob");
    assert_eq!(bob.post(CSRS, &client_csr("bob")).code, 201);
    assert_eq!(bob.approve("bob").code, 403);
    s.grant_all(Rule::approver(
        Subject::User("bob".into()),
        "kubernetes.io/kube-apiserver-client",
    ));
    assert_eq!(bob.approve("bob").code, 200);
    // A ClusterRoleBinding to cluster-admin for alice, created by the admin.
    let alice = user(&s, "alice");
    assert_eq!(alice.delete(&format!("{CSRS}/bob")).code, 403);
    let crb = json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"alice-admin"},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
        "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"alice"}]});
    let adm = admin(&s);
    assert_eq!(
        alice
            .post(
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                &crb
            )
            .code,
        403
    );
    assert_eq!(
        adm.post(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            &crb
        )
        .code,
        201
    );
    assert_eq!(
        adm.post(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            &crb
        )
        .code,
        409
    );
    assert_eq!(alice.delete(&format!("{CSRS}/bob")).code, 200);
    // A RoleBinding grants nothing on cluster-scoped CSRs.
    let rb = json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"rb"},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
        "subjects":[{"kind":"Group","name":"system:authenticated"}]});
    assert_eq!(
        adm.post(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            &rb
        )
        .code,
        201
    );
    let carol_path = s.add_user("carol".parse().unwrap()).unwrap();
    assert!(carol_path.ends_with("carol.kubeconfig"));
    assert_eq!(
        user(&s, "carol").delete(&format!("{CSRS}/nothing")).code,
        403
    );
    // A custom ClusterRole bound to a group.
    let role = json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"csr-deleter"},
        "rules":[{"apiGroups":["certificates.k8s.io"],"resources":["certificatesigningrequests"],"verbs":["delete"]}]});
    assert_eq!(
        adm.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", &role)
            .code,
        201
    );
    let crb2 = json!({"metadata":{"name":"deleters"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"csr-deleter"},
        "subjects":[{"kind":"User","name":"carol"}]});
    assert_eq!(
        adm.post(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            &crb2
        )
        .code,
        201
    );
    assert_eq!(
        user(&s, "carol").delete(&format!("{CSRS}/nothing")).code,
        404
    );
    let bad = json!({"metadata":{"name":"bad"},"roleRef":{"kind":"Nope","name":""},"subjects":[{"kind":"Robot"}]});
    let r = adm.post(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        &bad,
    );
    assert_eq!(r.code, 422);
    assert_eq!(r.json()["details"]["kind"], "ClusterRoleBinding");
}

// SelfSubjectReview (`kubectl auth whoami`), discovery and the Table.
#[test]
fn whoami_discovery_and_table() {
    let s = server();
    let alice = user(&s, "alice");
    let r = alice.post(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        &json!({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}),
    );
    assert_eq!(r.code, 201);
    assert_eq!(r.json()["status"]["userInfo"]["username"], "alice");
    assert_eq!(
        r.json()["status"]["userInfo"]["groups"],
        json!(["dev", "system:authenticated"])
    );
    let res = alice.get("/apis/certificates.k8s.io/v1").json();
    assert_eq!(res["resources"][0]["shortNames"], json!(["csr"]));
    assert_eq!(alice.get("/apis").json()["kind"], "APIGroupList");
    let idx = alice.get("/openapi/v3").json();
    let url = idx["paths"]["apis/certificates.k8s.io/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let doc = alice.get(&url).json();
    let patch =
        &doc["paths"]["/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "CertificateSigningRequest"
    );
    alice.post(CSRS, &client_csr("t"));
    let table = alice
        .send_with_accept(
            CSRS,
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .json();
    assert_eq!(table["kind"], "Table");
    let mut cells = table["rows"][0]["cells"].as_array().unwrap().clone();
    let age = cells.remove(1);
    assert!(age == "0s" || age == "1s", "{age}");
    assert_eq!(
        cells,
        [
            "t",
            "kubernetes.io/kube-apiserver-client",
            "alice",
            "<none>",
            "Pending"
        ]
    );
    assert_eq!(table["columnDefinitions"].as_array().unwrap().len(), 6);
}

// No request, however malformed, panics the server or leaves it unusable.
#[test]
fn malformed_requests_get_status_answers() {
    let s = server();
    let adm = admin(&s);
    for (m, p, body) in [
        ("POST", CSRS.to_string(), b"\x00\x01garbage".to_vec()),
        ("PUT", format!("{CSRS}/x/approval"), b"{}".to_vec()),
        ("PUT", format!("{CSRS}/x/status"), b"null".to_vec()),
        ("POST", format!("{CSRS}/x"), b"{}".to_vec()),
        ("DELETE", format!("{CSRS}/x/approval"), Vec::new()),
        (
            "GET",
            format!("{CSRS}?watch=true&resourceVersion=abc"),
            Vec::new(),
        ),
        ("GET", format!("{CSRS}?fieldSelector=%%%"), Vec::new()),
        (
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings".to_string(),
            b"{\"roleRef\":5}".to_vec(),
        ),
        (
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews".to_string(),
            b"k8s\x00".to_vec(),
        ),
    ] {
        let r = adm.send(m, &p, "application/json", body);
        assert!(r.code >= 400, "{m} {p}: {}", r.code);
        if r.code != 404 || r.body.starts_with('{') {
            assert_eq!(r.json()["kind"], "Status", "{m} {p}");
        }
    }
    assert_eq!(adm.get(CSRS).code, 200);
}

// §5.1/§5.2/§5.3 PUT /status: `sign` admission, certificate content rules, immutability.
#[test]
fn status_subresource_rules() {
    let s = server();
    let adm = admin(&s);
    adm.post(
        CSRS,
        &csr_obj(
            "ext",
            &csr_pem("ext", None, &[]),
            "example.com/external",
            &["client auth"],
        ),
    );
    adm.approve("ext");
    let path = format!("{CSRS}/ext/status");
    s.grant(Rule::user("bob").verbs(&["get", "update"]).resources(&[
        "certificatesigningrequests",
        "certificatesigningrequests/status",
    ]));
    let bob = user(&s, "bob");
    let mut obj = bob.get(&format!("{CSRS}/ext")).json();
    obj["status"]["certificate"] = json!(b64(&s.client_ca_pem()));
    let r = bob.put(&path, &obj);
    assert_eq!(r.code, 403);
    assert_eq!(
        r.json()["message"],
        "certificatesigningrequests.certificates.k8s.io \"ext\" is forbidden: user not permitted to sign requests with signerName \"example.com/external\""
    );
    s.grant(
        Rule::user("bob")
            .verbs(&["sign"])
            .resources(&["signers"])
            .names(&["example.com/*"]),
    );
    obj["status"]["certificate"] = json!(b64("not a pem"));
    let r = bob.put(&path, &obj);
    assert_eq!(r.code, 422);
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "Invalid value: \"<certificate data>\": must contain at least one CERTIFICATE PEM block"
    );
    obj["status"]["certificate"] = json!(b64(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    ));
    let r = bob.put(&path, &obj);
    assert!(
        r.json()["details"]["causes"][0]["message"]
            .as_str()
            .unwrap()
            .ends_with("only CERTIFICATE PEM blocks are allowed, found \"PRIVATE KEY\"")
    );
    obj["status"]["certificate"] = json!(b64(&s.client_ca_pem()));
    let r = bob.put(&path, &obj);
    assert_eq!(r.code, 200, "{}", r.body);
    // Approved conditions cannot be added through /status; certificates are immutable.
    let mut cur = r.json();
    cur["status"]["certificate"] = json!(b64(&s.serving_ca_pem()));
    let r = bob.put(&path, &cur);
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "Forbidden: updates may not modify existing certificate content"
    );
    let mut cur = bob.get(&format!("{CSRS}/ext")).json();
    cur["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type":"Denied","status":"True"}));
    let r = bob.put(&path, &cur);
    let msgs: Vec<String> = r.json()["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        msgs.contains(&"Forbidden: updates may not add a condition of type \"Denied\"".to_string()),
        "{msgs:?}"
    );
}

// §6: a certificate from the client CA that has expired is 401 too.
#[test]
fn expired_client_certificate_is_401() {
    let s = server();
    let key_pem = std::fs::read_to_string(s.dir().join("client-ca.key")).unwrap();
    let ca_key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&s.client_ca_pem(), ca_key).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "old");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:masters");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let id = kcsr_testapi::Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    let r = client_with(&s, Some(&id), None).get(CSRS);
    assert_eq!(r.code, 401);
    assert_eq!(r.json()["reason"], "Unauthorized");
}

// Restarting on the same directory keeps the CAs (a demo cluster survives restarts).
#[test]
fn cas_survive_a_restart_in_the_same_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        dir: Some(dir.path().to_path_buf()),
        ..Config::default()
    };
    let first = TestServer::start(cfg.clone()).unwrap();
    let (ca1, sca1) = (first.client_ca_pem(), first.serving_ca_pem());
    first.stop();
    let second = TestServer::start(cfg).unwrap();
    assert_eq!(second.client_ca_pem(), ca1);
    assert_eq!(second.serving_ca_pem(), sca1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("client-ca.crt")).unwrap(),
        ca1
    );
    let kc = std::fs::read_to_string(second.admin_kubeconfig()).unwrap();
    assert!(kc.contains(&second.url()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(second.admin_kubeconfig())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(dir.path().join("client-ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(admin(&second).get(CSRS).code, 200);
}

// §8 watch-list: initial ADDED events, then a BOOKMARK marking their end.
#[test]
fn watch_list_initial_events_end_bookmark() {
    let s = server();
    let adm = admin(&s);
    adm.post(CSRS, &client_csr("a"));
    adm.post(CSRS, &client_csr("b"));
    let bad = adm.get(&format!("{CSRS}?watch=true&sendInitialEvents=true"));
    assert_eq!(bad.code, 422);
    assert_eq!(bad.json()["details"]["kind"], "ListOptions");
    let stream = stream_lines(
        &s,
        &format!(
            "{CSRS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=2"
        ),
        3,
    );
    let evs: Vec<Value> = stream
        .join()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evs[0]["type"], "ADDED");
    assert_eq!(evs[1]["type"], "ADDED");
    assert_eq!(evs[2]["type"], "BOOKMARK");
    assert_eq!(
        evs[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}

// Oversized bodies are 413 Status; garbage on the socket never takes the server down.
#[test]
fn oversized_and_garbage_input() {
    use std::io::{Read as _, Write as _};
    let s = server();
    let adm = admin(&s);
    let big = vec![b' '; 3 * 1024 * 1024 + 10];
    let r = adm.send("POST", CSRS, "application/json", big);
    assert_eq!(r.code, 413);
    assert_eq!(r.json()["reason"], "RequestEntityTooLarge");
    for junk in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"\x16\x03\x01\x00\x05hello",
        b"\x00\x00\x00\x00",
    ] {
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", s.port())).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = tcp.write_all(junk);
        let mut buf = Vec::new();
        let _ = tcp.read_to_end(&mut buf);
    }
    assert_eq!(admin(&s).get(CSRS).code, 200);
}

// Anonymous off → 401; deletecollection with a label selector.
#[test]
fn anonymous_off_and_deletecollection() {
    let s = TestServer::start(Config {
        anonymous: false,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(client_with(&s, None, None).get(CSRS).code, 401);
    let adm = admin(&s);
    for (n, team) in [("d1", "a"), ("d2", "a"), ("d3", "b")] {
        let mut o = client_csr(n);
        o["metadata"]["labels"] = json!({"team": team});
        assert_eq!(adm.post(CSRS, &o).code, 201);
    }
    let r = adm.delete(&format!("{CSRS}?labelSelector=team%3Da"));
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 2);
    let left: Vec<String> = s
        .csrs()
        .iter()
        .map(|v| v["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["d3"]);
}

// Targeted faults: by method; watch streams cut short; watches expired on demand.
#[test]
fn method_filter_and_watch_faults() {
    let s = server();
    let adm = admin(&s);
    adm.post(CSRS, &client_csr("f"));
    s.faults().only_method(Some("PUT"));
    s.faults().fail_next_with_500(1);
    assert_eq!(adm.get(&format!("{CSRS}/f")).code, 200);
    assert_eq!(adm.approve("f").code, 500);
    assert_eq!(adm.approve("f").code, 200);
    s.faults().reset();
    wait_for(&s, "f", issued);
    let rv = s.resource_version();
    s.faults().expire_next_watches(1);
    let ev: Value = serde_json::from_str(
        &stream_lines(&s, &format!("{CSRS}?watch=true&resourceVersion={rv}"), 1)
            .join()
            .unwrap()[0],
    )
    .unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["reason"], "Expired");
    s.faults()
        .set_watch_max_duration(Duration::from_millis(300));
    let t = std::time::Instant::now();
    let lines = stream_lines(
        &s,
        &format!("{CSRS}?watch=true&resourceVersion={rv}&timeoutSeconds=60"),
        10,
    )
    .join()
    .unwrap();
    assert!(lines.is_empty());
    assert!(t.elapsed() < Duration::from_secs(10));
}

fn paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{prefix}/{i}");
                out.push(p.clone());
                paths(x, &p, out);
            }
        }
        _ => {}
    }
}

// Type confusion at every position of a CSR body, for create, /approval and /status: always a
// JSON answer (object or Status), never a dropped connection.
#[test]
fn type_confusion_never_breaks_the_server() {
    let s = server();
    let adm = admin(&s);
    adm.post(CSRS, &client_csr("base"));
    let mut base = adm.get(&format!("{CSRS}/base")).json();
    base["status"]["conditions"] = json!([{"type":"Approved","status":"True","reason":"r","lastUpdateTime":"2025-01-01T00:00:00Z"}]);
    let mut all = Vec::new();
    paths(&base, "", &mut all);
    let replacements = [
        json!(null),
        json!(1),
        json!("x"),
        json!([]),
        json!({}),
        json!(true),
        json!(-1.5e300),
        json!([null]),
    ];
    for p in &all {
        for r in &replacements {
            let mut body = base.clone();
            *body.pointer_mut(p).unwrap() = r.clone();
            for (method, path) in [
                ("POST", CSRS.to_string()),
                ("PUT", format!("{CSRS}/base/approval")),
                ("PUT", format!("{CSRS}/base/status")),
                ("PUT", format!("{CSRS}/base")),
            ] {
                let mut b = body.clone();
                if method == "POST"
                    && let Some(m) = b.get_mut("metadata").and_then(Value::as_object_mut)
                {
                    m.insert("name".into(), json!("fresh"));
                    m.remove("resourceVersion");
                }
                let resp = adm.send(
                    method,
                    &path,
                    "application/json",
                    serde_json::to_vec(&b).unwrap(),
                );
                let v = resp.json();
                assert!(v.is_object(), "{method} {path} {p}={r}: {}", resp.body);
                if resp.code >= 400 {
                    assert_eq!(v["kind"], "Status", "{method} {path} {p}={r}");
                }
                if resp.code == 201 {
                    adm.delete(&format!("{CSRS}/fresh"));
                }
            }
        }
    }
}

// §11 auto-approver: kubelet client CSRs from a requester allowed to create
// certificatesigningrequests/selfnodeclient are approved (and then issued).
#[test]
fn kubelet_client_csrs_are_auto_approved_when_allowed() {
    let s = server();
    s.add_user(UserSpec {
        name: "system:node:n1".into(),
        groups: vec!["system:nodes".into()],
    })
    .unwrap();
    let node = user(&s, "system:node:n1");
    let body = csr_obj(
        "node-csr",
        &csr_pem("system:node:n1", Some("system:nodes"), &[]),
        "kubernetes.io/kube-apiserver-client-kubelet",
        &["digital signature", "client auth"],
    );
    assert_eq!(node.post(CSRS, &body).code, 201);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        s.csr("node-csr").unwrap()["status"]
            .get("conditions")
            .is_none(),
        "not allowed yet"
    );
    s.grant(
        Rule::group("system:nodes")
            .verbs(&["create"])
            .resources(&["certificatesigningrequests/selfnodeclient"]),
    );
    // The grant is not a store change; a later write (or a signer pass) picks it up.
    s.run_signer();
    let v = wait_for(&s, "node-csr", issued);
    assert_eq!(v["status"]["conditions"][0]["reason"], "AutoApproved");
    assert_eq!(
        v["status"]["conditions"][0]["message"],
        "Auto approving self kubelet client certificate after SubjectAccessReview."
    );
}
