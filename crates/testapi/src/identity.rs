//! Who a request authenticated as (reference §4.1): what authentication produces and
//! authorization, admission and the stored CSR's spec read.

use std::collections::BTreeMap;

/// Who a request authenticated as (reference §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub(crate) fn anonymous() -> Self {
        UserInfo {
            name: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
            extra: BTreeMap::new(),
        }
    }
    pub(crate) fn in_group(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }
}
