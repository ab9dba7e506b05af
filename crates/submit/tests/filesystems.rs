//! Hostile filesystems under `kcsr-submit`: symlinks and FIFOs on the media are refused before
//! anything is sent; a read-only or full media directory makes the write-back fail with an
//! `error:` naming the file and a `hint:`, keeps the objects on the cluster, leaves no partial
//! file, and `kcsr-submit fetch` finishes once the media is fixed, without duplicates.
//!
//! Read-only and full media are tmpfs mounts in a private mount namespace (the tests run as
//! root, so permissions cannot make a directory read-only). Those tests are `#[ignore]`d in
//! plain `cargo test`; `.ci/run` runs them with `--ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

#[path = "support/gap.rs"]
mod gap;
#[path = "../../offline/tests/support/mounts.rs"]
mod mounts;

use std::path::{Path, PathBuf};
use std::process::Command;

use gap::{Run, SUBMIT, configure, finish, issued, returned_sums_ok, sha256sum_ok};
use kcsr_core::bundle::Bundle;
use kcsr_testapi::{Config, TestServer};
use mounts::Mounts;

/// Requests for `users` made by the real `kcsr` into `dir/media`, keys in `dir/keys`.
fn make_media(dir: &Path, users: &[&str]) -> PathBuf {
    let media = dir.join("media");
    for user in users {
        gap::kcsr_request(&dir.join("keys"), &media, user, &[]);
    }
    media
}

fn submit(server: &TestServer, args: &[&str]) -> Run {
    gap::submit(&server.admin_kubeconfig(), args)
}

/// Nothing half-written: every entry of `SHA256SUMS` and `RETURNED.SHA256SUMS` matches its
/// file and every bundle parses.
fn assert_consistent(media: &Path) {
    for file in ["SHA256SUMS", "RETURNED.SHA256SUMS"] {
        let Ok(data) = std::fs::read(media.join(file)) else {
            continue;
        };
        let sums = kcsr_core::sums::Sums::parse(&data).unwrap();
        for name in sums.names() {
            let content = std::fs::read(media.join(name))
                .unwrap_or_else(|_| panic!("{name} listed but missing"));
            assert!(sums.matches(name, &content), "{name} does not match {file}");
        }
    }
    for e in std::fs::read_dir(media).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(!name.starts_with(".kcsr-"), "temporary file left: {name}");
        if name.ends_with(".bundle.yaml") {
            Bundle::parse(&std::fs::read(media.join(&name)).unwrap())
                .unwrap_or_else(|e| panic!("torn bundle {name}: {e}"));
        }
    }
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// One tmpfs on `dir`, in its own mount namespace.
struct Tmpfs {
    ns: Mounts,
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, options: &str) -> Self {
        Self {
            ns: Mounts::new(&[(dir, options)]),
            dir: dir.to_owned(),
        }
    }

    fn submit(&self, server: &TestServer, args: &[&str]) -> Run {
        let mut cmd = self.ns.nsenter(Path::new("/"), SUBMIT, &[]);
        configure(&mut cmd, &server.admin_kubeconfig(), args);
        finish(cmd.spawn().unwrap(), args[0])
    }

    fn remount(&self, options: &str) {
        self.ns.remount(&self.dir, options);
    }

    /// Copies a media directory in, as `rel`.
    fn copy_in(&self, from: &Path, rel: &str) -> PathBuf {
        let to = self.ns.path(&self.dir.join(rel));
        std::fs::create_dir(&to).unwrap();
        for (name, data) in snapshot(from) {
            std::fs::write(to.join(name), data).unwrap();
        }
        to
    }

    /// Fills the tmpfs with a `filler` file (outside the media) until `pages` pages are left.
    fn fill(&self, pages: u64) -> PathBuf {
        self.ns.fill(&self.dir, pages)
    }
}

