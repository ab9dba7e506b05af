//! Connection layer against a real TLS server on 127.0.0.1: trust, server names, client
//! certificates, tokens, exec plugins, retries and error reporting.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)] // tests write kubeconfigs and plugin scripts

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kcsr_submit::client::{Client, ClientError, ClientOptions};
use kcsr_submit::kubeconfig::KubeconfigSource;
use kcsr_submit::retry::RetryPolicy;
use kcsr_submit::tls::TlsSetupError;
use kcsr_submit::watch::WatchEvent;
use kcsr_testkit::cluster::Cluster;
use support::{Reply, Scripted, ServerSpec, b64, ca_line, kubeconfig, review_json, status_json};

const REVIEW_PATH: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

fn options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_total: Duration::from_secs(10),
        },
        on_warning: Arc::new(|_| {}),
        stdin_is_terminal: Some(false),
        ..ClientOptions::default()
    }
}

fn client_for(path: &Path, options: ClientOptions) -> Result<Client, ClientError> {
    let rc = KubeconfigSource::Explicit(path.to_path_buf())
        .load()
        .unwrap()
        .resolve(None)
        .unwrap();
    Client::new(&rc, options)
}

fn ok_review(_: &support::Seen, _: usize) -> Reply {
    Reply::Json(
        201,
        vec![],
        review_json("alice", &["dev", "system:authenticated"]),
    )
}

fn whoami(client: &Client) -> Result<serde_json::Value, ClientError> {
    client.post_json(
        REVIEW_PATH,
        &serde_json::json!({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}),
    )
}

#[test]
fn token_over_tls_with_json_headers() {
    let server = Scripted::start(ServerSpec::default(), ok_review);
    let kc = server.kubeconfig("    token: s3cret-token\n");
    let client = client_for(&kc, options()).unwrap();
    let review = whoami(&client).unwrap();
    assert_eq!(review["status"]["userInfo"]["username"], "alice");
    let seen = &server.requests()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, REVIEW_PATH);
    assert_eq!(seen.header("authorization"), Some("Bearer s3cret-token"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert!(!format!("{client:?}").contains("s3cret"));
}

#[test]
fn wrong_ca_is_reported_in_operator_terms_and_not_retried() {
    let server = Scripted::start(ServerSpec::default(), ok_review);
    let other = support::TestCa::new("some-other-ca");
    let kc = kubeconfig(
        server.dir(),
        &server.url(),
        &ca_line(&other.pem),
        "    token: t\n",
    );
    let err = whoami(&client_for(&kc, options()).unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the server's certificate is not signed by the CA in the kubeconfig (cluster \"test-cluster\")"),
        "{text}"
    );
    assert!(matches!(err, ClientError::Tls { .. }));
    assert!(err.hint().is_some());
    assert!(server.requests().is_empty());
}

#[test]
fn wrong_server_name_then_tls_server_name_fixes_it() {
    let spec = ServerSpec {
        names: vec!["kubernetes.default.svc"],
        ..ServerSpec::default()
    };
    let server = Scripted::start(spec, ok_review);
    let kc = server.kubeconfig("    token: t\n");
    let err = whoami(&client_for(&kc, options()).unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the server's certificate is not valid for 127.0.0.1"),
        "{text}"
    );
    assert!(
        text.contains("kubernetes.default.svc") && text.contains("tls-server-name"),
        "{text}"
    );

    let extra = format!(
        "{}    tls-server-name: kubernetes.default.svc\n",
        ca_line(&server.ca.pem)
    );
    let kc = kubeconfig(server.dir(), &server.url(), &extra, "    token: t\n");
    whoami(&client_for(&kc, options()).unwrap()).unwrap();
    // The Host header still names the real server.
    assert_eq!(
        server.requests()[0].header("host"),
        Some(server.addr.to_string().as_str())
    );
}

#[test]
fn client_certificate_from_data_and_from_relative_files() {
    let spec = ServerSpec {
        require_client_cert: true,
        ..ServerSpec::default()
    };
    let server = Scripted::start(spec, ok_review);
    let issued = server.client_ca.client_cert("alice", &["dev"]);
    let user = format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&issued.cert_pem),
        b64(&issued.key_pem)
    );
    let kc = server.kubeconfig(&user);
    whoami(&client_for(&kc, options()).unwrap()).unwrap();
    assert!(server.requests()[0].client_cert);
    assert!(server.requests()[0].header("authorization").is_none());

    std::fs::create_dir(server.dir().join("pki")).unwrap();
    std::fs::write(server.dir().join("pki/alice.crt"), &issued.cert_pem).unwrap();
    std::fs::write(server.dir().join("pki/alice.key"), &issued.key_pem).unwrap();
    std::fs::write(server.dir().join("pki/ca.crt"), &server.ca.pem).unwrap();
    let kc = kubeconfig(
        server.dir(),
        &server.url(),
        "    certificate-authority: pki/ca.crt\n",
        "    client-certificate: pki/alice.crt\n    client-key: pki/alice.key\n",
    );
    whoami(&client_for(&kc, options()).unwrap()).unwrap();
    assert!(server.requests()[1].client_cert);
}

