//! Command-line definitions. Values are parsed into kcsr-core types here, at the boundary.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use kcsr_core::expiry::Expiration;
use kcsr_core::key::KeyType;
use kcsr_core::manifest::{ApiVersion, Operator, Ticket};
use kcsr_core::names::{GroupName, ObjectName, UserName};
use kcsr_core::signer::SignerName;
use kcsr_core::station::ClusterName;
use kcsr_core::usage::Usage;

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

const BATCH_EXAMPLES: &str = "\
Roster formats:
  CSV, a header row naming the columns; only user is required:
    user,groups,key_type,signer,expiration,clusterrole,role,namespace,ticket
    alice,dev;ops,p256,client,30d,,,,
    bob,dev,rsa2048,,90d,view;team-a/edit,team-b/deployer,,CHG-1234
  YAML, with defaults for every user:
    defaults: {groups: [dev], key_type: p256, expiration: 30d, ticket: CHG-1234}
    users:
      - user: alice
      - {user: bob, key_type: rsa2048, clusterrole: [view, team-a/edit], role: team-b/deployer}

Columns: user; groups (';'-separated); key_type (p256, p384, ed25519, rsa2048, rsa3072,
rsa4096); signer; expiration; clusterrole and role (';'-separated, each ROLE or NS/ROLE);
namespace (for the roles given without NS/: a ClusterRole becomes a RoleBinding there, a
Role needs one); ticket (else --ticket); passphrase_file (with --encrypt-key); pkcs11 (the
user's key in a PKCS#11 token: an RFC 7512 URI as for kcsr request --pkcs11, one object per
user, or --pkcs11 URI naming only the token: each user's key is the object labelled with
their stem; those keys are made one at a time, and no key file is written). Every grant is
one binding, named after the request (NAME, NAME-2, ...; ClusterRoles first, then Roles), all
in one <stem>.binding.yaml.

Examples:
  kcsr batch --roster team.csv --keys ./keys --media ./media
  kcsr batch --roster team.yaml --keys ./keys --media ./media --jobs 4 --json
  # The per-user plan for a second person to check, nothing written
  kcsr batch --roster team.csv --keys ./keys --media ./media --dry-run

Every user's public-key fingerprint is printed (compare it with what the approver sees).

Each user's key encrypted with their own passphrase: a passphrase_file column naming a file
whose first line is that user's passphrase (relative to the roster; never on the media), and
kcsr batch --roster team.csv --encrypt-key …; users without one need --passphrase-file.

Re-running the same roster after an interruption skips the users already done.
Exit codes: 0 all written, 1 failed (nothing written for a bad roster), 3 some users failed
(the others are kept), or a row breaks the station policy (nothing written).";

#[derive(Debug, Args)]
pub(crate) struct BatchArgs {
    /// The roster: CSV (.csv) or YAML
    #[arg(long, value_name = "FILE")]
    pub(crate) roster: PathBuf,
    /// Directory for the private keys (created 0700 if missing; never inside the media)
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// Directory of the removable media (created if missing)
    #[arg(long, value_name = "MEDIA_DIR")]
    pub(crate) media: PathBuf,
    /// Parallel workers (default: every core)
    #[arg(long, value_name = "N")]
    pub(crate) jobs: Option<std::num::NonZeroUsize>,
    /// certificates.k8s.io version for every request
    #[arg(long, value_name = "VERSION", default_value = "v1")]
    pub(crate) api_version: ApiVersion,
    /// Write new keys as encrypted PKCS#8: each with its user's passphrase_file (roster
    /// column), else with --passphrase-file
    #[arg(long)]
    pub(crate) encrypt_key: bool,
    /// The passphrase for new and existing encrypted keys (first line) of users without a
    /// passphrase_file of their own
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Replace existing keys and requests instead of skipping users already done
    #[arg(long, short)]
    pub(crate) force: bool,
    /// The PKCS#11 token for the keys of users without a pkcs11 column: an RFC 7512 URI as
    /// for kcsr request --pkcs11, naming the token but no object; each user's key is the
    /// object labelled with their stem (generated in the token if it holds none)
    #[arg(long, value_name = "URI", value_parser = Pkcs11Parser, conflicts_with = "encrypt_key")]
    pub(crate) pkcs11: Option<kcsr_core::pkcs11_uri::Pkcs11Uri>,
    /// Check the roster and print every user's plan (user, groups, grants, signer, lifetime,
    /// ticket, key, stem, object name) for a second person to check; write nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) who: WhoArgs,
    #[command(flatten)]
    pub(crate) trip: TripArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

const RENEW_EXAMPLES: &str = "\
Examples:
  # Requests, with new keys, for every certificate on the media in the last third of its
  # lifetime (a 30-day certificate: its last 10 days), or expired
  kcsr renew media/ --keys ./keys --media ./next-media

