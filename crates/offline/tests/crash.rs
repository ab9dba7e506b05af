//! Crash safety: `kcsr request`, `kcsr batch` and `kcsr assemble` are killed with SIGKILL at
//! many points. After every kill, nothing half-written exists (every file parses, every
//! `SHA256SUMS` entry matches its file) and re-running the same command completes the job
//! with no duplicate requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const KCSR: &str = env!("CARGO_BIN_EXE_kcsr");

fn start(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(KCSR)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn run_to_end(dir: &Path, args: &[&str]) {
    let out = Command::new(KCSR)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A deterministic spread of kill delays (no randomness: failures must reproduce).
fn delays(n: u64, max_ms: u64) -> impl Iterator<Item = Duration> {
    (0..n).map(move |i| Duration::from_micros((i * 7919 % n) * max_ms * 1000 / n))
}

/// Nothing half-written: keys parse, manifests parse, `SHA256SUMS` parses and every entry
/// matches its file.
fn assert_consistent(dir: &Path) {
    for sub in ["keys", "media"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if name.starts_with(".kcsr-") {
                continue; // an interrupted temp file: never listed, never trusted
            }
            let data = std::fs::read(e.path()).unwrap();
            if name.ends_with(".key.pem") {
                kcsr_core::key::PrivateKey::from_bytes(&data, None)
                    .unwrap_or_else(|err| panic!("{name}: {err}"));
            } else if name.ends_with(".yaml") && !name.ends_with(".bundle.yaml") {
                kcsr_core::manifest::parse_documents(&data)
                    .unwrap_or_else(|err| panic!("{name}: {err}"));
            }
        }
    }
    let sums_path = dir.join("media/SHA256SUMS");
    if let Ok(data) = std::fs::read(&sums_path) {
        let sums = kcsr_core::sums::Sums::parse(&data).unwrap();
        for name in sums.names() {
            let content = std::fs::read(dir.join("media").join(name))
                .unwrap_or_else(|_| panic!("{name} listed but missing"));
            assert!(
                sums.matches(name, &content),
                "{name} does not match SHA256SUMS"
            );
        }
    }
}

fn object_names(media: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(media).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().ends_with(".csr.yaml") {
            let docs =
                kcsr_core::manifest::parse_documents(&std::fs::read(e.path()).unwrap()).unwrap();
            if let [kcsr_core::manifest::Document::Csr(m)] = docs.as_slice() {
                names.push(m.metadata.name.clone());
            }
        }
    }
    names.sort();
    names
}

#[test]
fn killed_requests_leave_nothing_half_written_and_resume() {
    let args = [
        "request",
        "--user",
        "alice",
        "--group",
        "dev",
        "--clusterrole",
        "view",
        "--keys",
        "keys",
        "--media",
        "media",
    ];
    for (i, delay) in delays(25, 60).enumerate() {
        let t = tempfile::tempdir().unwrap();
        let mut child = start(t.path(), &args);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        assert_consistent(t.path());
        run_to_end(t.path(), &args);
        assert_consistent(t.path());
        let out = Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(t.path().join("media"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kill {i}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(object_names(&t.path().join("media")).len(), 1, "kill {i}");
    }
}

#[test]
fn killed_batches_leave_nothing_half_written_and_resume_without_duplicates() {
    let t = tempfile::tempdir().unwrap();
    let mut roster = String::from("user,groups\n");
    for i in 0..60 {
        roster.push_str(&format!("user{i},dev\n"));
    }
    std::fs::write(t.path().join("roster.csv"), roster).unwrap();
    let args = [
        "batch",
        "--roster",
        "roster.csv",
        "--keys",
        "keys",
        "--media",
        "media",
    ];
    // Kill the same batch again and again at different points; each run continues the last.
    for delay in delays(12, 120) {
        let mut child = start(t.path(), &args);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        assert_consistent(t.path());
    }
    run_to_end(t.path(), &args);
    assert_consistent(t.path());
    let out = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(t.path().join("media"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let names = object_names(&t.path().join("media"));
    assert_eq!(names.len(), 60, "one request per user");
    let keys = std::fs::read_dir(t.path().join("keys"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".key.pem")
        })
        .count();
    assert_eq!(keys, 60, "one key per user");
    // Every request is for the key on disk (no request orphaned by a lost key).
    for i in 0..60 {
        let key = std::fs::read(t.path().join(format!("keys/user{i}.key.pem"))).unwrap();
        let key = kcsr_core::key::PrivateKey::from_bytes(&key, None).unwrap();
        let docs = kcsr_core::manifest::parse_documents(
            &std::fs::read(t.path().join(format!("media/user{i}.csr.yaml"))).unwrap(),
        )
        .unwrap();
        let kcsr_core::manifest::Document::Csr(m) = &docs[0] else {
            panic!()
        };
        assert_eq!(
            m.decode_request().unwrap().public_key.fingerprint,
            key.public_key().fingerprint,
            "user{i}"
        );
    }
}
