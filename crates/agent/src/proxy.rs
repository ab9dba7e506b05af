//! One connection from kubectl: TLS with the agent's loopback certificate, read and check the
//! request head, connect to the user's API server over TLS (the token signs the handshake),
//! send the rewritten head, then move bytes both ways until either side closes: a poll(2)
//! loop around the two rustls connections, no async runtime.

use std::io;
use std::net::{TcpStream, ToSocketAddrs as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use rustls_pki_types::ServerName;

use crate::config::Upstream;
use crate::http::{self, Head, HeadError};
use crate::signer::{TokenCell, TokenFailure};

mod limits;
mod relay;
mod side;
#[cfg(test)]
mod tests;

pub(crate) use limits::{MAX_UNAUTHENTICATED, Unauthenticated, say_refusal};
use relay::Relay;
use side::Side;

/// How long a client may take to shake hands and send its head, and the upstream to connect
/// and shake hands.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The whole TLS handshake and request head of a client, however slowly it sends: a local
/// user without the token cannot hold a connection open longer than this.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);

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
