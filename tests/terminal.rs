//! Terminal habits of both binaries: colour only on a terminal and never with `NO_COLOR`
//! (https://no-color.org), nothing but plain text in a pipe. Terminals are emulated with
//! util-linux `script`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::process::{Command, Stdio};

use kcsr_e2e::binary;

/// Runs `BIN ARGS` on a pseudo-terminal, with `NO_COLOR` set or not; returns its output.
fn on_terminal(bin: &str, args: &str, no_color: bool) -> String {
    let mut cmd = Command::new("script");
    cmd.args([
        "-qec",
        &format!("{} {args}", binary(bin).display()),
        "/dev/null",
    ])
    .stdin(Stdio::null())
    .env_remove("NO_COLOR")
    .env_remove("CLICOLOR_FORCE");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd.output().expect("util-linux script");
    assert!(out.status.success(), "{bin} {args}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    for bin in ["kcsr", "kcsr-submit"] {
        for args in ["--help", "--version"] {
            let plain = on_terminal(bin, args, true);
            assert!(
                !plain.contains('\u{1b}'),
                "{bin} {args} with NO_COLOR: {plain:?}"
            );
            assert!(plain.contains(bin), "{plain}");
        }
        // The help's headings are styled on a terminal: the switch above is a real one.
        let styled = on_terminal(bin, "--help", false);
        assert!(
            styled.contains('\u{1b}'),
            "{bin} --help on a terminal: {styled:?}"
        );
        let piped = Command::new(binary(bin)).arg("--help").output().unwrap();
        assert!(!piped.stdout.contains(&0x1b), "{bin} --help in a pipe");
    }
}
