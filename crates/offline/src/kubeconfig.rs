//! Kubeconfig writing: a complete file for one user (`--out`), or entries added to an
//! existing file with every other cluster, user, context and unknown field kept
//! (`--merge-into`), like `kubectl config set-cluster/set-credentials/set-context` together.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kcsr_core::yaml;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

/// One user's entries.
pub(crate) struct Entry {
    pub(crate) cluster_name: String,
    pub(crate) server: String,
    pub(crate) ca_pem: Option<String>,
    pub(crate) tls_server_name: Option<String>,
    pub(crate) user_entry: String,
    pub(crate) context: String,
    pub(crate) cert_pem: String,
    pub(crate) key_pem: Zeroizing<String>,
}

fn cluster(e: &Entry) -> Value {
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
    json!({
        "name": e.user_entry,
        "user": {
            "client-certificate-data": STANDARD.encode(&e.cert_pem),
            "client-key-data": STANDARD.encode(e.key_pem.as_bytes()),
        }
    })
}

fn context(e: &Entry) -> Value {
    json!({"name": e.context, "context": {"cluster": e.cluster_name, "user": e.user_entry}})
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

/// Why an existing kubeconfig cannot be merged into.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    #[error("{0}")]
    Yaml(#[from] yaml::YamlError),
    #[error("{field} is not a list")]
    NotAList { field: &'static str },
    #[error("the file is not a kubeconfig mapping")]
    NotAMapping,
}

fn upsert(list: &mut Vec<Value>, entry: Value) {
    let name = entry.get("name").cloned();
    match list.iter_mut().find(|v| v.get("name") == name.as_ref()) {
        Some(slot) => *slot = entry,
        None => list.push(entry),
    }
}

/// Adds or replaces the entries of `entries` in the kubeconfig `existing` (empty for a new
/// file), keeping everything else; sets current-context to the last entry when asked.
pub(crate) fn merge(
    existing: &[u8],
    entries: &[&Entry],
    set_current: bool,
) -> Result<Zeroizing<String>, MergeError> {
    let mut root: Value = if existing.iter().all(u8::is_ascii_whitespace) {
        json!({"apiVersion": "v1", "kind": "Config"})
    } else {
        yaml::parse_one(existing, yaml::Snippets::Hide)?
    };
    let obj = root.as_object_mut().ok_or(MergeError::NotAMapping)?;
    for (field, make) in [
        ("clusters", cluster as fn(&Entry) -> Value),
        ("users", user),
        ("contexts", context),
    ] {
        let slot = obj.entry(field).or_insert_with(|| json!([]));
        if slot.is_null() {
            *slot = json!([]);
        }
        let list = slot.as_array_mut().ok_or(MergeError::NotAList { field })?;
        for e in entries {
            upsert(list, make(e));
        }
    }
    if set_current && let Some(last) = entries.last() {
        obj.insert("current-context".into(), json!(last.context));
    }
    let text = yaml::to_string(&root).map(Zeroizing::new);
    wipe(root);
    Ok(text?)
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
