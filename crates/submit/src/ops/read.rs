//! Reading a request's object back from the server.

use serde_json::Value;

use kcsr_core::manifest::ApiVersion;

use crate::client::Client;
use crate::objects::{self, CsrObject};
use crate::problem::Problem;

/// The object `name` as the server holds it now.
pub fn get(client: &Client, version: ApiVersion, name: &str) -> Result<CsrObject, Problem> {
    let raw: Value = client.get_json(&objects::object_path(version, name))?;
    CsrObject::from_value(raw).map_err(Problem::failed)
}
