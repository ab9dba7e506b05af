//! Crash safety: `kcsr request`, `kcsr batch` and `kcsr assemble` (`--out-dir` and
//! `--merge-into`) are killed with SIGKILL at many points. After every kill, nothing
//! half-written exists (every file parses, every `SHA256SUMS` entry matches its file, a merged
//! kubeconfig is the old one or the complete new one) and re-running the same command
//! completes the job with no duplicate requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

use support::{
    KCSR, assemble_args, batch_args, kcsr_ok, kubeconfig_users, media_with_bundles, mode,
    object_names, roster,
};

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

/// A deterministic spread of kill delays (no randomness: failures must reproduce).
fn delays(n: u64, max_ms: u64) -> impl Iterator<Item = Duration> {
    (0..n).map(move |i| Duration::from_micros((i * 7919 % n) * max_ms * 1000 / n))
}

/// How long a whole run of `args` takes here, in milliseconds, so kill points can be spread
/// over it: assemble's runtime depends on the machine far more than its work does.
fn calibrate(dir: &Path, args: &[&str]) -> u64 {
    let started = std::time::Instant::now();
    kcsr_ok(dir, args);
    u64::try_from(started.elapsed().as_millis()).unwrap().max(1)
}

fn assert_consistent(dir: &Path) {
    support::assert_consistent(&dir.join("keys"), &dir.join("media"));
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
        kcsr_ok(t.path(), &args);
        assert_consistent(t.path());
        kcsr_testkit::run("sha256sum", &t.path().join("media"), &["-c", "SHA256SUMS"])
            .expect_code(0, &format!("kill {i}: sha256sum -c"));
        assert_eq!(object_names(&t.path().join("media")).len(), 1, "kill {i}");
    }
}

#[test]
fn killed_batches_leave_nothing_half_written_and_resume_without_duplicates() {
    let t = tempfile::tempdir().unwrap();
    roster(t.path(), 60);
    let args = batch_args("roster.csv", "media");
    // Kill the same batch again and again at different points; each run continues the last.
    for delay in delays(12, 120) {
        let mut child = start(t.path(), &args);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        assert_consistent(t.path());
    }
    kcsr_ok(t.path(), &args);
    assert_consistent(t.path());
    kcsr_testkit::run(
        "sha256sum",
        &t.path().join("media"),
        &["-c", "--quiet", "SHA256SUMS"],
    )
    .expect_code(0, "sha256sum -c");
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

#[test]
fn killed_assemble_out_dir_leaves_only_complete_kubeconfigs_and_resumes() {
    let t = tempfile::tempdir().unwrap();
    let certs = media_with_bundles(t.path(), 8);
    let args = assemble_args("--out-dir", "out", &["--quiet"]);
    // Up to twice a whole run: the early kills land before any write, the late ones after.
    let run_ms = calibrate(t.path(), &args);
    let mut seen = std::collections::BTreeSet::new();
    for (i, delay) in delays(20, 2 * run_ms).enumerate() {
        let _ = std::fs::remove_dir_all(t.path().join("out"));
        let mut child = start(t.path(), &args);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let Ok(entries) = std::fs::read_dir(t.path().join("out")) else {
            seen.insert(0);
            continue;
        };
        let mut complete = 0;
        for e in entries {
            let path = e.unwrap().path();
            // Every file here holds a private key, a leftover temporary one included.
            assert_eq!(mode(&path), 0o600, "kill {i}: {}", path.display());
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with(".kcsr-") {
                continue; // an interrupted temporary file: never under a kubeconfig's name
            }
            let stem = name
                .strip_suffix(".kubeconfig")
                .unwrap_or_else(|| panic!("kill {i}: {name}"));
            assert_eq!(
                kubeconfig_users(t.path(), &path, &certs),
                [stem],
                "kill {i}"
            );
            complete += 1;
        }
        seen.insert(complete);
        // The kubeconfigs already written are complete; --force writes the same again.
        let mut resume = args.to_vec();
        resume.push("--force");
        kcsr_ok(t.path(), &resume);
        for stem in certs.keys() {
            let path = t.path().join(format!("out/{stem}.kubeconfig"));
            assert_eq!(
                kubeconfig_users(t.path(), &path, &certs),
                [stem.as_str()],
                "kill {i}"
            );
            assert_eq!(mode(&path), 0o600);
        }
    }
    // The kills landed at different stages, not all before or all after the writes.
    assert!(
        seen.len() >= 2,
        "kills landed only at {seen:?} kubeconfigs written"
    );
}

#[test]
fn killed_assemble_merge_leaves_the_old_or_the_complete_new_kubeconfig() {
    let t = tempfile::tempdir().unwrap();
    let certs = media_with_bundles(t.path(), 8);
    let old = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://prod.example:6443\nusers:\n- name: admin\n  user:\n    token: abc\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: admin\ncurrent-context: prod\n";
    let config = t.path().join("config");
    let args = assemble_args("--merge-into", "config", &["--quiet"]);
    std::fs::write(&config, old).unwrap();
    let run_ms = calibrate(t.path(), &args);
    let (mut kept, mut replaced) = (0, 0);
    for (i, delay) in delays(20, 2 * run_ms).enumerate() {
        std::fs::write(&config, old).unwrap();
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let mut child = start(t.path(), &args);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(mode(&config), 0o600, "kill {i}");
        if std::fs::read(&config).unwrap() == old.as_bytes() {
            kept += 1;
        } else {
            assert_eq!(
                kubeconfig_users(t.path(), &config, &certs).len(),
                8,
                "kill {i}: a partial merge"
            );
            replaced += 1;
        }
        kcsr_ok(t.path(), &args);
        let v: serde_json::Value = kcsr_core::yaml::parse_one(
            &std::fs::read(&config).unwrap(),
            kcsr_core::yaml::Snippets::Show,
        )
        .unwrap();
        assert_eq!(
            kubeconfig_users(t.path(), &config, &certs).len(),
            8,
            "kill {i}"
        );
        assert_eq!(
            v["users"][0]["user"]["token"], "abc",
            "kill {i}: the old entries are kept"
        );
        assert_eq!(
            v["users"].as_array().unwrap().len(),
            9,
            "kill {i}: no duplicates"
        );
        assert_eq!(mode(&config), 0o600, "kill {i}");
    }
    assert!(
        kept > 0 && replaced > 0,
        "kills landed only before ({kept}) or only after ({replaced}) the write"
    );
}
