//! What the isolated station says about each request in its annotations, signed with the
//! media (decisions 0009 and 0010): when it wrote the request, until when it may be sent, the
//! bindings it asked for, the cluster (by its CA fingerprints) the request is for, and the
//! ticket and operator it was made for and by.

use std::collections::BTreeMap;

use kcsr_core::cert;
use kcsr_core::manifest::{
    CLUSTER_ANNOTATION, CLUSTER_CA_ANNOTATION, CREATED_ANNOTATION, GRANT_ANNOTATION,
    NOT_AFTER_ANNOTATION, OPERATOR_ANNOTATION, TICKET_ANNOTATION,
};
use kcsr_core::rbac::Grant;
use kcsr_core::time::{format_rfc3339, parse_rfc3339};

use crate::sanitize::one_line;

/// The station's annotations of one request, parsed. Absent annotations (media written
/// before decision 0009) are `None`/empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StationNotes {
    /// `kcsr.dev/created`, Unix seconds.
    pub created: Option<i64>,
    /// `kcsr.dev/not-after`, Unix seconds.
    pub not_after: Option<i64>,
    /// `kcsr.dev/grant`: one or more grants, in the order asked (decision 0010).
    pub grants: Vec<Grant>,
    /// `kcsr.dev/ticket`.
    pub ticket: Option<String>,
    /// `kcsr.dev/operator`.
    pub operator: Option<String>,
    /// `kcsr.dev/cluster`: the pin's name.
    pub cluster: Option<String>,
    /// `kcsr.dev/cluster-ca-sha256`: `sha256:HEX` fingerprints of the pinned server CAs.
    pub cluster_ca: Vec<String>,
}

