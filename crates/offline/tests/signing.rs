//! The station's signing key (decision 0009) through the real `kcsr` binary, checked with the
//! real `ssh-keygen -Y verify` (OpenSSH 8.1+; `.ci/run` installs openssh-client): every
//! `SHA256SUMS` that `request`, `batch` and `renew` write is signed over its exact bytes, a
//! flipped byte in either file fails, `station show` prints the line that verifies, `station
//! rotate` retires the old key, and the key itself never reaches the media.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

mod support;

use kcsr_testkit::args::request;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{assemble_args, kcsr, kcsr_ok as ok, mode};

/// `ssh-keygen -Y verify -f ALLOWED -I PRINCIPAL -n kcsr-media -s MEDIA/SHA256SUMS.sig <
/// MEDIA/SHA256SUMS`: whether it verifies, and what it said.
fn ssh_verify(dir: &Path, allowed: &str, principal: &str, media: &str) -> (bool, String) {
    let sums = std::fs::read(dir.join(media).join("SHA256SUMS")).unwrap();
    let mut child = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-f",
            allowed,
            "-I",
            principal,
            "-n",
            "kcsr-media",
            "-s",
        ])
        .arg(format!("{media}/SHA256SUMS.sig"))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh-keygen must be installed (Debian: openssh-client); .ci/run installs it");
    // One that stops before reading all of it (a broken pipe here) says why in its output.
    let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), &sums);
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

/// The station's allowed_signers line, as `kcsr station show` prints it, in `FILE`.
fn allowed_signers(dir: &Path, principal: &str, file: &str) -> String {
    let r = ok(
        dir,
        &[
            "station",
            "show",
            "--keys",
            "keys",
            "--principal",
            principal,
        ],
    );
    std::fs::write(dir.join(file), &r.stdout).unwrap();
    r.stdout
}

fn flip_a_byte(path: &Path, at: usize) {
    let mut data = std::fs::read(path).unwrap();
    data[at] ^= 0x01;
    std::fs::write(path, data).unwrap();
}

#[test]
fn request_signs_the_exact_sums_and_ssh_keygen_verifies_them() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let r = ok(d, &request("alice", &["dev"], "media", &[]));
    // The first use made the key and said so, with the way to its allowed_signers line.
    assert!(
        r.stderr.contains("made the station's signing key")
            && r.stderr.contains("kcsr station show"),
        "{}",
        r.stderr
    );
    let key = d.join("keys/station/signing-key.pem");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&d.join("keys/station/signing-key.pub")), 0o600);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");

    let line = allowed_signers(d, "vault-1", "allowed_signers");
    assert!(
        line.starts_with("vault-1 namespaces=\"kcsr-media\" ssh-ed25519 AAAA"),
        "{line}"
    );
    let (good, out) = ssh_verify(d, "allowed_signers", "vault-1", "media");
    assert!(good, "{out}");
    assert!(
        out.contains("Good \"kcsr-media\" signature for vault-1"),
        "{out}"
    );
    // The fingerprint kcsr prints, records and ssh-keygen computes are one.
    let v: Value =
        serde_json::from_str(&ok(d, &["station", "show", "--keys", "keys", "--json"]).stdout)
            .unwrap();
    let fp = v["fingerprint"].as_str().unwrap().to_owned();
    assert!(out.contains(&fp), "{fp}: {out}");
    let keygen = Command::new("ssh-keygen")
        .args(["-l", "-f", "keys/station/signing-key.pub"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&keygen.stdout).contains(&fp));
    let record = std::fs::read_dir(d.join("keys/station/requests"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let record: Value = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    assert_eq!(record["station"], fp.as_str());

    // Not for another principal or namespace.
    let (good, out) = ssh_verify(d, "allowed_signers", "someone-else", "media");
    // ssh-keygen's own refusal, so that a run that failed for another reason does not pass.
    assert!(!good && out.contains("Could not verify signature"), "{out}");
    // A flipped byte in the sums, or in the signature, fails.
    std::fs::copy(d.join("media/SHA256SUMS"), d.join("sums.bak")).unwrap();
    flip_a_byte(&d.join("media/SHA256SUMS"), 3);
    let (good, out) = ssh_verify(d, "allowed_signers", "vault-1", "media");
    assert!(
        !good && out.contains("incorrect signature"),
        "a changed SHA256SUMS verified: {out}"
    );
    std::fs::copy(d.join("sums.bak"), d.join("media/SHA256SUMS")).unwrap();
    let sig = d.join("media/SHA256SUMS.sig");
    let len = std::fs::read(&sig).unwrap().len();
    // A byte inside the base64 body, in the signature at its end.
    flip_a_byte(&sig, len - 40);
    let (good, out) = ssh_verify(d, "allowed_signers", "vault-1", "media");
    // A flipped base64 character may not be base64 any more: refused as unreadable then,
    // before ssh-keygen reads its input; either way ssh-keygen says it could not verify.
    assert!(
        !good && out.contains("Could not verify signature"),
        "a changed signature verified: {out}"
    );

    // A re-run with the request unchanged notices the signature no longer verifies, and
    // signs again (as after a run stopped between the sums and the signature).
    let r = ok(d, &request("alice", &["dev"], "media", &["--json"]));
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"], "written", "{v}");
    let (good, out) = ssh_verify(d, "allowed_signers", "vault-1", "media");
    assert!(good, "{out}");
    // And then there is nothing to do.
    let r = ok(d, &request("alice", &["dev"], "media", &["--json"]));
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["written"].as_array().map(Vec::len)),
        (Some("unchanged"), Some(0))
    );
    assert!(!r.stderr.contains("made the station's signing key"));
}

