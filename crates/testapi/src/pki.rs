//! The two CAs (serving and client; reference §9: issued certificates chain to the client CA)
//! and a small DER writer for leaf certificates.
//!
//! Leaves are encoded by hand rather than with rcgen because rcgen's `DistinguishedName` keeps
//! one value per attribute type, while the Go signer writes every subject Organization (one
//! multi-valued RDN per attribute type, reference §10). Groups travel in O, so losing all but
//! one would change who an issued certificate authenticates as.

use std::path::Path;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PublicKeyData as _, SigningKey,
};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer as _;

use crate::clock::{civil, real_now};
use crate::files::write_private;

/// A CA whose key signs leaves (always ECDSA P-256, made by us).
pub(crate) struct Ca {
    pub key: KeyPair,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub subject_der: Vec<u8>,
    pub skid: Option<Vec<u8>>,
    pub not_after: i64,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Ca {
    fn from_parts(key: KeyPair, cert_der: Vec<u8>) -> anyhow::Result<Ca> {
        if key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            anyhow::bail!("the CA key must be ECDSA P-256 (as kcsr-testapi creates it)");
        }
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&cert_der)
            .map_err(|e| anyhow::anyhow!("CA certificate does not parse: {e}"))?;
        let subject_der = cert.tbs_certificate.subject.as_raw().to_vec();
        let skid = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            });
        let not_after = cert.validity().not_after.timestamp();
        let cert_pem = pem_encode("CERTIFICATE", &cert_der);
        Ok(Ca {
            key,
            cert_pem,
            cert_der,
            subject_der,
            skid,
            not_after,
        })
    }

    fn generate(cn: &str) -> anyhow::Result<Ca> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let (y, m, d, ..) = civil(real_now() - 86_400);
        let ym = i32::try_from(y).unwrap_or(2000);
        params.not_before = rcgen::date_time_ymd(
            ym,
            u8::try_from(m).unwrap_or(1),
            u8::try_from(d).unwrap_or(1),
        );
        params.not_after = rcgen::date_time_ymd(ym + 10, u8::try_from(m).unwrap_or(1), 1);
        let cert = params.self_signed(&key)?;
        Ca::from_parts(key, cert.der().to_vec())
    }

    /// Loads `DIR/<stem>.crt` + `DIR/<stem>.key`, or creates and writes them.
    pub(crate) fn load_or_create(dir: &Path, stem: &str, cn: &str) -> anyhow::Result<Ca> {
        let crt = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        if crt.exists() && key.exists() {
            let key_pem = std::fs::read_to_string(&key)?;
            let crt_pem = std::fs::read_to_string(&crt)?;
            let der = pem_blocks(crt_pem.as_bytes())
                .into_iter()
                .find(|b| b.label == "CERTIFICATE")
                .map(|b| b.der)
                .ok_or_else(|| anyhow::anyhow!("{}: no CERTIFICATE PEM block", crt.display()))?;
            let kp = KeyPair::from_pem(&key_pem)
                .map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
            return Ca::from_parts(kp, der);
        }
        let ca = Ca::generate(cn)?;
        write_private(&key, ca.key.serialize_pem().as_bytes())?;
        crate::files::write_public(&crt, ca.cert_pem.as_bytes())?;
        Ok(ca)
    }
}

/// A subject alternative name kept by the signer (reference §10: DNS, IP, email, URI).
#[derive(Clone, Debug)]
pub(crate) enum San {
    Dns(String),
    Email(String),
    Uri(String),
    Ip(Vec<u8>),
}

/// Everything that goes into an issued leaf.
pub(crate) struct Leaf<'a> {
    /// (attribute OID, values) in Go's order; each entry becomes one (multi-valued) RDN.
    pub subject: Vec<(&'static [u64], Vec<String>)>,
    pub spki_der: &'a [u8],
    pub sans: Vec<San>,
    pub usages: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
}

