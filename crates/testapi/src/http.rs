//! A small, bounded HTTP/1.1 reader and writer on top of any byte stream (the rustls stream).
//! Every loop is bounded by size and time: headers ≤ 64 KiB, bodies ≤ 3 MiB (kube-apiserver's
//! request limit), idle keep-alive connections are closed after a while.

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub(crate) const MAX_HEADER: usize = 64 * 1024;
pub(crate) const MAX_BODY: usize = 3 * 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Clean end of the connection (EOF, idle timeout, server stopping).
    Closed,
    /// Answer with this status, then close.
    Bad(u16, &'static str),
}

/// Query-string decoding (`+` is a space, as Go's `url.ParseQuery`).
pub(crate) fn percent_decode(s: &str) -> String {
    decode(s, true)
}

/// Path decoding: `+` stays a `+`.
fn path_decode(s: &str) -> String {
    decode(s, false)
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Buffered connection reader. `idle` bounds the wait for the first byte of a request.
pub(crate) struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    pub(crate) fn new() -> Self {
        Reader { buf: Vec::new() }
    }

    /// Reads more bytes; `Ok(false)` on EOF. Socket read timeouts (short, set by the server)
    /// let us check `stop` and the deadline.
    fn fill<S: Read>(
        &mut self,
        s: &mut S,
        stop: &AtomicBool,
        deadline: Instant,
    ) -> Result<bool, ReadError> {
        let mut tmp = [0u8; 16 * 1024];
        for _ in 0..1_000_000 {
            if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                return Err(ReadError::Closed);
            }
            match s.read(&mut tmp) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(true);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(ReadError::Closed),
            }
        }
        Err(ReadError::Closed)
    }

    pub(crate) fn read_request<S: Read>(
        &mut self,
        s: &mut S,
        stop: &AtomicBool,
        idle: Duration,
    ) -> Result<Request, ReadError> {
        let mut req = self.read_head(s, stop, idle)?;
        let chunked = req
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let deadline = Instant::now() + Duration::from_secs(60);
        req.body = if chunked {
            self.read_chunked(s, stop, deadline)?
        } else {
            let len = match req.header("content-length") {
                None => 0,
                Some(v) => match v.parse::<usize>() {
                    Ok(n) => n,
                    Err(_) => return Err(ReadError::Bad(400, "Bad Request")),
                },
            };
            self.read_sized(s, stop, deadline, len)?
        };
        Ok(req)
    }

    /// The request line and headers; the body is left in the buffer.
    fn read_head<S: Read>(
        &mut self,
        s: &mut S,
        stop: &AtomicBool,
        idle: Duration,
    ) -> Result<Request, ReadError> {
        let idle_deadline = Instant::now() + idle;
        let header_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            if self.buf.len() > MAX_HEADER {
                return Err(ReadError::Bad(431, "Request Header Fields Too Large"));
            }
            let deadline = if self.buf.is_empty() {
                idle_deadline
            } else {
                Instant::now() + Duration::from_secs(30)
            };
            if !self.fill(s, stop, deadline)? {
                return Err(ReadError::Closed);
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..header_end]).into_owned();
        self.buf.drain(..header_end + 4);
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or_default();
        let mut parts = first.split(' ');
        let (Some(method), Some(target), Some(version)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(ReadError::Bad(400, "Bad Request"));
        };
        if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
            return Err(ReadError::Bad(400, "Bad Request"));
        }
        let mut req = Request {
            method: method.to_string(),
            ..Request::default()
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        req.path = path_decode(path);
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            req.query.push((percent_decode(k), percent_decode(v)));
        }
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                return Err(ReadError::Bad(400, "Bad Request"));
            };
            req.headers
                .push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(req)
    }

    /// A `Transfer-Encoding: chunked` body, trailers skipped.
    fn read_chunked<S: Read>(
        &mut self,
        s: &mut S,
        stop: &AtomicBool,
        deadline: Instant,
    ) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        for _ in 0..100_000 {
            let line_end = loop {
                if let Some(p) = find(&self.buf, b"\r\n") {
                    break p;
                }
                if self.buf.len() > 1024 {
                    return Err(ReadError::Bad(400, "Bad Request"));
                }
                if !self.fill(s, stop, deadline)? {
                    return Err(ReadError::Closed);
                }
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size_hex = size_text.split(';').next().unwrap_or("").trim();
            let Ok(size) = usize::from_str_radix(size_hex, 16) else {
                return Err(ReadError::Bad(400, "Bad Request"));
            };
            self.buf.drain(..line_end + 2);
            if body.len() + size > MAX_BODY {
                return Err(ReadError::Bad(413, "Request Entity Too Large"));
            }
            if size == 0 {
                // Trailers end with an empty line.
                loop {
                    if let Some(p) = find(&self.buf, b"\r\n") {
                        let empty = p == 0;
                        self.buf.drain(..p + 2);
                        if empty {
                            break;
                        }
                        continue;
                    }
                    if self.buf.len() > MAX_HEADER || !self.fill(s, stop, deadline)? {
                        return Err(ReadError::Closed);
                    }
                }
                return Ok(body);
            }
            while self.buf.len() < size + 2 {
                if !self.fill(s, stop, deadline)? {
                    return Err(ReadError::Closed);
                }
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
        Err(ReadError::Bad(400, "Bad Request"))
    }

    /// A `Content-Length` body of `len` bytes.
    fn read_sized<S: Read>(
        &mut self,
        s: &mut S,
        stop: &AtomicBool,
        deadline: Instant,
        len: usize,
    ) -> Result<Vec<u8>, ReadError> {
        if len > MAX_BODY {
            // Drain a moderately oversized body so the client can read the 413 instead of
            // failing its write on a closed socket; beyond that, just close.
            if len <= 4 * MAX_BODY {
                let mut left = len;
                while left > 0 {
                    if self.buf.is_empty() && !self.fill(s, stop, deadline)? {
                        return Err(ReadError::Closed);
                    }
                    let n = left.min(self.buf.len());
                    self.buf.drain(..n);
                    left -= n;
                }
            }
            return Err(ReadError::Bad(413, "Request Entity Too Large"));
        }
        while self.buf.len() < len {
            if !self.fill(s, stop, deadline)? {
                return Err(ReadError::Closed);
            }
        }
        Ok(self.buf.drain(..len).collect())
    }
}

#[derive(Debug)]
pub(crate) struct Response {
    pub code: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(code: u16, body: Vec<u8>) -> Self {
        Response {
            code,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }
    /// Go's `http.NotFound`: the plain-text 404 of reference §1.
    pub(crate) fn plain_not_found() -> Self {
        Response {
            code: 404,
            content_type: "text/plain; charset=utf-8",
            headers: vec![("X-Content-Type-Options".into(), "nosniff".into())],
            body: b"404 page not found\n".to_vec(),
        }
    }
}

pub(crate) fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

pub(crate) fn head_bytes(
    code: u16,
    content_type: &str,
    headers: &[(String, String)],
    len: Option<usize>,
) -> Vec<u8> {
    let mut h = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nCache-Control: no-cache, private\r\n",
        reason_phrase(code)
    );
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    match len {
        Some(n) => h.push_str(&format!("Content-Length: {n}\r\n")),
        None => h.push_str("Transfer-Encoding: chunked\r\n"),
    }
    h.push_str("\r\n");
    h.into_bytes()
}

pub(crate) fn write_response<S: Write>(s: &mut S, r: &Response) -> std::io::Result<()> {
    let mut out = head_bytes(r.code, r.content_type, &r.headers, Some(r.body.len()));
    out.extend_from_slice(&r.body);
    s.write_all(&out)?;
    s.flush()
}

pub(crate) fn write_chunk<S: Write>(s: &mut S, data: &[u8]) -> std::io::Result<()> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    s.write_all(&out)?;
    s.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_query_and_chunked_body() {
        let raw = b"POST /apis/x?fieldSelector=metadata.name%3Dfoo&watch=true HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let mut s: &[u8] = raw;
        let stop = AtomicBool::new(false);
        let req = Reader::new()
            .read_request(&mut s, &stop, Duration::from_secs(1))
            .unwrap();
        assert_eq!(req.param("fieldSelector"), Some("metadata.name=foo"));
        assert_eq!(req.body, b"abcde");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(path_decode("/a+b%3Ac"), "/a+b:c");
        assert_eq!(percent_decode("a+b"), "a b");
    }

    #[test]
    fn garbage_is_rejected_not_panicking() {
        let stop = AtomicBool::new(false);
        for raw in [
            &b"\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET / HTTP/1.1\r\nnocolon\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        ] {
            let mut s: &[u8] = raw;
            assert!(
                Reader::new()
                    .read_request(&mut s, &stop, Duration::from_secs(1))
                    .is_err()
            );
        }
    }
}
