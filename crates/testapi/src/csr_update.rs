//! CertificateSigningRequest updates: the update strategies of the item, `/approval` and
//! `/status` (reference §5.1) and update validation (§5.2).

use serde_json::{Value, json};

use crate::csr::{ValidationOptions, validate_certificate, validate_spec};
use crate::field_error::{FieldError, quote};
use crate::fields::{bytes_at, conditions, str_at};

/// Which endpoint an update came through (reference §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subresource {
    Main,
    Approval,
    Status,
}

fn count(conds: &[Value], ty: &str) -> usize {
    conds.iter().filter(|c| str_at(c, "/type") == ty).count()
}

/// §5.1: build the object to store from the stored one and the request body.
pub(crate) fn prepare_update(old: &Value, body: &Value, sub: Subresource, now: &str) -> Value {
    let mut new = old.clone();
    match sub {
        Subresource::Main => {
            for key in ["labels", "annotations"] {
                match body.pointer(&format!("/metadata/{key}")) {
                    Some(v) => new["metadata"][key] = v.clone(),
                    None => {
                        if let Some(m) = new["metadata"].as_object_mut() {
                            m.remove(key);
                        }
                    }
                }
            }
            return new;
        }
        Subresource::Approval => {
            new["status"]["conditions"] = Value::Array(conditions(body));
        }
        Subresource::Status => {
            let old_conds = conditions(old);
            let mut conds = conditions(body);
            // Existing Approved/Denied instances are copied back when the count is unchanged.
            for ty in ["Approved", "Denied"] {
                if count(&conds, ty) == count(&old_conds, ty) {
                    let olds: Vec<&Value> = old_conds
                        .iter()
                        .filter(|c| str_at(c, "/type") == ty)
                        .collect();
                    let mut k = 0;
                    for c in conds.iter_mut() {
                        if str_at(c, "/type") == ty {
                            if let Some(o) = olds.get(k) {
                                *c = (*o).clone();
                            }
                            k += 1;
                        }
                    }
                }
            }
            new["status"]["conditions"] = Value::Array(conds);
            match body.pointer("/status/certificate") {
                Some(c) => new["status"]["certificate"] = c.clone(),
                None => {
                    if let Some(m) = new["status"].as_object_mut() {
                        m.remove("certificate");
                    }
                }
            }
        }
    }
    populate_condition_timestamps(&mut new, old, now);
    if new["status"]["conditions"]
        .as_array()
        .is_some_and(Vec::is_empty)
        && let Some(m) = new["status"].as_object_mut()
    {
        m.remove("conditions");
    }
    new
}

/// `strategy.go: populateConditionTimestamps` (reference §5.1).
fn populate_condition_timestamps(new: &mut Value, old: &Value, now: &str) {
    let old_conds = conditions(old);
    if let Some(conds) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conds.iter_mut() {
            if str_at(c, "/lastUpdateTime").is_empty() {
                c["lastUpdateTime"] = json!(now);
            }
            if str_at(c, "/lastTransitionTime").is_empty() {
                let inherited = old_conds.iter().find(|o| {
                    str_at(o, "/type") == str_at(c, "/type")
                        && str_at(o, "/status") == str_at(c, "/status")
                        && !str_at(o, "/lastTransitionTime").is_empty()
                });
                let t = inherited
                    .map_or(now, |o| str_at(o, "/lastTransitionTime"))
                    .to_string();
                c["lastTransitionTime"] = json!(t);
            }
        }
    }
}

