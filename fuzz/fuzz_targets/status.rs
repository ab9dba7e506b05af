#![no_main]
// Error bodies from the API server (Status JSON or anything else): the first two bytes are the
// HTTP code, the rest the body. What reaches the terminal holds no escape, control or bidi
// override character other than newlines and tabs.
use kcsr_submit::status::{ApiError, Status};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (code, body) = match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => (500, data),
    };
    let status = Status::from_response(code, body);
    let shown = ApiError {
        method: "POST".into(),
        path: "/apis/certificates.k8s.io/v1/certificatesigningrequests".into(),
        status,
        attempts: 1,
    }
    .to_string();
    assert!(
        !shown
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
        "{shown:?}"
    );
});
