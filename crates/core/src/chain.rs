//! Does an issued certificate chain to a pinned CA? `kcsr assemble` trusts a certificate only
//! through the station's pin (decision 0009), never through CA certificates that travelled
//! with it: certificates after the leaf are accepted only as intermediates that each sign the
//! one before, the last signed by a pinned CA (or as copies of the pinned CA itself).

use crate::cert::CertInfo;

/// Why a certificate does not chain to the pinned CAs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChainError(pub String);

/// How a chain was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The pinned CA that signs the chain's last certificate (its subject).
    pub anchor: String,
    /// That CA's fingerprint (`sha256:HEX` of its SubjectPublicKeyInfo).
    pub anchor_fingerprint: String,
    /// How many intermediates sit between the leaf and the pinned CA.
    pub intermediates: usize,
    /// How many certificates of the chain are verified (leaf, intermediates, and copies of the
    /// pinned CA at the end): always all of them on success.
    pub verified: usize,
}

/// Verifies `certs` (leaf first, as `status.certificate` holds them) against `anchors` (the
/// pinned CAs of the signer) at `now`, allowing `skew` seconds of clock difference. Every
/// intermediate must be a CA valid at `now` that signs the certificate before it; the first
/// certificate a pinned CA signs ends the chain, and anything after it must be a copy of a
/// pinned CA. The leaf's own checks (key, names, usages, validity) are
/// [`crate::verify::certificate`]'s.
pub fn verify(
    certs: &[CertInfo],
    anchors: &[CertInfo],
    now: i64,
    skew: i64,
) -> Result<Chain, ChainError> {
    if certs.is_empty() {
        return Err(ChainError("no certificate".to_owned()));
    }
    if anchors.is_empty() {
        return Err(ChainError("no pinned CA to verify against".to_owned()));
    }
    for (i, cert) in certs.iter().enumerate() {
        if let Some(anchor) = anchors.iter().find(|a| cert.is_signed_by(a)) {
            return ends_at(certs, i, anchor, anchors, now, skew);
        }
        let Some(next) = certs.get(i + 1) else {
            return Err(no_anchor(cert, i, anchors));
        };
        link(cert, next, i, now, skew)?;
    }
    // Unreachable: the last certificate either has a pinned issuer or no next one.
    Err(ChainError("the chain does not end".to_owned()))
}

/// The chain ends at `certs[i]`, which the pinned `anchor` signs: the anchor must be a CA valid
/// now, and only copies of pinned CAs may follow.
fn ends_at(
    certs: &[CertInfo],
    i: usize,
    anchor: &CertInfo,
    anchors: &[CertInfo],
    now: i64,
    skew: i64,
) -> Result<Chain, ChainError> {
    if !anchor.is_ca {
        return Err(ChainError(format!(
            "the pinned certificate {:?} that signs it is not a CA",
            anchor.subject.display
        )));
    }
    if !anchor.is_valid_at(now, skew) {
        return Err(ChainError(format!(
            "the pinned CA {:?} is not valid now",
            anchor.subject.display
        )));
    }
    if let Some((j, extra)) = certs
        .iter()
        .enumerate()
        .skip(i + 1)
        .find(|(_, c)| !anchors.iter().any(|a| a.der == c.der))
    {
        return Err(ChainError(format!(
            "certificate {} ({:?}) follows the end of the chain at the pinned CA {:?}: only intermediates and the pinned CA itself may follow the leaf",
            j + 1,
            extra.subject.display,
            anchor.subject.display
        )));
    }
    Ok(Chain {
        anchor: anchor.subject.display.clone(),
        anchor_fingerprint: anchor.ca_fingerprint(),
        intermediates: i,
        verified: certs.len(),
    })
}

/// The last certificate, `certs[i]`, is not signed by a pinned CA.
fn no_anchor(cert: &CertInfo, i: usize, anchors: &[CertInfo]) -> ChainError {
    ChainError(format!(
        "{} is not signed by the pinned CA ({}){}",
        if i == 0 {
            "the certificate".to_owned()
        } else {
            format!("its last intermediate {:?}", cert.subject.display)
        },
        anchors
            .iter()
            .map(|a| format!("{:?} {}", a.subject.display, a.ca_fingerprint()))
            .collect::<Vec<_>>()
            .join(", "),
        if i == 0 {
            format!(" (issuer {:?})", cert.issuer)
        } else {
            String::new()
        }
    ))
}

/// `next` (certificate `i + 2`) is an intermediate: it must sign `cert` (certificate `i + 1`)
/// and be a CA valid now.
fn link(cert: &CertInfo, next: &CertInfo, i: usize, now: i64, skew: i64) -> Result<(), ChainError> {
    if !cert.is_signed_by(next) {
        return Err(ChainError(format!(
            "certificate {} ({:?}) does not sign certificate {} ({:?}): certificates after the leaf must each sign the one before",
            i + 2,
            next.subject.display,
            i + 1,
            cert.subject.display
        )));
    }
    if !next.is_ca {
        return Err(ChainError(format!(
            "intermediate {:?} is not a CA",
            next.subject.display
        )));
    }
    if !next.is_valid_at(now, skew) {
        return Err(ChainError(format!(
            "intermediate {:?} is not valid now",
            next.subject.display
        )));
    }
    Ok(())
}

