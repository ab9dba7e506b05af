//! Issue 13 part 4: `kcsr_core::checks` (what kcsr refuses offline) against this server's own,
//! independent implementation of the same upstream rules (create validation, admission, the
//! built-in signers), over generated requests.
//!
//! The property, for every generated request sent to the server (v1 to a current server,
//! v1beta1 to a `--legacy` one), approved when created, and followed to its end:
//! - the server refuses it at create (422 on a field, 403 in admission) ⇒ kcsr has an error
//!   for the same field or rule ([`refusal_rules`]);
//! - the signer fails it (`SignerValidationFailure`) ⇒ kcsr has an error carrying the signer's
//!   message;
//! - the server accepts it (issued, or waiting for a signer nobody runs) ⇒ every error kcsr
//!   has is a named, deliberate difference ([`STRICTER`]);
//! - and where kcsr lets through what the server refuses, that too is named ([`LENIENT`]).
//!
//! Every named difference is shown by an explicit case first, and must occur in the run, so
//! the lists cannot go stale. Upstream sources: reference §4.2 (validation.go), §4.3
//! (subjectrestriction admission), §9.1 (signer.go / helpers.go kubelet rules), §1 (v1beta1
//! defaulting), and the 1.19–1.21 v1beta1 validation options (tests/legacy.rs).

// Helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use kcsr_core::checks::{self, Level};
use kcsr_core::key::{KeyType, PrivateKey};
use kcsr_core::manifest::ApiVersion;
use kcsr_core::names::{GroupName, UserName};
use kcsr_core::signer::SignerName;
use kcsr_core::usage::Usage;
use kcsr_testapi::{Config, TestServer};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
use serde_json::json;

/// A deliberate difference: kcsr's rule, whether it only applies to v1beta1 requests (on a
/// 1.19–1.21 server), and why.
struct Difference {
    rule: &'static str,
    v1beta1_only: bool,
    why: &'static str,
}

/// kcsr refuses, the server accepts.
const STRICTER: &[Difference] = &[
    Difference {
        rule: "subject-cn",
        v1beta1_only: false,
        why: "the signer issues a certificate without a CN, but the API server's x509 \
              authenticator takes the user from the CN (request/x509: \
              CommonNameUserConversion) and cannot use it",
    },
    Difference {
        rule: "signer-unknown",
        v1beta1_only: false,
        why: "no Kubernetes controller signs for other kubernetes.io/ names: the request would \
              stay Approved without a certificate",
    },
    Difference {
        rule: "usage-name",
        v1beta1_only: true,
        why: "1.19-1.21 accept unknown usages through v1beta1 for compatibility; kcsr writes \
              only usages a signer can put in a certificate, as v1 requires",
    },
    Difference {
        rule: "usages-duplicate",
        v1beta1_only: true,
        why: "1.19-1.21 accept duplicate usages through v1beta1 for compatibility; kcsr writes \
              each usage once, as v1 requires",
    },
    Difference {
        rule: "usages-required",
        v1beta1_only: true,
        why: "v1beta1 defaults empty usages to digital signature + key encipherment; kcsr \
              always writes the usages it means instead of relying on defaulting",
    },
];

/// The server refuses, kcsr only warns.
const LENIENT: &[Difference] = &[Difference {
    rule: "admission-system-masters",
    v1beta1_only: true,
    why: "a v1beta1 request may go to a 1.18 cluster, which has no \
          CertificateSubjectRestriction; 1.19-1.21 refuse it (403), so kcsr warns loudly \
          instead of refusing",
}];

fn named<'a>(list: &'a [Difference], rule: &str, c: &Case) -> Option<&'a Difference> {
    list.iter()
        .find(|d| d.rule == rule && (c.v1beta1 || !d.v1beta1_only))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Key {
    P256,
    P384,
    Ed25519,
}

#[derive(Debug, Clone)]
struct Case {
    key: Key,
    cn: Option<&'static str>,
    orgs: Vec<&'static str>,
    dns: bool,
    ip: bool,
    legacy_label: bool,
    tamper: bool,
    v1beta1: bool,
    signer: Option<&'static str>,
    usages: Vec<&'static str>,
    expiration: Option<i64>,
}

