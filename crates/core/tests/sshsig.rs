//! SSHSIG against the real `ssh-keygen` (OpenSSH 8.1+), both ways: what kcsr signs,
//! `ssh-keygen -Y verify` accepts; what `ssh-keygen -Y sign` makes, kcsr verifies; a flipped
//! byte fails both. `.ci/run` installs openssh-client; without ssh-keygen these tests fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests write fixtures

use std::path::Path;
use std::process::{Command, Stdio};

use kcsr_core::key::{KeyType, PrivateKey};
use kcsr_core::sshsig::{
    self, AllowedSigners, NotAllowed, PublicKey, Signature, SshSigError, allowed_signers_line,
};

const NS: &str = "kcsr-media";
const SUMS: &[u8] =
    b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  alice.csr.yaml\n";

fn ssh_keygen(dir: &Path, args: &[&str], stdin: &[u8]) -> (bool, String) {
    use std::io::Write as _;
    let mut child = Command::new("ssh-keygen")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh-keygen must be installed (Debian: openssh-client); .ci/run installs it");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn verify_with_ssh_keygen(dir: &Path, signers: &str, sig: &str, message: &[u8]) -> (bool, String) {
    std::fs::write(dir.join("allowed_signers"), signers).unwrap();
    std::fs::write(dir.join("SHA256SUMS.sig"), sig).unwrap();
    ssh_keygen(
        dir,
        &[
            "-Y",
            "verify",
            "-f",
            "allowed_signers",
            "-I",
            "station-7",
            "-n",
            NS,
            "-s",
            "SHA256SUMS.sig",
        ],
        message,
    )
}

#[test]
fn what_kcsr_signs_ssh_keygen_verifies_and_a_flipped_byte_fails() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let public = sshsig::ed25519_public_key(&key).unwrap();
    let sig = sshsig::sign(&key, SUMS, NS).unwrap();
    let armored = sig.to_armored();
    let line = allowed_signers_line("station-7", &public, None);

    let (ok, out) = verify_with_ssh_keygen(dir.path(), &line, &armored, SUMS);
    assert!(ok, "ssh-keygen refused kcsr's signature: {out}");
    assert!(
        out.contains("Good \"kcsr-media\" signature for station-7"),
        "{out}"
    );
    assert!(
        out.contains(&public.fingerprint()),
        "ssh-keygen's fingerprint differs: {out}"
    );

    let mut changed = SUMS.to_vec();
    changed[3] ^= 1;
    let (ok, out) = verify_with_ssh_keygen(dir.path(), &line, &armored, &changed);
    assert!(!ok, "ssh-keygen accepted a changed file: {out}");
    assert_eq!(sig.verify(&changed, NS), Err(SshSigError::BadSignature));

    // Another namespace: ssh-keygen and kcsr both refuse.
    let other = sshsig::sign(&key, SUMS, "git").unwrap();
    let (ok, _) = verify_with_ssh_keygen(dir.path(), &line, &other.to_armored(), SUMS);
    assert!(!ok);
    assert!(matches!(
        other.verify(SUMS, NS),
        Err(SshSigError::Namespace { .. })
    ));

    // Round trip through the armor.
    assert_eq!(Signature::parse_armored(armored.as_bytes()).unwrap(), sig);
    sig.verify(SUMS, NS).unwrap();
}

#[test]
fn what_ssh_keygen_signs_kcsr_verifies_and_a_flipped_byte_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = ssh_keygen(
        dir.path(),
        &[
            "-q", "-t", "ed25519", "-N", "", "-C", "station", "-f", "station",
        ],
        b"",
    );
    assert!(ok, "{out}");
    std::fs::write(dir.path().join("SHA256SUMS"), SUMS).unwrap();
    let (ok, out) = ssh_keygen(
        dir.path(),
        &["-Y", "sign", "-f", "station", "-n", NS, "SHA256SUMS"],
        b"",
    );
    assert!(ok, "{out}");
    let armored = std::fs::read(dir.path().join("SHA256SUMS.sig")).unwrap();
    let pub_line = std::fs::read_to_string(dir.path().join("station.pub")).unwrap();

    let sig = Signature::parse_armored(&armored).unwrap();
    sig.verify(SUMS, NS).unwrap();
    let public = PublicKey::from_openssh(&pub_line).unwrap();
    assert_eq!(sig.public_key, public);

    let (ok, fp) = ssh_keygen(dir.path(), &["-l", "-f", "station.pub"], b"");
    assert!(ok);
    assert!(
        fp.contains(&public.fingerprint()),
        "{fp} vs {}",
        public.fingerprint()
    );

    let signers = AllowedSigners::parse(&format!(
        "# the station\nstation-7 namespaces=\"kcsr-media\" {pub_line}"
    ))
    .unwrap();
    assert_eq!(
        signers.find(&public, NS, 1_800_000_000).unwrap().principals,
        "station-7"
    );

    let mut changed = SUMS.to_vec();
    changed[0] ^= 1;
    assert_eq!(sig.verify(&changed, NS), Err(SshSigError::BadSignature));
    // A flipped byte inside the signature itself.
    let mut text = String::from_utf8(armored).unwrap();
    let pos = text.find('\n').unwrap() + 40;
    let c = text.as_bytes()[pos];
    text.replace_range(pos..=pos, if c == b'A' { "B" } else { "A" });
    let verdict = Signature::parse_armored(text.as_bytes()).and_then(|s| s.verify(SUMS, NS));
    assert!(verdict.is_err(), "a flipped signature byte passed");
}

