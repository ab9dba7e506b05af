//! The kubeconfig `kcsr assemble` wrote for token-key users (decision 0012): which users the
//! agent serves (those with a `kcsr.io/agent` user extension), their bearer tokens, and the
//! one loopback address they all name. Everything is checked before the agent listens.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kcsr_core::pkcs11_uri::Pkcs11Uri;
use kcsr_core::yaml::{self, Snippets};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::fail::{Fail, Result};

/// The name of the user extension the agent reads.
pub(crate) const EXTENSION: &str = "kcsr.io/agent";
/// A kubeconfig larger than this is not one kcsr wrote.
const MAX_BYTES: u64 = 4 << 20;

#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Option<Vec<ClusterEntry>>,
    #[serde(default)]
    users: Option<Vec<UserEntry>>,
    #[serde(default)]
    contexts: Option<Vec<ContextEntry>>,
}

#[derive(Deserialize)]
struct ClusterEntry {
    name: String,
    cluster: Cluster,
}

#[derive(Deserialize)]
struct Cluster {
    #[serde(default)]
    server: String,
}

#[derive(Deserialize)]
struct UserEntry {
    name: String,
    #[serde(default)]
    user: Option<User>,
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    extensions: Option<Vec<NamedExtension>>,
}

#[derive(Deserialize)]
struct NamedExtension {
    name: String,
    extension: serde_json::Value,
}

#[derive(Deserialize)]
struct ContextEntry {
    #[serde(default)]
    context: Option<Context>,
}

#[derive(Deserialize)]
struct Context {
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
}

/// The `kcsr.io/agent` extension. Unknown fields are refused: a field the agent ignored could
/// make an edited extension look like it says something it does not.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Extension {
    upstream: String,
    #[serde(rename = "certificate-authority-data")]
    ca_data: String,
    #[serde(rename = "tls-server-name", default)]
    tls_server_name: Option<String>,
    #[serde(rename = "client-certificate-data")]
    cert_data: String,
    pkcs11: String,
    /// The agent's own certificate for kubectl (self-signed, the cluster entry's CA) and its
    /// key: kubectl sends credentials only over https, so the loopback hop is TLS too.
    #[serde(rename = "serving-certificate-data")]
    serving_cert_data: String,
    #[serde(rename = "serving-key-data")]
    serving_key_data: String,
}

/// One user the agent serves.
pub(crate) struct AgentUser {
    pub(crate) name: String,
    /// The caller's secret for the agent (the kubeconfig's `token`).
    pub(crate) bearer: Zeroizing<String>,
    pub(crate) upstream: Upstream,
    pub(crate) ca_pem: Vec<u8>,
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) pkcs11: Pkcs11Uri,
    pub(crate) serving_cert_pem: Vec<u8>,
    pub(crate) serving_key_pem: Zeroizing<Vec<u8>>,
}

/// The real API server: `https://host[:port]`.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// For SNI and certificate verification: `tls-server-name`, else the host.
    pub(crate) server_name: String,
}

impl Upstream {
    /// The `Host` header value.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What the agent serves.
pub(crate) struct Config {
    pub(crate) address: SocketAddr,
    pub(crate) users: Vec<AgentUser>,
}

/// Reads and checks the kubeconfig.
pub(crate) fn load(path: &Path) -> Result<Config> {
    let shown = path.display();
    // It holds the bearer token that lets a local user use the agent: read only when no one
    // but its owner, the caller, can read it (kcsr-fs checks the opened file).
    let data = kcsr_fs::read_owner_only(path, MAX_BYTES).map_err(|e| {
        match e
            .get_ref()
            .and_then(|r| r.downcast_ref::<kcsr_fs::NotOwnerOnly>())
        {
            Some(why) => Fail::new(format!(
                "the kubeconfig {shown} {why}; it holds the bearer token that lets a local user use the agent"
            ))
            .hint(match why.other_owner {
                Some(_) => "run kcsr-agent as the user who owns the kubeconfig".to_owned(),
                None => format!("chmod 600 {shown}"),
            }),
            None => Fail::new(format!("cannot read the kubeconfig {shown}: {e}")).hint(
                "pass the kubeconfig `kcsr assemble` wrote for the token user: --kubeconfig FILE",
            ),
        }
    })?;
    let parsed: Kubeconfig = yaml::parse_one(&data, Snippets::Hide).map_err(|e| {
        Fail::new(format!(
            "the kubeconfig {shown} is not a valid kubeconfig: {e}"
        ))
    })?;
    from_parsed(parsed, &shown.to_string())
}

fn from_parsed(k: Kubeconfig, shown: &str) -> Result<Config> {
    let clusters: BTreeMap<String, String> = k
        .clusters
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name, c.cluster.server))
        .collect();
    let contexts: Vec<Context> = k
        .contexts
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.context)
        .collect();
    let mut users = Vec::new();
    let mut address: Option<(SocketAddr, String)> = None;
    for entry in k.users.unwrap_or_default() {
        let Some(user) = entry.user else { continue };
        let Some(ext) = user
            .extensions
            .unwrap_or_default()
            .into_iter()
            .find(|e| e.name == EXTENSION)
        else {
            continue;
        };
        let agent_user = agent_user(entry.name, user.token, ext.extension, shown)?;
        let named = ContextsOf {
            user: &agent_user.name,
            contexts: &contexts,
            clusters: &clusters,
            shown,
        };
        named.check_address(&mut address)?;
        users.push(agent_user);
    }
    let Some((address, _)) = address else {
        return Err(Fail::new(format!(
            "{shown} has no user with a {EXTENSION} extension, so there is nothing for the agent to serve"
        ))
        .hint("pass the kubeconfig `kcsr assemble` wrote for a user whose key is in a PKCS#11 token"));
    };
    one_serving_certificate(&users, shown)?;
    Ok(Config { address, users })
}

