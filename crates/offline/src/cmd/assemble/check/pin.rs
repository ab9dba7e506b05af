//! The bundle's CAs against the cluster's pin, and the pin against the CAs the request was
//! made for.

use kcsr_core::bundle::Bundle;
use kcsr_core::station::ClusterPin;

use super::super::pins;
use super::asked::Asked;
use crate::report;

/// The bundle's CAs must be the pin's, and the pin must still hold the CAs the request was
/// made for; a different server URL is only reported (a load balancer or bastion), the pin's
/// is used.
pub(super) fn against_pin(
    pin: &ClusterPin,
    pinned_signer: &[String],
    asked: &Asked,
    b: &Bundle,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let name = &pin.name;
    let pinned_server = pin.server_fingerprints().map_err(|e| e.to_string())?;
    if !asked.cluster_cas.is_empty() && sorted(&asked.cluster_cas) != pinned_server {
        return Err(format!(
            "the request was made when cluster {name}'s server CA was {}, but the pin now holds {}: the cluster was pinned again with other CAs",
            sorted(&asked.cluster_cas).join(", "),
            pinned_server.join(", ")
        ));
    }
    if !asked.signer_cas.is_empty() && sorted(&asked.signer_cas) != pinned_signer {
        return Err(format!(
            "the request was made when cluster {name}'s client CA was {}, but the pin now holds {}: the cluster was pinned again with other CAs",
            sorted(&asked.signer_cas).join(", "),
            pinned_signer.join(", ")
        ));
    }
    if let Some(ca) = &b.cluster.certificate_authority {
        let bundle = pins::fingerprints_of(ca).map_err(|e| format!("server CA: {e}"))?;
        if bundle != pinned_server {
            return Err(format!(
                "the bundle's server CA is {}, but cluster {name} is pinned with {}: this bundle is not from the pinned cluster (a forged or misdirected return); do not use it",
                bundle.join(", "),
                pinned_server.join(", ")
            ));
        }
    }
    if let Some(ca) = &b.client_ca {
        let bundle = pins::fingerprints_of(ca).map_err(|e| format!("client CA: {e}"))?;
        if bundle != pinned_signer {
            return Err(format!(
                "the bundle's client CA is {}, but cluster {name} is pinned with {} for signer {}: this bundle is not from the pinned cluster (a forged or misdirected return); do not use it",
                bundle.join(", "),
                pinned_signer.join(", "),
                report::sanitize(&asked.signer)
            ));
        }
    }
    if b.cluster.server != pin.server {
        warnings.push(format!(
            "the bundle names the server {}, cluster {name} is pinned with {}: the kubeconfig uses the pinned one",
            report::sanitize(&b.cluster.server),
            pin.server
        ));
    }
    Ok(())
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}
