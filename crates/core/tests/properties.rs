//! Property tests: every reader of outside data returns a value or an error for any input,
//! never panics, and the writers' output reads back to the same value.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use kcsr_core::{bundle, cert, csr, digest, expiry, manifest, pem, sums, time, yaml};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn readers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = manifest::parse_documents(&data);
        let _ = sums::Sums::parse(&data);
        let _ = pem::parse(&data);
        let _ = csr::parse(&data);
        let _ = cert::parse_all(&data);
        let _ = bundle::Bundle::parse(&data);
        let _ = yaml::parse_one::<serde_json::Value>(&data, yaml::Snippets::Hide);
        #[cfg(feature = "keys")]
        let _ = kcsr_core::key::PrivateKey::from_bytes(&data, None);
    }

    #[test]
    fn readers_never_panic_on_text(text in "(\\PC|\n|-----BEGIN [A-Z ]{0,20}-----|apiVersion: |kind: |  - |: |\\[|\\{|&a|\\*a){0,200}") {
        let _ = manifest::parse_documents(text.as_bytes());
        let _ = sums::Sums::parse(text.as_bytes());
        let _ = pem::parse(text.as_bytes());
        let _ = csr::parse(text.as_bytes());
        let _ = bundle::Bundle::parse(text.as_bytes());
        let _ = time::parse_rfc3339(&text);
        let _ = text.parse::<expiry::Expiration>();
        let _ = text.parse::<kcsr_core::names::UserName>();
        let _ = text.parse::<kcsr_core::signer::SignerName>();
    }

    #[test]
    fn sums_round_trip(entries in proptest::collection::btree_map("[a-z0-9][a-z0-9._-]{0,30}", proptest::collection::vec(any::<u8>(), 0..64), 0..20)) {
        let mut s = sums::Sums::default();
        for (name, content) in &entries {
            s.insert(name, content);
        }
        let back = sums::Sums::parse(s.render().as_bytes()).unwrap();
        prop_assert_eq!(&back, &s);
        for (name, content) in &entries {
            prop_assert!(back.matches(name, content));
        }
    }

    #[test]
    fn pem_round_trips(label in "[A-Z]{1,10}( [A-Z]{1,10}){0,2}", der in proptest::collection::vec(any::<u8>(), 0..600)) {
        let text = pem::encode(&label, &der);
        let blocks = pem::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(blocks.len(), 1);
        prop_assert_eq!(&blocks[0].label, &label);
        prop_assert_eq!(blocks[0].der.as_slice(), der.as_slice());
    }

    #[test]
    fn time_round_trips(t in -62_135_596_800i64..253_402_300_799i64) {
        prop_assert_eq!(time::parse_rfc3339(&time::format_rfc3339(t)), Some(t));
    }

    #[test]
    fn slugs_are_always_safe_file_stems(name in "\\PC{1,80}") {
        let slug = kcsr_core::names::slug(&name);
        prop_assert!(kcsr_core::names::is_dns1123_label(&slug), "{:?} -> {:?}", name, slug);
        let file = format!("{}.csr.yaml", slug);
        prop_assert!(kcsr_core::media::is_safe_file_name(&file));
    }

    #[test]
    fn digests_are_hex(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let h = digest::sha256_hex(&data);
        prop_assert_eq!(digest::parse_sha256_hex(&h), Some(digest::sha256(&data)));
    }
}
