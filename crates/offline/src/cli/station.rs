//! The arguments of the commands on the station's own state: `kcsr cluster`, `kcsr station`,
//! `kcsr policy`, `kcsr key`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kcsr_core::signer::SignerName;
use kcsr_core::station::ClusterName;

use super::common::{OutputArgs, parse_time};

pub(super) const CLUSTER_EXAMPLES: &str = "\
Examples:
  # Pin the cluster of a kubeconfig's current context (its exec plugins and credentials are
  # never read or run) and the CA that signs client certificates
  kcsr cluster add prod --keys ./keys --from-kubeconfig admin.kubeconfig --client-ca client-ca.crt

  # Or give the server and its CA
  kcsr cluster add staging --keys ./keys --server https://staging.example:6443 --ca ca.crt

  kcsr cluster list --keys ./keys
  kcsr cluster remove staging --keys ./keys

Compare the printed sha256: fingerprints with the cluster's own, out of band (e.g. on a
control-plane node: openssl x509 -in /etc/kubernetes/pki/ca.crt -noout -pubkey | openssl pkey
-pubin -outform DER | sha256sum); only that comparison protects the first trip.
Exit codes: 0 done, 1 failed, 2 usage, 3 refused (a different pin exists; --force replaces it).";

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// Pin a cluster: its server, the CA of its server certificate, and signer CAs
    #[command(after_help = CLUSTER_EXAMPLES)]
    Add(ClusterAddArgs),
    /// List the pinned clusters with their CA fingerprints
    #[command(after_help = CLUSTER_EXAMPLES)]
    List(ClusterListArgs),
    /// Remove a pin (the records of requests made for it stay)
    #[command(after_help = CLUSTER_EXAMPLES)]
    Remove(ClusterRemoveArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(false).args(["server", "from_kubeconfig"])))]
