//! A program that runs beside the test (a server, a proxy, a watch): its output collected as
//! it comes, so that the test can wait for a line and the program never blocks on a full
//! pipe, and killed when the test is done with it.

use std::io::Read;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long [`Background::wait_for_stdout`] and [`Background::wait_for_stderr`] wait for the
/// program to print what the test expects.
pub const SAY_WITHIN: Duration = Duration::from_secs(30);

/// A started program (stdout and stderr piped, as [`crate::command`] sets them); dropping it
/// kills it.
#[derive(Debug)]
pub struct Background {
    what: String,
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The threads reading its output, until they have read to the end.
    readers: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts `cmd`; `what` names it in a failure.
    pub fn start(mut cmd: Command, what: &str) -> Self {
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let (stdout, out_reader) = collect(child.stdout.take());
        let (stderr, err_reader) = collect(child.stderr.take());
        Self {
            what: what.to_owned(),
            child,
            stdout,
            stderr,
            readers: out_reader.into_iter().chain(err_reader).collect(),
        }
    }

    /// Its standard input, when the command had it piped (for what a test types).
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its standard output so far.
    pub fn stdout(&self) -> String {
        text(&self.stdout)
    }

    /// Its standard error so far.
    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }

    /// Waits until its standard output holds `text`; fails the test after [`SAY_WITHIN`].
    pub fn wait_for_stdout(&self, text: &str) {
        self.wait_for(text, "stdout", &self.stdout);
    }

    /// Waits until its standard error holds `text`; fails the test after [`SAY_WITHIN`].
    pub fn wait_for_stderr(&self, text: &str) {
        self.wait_for(text, "stderr", &self.stderr);
    }

    /// Its exit status once it has ended, and then its output read to the end (fails the
    /// test if the output is still open [`SAY_WITHIN`] later: a child of its own kept it).
    /// `None` while it runs.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().unwrap()?;
        let start = Instant::now();
        while self.readers.iter().any(|r| !r.is_finished()) {
            assert!(
                start.elapsed() < SAY_WITHIN,
                "{} ended but its output did not",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(status)
    }

    /// Waits for it to end ([`Background::try_wait`]); fails the test after `limit`.
    pub fn wait_within(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "{} did not end: {}{}",
                self.what,
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until its standard output holds a whole line (a server's start line) or it has
    /// ended; fails the test after [`SAY_WITHIN`]. Its exit status if it ended.
    pub fn wait_for_line_or_end(&mut self) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if self.stdout().contains('\n') {
                return None;
            }
            assert!(
                start.elapsed() < SAY_WITHIN,
                "{} printed no line within {SAY_WITHIN:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_for(&self, want: &str, stream: &str, seen: &Mutex<Vec<u8>>) {
        let start = Instant::now();
        loop {
            let so_far = text(seen);
            if so_far.contains(want) {
                return;
            }
            assert!(
                start.elapsed() < SAY_WITHIN,
                "{} did not print {want:?} on {stream}: {so_far}",
                self.what,
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `bytes` holds so far, as text.
fn text(bytes: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&bytes.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

/// Reads `pipe` into the returned bytes as they come (a prompt ends no line) until it ends,
/// in the returned thread.
fn collect(
    pipe: Option<impl Read + Send + 'static>,
) -> (Arc<Mutex<Vec<u8>>>, Option<JoinHandle<()>>) {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let mut reader = None;
    if let Some(mut pipe) = pipe {
        let sink = bytes.clone();
        reader = Some(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(&buf[..n]);
            }
        }));
    }
    (bytes, reader)
}
