//! Command-line definitions. Values are parsed into kcsr-core types here, at the boundary: one
//! file per command family's arguments, the commands themselves here.

use clap::{Parser, Subcommand};

use assemble::ASSEMBLE_EXAMPLES;
pub(crate) use assemble::AssembleArgs;
use inspect::{CHECK_EXAMPLES, INSPECT_EXAMPLES, VERIFY_EXAMPLES};
pub(crate) use inspect::{CheckArgs, InspectArgs, VerifyArgs};
use records::{AUDIT_EXAMPLES, OFFBOARD_EXAMPLES, WITHDRAW_EXAMPLES};
pub(crate) use records::{AuditArgs, OffboardArgs, WithdrawArgs};
use request::{BATCH_EXAMPLES, RENEW_EXAMPLES, REQUEST_EXAMPLES};
pub(crate) use request::{BatchArgs, RenewArgs, RequestArgs};
use station::{CLUSTER_EXAMPLES, KEY_EXAMPLES, POLICY_EXAMPLES, STATION_EXAMPLES};
pub(crate) use station::{
    ClusterAddArgs, ClusterCommand, ClusterListArgs, ClusterRemoveArgs, KeyCommand, KeyRetireArgs,
    PolicyCommand, StationCommand, StationRotateArgs, StationShowArgs,
};

mod assemble;
mod common;
mod inspect;
mod records;
mod request;
mod station;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failed (bad input, unreadable file, I/O error)
  2  usage error
  3  refused: a check or verification did not hold
  4  incomplete: done for some, the rest named (kcsr assemble: a user's key is not in KEY_DIR)";

/// Kubernetes client certificates across an air gap: the offline side.
///
/// Generates keys and CSRs, checks them against what the cluster will accept, and writes
/// CertificateSigningRequest manifests onto removable media. Private keys stay in the key
/// directory and never reach the media.
#[derive(Debug, Parser)]
#[command(name = "kcsr", version = kcsr_core::version_line(), after_help = EXIT_CODES, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Generate a key and CSR for a user and write the CSR manifest onto the media
    #[command(after_help = REQUEST_EXAMPLES)]
    Request(Box<RequestArgs>),
    /// Show what a CSR, CSR manifest, certificate, key or binding holds, and check it
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect(InspectArgs),
    /// Check that an issued certificate matches its key or request
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Request certificates for every user of a roster (CSV or YAML), in parallel
    #[command(after_help = BATCH_EXAMPLES)]
    Batch(BatchArgs),
    /// Verify the certificates brought back on the media and write a kubeconfig
    #[command(after_help = ASSEMBLE_EXAMPLES)]
    Assemble(AssembleArgs),
    /// Request new certificates for those that expire soon
    #[command(after_help = RENEW_EXAMPLES)]
    Renew(RenewArgs),
    /// Pin the clusters requests are for: server, server CA and signer CAs
    #[command(after_help = CLUSTER_EXAMPLES, subcommand)]
    Cluster(ClusterCommand),
    /// Show or rotate the station's signing key, which signs SHA256SUMS on the media
    #[command(after_help = STATION_EXAMPLES, subcommand)]
    Station(StationCommand),
    /// Retire the user keys whose certificates have all expired
    #[command(after_help = KEY_EXAMPLES, subcommand)]
    Key(KeyCommand),
    /// Audit a media directory before it leaves: sums, signature, every request, results
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Take a mistaken request off the media (sums and signature updated, record withdrawn)
    #[command(after_help = WITHDRAW_EXAMPLES)]
    Withdraw(WithdrawArgs),
    /// Every request the station wrote: ticket, grants, operator, state, approver, serial,
    /// validity (for an auditor)
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),
    /// Write a signed request to remove a user's bindings, and stop renewing the user
    #[command(after_help = OFFBOARD_EXAMPLES)]
    Offboard(OffboardArgs),
    /// Show the site's policy for requests (KEY_DIR/station/policy.yaml)
    #[command(after_help = POLICY_EXAMPLES, subcommand)]
    Policy(PolicyCommand),
    /// Print shell completions for bash, zsh, fish, elvish or powershell
    #[command(
        after_help = "Examples:\n  kcsr completions bash > /etc/bash_completion.d/kcsr\n  kcsr completions zsh > \"${fpath[1]}/_kcsr\"\n\nExit codes: 0 printed, 1 failed (stdout not writable), 2 usage (an unknown shell)."
    )]
    Completions {
        /// The shell
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    #[command(
        after_help = "Examples:\n  kcsr man > /usr/local/share/man/man1/kcsr.1\n\nExit codes: 0 printed, 1 failed (stdout not writable), 2 usage."
    )]
    Man,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
