#![allow(clippy::disallowed_methods, clippy::field_reassign_with_default)] // tests write plugin scripts; ExecConfig is non_exhaustive

use std::path::{Path, PathBuf};

use super::*;
use crate::kubeconfig::{ExecEnvVar, Kubeconfig};

const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

fn cluster() -> ClusterConnection {
    let text = "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    tls-server-name: api.example\n    certificate-authority-data: QUJD\n    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension: {audience: kcsr}\ncontexts:\n- {name: x, context: {cluster: c}}\ncurrent-context: x\n";
    Kubeconfig::from_text(text, Path::new("/k"))
        .unwrap()
        .resolve(None)
        .unwrap()
        .cluster
}

/// A plugin run through /bin/sh (no exec of a freshly written file: no ETXTBSY races).
fn plugin(dir: &Path, body: &str, api_version: &str, mode: Option<&str>) -> ExecConfig {
    let script = dir.join("plugin.sh");
    std::fs::write(
        &script,
        format!(
            "set -e\necho run >> '{}'\n{body}\n",
            dir.join("runs").display()
        ),
    )
    .unwrap();
    let mut config = ExecConfig::default();
    config.command = "/bin/sh".into();
    config.args = Some(vec![script.to_string_lossy().into_owned()]);
    config.api_version = api_version.into();
    config.interactive_mode = mode.map(str::to_owned);
    config
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs")).map_or(0, |s| s.lines().count())
}

fn token_json(api: &str, token: &str, expiry: Option<&str>) -> String {
    let expiry = expiry.map_or(String::new(), |e| {
        format!(",\"expirationTimestamp\":\"{e}\"")
    });
    format!(
        "cat <<'EOF'\n{{\"apiVersion\":\"{api}\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{token}\"{expiry}}}}}\nEOF"
    )
}

fn token_of(cred: &IssuedCredential) -> String {
    match &cred.credential {
        ExecCredential::Token(t) => t.expose().to_owned(),
        ExecCredential::ClientCertificate { .. } => panic!("expected a token"),
    }
}

#[test]
fn v1_token_is_cached_without_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let auth = ExecAuthenticator::new(
        plugin(dir.path(), &token_json(V1, "tok1", None), V1, Some("Never")),
        &cluster(),
    );
    let a = auth.credential().unwrap();
    let b = auth.credential().unwrap();
    assert_eq!(token_of(&a), "tok1");
    assert_eq!(a.generation, b.generation);
    assert_eq!(runs(dir.path()), 1);
}

#[test]
fn expired_credential_is_renewed_and_future_one_cached() {
    let dir = tempfile::tempdir().unwrap();
    let auth = ExecAuthenticator::new(
        plugin(
            dir.path(),
            &token_json(V1BETA1, "t", Some("2001-01-01T00:00:00Z")),
            V1BETA1,
            None,
        ),
        &cluster(),
    );
    auth.credential().unwrap();
    auth.credential().unwrap();
    assert_eq!(runs(dir.path()), 2);

    let dir = tempfile::tempdir().unwrap();
    let auth = ExecAuthenticator::new(
        plugin(
            dir.path(),
            &token_json(V1BETA1, "t", Some("2999-01-01T00:00:00Z")),
            V1BETA1,
            None,
        ),
        &cluster(),
    );
    let cred = auth.credential().unwrap();
    assert!(cred.expires_at.is_some());
    auth.credential().unwrap();
    assert_eq!(runs(dir.path()), 1);
}

#[test]
fn refresh_reruns_once_and_skips_when_already_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let auth = ExecAuthenticator::new(
        plugin(dir.path(), &token_json(V1, "t", None), V1, Some("Never")),
        &cluster(),
    );
    let first = auth.credential().unwrap();
    let second = auth.refresh(&first).unwrap();
    assert_eq!(second.generation, first.generation + 1);
    assert_eq!(runs(dir.path()), 2);
    // A second 401 handler holding the same stale credential reuses the rotated one.
    let third = auth.refresh(&first).unwrap();
    assert_eq!(third.generation, second.generation);
    assert_eq!(runs(dir.path()), 2);
}

#[test]
fn exec_info_env_and_cluster_info_reach_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "printf '%s' \"$KUBERNETES_EXEC_INFO\" > '{info}'\nprintf '%s' \"$MY_VAR\" > '{var}'\n{}",
        token_json(V1, "t", None),
        info = dir.path().join("info").display(),
        var = dir.path().join("var").display()
    );
    let mut config = plugin(dir.path(), &body, V1, Some("IfAvailable"));
    config.env = Some(vec![
        serde_json::from_str::<ExecEnvVar>(r#"{"name":"MY_VAR","value":"hello"}"#).unwrap(),
    ]);
    config.provide_cluster_info = true;
    let auth = ExecAuthenticator::new(config, &cluster()).with_stdin_terminal(false);
    auth.credential().unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("info")).unwrap()).unwrap();
    assert_eq!(info["kind"], "ExecCredential");
    assert_eq!(info["apiVersion"], V1);
    assert_eq!(info["spec"]["interactive"], false);
    assert_eq!(info["spec"]["cluster"]["server"], "https://127.0.0.1:6443");
    assert_eq!(info["spec"]["cluster"]["tls-server-name"], "api.example");
    assert_eq!(
        info["spec"]["cluster"]["certificate-authority-data"],
        "QUJD"
    );
    assert_eq!(info["spec"]["cluster"]["config"]["audience"], "kcsr");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("var")).unwrap(),
        "hello"
    );
}

