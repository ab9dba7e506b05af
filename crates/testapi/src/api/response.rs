//! What a handler answers: a response, or a watch for the connection loop to stream; the
//! JSON bodies and `Warning` headers every handler builds its answer with.

use serde_json::{Value, json};

use crate::field_error::quote;
use crate::http::Response;
use crate::status::ApiError;
use crate::watch::WatchSpec;

/// What the connection loop does next.
#[derive(Debug)]
pub(crate) enum Outcome {
    Resp(Response),
    Watch(WatchSpec),
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

fn json_body(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    out
}

pub(super) fn json_response(code: u16, v: &Value) -> Response {
    Response::json(code, json_body(v))
}

pub(crate) fn error_response(e: &ApiError) -> Response {
    let mut r = Response::json(e.code(), e.status.to_json());
    r.headers.extend(e.headers.iter().cloned());
    r
}

pub(super) fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        r.headers
            .push(("Warning".into(), format!("299 - {}", quote(w))));
    }
    r
}

pub(super) fn as_version(obj: &Value, api_version: &str) -> Value {
    let mut o = obj.clone();
    o["apiVersion"] = json!(api_version);
    o
}

pub(super) fn list_item(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("kind");
        m.remove("apiVersion");
    }
    o
}
