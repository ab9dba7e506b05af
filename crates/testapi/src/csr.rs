//! CertificateSigningRequest rules: create validation (reference §4.2) and the options both
//! it and update validation ([`crate::csr_update`]) run with, v1beta1 defaulting (§1
//! "v1beta1"), the kubectl CONDITION column (§8 `extractCSRStatus`).

use serde_json::{Value, json};
use x509_parser::prelude::FromDer as _;

use crate::field_error::{FieldError, quote};
use crate::fields::{bytes_at, conditions, has_condition, str_at, strings_at};
use crate::pkcs10::{ParsedCsr, parse_csr};
use crate::pki::pem_blocks;
use crate::signer_rules::{
    KUBELET_CLIENT, KUBELET_SERVING, LEGACY_UNKNOWN, kubelet_client_check, kubelet_serving_check,
};

/// `validation.go: allValidUsages`, sorted as Go's `sets.List` prints them.
pub(crate) const VALID_USAGES: [&str; 23] = [
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-';
    if !ok {
        errs.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string());
    }
    errs
}

fn is_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    let ok = !s.is_empty()
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        });
    if !ok {
        errs.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
    }
    errs
}

/// `core/validation/names.go: ValidateSignerName` (reference §4.2 item 4).
pub(crate) fn validate_signer_name(field: &str, name: &str) -> Vec<FieldError> {
    let mut el = Vec::new();
    if name.is_empty() {
        el.push(FieldError::required(field, ""));
        return el;
    }
    let segments: Vec<&str> = name.split('/').collect();
    if segments.len() != 2 {
        el.push(FieldError::invalid(
            field,
            quote(name),
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
        return el;
    }
    let (domain, path) = (segments[0], segments[1]);
    if domain.len() > 253 {
        el.push(FieldError::too_long(field, 253));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    for lbl in &labels {
        let errs = is_dns1123_label(lbl);
        if !errs.is_empty() {
            for e in errs {
                el.push(FieldError::invalid(
                    field,
                    quote(domain),
                    &format!("validating label {}: {e}", quote(lbl)),
                ));
            }
            break;
        }
    }
    if labels.len() < 2 {
        el.push(FieldError::invalid(
            field,
            quote(domain),
            "should be a domain with at least two segments separated by dots",
        ));
    }
    for lbl in path.split('.') {
        let errs = is_dns1123_subdomain(lbl);
        if !errs.is_empty() {
            for e in errs {
                el.push(FieldError::invalid(
                    field,
                    quote(path),
                    &format!("validating component {}: {e}", quote(lbl)),
                ));
            }
            break;
        }
    }
    let max = 253 + 1 + 253 + 63 + 1;
    if name.len() > max {
        el.push(FieldError::too_long(field, max));
    }
    el
}

/// `validation.go: certificateValidationOptions`: what a request may get away with. Besides
/// the subresource capabilities (decided by [`crate::csr_update::Subresource`]), these are the compatibility
/// relaxations `getValidationOptions` grants: for data the stored object already has
/// (reference §5.2), and — in 1.19–1.21, when the request came through
/// `certificates.k8s.io/v1beta1` — all of them but both-Approved-and-Denied
/// (`getValidationOptions(version, newCSR, oldCSR)`, its test case "v1beta1 compatible
/// create"; the version argument was dropped in 1.22 with v1beta1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValidationOptions {
    pub allow_legacy_signer: bool,
    pub allow_unknown_usages: bool,
    pub allow_duplicate_usages: bool,
    pub allow_duplicate_condition_types: bool,
    pub allow_empty_condition_type: bool,
    pub allow_arbitrary_certificate: bool,
    pub allow_resetting_certificate: bool,
    pub allow_both_approved_and_denied: bool,
}

fn has_duplicates(v: &[String]) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    for x in v {
        if seen.contains(&x.as_str()) {
            return true;
        }
        seen.push(x);
    }
    false
}

impl ValidationOptions {
    /// `getValidationOptions`: `v1beta1` = the request came through v1beta1 on a
    /// 1.19–1.21 server; `old` = the stored object on updates.
    pub(crate) fn for_request(
        v1beta1: bool,
        new: &Value,
        old: Option<&Value>,
    ) -> ValidationOptions {
        let Some(old) = old else {
            return ValidationOptions::legacy(v1beta1);
        };
        let usages = strings_at(old, "/spec/usages");
        let types: Vec<String> = conditions(old)
            .iter()
            .map(|c| str_at(c, "/type").to_string())
            .collect();
        let (new_cert, old_cert) = (
            str_at(new, "/status/certificate"),
            str_at(old, "/status/certificate"),
        );
        ValidationOptions {
            allow_legacy_signer: v1beta1 || str_at(old, "/spec/signerName") == LEGACY_UNKNOWN,
            allow_unknown_usages: v1beta1
                || usages.iter().any(|u| !VALID_USAGES.contains(&u.as_str())),
            allow_duplicate_usages: v1beta1 || has_duplicates(&usages),
            allow_duplicate_condition_types: v1beta1 || has_duplicates(&types),
            allow_empty_condition_type: v1beta1 || types.iter().any(String::is_empty),
            allow_arbitrary_certificate: new_cert == old_cert
                || v1beta1
                || validate_certificate(&bytes_at(old, "/status/certificate")).is_err(),
            allow_resetting_certificate: v1beta1,
            allow_both_approved_and_denied: types.iter().any(|t| t == "Approved")
                && types.iter().any(|t| t == "Denied"),
        }
    }

    fn legacy(v1beta1: bool) -> ValidationOptions {
        ValidationOptions {
            allow_legacy_signer: v1beta1,
            allow_unknown_usages: v1beta1,
            allow_duplicate_usages: v1beta1,
            allow_duplicate_condition_types: v1beta1,
            allow_empty_condition_type: v1beta1,
            allow_arbitrary_certificate: v1beta1,
            allow_resetting_certificate: v1beta1,
            allow_both_approved_and_denied: false,
        }
    }
}

/// Spec rules of §4.2 items 2–5, in order. Returns the parsed request when it is valid.
pub(crate) fn validate_spec(
    obj: &Value,
    opts: ValidationOptions,
) -> (Vec<FieldError>, Option<ParsedCsr>) {
    let mut errs = Vec::new();
    let request = bytes_at(obj, "/spec/request");
    let parsed = match parse_csr(&request) {
        Ok(p) => Some(p),
        Err(e) => {
            // §6: a []byte bad value renders as json.Marshal does: a quoted base64 string.
            errs.push(FieldError::invalid(
                "spec.request",
                quote(str_at(obj, "/spec/request")),
                &e,
            ));
            None
        }
    };
    let usages = strings_at(obj, "/spec/usages");
    if usages.is_empty() {
        errs.push(FieldError::required("spec.usages", ""));
    } else if !opts.allow_unknown_usages {
        for (i, u) in usages.iter().enumerate() {
            if !VALID_USAGES.contains(&u.as_str()) {
                errs.push(FieldError::not_supported(
                    format!("spec.usages[{i}]"),
                    quote(u),
                    &VALID_USAGES,
                ));
            }
        }
    }
    if !opts.allow_duplicate_usages {
        let mut seen: Vec<&str> = Vec::new();
        for (i, u) in usages.iter().enumerate() {
            if seen.contains(&u.as_str()) {
                errs.push(FieldError::duplicate(format!("spec.usages[{i}]"), quote(u)));
            } else {
                seen.push(u);
            }
        }
    }
    let signer = str_at(obj, "/spec/signerName");
    if signer == LEGACY_UNKNOWN {
        if !opts.allow_legacy_signer {
            errs.push(FieldError::invalid(
                "spec.signerName",
                quote(signer),
                "the legacy signerName is not allowed via this API version",
            ));
        }
    } else {
        errs.extend(validate_signer_name("spec.signerName", signer));
    }
    if let Some(exp) = obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        && exp < 600
    {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            exp.to_string(),
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
    (errs, parsed)
}

/// Create validation (reference §4.2): metadata, then spec; generic path-segment name checks
/// only when the strategy found nothing (`rest/create.go`).
pub(crate) fn validate_create(
    obj: &Value,
    opts: ValidationOptions,
) -> (Vec<FieldError>, Option<ParsedCsr>) {
    let mut errs = Vec::new();
    let name = str_at(obj, "/metadata/name");
    if name.is_empty() && str_at(obj, "/metadata/generateName").is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    let (spec_errs, parsed) = validate_spec(obj, opts);
    errs.extend(spec_errs);
    if errs.is_empty() {
        errs.extend(path_segment_errors(name));
    }
    (errs, parsed)
}

pub(crate) fn path_segment_errors(name: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if name == "." || name == ".." {
        errs.push(FieldError::invalid(
            "metadata.name",
            quote(name),
            &format!("may not be '{name}'"),
        ));
    } else {
        for bad in ["/", "%"] {
            if name.contains(bad) {
                errs.push(FieldError::invalid(
                    "metadata.name",
                    quote(name),
                    &format!("may not contain '{bad}'"),
                ));
            }
        }
    }
    errs
}

/// §5.2 `status.certificate` content rules (`validateCertificate`; empty is fine).
pub(crate) fn validate_certificate(data: &[u8]) -> Result<(), String> {
    if data.is_empty() {
        return Ok(());
    }
    let blocks = pem_blocks(data);
    if blocks.is_empty() {
        return Err("must contain at least one CERTIFICATE PEM block".into());
    }
    for b in &blocks {
        if b.label != "CERTIFICATE" {
            return Err(format!(
                "only CERTIFICATE PEM blocks are allowed, found {}",
                quote(&b.label)
            ));
        }
        if b.has_headers {
            return Err("no PEM block headers are permitted".into());
        }
        if x509_parser::certificate::X509Certificate::from_der(&b.der).is_err() {
            return Err("found CERTIFICATE PEM block containing 0 certificates".into());
        }
    }
    Ok(())
}

/// §1 v1beta1 defaulting: `DefaultSignerNameFromSpec`, usages, condition status.
pub(crate) fn default_v1beta1(obj: &mut Value) {
    if strings_at(obj, "/spec/usages").is_empty() {
        obj["spec"]["usages"] = json!(["digital signature", "key encipherment"]);
    }
    if str_at(obj, "/spec/signerName").is_empty() {
        let usages = strings_at(obj, "/spec/usages");
        let signer = match parse_csr(&bytes_at(obj, "/spec/request")) {
            Err(_) => LEGACY_UNKNOWN,
            Ok(p) if kubelet_client_check(&p, &usages).is_ok() => KUBELET_CLIENT,
            Ok(p) if kubelet_serving_check(&p, &usages).is_ok() => KUBELET_SERVING,
            Ok(_) => LEGACY_UNKNOWN,
        };
        obj["spec"]["signerName"] = json!(signer);
    }
    if let Some(conds) = obj
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conds {
            if str_at(c, "/status").is_empty() {
                c["status"] = json!("True");
            }
        }
    }
}

/// kubectl's CONDITION column (reference §8, `extractCSRStatus`).
pub(crate) fn condition_column(obj: &Value) -> String {
    let mut out = if has_condition(obj, "Denied") {
        "Denied".to_string()
    } else if has_condition(obj, "Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has_condition(obj, "Failed") {
        out.push_str(",Failed");
    }
    if !str_at(obj, "/status/certificate").is_empty() {
        out.push_str(",Issued");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_name_rules() {
        assert!(validate_signer_name("f", "example.com/my-signer").is_empty());
        assert_eq!(
            validate_signer_name("f", "")[0].to_string(),
            "f: Required value"
        );
        assert_eq!(
            validate_signer_name("f", "nope")[0].to_string(),
            "f: Invalid value: \"nope\": must be a fully qualified domain and path of the form 'example.com/signer-name'"
        );
        let e = validate_signer_name("f", "example/x");
        assert_eq!(e.len(), 1);
        assert!(e[0].to_string().contains("at least two segments"));
        assert!(!validate_signer_name("f", "Example.com/x").is_empty());
    }
}
