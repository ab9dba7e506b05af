//! A faithful test API server for `certificates.k8s.io` that real kubectl works against.
//!
//! Its behaviour follows `../shared/reference/k8s-csr-api.md` (cited as §N in the code):
//! HTTPS on 127.0.0.1 with its own serving CA, client-certificate and bearer-token
//! authentication, an authorizer chain (`system:masters`, a rule table, RBAC over the stored
//! ClusterRole/ClusterRoleBinding/Role/RoleBinding objects, starting from upstream's
//! bootstrap policy), discovery and OpenAPI v2/v3 for kubectl, CSR
//! create/get/list (with `limit`/`continue`)/watch/delete and `/approval` + `/status` with the
//! real validation and admission messages, protobuf request bodies, a signer that issues with
//! a separate client CA, the kubelet-client auto-approver, the garbage collector on an
//! injectable clock, a legacy (1.19–1.21, v1beta1) mode, and fault injection.
//!
//! It deliberately does not depend on `kcsr-core`: it is an independent implementation of the
//! server's rules, so it can catch mistakes the client shares with the offline checks.
//!
//! ```no_run
//! use kcsr_testapi::{Config, TestServer, UserSpec};
//! let server = TestServer::start(Config {
//!     users: vec!["alice:dev,ops".parse()?],
//!     ..Config::default()
//! })?;
//! let admin = server.admin_kubeconfig();          // system:masters, client certificate
//! let alice = server.kubeconfig_for("alice");     // may create/get/list/watch CSRs
//! server.faults().fail_next_with_429(2, 1);        // the next two CSR calls get 429
//! let objects = server.csrs();                     // snapshot for assertions
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! The API at a glance ([`TestServer`]):
//! - where: [`url`](TestServer::url), [`port`](TestServer::port), [`dir`](TestServer::dir),
//!   [`serving_ca_pem`](TestServer::serving_ca_pem), [`client_ca_pem`](TestServer::client_ca_pem)
//!   (issued certificates chain to it; also `DIR/client-ca.crt`);
//! - who: [`admin_kubeconfig`](TestServer::admin_kubeconfig) (`system:masters`),
//!   [`kubeconfig_for`](TestServer::kubeconfig_for), [`add_user`](TestServer::add_user),
//!   [`identity`](TestServer::identity) (cert + key PEM for an HTTP client),
//!   [`add_token`](TestServer::add_token), [`token_kubeconfig`](TestServer::token_kubeconfig);
//! - what they may do: [`grant`](TestServer::grant) / [`grant_all`](TestServer::grant_all)
//!   with [`Rule`] (e.g. [`Rule::approver`]); ClusterRoleBindings created through the API;
//! - the signer: [`register_signer`](TestServer::register_signer) for custom signer names,
//!   [`run_signer`](TestServer::run_signer);
//! - time: [`set_clock`](TestServer::set_clock), [`advance_clock`](TestServer::advance_clock),
//!   [`run_gc`](TestServer::run_gc); etcd compaction: [`compact`](TestServer::compact);
//! - faults: [`faults`](TestServer::faults) ([`Faults`]); a restart:
//!   [`restart`](TestServer::restart), [`go_down`](TestServer::go_down) /
//!   [`come_back`](TestServer::come_back);
//! - assertions: [`csrs`](TestServer::csrs), [`csr`](TestServer::csr),
//!   [`resource_version`](TestServer::resource_version),
//!   [`open_watches`](TestServer::open_watches);
//! - [`stop`](TestServer::stop) or drop.
//!
//! Users from [`Config::users`] and [`TestServer::add_user`] get the requester rules
//! ([`Rule::requester`]); tokens from [`TestServer::add_token`] get nothing beyond their groups
//! (`system:masters` is all-powerful) and what the RBAC objects bind to them. Add more with
//! [`TestServer::grant`], or with ClusterRoleBindings created through the API.

/// The README's usage example runs as a doctest, so the README cannot promise an API the
/// server does not have.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod api;
mod authn;
mod bootstrap;
mod bootstrap_policy;
mod clock;
mod config;
mod conns;
mod csr;
mod csr_update;
mod discovery;
mod faults;
mod field_error;
mod fields;
mod files;
mod gc;
mod http;
mod identity;
mod ids;
mod list;
mod locks;
mod openapi;
mod openapi_pb;
mod pkcs10;
mod pki;
mod proto;
mod rbac;
mod rule;
mod schema;
mod selector;
mod server;
mod signer;
mod signer_rules;
mod state;
mod status;
mod store;
mod watch;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::Value;

