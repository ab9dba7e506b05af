//! `kcsr_core::checks` against the cluster's rules and messages (reference §4.2, §4.3, §9).

use std::process::Command;

use kcsr_core::checks::{self, Level, Request};
use kcsr_core::csr;
use kcsr_core::key::{KeyType, PrivateKey};
use kcsr_core::manifest::ApiVersion;
use kcsr_core::signer::SignerName;
use kcsr_core::usage::Usage;

use super::{groups, openssl, user};

fn findings_for(
    kt: KeyType,
    user_name: &str,
    gs: &[&str],
    signer: &str,
    usages: &[Usage],
    api: ApiVersion,
    expiration: Option<i64>,
) -> Vec<checks::Finding> {
    let key = PrivateKey::generate(kt).unwrap();
    let csr = key
        .sign_csr(&user(user_name), &groups(gs), &[], &[])
        .unwrap();
    let signer: SignerName = signer.parse().unwrap();
    checks::check(&Request {
        api_version: api,
        signer: Some(&signer),
        usages,
        expiration_seconds: expiration,
        csr: &csr,
    })
}

fn rules(f: &[checks::Finding], level: Level) -> Vec<&'static str> {
    f.iter()
        .filter(|x| x.level == level)
        .map(|x| x.rule)
        .collect()
}

const CLIENT: [Usage; 2] = [Usage::DigitalSignature, Usage::ClientAuth];
const SERVER: [Usage; 2] = [Usage::DigitalSignature, Usage::ServerAuth];

#[test]
fn the_client_signer_follows_admission_and_its_usages() {
    let client = CLIENT;
    let ok = findings_for(
        KeyType::P256,
        "alice",
        &["dev"],
        "client",
        &client,
        ApiVersion::V1,
        Some(86_400),
    );
    assert!(ok.is_empty(), "{ok:?}");

    let masters = findings_for(
        KeyType::P256,
        "root",
        &["system:masters"],
        "client",
        &client,
        ApiVersion::V1,
        None,
    );
    assert_eq!(
        rules(&masters, Level::Error),
        vec!["admission-system-masters"]
    );
    assert!(
        masters[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("--clusterrole cluster-admin")
    );
    let masters_beta = findings_for(
        KeyType::P256,
        "root",
        &["system:masters"],
        "client",
        &client,
        ApiVersion::V1beta1,
        None,
    );
    assert_eq!(rules(&masters_beta, Level::Error), Vec::<&str>::new());
    assert!(rules(&masters_beta, Level::Warning).contains(&"admission-system-masters"));

    let short = findings_for(
        KeyType::P256,
        "alice",
        &[],
        "client",
        &client,
        ApiVersion::V1,
        Some(599),
    );
    assert_eq!(rules(&short, Level::Error), vec!["expiration-min"]);
    assert!(
        short[0]
            .message
            .contains("may not specify a duration less than 600 seconds")
    );

    let server = SERVER;
    let wrong = findings_for(
        KeyType::P256,
        "alice",
        &[],
        "client",
        &server,
        ApiVersion::V1,
        None,
    );
    let msgs: Vec<&str> = wrong.iter().map(|f| f.message.as_str()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("invalid usage for client certificate: server auth")),
        "{msgs:?}"
    );
    assert!(
        msgs.contains(&"missing required usage for client certificate: client auth"),
        "{msgs:?}"
    );
}

#[test]
fn the_kubelet_signers_follow_their_rules() {
    let (client, server) = (CLIENT, SERVER);
    let kubelet = findings_for(
        KeyType::P256,
        "alice",
        &["dev"],
        "kubelet-client",
        &client,
        ApiVersion::V1,
        None,
    );
    let msgs: Vec<&str> = kubelet.iter().map(|f| f.message.as_str()).collect();
    assert!(
        msgs.contains(&"subject organization is not system:nodes"),
        "{msgs:?}"
    );
    assert!(
        msgs.contains(&"subject common name does not begin with system:node:"),
        "{msgs:?}"
    );
    let kubelet_ok = findings_for(
        KeyType::P256,
        "system:node:n1",
        &["system:nodes"],
        "kubelet-client",
        &client,
        ApiVersion::V1,
        None,
    );
    assert!(
        rules(&kubelet_ok, Level::Error).is_empty(),
        "{kubelet_ok:?}"
    );

    let serving = findings_for(
        KeyType::P256,
        "system:node:n1",
        &["system:nodes"],
        "kubelet-serving",
        &server,
        ApiVersion::V1,
        None,
    );
    assert_eq!(rules(&serving, Level::Error), vec!["signer-sans"]);
}

