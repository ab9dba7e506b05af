//! A team's month on the station (decision 0010), through the real `kcsr` binary: tickets,
//! operators and several grants in the signed requests and the station's record; the roster's
//! role, namespace and ticket columns; what `kcsr batch` shows a second person; the site
//! policy enforced before anything is written and carried signed on the media; offboarding;
//! what `kcsr assemble` records and what it lists as not come back; `kcsr audit`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

mod support;

use std::path::Path;

use kcsr_core::manifest::{self, Document};
use kcsr_core::station::{RequestRecord, RequestState};
use kcsr_testkit::args::request;
use serde_json::Value;
use support::{Run, kcsr, kcsr_ok as ok};

/// `kcsr ARGS` with exactly these login variables (the rest of the environment the kit's).
fn kcsr_as(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = kcsr_testkit::command(support::KCSR);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("LOGNAME")
        .env_remove("USER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    support::finish(cmd.spawn().unwrap())
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn csr(path: &Path) -> manifest::CsrManifest {
    let docs = manifest::parse_documents(&std::fs::read(path).unwrap()).unwrap();
    match docs.into_iter().next() {
        Some(Document::Csr(m)) => m,
        _ => panic!("{}: not a CSR manifest", path.display()),
    }
}

fn records(keys: &Path) -> Vec<RequestRecord> {
    let mut out: Vec<RequestRecord> = std::fs::read_dir(keys.join("station/requests"))
        .unwrap()
        .map(|e| RequestRecord::parse(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn record_of(keys: &Path, user: &str) -> RequestRecord {
    let mut of: Vec<RequestRecord> = records(keys)
        .into_iter()
        .filter(|r| r.user == user)
        .collect();
    assert_eq!(of.len(), 1, "{user}: {of:?}");
    of.pop().unwrap()
}

/// The media's `SHA256SUMS` holds every file it lists, and its signature is the station's
/// key's over exactly those bytes.
fn signed_and_listed(keys: &Path, media: &Path) -> kcsr_core::sums::Sums {
    let data = std::fs::read(media.join("SHA256SUMS")).unwrap();
    let sums = kcsr_core::sums::Sums::parse(&data).unwrap();
    for name in sums.names() {
        assert!(
            sums.matches(name, &std::fs::read(media.join(name)).unwrap()),
            "{name}"
        );
    }
    let sig = kcsr_core::sshsig::Signature::parse_armored(
        &std::fs::read(media.join("SHA256SUMS.sig")).unwrap(),
    )
    .unwrap();
    sig.verify(&data, kcsr_core::media::SIGNATURE_NAMESPACE)
        .unwrap();
    let station = std::fs::read_to_string(keys.join("station/signing-key.pub")).unwrap();
    assert_eq!(
        sig.public_key,
        kcsr_core::sshsig::PublicKey::from_openssh(station.trim()).unwrap()
    );
    sums
}

fn public_key_of(key: &Path) -> String {
    kcsr_core::key::PrivateKey::from_bytes(&std::fs::read(key).unwrap(), None)
        .unwrap()
        .public_key()
        .fingerprint
        .clone()
}

#[test]
fn a_request_carries_its_ticket_operator_and_every_grant_signed_and_recorded() {
    let t = tempfile::tempdir().unwrap();
    let r = kcsr_as(
        t.path(),
        &request(
            "erin",
            &[],
            "media",
            &[
                "--clusterrole",
                "view",
                "--clusterrole",
                "team-a/edit",
                "--role",
                "team-b/deployer",
                "--ticket",
                "CHG-1234",
                "--json",
            ],
        ),
        &[("LOGNAME", "dana"), ("USER", "someone-else")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["ticket"], "CHG-1234");
    assert_eq!(v["operator"], "dana", "LOGNAME first");
    assert_eq!(
        v["grants"],
        serde_json::json!([
            "ClusterRole/view",
            "ClusterRole/team-a/edit",
            "Role/team-b/deployer"
        ])
    );
    let media = t.path().join("media");
    let m = csr(&media.join("erin.csr.yaml"));
    let a = &m.metadata.annotations;
    assert_eq!(a["kcsr.dev/ticket"], "CHG-1234");
    assert_eq!(a["kcsr.dev/operator"], "dana");
    assert_eq!(
        a["kcsr.dev/grant"],
        "ClusterRole/view,ClusterRole/team-a/edit,Role/team-b/deployer"
    );
    // One binding per grant, in order, named NAME, NAME-2, NAME-3, in one file.
    let docs = manifest::parse_documents(&std::fs::read(media.join("erin.binding.yaml")).unwrap())
        .unwrap();
    let name = m.metadata.name.clone();
    let got: Vec<(String, String, Option<String>, String, String)> = docs
        .iter()
        .map(|d| match d {
            Document::Binding(b) => (
                b.kind.clone(),
                b.metadata.name.clone(),
                b.metadata.namespace.clone(),
                b.role_ref.kind.clone(),
                b.role_ref.name.clone(),
            ),
            Document::Csr(_) => panic!("a CSR in the binding file"),
        })
        .collect();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        got,
        vec![
            (
                s("ClusterRoleBinding"),
                name.clone(),
                None,
                s("ClusterRole"),
                s("view")
            ),
            (
                s("RoleBinding"),
                format!("{name}-2"),
                Some(s("team-a")),
                s("ClusterRole"),
                s("edit")
            ),
            (
                s("RoleBinding"),
                format!("{name}-3"),
                Some(s("team-b")),
                s("Role"),
                s("deployer")
            ),
        ]
    );
    let sums = signed_and_listed(&t.path().join("keys"), &media);
    assert!(sums.get("erin.binding.yaml").is_some());
    let rec = record_of(&t.path().join("keys"), "erin");
    assert_eq!(rec.ticket.as_deref(), Some("CHG-1234"));
    assert_eq!(rec.operator.as_deref(), Some("dana"));
    assert_eq!(rec.grant, None, "grant stays for a single grant");
    assert_eq!(rec.grants.len(), 3);
    assert_eq!(rec.state, RequestState::Written);

    // Without LOGNAME, USER; without either, the numeric user id.
    let r = kcsr_as(
        t.path(),
        &request("finn", &[], "media", &["--json"]),
        &[("USER", "ops\u{1b}[31m")],
    );
    assert_eq!(json(&r)["operator"], "ops[31m", "{}", r.stderr);
    let r = kcsr_as(t.path(), &request("gail", &[], "media", &["--json"]), &[]);
    assert!(
        json(&r)["operator"].as_str().unwrap().starts_with("uid="),
        "{}",
        r.stdout
    );
}

#[test]
fn one_grant_is_written_as_before_and_bad_grants_or_tickets_are_refused() {
    let t = tempfile::tempdir().unwrap();
    ok(
        t.path(),
        &request("alice", &[], "media", &["--clusterrole", "view"]),
    );
    let media = t.path().join("media");
    let m = csr(&media.join("alice.csr.yaml"));
    assert_eq!(m.metadata.annotations["kcsr.dev/grant"], "ClusterRole/view");
    assert!(!m.metadata.annotations.contains_key("kcsr.dev/ticket"));
    let binding = std::fs::read_to_string(media.join("alice.binding.yaml")).unwrap();
    let name: kcsr_core::names::ObjectName = m.metadata.name.parse().unwrap();
    let user: kcsr_core::names::UserName = "alice".parse().unwrap();
    assert_eq!(
        binding,
        kcsr_core::rbac::BindingManifest::for_user(
            &name,
            &user,
            &kcsr_core::rbac::Grant::ClusterRole("view".into())
        )
        .to_yaml()
        .unwrap(),
        "a single grant's binding is the one kcsr always wrote"
    );
    let rec = record_of(&t.path().join("keys"), "alice");
    assert_eq!(rec.grant.as_deref(), Some("ClusterRole/view"));
    assert_eq!(rec.grants, vec!["ClusterRole/view".to_owned()]);

    for (args, says) in [
        (&["--role", "deployer"][..], "needs a namespace"),
        (
            &["--clusterrole", "view", "--clusterrole", "view"][..],
            "asked for twice",
        ),
        (
            &["--clusterrole", "system:a,b"][..],
            "not a valid Kubernetes role name",
        ),
        (
            &["--namespace", "team-a"][..],
            "--namespace needs --role or --clusterrole",
        ),
    ] {
        let mut all = request("bob", &[], "media", &[]);
        all.extend_from_slice(args);
        let r = kcsr(t.path(), &all);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(!t.path().join("keys/bob.key.pem").exists());
    }
    for bad in ["CHG\u{202e}1", " CHG", ""] {
        let r = kcsr(t.path(), &request("bob", &[], "media", &["--ticket", bad]));
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
        r.stderr_has("ticket");
    }
    // Another ticket is another request: refused without --force, like any other change.
    let r = kcsr(
        t.path(),
        &request(
            "alice",
            &[],
            "media",
            &["--clusterrole", "view", "--ticket", "CHG-2"],
        ),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.stderr_has("different request");
}

#[test]
fn a_roster_gives_each_user_grants_a_namespace_and_a_ticket() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("team.csv"),
        "user,groups,clusterrole,role,namespace,ticket\n\
         alice,dev,view;team-a/edit,,,CHG-1\n\
         bob,dev,,deployer;team-c/reader,team-b,\n\
         carol,ops,edit,,team-d,\n",
    )
    .unwrap();
    let r = ok(
        t.path(),
        &[
            "batch",
            "--roster",
            "team.csv",
            "--keys",
            "keys",
            "--media",
            "media",
            "--ticket",
            "CHG-ALL",
            "--operator",
            "rota",
            "--json",
        ],
    );
    let v = json(&r);
    let users = v["users"].as_array().unwrap();
    let by = |u: &str| users.iter().find(|x| x["user"] == u).unwrap().clone();
    assert_eq!(
        by("alice")["grants"],
        serde_json::json!(["ClusterRole/view", "ClusterRole/team-a/edit"])
    );
    assert_eq!(by("alice")["ticket"], "CHG-1");
    assert_eq!(
        by("bob")["grants"],
        serde_json::json!(["Role/team-b/deployer", "Role/team-c/reader"])
    );
    assert_eq!(
        by("bob")["ticket"],
        "CHG-ALL",
        "--ticket for rows without one"
    );
    assert_eq!(
        by("carol")["grants"],
        serde_json::json!(["ClusterRole/team-d/edit"])
    );
    let keys = t.path().join("keys");
    for (user, grant, ticket) in [
        ("alice", "ClusterRole/view,ClusterRole/team-a/edit", "CHG-1"),
        ("bob", "Role/team-b/deployer,Role/team-c/reader", "CHG-ALL"),
    ] {
        let m = csr(&t.path().join(format!("media/{user}.csr.yaml")));
        assert_eq!(m.metadata.annotations["kcsr.dev/grant"], grant);
        assert_eq!(m.metadata.annotations["kcsr.dev/ticket"], ticket);
        assert_eq!(m.metadata.annotations["kcsr.dev/operator"], "rota");
        let rec = record_of(&keys, user);
        assert_eq!(rec.ticket.as_deref(), Some(ticket));
        assert_eq!(rec.operator.as_deref(), Some("rota"));
        assert_eq!(rec.grant_list().join(","), grant);
        let docs = manifest::parse_documents(
            &std::fs::read(t.path().join(format!("media/{user}.binding.yaml"))).unwrap(),
        )
        .unwrap();
        assert_eq!(docs.len(), 2, "{user}");
    }
    signed_and_listed(&keys, &t.path().join("media"));

    // A row naming a Role without a namespace is refused with its line; nothing is written.
    std::fs::write(t.path().join("bad.csv"), "user,role\ndave,deployer\n").unwrap();
    let r = kcsr(
        t.path(),
        &[
            "batch", "--roster", "bad.csv", "--keys", "keys", "--media", "media2",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("line 2: the Role binding \"deployer\" needs a namespace"),
        "{}",
        r.stderr
    );
    assert!(!t.path().join("media2").exists());
}

#[test]
fn batch_shows_every_users_public_key_and_warnings_and_a_plan_before_it_writes() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("team.csv"),
        "user,groups,expiration,clusterrole,ticket\nalice,dev,400d,view,CHG-7\nbob,dev;ops,,,\n",
    )
    .unwrap();
    let batch = [
        "batch", "--roster", "team.csv", "--keys", "keys", "--media", "media",
    ];
    // The plan, for a second person: nothing written.
    let r = ok(t.path(), &[&batch[..], &["--dry-run"]].concat());
    assert!(!t.path().join("media").exists() && !t.path().join("keys").exists());
    let header = r.stdout.lines().next().unwrap();
    for col in [
        "USER", "GROUPS", "GRANTS", "SIGNER", "LIFETIME", "TICKET", "KEY", "STEM", "NAME",
    ] {
        assert!(header.contains(col), "{col}: {}", r.stdout);
    }
    let alice = r.stdout.lines().find(|l| l.starts_with("alice ")).unwrap();
    for cell in [
        "dev",
        "ClusterRole/view",
        "kubernetes.io/kube-apiserver-client",
        "400d",
        "CHG-7",
        "p256 (new)",
        "alice-<hash of the new key>",
    ] {
        assert!(alice.contains(cell), "{cell}: {alice}");
    }
    let bob = r.stdout.lines().find(|l| l.starts_with("bob ")).unwrap();
    assert!(bob.contains("dev,ops") && bob.contains("30d"), "{bob}");
    // Each user's own warning, naming the user and its line (the signer caps 400 days).
    assert!(
        r.stderr
            .contains("warning: line 2 (alice): [expiration-capped]"),
        "{}",
        r.stderr
    );

    let r = ok(t.path(), &[&batch[..], &["--json"]].concat());
    let v = json(&r);
    for u in v["users"].as_array().unwrap() {
        let user = u["user"].as_str().unwrap();
        assert_eq!(u["state"], "written");
        assert_eq!(
            u["publicKeySha256"].as_str().unwrap(),
            public_key_of(&t.path().join(format!("keys/{user}.key.pem"))),
            "{user}"
        );
        let m = csr(&t.path().join(format!("media/{user}.csr.yaml")));
        assert_eq!(u["name"].as_str().unwrap(), m.metadata.name);
    }
    let alice = &v["users"][0];
    assert_eq!(alice["warnings"][0]["rule"], "expiration-capped");
    assert_eq!(alice["expirationSeconds"], 400 * 86_400);

    // Text: one line per user with the fingerprint; the plan of a re-run knows the names.
    let r = ok(t.path(), &batch);
    for user in ["alice", "bob"] {
        let fp = public_key_of(&t.path().join(format!("keys/{user}.key.pem")));
        let line = r.stdout.lines().find(|l| l.starts_with(user)).unwrap();
        assert!(line.contains(&fp) && line.contains("unchanged"), "{line}");
    }
    let r = ok(t.path(), &[&batch[..], &["--dry-run"]].concat());
    let m = csr(&t.path().join("media/alice.csr.yaml"));
    let alice = r.stdout.lines().find(|l| l.starts_with("alice ")).unwrap();
    assert!(
        alice.contains(&m.metadata.name) && alice.contains("p256 (existing)"),
        "{alice}"
    );
}

const POLICY: &str = "apiVersion: kcsr.dev/v1\nkind: StationPolicy\n# the bank's rules\nmaxLifetime: 30d\nforbiddenRoles: [\"ClusterRole/system:*\"]\nticketRequiredFor: [cluster-admin]\nallowedGroups: [dev, \"team-*\"]\n";

fn write_policy(keys: &Path, text: &str) {
    std::fs::create_dir_all(keys.join("station")).unwrap();
    std::fs::write(keys.join("station/policy.yaml"), text).unwrap();
}

#[test]
fn the_site_policy_refuses_before_anything_is_written_and_travels_signed() {
    let t = tempfile::tempdir().unwrap();
    let keys = t.path().join("keys");
    write_policy(&keys, POLICY);
    let r = kcsr(
        t.path(),
        &request(
            "ops-admin",
            &["ops"],
            "media",
            &["--clusterrole", "cluster-admin", "--expiration", "90d"],
        ),
    );
    r.refused("keys/station/policy.yaml", "breaks the station policy");
    assert_eq!(r.code, 3);
    for says in [
        "maxLifetime: the lifetime 90d is longer than maxLifetime 30d",
        "--expiration 30d",
        "ticketRequiredFor: the grant ClusterRole/cluster-admin needs a change ticket",
        "--ticket",
        "allowedGroups: the group \"ops\"",
    ] {
        assert!(r.stderr.contains(says), "{says}: {}", r.stderr);
    }
    assert!(!t.path().join("media").exists());
    assert!(!keys.join("ops-admin.key.pem").exists());
    assert!(!keys.join("station/signing-key.pem").exists());

    // A batch with one row against the policy writes nothing for anyone.
    std::fs::write(
        t.path().join("team.csv"),
        "user,groups,clusterrole\nalice,dev,view\nmallory,team-x,system:aggregate-to-admin\n",
    )
    .unwrap();
    let r = kcsr(
        t.path(),
        &[
            "batch", "--roster", "team.csv", "--keys", "keys", "--media", "media",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("line 3 (mallory):")
            && r.stderr.contains("forbiddenRoles: the grant ClusterRole/system:aggregate-to-admin matches the forbidden role ClusterRole/system:*"),
        "{}",
        r.stderr
    );
    assert!(!t.path().join("media").exists() && !keys.join("alice.key.pem").exists());

    // Within the policy: written, with the policy on the media as the station holds it,
    // listed and signed.
    ok(
        t.path(),
        &request(
            "ops-admin",
            &["team-ops"],
            "media",
            &["--clusterrole", "cluster-admin", "--ticket", "CHG-99"],
        ),
    );
    let media = t.path().join("media");
    assert_eq!(
        std::fs::read_to_string(media.join("station-policy.yaml")).unwrap(),
        POLICY
    );
    let sums = signed_and_listed(&keys, &media);
    assert!(sums.get("station-policy.yaml").is_some());
    let r = ok(t.path(), &["policy", "show", "--keys", "keys", "--json"]);
    let v = json(&r);
    assert_eq!(v["policy"]["maxLifetime"], 30 * 86_400);
    assert_eq!(
        v["policy"]["ticketRequiredFor"],
        serde_json::json!(["cluster-admin"])
    );
    assert_eq!(v["policy"]["refuseSystemNames"], true);
    let r = ok(t.path(), &["policy", "show", "--keys", "keys"]);
    r.stdout_has("maxLifetime: 30d");

    // A changed policy replaces the copy; no policy any more removes it.
    let stricter = POLICY.replace("30d", "7d");
    write_policy(&keys, &stricter);
    ok(
        t.path(),
        &request("bob", &["dev"], "media", &["--expiration", "7d"]),
    );
    assert_eq!(
        std::fs::read_to_string(media.join("station-policy.yaml")).unwrap(),
        stricter
    );
    signed_and_listed(&keys, &media);
    std::fs::remove_file(keys.join("station/policy.yaml")).unwrap();
    ok(t.path(), &request("carol", &[], "media", &[]));
    assert!(!media.join("station-policy.yaml").exists());
    let sums = signed_and_listed(&keys, &media);
    assert!(sums.get("station-policy.yaml").is_none());

    // A policy that does not parse stops every request, naming the file and the field.
    write_policy(
        &keys,
        "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nmaxLifetime: soon\n",
    );
    let r = kcsr(t.path(), &request("dan", &[], "media", &[]));
    r.refused("keys/station/policy.yaml", "maxLifetime");
    assert_eq!(r.code, 1);
}

#[test]
fn renew_refuses_what_the_policy_now_forbids_and_skips_offboarded_users() {
    let t = tempfile::tempdir().unwrap();
    support::media_with_bundles(t.path(), 2);
    let keys = t.path().join("keys");
    // The certificates were asked for 30 days; the site now allows 7.
    write_policy(
        &keys,
        "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nmaxLifetime: 7d\n",
    );
    let renew = [
        "renew", "media", "--within", "400d", "--keys", "keys", "--media", "next",
    ];
    let r = kcsr(t.path(), &renew);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("maxLifetime: the lifetime 30d is longer than maxLifetime 7d"),
        "{}",
        r.stderr
    );
    let next = t.path().join("next");
    assert!(
        !next.exists() || std::fs::read_dir(&next).unwrap().next().is_none(),
        "nothing written"
    );
    std::fs::remove_file(keys.join("station/policy.yaml")).unwrap();

    // user0 leaves.
    let r = ok(
        t.path(),
        &[
            "offboard",
            "--user",
            "user0",
            "--keys",
            "keys",
            "--media",
            "off",
            "--ticket",
            "CHG-LEAVE",
            "--operator",
            "hr-desk",
            "--json",
        ],
    );
    let v = json(&r);
    assert_eq!(v["offboarded"].as_array().unwrap().len(), 1);
    let off = t.path().join("off");
    let o = kcsr_core::outcome::OffboardRequest::parse(
        &std::fs::read(off.join("user0.offboard.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(o.user, "user0");
    assert_eq!(o.ticket.as_deref(), Some("CHG-LEAVE"));
    assert_eq!(o.operator.as_deref(), Some("hr-desk"));
    let created = kcsr_core::time::parse_rfc3339(&o.created).unwrap();
    assert_eq!(
        kcsr_core::time::parse_rfc3339(&o.not_after).unwrap() - created,
        14 * 86_400
    );
    let sums = signed_and_listed(&keys, &off);
    assert!(sums.get("user0.offboard.yaml").is_some());
    let rec = record_of(&keys, "user0");
    assert_eq!(rec.state, RequestState::Offboarded);
    assert_eq!(rec.state_at.as_deref(), Some(o.created.as_str()));
    assert_eq!(record_of(&keys, "user1").state, RequestState::Written);

    // Renew writes user1's renewal and not user0's (said, not an error: the run renews the
    // users still active).
    let r = kcsr(t.path(), &renew);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("\"user0\"")
            && r.stderr
                .contains(&format!("not renewed: user offboarded on {}", o.created)),
        "{}",
        r.stderr
    );
    let next: Vec<String> = std::fs::read_dir(t.path().join("next"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".csr.yaml"))
        .collect();
    assert_eq!(next.len(), 1, "{next:?}");
    assert!(next[0].starts_with("user1-renew-"), "{next:?}");
    // Offboarding again changes nothing in the records and writes the request again.
    let r = ok(
        t.path(),
        &[
            "offboard", "--user", "user0", "--keys", "keys", "--media", "off", "--json",
        ],
    );
    assert_eq!(json(&r)["offboarded"], serde_json::json!([]));
    assert_eq!(record_of(&keys, "user0").state, RequestState::Offboarded);
}

/// Replaces `stem`'s bundle with one whose audit record says who approved it and what became
/// of its binding, as the connected side writes it (decision 0010).
fn approve_in_bundle(media: &Path, stem: &str) {
    let path = media.join(format!("{stem}.bundle.yaml"));
    let mut b = kcsr_core::bundle::Bundle::parse(&std::fs::read(&path).unwrap()).unwrap();
    b.audit.approved_by = Some("approver-anna".into());
    b.audit.approved_at = Some("2026-11-28T09:00:00Z".into());
    b.audit.submitted_by = Some("submitter-sam".into());
    b.audit.bindings = vec![kcsr_core::bundle::BindingAudit {
        grant: "ClusterRole/view".into(),
        name: b.name.clone(),
        state: "created".into(),
        by: Some("approver-anna".into()),
    }];
    let yaml = b.to_yaml().unwrap();
    std::fs::write(&path, &yaml).unwrap();
    support::list_returned(media, &[(format!("{stem}.bundle.yaml"), yaml.as_str())]);
}

/// Takes `stem`'s results off the media (not back yet), optionally leaving a denial.
fn not_back(media: &Path, stem: &str, denied: Option<&str>) {
    let path = media.join("RETURNED.SHA256SUMS");
    let mut sums = kcsr_core::sums::Sums::parse(&std::fs::read(&path).unwrap()).unwrap();
    for f in [format!("{stem}.bundle.yaml"), format!("{stem}.crt")] {
        std::fs::remove_file(media.join(&f)).unwrap();
        sums.remove(&f);
    }
    if let Some(text) = denied {
        let f = format!("{stem}.denied.yaml");
        std::fs::write(media.join(&f), text).unwrap();
        sums.insert(&f, text.as_bytes());
    }
    std::fs::write(path, sums.render()).unwrap();
}

fn denial(name: &str, user: &str) -> String {
    format!(
        "apiVersion: kcsr.dev/v1\nkind: RequestDenied\nname: {name}\nuser: {user}\ncondition: Denied\nreason: KcsrDeny\nmessage: not on the change\nat: \"2026-11-28T10:00:00Z\"\nby: approver-anna\n"
    )
}

#[test]
fn assemble_records_what_it_verified_and_lists_every_request_that_did_not_come_back() {
    let t = tempfile::tempdir().unwrap();
    let certs = support::media_with_bundles(t.path(), 3);
    let media = t.path().join("media");
    let keys = t.path().join("keys");
    approve_in_bundle(&media, "user0");
    let user1 = record_of(&keys, "user1");
    not_back(&media, "user1", Some(&denial(&user1.name, "user1")));
    not_back(&media, "user2", None);

    let r = ok(
        t.path(),
        &support::assemble_args("--out-dir", "kubeconfigs", &[]),
    );
    assert!(t.path().join("kubeconfigs/user0.kubeconfig").exists());
    for says in [
        "2 request(s) on the media were not turned into a kubeconfig",
        "user1 (\"user1\"): Denied on the cluster: KcsrDeny: not on the change (by approver-anna)",
        "user2 (\"user2\"): not back yet",
    ] {
        assert!(r.stderr.contains(says), "{says}: {}", r.stderr);
    }
    // What assemble verified, in the station's record: the certificate's own serial and
    // validity (openssl reads the same), the approval as the bundle reports it.
    let rec = record_of(&keys, "user0");
    assert_eq!(rec.state, RequestState::Assembled);
    let a = rec.assembled.clone().unwrap();
    let info = kcsr_core::cert::parse_first(certs["user0"].as_bytes()).unwrap();
    assert_eq!(a.serial, info.serial);
    assert_eq!(a.not_after, kcsr_core::time::format_rfc3339(info.not_after));
    assert_eq!(a.approved_by.as_deref(), Some("approver-anna"));
    assert_eq!(a.submitted_by.as_deref(), Some("submitter-sam"));
    assert_eq!(a.bindings[0].state, "created");
    let denied = record_of(&keys, "user1");
    assert_eq!(denied.state, RequestState::Denied);
    let d = denied.denied.unwrap();
    assert_eq!(
        (d.condition.as_str(), d.by.as_deref()),
        ("Denied", Some("approver-anna"))
    );
    assert_eq!(record_of(&keys, "user2").state, RequestState::Written);

    // A second run (JSON) lists the same and rewrites no record.
    let before = std::fs::read(keys.join(format!("station/requests/{}.json", rec.name))).unwrap();
    let r = ok(
        t.path(),
        &support::assemble_args("--out-dir", "kubeconfigs", &["--force", "--json"]),
    );
    let v = json(&r);
    let reasons: Vec<(String, String)> = v["notAssembled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["stem"].as_str().unwrap().to_owned(),
                o["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("user1".to_owned(), "denied".to_owned()),
            ("user2".to_owned(), "not-back".to_owned())
        ]
    );
    assert_eq!(
        std::fs::read(keys.join(format!("station/requests/{}.json", rec.name))).unwrap(),
        before
    );

    // The auditor's view: every request, from the station alone.
    let r = ok(t.path(), &["audit", "--keys", "keys", "--csv"]);
    let mut lines = r.stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "name,user,groups,ticket,grants,operator,cluster,created,state,stateAt,approvedBy,approvedAt,submittedBy,serial,notBefore,notAfter,bindings,deniedReason,publicKeySha256"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{}", r.stdout);
    let row0 = rows.iter().find(|l| l.starts_with(&rec.name)).unwrap();
    let cells: Vec<&str> = row0.split(',').collect();
    assert_eq!(cells.len(), 19, "{row0}");
    assert_eq!(cells[8], "assembled");
    assert_eq!(cells[10], "approver-anna");
    assert_eq!(cells[13], info.serial);
    assert_eq!(cells[16], "ClusterRole/view=created@approver-anna");
    assert_eq!(cells[18], info.public_key.fingerprint);
    let row1 = rows.iter().find(|l| l.starts_with(&user1.name)).unwrap();
    assert!(
        row1.contains(",denied,") && row1.contains("Denied: KcsrDeny: not on the change"),
        "{row1}"
    );
    let r = ok(t.path(), &["audit", "--keys", "keys", "--json"]);
    let v = json(&r);
    let req = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["user"] == "user0")
        .unwrap();
    assert_eq!(req["assembled"]["approvedBy"], "approver-anna");
    assert_eq!(req["state"], "assembled");
    let r = ok(t.path(), &["audit", "--keys", "keys"]);
    assert!(
        r.stdout.lines().next().unwrap().starts_with("CREATED")
            && r.stdout.contains("approver-anna"),
        "{}",
        r.stdout
    );
}

#[test]
fn media_where_nothing_came_back_says_why_for_each_request() {
    let t = tempfile::tempdir().unwrap();
    support::media_with_bundles(t.path(), 2);
    let media = t.path().join("media");
    let keys = t.path().join("keys");
    let user0 = record_of(&keys, "user0");
    not_back(&media, "user0", Some(&denial(&user0.name, "user0")));
    not_back(&media, "user1", None);
    let r = kcsr(
        t.path(),
        &support::assemble_args("--out-dir", "kubeconfigs", &[]),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("no certificate bundles")
            && r.stderr
                .contains("user0 (\"user0\"): Denied on the cluster")
            && r.stderr.contains("user1 (\"user1\"): not back yet"),
        "{}",
        r.stderr
    );
    assert_eq!(record_of(&keys, "user0").state, RequestState::Denied);
}

#[test]
fn media_holding_only_denied_requests_is_refused_with_each_reason_and_a_new_request_hint() {
    let t = tempfile::tempdir().unwrap();
    support::media_with_bundles(t.path(), 2);
    let media = t.path().join("media");
    let keys = t.path().join("keys");
    for u in ["user0", "user1"] {
        let rec = record_of(&keys, u);
        not_back(&media, u, Some(&denial(&rec.name, u)));
    }
    let r = kcsr(
        t.path(),
        &support::assemble_args("--out-dir", "kubeconfigs", &[]),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    for says in [
        "error: nothing to assemble on ",
        "the cluster denied all 2 requests",
        "user0 (\"user0\"): Denied on the cluster: KcsrDeny: not on the change (by approver-anna)",
        "user1 (\"user1\"): Denied on the cluster: KcsrDeny: not on the change (by approver-anna)",
        "hint: a request the cluster denied is never issued later: ask the approver why",
        "make a new request with kcsr request",
    ] {
        assert!(r.stderr.contains(says), "{says}: {}", r.stderr);
    }
    assert!(!r.stderr.contains("apply --wait"), "{}", r.stderr);
    assert_eq!(r.stderr.matches("error: ").count(), 1, "{}", r.stderr);
    assert!(!t.path().join("kubeconfigs").exists());
    for u in ["user0", "user1"] {
        assert_eq!(record_of(&keys, u).state, RequestState::Denied);
    }
    // Re-run: the same refusal, the records unchanged.
    let again = kcsr(
        t.path(),
        &support::assemble_args("--out-dir", "kubeconfigs", &[]),
    );
    assert_eq!((again.code, again.stderr), (3, r.stderr));

    // Picking one denied request by name says the same of it alone.
    let r = kcsr(
        t.path(),
        &support::assemble_args("--out-dir", "kubeconfigs", &["--name", "user1"]),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("the cluster denied the request")
            && r.stderr.contains("user1 (\"user1\"): Denied")
            && !r.stderr.contains("user0 ("),
        "{}",
        r.stderr
    );
    // A name that matches no request says so, not "run kcsr-submit".
    let r = kcsr(
        t.path(),
        &support::assemble_args("--out-dir", "kubeconfigs", &["--name", "nobody"]),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("matches --name") && !r.stderr.contains("apply --wait"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_audit_csv_is_safe_to_open_in_a_spreadsheet() {
    let t = tempfile::tempdir().unwrap();
    ok(
        t.path(),
        &request(
            "alice",
            &[],
            "media",
            &[
                "--ticket",
                "=HYPERLINK(\"http://x\",\"y\")",
                "--operator",
                "@ops, the night shift",
            ],
        ),
    );
    let r = ok(t.path(), &["audit", "--keys", "keys", "--csv"]);
    let row = r.stdout.lines().nth(1).unwrap();
    assert!(
        row.contains(",\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",")
            && row.contains(",\"'@ops, the night shift\","),
        "{row}"
    );
}

fn openssl(dir: &Path, args: &str) {
    kcsr_testkit::sh(dir, &format!("openssl {args} 2>&1"))
        .expect_code(0, &format!("openssl {args}"));
}

/// `media/<stem>.csr.yaml`'s request issued by the CA `ca` (files `ca.crt`, `ca.key`), with
/// its bundle naming `server_ca` and `client_ca` as the connected side saw them, listed.
fn issue(dir: &Path, stem: &str, ca: &str, server_ca: &str, client_ca: &str) {
    use base64::Engine as _;
    let media = dir.join("media");
    let m = csr(&media.join(format!("{stem}.csr.yaml")));
    let pem = base64::engine::general_purpose::STANDARD
        .decode(&m.spec.request)
        .unwrap();
    std::fs::write(dir.join("issue.csr"), pem).unwrap();
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &format!(
            "x509 -req -in issue.csr -CA {ca}.crt -CAkey {ca}.key -CAcreateserial -days 10 -extfile ext.cnf -out issued.crt"
        ),
    );
    let cert = std::fs::read_to_string(dir.join("issued.crt")).unwrap();
    let bundle = support::bundle(
        &m.metadata.name,
        stem,
        &[],
        support::bundle_cluster("prod", "https://127.0.0.1:6443", Some(server_ca)),
        &cert,
        Some(client_ca),
        "2026-11-28T00:00:00Z",
    );
    let yaml = bundle.to_yaml().unwrap();
    let files = [
        (format!("{stem}.bundle.yaml"), yaml.as_str()),
        (format!("{stem}.crt"), cert.as_str()),
    ];
    for (name, content) in &files {
        std::fs::write(media.join(name), content).unwrap();
    }
    support::list_returned(&media, &files);
}

/// The CA rotation of docs/operator-guide.md: during the overlap both CAs are pinned, a
/// certificate from the new client CA is accepted, and a request made before the re-pin is
/// refused by name.
#[test]
fn a_ca_rotation_pins_both_cas_for_the_overlap_as_the_guide_says() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    for ca in ["old", "new"] {
        openssl(
            dir,
            &format!(
                "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {ca}.key -out {ca}.crt -subj /CN={ca}-ca -days 30"
            ),
        );
    }
    let old = std::fs::read_to_string(dir.join("old.crt")).unwrap();
    let new = std::fs::read_to_string(dir.join("new.crt")).unwrap();
    let both = format!("{old}{new}");
    std::fs::write(dir.join("both.pem"), &both).unwrap();
    let pin = |ca: &str, force: bool| {
        let mut args = vec![
            "cluster",
            "add",
            "prod",
            "--keys",
            "keys",
            "--server",
            "https://127.0.0.1:6443",
            "--ca",
            ca,
            "--client-ca",
            ca,
        ];
        if force {
            args.push("--force");
        }
        ok(dir, &args);
    };
    pin("old.crt", false);
    ok(dir, &request("before", &[], "media", &[]));
    // The overlap: both CAs pinned; requests now carry both fingerprints.
    pin("both.pem", true);
    ok(dir, &request("during", &[], "media", &[]));
    let m = csr(&dir.join("media/during.csr.yaml"));
    assert_eq!(
        m.metadata.annotations["kcsr.dev/cluster-ca-sha256"]
            .split(',')
            .count(),
        2
    );
    issue(dir, "before", "old", &old, &old);
    issue(dir, "during", "new", &both, &both);

    ok(
        dir,
        &support::assemble_args("--out", "during.kubeconfig", &["--name", "during"]),
    );
    let kubeconfig = std::fs::read_to_string(dir.join("during.kubeconfig")).unwrap();
    use base64::Engine as _;
    let ca_data = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(ca_data.trim())
            .unwrap(),
        both.as_bytes(),
        "the kubeconfig trusts both server CAs"
    );
    let r = kcsr(
        dir,
        &support::assemble_args("--out", "before.kubeconfig", &["--name", "before"]),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the cluster was pinned again with other CAs"),
        "{}",
        r.stderr
    );
}