pub(crate) struct ClusterAddArgs {
    /// The pin's name (names the kubeconfig entries kcsr assemble writes)
    #[arg(value_name = "NAME")]
    pub(crate) name: ClusterName,
    /// The key directory that holds the station
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// The API server URL (https://HOST[:PORT])
    #[arg(long, value_name = "URL", requires = "ca")]
    pub(crate) server: Option<String>,
    /// The CA (PEM bundle or DER) that signs the API server's certificate
    #[arg(long, value_name = "FILE", requires = "server")]
    pub(crate) ca: Option<PathBuf>,
    /// Take server, CA and tls-server-name from this kubeconfig (nothing else is read)
    #[arg(long, value_name = "FILE")]
    pub(crate) from_kubeconfig: Option<PathBuf>,
    /// With --from-kubeconfig, this context instead of the current one
    #[arg(long, value_name = "CONTEXT", requires = "from_kubeconfig")]
    pub(crate) context: Option<String>,
    /// The CA that signs client certificates (pinned for the client and kubelet-client signers)
    #[arg(long, value_name = "FILE")]
    pub(crate) client_ca: Option<PathBuf>,
    /// The CA of another signer (repeatable)
    #[arg(long = "signer-ca", value_name = "SIGNER=FILE", value_parser = parse_signer_ca)]
    pub(crate) signer_cas: Vec<(SignerName, PathBuf)>,
    /// The name the server's certificate holds, when it is not the URL's host
    #[arg(long, value_name = "NAME")]
    pub(crate) tls_server_name: Option<String>,
    /// Replace an existing pin of that name
    #[arg(long, short)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ClusterListArgs {
    /// The key directory that holds the station
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ClusterRemoveArgs {
    /// The pin to remove
    #[arg(value_name = "NAME")]
    pub(crate) name: ClusterName,
    /// The key directory that holds the station
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

pub(super) fn parse_signer_ca(s: &str) -> Result<(SignerName, PathBuf), String> {
    let (signer, file) = s
        .split_once('=')
        .filter(|(_, f)| !f.is_empty())
        .ok_or_else(|| {
            format!("{s:?} is not SIGNER=FILE, e.g. example.com/my-signer=signer-ca.crt")
        })?;
    let signer: SignerName = signer
        .parse()
        .map_err(|e: kcsr_core::signer::SignerError| e.to_string())?;
    Ok((signer, PathBuf::from(file)))
}

pub(super) const STATION_EXAMPLES: &str = "\
Examples:
  # The allowed_signers line to add once to the connected machine's allowed_signers file
  kcsr station show --keys ./keys --principal vault-room-1

  kcsr station show --keys ./keys --json

  # A new key (on schedule, or after a backup of the key directory went missing): the old
  # line gets valid-before=now; carry both printed lines to the connected machine
  kcsr station rotate --keys ./keys --principal vault-room-1

kcsr request, batch and renew make the key on first use (KEY_DIR/station/signing-key.pem,
0600; encrypted when they are given a passphrase). Backups of KEY_DIR copy it: protect them
like the user keys. Revoke a key by removing its line from allowed_signers.
Exit codes: 0 shown or rotated, 1 failed (no key yet for show, I/O error), 2 usage.";

#[derive(Debug, Subcommand)]
pub(crate) enum StationCommand {
    /// Print the signing key's fingerprint and its allowed_signers line
    #[command(after_help = STATION_EXAMPLES)]
    Show(StationShowArgs),
    /// Make a new signing key; the old one is kept in station/retired.pub
    #[command(after_help = STATION_EXAMPLES)]
    Rotate(StationRotateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StationShowArgs {
    /// The key directory that holds the station
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// The principal of the allowed_signers line (default: this machine's host name)
    #[arg(long, value_name = "NAME")]
    pub(crate) principal: Option<String>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

#[derive(Debug, Args)]
pub(crate) struct StationRotateArgs {
    /// The key directory that holds the station
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// The principal of the allowed_signers lines (default: this machine's host name)
    #[arg(long, value_name = "NAME")]
    pub(crate) principal: Option<String>,
    /// Encrypt the new key with the passphrase in this file (first line)
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

pub(super) const POLICY_EXAMPLES: &str = "\
Examples:
  kcsr policy show --keys ./keys

The policy is KEY_DIR/station/policy.yaml, written by whoever keeps the station:
  apiVersion: kcsr.dev/v1
  kind: StationPolicy
  maxLifetime: 90d
  allowedRoles: [view, edit, \"Role/*\"]
  forbiddenRoles: [\"system:*\"]
  ticketRequiredFor: [cluster-admin]
  allowedGroups: [dev, \"team-*\"]
  refuseSystemNames: true
kcsr request, batch and renew refuse a request that breaks it (exit 3) and copy it onto the
media as station-policy.yaml for the approver's review.
Exit codes: 0 shown (also: no policy), 1 failed (the policy does not parse), 2 usage.";

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Print the station's policy
    #[command(after_help = POLICY_EXAMPLES)]
    Show(PolicyShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PolicyShowArgs {
    /// The key directory that holds the station
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

pub(super) const KEY_EXAMPLES: &str = "\
Examples:
  # What would go: keys whose certificates (shown as kubeconfigs, bundles or .crt files) have
  # all expired
  kcsr key retire --keys ./keys kubeconfigs/ media/ --dry-run

  kcsr key retire --keys ./keys kubeconfigs/

A key is removed only when every request the station made for it ended without a certificate
(withdrawn, denied) or has a certificate among those shown, issued after the request was
written, and all of those have expired. Only a certificate shown to be the station's counts (it
names the recorded user and groups and chains to the pinned CA of its signer); one that is not
is reported and never counts. Its records are marked retired (with the time) first, so renew
never asks for it again. Encrypted keys need --passphrase-file to be read.
Exit codes: 0 done (also when nothing was retired), 1 failed, 2 usage, 3 a certificate shown is
not the station's (the other keys were judged without it).";

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Remove the keys whose certificates have all expired; mark their records retired
    #[command(after_help = KEY_EXAMPLES)]
    Retire(KeyRetireArgs),
}

#[derive(Debug, Args)]
pub(crate) struct KeyRetireArgs {
    /// The key directory
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// The certificates the users hold: kubeconfigs, bundles, .crt files, or directories of them
    #[arg(value_name = "PATH")]
    pub(crate) from: Vec<PathBuf>,
    /// Judge expiry at this time (RFC 3339) instead of now
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) at: Option<i64>,
    /// Read encrypted keys with the passphrase in this file
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Say what would be retired; change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}