#[test]
fn cluster_info_is_absent_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "printf '%s' \"$KUBERNETES_EXEC_INFO\" > '{}'\n{}",
        dir.path().join("info").display(),
        token_json(V1, "t", None)
    );
    let auth = ExecAuthenticator::new(plugin(dir.path(), &body, V1, Some("Never")), &cluster());
    auth.credential().unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("info")).unwrap()).unwrap();
    assert!(info["spec"].get("cluster").is_none(), "{info}");
}

#[test]
fn always_without_terminal_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let auth = ExecAuthenticator::new(
        plugin(dir.path(), &token_json(V1, "t", None), V1, Some("Always")),
        &cluster(),
    )
    .with_stdin_terminal(false);
    let err = auth.credential().unwrap_err();
    assert!(
        err.to_string().contains("standard input is unavailable"),
        "{err}"
    );
    assert_eq!(runs(dir.path()), 0);
}

#[test]
fn missing_binary_shows_install_hint() {
    let mut config = ExecConfig::default();
    config.command = "/nonexistent/kcsr-test-plugin".into();
    config.api_version = V1.into();
    config.install_hint = Some("install it with: brew install thing".into());
    let err = ExecAuthenticator::new(config, &cluster())
        .credential()
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("exec: executable /nonexistent/kcsr-test-plugin not found"),
        "{err}"
    );
    assert!(
        err.ends_with("install it with: brew install thing"),
        "{err}"
    );
}

#[test]
fn plugin_output_errors_use_client_go_texts() {
    let cases: [(&str, &str); 6] = [
        (
            "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\"}'",
            "exec plugin didn't return a status field",
        ),
        (
            "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"status\":{}}'",
            "exec plugin didn't return a token or cert/key pair",
        ),
        (
            "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"status\":{\"clientCertificateData\":\"x\"}}'",
            "exec plugin returned only certificate or key, not both",
        ),
        (
            "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"status\":{\"token\":\"t\"}}'",
            "exec plugin is configured to use API version client.authentication.k8s.io/v1, plugin returned version client.authentication.k8s.io/v1beta1",
        ),
        ("exit 3", "failed with exit code 3"),
        (
            "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"status\":{\"token\":123456789}}'",
            "decoding stdout: unexpected JSON shape",
        ),
    ];
    for (body, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let auth = ExecAuthenticator::new(plugin(dir.path(), body, V1, Some("Never")), &cluster());
        let err = auth.credential().unwrap_err().to_string();
        assert!(err.contains(expected), "{body}: {err}");
        assert!(!err.contains("123456789"), "{err}");
    }
}

#[test]
fn client_certificate_pair_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let body = "cat <<'EOF'\n{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"status\":{\"clientCertificateData\":\"CERT\",\"clientKeyData\":\"KEY\"}}\nEOF";
    let auth = ExecAuthenticator::new(plugin(dir.path(), body, V1, Some("Never")), &cluster());
    let cred = auth.credential().unwrap();
    match &cred.credential {
        ExecCredential::ClientCertificate { cert_pem, key_pem } => {
            assert_eq!(cert_pem, "CERT");
            assert_eq!(key_pem.expose(), "KEY");
        }
        ExecCredential::Token(_) => panic!("expected a certificate"),
    }
    assert!(!format!("{cred:?}").contains("KEY\""));
}

#[test]
fn hung_plugin_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let auth = ExecAuthenticator::new(
        plugin(dir.path(), "exec sleep 30", V1, Some("Never")),
        &cluster(),
    )
    .with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = auth.credential().unwrap_err();
    assert!(matches!(err, ExecError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn relative_command_from_kubeconfig_runs() {
    // exec.command with a '/' resolves against the kubeconfig's directory.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let script: PathBuf = bin.join("plugin");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n{}\n", token_json(V1, "rel", None)),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let text = format!(
        "clusters:\n- {{name: c, cluster: {{server: https://h, insecure-skip-tls-verify: true}}}}\nusers:\n- {{name: u, user: {{exec: {{apiVersion: {V1}, command: ./bin/plugin, interactiveMode: Never}}}}}}\ncontexts:\n- {{name: x, context: {{cluster: c, user: u}}}}\ncurrent-context: x\n"
    );
    let rc = Kubeconfig::from_text(&text, &dir.path().join("config"))
        .unwrap()
        .resolve(None)
        .unwrap();
    let auth = ExecAuthenticator::new(rc.credentials.exec.clone().unwrap(), &rc.cluster);
    // ETXTBSY is possible when another test thread forks while the script is open for writing;
    // retry briefly (bounded).
    let mut result = auth.credential();
    for _ in 0..20 {
        match &result {
            Err(ExecError::Spawn { source, .. }) if source.raw_os_error() == Some(26) => {
                std::thread::sleep(Duration::from_millis(50));
                result = auth.credential();
            }
            _ => break,
        }
    }
    assert_eq!(token_of(&result.unwrap()), "rel");
}
