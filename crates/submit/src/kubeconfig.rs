//! Kubeconfig files: hand-written serde types, loading and first-wins merging like kubectl
//! (`--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`), relative paths resolved against
//! the defining file, context selection and kubectl's validation with its error texts
//! (reference §12, client-go `clientcmd/loader.go`, `merge.go`, `validation.go`).

mod error;
mod file;
mod load;
mod resolve;
mod resolved;

pub use error::KubeconfigError;
pub use file::{
    AuthInfo, Cluster, Context, EXEC_API_VERSIONS, EXEC_CLUSTER_EXTENSION, ExecConfig, ExecEnvVar,
    Kubeconfig, Named, NamedExtension,
};
pub use load::KubeconfigSource;
pub use resolved::{
    BasicAuth, ClusterConnection, Credentials, PemSource, ResolvedContext, SecretPem,
};

#[cfg(test)]
mod tests;
