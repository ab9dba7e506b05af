//! The request head, and only that (bounded: 64 KiB, 100 headers): who is calling (the bearer
//! token, compared in constant time), whether a browser is (`Origin`), whether it is an
//! upgrade, and the head sent upstream (no `Authorization`, the upstream's `Host`,
//! `Connection: close` unless upgrading). Errors go back as a Kubernetes `Status`.

use std::io::{self, Read};

use zeroize::Zeroizing;

/// The most a request head may take.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// The most headers a request may have.
const MAX_HEADERS: usize = 100;
/// The most read from the client at once.
const CHUNK: usize = 4096;

/// A parsed request head.
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Values wiped when the head is dropped: `Authorization` holds the caller's bearer token.
    headers: Vec<(String, Zeroizing<Vec<u8>>)>,
    /// Bytes read past the head (the start of a body or of an upgraded stream).
    pub(crate) rest: Vec<u8>,
}

/// Why a head could not be read.
pub(crate) enum HeadError {
    /// The client closed or timed out before a head.
    Gone,
    /// Not HTTP/1.x, or too large.
    Bad(String),
}

/// Reads the head from `client`. The bytes read hold the bearer token: they are wiped once
/// parsed, and the buffer is as large as a head may grow, so no copy is left behind by a
/// reallocation.
pub(crate) fn read_head(client: &mut impl Read) -> Result<Head, HeadError> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_HEAD + CHUNK));
    let mut chunk = Zeroizing::new([0u8; CHUNK]);
    loop {
        let n = match client.read(chunk.as_mut_slice()) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(HeadError::Gone),
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let head = Head {
                    method: req.method.unwrap_or_default().to_owned(),
                    path: req.path.unwrap_or_default().to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| (h.name.to_owned(), Zeroizing::new(h.value.to_vec())))
                        .collect(),
                    rest: buf[len..].to_vec(),
                };
                return Ok(head);
            }
            Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(HeadError::Bad(format!(
                    "a request head larger than {} KiB",
                    MAX_HEAD / 1024
                )));
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError::Bad(format!(
                    "a request with more than {MAX_HEADERS} headers"
                )));
            }
            Err(e) => return Err(HeadError::Bad(format!("not an HTTP/1.1 request ({e})"))),
        }
    }
}

impl Head {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Whether the request has an `Origin` header: it comes from a web page.
    pub(crate) fn has_origin(&self) -> bool {
        self.values("origin").next().is_some()
    }

    /// The bearer token, if there is exactly one `Authorization: Bearer …`.
    pub(crate) fn bearer(&self) -> Option<&[u8]> {
        let mut all = self.values("authorization");
        let value = all.next()?;
        if all.next().is_some() {
            return None;
        }
        let (scheme, token) = value.split_at_checked(7)?;
        scheme
            .eq_ignore_ascii_case(b"bearer ")
            .then(|| token.trim_ascii())
    }

    /// Whether this is an upgrade (exec, attach, port-forward: SPDY or WebSocket).
    pub(crate) fn is_upgrade(&self) -> bool {
        self.values("upgrade").next().is_some()
            && self.values("connection").any(|v| {
                v.split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
            })
    }

    /// The request body's length when it has a fixed one (`Content-Length`, or none at
    /// all); `None` for a chunked body.
    pub(crate) fn body_length(&self) -> Option<u64> {
        if self.values("transfer-encoding").next().is_some() {
            return None;
        }
        Some(
            self.values("content-length")
                .next()
                .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok())
                .unwrap_or(0),
        )
    }

    /// The head for the upstream.
    pub(crate) fn upstream_head(&self, authority: &str) -> Vec<u8> {
        let upgrade = self.is_upgrade();
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: {authority}\r\n",
            self.method, self.path
        )
        .into_bytes();
        for (name, value) in &self.headers {
            let drop = [
                "authorization",
                "host",
                "proxy-authorization",
                "proxy-connection",
            ]
            .iter()
            .any(|d| name.eq_ignore_ascii_case(d))
                || (!upgrade
                    && ["connection", "keep-alive"]
                        .iter()
                        .any(|d| name.eq_ignore_ascii_case(d)));
            if drop {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if !upgrade {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Compares a presented token with a user's, in time independent of where they differ.
pub(crate) fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(presented, expected).is_ok()
}

/// A Kubernetes `Status` response that kubectl prints as the error.
pub(crate) fn status(code: u16, reason: &str, message: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
    .to_string();
    let phrase = match code {
        401 => "Unauthorized",
        400 => "Bad Request",
        _ => "Bad Gateway",
    };
    format!(
        "HTTP/1.1 {code} {phrase}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(_)) = req.parse(text.as_bytes()) else {
            panic!("test head does not parse")
        };
        Head {
            method: req.method.unwrap_or_default().to_owned(),
            path: req.path.unwrap_or_default().to_owned(),
            headers: req
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), Zeroizing::new(h.value.to_vec())))
                .collect(),
            rest: Vec::new(),
        }
    }

    #[test]
    fn the_upstream_head_has_no_authorization_the_upstream_host_and_connection_close() {
        let h = head(
            "GET /api HTTP/1.1\r\nHost: 127.0.0.1:16443\r\nAuthorization: Bearer abc\r\nConnection: keep-alive\r\nAccept: application/json\r\n\r\n",
        );
        assert_eq!(h.bearer(), Some(&b"abc"[..]));
        let out = String::from_utf8(h.upstream_head("prod.example:6443")).unwrap_or_default();
        assert_eq!(
            out,
            "GET /api HTTP/1.1\r\nHost: prod.example:6443\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn an_upgrade_keeps_its_connection_header() {
        let h = head(
            "GET /exec HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer x\r\n\r\n",
        );
        assert!(h.is_upgrade());
        let out = String::from_utf8(h.upstream_head("u:1")).unwrap_or_default();
        assert!(out.contains("Connection: Upgrade\r\n") && !out.contains("close"));
        assert!(!out.contains("Authorization"));
    }

    #[test]
    fn two_authorization_headers_or_another_scheme_give_no_bearer() {
        let h =
            head("GET / HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n");
        assert_eq!(h.bearer(), None);
        let h = head("GET / HTTP/1.1\r\nAuthorization: Basic YTpi\r\n\r\n");
        assert_eq!(h.bearer(), None);
        assert!(token_matches(b"abc", b"abc"));
        assert!(!token_matches(b"abd", b"abc"));
        assert!(!token_matches(b"ab", b"abc"));
    }
}
