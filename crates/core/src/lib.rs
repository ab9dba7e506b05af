//! Shared logic of kcsr: names, signer rules, CSR and manifest models, the checks the cluster
//! will make, and the media checksum file.
//!
//! This crate does no file, network or terminal I/O: it takes bytes and typed values and
//! returns bytes, typed values and typed errors. The binaries own every path and every byte
//! that leaves the process.
//!
//! Key generation, key parsing and CSR signing sit behind the `keys` feature (on by default) so
//! that the connected binary, which builds without it, cannot generate or read private keys.
#![warn(missing_docs)]

pub mod bundle;
pub mod cert;
pub mod chain;
pub mod checks;
pub mod csr;
#[cfg(feature = "keys")]
mod csr_build;
pub mod digest;
pub mod exit;
pub mod expiry;
#[cfg(feature = "tokens")]
pub mod external_key;
mod file_name;
#[cfg(feature = "keys")]
pub mod key;
#[cfg(feature = "keys")]
mod key_type;
pub mod manifest;
pub mod media;
pub mod names;
mod object_meta;
pub mod outcome;
pub mod pem;
pub mod pkcs11_uri;
pub mod policy;
pub mod rbac;
pub mod roster;
pub mod signer;
pub mod sshsig;
pub mod station;
pub mod sums;
pub mod terminal;
pub mod time;
pub mod usage;
pub mod verify;
pub mod x509;
pub mod yaml;

/// The version of kcsr written into manifests (`kcsr.dev/version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether the cryptographic module in use is the FIPS 140-3 validated AWS-LC module.
pub fn fips_mode() -> bool {
    aws_lc_rs::try_fips_mode().is_ok()
}

/// The `--version` line of both binaries: the version and which cryptographic module is in
/// use, which auditors of a FIPS build ask first.
pub fn version_line() -> &'static str {
    if fips_mode() {
        concat!(
            env!("CARGO_PKG_VERSION"),
            " (crypto: AWS-LC FIPS 140-3 module)"
        )
    } else {
        concat!(
            env!("CARGO_PKG_VERSION"),
            " (crypto: AWS-LC, not the FIPS module)"
        )
    }
}
