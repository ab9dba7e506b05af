#![allow(clippy::disallowed_methods)] // tests write fixture files

use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::*;
use crate::files::MAX_FILE_BYTES;

const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn basic(server: &str, extra_user: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Config
current-context: ctx
clusters:
- name: c1
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: u1
  user:
{extra_user}
contexts:
- name: ctx
  context:
    cluster: c1
    user: u1
"#,
        ca = b64(CA_PEM)
    )
}

fn resolve_text(text: &str) -> Result<ResolvedContext, KubeconfigError> {
    Kubeconfig::from_text(text, Path::new("/tmp/kc/config"))?.resolve(None)
}

#[test]
fn parses_a_token_kubeconfig() {
    let rc = resolve_text(&basic("https://127.0.0.1:6443/", "    token: abc")).unwrap();
    assert_eq!(rc.context_name, "ctx");
    assert_eq!(rc.cluster.server, "https://127.0.0.1:6443");
    assert_eq!(rc.cluster.ca.as_ref().unwrap().pem, CA_PEM.as_bytes());
    assert_eq!(rc.credentials.token.as_ref().unwrap().expose(), "abc");
    let debug = format!("{rc:?}");
    assert!(!debug.contains("abc\""), "token leaked into Debug: {debug}");
}

#[test]
fn parses_json_kubeconfig() {
    let json = r#"{"apiVersion":"v1","kind":"Config","current-context":"x",
        "clusters":[{"name":"c","cluster":{"server":"https://h:1","insecure-skip-tls-verify":true}}],
        "users":[{"name":"u","user":{"token":"t"}}],
        "contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}]}"#;
    let rc = resolve_text(json).unwrap();
    assert!(rc.cluster.insecure_skip_tls_verify);
    assert_eq!(rc.cluster.server, "https://h:1");
}

#[test]
fn empty_file_and_null_lists_are_an_empty_config() {
    let kc = Kubeconfig::from_text("", Path::new("/x")).unwrap();
    assert!(kc.clusters.is_empty());
    let kc = Kubeconfig::from_text(
        "clusters: null\nusers: null\ncontexts: null\n",
        Path::new("/x"),
    )
    .unwrap();
    assert!(matches!(kc.resolve(None), Err(KubeconfigError::NoContext)));
}

#[test]
fn parse_errors_do_not_quote_the_file() {
    let err = Kubeconfig::from_text(
        "users: [ {name: u, user: {token: SECRETTOKEN}\n",
        Path::new("/x"),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("SECRETTOKEN"), "{text}");
    assert!(
        text.starts_with("kubeconfig /x is not a valid kubeconfig"),
        "{text}"
    );
}

#[test]
fn context_selection_errors_use_kubectl_texts() {
    let kc = Kubeconfig::from_text(&basic("https://h", "    token: t"), Path::new("/x")).unwrap();
    assert_eq!(
        kc.resolve(Some("nope")).unwrap_err().to_string(),
        "context \"nope\" does not exist"
    );
    let text = basic("https://h", "    token: t")
        .replace("cluster: c1\n    user", "cluster: c2\n    user");
    assert_eq!(
        resolve_text(&text).unwrap_err().to_string(),
        "cluster \"c2\" does not exist"
    );
    let text = basic("https://h", "    token: t").replace("user: u1", "user: u2");
    assert_eq!(
        resolve_text(&text).unwrap_err().to_string(),
        "auth info \"u2\" does not exist"
    );
    let text =
        basic("https://h", "    token: t").replace("current-context: ctx", "current-context: \"\"");
    let err = resolve_text(&text).unwrap_err();
    assert_eq!(err.to_string(), "no context chosen");
    assert!(err.hint().unwrap().contains("--context"));
    let text = basic("https://h", "    token: t").replace("server: https://h", "server: \"\"");
    assert_eq!(
        resolve_text(&text).unwrap_err().to_string(),
        "no server found for cluster \"c1\""
    );
}

#[test]
fn data_and_file_together_is_invalid() {
    let text = basic("https://h", "    token: t").replace(
        "    certificate-authority-data:",
        "    certificate-authority: ca.crt\n    certificate-authority-data:",
    );
    let err = resolve_text(&text).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid configuration: certificate-authority-data and certificate-authority are both specified for c1. certificate-authority-data will override."
    );
}

