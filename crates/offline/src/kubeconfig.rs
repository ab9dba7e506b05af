//! Kubeconfig writing: a complete file for one user (`--out`), or entries added to an
//! existing file with every other cluster, user, context and unknown field kept
//! (`--merge-into`), like `kubectl config set-cluster/set-credentials/set-context` together,
//! except that an existing entry that differs is never silently replaced: another context may
//! use that cluster or user, and a forged bundle must not redirect it (issue 12, attack 2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kcsr_core::yaml;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

/// One user's entries.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) cluster_name: String,
    pub(crate) server: String,
    pub(crate) ca_pem: Option<String>,
    pub(crate) tls_server_name: Option<String>,
    pub(crate) user_entry: String,
    pub(crate) context: String,
    pub(crate) cert_pem: String,
    pub(crate) key: Credential,
}

/// How a user entry holds its private key. kubectl (client-go) reads only unencrypted PEM
/// keys, embedded or from a file: an encrypted key would be unusable, so kcsr never writes
/// one into a kubeconfig or names one with `client-key`.
#[derive(Clone)]
pub(crate) enum Credential {
    /// The key itself, decrypted (`client-key-data`).
    Embedded(Zeroizing<String>),
    /// The path of the user's key file where the kubeconfig is used (`client-key`).
    Path(String),
    /// No key: the certificate alone (a request made from the user's own CSR).
    Absent,
    /// The key is in a PKCS#11 token: the cluster entry points at kcsr-agent on loopback, the
    /// user authenticates to it with `bearer`, and the `kcsr.io/agent` extension tells the
    /// agent the real server (the station's pin), its CA, the certificate and the token URI
    /// (decision 0012).
    Agent {
        /// 32 random bytes, hex: the caller's secret for the agent.
        bearer: Zeroizing<String>,
        /// Where the agent listens (loopback).
        address: std::net::SocketAddr,
        /// The token URI (never with `pin-value`).
        pkcs11: String,
        /// The agent's own certificate and key for the loopback hop.
        serving: AgentServing,
    },
}

/// The certificate kcsr-agent shows kubectl, self-signed for the agent's loopback address:
/// kubectl (client-go) sends credentials only over https, so the hop to the agent is TLS,
/// pinned by the cluster entry's `certificate-authority-data`. Its key protects only that hop.
#[derive(Clone)]
pub(crate) struct AgentServing {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: Zeroizing<String>,
}

impl AgentServing {
    /// A new one for `address`.
    pub(crate) fn new(address: std::net::SocketAddr) -> Result<Self, String> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| e.to_string())?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kcsr-agent");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(address.ip()));
        let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: Zeroizing::new(key.serialize_pem()),
        })
    }
}

/// The name of the user extension kcsr-agent reads.
pub(crate) const AGENT_EXTENSION: &str = "kcsr.io/agent";

impl Entry {
    /// The server kubectl talks to: the agent's for a token user, else the cluster's.
    pub(crate) fn server_for_kubectl(&self) -> String {
        match &self.key {
            Credential::Agent { address, .. } => format!("https://{address}"),
            _ => self.server.clone(),
        }
    }

    /// The cluster entry's name: `<cluster>@kcsr-agent` when it points at the agent, which is
    /// not the cluster entry a file key's kubeconfig has for the same cluster.
    pub(crate) fn cluster_entry(&self) -> String {
        match self.key {
            Credential::Agent { .. } => format!("{}@kcsr-agent", self.cluster_name),
            _ => self.cluster_name.clone(),
        }
    }
}

fn cluster(e: &Entry) -> Value {
    if let Credential::Agent {
        address, serving, ..
    } = &e.key
    {
        return json!({"name": e.cluster_entry(), "cluster": {
            "server": format!("https://{address}"),
            "certificate-authority-data": STANDARD.encode(&serving.cert_pem),
        }});
    }
    let mut c = Map::new();
    c.insert("server".into(), json!(e.server));
    if let Some(ca) = &e.ca_pem {
        c.insert(
            "certificate-authority-data".into(),
            json!(STANDARD.encode(ca)),
        );
    }
    if let Some(n) = &e.tls_server_name {
        c.insert("tls-server-name".into(), json!(n));
    }
    json!({"name": e.cluster_name, "cluster": Value::Object(c)})
}

