#![no_main]
// Certificate bundles brought back across the gap.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(b) = kcsr_core::bundle::Bundle::parse(data) {
        let _ = kcsr_core::cert::parse_all(b.certificate.as_bytes());
    }
});