#[test]
fn batch_and_renew_sign_what_they_write() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    support::roster(d, 20);
    ok(
        d,
        &[
            "batch",
            "--roster",
            "roster.csv",
            "--keys",
            "keys",
            "--media",
            "media",
            "--jobs",
            "2",
        ],
    );
    allowed_signers(d, "vault-1", "allowed_signers");
    let (good, out) = ssh_verify(d, "allowed_signers", "vault-1", "media");
    assert!(good, "{out}");
    let sums = std::fs::read_to_string(d.join("media/SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 20, "{sums}");
    assert!(!sums.contains("SHA256SUMS.sig"));

    // Certificates back (the renewal reads them), then renewals on other media.
    let dir = d.join("back");
    std::fs::create_dir(&dir).unwrap();
    support::media_with_bundles(&dir, 2);
    allowed_signers(&dir, "vault-2", "allowed_signers");
    ok(
        &dir,
        &[
            "renew", "media", "--within", "30d", "--keys", "keys", "--media", "next",
        ],
    );
    let (good, out) = ssh_verify(&dir, "allowed_signers", "vault-2", "next");
    assert!(good, "{out}");
    let next = std::fs::read_to_string(dir.join("next/SHA256SUMS")).unwrap();
    assert_eq!(next.lines().count(), 2, "{next}");
}

#[test]
fn the_station_key_never_reaches_the_media_and_is_caught_if_put_there() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    support::roster(d, 3);
    ok(
        d,
        &[
            "batch",
            "--roster",
            "roster.csv",
            "--keys",
            "keys",
            "--media",
            "media",
        ],
    );
    ok(d, &request("zed", &[], "media", &["--clusterrole", "view"]));
    // Neither the key's PEM nor any run of its DER (middle, where the secret is) on the media.
    let pem = std::fs::read(d.join("keys/station/signing-key.pem")).unwrap();
    let der = kcsr_core::pem::parse(&pem).unwrap()[0].der.to_vec();
    let needle = &der[der.len() - 20..];
    for e in std::fs::read_dir(d.join("media")).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&data).contains("PRIVATE KEY"));
        assert!(!data.windows(needle.len()).any(|w| w == needle));
    }
    // The station key copied onto the media by mistake: the media scan names it.
    std::fs::copy(
        d.join("keys/station/signing-key.pem"),
        d.join("media/signing-key.pem"),
    )
    .unwrap();
    let r = kcsr(d, &assemble_args("--out-dir", "out", &[]));
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("signing-key.pem: contains private key material"),
        "{}",
        r.stderr
    );
    assert!(!d.join("out").exists());
}

