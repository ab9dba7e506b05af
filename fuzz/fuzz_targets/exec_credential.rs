#![no_main]
// ExecCredential JSON printed by an exec credential plugin, for both accepted apiVersions.
use kcsr_submit::kubeconfig::EXEC_API_VERSIONS;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for version in EXEC_API_VERSIONS {
        if let Err(e) = kcsr_submit::exec::parse_output(data, version) {
            let _ = e.to_string();
        }
    }
});
