//! The arguments of the commands that write requests: `kcsr request`, `kcsr batch`, `kcsr renew`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use kcsr_core::expiry::Expiration;
use kcsr_core::key::KeyType;
use kcsr_core::manifest::ApiVersion;
use kcsr_core::names::{GroupName, ObjectName, UserName};
use kcsr_core::signer::SignerName;
use kcsr_core::usage::Usage;

use super::common::{OutputArgs, Pkcs11Parser, TripArgs, WhoArgs, parse_key_type, parse_time};

pub(super) const BATCH_EXAMPLES: &str = "\
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

pub(super) const RENEW_EXAMPLES: &str = "\
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

pub(super) const REQUEST_EXAMPLES: &str = "\
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
