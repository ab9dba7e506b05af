//! The `--json` output of every command that reports is pinned by a golden file,
//! `tests/snapshots/<command>.json`: one deterministic run of the whole gap against the test
//! API server, with run-to-run noise (the scratch directory, ports, times, hashes, serials,
//! base64 blobs, ages) replaced by placeholders. Keys, their order and the structure are
//! compared exactly. `KCSR_BLESS=1 cargo test -p kcsr-e2e --test json` rewrites the files;
//! review the diff, and keep docs/formats.md ("--json output") in step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::path::{Path, PathBuf};

use kcsr_e2e::{Host, Run, binary, run};
use kcsr_testapi::{Config, TestServer};
use kcsr_testkit::args::request;
use serde_json::Value;

fn snapshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots")
}

/// Keys whose value changes with the clock even as a number or a short string.
const CLOCK_KEYS: &[&str] = &["age", "not_before", "not_after", "notBefore", "notAfter"];

/// `value` with the noise of one run replaced by placeholders.
fn normalize(value: Value, dir: &str, key: Option<&str>) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = normalize(v, dir, Some(&k));
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| normalize(v, dir, key)).collect())
        }
        _ if key.is_some_and(|k| CLOCK_KEYS.contains(&k)) && !value.is_null() => Value::String(
            if key == Some("age") {
                "<AGE>"
            } else {
                "<TIME>"
            }
            .into(),
        ),
        Value::String(s) => Value::String(normalize_text(&s, dir)),
        other => other,
    }
}

fn normalize_text(s: &str, dir: &str) -> String {
    // A PEM or DER blob: base64 with at most its padding at the end, and not a hex digest.
    let body = s.trim_end_matches('=');
    let b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/');
    if body.len() >= 64 && body.chars().all(b64) && !body.chars().all(|c| c.is_ascii_hexdigit()) {
        return "<BASE64>".into();
    }
    let s = s.replace(dir, "<DIR>");
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        if is_rfc3339(rest) {
            out.push_str("<TIME>");
            i += 20;
            continue;
        }
        // An OpenSSH key fingerprint (the station's signing key): SHA256: + 43 base64.
        let ssh: Vec<char> = "SHA256:".chars().collect();
        let b64 = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/');
        if rest.starts_with(&ssh)
            && rest.len() >= ssh.len() + 43
            && rest[ssh.len()..ssh.len() + 43].iter().all(b64)
            && rest.get(ssh.len() + 43).is_none_or(|n| !b64(n))
        {
            out.push_str("SHA256:<FINGERPRINT>");
            i += ssh.len() + 43;
            continue;
        }
        let loopback: Vec<char> = "127.0.0.1:".chars().collect();
        if rest.starts_with(&loopback) {
            out.push_str("127.0.0.1:<PORT>");
            i += loopback.len();
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        // Fingerprints, object-name hashes, serials, digests: 8 or more hex digits as a word.
        let boundary = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        let run = rest.iter().take_while(|c| c.is_ascii_hexdigit()).count();
        let ends = chars
            .get(i + run)
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if boundary && run >= 8 && ends {
            out.push_str("<HEX>");
            i += run;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `2026-11-28T16:55:26Z`.
fn is_rfc3339(c: &[char]) -> bool {
    let d = |r: std::ops::Range<usize>| c[r].iter().all(char::is_ascii_digit);
    c.len() >= 20
        && d(0..4)
        && c[4] == '-'
        && d(5..7)
        && c[7] == '-'
        && d(8..10)
        && c[10] == 'T'
        && d(11..13)
        && c[13] == ':'
        && d(14..16)
        && c[16] == ':'
        && d(17..19)
        && c[19] == 'Z'
}

/// One machine (the test runs both sides in one tree: the media is not carried here, the
/// whole-gap tests do that) and a cluster.
struct Site {
    host: Host,
    _tmp: tempfile::TempDir,
    _server: TestServer,
    dir: String,
    kcsr: PathBuf,
    submit: PathBuf,
    /// `(snapshot name, normalised JSON text)` in the order they were produced.
    outputs: Vec<(String, String)>,
}

impl Site {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let host = Host::new(&root, "site");
        let server = TestServer::start(Config::default()).unwrap();
        std::fs::copy(server.admin_kubeconfig(), host.path("admin.kubeconfig")).unwrap();
        std::fs::write(host.path("client-ca.crt"), server.client_ca_pem()).unwrap();
        Self {
            dir: host.root.display().to_string(),
            host,
            _tmp: tmp,
            _server: server,
            kcsr: binary("kcsr"),
            submit: binary("kcsr-submit"),
            outputs: Vec::new(),
        }
    }

    /// Runs `kcsr args` (`kcsr-submit` when `submit`), expects `code`, and keeps its stdout,
    /// which must be one JSON document and nothing else, as snapshot `name`.
    fn record(&mut self, name: &str, submit: bool, args: &[&str], code: i32) {
        let r: Run = if submit {
            let mut full = vec!["--kubeconfig", "admin.kubeconfig"];
            full.extend_from_slice(args);
            run(&self.submit, &full, &self.host.root, &self.host.home())
        } else {
            run(&self.kcsr, args, &self.host.root, &self.host.home())
        };
        let r = r.expect_code(code, &format!("{name}: {args:?}"));
        let value: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
            panic!(
                "{name}: stdout is not one JSON document ({e}):\n{}",
                r.stdout
            )
        });
        let text = serde_json::to_string_pretty(&normalize(value, &self.dir, None)).unwrap();
        assert!(
            !text.contains(&self.dir) && !text.contains("PRIVATE KEY"),
            "{name}: {text}"
        );
        self.outputs.push((name.to_owned(), format!("{text}\n")));
    }
}

