//! Stalls and restarts: what a client sees when kube-apiserver hangs, or dies and comes back
//! on the same port with its state (etcd) intact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use kcsr_testapi::{Config, TestServer};
use serde_json::Value;

/// A client's patience in these tests.
const SHORT: Duration = Duration::from_secs(1);
/// Longer than any test: a stall that only a timeout, a restart or the end of the server ends.
const FOREVER: Duration = Duration::from_secs(600);

fn timed_out(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => io.kind() == ErrorKind::TimedOut,
        _ => false,
    }
}

fn events(body: &str) -> Vec<Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_stalled_request_gets_no_answer_until_the_stall_ends() {
    let s = TestServer::start(Config::default()).unwrap();
    let adm = admin(&s);
    assert_eq!(adm.post(CSRS, &client_csr("st")).code, 201);
    let impatient = client_with_timeout(&s, Some(&s.admin_identity()), None, SHORT);
    s.faults().stall_next(1, FOREVER);
    // Only CSR calls stall; discovery answers.
    assert_eq!(impatient.open("/version").unwrap().status(), 200);
    let err = impatient.open(CSRS).unwrap_err();
    assert!(timed_out(&err), "{err:?}");
    // One stall was asked for: the next call is answered.
    assert_eq!(impatient.open(CSRS).unwrap().status(), 200);
    // A stall that ends lets the request through as usual.
    s.faults().stall_next(1, Duration::from_millis(300));
    let r = adm.get(&format!("{CSRS}/st"));
    assert_eq!(r.code, 200);
    assert_eq!(r.json()["metadata"]["name"], "st");
}

#[test]
fn a_response_can_stall_after_its_headers() {
    let s = TestServer::start(Config::default()).unwrap();
    let adm = admin(&s);
    assert_eq!(adm.post(CSRS, &client_csr("mb")).code, 201);
    let impatient = client_with_timeout(&s, Some(&s.admin_identity()), None, SHORT);
    s.faults().stall_next_mid_body(1, FOREVER);
    let resp = impatient.open(CSRS).unwrap();
    assert_eq!(resp.status(), 200);
    let err = resp.into_body().read_to_string().unwrap_err();
    assert!(timed_out(&err), "{err:?}");
    s.faults()
        .stall_next_mid_body(1, Duration::from_millis(300));
    let list = adm.get(CSRS).json();
    assert_eq!(list["items"][0]["metadata"]["name"], "mb");
}

#[test]
fn a_silent_watch_sends_headers_then_nothing_even_past_its_timeout() {
    let s = TestServer::start(Config::default()).unwrap();
    let adm = admin(&s);
    assert_eq!(adm.post(CSRS, &client_csr("w")).code, 201);
    let rv = s.resource_version();
    let path =
        format!("{CSRS}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1");
    let watcher = client_with_timeout(&s, Some(&s.admin_identity()), None, Duration::from_secs(3));
    s.faults().set_watch_silence(FOREVER);
    let resp = watcher.open(&path).unwrap();
    assert_eq!(resp.status(), 200);
    // A change it would deliver, and its timeoutSeconds passes: still nothing, not even the end.
    assert_eq!(adm.approve("w").code, 200);
    let err = resp.into_body().read_to_string().unwrap_err();
    assert!(timed_out(&err), "{err:?}");
    // The same watch without the fault delivers the change and ends by itself.
    s.faults().set_watch_silence(Duration::ZERO);
    let body = watcher
        .open(&path)
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        events(&body).iter().any(|e| e["type"] == "MODIFIED"),
        "{body}"
    );
}

#[test]
fn a_restart_cuts_every_connection_refuses_while_down_and_keeps_state_and_port() {
    let s = TestServer::start(Config {
        users: vec!["alice:dev".parse().unwrap()],
        ..Config::default()
    })
    .unwrap();
    s.add_token("t0k3n", "carol", &["dev"]);
    let adm = admin(&s);
    assert_eq!(user(&s, "alice").post(CSRS, &client_csr("r1")).code, 201);
    s.faults().set_signer_stopped(true);
    assert_eq!(adm.approve("r1").code, 200);
    let before = s.csr("r1").unwrap();
    let rv = s.resource_version();
    let url = s.url();

    let watch = adm
        .open(&format!(
            "{CSRS}?watch=true&resourceVersion={rv}&timeoutSeconds=60"
        ))
        .unwrap();
    assert_eq!(s.open_watches(), 1);
    let watch = std::thread::spawn(move || watch.into_body().read_to_string());
    s.faults().stall_next(1, FOREVER);
    let stalled = {
        let c = admin(&s);
        std::thread::spawn(move || c.open(CSRS).map(|r| r.status()))
    };

    s.go_down();
    assert!(s.is_down());
    assert_eq!(s.open_watches(), 0);
    s.go_down();
    let refused = TcpStream::connect(("127.0.0.1", s.port())).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    let broken = watch.join().unwrap();
    assert!(broken.is_err(), "the watch ended cleanly: {broken:?}");
    // Cut (or refused), not answered late and not left to the client's timeout.
    let cut = stalled.join().unwrap();
    assert!(matches!(&cut, Err(e) if !timed_out(e)), "{cut:?}");
    // The stall may not have been taken if the request came too late; the signer starts again
    // (reset) but cannot reach a server that is down.
    s.faults().reset();
    assert_eq!(s.run_signer(), 0);
    assert!(!issued(&s.csr("r1").unwrap()));

    s.come_back().unwrap();
    s.come_back().unwrap();
    assert!(!s.is_down());
    assert_eq!(s.url(), url);
    // The same client: its pooled connections died with the server.
    let r = adm.get(&format!("{CSRS}/r1"));
    assert_eq!(r.code, 200);
    assert_eq!(r.json()["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        r.json()["metadata"]["creationTimestamp"],
        before["metadata"]["creationTimestamp"]
    );
    assert_eq!(user(&s, "alice").get(CSRS).code, 200);
    // The token is still known: forbidden (no rules), not unauthorized.
    assert_eq!(client_with(&s, None, Some("t0k3n")).get(CSRS).code, 403);
    // The signer works again, and watches resume from a resourceVersion of before.
    wait_for(&s, "r1", issued);
    let body = adm
        .open(&format!(
            "{CSRS}?watch=true&resourceVersion={rv}&timeoutSeconds=1"
        ))
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        events(&body)
            .iter()
            .any(|e| e["type"] == "MODIFIED" && issued(&e["object"])),
        "{body}"
    );

    s.restart(Duration::from_millis(200)).unwrap();
    assert_eq!(
        adm.get(&format!("{CSRS}/r1")).json()["status"],
        s.csr("r1").unwrap()["status"]
    );
}