#[test]
fn mismatched_client_key_is_an_error_not_a_panic() {
    let server = Scripted::start(ServerSpec::default(), ok_review);
    let a = server.client_ca.client_cert("alice", &[]);
    let b = server.client_ca.client_cert("bob", &[]);
    let user = format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&a.cert_pem),
        b64(&b.key_pem)
    );
    let kc = server.kubeconfig(&user);
    let err = client_for(&kc, options()).unwrap_err();
    assert!(
        matches!(err, ClientError::Setup(TlsSetupError::KeyMismatch { .. })),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("do not match") && !text.contains("PRIVATE KEY"),
        "{text}"
    );
}

#[test]
fn server_requiring_a_client_certificate_says_so() {
    let spec = ServerSpec {
        require_client_cert: true,
        ..ServerSpec::default()
    };
    let server = Scripted::start(spec, ok_review);
    let kc = server.kubeconfig("    token: t\n");
    let err = whoami(&client_for(&kc, options()).unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("requires a client certificate"), "{text}");
}

#[test]
fn unusable_ca_bundle_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(
        dir.path(),
        "https://127.0.0.1:1",
        &format!(
            "    certificate-authority-data: {}\n",
            b64("not a certificate")
        ),
        "    token: t\n",
    );
    let err = client_for(&kc, options()).unwrap_err();
    assert!(
        err.to_string().contains("no CERTIFICATE block found"),
        "{err}"
    );
    let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let kc = kubeconfig(
        dir.path(),
        "https://127.0.0.1:1",
        &format!("    certificate-authority-data: {}\n", b64(garbage)),
        "    token: t\n",
    );
    let err = client_for(&kc, options()).unwrap_err();
    assert!(
        err.to_string().contains("certificate #1 cannot be parsed"),
        "{err}"
    );
}

#[test]
fn insecure_skip_tls_verify_works_and_warns_every_time() {
    let server = Scripted::start(ServerSpec::default(), ok_review);
    let kc = kubeconfig(
        server.dir(),
        &server.url(),
        "    insecure-skip-tls-verify: true\n",
        "    token: t\n",
    );
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    for _ in 0..2 {
        let sink = warnings.clone();
        let opts = ClientOptions {
            on_warning: Arc::new(move |w| sink.lock().unwrap().push(w.to_owned())),
            ..options()
        };
        whoami(&client_for(&kc, opts).unwrap()).unwrap();
    }
    let warnings = warnings.lock().unwrap();
    assert_eq!(warnings.len(), 2);
    assert!(
        warnings[0].contains("insecure-skip-tls-verify") && warnings[0].contains("NOT verified")
    );
}

fn plugin_user(dir: &Path, script: &str) -> String {
    let path = dir.join("plugin.sh");
    std::fs::write(&path, script).unwrap();
    format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      interactiveMode: Never\n      command: /bin/sh\n      args: [\"{}\"]\n",
        path.display()
    )
}

#[test]
fn exec_plugin_token_and_rerun_on_401() {
    let server = Scripted::start(ServerSpec::default(), |seen, _| {
        if seen.header("authorization") == Some("Bearer fresh") {
            ok_review(seen, 0)
        } else {
            Reply::Json(
                401,
                vec![],
                status_json(401, "Unauthorized", "Unauthorized"),
            )
        }
    });
    let counter = server.dir().join("runs");
    let script = format!(
        "echo run >> '{c}'\nif [ $(wc -l < '{c}') -eq 1 ]; then T=stale; else T=fresh; fi\nprintf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\"}}}}' $T\n",
        c = counter.display()
    );
    let kc = server.kubeconfig(&plugin_user(server.dir(), &script));
    let client = client_for(&kc, options()).unwrap();
    whoami(&client).unwrap();
    let runs = std::fs::read_to_string(&counter).unwrap().lines().count();
    assert_eq!(runs, 2);
    let auths: Vec<_> = server
        .requests()
        .iter()
        .map(|s| s.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(auths, ["Bearer stale", "Bearer fresh"]);
    // Cached afterwards.
    whoami(&client).unwrap();
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        2
    );
}