#[test]
#[ignore = "needs root for a tmpfs in a private mount namespace; .ci/run runs it with --ignored"]
fn apply_onto_read_only_media_keeps_the_objects_and_fetch_finishes_once_writable() {
    let server = TestServer::start(Config::default()).unwrap();
    let t = tempfile::tempdir().unwrap();
    let prepared = make_media(t.path(), &["alice", "bob"]);
    let vol = t.path().join("vol");
    let fs = Tmpfs::mount(&vol, "size=1m");
    let media = fs.copy_in(&prepared, "media");
    let before = snapshot(&media);
    fs.remount("ro");
    let media_arg = vol.join("media");
    let media_arg = media_arg.to_str().unwrap();
    fs.submit(
        &server,
        &["apply", media_arg, "--approve", "--yes", "--wait", "1m"],
    )
    .expect_no_panic(1)
    .says(
        &format!("{media_arg}/"),
        "read-only",
        &format!("kcsr-submit fetch {media_arg}"),
    );
    assert_eq!(snapshot(&media), before, "the read-only media changed");
    // The cluster kept what it did: two requests, approved and issued.
    assert_eq!(server.csrs().len(), 2);
    assert_eq!(issued(&server), 2);

    fs.remount("rw");
    fs.submit(&server, &["fetch", media_arg, "--wait", "1m"])
        .expect_no_panic(0);
    assert_eq!(server.csrs().len(), 2, "fetch created duplicates");
    assert_consistent(&media);
    sha256sum_ok(&media);
    returned_sums_ok(&media);
    for stem in ["alice", "bob"] {
        assert!(media.join(format!("{stem}.crt")).exists());
        assert!(media.join(format!("{stem}.bundle.yaml")).exists());
    }
}

#[test]
#[ignore = "needs root for a tmpfs in a private mount namespace; .ci/run runs it with --ignored"]
fn apply_onto_full_media_writes_no_partial_file_and_fetch_finishes_once_freed() {
    // The certificate, the bundle and RETURNED.SHA256SUMS each take one page: leaving 0, 1 or
    // 2 pages makes each of them the one that does not fit.
    for (pages, failing) in [(0, ".crt"), (1, ".bundle.yaml"), (2, "RETURNED.SHA256SUMS")] {
        let server = TestServer::start(Config::default()).unwrap();
        let t = tempfile::tempdir().unwrap();
        let prepared = make_media(t.path(), &["carol"]);
        let vol = t.path().join("vol");
        let fs = Tmpfs::mount(&vol, "size=64k");
        let media = fs.copy_in(&prepared, "media");
        let media_arg = vol.join("media");
        let media_arg = media_arg.to_str().unwrap();
        let filler = fs.fill(pages);
        let run = fs
            .submit(
                &server,
                &["apply", media_arg, "--approve", "--yes", "--wait", "1m"],
            )
            .expect_no_panic(1);
        let error = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_default();
        assert!(
            error.contains(media_arg) && error.contains(failing),
            "{pages}: {}",
            run.stderr
        );
        run.says(
            media_arg,
            "no space left",
            &format!("free space on {media_arg}"),
        );
        assert_consistent(&media);
        assert_eq!(server.csrs().len(), 1);
        assert_eq!(issued(&server), 1);

        std::fs::remove_file(filler).unwrap();
        fs.submit(&server, &["fetch", media_arg, "--wait", "1m"])
            .expect_no_panic(0);
        assert_eq!(server.csrs().len(), 1, "fetch created duplicates");
        assert_consistent(&media);
        sha256sum_ok(&media);
        returned_sums_ok(&media);
        let stem = stem_of(&media);
        let bundle =
            Bundle::parse(&std::fs::read(media.join(format!("{stem}.bundle.yaml"))).unwrap())
                .unwrap();
        assert_eq!(bundle.user, "carol");
        assert_eq!(
            std::fs::read_to_string(media.join(format!("{stem}.crt"))).unwrap(),
            bundle.certificate
        );
    }
}

