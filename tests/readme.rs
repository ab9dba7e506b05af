//! The README's quick start runs as written (with the workspace's debug binaries standing in
//! for `target/release`), so the first thing a reader tries cannot drift.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::path::Path;
use std::process::{Command, Stdio};

use kcsr_e2e::binary;

#[test]
fn readme_quick_start_runs_as_written() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let section = &readme[readme
        .find("## Quick start")
        .expect("a Quick start section")..];
    let block = section
        .split("```console")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    // "$ " lines, with "\" continuations joined; comments and the build step dropped.
    let mut commands: Vec<String> = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        let line = line.trim_end();
        let part = if pending.is_empty() {
            match line.strip_prefix("$ ") {
                Some(c) => c,
                None => continue,
            }
        } else {
            line.trim_start()
        };
        if let Some(cont) = part.strip_suffix('\\') {
            pending.push_str(cont);
            continue;
        }
        pending.push_str(part);
        let cmd = pending.split(" # ").next().unwrap().trim().to_owned();
        pending.clear();
        if !cmd.starts_with("cargo build") {
            commands.push(cmd);
        }
    }
    assert!(
        commands.iter().any(|c| c.contains("kcsr-submit"))
            && commands.iter().any(|c| c.contains("assemble"))
    );

    let bin_dir = binary("kcsr").parent().unwrap().to_owned();
    for b in ["kcsr-submit", "kcsr-testapi"] {
        binary(b);
    }
    let mut script =
        String::from("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n");
    for c in &commands {
        let c = c.replace("target/release/", &format!("{}/", bin_dir.display()));
        script.push_str(&format!("echo '>>> {}'\n{c}\n", c.replace('\'', "")));
        if c.trim_end().ends_with('&') {
            // The stand-in cluster: wait until it has written its kubeconfig.
            script.push_str("for i in $(seq 100); do [ -s cluster/admin.kubeconfig ] && break; sleep 0.1; done\n");
        }
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("home")).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(t.path())
        .env("HOME", t.path().join("home"))
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the README quick start failed:\n{text}"
    );
    assert!(
        text.contains("Username") && text.contains("alice"),
        "kubectl auth whoami did not show alice:\n{text}"
    );
}
