//! docs/operator-guide.md cannot drift: every console block that follows a
//! `<!-- run HOST: COMMAND -->` marker is produced by running COMMAND on that host (a
//! directory tree) against the test API server, with run-to-run noise (hashes, times, ports)
//! replaced by placeholders. `COMMAND > FILE` sends its standard output to FILE; `COMMAND &`
//! starts a server (kcsr-agent) in the background, shows its start line and stops it when the
//! guide ends. Section 9's SoftHSM2 token lives outside both hosts (`SOFTHSM2_CONF`, exported
//! for every command). The test fails when the file differs from what the commands print
//! today; `KCSR_BLESS=1 cargo test -p kcsr-e2e --test guide` rewrites it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use kcsr_e2e::{Host, binary, carry, host_command, run};
use kcsr_testapi::{Config, Rule, TestServer, UserSpec};
use kcsr_testkit::{Background, SAY_WITHIN, softhsm};

fn guide_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operator-guide.md")
}

/// Replaces what changes between runs: hex runs with digits (fingerprints, object-name
/// hashes, serials), RFC 3339 times, loopback ports.
fn normalize(text: &str, roots: &[(&Path, &str)]) -> String {
    let mut s = text.to_owned();
    for (root, name) in roots {
        s = s.replace(&root.display().to_string(), name);
    }
    s = renewal_days_and_durations(&s);
    // The AGE column of CSR tables (`0s`, `1s`): a whitespace-separated count of seconds.
    s = s
        .lines()
        .map(|line| {
            if let Some(rest) = line.strip_prefix("  age:") {
                // The review's age of the request, in seconds since the station wrote it.
                let tail = rest.trim_start().split_once(' ').map_or("", |(_, t)| t);
                format!("  age:         <age> {tail}")
            } else if line.contains("kubernetes.io/") {
                line.split(' ')
                    .map(|w| {
                        let digits = w.strip_suffix('s').is_some_and(|d| {
                            !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
                        });
                        if digits { "<age>" } else { w }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if s.ends_with('\n') { "\n" } else { "" };
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        // 2026-11-28T16:55:26Z
        if i + 20 <= chars.len() {
            let w: String = chars[i..i + 20].iter().collect();
            let b = w.as_bytes();
            let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
            if digits(0..4)
                && b[4] == b'-'
                && digits(5..7)
                && b[7] == b'-'
                && digits(8..10)
                && b[10] == b'T'
                && digits(11..13)
                && b[13] == b':'
                && digits(14..16)
                && b[16] == b':'
                && digits(17..19)
                && b[19] == b'Z'
            {
                out.push_str("<time>");
                i += 20;
                continue;
            }
        }
        // An OpenSSH key fingerprint (the station's signing key): SHA256: + 43 base64.
        if let Some(len) = ssh_fingerprint_len(&chars[i..]) {
            out.push_str("SHA256:<fingerprint>");
            i += len;
            continue;
        }
        // The station's OpenSSH public key, as in an allowed_signers line.
        let key: Vec<char> = "ssh-ed25519 AAAA".chars().collect();
        if chars[i..].starts_with(&key) {
            let start = i + "ssh-ed25519 ".len();
            let mut j = start;
            while j < chars.len()
                && (chars[j].is_ascii_alphanumeric() || matches!(chars[j], '+' | '/' | '='))
            {
                j += 1;
            }
            out.push_str("ssh-ed25519 <key>");
            i = j;
            continue;
        }
        if chars[i..].starts_with(&['1', '2', '7', '.', '0', '.', '0', '.', '1', ':']) {
            out.push_str("127.0.0.1:<port>");
            i += 10;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        let boundary = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if boundary {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || ('a'..='f').contains(&chars[j]))
            {
                j += 1;
            }
            let run = &chars[i..j];
            let end_ok = j == chars.len() || !chars[j].is_ascii_alphanumeric();
            // An object name's hash (`alice-<10 hex>`) may happen to hold no letter.
            let object_hash = run.len() == 10 && i > 0 && chars[i - 1] == '-';
            if end_ok
                && run.len() >= 8
                && run.iter().any(char::is_ascii_digit)
                && (object_hash || run.iter().any(|c| c.is_ascii_alphabetic()))
            {
                out.push_str(if run.len() == 64 { "<sha256>" } else { "<hex>" });
                i = j;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    realign_tables(&out)
}

/// Lines cut into cells at runs of two or more spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Aligns the columns of tables again (a header of capitals, then rows of as many cells):
/// placeholders are shorter than what they replace, and some (a serial's hex) vary in length
/// from run to run, which would shift the padding of every row.
fn realign_tables(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let header = cells(lines[i]);
        let is_header =
            header.len() >= 3 && lines[i].chars().all(|c| c.is_ascii_uppercase() || c == ' ');
        if !is_header {
            out.push(lines[i].to_owned());
            i += 1;
            continue;
        }
        // The header's narrowest gap is the table's column separator.
        let gap = lines[i]
            .split(|c| c != ' ')
            .map(str::len)
            .filter(|n| *n >= 2)
            .min()
            .unwrap_or(2);
        let mut rows = vec![header];
        let mut j = i + 1;
        while j < lines.len() && cells(lines[j]).len() == rows[0].len() {
            rows.push(cells(lines[j]));
            j += 1;
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for row in &rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if c + 1 < row.len() {
                    let pad = widths[c] - cell.chars().count() + gap;
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push(line);
        }
        i = j;
    }
    out.join("\n")
}

/// Splits a marker's command into words as a shell would: at whitespace, with `'…'` keeping
/// spaces (a `--message 'alice has left'`).
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(!quoted, "an unclosed ' in {command:?}");
    words.extend(word);
    words
}

/// The length of `SHA256:` + 43 unpadded base64 characters at the start of `c`, if there.
fn ssh_fingerprint_len(c: &[char]) -> Option<usize> {
    let prefix: Vec<char> = "SHA256:".chars().collect();
    let b64 = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/');
    (c.starts_with(&prefix)
        && c.len() >= prefix.len() + 43
        && c[prefix.len()..prefix.len() + 43].iter().all(b64)
        && c.get(prefix.len() + 43).is_none_or(|n| !b64(n)))
    .then_some(prefix.len() + 43)
}

/// The user PIN of section 9's token, in the offline host's `token.pin`.
const TOKEN_PIN: &str = "4711-guide";

struct Session {
    offline: Host,
    connected: Host,
    kcsr: PathBuf,
    submit: PathBuf,
    agent: PathBuf,
    /// Section 9's token: its configuration, outside both hosts.
    softhsm2_conf: PathBuf,
    /// Processes started with `COMMAND &`, stopped when the session ends (dropped).
    background: RefCell<Vec<Background>>,
    _server: TestServer,
    _tmp: tempfile::TempDir,
}

impl Session {
    fn exec(&self, host: &str, command: &str) -> String {
        if let Some(rest) = command.strip_prefix("carry ") {
            let (from, to) = rest.split_once(" to ").expect("carry FROM to TO");
            let (fh, fp) = from.split_once(':').unwrap();
            let (th, tp) = to.split_once(':').unwrap();
            carry(&self.host(fh).path(fp), &self.host(th).path(tp));
            return String::new();
        }
        let (host, sub) = host.split_once('/').unwrap_or((host, ""));
        let h = self.host(host);
        let cwd = h.root.join(sub);
        let words = shell_words(command);
        let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
        // `COMMAND &`: started in the background (a server, such as kcsr-agent); the console
        // shows its first line, and it is stopped when the guide ends.
        let background = words.last() == Some(&"&");
        if background {
            words.pop();
        }
        // `COMMAND > FILE`: its standard output goes to FILE (directories made), the console
        // shows the rest.
        let mut script = "exec \"$0\" \"$@\" 2>&1".to_owned();
        if let [.., ">", file] = words.as_slice() {
            let file = cwd.join(file);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            script = format!("exec \"$0\" \"$@\" 2>&1 >'{}'", file.display());
            words.truncate(words.len() - 2);
        }
        let (program, args) = words.split_first().unwrap();
        let program = match *program {
            "kcsr" => self.kcsr.clone(),
            "kcsr-submit" => self.submit.clone(),
            "kcsr-agent" => self.agent.clone(),
            other => PathBuf::from(other),
        };
        // Every command sees section 9's token, as an operator's shell with SOFTHSM2_CONF
        // exported would.
        let script = format!(
            "SOFTHSM2_CONF='{}'; export SOFTHSM2_CONF; {script}",
            self.softhsm2_conf.display()
        );
        // Through a shell so that stdout and stderr interleave as on a terminal.
        let mut full: Vec<&str> = vec!["-c", &script, program.to_str().unwrap()];
        full.extend_from_slice(args);
        let text = if background {
            self.start(&full, &cwd, &h.home())
        } else {
            let r = run(Path::new("/bin/sh"), &full, &cwd, &h.home());
            let mut text = r.stdout;
            text.push_str(&r.stderr);
            if r.code != 0 {
                text.push_str(&format!("(exit code {})\n", r.code));
            }
            text
        };
        normalize(
            &text,
            &[(&self.offline.root, "~"), (&self.connected.root, "~")],
        )
    }

    /// Starts `/bin/sh args` in the background with the environment `run` gives, and returns
    /// its first line of output (a server's start line), or everything it printed and its exit
    /// code if it ended first.
    fn start(&self, args: &[&str], cwd: &Path, home: &Path) -> String {
        let mut bg = Background::start(
            host_command(Path::new("/bin/sh"), args, cwd, home),
            &format!("{args:?}"),
        );
        let mut ended = bg.wait_for_line_or_end();
        let printed = bg.stdout();
        let mut lines = printed.lines();
        let mut text = String::new();
        match lines.next() {
            // A start refused (`error: …`, `hint: …`) is shown whole, with its exit code.
            Some(first) if first.starts_with("error: ") => {
                let status = ended.get_or_insert_with(|| bg.wait_within(SAY_WITHIN));
                for l in bg.stdout().lines() {
                    text.push_str(l);
                    text.push('\n');
                }
                text.push_str(&format!("(exit code {})\n", status.code().unwrap_or(-1)));
            }
            Some(first) => {
                text.push_str(first);
                text.push('\n');
            }
            None => {
                let status = ended.expect("no line printed, so it ended");
                text.push_str(&format!("(exit code {})\n", status.code().unwrap_or(-1)));
            }
        }
        self.background.borrow_mut().push(bg);
        text
    }

    fn host(&self, name: &str) -> &Host {
        match name {
            "offline" => &self.offline,
            "connected" => &self.connected,
            other => panic!("unknown host {other:?} in the guide"),
        }
    }
}

#[test]
fn operator_guide_shows_real_output() {
    let tmp = tempfile::tempdir().unwrap();
    let offline = Host::new(tmp.path(), "offline");
    let connected = Host::new(tmp.path(), "connected");
    let server = TestServer::start(Config {
        users: vec![UserSpec {
            name: "submitter".into(),
            groups: vec!["operators".into()],
        }],
        ..Config::default()
    })
    .unwrap();
    // The submitter may read bindings (to confirm its trip), nothing more on RBAC.
    server.grant(
        Rule::user("submitter")
            .api_groups(&["rbac.authorization.k8s.io"])
            .verbs(&["get"])
            .resources(&["clusterrolebindings", "rolebindings"]),
    );
    std::fs::copy(
        server.admin_kubeconfig(),
        connected.path("approver.kubeconfig"),
    )
    .unwrap();
    std::fs::copy(
        server.kubeconfig_for("submitter"),
        connected.path("submitter.kubeconfig"),
    )
    .unwrap();
    std::fs::write(connected.path("client-ca.crt"), server.client_ca_pem()).unwrap();
    // What the offline operator is given out of band: the cluster's kubeconfig without any
    // credential, and its client CA.
    let mut cluster: serde_json::Value = kcsr_core::yaml::parse_one(
        &std::fs::read(server.admin_kubeconfig()).unwrap(),
        kcsr_core::yaml::Snippets::Hide,
    )
    .unwrap();
    cluster.as_object_mut().unwrap().remove("users");
    std::fs::write(
        offline.path("cluster.kubeconfig"),
        kcsr_core::yaml::to_string(&cluster).unwrap(),
    )
    .unwrap();
    std::fs::write(offline.path("client-ca.crt"), server.client_ca_pem()).unwrap();
    // Section 9's token, its store and configuration outside both hosts.
    let softhsm2_conf = softhsm::token(tmp.path(), "kcsr", "4711-so", TOKEN_PIN);
    softhsm::pin_file(&offline.path("token.pin"), TOKEN_PIN);
    // Section 9's kcsr-agent listens on the default address, as at a site.
    assert!(
        std::net::TcpListener::bind("127.0.0.1:16443").is_ok(),
        "127.0.0.1:16443 is in use: section 9 of the guide starts kcsr-agent there; stop what listens on it"
    );
    let session = Session {
        offline,
        connected,
        kcsr: binary("kcsr"),
        submit: binary("kcsr-submit"),
        agent: binary("kcsr-agent"),
        softhsm2_conf,
        background: RefCell::new(Vec::new()),
        _server: server,
        _tmp: tmp,
    };

    let original = std::fs::read_to_string(guide_path()).unwrap();
    let mut out = String::new();
    let mut lines = original.lines().peekable();
    let mut ran = 0;
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        let Some(marker) = line
            .trim()
            .strip_prefix("<!-- run ")
            .and_then(|m| m.strip_suffix("-->"))
        else {
            continue;
        };
        let (host, command) = marker
            .trim()
            .split_once(": ")
            .expect("<!-- run HOST: COMMAND -->");
        let output = session.exec(host, command);
        ran += 1;
        if command.starts_with("carry ") {
            continue;
        }
        // Replace the console block that follows the marker.
        assert_eq!(
            lines.peek().map(|l| l.trim()),
            Some("```console"),
            "a console block must follow {marker}"
        );
        for l in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
        }
        out.push_str("```console\n$ ");
        out.push_str(command);
        out.push('\n');
        out.push_str(&output);
        if !output.is_empty() && !output.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("```\n");
    }
    assert!(ran > 0, "no <!-- run --> markers in the guide");
    if std::env::var_os("KCSR_BLESS").is_some() {
        std::fs::write(guide_path(), &out).unwrap();
        return;
    }
    if out != original {
        let diff: Vec<String> = out
            .lines()
            .zip(original.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(10)
            .map(|(n, (a, b))| format!("line {}:\n  now:  {a}\n  file: {b}", n + 1))
            .collect();
        panic!(
            "docs/operator-guide.md no longer matches what the commands print:\n{}\nrun `KCSR_BLESS=1 cargo test -p kcsr-e2e --test guide` and review the diff",
            diff.join("\n")
        );
    }
}

#[test]
fn shell_words_keeps_quoted_spaces() {
    assert_eq!(
        shell_words("deny media --message 'alice has left' --reason X ''"),
        [
            "deny",
            "media",
            "--message",
            "alice has left",
            "--reason",
            "X",
            ""
        ]
    );
}

/// The day in a renewal's stem (`bob-renew-20261129`) and a time left (`in 29d23h55m`):
/// both change with the day and the second the guide runs.
fn renewal_days_and_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let day = rest.find("-renew-").map(|i| (i, "-renew-"));
        let left = rest.find(" in ").map(|i| (i, " in "));
        let Some((i, tag)) = [day, left].into_iter().flatten().min_by_key(|(i, _)| *i) else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..i + tag.len()]);
        rest = &rest[i + tag.len()..];
        if tag == "-renew-" {
            if rest.len() >= 8 && rest.as_bytes()[..8].iter().all(u8::is_ascii_digit) {
                out.push_str("<day>");
                rest = &rest[8..];
            }
        } else {
            // 29d23h55m, 5h3m, 40m: digits and unit letters, at least one unit.
            let n = rest
                .find(|c: char| !(c.is_ascii_digit() || matches!(c, 'd' | 'h' | 'm' | 's')))
                .unwrap_or(rest.len());
            let w = &rest[..n];
            if n > 1
                && w.starts_with(|c: char| c.is_ascii_digit())
                && w.ends_with(['d', 'h', 'm', 's'])
            {
                out.push_str("<duration>");
                rest = &rest[n..];
            }
        }
    }
}

#[test]
fn renewal_days_and_durations_are_placeholders() {
    assert_eq!(
        renewal_days_and_durations(
            "bob-renew-20261129-3f9a (expires x, in 29d23h55m): in the stick"
        ),
        "bob-renew-<day>-3f9a (expires x, in <duration>): in the stick"
    );
    assert_eq!(
        normalize("bob-renew-20261129-4983990712 written", &[]),
        "bob-renew-<day>-<hex> written"
    );
}

#[test]
fn normalize_replaces_noise_only() {
    let text = "alice-3f9a2c1d0e at 2026-11-28T16:55:26Z on https://127.0.0.1:43121 digital signature added\nsha256 6ed3fadad2dc6525db8d0e129002ca5aa4a643407a24df0f4804b72a883fe67a";
    assert_eq!(
        normalize(text, &[]),
        "alice-<hex> at <time> on https://127.0.0.1:<port> digital signature added\nsha256 <sha256>"
    );
}

#[test]
fn tables_are_aligned_again_after_placeholders() {
    let text = "NAME   SERIAL        STATE\nalice  <hex>  ok\ncarol  -             denied\nafter  the table";
    assert_eq!(
        realign_tables(text),
        "NAME    SERIAL   STATE\nalice   <hex>    ok\ncarol   -        denied\nafter  the table"
    );
}