#[test]
fn allowed_signers_honours_namespaces_and_validity_and_refuses_what_it_does_not_know() {
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let public = sshsig::ed25519_public_key(&key).unwrap();
    let k = public.to_openssh();

    let s = AllowedSigners::parse(&format!(
        "a namespaces=\"git,file\" {k}\nb valid-after=\"20300101\",valid-before=\"20310101Z\" {k}\n"
    ))
    .unwrap();
    // Line a is for other namespaces; line b is valid only in 2030.
    let in_2030 = 1_900_000_000;
    assert_eq!(s.find(&public, NS, in_2030).unwrap().principals, "b");
    assert!(matches!(
        s.find(&public, NS, 1_800_000_000),
        Err(NotAllowed::Expired(_))
    ));
    let only_git = AllowedSigners::parse(&format!("a namespaces=\"git\" {k}")).unwrap();
    assert!(matches!(
        only_git.find(&public, NS, in_2030),
        Err(NotAllowed::Namespace { .. })
    ));
    let other =
        sshsig::ed25519_public_key(&PrivateKey::generate(KeyType::Ed25519).unwrap()).unwrap();
    assert!(matches!(
        s.find(&other, NS, in_2030),
        Err(NotAllowed::UnknownKey(_))
    ));

    // An RSA line parses (files are shared with git signing) but never matches.
    let rsa = AllowedSigners::parse("git@x ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x\n").unwrap();
    assert!(rsa.signers[0].key.is_none());

    for (bad, why) in [
        ("", "no signer"),
        ("# only a comment\n", "no signer"),
        (&format!("ca cert-authority {k}") as &str, "cert-authority"),
        (&format!("a no-touch-required {k}"), "unknown option"),
        (&format!("a valid-before=\"2031-01-01\" {k}"), "YYYYMMDD"),
        ("a ssh-ed25519 !!!", "base64"),
        ("a", "expected"),
    ] {
        let e = AllowedSigners::parse(bad).unwrap_err();
        assert!(e.to_string().contains(why), "{bad:?}: {e}");
    }
}

#[test]
fn signature_blobs_kcsr_does_not_accept() {
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let good = sshsig::sign(&key, SUMS, NS).unwrap().to_armored();
    assert!(Signature::parse_armored(b"not a signature").is_err());
    assert!(Signature::parse_armored(format!("{good}trailing\n").as_bytes()).is_err());
    // Version 2 and trailing bytes inside the blob.
    use base64::Engine as _;
    let b64: String = good.lines().filter(|l| !l.starts_with("-----")).collect();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let rearm = |blob: &[u8]| {
        format!(
            "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n",
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
    };
    let mut v2 = blob.clone();
    v2[9] = 2;
    assert_eq!(
        Signature::parse_armored(rearm(&v2).as_bytes()),
        Err(SshSigError::Version(2))
    );
    let mut trailing = blob.clone();
    trailing.push(0);
    assert!(
        Signature::parse_armored(rearm(&trailing).as_bytes())
            .unwrap_err()
            .to_string()
            .contains("trailing")
    );
    Signature::parse_armored(rearm(&blob).as_bytes()).unwrap();
    // Only Ed25519 station keys sign.
    let p256 = PrivateKey::generate(KeyType::P256).unwrap();
    assert!(sshsig::sign(&p256, SUMS, NS).is_err());
}

#[test]
fn valid_before_is_written_as_ssh_keygen_reads_it() {
    assert_eq!(sshsig::format_time(1_800_000_000), "20270115080000Z");
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let public = sshsig::ed25519_public_key(&key).unwrap();
    let line = allowed_signers_line("s", &public, Some(&sshsig::format_time(1_800_000_000)));
    let parsed = AllowedSigners::parse(&line).unwrap();
    assert_eq!(parsed.signers[0].valid_before, Some(1_800_000_000));
}
