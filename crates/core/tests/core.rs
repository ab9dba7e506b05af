//! Integration tests of kcsr-core: CSRs across the key-type matrix, checked independently with
//! OpenSSL (on every machine and in CI), keys round-tripped through OpenSSL, and the checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test helpers may panic and write fixtures

use std::io::Write as _;
use std::process::{Command, Stdio};

use kcsr_core::checks::{self, Level, Request};
use kcsr_core::csr::{self, SignatureCheck};
use kcsr_core::key::{KeyType, PrivateKey};
use kcsr_core::manifest::{ApiVersion, CsrManifest, NewCsrManifest};
use kcsr_core::names::{GroupName, ObjectName, UserName};
use kcsr_core::signer::SignerName;
use kcsr_core::usage::Usage;
use kcsr_core::x509::KeyKind;
use secrecy::SecretString;

#[path = "core/cluster_checks.rs"]
mod cluster_checks;

fn openssl(args: &[&str], stdin: &[u8]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl must be installed (it is on every machine and in CI)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn user(s: &str) -> UserName {
    s.parse().unwrap()
}
fn groups(gs: &[&str]) -> Vec<GroupName> {
    gs.iter().map(|g| g.parse().unwrap()).collect()
}

#[test]
fn csrs_for_every_key_type_verify_with_openssl() {
    for kt in KeyType::ALL {
        let key = PrivateKey::generate(kt).unwrap();
        assert_eq!(key.kind(), &kt.kind());
        let csr = key
            .sign_csr(&user("alice"), &groups(&["dev", "ops"]), &[], &[])
            .unwrap();
        assert_eq!(csr.signature, SignatureCheck::Valid, "{kt}");
        assert_eq!(csr.subject.common_names, vec!["alice".to_owned()]);
        assert_eq!(
            csr.subject.organizations,
            vec!["dev".to_owned(), "ops".to_owned()]
        );
        assert_eq!(csr.public_key.fingerprint, key.public_key().fingerprint);
        let pem = csr.to_pem();
        let (ok, out) = openssl(&["req", "-verify", "-noout", "-subject"], pem.as_bytes());
        assert!(ok, "{kt}: openssl req -verify failed: {out}");
        assert!(out.contains("CN = alice, O = dev, O = ops"), "{kt}: {out}");

        // The key file reads back with openssl and matches the CSR's public key.
        let key_pem = key.to_pem();
        let (ok, out) = openssl(&["pkey", "-pubout", "-outform", "DER"], key_pem.as_bytes());
        assert!(ok, "{kt}: openssl pkey failed");
        let _ = out;
    }
}

#[test]
fn fingerprint_matches_openssl_public_key_der() {
    let key = PrivateKey::generate(KeyType::P256).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("openssl pkey -pubout -outform DER | sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(key.to_pem().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed.starts_with(&key.public_key().fingerprint),
        "{printed}"
    );
}

#[test]
fn sans_are_requested() {
    let key = PrivateKey::generate(KeyType::P256).unwrap();
    let csr = key
        .sign_csr(
            &user("system:node:n1"),
            &groups(&["system:nodes"]),
            &["n1.example.com".to_owned()],
            &["10.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        )
        .unwrap();
    assert_eq!(csr.sans.dns, vec!["n1.example.com".to_owned()]);
    assert_eq!(csr.sans.ip.len(), 2);
    let (ok, out) = openssl(
        &["req", "-verify", "-noout", "-text"],
        csr.to_pem().as_bytes(),
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("DNS:n1.example.com, IP Address:10.0.0.1"),
        "{out}"
    );
}

#[test]
fn encrypted_keys_round_trip_through_openssl() {
    let key = PrivateKey::generate(KeyType::P256).unwrap();
    let pass = SecretString::from("correct horse battery staple");
    let enc = key.to_encrypted_pem(&pass).unwrap();
    assert!(enc.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let dir = tempfile::tempdir().unwrap();
    let passfile = dir.path().join("pass");
    std::fs::write(&passfile, "correct horse battery staple\n").unwrap();
    let (ok, out) = openssl(
        &[
            "pkcs8",
            "-in",
            "/dev/stdin",
            "-passin",
            &format!("file:{}", passfile.display()),
            "-topk8",
            "-nocrypt",
        ],
        enc.as_bytes(),
    );
    assert!(ok, "openssl could not decrypt: {out}");
    let (ok, out) = openssl(&["asn1parse", "-i"], enc.as_bytes());
    assert!(
        ok && out.contains("PBES2")
            && out.contains("PBKDF2")
            && out.contains("aes-256-cbc")
            && out.contains("hmacWithSHA256"),
        "{out}"
    );

    let back = PrivateKey::from_bytes(enc.as_bytes(), Some(&pass)).unwrap();
    assert_eq!(back.public_key(), key.public_key());
    assert!(matches!(
        PrivateKey::from_bytes(enc.as_bytes(), None),
        Err(kcsr_core::key::KeyError::NeedPassphrase)
    ));
    assert!(matches!(
        PrivateKey::from_bytes(enc.as_bytes(), Some(&SecretString::from("wrong"))),
        Err(kcsr_core::key::KeyError::Decrypt)
    ));
}

#[test]
fn a_small_rsa_key_is_refused_for_its_size_in_every_encoding() {
    for cmd in [
        "openssl genrsa -traditional 1024",
        "openssl genrsa -traditional 1024 | openssl rsa -traditional -outform DER",
        "openssl genrsa 1024",
        "openssl genrsa 1024 | openssl pkey -outform DER",
    ] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{cmd} 2>/dev/null"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}");
        assert_eq!(
            PrivateKey::from_bytes(&out.stdout, None).err(),
            Some(kcsr_core::key::KeyError::RsaTooSmall(1024)),
            "{cmd}"
        );
    }
}

#[test]
fn reads_keys_made_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, KeyKind)] = &[
        (
            "genrsa-traditional",
            "openssl genrsa -traditional 2048",
            KeyKind::Rsa { bits: 2048 },
        ),
        ("genrsa", "openssl genrsa 2048", KeyKind::Rsa { bits: 2048 }),
        (
            "ec-sec1",
            "openssl ecparam -name prime256v1 -genkey -noout",
            KeyKind::EcdsaP256,
        ),
        (
            "p384-pkcs8",
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384",
            KeyKind::EcdsaP384,
        ),
        (
            "ed25519",
            "openssl genpkey -algorithm ed25519",
            KeyKind::Ed25519,
        ),
        (
            "rsa-der",
            "openssl genrsa 2048 | openssl pkey -outform DER",
            KeyKind::Rsa { bits: 2048 },
        ),
        (
            "ec-der-sec1",
            "openssl ecparam -name prime256v1 -genkey -noout -outform DER",
            KeyKind::EcdsaP256,
        ),
        (
            "rsa-der-pkcs1",
            "openssl genrsa -traditional 2048 | openssl rsa -traditional -outform DER",
            KeyKind::Rsa { bits: 2048 },
        ),
    ];
    for (name, cmd, kind) in cases {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{cmd} 2>/dev/null"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        let key =
            PrivateKey::from_bytes(&out.stdout, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(key.kind(), kind, "{name}");
        let csr = key.sign_csr(&user("bob"), &[], &[], &[]).unwrap();
        assert_eq!(csr.signature, SignatureCheck::Valid, "{name}");
        let (ok, o) = openssl(&["req", "-verify", "-noout"], csr.to_pem().as_bytes());
        assert!(ok, "{name}: {o}");
        // The key re-encodes in its own format and openssl reads that back.
        let (ok, o) = openssl(&["pkey", "-noout"], key.to_pem().as_bytes());
        assert!(ok, "{name}: {o}");
    }
    // An encrypted key made by openssl with PBKDF2-SHA256 + AES-256-CBC.
    let passfile = dir.path().join("p");
    std::fs::write(&passfile, "s3cret\n").unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -passout file:{}",
            passfile.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = PrivateKey::from_bytes(&out.stdout, Some(&SecretString::from("s3cret"))).unwrap();
    assert_eq!(key.kind(), &KeyKind::EcdsaP256);
    // Legacy OpenSSL-encrypted PEM is refused with a clear reason.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl genrsa -traditional -aes256 -passout file:{} 2048 2>/dev/null",
            passfile.display()
        ))
        .output()
        .unwrap();
    assert!(matches!(
        PrivateKey::from_bytes(&out.stdout, None),
        Err(kcsr_core::key::KeyError::LegacyEncrypted)
    ));
    assert!(PrivateKey::from_bytes(b"not a key", None).is_err());
}

