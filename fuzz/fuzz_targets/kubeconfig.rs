#![no_main]
// Kubeconfigs: parse and merge, then resolve every context (base64 fields, server URLs,
// credential rules, exec plugin settings). File paths inside the config are dropped before
// resolving so the target reads no files.
use std::path::Path;

use kcsr_submit::kubeconfig::Kubeconfig;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut config = match Kubeconfig::from_text(text, Path::new("/kcsr-fuzz/config")) {
        Ok(c) => c,
        Err(e) => {
            let _ = (e.to_string(), e.hint());
            return;
        }
    };
    for c in &mut config.clusters {
        c.value.certificate_authority = None;
    }
    for u in &mut config.users {
        u.value.client_certificate = None;
        u.value.client_key = None;
        u.value.token_file = None;
    }
    let names: Vec<String> = config
        .contexts
        .iter()
        .take(8)
        .map(|c| c.name.clone())
        .collect();
    for name in std::iter::once(None).chain(names.iter().map(|n| Some(n.as_str()))) {
        if let Err(e) = config.resolve(name) {
            let _ = (e.to_string(), e.hint());
        }
    }
});
