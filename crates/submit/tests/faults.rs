//! `kcsr-submit` against a stalled API server and across an API server restart (the test API
//! server's stall faults and `go_down` / `come_back`), with media written by the real `kcsr`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

#[path = "support/gap.rs"]
mod gap;

use std::time::Duration;

use gap::{Media, finish, has_condition, wait_until};
use kcsr_submit::client::{Client, ClientError, ClientOptions};
use kcsr_testapi::{Config, TestServer};
use serde_json::Value;

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
/// Longer than any test: a stall only a timeout, a restart or the end of the server ends.
const FOREVER: Duration = Duration::from_secs(600);

fn approved(server: &TestServer, n: usize) -> bool {
    let csrs = server.csrs();
    csrs.len() == n && csrs.iter().all(|c| has_condition(c, "Approved"))
}

/// One server object per request, each issued.
fn one_issued_object_each(server: &TestServer, n: usize) {
    let csrs = server.csrs();
    assert_eq!(csrs.len(), n, "objects on the server");
    assert!(
        csrs.iter().all(|c| c["status"]["certificate"]
            .as_str()
            .is_some_and(|s| !s.is_empty())),
        "{csrs:?}"
    );
}

fn admin_client(server: &TestServer, timeout: Duration) -> Client {
    let options = ClientOptions {
        timeout,
        ..ClientOptions::default()
    };
    gap::admin_client_with(server, options)
}

/// A call the server never answers ends with the timeout error, naming the call and the limit,
/// with a hint naming the flag; timeouts are not retried (retries are for 429, 5xx and dropped
/// connections), and the next call works.
#[test]
fn a_stalled_call_fails_with_the_timeout_error_and_is_not_retried() {
    let server = TestServer::start(Config::default()).unwrap();
    let client = admin_client(&server, Duration::from_secs(1));

    // One stall only: a retry would have been answered, so the error shows there was none.
    server.faults().stall_next(1, FOREVER);
    let err = client.get_json::<Value>(CSRS).unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { after, .. } if *after == Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("GET {CSRS} did not complete within 1 s")),
        "{err}"
    );
    let hint = err.hint().unwrap();
    assert!(hint.contains("--request-timeout"), "{hint}");
    let list: Value = client.get_json(CSRS).unwrap();
    assert_eq!(list["kind"], "CertificateSigningRequestList");

    // Headers, half the body, then nothing: the same error.
    server.faults().stall_next_mid_body(1, FOREVER);
    let err = client.get_json::<Value>(CSRS).unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");

    // What the operator sees.
    server.faults().stall_next(1, FOREVER);
    let run = gap::submit(
        &server.admin_kubeconfig(),
        &["status", "some-request", "--request-timeout", "1s"],
    )
    .expect(1);
    assert!(
        run.stderr.contains("error:") && run.stderr.contains("did not complete within 1 s"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint:") && run.stderr.contains("raise --request-timeout"),
        "{}",
        run.stderr
    );
}

/// A watch that stays open without a byte (a hung server, a half-open connection) does not
/// hold the wait: it is abandoned after the per-call timeout and the certificate issued
/// meanwhile is found. Before the fix one silent watch held the whole `--wait`.
#[test]
fn a_silent_watch_is_abandoned_and_the_wait_ends_either_way() {
    let server = TestServer::start(Config::default()).unwrap();
    let m = Media::with(&["sam"]);
    server.faults().set_signer_stopped(true);
    server.faults().set_watch_silence(FOREVER);

    // Nothing is issued: the wait ends at --wait with the not-issued error.
    let run = gap::submit(
        &server.admin_kubeconfig(),
        &[
            "apply",
            m.path(),
            "--approve",
            "--yes",
            "--wait",
            "3s",
            "--request-timeout",
            "1s",
        ],
    )
    .expect(4);
    assert!(
        run.stderr
            .contains("was approved but not issued within 3 s"),
        "{}",
        run.stderr
    );

    // Issued while the client sits in a silent watch (a --wait far beyond HUNG).
    let child = start_apply(
        &server,
        &m,
        &["--wait", "30m", "--request-timeout", "1s", "--json"],
    );
    wait_until("the client's watch", || server.open_watches() >= 1);
    server.faults().set_signer_stopped(false);
    let run = finish(child, "apply --wait 30m with a silent watch").expect(0);
    run.all_written();
    m.complete();
    one_issued_object_each(&server, 1);
}

/// kube-apiserver restarts while `apply --wait` watches: every connection drops, connecting
/// is refused for a few seconds, the state survives (etcd). The signer only issues after the
/// restart. The run completes, writes every certificate, and creates nothing twice.
#[test]
fn a_restart_between_apply_and_wait_is_survived_without_duplicates() {
    let server = TestServer::start(Config::default()).unwrap();
    let m = Media::with(&["kim", "lee", "max"]);
    server.faults().set_signer_stopped(true);
    let child = start_apply(&server, &m, &["--wait", "1m", "--json"]);
    wait_until("three approved requests", || approved(&server, 3));
    wait_until("the client's watches", || server.open_watches() == 3);

    server.go_down();
    assert_eq!(server.open_watches(), 0);
    std::thread::sleep(Duration::from_secs(3));
    server.come_back().unwrap();
    server.faults().set_signer_stopped(false);

    let run = finish(child, "apply across a restart").expect(0);
    run.all_written();
    m.complete();
    one_issued_object_each(&server, 3);
}

/// The server stays down past the client's retry budget: the run stops with an error that
/// names the server and says to fetch later; once the server is back, fetch completes and
/// nothing is created twice.
#[test]
fn a_server_down_past_the_retry_budget_is_named_and_fetch_completes_later() {
    let server = TestServer::start(Config::default()).unwrap();
    let m = Media::with(&["lou"]);
    server.faults().set_signer_stopped(true);
    let child = start_apply(&server, &m, &["--wait", "2m"]);
    wait_until("the client's watch", || server.open_watches() == 1);

    server.go_down();
    let run = finish(child, "apply with the server down").expect(1);
    assert!(
        run.stderr.contains("error:")
            && run.stderr.contains("lost the API server while waiting for")
            && run
                .stderr
                .contains(&format!("cannot reach {}", server.url())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint:") && run.stderr.contains("kcsr-submit fetch MEDIA_DIR --wait"),
        "{}",
        run.stderr
    );
    assert_eq!(m.count(".crt"), 0);

    server.come_back().unwrap();
    server.faults().set_signer_stopped(false);
    gap::submit(
        &server.admin_kubeconfig(),
        &["fetch", m.path(), "--wait", "1m", "--json"],
    )
    .expect(0)
    .all_written();
    m.complete();
    one_issued_object_each(&server, 1);
}

/// Starts `kcsr-submit apply MEDIA --approve --yes EXTRA…` as the admin, in the background.
fn start_apply(server: &TestServer, m: &Media, extra: &[&str]) -> std::process::Child {
    let mut args = vec!["apply", m.path(), "--approve", "--yes"];
    args.extend_from_slice(extra);
    gap::submit_cmd(&server.admin_kubeconfig(), &args)
        .spawn()
        .unwrap()
}
