//! The kit's own checks: an assertion that passes where it should also fails where it should.

use std::path::Path;
use std::time::Duration;

use crate::{Background, Refusal, Run, command, run, wait_within};

fn refusal(code: i32, stderr: &str) -> Run {
    Run {
        code,
        stdout: String::new(),
        stderr: stderr.to_owned(),
    }
}

fn fails(f: impl FnOnce() + std::panic::UnwindSafe) -> bool {
    std::panic::catch_unwind(f).is_err()
}

#[test]
fn the_environment_has_no_home_kubeconfig_or_xdg_of_the_developer() {
    let mut cmd = command("env");
    cmd.env("LEFT", "as set");
    let r = crate::finish(cmd.spawn().unwrap(), "env").expect(0);
    let vars: Vec<&str> = r.stdout.lines().collect();
    assert!(
        vars.contains(&"HOME=/nonexistent/kcsr-test-home"),
        "{vars:?}"
    );
    assert!(vars.contains(&"LEFT=as set"), "{vars:?}");
    for gone in [
        "KUBECONFIG=",
        "XDG_CONFIG_HOME=",
        "KCSR_ALLOWED_SIGNERS=",
        "HTTPS_PROXY=",
    ] {
        assert!(
            !vars.iter().any(|v| v.starts_with(gone)),
            "{gone} in {vars:?}"
        );
    }
}

#[test]
fn a_run_that_hangs_is_killed() {
    let child = command("sleep").arg("30").spawn().unwrap();
    assert!(wait_within(child, Duration::from_millis(200)).is_err());
    let r = run(
        "sh",
        Path::new("/"),
        &["-c", "echo out; echo err >&2; exit 3"],
    );
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (3, "out\n", "err\n")
    );
}

#[test]
fn stderr_lines_are_wanted_in_order_each_within_a_line() {
    let r = refusal(2, "error: one\n  two\nhint: three\n");
    r.stderr_lines(&["one", "two", "hint: three"]);
    assert!(fails(|| r.stderr_lines(&["two", "one"])));
    assert!(fails(|| r.stderr_lines(&["one\n  two"])));
}

#[test]
fn stderr_has_and_stdout_has_look_at_their_own_stream() {
    let r = Run {
        code: 0,
        stdout: "data line\n".into(),
        stderr: "warning: careful\n".into(),
    };
    r.stderr_has("careful").stdout_has("data");
    assert!(fails(|| {
        r.stderr_has("data");
    }));
    assert!(fails(|| {
        r.stdout_has("careful");
    }));
}

#[test]
fn a_refusal_checks_code_error_line_lines_and_no_panic() {
    let case = Refusal {
        argv: &["x"],
        code: 2,
        stderr: &["bad value"],
    };
    case.check(|_| refusal(2, "error: bad value\n"));
    assert!(fails(|| {
        case.check(|_| refusal(1, "error: bad value\n"));
    }));
    assert!(fails(|| {
        case.check(|_| refusal(2, "bad value\n"));
    }));
    assert!(fails(|| {
        case.check(|_| refusal(2, "error: other\n"));
    }));
    assert!(fails(|| {
        case.check(|_| refusal(2, "error: bad value\nthread 'main' panicked at x\n"));
    }));
}

#[test]
fn says_and_refused_want_the_path_the_words_and_a_hint() {
    let r = refusal(
        1,
        "error: media/x.yaml: field spec is wrong\nhint: fix it with --y\n",
    );
    r.refused("media/x.yaml", "FIELD SPEC");
    assert!(fails(
        || refusal(2, &r.stderr).refused("media/x.yaml", "field")
    ));
    assert!(fails(|| r.refused("other.yaml", "field")));
    let r = r.says("media/x.yaml", "is wrong", "--y");
    assert!(fails(move || {
        r.says("media/x.yaml", "is wrong", "--z");
    }));
    refusal(3, "error: a b\nhint: c\n").refused_with(3, &["a b", "c"]);
    assert!(fails(
        || refusal(3, "error: a b\n").refused_with(3, &["a b"])
    ));
}

#[test]
fn a_background_program_is_read_as_it_prints_and_killed_when_dropped() {
    let mut cmd = command("sh");
    cmd.args(["-c", "echo started >&2; echo data; sleep 60"]);
    let bg = Background::start(cmd, "sh");
    bg.wait_for_stderr("started");
    bg.wait_for_stdout("data");
    assert_eq!(
        (bg.stdout(), bg.stderr()),
        ("data\n".into(), "started\n".into())
    );
    let proc_dir = format!("/proc/{}", bg.id());
    assert!(Path::new(&proc_dir).exists());
    drop(bg);
    assert!(
        !Path::new(&proc_dir).exists(),
        "still running after the drop"
    );
}

#[test]
fn a_background_program_is_waited_for_its_first_line_or_its_end() {
    let mut cmd = command("sh");
    cmd.args(["-c", "echo first; echo second; sleep 60"]);
    let mut bg = Background::start(cmd, "sh");
    assert_eq!(bg.wait_for_line_or_end(), None);
    assert!(bg.stdout().starts_with("first\n"), "{}", bg.stdout());
    let mut cmd = command("sh");
    cmd.args(["-c", "printf 'no line'; exit 4"]);
    let mut bg = Background::start(cmd, "sh");
    let status = bg.wait_for_line_or_end().map(|s| s.code());
    assert_eq!(status, Some(Some(4)));
    // Once it has ended, all it printed has been read.
    assert_eq!(bg.stdout(), "no line");
    assert_eq!(bg.wait_within(Duration::from_secs(1)).code(), Some(4));
}
