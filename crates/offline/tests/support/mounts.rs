//! tmpfs mounts in a private mount namespace, for read-only and full filesystems under `kcsr`
//! and `kcsr-submit` (the tests run as root, so permissions cannot make a directory
//! read-only). Shared with crates/submit/tests/filesystems.rs by `#[path]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests
#![allow(dead_code, unreachable_pub)] // each test binary uses a part

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const PAGE: u64 = 4096;

/// tmpfs mounts in a private mount namespace, held open by a `sleep` this test started and
/// kills. The test reaches the files through `/proc/PID/root` and runs commands in the
/// namespace with `nsenter`.
pub struct Mounts {
    holder: Child,
}

impl Mounts {
    /// Mounts a tmpfs with `options` (e.g. `size=64k`) on each directory.
    pub fn new(mounts: &[(&Path, &str)]) -> Self {
        let usable = Command::new("unshare")
            .args(["-m", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            usable,
            "`unshare -m true` failed: this test needs root and mount namespaces (run it as root, or skip it by leaving out --ignored)"
        );
        let mut script = String::new();
        for (dir, options) in mounts {
            std::fs::create_dir_all(dir).unwrap();
            script.push_str(&format!(
                "mount -t tmpfs -o {options} kcsr-test '{}' && ",
                dir.display()
            ));
        }
        script.push_str("echo ready && exec sleep 600");
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(holder.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n", "mounting the tmpfs failed");
        Self { holder }
    }

    /// `path` as the namespace sees it.
    pub fn path(&self, path: &Path) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.holder.id())).join(path.strip_prefix("/").unwrap())
    }

    /// `program ARGS` in `dir`, inside the namespace.
    pub fn nsenter(&self, dir: &Path, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        // cd inside: a working directory opened outside would not see the mounts.
        cmd.args(["-t", &self.holder.id().to_string(), "-m", "--"])
            .args(["sh", "-c", "cd \"$0\" && exec \"$@\""])
            .arg(dir)
            .arg(program)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// `mount -o remount,OPTIONS DIR`: `ro`, `rw`, `size=4m`.
    pub fn remount(&self, dir: &Path, options: &str) {
        let out = self
            .nsenter(
                Path::new("/"),
                "mount",
                &["-o", &format!("remount,{options}")],
            )
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Fills the tmpfs holding `dir` with `dir/filler` until `pages` pages are left.
    pub fn fill(&self, dir: &Path, pages: u64) -> PathBuf {
        let filler = self.path(&dir.join("filler"));
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 << 10];
        while f.write_all(&chunk).is_ok() {}
        let len = f.metadata().unwrap().len();
        assert!(
            len >= pages * PAGE,
            "the tmpfs is too small to leave {pages} pages"
        );
        f.set_len(len - pages * PAGE).unwrap();
        filler
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        // The namespace, and with it the tmpfs, goes with its last process.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
