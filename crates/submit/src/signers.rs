//! Which stations the connected side trusts (`allowed_signers`), and whether the media was
//! signed by one of them (decision 0009). Media not signed by a listed key is refused before
//! anything is sent; with no signers configured, the media is unauthenticated and said so.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use serde::Serialize;

use kcsr_core::media::{SIGNATURE_NAMESPACE, SUMS_SIGNATURE_FILE};
use kcsr_core::sshsig::{AllowedSigners, Signature, allowed_signers_line};
use kcsr_fs::{Mode, Overwrite};

use crate::media::{MediaError, Signed};
use crate::sanitize::one_line;

/// The environment variable naming the `allowed_signers` file.
pub const ENV: &str = "KCSR_ALLOWED_SIGNERS";
/// Largest `allowed_signers` file read.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// The principal of a key added from the terminal prompt.
const ADDED_PRINCIPAL: &str = "kcsr-station";

/// Where the trusted station keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--allowed-signers FILE`.
    Flag(PathBuf),
    /// `KCSR_ALLOWED_SIGNERS`.
    Env(PathBuf),
    /// `$XDG_CONFIG_HOME/kcsr/allowed_signers` (`~/.config/kcsr/allowed_signers`).
    Default(PathBuf),
}

impl Source {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            Self::Flag(p) | Self::Env(p) | Self::Default(p) => p,
        }
    }

    /// How it was chosen, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Flag(p) => format!("--allowed-signers {}", p.display()),
            Self::Env(p) => format!("{ENV}={}", p.display()),
            Self::Default(p) => format!("the default allowed_signers file {}", p.display()),
        }
    }
}

/// Why the configured signers cannot be used (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TrustError {
    /// What is wrong, naming the source.
    pub message: String,
    /// The fix.
    pub hint: String,
}

/// The trusted station keys, or none configured (`default_path`: where they would go).
#[derive(Debug, Clone)]
pub struct Trust {
    /// The source and its keys, when configured.
    pub configured: Option<(Source, AllowedSigners)>,
    /// The default file, when a home or config directory is known.
    pub default_path: Option<PathBuf>,
}

