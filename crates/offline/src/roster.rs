//! Rosters for `kcsr batch`: CSV (header row; columns user, groups (`;`-separated),
//! key_type, signer, expiration, clusterrole) or YAML (`defaults:` and `users:` with the same
//! fields). Every row is parsed into a [`Spec`] before anything is written, and every bad
//! row is reported with its line number.

use std::collections::BTreeMap;
use std::path::Path;

use kcsr_core::expiry::Expiration;
use kcsr_core::key::KeyType;
use kcsr_core::manifest::ApiVersion;
use kcsr_core::names::{GroupName, UserName};
use kcsr_core::signer::SignerName;
use kcsr_core::yaml;
use serde::Deserialize;

use crate::fail::{Context as _, Fail, Result};
use crate::plan::{self, Spec};

/// Largest roster accepted (a 10,000-user roster is under 1 MiB).
const MAX_ROSTER_BYTES: u64 = 64 << 20;

/// One parsed row and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) line: usize,
    pub(crate) spec: Spec,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    groups: Option<Vec<String>>,
    #[serde(default)]
    key_type: Option<String>,
    #[serde(default)]
    signer: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
    #[serde(default)]
    clusterrole: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlRoster {
    #[serde(default)]
    defaults: Fields,
    users: Vec<yaml::Spanned<Fields>>,
}

/// Reads and checks the whole roster. Errors list every bad row.
pub(crate) fn read(path: &Path, api_version: ApiVersion) -> Result<Vec<Row>> {
    let data = kcsr_fs::read_limited(path, MAX_ROSTER_BYTES)
        .context(|| format!("failed to read roster {}", path.display()))?;
    let text = std::str::from_utf8(&data)
        .map_err(|_| Fail::new(format!("roster {} is not UTF-8 text", path.display())))?;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        || text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .is_some_and(|l| l.contains(',') && !l.contains(':'));
    let raw = if is_csv {
        csv_rows(text).map_err(|e| Fail::new(format!("{}: {e}", path.display())))?
    } else {
        let roster: YamlRoster =
            yaml::parse_one(text.as_bytes(), yaml::Snippets::Show).map_err(|e| {
                Fail::new(format!("{}: {e}", path.display()))
                    .hint("see `kcsr batch --help` for the roster format")
            })?;
        roster
            .users
            .into_iter()
            .map(|u| {
                let line = usize::try_from(u.referenced.line()).unwrap_or(0);
                (line, merge(&roster.defaults, u.value))
            })
            .collect()
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut stems: BTreeMap<String, usize> = BTreeMap::new();
    for (line, fields) in raw {
        match to_spec(&fields, api_version) {
            Ok(spec) => {
                if let Some(first) = stems.insert(spec.stem(), line) {
                    errors.push(format!(
                        "line {line}: user {:?} is already on line {first}",
                        spec.user.as_str()
                    ));
                } else {
                    rows.push(Row { line, spec });
                }
            }
            Err(e) => errors.push(format!("line {line}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(Fail::new(format!(
            "roster {} has {} bad row(s); nothing was written\n  {}",
            path.display(),
            errors.len(),
            errors.join("\n  ")
        ))
        .hint("fix these rows and run kcsr batch again"));
    }
    if rows.is_empty() {
        return Err(Fail::new(format!(
            "roster {} lists no users",
            path.display()
        )));
    }
    Ok(rows)
}

fn merge(defaults: &Fields, row: Fields) -> Fields {
    Fields {
        user: row.user,
        groups: row.groups.or_else(|| defaults.groups.clone()),
        key_type: row.key_type.or_else(|| defaults.key_type.clone()),
        signer: row.signer.or_else(|| defaults.signer.clone()),
        expiration: row.expiration.or_else(|| defaults.expiration.clone()),
        clusterrole: row.clusterrole.or_else(|| defaults.clusterrole.clone()),
    }
}

fn to_spec(f: &Fields, api_version: ApiVersion) -> std::result::Result<Spec, String> {
    let user: UserName = f
        .user
        .as_deref()
        .ok_or("the user is missing")?
        .parse()
        .map_err(|e: kcsr_core::names::NameError| e.to_string())?;
    let groups = f
        .groups
        .iter()
        .flatten()
        .map(|g| g.parse::<GroupName>().map_err(|e| e.to_string()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let key_type: KeyType = match f.key_type.as_deref() {
        None | Some("") => KeyType::P256,
        Some(k) => k.parse()?,
    };
    let signer: SignerName = match f.signer.as_deref() {
        None | Some("") => SignerName::client(),
        Some(s) => s
            .parse()
            .map_err(|e: kcsr_core::signer::SignerError| e.to_string())?,
    };
    let expiration: Option<Expiration> = match f.expiration.as_deref() {
        None | Some("") => None,
        Some(e) => Some(
            e.parse()
                .map_err(|e: kcsr_core::expiry::ExpirationError| e.to_string())?,
        ),
    };
    let grant = plan::grant(
        f.clusterrole.as_deref().filter(|r| !r.is_empty()),
        None,
        None,
    )
    .map_err(|f| f.message)?;
    Ok(Spec {
        user,
        groups,
        key_type,
        signer: Some(signer),
        usages: Vec::new(),
        dns: Vec::new(),
        ips: Vec::new(),
        expiration,
        api_version,
        grant,
        name: None,
        stem: None,
    })
}

/// Splits CSV text into rows of fields, with line numbers. RFC 4180 quoting; no fields
/// spanning lines.
fn csv_rows(text: &str) -> std::result::Result<Vec<(usize, Fields)>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let (hline, header) = lines.next().ok_or("the CSV roster is empty")?;
    let columns = split_csv(header).map_err(|e| format!("line {hline}: {e}"))?;
    let known = [
        "user",
        "groups",
        "key_type",
        "signer",
        "expiration",
        "clusterrole",
    ];
    for c in &columns {
        if !known.contains(&c.trim()) {
            return Err(format!(
                "line {hline}: unknown column {c:?}; the columns are {}",
                known.join(", ")
            ));
        }
    }
    if !columns.iter().any(|c| c.trim() == "user") {
        return Err(format!("line {hline}: the header has no \"user\" column"));
    }
    let mut out = Vec::new();
    for (n, line) in lines {
        let values = split_csv(line).map_err(|e| format!("line {n}: {e}"))?;
        if values.len() != columns.len() {
            return Err(format!(
                "line {n}: {} fields, the header has {}",
                values.len(),
                columns.len()
            ));
        }
        let mut f = Fields::default();
        for (c, v) in columns.iter().zip(values) {
            let v = v.trim().to_owned();
            match c.trim() {
                "user" => f.user = Some(v),
                "groups" => {
                    f.groups = Some(
                        v.split(';')
                            .map(str::trim)
                            .filter(|g| !g.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    )
                }
                "key_type" => f.key_type = Some(v),
                "signer" => f.signer = Some(v),
                "expiration" => f.expiration = Some(v),
                _ => f.clusterrole = Some(v),
            }
        }
        out.push((n, f));
    }
    Ok(out)
}

fn split_csv(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed (fields may not span lines)".to_owned());
    }
    fields.push(cur);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(
            split_csv("a,\"b,c\",\"d\"\"e\"").unwrap(),
            vec!["a", "b,c", "d\"e"]
        );
        assert!(split_csv("a,\"b").is_err());
        let rows = csv_rows("# comment\nuser,groups\nalice,dev;ops\n\nbob,\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 3);
        assert_eq!(
            rows[0].1.groups.as_deref(),
            Some(&["dev".to_owned(), "ops".to_owned()][..])
        );
        assert!(csv_rows("name\nx\n").is_err());
    }
}