#[test]
fn json_output_matches_the_snapshots() {
    let mut site = Site::new();
    let s = &mut site;
    std::fs::write(
        s.host.path("team.csv"),
        "user,groups,key_type,expiration,clusterrole\nbob,dev,p384,90d,\ncarol,dev;ops,ed25519,30d,edit\n",
    )
    .unwrap();

    // Offline: the cluster pinned first, then requests.
    s.record(
        "cluster",
        false,
        &[
            "cluster",
            "add",
            "kcsr-testapi",
            "--keys",
            "keys",
            "--from-kubeconfig",
            "admin.kubeconfig",
            "--client-ca",
            "client-ca.crt",
            "--json",
        ],
        0,
    );
    s.record(
        "request",
        false,
        &request(
            "alice",
            &["dev"],
            "media",
            &["--clusterrole", "view", "--json"],
        ),
        0,
    );
    s.record(
        "batch",
        false,
        &[
            "batch", "--roster", "team.csv", "--keys", "keys", "--media", "media", "--jobs", "2",
            "--json",
        ],
        0,
    );
    // Connected: create, approve, fetch, show.
    s.record("whoami", true, &["whoami", "--json"], 0);
    s.record("apply", true, &["apply", "media", "--json"], 0);
    s.record(
        "approve",
        true,
        &[
            "approve",
            "media",
            "--yes",
            "--reason",
            "CHG1234",
            "--message",
            "ticket CHG-1234",
            "--json",
        ],
        0,
    );
    s.record(
        "fetch",
        true,
        &[
            "fetch",
            "media",
            "--wait",
            "60s",
            "--client-ca",
            "client-ca.crt",
            "--json",
        ],
        0,
    );
    s.record("status", true, &["status", "media", "-o", "json"], 0);
    // Offline again: look, verify, assemble, renew.
    s.record(
        "inspect",
        false,
        &[
            "inspect",
            "--json",
            "media/alice.csr.yaml",
            "media/alice.binding.yaml",
            "media/alice.crt",
            "keys/alice.key.pem",
        ],
        0,
    );
    s.record(
        "verify",
        false,
        &[
            "verify",
            "--json",
            "--cert",
            "media/alice.crt",
            "--key",
            "keys/alice.key.pem",
            "--ca",
            "client-ca.crt",
        ],
        0,
    );
    s.record(
        "assemble",
        false,
        &[
            "assemble",
            "--json",
            "--media",
            "media",
            "--keys",
            "keys",
            "--out-dir",
            "kubeconfigs",
        ],
        0,
    );
    // Within 60 days: alice's and carol's 30-day certificates are due, bob's 90-day one is not.
    s.record(
        "renew",
        false,
        &[
            "renew",
            "--json",
            "media",
            "--within",
            "60d",
            "--keys",
            "keys",
            "--media",
            "next-media",
        ],
        0,
    );

    // The shapes of failures, on a media of their own: a roster row refused (its key type is
    // not that of the user's existing key), a request not approved, a name not on the server.
    std::fs::write(
        s.host.path("late.csv"),
        "user,key_type\ndave,p256\nalice,rsa2048\n",
    )
    .unwrap();
    s.record(
        "batch-failed",
        false,
        &[
            "batch",
            "--roster",
            "late.csv",
            "--keys",
            "keys",
            "--media",
            "media-late",
            "--json",
        ],
        3,
    );
    run(
        &s.submit,
        &["--kubeconfig", "admin.kubeconfig", "apply", "media-late"],
        &s.host.root,
        &s.host.home(),
    )
    .expect_code(0, "apply media-late");
    s.record(
        "fetch-not-approved",
        true,
        &["fetch", "media-late", "--json"],
        4,
    );
    s.record(
        "status-missing",
        true,
        &["status", "nobody", "-o", "json"],
        1,
    );
    s.record(
        "deny",
        true,
        &["deny", "media-late", "--reason", "NotOnTheRoster", "--json"],
        0,
    );

    let bless = std::env::var_os("KCSR_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, text) in &site.outputs {
        let path = snapshots().join(format!("{name}.json"));
        if bless {
            std::fs::create_dir_all(snapshots()).unwrap();
            std::fs::write(&path, text).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if &want != text {
            stale.push(format!(
                "{} differs:\n{}",
                path.display(),
                diff(&want, text)
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nrun `KCSR_BLESS=1 cargo test -p kcsr-e2e --test json`, review the diff and update docs/formats.md",
        stale.join("\n")
    );
}

/// The lines only in `want` (`-`) and only in `got` (`+`), in order: enough to see what
/// changed in a small pretty-printed document.
fn diff(want: &str, got: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    // Longest common subsequence table, from the end.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[test]
fn noise_is_replaced_and_structure_kept() {
    let dir = "/tmp/x";
    let v = serde_json::json!({
        "name": "alice-f0badbe5d2",
        "path": "/tmp/x/keys/alice.key.pem",
        "server": "https://127.0.0.1:39671",
        "detail": "2026-11-29T03:09:53Z to 2026-12-29T03:09:53Z, sha256 87d8b06a11bb3396",
        "age": "1s",
        "not_after": 1_798_513_793,
        "request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIbE1JR01BZ0VBTUNveEREQUtC",
        "user": "deadbeefs",
        "id": "X509SHA256=567b9a75f1a3c84a3425f9b2d1aa044eb80f31023d2292171e1e1003fe632063",
        "publicKeySha256": "87d8b06a11bb339651bb1fed5feb4aa84e989e677a1123a96c43010595f10b59",
        "expirationSeconds": 2_592_000,
        "binding": null,
    });
    let got = normalize(v, dir, None);
    assert_eq!(
        got,
        serde_json::json!({
            "name": "alice-<HEX>",
            "path": "<DIR>/keys/alice.key.pem",
            "server": "https://127.0.0.1:<PORT>",
            "detail": "<TIME> to <TIME>, sha256 <HEX>",
            "age": "<AGE>",
            "not_after": "<TIME>",
            "request": "<BASE64>",
            "user": "deadbeefs",
            "id": "X509SHA256=<HEX>",
            "publicKeySha256": "<HEX>",
            "expirationSeconds": 2_592_000,
            "binding": null,
        })
    );
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(keys[0], "name", "key order is kept");
    assert_eq!(diff("a\nb\nc\n", "a\nx\nc\n"), "- b\n+ x\n");
}
