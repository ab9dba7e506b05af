//! The open connections of the running incarnation and their threads, so that going down
//! can cut them all, as a dying process does.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::thread::JoinHandle;

use crate::locks::lock;

/// Open connections and their threads.
#[derive(Default)]
pub(crate) struct Conns {
    pub(crate) next: AtomicU64,
    pub(crate) open: Mutex<HashMap<u64, TcpStream>>,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Conns {
    /// Closes every open connection without a TLS close_notify: peers see the stream end
    /// mid-response, as when kube-apiserver is killed.
    pub(crate) fn cut_all(&self) {
        for (_, tcp) in lock(&self.open).drain() {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }
    /// Waits for every connection thread to end.
    pub(crate) fn join_all(&self) {
        let threads: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
        for h in threads {
            let _ = h.join();
        }
    }
}

/// Unregisters a connection when its thread ends, however it ends.
pub(crate) struct Registered<'a>(pub(crate) &'a Conns, pub(crate) u64);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(&self.0.open).remove(&self.1);
    }
}