#[test]
fn reads_csrs_made_by_openssl_including_legacy_label() {
    let out = Command::new("sh")
        .arg("-c")
        .arg("openssl req -new -newkey rsa:2048 -nodes -keyout /dev/null -subj '/CN=carol/O=team-a/O=team-b' 2>/dev/null")
        .output()
        .unwrap();
    let info = csr::parse(&out.stdout).unwrap();
    assert_eq!(info.subject.user(), Some("carol"));
    assert_eq!(info.subject.organizations, vec!["team-a", "team-b"]);
    assert_eq!(info.signature, SignatureCheck::Valid);
    assert_eq!(info.public_key.kind, KeyKind::Rsa { bits: 2048 });

    let legacy = String::from_utf8(out.stdout)
        .unwrap()
        .replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
    let info = csr::parse(legacy.as_bytes()).unwrap();
    let usages = [Usage::DigitalSignature, Usage::ClientAuth];
    let signer = SignerName::client();
    let findings = checks::check(&Request {
        api_version: ApiVersion::V1,
        signer: Some(&signer),
        usages: &usages,
        expiration_seconds: None,
        csr: &info,
    });
    assert!(
        findings
            .iter()
            .any(|f| f.rule == "pem-label" && f.level == Level::Error)
    );

    // DER input reads too.
    let der = Command::new("sh")
        .arg("-c")
        .arg("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj '/CN=dave' -outform DER 2>/dev/null")
        .output()
        .unwrap();
    let info = csr::parse(&der.stdout).unwrap();
    assert_eq!(info.pem_label, None);
    assert_eq!(info.subject.user(), Some("dave"));
}

