//! Signed media (decision 0009): kcsr-submit sends media only when a station listed in
//! `allowed_signers` signed its `SHA256SUMS`. The station here is played by the real
//! `ssh-keygen -Y sign`, so these tests also show that kcsr-submit reads OpenSSH's signatures.
//! The attacker carries the media: it may rewrite any file and recompute `SHA256SUMS`, and
//! sign with keys of its own, never with the station's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

#[path = "support/gap.rs"]
mod gap;

use std::path::{Path, PathBuf};
use std::process::Command;

use gap::{Media, Run, finish, server, submit, submit_cmd};
use kcsr_core::bundle::Bundle;
use kcsr_testapi::{Config, TestServer};

/// An Ed25519 key made by `ssh-keygen`: the station's, or an attacker's.
struct SshKey {
    path: PathBuf,
}

impl SshKey {
    fn new(dir: &Path, name: &str) -> Self {
        let path = dir.join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { path }
    }

    fn public(&self) -> String {
        std::fs::read_to_string(self.path.with_extension("pub"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    fn fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.path.with_extension("pub"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    }

    /// `ssh-keygen -Y sign -n NAMESPACE SHA256SUMS`, writing `SHA256SUMS.sig`.
    fn sign(&self, media: &Media, namespace: &str) {
        let _ = std::fs::remove_file(media.file("SHA256SUMS.sig"));
        let out = Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", namespace, "-f"])
            .arg(&self.path)
            .arg(media.file("SHA256SUMS"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An `allowed_signers` line for `principal`, with `options` (e.g. `valid-before=…`).
    fn line(&self, principal: &str, options: &str) -> String {
        let opts = if options.is_empty() {
            "namespaces=\"kcsr-media\"".to_owned()
        } else {
            format!("namespaces=\"kcsr-media\",{options}")
        };
        format!("{principal} {opts} {}\n", self.public())
    }
}

/// Where the test's kcsr-submit looks for the default file (see gap::configure).
fn default_file(server: &TestServer) -> PathBuf {
    server.dir().join("xdg-config/kcsr/allowed_signers")
}

fn write(path: &Path, text: &str) -> String {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A media with alice's request (and binding), signed by `station`.
fn signed_media(station: &SshKey) -> Media {
    let m = Media::new();
    m.request("alice", &["--clusterrole", "view"]);
    station.sign(&m, "kcsr-media");
    m
}

fn nothing_sent(server: &TestServer, run: &Run) {
    assert!(server.csrs().is_empty(), "{}", run.stderr);
    run.stderr_has("nothing was sent");
}

#[test]
fn media_signed_by_a_listed_station_is_sent_and_its_signer_reviewed_and_recorded() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let keys = tempfile::tempdir().unwrap();
    let station = SshKey::new(keys.path(), "station");
    let signers = write(
        &keys.path().join("allowed_signers"),
        &format!("# the isolated station\n{}", station.line("station-7", "")),
    );
    let m = signed_media(&station);
    // The flag before the subcommand, as kubectl's global flags.
    let run = submit(
        &admin,
        &[
            "--allowed-signers",
            &signers,
            "apply",
            m.path(),
            "--approve",
            "--yes",
            "--wait",
            "20s",
            "--json",
        ],
    )
    .expect(0);
    let fp = station.fingerprint();
    assert!(
        run.stderr
            .contains(&format!("signed by:   station-7 ({fp})")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let r = &run.json()[0];
    assert_eq!(r["mediaSigner"]["principal"], "station-7", "{r}");
    assert_eq!(r["mediaSigner"]["fingerprint"], fp.as_str(), "{r}");
    let stem = m.stems()[0].clone();
    let bundle =
        Bundle::parse(&std::fs::read(m.file(&format!("{stem}.bundle.yaml"))).unwrap()).unwrap();
    let signer = bundle.audit.media_signer.unwrap();
    assert_eq!(signer.principal.as_deref(), Some("station-7"));
    assert_eq!(signer.fingerprint, fp);
    // The signature still covers SHA256SUMS: the results went to RETURNED.SHA256SUMS.
    let verify = Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-f",
            &signers,
            "-I",
            "station-7",
            "-n",
            "kcsr-media",
            "-s",
        ])
        .arg(m.file("SHA256SUMS.sig"))
        .stdin(std::fs::File::open(m.file("SHA256SUMS")).unwrap())
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // The same from KCSR_ALLOWED_SIGNERS and from the default file, the flag after the
    // subcommand.
    let mut cmd = submit_cmd(&admin, &["fetch", m.path(), "--json"]);
    cmd.env("KCSR_ALLOWED_SIGNERS", &signers);
    let run = finish(cmd.spawn().unwrap(), "fetch").expect(0);
    assert_eq!(run.json()[0]["mediaSigner"]["principal"], "station-7");
    write(&default_file(&server), &station.line("station-7", ""));
    let run = submit(&admin, &["fetch", m.path(), "--json"]).expect(0);
    assert_eq!(run.json()[0]["mediaSigner"]["principal"], "station-7");
    let run = submit(&admin, &["fetch", m.path(), "--allowed-signers", &signers]).expect(0);
    run.stdout_has("already on the media");
}

#[test]
fn media_not_signed_by_a_listed_key_is_refused_before_anything_is_sent() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let keys = tempfile::tempdir().unwrap();
    let station = SshKey::new(keys.path(), "station");
    let attacker = SshKey::new(keys.path(), "attacker");
    let signers = write(
        &keys.path().join("allowed_signers"),
        &station.line("station-7", ""),
    );
    let apply = |m: &Media| {
        submit(
            &admin,
            &[
                "apply",
                m.path(),
                "--approve",
                "--yes",
                "--allowed-signers",
                &signers,
            ],
        )
    };

    // Deleted signature.
    let m = signed_media(&station);
    std::fs::remove_file(m.file("SHA256SUMS.sig")).unwrap();
    let run = apply(&m).expect(3);
    run.stderr_has("is not signed (no SHA256SUMS.sig)");
    nothing_sent(&server, &run);

    // Injected request: the attacker's own key in a request for alice, sums recomputed, the
    // station's signature kept.
    let m = signed_media(&station);
    let theirs = Media::new();
    theirs.request("alice", &["--name", "alice-too"]);
    m.put(
        "alice-too.csr.yaml",
        &std::fs::read(theirs.file("alice-too.csr.yaml")).unwrap(),
    );
    let run = apply(&m).expect(3);
    run.stderr_has("does not match the signed file");
    nothing_sent(&server, &run);

    // Injected binding on signed media, likewise.
    let m = signed_media(&station);
    let stem = m.stems()[0].clone();
    let text = std::fs::read_to_string(m.file(&format!("{stem}.binding.yaml"))).unwrap();
    m.put(
        &format!("{stem}.binding.yaml"),
        text.replace("name: view", "name: cluster-admin").as_bytes(),
    );
    let run = apply(&m).expect(3);
    run.stderr_has("does not match the signed file");
    nothing_sent(&server, &run);

    // ...and re-signed with the attacker's own key, or by the station for another purpose.
    attacker.sign(&m, "kcsr-media");
    let run = apply(&m).expect(3);
    assert!(
        run.stderr.contains(&format!(
            "the key {} is not in the allowed signers",
            attacker.fingerprint()
        )),
        "{}",
        run.stderr
    );
    nothing_sent(&server, &run);
    let m = Media::new();
    m.request("alice", &[]);
    station.sign(&m, "file");
    let run = apply(&m).expect(3);
    assert!(
        run.stderr
            .contains("namespace \"file\", not \"kcsr-media\""),
        "{}",
        run.stderr
    );
    nothing_sent(&server, &run);

    // A revoked (rotated) key: its line ends before now.
    let revoked = write(
        &keys.path().join("revoked"),
        &station.line("station-7", "valid-before=\"20200101\""),
    );
    let m = signed_media(&station);
    let run = submit(
        &admin,
        &["approve", m.path(), "--yes", "--allowed-signers", &revoked],
    )
    .expect(3);
    assert!(
        run.stderr
            .contains("outside its valid-after/valid-before window"),
        "{}",
        run.stderr
    );
    nothing_sent(&server, &run);
}

#[test]
fn a_configured_source_that_is_missing_empty_or_unparsable_is_an_error_never_no_signers() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let keys = tempfile::tempdir().unwrap();
    let station = SshKey::new(keys.path(), "station");
    let m = signed_media(&station);
    let dir = keys.path();
    let ca_line = format!("station-7 cert-authority {}\n", station.public());
    let unknown = format!("station-7 no-touch-required {}\n", station.public());
    for (name, content, says) in [
        ("missing", None, "cannot be read"),
        ("empty", Some(""), "no signer in the file"),
        ("comments", Some("# nothing\n\n"), "no signer in the file"),
        ("garbage", Some("this is not a key\n"), "line 1"),
        (
            "ca",
            Some(ca_line.as_str()),
            "cert-authority lines are refused",
        ),
        ("option", Some(unknown.as_str()), "unknown option"),
    ] {
        let path = dir.join(name);
        if let Some(c) = content {
            std::fs::write(&path, c).unwrap();
        }
        let path = path.to_str().unwrap();
        let run = submit(&admin, &["apply", m.path(), "--allowed-signers", path]).expect(1);
        assert!(
            run.stderr.contains(&format!("--allowed-signers {path}: "))
                && run.stderr.contains(says)
                && run.stderr.contains("hint: list the station's key"),
            "{name}: {}",
            run.stderr
        );
        let mut cmd = submit_cmd(&admin, &["apply", m.path()]);
        cmd.env("KCSR_ALLOWED_SIGNERS", path);
        let run = finish(cmd.spawn().unwrap(), "apply").expect(1);
        assert!(
            run.stderr
                .contains(&format!("KCSR_ALLOWED_SIGNERS={path}: ")),
            "{name}: {}",
            run.stderr
        );
    }
    let mut cmd = submit_cmd(&admin, &["apply", m.path()]);
    cmd.env("KCSR_ALLOWED_SIGNERS", "");
    let run = finish(cmd.spawn().unwrap(), "apply").expect(1);
    run.stderr_has("set but empty");
    // The default file, once it exists, is configured too.
    write(&default_file(&server), "");
    let run = submit(&admin, &["apply", m.path()]).expect(1);
    run.stderr_has("the default allowed_signers file");
    assert!(server.csrs().is_empty());
}

#[test]
fn without_signers_the_station_is_named_and_the_media_is_unauthenticated_until_trusted() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let keys = tempfile::tempdir().unwrap();
    let station = SshKey::new(keys.path(), "station");
    let m = signed_media(&station);
    let fp = station.fingerprint();
    let run = submit(&admin, &["apply", m.path(), "--approve", "--yes", "--json"]).expect(0);
    assert!(
        run.stderr.contains(&format!(
            "warning: the media is signed by the station key {fp}"
        )) && run
            .stderr
            .contains("kcsr-station namespaces=\"kcsr-media\" ssh-ed25519 ")
            && run.stderr.contains(&format!(
                "signed by:   {fp} (in no allowed_signers: unauthenticated)"
            )),
        "{}",
        run.stderr
    );
    let signer = &run.json()[0]["mediaSigner"];
    assert_eq!(signer["fingerprint"], fp.as_str(), "{signer}");
    assert!(signer.get("principal").is_none(), "{signer}");

    // A signature that does not match is refused even so: the media changed after signing.
    let stem = m.stems()[0].clone();
    let text = std::fs::read(m.file(&format!("{stem}.binding.yaml"))).unwrap();
    m.put(
        &format!("{stem}.binding.yaml"),
        &[text.as_slice(), b"# x\n"].concat(),
    );
    let run = submit(&admin, &["fetch", m.path()]).expect(3);
    run.stderr_has("does not match");

    // Unsigned: a warning, and the requests go.
    let u = Media::new();
    u.request("bob", &[]);
    std::fs::remove_file(u.file("SHA256SUMS.sig")).unwrap(); // kcsr signs; this media is not
    let run = submit(&admin, &["apply", u.path()]).expect(0);
    assert!(
        run.stderr
            .contains("is not signed (no SHA256SUMS.sig) and no allowed_signers is configured"),
        "{}",
        run.stderr
    );
    // Once the station is trusted in the default file, unsigned media is refused.
    write(&default_file(&server), &station.line("station-7", ""));
    let v = Media::new();
    v.request("carol", &[]);
    std::fs::remove_file(v.file("SHA256SUMS.sig")).unwrap();
    let run = submit(&admin, &["apply", v.path()]).expect(3);
    assert!(
        run.stderr.contains("is not signed")
            && run.stderr.contains("the default allowed_signers file"),
        "{}",
        run.stderr
    );
    assert_eq!(server.csrs().len(), 2);
}

#[test]
fn approving_by_name_with_signers_configured_needs_unsigned() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let keys = tempfile::tempdir().unwrap();
    let station = SshKey::new(keys.path(), "station");
    let m = Media::new();
    m.request("alice", &[]);
    submit(&admin, &["apply", m.path()]).expect(0);
    let name = m.object_name(&m.stems()[0]);
    let signers = write(
        &keys.path().join("allowed_signers"),
        &station.line("station-7", ""),
    );
    let run = submit(
        &admin,
        &["approve", &name, "--yes", "--allowed-signers", &signers],
    )
    .expect(2);
    run.stderr_has("--unsigned");
    assert!(!gap::has_condition(&server.csr(&name).unwrap(), "Approved"));
    // --unsigned is for names only: media is always checked.
    station.sign(&m, "kcsr-media");
    submit(
        &admin,
        &[
            "approve",
            m.path(),
            "--yes",
            "--unsigned",
            "--allowed-signers",
            &signers,
        ],
    )
    .expect(2);
    submit(
        &admin,
        &[
            "approve",
            &name,
            "--yes",
            "--unsigned",
            "--allowed-signers",
            &signers,
        ],
    )
    .expect(0);
    assert!(gap::has_condition(&server.csr(&name).unwrap(), "Approved"));
}

#[test]
fn on_a_terminal_the_station_key_can_be_trusted_once_and_then_unsigned_media_is_refused() {
    use std::io::Write as _;
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let keys = tempfile::tempdir().unwrap();
    let station = SshKey::new(keys.path(), "station");
    let m = signed_media(&station);
    let cmd = format!(
        "{} --kubeconfig {} apply {}",
        env!("CARGO_BIN_EXE_kcsr-submit"),
        admin.display(),
        m.path()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("KUBECONFIG")
        .env_remove("KCSR_ALLOWED_SIGNERS")
        .env("XDG_CONFIG_HOME", server.dir().join("xdg-config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux script");
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let run = finish(child, "apply on a terminal");
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("Trust {} from now on?", station.fingerprint()))
            && run.stdout.contains("added to "),
        "{}",
        run.stdout
    );
    let added = std::fs::read_to_string(default_file(&server)).unwrap();
    assert!(
        added.starts_with("kcsr-station namespaces=\"kcsr-media\" ssh-ed25519 ")
            && added.contains(station.public().split_whitespace().nth(1).unwrap()),
        "{added}"
    );
    assert_eq!(server.csrs().len(), 1);
    // From now on the key is trusted, and media without its signature is refused.
    let run = submit(&admin, &["apply", m.path(), "--json"]).expect(0);
    assert_eq!(run.json()[0]["mediaSigner"]["principal"], "kcsr-station");
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let u = Media::new();
    u.request("bob", &[]);
    submit(&admin, &["apply", u.path()]).expect(3);
    assert_eq!(server.csrs().len(), 1);
}
