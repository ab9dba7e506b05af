//! A team's month on the connected side (issue 14, decision 0010), against the test API server
//! with a submitter and approvers of different identities and rights: four eyes that finish
//! the job (bindings tracked until they exist, per-request review, deny), lasting evidence
//! (approvedBy, ticket, operator, bindings in the bundle; denials come back), offboarding,
//! the station's policy, and filesystem artifacts on the media.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

#[path = "support/gap.rs"]
mod gap;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use gap::{Media, admin_client, has_condition, server, submit};
use kcsr_core::bundle::{BindingAudit, Bundle};
use kcsr_core::manifest::{
    CREATED_ANNOTATION, GRANT_ANNOTATION, OPERATOR_ANNOTATION, TICKET_ANNOTATION,
};
use kcsr_core::names::{ObjectName, UserName};
use kcsr_core::outcome::{OffboardRequest, RequestDenied};
use kcsr_core::rbac::{BindingManifest, Grant};
use kcsr_core::time::format_rfc3339;
use kcsr_testapi::{Config, Rule, Subject, TestServer};
use serde_json::{Value, json};

const SIGNER: &str = "kubernetes.io/kube-apiserver-client";
const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

/// The submitter (`sam`: creates requests, nothing else), an approver who may approve but not
/// touch RBAC (`carl`), and one who may also manage bindings and read roles (`ann`).
struct Team {
    server: TestServer,
    sam: PathBuf,
    carl: PathBuf,
    ann: PathBuf,
}

fn rbac_rule(user: &str, verbs: &[&str], resources: &[&str]) -> Rule {
    Rule::user(user)
        .api_groups(&["rbac.authorization.k8s.io"])
        .verbs(verbs)
        .resources(resources)
}

fn team() -> Team {
    let server = server(Config {
        users: vec![
            "sam:dev".parse().unwrap(),
            "carl:ops".parse().unwrap(),
            "ann:ops".parse().unwrap(),
        ],
        ..Config::default()
    });
    for approver in ["carl", "ann"] {
        server.grant_all(Rule::approver(Subject::User(approver.into()), SIGNER));
    }
    server.grant(rbac_rule(
        "ann",
        &["get", "list", "create", "delete"],
        &[
            "clusterrolebindings",
            "rolebindings",
            "clusterroles",
            "roles",
        ],
    ));
    Team {
        sam: server.kubeconfig_for("sam"),
        carl: server.kubeconfig_for("carl"),
        ann: server.kubeconfig_for("ann"),
        server,
    }
}

fn now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_secs()).unwrap()
}

/// The media as the carrier leaves it after editing: without the station's signature (no
/// allowed signers are configured here, so that only draws a warning).
fn unsign(m: &Media) {
    let _ = std::fs::remove_file(m.file("SHA256SUMS.sig"));
}

/// Plays the station for several grants (decision 0010): the annotation lists them, and the
/// binding file holds their bindings in order, named `<name>`, `<name>-2`, ….
fn grant_many(m: &Media, stem: &str, grants: &[Grant]) {
    let name = m.object_name(stem);
    let csr = m.manifest(stem).decode_request().unwrap();
    let user: UserName = csr.subject.user().unwrap().parse().unwrap();
    let docs: Vec<String> = grants
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let binding = if i == 0 {
                name.clone()
            } else {
                format!("{name}-{}", i + 1)
            };
            let binding: ObjectName = binding.parse().unwrap();
            BindingManifest::for_user(&binding, &user, g)
                .to_yaml()
                .unwrap()
        })
        .collect();
    m.put(
        &format!("{stem}.binding.yaml"),
        docs.join("---\n").as_bytes(),
    );
    let text: Vec<String> = grants.iter().map(ToString::to_string).collect();
    m.station_annotate(stem, &[(GRANT_ANNOTATION, &text.join(","))]);
    unsign(m);
}

fn stem_of(m: &Media, user: &str) -> String {
    m.stems().into_iter().find(|s| s.starts_with(user)).unwrap()
}

fn bundle(m: &Media, stem: &str) -> Bundle {
    Bundle::parse(&std::fs::read(m.file(&format!("{stem}.bundle.yaml"))).unwrap()).unwrap()
}