#[test]
fn a_tampered_csr_fails_its_signature() {
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let csr = key
        .sign_csr(&user("alice"), &groups(&["dev"]), &[], &[])
        .unwrap();
    let mut der = csr.der.clone();
    // Change one byte of the CN ("alice" -> "blice") inside the signed part.
    let pos = der.windows(5).position(|w| w == b"alice").unwrap();
    der[pos] = b'b';
    let info = csr::parse_der(&der, None).unwrap();
    assert_eq!(info.signature, SignatureCheck::Invalid);
}

#[test]
fn manifests_round_trip_and_hold_only_client_fields() {
    let key = PrivateKey::generate(KeyType::P256).unwrap();
    let csr = key
        .sign_csr(&user("alice"), &groups(&["dev"]), &[], &[])
        .unwrap();
    let name: ObjectName = "alice-0123456789".parse().unwrap();
    let signer = SignerName::client();
    let usages = [Usage::DigitalSignature, Usage::ClientAuth];
    let m = CsrManifest::new(&NewCsrManifest {
        api_version: ApiVersion::V1,
        name: &name,
        csr: &csr,
        signer: Some(&signer),
        usages: &usages,
        expiration: Some("30d".parse().unwrap()),
    });
    let yaml = m.to_yaml().unwrap();
    assert!(
        !yaml.contains("username") && !yaml.contains("groups"),
        "{yaml}"
    );
    assert!(yaml.contains("expirationSeconds: 2592000"), "{yaml}");
    let docs = kcsr_core::manifest::parse_documents(yaml.as_bytes()).unwrap();
    let [kcsr_core::manifest::Document::Csr(back)] = docs.as_slice() else {
        panic!("{docs:?}")
    };
    assert_eq!(back, &m);
    let decoded = back.decode_request().unwrap();
    assert_eq!(decoded.der, csr.der);

    let beta = CsrManifest::new(&NewCsrManifest {
        api_version: ApiVersion::V1beta1,
        name: &name,
        csr: &csr,
        signer: None,
        usages: &usages,
        expiration: Some("30d".parse().unwrap()),
    });
    let yaml = beta.to_yaml().unwrap();
    assert!(
        yaml.contains("apiVersion: certificates.k8s.io/v1beta1"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("expirationSeconds") && !yaml.contains("signerName"),
        "{yaml}"
    );
}

#[test]
fn hostile_yaml_is_refused_with_a_location() {
    let bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
    assert!(kcsr_core::manifest::parse_documents(bomb.as_bytes()).is_err());
    let deep = "[".repeat(10_000);
    assert!(kcsr_core::manifest::parse_documents(deep.as_bytes()).is_err());
    let big = vec![b'a'; (4 << 20) + 1];
    assert!(kcsr_core::manifest::parse_documents(&big).is_err());
    let bad = "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: x}\nspec:\n  request: abc\n  bogus: 1\n";
    let err = kcsr_core::manifest::parse_documents(bad.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("bogus"), "{err}");
    assert!(kcsr_core::manifest::parse_documents(b"a: \"\0\"").is_err());
}

#[test]
fn a_preview_is_the_signed_request_but_for_the_signature() {
    let dns = vec!["svc.example".to_owned()];
    let ips = vec!["10.0.0.7".parse().unwrap()];
    for kt in [KeyType::P256, KeyType::Ed25519, KeyType::Rsa2048] {
        let key = PrivateKey::generate(kt).unwrap();
        let u = user("ann");
        let g = groups(&["dev", "ops"]);
        let signed = key.sign_csr(&u, &g, &dns, &ips).unwrap();
        let preview = key.preview_csr(&u, &g, &dns, &ips).unwrap();
        assert_eq!(signed.signature, SignatureCheck::Valid);
        // Same subject, key, SANs, extensions and algorithm: the checks see the same request.
        let strip = |c: &csr::CsrInfo| {
            let mut v = serde_json::to_value(c).unwrap();
            v.as_object_mut().unwrap().remove("signature");
            v
        };
        assert_eq!(strip(&signed), strip(&preview), "{kt:?}");
        // The preview's DER carries no real signature: it must never pass for a request.
        assert!(
            !matches!(
                csr::parse_der(&preview.der, None).unwrap().signature,
                SignatureCheck::Valid
            ),
            "{kt:?}"
        );
    }
}
