//! An offboarding request on the media (`<slug>.offboard.yaml`, decision 0010), as read and
//! checked; what it leads to on the cluster is `crate::offboard`'s.

use kcsr_core::outcome::OffboardRequest;
use kcsr_core::time::{format_rfc3339, parse_rfc3339};

use crate::sanitize::one_line;

/// One offboarding request read from the media.
#[derive(Debug, Clone)]
pub struct MediaOffboard {
    /// Its file name.
    pub file: String,
    /// What it says.
    pub request: OffboardRequest,
    /// `created`, Unix seconds.
    pub created: i64,
    /// `notAfter`, Unix seconds.
    pub not_after: i64,
}

impl MediaOffboard {
    /// Reads and checks `<slug>.offboard.yaml`; the error names the file and the field.
    pub fn read(file: &str, data: &[u8]) -> Result<Self, String> {
        let fail = |e: String| format!("{file}: {}", one_line(&e));
        let request = OffboardRequest::parse(data).map_err(|e| fail(e.to_string()))?;
        if request.user.parse::<kcsr_core::names::UserName>().is_err() {
            return Err(fail(format!(
                "user {:?} is not a user name kcsr issues certificates for",
                request.user
            )));
        }
        let time = |field: &str, v: &str| {
            parse_rfc3339(v).ok_or_else(|| fail(format!("{field} {v:?} is not an RFC 3339 time")))
        };
        Ok(Self {
            file: file.to_owned(),
            created: time("created", &request.created)?,
            not_after: time("notAfter", &request.not_after)?,
            request,
        })
    }

    /// The user.
    pub fn user(&self) -> &str {
        &self.request.user
    }

    /// Why it may no longer be carried out at `now`, if it may not.
    pub fn expired(&self, now: i64) -> Option<String> {
        (now > self.not_after).then(|| {
            format!(
                "the offboarding request expired at {} ({} ago; notAfter)",
                format_rfc3339(self.not_after),
                crate::duration::human_duration(now - self.not_after)
            )
        })
    }
}
