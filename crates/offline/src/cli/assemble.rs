//! The arguments of `kcsr assemble`.

use std::path::PathBuf;

use clap::Args;
use kcsr_core::expiry::Expiration;
use kcsr_core::station::ClusterName;

use super::common::OutputArgs;

pub(super) const ASSEMBLE_EXAMPLES: &str = "\
Examples:
  # One user's kubeconfig, ready to use, for a cluster pinned with kcsr cluster add
  kcsr assemble --media ./media --keys ./keys --name alice --out alice.kubeconfig

  # Add the user to an existing kubeconfig and switch to it
  kcsr assemble --media ./media --keys ./keys --name alice --merge-into ~/.kube/config --set-current

  # One kubeconfig per user on the media
  kcsr assemble --media ./media --keys ./keys --out-dir ./kubeconfigs

  # For a user who keeps their own key (kcsr request --csr): name the key file, next to the
  # kubeconfig on their machine, instead of embedding a key
  kcsr assemble --media ./media --keys ./keys --name ivan --out ivan.kubeconfig --key-path ivan.key

  # Every user's kubeconfig naming their key file ({user}: each user's name)
  kcsr assemble --media ./media --keys ./keys --out-dir ./for-users --key-path {user}.key

Everything comes from the key directory, never from the media: each bundle must match the
station's record of its request (key, user, groups, signer) and chain to the CA pinned for the
record's cluster; the kubeconfig's server, CA and entry names come from the pin. A bundle
whose CAs differ from the pin is refused.

First trip to a cluster that was never pinned (pin it with kcsr cluster add beforehand when
you can): the bundle's server and CA fingerprints are shown, and the cluster is pinned only
when you give every one of them, as the cluster's administrator read them to you (kubeadm's
--discovery-token-ca-cert-hash is the same form); on a terminal you are asked to type them:
  kcsr assemble --media ./media --keys ./keys --out-dir ./kubeconfigs --cluster prod
    --trust-cluster sha256:HEX --trust-cluster sha256:HEX
Only that out-of-band comparison protects the first trip: the media can be rewritten on the
way, and a forged bundle shows the attacker's fingerprints.

--merge-into never changes an existing cluster, user or context entry that differs, except a
user entry replaced by a renewal (a newer certificate for the same user and pinned cluster);
--force replaces them and lists what it replaced. current-context changes only with
--set-current. --out-dir names each kubeconfig after the request's first stem (alice.kubeconfig
also for a renewal alice-renew-YYYYMMDD), and replaces it when it holds an older certificate
of the same user and cluster (a renewal), saying so.

Keys: the kubeconfig holds the user's key, decrypted (kubectl cannot read encrypted keys; the
file is 0600 and must stay on this machine or go to the user by a safe way). --key-path PATH
writes client-key: PATH instead, for a key the user keeps themselves (their own CSR, kcsr
request --csr): kubectl reads that file where the kubeconfig is used, so it must be an
unencrypted PEM key there (a relative PATH is relative to the kubeconfig, as kubectl reads
it); a PATH that exists here is checked (the certificate's key, unencrypted PEM; an encrypted
key is refused). A request made from the user's own CSR without --key-path gets the
certificate alone, with a note on how to add the key.

A user whose key is not in KEY_DIR (moved, or a wrong --keys) does not stop the others: their
kubeconfigs are written, the missing keys named, exit 4.

