//! `kcsr-submit`: the connected side of kcsr.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use kcsr_core::exit::Exit;
use kcsr_submit::client::{Client, ClientError, ClientOptions};
use kcsr_submit::commands::{
    self, ApplyOptions, ApproveOptions, DenyOptions, Fatal, FetchOptions, Globals, JsonArgs,
    Session,
};
use kcsr_submit::duration::parse_duration;
use kcsr_submit::kubeconfig::{KubeconfigError, KubeconfigSource};
use kcsr_submit::media::MediaError;
use kcsr_submit::ops::ClusterInfo;
use kcsr_submit::tls::TlsSetupError;
use kcsr_submit::{sanitize, whoami};

const EXIT_CODES: &str = "Exit codes:\n  0  success\n  1  failed (I/O, network, permissions, bad media or allowed_signers; nothing sent when the\n     media is bad)\n  2  usage error (also: --approve without a terminal and without --yes)\n  3  refused: media not signed by a trusted station, expired, for another cluster, against\n     the station's policy, with a binding its request does not ask for or to a role the\n     cluster does not have; a request Denied or Failed, a certificate that does not verify,\n     a conflicting or swapped object\n  4  not complete yet: not approved, approved but not issued, or a granted binding does not\n     exist (the approver creates it with kcsr-submit approve MEDIA_DIR)\nWhen requests end differently, 3 wins over 1, and 1 over 4; successes are kept.";

/// Create, approve, wait for and bring back Kubernetes client certificates.
#[derive(Debug, Parser)]
#[command(name = "kcsr-submit", version = kcsr_core::version_line(), propagate_version = true, after_help = EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// No progress on stderr (results and errors are still printed). Without a terminal on
    /// stderr there is no progress bar anyway: one line per request instead.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    /// The stations to trust (OpenSSH allowed_signers: `PRINCIPAL namespaces="kcsr-media"
    /// ssh-ed25519 AAAA…`, as kcsr station show prints it); media not signed by one is refused.
    /// Default: KCSR_ALLOWED_SIGNERS, else $XDG_CONFIG_HOME/kcsr/allowed_signers
    /// (~/.config/kcsr/allowed_signers) if it exists.
    #[arg(long, global = true, value_name = "FILE")]
    allowed_signers: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Like kubectl's, accepted before or after the subcommand.
#[derive(Debug, Args)]
struct ConnectionArgs {
    /// Kubeconfig file (only this file); default: KUBECONFIG, else ~/.kube/config.
    #[arg(long, global = true, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Context to use instead of the kubeconfig's current-context.
    #[arg(long, global = true, value_name = "NAME")]
    context: Option<String>,
    /// Timeout of each API call, and how long one watch is kept open before it is renewed
    /// (e.g. 30s, 2m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// INSECURE: do not verify the API server's certificate (as kubectl's flag; drops the
    /// kubeconfig's CA). Anyone on the network path can then impersonate the server and take
    /// the credentials; a warning is printed on every use.
    #[arg(long, global = true)]
    insecure_skip_tls_verify: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the media's requests (and bindings), optionally approve, wait, verify and write
    /// the certificates back onto the media
    #[command(after_help = APPLY_HELP)]
    Apply {
        /// The media directory kcsr request wrote.
        #[arg(value_name = "MEDIA_DIR")]
        media: PathBuf,
        #[command(flatten)]
        opts: ApplyOptions,
    },
    /// Approve the media's requests (or the named ones) after a review: for the approver when
    /// the submitter may not approve
    #[command(after_help = APPROVE_HELP)]
    Approve {
        /// One MEDIA_DIR, or object names.
        #[arg(value_name = "MEDIA_DIR|NAME", required = true)]
        targets: Vec<String>,
        #[command(flatten)]
        opts: ApproveOptions,
    },
    /// Deny the media's requests (or the named ones), like kubectl certificate deny
    #[command(after_help = DENY_HELP)]
    Deny {
        /// One MEDIA_DIR, or object names.
        #[arg(value_name = "MEDIA_DIR|NAME", required = true)]
        targets: Vec<String>,
        #[command(flatten)]
        opts: DenyOptions,
    },
    /// Show the media's requests (or the named ones) like kubectl get csr
    #[command(after_help = STATUS_HELP)]
    Status {
        /// One MEDIA_DIR, or object names.
        #[arg(value_name = "MEDIA_DIR|NAME", required = true)]
        targets: Vec<String>,
        #[command(flatten)]
        json: JsonArgs,
    },
    /// Verify and write the certificates issued since an earlier apply (e.g. after another
    /// operator approved)
    #[command(after_help = FETCH_HELP)]
    Fetch {
        /// The media directory.
        #[arg(value_name = "MEDIA_DIR")]
        media: PathBuf,
        #[command(flatten)]
        opts: FetchOptions,
    },
    /// Show who the API server takes the kubeconfig's credentials for
    #[command(
        after_help = "Examples:\n  kcsr-submit whoami\n  kcsr-submit whoami --context prod --json\n\nExit codes:\n  0  shown\n  1  failed (kubeconfig, network, credentials refused)\n  2  usage error"
    )]
    Whoami {
        #[command(flatten)]
        json: JsonArgs,
    },
    /// Print shell completions for bash, zsh, fish, elvish or powershell
    #[command(
        after_help = "Examples:\n  kcsr-submit completions bash > /etc/bash_completion.d/kcsr-submit\n\nExit codes:\n  0  printed\n  1  failed (stdout not writable)\n  2  usage error (an unknown shell)"
    )]
    Completions {
        /// The shell
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    #[command(
        after_help = "Examples:\n  kcsr-submit man > /usr/local/share/man/man1/kcsr-submit.1\n\nExit codes:\n  0  printed\n  1  failed (stdout not writable)\n  2  usage error"
    )]
    Man,
}

