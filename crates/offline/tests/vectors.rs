//! Real-world CSRs from another project: the `x509/requests` vectors of pyca/cryptography
//! (PyPI package `cryptography-vectors`), each with the verdict `kcsr inspect` must give.
//! The expected signature results agree with `openssl req -verify`.
//!
//! Needs the package: `pip install cryptography-vectors` (`.ci/run` installs it and runs this
//! test with `--ignored`); ignored otherwise so `cargo test` works on a fresh machine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::path::PathBuf;
use std::process::Command;

const KCSR: &str = env!("CARGO_BIN_EXE_kcsr");

fn vectors_dir() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import cryptography_vectors, os; print(os.path.dirname(cryptography_vectors.__file__))"])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "the cryptography-vectors package is missing: pip install cryptography-vectors\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("x509/requests")
}

/// file, verdict (exit code), error rules that must be reported.
const EXPECTED: &[(&str, i32, &[&str])] = &[
    ("bad-version.pem", 3, &["pkcs10-version", "signature"]),
    ("basic_constraints.pem", 3, &["weak-signature", "signature"]),
    ("challenge-invalid.der", 1, &[]),
    (
        "challenge-multi-valued.der",
        3,
        &["signature", "subject-cn"],
    ),
    ("challenge-unstructured.pem", 0, &[]),
    ("challenge.pem", 3, &["subject-cn"]),
    ("dsa_sha1.der", 3, &["weak-signature", "key-type"]),
    ("dsa_sha1.pem", 3, &["weak-signature", "key-type"]),
    ("ec_sha256.der", 0, &[]),
    ("ec_sha256.pem", 0, &[]),
    ("ec_sha256_old_header.pem", 3, &["pem-label"]),
    ("freeipa-bad-critical.pem", 0, &[]),
    ("invalid_signature.pem", 3, &["signature", "key-size"]),
    // x509-parser refuses these encodings (a long-form attribute length, an empty attribute
    // set): unreadable, said so, exit 1, no panic.
    ("long-form-attribute.pem", 1, &[]),
    ("rsa_md4.der", 3, &["weak-signature"]),
    ("rsa_md4.pem", 3, &["weak-signature"]),
    ("rsa_sha1.der", 3, &["weak-signature"]),
    ("rsa_sha1.pem", 3, &["weak-signature"]),
    ("rsa_sha256.der", 0, &[]),
    ("rsa_sha256.pem", 0, &[]),
    ("san_rsa_sha1.der", 3, &["weak-signature"]),
    ("san_rsa_sha1.pem", 3, &["weak-signature"]),
    (
        "two_basic_constraints.pem",
        3,
        &["weak-signature", "signature"],
    ),
    (
        "unsupported_extension.pem",
        3,
        &["weak-signature", "signature"],
    ),
    (
        "unsupported_extension_critical.pem",
        3,
        &["weak-signature", "signature", "extension-critical"],
    ),
    ("zero-element-attribute.pem", 1, &[]),
];

#[test]
#[ignore = "needs the cryptography-vectors PyPI package; .ci/run installs it and runs this"]
fn every_cryptography_vector_gets_the_right_verdict() {
    let dir = vectors_dir();
    let mut seen: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    seen.sort();
    let listed: Vec<&str> = EXPECTED.iter().map(|(f, _, _)| *f).collect();
    assert_eq!(
        seen, listed,
        "the corpus changed: give every new file a verdict"
    );
    for (file, code, rules) in EXPECTED {
        let out = Command::new(KCSR)
            .args(["inspect", "--json"])
            .arg(dir.join(file))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{file}: {stderr}");
        assert_eq!(out.status.code(), Some(*code), "{file}: {stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let content = &v[0]["content"];
        let errors: Vec<&str> = content["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|f| f["level"] == "error")
                    .map(|f| f["rule"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        for rule in *rules {
            assert!(
                errors.contains(rule),
                "{file}: expected {rule}, got {errors:?}"
            );
        }
        if *code == 1 {
            assert!(
                content["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{file}: no reason given"
            );
        }
    }
}
