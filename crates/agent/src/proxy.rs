//! One connection from kubectl: TLS with the agent's loopback certificate, read and check the
//! request head, connect to the user's API server over TLS (the token signs the handshake),
//! send the rewritten head, then move bytes both ways until either side closes: a poll(2)
//! loop around the two rustls connections, no async runtime.

use std::io::{self, Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::os::fd::AsFd as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};
use rustls_pki_types::ServerName;

use crate::config::Upstream;
use crate::http::{self, Head, HeadError};
use crate::signer::{TokenCell, TokenFailure};

/// How long a client may take to shake hands and send its head, and the upstream to connect
/// and shake hands.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Plaintext waiting for one side beyond this stops reading from the other.
const HIGH_WATER: usize = 256 * 1024;
/// The whole TLS handshake and request head of a client, however slowly it sends: a local
/// user without the token cannot hold a connection open longer than this.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// Connections not yet authenticated at once; more are closed at once, so that a local user
/// without the token cannot use up the agent's threads and file descriptors.
pub(crate) const MAX_UNAUTHENTICATED: usize = 64;
/// Refusal lines said on stderr per [`LOG_WINDOW`]; the rest are counted.
const LOG_LINES: u32 = 20;
const LOG_WINDOW: Duration = Duration::from_secs(10);
/// A response head to an upgrade larger than this ends the connection.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Says a line about a refused request on stderr, at most [`LOG_LINES`] per [`LOG_WINDOW`]:
/// a flood of refused connections cannot flood the operator's terminal or log.
pub(crate) fn say_refusal(line: &str) {
    static STATE: Mutex<Option<(Instant, u32, u64)>> = Mutex::new(None);
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    let (start, said, held) = state.get_or_insert((now, 0, 0));
    if now.duration_since(*start) >= LOG_WINDOW {
        if *held > 0 {
            eprintln!("kcsr-agent: {held} more refused request(s) not shown");
        }
        (*start, *said, *held) = (now, 0, 0);
    }
    if *said < LOG_LINES {
        *said += 1;
        eprintln!("{line}");
    } else {
        *held += 1;
    }
}

/// Counts a connection as not yet authenticated while it lives, or until [`Self::done`].
pub(crate) struct Unauthenticated {
    count: Arc<AtomicUsize>,
    counted: bool,
}

impl Unauthenticated {
    /// Counts one more, or `None` when [`MAX_UNAUTHENTICATED`] are already waiting.
    pub(crate) fn enter(count: &Arc<AtomicUsize>) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_UNAUTHENTICATED).then_some(n + 1)
            })
            .ok()
            .map(|_| Self {
                count: count.clone(),
                counted: true,
            })
    }

    fn done(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Unauthenticated {
    fn drop(&mut self) {
        self.done();
    }
}

/// What the agent serves, shared by every connection.
pub(crate) struct Served {
    /// The loopback hop's TLS server (kubectl pins its certificate).
    pub(crate) serving: Arc<ServerConfig>,
    pub(crate) users: Vec<ServedUser>,
}

/// One user: its bearer token, where its requests go, and how.
pub(crate) struct ServedUser {
    pub(crate) name: String,
    pub(crate) bearer: zeroize::Zeroizing<String>,
    pub(crate) upstream: Upstream,
    pub(crate) tls: Arc<ClientConfig>,
    pub(crate) token: Arc<TokenCell>,
}

/// A TCP socket and the TLS connection over it.
struct Side {
    sock: TcpStream,
    tls: Connection,
    open: bool,
    /// Plaintext for this side, not yet taken by rustls.
    pending: Vec<u8>,
    /// Blocking reads end here (the client's handshake and request head).
    deadline: Option<Instant>,
}

impl Side {
    /// Bounds the next blocking read by the deadline.
    fn arm(&self) -> io::Result<()> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request head took too long",
                ));
            }
            self.sock.set_read_timeout(Some(left))?;
        }
        Ok(())
    }

    /// Sends everything rustls has, blocking (before the relay).
    fn send_all(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.sock)?;
        }
        Ok(())
    }

    /// Sends `data` and a close_notify, best effort (a refusal or a Status).
    fn answer_and_close(&mut self, data: &[u8]) {
        let _ = self.tls.writer().write_all(data);
        self.tls.send_close_notify();
        let _ = self.send_all();
    }
}