pub(crate) const OID_C: &[u64] = &[2, 5, 4, 6];
pub(crate) const OID_ST: &[u64] = &[2, 5, 4, 8];
pub(crate) const OID_L: &[u64] = &[2, 5, 4, 7];
pub(crate) const OID_STREET: &[u64] = &[2, 5, 4, 9];
pub(crate) const OID_POSTAL: &[u64] = &[2, 5, 4, 17];
pub(crate) const OID_O: &[u64] = &[2, 5, 4, 10];
pub(crate) const OID_OU: &[u64] = &[2, 5, 4, 11];
pub(crate) const OID_CN: &[u64] = &[2, 5, 4, 3];
pub(crate) const OID_SERIAL: &[u64] = &[2, 5, 4, 5];
/// `pkix.Name.ToRDNSequence` order (reference §10).
pub(crate) const GO_SUBJECT_ORDER: [&[u64]; 9] = [
    OID_C, OID_ST, OID_L, OID_STREET, OID_POSTAL, OID_O, OID_OU, OID_CN, OID_SERIAL,
];

fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(u8::try_from(n).unwrap_or(0));
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | u8::try_from(bytes.len() - skip).unwrap_or(0));
        out.extend_from_slice(&bytes[skip..]);
    }
}

pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let (a, b) = (
        arcs.first().copied().unwrap_or(0),
        arcs.get(1).copied().unwrap_or(0),
    );
    let mut push_arc = |mut v: u64| {
        let mut tmp = vec![u8::try_from(v & 0x7f).unwrap_or(0)];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | u8::try_from(v & 0x7f).unwrap_or(0));
            v >>= 7;
        }
        tmp.reverse();
        body.extend_from_slice(&tmp);
    };
    push_arc(a * 40 + b);
    for &arc in arcs.iter().skip(2) {
        push_arc(arc);
    }
    tlv(0x06, &body)
}

fn is_printable(s: &str) -> bool {
    s.bytes().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                b' ' | b'\'' | b'(' | b')' | b'+' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
            )
    })
}

fn dir_string(s: &str) -> Vec<u8> {
    // Go's asn1 marshals a string as PrintableString when it can, else UTF8String.
    if is_printable(s) {
        tlv(0x13, s.as_bytes())
    } else {
        tlv(0x0c, s.as_bytes())
    }
}