/// The default file: `$XDG_CONFIG_HOME/kcsr/allowed_signers` (an absolute XDG_CONFIG_HOME
/// only, as the XDG spec says), else `$HOME/.config/kcsr/allowed_signers`.
pub fn default_path(xdg_config_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    let base = match xdg_config_home.filter(|x| Path::new(x).is_absolute()) {
        Some(x) => PathBuf::from(x),
        None => Path::new(home.filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(base.join("kcsr").join("allowed_signers"))
}

impl Trust {
    /// `--allowed-signers`, else `KCSR_ALLOWED_SIGNERS`, else the default file if it exists.
    /// A configured source that is missing, empty or unparsable is an error, never "no
    /// signers".
    pub fn load(flag: Option<&Path>) -> Result<Self, TrustError> {
        let var = |name: &str| std::env::var(name).ok();
        let default_path = default_path(var("XDG_CONFIG_HOME").as_deref(), var("HOME").as_deref());
        let source = if let Some(p) = flag {
            Some(Source::Flag(p.to_owned()))
        } else if let Some(v) = std::env::var_os(ENV) {
            if v.is_empty() {
                return Err(TrustError {
                    message: format!("{ENV} is set but empty"),
                    hint: format!(
                        "set {ENV} to the allowed_signers file that lists the station's key (kcsr station show prints its line), or unset it"
                    ),
                });
            }
            Some(Source::Env(PathBuf::from(v)))
        } else {
            default_path
                .as_ref()
                .filter(|p| std::fs::symlink_metadata(p).is_ok())
                .map(|p| Source::Default(p.clone()))
        };
        let configured = match source {
            None => None,
            Some(source) => {
                let signers = read(&source)?;
                Some((source, signers))
            }
        };
        Ok(Self {
            configured,
            default_path,
        })
    }

    /// Whether any station key is trusted (media must then be signed).
    pub fn is_configured(&self) -> bool {
        self.configured.is_some()
    }
}

fn read(source: &Source) -> Result<AllowedSigners, TrustError> {
    let path = source.path();
    let fail = |why: String| {
        TrustError {
        message: format!("{}: {why}", source.describe()),
        hint: "list the station's key in it: on the isolated machine, kcsr station show --keys KEY_DIR prints the line `PRINCIPAL namespaces=\"kcsr-media\" ssh-ed25519 AAAA…`".to_owned(),
    }
    };
    // A dotfile manager's symlink is the user's choice: follow it, then read a regular file.
    let real = std::fs::canonicalize(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    let data = kcsr_fs::read_limited(&real, MAX_FILE_BYTES)
        .map_err(|e| fail(format!("cannot be read: {e}")))?;
    let text = String::from_utf8(data).map_err(|_| fail("is not UTF-8 text".to_owned()))?;
    AllowedSigners::parse(&text).map_err(|e| fail(one_line(&e.to_string())))
}

/// Who signed the media, as the review, the JSON output and the bundle's audit record say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaSigner {
    /// The principals of the `allowed_signers` line that accepted the key; absent when no
    /// signers are configured (the signature matches its own key, which nobody vouched for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The key's OpenSSH fingerprint, `SHA256:…`.
    pub fingerprint: String,
}

impl MediaSigner {
    /// For the review: `station-7 (SHA256:…)`, or the fingerprint and that nobody vouched.
    pub fn label(&self) -> String {
        match &self.principal {
            Some(p) => format!("{} ({})", one_line(p), self.fingerprint),
            None => format!(
                "{} (in no allowed_signers: unauthenticated)",
                self.fingerprint
            ),
        }
    }

    /// For the bundle's audit record.
    pub fn to_audit(&self) -> kcsr_core::bundle::MediaSigner {
        kcsr_core::bundle::MediaSigner {
            principal: self.principal.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// Checks `SHA256SUMS.sig` over the bytes of `SHA256SUMS` as read. With signers configured,
/// the signature must be there, verify, and be by a key a line allows for `kcsr-media` at
/// `now`. With none configured, a signature must still verify with its own key (else the media
/// changed after signing), and the result names the key without vouching for it; `Ok(None)`:
/// no signature and nobody to ask for one.
pub fn verify(
    media: &Signed<'_>,
    trust: &Trust,
    now: i64,
) -> Result<Option<MediaSigner>, MediaError> {
    let sig_path = media.dir.join(SUMS_SIGNATURE_FILE);
    let from = |s: &Source| s.describe();
    let Some(data) = media.signature else {
        return match &trust.configured {
            Some((source, _)) => Err(MediaError::refusal(
                format!(
                    "the media {} is not signed (no {SUMS_SIGNATURE_FILE}), and {} lists the stations to trust; nothing was sent",
                    media.dir.display(),
                    from(source)
                ),
                "only media the station wrote and signed is sent: carry it again from the isolated machine (kcsr request signs SHA256SUMS); for approving by name without media, see approve --unsigned",
            )),
            None => Ok(None),
        };
    };
    let refuse = |why: String| {
        MediaError::refusal(
            format!("{}: {why}; nothing was sent", sig_path.display()),
            "the media changed after the station signed it, or another key signed it: carry the media again from the isolated machine and compare it with the station's copy",
        )
    };
    let sig = Signature::parse_armored(data).map_err(|e| refuse(one_line(&e.to_string())))?;
    sig.verify(media.sums, SIGNATURE_NAMESPACE)
        .map_err(|e| refuse(one_line(&e.to_string())))?;
    let fingerprint = sig.public_key.fingerprint();
    let Some((source, signers)) = &trust.configured else {
        return Ok(Some(MediaSigner {
            principal: None,
            fingerprint,
        }));
    };
    let line = signers
        .find(&sig.public_key, SIGNATURE_NAMESPACE, now)
        .map_err(|e| {
            MediaError::refusal(
                format!(
                    "{}: {} ({}); nothing was sent",
                    sig_path.display(),
                    one_line(&e.to_string()),
                    from(source)
                ),
                format!(
                    "if this is your station's key (compare {fingerprint} with kcsr station show on the isolated machine), add its line to {}; a removed or expired line means the key was revoked or rotated",
                    source.path().display()
                ),
            )
        })?;
    Ok(Some(MediaSigner {
        principal: Some(line.principals.clone()),
        fingerprint,
    }))
}

/// With no signers configured: warns that the media is unauthenticated, and, on a terminal,
/// offers to trust the station's key from now on (written to the default file, after which
/// unsigned media is refused). Returns the signer as trusted if the operator added it.
pub fn warn_unauthenticated(
    media: &Signed<'_>,
    trust: &Trust,
    signer: Option<MediaSigner>,
) -> Option<MediaSigner> {
    let Some(signer) = signer else {
        eprintln!(
            "warning: the media {} is not signed (no {SUMS_SIGNATURE_FILE}) and no allowed_signers is configured: nothing shows it was written by your station",
            media.dir.display()
        );
        return None;
    };
    let line = media
        .signature
        .and_then(|d| Signature::parse_armored(d).ok())
        .map(|s| allowed_signers_line(ADDED_PRINCIPAL, &s.public_key, None));
    eprintln!(
        "warning: the media is signed by the station key {}, but no allowed_signers is configured ({ENV}, --allowed-signers or {}): nothing shows that key is your station's. Compare it with kcsr station show on the isolated machine.",
        signer.fingerprint,
        trust.default_path.as_ref().map_or_else(
            || "~/.config/kcsr/allowed_signers".to_owned(),
            |p| p.display().to_string()
        )
    );
    let (Some(line), Some(path)) = (line, trust.default_path.as_ref()) else {
        return Some(signer);
    };
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        eprintln!(
            "hint: to trust it from now on (unsigned media is then refused), add this line to {}:\n  {line}",
            path.display()
        );
        return Some(signer);
    }
    eprint!(
        "Trust {} from now on? It is added to {} and media not signed by it is refused. [y/N] ",
        signer.fingerprint,
        path.display()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err()
        || !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    {
        return Some(signer);
    }
    match add_to_default(path, &line) {
        Ok(()) => {
            eprintln!("added to {}", path.display());
            Some(MediaSigner {
                principal: Some(ADDED_PRINCIPAL.to_owned()),
                fingerprint: signer.fingerprint,
            })
        }
        Err(e) => {
            eprintln!(
                "warning: could not write {}: {e}; add the line yourself:\n  {line}",
                path.display()
            );
            Some(signer)
        }
    }
}

/// Creates the default file holding `line` (never replaces one: it did not exist).
fn add_to_default(path: &Path, line: &str) -> std::io::Result<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(std::io::Error::other("not a file path"));
    };
    kcsr_fs::create_dir(dir, 0o700)?;
    kcsr_fs::write_file(
        dir,
        name,
        format!("{line}\n").as_bytes(),
        Mode::Public,
        Overwrite::Deny,
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_follows_xdg_then_home() {
        assert_eq!(
            default_path(Some("/x"), Some("/h")),
            Some(PathBuf::from("/x/kcsr/allowed_signers"))
        );
        // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
        assert_eq!(
            default_path(Some("rel"), Some("/h")),
            Some(PathBuf::from("/h/.config/kcsr/allowed_signers"))
        );
        assert_eq!(default_path(None, None), None);
    }
}