#[test]
fn exec_plugin_401_is_retried_only_once() {
    let server = Scripted::start(ServerSpec::default(), |_, _| {
        Reply::Json(
            401,
            vec![],
            status_json(401, "Unauthorized", "Unauthorized"),
        )
    });
    let script = "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"status\":{\"token\":\"x\"}}'\n";
    let kc = server.kubeconfig(&plugin_user(server.dir(), script));
    let err = whoami(&client_for(&kc, options()).unwrap()).unwrap_err();
    assert!(err.as_api().is_some_and(|e| e.is_unauthorized()), "{err}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn exec_plugin_client_certificate() {
    let spec = ServerSpec {
        require_client_cert: true,
        ..ServerSpec::default()
    };
    let server = Scripted::start(spec, ok_review);
    let issued = server.client_ca.client_cert("alice", &[]);
    let out = serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"clientCertificateData": issued.cert_pem, "clientKeyData": issued.key_pem}
    });
    std::fs::write(server.dir().join("out.json"), out.to_string()).unwrap();
    let script = format!("cat '{}'\n", server.dir().join("out.json").display());
    let kc = server.kubeconfig(&plugin_user(server.dir(), &script));
    whoami(&client_for(&kc, options()).unwrap()).unwrap();
    assert!(server.requests()[0].client_cert);
}

#[test]
fn server_errors_500_and_429_with_retry_after_are_retried() {
    let server = Scripted::start(ServerSpec::default(), |seen, i| match i {
        0 => Reply::Json(
            500,
            vec![],
            status_json(500, "InternalError", "etcd hiccup"),
        ),
        1 => Reply::Json(
            429,
            vec![("Retry-After", "1".into())],
            status_json(429, "TooManyRequests", "slow down"),
        ),
        _ => ok_review(seen, i),
    });
    let kc = server.kubeconfig("    token: t\n");
    let started = Instant::now();
    whoami(&client_for(&kc, options()).unwrap()).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn dropped_connection_is_retried() {
    let server = Scripted::start(ServerSpec::default(), |seen, i| {
        if i == 0 {
            Reply::Drop
        } else {
            ok_review(seen, i)
        }
    });
    let kc = server.kubeconfig("    token: t\n");
    whoami(&client_for(&kc, options()).unwrap()).unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn retries_are_bounded_and_the_last_status_is_reported() {
    let server = Scripted::start(ServerSpec::default(), |_, _| {
        Reply::Json(
            503,
            vec![],
            status_json(503, "ServiceUnavailable", "apiserver is shutting down"),
        )
    });
    let kc = server.kubeconfig("    token: t\n");
    let err = whoami(&client_for(&kc, options()).unwrap()).unwrap_err();
    let api = err.as_api().unwrap();
    assert_eq!(api.attempts, 4);
    assert_eq!(server.requests().len(), 4);
    assert!(
        err.to_string().contains(
            "apiserver is shutting down (ServiceUnavailable, HTTP 503), after 4 attempts"
        ),
        "{err}"
    );
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ca = support::TestCa::new("ca");
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(
        dir.path(),
        &format!("https://127.0.0.1:{port}"),
        &ca_line(&ca.pem),
        "    token: t\n",
    );
    let err = whoami(&client_for(&kc, options()).unwrap()).unwrap_err();
    assert!(
        matches!(err, ClientError::Connect { attempts: 4, .. }),
        "{err}"
    );
}

#[test]
fn api_errors_are_typed() {
    let server = Scripted::start(ServerSpec::default(), |_, _| {
        Reply::Json(
            409,
            vec![],
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"certificatesigningrequests.certificates.k8s.io \"alice\" already exists","reason":"AlreadyExists","details":{"name":"alice","group":"certificates.k8s.io","kind":"certificatesigningrequests"},"code":409}"#.into(),
        )
    });
    let kc = server.kubeconfig("    token: t\n");
    let client = client_for(&kc, options()).unwrap();
    let err = client
        .post_json::<_, serde_json::Value>(
            "/apis/certificates.k8s.io/v1/certificatesigningrequests",
            &serde_json::json!({}),
        )
        .unwrap_err();
    let api = err.as_api().unwrap();
    assert!(api.is_already_exists());
    assert_eq!(api.status.details.as_ref().unwrap().name, "alice");
    assert_eq!(server.requests().len(), 1, "409 must not be retried");
}

#[test]
fn response_size_is_limited() {
    let server = Scripted::start(ServerSpec::default(), |_, _| {
        Reply::Json(
            200,
            vec![],
            format!("{{\"pad\":\"{}\"}}", "x".repeat(200_000)),
        )
    });
    let kc = server.kubeconfig("    token: t\n");
    let client = client_for(
        &kc,
        ClientOptions {
            max_response_bytes: 64 << 10,
            ..options()
        },
    )
    .unwrap();
    let err = client.get_json::<serde_json::Value>("/big").unwrap_err();
    assert!(
        matches!(err, ClientError::TooLarge { limit: 65536, .. }),
        "{err}"
    );
}

#[test]
fn token_file_is_read_and_trimmed() {
    let server = Scripted::start(ServerSpec::default(), ok_review);
    std::fs::write(server.dir().join("token"), "  file-token\n").unwrap();
    let kc = server.kubeconfig("    tokenFile: token\n");
    whoami(&client_for(&kc, options()).unwrap()).unwrap();
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer file-token")
    );
}