fn name(rdns: &[(&'static [u64], Vec<String>)]) -> Vec<u8> {
    let mut parts = Vec::new();
    for (o, values) in rdns {
        if values.is_empty() {
            continue;
        }
        let mut atvs: Vec<Vec<u8>> = values
            .iter()
            .map(|v| seq(&[oid(o), dir_string(v)]))
            .collect();
        atvs.sort(); // DER: SET OF sorted by encoding
        parts.push(tlv(0x31, &atvs.concat()));
    }
    seq(&parts)
}

fn der_time(secs: i64) -> Vec<u8> {
    let (y, m, d, h, mi, s) = civil(secs);
    if (1950..2050).contains(&y) {
        let t = format!("{:02}{m:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100);
        tlv(0x17, t.as_bytes())
    } else {
        let t = format!("{y:04}{m:02}{d:02}{h:02}{mi:02}{s:02}Z");
        tlv(0x18, t.as_bytes())
    }
}

fn random_serial() -> anyhow::Result<Vec<u8>> {
    // §10: uniformly random serial below 2^128; keep it positive and minimal.
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let mut v: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if v.is_empty() {
        v.push(1);
    }
    if v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    Ok(tlv(0x02, &v))
}

fn ext(id: &[u64], critical: bool, value: Vec<u8>) -> Vec<u8> {
    let mut parts = vec![oid(id)];
    if critical {
        parts.push(tlv(0x01, &[0xff]));
    }
    parts.push(tlv(0x04, &value));
    seq(&parts)
}

/// Key usage bit for a `spec.usages` value (reference §10).
fn key_usage_bit(u: &str) -> Option<u32> {
    Some(match u {
        "signing" | "digital signature" => 0,
        "content commitment" => 1,
        "key encipherment" => 2,
        "data encipherment" => 3,
        "key agreement" => 4,
        "cert sign" => 5,
        "crl sign" => 6,
        "encipher only" => 7,
        "decipher only" => 8,
        _ => return None,
    })
}

/// (Go enum rank, OID) for an extended key usage value (reference §10).
fn eku(u: &str) -> Option<(u8, &'static [u64])> {
    Some(match u {
        "any" => (0, &[2, 5, 29, 37, 0]),
        "server auth" => (1, &[1, 3, 6, 1, 5, 5, 7, 3, 1]),
        "client auth" => (2, &[1, 3, 6, 1, 5, 5, 7, 3, 2]),
        "code signing" => (3, &[1, 3, 6, 1, 5, 5, 7, 3, 3]),
        "email protection" | "s/mime" => (4, &[1, 3, 6, 1, 5, 5, 7, 3, 4]),
        "ipsec end system" => (5, &[1, 3, 6, 1, 5, 5, 7, 3, 5]),
        "ipsec tunnel" => (6, &[1, 3, 6, 1, 5, 5, 7, 3, 6]),
        "ipsec user" => (7, &[1, 3, 6, 1, 5, 5, 7, 3, 7]),
        "timestamping" => (8, &[1, 3, 6, 1, 5, 5, 7, 3, 8]),
        "ocsp signing" => (9, &[1, 3, 6, 1, 5, 5, 7, 3, 9]),
        "microsoft sgc" => (10, &[1, 3, 6, 1, 4, 1, 311, 10, 3, 3]),
        "netscape sgc" => (11, &[2, 16, 840, 1, 113_730, 4, 1]),
        _ => return None,
    })
}

const ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];

/// Issues a leaf certificate (reference §10): CA:FALSE, KU/EKU from usages, AKI = CA SKID,
/// SANs as given, random serial, signed ECDSA-SHA256 by the CA. Returns DER.
pub(crate) fn issue(ca: &Ca, leaf: &Leaf<'_>) -> anyhow::Result<Vec<u8>> {
    let alg = seq(&[oid(ECDSA_SHA256)]);
    let subject = name(&leaf.subject);
    let subject_empty = leaf.subject.iter().all(|(_, v)| v.is_empty());
    let mut exts = Vec::new();
    let mut bits: u16 = 0;
    for u in &leaf.usages {
        if let Some(b) = key_usage_bit(u) {
            bits |= 1 << (15 - b);
        }
    }
    if bits != 0 {
        let bytes = bits.to_be_bytes();
        let nbytes = if bytes[1] == 0 { 1 } else { 2 };
        let last = bytes[nbytes - 1];
        let unused = u8::try_from(last.trailing_zeros()).unwrap_or(0);
        let mut content = vec![unused];
        content.extend_from_slice(&bytes[..nbytes]);
        exts.push(ext(&[2, 5, 29, 15], true, tlv(0x03, &content)));
    }
    let mut ekus: Vec<(u8, &'static [u64])> = leaf.usages.iter().filter_map(|u| eku(u)).collect();
    ekus.sort();
    ekus.dedup();
    if !ekus.is_empty() {
        let oids: Vec<Vec<u8>> = ekus.iter().map(|(_, o)| oid(o)).collect();
        exts.push(ext(&[2, 5, 29, 37], false, seq(&oids)));
    }
    exts.push(ext(&[2, 5, 29, 19], true, seq(&[])));
    if let Some(kid) = &ca.skid {
        exts.push(ext(&[2, 5, 29, 35], false, seq(&[tlv(0x80, kid)])));
    }
    if !leaf.sans.is_empty() {
        let names: Vec<Vec<u8>> = leaf
            .sans
            .iter()
            .map(|s| match s {
                San::Email(e) => tlv(0x81, e.as_bytes()),
                San::Dns(d) => tlv(0x82, d.as_bytes()),
                San::Uri(u) => tlv(0x86, u.as_bytes()),
                San::Ip(ip) => tlv(0x87, ip),
            })
            .collect();
        exts.push(ext(&[2, 5, 29, 17], subject_empty, seq(&names)));
    }
    let not_after = leaf.not_after.min(ca.not_after);
    let tbs = seq(&[
        tlv(0xa0, &tlv(0x02, &[2])),
        random_serial()?,
        alg.clone(),
        ca.subject_der.clone(),
        seq(&[der_time(leaf.not_before), der_time(not_after)]),
        subject,
        leaf.spki_der.to_vec(),
        tlv(0xa3, &seq(&exts)),
    ]);
    let sig = ca
        .key
        .sign(&tbs)
        .map_err(|e| anyhow::anyhow!("signing failed: {e}"))?;
    let mut bitstring = vec![0u8];
    bitstring.extend_from_slice(&sig);
    Ok(seq(&[tbs, alg, tlv(0x03, &bitstring)]))
}

/// Makes a fresh P-256 key and a certificate for it from `ca`. Returns (cert PEM, key PEM).
pub(crate) fn new_identity(
    ca: &Ca,
    cn: &str,
    orgs: &[String],
    sans: Vec<San>,
    usages: &[&str],
) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let spki = key.subject_public_key_info();
    let now = real_now();
    let leaf = Leaf {
        subject: vec![(OID_O, orgs.to_vec()), (OID_CN, vec![cn.to_string()])],
        spki_der: &spki,
        sans,
        usages: usages.iter().map(|s| s.to_string()).collect(),
        not_before: now - 300,
        not_after: now + 5 * 365 * 86_400,
    };
    let der = issue(ca, &leaf)?;
    Ok((pem_encode("CERTIFICATE", &der), key.serialize_pem()))
}

pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// One PEM block as Go's `pem.Decode` sees it.
#[derive(Debug)]
pub(crate) struct PemBlock {
    pub label: String,
    pub has_headers: bool,
    pub der: Vec<u8>,
}

/// All PEM blocks in `data`, skipping text around them (Go `pem.Decode` in a loop). Blocks whose
/// base64 does not decode are skipped, as Go does.
pub(crate) fn pem_blocks(data: &[u8]) -> Vec<PemBlock> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    for _ in 0..10_000 {
        let Some(start) = rest.find("-----BEGIN ") else {
            break;
        };
        let after = &rest[start + 11..];
        let Some(end_label) = after.find("-----") else {
            break;
        };
        let label = after[..end_label].to_string();
        let body_start = &after[end_label + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_start.find(&end_marker) else {
            rest = body_start;
            continue;
        };
        let body = &body_start[..end];
        rest = &body_start[end + end_marker.len()..];
        let mut has_headers = false;
        let mut b64 = String::new();
        for line in body.lines() {
            if line.contains(':') {
                has_headers = true;
                continue;
            }
            b64.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
        if label.contains('\n') {
            continue;
        }
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
            out.push(PemBlock {
                label,
                has_headers,
                der,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_leaf_parses_and_keeps_every_group() {
        let ca = Ca::generate("test CA").unwrap();
        let (cert, _key) = new_identity(
            &ca,
            "alice",
            &["dev".into(), "ops".into()],
            vec![San::Dns("a.example".into())],
            &["digital signature", "client auth"],
        )
        .unwrap();
        let der = &pem_blocks(cert.as_bytes())[0].der;
        let (_, c) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
        let orgs: Vec<&str> = c
            .subject()
            .iter_organization()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(orgs, ["dev", "ops"]);
        let (_, ca_cert) =
            x509_parser::certificate::X509Certificate::from_der(&ca.cert_der).unwrap();
        c.verify_signature(Some(ca_cert.public_key())).unwrap();
        assert!(!c.is_ca());
        let eku = c.extended_key_usage().unwrap().unwrap();
        assert!(eku.value.client_auth && !eku.value.server_auth);
        let ku = c.key_usage().unwrap().unwrap();
        assert!(ku.value.digital_signature() && !ku.value.key_encipherment());
    }
}
