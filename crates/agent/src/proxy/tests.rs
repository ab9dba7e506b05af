//! The proxy's own decisions: how a response head to an upgrade is judged, the cap on
//! connections waiting to authenticate, and what kubectl is told when the token cannot sign.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::relay::{MAX_RESPONSE_HEAD, ResponseHead, judge_response_head};
use super::token_message;
use super::{MAX_UNAUTHENTICATED, Unauthenticated};
use crate::http;
use crate::signer::TokenFailure;

#[test]
fn an_upgrade_becomes_a_stream_only_on_101_and_a_refusal_closes() {
    assert_eq!(
        judge_response_head(b"HTTP/1.1 101 Switch"),
        ResponseHead::Partial
    );
    assert_eq!(
        judge_response_head(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nxy"),
        ResponseHead::Switched
    );
    let ResponseHead::Closing(out) = judge_response_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}",
    ) else {
        panic!("a 200 to an upgrade is a refusal")
    };
    assert_eq!(
        String::from_utf8(out).unwrap_or_default(),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    );
    assert_eq!(
        judge_response_head(&vec![b'x'; MAX_RESPONSE_HEAD + 1]),
        ResponseHead::Broken
    );
    // A plain answer that would keep the connection (an upstream that is not Go's
    // server ignores the request's Connection: close) is told to close all the same.
    let ResponseHead::Closing(out) =
        judge_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello")
    else {
        panic!("a 200 is answered and closed")
    };
    assert_eq!(
        String::from_utf8(out).unwrap_or_default(),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello"
    );
}

#[test]
fn connections_waiting_to_authenticate_are_capped_and_counted_down() {
    let count = Arc::new(AtomicUsize::new(0));
    let mut held: Vec<Unauthenticated> = (0..MAX_UNAUTHENTICATED)
        .map(|_| Unauthenticated::enter(&count).expect("below the cap"))
        .collect();
    assert!(Unauthenticated::enter(&count).is_none());
    // One authenticates: a place is free, and dropping it later does not count twice.
    held[0].done();
    assert_eq!(count.load(Ordering::Acquire), MAX_UNAUTHENTICATED - 1);
    let again = Unauthenticated::enter(&count);
    assert!(again.is_some());
    held.clear();
    drop(again);
    assert_eq!(count.load(Ordering::Acquire), 0);
}

/// The message for the module's own "token not present" answers, which SoftHSM2 (the
/// e2e tests pull its token directory) does not give.
#[test]
fn a_missing_token_becomes_a_502_status_naming_it() {
    let f = TokenFailure {
        not_present: true,
        message: "C_Sign: CKR_DEVICE_REMOVED".to_owned(),
    };
    let message = token_message("yubikey", "alice@prod", &f);
    assert_eq!(
        message,
        "the PKCS#11 token \"yubikey\" is not present (C_Sign: CKR_DEVICE_REMOVED): insert it; the request was not sent"
    );
    let response =
        String::from_utf8(http::status(502, "ServiceUnavailable", &message)).unwrap_or_default();
    assert!(
        response.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
        "{response}"
    );
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    assert_eq!(v["kind"], "Status");
    assert_eq!(v["code"], 502);
    assert_eq!(v["message"], message.as_str());
    let other = token_message(
        "yubikey",
        "alice@prod",
        &TokenFailure {
            not_present: false,
            message: "C_Sign: CKR_FUNCTION_FAILED".to_owned(),
        },
    );
    assert!(
        other.contains("could not sign for user \"alice@prod\""),
        "{other}"
    );
}