  # From the kubeconfigs kcsr assemble wrote; keep the keys; look 60 days ahead
  kcsr renew kubeconfigs/ --within 60d --reuse-key --keys ./keys --media ./next-media

Reads certificates (.crt), bundles (.bundle.yaml) and kubeconfigs (.kubeconfig, or any file
with kind: Config; each user entry's client-certificate-data or client-certificate), or
directories of them. Only users the station still counts as active are renewed: a request
withdrawn, denied, offboarded or retired is not (said, not an error).

New keys get the stem <user>-renew-<YYYYMMDD>, so the current key stays in place until the
new certificate is assembled; kcsr assemble --out-dir writes its kubeconfig under the first
stem (alice.kubeconfig), replacing the older one. With --reuse-key the request uses the key
whose public key the certificate carries, found in KEY_DIR, under the stem
<user>-renew-<YYYYMMDD>-samekey: a renewal is always a new request with its own object name
and record.
A certificate's expiry is believed only when it chains to the pinned CA of its signer and
names the user and groups the station recorded for its key: one that does not (a certificate
made by someone who could edit the media) is reported as NOT TRUSTED and not renewed (exit 3).
Exit codes: 0 done (also when nothing is due), 1 failed, 3 a request was refused.";

#[derive(Debug, Args)]
pub(crate) struct RenewArgs {
    /// Certificates (.crt, PEM or DER), bundles (.bundle.yaml), kubeconfigs, or directories
    /// holding them
    #[arg(required = true, value_name = "PATH")]
    pub(crate) from: Vec<PathBuf>,
    /// Renew what expires within this time (default: the last third of each certificate's
    /// lifetime, so a certificate issued minutes ago is never due)
    #[arg(long, value_name = "DURATION")]
    pub(crate) within: Option<Expiration>,
    /// The key directory (new keys are written here; --reuse-key looks here)
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// Where to write the renewal requests
    #[arg(long, value_name = "MEDIA_DIR")]
    pub(crate) media: PathBuf,
    /// Build the renewal request for the existing key instead of a new one
    #[arg(long)]
    pub(crate) reuse_key: bool,
    /// The PIN (first line of FILE) of the PKCS#11 tokens holding keys that --reuse-key
    /// signs with (the token is the one the station recorded); asked on the terminal without it
    #[arg(long, value_name = "FILE", requires = "reuse_key")]
    pub(crate) pkcs11_pin_file: Option<PathBuf>,
    /// Judge expiry at this time (RFC 3339) instead of now
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) at: Option<i64>,
    /// Passphrase file for encrypted keys (with --reuse-key or --encrypt-key)
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Write new keys encrypted (needs --passphrase-file)
    #[arg(long, requires = "passphrase_file", conflicts_with = "reuse_key")]
    pub(crate) encrypt_key: bool,
    /// Show what is due and write nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) trip: TripArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

const ASSEMBLE_EXAMPLES: &str = "\
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
fn parse_agent_address(s: &str) -> Result<std::net::SocketAddr, String> {
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

fn parse_ca_fingerprint(s: &str) -> Result<String, String> {
    let lower = s.trim().to_ascii_lowercase();
    if kcsr_core::station::is_ca_fingerprint(&lower) {
        Ok(lower)
    } else {
        Err(format!(
            "{s:?} is not a CA fingerprint: expected sha256: and 64 hex digits, as kcsr cluster add and kubeadm print"
        ))
    }
}

const REQUEST_EXAMPLES: &str = "\
Examples:
  # A P-256 key for alice in group dev, a 30-day certificate requested from the client signer
  kcsr request --user alice --group dev --keys ./keys --media ./media

  # Bind the user to cluster-admin instead of using system:masters, for a change ticket
  kcsr request --user ops --clusterrole cluster-admin --ticket CHG-12 --keys ./keys --media ./media

  # Name the object after the change ticket (default <user>-<hash>), for the approver
  kcsr request --user dana --group ops --name dana-chg1234 --keys ./keys --media ./media

  # Build the request for a key made earlier with openssl genrsa, kept in the key directory
  # as <user>.key.pem, where kcsr assemble and kcsr renew look for it
  kcsr request --user bob --key keys/bob.key.pem --keys ./keys --media ./media

  # A classic v1beta1 request for a cluster older than 1.22
  kcsr request --user carol --api-version v1beta1 --keys ./keys --media ./media

  # A user who keeps their own key (workstation, token) hands in a CSR; it must ask for exactly
  # the user and groups named here. kcsr assemble --key-path then names their key file.
  kcsr request --user ivan --group dev --csr ivan.csr --keys ./keys --media ./media

--clusterrole and --role repeat: each is one binding (ClusterRoles first, then Roles), named
NAME, NAME-2, ... in one <stem>.binding.yaml; ROLE or NS/ROLE, e.g. --clusterrole view
--clusterrole team-a/edit --role team-b/deployer. The ticket and the operator (--operator,
default the login name) are signed into the request and kept in the station's record.
A stick that came back with an earlier trip's results is not written into again: this trip
goes into a new subdirectory trip-YYYYMMDD-HHMMSS of it, which kcsr request names.
Exit codes: 0 written (or already on the media), 1 failed, 2 usage, 3 refused by a check or
by the station policy (KEY_DIR/station/policy.yaml, see kcsr policy show).";

const INSPECT_EXAMPLES: &str = "\
Examples:
  kcsr inspect media/alice.csr.yaml
  kcsr inspect --json alice.csr
  openssl req -new -key keys/bob.key.pem -subj /CN=bob | kcsr inspect -

Exit codes: 0 readable and acceptable, 1 unreadable or malformed, 3 a signature or check failed.";

const VERIFY_EXAMPLES: &str = "\
Examples:
  # The certificate brought back, against the key that never left and the client CA
  kcsr verify --cert media/alice.crt --key keys/alice.key.pem --ca client-ca.crt

  # At another time than now: a 30-day certificate has long expired by 2036 (exit 3)
  kcsr verify --cert media/alice.crt --manifest media/alice.csr.yaml --at 2036-01-01T00:00:00Z

Exit codes: 0 every check holds, 1 unreadable input, 3 a check failed.";

/// Who asks and why (decision 0010): carried in the signed requests and the station's record.
#[derive(Debug, Args)]
pub(crate) struct WhoArgs {
    /// The change ticket the requests are made for (kcsr.dev/ticket; 1-128 printable
    /// characters)
    #[arg(long, value_name = "ID")]
    pub(crate) ticket: Option<Ticket>,
    /// Who runs kcsr (kcsr.dev/operator; default: the login name, $LOGNAME or $USER)
    #[arg(long, value_name = "NAME")]
    pub(crate) operator: Option<Operator>,
}

/// What every request of a run is for and how long it stays fresh (decision 0009).
#[derive(Debug, Args)]
pub(crate) struct TripArgs {
    /// The pinned cluster the requests are for (default: the only one pinned; see kcsr cluster)
    #[arg(long, value_name = "NAME")]
    pub(crate) cluster: Option<ClusterName>,
    /// How long the connected side accepts the requests (kcsr.dev/not-after)
    #[arg(long, value_name = "DURATION", default_value = "14d", value_parser = parse_valid_for)]
    pub(crate) valid_for: Expiration,
}

const CLUSTER_EXAMPLES: &str = "\
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

const STATION_EXAMPLES: &str = "\
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

const KEY_EXAMPLES: &str = "\
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

const AUDIT_EXAMPLES: &str = "\
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

const CHECK_EXAMPLES: &str = "\
Examples:
  # On the isolated machine, before the stick leaves: against the station's own key and records
  kcsr check --media ./media --keys ./keys

  # Anywhere (the connected machine too): against allowed_signers lines, from a file or (-)
  # standard input, here the station's own line
  kcsr station show --keys ./keys | kcsr check --media /media/usb --allowed-signers - --json

Checks every file against SHA256SUMS and RETURNED.SHA256SUMS (nothing unlisted, no key
material, no links), the signature of SHA256SUMS, every request (the cluster's rules, its
binding against its grant, its kcsr.dev/not-after) and, with --keys, that the station wrote
it; returned certificates against their requests. A return directory (kcsr-submit --out DIR:
no SHA256SUMS, only results and RETURNED.SHA256SUMS) is checked as kcsr assemble reads it:
each result for a request the station (--keys) recorded. Filesystem artifacts (lost+found, …)
are ignored, as on the connected side.
Exit codes: 0 nothing wrong, 1 unreadable media or input, 2 usage, 3 problems found (listed).";

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("signers").multiple(false).args(["keys", "allowed_signers"])))]
pub(crate) struct CheckArgs {
    /// The media directory, or a return directory (kcsr-submit --out DIR)
    #[arg(long, value_name = "MEDIA_DIR")]
    pub(crate) media: PathBuf,
    /// The station's key directory: the signature must be its key's, and every request its
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: Option<PathBuf>,
    /// Check the signature against this allowed_signers file instead (namespace kcsr-media;
    /// `-`: standard input)
    #[arg(long, value_name = "FILE")]
    pub(crate) allowed_signers: Option<PathBuf>,
    /// Judge freshness and validity at this time (RFC 3339) instead of now
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) at: Option<i64>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

