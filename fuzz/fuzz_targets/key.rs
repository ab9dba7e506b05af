#![no_main]
// Private keys in every format kcsr reads (with and without a passphrase).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kcsr_core::key::PrivateKey::from_bytes(data, None);
    let pass = secrecy_pass();
    let _ = kcsr_core::key::PrivateKey::from_bytes(data, Some(&pass));
});

fn secrecy_pass() -> secrecy::SecretString {
    secrecy::SecretString::from("fuzz")
}
