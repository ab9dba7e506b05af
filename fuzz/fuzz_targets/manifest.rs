#![no_main]
// CSR and binding manifests from the media: parse, then decode and check every CSR.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(docs) = kcsr_core::manifest::parse_documents(data) {
        for d in docs {
            if let kcsr_core::manifest::Document::Csr(m) = d {
                if let (Ok(csr), Ok(signer), Ok(usages)) =
                    (m.decode_request(), m.signer(), m.usages())
                {
                    let _ = kcsr_core::checks::check(&kcsr_core::checks::Request {
                        api_version: m.version().unwrap_or(kcsr_core::manifest::ApiVersion::V1),
                        signer: signer.as_ref(),
                        usages: &usages,
                        expiration_seconds: m.spec.expiration_seconds,
                        csr: &csr,
                    });
                }
            }
        }
    }
});