/// `validateConditions` (reference §5.2), in upstream's order per condition: type required,
/// status, Approved/Denied exclusion, duplicate type.
fn validate_conditions(obj: &Value, opts: ValidationOptions) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let (mut approved, mut denied) = (false, false);
    for (i, c) in conditions(obj).iter().enumerate() {
        let ty = str_at(c, "/type");
        let st = str_at(c, "/status");
        let base = format!("status.conditions[{i}]");
        if !opts.allow_empty_condition_type && ty.is_empty() {
            errs.push(FieldError::required(format!("{base}.type"), ""));
        }
        if st.is_empty() {
            errs.push(FieldError::required(format!("{base}.status"), ""));
        } else if matches!(ty, "Approved" | "Denied" | "Failed") {
            if st != "True" {
                errs.push(FieldError::not_supported(
                    format!("{base}.status"),
                    quote(st),
                    &["True"],
                ));
            }
        } else if !matches!(st, "True" | "False" | "Unknown") {
            errs.push(FieldError::not_supported(
                format!("{base}.status"),
                quote(st),
                &["False", "True", "Unknown"],
            ));
        }
        if !opts.allow_both_approved_and_denied {
            let clash = match ty {
                "Approved" => {
                    approved = true;
                    denied
                }
                "Denied" => {
                    denied = true;
                    approved
                }
                _ => false,
            };
            if clash {
                errs.push(FieldError::invalid(
                    format!("{base}.type"),
                    quote(ty),
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
        }
        if !opts.allow_duplicate_condition_types {
            if seen.iter().any(|t| t == ty) {
                errs.push(FieldError::duplicate(format!("{base}.type"), quote(ty)));
            }
            seen.push(ty.to_string());
        }
    }
    errs
}

/// §5.2 `validateCertificateSigningRequestUpdate`, in upstream's order: the object's own rules
/// (spec, conditions, certificate content), then removed conditions, conditions added outside
/// `/approval`, then a certificate set outside `/status` or changed once set.
pub(crate) fn validate_update(
    new: &Value,
    old: &Value,
    sub: Subresource,
    opts: ValidationOptions,
) -> Vec<FieldError> {
    let (mut errs, _) = validate_spec(new, opts);
    errs.extend(validate_conditions(new, opts));
    if !opts.allow_arbitrary_certificate
        && let Err(e) = validate_certificate(&bytes_at(new, "/status/certificate"))
    {
        errs.push(FieldError::invalid(
            "status.certificate",
            "\"<certificate data>\"".into(),
            &e,
        ));
    }
    let conds = conditions(new);
    let old_conds = conditions(old);
    for ty in ["Approved", "Denied", "Failed"] {
        if count(&conds, ty) < count(&old_conds, ty) {
            errs.push(FieldError::forbidden(
                "status.conditions",
                &format!("updates may not remove a condition of type {}", quote(ty)),
            ));
        }
    }
    if sub != Subresource::Approval {
        for ty in ["Approved", "Denied"] {
            if count(&conds, ty) > count(&old_conds, ty) {
                errs.push(FieldError::forbidden(
                    "status.conditions",
                    &format!("updates may not add a condition of type {}", quote(ty)),
                ));
            }
        }
    }
    let new_cert = str_at(new, "/status/certificate");
    let old_cert = str_at(old, "/status/certificate");
    if new_cert != old_cert {
        if sub != Subresource::Status {
            errs.push(FieldError::forbidden(
                "status.certificate",
                "updates may not set certificate content",
            ));
        } else if !opts.allow_resetting_certificate && !old_cert.is_empty() {
            errs.push(FieldError::forbidden(
                "status.certificate",
                "updates may not modify existing certificate content",
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_rules() {
        // Spec errors (an empty spec here) come first; these look at the status ones.
        let status = |new: &Value, old: &Value| -> Vec<String> {
            validate_update(
                new,
                old,
                Subresource::Approval,
                ValidationOptions::for_request(false, new, Some(old)),
            )
            .iter()
            .filter(|e| e.field.starts_with("status"))
            .map(ToString::to_string)
            .collect()
        };
        let old = json!({"status":{"conditions":[{"type":"Denied","status":"True"}]}});
        let new = json!({"status":{"conditions":[{"type":"Denied","status":"True"},{"type":"Approved","status":"True"}]}});
        assert_eq!(
            status(&new, &old)[0],
            "status.conditions[1].type: Invalid value: \"Approved\": Approved and Denied conditions are mutually exclusive"
        );
        let new = json!({"status":{"conditions":[]}});
        assert_eq!(
            status(&new, &old)[0],
            "status.conditions: Forbidden: updates may not remove a condition of type \"Denied\""
        );
        let new = json!({"status":{"conditions":[{"type":"Approved","status":"False"}]}});
        assert_eq!(
            status(&new, &json!({}))[0],
            "status.conditions[0].status: Unsupported value: \"False\": supported values: \"True\""
        );
        // Through v1beta1 (1.19–1.21) duplicate and empty types pass.
        let dup = json!({"status":{"conditions":[{"type":"","status":"True"},{"type":"","status":"True"}]}});
        assert_eq!(status(&dup, &json!({})).len(), 3);
        let lenient = ValidationOptions::for_request(true, &dup, Some(&json!({})));
        assert!(validate_conditions(&dup, lenient).is_empty());
    }
}