fn user(e: &Entry) -> Value {
    if let Credential::Agent {
        bearer,
        pkcs11,
        serving,
        ..
    } = &e.key
    {
        let mut ext = Map::new();
        ext.insert("upstream".into(), json!(e.server));
        if let Some(ca) = &e.ca_pem {
            ext.insert(
                "certificate-authority-data".into(),
                json!(STANDARD.encode(ca)),
            );
        }
        if let Some(n) = &e.tls_server_name {
            ext.insert("tls-server-name".into(), json!(n));
        }
        ext.insert(
            "client-certificate-data".into(),
            json!(STANDARD.encode(&e.cert_pem)),
        );
        ext.insert("pkcs11".into(), json!(pkcs11));
        ext.insert(
            "serving-certificate-data".into(),
            json!(STANDARD.encode(&serving.cert_pem)),
        );
        ext.insert(
            "serving-key-data".into(),
            json!(STANDARD.encode(serving.key_pem.as_bytes())),
        );
        return json!({"name": e.user_entry, "user": {
            "token": bearer.as_str(),
            "extensions": [{"name": AGENT_EXTENSION, "extension": Value::Object(ext)}],
        }});
    }
    let mut u = Map::new();
    u.insert(
        "client-certificate-data".into(),
        json!(STANDARD.encode(&e.cert_pem)),
    );
    match &e.key {
        Credential::Embedded(pem) => {
            u.insert(
                "client-key-data".into(),
                json!(STANDARD.encode(pem.as_bytes())),
            );
        }
        Credential::Path(path) => {
            u.insert("client-key".into(), json!(path));
        }
        Credential::Absent | Credential::Agent { .. } => {}
    }
    json!({"name": e.user_entry, "user": Value::Object(u)})
}

fn context(e: &Entry) -> Value {
    json!({"name": e.context, "context": {"cluster": e.cluster_entry(), "user": e.user_entry}})
}

/// A complete kubeconfig for one user, with its context current.
pub(crate) fn complete(e: &Entry) -> Result<Zeroizing<String>, yaml::YamlError> {
    let v = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster(e)],
        "users": [user(e)],
        "contexts": [context(e)],
        "current-context": e.context,
        "preferences": {},
    });
    let text = yaml::to_string(&v).map(Zeroizing::new);
    wipe(v);
    text
}

/// Which list of a kubeconfig an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Cluster,
    User,
    Context,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Cluster => "cluster",
            Self::User => "user",
            Self::Context => "context",
        }
    }
}

/// What a merge did to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// There was none of that name.
    Added,
    /// There was one with the same content; it is kept as it was.
    Unchanged,
    /// A user entry replaced by a renewal of its certificate.
    Renewed,
    /// An entry that differed, replaced because of `--force`.
    Replaced,
}

/// One entry a merge touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
}

/// The merged kubeconfig and what changed.
pub(crate) struct Merged {
    pub(crate) text: Zeroizing<String>,
    pub(crate) changes: Vec<Change>,
}

/// Why an existing kubeconfig cannot be merged into.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    #[error("{0}")]
    Yaml(#[from] yaml::YamlError),
    #[error("{field} is not a list")]
    NotAList { field: &'static str },
    #[error("the file is not a kubeconfig mapping")]
    NotAMapping,
    /// Existing entries of the same names that differ (kind, name).
    #[error("existing entries differ")]
    Conflicts(Vec<(Kind, String)>),
}

/// How a merge treats an existing entry that differs.
pub(crate) struct Policy<'a> {
    /// Replace every differing entry (`--force`).
    pub(crate) force: bool,
    /// Whether entry `i`'s user replaces the existing user body given as a renewal.
    pub(crate) renews: &'a dyn Fn(usize, &Value) -> bool,
}

/// Adds the entries of `entries` to the kubeconfig `existing` (empty for a new file), keeping
/// everything else. An existing entry of the same name is kept when its content is the same;
/// when it differs it is replaced only as a renewal (users) or with `force`, else nothing is
/// merged and every such entry is named. Sets current-context to the last entry when asked.
pub(crate) fn merge(
    existing: &[u8],
    entries: &[&Entry],
    set_current: bool,
    policy: &Policy<'_>,
) -> Result<Merged, MergeError> {
    let mut root: Value = if existing.iter().all(u8::is_ascii_whitespace) {
        json!({"apiVersion": "v1", "kind": "Config"})
    } else {
        yaml::parse_one(existing, yaml::Snippets::Hide)?
    };
    let result = merge_into(&mut root, entries, set_current, policy);
    let merged = match result {
        Ok(changes) => yaml::to_string(&root)
            .map(|t| Merged {
                text: Zeroizing::new(t),
                changes,
            })
            .map_err(MergeError::from),
        Err(e) => Err(e),
    };
    wipe(root);
    merged
}

fn merge_into(
    root: &mut Value,
    entries: &[&Entry],
    set_current: bool,
    policy: &Policy<'_>,
) -> Result<Vec<Change>, MergeError> {
    let obj = root.as_object_mut().ok_or(MergeError::NotAMapping)?;
    let mut changes = Vec::new();
    let mut conflicts = Vec::new();
    for (kind, field, make) in [
        (Kind::Cluster, "clusters", cluster as fn(&Entry) -> Value),
        (Kind::User, "users", user),
        (Kind::Context, "contexts", context),
    ] {
        let slot = obj.entry(field).or_insert_with(|| json!([]));
        if slot.is_null() {
            *slot = json!([]);
        }
        let list = slot.as_array_mut().ok_or(MergeError::NotAList { field })?;
        for (i, e) in entries.iter().enumerate() {
            let new = make(e);
            let name = new
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let body = kind.as_str();
            let outcome = match list
                .iter_mut()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(name.as_str()))
            {
                None => {
                    list.push(new);
                    Outcome::Added
                }
                Some(old) if old.get(body) == new.get(body) => {
                    wipe(new);
                    Outcome::Unchanged
                }
                Some(old) => {
                    let outcome = if kind == Kind::User
                        && old.get(body).is_some_and(|b| (policy.renews)(i, b))
                    {
                        Outcome::Renewed
                    } else if policy.force {
                        Outcome::Replaced
                    } else {
                        conflicts.push((kind, name.clone()));
                        wipe(new);
                        continue;
                    };
                    wipe(std::mem::replace(old, new));
                    outcome
                }
            };
            changes.push(Change {
                kind,
                name,
                outcome,
            });
        }
    }
    if !conflicts.is_empty() {
        return Err(MergeError::Conflicts(conflicts));
    }
    if set_current && let Some(last) = entries.last() {
        obj.insert("current-context".into(), json!(last.context));
    }
    Ok(changes)
}