Exit codes: 0 written, 1 failed, 3 refused: a certificate did not verify, a bundle differs from
the pin, a fingerprint did not match, or an entry would change (nothing written), or nothing to
assemble because the cluster denied every request; 4 written for the users whose key is in
KEY_DIR, the others named.";

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(false)))]
pub(crate) struct AssembleArgs {
    /// The media directory with the bundles kcsr-submit wrote
    #[arg(long, value_name = "MEDIA_DIR")]
    pub(crate) media: PathBuf,
    /// The key directory kcsr request wrote the keys, pins and request records to
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// Only these requests (file stem, object name or user; repeatable); default all bundles
    #[arg(long = "name", value_name = "NAME")]
    pub(crate) names: Vec<String>,
    /// Write one complete kubeconfig (0600) to this file
    #[arg(long, value_name = "FILE", group = "target")]
    pub(crate) out: Option<PathBuf>,
    /// Write one kubeconfig per user into this directory (<stem>.kubeconfig, 0600)
    #[arg(long, value_name = "DIR", group = "target")]
    pub(crate) out_dir: Option<PathBuf>,
    /// Add these entries to an existing kubeconfig, keeping everything else
    #[arg(long, value_name = "FILE", group = "target")]
    pub(crate) merge_into: Option<PathBuf>,
    /// Context name (default <user>@<cluster>; only with a single bundle)
    #[arg(long, value_name = "NAME")]
    pub(crate) context: Option<String>,
    /// With --merge-into, make the new context the current one
    #[arg(long)]
    pub(crate) set_current: bool,
    /// The pinned cluster for requests whose record names none (or --no-record), or the name
    /// of the pin --trust-cluster makes
    #[arg(long, value_name = "NAME")]
    pub(crate) cluster: Option<ClusterName>,
    /// Pin a cluster seen for the first time: a CA fingerprint (sha256:HEX) of the bundle's
    /// server or client CA, compared out of band (repeatable; every one is needed)
    #[arg(long = "trust-cluster", value_name = "sha256:HEX", value_parser = parse_ca_fingerprint)]
    pub(crate) trust_cluster: Vec<String>,
    /// Accept bundles of requests the station has no record of (made before kcsr kept
    /// records), checked against the media's own request instead, with a warning
    #[arg(long)]
    pub(crate) no_record: bool,
    /// Tolerated clock difference when checking validity
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub(crate) skew: Expiration,
    /// Read the passphrase of encrypted keys from this file
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Name the user's key file (client-key: PATH) instead of embedding the key; {user} in
    /// PATH becomes each user's name. kubectl needs an unencrypted PEM key at PATH
    #[arg(long, value_name = "PATH")]
    pub(crate) key_path: Option<String>,
    /// For a user whose key is in a PKCS#11 token: the loopback address kcsr-agent listens
    /// on, the server of the kubeconfig's agent cluster entry (127.0.0.1 or [::1] only)
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:16443", value_parser = parse_agent_address)]
    pub(crate) agent_address: std::net::SocketAddr,
    /// For a user whose key is in a PKCS#11 token: the file kcsr-agent reads the token's PIN
    /// from (pin-source in the kubeconfig); without it the agent asks for the PIN on start
    #[arg(long, value_name = "FILE")]
    pub(crate) pkcs11_pin_file: Option<PathBuf>,
    /// Replace an existing --out file or files in --out-dir; with --merge-into, replace
    /// existing entries that differ (each is listed)
    #[arg(long, short)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// `sha256:` + 64 hex digits, lowercased (a pasted fingerprint may be upper case).
/// kcsr-agent listens only where no other machine can reach it (decision 0012).
pub(super) fn parse_agent_address(s: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = s
        .parse()
        .map_err(|_| format!("{s:?} is not IP:PORT (e.g. 127.0.0.1:16443 or [::1]:16443)"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{} is not a loopback address: kcsr-agent listens only on 127.0.0.1 or [::1]",
            addr.ip()
        ));
    }
    Ok(addr)
}

pub(super) fn parse_ca_fingerprint(s: &str) -> Result<String, String> {
    let lower = s.trim().to_ascii_lowercase();
    if kcsr_core::station::is_ca_fingerprint(&lower) {
        Ok(lower)
    } else {
        Err(format!(
            "{s:?} is not a CA fingerprint: expected sha256: and 64 hex digits, as kcsr cluster add and kubeadm print"
        ))
    }
}
