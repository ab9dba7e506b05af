//! The PIN asked once per token (`Logins`), against a SoftHSM2 token made for the test.
//! SoftHSM2 reads its configuration (`SOFTHSM2_CONF`) from the environment when the module is
//! initialised, so the test runs itself again as a child process with it set. SoftHSM2 missing
//! is a failure, never a skip (`.ci/run` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::path::{Path, PathBuf};
use std::process::Command;

use kcsr_core::pkcs11_uri::Pkcs11Uri;
use kcsr_testkit::softhsm::{self, MODULE};
use kcsr_token::{Logins, Token};

const PIN: &str = "4417-logins-pin";
/// Set in the child: the directory with the token and the PIN file.
const CHILD: &str = "KCSR_TOKEN_TEST_DIR";

fn uri(dir: &Path, object: &str, pin_file: &str) -> Pkcs11Uri {
    format!(
        "pkcs11:token=logins;object={object}?module-path={MODULE}&pin-source=file:{}",
        dir.join(pin_file).display()
    )
    .parse()
    .unwrap()
}

#[test]
fn a_token_named_again_logs_in_with_the_pin_of_its_first_login() {
    let Some(dir) = std::env::var_os(CHILD).map(PathBuf::from) else {
        return run_as_child("a_token_named_again_logs_in_with_the_pin_of_its_first_login");
    };
    let mut logins = Logins::default();
    let first = logins.open(&uri(&dir, "alice", "pin")).unwrap();
    drop(first);
    // The PIN file is gone: only the PIN kept from the first login can open the token again.
    std::fs::remove_file(dir.join("pin")).unwrap();
    let again = logins.open(&uri(&dir, "bob", "pin"));
    assert!(again.is_ok(), "{:?}", again.err());
    drop(again);
    // Opened on its own, the same URI reads the (missing) PIN file: the kept PIN was used.
    let alone = Token::open(&uri(&dir, "bob", "pin"));
    let message = alone
        .err()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("failed to read the PIN file"), "{message}");
    // Another pin-source is another login: its own file is read.
    let other = logins.open(&uri(&dir, "bob", "other-pin"));
    let message = other
        .err()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("other-pin"), "{message}");
}

#[test]
fn a_look_alike_token_with_the_same_label_is_never_offered_the_kept_pin() {
    let Some(dir) = std::env::var_os(CHILD).map(PathBuf::from) else {
        return run_as_child(
            "a_look_alike_token_with_the_same_label_is_never_offered_the_kept_pin",
        );
    };
    let mut logins = Logins::default();
    drop(logins.open(&uri(&dir, "alice", "pin")).unwrap());
    // The token is taken away and another one with the same label (its own serial number and
    // PIN) is put in its place.
    let softhsm = |args: &[&str]| {
        let out = Command::new("softhsm2-util").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    softhsm(&["--delete-token", "--token", "logins"]);
    softhsm(&[
        "--init-token",
        "--free",
        "--label",
        "logins",
        "--so-pin",
        "so-0002",
        "--pin",
        "look-alike-pin",
    ]);
    std::fs::remove_file(dir.join("pin")).unwrap();
    let message = logins
        .open(&uri(&dir, "bob", "pin"))
        .err()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    // Refused for not being the token that took the PIN, before any login: a wrong-PIN
    // answer would mean the look-alike was offered the PIN.
    assert!(!message.is_empty() && !message.contains("PIN"), "{message}");
}

/// Makes the token in a directory of its own and runs `test` in a child process with
/// `SOFTHSM2_CONF` pointing at it.
fn run_as_child(test: &str) {
    let dir = std::env::temp_dir().join(format!("kcsr-token-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let conf = softhsm::token(&dir, "logins", "so-0001", PIN);
    softhsm::pin_file(&dir.join("pin"), PIN);
    let child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD, &dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        child.status.success(),
        "{}{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(
        String::from_utf8_lossy(&child.stdout).contains("1 passed"),
        "the child ran no test"
    );
}