#[test]
fn ca_with_insecure_is_rejected() {
    let text = basic("https://h", "    token: t").replace(
        "    certificate-authority-data:",
        "    insecure-skip-tls-verify: true\n    certificate-authority-data:",
    );
    assert_eq!(
        resolve_text(&text).unwrap_err().to_string(),
        "invalid configuration: specifying a root certificates file with the insecure flag is not allowed"
    );
}

#[test]
fn client_cert_without_key_and_token_with_basic_are_rejected_together() {
    let user = format!(
        "    client-certificate-data: {}\n    token: t\n    username: bob\n    password: pw",
        b64(CA_PEM)
    );
    let err = resolve_text(&basic("https://h", &user))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "invalid configuration: [client-key-data or client-key must be specified for u1 to use the clientCert authentication method., more than one authentication method found for u1; found [token basicAuth], only one is allowed]"
    );
    assert!(!err.contains("pw"));
}

#[test]
fn unreadable_referenced_file_is_reported() {
    let text = basic("https://h", "    token: t").replace(
        &format!("    certificate-authority-data: {}", b64(CA_PEM)),
        "    certificate-authority: missing-ca.crt",
    );
    let err = resolve_text(&text).unwrap_err().to_string();
    assert!(
        err.starts_with("invalid configuration: unable to read certificate-authority /tmp/kc/missing-ca.crt for c1 due to"),
        "{err}"
    );
}

#[test]
fn exec_validation_messages() {
    let user = "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: \"\"";
    let err = resolve_text(&basic("https://h", user))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "invalid configuration: [command must be specified for u1 to use exec authentication plugin, interactiveMode must be specified for u1 to use exec authentication plugin]"
    );
    let user = "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: p\n      interactiveMode: Sometimes";
    let err = resolve_text(&basic("https://h", user))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "invalid configuration: invalid interactiveMode for u1: \"Sometimes\""
    );
    // v1beta1 defaults interactiveMode.
    let user =
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: p";
    assert!(resolve_text(&basic("https://h", user)).is_ok());
}

#[test]
fn http_servers_and_schemeless_hosts() {
    let err = resolve_text(&basic("http://h:80", "    token: t"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("only over https"), "{err}");
    // A host without a scheme and with a CA becomes https, keeping the path prefix.
    let rc = resolve_text(&basic("h:6443/prefix/", "    token: t")).unwrap();
    assert_eq!(rc.cluster.server, "https://h:6443/prefix");
}

#[test]
fn proxy_url_schemes() {
    let text = basic("https://h", "    token: t")
        .replace("    server:", "    proxy-url: ftp://p:1\n    server:");
    assert_eq!(
        resolve_text(&text).unwrap_err().to_string(),
        "invalid configuration: unsupported scheme \"ftp\", must be http, https, or socks5"
    );
    let text = basic("https://h", "    token: t")
        .replace("    server:", "    proxy-url: http://p:3128\n    server:");
    assert_eq!(
        resolve_text(&text).unwrap().cluster.proxy_url.as_deref(),
        Some("http://p:3128")
    );
}

#[test]
fn relative_paths_resolve_against_the_defining_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "sub/ca.crt", CA_PEM);
    write(dir.path(), "sub/tok", "tok\n");
    let cfg = write(
        dir.path(),
        "sub/config",
        r#"clusters:
- name: c
  cluster: {server: "https://h", certificate-authority: ca.crt}
users:
- name: u
  user:
    tokenFile: tok
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./bin/plugin, args: [./arg]}
- name: bare
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: plugin}
contexts:
- {name: x, context: {cluster: c, user: u}}
current-context: x
"#,
    );
    let kc = KubeconfigSource::Explicit(cfg).load().unwrap();
    let sub = std::path::absolute(dir.path().join("sub")).unwrap();
    let user = &kc.users[0].value;
    assert_eq!(user.token_file.as_deref(), Some(sub.join("tok").as_path()));
    let exec = user.exec.as_ref().unwrap();
    assert_eq!(exec.command, sub.join("./bin/plugin").to_string_lossy());
    assert_eq!(exec.args.as_deref().unwrap(), ["./arg"]);
    assert_eq!(kc.users[1].value.exec.as_ref().unwrap().command, "plugin");
    let rc = kc.resolve(None).unwrap();
    assert_eq!(rc.cluster.ca.unwrap().pem, CA_PEM.as_bytes());
}

