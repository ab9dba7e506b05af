//! Why no usable connection could be derived from the kubeconfig, in kubectl's words.

use std::path::PathBuf;

/// Why no usable connection could be derived from the kubeconfig.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeconfigError {
    /// `--kubeconfig` names a file that does not exist.
    #[error("kubeconfig {} does not exist", .path.display())]
    ExplicitMissing {
        /// The path given.
        path: PathBuf,
    },
    /// None of the candidate files exists.
    #[error("no kubeconfig found: {detail}")]
    NotFound {
        /// Which files were looked for.
        detail: String,
    },
    /// A file exists but could not be read.
    #[error("cannot read kubeconfig {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not YAML/JSON, or not shaped like a kubeconfig. The message never quotes file content.
    #[error("kubeconfig {} is not a valid kubeconfig: {message}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser message with line and column.
        message: String,
    },
    /// No `--context` and no `current-context`.
    #[error("no context chosen")]
    NoContext,
    /// The chosen context is not defined.
    #[error("context \"{0}\" does not exist")]
    ContextNotFound(String),
    /// The context names an undefined cluster.
    #[error("cluster \"{0}\" does not exist")]
    ClusterNotFound(String),
    /// The context names an undefined user.
    #[error("auth info \"{0}\" does not exist")]
    AuthInfoNotFound(String),
    /// The cluster has no server.
    #[error("no server found for cluster \"{0}\"")]
    NoServer(String),
    /// kubectl's `invalid configuration: …` (one message, or several in brackets).
    #[error("invalid configuration: {}", aggregate(.0))]
    Invalid(Vec<String>),
    /// Valid for kubectl, but something kcsr-submit deliberately does not do.
    #[error("{0}")]
    Unsupported(String),
}

impl KubeconfigError {
    /// One line telling the operator how to fix it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::ExplicitMissing { .. } => "check the path given to --kubeconfig".into(),
            Self::NotFound { .. } => {
                "pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config".into()
            }
            Self::NoContext => {
                "pass --context NAME or run `kubectl config use-context NAME`".into()
            }
            Self::ContextNotFound(_) => {
                "list the contexts with `kubectl config get-contexts`".into()
            }
            Self::ClusterNotFound(_) | Self::AuthInfoNotFound(_) => {
                "the context refers to an entry missing from every kubeconfig file read".into()
            }
            Self::NoServer(_) => "set clusters[].cluster.server in the kubeconfig".into(),
            _ => return None,
        })
    }
}

// Go's `utilerrors.NewAggregate(...).Error()`.
fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}
