//! `kcsr`: the offline side of kcsr. See `kcsr --help` and docs/operator-guide.md.

use std::process::ExitCode;

use clap::Parser as _;

mod certs;
mod cli;
mod cmd;
mod fail;
mod kubeconfig;
mod media_dir;
mod media_file;
mod passphrase;
mod paths;
mod plan;
mod policy;
mod report;
mod roster;
mod secret_file;
mod signing;
mod station;
mod station_policy;
mod user_key;
mod vouch;

fn main() -> ExitCode {
    // First of all: no core file may ever hold a key or a passphrase.
    if let Err(e) = kcsr_fs::disable_core_dumps() {
        report::say(&format!("warning: cannot disable core dumps: {e}"));
    }
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Request(args) => cmd::request::run(*args),
        cli::Command::Inspect(args) => cmd::inspect::run(args),
        cli::Command::Verify(args) => cmd::verify::run(args),
        cli::Command::Assemble(args) => cmd::assemble::run(args),
        cli::Command::Batch(args) => cmd::batch::run(args),
        cli::Command::Renew(args) => cmd::renew::run(args),
        cli::Command::Cluster(command) => cmd::cluster::run(command),
        cli::Command::Station(command) => cmd::station::run(command),
        cli::Command::Key(command) => cmd::key::run(command),
        cli::Command::Check(args) => cmd::check::run(args),
        cli::Command::Withdraw(args) => cmd::withdraw::run(args),
        cli::Command::Audit(args) => cmd::audit::run(args),
        cli::Command::Offboard(args) => cmd::offboard::run(args),
        cli::Command::Policy(command) => cmd::policy::run(command),
        cli::Command::Completions { shell } => {
            let mut cmd = <cli::Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "kcsr", &mut out);
            report::data(&String::from_utf8_lossy(&out))
        }
        cli::Command::Man => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(<cli::Cli as clap::CommandFactory>::command())
                .render(&mut out)
            {
                Ok(()) => report::data(&String::from_utf8_lossy(&out)),
                Err(e) => Err(fail::Fail::new(format!("cannot render the man page: {e}"))),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => {
            report::say(&format!("error: {}", fail.message));
            if let Some(hint) = &fail.hint {
                report::say(&format!("hint: {hint}"));
            }
            ExitCode::from(fail.exit.code())
        }
    }
}