/// Blocking plaintext reads, for the request head.
impl io::Read for Side {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.arm()?;
                    if self.tls.read_tls(&mut self.sock)? == 0 {
                        return Ok(0);
                    }
                    self.tls.process_new_packets().map_err(io::Error::other)?;
                    self.send_all()?;
                }
                other => return other,
            }
        }
    }
}

/// Handles one connection; every failure is answered (when there is still someone to answer)
/// and, for refusals, said on stderr without any token or header value.
pub(crate) fn handle(served: &Served, sock: TcpStream, mut waiting: Unauthenticated) {
    let peer = sock
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let _ = sock.set_read_timeout(Some(TIMEOUT));
    let _ = sock.set_write_timeout(Some(TIMEOUT));
    let Ok(tls) = ServerConnection::new(served.serving.clone()) else {
        return;
    };
    let mut client = Side {
        sock,
        tls: tls.into(),
        open: true,
        pending: Vec::new(),
        deadline: Some(Instant::now() + HEAD_DEADLINE),
    };
    // Not TLS, or not our certificate: nothing to answer.
    while client.tls.is_handshaking() {
        if client.arm().is_err() || client.tls.complete_io(&mut client.sock).is_err() {
            return;
        }
    }
    let head = match http::read_head(&mut client) {
        Ok(h) => h,
        Err(HeadError::Gone) => return,
        Err(HeadError::Bad(why)) => {
            refuse(
                &mut client,
                &peer,
                400,
                "BadRequest",
                &format!("kcsr-agent refused {why}"),
            );
            return;
        }
    };
    if head.has_origin() {
        refuse(
            &mut client,
            &peer,
            401,
            "Unauthorized",
            "kcsr-agent refused a request with an Origin header: requests from web pages are never forwarded",
        );
        return;
    }
    let user = head.bearer().and_then(|presented| {
        // Every user's token is compared, so the time does not say which one nearly matched.
        served
            .users
            .iter()
            .filter(|u| http::token_matches(presented, u.bearer.as_bytes()))
            .fold(None, |found, u| found.or(Some(u)))
    });
    let Some(user) = user else {
        let why = if head.bearer().is_some() {
            "kcsr-agent refused a request with a wrong bearer token"
        } else {
            "kcsr-agent refused a request without its bearer token (Authorization: Bearer)"
        };
        refuse(&mut client, &peer, 401, "Unauthorized", why);
        return;
    };
    waiting.done();
    client.deadline = None;
    let _ = client.sock.set_read_timeout(Some(TIMEOUT));
    if let Err(message) = forward(user, &mut client, &head) {
        client.answer_and_close(&http::status(502, "ServiceUnavailable", &message));
    }
}

fn refuse(client: &mut Side, peer: &str, code: u16, reason: &str, why: &str) {
    say_refusal(&format!("kcsr-agent: refused a request from {peer}: {why}"));
    client.answer_and_close(&http::status(code, reason, why));
}

/// Connects, shakes hands, sends the head and relays. `Err` is the message for kubectl when
/// nothing was sent yet.
fn forward(user: &ServedUser, client: &mut Side, head: &Head) -> Result<(), String> {
    let token = &user.token;
    let token_message = |f: TokenFailure| token_message(&token.label, &user.name, &f);
    token.ensure().map_err(token_message)?;
    let up = &user.upstream;
    let sock = connect(up).map_err(|e| {
        not_sent(format!(
            "kcsr-agent cannot connect to the API server {}: {e}",
            up.authority()
        ))
    })?;
    let name = ServerName::try_from(up.server_name.clone())
        .map_err(|_| not_sent(format!("the server name {:?} is invalid", up.server_name)))?;
    let tls = ClientConnection::new(user.tls.clone(), name)
        .map_err(|e| not_sent(format!("kcsr-agent cannot start TLS: {e}")))?;
    let mut upstream = Side {
        sock,
        tls: tls.into(),
        open: true,
        pending: Vec::new(),
        deadline: None,
    };
    while upstream.tls.is_handshaking() {
        if let Err(e) = upstream.tls.complete_io(&mut upstream.sock) {
            return Err(match token.take_error() {
                Some(f) => token_message(f),
                None => not_sent(format!(
                    "the TLS handshake with the API server {} failed: {e}",
                    up.authority()
                )),
            });
        }
    }
    let _ = token.take_error();
    upstream.pending = head.upstream_head(&up.authority());
    // A plain request carries its body and nothing more: a second request pipelined behind
    // it is never forwarded unchecked. Chunked bodies are streams; an upgrade becomes one only
    // when the API server switches protocols (101).
    let mut relay = Relay {
        limit: if head.is_upgrade() {
            Some(head.body_length().unwrap_or(0))
        } else {
            head.body_length()
        },
        response_head: Some(Vec::new()),
        upgrade: head.is_upgrade(),
    };
    relay.pass_to_upstream(&mut upstream, &head.rest);
    let _ = relay.run(client, &mut upstream);
    Ok(())
}

