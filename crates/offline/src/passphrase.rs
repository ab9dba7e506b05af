//! Passphrases: from a file (first line) or a no-echo prompt on a terminal. Held as
//! `SecretString`, zeroized on drop, never printed.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::fail::{Context as _, Fail, Result};
use kcsr_fs as output;

/// Why a passphrase is wanted: for a new key (asked twice) or for an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    NewKey,
    Existing,
}

/// Minimum length of a new key's passphrase.
const MIN_LEN: usize = 8;

pub(crate) fn obtain(file: Option<&Path>, purpose: Purpose, what: &str) -> Result<SecretString> {
    let pass = match file {
        Some(path) => from_file(path)?,
        None => prompt(purpose, what)?,
    };
    if purpose == Purpose::NewKey && pass.expose_secret().chars().count() < MIN_LEN {
        return Err(Fail::new(format!(
            "the passphrase for {what} is shorter than {MIN_LEN} characters"
        ))
        .hint("choose a longer passphrase"));
    }
    Ok(pass)
}

fn from_file(path: &Path) -> Result<SecretString> {
    let bytes = output::read_secret(path, 64 * 1024, output::Links::Refuse)
        .context(|| format!("failed to read passphrase file {}", path.display()))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Fail::new(format!(
            "passphrase file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(
            Fail::new(format!("passphrase file {} is empty", path.display()))
                .hint("put the passphrase on the first line"),
        );
    }
    Ok(SecretString::from(line.to_owned()))
}

fn prompt(purpose: Purpose, what: &str) -> Result<SecretString> {
    if !std::io::stdin().is_terminal() {
        return Err(Fail::new(format!(
            "a passphrase is needed for {what} and standard input is not a terminal"
        ))
        .hint("pass --passphrase-file FILE"));
    }
    let first = Zeroizing::new(
        rpassword::prompt_password(format!("Passphrase for {what}: "))
            .context(|| "failed to read the passphrase".to_owned())?,
    );
    if purpose == Purpose::NewKey {
        let again = Zeroizing::new(
            rpassword::prompt_password("Repeat the passphrase: ")
                .context(|| "failed to read the passphrase".to_owned())?,
        );
        if *first != *again {
            return Err(Fail::new("the passphrases do not match"));
        }
    }
    Ok(SecretString::from(first.to_string()))
}

/// The passphrase of existing encrypted keys: read from `--passphrase-file` or asked on the
/// terminal at most once per run, however many keys need it (batches, assemble, renew), and
/// never from several threads at once.
pub(crate) struct Source {
    file: Option<PathBuf>,
    cached: Mutex<Option<SecretString>>,
}

impl Source {
    pub(crate) fn new(file: Option<&Path>) -> Self {
        Self {
            file: file.map(Path::to_owned),
            cached: Mutex::new(None),
        }
    }

    /// The passphrase, obtained on first use; `what` names the key in a prompt or error.
    pub(crate) fn get(&self, what: &str) -> Result<SecretString> {
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| Fail::new("the passphrase is unavailable after an earlier failure"))?;
        if let Some(p) = cached.as_ref() {
            return Ok(SecretString::from(p.expose_secret().to_owned()));
        }
        let p = obtain(self.file.as_deref(), Purpose::Existing, what)?;
        let copy = SecretString::from(p.expose_secret().to_owned());
        *cached = Some(p);
        Ok(copy)
    }
}
