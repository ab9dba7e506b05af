//! The RBAC step of every request (reference §3 step 2): the verb a request is, and the
//! authorizer's answer as a 403 Status.

use crate::http::Request;
use crate::identity::UserInfo;
use crate::locks::lock;
use crate::rbac::{Attrs, authorize};
use crate::state::Shared;
use crate::status::{ApiError, Resource};

use super::response::ApiResult;

/// The verb RBAC sees (reference §1 table).
pub(super) fn verb(req: &Request, has_name: bool) -> String {
    let watch = matches!(req.param("watch"), Some("true" | "1"));
    match (req.method.as_str(), has_name) {
        ("GET", _) if watch => "watch".into(),
        ("GET", false) => "list".into(),
        ("GET", true) => "get".into(),
        ("POST", _) => "create".into(),
        ("PUT", _) => "update".into(),
        ("PATCH", _) => "patch".into(),
        ("DELETE", false) => "deletecollection".into(),
        ("DELETE", true) => "delete".into(),
        (m, _) => m.to_ascii_lowercase(),
    }
}

pub(super) fn check(sh: &Shared, user: &UserInfo, a: &Attrs<'_>, res: &Resource) -> ApiResult<()> {
    let st = sh.store();
    let rules = lock(&sh.rules);
    if authorize(&st, &rules, user, a) {
        Ok(())
    } else {
        Err(ApiError::rbac(
            res,
            a.subresource,
            a.name,
            &user.name,
            a.verb,
            a.namespace,
        ))
    }
}
