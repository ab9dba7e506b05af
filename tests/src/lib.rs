//! Helpers of the whole-gap tests: two host directory trees, media copied (not shared)
//! between them, the real binaries run as processes, and real kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test support

use std::path::{Path, PathBuf};
use std::process::Command;

use kcsr_testkit::cluster::TestServer;

/// A finished command: the kit's (docs/testing.md).
pub use kcsr_testkit::Run;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The path of a workspace binary, which `cargo test --workspace` has built. Refuses a
/// binary older than the sources it is built from, so a stale binary never passes a test.
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let path = target.join("debug").join(name);
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: run `cargo build --workspace --bins` (cargo test --workspace builds it)", path.display()));
    // The crates each binary is built from; an edit elsewhere does not relink it.
    let crates: &[&str] = match name {
        "kcsr" => &["core", "fs", "token", "offline"],
        "kcsr-agent" => &["core", "fs", "token", "agent"],
        "kcsr-submit" => &["core", "fs", "submit"],
        // The test server is an independent implementation: kcsr-core is only its
        // dev-dependency, so an edit there does not relink it.
        "kcsr-testapi" => &["testapi"],
        _ => &["core", "fs", "offline", "submit", "testapi"],
    };
    let newest = crates
        .iter()
        .map(|c| newest_source(&workspace().join("crates").join(c).join("src")))
        .max()
        .unwrap_or(std::time::UNIX_EPOCH);
    assert!(
        built >= newest,
        "{} is older than its sources: run `cargo build --workspace --bins`",
        path.display()
    );
    path
}

fn newest_source(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let p = entry.path();
        let name = entry.file_name();
        if p.is_dir() {
            if name != "tests" && name != "target" {
                newest = newest.max(newest_source(&p));
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            newest = newest.max(entry.metadata().unwrap().modified().unwrap());
        }
    }
    newest
}

/// `program args` in `dir` as a host runs it: the kit's clean environment with `HOME` set to
/// `home` and the operator's login.
pub fn host_command(program: &Path, args: &[&str], dir: &Path, home: &Path) -> Command {
    let mut cmd = kcsr_testkit::command(program);
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", home)
        // Who runs kcsr is signed into every request (kcsr.dev/operator): the same login on
        // every machine that runs the tests.
        .env("LOGNAME", "operator")
        .env("USER", "operator");
    cmd
}

/// Runs `program args` in `dir` in the kit's clean environment with `HOME` set to `home`.
pub fn run(program: &Path, args: &[&str], dir: &Path, home: &Path) -> Run {
    let out = host_command(program, args, dir, home)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    Run::from(out)
}

/// Real kubectl (on every machine and in CI; a missing kubectl fails the test).
pub fn kubectl(kubeconfig: &Path, args: &[&str], home: &Path) -> Run {
    let mut full = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
    full.extend_from_slice(args);
    let out = kcsr_testkit::command("kubectl")
        .args(&full)
        .env("HOME", home)
        .output()
        .expect("kubectl must be installed (.ci/run installs it)");
    Run::from(out)
}

/// The cluster's files as each host gets them: the connected host's admin kubeconfig
/// (`admin.kubeconfig`) and the client CA it knows about (`client-ca.crt`); the isolated
/// station's copies of the cluster's CAs (`ca.crt`, `client-ca.crt`), got out of band (say,
/// from a control-plane node) to pin the cluster before the first request. One directory may
/// be both hosts.
pub fn hand_out_cluster_files(server: &TestServer, offline: &Path, connected: &Path) {
    std::fs::copy(
        server.admin_kubeconfig(),
        connected.join("admin.kubeconfig"),
    )
    .unwrap();
    std::fs::write(connected.join("client-ca.crt"), server.client_ca_pem()).unwrap();
    std::fs::write(offline.join("ca.crt"), server.serving_ca_pem()).unwrap();
    std::fs::write(offline.join("client-ca.crt"), server.client_ca_pem()).unwrap();
}

/// One simulated machine: its own directory tree.
#[derive(Debug)]
pub struct Host {
    /// Its root.
    pub root: PathBuf,
}

impl Host {
    /// A host under `base/name`, with `home/`.
    pub fn new(base: &Path, name: &str) -> Self {
        let root = base.join(name);
        std::fs::create_dir_all(root.join("home")).unwrap();
        Self { root }
    }

    /// `root/rel`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Its HOME.
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }
}

/// A loopback port no one listens on now (the kernel's pick), for a server the test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Carries the media: copies every file of `from` into `to` (which is emptied first), the way
/// a USB stick moves between machines. Copy, not share.
pub fn carry(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        assert!(
            entry.file_type().unwrap().is_file(),
            "media holds a non-file: {:?}",
            entry.path()
        );
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Every file below `dir`, recursively.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_below(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Asserts that no file below `dir` holds a PEM private-key label or material of any key
/// file in `keys_dir`: bytes of its DER, of its base64 (a PEM body), or of the base64 of its
/// PEM text (a kubeconfig's `client-key-data`), each taken from the middle of the encoding,
/// where the secret is (the headers are the same for every key of a type).
pub fn assert_no_key_material(dir: &Path, keys_dir: &Path) {
    use base64::Engine as _;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let middle = |text: &[u8], len: usize, align: usize| {
        let start = (text.len().saturating_sub(len) / 2) / align * align;
        text[start..(start + len).min(text.len())].to_vec()
    };
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for key_file in files_below(keys_dir) {
        let pem_text = std::fs::read(&key_file).unwrap();
        // The station's pins and records (JSON) and public lines hold no key.
        let Some(block) = kcsr_core::pem::parse(&pem_text)
            .ok()
            .and_then(|b| b.into_iter().next())
        else {
            continue;
        };
        let der = block.der.to_vec();
        needles.push(middle(&der, 24, 1));
        needles.push(middle(b64(&der).as_bytes(), 40, 4));
        needles.push(middle(b64(&pem_text).as_bytes(), 60, 4));
    }
    assert!(
        !needles.is_empty(),
        "no keys found in {}",
        keys_dir.display()
    );
    for f in files_below(dir) {
        let data = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&data).contains("PRIVATE KEY"),
            "{} holds a PEM private key",
            f.display()
        );
        for n in &needles {
            assert!(
                !data.windows(n.len()).any(|w| w == n.as_slice()),
                "{} holds private key material",
                f.display()
            );
        }
    }
}
