//! The arguments of the commands on requests already written: `kcsr withdraw`,
//! `kcsr offboard`, `kcsr audit`.

use std::path::PathBuf;

use clap::Args;
use kcsr_core::expiry::Expiration;
use kcsr_core::names::UserName;

use super::common::{OutputArgs, WhoArgs, parse_valid_for};

pub(super) const WITHDRAW_EXAMPLES: &str = "\
Examples:
  # The cluster-admin request for ops was a mistake: off the media, before it leaves
  kcsr withdraw --user ops --keys ./keys --media ./media

  # One of several requests of a user, by file stem or object name; only show what would go
  kcsr withdraw --user dana --name dana-chg1234 --dry-run --keys ./keys --media ./media

Removes the request's manifest and binding, rewrites SHA256SUMS and signs it again with the
station's key, and marks the station's record withdrawn (with the time): renew and assemble
leave it alone. A request that already came back with a certificate is refused: withdrawing
it from the media would not undo that.
Exit codes: 0 withdrawn (or not on the media any more), 1 failed, 2 usage, 3 refused.";

#[derive(Debug, Args)]
pub(crate) struct WithdrawArgs {
    /// The user whose request goes
    #[arg(long, value_name = "NAME")]
    pub(crate) user: UserName,
    /// Which of the user's requests (file stem or object name), when the media holds several
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// The station's key directory (its record, its signing key)
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// The media directory
    #[arg(long, value_name = "MEDIA_DIR")]
    pub(crate) media: PathBuf,
    /// Passphrase file of an encrypted station key
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Say what would be withdrawn; change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

pub(super) const OFFBOARD_EXAMPLES: &str = "\
Examples:
  kcsr offboard --user alice --keys ./keys --media ./media --ticket CHG-2001

Writes <user>.offboard.yaml onto the media (listed in SHA256SUMS, so signed by the station):
on the connected machine, kcsr-submit apply shows every binding whose only subject is the
user and deletes them once approved, and reports group bindings that still reach the user
and how long the user's certificates stay valid (client certificates cannot be revoked).
The station marks the user's requests offboarded: kcsr renew refuses them.
Exit codes: 0 written, 1 failed, 2 usage.";

#[derive(Debug, Args)]
pub(crate) struct OffboardArgs {
    /// The user whose bindings go
    #[arg(long, value_name = "NAME")]
    pub(crate) user: UserName,
    /// The key directory that holds the station
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// Directory of the removable media (created if missing)
    #[arg(long, value_name = "MEDIA_DIR")]
    pub(crate) media: PathBuf,
    /// How long the connected side accepts the request
    #[arg(long, value_name = "DURATION", default_value = "14d", value_parser = parse_valid_for)]
    pub(crate) valid_for: Expiration,
    /// The passphrase of an encrypted station signing key (first line)
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) who: WhoArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

pub(super) const AUDIT_EXAMPLES: &str = "\
Examples:
  kcsr audit --keys ./keys
  kcsr audit --keys ./keys --csv > kcsr-audit.csv
  kcsr audit --keys ./keys --json

One row per request the station wrote, oldest first, from KEY_DIR/station/requests (never
from the media). CSV columns:
  name, user, groups, ticket, grants, operator, cluster, created, state, stateAt,
  approvedBy, approvedAt, submittedBy, serial, notBefore, notAfter, bindings, deniedReason,
  publicKeySha256
Lists are ';'-separated; bindings are GRANT=STATE[@BY]. approvedBy, serial, notBefore,
notAfter and bindings are filled once kcsr assemble verified the certificate (state
assembled); deniedReason for a request that came back denied or failed. Cells that a
spreadsheet would run as a formula are prefixed with '.
Exit codes: 0 printed, 1 failed (a damaged record, an unreadable key directory), 2 usage.";

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// The key directory that holds the station
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// Print CSV (a header row, one row per request) on stdout
    #[arg(long, conflicts_with = "json")]
    pub(crate) csv: bool,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}
