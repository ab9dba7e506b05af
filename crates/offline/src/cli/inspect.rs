//! The arguments of the commands that read and judge what is there: `kcsr inspect`,
//! `kcsr verify`, `kcsr check`.

use std::path::PathBuf;

use clap::Args;
use kcsr_core::names::{GroupName, UserName};

use super::common::{OutputArgs, Pkcs11Parser, parse_time};

pub(super) const INSPECT_EXAMPLES: &str = "\
Examples:
  kcsr inspect media/alice.csr.yaml
  kcsr inspect --json alice.csr
  openssl req -new -key keys/bob.key.pem -subj /CN=bob | kcsr inspect -

Exit codes: 0 readable and acceptable, 1 unreadable or malformed, 3 a signature or check failed.";

pub(super) const VERIFY_EXAMPLES: &str = "\
Examples:
  # The certificate brought back, against the key that never left and the client CA
  kcsr verify --cert media/alice.crt --key keys/alice.key.pem --ca client-ca.crt

  # At another time than now: a 30-day certificate has long expired by 2036 (exit 3)
  kcsr verify --cert media/alice.crt --manifest media/alice.csr.yaml --at 2036-01-01T00:00:00Z

Exit codes: 0 every check holds, 1 unreadable input, 3 a check failed.";

pub(super) const CHECK_EXAMPLES: &str = "\
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
