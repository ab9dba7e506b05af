//! Starting a program the way every test does: its environment cleaned of whatever the
//! developer's shell has set, no standard input, its output captured, and a deadline.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Run;

/// The HOME a run gets unless the test gives one ([`Command::env`]): a path that does not
/// exist, so nothing is read from or written to the developer's home.
pub const HOME: &str = "/nonexistent/kcsr-test-home";

/// How long a run may take before it counts as hung. Far above what any run needs; only "it
/// returned" is asserted, never how fast.
pub const LIMIT: Duration = Duration::from_secs(150);

/// `program` with no standard input, stdout and stderr piped, and an environment that does
/// not leak the developer's: `HOME` is [`HOME`], and `KUBECONFIG`, `XDG_CONFIG_HOME`,
/// `KCSR_ALLOWED_SIGNERS` and the proxy variables are unset. A test that wants one of them
/// sets it on the returned command.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("HOME", HOME)
        .env_remove("KUBECONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("KCSR_ALLOWED_SIGNERS")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `program ARGS` in `dir` ([`command`]), to the end ([`finish`]).
pub fn run(program: impl AsRef<std::ffi::OsStr>, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = command(program);
    cmd.args(args).current_dir(dir);
    finish(cmd.spawn().unwrap(), args.first().copied().unwrap_or(""))
}

/// `sh -c SCRIPT` in `dir` ([`command`]), to the end ([`finish`]): the test's own tools
/// (openssl, ssh-keygen, sha256sum), in the same clean environment as the programs under test.
pub fn sh(dir: &Path, script: &str) -> Run {
    let mut cmd = command("sh");
    cmd.args(["-c", script]).current_dir(dir);
    finish(cmd.spawn().unwrap(), script)
}

/// Waits for a started program (stdout and stderr piped); one still running after [`LIMIT`]
/// (a blocking read of a FIFO, a stall never timed out) is killed and fails the test rather
/// than hanging it. `what` names the run in that failure.
pub fn finish(child: Child, what: &str) -> Run {
    match wait_within(child, LIMIT) {
        Ok(out) => Run::from(out),
        Err(stderr) => panic!("{what}: the program did not return\nstderr:\n{stderr}"),
    }
}

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