#[test]
fn an_encrypted_run_encrypts_the_station_key_and_needs_the_passphrase_after() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("pass.txt"), "correct horse battery\n").unwrap();
    ok(
        d,
        &request(
            "erin",
            &[],
            "media",
            &["--encrypt-key", "--passphrase-file", "pass.txt"],
        ),
    );
    let pem = std::fs::read_to_string(d.join("keys/station/signing-key.pem")).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    // OpenSSL opens it with the run's passphrase.
    let out = Command::new("openssl")
        .args([
            "pkey",
            "-in",
            "keys/station/signing-key.pem",
            "-passin",
            "file:pass.txt",
            "-noout",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `station show` needs no passphrase; signing does.
    allowed_signers(d, "vault-1", "allowed_signers");
    let r = kcsr(d, &request("finn", &[], "media", &[]));
    r.refused("signing-key.pem", "passphrase");
    assert!(!d.join("media/finn.csr.yaml").exists());
    ok(
        d,
        &request("finn", &[], "media", &["--passphrase-file", "pass.txt"]),
    );
    let (good, out) = ssh_verify(d, "allowed_signers", "vault-1", "media");
    assert!(good, "{out}");
}

#[test]
fn show_without_a_key_says_how_one_is_made_and_names_the_host_by_default() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    kcsr(d, &["station", "show", "--keys", "keys"]).refused("keys", "no signing key yet");
    ok(d, &request("gil", &[], "media", &[]));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let r = ok(d, &["station", "show", "--keys", "keys"]);
    assert!(
        r.stdout
            .starts_with(&format!("{} namespaces=", host.trim())),
        "{}",
        r.stdout
    );
    let r = kcsr(
        d,
        &["station", "show", "--keys", "keys", "--principal", "a b,*"],
    );
    r.refused("principal", "not a plain name");
}