/// The PEM of a kubeconfig user body's embedded client certificate, if it has one (for a
/// token key's user, in its `kcsr.io/agent` extension).
pub(crate) fn client_certificate(user_body: &Value) -> Option<Vec<u8>> {
    user_body
        .get("client-certificate-data")
        .or_else(|| agent_extension(user_body)?.get("client-certificate-data"))
        .and_then(Value::as_str)
        .and_then(|s| STANDARD.decode(s).ok())
}

fn agent_extension(user_body: &Value) -> Option<&Value> {
    user_body
        .get("extensions")?
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(AGENT_EXTENSION))?
        .get("extension")
}

/// What a kubeconfig already has for kcsr-agent users: the bearer token of user `name` (if
/// it is an agent user there) and the serving certificate of any agent user at `address`.
/// Assembling into the file again keeps both, so the entries are unchanged and one agent
/// serves every user of its address with one certificate.
pub(crate) fn agent_state(
    data: &[u8],
    name: &str,
    address: std::net::SocketAddr,
) -> (Option<Zeroizing<String>>, Option<AgentServing>) {
    let Ok(root) = yaml::parse_one::<Value>(data, yaml::Snippets::Hide) else {
        return (None, None);
    };
    let users: Vec<&Value> = root
        .get("users")
        .and_then(Value::as_array)
        .map(|u| u.iter().collect())
        .unwrap_or_default();
    let token = users
        .iter()
        .find(|u| u.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|u| u.get("user"))
        .filter(|body| agent_extension(body).is_some())
        .and_then(|body| body.get("token"))
        .and_then(Value::as_str)
        .map(|t| Zeroizing::new(t.to_owned()));
    let decode = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(|s| STANDARD.decode(s).ok())
            .and_then(|b| String::from_utf8(b).ok())
    };
    let serving = users.iter().find_map(|u| {
        let ext = agent_extension(u.get("user")?)?;
        // The address is the agent's, as its certificate names it.
        let cert = decode(ext.get("serving-certificate-data"))?;
        let key = Zeroizing::new(decode(ext.get("serving-key-data"))?);
        let info = kcsr_core::cert::parse_first(cert.as_bytes()).ok()?;
        info.sans.ip.contains(&address.ip()).then(|| AgentServing {
            cert_pem: cert,
            key_pem: key,
        })
    });
    wipe(root);
    (token, serving)
}

/// Where a kubeconfig user entry's certificate is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserCertificate {
    /// `client-certificate-data`, decoded.
    Data(Vec<u8>),
    /// `client-certificate`: a file, relative to the kubeconfig's directory as kubectl reads it.
    File(String),
}

/// Whether `data` looks like a kubeconfig: a YAML mapping with `kind: Config` or a `users`
/// list of named entries.
pub(crate) fn looks_like_kubeconfig(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let has = |key: &str| text.lines().any(|l| l.starts_with(key));
    (has("kind: Config") || has("users:")) && (has("users:") || has("clusters:"))
}

/// The user entries of a kubeconfig with their certificates (entries without one are left
/// out). Keys and tokens are read as part of the file but never kept: every string of the
/// parsed document is wiped.
pub(crate) fn user_certificates(data: &[u8]) -> Result<Vec<(String, UserCertificate)>, MergeError> {
    let root: Value = yaml::parse_one(data, yaml::Snippets::Hide)?;
    let mut out = Vec::new();
    let result = (|| {
        let obj = root.as_object().ok_or(MergeError::NotAMapping)?;
        let users = match obj.get("users") {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Array(u)) => u,
            Some(_) => return Err(MergeError::NotAList { field: "users" }),
        };
        for u in users {
            let name = u.get("name").and_then(Value::as_str).unwrap_or_default();
            let Some(body) = u.get("user") else { continue };
            if let Some(pem) = client_certificate(body) {
                out.push((name.to_owned(), UserCertificate::Data(pem)));
            } else if let Some(file) = body.get("client-certificate").and_then(Value::as_str) {
                out.push((name.to_owned(), UserCertificate::File(file.to_owned())));
            }
        }
        Ok(())
    })();
    wipe(root);
    result.map(|()| out)
}

/// Overwrites every string of a kubeconfig value before it is dropped: it holds the key
/// (`client-key-data`) and possibly other users' tokens.
fn wipe(value: Value) {
    use zeroize::Zeroize as _;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(mut s) => s.zeroize(),
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}
