//! `kcsr-testapi serve --dir DIR [--port N] [--legacy] [--user NAME[:GROUP,...]]...`
//! Creates (or reuses) the CAs under DIR, writes `DIR/admin.kubeconfig`, `DIR/NAME.kubeconfig`
//! per user and `DIR/client-ca.crt`, prints the URL and serves until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kcsr_testapi::{Config, TestServer, UserSpec};

#[derive(Parser)]
#[command(
    name = "kcsr-testapi",
    version,
    about = "A test API server for certificates.k8s.io"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve on 127.0.0.1 until interrupted.
    Serve {
        /// Directory for the CAs and kubeconfigs (reused across restarts).
        #[arg(long)]
        dir: PathBuf,
        /// Port (0 = ephemeral).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Behave like a 1.19–1.21 cluster (serve certificates.k8s.io/v1beta1).
        #[arg(long)]
        legacy: bool,
        /// A client-certificate user NAME[:GROUP,...] (may create and read CSRs).
        #[arg(long = "user", value_name = "NAME[:GROUP,...]")]
        users: Vec<UserSpec>,
        /// Maximum certificate duration in seconds (--cluster-signing-duration).
        #[arg(long, default_value_t = 365 * 24 * 3600)]
        max_duration_seconds: u64,
        /// Run the CSR cleaner every N seconds.
        #[arg(long, default_value_t = 3600)]
        gc_interval_seconds: u64,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Cmd::Serve {
        dir,
        port,
        legacy,
        users,
        max_duration_seconds,
        gc_interval_seconds,
    } = cli.cmd;
    let names: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
    let server = TestServer::start(Config {
        dir: Some(dir),
        port,
        legacy,
        users,
        max_duration: Duration::from_secs(max_duration_seconds),
        gc_interval: Some(Duration::from_secs(gc_interval_seconds.max(1))),
        ..Config::default()
    })?;
    println!("{}", server.url());
    eprintln!("admin kubeconfig: {}", server.admin_kubeconfig().display());
    for n in names {
        eprintln!(
            "kubeconfig for {n}: {}",
            server.kubeconfig_for(&n).display()
        );
    }
    eprintln!(
        "client CA: {}",
        server.dir().join("client-ca.crt").display()
    );
    eprintln!("serving until interrupted (Ctrl-C)");
    // Serve until the process is interrupted.
    for _ in 0..u64::MAX {
        std::thread::sleep(Duration::from_secs(3600));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            eprintln!("hint: check that --dir is writable and the port is free");
            ExitCode::FAILURE
        }
    }
}