/// One address, one certificate for kubectl: assemble gives every user of an address the same
/// one.
fn one_serving_certificate(users: &[AgentUser], shown: &str) -> Result<()> {
    let Some(first) = users.first() else {
        return Ok(());
    };
    match users
        .iter()
        .find(|u| u.serving_cert_pem != first.serving_cert_pem)
    {
        Some(other) => Err(Fail::new(format!(
            "users {:?} and {:?} in {shown} have different serving certificates for the same agent address",
            first.name, other.name,
        ))
        .hint("assemble them into one kubeconfig with kcsr assemble --merge-into, which gives them one")),
        None => Ok(()),
    }
}

/// User `name` with its `token` and its `kcsr.io/agent` extension, every field decoded.
fn agent_user(
    name: String,
    token: Option<String>,
    extension: serde_json::Value,
    shown: &str,
) -> Result<AgentUser> {
    let bad = |what: String| {
        Fail::new(format!(
            "user {name:?} in {shown}: its {EXTENSION} extension {what}"
        ))
        .hint("write the kubeconfig again with `kcsr assemble` on the isolated machine; kcsr-agent uses only what assemble wrote")
    };
    let ext: Extension =
        serde_json::from_value(extension).map_err(|e| bad(format!("is malformed: {e}")))?;
    let bearer = bearer(&name, token, shown)?;
    let upstream = upstream(&ext.upstream, ext.tls_server_name.as_deref())
        .map_err(|m| bad(format!("has upstream {:?}: {m}", ext.upstream)))?;
    let ca_pem = STANDARD.decode(ext.ca_data.trim()).map_err(|e| {
        bad(format!(
            "has certificate-authority-data that is not base64: {e}"
        ))
    })?;
    let cert_pem = STANDARD.decode(ext.cert_data.trim()).map_err(|e| {
        bad(format!(
            "has client-certificate-data that is not base64: {e}"
        ))
    })?;
    let serving_cert_pem = STANDARD.decode(ext.serving_cert_data.trim()).map_err(|e| {
        bad(format!(
            "has serving-certificate-data that is not base64: {e}"
        ))
    })?;
    let serving_key_data = Zeroizing::new(ext.serving_key_data);
    let serving_key_pem = Zeroizing::new(
        STANDARD
            .decode(serving_key_data.trim())
            .map_err(|_| bad("has serving-key-data that is not base64".to_owned()))?,
    );
    let pkcs11: Pkcs11Uri = ext
        .pkcs11
        .parse()
        .map_err(|e| bad(format!("has a PKCS#11 URI that is refused: {e}")))?;
    Ok(AgentUser {
        name,
        bearer,
        upstream,
        ca_pem,
        cert_pem,
        pkcs11,
        serving_cert_pem,
        serving_key_pem,
    })
}

/// The user's `token`: what keeps other local users from using the agent.
fn bearer(name: &str, token: Option<String>, shown: &str) -> Result<Zeroizing<String>> {
    match token {
        Some(t) if t.len() >= 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Zeroizing::new(t))
        }
        Some(_) => Err(Fail::new(format!(
            "user {name:?} in {shown} has a token that is not one kcsr assemble writes (at least 32 hex digits)"
        ))
        .hint("write the kubeconfig again with `kcsr assemble`")),
        None => Err(Fail::new(format!(
            "user {name:?} in {shown} has a {EXTENSION} extension but no token: nothing would keep other local users from using the agent"
        ))
        .hint("write the kubeconfig again with `kcsr assemble`")),
    }
}

