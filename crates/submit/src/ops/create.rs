//! Creating a request's objects: the CSR from the manifest (resuming an identical existing
//! one) and the bindings that travel with it.

use serde::Serialize;
use serde_json::Value;

use kcsr_core::manifest::ApiVersion;
use kcsr_core::rbac::BindingManifest;

use super::read::get;
use crate::client::Client;
use crate::media::MediaRequest;
use crate::objects::{self, CsrObject};
use crate::problem::Problem;
use crate::sanitize::one_line;

fn dry_run_suffix(dry_run: bool) -> &'static str {
    if dry_run { "?dryRun=All" } else { "" }
}

/// What creating found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Created {
    /// A new object.
    Created,
    /// An identical object existed (a re-run resumes with it).
    Exists,
    /// `--dry-run`: the server accepted it; nothing was stored.
    DryRun,
}

/// Creates the CSR from the manifest (never with username/groups: the server sets them), or
/// resumes with an identical existing one.
pub fn create_csr(
    client: &Client,
    req: &MediaRequest,
    dry_run: bool,
) -> Result<(Created, CsrObject), Problem> {
    let version = version_of(req)?;
    let mut body = serde_json::to_value(&req.manifest)
        .map_err(|e| Problem::failed(format!("cannot encode {}: {e}", req.name())))?;
    if let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) {
        for field in ["username", "uid", "groups", "extra"] {
            spec.remove(field);
        }
    }
    let path = format!(
        "{}{}",
        objects::collection_path(version),
        dry_run_suffix(dry_run)
    );
    match client.post_json::<_, Value>(&path, &body) {
        Ok(raw) => {
            let obj = CsrObject::from_value(raw).map_err(Problem::failed)?;
            Ok((
                if dry_run {
                    Created::DryRun
                } else {
                    Created::Created
                },
                obj,
            ))
        }
        Err(e) if e.as_api().is_some_and(|a| a.is_already_exists()) => {
            let existing = get(client, version, req.name())?;
            compare_existing(req, &existing)?;
            Ok((Created::Exists, existing))
        }
        Err(e) => {
            let mut p = Problem::from(e);
            p.message = format!("cannot create {}: {}", req.name(), p.message);
            if p.hint.is_none() {
                p.hint = Some(
                    "the server refused the manifest: check its validation message above against the offline checks".into(),
                );
            }
            Err(p)
        }
    }
}

fn version_of(req: &MediaRequest) -> Result<ApiVersion, Problem> {
    req.manifest.version().ok_or_else(|| {
        Problem::failed(format!(
            "{}: apiVersion {:?} is not certificates.k8s.io/v1 or v1beta1",
            req.stem,
            one_line(&req.manifest.api_version)
        ))
    })
}

/// Whether an existing object is the request on the media: same CSR (decoded), signer,
/// usages and expirationSeconds. The signer is compared only when the manifest names one
/// (v1beta1 may leave it out).
pub fn compare_existing(req: &MediaRequest, existing: &CsrObject) -> Result<(), Problem> {
    let theirs = existing.decode_request();
    let mut differences = Vec::new();
    let their_fp = match &theirs {
        Ok(csr) => {
            if csr.der != req.csr.der {
                differences.push("spec.request".to_owned());
            }
            csr.public_key.fingerprint.clone()
        }
        Err(e) => {
            differences.push(format!("spec.request ({})", one_line(e)));
            "<unreadable>".to_owned()
        }
    };
    if let Some(signer) = &req.manifest.spec.signer_name
        && existing.spec.signer_name.as_deref() != Some(signer.as_str())
    {
        differences.push(format!(
            "signerName {:?} instead of {signer:?}",
            one_line(existing.spec.signer_name.as_deref().unwrap_or(""))
        ));
    }
    if !req.manifest.spec.usages.is_empty() {
        let mut a = req.manifest.spec.usages.clone();
        let mut b = existing.spec.usages.clone();
        a.sort();
        b.sort();
        if a != b {
            differences.push(format!(
                "usages {:?} instead of {:?}",
                b.iter().map(|u| one_line(u)).collect::<Vec<_>>(),
                a
            ));
        }
    }
    // An object without expirationSeconds gets the signer's default lifetime (often a year):
    // not the request, however identical the rest.
    if req.manifest.spec.expiration_seconds != existing.spec.expiration_seconds {
        let show = |e: Option<i64>| e.map_or_else(|| "unset".to_owned(), |s| s.to_string());
        differences.push(format!(
            "expirationSeconds {} instead of {}",
            show(existing.spec.expiration_seconds),
            show(req.manifest.spec.expiration_seconds)
        ));
    }
    if differences.is_empty() {
        return Ok(());
    }
    Err(Problem::refused(
        format!(
            "a different CertificateSigningRequest named {} already exists (created by {:?}): {} differ; the media's request has public key sha256 {}, the existing object's has sha256 {}",
            req.name(),
            one_line(&existing.spec.username),
            differences.join(", "),
            req.csr.public_key.fingerprint,
            their_fp
        ),
        Some(
            "another request took this name: check who created it (kcsr-submit status NAME); delete it if it is stale, or re-create the request offline with kcsr request --name OTHER",
        ),
    ))
}

