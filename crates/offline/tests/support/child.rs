//! Other programs run by the tests: waiting without letting a hang hang the test, and
//! `sha256sum -c` as the independent check of `SHA256SUMS`. Shared with
//! crates/submit/tests/support/gap.rs by `#[path]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests
#![allow(dead_code, unreachable_pub)] // each test binary uses a part

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Waits for `child` (its stdout and stderr piped); one still running after `limit` is killed
/// and `Err` holds its stderr so far. The output is read as it comes, so a full pipe cannot
/// pass for a hang.
pub fn wait_within(mut child: Child, limit: Duration) -> Result<Output, String> {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(String::from_utf8_lossy(&stderr.join().unwrap()).into_owned());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    })
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// `sha256sum -c --strict SHA256SUMS` in `media` succeeds.
pub fn sha256sum_ok(media: &Path) {
    let out = Command::new("sha256sum")
        .args(["-c", "--strict", "--quiet", "SHA256SUMS"])
        .current_dir(media)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sha256sum -c in {}: {}{}",
        media.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
