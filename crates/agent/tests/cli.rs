//! kcsr-agent's refusals before it listens, as an operator meets them: each names the file and
//! the fix, exits non-zero, and starts nothing. (Also the reason `cargo test --workspace`
//! builds the kcsr-agent binary that tests/agent.rs runs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::os::unix::fs::PermissionsExt as _;

use kcsr_testkit::Run;

/// kcsr-agent in the test kit's clean environment (no developer HOME, KUBECONFIG or proxy).
fn agent(args: &[&str]) -> Run {
    kcsr_testkit::run(
        env!("CARGO_BIN_EXE_kcsr-agent"),
        &std::env::temp_dir(),
        args,
    )
}

#[test]
fn every_refusal_before_listening_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.kubeconfig");
    let open = dir.path().join("open.kubeconfig");
    let empty = dir.path().join("empty.kubeconfig");
    for f in [&open, &empty] {
        std::fs::write(f, "apiVersion: v1\nkind: Config\n").unwrap();
    }
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cases = [
        (&missing, "cannot read the kubeconfig", "--kubeconfig FILE"),
        (&open, "has mode 0644", "chmod 600"),
        (
            &empty,
            "has no user with a kcsr.io/agent extension",
            "kcsr assemble",
        ),
    ];
    for (file, error, hint) in cases {
        let r = agent(&["--kubeconfig", file.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(error),
            "{}",
            r.stderr
        );
        assert!(
            lines[0].contains(&file.display().to_string()),
            "{}",
            r.stderr
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("hint: ") && l.contains(hint)),
            "{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}

#[test]
fn a_usage_error_exits_2_and_help_names_the_kubeconfig() {
    let r = agent(&["--bogus"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--kubeconfig <FILE>"), "{}", r.stderr);
    let r = agent(&["--help"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("--kubeconfig"), "{}", r.stdout);
}
