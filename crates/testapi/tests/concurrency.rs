//! Issue 3 check: a 1,000-CSR create/approve/issue run with several concurrent clients stays
//! correct: no lost or duplicated objects, resourceVersions strictly increasing (§14 storage),
//! every watch event delivered once and in order (§8).

// Helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use kcsr_testapi::{Config, TestServer};
use serde_json::Value;

const CLIENTS: usize = 4;
const PER_CLIENT: usize = 250;

fn watcher(s: &TestServer, want: usize) -> std::thread::JoinHandle<Vec<Value>> {
    let id = s.admin_identity();
    let ca = s.serving_ca_pem();
    let url = format!(
        "{}{CSRS}?watch=true&resourceVersion=0&timeoutSeconds=100",
        s.url()
    );
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![
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
                .timeout_global(Some(Duration::from_secs(110)))
                .build(),
        );
        let resp = agent.get(&url).call().unwrap();
        let _ = tx.send(());
        BufReader::new(resp.into_body().into_reader())
            .lines()
            .take(want)
            .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
            .collect()
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    h
}

fn rv(v: &Value) -> u64 {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn thousand_csrs_with_concurrent_clients() {
    let s = Arc::new(TestServer::start(Config::default()).unwrap());
    let total = CLIENTS * PER_CLIENT;
    // ADDED + MODIFIED (approval) + MODIFIED (issuance) per CSR.
    let watch = watcher(&s, total * 3);
    let mut workers = Vec::new();
    for c in 0..CLIENTS {
        let s = s.clone();
        workers.push(std::thread::spawn(move || {
            let cl = admin(&s);
            let pem = csr_pem(&format!("client-{c}"), Some("dev"), &[]);
            let mut rvs = Vec::new();
            for i in 0..PER_CLIENT {
                let name = format!("c{c}-{i:04}");
                let r = cl.post(
                    CSRS,
                    &csr_obj(
                        &name,
                        &pem,
                        "kubernetes.io/kube-apiserver-client",
                        &["digital signature", "client auth"],
                    ),
                );
                assert_eq!(r.code, 201, "{}", r.body);
                rvs.push(rv(&r.json()));
            }
            for i in 0..PER_CLIENT {
                let name = format!("c{c}-{i:04}");
                let mut done = false;
                for _ in 0..10 {
                    let r = cl.approve(&name);
                    if r.code == 409 {
                        continue; // the signer wrote in between; re-GET and retry like kubectl
                    }
                    assert_eq!(r.code, 200, "{}", r.body);
                    rvs.push(rv(&r.json()));
                    done = true;
                    break;
                }
                assert!(done, "{name} not approved after 10 conflicts");
            }
            // Each client saw strictly increasing resourceVersions.
            assert!(
                rvs.windows(2).all(|w| w[0] < w[1]),
                "per-client RVs not increasing"
            );
            rvs
        }));
    }
    let mut all_rvs = Vec::new();
    for w in workers {
        all_rvs.extend(w.join().unwrap());
    }
    let unique: BTreeSet<u64> = all_rvs.iter().copied().collect();
    assert_eq!(
        unique.len(),
        all_rvs.len(),
        "two writes got the same resourceVersion"
    );

    // Everything issued, nothing lost or duplicated.
    let mut issued_all = false;
    for _ in 0..600 {
        if s.csrs().iter().filter(|v| issued(v)).count() == total {
            issued_all = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(issued_all, "not all CSRs were issued in time");
    let objs = s.csrs();
    assert_eq!(objs.len(), total);
    let names: BTreeSet<String> = objs
        .iter()
        .map(|v| v["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = (0..CLIENTS)
        .flat_map(|c| (0..PER_CLIENT).map(move |i| format!("c{c}-{i:04}")))
        .collect();
    assert_eq!(names, expected);
    let uids: BTreeSet<&str> = objs
        .iter()
        .map(|v| v["metadata"]["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids.len(), total);
    for v in &objs {
        assert_eq!(
            v["status"]["conditions"].as_array().unwrap().len(),
            1,
            "{v}"
        );
    }
    let list = admin(&s).get(CSRS).json();
    assert_eq!(list["items"].as_array().unwrap().len(), total);
    let list_rv: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(objs.iter().all(|v| rv(v) <= list_rv));

    // The watch saw every change exactly once, in resourceVersion order.
    let events = watch.join().unwrap();
    assert_eq!(events.len(), total * 3);
    let ev_rvs: Vec<u64> = events.iter().map(|e| rv(&e["object"])).collect();
    assert!(
        ev_rvs.windows(2).all(|w| w[0] < w[1]),
        "watch events out of order"
    );
    let added = events.iter().filter(|e| e["type"] == "ADDED").count();
    assert_eq!(added, total);
}