const APPLY_HELP: &str = concat!(
    "Examples:\n",
    "  # Create the requests; an approver approves (kcsr-submit approve); fetch later\n",
    "  kcsr-submit apply /media/usb\n",
    "  kcsr-submit fetch /media/usb --wait 10m\n\n",
    "  # Create, approve (--yes: without asking), wait for and write back the certificates\n",
    "  kcsr-submit apply /media/usb --approve --yes --wait 5m --client-ca client-ca.crt\n\n",
    "  # Let the server check everything and change nothing\n",
    "  kcsr-submit apply /media/usb --dry-run\n\n",
    "  # Write-once or one-way media: read the requests, write the results to another stick\n",
    "  kcsr-submit apply /media/cdrom --out /media/return --approve --yes --wait 5m\n\n",
    "The media is verified against SHA256SUMS and its signature first; nothing is sent if\n",
    "anything is wrong, a request is past its kcsr.dev/not-after, or the context's CA is not\n",
    "the cluster the requests were made for. The stations to trust are the allowed_signers\n",
    "lines kcsr station show prints, in --allowed-signers FILE, KCSR_ALLOWED_SIGNERS or\n",
    "~/.config/kcsr/allowed_signers; with none, unsigned media is sent with a warning.\n",
    "Bindings are created only after the approval, and only as the request's grants ask; a\n",
    "grant to a role the cluster does not have is refused before anything is created. The\n",
    "media's offboarding requests are shown, and carried out after the approval.\n",
    "A trip is complete (exit 0) when every certificate is back and every granted binding\n",
    "exists; otherwise the output says who must run which command.\n",
    "Results are recorded in RETURNED.SHA256SUMS; SHA256SUMS stays the station's.\n",
    "Re-running resumes: existing identical objects are reused, written certificates re-verified.\n\n",
    "Exit codes:\n  0  success (without --wait: created/approved; run fetch later)\n  1  failed (I/O, network, permissions, bad media)\n  2  usage error (also: --approve without a terminal and without --yes)\n",
    "  3  refused: media not signed by a trusted station, expired, for another cluster or\n     against the station's policy, a binding that is not the request's grant or to a\n     role the cluster does not have, Denied, Failed, a certificate that does not verify,\n     a conflicting object\n  4  not complete yet: not approved, approved but not issued, or a granted binding\n     missing (kcsr-submit approve MEDIA_DIR by the approver creates it)\n",
    "When requests end differently, 3 wins over 1, and 1 over 4; successes are kept."
);