#[test]
fn apply_and_fetch_refuse_symlinks_and_fifos_on_the_media_and_send_nothing() {
    let server = TestServer::start(Config::default()).unwrap();
    let t = tempfile::tempdir().unwrap();
    let media = make_media(t.path(), &["dave"]);
    let media_arg = media.to_str().unwrap();
    std::fs::write(t.path().join("outside.crt"), "precious\n").unwrap();
    let (manifest, cert) = (manifest_name(&media), cert_name(&media));
    let symlink = |to: &Path, at: &Path| std::os::unix::fs::symlink(to, at).unwrap();
    // Each is refused by name before anything reaches the cluster: a symlink where a
    // certificate will be written, an extra symlink, the manifest behind a symlink, a FIFO, and
    // SHA256SUMS behind a symlink.
    type Setup<'a> = &'a dyn Fn(&Path, &Path);
    let cases: [(&str, &str, Setup<'_>); 5] = [
        (&cert, "not a regular file", &|m, t| {
            symlink(&t.join("outside.crt"), &m.join(cert_name(m)));
        }),
        ("notes.txt", "not a regular file", &|m, t| {
            symlink(&t.join("outside.crt"), &m.join("notes.txt"));
        }),
        (&manifest, "not a regular file", &|m, t| {
            let name = manifest_name(m);
            std::fs::rename(m.join(&name), t.join(&name)).unwrap();
            symlink(&t.join(&name), &m.join(&name));
        }),
        ("pipe", "not a regular file", &|m, _| {
            let made = Command::new("mkfifo").arg(m.join("pipe")).status().unwrap();
            assert!(made.success());
        }),
        ("SHA256SUMS", "symbolic link", &|m, t| {
            std::fs::rename(m.join("SHA256SUMS"), t.join("SHA256SUMS")).unwrap();
            symlink(&t.join("SHA256SUMS"), &m.join("SHA256SUMS"));
        }),
    ];
    let clean = snapshot(&media);
    for (name, says, setup) in cases {
        setup(&media, t.path());
        for args in [
            &["apply", media_arg, "--approve", "--yes", "--wait", "1m"][..],
            &["fetch", media_arg][..],
        ] {
            let run = submit(&server, args).expect_no_panic(1);
            assert!(
                run.stderr.contains(name) && run.stderr.contains(says),
                "{name}: {}",
                run.stderr
            );
            let fix = if says == "symbolic link" {
                "SHA256SUMS"
            } else {
                "remove "
            };
            assert!(
                run.stderr
                    .lines()
                    .any(|l| l.starts_with("hint: ") && l.contains(fix)),
                "{}",
                run.stderr
            );
        }
        assert!(server.csrs().is_empty(), "{name}: something was sent");
        assert_eq!(
            std::fs::read_to_string(t.path().join("outside.crt")).unwrap(),
            "precious\n"
        );
        // Put the media back as kcsr wrote it.
        for e in std::fs::read_dir(&media).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        for (n, data) in &clean {
            std::fs::write(media.join(n), data).unwrap();
        }
    }
    submit(
        &server,
        &["apply", media_arg, "--approve", "--yes", "--wait", "1m"],
    )
    .expect_no_panic(0);
    assert_eq!(server.csrs().len(), 1);
    sha256sum_ok(&media);
    returned_sums_ok(&media);
}

fn stem_of(media: &Path) -> String {
    std::fs::read_dir(media)
        .unwrap()
        .find_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".csr.yaml").map(str::to_owned)
        })
        .unwrap()
}

fn cert_name(media: &Path) -> String {
    format!("{}.crt", stem_of(media))
}

fn manifest_name(media: &Path) -> String {
    format!("{}.csr.yaml", stem_of(media))
}

/// Every file below `dir`, relative, with its content (a missing directory is empty).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    if !dir.exists() {
        return Vec::new();
    }
    snapshot(dir)
}

