//! What every object kcsr writes carries: its metadata and the label that marks it as kcsr's.
//! Shared by CSR manifests ([`crate::manifest`], which re-exports both) and binding manifests
//! ([`crate::rbac`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Label on every object kcsr writes.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Object metadata as kcsr writes and reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Namespace (only for RoleBindings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}
