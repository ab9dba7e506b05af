//! Parsing `spec.request`: the PKCS#10 request as `helpers.go: ParseCSR` reads it (reference
//! §4.2).

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer as _;

use crate::pki::{GO_SUBJECT_ORDER, OID_CN, OID_O, San, pem_blocks};

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
    let common_names = pick(OID_CN);
    let orgs = pick(OID_O);
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
