//! The credentials attached to each request: a token, a token file re-read about once a
//! minute, basic auth, or an exec plugin's token or client certificate.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::options::ClientOptions;
use crate::client_error::ClientError;
use crate::exec::{ExecAuthenticator, ExecCredential, IssuedCredential};
use crate::kubeconfig::{BasicAuth, ClusterConnection, Credentials};
use crate::secret::Secret;

/// How often a `tokenFile` is re-read (client-go: about once a minute).
const TOKEN_FILE_REFRESH: Duration = Duration::from_secs(60);

/// Credentials attached to each request.
pub(super) enum Auth {
    None,
    Token(Secret),
    TokenFile(TokenFile),
    Basic(BasicAuth),
    Exec(Box<ExecAuthenticator>),
}

pub(super) struct TokenFile {
    path: PathBuf,
    cache: Mutex<Option<(Secret, Instant)>>,
}

impl TokenFile {
    fn token(&self, user: &str) -> Result<Secret, ClientError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, read_at)) = cache.as_ref()
            && read_at.elapsed() < TOKEN_FILE_REFRESH
        {
            return Ok(token.clone());
        }
        let problem = |problem: String| ClientError::TokenFile {
            user: user.to_owned(),
            path: self.path.clone(),
            problem,
        };
        let data = kcsr_fs::read_secret(&self.path, 1 << 20, kcsr_fs::Links::Follow)
            .map_err(|e| problem(format!("cannot be read: {e}")))?;
        let text = std::str::from_utf8(&data).map_err(|_| problem("is not UTF-8 text".into()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(problem("is empty".into()));
        }
        let token = Secret::new(token.to_owned());
        *cache = Some((token.clone(), Instant::now()));
        Ok(token)
    }
}

/// What the credentials put on one request.
pub(super) struct Presented {
    /// The `Authorization` header, if any.
    pub(super) authorization: Option<Secret>,
    /// The exec plugin's credential behind it (a 401 refreshes it; a client certificate
    /// needs its own agent).
    pub(super) exec: Option<Arc<IssuedCredential>>,
}

impl Auth {
    /// Chooses like client-go: a token, else a token file, else basic auth; the exec plugin
    /// only when the kubeconfig gives no static credential (a client certificate included).
    pub(super) fn for_credentials(
        creds: &Credentials,
        has_identity: bool,
        cluster: &ClusterConnection,
        options: &ClientOptions,
    ) -> Self {
        let has_static = has_identity
            || creds.token.is_some()
            || creds.token_file.is_some()
            || creds.basic.is_some();
        if let Some(token) = &creds.token {
            Self::Token(token.clone())
        } else if let Some(path) = &creds.token_file {
            Self::TokenFile(TokenFile {
                path: path.clone(),
                cache: Mutex::new(None),
            })
        } else if let Some(basic) = &creds.basic {
            Self::Basic(basic.clone())
        } else if let (Some(exec), false) = (&creds.exec, has_static) {
            let mut authenticator = ExecAuthenticator::new(exec.clone(), cluster);
            if let Some(is_terminal) = options.stdin_is_terminal {
                authenticator = authenticator.with_stdin_terminal(is_terminal);
            }
            Self::Exec(Box::new(authenticator))
        } else {
            Self::None
        }
    }

    /// The credentials for the next request of `user` (running the exec plugin if its
    /// credential expired).
    pub(super) fn present(&self, user: &str) -> Result<Presented, ClientError> {
        let header = |authorization| Presented {
            authorization,
            exec: None,
        };
        Ok(match self {
            Self::None => header(None),
            Self::Token(token) => header(Some(bearer(token))),
            Self::TokenFile(file) => header(Some(bearer(&file.token(user)?))),
            Self::Basic(basic) => {
                let raw = zeroize::Zeroizing::new(format!(
                    "{}:{}",
                    basic.username,
                    basic.password.expose()
                ));
                header(Some(Secret::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
                ))))
            }
            Self::Exec(exec) => {
                let cred = exec.credential().map_err(|source| ClientError::Exec {
                    user: user.to_owned(),
                    source,
                })?;
                Presented {
                    authorization: match &cred.credential {
                        ExecCredential::Token(token) => Some(bearer(token)),
                        ExecCredential::ClientCertificate { .. } => None,
                    },
                    exec: Some(cred),
                }
            }
        })
    }
}

fn bearer(token: &Secret) -> Secret {
    Secret::new(format!("Bearer {}", token.expose()))
}