#[cfg(all(test, feature = "keys"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };

    use super::*;
    use crate::cert;

    struct Ca {
        cert: CertInfo,
        issuer: Issuer<'static, KeyPair>,
    }

    fn params(cn: &str, ca: bool) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        if ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        }
        p
    }

    fn root(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let p = params(cn, true);
        let c = p.self_signed(&key).unwrap();
        Ca {
            cert: cert::parse_der(c.der()).unwrap(),
            issuer: Issuer::new(p, key),
        }
    }

    fn sub(cn: &str, by: &Ca, ca: bool) -> Ca {
        let key = KeyPair::generate().unwrap();
        let p = params(cn, ca);
        let c = p.signed_by(&key, &by.issuer).unwrap();
        Ca {
            cert: cert::parse_der(c.der()).unwrap(),
            issuer: Issuer::new(p, key),
        }
    }

    fn now() -> i64 {
        crate::time::now_unix()
    }

    #[test]
    fn a_leaf_signed_by_the_pinned_ca_chains() {
        let ca = root("pinned");
        let leaf = sub("alice", &ca, false);
        let c = verify(&[leaf.cert], std::slice::from_ref(&ca.cert), now(), 0).unwrap();
        assert_eq!(c.intermediates, 0);
        assert_eq!(c.anchor_fingerprint, ca.cert.ca_fingerprint());
    }

    #[test]
    fn intermediates_count_only_when_each_signs_the_one_before() {
        let ca = root("pinned");
        let mid = sub("mid", &ca, true);
        let leaf = sub("alice", &mid, false);
        let c = verify(
            &[leaf.cert.clone(), mid.cert.clone()],
            std::slice::from_ref(&ca.cert),
            now(),
            0,
        )
        .unwrap();
        assert_eq!(c.intermediates, 1);
        // The pinned CA itself may follow.
        verify(
            &[leaf.cert.clone(), mid.cert.clone(), ca.cert.clone()],
            std::slice::from_ref(&ca.cert),
            now(),
            0,
        )
        .unwrap();
        // Without the intermediate the leaf does not chain.
        let e = verify(
            std::slice::from_ref(&leaf.cert),
            std::slice::from_ref(&ca.cert),
            now(),
            0,
        )
        .unwrap_err();
        assert!(e.0.contains("not signed by the pinned CA"), "{e}");
        // An intermediate that is no CA is refused.
        let not_ca = sub("not-a-ca", &ca, false);
        let under = sub("alice", &not_ca, false);
        let e = verify(
            &[under.cert, not_ca.cert],
            std::slice::from_ref(&ca.cert),
            now(),
            0,
        )
        .unwrap_err();
        assert!(e.0.contains("is not a CA"), "{e}");
    }

    #[test]
    fn an_attacker_ca_or_trailing_certificates_are_refused() {
        let pinned = root("pinned");
        let attacker = root("attacker");
        let forged = sub("alice", &attacker, false);
        // The attacker's CA travelling with the leaf does not help: it is not pinned.
        let e = verify(
            &[forged.cert.clone(), attacker.cert.clone()],
            std::slice::from_ref(&pinned.cert),
            now(),
            0,
        )
        .unwrap_err();
        assert!(e.0.contains("not signed by the pinned CA"), "{e}");
        assert!(e.0.contains(&pinned.cert.ca_fingerprint()), "{e}");
        // A certificate that does not sign the one before.
        let other = root("other");
        let leaf = sub("alice", &pinned, false);
        let e = verify(
            &[leaf.cert.clone(), other.cert.clone()],
            std::slice::from_ref(&pinned.cert),
            now(),
            0,
        )
        .unwrap_err();
        assert!(e.0.contains("follows the end of the chain"), "{e}");
        let stray_mid = sub("mid", &attacker, true);
        let e = verify(
            &[forged.cert, stray_mid.cert],
            std::slice::from_ref(&pinned.cert),
            now(),
            0,
        )
        .unwrap_err();
        assert!(e.0.contains("does not sign certificate 1"), "{e}");
        assert!(verify(&[], &[pinned.cert], now(), 0).is_err());
        assert!(verify(&[leaf.cert], &[], now(), 0).is_err());
    }

    #[test]
    fn a_pinned_certificate_that_is_no_ca_anchors_nothing() {
        let fake = sub("fake", &root("r"), false);
        let leaf = sub("alice", &fake, false);
        let e = verify(&[leaf.cert], &[fake.cert], now(), 0).unwrap_err();
        assert!(e.0.contains("is not a CA"), "{e}");
    }
}