pub use config::{ADMIN_USER, Config, Identity, UserSpec, UserSpecError};
pub use faults::Faults;
#[doc(hidden)]
pub use proto::encode_csr_for_tests;
pub use rule::{Rule, Subject};

use crate::identity::UserInfo;
use crate::locks::lock;
use crate::pki::Ca;
use crate::state::Shared;
use crate::store::Store;

/// A running server; dropping it stops it.
pub struct TestServer {
    shared: Arc<Shared>,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// The accept thread of the current incarnation; `None` while down.
    accept: Mutex<Option<JoinHandle<()>>>,
    tls: Arc<rustls::ServerConfig>,
    background: Vec<JoinHandle<()>>,
    identities: Mutex<HashMap<String, Identity>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url())
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn yaml_str(s: &str) -> String {
    field_error::quote(s)
}

impl TestServer {
    /// Creates (or loads) the CAs, writes the kubeconfigs, and starts serving on 127.0.0.1.
    pub fn start(config: Config) -> anyhow::Result<TestServer> {
        let (dir, tmp) = match &config.dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (d.clone(), None)
            }
            None => {
                let t = tempfile::Builder::new().prefix("kcsr-testapi-").tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let serving_ca = Ca::load_or_create(&dir, "serving-ca", "kcsr-testapi serving CA")?;
        let client_ca = Ca::load_or_create(&dir, "client-ca", "kcsr-testapi client CA")?;
        let tls = server::tls_config(&serving_ca, &client_ca)?;
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            legacy: config.legacy,
            anonymous: config.anonymous,
            max_duration: config.max_duration,
            port,
            store: Mutex::new(Store {
                limit: config.watch_history.max(1),
                ..Store::default()
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            down: AtomicBool::new(false),
            conns: conns::Conns::default(),
            watches: std::sync::atomic::AtomicUsize::new(0),
            faults: Faults::default(),
            clock: clock::Clock::default(),
            tokens: Mutex::new(HashMap::new()),
            rules: Mutex::new(Vec::new()),
            signers: Mutex::new(BTreeSet::new()),
            serving_ca_pem: serving_ca.cert_pem.clone(),
            client_ca,
        });
        {
            // The bootstrap RBAC policy, as kube-apiserver creates it at start.
            let now = shared.now_rfc3339();
            bootstrap::ensure(&mut shared.store(), &now);
        }
        let mut server = TestServer {
            shared: shared.clone(),
            dir,
            _tmp: tmp,
            accept: Mutex::new(None),
            tls: tls.clone(),
            background: Vec::new(),
            identities: Mutex::new(HashMap::new()),
        };
        server.issue_kubeconfig(ADMIN_USER, &["system:masters".to_string()], "admin")?;
        for u in &config.users {
            server.add_user(u.clone())?;
        }
        *lock(&server.accept) = Some(server::spawn_accept(shared.clone(), listener, tls, 0)?);
        server.background.push(signer::spawn(shared.clone())?);
        if let Some(every) = config.gc_interval {
            let sh = shared.clone();
            server.background.push(
                std::thread::Builder::new()
                    .name("testapi-gc".into())
                    .spawn(move || {
                        let mut last = std::time::Instant::now();
                        while !sh.stopping() {
                            std::thread::sleep(Duration::from_millis(100).min(every));
                            if last.elapsed() >= every && !sh.is_down() {
                                gc::run(&sh);
                                last = std::time::Instant::now();
                            }
                        }
                    })?,
            );
        }
        Ok(server)
    }