#[test]
fn kubeconfig_env_merges_first_wins_and_skips_missing() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a",
        r#"current-context: ""
clusters:
- {name: shared, cluster: {server: "https://from-a", insecure-skip-tls-verify: true}}
users:
- {name: u, user: {token: from-a}}
"#,
    );
    let b = write(
        dir.path(),
        "b",
        r#"current-context: ctx-b
clusters:
- {name: shared, cluster: {server: "https://from-b", insecure-skip-tls-verify: true}}
- {name: only-b, cluster: {server: "https://only-b", insecure-skip-tls-verify: true}}
users:
- {name: u, user: {token: from-b}}
contexts:
- {name: ctx-b, context: {cluster: shared, user: u}}
"#,
    );
    let missing = dir.path().join("missing");
    let list = std::env::join_paths([&missing, &a, &b, &a, &PathBuf::new()]).unwrap();
    let source = KubeconfigSource::choose(None, Some(&list), None).unwrap();
    assert_eq!(
        source,
        KubeconfigSource::EnvList(vec![missing.clone(), a.clone(), b.clone()])
    );
    let kc = source.load().unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("ctx-b"));
    assert_eq!(kc.clusters.len(), 2);
    let rc = kc.resolve(None).unwrap();
    assert_eq!(rc.cluster.server, "https://from-a");
    assert_eq!(rc.credentials.token.unwrap().expose(), "from-a");

    let only_missing = std::env::join_paths([&missing]).unwrap();
    let err = KubeconfigSource::choose(None, Some(&only_missing), None)
        .unwrap()
        .load()
        .unwrap_err();
    assert!(matches!(err, KubeconfigError::NotFound { .. }), "{err}");
}

#[test]
fn explicit_path_wins_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope");
    let env = std::ffi::OsString::from("/etc/other");
    let source = KubeconfigSource::choose(Some(&p), Some(&env), Some(dir.path())).unwrap();
    assert_eq!(source, KubeconfigSource::Explicit(p.clone()));
    assert!(matches!(
        source.load(),
        Err(KubeconfigError::ExplicitMissing { .. })
    ));
    let source = KubeconfigSource::choose(None, None, Some(Path::new("/home/op"))).unwrap();
    assert_eq!(
        source,
        KubeconfigSource::Default(PathBuf::from("/home/op/.kube/config"))
    );
}

#[test]
fn oversized_file_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let big = "#".repeat((MAX_FILE_BYTES + 1) as usize);
    let p = write(dir.path(), "big", &big);
    let err = KubeconfigSource::Explicit(p).load().unwrap_err();
    assert!(matches!(err, KubeconfigError::Read { .. }), "{err}");
}

#[test]
fn alias_bombs_are_bounded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(Kubeconfig::from_text(&text, Path::new("/x")).is_err());
}

#[test]
fn impersonation_and_auth_provider_are_refused_clearly() {
    let err = resolve_text(&basic("https://h", "    token: t\n    as: admin")).unwrap_err();
    assert!(err.to_string().contains("impersonation"), "{err}");
    let err = resolve_text(&basic("https://h", "    auth-provider: {name: gcp}")).unwrap_err();
    assert!(err.to_string().contains("exec plugin"), "{err}");
}

#[test]
fn client_key_data_is_secret_in_debug_and_errors() {
    let user = format!(
        "    client-certificate-data: {}\n    client-key-data: {}",
        b64(CA_PEM),
        b64("-----BEGIN PRIVATE KEY-----\nSECRETKEYBYTES\n-----END PRIVATE KEY-----\n")
    );
    let rc = resolve_text(&basic("https://h", &user)).unwrap();
    let debug = format!("{rc:?}");
    assert!(
        !debug.contains("SECRETKEYBYTES") && !debug.contains("83, 69, 67"),
        "{debug}"
    );
    let user = "    client-certificate-data: AAAA\n    client-key-data: not!base64";
    let err = resolve_text(&basic("https://h", user))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("client-key-data for u1 is not valid base64") && !err.contains("not!"),
        "{err}"
    );
}
