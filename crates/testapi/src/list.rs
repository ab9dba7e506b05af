//! LIST with `limit` and `continue` (reference §1 query parameters), as kube-apiserver 1.32
//! serves it: a LIST with a limit goes to etcd (`cacher.go: shouldDelegateList`), which
//! returns at most `limit` objects in key order, a `continue` token when more keys follow,
//! and `remainingItemCount` when no selector filters (`etcd3/store.go: GetList`). The token
//! is `base64.RawURLEncoding` of `{"v":"meta.k8s.io/v1","rv":<revision>,"start":"<next key>"}`
//! (`storage/continue.go`); a continuation reads the revision the first page was read at, and
//! once that revision is compacted answers 410 `Expired` with a token that continues at the
//! latest revision (`handleCompactedErrorForPaging`). `resourceVersion=0` is served from the
//! watch cache, which ignores `limit`. The ListOptions rules are
//! `apimachinery pkg/apis/meta/internalversion/validation: ValidateListOptions`.

use base64::Engine as _;
use serde_json::Value;

use crate::field_error::{FieldError, quote};
use crate::http::Request;
use crate::selector::Selector;
use crate::state::Shared;
use crate::status::ApiError;
use crate::store::ObjectKey;

/// One page of a LIST.
#[derive(Debug)]
pub(crate) struct Page {
    pub items: Vec<Value>,
    /// The revision the page was read at (`metadata.resourceVersion`).
    pub rv: u64,
    pub continue_token: String,
    pub remaining: Option<i64>,
}

impl Page {
    /// The list's `metadata` (ListMeta), also copied into a Table (`handlers/response.go:
    /// asTable`).
    pub(crate) fn list_meta(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("resourceVersion".into(), Value::String(self.rv.to_string()));
        if !self.continue_token.is_empty() {
            m.insert(
                "continue".into(),
                Value::String(self.continue_token.clone()),
            );
        }
        if let Some(n) = self.remaining {
            m.insert("remainingItemCount".into(), Value::from(n));
        }
        Value::Object(m)
    }
}

/// The etcd key below the resource prefix: `name`, or `namespace/name`.
fn key_suffix(k: &ObjectKey) -> String {
    if k.1.is_empty() {
        k.2.clone()
    } else {
        format!("{}/{}", k.1, k.2)
    }
}

