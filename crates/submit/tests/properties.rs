//! Property tests for the connected side's readers of outside data (kubeconfigs, exec plugin
//! output, API error bodies): any input gives a value or an error, never a panic; secrets never
//! reach an error message; well-formed input reads back to what was written.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::path::Path;

use base64::Engine as _;
use kcsr_submit::exec::{self, ExecCredential, ExecError};
use kcsr_submit::kubeconfig::{EXEC_API_VERSIONS, Kubeconfig};
use kcsr_submit::status::{ApiError, Status, StatusCause, StatusDetails};
use proptest::prelude::*;
use serde_json::{Value, json};

const CONFIG_PATH: &str = "/kcsr-properties/config";

/// Text built from the given tokens mixed with any character. Faster to generate than a
/// regex alternation, which dominates the run time in debug builds.
fn text_of(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            proptest::sample::select(tokens).prop_map(str::to_owned),
            any::<char>().prop_map(String::from),
        ],
        0..200,
    )
    .prop_map(|parts| parts.concat())
}

const KUBECONFIG_TOKENS: &[&str] = &[
    "\n",
    "  ",
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\"",
    "&a",
    "*a",
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "users:",
    "contexts:",
    "current-context: ",
    "name: ",
    "cluster:",
    "user:",
    "context:",
    "server: ",
    "https://",
    "certificate-authority-data: ",
    "certificate-authority: ",
    "client-key-data: ",
    "client-certificate-data: ",
    "token: ",
    "tokenFile: ",
    "exec:",
    "command: ",
    "apiVersion: client.authentication.k8s.io/v1",
    "interactiveMode: ",
    "insecure-skip-tls-verify: true",
    "proxy-url: ",
    "as: ",
    "LS0t",
    "c",
];

/// Reads a kubeconfig and resolves its current context and every named context, with the
/// file paths inside it dropped so that nothing is read from disk. Returns every error text and
/// the debug form of every resolved context.
fn read_and_resolve(text: &str) -> Vec<String> {
    let mut config = match Kubeconfig::from_text(text, Path::new(CONFIG_PATH)) {
        Ok(c) => c,
        Err(e) => return vec![format!("{e} {:?}", e.hint())],
    };
    for c in &mut config.clusters {
        c.value.certificate_authority = None;
    }
    for u in &mut config.users {
        u.value.client_certificate = None;
        u.value.client_key = None;
        u.value.token_file = None;
    }
    let names: Vec<String> = config.contexts.iter().map(|c| c.name.clone()).collect();
    std::iter::once(None)
        .chain(names.iter().map(|n| Some(n.as_str())))
        .map(|name| match config.resolve(name) {
            Ok(r) => format!("{r:?}"),
            Err(e) => format!("{e} {:?}", e.hint()),
        })
        .collect()
}

/// One user's credentials, each field either absent, valid or broken; `secret` marks every
/// value that must stay out of messages.
fn user_entry(secret: String) -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        0..4u8,
        any::<bool>(),
        proptest::option::of(proptest::sample::select(vec![
            "client.authentication.k8s.io/v1",
            "client.authentication.k8s.io/v1beta1",
            "client.authentication.k8s.io/v1alpha1",
            "",
        ])),
        proptest::option::of(proptest::sample::select(vec![
            "",
            "Never",
            "Always",
            "Sometimes",
        ])),
    )
        .prop_map(move |(token, basic, key, cert, exec_version, mode)| {
            let mut user = serde_json::Map::new();
            if token {
                user.insert("token".into(), json!(secret));
            }
            if basic {
                user.insert("username".into(), json!("operator"));
                user.insert("password".into(), json!(secret));
            }
            match key {
                1 => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(&secret);
                    user.insert("client-key-data".into(), json!(b64));
                }
                // Not base64: the decoder's message must not quote it.
                2 => {
                    user.insert("client-key-data".into(), json!(format!("!{secret}")));
                }
                _ => {}
            }
            if cert {
                user.insert("client-certificate-data".into(), json!("LS0tLS1CRUdJTg=="));
            }
            if let Some(version) = exec_version {
                let mut exec = json!({
                    "command": "kubelogin",
                    "apiVersion": version,
                    "env": [{"name": "TOKEN", "value": secret}],
                });
                if let Some(mode) = mode {
                    exec["interactiveMode"] = json!(mode);
                }
                user.insert("exec".into(), exec);
            }
            Value::Object(user)
        })
}