const APPROVE_HELP: &str = concat!(
    "Examples:\n",
    "  # Approve one request by name, recording the change ticket\n",
    "  kcsr-submit approve dana-chg1234 --yes --reason CHG1234 --message 'approved by ops (CHG-1234)'\n\n",
    "  # Show each request of the media for review and approve them (without --yes, on a\n",
    "  # terminal: answer approve, deny or skip for each request after its review)\n",
    "  kcsr-submit approve /media/usb --yes\n\n",
    "  # By name when the station's signers are configured: --unsigned\n",
    "  kcsr-submit approve dana-chg1234 --unsigned --yes\n\n",
    "For MEDIA_DIR, the server's objects must be the media's requests (same key, signer, usages,\n",
    "lifetime), and the media signed by a trusted station; the requests' bindings are created\n",
    "after the approval, by these credentials (also for requests approved earlier whose\n",
    "bindings are missing: approve MEDIA_DIR is the one command that finishes them), and the\n",
    "media's offboarding requests are carried out. What is approved is exactly the object\n",
    "reviewed: if it changes in between, nothing is approved. A Denied request is never\n",
    "approved. Approving a request you created yourself draws a warning (four eyes).\n\n",
    "Exit codes:\n  0  approved (or already approved), bindings created\n  1  failed (network, permissions: the approver needs `approve` on signers); or everything\n     skipped\n  2  usage error (also: no terminal and no --yes)\n",
    "  3  refused: a request is Denied, the object differs from the media or changed after the\n     review, the media is not signed by a trusted station, expired, for another cluster,\n     against the station's policy, or grants a role the cluster does not have\n",
    "  4  approved, but a granted binding could not be created (403: someone who may create\n     bindings runs kcsr-submit approve MEDIA_DIR)\n"
);

const DENY_HELP: &str = concat!(
    "Examples:\n",
    "  # Deny a request, with the reason and a message for the record (MEDIA_DIR: all of its\n",
    "  # requests); one approved already, as dana's is here, cannot be denied (exit 3)\n",
    "  kcsr-submit deny dana-chg1234 --reason NotOnTheRoster --message 'dana has left (CHG-1240)'\n\n",
    "A denial is final: the request is never approved, and the next kcsr-submit fetch MEDIA_DIR\n",
    "writes <stem>.denied.yaml for the isolated side. An approved request cannot be denied.\n\n",
    "Exit codes:\n  0  denied (or already denied)\n  1  failed (network, permissions: denying needs the approver's rights; not on the server)\n  2  usage error\n",
    "  3  refused: the request is approved already, or the object differs from the media\n"
);

const STATUS_HELP: &str = concat!(
    "Examples:\n",
    "  kcsr-submit status /media/usb\n",
    "  kcsr-submit status dana-chg1234 -o json\n\n",
    "Exit codes:\n  0  shown\n  1  failed (a request is not on the server, network, permissions)\n  2  usage error\n"
);

const FETCH_HELP: &str = concat!(
    "Examples:\n",
    "  kcsr-submit fetch /media/usb\n",
    "  kcsr-submit fetch /media/usb --wait 10m --client-ca client-ca.crt --json\n",
    "  kcsr-submit fetch /media/cdrom --out /media/return --wait 10m\n\n",
    "Certificates are written as <stem>.crt and <stem>.bundle.yaml, denials and failures as\n",
    "<stem>.denied.yaml, and recorded in RETURNED.SHA256SUMS. The bundle records the granted\n",
    "bindings as the cluster holds them; fetch again after the approver created them.\n\n",
    "Exit codes:\n  0  every certificate verified and on the media, every granted binding on the cluster\n  1  failed (I/O, network, bad media, request not on the server)\n  2  usage error\n",
    "  3  refused: media not signed by a trusted station or for another cluster, Denied, Failed\n     (written back as <stem>.denied.yaml), or a certificate that does not verify (nothing\n     written for it)\n",
    "  4  not complete yet: not approved, approved but not issued, or a granted binding missing\n     or not readable with these credentials (the approver runs kcsr-submit approve MEDIA_DIR)\n"
);

