//! Arguments and value parsers that several commands share.

use clap::Args;
use kcsr_core::expiry::Expiration;
use kcsr_core::key::KeyType;
use kcsr_core::manifest::{Operator, Ticket};
use kcsr_core::station::ClusterName;

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

/// `--pkcs11 URI`: clap's own error would repeat the value, and a URI may carry a PIN
/// (`pin-value`, refused): the error says what is wrong without it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pkcs11Parser;

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

pub(super) fn parse_key_type(s: &str) -> Result<KeyType, String> {
    s.parse()
}

pub(super) fn parse_valid_for(s: &str) -> Result<Expiration, String> {
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

pub(super) fn parse_time(s: &str) -> Result<i64, String> {
    kcsr_core::time::parse_rfc3339(s)
        .ok_or_else(|| format!("{s:?} is not an RFC 3339 time like 2026-12-01T00:00:00Z"))
}
