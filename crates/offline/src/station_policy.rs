//! The site's policy file on the station (`KEY_DIR/station/policy.yaml`, decision 0010) as
//! read: a leaf, so that what checks requests against it ([`crate::policy`]) and what vouches
//! for the copy on the media ([`crate::vouch`]) both read it without depending on each other.

use std::path::PathBuf;

use kcsr_core::policy::{self, StationPolicy};

use crate::fail::{Fail, Result};
use crate::station::Station;

/// The policy as the station holds it: parsed, and the exact bytes that travel.
pub(crate) struct Loaded {
    pub(crate) policy: StationPolicy,
    pub(crate) bytes: Vec<u8>,
    pub(crate) path: PathBuf,
}

/// `KEY_DIR/station/policy.yaml`.
pub(crate) fn path(station: &Station) -> PathBuf {
    station.dir.join(policy::FILE_NAME)
}

/// The station's policy; `None` when it has none.
pub(crate) fn load(station: &Station) -> Result<Option<Loaded>> {
    let path = path(station);
    let Some(bytes) = station.read(&path)? else {
        return Ok(None);
    };
    let policy = StationPolicy::parse(&bytes).map_err(|e| {
        Fail::new(format!("the station policy {}: {e}", path.display()))
            .hint("fix the policy file (its fields are in docs/formats.md, \"Station policy\"), or move it away to request without a policy")
    })?;
    Ok(Some(Loaded {
        policy,
        bytes,
        path,
    }))
}
