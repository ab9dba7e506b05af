//! The bundle that carries a verified certificate back across the gap, with its audit record.

use kcsr_core::bundle::{API_VERSION, Audit, Bundle, BundleCluster, KIND};
use kcsr_core::cert::CertInfo;
use kcsr_core::time::{format_rfc3339, now_rfc3339};

use super::approve::approved_by;
use crate::media::MediaRequest;
use crate::objects::CsrObject;

/// The cluster as the kubeconfig names it, for the bundle.
#[derive(Debug, Clone, Default)]
pub struct ClusterInfo {
    /// Cluster name in the kubeconfig.
    pub name: String,
    /// Server URL.
    pub server: String,
    /// The server CA PEM, when the kubeconfig has one.
    pub ca_pem: Option<String>,
    /// tls-server-name.
    pub tls_server_name: Option<String>,
}

/// What the bundle records beside the certificate.
#[derive(Debug, Clone, Copy)]
pub struct BundleContext<'a> {
    /// The cluster.
    pub cluster: &'a ClusterInfo,
    /// The client CA PEM, when known.
    pub client_ca_pem: Option<&'a str>,
    /// Who signed the media.
    pub signer: Option<&'a crate::signers::MediaSigner>,
    /// The granted bindings as last seen.
    pub bindings: &'a [crate::binding::BindingReport],
}

/// Builds the bundle for an issued, verified certificate.
pub fn bundle(
    req: &MediaRequest,
    obj: &CsrObject,
    leaf: &CertInfo,
    cert_pem: &str,
    ctx: &BundleContext<'_>,
) -> Bundle {
    let BundleContext {
        cluster,
        client_ca_pem,
        signer,
        bindings,
    } = *ctx;
    let approved = obj.condition("Approved");
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Bundle {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        name: req.name().to_owned(),
        user: req.csr.subject.user().unwrap_or_default().to_owned(),
        groups: req.csr.subject.organizations.clone(),
        signer_name: obj
            .spec
            .signer_name
            .clone()
            .or_else(|| req.manifest.spec.signer_name.clone())
            .unwrap_or_default(),
        cluster: BundleCluster {
            name: cluster.name.clone(),
            server: cluster.server.clone(),
            certificate_authority: cluster.ca_pem.clone(),
            tls_server_name: cluster.tls_server_name.clone(),
        },
        certificate: cert_pem.to_owned(),
        client_ca: client_ca_pem.map(str::to_owned),
        audit: Audit {
            public_key_sha256: req.csr.public_key.fingerprint.clone(),
            manifest_sha256: Some(req.manifest_sha256.clone()),
            media_signer: signer.map(crate::signers::MediaSigner::to_audit),
            serial: leaf.serial.clone(),
            not_before: format_rfc3339(leaf.not_before),
            not_after: format_rfc3339(leaf.not_after),
            requested_expiration_seconds: req.manifest.spec.expiration_seconds,
            submitted_by: non_empty(&obj.spec.username),
            submitted_at: obj.meta.creation_timestamp.clone(),
            approval_reason: approved.and_then(|c| non_empty(&c.reason)),
            approval_message: approved.and_then(|c| non_empty(&c.message)),
            approved_at: approved.and_then(|c| {
                c.last_update_time
                    .clone()
                    .or_else(|| c.last_transition_time.clone())
            }),
            fetched_at: now_rfc3339(),
            kcsr_version: env!("CARGO_PKG_VERSION").to_owned(),
            approved_by: approved_by(obj),
            ticket: req.notes.ticket.clone(),
            operator: req.notes.operator.clone(),
            requested_at: req.notes.created.map(format_rfc3339),
            bindings: bindings
                .iter()
                .map(crate::binding::BindingReport::audit)
                .collect(),
        },
    }
}