fn cluster_entry() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            proptest::sample::select(vec![
                "https://127.0.0.1:6443",
                "https://k8s.example.com/prefix/",
                "k8s.example.com:443",
                "http://k8s.example.com",
                "ftp://k8s.example.com",
                "https://",
                "https://user@host",
                " https://host?x ",
                "",
            ])
            .prop_map(str::to_owned),
            "\\PC{0,30}",
        ],
        proptest::option::of(prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
            "\\PC{0,20}",
        ]),
        any::<bool>(),
        proptest::option::of(proptest::sample::select(vec![
            "http://proxy:3128",
            "socks5://proxy:1080",
            "https://proxy",
            "proxy",
        ])),
    )
        .prop_map(|(server, ca, insecure, proxy)| {
            let mut cluster = json!({ "server": server, "insecure-skip-tls-verify": insecure });
            if let Some(ca) = ca {
                cluster["certificate-authority-data"] = json!(ca);
            }
            if let Some(proxy) = proxy {
                cluster["proxy-url"] = json!(proxy);
            }
            cluster
        })
}

fn kubeconfig_with_secret() -> impl Strategy<Value = (String, String)> {
    "[a-z0-9]{12,20}".prop_flat_map(|tail| {
        let secret = format!("s3cr3t{tail}");
        (
            Just(secret.clone()),
            cluster_entry(),
            user_entry(secret.clone()),
            proptest::sample::select(vec!["c1", "c2", "missing"]),
            proptest::sample::select(vec!["u1", "", "missing"]),
            proptest::option::of(proptest::sample::select(vec!["ctx", "other"])),
        )
            .prop_map(|(secret, cluster, user, cluster_ref, user_ref, current)| {
                let mut config = json!({
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c1", "cluster": cluster}],
                    "users": [{"name": "u1", "user": user}],
                    "contexts": [{"name": "ctx", "context": {"cluster": cluster_ref, "user": user_ref}}],
                });
                if let Some(current) = current {
                    config["current-context"] = json!(current);
                }
                (secret, serde_json::to_string_pretty(&config).unwrap())
            })
    })
}

/// Plugin output with each part absent, valid or wrong; returns the JSON and its fields.
#[derive(Debug, Clone)]
struct PluginOutput {
    api_version: Option<String>,
    status: Option<PluginStatus>,
}

#[derive(Debug, Clone)]
struct PluginStatus {
    token: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    expiry: Option<String>,
}

fn plugin_output() -> impl Strategy<Value = PluginOutput> {
    let secretish = || proptest::option::of(prop_oneof![Just(String::new()), "tok-[a-z0-9]{8,16}"]);
    let status = (
        secretish(),
        proptest::option::of(prop_oneof![
            Just(String::new()),
            Just("-----BEGIN CERTIFICATE-----".to_owned())
        ]),
        secretish(),
        proptest::option::of(prop_oneof![
            Just(String::new()),
            Just("2030-01-02T03:04:05Z".to_owned()),
            Just("2030-01-02T03:04:05.123+02:00".to_owned()),
            "\\PC{0,25}",
        ]),
    )
        .prop_map(|(token, cert, key, expiry)| PluginStatus {
            token,
            cert,
            key,
            expiry,
        });
    (
        proptest::option::of(prop_oneof![
            proptest::sample::select(EXEC_API_VERSIONS.to_vec()).prop_map(str::to_owned),
            "\\PC{0,20}",
        ]),
        proptest::option::of(status),
    )
        .prop_map(|(api_version, status)| PluginOutput {
            api_version,
            status,
        })
}

impl PluginOutput {
    fn to_json(&self) -> Vec<u8> {
        let mut out = json!({ "kind": "ExecCredential" });
        if let Some(v) = &self.api_version {
            out["apiVersion"] = json!(v);
        }
        if let Some(s) = &self.status {
            let mut status = json!({});
            for (k, v) in [
                ("token", &s.token),
                ("clientCertificateData", &s.cert),
                ("clientKeyData", &s.key),
                ("expirationTimestamp", &s.expiry),
            ] {
                if let Some(v) = v {
                    status[k] = json!(v);
                }
            }
            out["status"] = status;
        }
        serde_json::to_vec(&out).unwrap()
    }
}

