//! One connection from kubectl: read and check the request head, connect to the user's API
//! server over TLS (the token signs the handshake), send the rewritten head, then move bytes
//! both ways until either side closes: a poll(2) loop around rustls, no async runtime.

use std::io::{self, Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::os::fd::AsFd as _;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, poll};
use rustls::{ClientConfig, ClientConnection};
use rustls_pki_types::ServerName;

use crate::config::Upstream;
use crate::http::{self, Head, HeadError};
use crate::signer::TokenCell;

/// How long a client may take to send its head, and the upstream to connect and shake hands.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Plaintext waiting for the other side beyond this stops reading from this side.
const HIGH_WATER: usize = 256 * 1024;

/// What the agent serves, shared by every connection.
pub(crate) struct Served {
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

/// Handles one connection; every failure is answered (when there is still someone to answer)
/// and, for refusals, said on stderr without any token or header value.
pub(crate) fn handle(served: &Served, mut client: TcpStream) {
    let peer = client
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let _ = client.set_read_timeout(Some(TIMEOUT));
    let head = match http::read_head(&mut client) {
        Ok(h) => h,
        Err(HeadError::Gone) => return,
        Err(HeadError::Bad(why)) => {
            refuse(&mut client, &peer, 400, "BadRequest", &format!("kcsr-agent refused {why}"));
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
    if let Err(message) = forward(user, &mut client, &head) {
        let _ = client.write_all(&http::status(502, "ServiceUnavailable", &message));
    }
}

fn refuse(client: &mut TcpStream, peer: &str, code: u16, reason: &str, why: &str) {
    eprintln!("kcsr-agent: refused a request from {peer}: {why}");
    let _ = client.write_all(&http::status(code, reason, why));
}

/// Connects, shakes hands, sends the head and relays. `Err` is the message for kubectl when
/// nothing was sent yet.
fn forward(user: &ServedUser, client: &mut TcpStream, head: &Head) -> Result<(), String> {
    let token = &user.token;
    let not_sent = |what: String| format!("{what}; the request was not sent");
    let token_message = |f: crate::signer::TokenFailure| {
        if f.not_present {
            not_sent(format!(
                "the PKCS#11 token {:?} is not present ({}): insert it",
                token.label, f.message
            ))
        } else {
            not_sent(format!(
                "the PKCS#11 token {:?} could not sign for user {:?}: {}",
                token.label, user.name, f.message
            ))
        }
    };
    token.ensure().map_err(token_message)?;
    let up = &user.upstream;
    let mut upstream = connect(up).map_err(|e| {
        not_sent(format!(
            "kcsr-agent cannot connect to the API server {}: {e}",
            up.authority()
        ))
    })?;
    let name = ServerName::try_from(up.server_name.clone())
        .map_err(|_| not_sent(format!("the server name {:?} is invalid", up.server_name)))?;
    let mut tls = ClientConnection::new(user.tls.clone(), name)
        .map_err(|e| not_sent(format!("kcsr-agent cannot start TLS: {e}")))?;
    while tls.is_handshaking() {
        if let Err(e) = tls.complete_io(&mut upstream) {
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
    tls.writer()
        .write_all(&head.upstream_head(&up.authority()))
        .map_err(|e| not_sent(e.to_string()))?;
    // A plain request carries its body and nothing more: a second request pipelined behind
    // it is never forwarded unchecked. Upgrades and chunked bodies are streams.
    let limit = if head.is_upgrade() {
        None
    } else {
        head.body_length()
    };
    let mut relay = Relay {
        limit,
        to_client: Vec::new(),
    };
    relay.from_client(&mut tls, &head.rest);
    let _ = relay.run(client, &mut upstream, &mut tls);
    Ok(())
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
    to_client: Vec<u8>,
}

impl Relay {
    fn from_client(&mut self, tls: &mut ClientConnection, data: &[u8]) {
        let take = match &mut self.limit {
            Some(left) => {
                let n = (*left).min(data.len() as u64);
                *left -= n;
                // n <= data.len(), so it fits
                usize::try_from(n).unwrap_or(data.len())
            }
            None => data.len(),
        };
        let _ = tls.writer().write_all(&data[..take]);
    }

    fn run(
        &mut self,
        client: &mut TcpStream,
        upstream: &mut TcpStream,
        tls: &mut ClientConnection,
    ) -> io::Result<()> {
        client.set_nonblocking(true)?;
        upstream.set_nonblocking(true)?;
        let mut upstream_open = true;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            // Send what rustls has for the upstream before waiting.
            while tls.wants_write() {
                match tls.write_tls(upstream) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            if !upstream_open && self.to_client.is_empty() {
                return Ok(());
            }
            // The client is read even when a plain request's body is complete, to see it
            // close; bytes past the body are dropped (`from_client`).
            let read_client = !tls.wants_write();
            let mut c = PollFlags::empty();
            if read_client {
                c |= PollFlags::IN;
            }
            if !self.to_client.is_empty() {
                c |= PollFlags::OUT;
            }
            let mut u = PollFlags::empty();
            if upstream_open && self.to_client.len() < HIGH_WATER {
                u |= PollFlags::IN;
            }
            if tls.wants_write() {
                u |= PollFlags::OUT;
            }
            let mut fds = [
                PollFd::from_borrowed_fd(client.as_fd(), c),
                PollFd::from_borrowed_fd(upstream.as_fd(), u),
            ];
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let (cr, ur) = (fds[0].revents(), fds[1].revents());
            let gone = PollFlags::HUP | PollFlags::ERR;
            if ur.intersects(PollFlags::IN | gone) && upstream_open {
                match tls.read_tls(upstream) {
                    Ok(0) => upstream_open = false,
                    Ok(_) => {
                        if tls.process_new_packets().is_err() {
                            // rustls queued an alert: send it, then stop.
                            let _ = tls.write_tls(upstream);
                            upstream_open = false;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => upstream_open = false,
                }
                loop {
                    match tls.reader().read(&mut buf) {
                        Ok(0) => {
                            upstream_open = false;
                            break;
                        }
                        Ok(n) => self.to_client.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            upstream_open = false;
                            break;
                        }
                    }
                }
            }
            if !self.to_client.is_empty() && (cr.contains(PollFlags::OUT) || !upstream_open) {
                match client.write(&self.to_client) {
                    Ok(n) => {
                        self.to_client.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // kubectl went away: nothing more to deliver.
                    Err(_) => return Ok(()),
                }
            }
            if read_client && cr.intersects(PollFlags::IN | gone) {
                match client.read(&mut buf) {
                    Ok(n) if n > 0 => self.from_client(tls, &buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    // kubectl closed (a watch it stopped, an exec that ended): so does the
                    // upstream connection.
                    _ => {
                        tls.send_close_notify();
                        let _ = tls.write_tls(upstream);
                        return Ok(());
                    }
                }
            }
        }
    }
}
