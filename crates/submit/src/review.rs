//! The review shown before approving: the object as the server holds it, what the station
//! said about the request (its age, its cluster, its ticket and operator), the bindings that
//! follow the approval, and warnings about identities and roles with special powers, and about
//! an approver approving their own request.

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
    for b in &req.bindings {
        for w in b.warnings() {
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    out
}

/// The four-eyes warning: the approver created the request themselves.
pub fn self_approval_warning(obj: &CsrObject, approver: Option<&str>) -> Option<String> {
    let me = approver.filter(|a| !a.is_empty())?;
    (obj.spec.username == me).then(|| {
        format!(
            "WARNING: you ({}) created this request yourself (spec.username): approving it yourself is not four eyes",
            one_line(me)
        )
    })
}

/// What one request's review is made of.
pub struct Review<'a> {
    /// `name (stem)`.
    pub label: &'a str,
    /// The media's request, when approving from the media.
    pub req: Option<&'a MediaRequest>,
    /// The object as fetched: what is approved (`None`: gone from the server, its
    /// certificate on the media).
    pub obj: Option<&'a CsrObject>,
    /// The bindings created after the approval.
    pub bindings: &'a [PlannedBinding],
    /// The approver as the API server knows them, when known.
    pub approver: Option<&'a str>,
    /// Who signed the media, when known.
    pub signer: Option<&'a MediaSigner>,
    /// Now, Unix seconds.
    pub now: i64,
}

impl Review<'_> {
    fn csr(&self) -> Result<CsrInfo, String> {
        match (self.req, self.obj) {
            (Some(r), _) => Ok(r.csr.clone()),
            (None, Some(obj)) => obj.decode_request(),
            (None, None) => Err("not on the server".into()),
        }
    }

    /// The warnings of the review, also reported in `--json`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = match (self.req, self.obj.map(CsrObject::decode_request)) {
            (Some(req), _) => request_warnings(req),
            (None, Some(Ok(csr))) => {
                binding::identity_warnings(csr.subject.user(), &csr.subject.organizations)
            }
            _ => Vec::new(),
        };
        if let Some(w) = self
            .obj
            .and_then(|o| self_approval_warning(o, self.approver))
        {
            out.insert(0, w);
        }
        out
    }

    /// The text, one `key: value` per line, then the warnings.
    pub fn text(&self) -> String {
        let csr = self.csr();
        let mut lines = Vec::new();
        Self::subject_lines(&csr, &mut lines);
        self.spec_lines(&csr, &mut lines);
        self.station_lines(&mut lines);
        let mut out = format!("Request {}\n", one_line(self.label));
        for (key, value) in lines {
            out.push_str(&format!("  {:<12} {value}\n", format!("{key}:")));
        }
        for w in self.warnings() {
            out.push_str(&format!("  {}\n", one_line(&w)));
        }
        out
    }

    /// The user and groups the certificate will name.
    fn subject_lines(csr: &Result<CsrInfo, String>, lines: &mut Lines) {
        match csr {
            Ok(csr) => {
                lines.push((
                    "user",
                    one_line(csr.subject.user().unwrap_or("(no single CN)")),
                ));
                let groups: Vec<String> = csr
                    .subject
                    .organizations
                    .iter()
                    .map(|g| one_line(g))
                    .collect();
                lines.push((
                    "groups",
                    if groups.is_empty() {
                        "(none)".to_owned()
                    } else {
                        groups.join(", ")
                    },
                ));
            }
            Err(e) => lines.push(("request", format!("unreadable: {}", one_line(e)))),
        }
    }

    /// What the server is asked to sign (the object as it holds it, else the media's
    /// manifest), and who asked.
    fn spec_lines(&self, csr: &Result<CsrInfo, String>, lines: &mut Lines) {
        let (signer, usages, expiry) = match (self.obj, self.req) {
            (Some(obj), _) => (
                obj.spec.signer_name.clone(),
                obj.spec.usages.clone(),
                obj.spec.expiration_seconds,
            ),
            (None, Some(req)) => (
                req.manifest.spec.signer_name.clone(),
                req.manifest.spec.usages.clone(),
                req.manifest.spec.expiration_seconds,
            ),
            (None, None) => (None, Vec::new(), None),
        };
        lines.push((
            "signer",
            one_line(signer.as_deref().unwrap_or("(server default)")),
        ));
        let usages: Vec<String> = usages.iter().map(|u| one_line(u)).collect();
        lines.push(("usages", usages.join(", ")));
        lines.push((
            "expiry",
            expiry.map_or_else(|| "the signer's default".to_owned(), human_seconds),
        ));
        if let Ok(csr) = csr {
            lines.push((
                "public key",
                format!(
                    "{} sha256 {}",
                    csr.public_key.kind, csr.public_key.fingerprint
                ),
            ));
        }
        lines.push(match self.obj {
            Some(obj) => ("requestor", one_line(&obj.spec.username)),
            None => (
                "requestor",
                "(the object is gone from the server; its certificate is on the media, verified)"
                    .to_owned(),
            ),
        });
    }

    /// What the station said about the request, who signed the media, and the bindings.
    fn station_lines(&self, lines: &mut Lines) {
        if let Some(req) = self.req {
            if let Some(t) = &req.notes.ticket {
                lines.push(("ticket", one_line(t)));
            }
            if let Some(o) = &req.notes.operator {
                lines.push(("operator", one_line(o)));
            }
            lines.push((
                "age",
                req.notes
                    .age(self.now)
                    .unwrap_or_else(|| "unknown (no kcsr.dev/created)".to_owned()),
            ));
            if !req.notes.cluster_ca.is_empty() {
                lines.push(("cluster", req.notes.cluster_label()));
            }
            lines.push((
                "signed by",
                self.signer.map_or_else(
                    || "nobody (the media is not signed: unauthenticated)".to_owned(),
                    MediaSigner::label,
                ),
            ));
        }
        for b in self.bindings {
            lines.push(("binding", b.describe()));
        }
    }
}

/// The review's `key: value` lines, in order.
type Lines = Vec<(&'static str, String)>;
