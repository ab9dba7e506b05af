#![no_main]
// PKCS#10 requests, PEM or DER.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kcsr_core::csr::parse(data);
});