#[test]
fn other_signers_are_refused_or_warned_about() {
    let client = CLIENT;
    let legacy = findings_for(
        KeyType::P256,
        "alice",
        &[],
        "legacy-unknown",
        &client,
        ApiVersion::V1,
        None,
    );
    assert_eq!(rules(&legacy, Level::Error), vec!["signer-legacy"]);
    let unknown = findings_for(
        KeyType::P256,
        "alice",
        &[],
        "kubernetes.io/nope",
        &client,
        ApiVersion::V1,
        None,
    );
    assert_eq!(rules(&unknown, Level::Error), vec!["signer-unknown"]);
    let custom = findings_for(
        KeyType::P256,
        "alice",
        &[],
        "example.com/signer",
        &client,
        ApiVersion::V1,
        None,
    );
    assert_eq!(rules(&custom, Level::Warning), vec!["signer-custom"]);
}

#[test]
fn ed25519_keys_system_names_and_duplicate_usages_are_reported() {
    let client = CLIENT;
    let ed = findings_for(
        KeyType::Ed25519,
        "alice",
        &[],
        "client",
        &client,
        ApiVersion::V1,
        None,
    );
    assert_eq!(rules(&ed, Level::Warning), vec!["key-ed25519"]);
    let sys = findings_for(
        KeyType::P256,
        "system:admin",
        &[],
        "client",
        &client,
        ApiVersion::V1,
        None,
    );
    assert_eq!(rules(&sys, Level::Warning), vec!["user-system-prefix"]);
    let dup = findings_for(
        KeyType::P256,
        "alice",
        &[],
        "client",
        &[Usage::ClientAuth, Usage::ClientAuth],
        ApiVersion::V1,
        None,
    );
    assert_eq!(rules(&dup, Level::Error), vec!["usages-duplicate"]);
}

#[test]
fn small_rsa_keys_and_weak_signatures_are_refused() {
    let out = Command::new("sh")
        .arg("-c")
        .arg("openssl req -new -newkey rsa:1024 -nodes -keyout /dev/null -subj '/CN=old' 2>/dev/null; openssl req -new -newkey rsa:2048 -sha1 -nodes -keyout /dev/null -subj '/CN=old' 2>/dev/null")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let split = text.find("-----END CERTIFICATE REQUEST-----").unwrap() + 34;
    let (small, sha1) = text.split_at(split);
    let usages = [Usage::ClientAuth];
    let signer = SignerName::client();
    for (pem, rule) in [(small, "key-size"), (sha1, "weak-signature")] {
        let info = csr::parse(pem.trim().as_bytes()).unwrap();
        let f = checks::check(&Request {
            api_version: ApiVersion::V1,
            signer: Some(&signer),
            usages: &usages,
            expiration_seconds: None,
            csr: &info,
        });
        assert!(rules(&f, Level::Error).contains(&rule), "{rule}: {f:?}");
    }
}

#[test]
fn rsa_keys_and_csrs_with_an_exponent_other_than_65537_are_refused() {
    let out = Command::new("sh")
        .arg("-c")
        .arg("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3 2>/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = PrivateKey::from_bytes(&out.stdout, None).unwrap_err();
    assert!(
        matches!(&err, kcsr_core::key::KeyError::RsaExponent(e) if e == "3"),
        "{err}"
    );
    assert!(err.to_string().contains("exponent 3"), "{err}");
    let (ok, pem) = openssl(
        &[
            "req",
            "-new",
            "-key",
            "/dev/stdin",
            "-subj",
            "/CN=alice/O=dev",
        ],
        &out.stdout,
    );
    assert!(ok, "{pem}");
    let info = csr::parse(pem.as_bytes()).unwrap();
    assert_eq!(
        info.public_key.unexpected_rsa_exponent().as_deref(),
        Some("3")
    );
    let (usages, signer) = ([Usage::ClientAuth], SignerName::client());
    let f = checks::check(&Request {
        api_version: ApiVersion::V1,
        signer: Some(&signer),
        usages: &usages,
        expiration_seconds: None,
        csr: &info,
    });
    assert_eq!(rules(&f, Level::Error), vec!["key-exponent"], "{f:?}");
    // 65537, generated here or by openssl, is fine.
    let key = PrivateKey::generate(KeyType::Rsa2048).unwrap();
    assert_eq!(key.public_key().unexpected_rsa_exponent(), None);
    let csr = key.sign_csr(&user("bob"), &[], &[], &[]).unwrap();
    assert_eq!(csr.public_key.unexpected_rsa_exponent(), None);
}