#[test]
fn rotate_makes_a_new_key_and_gives_the_old_line_an_end() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ok(d, &request("hal", &[], "old-media", &[]));
    let old_line = allowed_signers(d, "vault-1", "old_signers");
    let r = ok(
        d,
        &[
            "station",
            "rotate",
            "--keys",
            "keys",
            "--principal",
            "vault-1",
            "--json",
        ],
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let new_line = v["allowedSigners"].as_str().unwrap().to_owned();
    let retired = v["retired"]["allowedSigners"].as_str().unwrap().to_owned();
    assert_ne!(new_line.trim(), old_line.trim());
    assert!(retired.contains(",valid-before=\""), "{retired}");
    assert_eq!(
        retired.replace(
            &format!(
                ",valid-before=\"{}\"",
                retired
                    .split("valid-before=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
            ),
            ""
        ),
        old_line.trim()
    );
    let kept = std::fs::read_to_string(d.join("keys/station/retired.pub")).unwrap();
    let old_key = old_line.split_whitespace().nth(3).unwrap();
    assert!(kept.contains(old_key), "{kept}");
    assert_eq!(mode(&d.join("keys/station/retired.pub")), 0o600);

    // New media is signed by the new key; with both lines, the old key no longer passes
    // once its valid-before is past.
    ok(d, &request("hal", &[], "new-media", &[]));
    std::fs::write(d.join("both"), format!("{new_line}\n{retired}\n")).unwrap();
    let (good, out) = ssh_verify(d, "both", "vault-1", "new-media");
    assert!(good, "{out}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (good, out) = ssh_verify(d, "both", "vault-1", "old-media");
    assert!(
        !good && out.contains("key has expired"),
        "the retired key still verified: {out}"
    );
    // The text form prints both lines on stdout.
    let r = ok(
        d,
        &[
            "station",
            "rotate",
            "--keys",
            "keys",
            "--principal",
            "vault-1",
        ],
    );
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    assert!(r.stdout.lines().nth(1).unwrap().contains("valid-before="));
}

#[test]
fn the_public_line_is_checked_against_the_key_and_restored_when_missing() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ok(d, &request("ivy", &[], "media", &[]));
    let line = std::fs::read_to_string(d.join("keys/station/signing-key.pub")).unwrap();
    // Lost: `show` says how it comes back, and the next run writes it again.
    std::fs::remove_file(d.join("keys/station/signing-key.pub")).unwrap();
    kcsr(d, &["station", "show", "--keys", "keys"]).refused("signing-key.pub", "missing");
    ok(d, &request("jo", &[], "media", &[]));
    assert_eq!(
        std::fs::read_to_string(d.join("keys/station/signing-key.pub")).unwrap(),
        line
    );
    // Replaced by another key's line (the connected side would be told to trust that one):
    // refused before anything is signed.
    let other = tempfile::tempdir().unwrap();
    ok(other.path(), &request("x", &[], "media", &[]));
    std::fs::copy(
        other.path().join("keys/station/signing-key.pub"),
        d.join("keys/station/signing-key.pub"),
    )
    .unwrap();
    let sums = std::fs::read(d.join("media/SHA256SUMS")).unwrap();
    let r = kcsr(d, &request("kim", &[], "media", &[]));
    r.refused("signing-key.pub", "does not match");
    assert_eq!(r.code, 3);
    assert_eq!(std::fs::read(d.join("media/SHA256SUMS")).unwrap(), sums);
    assert!(!d.join("media/kim.csr.yaml").exists());
}

/// Adds `files` (copied from `from`) to `media` and their lines to its SHA256SUMS, as whoever
/// carries the media can: no station key, no access to the key directory.
fn smuggle(from: &Path, media: &Path, files: &[&str]) {
    let mut sums = std::fs::read_to_string(media.join("SHA256SUMS")).unwrap();
    for f in files {
        let data = std::fs::read(from.join(f)).unwrap();
        std::fs::write(media.join(f), &data).unwrap();
        sums.push_str(&format!("{}  {f}\n", kcsr_core::digest::sha256_hex(&data)));
    }
    std::fs::write(media.join("SHA256SUMS"), sums).unwrap();
}

/// Issue 12 review, finding H1: the station adds its files to the media's SHA256SUMS and signs
/// the list; lines someone else added must never get its signature.
#[test]
fn the_station_never_signs_files_it_did_not_write() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ok(
        d,
        &request("alice", &[], "media", &["--clusterrole", "view"]),
    );
    // The attacker's own request and cluster-admin binding, made with its own copy of kcsr.
    ok(
        d,
        &[
            "request",
            "--user",
            "mallory",
            "--clusterrole",
            "cluster-admin",
            "--keys",
            "attacker-keys",
            "--media",
            "attacker-media",
        ],
    );
    smuggle(
        &d.join("attacker-media"),
        &d.join("media"),
        &["mallory.csr.yaml", "mallory.binding.yaml"],
    );
    let sums_before = std::fs::read(d.join("media/SHA256SUMS")).unwrap();
    let sig_before = std::fs::read(d.join("media/SHA256SUMS.sig")).unwrap();

    let request_bob = [
        "request", "--user", "bob", "--keys", "keys", "--media", "media",
    ];
    let r = kcsr(d, &request_bob);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("did not write: mallory.binding.yaml, mallory.csr.yaml"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read(d.join("media/SHA256SUMS")).unwrap(),
        sums_before
    );
    assert_eq!(
        std::fs::read(d.join("media/SHA256SUMS.sig")).unwrap(),
        sig_before
    );

    // A batch onto the same media is refused the same way.
    support::roster(d, 3);
    let r = kcsr(
        d,
        &[
            "batch",
            "--roster",
            "roster.csv",
            "--keys",
            "keys",
            "--media",
            "media",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    r.stderr_has("mallory.csr.yaml");
    assert_eq!(
        std::fs::read(d.join("media/SHA256SUMS.sig")).unwrap(),
        sig_before
    );

    // The station's own binding, widened on the media (sums recomputed), is not vouched for.
    let binding = d.join("media/alice.binding.yaml");
    let widened = std::fs::read_to_string(&binding)
        .unwrap()
        .replace("name: view", "name: cluster-admin");
    std::fs::write(&binding, widened).unwrap();
    let kept: String = std::fs::read_to_string(d.join("media/SHA256SUMS"))
        .unwrap()
        .lines()
        .filter(|l| !l.contains("mallory") && !l.ends_with("alice.binding.yaml"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(d.join("media/SHA256SUMS"), kept).unwrap();
    for f in ["mallory.csr.yaml", "mallory.binding.yaml"] {
        std::fs::remove_file(d.join("media").join(f)).unwrap();
    }
    smuggle(&d.join("media"), &d.join("media"), &["alice.binding.yaml"]);
    let r = kcsr(d, &request_bob);
    assert_eq!(r.code, 3, "{}", r.stderr);
    r.stderr_has("did not write: alice.binding.yaml");

    // With the media as the station wrote it, the same command completes and signs.
    let original = std::fs::read_to_string(d.join("media/alice.binding.yaml"))
        .unwrap()
        .replace("name: cluster-admin", "name: view");
    std::fs::write(&binding, &original).unwrap();
    let kept: String = std::fs::read_to_string(d.join("media/SHA256SUMS"))
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with("alice.binding.yaml"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(d.join("media/SHA256SUMS"), kept).unwrap();
    smuggle(&d.join("media"), &d.join("media"), &["alice.binding.yaml"]);
    ok(d, &request_bob);
    allowed_signers(d, "vault-1", "allowed_signers");
    let (good, out) = ssh_verify(d, "allowed_signers", "vault-1", "media");
    assert!(good, "{out}");
    let signed = std::fs::read_to_string(d.join("media/SHA256SUMS")).unwrap();
    assert!(!signed.contains("mallory"), "{signed}");
    assert!(signed.contains("bob.csr.yaml"), "{signed}");
}