const SIGNERS: &[Option<&str>] = &[
    None,
    Some("kubernetes.io/kube-apiserver-client"),
    Some("kubernetes.io/kube-apiserver-client"),
    Some("kubernetes.io/kube-apiserver-client-kubelet"),
    Some("kubernetes.io/kubelet-serving"),
    Some("kubernetes.io/legacy-unknown"),
    Some("example.com/custom"),
    Some("kubernetes.io/unknown-signer"),
    Some("Example.com/caps"),
    Some("nodomain"),
    Some("example.com/a/b"),
    Some("example/one-label"),
];

const USAGES: &[&str] = &[
    "digital signature",
    "key encipherment",
    "client auth",
    "client auth",
    "server auth",
    "any",
    "made up",
];

fn case() -> impl Strategy<Value = Case> {
    (
        select(vec![Key::P256, Key::P256, Key::P384, Key::Ed25519]),
        select(vec![
            None,
            Some("alice"),
            Some("alice"),
            Some("system:node:n1"),
        ]),
        proptest::collection::vec(select(vec!["dev", "system:masters", "system:nodes"]), 0..3),
        (any::<bool>(), any::<bool>()),
        (proptest::bool::weighted(0.1), proptest::bool::weighted(0.1)),
        any::<bool>(),
        select(SIGNERS.to_vec()),
        proptest::collection::vec(select(USAGES.to_vec()), 0..4),
        select(vec![None, Some(599), Some(600), Some(86_400)]),
    )
        .prop_map(
            |(
                key,
                cn,
                orgs,
                (dns, ip),
                (legacy_label, tamper),
                v1beta1,
                signer,
                usages,
                expiration,
            )| {
                Case {
                    key,
                    cn,
                    orgs,
                    dns,
                    ip,
                    legacy_label,
                    tamper,
                    v1beta1,
                    signer,
                    usages,
                    expiration,
                }
            },
        )
}

fn base() -> Case {
    Case {
        key: Key::P256,
        cn: Some("alice"),
        orgs: vec!["dev"],
        dns: false,
        ip: false,
        legacy_label: false,
        tamper: false,
        v1beta1: false,
        signer: Some("kubernetes.io/kube-apiserver-client"),
        usages: vec!["digital signature", "client auth"],
        expiration: None,
    }
}

/// One explicit case per named difference (and a plain one).
fn explicit_cases() -> Vec<Case> {
    vec![
        base(),
        Case { cn: None, ..base() },
        Case {
            signer: Some("kubernetes.io/unknown-signer"),
            ..base()
        },
        Case {
            v1beta1: true,
            signer: Some("kubernetes.io/legacy-unknown"),
            usages: vec!["client auth", "made up"],
            ..base()
        },
        Case {
            v1beta1: true,
            signer: Some("kubernetes.io/legacy-unknown"),
            usages: vec!["client auth", "client auth"],
            ..base()
        },
        Case {
            v1beta1: true,
            signer: Some("kubernetes.io/legacy-unknown"),
            usages: vec![],
            ..base()
        },
        Case {
            v1beta1: true,
            orgs: vec!["system:masters"],
            ..base()
        },
    ]
}

fn pem(der: &[u8], label: &str) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The PKCS#10 request of a case: kcsr's builder when there is a CN (it writes one O per
/// group, duplicates included), rcgen without one (at most one O).
fn csr_der(c: &Case) -> Vec<u8> {
    let dns: Vec<String> = if c.dns {
        vec!["n1.example.com".into()]
    } else {
        vec![]
    };
    let ips: Vec<std::net::IpAddr> = if c.ip {
        vec!["10.0.0.1".parse().unwrap()]
    } else {
        vec![]
    };
    let der = match c.cn {
        Some(cn) => {
            let kt = match c.key {
                Key::P256 => KeyType::P256,
                Key::P384 => KeyType::P384,
                Key::Ed25519 => KeyType::Ed25519,
            };
            let key = PrivateKey::generate(kt).unwrap();
            let groups: Vec<GroupName> = c.orgs.iter().map(|g| g.parse().unwrap()).collect();
            let user: UserName = cn.parse().unwrap();
            key.sign_csr(&user, &groups, &dns, &ips).unwrap().der
        }
        None => {
            let alg = match c.key {
                Key::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
                Key::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
                Key::Ed25519 => &rcgen::PKCS_ED25519,
            };
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let mut sans: Vec<String> = dns.clone();
            sans.extend(ips.iter().map(ToString::to_string));
            let mut p = rcgen::CertificateParams::new(sans).unwrap();
            p.distinguished_name = rcgen::DistinguishedName::new();
            if let Some(o) = c.orgs.first() {
                p.distinguished_name
                    .push(rcgen::DnType::OrganizationName, *o);
            }
            p.serialize_request(&key).unwrap().der().to_vec()
        }
    };
    let mut der = der;
    if c.tamper {
        // The last byte is inside the signature value: the DER stays well-formed.
        let last = der.len() - 1;
        der[last] ^= 0x01;
    }
    der
}

