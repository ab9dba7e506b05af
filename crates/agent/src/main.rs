//! `kcsr-agent`: kubectl with a key that never leaves its PKCS#11 token (decision 0012). A
//! loopback proxy: kubectl talks to it over TLS (a certificate `kcsr assemble` made for the
//! loopback hop) with a bearer token only its kubeconfig holds; the agent forwards each checked request over TLS to the real API server, with the
//! user's certificate and signatures the token makes. It moves bytes; it does not speak the
//! Kubernetes API, and it links no key generation and no HTTP client library.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;

mod config;
mod fail;
mod http;
mod proxy;
mod signer;
mod upstream;

use fail::{Fail, Result};

/// Serves kubectl for the users of a kubeconfig that `kcsr assemble` wrote for keys in PKCS#11
/// tokens: listens on the loopback address the kubeconfig names, checks each request's bearer
/// token, and forwards it to the real API server over TLS signed by the token.
#[derive(Debug, clap::Parser)]
#[command(
    name = "kcsr-agent",
    version = kcsr_core::version_line(),
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Runs until stopped (Ctrl-C). Exit status 1 when the agent cannot start (the kubeconfig, the token, its PIN or the key is wrong; the message says which).\n\nThe PIN is read from the PKCS#11 URI's pin-source file, else asked once on the terminal without echo. Keep the agent running while kubectl uses the kubeconfig."
)]
struct Cli {
    /// The kubeconfig `kcsr assemble` wrote (mode 0600, owned by you).
    #[arg(long, value_name = "FILE", required = true)]
    kubeconfig: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print shell completions to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout.
    Man,
}

fn main() -> ExitCode {
    // No core file may ever hold a PIN.
    if let Err(e) = kcsr_fs::disable_core_dumps() {
        eprintln!("warning: cannot disable core dumps: {e}");
    }
    let cli = Cli::parse();
    let result = match (cli.command, cli.kubeconfig) {
        (Some(Command::Completions { shell }), _) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "kcsr-agent", &mut std::io::stdout());
            Ok(())
        }
        (Some(Command::Man), _) => clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
            .render(&mut std::io::stdout())
            .map_err(|e| Fail::new(format!("cannot render the man page: {e}"))),
        (None, Some(kubeconfig)) => serve(&kubeconfig),
        (None, None) => {
            Err(Fail::new("no --kubeconfig given").hint("kcsr-agent --kubeconfig FILE"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            if let Some(h) = &f.hint {
                eprintln!("hint: {h}");
            }
            ExitCode::FAILURE
        }
    }
}

fn serve(kubeconfig: &std::path::Path) -> Result<()> {
    let config = config::load(kubeconfig)?;
    let first = &config.users[0];
    let serving = upstream::serving(first)?;
    let mut users = Vec::new();
    let mut logins = kcsr_token::Logins::default();
    for user in config.users {
        users.push(upstream::prepare(user, &mut logins)?);
    }
    // Each prepared user keeps the PIN its own session needs to log in again; this extra copy
    // of every token's PIN is not needed past start-up.
    drop(logins);
    let listener = TcpListener::bind(config.address).map_err(|e| {
        Fail::new(format!("cannot listen on {}: {e}", config.address)).hint(
            "another program (or another kcsr-agent) uses the address: stop it, or write the kubeconfig again with kcsr assemble --agent-address 127.0.0.1:PORT",
        )
    })?;
    eprintln!(
        "kcsr-agent: serving {} user(s) on https://{} for {}",
        users.len(),
        config.address,
        kubeconfig.display()
    );
    let served = Arc::new(proxy::Served { serving, users });
    let unauthenticated = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for conn in listener.incoming() {
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors (EMFILE) fails every accept at once: wait instead
                // of spinning.
                proxy::say_refusal(&format!("kcsr-agent: cannot accept a connection: {e}"));
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let Some(waiting) = proxy::Unauthenticated::enter(&unauthenticated) else {
            proxy::say_refusal(&format!(
                "kcsr-agent: closed a connection: {} connections are already waiting to authenticate",
                proxy::MAX_UNAUTHENTICATED
            ));
            continue;
        };
        let served = served.clone();
        let spawned = std::thread::Builder::new()
            .name("kcsr-agent-conn".to_owned())
            .spawn(move || proxy::handle(&served, conn, waiting));
        if let Err(e) = spawned {
            eprintln!("kcsr-agent: cannot start a thread for a connection: {e}");
        }
    }
    Ok(())
}
