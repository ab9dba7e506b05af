//! `kcsr cluster add --from-kubeconfig`: the server, CA and TLS server name of one cluster
//! entry. Users, credentials, exec plugins and auth providers are never read into a value.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kcsr_core::yaml;
use serde::Deserialize;

use super::input::{MAX_INPUT_BYTES, ServerSource, cas_pem};
use crate::fail::{Fail, Result};
use crate::report;

/// The parts of a kubeconfig a pin is made of. Unknown fields (users, credentials, exec
/// plugins, auth providers, proxies) are skipped by the parser and never kept.
#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Option<Vec<NamedCluster>>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
    #[serde(default, rename = "current-context")]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Option<ClusterEntry>,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    context: Option<ContextEntry>,
}

#[derive(Deserialize)]
struct ClusterEntry {
    server: Option<String>,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Option<String>,
    #[serde(rename = "certificate-authority")]
    ca_file: Option<String>,
    #[serde(rename = "tls-server-name")]
    tls_server_name: Option<String>,
    #[serde(rename = "insecure-skip-tls-verify", default)]
    insecure: Option<bool>,
}

#[derive(Deserialize)]
struct ContextEntry {
    cluster: Option<String>,
}

pub(super) fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<ServerSource> {
    let shown = path.display();
    // It holds the admin's key or token: the bytes are wiped when dropped.
    let data = kcsr_fs::read_secret(path, MAX_INPUT_BYTES, kcsr_fs::Links::Refuse)
        .map_err(|e| Fail::new(format!("--from-kubeconfig {shown}: {e}")))?;
    // Snippets hidden: a parse error must not echo a token from the file.
    let kc: Kubeconfig = yaml::parse_one(&data, yaml::Snippets::Hide).map_err(|e| {
        Fail::new(format!("{shown}: {e}"))
            .hint("give a kubeconfig file (kubectl config view --raw writes one)")
    })?;
    let contexts = kc.contexts.unwrap_or_default();
    let (wanted, cluster_name) = cluster_of(path, &contexts, kc.current_context, context)?;
    let clusters = kc.clusters.unwrap_or_default();
    let entry = clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| {
            Fail::new(format!(
                "{shown}: context {:?} names cluster {:?}, which the file does not define",
                report::sanitize(&wanted),
                report::sanitize(&cluster_name)
            ))
        })?;
    let what = format!("{shown}: cluster {:?}", report::sanitize(&cluster_name));
    if entry.insecure == Some(true) {
        return Err(Fail::new(format!(
            "{what} skips TLS verification (insecure-skip-tls-verify); there is no CA to pin"
        ))
        .hint(
            "pin the cluster with --server URL --ca FILE, the CA taken from a control-plane node",
        ));
    }
    let server = entry
        .server
        .clone()
        .ok_or_else(|| Fail::new(format!("{what} has no server")))?;
    let ca_pem = ca_of(path, &what, entry)?;
    Ok(ServerSource {
        server,
        ca_pem,
        tls_server_name: entry.tls_server_name.clone(),
        source: format!("kubeconfig {shown}, context {}", report::sanitize(&wanted)),
    })
}

/// The context wanted (`--context`, else the current one) and the cluster it names.
fn cluster_of(
    path: &Path,
    contexts: &[NamedContext],
    current_context: Option<String>,
    context: Option<&str>,
) -> Result<(String, String)> {
    let shown = path.display();
    let wanted = match context {
        Some(c) => c.to_owned(),
        None => current_context.filter(|c| !c.is_empty()).ok_or_else(|| {
            Fail::new(format!("{shown} has no current-context"))
                .hint(format!("choose one with --context ({})", names(contexts)))
        })?,
    };
    let cluster_name = contexts
        .iter()
        .find(|c| c.name == wanted)
        .ok_or_else(|| {
            Fail::new(format!(
                "{shown} has no context {:?}",
                report::sanitize(&wanted)
            ))
            .hint(format!("its contexts: {}", names(contexts)))
        })?
        .context
        .as_ref()
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| {
            Fail::new(format!(
                "{shown}: context {:?} names no cluster",
                report::sanitize(&wanted)
            ))
        })?;
    Ok((wanted, cluster_name))
}

/// The cluster entry's CA: embedded, or the file it names (relative to the kubeconfig).
fn ca_of(path: &Path, what: &str, entry: &ClusterEntry) -> Result<String> {
    Ok(match (&entry.ca_data, &entry.ca_file) {
        (Some(b64), _) => {
            let der_or_pem = STANDARD
                .decode(b64.split_whitespace().collect::<String>())
                .map_err(|_| {
                    Fail::new(format!("{what}: certificate-authority-data is not base64"))
                })?;
            cas_pem(&der_or_pem, &format!("{what}: certificate-authority-data"))?
        }
        (None, Some(file)) => {
            // As kubectl does: relative to the kubeconfig's directory.
            let p = PathBuf::from(file);
            let p = if p.is_absolute() {
                p
            } else {
                path.parent().unwrap_or(Path::new(".")).join(p)
            };
            // A file a kubeconfig names (`/etc/kubernetes/pki/ca.crt` is often a link).
            let data = kcsr_fs::read_limited_following(&p, MAX_INPUT_BYTES).map_err(|e| {
                Fail::new(format!(
                    "{what}: certificate-authority {}: {e}",
                    p.display()
                ))
            })?;
            cas_pem(
                &data,
                &format!("{what}: certificate-authority {}", p.display()),
            )?
        }
        (None, None) => {
            return Err(Fail::new(format!(
                "{what} names no CA (certificate-authority-data or certificate-authority): kubectl trusts the system's CAs for it"
            ))
            .hint("pin the cluster with --server URL --ca FILE, the CA of its serving certificate"));
        }
    })
}

fn names(list: &[NamedContext]) -> String {
    if list.is_empty() {
        return "none".to_owned();
    }
    list.iter()
        .map(|n| report::sanitize(&n.name))
        .collect::<Vec<_>>()
        .join(", ")
}