impl StationNotes {
    /// Reads the annotations; a malformed value is an error naming the annotation.
    pub fn read(annotations: &BTreeMap<String, String>) -> Result<Self, String> {
        let get = |key: &str| annotations.get(key).map(String::as_str);
        let time = |key: &str| {
            get(key)
                .map(|v| {
                    parse_rfc3339(v).ok_or_else(|| {
                        format!("annotation {key} {:?} is not an RFC 3339 time", one_line(v))
                    })
                })
                .transpose()
        };
        let grants = match get(GRANT_ANNOTATION) {
            None => Vec::new(),
            // The station's own reader (decision 0010): one or more, `,`-separated, no repeats.
            Some(v) => Grant::parse_list(v)
                .map_err(|e| format!("annotation {GRANT_ANNOTATION}: {}", one_line(&e)))?,
        };
        let text = |key: &str, max: usize| {
            get(key)
                .map(|v| {
                    let len = v.chars().count();
                    if (1..=max).contains(&len) && !v.chars().any(kcsr_core::terminal::is_unsafe) {
                        Ok(v.to_owned())
                    } else {
                        Err(format!(
                            "annotation {key} {:?} is not 1-{max} printable characters",
                            one_line(v)
                        ))
                    }
                })
                .transpose()
        };
        let cluster_ca = match get(CLUSTER_CA_ANNOTATION) {
            None => Vec::new(),
            Some(v) => v
                .split(',')
                .map(|fp| {
                    let fp = fp.trim();
                    let hex = fp.strip_prefix("sha256:").unwrap_or_default();
                    if hex.len() == 64
                        && hex
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    {
                        Ok(fp.to_owned())
                    } else {
                        Err(format!(
                            "annotation {CLUSTER_CA_ANNOTATION}: {:?} is not sha256: and 64 lowercase hex digits",
                            one_line(fp)
                        ))
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            created: time(CREATED_ANNOTATION)?,
            not_after: time(NOT_AFTER_ANNOTATION)?,
            grants,
            ticket: text(TICKET_ANNOTATION, 128)?,
            operator: text(OPERATOR_ANNOTATION, 256)?,
            cluster: get(CLUSTER_ANNOTATION).map(str::to_owned),
            cluster_ca,
        })
    }

    /// Why the request may no longer be sent at `now`, if it may not.
    pub fn expired(&self, now: i64) -> Option<String> {
        let not_after = self.not_after?;
        (now > not_after).then(|| {
            format!(
                "the request expired at {} ({} ago; annotation {NOT_AFTER_ANNOTATION})",
                format_rfc3339(not_after),
                crate::duration::human_duration(now - not_after)
            )
        })
    }

    /// The request's age at `now`, for the review: `3d (written 2026-11-29T10:00:00Z)`.
    pub fn age(&self, now: i64) -> Option<String> {
        let created = self.created?;
        Some(format!(
            "{} (written by the station at {})",
            crate::duration::human_duration(now - created),
            format_rfc3339(created)
        ))
    }

    /// What the review says about the cluster, e.g. `prod (sha256:…)`.
    pub fn cluster_label(&self) -> String {
        let name = self
            .cluster
            .as_deref()
            .map_or_else(|| "(unnamed)".to_owned(), one_line);
        format!("{name} ({})", self.cluster_ca.join(", "))
    }
}

/// The `sha256:HEX` fingerprints of a kubeconfig CA bundle's certificates.
pub fn ca_fingerprints(ca_pem: &[u8]) -> Result<Vec<String>, String> {
    cert::parse_all(ca_pem)
        .map(|certs| certs.iter().map(cert::CertInfo::ca_fingerprint).collect())
        .map_err(|e| e.to_string())
}

/// Whether a context whose server CA bundle is `ca_pem` (`None`: no CA, e.g.
/// `--insecure-skip-tls-verify`) is the cluster each request was written for. Requests
/// without `kcsr.dev/cluster-ca-sha256` fit every context. The error says which requests are
/// for which cluster and what this context's CA is.
pub fn check_cluster<'a>(
    requests: impl IntoIterator<Item = (&'a str, &'a StationNotes)>,
    ca_pem: Option<&[u8]>,
    context: &str,
) -> Result<(), String> {
    let ours = ca_pem.map(ca_fingerprints);
    let mut wrong: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, notes) in requests {
        if notes.cluster_ca.is_empty() {
            continue;
        }
        let fits =
            matches!(&ours, Some(Ok(fps)) if fps.iter().any(|fp| notes.cluster_ca.contains(fp)));
        if !fits {
            wrong.entry(notes.cluster_label()).or_default().push(name);
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    let theirs = match &ours {
        None => format!(
            "context {context:?} has no CA to compare (no certificate-authority, or --insecure-skip-tls-verify)"
        ),
        Some(Err(e)) => format!("context {context:?}'s CA cannot be read: {e}"),
        Some(Ok(fps)) => format!("this context's ({context:?}) CA is {}", fps.join(", ")),
    };
    let list: Vec<String> = wrong
        .iter()
        .map(|(cluster, names)| {
            format!(
                "these requests are for cluster {cluster}: {}",
                names.join(", ")
            )
        })
        .collect();
    Err(format!("{}; {theirs}; nothing was sent", list.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notes(pairs: &[(&str, &str)]) -> Result<StationNotes, String> {
        StationNotes::read(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn reads_the_annotations_and_names_a_bad_one() {
        let fp = format!("sha256:{}", "a".repeat(64));
        let n = notes(&[
            (CREATED_ANNOTATION, "2026-11-01T00:00:00Z"),
            (NOT_AFTER_ANNOTATION, "2026-11-15T00:00:00Z"),
            (GRANT_ANNOTATION, "ClusterRole/view"),
            (CLUSTER_ANNOTATION, "prod"),
            (CLUSTER_CA_ANNOTATION, &format!("{fp}, {fp}")),
        ])
        .unwrap();
        assert_eq!(n.grants, [Grant::ClusterRole("view".into())]);
        assert_eq!(n.cluster_ca, [fp.clone(), fp.clone()]);
        let end = parse_rfc3339("2026-11-15T00:00:00Z").unwrap();
        assert!(n.expired(end).is_none());
        assert!(n.expired(end + 1).unwrap().contains("2026-11-15T00:00:00Z"));
        assert_eq!(notes(&[]).unwrap(), StationNotes::default());
        let many = notes(&[
            (GRANT_ANNOTATION, "ClusterRole/view,Role/team-a/deployer"),
            (TICKET_ANNOTATION, "CHG-1234"),
            (OPERATOR_ANNOTATION, "ops"),
        ])
        .unwrap();
        assert_eq!(
            many.grants,
            [
                Grant::ClusterRole("view".into()),
                Grant::Role("deployer".into(), "team-a".into())
            ]
        );
        assert_eq!(many.ticket.as_deref(), Some("CHG-1234"));
        assert_eq!(many.operator.as_deref(), Some("ops"));
        let long = "x".repeat(129);
        for bad in [
            (NOT_AFTER_ANNOTATION, "tomorrow"),
            (GRANT_ANNOTATION, "Group/system:masters"),
            (GRANT_ANNOTATION, "ClusterRole/view,"),
            (GRANT_ANNOTATION, "ClusterRole/view,ClusterRole/view"),
            (CLUSTER_CA_ANNOTATION, "sha256:XYZ"),
            (TICKET_ANNOTATION, ""),
            (TICKET_ANNOTATION, long.as_str()),
            (TICKET_ANNOTATION, "CHG\u{202e}1"),
            (OPERATOR_ANNOTATION, "a\nb"),
        ] {
            let e = notes(&[bad]).unwrap_err();
            assert!(e.contains(bad.0), "{e}");
        }
    }

    #[test]
    fn requests_for_another_cluster_are_named_with_both_fingerprints() {
        let pinned = format!("sha256:{}", "b".repeat(64));
        let n = notes(&[
            (CLUSTER_ANNOTATION, "prod"),
            (CLUSTER_CA_ANNOTATION, &pinned),
        ])
        .unwrap();
        let free = StationNotes::default();
        assert!(check_cluster([("a", &free)], None, "c").is_ok());
        let e = check_cluster([("a", &n), ("b", &free)], None, "c").unwrap_err();
        assert!(
            e.contains("these requests are for cluster prod") && e.contains(&pinned),
            "{e}"
        );
        assert!(!e.contains(": a, b"), "{e}");
    }
}