fn create_role(server: &TestServer, ns: &str, name: &str) {
    let _: Value = admin_client(server)
        .post_json(
            &format!("{RBAC}/namespaces/{ns}/roles"),
            &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": name, "namespace": ns},
                "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}]}),
        )
        .unwrap();
}

fn get(server: &TestServer, path: &str) -> Option<Value> {
    admin_client(server).get_json::<Value>(path).ok()
}

fn lines_starting(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn four_eyes_trip_is_complete_only_when_every_granted_binding_exists() {
    let t = team();
    create_role(&t.server, "team-a", "deployer");
    let m = Media::new();
    m.request("alice", &["--clusterrole", "view"])
        .request("carol", &[]);
    let (alice, carol) = (stem_of(&m, "alice"), stem_of(&m, "carol"));
    grant_many(
        &m,
        &carol,
        &[
            Grant::ClusterRole("view".into()),
            Grant::Role("deployer".into(), "team-a".into()),
        ],
    );
    m.station_annotate(
        &alice,
        &[
            (TICKET_ANNOTATION, "CHG-1234"),
            (OPERATOR_ANNOTATION, "olga"),
            (CREATED_ANNOTATION, &format_rfc3339(now() - 60)),
        ],
    );
    unsign(&m);
    let (alice_name, carol_name) = (m.object_name(&alice), m.object_name(&carol));

    // The submitter creates the requests; no binding before the approval. It may not read
    // roles: said once, not per request.
    let run = submit(&t.sam, &["apply", m.path(), "--json"]).expect(0);
    let reports = run.json();
    for r in reports.as_array().unwrap() {
        for b in r["bindings"].as_array().unwrap() {
            assert_eq!(b["state"], "pending-approval", "{reports}");
        }
    }
    let carol_report = &reports[1];
    assert_eq!(carol_report["bindings"][0]["name"], carol_name.as_str());
    assert_eq!(
        carol_report["bindings"][1]["name"],
        format!("{carol_name}-2").as_str()
    );
    assert_eq!(carol_report["bindings"][1]["namespace"], "team-a");
    assert_eq!(
        run.stderr.matches("may not read roles").count(),
        1,
        "{}",
        run.stderr
    );

    // The submitter may not approve: one error for the trip, not one per request.
    let run = submit(&t.sam, &["apply", m.path(), "--approve", "--yes"]).expect(1);
    assert_eq!(run.stderr.matches("error:").count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("(2 request(s): "), "{}", run.stderr);

    // An approver without RBAC rights: the approvals stand, the bindings cannot be created:
    // exit 4 and one line saying who finishes the job, with the command.
    let run = submit(&t.carl, &["approve", m.path(), "--yes"]).expect(4);
    assert!(!run.stderr.contains("error:"), "{}", run.stderr);
    assert!(!run.stderr.contains("yourself"), "{}", run.stderr);
    let incomplete = lines_starting(&run.stderr, "incomplete:");
    assert_eq!(incomplete.len(), 1, "{}", run.stderr);
    assert!(
        incomplete[0].contains("3 granted binding(s) were not created")
            && incomplete[0].contains("may not create bindings")
            && incomplete[0].contains(&format!("kcsr-submit approve {}", m.path())),
        "{}",
        incomplete[0]
    );
    assert!(t.server.csrs().iter().all(|o| has_condition(o, "Approved")));
    assert!(
        get(
            &t.server,
            &format!("{RBAC}/clusterrolebindings/{alice_name}")
        )
        .is_none()
    );

    // The submitter fetches: the certificates come back, but it cannot see the bindings, so
    // the trip is not complete (exit 4), said once.
    let run = submit(&t.sam, &["fetch", m.path(), "--wait", "20s", "--json"]).expect(4);
    for r in run.json().as_array().unwrap() {
        assert_eq!(r["state"], "written", "{}", run.stdout);
        assert!(r["incomplete"].as_str().is_some(), "{}", run.stdout);
    }
    let incomplete = lines_starting(&run.stderr, "incomplete:");
    assert_eq!(incomplete.len(), 1, "{}", run.stderr);
    assert!(
        incomplete[0].contains("could not be checked"),
        "{}",
        incomplete[0]
    );
    let b = bundle(&m, &alice);
    assert_eq!(b.audit.approved_by.as_deref(), Some("carl"));
    assert_eq!(b.audit.submitted_by.as_deref(), Some("sam"));
    assert_eq!(b.audit.ticket.as_deref(), Some("CHG-1234"));
    assert_eq!(b.audit.operator.as_deref(), Some("olga"));
    assert!(b.audit.requested_at.is_some());
    assert_eq!(b.audit.bindings[0].state, "unknown");

    // The approver with RBAC rights finishes the job with the same one command.
    let run = submit(&t.ann, &["approve", m.path(), "--yes"]).expect(0);
    assert_eq!(
        run.stdout.matches("created (by ann)").count(),
        3,
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("is approved already") || run.stderr.contains("binding:"),
        "{}",
        run.stderr
    );
    let crb = get(
        &t.server,
        &format!("{RBAC}/clusterrolebindings/{alice_name}"),
    )
    .unwrap();
    assert_eq!(crb["metadata"]["annotations"]["kcsr.dev/created-by"], "ann");
    let rb = get(
        &t.server,
        &format!("{RBAC}/namespaces/team-a/rolebindings/{carol_name}-2"),
    )
    .unwrap();
    assert_eq!(
        rb["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"})
    );
    assert_eq!(rb["subjects"][0]["name"], "carol");

    // Once the submitter may read bindings, fetch confirms them and the bundles say so.
    t.server.grant(rbac_rule(
        "sam",
        &["get"],
        &["clusterrolebindings", "rolebindings"],
    ));
    let run = submit(&t.sam, &["fetch", m.path()]).expect(0);
    run.stdout_has("exists (by ann)");
    assert_eq!(
        bundle(&m, &carol).audit.bindings,
        [
            BindingAudit {
                grant: "ClusterRole/view".into(),
                name: carol_name.clone(),
                state: "exists".into(),
                by: Some("ann".into()),
            },
            BindingAudit {
                grant: "Role/team-a/deployer".into(),
                name: format!("{carol_name}-2"),
                state: "exists".into(),
                by: Some("ann".into()),
            },
        ]
    );
    m.sha256sum_check();

    // A binding removed later: the trip is incomplete again, and the output says who fixes it.
    admin_client(&t.server)
        .delete(&format!("{RBAC}/clusterrolebindings/{alice_name}"))
        .unwrap();
    let run = submit(&t.sam, &["fetch", m.path()]).expect(4);
    assert!(
        run.stderr.contains("1 granted binding(s) do not exist yet")
            && run.stdout.contains("MISSING"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let status = submit(&t.ann, &["status", m.path(), "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(status[0]["bindings"][0]["state"], "missing", "{status}");
    assert_eq!(bundle(&m, &alice).audit.bindings[0].state, "missing");
}

/// The approver answers on a terminal (util-linux `script` gives the process one): approve,
/// deny, skip. The denial comes back on the media and is never sent again.
#[test]
fn review_per_request_approve_deny_skip_and_the_denial_comes_back() {
    let t = team();
    let m = Media::with(&["dave", "erin", "fred"]);
    unsign(&m);
    submit(&t.sam, &["apply", m.path()]).expect(0);
    let cmd = format!(
        "{} --kubeconfig {} approve {}",
        env!("CARGO_BIN_EXE_kcsr-submit"),
        t.ann.display(),
        m.path()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("KUBECONFIG")
        .env_remove("KCSR_ALLOWED_SIGNERS")
        .env("XDG_CONFIG_HOME", t.server.dir().join("xdg-config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux script");
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"a\nd\ns\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("[a]pprove, [d]eny, [s]kip").count(),
        3,
        "{text}"
    );
    assert!(
        text.contains(" denied") && text.contains("skipped"),
        "{text}"
    );
    let names: Vec<String> = m.stems().iter().map(|s| m.object_name(s)).collect();
    let obj = |n: &str| t.server.csr(n).unwrap();
    assert!(has_condition(&obj(&names[0]), "Approved"));
    assert!(has_condition(&obj(&names[1]), "Denied"));
    assert!(
        !has_condition(&obj(&names[2]), "Approved") && !has_condition(&obj(&names[2]), "Denied")
    );

    // The submitter fetches: dave's certificate, erin's denial as <stem>.denied.yaml (exit 3).
    let run = submit(&t.sam, &["fetch", m.path(), "--wait", "10s"]).expect(3);
    let erin = m.stems()[1].clone();
    let denied =
        RequestDenied::parse(&std::fs::read(m.file(&format!("{erin}.denied.yaml"))).unwrap())
            .unwrap();
    assert_eq!(
        (
            denied.condition.as_str(),
            denied.reason.as_str(),
            denied.by.as_deref()
        ),
        ("Denied", "KcsrDeny", Some("ann"))
    );
    assert_eq!(denied.user, "erin");
    run.stdout_has(&format!("DENIED: {erin}.denied.yaml"));
    assert!(m.file(&format!("{}.crt", m.stems()[0])).exists());
    let returned = std::fs::read_to_string(m.file("RETURNED.SHA256SUMS")).unwrap();
    assert!(
        returned.contains(&format!("{erin}.denied.yaml")),
        "{returned}"
    );
    m.sha256sum_check();

    // Later, after the cluster forgot it: the denial on the media keeps it from being sent again.
    admin_client(&t.server)
        .delete(&format!(
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/{}",
            names[1]
        ))
        .unwrap();
    let run = submit(&t.sam, &["apply", m.path()]).expect(3);
    run.stderr_has("recorded on the media");
    assert!(t.server.csr(&names[1]).is_none());
}

#[test]
fn deny_by_name_and_by_media_and_never_an_approved_request() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let m = Media::with(&["gina", "hank"]);
    submit(&admin, &["apply", m.path()]).expect(0);
    let (gina, hank) = (m.object_name(&m.stems()[0]), m.object_name(&m.stems()[1]));
    let run = submit(
        &admin,
        &[
            "deny",
            &gina,
            "--reason",
            "NotOnRoster",
            "--message",
            "gina has left",
        ],
    )
    .expect(0);
    run.stdout_has(&format!("{gina} denied"));
    let again = submit(&admin, &["deny", &gina, "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(again[0]["approval"], "already-denied");
    // The one who created a request and approves it is warned: no four eyes.
    let run = submit(&admin, &["approve", &hank, "--yes"]).expect(0);
    assert!(
        run.stderr
            .contains("WARNING: you (kcsr-admin) created this request yourself"),
        "{}",
        run.stderr
    );
    let run = submit(&admin, &["deny", &hank]).expect(3);
    run.stderr_has("already Approved");
    assert!(!has_condition(&server.csr(&hank).unwrap(), "Denied"));

    // The custom message does not name who denied: no `by`.
    submit(&admin, &["fetch", m.path(), "--wait", "20s"]).expect(3);
    let stem = &m.stems()[0];
    let d = RequestDenied::parse(&std::fs::read(m.file(&format!("{stem}.denied.yaml"))).unwrap())
        .unwrap();
    assert_eq!(
        (d.reason.as_str(), d.message.as_str(), d.by),
        ("NotOnRoster", "gina has left", None)
    );

    // A whole media.
    let other = Media::with(&["ivan", "jane"]);
    submit(&admin, &["apply", other.path()]).expect(0);
    let run = submit(&admin, &["deny", other.path()]).expect(0);
    assert_eq!(run.stdout.matches(" denied").count(), 2, "{}", run.stdout);
    run.stderr_has(".denied.yaml");
    for s in other.stems() {
        let o = server.csr(&other.object_name(&s)).unwrap();
        assert_eq!(
            o["status"]["conditions"][0]["message"],
            "Denied by kcsr-admin with kcsr-submit"
        );
    }
}

#[test]
fn grants_of_missing_roles_and_bindings_not_granted_are_refused_before_anything_is_created() {
    let t = team();
    let admin = t.server.admin_kubeconfig();
    // `veiw` for `view`: no such ClusterRole.
    let m = Media::new();
    m.request("kim", &["--clusterrole", "veiw"]);
    unsign(&m);
    let run = submit(&admin, &["apply", m.path(), "--approve", "--yes"]).expect(3);
    assert!(
        run.stderr
            .contains("the cluster has no ClusterRole \"veiw\"")
            && run.stderr.contains("nothing was created"),
        "{}",
        run.stderr
    );
    assert!(t.server.csrs().is_empty());
    // The submitter cannot read roles and creates the request; the approver's check refuses
    // it before approving.
    submit(&t.sam, &["apply", m.path()]).expect(0);
    let run = submit(&t.ann, &["approve", m.path(), "--yes"]).expect(3);
    run.stderr_has("\"veiw\"");
    assert!(!has_condition(&t.server.csrs()[0], "Approved"));

    // Several grants: the bindings must all be there, in grant order.
    let m = Media::new();
    m.request("lena", &[]);
    let stem = m.stems()[0].clone();
    let grants = [
        Grant::ClusterRole("view".into()),
        Grant::ClusterRoleInNamespace("edit".into(), "team-b".into()),
    ];
    grant_many(&m, &stem, &grants);
    let file = format!("{stem}.binding.yaml");
    let good = std::fs::read_to_string(m.file(&file)).unwrap();
    let docs: Vec<&str> = good.split("---\n").collect();
    for (bad, says) in [
        (format!("{}---\n{}", docs[1], docs[0]), "asks for"),
        (docs[0].to_owned(), "holds 1 binding(s)"),
    ] {
        m.put(&file, bad.as_bytes());
        unsign(&m);
        let run = submit(&admin, &["apply", m.path(), "--approve", "--yes"]).expect(3);
        assert!(run.stderr.contains(says), "{says}: {}", run.stderr);
    }
    // No binding file at all although the grants ask for two.
    std::fs::remove_file(m.file(&file)).unwrap();
    let mut sums =
        kcsr_core::sums::Sums::parse(&std::fs::read(m.file("SHA256SUMS")).unwrap()).unwrap();
    sums.remove(&file);
    std::fs::write(m.file("SHA256SUMS"), sums.render()).unwrap();
    let run = submit(&admin, &["apply", m.path()]).expect(3);
    run.stderr_has("holds no");
    assert_eq!(t.server.csrs().len(), 1, "only kim's");
    m.put(&file, good.as_bytes());
    unsign(&m);
    let run = submit(&admin, &["apply", m.path(), "--approve", "--yes", "--json"]).expect(0);
    let r = &run.json()[0];
    assert_eq!(r["bindings"][1]["kind"], "RoleBinding", "{r}");
    assert_eq!(r["bindings"][1]["state"], "created", "{r}");
}

fn offboard_file(user: &str, not_after: i64) -> Vec<u8> {
    OffboardRequest {
        api_version: "kcsr.dev/v1".into(),
        kind: "OffboardRequest".into(),
        user: user.into(),
        created: format_rfc3339(now() - 60),
        not_after: format_rfc3339(not_after),
        ticket: Some("CHG-9".into()),
        operator: Some("olga".into()),
    }
    .to_yaml()
    .unwrap()
    .into_bytes()
}

fn binding(
    kind: &str,
    ns: Option<&str>,
    name: &str,
    role: &str,
    subjects: Value,
) -> (String, Value) {
    let collection = match ns {
        Some(ns) => format!("{RBAC}/namespaces/{ns}/rolebindings"),
        None => format!("{RBAC}/clusterrolebindings"),
    };
    let mut meta = json!({"name": name});
    if let Some(ns) = ns {
        meta["namespace"] = json!(ns);
    }
    (
        collection,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects}),
    )
}

#[test]
fn offboarding_deletes_only_the_users_own_bindings_after_the_approval_and_reports_the_rest() {
    let t = team();
    let admin_kc = t.server.admin_kubeconfig();
    let admin = admin_client(&t.server);
    // Bob's last trip: his certificate (groups dev, ops) is on the media.
    let m = Media::new();
    m.request(
        "bob",
        &["--group", "dev", "--group", "ops", "--clusterrole", "view"],
    );
    submit(
        &admin_kc,
        &["apply", m.path(), "--approve", "--yes", "--wait", "20s"],
    )
    .expect(0);
    let user =
        |n: &str| json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": n});
    let group =
        |n: &str| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": n});
    for (collection, body) in [
        binding(
            "RoleBinding",
            Some("team-a"),
            "bob-edit",
            "edit",
            json!([user("bob")]),
        ),
        binding(
            "ClusterRoleBinding",
            None,
            "bob-and-eve",
            "view",
            json!([user("bob"), user("eve")]),
        ),
        binding(
            "ClusterRoleBinding",
            None,
            "devs",
            "view",
            json!([group("dev")]),
        ),
        binding(
            "ClusterRoleBinding",
            None,
            "eve-alone",
            "view",
            json!([user("eve")]),
        ),
    ] {
        let _: Value = admin.post_json(&collection, &body).unwrap();
    }
    let bob_request = m.object_name(&m.stems()[0]);
    // The station asks for bob's offboarding on the same media (listed, so signed).
    m.put("bob.offboard.yaml", &offboard_file("bob", now() + 3600));
    m.put("zed.offboard.yaml", &offboard_file("zed", now() + 3600));
    unsign(&m);

    // The submitter may read bindings (to confirm its trip) but not list them: its apply
    // shows nothing it cannot see, deletes nothing.
    t.server.grant(rbac_rule(
        "sam",
        &["get"],
        &["clusterrolebindings", "rolebindings"],
    ));
    let run = submit(&t.sam, &["apply", m.path()]).expect(0);
    run.stderr_has("may not list bindings");
    assert!(
        get(
            &t.server,
            &format!("{RBAC}/clusterrolebindings/{bob_request}")
        )
        .is_some()
    );

    // The approver reviews and approves: bob's own bindings go, the rest is reported.
    let run = submit(&t.ann, &["approve", m.path(), "--yes", "--json"]).expect(0);
    for line in [
        "Offboard bob.offboard.yaml (User \"bob\"",
        "ticket:      CHG-9",
        &format!("delete:      ClusterRoleBinding {bob_request}: ClusterRole/view -> User bob"),
        "delete:      RoleBinding bob-edit in namespace team-a",
        "kept:        ClusterRoleBinding bob-and-eve",
        "groups:      dev, ops",
        "kept:        ClusterRoleBinding devs: ClusterRole/view -> Group dev (still reaches group dev",
        "valid until",
        "it cannot be revoked",
        "groups:      unknown: no certificate of \"zed\" on this media",
    ] {
        assert!(run.stderr.contains(line), "{line}:\n{}", run.stderr);
    }
    let reports = run.json();
    let off = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["offboard"]["user"] == "bob")
        .unwrap();
    assert_eq!(off["offboard"]["state"], "done", "{off}");
    assert!(
        off["offboard"]["delete"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "deleted"),
        "{off}"
    );
    assert_eq!(
        off["offboard"]["certificates"][0]["groups"],
        json!(["dev", "ops"])
    );
    assert!(
        get(
            &t.server,
            &format!("{RBAC}/clusterrolebindings/{bob_request}")
        )
        .is_none()
    );
    assert!(
        get(
            &t.server,
            &format!("{RBAC}/namespaces/team-a/rolebindings/bob-edit")
        )
        .is_none()
    );
    for kept in ["bob-and-eve", "devs", "eve-alone"] {
        assert!(
            get(&t.server, &format!("{RBAC}/clusterrolebindings/{kept}")).is_some(),
            "{kept}"
        );
    }
    // The approver's second run (to finish something else on the media) does not give bob
    // his request's binding back, and nobody is told to create it.
    let run = submit(&t.ann, &["approve", m.path(), "--yes"]).expect(0);
    assert!(
        get(
            &t.server,
            &format!("{RBAC}/clusterrolebindings/{bob_request}")
        )
        .is_none(),
        "{}",
        run.stderr
    );
    let run = submit(&t.sam, &["status", m.path()]).expect(0);
    assert!(!run.stdout.contains("MISSING"), "{}", run.stdout);
    assert!(!run.stderr.contains("MISSING"), "{}", run.stderr);
    // The submitter, who may not list bindings, does not claim that there are none.
    let run = submit(&t.sam, &["apply", m.path()]).expect(0);
    assert!(
        !run.stderr.contains("no binding has User"),
        "{}",
        run.stderr
    );

    // An offboarding request past its notAfter is refused before anything is sent.
    m.put("bob.offboard.yaml", &offboard_file("bob", now() - 10));
    unsign(&m);
    let run = submit(&t.ann, &["approve", m.path(), "--yes"]).expect(3);
    assert!(
        run.stderr
            .contains("bob.offboard.yaml: the offboarding request expired"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_station_policy_is_shown_and_every_request_checked_against_it_again() {
    let t = team();
    let admin = t.server.admin_kubeconfig();
    let policy = "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nmaxLifetime: 30d\nforbiddenRoles: [cluster-admin]\nticketRequiredFor: [\"ClusterRole/edit\"]\nallowedGroups: [dev, \"team-*\"]\n";
    let m = Media::new();
    m.request("mona", &["--group", "team-x", "--clusterrole", "view"]);
    m.put(kcsr_core::media::POLICY_FILE, policy.as_bytes());
    unsign(&m);
    let run = submit(&admin, &["apply", m.path(), "--approve", "--yes"]).expect(0);
    for line in [
        "Station policy (station-policy.yaml, signed with the media):",
        "forbiddenRoles:    cluster-admin",
        "allowedGroups:     dev, team-*",
    ] {
        assert!(run.stderr.contains(line), "{line}:\n{}", run.stderr);
    }

    // Requests the station should have refused are refused here too, naming the rule.
    let m = Media::new();
    m.request("nora", &["--clusterrole", "cluster-admin"])
        .request("otto", &["--group", "ops", "--clusterrole", "edit"])
        .request("pia", &["--expiration", "60d"]);
    m.put(kcsr_core::media::POLICY_FILE, policy.as_bytes());
    unsign(&m);
    let run = submit(&t.sam, &["apply", m.path()]).expect(3);
    for says in [
        // The station's own wording (kcsr_core::policy): the rule, the request's value and
        // the rule's value.
        "forbiddenRoles: the grant ClusterRole/cluster-admin matches the forbidden role cluster-admin",
        "ticketRequiredFor: the grant ClusterRole/edit needs a change ticket (ticketRequiredFor ClusterRole/edit)",
        "allowedGroups: the group \"ops\" matches none of allowedGroups (dev, team-*)",
        "maxLifetime: the lifetime 60d is longer than maxLifetime 30d",
        "nothing was sent",
    ] {
        assert!(run.stderr.contains(says), "{says}:\n{}", run.stderr);
    }
    assert_eq!(t.server.csrs().len(), 1, "only mona's");

    // A rule this kcsr-submit does not know is not silently ignored.
    let m = Media::with(&["quin"]);
    m.put(
        kcsr_core::media::POLICY_FILE,
        format!("{policy}maxGroups: 2\n").as_bytes(),
    );
    unsign(&m);
    let run = submit(&admin, &["apply", m.path()]).expect(1);
    assert!(
        run.stderr.contains("station-policy.yaml") && run.stderr.contains("maxGroups"),
        "{}",
        run.stderr
    );
}

#[test]
fn filesystem_artifacts_at_the_media_root_are_ignored_with_one_note() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let m = Media::with(&["rita"]);
    std::fs::create_dir(m.file("lost+found")).unwrap();
    std::fs::create_dir(m.file("System Volume Information")).unwrap();
    std::fs::write(m.file(".DS_Store"), vec![0u8; 6148]).unwrap();
    std::fs::write(m.file("._rita.csr.yaml"), b"\0\x05\x16\x07AppleDouble").unwrap();
    let run = submit(
        &admin,
        &["apply", m.path(), "--approve", "--yes", "--wait", "20s"],
    )
    .expect(0);
    let notes = lines_starting(&run.stderr, "note: ignoring");
    assert_eq!(notes.len(), 1, "{}", run.stderr);
    for name in [
        "lost+found",
        "System Volume Information",
        ".DS_Store",
        "._rita.csr.yaml",
    ] {
        assert!(notes[0].contains(name), "{name}: {}", notes[0]);
    }
    let stem = stem_of(&m, "rita");
    assert!(m.file(&format!("{stem}.crt")).exists());
    m.sha256sum_check();
    // Anything else that is not listed is still refused.
    std::fs::write(m.file("notes.txt"), b"hello").unwrap();
    let run = submit(&admin, &["fetch", m.path()]).expect(1);
    run.stderr_has("notes.txt");
}