fn not_sent(what: String) -> String {
    format!("{what}; the request was not sent")
}

/// What kubectl is told when the token cannot sign: a token that is not there says so, and
/// that the next request tries it again.
fn token_message(label: &str, user: &str, f: &TokenFailure) -> String {
    if f.not_present {
        not_sent(format!(
            "the PKCS#11 token {label:?} is not present ({}): insert it",
            f.message
        ))
    } else {
        not_sent(format!(
            "the PKCS#11 token {label:?} could not sign for user {user:?}: {}",
            f.message
        ))
    }
}

fn connect(up: &Upstream) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in (up.host.as_str(), up.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(s) => {
                s.set_read_timeout(Some(TIMEOUT))?;
                s.set_write_timeout(Some(TIMEOUT))?;
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

struct Relay {
    /// Client bytes still to forward (a plain request's body); `None`: unbounded. Bytes past
    /// the body (a request pipelined behind it) are dropped, never forwarded unchecked.
    limit: Option<u64>,
    /// The upstream's response head read so far, until it is whole and judged: kubectl is
    /// always told `Connection: close` (the agent checks one request per connection, whatever
    /// the upstream says about keeping it open), and an upgrade becomes a stream only on
    /// `101 Switching Protocols`.
    response_head: Option<Vec<u8>>,
    /// The request asked to upgrade.
    upgrade: bool,
}

/// What the upstream's response head says.
#[derive(Debug, PartialEq, Eq)]
enum ResponseHead {
    /// Not the whole head yet.
    Partial,
    /// 101: the connection is a stream from now on.
    Switched,
    /// Anything else: the head rewritten to `Connection: close`, so that kubectl opens (and
    /// the agent checks) a new connection for its next request; after a refused upgrade,
    /// nothing more from the client goes upstream.
    Closing(Vec<u8>),
    /// No sensible head within [`MAX_RESPONSE_HEAD`].
    Broken,
}

/// Judges a response head; any but a 101 comes back rewritten to close.
fn judge_response_head(head: &[u8]) -> ResponseHead {
    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if head.len() > MAX_RESPONSE_HEAD {
            ResponseHead::Broken
        } else {
            ResponseHead::Partial
        };
    };
    let status_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let code = status_line.split(|b| *b == b' ').nth(1).unwrap_or_default();
    if code == b"101" {
        return ResponseHead::Switched;
    }
    let mut out = Vec::with_capacity(head.len() + 20);
    for line in head[..end].split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let name = line.split(|b| *b == b':').next().unwrap_or_default();
        if name.eq_ignore_ascii_case(b"connection") {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&head[end + 4..]);
    ResponseHead::Closing(out)
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

impl Relay {
    /// Hands what the upstream sent to the client; while an upgrade waits for its answer,
    /// the head is judged first.
    fn pass_to_client(&mut self, client: &mut Side, upstream: &mut Side, data: &[u8]) {
        let Some(head) = &mut self.response_head else {
            client.pending.extend_from_slice(data);
            return;
        };
        head.extend_from_slice(data);
        match judge_response_head(head) {
            ResponseHead::Partial => {}
            ResponseHead::Switched if self.upgrade => {
                client.pending.append(head);
                self.response_head = None;
                self.limit = None;
            }
            ResponseHead::Closing(rewritten) => {
                client.pending.extend_from_slice(&rewritten);
                self.response_head = None;
                if self.upgrade {
                    self.limit = Some(0);
                }
            }
            // A switch nobody asked for, or no sensible head: the connection ends.
            ResponseHead::Switched | ResponseHead::Broken => {
                upstream.open = false;
                client.open = false;
            }
        }
    }

    fn pass_to_upstream(&mut self, upstream: &mut Side, data: &[u8]) {
        let take = match &mut self.limit {
            Some(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                *left -= n as u64;
                n
            }
            None => data.len(),
        };
        upstream.pending.extend_from_slice(&data[..take]);
    }

    /// Moves pending plaintext into rustls and sends what rustls has, without blocking.
    fn flush(side: &mut Side) {
        if !side.pending.is_empty() {
            match side.tls.writer().write(&side.pending) {
                Ok(n) => {
                    side.pending.drain(..n);
                }
                Err(_) => side.open = false,
            }
        }
        while side.tls.wants_write() {
            match side.tls.write_tls(&mut side.sock) {
                Ok(_) => {}
                Err(e) if would_block(&e) => break,
                Err(_) => {
                    side.open = false;
                    break;
                }
            }
        }
    }

    /// Reads what `from` has and hands the plaintext to `to` (through `sink`).
    fn receive(from: &mut Side, buf: &mut [u8], mut sink: impl FnMut(&[u8])) {
        match from.tls.read_tls(&mut from.sock) {
            Ok(0) => from.open = false,
            Ok(_) => {
                if from.tls.process_new_packets().is_err() {
                    // rustls queued an alert: try to send it, then stop.
                    let _ = from.tls.write_tls(&mut from.sock);
                    from.open = false;
                }
            }
            Err(e) if would_block(&e) => {}
            Err(_) => from.open = false,
        }
        loop {
            match from.tls.reader().read(buf) {
                Ok(0) => {
                    from.open = false;
                    break;
                }
                Ok(n) => sink(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    from.open = false;
                    break;
                }
            }
        }
    }

    fn run(&mut self, client: &mut Side, upstream: &mut Side) -> io::Result<()> {
        client.sock.set_nonblocking(true)?;
        upstream.sock.set_nonblocking(true)?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            Self::flush(upstream);
            Self::flush(client);
            if !client.open {
                // kubectl closed (a watch it stopped, an exec that ended): so does the
                // upstream connection.
                upstream.tls.send_close_notify();
                let _ = upstream.tls.write_tls(&mut upstream.sock);
                return Ok(());
            }
            if !upstream.open && client.pending.is_empty() && !client.tls.wants_write() {
                client.tls.send_close_notify();
                let _ = client.tls.write_tls(&mut client.sock);
                return Ok(());
            }
            let flags = |s: &Side, other: &Side| {
                let mut f = PollFlags::empty();
                if s.open && other.pending.len() < HIGH_WATER {
                    f |= PollFlags::IN;
                }
                if s.tls.wants_write() || !s.pending.is_empty() {
                    f |= PollFlags::OUT;
                }
                f
            };
            let (cf, uf) = (flags(client, upstream), flags(upstream, client));
            let mut fds = [
                PollFd::from_borrowed_fd(client.sock.as_fd(), cf),
                PollFd::from_borrowed_fd(upstream.sock.as_fd(), uf),
            ];
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let (cr, ur) = (fds[0].revents(), fds[1].revents());
            let readable = PollFlags::IN | PollFlags::HUP | PollFlags::ERR;
            // A reset or hang-up is reported whatever was asked: a side held back by the
            // other's buffer would otherwise wake the loop for ever.
            for (side, asked, got) in [(&mut *client, cf, cr), (&mut *upstream, uf, ur)] {
                if got.contains(PollFlags::ERR)
                    || (got.contains(PollFlags::HUP) && !asked.contains(PollFlags::IN))
                {
                    side.open = false;
                }
            }
            if upstream.open && uf.contains(PollFlags::IN) && ur.intersects(readable) {
                let mut got = Vec::new();
                Self::receive(upstream, &mut buf, |d| got.extend_from_slice(d));
                self.pass_to_client(client, upstream, &got);
            }
            if client.open && cf.contains(PollFlags::IN) && cr.intersects(readable) {
                let mut got = Vec::new();
                Self::receive(client, &mut buf, |d| got.extend_from_slice(d));
                self.pass_to_upstream(upstream, &got);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrade_becomes_a_stream_only_on_101_and_a_refusal_closes() {
        assert_eq!(
            judge_response_head(b"HTTP/1.1 101 Switch"),
            ResponseHead::Partial
        );
        assert_eq!(
            judge_response_head(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nxy"
            ),
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
        let response = String::from_utf8(http::status(502, "ServiceUnavailable", &message))
            .unwrap_or_default();
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
}
