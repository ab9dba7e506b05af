//! The options of each command. clap parses them in `main` (each flag's help is its doc
//! comment here); the global flags ([`Globals`]) are filled in after.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parallel::DEFAULT_PARALLEL;
use crate::duration::parse_duration;

/// `--json`, or kubectl's `-o json`.
#[derive(Debug, Clone, Default, Args)]
pub struct JsonArgs {
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Output format: json (the same as --json; kubectl's -o json).
    #[arg(short = 'o', long = "output", value_name = "FORMAT", value_parser = ["json"])]
    pub output: Option<String>,
}

impl JsonArgs {
    /// Whether JSON was asked for, either way.
    pub fn on(&self) -> bool {
        self.json || self.output.is_some()
    }
}

/// The global flags a command reads: parsed by `main` before or after any subcommand, and
/// handed to the command in its options.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `--quiet`: no progress on stderr.
    pub quiet: bool,
    /// `--allowed-signers`: the stations to trust.
    pub allowed_signers: Option<PathBuf>,
}

/// Options of `apply`.
#[derive(Debug, Clone, Default, Args)]
pub struct ApplyOptions {
    /// Approve the requests after a review (needs `approve` on the signer).
    #[arg(long)]
    pub approve: bool,
    /// Approve without asking.
    #[arg(long, short = 'y', requires = "approve")]
    pub yes: bool,
    /// Reason of the Approved condition [default: KcsrApprove].
    #[arg(long, value_name = "R", requires = "approve")]
    pub reason: Option<String>,
    /// Message of the Approved condition [default: Approved by <user> with kcsr-submit].
    #[arg(long, value_name = "M", requires = "approve")]
    pub message: Option<String>,
    /// Wait this long for the certificates (e.g. 5m), then verify and write them.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,
    /// Ask the server to check everything (?dryRun=All); create, approve and write nothing.
    #[arg(long, conflicts_with = "wait")]
    pub dry_run: bool,
    /// How many requests to work on at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// PEM of the CA that signs client certificates: issued certificates must chain to it,
    /// and it goes into the bundle.
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// Write the certificates, bundles, denials and RETURNED.SHA256SUMS to DIR (made if
    /// missing) instead of onto the media, which is then only read (write-once or
    /// read-only media, a data diode); give the same DIR to fetch, and DIR to kcsr assemble.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonArgs,
    /// The global flags, filled in by `main`.
    #[arg(skip)]
    pub globals: Globals,
}

/// Options of `approve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ApproveOptions {
    /// Approve without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Reason of the Approved condition [default: KcsrApprove].
    #[arg(long, value_name = "R")]
    pub reason: Option<String>,
    /// Message of the Approved condition [default: Approved by <user> with kcsr-submit].
    #[arg(long, value_name = "M")]
    pub message: Option<String>,
    /// Approve objects given by NAME although allowed signers are configured: no station
    /// signature covers them, only your own review.
    #[arg(long)]
    pub unsigned: bool,
    /// The return directory apply/fetch --out wrote the media's results to: read (never
    /// written) to see what came back already, as results on the media are.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonArgs,
    /// The global flags, filled in by `main`.
    #[arg(skip)]
    pub globals: Globals,
}

/// Options of `deny`.
#[derive(Debug, Clone, Default, Args)]
pub struct DenyOptions {
    /// Reason of the Denied condition [default: KcsrDeny].
    #[arg(long, value_name = "R")]
    pub reason: Option<String>,
    /// Message of the Denied condition [default: Denied by <user> with kcsr-submit].
    #[arg(long, value_name = "M")]
    pub message: Option<String>,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Options of `fetch`.
#[derive(Debug, Clone, Default, Args)]
pub struct FetchOptions {
    /// Wait this long for certificates not issued yet.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,
    /// PEM of the CA that signs client certificates (chain check, and into the bundle).
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// Write the results to DIR (made if missing) instead of onto the media, which is then
    /// only read; results already in DIR are verified again, never written twice.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonArgs,
    /// The global flags, filled in by `main`.
    #[arg(skip)]
    pub globals: Globals,
}
