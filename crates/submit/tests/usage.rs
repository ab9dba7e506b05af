//! `kcsr-submit`'s usage errors and bad values as a table that reads like the manual: the
//! arguments, the exit code (2: clap refuses; 1: kcsr-submit finds the problem) and what stderr
//! says, naming the field, the value and the fix. None of them needs a server: each is refused
//! before any connection.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // tests

use kcsr_testkit::{Refusal, run};

const SUBMIT: &str = env!("CARGO_BIN_EXE_kcsr-submit");

const REFUSALS: &[Refusal<'_>] = &[
    Refusal {
        argv: &["frobnicate"],
        code: 2,
        stderr: &[
            "error: unrecognized subcommand 'frobnicate'",
            "Usage: kcsr-submit",
        ],
    },
    Refusal {
        argv: &["apply"],
        code: 2,
        stderr: &[
            "error: the following required arguments were not provided",
            "<MEDIA_DIR>",
            "Usage: kcsr-submit apply <MEDIA_DIR>",
        ],
    },
    Refusal {
        argv: &["approve"],
        code: 2,
        stderr: &[
            "error: the following required arguments were not provided",
            "<MEDIA_DIR|NAME>...",
        ],
    },
    Refusal {
        argv: &["apply", "media", "--wait", "10x"],
        code: 2,
        stderr: &[
            "error: invalid value '10x' for '--wait <DURATION>': \"10x\" is not a duration like 30s, 2m or 1h",
        ],
    },
    Refusal {
        argv: &["apply", "media", "--wait"],
        code: 2,
        stderr: &["error: a value is required for '--wait <DURATION>' but none was supplied"],
    },
    Refusal {
        argv: &["fetch", "media", "--out"],
        code: 2,
        stderr: &["error: a value is required for '--out <DIR>' but none was supplied"],
    },
    Refusal {
        argv: &["status", "media", "--output", "yaml"],
        code: 2,
        stderr: &[
            "error: invalid value 'yaml' for '--output <FORMAT>'",
            "[possible values: json]",
        ],
    },
    Refusal {
        argv: &["whoami", "--kubeconfig", "none.kubeconfig"],
        code: 1,
        stderr: &[
            "error: kubeconfig none.kubeconfig does not exist",
            "hint: check the path given to --kubeconfig",
        ],
    },
    Refusal {
        argv: &["apply", "nonexistent", "--kubeconfig", "/dev/null"],
        code: 1,
        stderr: &[
            "error: media directory nonexistent does not exist",
            "hint: pass the directory kcsr request wrote to",
        ],
    },
    Refusal {
        argv: &["apply", "media", "--kubeconfig", "/dev/null"],
        code: 1,
        stderr: &[
            "error: cannot read media/SHA256SUMS",
            "hint: the media must hold the SHA256SUMS that kcsr request wrote",
        ],
    },
];

#[test]
fn usage_errors_read_like_the_manual() {
    let t = tempfile::tempdir().unwrap();
    let media = t.path().join("media");
    std::fs::create_dir(&media).unwrap();
    for case in REFUSALS {
        case.check(|argv| run(SUBMIT, t.path(), argv));
        // Refused before anything was written.
        assert_eq!(
            std::fs::read_dir(&media).unwrap().count(),
            0,
            "{:?} wrote into the media",
            case.argv
        );
    }
}

#[test]
fn a_kubeconfig_without_the_clusters_ca_is_refused_with_the_fix_before_any_connection() {
    let t = tempfile::tempdir().unwrap();
    let kubeconfig = t.path().join("no-ca.kubeconfig");
    // Port 1 on loopback: nothing listens there, and nothing may be tried.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: ops\n  user:\n    token: abc\ncontexts:\n- name: prod\n  context: {cluster: prod, user: ops}\ncurrent-context: prod\n",
    )
    .unwrap();
    let r = run(
        SUBMIT,
        t.path(),
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "deny",
            "alice-0123456789",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.stderr_lines(&[
        "error: cannot set up the connection for context \"prod\" (cluster \"prod\", user \"ops\"): cluster \"prod\" has no certificate-authority or certificate-authority-data",
        "hint: add certificate-authority-data of the cluster's CA to the kubeconfig",
    ]);
}
