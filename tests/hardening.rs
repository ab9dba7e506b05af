//! Hardening (issue 12, point 8), played as the attacker with the real binaries: escape and
//! bidi sequences in media, bundles, file names and server answers; a stick full of junk; a
//! kubeconfig with credentials in its URLs or FIFOs for its files; RSA keys with exponent 3;
//! core dumps; and a device that could answer differently on a second read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use kcsr_testkit::args::{self, request};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use kcsr_e2e::{Run, binary, free_port, hand_out_cluster_files, run};
use kcsr_testapi::{Config, TestServer};

/// Characters a terminal acts on instead of showing (or that reorder what it shows): control
/// characters but newline and tab, C1, bidi embeddings/overrides/isolates/marks, zero-width
/// and other invisible format characters.
fn acted_on(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c,
                    '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
                    | '\u{2060}'..='\u{2069}' | '\u{feff}')
        })
        .collect()
}

fn assert_terminal_safe(r: &Run, what: &str) {
    for (stream, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        let raw = acted_on(text);
        assert!(
            raw.is_empty(),
            "{what}: {stream} holds {raw:?} raw\nstdout:\n{:?}\nstderr:\n{:?}",
            r.stdout,
            r.stderr
        );
    }
}

/// One machine for both sides: a directory, the test server, the binaries.
struct Site {
    tmp: tempfile::TempDir,
    server: TestServer,
    kcsr: PathBuf,
    submit: PathBuf,
}

impl Site {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        let server = TestServer::start(Config::default()).unwrap();
        // The station pins the cluster before its first request (decision 0009), from CA
        // files it got out of band.
        hand_out_cluster_files(&server, tmp.path(), tmp.path());
        let site = Self {
            tmp,
            kcsr: binary("kcsr"),
            submit: binary("kcsr-submit"),
            server,
        };
        let url = site.server.url();
        site.kcsr(&args::cluster_add("kcsr-testapi", &url, &[]))
            .expect_code(0, "kcsr cluster add");
        site
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn kcsr(&self, args: &[&str]) -> Run {
        run(&self.kcsr, args, self.tmp.path(), &self.path("home"))
    }

    /// kcsr-submit with the admin kubeconfig.
    fn submit(&self, args: &[&str]) -> Run {
        let mut full = vec!["--kubeconfig", "admin.kubeconfig"];
        full.extend_from_slice(args);
        run(&self.submit, &full, self.tmp.path(), &self.path("home"))
    }

    fn request(&self, user: &str) {
        self.kcsr(&request(user, &["dev"], "media", &[]))
            .expect_code(0, "kcsr request");
    }

    /// Writes `SHA256SUMS` for every file of the media, as an attacker who rewrote files would.
    fn resum(&self) {
        let media = self.path("media");
        let mut sums = kcsr_core::sums::Sums::default();
        for e in std::fs::read_dir(&media).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if !["SHA256SUMS", "SHA256SUMS.sig", "RETURNED.SHA256SUMS"].contains(&name.as_str()) {
                sums.insert(&name, &std::fs::read(media.join(&name)).unwrap());
            }
        }
        std::fs::write(media.join("SHA256SUMS"), sums.render()).unwrap();
    }
}

/// Runs `cmd` and fails the test if it has not ended within `limit` (and kills it then).
fn run_within(mut cmd: Command, limit: Duration, what: &str) -> Run {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => {
            let out = out.unwrap();
            Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{what}: still running after {limit:?} (blocked)");
        }
    }
}

const EVIL: &str = "\u{1b}]0;pwned\u{7}ok \u{202e}gpj.exe \u{9b}2J\u{1b}[31mred\u{2066}";

