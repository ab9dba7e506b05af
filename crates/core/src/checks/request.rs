//! A request as the checks see it.

use crate::csr::CsrInfo;
use crate::manifest::ApiVersion;
use crate::signer::SignerName;
use crate::usage::Usage;

/// A request as the cluster will see it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// API version of the manifest.
    pub api_version: ApiVersion,
    /// `spec.signerName`.
    pub signer: Option<&'a SignerName>,
    /// `spec.usages`.
    pub usages: &'a [Usage],
    /// `spec.expirationSeconds`.
    pub expiration_seconds: Option<i64>,
    /// The CSR from `spec.request`.
    pub csr: &'a CsrInfo,
}
