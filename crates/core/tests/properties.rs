//! Property tests: every reader of outside data returns a value or an error for any input,
//! never panics, and the writers' output reads back to the same value.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use kcsr_core::{bundle, cert, csr, digest, expiry, manifest, pem, roster, sums, time, yaml};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn readers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = manifest::parse_documents(&data);
        let _ = sums::Sums::parse(&data);
        let _ = pem::parse(&data);
        let _ = csr::parse(&data);
        let _ = cert::parse_all(&data);
        let _ = bundle::Bundle::parse(&data);
        let _ = kcsr_core::sshsig::Signature::parse_armored(&data);
        let _ = kcsr_core::station::ClusterPin::parse(&data);
        let _ = kcsr_core::station::RequestRecord::parse(&data);
        let _ = yaml::parse_one::<serde_json::Value>(&data, yaml::Snippets::Hide);
        #[cfg(feature = "keys")]
        let _ = kcsr_core::key::PrivateKey::from_bytes(&data, None);
    }

    #[test]
    fn readers_never_panic_on_text(text in "(\\PC|\n|-----BEGIN [A-Z ]{0,20}-----|apiVersion: |kind: |  - |: |\\[|\\{|&a|\\*a){0,200}") {
        let _ = manifest::parse_documents(text.as_bytes());
        let _ = sums::Sums::parse(text.as_bytes());
        let _ = pem::parse(text.as_bytes());
        let _ = csr::parse(text.as_bytes());
        let _ = bundle::Bundle::parse(text.as_bytes());
        let _ = kcsr_core::sshsig::AllowedSigners::parse(&text);
        let _ = kcsr_core::sshsig::PublicKey::from_openssh(&text);
        let _ = text.parse::<kcsr_core::rbac::Grant>();
        let _ = time::parse_rfc3339(&text);
        let _ = text.parse::<expiry::Expiration>();
        let _ = text.parse::<kcsr_core::names::UserName>();
        let _ = text.parse::<kcsr_core::signer::SignerName>();
    }

    #[test]
    fn sums_round_trip(entries in proptest::collection::btree_map("[a-z0-9][a-z0-9._-]{0,30}", proptest::collection::vec(any::<u8>(), 0..64), 0..20)) {
        let mut s = sums::Sums::default();
        for (name, content) in &entries {
            s.insert(name, content);
        }
        let back = sums::Sums::parse(s.render().as_bytes()).unwrap();
        prop_assert_eq!(&back, &s);
        for (name, content) in &entries {
            prop_assert!(back.matches(name, content));
        }
    }

    #[test]
    fn pem_round_trips(label in "[A-Z]{1,10}( [A-Z]{1,10}){0,2}", der in proptest::collection::vec(any::<u8>(), 0..600)) {
        let text = pem::encode(&label, &der);
        let blocks = pem::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(blocks.len(), 1);
        prop_assert_eq!(&blocks[0].label, &label);
        prop_assert_eq!(blocks[0].der.as_slice(), der.as_slice());
    }

    #[test]
    fn time_round_trips(t in -62_135_596_800i64..253_402_300_799i64) {
        prop_assert_eq!(time::parse_rfc3339(&time::format_rfc3339(t)), Some(t));
    }

    #[test]
    fn slugs_are_always_safe_file_stems(name in "\\PC{1,80}") {
        let slug = kcsr_core::names::slug(&name);
        prop_assert!(kcsr_core::names::is_dns1123_label(&slug), "{:?} -> {:?}", name, slug);
        let file = format!("{}.csr.yaml", slug);
        prop_assert!(kcsr_core::media::is_safe_file_name(&file));
    }

    #[test]
    fn digests_are_hex(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let h = digest::sha256_hex(&data);
        prop_assert_eq!(digest::parse_sha256_hex(&h), Some(digest::sha256(&data)));
    }
}

/// Roster-like text: header words, YAML keys and CSV punctuation mixed with any character.
/// Built from tokens rather than a regex, which is slow to generate from in debug builds.
fn roster_text() -> impl Strategy<Value = String> {
    let tokens = proptest::sample::select(vec![
        "\n",
        "\r\n",
        ",",
        "\"",
        "#",
        ";",
        " ",
        "user",
        "groups",
        "key_type",
        "signer",
        "expiration",
        "clusterrole",
        "users:",
        "defaults:",
        "  - ",
        "user: ",
        ": ",
        "[",
        "{",
        "&a",
        "*a",
        "alice",
        "dev",
        "ed25519",
        "24h",
    ]);
    proptest::collection::vec(
        prop_oneof![
            tokens.prop_map(str::to_owned),
            any::<char>().prop_map(String::from)
        ],
        0..200,
    )
    .prop_map(|parts| parts.concat())
}

/// Writes one CSV field the way a spreadsheet would: always quoted, quotes doubled.
fn csv_field(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

fn roster_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,\";:#._/-]{0,16}".prop_map(|v| v.trim().to_owned())
}

