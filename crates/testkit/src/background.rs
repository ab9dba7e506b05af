//! A program that runs beside the test (a server, a proxy, a watch): its output collected as
//! it comes, so that the test can wait for a line and the program never blocks on a full
//! pipe, and killed when the test is done with it.

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
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
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Background {
    /// Starts `cmd`; `what` names it in a failure.
    pub fn start(mut cmd: Command, what: &str) -> Self {
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        Self {
            what: what.to_owned(),
            child,
            stdout,
            stderr,
        }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its standard output so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Its standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until its standard output holds `text`; fails the test after [`SAY_WITHIN`].
    pub fn wait_for_stdout(&self, text: &str) {
        self.wait_for(text, "stdout", &self.stdout);
    }

    /// Waits until its standard error holds `text`; fails the test after [`SAY_WITHIN`].
    pub fn wait_for_stderr(&self, text: &str) {
        self.wait_for(text, "stderr", &self.stderr);
    }

    fn wait_for(&self, text: &str, stream: &str, seen: &Mutex<String>) {
        let start = Instant::now();
        while !seen.lock().unwrap().contains(text) {
            assert!(
                start.elapsed() < SAY_WITHIN,
                "{} did not print {text:?} on {stream}: {}",
                self.what,
                seen.lock().unwrap()
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

/// Reads `pipe` line by line into the returned text until it ends.
fn collect(pipe: Option<impl Read + Send + 'static>) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    if let Some(pipe) = pipe {
        let sink = text.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
    }
    text
}
