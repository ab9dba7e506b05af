//! Issue 13 part 5: LIST `limit` and `continue`, as client-go's pager and `kubectl get
//! --chunk-size` use them.
//!
//! Upstream sources of the expectations (kubernetes/kubernetes, staging/src/k8s.io/apiserver):
//! - `pkg/storage/etcd3/store.go: GetList`: at most `limit` items in key order; `continue`
//!   only when more keys follow; `remainingItemCount` only without selectors; a continuation
//!   reads the revision of the first page; `specifying resource version is not allowed when
//!   using continue`; `invalid continue token: …`;
//! - `pkg/storage/continue.go`: the token is base64url (no padding) of
//!   `{"v":"meta.k8s.io/v1","rv":N,"start":"<last key>\u0000"}`;
//! - `pkg/storage/etcd3/store.go: handleCompactedErrorForPaging` + `interpretListError`: a
//!   compacted revision → 410 `Expired` with the "inconsistent continue" message and a token
//!   with `rv: -1` in the Status metadata;
//! - `pkg/storage/cacher/cacher.go: shouldDelegateList`: `resourceVersion=0` is served from the
//!   watch cache, which does not page;
//! - `apimachinery pkg/apis/meta/internalversion/validation: ValidateListOptions`;
//! - `pkg/endpoints/handlers/response.go: asTable`: a Table carries the list's continue token.

// Helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use common::*;
use kcsr_testapi::{Config, TestServer};
use serde_json::{Value, json};

fn server_with(names: &[&str]) -> (TestServer, Client) {
    let s = TestServer::start(Config::default()).unwrap();
    let adm = admin(&s);
    for n in names {
        assert_eq!(adm.post(CSRS, &client_csr(n)).code, 201);
    }
    (s, adm)
}

fn item_names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn token(list: &Value) -> String {
    list["metadata"]["continue"].as_str().unwrap().to_string()
}

fn decode(token: &str) -> Value {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn enc(path: &str, token: &str) -> String {
    // Tokens are base64url: no characters that need escaping in a query.
    format!("{path}?limit=2&continue={token}")
}

// GetList + continue.go: pages, the token's content, remainingItemCount, a consistent
// snapshot across pages.
#[test]
fn pages_follow_the_continue_token_at_the_first_pages_revision() {
    let (s, adm) = server_with(&["a", "b", "c", "d", "e"]);
    let first = adm.get(&format!("{CSRS}?limit=2"));
    assert_eq!(first.code, 200, "{}", first.body);
    let first = first.json();
    assert_eq!(item_names(&first), ["a", "b"]);
    assert_eq!(first["metadata"]["remainingItemCount"], 3);
    let rv: i64 = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        decode(&token(&first)),
        json!({"v":"meta.k8s.io/v1","rv":rv,"start":"b\u{0}"})
    );
    // Changes between pages are not seen: the continuation reads revision `rv`.
    assert_eq!(adm.post(CSRS, &client_csr("bb")).code, 201);
    assert_eq!(adm.delete(&format!("{CSRS}/d")).code, 200);
    let second = adm.get(&enc(CSRS, &token(&first))).json();
    assert_eq!(item_names(&second), ["c", "d"]);
    assert_eq!(second["metadata"]["resourceVersion"], rv.to_string());
    assert_eq!(second["metadata"]["remainingItemCount"], 1);
    let last = adm.get(&enc(CSRS, &token(&second))).json();
    assert_eq!(item_names(&last), ["e"]);
    assert!(last["metadata"].get("continue").is_none(), "{last}");
    assert!(last["metadata"].get("remainingItemCount").is_none());
    // Exactly `limit` left: no continue either.
    let all = adm.get(&format!("{CSRS}?limit=5")).json();
    assert_eq!(item_names(&all), ["a", "b", "bb", "c", "e"]);
    assert!(all["metadata"].get("continue").is_none());
    assert!(s.resource_version() > u64::try_from(rv).unwrap());
}

// Selectors filter within the page; remainingItemCount is left out (Predicate not empty).
#[test]
fn selectors_page_without_a_remaining_count() {
    let (_s, adm) = server_with(&["a", "b", "c", "d"]);
    let sel = "fieldSelector=metadata.name!%3Db";
    let first = adm.get(&format!("{CSRS}?limit=2&{sel}")).json();
    assert_eq!(item_names(&first), ["a", "c"]);
    assert!(first["metadata"].get("remainingItemCount").is_none());
    let rest = adm
        .get(&format!("{CSRS}?limit=2&{sel}&continue={}", token(&first)))
        .json();
    assert_eq!(item_names(&rest), ["d"]);
}

