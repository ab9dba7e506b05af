//! TLS listener and connection threads: a hand-rolled rustls `ServerConnection` over a std
//! `TcpListener` (dependencies.md §7), one thread per connection, HTTP/1.1 keep-alive. Open
//! connections are registered so that going down can cut them all, as a dying process does.

use std::io::{ErrorKind, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::api::{Outcome, error_response, route};
use crate::conns::Registered;
use crate::http::{
    ReadError, Reader, Request, Response, head_bytes, reason_phrase, write_response,
};
use crate::locks::lock;
use crate::pki::{Ca, San, new_identity};
use crate::state::Shared;
use crate::status::ApiError;
use crate::{authn, watch};

const MAX_CONNECTIONS: usize = 512;
const IDLE: Duration = Duration::from_secs(90);

pub(crate) fn tls_config(serving_ca: &Ca, client_ca: &Ca) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (cert_pem, key_pem) = new_identity(
        serving_ca,
        "kcsr-testapi",
        &[],
        vec![San::Dns("localhost".into()), San::Ip(vec![127, 0, 0, 1])],
        &["digital signature", "key encipherment", "server auth"],
    )?;
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("serving certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("serving key: {e}"))?;
    let config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(authn::client_verifier(&client_ca.subject_der, &provider))
        .with_single_cert(vec![cert], key)?;
    Ok(Arc::new(config))
}

/// Accepts on `listener` until the server stops or incarnation `epoch` goes down; the
/// listener is closed when the thread ends, so connecting is refused from then on.
pub(crate) fn spawn_accept(
    sh: Arc<Shared>,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    epoch: u64,
) -> std::io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let active = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("testapi-accept".into())
        .spawn(move || {
            while !sh.gone(epoch) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                            drop(tcp);
                            continue;
                        }
                        let Ok(handle) = tcp.try_clone() else {
                            continue;
                        };
                        let id = sh.conns.next.fetch_add(1, Ordering::SeqCst);
                        lock(&sh.conns.open).insert(id, handle);
                        let (sh2, tls, active) = (sh.clone(), tls.clone(), active.clone());
                        active.fetch_add(1, Ordering::SeqCst);
                        let spawned = std::thread::Builder::new()
                            .name("testapi-conn".into())
                            .spawn(move || {
                                let _registered = Registered(&sh2.conns, id);
                                serve_conn(&sh2, tcp, tls, epoch);
                                active.fetch_sub(1, Ordering::SeqCst);
                            });
                        let mut list = lock(&sh.conns.threads);
                        list.retain(|h| !h.is_finished());
                        match spawned {
                            Ok(h) => list.push(h),
                            Err(_) => {
                                lock(&sh.conns.open).remove(&id);
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
}

/// `None`: the server went down while the request stalled; nothing is answered.
fn handle(sh: &Shared, req: &Request, peer: Option<&[u8]>, epoch: u64) -> Option<Outcome> {
    // Authentication comes first (§3 step 1); faults hit authenticated CSR API calls.
    let user = match authn::authenticate(sh, peer, req) {
        Ok(u) => u,
        Err(e) => return Some(Outcome::Resp(error_response(&e))),
    };
    if is_fault_target(sh, req) {
        let latency = sh.faults.latency();
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        if let Some(stall) = sh.faults.take_stall()
            && !sh.pause(epoch, stall)
        {
            return None;
        }
        if sh.faults.take_500() {
            return Some(Outcome::Resp(error_response(&ApiError::internal(
                "injected fault",
            ))));
        }
        if let Some(retry) = sh.faults.take_429() {
            return Some(Outcome::Resp(error_response(&ApiError::too_many_requests(
                retry,
            ))));
        }
    }
    Some(route(sh, &user, req))
}

fn is_fault_target(sh: &Shared, req: &Request) -> bool {
    req.path.starts_with("/apis/certificates.k8s.io/") && sh.faults.applies_to(&req.method)
}

/// A TLS stream of one connection.
type Tls = StreamOwned<ServerConnection, TcpStream>;

fn serve_conn(sh: &Shared, tcp: TcpStream, tls: Arc<ServerConfig>, epoch: u64) {
    let Some(mut s) = handshake(sh, tcp, tls, epoch) else {
        return;
    };
    let peer: Option<Vec<u8>> = s
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec());
    let mut reader = Reader::new();
    for _ in 0..1_000_000 {
        let req = match reader.read_request(&mut s, &sh.stop, IDLE) {
            Ok(r) => r,
            Err(ReadError::Closed) => break,
            Err(ReadError::Bad(code, text)) => {
                reject(&mut s, code, text);
                break;
            }
        };
        let Some(outcome) = handle(sh, &req, peer.as_deref(), epoch) else {
            return;
        };
        if sh.gone(epoch) && !sh.stopping() {
            // Went down while handling: the answer is lost with the process.
            return;
        }
        match outcome {
            Outcome::Resp(mut r) => {
                // As Go's net/http server answers a request that asked for a close: a client
                // told so does not send its next request on this connection (kubectl through
                // kcsr-agent, which asks for a close on every plain request, would race it).
                if req.wants_close()
                    && !r
                        .headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
                {
                    r.headers.push(("Connection".into(), "close".into()));
                }
                if !send(sh, &mut s, &req, &r, epoch) {
                    return;
                }
                if req.wants_close() {
                    break;
                }
            }
            Outcome::Watch(spec) => {
                let _ = watch::serve(sh, &mut s, &spec, epoch);
                break;
            }
        }
    }
    if sh.gone(epoch) && !sh.stopping() {
        // Going down: no close_notify, as from a killed process.
        return;
    }
    s.conn.send_close_notify();
    let _ = s.flush();
}

/// Socket options and the TLS handshake; `None` when either fails, times out, or the
/// incarnation goes meanwhile.
fn handshake(sh: &Shared, tcp: TcpStream, tls: Arc<ServerConfig>, epoch: u64) -> Option<Tls> {
    if tcp.set_nonblocking(false).is_err()
        || tcp
            .set_read_timeout(Some(Duration::from_millis(200)))
            .is_err()
        || tcp
            .set_write_timeout(Some(Duration::from_secs(10)))
            .is_err()
    {
        return None;
    }
    let _ = tcp.set_nodelay(true);
    let conn = ServerConnection::new(tls).ok()?;
    let mut s = StreamOwned::new(conn, tcp);
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in 0..100_000 {
        if !s.conn.is_handshaking() {
            break;
        }
        match s.conn.complete_io(&mut s.sock) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                if Instant::now() > deadline || sh.gone(epoch) {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    if s.conn.is_handshaking() {
        return None;
    }
    Some(s)
}

/// Answers a request that could not be read (the connection closes after it).
fn reject(s: &mut Tls, code: u16, text: &str) {
    let r = if code == 413 {
        let mut r = error_response(&ApiError::too_large());
        r.headers.push(("Connection".into(), "close".into()));
        r
    } else {
        Response {
            code,
            content_type: "text/plain; charset=utf-8",
            headers: vec![("Connection".into(), "close".into())],
            body: format!("{code} {}: {text}", reason_phrase(code)).into_bytes(),
        }
    };
    let _ = write_response(s, &r);
}

/// Writes `r`, or the fault a test armed for it (a response cut midway, or one stalled
/// midway); `false` when the connection is gone.
fn send(sh: &Shared, s: &mut Tls, req: &Request, r: &Response, epoch: u64) -> bool {
    if is_fault_target(sh, req) && sh.faults.take_close() {
        // Cut the response in the middle of the body, without close_notify.
        let mut out = head_bytes(r.code, r.content_type, &r.headers, Some(r.body.len()));
        out.extend_from_slice(&r.body[..r.body.len() / 2]);
        let _ = s.write_all(&out);
        let _ = s.flush();
        let _ = s.sock.shutdown(Shutdown::Both);
        return false;
    }
    if is_fault_target(sh, req)
        && let Some(stall) = sh.faults.take_stall_mid_body()
    {
        let mut out = head_bytes(r.code, r.content_type, &r.headers, Some(r.body.len()));
        let half = r.body.len() / 2;
        out.extend_from_slice(&r.body[..half]);
        return s.write_all(&out).and_then(|()| s.flush()).is_ok()
            && sh.pause(epoch, stall)
            && s.write_all(&r.body[half..])
                .and_then(|()| s.flush())
                .is_ok();
    }
    write_response(s, r).is_ok()
}
