//! Every example in every subcommand's `--help`, of both binaries, runs for real (through
//! `bash -c`, in one scratch directory, against a test API server started here), so the help
//! cannot drift from what the commands do. Every subcommand's help must also have an
//! "Examples:" section and say its exit codes.
//!
//! An example is a line of the "Examples:" section indented by two spaces that starts with
//! `kcsr `, `kcsr-submit ` or `openssl … | kcsr …`; `#` lines above it explain it. It must
//! exit 0, or the code its comment promises as `(exit N)`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kcsr_e2e::{assert_no_key_material, binary};
use kcsr_testapi::{Config, TestServer};

/// Today's examples; a help that loses one fails the count (update it when removing one).
const MIN_EXAMPLES: usize = 34;

/// The order of a site's day, whatever help an example is printed in: the cluster pinned and
/// requests written on the isolated machine; on the connected one, created, approved (by someone else, then by
/// `apply --approve`), shown, fetched and (too late) denied; back offline, verified, assembled and renewed, and
/// the station's signing key shown and rotated.
/// `(binary, subcommand, flag the line must contain)`.
const PHASES: &[(&str, &str, Option<&str>)] = &[
    ("kcsr", "cluster", None),
    ("kcsr", "request", None),
    ("kcsr", "batch", None),
    ("kcsr", "withdraw", None),
    ("kcsr", "inspect", None),
    ("kcsr", "check", None),
    ("kcsr-submit", "whoami", None),
    ("kcsr-submit", "apply", None),
    ("kcsr-submit", "approve", None),
    ("kcsr-submit", "apply", Some("--approve")),
    ("kcsr-submit", "status", None),
    ("kcsr-submit", "fetch", None),
    ("kcsr-submit", "deny", None),
    ("kcsr", "verify", None),
    ("kcsr", "assemble", None),
    ("kcsr", "renew", None),
    ("kcsr", "key", None),
    ("kcsr", "station", None),
    ("kcsr", "audit", None),
    ("kcsr", "policy", None),
    // Last of a site's month: it marks alice's requests offboarded (no renewal after).
    ("kcsr", "offboard", None),
    ("kcsr", "completions", None),
    ("kcsr", "man", None),
    ("kcsr-submit", "completions", None),
    ("kcsr-submit", "man", None),
];

/// Paths the examples name that are outside the scratch directory, and where they point
/// instead (`{}` = the scratch directory). Nothing else is rewritten.
const SUBSTITUTIONS: &[(&str, &str)] = &[
    // The removable media as mounted on the connected machine: here the same directory the
    // offline examples write to (`./media`), as if carried.
    ("/media/usb", "{}/media"),
    // Write-once or one-way media: the requests as carried, the results on a second stick.
    ("/media/cdrom", "{}/media"),
    ("/media/return", "{}/return"),
    ("~/", "{}/home/"),
    ("/etc/bash_completion.d/", "{}/etc/bash_completion.d/"),
    ("/usr/local/share/man/man1/", "{}/usr/local/share/man/man1/"),
    // zsh's first function directory; bash would expand it to nothing (a write to `/`).
    ("${fpath[1]}", "{}/zsh/site-functions"),
];

#[derive(Debug)]
struct Example {
    /// `kcsr request`, the help it was printed in.
    help: String,
    line: String,
    expect: i32,
}

