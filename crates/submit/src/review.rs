//! The review shown before approving: the object as the server holds it, what the station
//! said about the request (its age, its cluster), the binding that follows the approval, and
//! warnings about identities and roles with special powers.

use kcsr_core::csr::CsrInfo;
use kcsr_core::expiry::human_seconds;

use crate::binding::{self, PlannedBinding};
use crate::media::MediaRequest;
use crate::objects::CsrObject;
use crate::sanitize::one_line;
use crate::signers::MediaSigner;

/// The warnings about a media request: its identity and its binding.
pub fn request_warnings(req: &MediaRequest) -> Vec<String> {
    let mut out =
        binding::identity_warnings(req.csr.subject.user(), &req.csr.subject.organizations);
    if let Some(b) = &req.binding {
        out.extend(b.warnings());
    }
    out
}

/// What one request's review is made of.
pub struct Review<'a> {
    /// `name (stem)`.
    pub label: &'a str,
    /// The media's request, when approving from the media.
    pub req: Option<&'a MediaRequest>,
    /// The object as fetched: what is approved.
    pub obj: &'a CsrObject,
    /// The binding created after the approval.
    pub binding: Option<&'a PlannedBinding>,
    /// Who signed the media, when known.
    pub signer: Option<&'a MediaSigner>,
    /// Now, Unix seconds.
    pub now: i64,
}

impl Review<'_> {
    fn csr(&self) -> Result<CsrInfo, String> {
        match self.req {
            Some(r) => Ok(r.csr.clone()),
            None => self.obj.decode_request(),
        }
    }

    /// The warnings of the review, also reported in `--json`.
    pub fn warnings(&self) -> Vec<String> {
        if let Some(req) = self.req {
            return request_warnings(req);
        }
        match self.obj.decode_request() {
            Ok(csr) => binding::identity_warnings(csr.subject.user(), &csr.subject.organizations),
            Err(_) => Vec::new(),
        }
    }

    /// The text, one `key: value` per line, then the warnings.
    pub fn text(&self) -> String {
        let obj = self.obj;
        let mut out = format!("Request {}\n", one_line(self.label));
        let mut line = |key: &str, value: &str| {
            out.push_str(&format!("  {:<12} {value}\n", format!("{key}:")));
        };
        let csr = self.csr();
        match &csr {
            Ok(csr) => {
                line(
                    "user",
                    &one_line(csr.subject.user().unwrap_or("(no single CN)")),
                );
                let groups: Vec<String> = csr
                    .subject
                    .organizations
                    .iter()
                    .map(|g| one_line(g))
                    .collect();
                line(
                    "groups",
                    &if groups.is_empty() {
                        "(none)".to_owned()
                    } else {
                        groups.join(", ")
                    },
                );
            }
            Err(e) => line("request", &format!("unreadable: {}", one_line(e))),
        }
        line(
            "signer",
            &one_line(
                obj.spec
                    .signer_name
                    .as_deref()
                    .unwrap_or("(server default)"),
            ),
        );
        let usages: Vec<String> = obj.spec.usages.iter().map(|u| one_line(u)).collect();
        line("usages", &usages.join(", "));
        line(
            "expiry",
            &obj.spec
                .expiration_seconds
                .map_or_else(|| "the signer's default".to_owned(), human_seconds),
        );
        if let Ok(csr) = &csr {
            line(
                "public key",
                &format!(
                    "{} sha256 {}",
                    csr.public_key.kind, csr.public_key.fingerprint
                ),
            );
        }
        line("requestor", &one_line(&obj.spec.username));
        if let Some(req) = self.req {
            line(
                "age",
                &req.notes
                    .age(self.now)
                    .unwrap_or_else(|| "unknown (no kcsr.dev/created)".to_owned()),
            );
            if !req.notes.cluster_ca.is_empty() {
                line("cluster", &req.notes.cluster_label());
            }
        }
        if self.req.is_some() {
            line(
                "signed by",
                &self.signer.map_or_else(
                    || "nobody (the media is not signed: unauthenticated)".to_owned(),
                    MediaSigner::label,
                ),
            );
        }
        if let Some(b) = self.binding {
            line("binding", &b.describe());
        }
        for w in self.warnings() {
            out.push_str(&format!("  {}\n", one_line(&w)));
        }
        out
    }
}