fn status_strategy() -> impl Strategy<Value = Status> {
    let cause = ("\\PC{0,12}", "\\PC{0,20}", "[a-z.\\[\\]0-9]{0,16}").prop_map(|(r, m, f)| {
        let mut c = StatusCause::default();
        c.reason = r;
        c.message = m;
        c.field = f;
        c
    });
    (
        "\\PC{0,10}",
        "\\PC{0,60}",
        "\\PC{0,16}",
        proptest::option::of((
            "[a-z0-9.-]{0,20}",
            proptest::collection::vec(cause, 0..4),
            proptest::option::of(any::<u32>()),
        )),
        any::<u16>(),
    )
        .prop_map(|(state, message, reason, details, code)| {
            let mut s = Status::default();
            s.status = state;
            s.message = message;
            s.reason = reason;
            s.code = code;
            s.details = details.map(|(name, causes, retry)| {
                let mut d = StatusDetails::default();
                d.name = name;
                d.causes = causes;
                d.retry_after_seconds = retry;
                d
            });
            s
        })
}

fn shown(status: Status) -> String {
    ApiError {
        method: "POST".into(),
        path: "/apis/certificates.k8s.io/v1/certificatesigningrequests".into(),
        status,
        attempts: 1,
    }
    .to_string()
}

fn terminal_safe(text: &str) -> bool {
    !text.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn kubeconfig_reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        read_and_resolve(&String::from_utf8_lossy(&data));
    }

    #[test]
    fn kubeconfig_reader_never_panics_on_kubeconfig_text(text in text_of(KUBECONFIG_TOKENS)) {
        read_and_resolve(&text);
    }

    /// Tokens, passwords, client keys and exec environment values never appear in an error or
    /// in the resolved context's debug form, whatever else is wrong with the file.
    #[test]
    fn kubeconfig_secrets_never_reach_messages((secret, text) in kubeconfig_with_secret()) {
        for shown in read_and_resolve(&text) {
            prop_assert!(!shown.contains(&secret), "{}", shown);
        }
    }

    /// A well-formed kubeconfig resolves to its server (trailing slash dropped) and token.
    #[test]
    fn well_formed_kubeconfigs_resolve(
        host in "[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        port in 1u16..,
        prefix in "(/[a-z0-9]{1,8}){0,3}/?",
        ca in proptest::collection::vec(any::<u8>(), 1..256),
        token in "[A-Za-z0-9._-]{1,64}",
    ) {
        let ca = base64::engine::general_purpose::STANDARD.encode(ca);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{host}:{port}{prefix}\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    token: \"{token}\"\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
        );
        let config = Kubeconfig::from_text(&text, Path::new(CONFIG_PATH)).unwrap();
        let resolved = config.resolve(None).unwrap();
        let expected = format!("https://{host}:{port}{prefix}");
        prop_assert_eq!(resolved.cluster.server.as_str(), expected.trim_end_matches('/'));
        let got = resolved.credentials.token.unwrap();
        prop_assert_eq!(got.expose(), token.as_str());
    }

    #[test]
    fn exec_output_reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for version in EXEC_API_VERSIONS {
            if let Err(e) = exec::parse_output(&data, version) {
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn exec_output_reader_never_panics_on_json_text(text in text_of(&[
        "{", "}", "[", "]", ",", ":", "\"", "\\u00", "null", "true", "1e999", "-0",
        "\"apiVersion\"", "\"client.authentication.k8s.io/v1\"", "\"status\"", "\"token\"",
        "\"clientCertificateData\"", "\"clientKeyData\"", "\"expirationTimestamp\"",
        "\"2030-01-01T00:00:00Z\"",
    ])) {
        for version in EXEC_API_VERSIONS {
            let _ = exec::parse_output(text.as_bytes(), version);
        }
    }

    /// The plugin's output is judged by client-go's rules, in client-go's order, and no
    /// error message quotes the token or key.
    #[test]
    fn exec_output_follows_client_go(output in plugin_output(), configured in proptest::sample::select(EXEC_API_VERSIONS.to_vec())) {
        let result = exec::parse_output(&output.to_json(), configured);
        if let Err(e) = &result {
            let text = e.to_string();
            if let Some(s) = &output.status {
                for secret in [&s.token, &s.key].into_iter().flatten().filter(|v| !v.is_empty()) {
                    prop_assert!(!text.contains(secret.as_str()), "{}", text);
                }
            }
        }
        let returned = output.api_version.clone().unwrap_or_default();
        if returned != configured {
            prop_assert!(matches!(result, Err(ExecError::WrongApiVersion { .. })), "{:?}", result);
            return Ok(());
        }
        let Some(status) = &output.status else {
            prop_assert!(matches!(result, Err(ExecError::NoStatus)), "{:?}", result);
            return Ok(());
        };
        let expiry = match status.expiry.as_deref() {
            None | Some("") => None,
            Some(ts) => match kcsr_core::time::parse_rfc3339(ts) {
                Some(t) => Some(t),
                None => {
                    prop_assert!(matches!(&result, Err(ExecError::BadExpiry(v)) if v == ts), "{:?}", result);
                    return Ok(());
                }
            },
        };
        let set = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        match (set(&status.cert), set(&status.key), set(&status.token)) {
            (Some(cert), Some(key), _) => {
                let issued = result.unwrap();
                prop_assert_eq!(issued.expires_at, expiry);
                let ExecCredential::ClientCertificate { cert_pem, key_pem } = &issued.credential else {
                    return Err(TestCaseError::fail(format!("{:?}", issued.credential)));
                };
                prop_assert_eq!(cert_pem, &cert);
                prop_assert_eq!(key_pem.expose(), key.as_str());
            }
            (Some(_), None, _) | (None, Some(_), _) => {
                prop_assert!(matches!(result, Err(ExecError::HalfPair)), "{:?}", result);
            }
            (None, None, Some(token)) => {
                let issued = result.unwrap();
                prop_assert_eq!(issued.expires_at, expiry);
                let ExecCredential::Token(t) = &issued.credential else {
                    return Err(TestCaseError::fail(format!("{:?}", issued.credential)));
                };
                prop_assert_eq!(t.expose(), token.as_str());
            }
            (None, None, None) => {
                prop_assert!(matches!(result, Err(ExecError::NoCredential)), "{:?}", result);
            }
        }
    }

    /// Any error body gives a Status with a reason, and what is printed of it cannot drive
    /// the terminal.
    #[test]
    fn status_reader_never_panics(code in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let status = Status::from_response(code, &body);
        prop_assert!(!status.reason.is_empty());
        prop_assert!(terminal_safe(&shown(status)));
    }

    #[test]
    fn status_reader_never_panics_on_json_text(code in any::<u16>(), text in text_of(&[
        "{", "}", "[", "]", ",", ":", "\"", "\\u001b", "\\u202e", "null", "0", "422",
        "\"kind\"", "\"Status\"", "\"message\"", "\"reason\"", "\"code\"", "\"details\"",
        "\"causes\"", "\"field\"", "\"retryAfterSeconds\"", "\n",
    ])) {
        let status = Status::from_response(code, text.as_bytes());
        prop_assert!(!status.reason.is_empty());
        prop_assert!(terminal_safe(&shown(status)));
    }

    /// A Status object reads back as sent; a missing code or reason comes from the HTTP code.
    #[test]
    fn status_objects_read_back(sent in status_strategy(), code in 100u16..600) {
        let mut body = serde_json::to_value(&sent).unwrap();
        body["kind"] = json!("Status");
        body["apiVersion"] = json!("v1");
        let got = Status::from_response(code, &serde_json::to_vec(&body).unwrap());
        let mut expected = sent.clone();
        if expected.code == 0 {
            expected.code = code;
        }
        if expected.reason.is_empty() {
            expected.reason = Status::from_response(code, b"").reason;
        }
        prop_assert_eq!(&got, &expected);
        prop_assert!(terminal_safe(&shown(got)));
    }

    /// A body that is not JSON is reported by its first line, at most 300 characters.
    #[test]
    fn non_json_bodies_are_reported_by_their_first_line(code in any::<u16>(), body in "[^\\[{]{0,400}") {
        let status = Status::from_response(code, body.as_bytes());
        prop_assert_eq!(status.code, code);
        let first = body.lines().next().unwrap_or("").trim();
        if first.is_empty() {
            prop_assert!(status.message.contains(&format!("HTTP {code}")), "{}", status.message);
        } else {
            prop_assert_eq!(status.message, first.chars().take(300).collect::<String>());
        }
    }
}
