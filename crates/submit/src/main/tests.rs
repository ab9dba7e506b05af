use clap::CommandFactory as _;

use super::*;

#[test]
fn verify_cli() {
    Cli::command().debug_assert();
}

#[test]
fn global_args_before_or_after_the_subcommand() {
    for argv in [
        [
            "kcsr-submit",
            "--kubeconfig",
            "k",
            "--context",
            "c",
            "whoami",
        ],
        [
            "kcsr-submit",
            "whoami",
            "--kubeconfig",
            "k",
            "--context",
            "c",
        ],
    ] {
        let cli = Cli::try_parse_from(argv).unwrap();
        assert_eq!(cli.connection.kubeconfig, Some(PathBuf::from("k")));
        assert_eq!(cli.connection.context.as_deref(), Some("c"));
    }
    for argv in [
        ["kcsr-submit", "--allowed-signers", "s", "apply", "m"],
        ["kcsr-submit", "apply", "m", "--allowed-signers", "s"],
    ] {
        let cli = Cli::try_parse_from(argv).unwrap();
        assert_eq!(cli.allowed_signers, Some(PathBuf::from("s")));
    }
    let cli = Cli::try_parse_from(["kcsr-submit", "approve", "n", "--unsigned"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Approve {
            opts: ApproveOptions { unsigned: true, .. },
            ..
        }
    ));
}

#[test]
fn command_contract() {
    let cli = Cli::try_parse_from([
        "kcsr-submit",
        "apply",
        "m",
        "--approve",
        "--yes",
        "--reason",
        "R",
        "--message",
        "M",
        "--wait",
        "5m",
        "--parallel",
        "8",
        "--client-ca",
        "ca.crt",
        "--json",
    ])
    .unwrap();
    let Command::Apply {
        opts:
            ApplyOptions {
                approve,
                yes,
                wait,
                parallel,
                json,
                ..
            },
        ..
    } = cli.command
    else {
        panic!("not apply");
    };
    assert!(approve && yes && json.on());
    assert_eq!((wait, parallel), (Some(Duration::from_secs(300)), 8));
    // --yes, --reason and --message belong to --approve; --dry-run excludes --wait.
    assert!(Cli::try_parse_from(["kcsr-submit", "apply", "m", "--yes"]).is_err());
    assert!(
        Cli::try_parse_from(["kcsr-submit", "apply", "m", "--dry-run", "--wait", "1m"]).is_err()
    );
    assert!(Cli::try_parse_from(["kcsr-submit", "apply", "m", "--parallel", "0"]).is_err());
    for argv in [
        &["kcsr-submit", "status", "a", "b", "-o", "json"][..],
        &["kcsr-submit", "status", "m", "--json"],
        &[
            "kcsr-submit",
            "approve",
            "a",
            "b",
            "--yes",
            "--reason",
            "R",
            "--json",
        ],
        &[
            "kcsr-submit",
            "fetch",
            "m",
            "--wait",
            "1h",
            "--client-ca",
            "c",
            "--json",
        ],
    ] {
        Cli::try_parse_from(argv).unwrap();
    }
    assert!(Cli::try_parse_from(["kcsr-submit", "status", "m", "-o", "yaml"]).is_err());
    assert!(Cli::try_parse_from(["kcsr-submit", "approve"]).is_err());
}

#[test]
fn kubectl_habits() {
    // kubectl's habits: -o json everywhere --json is, and the TLS override flag.
    for argv in [
        &["kcsr-submit", "apply", "m", "-o", "json"][..],
        &["kcsr-submit", "approve", "a", "--yes", "-o", "json"],
        &["kcsr-submit", "fetch", "m", "--output", "json"],
        &["kcsr-submit", "whoami", "-o", "json"],
    ] {
        let cli = Cli::try_parse_from(argv).unwrap();
        let (Command::Apply {
            opts: ApplyOptions { json, .. },
            ..
        }
        | Command::Approve {
            opts: ApproveOptions { json, .. },
            ..
        }
        | Command::Fetch {
            opts: FetchOptions { json, .. },
            ..
        }
        | Command::Whoami { json }) = cli.command
        else {
            panic!("{argv:?}")
        };
        assert!(json.on(), "{argv:?}");
    }
    let cli = Cli::try_parse_from(["kcsr-submit", "whoami", "--insecure-skip-tls-verify"]).unwrap();
    assert!(cli.connection.insecure_skip_tls_verify);
}
