//! Hostile filesystems under `kcsr`: symlinks and special files where it reads or writes, and
//! media, key and output directories on a read-only or full filesystem. Every refusal is an
//! `error:` naming the path with a `hint:`, leaves nothing half-written (every file present
//! parses, `SHA256SUMS` matches), and once the device is fixed the same command completes.
//!
//! Read-only and full filesystems are tmpfs mounts in a private mount namespace: the tests run
//! as root, so permissions cannot make a directory read-only. Those tests are `#[ignore]`d in
//! plain `cargo test`; `.ci/run` runs them with `--ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

#[path = "support/mounts.rs"]
mod mounts;
mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use kcsr_testkit::args::request;
use mounts::Mounts;
use support::{
    KCSR, Run, assemble_args, assert_consistent, batch_args, finish, kcsr, kcsr_ok,
    kubeconfig_users, media_with_bundles, mode, object_names, requests_match_keys, roster,
    sha256sum_ok,
};

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// A request written onto the tmpfs mounted on `vol`.
const ALICE_ONTO_VOL: [&str; 9] = [
    "request",
    "--user",
    "alice",
    "--clusterrole",
    "view",
    "--keys",
    "keys",
    "--media",
    "vol/media",
];

impl Mounts {
    /// `kcsr ARGS` in `dir`, inside the namespace.
    fn kcsr(&self, dir: &Path, args: &[&str]) -> Run {
        finish(
            self.nsenter(dir, KCSR, args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }
}

/// A snapshot of a directory: names and contents.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    names(dir)
        .into_iter()
        .map(|n| {
            let data = std::fs::read(dir.join(&n)).unwrap();
            (n, data)
        })
        .collect()
}

fn no_temp_files(dir: &Path) {
    let left: Vec<String> = names(dir)
        .into_iter()
        .filter(|n| n.starts_with(".kcsr-"))
        .collect();
    assert!(
        left.is_empty(),
        "temporary files left in {}: {left:?}",
        dir.display()
    );
}

#[test]
#[ignore = "needs root for a tmpfs in a private mount namespace; .ci/run runs it with --ignored"]
fn request_onto_read_only_media_changes_nothing_and_completes_once_writable() {
    let t = tempfile::tempdir().unwrap();
    let vol = t.path().join("vol");
    let ns = Mounts::new(&[(&vol, "size=1m")]);
    let args = ALICE_ONTO_VOL;
    assert_eq!(
        ns.kcsr(t.path(), &request("bob", &[], "vol/media", &[]))
            .code,
        0
    );
    let media = ns.path(&vol.join("media"));
    let before = snapshot(&media);
    ns.remount(&vol, "ro");
    ns.kcsr(t.path(), &args).refused("vol/media", "read-only");
    assert_eq!(snapshot(&media), before, "the read-only media changed");
    assert_consistent(&t.path().join("keys"), &media);
    ns.remount(&vol, "rw");
    assert_eq!(ns.kcsr(t.path(), &args).code, 0);
    assert_consistent(&t.path().join("keys"), &media);
    sha256sum_ok(&media);
    assert_eq!(requests_match_keys(&t.path().join("keys"), &media), 2);
}

#[test]
#[ignore = "needs root for a tmpfs in a private mount namespace; .ci/run runs it with --ignored"]
fn request_onto_full_media_fails_at_each_file_cleanly_and_completes_once_freed() {
    // Each of manifest, binding, SHA256SUMS and its signature takes one page: leaving 0 to 3
    // pages makes each of them the one that does not fit.
    for (pages, failing) in [
        (0, "alice.csr.yaml"),
        (1, "alice.binding.yaml"),
        (2, "SHA256SUMS"),
        (3, "SHA256SUMS.sig"),
    ] {
        let t = tempfile::tempdir().unwrap();
        let vol = t.path().join("vol");
        let ns = Mounts::new(&[(&vol, "size=64k")]);
        let media = ns.path(&vol.join("media"));
        std::fs::create_dir(&media).unwrap();
        let filler = ns.fill(&vol, pages);
        let args = ALICE_ONTO_VOL;
        let r = ns.kcsr(t.path(), &args);
        r.refused(&format!("vol/media/{failing}"), "no space left");
        r.stderr_has("free space on vol/media");
        no_temp_files(&media);
        assert_consistent(&t.path().join("keys"), &media);
        std::fs::remove_file(filler).unwrap();
        assert_eq!(ns.kcsr(t.path(), &args).code, 0, "{failing}");
        sha256sum_ok(&media);
        assert_eq!(
            names(&media),
            [
                "SHA256SUMS",
                "SHA256SUMS.sig",
                "alice.binding.yaml",
                "alice.csr.yaml"
            ]
        );
        assert_eq!(requests_match_keys(&t.path().join("keys"), &media), 1);
    }
}

#[test]
#[ignore = "needs root for a tmpfs in a private mount namespace; .ci/run runs it with --ignored"]
fn request_with_a_read_only_or_full_key_dir_writes_nothing_to_the_media() {
    let t = tempfile::tempdir().unwrap();
    let keys = t.path().join("keys");
    let ns = Mounts::new(&[(&keys, "size=64k,mode=0700")]);
    let args = [
        "request", "--user", "alice", "--keys", "keys", "--media", "media",
    ];
    ns.remount(&keys, "ro");
    let r = ns.kcsr(t.path(), &args);
    r.refused("keys/alice.key.pem", "read-only");
    assert!(
        !r.stderr.contains("--force"),
        "a misleading hint: {}",
        r.stderr
    );
    assert!(!t.path().join("media/alice.csr.yaml").exists());
    ns.remount(&keys, "rw");
    let filler = ns.fill(&keys, 0);
    let r = ns.kcsr(t.path(), &args);
    r.refused("keys/alice.key.pem", "no space left");
    assert!(
        !r.stderr.contains("--force"),
        "a misleading hint: {}",
        r.stderr
    );
    assert!(!t.path().join("media/alice.csr.yaml").exists());
    no_temp_files(&ns.path(&keys));
    std::fs::remove_file(filler).unwrap();
    assert_eq!(ns.kcsr(t.path(), &args).code, 0);
    assert_eq!(
        requests_match_keys(&ns.path(&keys), &t.path().join("media")),
        1
    );
    sha256sum_ok(&t.path().join("media"));
}

#[test]
#[ignore = "needs root for a tmpfs in a private mount namespace; .ci/run runs it with --ignored"]
fn batch_onto_read_only_media_changes_nothing_and_completes_once_writable() {
    let t = tempfile::tempdir().unwrap();
    roster(t.path(), 10);
    let vol = t.path().join("vol");
    let ns = Mounts::new(&[(&vol, "size=1m")]);
    let media = ns.path(&vol.join("media"));
    std::fs::create_dir(&media).unwrap();
    ns.remount(&vol, "ro");
    let args = batch_args("roster.csv", "vol/media");
    ns.kcsr(t.path(), &args).refused("vol/media", "read-only");
    assert!(names(&media).is_empty(), "{:?}", names(&media));
    assert_consistent(&t.path().join("keys"), &media);
    ns.remount(&vol, "rw");
    assert_eq!(ns.kcsr(t.path(), &args).code, 0);
    sha256sum_ok(&media);
    assert_eq!(requests_match_keys(&t.path().join("keys"), &media), 10);
}

#[test]
#[ignore = "needs root for a tmpfs in a private mount namespace; .ci/run runs it with --ignored"]
fn batch_running_out_of_media_space_midway_leaves_complete_files_and_completes_once_freed() {
    let t = tempfile::tempdir().unwrap();
    roster(t.path(), 40);
    let vol = t.path().join("vol");
    // 16 pages: room for about half the users' manifests.
    let ns = Mounts::new(&[(&vol, "size=64k")]);
    let media = ns.path(&vol.join("media"));
    let args = batch_args("roster.csv", "vol/media");
    ns.kcsr(t.path(), &args)
        .refused("vol/media", "no space left");
    let written = object_names(&media).len();
    assert!(
        written > 0 && written < 40,
        "{written} requests written: not midway"
    );
    no_temp_files(&media);
    assert_consistent(&t.path().join("keys"), &media);
    // A request on the media always has its key: keys are durable first.
    requests_match_keys(&t.path().join("keys"), &media);
    ns.remount(&vol, "size=4m");
    assert_eq!(ns.kcsr(t.path(), &args).code, 0);
    sha256sum_ok(&media);
    assert_eq!(requests_match_keys(&t.path().join("keys"), &media), 40);
    assert_eq!(object_names(&media).len(), 40, "one request per user");
}

#[test]
#[ignore = "needs root for a tmpfs in a private mount namespace; .ci/run runs it with --ignored"]
fn batch_with_a_read_only_or_full_key_dir_puts_no_request_without_its_key() {
    let t = tempfile::tempdir().unwrap();
    roster(t.path(), 30);
    let keys = t.path().join("keys");
    let ns = Mounts::new(&[(&keys, "size=64k,mode=0700")]);
    let media = t.path().join("media");
    let args = batch_args("roster.csv", "media");
    ns.remount(&keys, "ro");
    ns.kcsr(t.path(), &args).refused("keys/", "read-only");
    assert!(object_names(&media).is_empty());
    // 16 pages hold about half the keys.
    ns.remount(&keys, "rw");
    ns.kcsr(t.path(), &args).refused("keys/", "no space left");
    let written = object_names(&media).len();
    assert!(written < 30, "{written} requests written");
    no_temp_files(&ns.path(&keys));
    assert_consistent(&ns.path(&keys), &media);
    requests_match_keys(&ns.path(&keys), &media);
    ns.remount(&keys, "size=4m");
    assert_eq!(ns.kcsr(t.path(), &args).code, 0);
    sha256sum_ok(&media);
    assert_eq!(requests_match_keys(&ns.path(&keys), &media), 30);
}

#[test]
#[ignore = "needs root for a tmpfs in a private mount namespace; .ci/run runs it with --ignored"]
fn assemble_on_a_read_only_or_full_filesystem_writes_no_partial_kubeconfig() {
    let t = tempfile::tempdir().unwrap();
    let certs = media_with_bundles(t.path(), 4);
    let vol = t.path().join("vol");
    let ns = Mounts::new(&[(&vol, "size=64k")]);
    let out = ns.path(&vol.join("out"));
    std::fs::create_dir(&out).unwrap();
    let args = assemble_args("--out-dir", "vol/out", &[]);

    ns.remount(&vol, "ro");
    ns.kcsr(t.path(), &args)
        .refused("vol/out/user0.kubeconfig", "read-only");
    assert!(names(&out).is_empty());
    ns.remount(&vol, "rw");

    // One kubeconfig fits (each takes a page); the second does not.
    let filler = ns.fill(&vol, 1);
    let r = ns.kcsr(t.path(), &args);
    r.refused("vol/out/user1.kubeconfig", "no space left");
    r.stderr_has("--force");
    assert_eq!(names(&out), ["user0.kubeconfig"]);
    assert_eq!(
        kubeconfig_users(t.path(), &out.join("user0.kubeconfig"), &certs),
        ["user0"]
    );
    assert_eq!(mode(&out.join("user0.kubeconfig")), 0o600);

    // Merging into a kubeconfig on a full filesystem leaves the old one as it was.
    std::fs::remove_file(&filler).unwrap();
    let old = "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n";
    std::fs::write(ns.path(&vol.join("config")), old).unwrap();
    let filler = ns.fill(&vol, 0);
    ns.kcsr(t.path(), &assemble_args("--merge-into", "vol/config", &[]))
        .refused("vol/config", "no space left");
    assert_eq!(
        std::fs::read_to_string(ns.path(&vol.join("config"))).unwrap(),
        old
    );
    no_temp_files(&ns.path(&vol));
    no_temp_files(&out);

    std::fs::remove_file(&filler).unwrap();
    let mut again = args.to_vec();
    again.push("--force");
    assert_eq!(ns.kcsr(t.path(), &again).code, 0);
    for stem in certs.keys() {
        let path = out.join(format!("{stem}.kubeconfig"));
        assert_eq!(kubeconfig_users(t.path(), &path, &certs), [stem.as_str()]);
        assert_eq!(mode(&path), 0o600);
    }
}

#[test]
fn request_refuses_a_symlink_or_fifo_where_it_writes_and_writes_nothing_through_it() {
    let t = tempfile::tempdir().unwrap();
    let media = t.path().join("media");
    std::fs::create_dir(&media).unwrap();
    std::fs::write(t.path().join("target.txt"), "precious\n").unwrap();
    let args = [
        "request", "--user", "alice", "--keys", "keys", "--media", "media",
    ];
    for (name, link_to) in [
        ("alice.csr.yaml", Some("../target.txt")),
        ("alice.csr.yaml", Some("../missing.txt")),
        ("alice.csr.yaml", None),
        ("SHA256SUMS", Some("../target.txt")),
        ("SHA256SUMS", Some("../missing.txt")),
        ("SHA256SUMS", None),
    ] {
        let path = media.join(name);
        match link_to {
            Some(to) => std::os::unix::fs::symlink(to, &path).unwrap(),
            None => mkfifo(&path),
        }
        let says = if link_to.is_some() {
            "symbolic link"
        } else {
            "special file"
        };
        let r = kcsr(t.path(), &args);
        r.refused(&format!("media/{name}"), says);
        r.stderr_has("remove it");
        assert_eq!(
            std::fs::read_to_string(t.path().join("target.txt")).unwrap(),
            "precious\n"
        );
        assert!(
            !t.path().join("missing.txt").exists(),
            "written through a dangling link"
        );
        assert_eq!(names(&media), [name], "{name} -> {link_to:?}");
        std::fs::remove_file(&path).unwrap();
    }
    // With them gone, the same command completes (with the key an earlier attempt wrote).
    assert_eq!(kcsr(t.path(), &args).code, 0);
    sha256sum_ok(&media);
    assert_eq!(requests_match_keys(&t.path().join("keys"), &media), 1);
}

#[test]
fn inspect_and_assemble_refuse_symlinks_and_fifos_on_the_media() {
    let t = tempfile::tempdir().unwrap();
    media_with_bundles(t.path(), 1);
    let media = t.path().join("media");
    std::fs::write(t.path().join("outside.crt"), "not on the media\n").unwrap();
    std::os::unix::fs::symlink("../outside.crt", media.join("extra.crt")).unwrap();
    mkfifo(&media.join("pipe.crt"));
    for (file, says) in [
        ("media/extra.crt", "symbolic link"),
        ("media/pipe.crt", "not a regular file"),
    ] {
        let r = kcsr(t.path(), &["inspect", file]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.starts_with(&format!("error: {file}")) && r.stdout.contains(says),
            "{}{}",
            r.stdout,
            r.stderr
        );
    }
    let r = kcsr(t.path(), &assemble_args("--out-dir", "out", &[]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    for name in [
        "\"extra.crt\": not a regular file",
        "\"pipe.crt\": not a regular file",
    ] {
        r.stderr_has(name);
    }
    assert!(
        r.stderr.contains("nothing was written") && r.stderr.contains("hint: "),
        "{}",
        r.stderr
    );
    assert!(!t.path().join("out").exists());
    // A bundle replaced by a symlink to the real one is refused too.
    std::fs::remove_file(media.join("extra.crt")).unwrap();
    std::fs::remove_file(media.join("pipe.crt")).unwrap();
    std::fs::rename(
        media.join("user0.bundle.yaml"),
        t.path().join("user0.bundle.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../user0.bundle.yaml", media.join("user0.bundle.yaml")).unwrap();
    let r = kcsr(t.path(), &assemble_args("--out-dir", "out", &[]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("\"user0.bundle.yaml\": not a regular file"),
        "{}",
        r.stderr
    );
    assert!(!t.path().join("out").exists());
    std::fs::remove_file(media.join("user0.bundle.yaml")).unwrap();
    std::fs::rename(
        t.path().join("user0.bundle.yaml"),
        media.join("user0.bundle.yaml"),
    )
    .unwrap();
    kcsr_ok(t.path(), &assemble_args("--out-dir", "out", &["--quiet"]));
}
