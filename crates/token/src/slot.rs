//! Choosing the slot: the one initialised token that matches the URI's token attributes.

use cryptoki::context::Pkcs11;
use cryptoki::slot::{Slot, TokenInfo};
use kcsr_core::pkcs11_uri::Pkcs11Uri;

use crate::error::{Error, ErrorKind, Result, ck_fail};

/// The one slot whose token matches the URI's token attributes.
pub(crate) fn find_slot(pkcs11: &Pkcs11, uri: &Pkcs11Uri) -> Result<(Slot, TokenInfo)> {
    let slots = pkcs11
        .get_slots_with_token()
        .map_err(|e| ck_fail("failed to list the PKCS#11 slots", &e))?;
    let mut present = Vec::new();
    let mut matching = Vec::new();
    for slot in slots {
        // An uninitialised token (SoftHSM2 always shows a free one) holds no keys.
        let Ok(info) = pkcs11.get_token_info(slot) else {
            continue;
        };
        if !info.token_initialized() {
            continue;
        }
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        present.push(format!(
            "{:?} (serial {}, slot {})",
            info.label(),
            info.serial_number(),
            slot.id()
        ));
        if is(&uri.token, info.label())
            && is(&uri.manufacturer, info.manufacturer_id())
            && is(&uri.model, info.model())
            && is(&uri.serial, info.serial_number().trim())
            && uri.slot_id.is_none_or(|id| id == slot.id())
        {
            matching.push((slot, info));
        }
    }
    let mut matching = matching.into_iter();
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(Error::new(format!(
            "no token {} in the PKCS#11 module {}; tokens present: {}",
            uri.token_name(),
            uri.module_path.as_deref().unwrap_or_default(),
            if present.is_empty() {
                "none".to_owned()
            } else {
                present.join(", ")
            }
        ))
        .kind(ErrorKind::NotPresent)
        .hint("insert the token, or fix token=/serial= in the URI")),
        (Some(_), Some(_)) => Err(Error::new(format!(
            "several tokens match the PKCS#11 URI ({})",
            present.join(", ")
        ))
        .hint("add token=LABEL or serial=… to the URI to pick one")),
    }
}