const WITHDRAW_EXAMPLES: &str = "\
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

const OFFBOARD_EXAMPLES: &str = "\
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

const POLICY_EXAMPLES: &str = "\
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

/// Options of every reporting command.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
    /// Print nothing but errors on stderr
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The user: the certificate's CN
    #[arg(long, value_name = "NAME")]
    pub(crate) user: UserName,
    /// A group: one O of the certificate (repeatable)
    #[arg(long = "group", value_name = "GROUP")]
    pub(crate) groups: Vec<GroupName>,
    /// Directory for the private key and the station's state: pins, records of the requests
    /// (created 0700 if missing; never inside the media)
    #[arg(long, value_name = "KEY_DIR")]
    pub(crate) keys: PathBuf,
    /// Directory of the removable media (created if missing)
    #[arg(long, value_name = "MEDIA_DIR")]
    pub(crate) media: PathBuf,
    /// Key to generate
    #[arg(long, value_name = "TYPE", default_value = "p256", value_parser = parse_key_type, conflicts_with = "key")]
    pub(crate) key_type: KeyType,
    /// Build the CSR for this existing key instead of generating one (PKCS#8, PKCS#1, SEC1; PEM or DER)
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// The user's own PKCS#10 CSR (PEM or DER), made with a key they keep: checked like any
    /// other (subject, key strength, RSA exponent, signature); no key is made or kept here
    #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "key_type", "encrypt_key", "dns", "ips"])]
    pub(crate) csr: Option<PathBuf>,
    /// Write the new key as encrypted PKCS#8 (PBKDF2-SHA256 + AES-256-CBC)
    #[arg(long, conflicts_with = "key")]
    pub(crate) encrypt_key: bool,
    /// Generate the key inside this PKCS#11 token, or use the key object it already holds
    /// under that label/id: an RFC 7512 URI, e.g.
    /// pkcs11:token=NAME;object=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/path
    /// (without pin-source the PIN is asked on the terminal). The key is generated
    /// non-extractable and sensitive and never leaves the token; kcsr never deletes one
    #[arg(long, value_name = "URI", value_parser = Pkcs11Parser, conflicts_with_all = ["key", "encrypt_key", "csr"])]
    pub(crate) pkcs11: Option<kcsr_core::pkcs11_uri::Pkcs11Uri>,
    /// Read the passphrase from this file (first line) instead of prompting
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Signer: client, kubelet-client, kubelet-serving or DOMAIN/PATH
    #[arg(long, value_name = "SIGNER", default_value = "client")]
    pub(crate) signer: SignerName,
    /// Usage (repeatable); replaces the signer's defaults
    #[arg(long = "usage", value_name = "USAGE")]
    pub(crate) usages: Vec<Usage>,
    /// DNS subject alternative name (repeatable; kubelet-serving)
    #[arg(long = "dns", value_name = "NAME")]
    pub(crate) dns: Vec<String>,
    /// IP subject alternative name (repeatable; kubelet-serving)
    #[arg(long = "ip", value_name = "ADDRESS")]
    pub(crate) ips: Vec<IpAddr>,
    /// Requested lifetime, e.g. 1h, 30d, 1y; default 30d (v1 only)
    #[arg(long, value_name = "DURATION")]
    pub(crate) expiration: Option<Expiration>,
    /// certificates.k8s.io version: v1, or v1beta1 for clusters older than 1.22
    #[arg(long, value_name = "VERSION", default_value = "v1")]
    pub(crate) api_version: ApiVersion,
    /// Leave spec.signerName out (v1beta1 only: the server picks the signer)
    #[arg(long)]
    pub(crate) no_signer: bool,
    /// Also write a ClusterRoleBinding to this ClusterRole, or a RoleBinding to it in NS with
    /// NS/ROLE or --namespace (repeatable)
    #[arg(long = "clusterrole", value_name = "ROLE")]
    pub(crate) clusterroles: Vec<String>,
    /// Also write a RoleBinding to this Role: NS/ROLE, or ROLE with --namespace (repeatable)
    #[arg(long = "role", value_name = "ROLE")]
    pub(crate) roles: Vec<String>,
    /// Namespace of the RoleBindings of the roles given without NS/
    #[arg(long, value_name = "NS")]
    pub(crate) namespace: Option<String>,
    #[command(flatten)]
    pub(crate) who: WhoArgs,
    /// Object name instead of the default <user>-<hash>
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<ObjectName>,
    /// Replace an existing key and the user's request on the media
    #[arg(long, short)]
    pub(crate) force: bool,
    /// Show what would be written and write nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) trip: TripArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Files to read (`-` for standard input)
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// Decrypt encrypted keys with the passphrase in this file
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The issued certificate (PEM or DER; the first certificate is the leaf)
    #[arg(long, value_name = "CERT")]
    pub(crate) cert: PathBuf,
    /// The private key it must match
    #[arg(long, value_name = "KEY", required_unless_present_any = ["csr", "manifest", "pkcs11"], conflicts_with_all = ["csr", "manifest", "pkcs11"])]
    pub(crate) key: Option<PathBuf>,
    /// The key in a PKCS#11 token it must match (an RFC 7512 URI, as for kcsr request
    /// --pkcs11); the token proves it holds the key by signing
    #[arg(long, value_name = "URI", value_parser = Pkcs11Parser, conflicts_with_all = ["csr", "manifest"])]
    pub(crate) pkcs11: Option<kcsr_core::pkcs11_uri::Pkcs11Uri>,
    /// The CSR it must match
    #[arg(long, value_name = "CSR", conflicts_with = "manifest")]
    pub(crate) csr: Option<PathBuf>,
    /// The CSR manifest it must match
    #[arg(long, value_name = "YAML")]
    pub(crate) manifest: Option<PathBuf>,
    /// The CA it must chain to
    #[arg(long, value_name = "CA")]
    pub(crate) ca: Option<PathBuf>,
    /// Check validity at this time (RFC 3339) instead of now
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) at: Option<i64>,
    /// Expected user (defaults to the CSR's CN)
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<UserName>,
    /// Expected group (repeatable; defaults to the CSR's O values)
    #[arg(long = "group", value_name = "GROUP")]
    pub(crate) groups: Vec<GroupName>,
    /// Decrypt an encrypted key with the passphrase in this file
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// `--pkcs11 URI`: clap's own error would repeat the value, and a URI may carry a PIN
/// (`pin-value`, refused): the error says what is wrong without it.
#[derive(Debug, Clone, Copy)]
struct Pkcs11Parser;

impl clap::builder::TypedValueParser for Pkcs11Parser {
    type Value = kcsr_core::pkcs11_uri::Pkcs11Uri;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let fail = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid --pkcs11 URI: {why}\n"),
            )
            .with_cmd(cmd)
        };
        value
            .to_str()
            .ok_or_else(|| fail("it is not UTF-8".to_owned()))?
            .parse()
            .map_err(fail)
    }
}

fn parse_key_type(s: &str) -> Result<KeyType, String> {
    s.parse()
}

fn parse_valid_for(s: &str) -> Result<Expiration, String> {
    let e: Expiration = s
        .parse()
        .map_err(|e: kcsr_core::expiry::ExpirationError| e.to_string())?;
    if e.seconds() < 60 {
        return Err(format!(
            "{s:?} is too short: the media must reach the connected machine first (e.g. 1d, 14d)"
        ));
    }
    Ok(e)
}

fn parse_signer_ca(s: &str) -> Result<(SignerName, PathBuf), String> {
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

fn parse_time(s: &str) -> Result<i64, String> {
    kcsr_core::time::parse_rfc3339(s)
        .ok_or_else(|| format!("{s:?} is not an RFC 3339 time like 2026-12-01T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