/// kcsr's verdict: its errors (rule names), and all its findings for messages. A value the
/// clap boundary would refuse (`SignerName`, `Usage`, an unreadable CSR) is an error too.
fn kcsr_errors(c: &Case, pem_text: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut errors = BTreeSet::new();
    let signer = match c.signer.map(str::parse::<SignerName>) {
        Some(Err(_)) => {
            errors.insert("signer-name".to_string());
            None
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let mut usages = Vec::new();
    for u in &c.usages {
        match u.parse::<Usage>() {
            Ok(u) => usages.push(u),
            Err(_) => {
                errors.insert("usage-name".to_string());
            }
        }
    }
    let Ok(csr) = kcsr_core::csr::parse(pem_text.as_bytes()) else {
        errors.insert("csr-parse".to_string());
        return (errors, Vec::new());
    };
    let req = checks::Request {
        api_version: if c.v1beta1 {
            ApiVersion::V1beta1
        } else {
            ApiVersion::V1
        },
        signer: signer.as_ref(),
        usages: &usages,
        expiration_seconds: c.expiration,
        csr: &csr,
    };
    let findings = checks::check(&req);
    for f in &findings {
        if f.level == Level::Error {
            errors.insert(f.rule.to_string());
        }
    }
    let messages = findings
        .iter()
        .filter(|f| f.level == Level::Error)
        .map(|f| f.message.clone())
        .collect();
    (errors, messages)
}

/// What kcsr rules explain a server refusal of `field` (422) or of admission (403).
fn refusal_rules(field: &str) -> &'static [&'static str] {
    let field = field.split('[').next().unwrap_or(field);
    match field {
        "spec.request" => &["pem-label", "signature", "pkcs10-version", "csr-parse"],
        "spec.usages" => &["usages-required", "usages-duplicate", "usage-name"],
        "spec.signerName" => &["signer-required", "signer-legacy", "signer-name"],
        "spec.expirationSeconds" => &["expiration-min"],
        "admission" => &["admission-system-masters"],
        _ => &[],
    }
}

#[derive(Debug)]
enum Outcome {
    /// 422 with these cause fields, or 403 (field "admission").
    Refused(Vec<String>),
    /// The signer failed it with this message.
    Failed(String),
    Issued,
    /// Created; no controller signs for its signer.
    Waiting,
}

struct Servers {
    modern: TestServer,
    legacy: TestServer,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

const SIGNED_HERE: &[&str] = &[
    "kubernetes.io/kube-apiserver-client",
    "kubernetes.io/kube-apiserver-client-kubelet",
    "kubernetes.io/kubelet-serving",
    "kubernetes.io/legacy-unknown",
];

fn server_outcome(servers: &Servers, c: &Case, pem_text: &str) -> Outcome {
    let server = if c.v1beta1 {
        &servers.legacy
    } else {
        &servers.modern
    };
    let adm = admin(server);
    let name = format!("x{}", NEXT.fetch_add(1, Ordering::SeqCst));
    let version = if c.v1beta1 { "v1beta1" } else { "v1" };
    let mut spec = json!({"request": b64(pem_text)});
    if let Some(s) = c.signer {
        spec["signerName"] = json!(s);
    }
    if !c.usages.is_empty() {
        spec["usages"] = json!(c.usages);
    }
    if let Some(e) = c.expiration {
        spec["expirationSeconds"] = json!(e);
    }
    let body = json!({"apiVersion":format!("certificates.k8s.io/{version}"),
        "kind":"CertificateSigningRequest","metadata":{"name":name},"spec":spec});
    let path = format!("/apis/certificates.k8s.io/{version}/certificatesigningrequests");
    let r = adm.post(&path, &body);
    match r.code {
        201 => {}
        403 => return Outcome::Refused(vec!["admission".into()]),
        422 => {
            let fields = r.json()["details"]["causes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["field"].as_str().unwrap().to_string())
                .collect();
            return Outcome::Refused(fields);
        }
        other => panic!("unexpected {other} for {c:?}: {}", r.body),
    }
    let stored = server.csr(&name).unwrap();
    let signer = stored["spec"]["signerName"].as_str().unwrap().to_string();
    if !SIGNED_HERE.contains(&signer.as_str()) {
        return Outcome::Waiting;
    }
    // Approve (kubelet client requests from system:masters may be auto-approved first).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = server.csr(&name).unwrap();
        let conds = v["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(f) = conds.iter().find(|c| c["type"] == "Failed") {
            return Outcome::Failed(f["message"].as_str().unwrap().to_string());
        }
        if issued(&v) {
            return Outcome::Issued;
        }
        if !conds.iter().any(|c| c["type"] == "Approved") {
            let _ = adm.approve(&name);
        }
        assert!(Instant::now() < deadline, "{name} never ended: {v}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Checks one case; returns the named differences it showed.
fn check_case(servers: &Servers, c: &Case) -> Result<BTreeSet<&'static str>, String> {
    let der = csr_der(c);
    let label = if c.legacy_label {
        "NEW CERTIFICATE REQUEST"
    } else {
        "CERTIFICATE REQUEST"
    };
    let pem_text = pem(&der, label);
    let (errors, messages) = kcsr_errors(c, &pem_text);
    let outcome = server_outcome(servers, c, &pem_text);
    let mut shown = BTreeSet::new();
    match &outcome {
        Outcome::Refused(fields) => {
            for f in fields {
                let explains = refusal_rules(f);
                if !explains.iter().any(|r| errors.contains(*r)) {
                    match explains.iter().find_map(|r| named(LENIENT, r, c)) {
                        Some(d) => {
                            assert!(!d.why.is_empty());
                            shown.insert(d.rule);
                        }
                        None => {
                            return Err(format!(
                                "the server refused {f} but kcsr has no error for it: kcsr errors {errors:?}, outcome {outcome:?}"
                            ));
                        }
                    }
                }
            }
        }
        Outcome::Failed(msg) => {
            // A usage kcsr cannot even parse is refused at its boundary ("usage-name"); the
            // signer then fails on that usage with its own words.
            let by_boundary = errors.contains("usage-name")
                && (msg.starts_with("invalid usage") || msg.starts_with("usages did not match"));
            if !by_boundary && !messages.iter().any(|m| m.contains(msg.as_str())) {
                return Err(format!(
                    "the signer failed it ({msg}) but kcsr says nothing like it: {messages:?}"
                ));
            }
        }
        Outcome::Issued | Outcome::Waiting => {
            for e in &errors {
                match named(STRICTER, e, c) {
                    Some(d) => {
                        assert!(!d.why.is_empty());
                        shown.insert(d.rule);
                    }
                    None => {
                        return Err(format!(
                            "kcsr refuses with {e} what the server accepts ({outcome:?}): not a named difference"
                        ));
                    }
                }
            }
        }
    }
    Ok(shown)
}

#[test]
fn kcsr_checks_agree_with_the_server_except_for_named_differences() {
    let servers = Servers {
        modern: TestServer::start(Config::default()).unwrap(),
        legacy: TestServer::start(Config {
            legacy: true,
            ..Config::default()
        })
        .unwrap(),
    };
    let mut seen: BTreeSet<&'static str> = BTreeSet::new();
    for c in explicit_cases() {
        let shown = check_case(&servers, &c).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        seen.extend(shown);
    }
    let all: BTreeSet<&str> = STRICTER.iter().chain(LENIENT).map(|d| d.rule).collect();
    assert_eq!(seen, all, "every named difference has its explicit case");

    let seen = std::sync::Mutex::new(BTreeSet::new());
    let mut runner = TestRunner::new_with_rng(
        RunnerConfig {
            cases: 256,
            failure_persistence: None,
            ..RunnerConfig::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(&case(), |c| {
            let shown = check_case(&servers, &c).map_err(TestCaseError::fail)?;
            seen.lock().unwrap().extend(shown);
            Ok(())
        })
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert!(
        !seen.is_empty(),
        "the generated requests showed no named difference at all"
    );
}