fn connect(args: &ConnectionArgs) -> anyhow::Result<Session> {
    let source = KubeconfigSource::from_env(args.kubeconfig.as_deref())?;
    let mut context = source.load()?.resolve(args.context.as_deref())?;
    if args.insecure_skip_tls_verify {
        // As kubectl: the flag overrides the kubeconfig and its CA is no longer used.
        context.cluster.insecure_skip_tls_verify = true;
        context.cluster.ca = None;
    }
    let options = ClientOptions {
        timeout: args.request_timeout,
        ..ClientOptions::default()
    };
    let client = Client::new(&context, options).with_context(|| {
        format!(
            "cannot set up the connection for context {:?} (cluster {:?}, user {:?})",
            context.context_name, context.cluster_name, context.user_name
        )
    })?;
    let cluster = ClusterInfo {
        name: context.cluster_name.clone(),
        server: context.cluster.server.clone(),
        ca_pem: context
            .cluster
            .ca
            .as_ref()
            .map(|ca| String::from_utf8_lossy(&ca.pem).into_owned()),
        tls_server_name: context.cluster.tls_server_name.clone(),
    };
    Ok(Session { client, cluster })
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    let Cli {
        connection,
        quiet,
        allowed_signers,
        command,
    } = cli;
    let globals = Globals {
        quiet,
        allowed_signers,
    };
    let connect = || connect(&connection);
    match command {
        Command::Apply { media, mut opts } => {
            opts.globals = globals;
            commands::apply(&media, &opts, &connect)
        }
        Command::Approve { targets, mut opts } => {
            opts.globals = globals;
            commands::approve(&targets, &opts, &connect)
        }
        Command::Deny { targets, opts } => commands::deny(&targets, &opts, &connect),
        Command::Status { targets, json } => commands::status(&targets, json.on(), &connect),
        Command::Fetch { media, mut opts } => {
            opts.globals = globals;
            commands::fetch(&media, &opts, &connect)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "kcsr-submit", &mut out);
            write_stdout(&out)?;
            Ok(Exit::Success)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out)?;
            write_stdout(&out)?;
            Ok(Exit::Success)
        }
        Command::Whoami { json } => show_whoami(&connect()?.client, json.on()),
    }
}

/// `kcsr-submit whoami`.
fn show_whoami(client: &Client, json: bool) -> anyhow::Result<Exit> {
    let user = whoami::whoami(client)?;
    let out = if json {
        let mut value = serde_json::to_value(&user)?;
        value["cluster"] = client.cluster_name().into();
        value["server"] = client.server().into();
        format!(
            "{}\n",
            kcsr_core::terminal::json_safe(&serde_json::to_string_pretty(&value)?)
        )
    } else {
        whoami::render_text(&user)
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Success),
        other => {
            other?;
            Ok(Exit::Success)
        }
    }
}

fn hint(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<Fatal>() {
            e.hint.clone()
        } else if let Some(e) = cause.downcast_ref::<MediaError>() {
            e.hint.clone()
        } else if let Some(e) = cause.downcast_ref::<ClientError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<KubeconfigError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<TlsSetupError>() {
            e.hint()
        } else {
            None
        }
    })
}

/// Writes data to stdout; a closed pipe ends quietly.
fn write_stdout(data: &[u8]) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(data) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    // First of all: no core file may ever hold cluster credentials.
    if let Err(e) = kcsr_fs::disable_core_dumps() {
        eprintln!("warning: cannot disable core dumps: {e}");
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            let code = err
                .chain()
                .find_map(|c| c.downcast_ref::<Fatal>().map(|f| f.code))
                .unwrap_or(Exit::Failed);
            // Server text inside is sanitised where it is rendered; this catches the rest.
            eprintln!("error: {}", sanitize::for_terminal(&format!("{err:#}")));
            if let Some(hint) = hint(&err) {
                eprintln!("hint: {}", sanitize::for_terminal(&hint));
            }
            ExitCode::from(code.code())
        }
    }
}

#[cfg(test)]
#[path = "main/tests.rs"]
mod tests;