/// `apply --out`, then `fetch --out` twice: the results and their `RETURNED.SHA256SUMS` are in
/// the return directory, the media is only read, and a re-run creates and rewrites nothing.
fn one_way_trip(server: &TestServer, media: &Path, out: &Path, run: &dyn Fn(&[&str]) -> Run) {
    let (media_arg, out_arg) = (media.to_str().unwrap(), out.to_str().unwrap());
    let before = snapshot(media);
    run(&["apply", media_arg, "--out", out_arg]).expect_no_panic(0);
    assert_eq!(server.csrs().len(), 2);
    assert!(
        tree(out).is_empty(),
        "nothing is issued yet: {:?}",
        tree(out)
    );
    // The approver reads the same media; nothing is written anywhere.
    run(&["approve", media_arg, "--yes"]).expect_no_panic(0);
    let fetch = [
        "fetch", media_arg, "--out", out_arg, "--wait", "1m", "--json",
    ];
    let first = run(&fetch).expect_no_panic(0);
    assert!(
        first
            .json()
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "written"),
        "{}",
        first.stdout
    );
    assert_eq!(snapshot(media), before, "the request media changed");
    let returned = tree(out);
    let names: Vec<&str> = returned.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.contains(&"RETURNED.SHA256SUMS"), "{names:?}");
    returned_sums_ok(out);
    // Resumed from the return directory: verified again, nothing created or rewritten.
    let again = run(&fetch).expect_no_panic(0);
    assert!(
        again
            .json()
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "on-media"),
        "{}",
        again.stdout
    );
    run(&["apply", media_arg, "--out", out_arg]).expect_no_panic(0);
    // The approver may be shown what came back; nothing is written anywhere.
    let approve =
        run(&["approve", media_arg, "--out", out_arg, "--yes", "--json"]).expect_no_panic(0);
    assert!(
        approve
            .json()
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "on-media"),
        "{}",
        approve.stdout
    );
    assert_eq!(server.csrs().len(), 2, "a re-run created a second object");
    assert_eq!(tree(out), returned, "a re-run rewrote a result");
    assert_eq!(snapshot(media), before, "the request media changed");
}

#[test]
fn apply_and_fetch_with_out_only_read_the_media_and_resume_from_the_return_directory() {
    let server = TestServer::start(Config::default()).unwrap();
    let t = tempfile::tempdir().unwrap();
    let media = make_media(t.path(), &["alice", "bob"]);
    let out = t.path().join("return/trip-1");
    one_way_trip(&server, &media, &out, &|args| submit(&server, args));

    // --out naming the media is the media; inside it (either way round) is refused.
    let media_arg = media.to_str().unwrap();
    let inside = media.join("results");
    let parent = t.path().to_str().unwrap();
    for out in [inside.to_str().unwrap(), parent] {
        let run = submit(&server, &["fetch", media_arg, "--out", out]).expect_no_panic(2);
        run.stderr_has("inside one another");
    }
    assert!(!inside.exists());
    let name = submit(&server, &["approve", "alice", "--out", parent, "--yes"]).expect_no_panic(2);
    name.stderr_has("goes with MEDIA_DIR");
    // A return directory of another trip is refused before anything is sent.
    let other = t.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("mallory.crt"), "x").unwrap();
    let run = submit(
        &server,
        &["fetch", media_arg, "--out", other.to_str().unwrap()],
    )
    .expect_no_panic(1);
    assert!(
        run.stderr.contains("mallory.crt")
            && run.stderr.contains("hint: --out takes an empty directory"),
        "{}",
        run.stderr
    );
}

#[test]
#[ignore = "needs root for a tmpfs in a private mount namespace; .ci/run runs it with --ignored"]
fn a_read_only_request_media_goes_across_with_out() {
    let server = TestServer::start(Config::default()).unwrap();
    let t = tempfile::tempdir().unwrap();
    let prepared = make_media(t.path(), &["alice", "bob"]);
    let vol = t.path().join("vol");
    let fs = Tmpfs::mount(&vol, "size=1m");
    fs.copy_in(&prepared, "media");
    fs.remount("ro");
    // The return directory is on the host's disk, which the namespace sees as it is.
    let out = t.path().join("return");
    let media = vol.join("media");
    let seen = fs.ns.path(&media);
    one_way_trip(&server, &seen, &out, &|args| {
        // The test reads the media through /proc/PID/root; kcsr-submit gets the path it sees.
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace(seen.to_str().unwrap(), media.to_str().unwrap()))
            .collect();
        fs.submit(
            &server,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    });
}