/// The contexts that use one agent user, and the clusters they name.
struct ContextsOf<'a> {
    user: &'a str,
    contexts: &'a [Context],
    clusters: &'a BTreeMap<String, String>,
    shown: &'a str,
}

impl ContextsOf<'_> {
    /// The `server` of every context that uses the user: each a loopback address, and the
    /// same as every earlier user's (`address`, set by the first).
    fn check_address(&self, address: &mut Option<(SocketAddr, String)>) -> Result<()> {
        let (name, shown) = (self.user, self.shown);
        let mut servers: Vec<(&str, &str)> = Vec::new();
        for c in self.contexts.iter().filter(|c| c.user == name) {
            let server = self.clusters.get(&c.cluster).ok_or_else(|| {
                Fail::new(format!(
                    "a context of user {name:?} in {shown} names cluster {:?}, which is not in the file",
                    c.cluster
                ))
            })?;
            servers.push((c.cluster.as_str(), server.as_str()));
        }
        if servers.is_empty() {
            return Err(Fail::new(format!(
                "user {name:?} in {shown} is in no context, so no agent address is named for it"
            ))
            .hint("write the kubeconfig again with `kcsr assemble`"));
        }
        for (cluster, server) in servers {
            let addr = loopback(server).map_err(|m| {
                Fail::new(format!(
                    "cluster {cluster:?} in {shown} has server {server:?}: {m}"
                ))
                .hint("the agent listens only on a loopback address (127.0.0.1 or [::1]): pass --agent-address 127.0.0.1:PORT to kcsr assemble")
            })?;
            match address {
                None => *address = Some((addr, cluster.to_owned())),
                Some((a, first)) if *a != addr => {
                    return Err(Fail::new(format!(
                        "the agent users in {shown} name two agent addresses: {a} (cluster {first:?}) and {addr} (cluster {cluster:?})"
                    ))
                    .hint("one kcsr-agent serves one address: keep the users of one address in one kubeconfig"));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// `https://127.0.0.1:PORT` or `https://[::1]:PORT`; nothing else.
pub(crate) fn loopback(server: &str) -> std::result::Result<SocketAddr, String> {
    let rest = server
        .strip_prefix("https://")
        .ok_or("the agent serves https on loopback (https://127.0.0.1:PORT)")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let addr: SocketAddr = rest
        .parse()
        .map_err(|_| "not an IP address with a port (https://127.0.0.1:PORT)".to_owned())?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{} is not a loopback address; the agent never listens where another machine could reach it",
            addr.ip()
        ));
    }
    Ok(addr)
}

/// `https://host[:port]`, with an optional path of `/` only.
fn upstream(url: &str, tls_server_name: Option<&str>) -> std::result::Result<Upstream, String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("the upstream must be an https:// URL")?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return Err("the upstream must be https://host[:port]".to_owned());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("an unclosed [ in the host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
            None if after.is_empty() => 443,
            None => return Err("junk after the host".to_owned()),
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                p.parse().map_err(|_| format!("bad port {p:?}"))?,
            ),
            None => (authority.to_owned(), 443),
        }
    };
    let server_name = tls_server_name.unwrap_or(&host).to_owned();
    Ok(Upstream {
        host,
        port,
        server_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_addresses_are_served() {
        assert!(loopback("https://127.0.0.1:16443").is_ok());
        assert!(loopback("https://[::1]:16443/").is_ok());
        assert!(loopback("https://0.0.0.0:16443").is_err());
        assert!(loopback("https://192.168.1.5:16443").is_err());
        assert!(loopback("http://127.0.0.1:16443").is_err());
        assert!(loopback("https://localhost:16443").is_err());
    }

    #[test]
    fn upstream_urls_are_host_and_port_only() {
        let u = upstream("https://prod.example:6443", None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.host.as_str(), u.port), ("prod.example", 6443));
        assert_eq!(u.authority(), "prod.example:6443");
        let u = upstream("https://[::1]", Some("api")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (u.host.as_str(), u.port, u.server_name.as_str()),
            ("::1", 443, "api")
        );
        assert!(upstream("http://prod.example", None).is_err());
        assert!(upstream("https://user@prod.example", None).is_err());
        assert!(upstream("https://prod.example/path", None).is_err());
    }
}
