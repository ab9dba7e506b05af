#![no_main]
// SHA256SUMS.sig from the media and allowed_signers from the connected machine's operator.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(sig) = kcsr_core::sshsig::Signature::parse_armored(data) {
        let again = kcsr_core::sshsig::Signature::parse_armored(sig.to_armored().as_bytes())
            .expect("armor parses");
        assert_eq!(again, sig);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = kcsr_core::sshsig::AllowedSigners::parse(text);
    }
});
