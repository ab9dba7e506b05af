//! Moving bytes both ways once the request head was sent: a poll(2) loop around the two rustls
//! connections, the upstream's response head judged (an upgrade becomes a stream only on 101;
//! anything else is answered with `Connection: close`), and a plain request's body bounded.

use std::io::{self, Read as _, Write as _};
use std::os::fd::AsFd as _;

use rustix::event::{PollFd, PollFlags, poll};

use super::side::Side;

/// Plaintext waiting for one side beyond this stops reading from the other.
const HIGH_WATER: usize = 256 * 1024;
/// A response head to an upgrade larger than this ends the connection.
pub(super) const MAX_RESPONSE_HEAD: usize = 64 * 1024;

pub(super) struct Relay {
    /// Client bytes still to forward (a plain request's body); `None`: unbounded. Bytes past
    /// the body (a request pipelined behind it) are dropped, never forwarded unchecked.
    pub(super) limit: Option<u64>,
    /// The upstream's response head read so far, until it is whole and judged: kubectl is
    /// always told `Connection: close` (the agent checks one request per connection, whatever
    /// the upstream says about keeping it open), and an upgrade becomes a stream only on
    /// `101 Switching Protocols`.
    pub(super) response_head: Option<Vec<u8>>,
    /// The request asked to upgrade.
    pub(super) upgrade: bool,
}

/// What the upstream's response head says.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ResponseHead {
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
pub(super) fn judge_response_head(head: &[u8]) -> ResponseHead {
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

    pub(super) fn pass_to_upstream(&mut self, upstream: &mut Side, data: &[u8]) {
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

    pub(super) fn run(&mut self, client: &mut Side, upstream: &mut Side) -> io::Result<()> {
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
