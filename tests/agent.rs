//! kubectl with a key in a PKCS#11 token, through kcsr-agent (issue 16, decision 0012): the
//! whole gap with a SoftHSM2 token made for each test (`SOFTHSM2_CONF`), kcsr-testapi started
//! here on 127.0.0.1, the real binaries and real kubectl. The attacker positions of the threat
//! model's kcsr-agent row are played here: a local user without the kubeconfig (no or a wrong
//! bearer token), a web page in a browser on the same machine (`Origin`), and an edited
//! kubeconfig (a non-loopback `server`, loose modes). SoftHSM2 missing is a failure, never a
//! skip (`.ci/run` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

#[path = "agent/echo.rs"]
mod echo;
#[path = "agent/setup.rs"]
mod setup;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use kcsr_e2e::binary;
use kcsr_testkit::Background;
use kcsr_testkit::args::request;

use echo::via_echo;
use setup::{PIN, Setup, bearer, connect_agent, free_port, raw, whoami};

#[test]
fn kubectl_works_through_the_agent_and_only_for_the_kubeconfigs_holder() {
    let mut s = Setup::new();
    let port = free_port();
    let kc = s.token_user("alice", port);
    assert_eq!(
        std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let agent = s.agent(&kc);

    // Real kubectl, as the token's user.
    let r = s
        .kubectl(&kc, &["auth", "whoami", "-o", "json"])
        .expect_code(0, "kubectl auth whoami through kcsr-agent");
    let (name, groups) = whoami(&r);
    assert_eq!(name, "alice");
    assert!(groups.contains(&"dev".to_owned()), "{groups:?}");
    let r = s
        .kubectl(&kc, &["get", "csr", "-o", "name"])
        .expect_code(0, "kubectl get csr");
    r.stdout_has("certificatesigningrequest");

    // A watch streams: a change made while it runs arrives through the agent.
    let watch = Background::start(
        s.command(
            Path::new("kubectl"),
            &[
                "--kubeconfig",
                kc.to_str().unwrap(),
                "get",
                "csr",
                "--watch",
                "--output-watch-events",
            ],
            &s.offline.root,
            &s.offline.home(),
        ),
        "kubectl get csr --watch",
    );
    watch.wait_for_stdout("ADDED");
    let csr = s.cluster.server.csrs()[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = s.connected.path("admin.kubeconfig");
    s.kubectl(&admin, &["delete", "csr", &csr])
        .expect_code(0, "kubectl delete csr (admin)");
    watch.wait_for_stdout("DELETED");
    drop(watch);

    // A local user without the kubeconfig: no token, or a wrong one.
    let r = raw(&kc, port, "GET /api HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    assert!(r.contains("\"kind\":\"Status\""), "{r}");
    agent.wait_for_stderr("refused a request from 127.0.0.1:");
    let token = bearer(&kc);
    let wrong = format!("{}0", &token[..token.len() - 1]);
    let wrong = if wrong == token {
        format!("{}1", &token[..token.len() - 1])
    } else {
        wrong
    };
    let r = raw(
        &kc,
        port,
        &format!("GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {wrong}\r\n\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    agent.wait_for_stderr("wrong bearer token");
    // kubectl with the right server but another user's token is refused the same way.
    let forged = s.offline.path("forged.kubeconfig");
    std::fs::write(
        &forged,
        std::fs::read_to_string(&kc)
            .unwrap()
            .replace(&token, &wrong),
    )
    .unwrap();
    let r = s.kubectl(&forged, &["get", "csr"]);
    assert_ne!(r.code, 0);
    r.stderr_has("wrong bearer token");

    // A web page in a browser on the same machine: even with the token, Origin is refused.
    let r = raw(
        &kc,
        port,
        &format!(
            "GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\nAuthorization: Bearer {token}\r\n\r\n"
        ),
    );
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    agent.wait_for_stderr("Origin header");
    let stderr = agent.stderr();
    assert!(
        !stderr.contains(&token) && !stderr.contains(&wrong),
        "{stderr}"
    );
    for line in stderr.lines().skip(1) {
        assert!(
            line.starts_with("kcsr-agent: refused a request from "),
            "{line}"
        );
    }

    // The token goes away (its directory with it): a Status naming the token, and the
    // request is not sent; put back, the next request logs in again and works.
    let tokens = s.offline.path("tokens");
    let away = s.offline.path("tokens.away");
    std::fs::rename(&tokens, &away).unwrap();
    let r = s.kubectl(&kc, &["get", "csr"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("the PKCS#11 token \"kcsr\" is not present"),
        "{}",
        r.stderr
    );
    r.stderr_has("insert it; the request was not sent");
    std::fs::rename(&away, &tokens).unwrap();
    let r = s
        .kubectl(&kc, &["auth", "whoami", "-o", "json"])
        .expect_code(0, "kubectl after the token is back");
    assert_eq!(whoami(&r).0, "alice");

    let stderr = agent.stderr();
    drop(agent);
    s.assert_nothing_secret(&stderr);
}

#[test]
fn the_agent_refuses_to_start_on_an_edited_kubeconfig_a_wrong_pin_or_another_key() {
    let mut s = Setup::new();
    let port = free_port();
    let kc = s.token_user("alice", port);
    let text = std::fs::read_to_string(&kc).unwrap();
    let root = s.offline.root.clone();
    let write = |name: &str, text: &str| {
        let p = root.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    };

    // An edited server: the agent would listen where other machines reach it.
    let open = write(
        "open.kubeconfig",
        &text.replace(
            &format!("https://127.0.0.1:{port}"),
            &format!("https://0.0.0.0:{port}"),
        ),
    );
    let r = s.agent_fails(&open);
    r.stderr_has("not a loopback address");

    // Readable by others: whoever reads the bearer token may use the agent.
    let loose = write("loose.kubeconfig", &text);
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = s.agent_fails(&loose);
    r.stderr_has("mode 0644");

    // No token user at all (an edited extension name).
    let none = write(
        "none.kubeconfig",
        &text.replace("kcsr.io/agent", "example.com/other"),
    );
    let r = s.agent_fails(&none);
    r.stderr_has("no user with a kcsr.io/agent extension");

    // An unknown field in the extension is refused, not ignored.
    let extra = write(
        "extra.kubeconfig",
        &text.replace(
            "upstream:",
            "insecure-skip-tls-verify: true\n        upstream:",
        ),
    );
    let r = s.agent_fails(&extra);
    r.stderr_has("extension is malformed");

    // A wrong PIN.
    kcsr_testkit::softhsm::pin_file(&s.offline.path("wrong-pin"), "0000");
    let wrong_pin = write(
        "wrong-pin.kubeconfig",
        &text.replace(
            &format!("pin-source=file:{}", s.offline.path("pin").display()),
            &format!("pin-source=file:{}", s.offline.path("wrong-pin").display()),
        ),
    );
    let r = s.agent_fails(&wrong_pin);
    r.stderr_has("the PIN for token \"kcsr\" is wrong");

    // Another key in the token than the certificate's.
    let other_uri = format!("{}&pin-source=file:pin", s.uri("bob"));
    s.kcsr(&request(
        "bob",
        &["dev"],
        "media2",
        &["--pkcs11", &other_uri],
    ))
    .expect_code(0, "a second key in the token");
    let other = write(
        "other.kubeconfig",
        &text.replace("object=alice", "object=bob"),
    );
    let r = s.agent_fails(&other);
    r.stderr_has("does not match the certificate");

    // The token missing altogether.
    std::fs::rename(s.offline.path("tokens"), s.offline.path("tokens.away")).unwrap();
    std::fs::create_dir(s.offline.path("tokens")).unwrap();
    let r = s.agent_fails(&kc);
    r.stderr_has("no token");
    r.stderr_has("insert the token");
    s.assert_nothing_secret("");
}

#[test]
fn an_upgrade_is_passed_through_both_ways_with_the_tokens_certificate() {
    let mut s = Setup::new();
    let (port, echo_port, echo_kc, heads) = via_echo(&mut s, true);
    let agent = s.agent(&echo_kc);

    let token = bearer(&echo_kc);
    let mut tls = connect_agent(&echo_kc, port);
    tls.write_all(
        format!(
            "POST /api/v1/namespaces/default/pods/web/exec?command=sh HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut response = Vec::new();
    let mut byte = [0u8; 1];
    while !response.ends_with(b"\r\n\r\n") {
        assert_eq!(
            tls.read(&mut byte).unwrap(),
            1,
            "{}",
            String::from_utf8_lossy(&response)
        );
        response.push(byte[0]);
    }
    let response = String::from_utf8(response).unwrap();
    if !response.starts_with("HTTP/1.1 101 ") {
        let mut body = String::new();
        let _ = tls.read_to_string(&mut body);
        panic!("{response}{body}");
    }
    for round in ["first frame", "second frame, after the first came back"] {
        tls.write_all(round.as_bytes()).unwrap();
        let mut got = vec![0u8; round.len()];
        tls.read_exact(&mut got).unwrap();
        assert_eq!(got, round.as_bytes());
    }
    // What reached the upstream: no bearer token, the upstream's Host, the upgrade kept, and
    // the user's certificate (the token signed the handshake).
    let (head, cert) = heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        !head.to_ascii_lowercase().contains("authorization"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Host: 127.0.0.1:{echo_port}\r\n")),
        "{head}"
    );
    assert!(
        head.contains("Upgrade: SPDY/3.1\r\n") && head.contains("Connection: Upgrade\r\n"),
        "{head}"
    );
    assert!(!head.contains("Connection: close"), "{head}");
    let info = kcsr_core::cert::parse_der(&cert).unwrap();
    assert_eq!(info.subject.user(), Some("alice"));
    drop(tls);
    let stderr = agent.stderr();
    drop(agent);
    s.assert_nothing_secret(&stderr);
}

#[test]
fn an_upgrade_the_server_refuses_ends_the_connection_and_nothing_behind_it_is_forwarded() {
    let mut s = Setup::new();
    let (port, _, echo_kc, heads) = via_echo(&mut s, false);
    let agent = s.agent(&echo_kc);
    let token = bearer(&echo_kc);
    let mut tls = connect_agent(&echo_kc, port);
    // A request that only says it upgrades, with a second request pipelined behind it: the
    // second one carries no token and must never reach the API server.
    tls.write_all(
        format!(
            "GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nDELETE /api/v1/namespaces/kube-system HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 403 "), "{response}");
    assert!(response.contains("Connection: close\r\n"), "{response}");
    assert!(!response.contains("keep-alive"), "{response}");
    let (head, _) = heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(head.starts_with("GET /api/v1/namespaces "), "{head}");
    let (more, _) = heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(more, "", "forwarded behind a refused upgrade");
    drop(tls);
    let stderr = agent.stderr();
    drop(agent);
    s.assert_nothing_secret(&stderr);
}

#[test]
fn a_client_that_never_finishes_its_request_is_closed_and_others_are_still_served() {
    let mut s = Setup::new();
    let port = free_port();
    let kc = s.token_user("alice", port);
    let agent = s.agent(&kc);
    // A local user without the token opens connections and sends nothing: each is closed
    // once the head's deadline passes (10 s), and the agent keeps serving meanwhile.
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let r = s.kubectl(&kc, &["auth", "whoami", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for mut conn in idle {
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut buf = [0u8; 16];
        // 0: closed by the agent (a timeout here would be an error, and fail the test).
        assert_eq!(conn.read(&mut buf).unwrap(), 0);
    }
    drop(agent);
}

#[test]
fn two_users_of_one_token_are_served_and_its_pin_is_asked_once() {
    let mut s = Setup::new();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    // Both into one kubeconfig, without a PIN file: the agent asks on its terminal.
    for (user, media) in [("alice", "media"), ("bob", "media-bob")] {
        s.trip(user, media);
        s.kcsr(&[
            "assemble",
            "--media",
            media,
            "--keys",
            "keys",
            "--name",
            user,
            "--merge-into",
            "both.kubeconfig",
            "--agent-address",
            &address,
        ])
        .expect_code(0, "kcsr assemble --merge-into");
    }
    let kc = s.offline.path("both.kubeconfig");
    // On a terminal (script(1)), the PIN typed once when asked.
    let line = format!(
        "{} --kubeconfig {}",
        binary("kcsr-agent").display(),
        kc.display()
    );
    let mut cmd = s.command(
        Path::new("script"),
        &["-qec", &line, "/dev/null"],
        &s.offline.root,
        &s.offline.home(),
    );
    cmd.stdin(std::process::Stdio::piped());
    let mut agent = Background::start(cmd, "kcsr-agent on a terminal");
    agent.wait_for_stdout("PIN for token \"kcsr\": ");
    let mut terminal = agent.take_stdin().unwrap();
    terminal.write_all(format!("{PIN}\n").as_bytes()).unwrap();
    agent.wait_for_stdout("kcsr-agent: serving 2 user(s) on https://127.0.0.1:");
    assert_eq!(
        agent.stdout().matches("PIN for token").count(),
        1,
        "{}",
        agent.stdout()
    );
    // kubectl as each of them, through the one agent.
    let contexts = s
        .kubectl(&kc, &["config", "get-contexts", "-o", "name"])
        .expect_code(0, "kubectl config get-contexts");
    let mut names: Vec<String> = contexts
        .stdout
        .lines()
        .map(|context| {
            let r = s
                .kubectl(&kc, &["--context", context, "auth", "whoami", "-o", "json"])
                .expect_code(0, "kubectl auth whoami through kcsr-agent");
            whoami(&r).0
        })
        .collect();
    names.sort();
    assert_eq!(names, ["alice", "bob"]);
    drop(terminal);
    // The PIN typed is not echoed, and nothing else shows it.
    let terminal_text = agent.stdout();
    drop(agent);
    s.assert_nothing_secret(&terminal_text);
}