#[test]
fn watch_streams_newline_delimited_events() {
    let server = Scripted::start(ServerSpec::default(), |_, _| {
        let body = [
            r#"{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}}"#,
            "",
            r#"{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}"#,
            r#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"3"}}}"#,
            r#"{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version: 1 (2)","reason":"Expired","code":410}}"#,
        ]
        .join("\n")
            + "\n";
        Reply::Json(200, vec![], body)
    });
    let kc = server.kubeconfig("    token: t\n");
    let client = client_for(&kc, options()).unwrap();
    let events: Vec<_> = client
        .watch::<serde_json::Value>(
            "/apis/certificates.k8s.io/v1/certificatesigningrequests?watch=true",
            Duration::from_secs(5),
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events.len(), 4);
    assert!(matches!(&events[0], WatchEvent::Added(o) if o["metadata"]["name"] == "a"));
    assert!(matches!(&events[1], WatchEvent::Modified(_)));
    assert_eq!(
        events[2],
        WatchEvent::Bookmark {
            resource_version: "3".into()
        }
    );
    assert!(matches!(&events[3], WatchEvent::Error(s) if s.code == 410 && s.reason == "Expired"));
}

// ---------------------------------------------------------------------------------------------
// The binary, end to end, against the test API server (kcsr-testapi).
// ---------------------------------------------------------------------------------------------

fn kcsr_submit(args: &[&str]) -> std::process::Output {
    kcsr_testkit::command(env!("CARGO_BIN_EXE_kcsr-submit"))
        .args(args)
        // Proxies from the environment must be ignored (only kubeconfig proxy-url counts).
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("https_proxy", "http://127.0.0.1:9")
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .output()
        .unwrap()
}

#[test]
fn whoami_against_the_test_api_server_with_client_cert_and_token() {
    let cluster = Cluster::start();
    let (server, admin) = (&cluster.server, cluster.kubeconfig());
    let out = kcsr_submit(&["whoami", "--kubeconfig", admin.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("Username  "), "{stdout}");
    assert!(stdout.contains("system:masters"), "{stdout}");

    server.add_token("tok-carol", "carol", &["ops"]);
    let kc = server.token_kubeconfig("carol", "tok-carol").unwrap();
    let out = kcsr_submit(&["--kubeconfig", kc.to_str().unwrap(), "whoami", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["username"], "carol");
    assert!(
        json["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "ops")
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("tok-carol"));
}

#[test]
fn whoami_errors_print_error_and_hint_once() {
    let server = Cluster::start().server;
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(
        dir.path(),
        &server.url(),
        &ca_line(&server.serving_ca_pem()),
        "    token: not-a-valid-token\n",
    );
    let out = kcsr_submit(&["whoami", "--kubeconfig", kc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("error: ").count(), 1, "{stderr}");
    assert!(stderr.contains("Unauthorized"), "{stderr}");
    assert!(stderr.contains("\nhint: "), "{stderr}");
    assert!(!stderr.contains("not-a-valid-token"), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = kcsr_submit(&[
        "whoami",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--context",
        "nope",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: context \"nope\" does not exist\nhint: "),
        "{stderr}"
    );
}