#[test]
fn escape_and_bidi_sequences_from_media_bundles_file_names_and_servers_never_reach_the_terminal() {
    let site = Site::new();
    site.request("alice");
    site.submit(&["apply", "media"])
        .expect_code(0, "apply without approval");
    let name = site.server.csrs()[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();

    // A condition message from the server (here: an approver's free text).
    let approve = site.submit(&["approve", &name, "--yes", "--message", EVIL]);
    assert_eq!(approve.code, 0, "{approve:?}");
    assert_terminal_safe(&approve, "approve");
    for args in [
        vec!["status", name.as_str(), "--json"],
        vec!["status", "media", "-o", "json"],
        vec!["status", name.as_str()],
    ] {
        let r = site.submit(&args);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        assert_terminal_safe(&r, &format!("kcsr-submit {args:?}"));
        if args.len() > 2 {
            // The JSON still carries the exact value, escaped.
            let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            let messages: Vec<&str> = rows[0]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| c["message"].as_str())
                .collect();
            assert!(messages.contains(&EVIL), "{messages:?}");
        }
    }

    // A user and group name from the server's authentication.
    site.server.add_token(
        "tok-eve",
        "eve\u{1b}]0;pwned\u{7}\u{202e}",
        &["grp\u{9b}2J\u{2066}", "\u{1b}[2Jops"],
    );
    let eve = site.server.token_kubeconfig("eve", "tok-eve").unwrap();
    for json in [false, true] {
        let mut args = vec!["--kubeconfig", eve.to_str().unwrap(), "whoami"];
        if json {
            args.push("--json");
        }
        let r = run(&site.submit, &args, site.tmp.path(), &site.path("home"));
        assert_eq!(r.code, 0, "{r:?}");
        assert_terminal_safe(&r, "whoami");
        if json {
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(v["username"], "eve\u{1b}]0;pwned\u{7}\u{202e}");
        }
    }

    // A cluster and user name in a bundle, as anyone who can write the media may set them.
    site.submit(&["fetch", "media"]).expect_code(0, "fetch");
    let bundle = site.path("media/alice.bundle.yaml");
    let text = std::fs::read_to_string(&bundle).unwrap();
    let cluster = text
        .lines()
        .find_map(|l| l.strip_prefix("  name: "))
        .unwrap()
        .to_owned();
    let text = text
        .replace(
            &format!("  name: {cluster}"),
            "  name: \"prod\\e]0;pwned\\a\\u202Eevil\\x9b2J\"",
        )
        .replace("user: alice", "user: \"alice\\u2066\\e[8m\"");
    std::fs::write(&bundle, text).unwrap();
    // A CSR whose groups hold a bidi override and a title-setting sequence (openssl writes
    // whatever bytes it is given), under a file name that holds an escape sequence too.
    let key = site.path("evil.key");
    let evil_csr = site.path("x\u{1b}]0;pwned\u{7}.csr");
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let ok = Command::new("openssl")
        .args(["req", "-new", "-utf8", "-subj"])
        .arg("/CN=mallory/O=dev\u{202e}xe/O=\u{1b}]0;pwned\u{7}")
        .arg("-key")
        .arg(&key)
        .arg("-out")
        .arg(&evil_csr)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    for json in [false, true] {
        let mut args = vec![
            "inspect",
            "media/alice.bundle.yaml",
            evil_csr.file_name().unwrap().to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        let r = site.kcsr(&args);
        assert_terminal_safe(&r, &format!("kcsr {args:?}"));
        assert!(
            r.stdout.contains("prod") && r.stdout.contains("mallory"),
            "{r:?}"
        );
        if json {
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(
                v[0]["content"]["bundle"]["cluster"]["name"],
                "prod\u{1b}]0;pwned\u{7}\u{202e}evil\u{9b}2J"
            );
        }
    }
    // The same strings in a failing assemble (the bundle no longer matches its sums).
    let r = site.kcsr(&[
        "assemble", "--media", "media", "--keys", "keys", "--out", "k.yaml",
    ]);
    assert_ne!(r.code, 0);
    assert_terminal_safe(&r, "assemble");
}

/// `count` files of `size` bytes that take no space (sparse): reading them would still cost
/// `size` bytes of memory each.
fn junk(dir: &Path, count: usize, size: u64) {
    for i in 0..count {
        let f = std::fs::File::create(dir.join(format!("junk{i:05}.crt"))).unwrap();
        f.set_len(size).unwrap();
    }
}

#[test]
fn a_media_directory_full_of_junk_is_refused_on_both_sides_before_it_is_read() {
    let site = Site::new();
    site.request("alice");
    let media = site.path("media");
    junk(&media, 1_100, 1 << 20);
    let hint = "remove what kcsr did not write";
    for (what, r) in [
        ("kcsr-submit apply", site.submit(&["apply", "media"])),
        (
            "kcsr assemble",
            site.kcsr(&[
                "assemble", "--media", "media", "--keys", "keys", "--out", "k.yaml",
            ]),
        ),
    ] {
        assert_eq!(r.code, 1, "{what}: {r:?}");
        let shown = r.stderr.to_string();
        assert!(
            shown.contains("error: the files in media hold more than 134217728 bytes (128 MiB)")
                && shown.contains("nothing on it was read")
                && shown.contains(&format!("hint: {hint} from media")),
            "{what}: {shown}"
        );
        // Refused as a whole, not file by file: nothing was read or listed.
        assert!(!shown.contains("junk00001.crt"), "{what}: {shown}");
        assert!(site.server.csrs().is_empty());
    }

    // Too many entries, however small.
    let many = site.path("many");
    std::fs::create_dir(&many).unwrap();
    std::fs::copy(media.join("SHA256SUMS"), many.join("SHA256SUMS")).unwrap();
    junk(&many, 50_001, 0);
    let r = site.submit(&["apply", "many"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("more than 50000 entries") && r.stderr.contains(hint),
        "{}",
        r.stderr
    );
}

#[test]
fn credentials_in_server_and_proxy_urls_never_appear_in_any_output() {
    let site = Site::new();
    site.request("alice");
    let admin = std::fs::read_to_string(site.path("admin.kubeconfig")).unwrap();
    let server_line = admin
        .lines()
        .find(|l| l.trim_start().starts_with("server: "))
        .unwrap()
        .to_owned();
    let port = free_port();
    let cases = [
        (
            "server with user info",
            format!("    server: https://admin:S3rverPassw0rd@127.0.0.1:{port}"),
        ),
        (
            "server with user info, no scheme",
            format!("    server: admin:S3rverPassw0rd@127.0.0.1:{port}"),
        ),
        (
            "http proxy with user info",
            format!(
                "    server: https://127.0.0.1:{port}\n    proxy-url: http://puser:Pr0xyPassw0rd@127.0.0.1:{port}"
            ),
        ),
        (
            "socks5 proxy with user info",
            format!(
                "    server: https://127.0.0.1:{port}\n    proxy-url: socks5://puser:Pr0xyPassw0rd@127.0.0.1:{port}"
            ),
        ),
        (
            "https proxy with user info",
            format!(
                "    server: https://127.0.0.1:{port}\n    proxy-url: https://puser:Pr0xyPassw0rd@localhost:{port}"
            ),
        ),
    ];
    for (what, replacement) in cases {
        let kubeconfig = site.path("creds.kubeconfig");
        std::fs::write(&kubeconfig, admin.replace(&server_line, &replacement)).unwrap();
        for args in [
            vec!["whoami"],
            vec!["whoami", "--json"],
            vec!["status", "media", "--json"],
            vec!["apply", "media", "--json", "--request-timeout", "2s"],
        ] {
            let mut full = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
            full.extend_from_slice(&args);
            let r = run(&site.submit, &full, site.tmp.path(), &site.path("home"));
            assert_ne!(r.code, 0, "{what} {args:?}: {r:?}");
            let all = format!("{}{}", r.stdout, r.stderr);
            assert!(
                !all.contains("Passw0rd") && !all.contains("puser:") && !all.contains("admin:"),
                "{what} {args:?} shows credentials:\n{all}"
            );
            assert!(
                all.contains("127.0.0.1") || all.contains("localhost"),
                "{what}: {all}"
            );
        }
    }
}

#[test]
fn fifos_named_by_a_kubeconfig_fail_at_once_naming_the_file() {
    let site = Site::new();
    let admin = std::fs::read_to_string(site.path("admin.kubeconfig")).unwrap();
    let fifo = site.path("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let f = fifo.display().to_string();
    let field = |name: &str| {
        admin
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap()
            .to_owned()
    };
    let ca = field("certificate-authority-data:");
    let key = field("client-key-data:");
    let cert = field("client-certificate-data:");
    let cases = [
        (
            "client-key",
            admin.replace(&key, &format!("    client-key: {f}")),
        ),
        (
            "client-certificate",
            admin.replace(&cert, &format!("    client-certificate: {f}")),
        ),
        (
            "certificate-authority",
            admin.replace(&ca, &format!("    certificate-authority: {f}")),
        ),
        (
            "tokenFile",
            admin
                .replace(&key, &format!("    tokenFile: {f}"))
                .replace(&cert, ""),
        ),
    ];
    for (what, text) in cases {
        let kubeconfig = site.path("fifo.kubeconfig");
        std::fs::write(&kubeconfig, text).unwrap();
        let mut cmd = Command::new(&site.submit);
        cmd.args(["--kubeconfig", kubeconfig.to_str().unwrap(), "whoami"])
            .current_dir(site.tmp.path())
            .env("HOME", site.path("home"));
        let r = run_within(cmd, Duration::from_secs(20), what);
        assert_eq!(r.code, 1, "{what}: {r:?}");
        assert!(
            r.stderr.contains(&f) && r.stderr.contains("FIFO, not a regular file"),
            "{what}: {}",
            r.stderr
        );
    }
    // The kubeconfig itself.
    let mut cmd = Command::new(&site.submit);
    cmd.args(["--kubeconfig", &f, "whoami"])
        .current_dir(site.tmp.path())
        .env("HOME", site.path("home"));
    let r = run_within(cmd, Duration::from_secs(20), "--kubeconfig FIFO");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&f) && r.stderr.contains("FIFO"),
        "{}",
        r.stderr
    );
}

/// The `Max core file size` line of a process, once `main` has run (or after `limit`).
fn core_limit_once_set(pid: u32, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if line.ends_with("0 0 bytes") || start.elapsed() > limit {
            return line;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn both_binaries_run_with_core_dumps_off() {
    let site = Site::new();
    // A listener that never answers: kcsr-submit waits in the TLS handshake.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = std::fs::read_to_string(site.path("admin.kubeconfig")).unwrap();
    let server_line = admin
        .lines()
        .find(|l| l.trim_start().starts_with("server: "))
        .unwrap()
        .to_owned();
    std::fs::write(
        site.path("silent.kubeconfig"),
        admin.replace(
            &server_line,
            &format!("    server: https://{}", silent.local_addr().unwrap()),
        ),
    )
    .unwrap();
    let blocked: [(&str, &Path, Vec<&str>); 2] = [
        (
            "kcsr inspect - (waiting on stdin)",
            &site.kcsr,
            vec!["inspect", "-"],
        ),
        (
            "kcsr-submit whoami (waiting on a silent server)",
            &site.submit,
            vec!["--kubeconfig", "silent.kubeconfig", "whoami"],
        ),
    ];
    for (what, program, args) in blocked {
        // Start it with core dumps allowed (soft limit raised to the hard one), as a shell
        // whose user set `ulimit -c unlimited` would.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -S -c \"$(ulimit -H -c)\"; exec \"$0\" \"$@\"")
            .arg(program)
            .args(&args)
            .current_dir(site.tmp.path())
            .env("HOME", site.path("home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let line = core_limit_once_set(child.id(), Duration::from_secs(10));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(line, "Max core file size 0 0 bytes", "{what}");
    }
}

#[test]
fn rsa_keys_and_requests_with_public_exponent_3_are_refused() {
    let site = Site::new();
    let key = site.path("e3.key");
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .args(["-pkeyopt", "rsa_keygen_pubexp:3", "-out"])
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let refused = "public exponent 3; kcsr accepts only RSA keys with exponent 65537";
    let hint = "hint: generate a new key: kcsr request --key-type rsa2048";

    // An imported key.
    let r = site.kcsr(&request("alice", &[], "media", &["--key", "e3.key"]));
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("e3.key") && r.stderr.contains(refused) && r.stderr.contains(hint),
        "{}",
        r.stderr
    );
    assert!(!site.path("media").exists(), "nothing written");

    // A CSR made with it, inspected offline.
    let csr = site.path("e3.csr");
    let ok = Command::new("openssl")
        .args(["req", "-new", "-subj", "/CN=alice/O=dev", "-key"])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let r = site.kcsr(&["inspect", "e3.csr"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout.contains("[key-exponent]") && r.stdout.contains(refused),
        "{r:?}"
    );

    // The same CSR swapped into a request on the media (sums recomputed): refused by the
    // connected side before anything is sent.
    site.request("alice");
    let manifest = site.path("media/alice.csr.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let request = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("request: "))
        .unwrap()
        .to_owned();
    let csr_b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr).unwrap());
    let info = kcsr_core::csr::parse(&std::fs::read(&csr).unwrap()).unwrap();
    let mut swapped = text.replace(&request, &csr_b64);
    if let Some(fp) = swapped
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("kcsr.dev/public-key-sha256: "))
        .map(str::to_owned)
    {
        swapped = swapped.replace(&fp, &info.public_key.fingerprint);
    }
    std::fs::write(&manifest, swapped).unwrap();
    site.resum();
    // Without the station's key the attacker cannot sign: the signature check refuses the
    // media first (exit 3). Take the signature away too, as a submitter without configured
    // signers would get it, to show the request's own check still refuses it.
    let r = site.submit(&["apply", "media"]);
    assert_eq!(r.code, 3, "{r:?}");
    r.stderr_has("SHA256SUMS.sig");
    std::fs::remove_file(site.path("media/SHA256SUMS.sig")).unwrap();
    let r = site.submit(&["apply", "media"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("alice.csr.yaml") && r.stderr.contains("[key-exponent]"),
        "{}",
        r.stderr
    );
    assert!(site.server.csrs().is_empty(), "nothing was sent");
}

/// Counts the opens of each file in `dir` while `f` runs (inotify).
fn opens_during(dir: &Path, f: impl FnOnce()) -> BTreeMap<String, usize> {
    use rustix::fs::inotify;
    let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC).unwrap();
    inotify::add_watch(&fd, dir, inotify::WatchFlags::OPEN).unwrap();
    f();
    let mut counts = BTreeMap::new();
    let mut buf = [std::mem::MaybeUninit::uninit(); 64 << 10];
    let mut reader = inotify::Reader::new(&fd, &mut buf);
    while let Ok(event) = reader.next() {
        if let Some(name) = event.file_name() {
            *counts
                .entry(name.to_string_lossy().into_owned())
                .or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn each_side_reads_every_media_file_once() {
    let site = Site::new();
    site.request("alice");
    site.request("bob");
    site.submit(&["apply", "media", "--approve", "--yes", "--wait", "30s"])
        .expect_code(0, "apply");
    let media = site.path("media");
    let names: Vec<String> = std::fs::read_dir(&media)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.contains(&"alice.crt".to_owned()), "{names:?}");

    // The connected side, finding the certificates already on the media and checking them.
    for args in [["fetch", "media"], ["apply", "media"]] {
        let opens = opens_during(&media, || {
            site.submit(&args).expect_code(0, "kcsr-submit");
        });
        for name in &names {
            assert_eq!(
                opens.get(name),
                Some(&1),
                "kcsr-submit {args:?} opened {name}: {opens:?}"
            );
        }
    }
    // The isolated side.
    let opens = opens_during(&media, || {
        site.kcsr(&[
            "assemble",
            "--media",
            "media",
            "--keys",
            "keys",
            "--out-dir",
            "kc",
        ])
        .expect_code(0, "assemble");
    });
    for name in &names {
        assert_eq!(
            opens.get(name),
            Some(&1),
            "kcsr assemble opened {name}: {opens:?}"
        );
    }
}