    fn issue_kubeconfig(
        &self,
        name: &str,
        groups: &[String],
        file_stem: &str,
    ) -> anyhow::Result<PathBuf> {
        let (cert_pem, key_pem) = pki::new_identity(
            &self.shared.client_ca,
            name,
            groups,
            Vec::new(),
            &["digital signature", "key encipherment", "client auth"],
        )?;
        let path = self.dir.join(format!("{file_stem}.kubeconfig"));
        let user_block = format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&cert_pem),
            b64(&key_pem)
        );
        files::write_private(&path, self.kubeconfig_text(name, &user_block).as_bytes())?;
        lock(&self.identities).insert(name.to_string(), Identity { cert_pem, key_pem });
        Ok(path)
    }

    fn kubeconfig_text(&self, user: &str, user_block: &str) -> String {
        let ctx = format!("{user}@kcsr-testapi");
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kcsr-testapi\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: {}\n  user:\n{user_block}contexts:\n- name: {}\n  context:\n    cluster: kcsr-testapi\n    user: {}\ncurrent-context: {}\npreferences: {{}}\n",
            self.url(),
            b64(&self.shared.serving_ca_pem),
            yaml_str(user),
            yaml_str(&ctx),
            yaml_str(user),
            yaml_str(&ctx),
        )
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.shared.port)
    }
    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.shared.port
    }
    /// Where the CAs and kubeconfigs live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `DIR/admin.kubeconfig`: user [`ADMIN_USER`] in `system:masters`, client certificate.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }
    /// `DIR/NAME.kubeconfig` for a user from [`Config::users`] or [`TestServer::add_user`].
    pub fn kubeconfig_for(&self, user: &str) -> PathBuf {
        self.dir.join(format!("{user}.kubeconfig"))
    }
    /// Issues a client certificate for a new user, writes `DIR/NAME.kubeconfig`, grants the
    /// requester rules, and returns the path.
    pub fn add_user(&self, spec: UserSpec) -> anyhow::Result<PathBuf> {
        if spec.name.is_empty() || spec.name.contains('/') || spec.name == ADMIN_USER {
            anyhow::bail!("invalid or reserved user name {:?}", spec.name);
        }
        let path = self.issue_kubeconfig(&spec.name, &spec.groups, &spec.name)?;
        self.grant(Rule::requester(Subject::User(spec.name.clone())));
        Ok(path)
    }
    /// The certificate and key of a client-certificate user (admin: [`ADMIN_USER`]).
    pub fn identity(&self, user: &str) -> Option<Identity> {
        lock(&self.identities).get(user).cloned()
    }
    /// The admin's certificate and key.
    pub fn admin_identity(&self) -> Identity {
        self.identity(ADMIN_USER).unwrap_or(Identity {
            cert_pem: String::new(),
            key_pem: String::new(),
        })
    }
    /// A static bearer token (§4.1); `system:authenticated` is added to the groups.
    pub fn add_token(&self, token: &str, user: &str, groups: &[&str]) {
        let mut gs: Vec<String> = groups.iter().map(|g| (*g).to_string()).collect();
        if !gs.iter().any(|g| g == "system:authenticated") {
            gs.push("system:authenticated".into());
        }
        lock(&self.shared.tokens).insert(
            token.to_string(),
            UserInfo {
                name: user.to_string(),
                uid: String::new(),
                groups: gs,
                extra: BTreeMap::new(),
            },
        );
    }
    /// Writes `DIR/<file_stem>.kubeconfig` that authenticates with a bearer token.
    pub fn token_kubeconfig(&self, file_stem: &str, token: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(format!("{file_stem}.kubeconfig"));
        let block = format!("    token: {}\n", yaml_str(token));
        files::write_private(&path, self.kubeconfig_text(file_stem, &block).as_bytes())?;
        Ok(path)
    }
    /// The CA that signed the server's certificate (also `DIR/serving-ca.crt`).
    pub fn serving_ca_pem(&self) -> String {
        self.shared.serving_ca_pem.clone()
    }
    /// The CA that signs issued certificates (also `DIR/client-ca.crt`).
    pub fn client_ca_pem(&self) -> String {
        self.shared.client_ca.cert_pem.clone()
    }
    /// Fault-injection switches.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }
    /// Custom signer names are signed (as requested, no extra checks) once registered.
    pub fn register_signer(&self, signer_name: &str) {
        lock(&self.shared.signers).insert(signer_name.to_string());
        self.shared.changed.notify_all();
    }
    /// Adds an RBAC rule to the table.
    pub fn grant(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }
    /// Adds several rules (e.g. [`Rule::approver`]).
    pub fn grant_all(&self, rules: impl IntoIterator<Item = Rule>) {
        lock(&self.shared.rules).extend(rules);
    }
    /// Snapshot of the stored CSRs (v1 shape), ordered by name.
    pub fn csrs(&self) -> Vec<Value> {
        self.shared
            .store()
            .objects
            .iter()
            .filter(|((r, _, _), _)| *r == "certificatesigningrequests")
            .map(|(_, v)| v.clone())
            .collect()
    }
    /// One stored CSR.
    pub fn csr(&self, name: &str) -> Option<Value> {
        self.shared.store().csr(name).cloned()
    }
    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().rv
    }
    /// Compacts the history now, as etcd's periodic compaction does: a watch or a LIST
    /// continuation from an older resourceVersion gets 410 `Expired` (the history also
    /// compacts by itself beyond [`Config::watch_history`] changes).
    pub fn compact(&self) {
        self.shared.store().compact();
    }
    /// Sets the server clock (timestamps, signer, GC).
    pub fn set_clock(&self, t: SystemTime) {
        self.shared.clock.set(t);
    }
    /// Moves the server clock forward.
    pub fn advance_clock(&self, d: Duration) {
        self.shared.clock.advance(d);
    }
    /// The server clock now.
    pub fn now(&self) -> SystemTime {
        self.shared.clock.now_system()
    }
    /// One §11 cleaner pass now; returns the deleted names.
    pub fn run_gc(&self) -> Vec<String> {
        gc::run(&self.shared)
    }
    /// One signer pass now (the background signer also runs on every change); returns how
    /// many CSRs it issued or failed.
    pub fn run_signer(&self) -> usize {
        signer::run_once(&self.shared)
    }
    /// Stops the server (same as dropping it).
    pub fn stop(self) {}

    /// Takes the server down as a kube-apiserver restart does: the listener is closed (new
    /// connections are refused) and every open connection, watches included, is cut without
    /// a TLS close_notify; requests in flight get no answer. The signer and cleaner idle, as
    /// controllers cannot reach a server that is down. Stored objects, resourceVersions and
    /// watch history, CAs, users, tokens, rules, fault switches and the clock stay (etcd and
    /// the files on disk survive a restart). Returns once every connection thread has ended.
    /// Does nothing if the server is down already.
    pub fn go_down(&self) {
        let mut accept = lock(&self.accept);
        let Some(thread) = accept.take() else {
            return;
        };
        self.shared.down.store(true, Ordering::SeqCst);
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // Joined before cutting: every connection it accepted is registered by then.
        let _ = thread.join();
        self.shared.conns.cut_all();
        self.shared.conns.join_all();
    }

    /// Listens again on the same port with the same state, CAs and serving certificate, after
    /// [`go_down`](Self::go_down). Does nothing if the server is up.
    pub fn come_back(&self) -> anyhow::Result<()> {
        let mut accept = lock(&self.accept);
        if accept.is_some() {
            return Ok(());
        }
        let listener = bind_again(self.port())?;
        {
            // Every start reconciles the bootstrap policy: deleted bootstrap roles and
            // bindings come back, as with kube-apiserver's `rbac/bootstrap-roles` hook.
            let now = self.shared.now_rfc3339();
            bootstrap::ensure(&mut self.shared.store(), &now);
        }
        let epoch = self.shared.epoch.load(Ordering::SeqCst);
        *accept = Some(server::spawn_accept(
            self.shared.clone(),
            listener,
            self.tls.clone(),
            epoch,
        )?);
        self.shared.down.store(false, Ordering::SeqCst);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// [`go_down`](Self::go_down), refuse connections for `down_for`, then
    /// [`come_back`](Self::come_back) on the same port.
    pub fn restart(&self, down_for: Duration) -> anyhow::Result<()> {
        self.go_down();
        std::thread::sleep(down_for);
        self.come_back()
    }

    /// How many watch streams are open now (e.g. to know that a client has reached its wait).
    pub fn open_watches(&self) -> usize {
        self.shared.watches.load(Ordering::SeqCst)
    }

    /// Whether the server is down (between [`go_down`](Self::go_down) and
    /// [`come_back`](Self::come_back)).
    pub fn is_down(&self) -> bool {
        self.shared.is_down()
    }
}

/// Binds 127.0.0.1:`port` again. std sets SO_REUSEADDR, so connections of the previous
/// listener in TIME_WAIT do not block it; another process taking the port meanwhile does.
fn bind_again(port: u16) -> anyhow::Result<TcpListener> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return Ok(l),
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "cannot listen on 127.0.0.1:{port} again after going down: {e}"
                ));
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        if let Some(h) = lock(&self.accept).take() {
            let _ = h.join();
        }
        for h in self.background.drain(..) {
            let _ = h.join();
        }
        self.shared.conns.join_all();
    }
}
