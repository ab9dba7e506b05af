//! One side of a proxied connection: a TCP socket and the rustls connection over it, with
//! blocking plaintext reads bounded by a deadline (the client's handshake and request head).

use std::io::{self, Write as _};
use std::net::TcpStream;
use std::time::Instant;

use rustls::Connection;

/// A TCP socket and the TLS connection over it.
pub(super) struct Side {
    pub(super) sock: TcpStream,
    pub(super) tls: Connection,
    pub(super) open: bool,
    /// Plaintext for this side, not yet taken by rustls.
    pub(super) pending: Vec<u8>,
    /// Blocking reads end here (the client's handshake and request head).
    pub(super) deadline: Option<Instant>,
}

impl Side {
    /// Bounds the next blocking read by the deadline.
    pub(super) fn arm(&self) -> io::Result<()> {
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
    pub(super) fn send_all(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.sock)?;
        }
        Ok(())
    }

    /// Sends `data` and a close_notify, best effort (a refusal or a Status).
    pub(super) fn answer_and_close(&mut self, data: &[u8]) {
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