/// Go's `json.Marshal` of a string: JSON with `<`, `>`, `&` escaped as `\u003c` etc.
fn go_json_string(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `storage.EncodeContinue`.
pub(crate) fn encode_continue(start: &str, rv: i64) -> String {
    let json = format!(
        "{{\"v\":\"meta.k8s.io/v1\",\"rv\":{rv},\"start\":{}}}",
        go_json_string(start)
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.as_bytes())
}

/// `storage.DecodeContinue`: the start key (below the prefix) and the revision.
fn decode_continue(token: &str) -> Result<(String, i64), String> {
    const GENERIC: &str = "continue key is not valid";
    let data = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .map_err(|e| format!("{GENERIC}: {e}"))?;
    let v: Value = serde_json::from_slice(&data).map_err(|e| format!("{GENERIC}: {e}"))?;
    let version = v.get("v").and_then(Value::as_str).unwrap_or("");
    if version != "meta.k8s.io/v1" {
        return Err(format!(
            "{GENERIC}: server does not recognize this encoded version {version}"
        ));
    }
    let rv = v.get("rv").and_then(Value::as_i64).unwrap_or(0);
    if rv == 0 {
        return Err(format!(
            "{GENERIC}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        ));
    }
    let start = v.get("start").and_then(Value::as_str).unwrap_or("");
    if start.is_empty() {
        return Err(format!(
            "{GENERIC}: encoded start key empty (version meta.k8s.io/v1)"
        ));
    }
    // `path.Clean` must not change it: no `..`, no `//`, no trailing `/` (a client cannot
    // widen the range beyond the resource prefix).
    let rooted = if start.starts_with('/') {
        start.to_string()
    } else {
        format!("/{start}")
    };
    let clean = !rooted.contains("//")
        && !rooted.ends_with('/')
        && rooted.split('/').all(|seg| seg != "." && seg != "..");
    if !clean {
        return Err(format!("{GENERIC}: {start}"));
    }
    Ok((rooted[1..].to_string(), rv))
}

/// `ValidateListOptions` for a (non-watch) LIST → 422 `ListOptions.meta.k8s.io`.
fn validate_options(req: &Request) -> Result<(), ApiError> {
    let mut errs = Vec::new();
    let rv = req.param("resourceVersion").unwrap_or("");
    if let Some(m) = req.param("resourceVersionMatch").filter(|m| !m.is_empty()) {
        if rv.is_empty() {
            errs.push(FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if req.param("continue").is_some_and(|c| !c.is_empty()) {
            errs.push(FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        match m {
            "Exact" if rv == "0" => errs.push(FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            )),
            "Exact" | "NotOlderThan" => {}
            other => errs.push(FieldError::not_supported(
                "resourceVersionMatch",
                quote(other),
                &["Exact", "NotOlderThan", ""],
            )),
        }
    }
    if req.param("sendInitialEvents").is_some() {
        errs.push(FieldError::forbidden(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_options("ListOptions", &errs))
    }
}

fn parse_u64(what: &str, v: &str) -> Result<u64, ApiError> {
    v.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid {what}: {}", quote(v))))
}

/// Reads one page of `resource` (in namespace `ns`, or all) matching `sel`.
pub(crate) fn page(
    sh: &Shared,
    req: &Request,
    resource: &'static str,
    ns: &str,
    sel: &Selector,
) -> Result<Page, ApiError> {
    validate_options(req)?;
    let limit = match req.param("limit").filter(|l| !l.is_empty()) {
        None => 0,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {}", quote(l))))?,
    };
    let rv_param = req.param("resourceVersion").unwrap_or("");
    let rv_match = req.param("resourceVersionMatch").unwrap_or("");
    let token = req.param("continue").unwrap_or("");
    let (start, at) = start_and_revision(token, rv_param, rv_match, limit)?;
    let st = sh.store();
    if at.is_some_and(|r| r > st.rv) {
        return Err(ApiError::internal_plain(
            "etcdserver: mvcc: required revision is a future revision",
        ));
    }
    if at.is_some_and(|r| r < st.compacted) {
        return Err(if token.is_empty() {
            ApiError::expired_list()
        } else {
            ApiError::expired_continue(encode_continue(&start, -1))
        });
    }
    let rv = at.unwrap_or(st.rv);
    let objects = st
        .objects_at(resource, rv)
        .ok_or_else(ApiError::expired_list)?;
    drop(st);
    // etcd key order: by the key string below the prefix.
    let prefix = if ns.is_empty() {
        String::new()
    } else {
        format!("{ns}/")
    };
    let mut keyed: Vec<(String, Value)> = objects
        .iter()
        .map(|(k, v)| (key_suffix(k), v))
        .filter(|(k, _)| k.starts_with(&prefix) && *k >= start)
        .map(|(k, v)| (k, v.clone()))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    // The watch cache serves `resourceVersion=0` and ignores the limit.
    let paging = limit > 0 && !(token.is_empty() && rv_param == "0");
    let mut items = Vec::new();
    let mut last = String::new();
    let mut has_more = false;
    for (k, v) in &keyed {
        if paging && i64::try_from(items.len()).unwrap_or(i64::MAX) >= limit {
            has_more = true;
            break;
        }
        if sel.matches(v) {
            items.push(v.clone());
        }
        last.clone_from(k);
    }
    let (continue_token, remaining) = if has_more {
        let count = i64::try_from(keyed.len()).unwrap_or(i64::MAX);
        (
            encode_continue(&format!("{last}\u{0}"), i64::try_from(rv).unwrap_or(0)),
            sel.is_empty().then(|| count - limit),
        )
    } else {
        (String::new(), None)
    };
    Ok(Page {
        items,
        rv,
        continue_token,
        remaining,
    })
}

/// Where a LIST starts (a key below the prefix) and at which revision (`None` = latest): a
/// continue token's, or the one `resourceVersion` and `resourceVersionMatch` ask for.
fn start_and_revision(
    token: &str,
    rv_param: &str,
    rv_match: &str,
    limit: i64,
) -> Result<(String, Option<u64>), ApiError> {
    Ok(if !token.is_empty() {
        let (start, rv) = decode_continue(token)
            .map_err(|e| ApiError::bad_request(format!("invalid continue token: {e}")))?;
        if !rv_param.is_empty() && rv_param != "0" {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        (start, u64::try_from(rv).ok())
    } else {
        let at = match (rv_param, rv_match) {
            ("", _) | ("0", _) | (_, "NotOlderThan") => None,
            (rv, "Exact") => Some(parse_u64("resource version", rv)?),
            (rv, _) if limit > 0 => Some(parse_u64("resource version", rv)?),
            (rv, _) => {
                parse_u64("resource version", rv)?;
                None
            }
        };
        (String::new(), at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_refuse_traversal() {
        let t = encode_continue("alice\u{0}", 42);
        // As Go writes it: `{"v":"meta.k8s.io/v1","rv":42,"start":"alice\u0000"}`.
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t.as_bytes())
            .unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            "{\"v\":\"meta.k8s.io/v1\",\"rv\":42,\"start\":\"alice\\u0000\"}"
        );
        assert_eq!(decode_continue(&t).unwrap(), ("alice\u{0}".to_string(), 42));
        let bad = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"v":"meta.k8s.io/v1","rv":1,"start":"../x"}"#);
        assert!(decode_continue(&bad).is_err());
        let zero = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"v":"meta.k8s.io/v1","rv":0,"start":"x"}"#);
        assert_eq!(
            decode_continue(&zero).unwrap_err(),
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        );
        assert!(decode_continue("!!").is_err());
        assert_eq!(go_json_string("a<b"), "\"a\\u003cb\"");
    }
}
