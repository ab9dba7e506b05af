//! A SoftHSM2 token made for one test, in a directory of its own: the setup of every test of
//! keys in a PKCS#11 token. SoftHSM2 missing is a failure, never a skip (`.ci/run` installs
//! Debian's `softhsm2`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// SoftHSM2's PKCS#11 module (Debian's `softhsm2`).
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A token labelled `label` with the security officer's PIN `so_pin` and the user PIN `pin`,
/// its store in `dir/tokens` and its configuration in `dir/softhsm2.conf`: the
/// configuration's path, for `SOFTHSM2_CONF`.
pub fn token(dir: &Path, label: &str, so_pin: &str, pin: &str) -> PathBuf {
    assert!(
        Path::new(MODULE).exists(),
        "SoftHSM2 is missing ({MODULE}): install it with apt-get install softhsm2 (.ci/run does); the PKCS#11 tests do not skip"
    );
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label])
        .args(["--so-pin", so_pin, "--pin", pin])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util must be installed (apt-get install softhsm2)");
    assert!(
        out.status.success(),
        "softhsm2-util --init-token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    conf
}

/// Writes `pin` and a newline to `path`, readable by its owner only (0600), as kcsr and
/// kcsr-agent require of a PIN file.
pub fn pin_file(path: &Path, pin: &str) {
    std::fs::write(path, format!("{pin}\n")).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}