// handleCompactedErrorForPaging: 410 Expired, the exact message, and a token with rv -1 that
// continues at the latest revision.
#[test]
fn a_compacted_continue_token_is_410_with_a_token_for_the_latest_revision() {
    let (s, adm) = server_with(&["a", "b", "c"]);
    let first = adm.get(&format!("{CSRS}?limit=1")).json();
    assert_eq!(adm.post(CSRS, &client_csr("ab")).code, 201);
    s.compact();
    let r = adm.get(&format!("{CSRS}?limit=1&continue={}", token(&first)));
    assert_eq!(r.code, 410, "{}", r.body);
    let st = r.json();
    assert_eq!(st["reason"], "Expired");
    assert_eq!(
        st["message"],
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
    );
    let fresh = st["metadata"]["continue"].as_str().unwrap();
    assert_eq!(
        decode(fresh),
        json!({"v":"meta.k8s.io/v1","rv":-1,"start":"a\u{0}"})
    );
    let rest = adm.get(&format!("{CSRS}?limit=10&continue={fresh}")).json();
    assert_eq!(item_names(&rest), ["ab", "b", "c"], "the latest state");
    // A LIST at a compacted resourceVersion (exact, or legacy + limit) is 410 too.
    let old = adm.get(&format!(
        "{CSRS}?limit=1&resourceVersion={}",
        first["metadata"]["resourceVersion"].as_str().unwrap()
    ));
    assert_eq!(old.code, 410);
    assert_eq!(
        old.json()["message"],
        "The resourceVersion for the provided list is too old."
    );
}

// GetList's own refusals and ValidateListOptions.
#[test]
fn list_option_errors() {
    let (_s, adm) = server_with(&["a", "b"]);
    let first = adm.get(&format!("{CSRS}?limit=1")).json();
    let r = adm.get(&format!(
        "{CSRS}?limit=1&resourceVersion=3&continue={}",
        token(&first)
    ));
    assert_eq!(r.code, 400);
    assert_eq!(
        r.json()["message"],
        "specifying resource version is not allowed when using continue"
    );
    let r = adm.get(&format!("{CSRS}?limit=1&continue=bm90LWpzb24"));
    assert_eq!(r.code, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid continue token: continue key is not valid"),
        "{}",
        r.body
    );
    let traversal = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"v":"meta.k8s.io/v1","rv":5,"start":"../secrets/x"}"#);
    assert_eq!(
        adm.get(&format!("{CSRS}?limit=1&continue={traversal}"))
            .code,
        400
    );
    let r = adm.get(&format!("{CSRS}?resourceVersionMatch=NotOlderThan"));
    assert_eq!(r.code, 422);
    assert_eq!(
        r.json()["message"],
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
    );
    // resourceVersion=0: the watch cache answers, limit or not.
    let cached = adm.get(&format!("{CSRS}?limit=1&resourceVersion=0")).json();
    assert_eq!(item_names(&cached), ["a", "b"]);
    assert!(cached["metadata"].get("continue").is_none());
}

// RBAC lists page the same way, and a Table carries the continue token (asTable).
#[test]
fn rbac_lists_and_tables_page_too() {
    let (_s, adm) = server_with(&["a", "b", "c"]);
    let roles = "/apis/rbac.authorization.k8s.io/v1/clusterroles";
    let first = adm.get(&format!("{roles}?limit=3")).json();
    assert_eq!(item_names(&first), ["admin", "cluster-admin", "edit"]);
    assert!(first["metadata"]["remainingItemCount"].as_i64().unwrap() > 5);
    let next = adm
        .get(&format!("{roles}?limit=1&continue={}", token(&first)))
        .json();
    assert_eq!(item_names(&next), ["system:aggregate-to-admin"]);

    let table = adm.send_with_accept(
        &format!("{CSRS}?limit=2"),
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    );
    let t = table.json();
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["rows"].as_array().unwrap().len(), 2);
    assert_eq!(t["metadata"]["remainingItemCount"], 1);
    assert_eq!(decode(&token(&t))["start"], "b\u{0}");
}
