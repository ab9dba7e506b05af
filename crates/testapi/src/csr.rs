//! CertificateSigningRequest rules: parsing `spec.request` (reference §4.2 `ParseCSR`),
//! create validation (§4.2), update strategies and validation (§5.1, §5.2), v1beta1 defaulting
//! (§1 "v1beta1"), the kubectl CONDITION column (§8 `extractCSRStatus`).

use base64::Engine as _;
use serde_json::{Value, json};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer as _;

use crate::pki::{GO_SUBJECT_ORDER, San, pem_blocks};
use crate::status::{FieldError, quote};

pub(crate) const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
pub(crate) const KUBELET_CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
pub(crate) const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
pub(crate) const LEGACY_UNKNOWN: &str = "kubernetes.io/legacy-unknown";

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

pub(crate) fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn strings(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn conditions(v: &Value) -> Vec<Value> {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn has_condition(v: &Value, ty: &str) -> bool {
    conditions(v).iter().any(|c| s(c, "/type") == ty)
}

/// base64-decoded `[]byte` field (`spec.request`, `status.certificate`).
pub(crate) fn bytes(v: &Value, ptr: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s(v, ptr).as_bytes())
        .unwrap_or_default()
}

/// The parts of a PKCS#10 request the server and the signer look at.
#[derive(Debug, Clone)]
pub(crate) struct ParsedCsr {
    pub common_names: Vec<String>,
    pub orgs: Vec<String>,
    pub subject: Vec<(&'static [u64], Vec<String>)>,
    pub spki: Vec<u8>,
    pub sans: Vec<San>,
}

impl ParsedCsr {
    pub(crate) fn count(&self, f: fn(&San) -> bool) -> usize {
        self.sans.iter().filter(|s| f(s)).count()
    }
}

/// `helpers.go: ParseCSR` + `CheckSignature` (reference §4.2). Error texts after the PEM check
/// are free-form (§16).
pub(crate) fn parse_csr(pem: &[u8]) -> Result<ParsedCsr, String> {
    let blocks = pem_blocks(pem);
    let Some(block) = blocks.first().filter(|b| b.label == "CERTIFICATE REQUEST") else {
        return Err("PEM block type must be CERTIFICATE REQUEST".into());
    };
    let (_, csr) = X509CertificationRequest::from_der(&block.der)
        .map_err(|e| format!("x509: malformed certificate request: {e}"))?;
    csr.verify_signature()
        .map_err(|e| format!("x509: signature verification failure: {e}"))?;
    let info = &csr.certification_request_info;
    let mut subject: Vec<(&'static [u64], Vec<String>)> = Vec::new();
    for oid in GO_SUBJECT_ORDER {
        let mut values = Vec::new();
        for rdn in info.subject.iter() {
            for atv in rdn.iter() {
                let arcs: Option<Vec<u64>> = atv.attr_type().iter().map(|it| it.collect());
                if arcs.as_deref() == Some(oid) {
                    values.push(atv.as_str().map(str::to_string).unwrap_or_default());
                }
            }
        }
        subject.push((oid, values));
    }
    let pick = |oid: &[u64]| {
        subject
            .iter()
            .find(|(o, _)| *o == oid)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let common_names = pick(crate::pki::OID_CN);
    let orgs = pick(crate::pki::OID_O);
    let mut sans = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for e in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = e {
                for gn in &san.general_names {
                    match gn {
                        GeneralName::DNSName(d) => sans.push(San::Dns((*d).to_string())),
                        GeneralName::RFC822Name(m) => sans.push(San::Email((*m).to_string())),
                        GeneralName::URI(u) => sans.push(San::Uri((*u).to_string())),
                        GeneralName::IPAddress(ip) => sans.push(San::Ip(ip.to_vec())),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(ParsedCsr {
        common_names,
        orgs,
        subject,
        spki: info.subject_pki.raw.to_vec(),
        sans,
    })
}

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
/// the subresource capabilities (decided by [`Sub`]), these are the compatibility
/// relaxations `getValidationOptions` grants: for data the stored object already has
/// (reference §5.2), and — in 1.19–1.21, when the request came through
/// `certificates.k8s.io/v1beta1` — all of them but both-Approved-and-Denied
/// (`getValidationOptions(version, newCSR, oldCSR)`, its test case "v1beta1 compatible
/// create"; the version argument was dropped in 1.22 with v1beta1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opts {
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

impl Opts {
    /// `getValidationOptions`: `v1beta1` = the request came through v1beta1 on a
    /// 1.19–1.21 server; `old` = the stored object on updates.
    pub(crate) fn for_request(v1beta1: bool, new: &Value, old: Option<&Value>) -> Opts {
        let Some(old) = old else {
            return Opts::legacy(v1beta1);
        };
        let usages = strings(old, "/spec/usages");
        let types: Vec<String> = conditions(old)
            .iter()
            .map(|c| s(c, "/type").to_string())
            .collect();
        let (new_cert, old_cert) = (s(new, "/status/certificate"), s(old, "/status/certificate"));
        Opts {
            allow_legacy_signer: v1beta1 || s(old, "/spec/signerName") == LEGACY_UNKNOWN,
            allow_unknown_usages: v1beta1
                || usages.iter().any(|u| !VALID_USAGES.contains(&u.as_str())),
            allow_duplicate_usages: v1beta1 || has_duplicates(&usages),
            allow_duplicate_condition_types: v1beta1 || has_duplicates(&types),
            allow_empty_condition_type: v1beta1 || types.iter().any(String::is_empty),
            allow_arbitrary_certificate: new_cert == old_cert
                || v1beta1
                || validate_certificate(&bytes(old, "/status/certificate")).is_err(),
            allow_resetting_certificate: v1beta1,
            allow_both_approved_and_denied: types.iter().any(|t| t == "Approved")
                && types.iter().any(|t| t == "Denied"),
        }
    }

    fn legacy(v1beta1: bool) -> Opts {
        Opts {
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
pub(crate) fn validate_spec(obj: &Value, opts: Opts) -> (Vec<FieldError>, Option<ParsedCsr>) {
    let mut errs = Vec::new();
    let request = bytes(obj, "/spec/request");
    let parsed = match parse_csr(&request) {
        Ok(p) => Some(p),
        Err(e) => {
            // §6: a []byte bad value renders as json.Marshal does: a quoted base64 string.
            errs.push(FieldError::invalid(
                "spec.request",
                quote(s(obj, "/spec/request")),
                &e,
            ));
            None
        }
    };
    let usages = strings(obj, "/spec/usages");
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
    let signer = s(obj, "/spec/signerName");
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
pub(crate) fn validate_create(obj: &Value, opts: Opts) -> (Vec<FieldError>, Option<ParsedCsr>) {
    let mut errs = Vec::new();
    let name = s(obj, "/metadata/name");
    if name.is_empty() && s(obj, "/metadata/generateName").is_empty() {
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

/// Which endpoint an update came through (reference §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sub {
    Main,
    Approval,
    Status,
}

fn count(conds: &[Value], ty: &str) -> usize {
    conds.iter().filter(|c| s(c, "/type") == ty).count()
}

/// §5.1: build the object to store from the stored one and the request body.
pub(crate) fn prepare_update(old: &Value, body: &Value, sub: Sub, now: &str) -> Value {
    let mut new = old.clone();
    match sub {
        Sub::Main => {
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
        Sub::Approval => {
            new["status"]["conditions"] = Value::Array(conditions(body));
        }
        Sub::Status => {
            let old_conds = conditions(old);
            let mut conds = conditions(body);
            // Existing Approved/Denied instances are copied back when the count is unchanged.
            for ty in ["Approved", "Denied"] {
                if count(&conds, ty) == count(&old_conds, ty) {
                    let olds: Vec<&Value> =
                        old_conds.iter().filter(|c| s(c, "/type") == ty).collect();
                    let mut k = 0;
                    for c in conds.iter_mut() {
                        if s(c, "/type") == ty {
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
            if s(c, "/lastUpdateTime").is_empty() {
                c["lastUpdateTime"] = json!(now);
            }
            if s(c, "/lastTransitionTime").is_empty() {
                let inherited = old_conds.iter().find(|o| {
                    s(o, "/type") == s(c, "/type")
                        && s(o, "/status") == s(c, "/status")
                        && !s(o, "/lastTransitionTime").is_empty()
                });
                let t = inherited
                    .map_or(now, |o| s(o, "/lastTransitionTime"))
                    .to_string();
                c["lastTransitionTime"] = json!(t);
            }
        }
    }
}

/// `validateConditions` (reference §5.2), in upstream's order per condition: type required,
/// status, Approved/Denied exclusion, duplicate type.
fn validate_conditions(obj: &Value, opts: Opts) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let (mut approved, mut denied) = (false, false);
    for (i, c) in conditions(obj).iter().enumerate() {
        let ty = s(c, "/type");
        let st = s(c, "/status");
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
pub(crate) fn validate_update(new: &Value, old: &Value, sub: Sub, opts: Opts) -> Vec<FieldError> {
    let (mut errs, _) = validate_spec(new, opts);
    errs.extend(validate_conditions(new, opts));
    if !opts.allow_arbitrary_certificate
        && let Err(e) = validate_certificate(&bytes(new, "/status/certificate"))
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
    if sub != Sub::Approval {
        for ty in ["Approved", "Denied"] {
            if count(&conds, ty) > count(&old_conds, ty) {
                errs.push(FieldError::forbidden(
                    "status.conditions",
                    &format!("updates may not add a condition of type {}", quote(ty)),
                ));
            }
        }
    }
    let new_cert = s(new, "/status/certificate");
    let old_cert = s(old, "/status/certificate");
    if new_cert != old_cert {
        if sub != Sub::Status {
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

/// §5.2 `status.certificate` content rules (`validateCertificate`; empty is fine).
fn validate_certificate(data: &[u8]) -> Result<(), String> {
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
    if strings(obj, "/spec/usages").is_empty() {
        obj["spec"]["usages"] = json!(["digital signature", "key encipherment"]);
    }
    if s(obj, "/spec/signerName").is_empty() {
        let usages = strings(obj, "/spec/usages");
        let signer = match parse_csr(&bytes(obj, "/spec/request")) {
            Err(_) => LEGACY_UNKNOWN,
            Ok(p) if crate::signer::kubelet_client_check(&p, &usages).is_ok() => KUBELET_CLIENT,
            Ok(p) if crate::signer::kubelet_serving_check(&p, &usages).is_ok() => KUBELET_SERVING,
            Ok(_) => LEGACY_UNKNOWN,
        };
        obj["spec"]["signerName"] = json!(signer);
    }
    if let Some(conds) = obj
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conds {
            if s(c, "/status").is_empty() {
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
    if !s(obj, "/status/certificate").is_empty() {
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

    #[test]
    fn condition_rules() {
        // Spec errors (an empty spec here) come first; these look at the status ones.
        let status = |new: &Value, old: &Value| -> Vec<String> {
            validate_update(
                new,
                old,
                Sub::Approval,
                Opts::for_request(false, new, Some(old)),
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
        let lenient = Opts::for_request(true, &dup, Some(&json!({})));
        assert!(validate_conditions(&dup, lenient).is_empty());
    }
}