fn roster_fields() -> impl Strategy<Value = roster::Fields> {
    (
        proptest::option::of(roster_value()),
        proptest::option::of(proptest::collection::vec(roster_value(), 0..4)),
        proptest::option::of(roster_value()),
        proptest::option::of(roster_value()),
        proptest::option::of(roster_value()),
        proptest::option::of(proptest::collection::vec(roster_value(), 0..4)),
        proptest::option::of(roster_value()),
    )
        .prop_map(
            |(user, groups, key_type, signer, expiration, clusterrole, ticket)| roster::Fields {
                user,
                groups,
                key_type,
                signer,
                expiration,
                clusterrole,
                ticket,
                ..roster::Fields::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn roster_reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&data);
        let format = roster::Format::detect(&text, false);
        let _ = roster::parse(&text, format);
        let _ = roster::parse(&text, roster::Format::Csv);
        let _ = roster::parse(&text, roster::Format::Yaml);
    }

    #[test]
    fn roster_reader_never_panics_on_roster_text(text in roster_text()) {
        let _ = roster::parse(&text, roster::Format::Yaml);
        if let Ok(rows) = roster::parse(&text, roster::Format::Csv) {
            // Data rows follow the header, in file order, each on a real line.
            let mut last = 1;
            for row in &rows {
                prop_assert!(row.line > last && row.line <= text.lines().count(), "{:?}", rows);
                last = row.line;
            }
        }
    }

    /// Every CSV row a spreadsheet writes (quoted, with commas, quotes, `#` and blank and
    /// comment lines around) reads back to the same fields on the line it was written on.
    #[test]
    fn csv_rosters_read_back(rows in proptest::collection::vec(roster_fields(), 1..12), comments in proptest::collection::vec(any::<bool>(), 12)) {
        let mut text = String::from("# roster\nuser,groups,key_type,signer,expiration,clusterrole,ticket\n");
        let mut expected = Vec::new();
        for (i, f) in rows.iter().enumerate() {
            if comments[i] {
                text.push_str("\n# a comment, with: a colon\n");
            }
            let list = |l: &Option<Vec<String>>| -> Vec<String> {
                l.clone().unwrap_or_default().iter().flat_map(|g| g.split(';')).map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect()
            };
            let groups = list(&f.groups);
            let roles = list(&f.clusterrole);
            let cells = [
                f.user.clone().unwrap_or_default(),
                groups.join(";"),
                f.key_type.clone().unwrap_or_default(),
                f.signer.clone().unwrap_or_default(),
                f.expiration.clone().unwrap_or_default(),
                roles.join(";"),
                f.ticket.clone().unwrap_or_default(),
            ];
            text.push_str(&cells.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
            text.push_str("\r\n");
            let fields = roster::Fields {
                user: Some(cells[0].clone()),
                groups: Some(groups),
                key_type: Some(cells[2].clone()),
                signer: Some(cells[3].clone()),
                expiration: Some(cells[4].clone()),
                clusterrole: Some(roles),
                ticket: Some(cells[6].clone()),
                ..roster::Fields::default()
            };
            expected.push(roster::Row { line: text.lines().count(), fields });
        }
        prop_assert_eq!(roster::Format::detect(&text, false), roster::Format::Csv);
        prop_assert_eq!(roster::parse(&text, roster::Format::Csv).unwrap(), expected);
    }

    /// A YAML roster's `defaults` fill exactly the fields a user leaves out (the user name
    /// never), and users keep their order.
    #[test]
    fn yaml_defaults_fill_only_missing_fields(defaults in roster_fields(), users in proptest::collection::vec(roster_fields(), 0..8)) {
        let to_json = |f: &roster::Fields| {
            let mut m = serde_json::Map::new();
            let mut put = |k: &str, v: Option<serde_json::Value>| {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            };
            put("user", f.user.clone().map(Into::into));
            put("groups", f.groups.clone().map(Into::into));
            put("key_type", f.key_type.clone().map(Into::into));
            put("signer", f.signer.clone().map(Into::into));
            put("expiration", f.expiration.clone().map(Into::into));
            put("clusterrole", f.clusterrole.clone().map(Into::into));
            put("ticket", f.ticket.clone().map(Into::into));
            serde_json::Value::Object(m)
        };
        let doc = serde_json::json!({
            "defaults": to_json(&defaults),
            "users": users.iter().map(to_json).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let rows = roster::parse(&text, roster::Format::Yaml).unwrap();
        prop_assert_eq!(rows.len(), users.len());
        for (row, u) in rows.iter().zip(&users) {
            let pick = |own: &Option<String>, default: &Option<String>| own.clone().or_else(|| default.clone());
            prop_assert_eq!(&row.fields.user, &u.user);
            prop_assert_eq!(&row.fields.groups, &u.groups.clone().or_else(|| defaults.groups.clone()));
            prop_assert_eq!(row.fields.key_type.clone(), pick(&u.key_type, &defaults.key_type));
            prop_assert_eq!(row.fields.signer.clone(), pick(&u.signer, &defaults.signer));
            prop_assert_eq!(row.fields.expiration.clone(), pick(&u.expiration, &defaults.expiration));
            prop_assert_eq!(&row.fields.clusterrole, &u.clusterrole.clone().or_else(|| defaults.clusterrole.clone()));
            prop_assert_eq!(row.fields.ticket.clone(), pick(&u.ticket, &defaults.ticket));
        }
        let mut lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        lines.dedup();
        prop_assert_eq!(lines.len(), rows.len(), "users share a line");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any armored text whose blob was cut or grown never passes as a signature, and
    /// allowed_signers lines of hostile text never panic and never echo control characters.
    #[test]
    fn signatures_and_allowed_signers_never_panic(
        body in "[A-Za-z0-9+/=]{0,400}",
        line in "(\\PC|\"|,|=| |namespaces=|valid-before=|cert-authority|ssh-ed25519 ){0,40}",
    ) {
        let armored = format!("-----BEGIN SSH SIGNATURE-----\n{body}\n-----END SSH SIGNATURE-----\n");
        if let Ok(sig) = kcsr_core::sshsig::Signature::parse_armored(armored.as_bytes()) {
            prop_assert!(sig.verify(b"x", "kcsr-media").is_err());
        }
        if let Err(e) = kcsr_core::sshsig::AllowedSigners::parse(&line) {
            prop_assert!(!e.to_string().chars().any(|c| c.is_control() && c != '\n'), "{e}");
        }
    }
}
