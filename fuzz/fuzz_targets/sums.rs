#![no_main]
// SHA256SUMS from the media.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = kcsr_core::sums::Sums::parse(data) {
        let again = kcsr_core::sums::Sums::parse(s.render().as_bytes()).expect("render parses");
        assert_eq!(again, s);
    }
});
