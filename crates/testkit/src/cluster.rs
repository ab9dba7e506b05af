//! The test API server started on 127.0.0.1 with its admin kubeconfig written: the setup of
//! every test that talks to a cluster.

use std::path::{Path, PathBuf};

pub use kcsr_testapi::{Config, TestServer};

/// A running test API server and the admin kubeconfig it wrote.
pub struct Cluster {
    /// The server; dropping the cluster stops it.
    pub server: TestServer,
    /// Its admin kubeconfig (client certificate of a `system:masters` user).
    pub kubeconfig: PathBuf,
}

impl Cluster {
    /// The default server ([`Config::default`]).
    pub fn start() -> Self {
        Self::with(Config::default())
    }

    /// A server as `config` says.
    pub fn with(config: Config) -> Self {
        let server = TestServer::start(config).unwrap();
        let kubeconfig = server.admin_kubeconfig();
        assert!(kubeconfig.is_file(), "{} not written", kubeconfig.display());
        Self { server, kubeconfig }
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
}