/// What creating a granted binding found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingOutcome {
    /// Created now.
    Created,
    /// An identical binding existed; `by` from its `kcsr.dev/created-by`.
    Exists(Option<String>),
    /// `?dryRun=All`: the server accepted it.
    DryRun,
    /// These credentials may not create it (403): someone who may must run approve.
    Forbidden(String),
}

/// Creates a binding that travels with a request (annotated with who created it, when known),
/// or accepts an identical existing one.
pub fn create_binding(
    client: &Client,
    binding: &BindingManifest,
    dry_run: bool,
    by: Option<&str>,
) -> Result<BindingOutcome, Problem> {
    let name = &binding.metadata.name;
    let Some(collection) =
        crate::rbac::collection(&binding.kind, binding.metadata.namespace.as_deref())
    else {
        return Err(Problem::failed(format!(
            "binding {name}: kind {:?} without a namespace cannot be created",
            one_line(&binding.kind)
        )));
    };
    let mut sent = binding.clone();
    if let Some(by) = by {
        sent.metadata
            .annotations
            .insert(crate::rbac::CREATED_BY_ANNOTATION.to_owned(), by.to_owned());
    }
    let body = serde_json::to_value(&sent)
        .map_err(|e| Problem::failed(format!("cannot encode binding {name}: {e}")))?;
    let path = format!("{collection}{}", dry_run_suffix(dry_run));
    match client.post_json::<_, Value>(&path, &body) {
        Ok(_) => Ok(if dry_run {
            BindingOutcome::DryRun
        } else {
            BindingOutcome::Created
        }),
        Err(e) if e.as_api().is_some_and(|a| a.is_already_exists()) => {
            match crate::rbac::look(client, binding)? {
                crate::rbac::Found::Same { by } => Ok(BindingOutcome::Exists(by)),
                crate::rbac::Found::Missing => Err(Problem::failed(format!(
                    "the {} {name} was reported to exist, then not found",
                    binding.kind
                ))),
                crate::rbac::Found::Unreadable(why) => Ok(BindingOutcome::Forbidden(why)),
                crate::rbac::Found::Different(theirs) => Err(Problem::refused(
                    format!(
                        "a different {} named {name} already exists: its {theirs}, the grant's are {} and {}",
                        binding.kind, body["roleRef"], body["subjects"]
                    ),
                    Some(
                        "delete the stale binding or re-create the request offline with another name",
                    ),
                )),
            }
        }
        Err(e) if e.as_api().is_some_and(|a| a.is_forbidden()) => Ok(BindingOutcome::Forbidden(
            crate::sanitize::for_terminal(&e.to_string()),
        )),
        Err(e) => {
            let mut p = Problem::from(e);
            p.message = format!("the {} {name} was not created: {}", binding.kind, p.message);
            Err(p)
        }
    }
}