fn help_text(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands listed under "Commands:" in the top-level help, without `help`.
fn subcommands(top: &str) -> Vec<String> {
    let section = top
        .split("\nCommands:\n")
        .nth(1)
        .expect("a Commands: section");
    section
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .filter(|s| s != "help")
        .collect()
}

/// The examples of one help text; panics on a line in the section that is neither.
fn examples(help: &str, origin: &str) -> Vec<Example> {
    let start = help
        .lines()
        .position(|l| l == "Examples:")
        .unwrap_or_else(|| panic!("`{origin} --help` has no \"Examples:\" section:\n{help}"));
    let mut found = Vec::new();
    let mut comment = String::new();
    for line in help.lines().skip(start + 1) {
        if line.trim().is_empty() {
            comment.clear();
            continue;
        }
        // The section ends at the next unindented paragraph.
        let Some(body) = line.strip_prefix("  ") else {
            break;
        };
        if let Some(c) = body.strip_prefix('#') {
            comment.push_str(c);
            comment.push(' ');
            continue;
        }
        let is_example = body.starts_with("kcsr ")
            || body.starts_with("kcsr-submit ")
            || (body.starts_with("openssl ") && body.contains("| kcsr"));
        assert!(
            is_example && !body.ends_with('\\'),
            "`{origin} --help`: {line:?} in the Examples section is neither a `#` comment nor a one-line example"
        );
        found.push(Example {
            help: origin.to_owned(),
            line: body.to_owned(),
            expect: promised_exit(&comment),
        });
        comment.clear();
    }
    found
}

/// `(exit N)` in the comment, else 0.
fn promised_exit(comment: &str) -> i32 {
    comment
        .split("(exit ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .map_or(0, |n| n.trim().parse().expect("(exit N) with a number"))
}

/// The example's own binary and subcommand (after a pipe, the last stage's).
fn phase(e: &Example) -> usize {
    let stage = e.line.rsplit('|').next().unwrap();
    let mut words = stage.split_whitespace();
    let bin = words.next().unwrap();
    let sub = words.find(|w| !w.starts_with('-')).unwrap_or_default();
    PHASES
        .iter()
        .rposition(|(b, s, flag)| *b == bin && *s == sub && flag.is_none_or(|f| e.line.contains(f)))
        .unwrap_or_else(|| panic!("no phase for {:?}: add it to PHASES", e.line))
}

/// The example with the substitution table applied; refuses an absolute path it would write
/// or read outside the scratch directory.
fn localize(line: &str, scratch: &Path) -> String {
    let root = scratch.display().to_string();
    let mut cmd = line.to_owned();
    for (from, to) in SUBSTITUTIONS {
        cmd = cmd.replace(from, &to.replace("{}", &root));
    }
    let words: Vec<&str> = cmd.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_start_matches(['>', '<', '"', '\'']);
        let subject = i > 0 && words[i - 1] == "-subj";
        assert!(
            !(w.starts_with('/') || w.starts_with('~') || w.starts_with('$'))
                || w.starts_with(&root)
                || subject,
            "{line:?} names {w:?}, outside the scratch directory: add it to SUBSTITUTIONS"
        );
    }
    cmd
}

/// What the examples expect to find: a key directory with bob's `openssl genrsa` key,
/// rosters with other users, a CSR made by OpenSSL, the cluster's client CA, an existing
/// kubeconfig to merge into, and the directories completions and man pages go to.
fn prepare(scratch: &Path, server: &TestServer) -> PathBuf {
    let dir = |rel: &str| {
        let p = scratch.join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    let keys = dir("keys");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
    for d in [
        "home/.kube",
        "tmp",
        "prep",
        "etc/bash_completion.d",
        "usr/local/share/man/man1",
        "zsh/site-functions",
    ] {
        dir(d);
    }
    shell(
        scratch,
        "openssl genrsa -out keys/bob.key.pem 2048 \
         && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout prep/alice-openssl.key.pem -subj /CN=alice/O=dev -out alice.csr \
         && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout prep/ivan.key -subj /CN=ivan/O=dev -out ivan.csr",
    );
    std::fs::write(
        scratch.join("team.csv"),
        "user,groups,key_type,signer,expiration,clusterrole\n\
         erin,dev;ops,p256,client,30d,\nfrank,dev,rsa2048,,90d,view\n",
    )
    .unwrap();
    std::fs::write(
        scratch.join("team.yaml"),
        "defaults: {groups: [dev], key_type: p256, expiration: 30d}\nusers:\n  - user: grace\n  - {user: heidi, key_type: ed25519, clusterrole: view}\n",
    )
    .unwrap();
    std::fs::write(scratch.join("client-ca.crt"), server.client_ca_pem()).unwrap();
    // The CA of the API server's certificate, as taken from a control-plane node.
    std::fs::write(scratch.join("ca.crt"), server.serving_ca_pem()).unwrap();
    // The operator's kubeconfig, with a second context named `prod` for `--context prod`.
    let admin = std::fs::read_to_string(server.admin_kubeconfig()).unwrap();
    let prod = "- name: prod\n  context:\n    cluster: kcsr-testapi\n    user: kcsr-admin\ncurrent-context:";
    assert!(admin.contains("\ncurrent-context:"), "{admin}");
    let kubeconfig = admin.replacen("current-context:", prod, 1);
    let path = scratch.join("admin.kubeconfig");
    std::fs::write(&path, &kubeconfig).unwrap();
    std::fs::write(scratch.join("home/.kube/config"), &kubeconfig).unwrap();
    path
}

struct Shell {
    code: i32,
    stdout: String,
    stderr: String,
}

fn bash(scratch: &Path, script: &str, kubeconfig: Option<&Path>) -> Shell {
    let bin_dir = binary("kcsr").parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("set -o pipefail\n{script}"))
        .current_dir(scratch)
        .env("PATH", path)
        .env("HOME", scratch.join("home"))
        .env("TMPDIR", scratch.join("tmp"))
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null());
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    let out = cmd.output().unwrap();
    Shell {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn shell(scratch: &Path, script: &str) {
    let r = bash(scratch, script, None);
    assert_eq!(r.code, 0, "{script}\n{}{}", r.stdout, r.stderr);
}

fn all_examples() -> Vec<Example> {
    let mut all = Vec::new();
    for name in ["kcsr", "kcsr-submit"] {
        let bin = binary(name);
        let top = help_text(&bin, &["--help"]);
        assert!(
            top.contains("\nExit codes:"),
            "`{name} --help` has no exit codes:\n{top}"
        );
        let subs = subcommands(&top);
        assert!(subs.len() >= 7, "`{name} --help` lists {subs:?}");
        for sub in subs {
            let origin = format!("{name} {sub}");
            let text = help_text(&bin, &[&sub, "--help"]);
            assert!(
                text.lines().any(|l| l.starts_with("Exit codes")),
                "`{origin} --help` does not say its exit codes:\n{text}"
            );
            let found = examples(&text, &origin);
            assert!(!found.is_empty(), "`{origin} --help` has no example");
            all.extend(found);
        }
    }
    all
}

#[test]
fn every_help_example_runs_as_written() {
    let mut all = all_examples();
    assert!(
        all.len() >= MIN_EXAMPLES,
        "only {} examples found (expected at least {MIN_EXAMPLES}): {all:#?}",
        all.len()
    );
    assert!(
        all.iter().any(|e| e.expect != 0),
        "no example promises an exit code"
    );
    // Stable: within a phase, the order the helps print them in.
    all.sort_by_key(phase);

    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().canonicalize().unwrap();
    let server = TestServer::start(Config {
        // carol's v1beta1 example needs a 1.19–1.21 cluster, which serves both versions.
        legacy: true,
        ..Config::default()
    })
    .unwrap();
    let kubeconfig = prepare(&scratch, &server);

    for e in &all {
        let cmd = localize(&e.line, &scratch);
        let r = bash(&scratch, &cmd, Some(&kubeconfig));
        assert_eq!(
            r.code, e.expect,
            "the example of `{} --help` exited {} instead of {}:\n  {}\nran as:\n  {cmd}\nstdout:\n{}\nstderr:\n{}",
            e.help, r.code, e.expect, e.line, r.stdout, r.stderr
        );
        assert!(
            !format!("{}{}", r.stdout, r.stderr).contains("PRIVATE KEY"),
            "{} printed key material",
            e.line
        );
    }

    // The examples did what their comments say, where the files went is where the
    // substitutions sent them.
    let read = |rel: &str| {
        std::fs::read_to_string(scratch.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    };
    for user in ["alice", "bob", "carol", "dana-chg1234", "erin", "heidi"] {
        assert!(read(&format!("media/{user}.crt")).contains("BEGIN CERTIFICATE"));
    }
    let approved = server
        .csr("dana-chg1234")
        .expect("dana's request on the server");
    assert!(
        approved.to_string().contains("CHG1234"),
        "the approval reason did not reach the server: {approved}"
    );
    assert!(read("alice.kubeconfig").contains("client-key-data"));
    // Entry names come from the pin `kcsr cluster add prod` made.
    assert!(read("home/.kube/config").contains("current-context: alice@prod"));
    assert!(read("kubeconfigs/bob.kubeconfig").contains("client-certificate-data"));
    assert!(read("next-media/SHA256SUMS").contains("alice"));
    assert!(read("etc/bash_completion.d/kcsr").contains("kcsr"));
    assert!(read("etc/bash_completion.d/kcsr-submit").contains("kcsr-submit"));
    assert!(read("zsh/site-functions/_kcsr").contains("#compdef kcsr"));
    assert!(read("usr/local/share/man/man1/kcsr.1").contains(".TH"));
    assert!(read("usr/local/share/man/man1/kcsr-submit.1").contains(".TH"));
    assert_no_key_material(&scratch.join("media"), &scratch.join("keys"));
}

#[test]
fn examples_are_parsed_as_documented() {
    let help = "Usage: x\n\nExamples:\n  # Make one\n  kcsr request --user a\n\n  # Fails here (exit 3)\n  kcsr verify --at x\n  openssl req -new | kcsr inspect -\n\nExit codes: 0 ok\n  kcsr not-an-example\n";
    let found = examples(help, "kcsr x");
    let lines: Vec<_> = found.iter().map(|e| (e.line.as_str(), e.expect)).collect();
    assert_eq!(
        lines,
        [
            ("kcsr request --user a", 0),
            ("kcsr verify --at x", 3),
            ("openssl req -new | kcsr inspect -", 0),
        ]
    );
    let scratch = Path::new("/tmp/s");
    assert_eq!(
        localize("kcsr-submit apply /media/usb --wait 1m", scratch),
        "kcsr-submit apply /tmp/s/media --wait 1m"
    );
    assert_eq!(
        localize("kcsr completions zsh > \"${fpath[1]}/_kcsr\"", scratch),
        "kcsr completions zsh > \"/tmp/s/zsh/site-functions/_kcsr\""
    );
    let escaped =
        std::panic::catch_unwind(|| localize("kcsr man > /usr/share/man/kcsr.1", scratch));
    assert!(
        escaped.is_err(),
        "a path outside the scratch directory was let through"
    );
}
