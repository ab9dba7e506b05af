#![no_main]
// Certificates (PEM chains or DER) and the chain check.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = kcsr_core::cert::parse_all(data) {
        if let [leaf, rest @ ..] = certs.as_slice() {
            for ca in rest {
                let _ = leaf.is_signed_by(ca);
            }
        }
    }
});
