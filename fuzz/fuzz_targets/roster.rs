#![no_main]
// Rosters for `kcsr batch` (CSV and YAML), then every field through the parser the offline
// binary applies to it.
use kcsr_core::roster::{self, Format};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Format::detect(text, false);
    if let Ok(rows) = roster::parse(text, Format::Csv) {
        // Rows come in file order, each on a real line of the text.
        let lines = text.lines().count();
        let mut last = 0;
        for row in &rows {
            assert!(
                row.line > last && row.line <= lines,
                "line {} of {lines}",
                row.line
            );
            last = row.line;
            fields(&row.fields);
        }
    }
    if let Ok(rows) = roster::parse(text, Format::Yaml) {
        for row in &rows {
            fields(&row.fields);
        }
    }
});

fn fields(f: &roster::Fields) {
    if let Some(u) = &f.user {
        let _ = u.parse::<kcsr_core::names::UserName>();
    }
    for g in f.groups.iter().flatten() {
        let _ = g.parse::<kcsr_core::names::GroupName>();
    }
    if let Some(k) = &f.key_type {
        let _ = k.parse::<kcsr_core::key::KeyType>();
    }
    if let Some(s) = &f.signer {
        let _ = s.parse::<kcsr_core::signer::SignerName>();
    }
    if let Some(e) = &f.expiration {
        let _ = e.parse::<kcsr_core::expiry::Expiration>();
    }
    for r in f.clusterrole.iter().chain(f.role.iter()).flatten() {
        let _ = format!("Role/{r}").parse::<kcsr_core::rbac::Grant>();
    }
    if let Some(t) = &f.ticket {
        let _ = t.parse::<kcsr_core::manifest::Ticket>();
    }
}
