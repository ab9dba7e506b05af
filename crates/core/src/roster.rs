//! Roster text for `kcsr batch`, read into rows of raw fields with their line numbers: CSV
//! (header row; columns user, groups, key_type, signer, expiration, clusterrole, role,
//! namespace, ticket, passphrase_file, pkcs11; groups, clusterrole and role `;`-separated) or YAML
//! (`defaults:` and `users:` with the same fields, lists as YAML lists or `;`-separated strings, defaults
//! merged into each user). Field values are not checked here: the caller turns each row into a
//! request and reports every bad row with its line.

use serde::Deserialize;

use crate::yaml::{self, YamlError};

/// The CSV columns (and YAML fields) a roster may have.
pub const COLUMNS: [&str; 11] = [
    "user",
    "groups",
    "key_type",
    "signer",
    "expiration",
    "clusterrole",
    "role",
    "namespace",
    "ticket",
    "passphrase_file",
    "pkcs11",
];

/// One user's fields as written; `None` when the column or field is absent.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// User name.
    #[serde(default)]
    pub user: Option<String>,
    /// Group names (CSV: `;`-separated, blanks dropped).
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Key type name.
    #[serde(default)]
    pub key_type: Option<String>,
    /// Signer name.
    #[serde(default)]
    pub signer: Option<String>,
    /// Requested certificate lifetime.
    #[serde(default)]
    pub expiration: Option<String>,
    /// ClusterRoles to bind the user to: `ROLE` (a ClusterRoleBinding, or a RoleBinding in
    /// `namespace`) or `NAMESPACE/ROLE` (a RoleBinding in that namespace).
    #[serde(default, deserialize_with = "one_or_many")]
    pub clusterrole: Option<Vec<String>>,
    /// Roles to bind the user to: `NAMESPACE/ROLE`, or `ROLE` in `namespace`.
    #[serde(default, deserialize_with = "one_or_many")]
    pub role: Option<Vec<String>>,
    /// The namespace of the grants that name none.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The change ticket.
    #[serde(default)]
    pub ticket: Option<String>,
    /// A file whose first line is this user's key passphrase (`batch --encrypt-key`).
    #[serde(default)]
    pub passphrase_file: Option<String>,
    /// An RFC 7512 URI of the PKCS#11 token key this user's request is made with.
    pub pkcs11: Option<String>,
}

/// A YAML list, or one string of `;`-separated items (as in the CSV cell).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(split_list(&s)),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// A `;`-separated cell: items trimmed, blanks dropped.
fn split_list(cell: &str) -> Vec<String> {
    cell.split(';')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One roster row and the (1-based) line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Line number in the roster text.
    pub line: usize,
    /// The row's fields, YAML defaults already applied.
    pub fields: Fields,
}

/// Which syntax a roster is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated with a header row.
    Csv,
    /// `defaults:` and `users:`.
    Yaml,
}

impl Format {
    /// A `.csv` file is CSV; otherwise a first meaningful line with a comma and no colon is
    /// (a YAML roster's first line is a `key:` line, a CSV header never holds a colon).
    pub fn detect(text: &str, csv_extension: bool) -> Self {
        let csv_header = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .is_some_and(|l| l.contains(',') && !l.contains(':'));
        if csv_extension || csv_header {
            Self::Csv
        } else {
            Self::Yaml
        }
    }
}

/// Why a roster could not be split into rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RosterError {
    /// CSV structure (header, quoting, field count); the message starts with its line.
    #[error("{0}")]
    Csv(String),
    /// YAML syntax or structure, with line and column.
    #[error("{0}")]
    Yaml(YamlError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlRoster {
    #[serde(default)]
    defaults: Fields,
    users: Vec<yaml::Spanned<Fields>>,
}

/// Splits roster text into rows, in order.
pub fn parse(text: &str, format: Format) -> Result<Vec<Row>, RosterError> {
    match format {
        Format::Csv => parse_csv(text).map_err(RosterError::Csv),
        Format::Yaml => parse_yaml(text).map_err(RosterError::Yaml),
    }
}

/// Reads a YAML roster and applies `defaults` to every user.
pub fn parse_yaml(text: &str) -> Result<Vec<Row>, YamlError> {
    let roster: YamlRoster = yaml::parse_one(text.as_bytes(), yaml::Snippets::Show)?;
    Ok(roster
        .users
        .into_iter()
        .map(|u| Row {
            line: usize::try_from(u.referenced.line()).unwrap_or(0),
            fields: merge(&roster.defaults, u.value),
        })
        .collect())
}

fn merge(defaults: &Fields, row: Fields) -> Fields {
    Fields {
        user: row.user,
        groups: row.groups.or_else(|| defaults.groups.clone()),
        key_type: row.key_type.or_else(|| defaults.key_type.clone()),
        signer: row.signer.or_else(|| defaults.signer.clone()),
        expiration: row.expiration.or_else(|| defaults.expiration.clone()),
        clusterrole: row.clusterrole.or_else(|| defaults.clusterrole.clone()),
        role: row.role.or_else(|| defaults.role.clone()),
        namespace: row.namespace.or_else(|| defaults.namespace.clone()),
        ticket: row.ticket.or_else(|| defaults.ticket.clone()),
        passphrase_file: row
            .passphrase_file
            .or_else(|| defaults.passphrase_file.clone()),
        pkcs11: row.pkcs11.or_else(|| defaults.pkcs11.clone()),
    }
}

/// Reads a CSV roster: RFC 4180 quoting, no fields spanning lines; blank lines and lines
/// starting with `#` are skipped. The first remaining line is the header.
pub fn parse_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let (hline, header) = lines.next().ok_or("the CSV roster is empty")?;
    let columns = split_csv(header).map_err(|e| format!("line {hline}: {e}"))?;
    for c in &columns {
        if !COLUMNS.contains(&c.trim()) {
            return Err(format!(
                "line {hline}: unknown column {c:?}; the columns are {}",
                COLUMNS.join(", ")
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
                "groups" => f.groups = Some(split_list(&v)),
                "key_type" => f.key_type = Some(v),
                "signer" => f.signer = Some(v),
                "expiration" => f.expiration = Some(v),
                "clusterrole" => f.clusterrole = Some(split_list(&v)),
                "role" => f.role = Some(split_list(&v)),
                "namespace" => f.namespace = Some(v),
                "ticket" => f.ticket = Some(v),
                "passphrase_file" => f.passphrase_file = Some(v),
                _ => f.pkcs11 = Some(v),
            }
        }
        out.push(Row { line: n, fields: f });
    }
    Ok(out)
}

fn split_csv(line: &str) -> Result<Vec<String>, String> {
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

    fn strings(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            split_csv("a,\"b,c\",\"d\"\"e\"").unwrap(),
            vec!["a", "b,c", "d\"e"]
        );
        assert_eq!(split_csv("").unwrap(), vec![""]);
        assert_eq!(split_csv("a,").unwrap(), vec!["a", ""]);
        // A quote after text is literal, as in a hand-edited spreadsheet export.
        assert_eq!(split_csv("a\"b").unwrap(), vec!["a\"b"]);
        assert_eq!(
            split_csv("a,\"b").unwrap_err(),
            "a quoted field is not closed (fields may not span lines)"
        );
    }

    #[test]
    fn csv_rows_keep_their_line_numbers() {
        let rows = parse_csv("# comment\nuser,groups\r\nalice,dev; ops ;\n\nbob,\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 3);
        assert_eq!(rows[0].fields.user.as_deref(), Some("alice"));
        assert_eq!(rows[0].fields.groups, strings(&["dev", "ops"]));
        assert_eq!(rows[1].line, 5);
        assert_eq!(rows[1].fields.groups, strings(&[]));
        assert_eq!(rows[1].fields.key_type, None);
    }

    #[test]
    fn csv_fills_every_column() {
        let rows = parse_csv(
            " user , key_type,signer,expiration,clusterrole\n\"carol\",ed25519,example.com/x,24h,view\n",
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![Row {
                line: 2,
                fields: Fields {
                    user: Some("carol".into()),
                    groups: None,
                    key_type: Some("ed25519".into()),
                    signer: Some("example.com/x".into()),
                    expiration: Some("24h".into()),
                    clusterrole: strings(&["view"]),
                    ..Fields::default()
                },
            }]
        );
    }

    #[test]
    fn csv_structure_errors_name_the_line() {
        assert_eq!(
            parse_csv("\n# only\n").unwrap_err(),
            "the CSV roster is empty"
        );
        assert_eq!(
            parse_csv("name\nx\n").unwrap_err(),
            "line 1: unknown column \"name\"; the columns are user, groups, key_type, signer, expiration, clusterrole, role, namespace, ticket, passphrase_file, pkcs11"
        );
        assert_eq!(
            parse_csv("groups\ndev\n").unwrap_err(),
            "line 1: the header has no \"user\" column"
        );
        assert_eq!(
            parse_csv("user,groups\nalice\n").unwrap_err(),
            "line 2: 1 fields, the header has 2"
        );
        assert_eq!(
            parse_csv("user\n\"alice\n").unwrap_err(),
            "line 2: a quoted field is not closed (fields may not span lines)"
        );
    }

    #[test]
    fn yaml_defaults_fill_missing_fields_only() {
        let text = "defaults:\n  groups: [dev]\n  key_type: rsa-2048\n  clusterrole: view\nusers:\n  - user: alice\n  - user: bob\n    groups: []\n    key_type: ed25519\n";
        let rows = parse_yaml(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 6);
        assert_eq!(rows[0].fields.groups, strings(&["dev"]));
        assert_eq!(rows[0].fields.key_type.as_deref(), Some("rsa-2048"));
        assert_eq!(rows[1].line, 7);
        assert_eq!(rows[1].fields.groups, strings(&[]));
        assert_eq!(rows[1].fields.key_type.as_deref(), Some("ed25519"));
        assert_eq!(rows[1].fields.clusterrole, strings(&["view"]));
    }

    #[test]
    fn yaml_refuses_unknown_fields_and_missing_users() {
        let e = parse_yaml("users:\n  - user: a\n    rolle: x\n").unwrap_err();
        assert!(e.to_string().contains("rolle"), "{e}");
        assert!(parse_yaml("defaults: {}\n").is_err());
        assert!(parse_yaml("- a\n").is_err());
    }

    #[test]
    fn several_grants_a_namespace_and_a_ticket_per_user() {
        let rows = parse_csv(
            "user,clusterrole,role,namespace,ticket\nalice,view; team-b/edit,deployer;team-c/reader,team-a,CHG-1\nbob,,,,\n",
        )
        .unwrap();
        let f = &rows[0].fields;
        assert_eq!(f.clusterrole, strings(&["view", "team-b/edit"]));
        assert_eq!(f.role, strings(&["deployer", "team-c/reader"]));
        assert_eq!(f.namespace.as_deref(), Some("team-a"));
        assert_eq!(f.ticket.as_deref(), Some("CHG-1"));
        assert_eq!(rows[1].fields.clusterrole, strings(&[]));
        assert_eq!(rows[1].fields.ticket.as_deref(), Some(""));
        let rows = parse_yaml(
            "defaults: {ticket: CHG-2, clusterrole: view}\nusers:\n  - user: a\n  - {user: b, clusterrole: [edit, ns/admin], role: \"ns/x; ns/y\", namespace: ns, ticket: CHG-3}\n",
        )
        .unwrap();
        assert_eq!(rows[0].fields.ticket.as_deref(), Some("CHG-2"));
        assert_eq!(rows[0].fields.clusterrole, strings(&["view"]));
        assert_eq!(rows[1].fields.clusterrole, strings(&["edit", "ns/admin"]));
        assert_eq!(rows[1].fields.role, strings(&["ns/x", "ns/y"]));
        assert_eq!(rows[1].fields.namespace.as_deref(), Some("ns"));
        assert_eq!(rows[1].fields.ticket.as_deref(), Some("CHG-3"));
    }

    #[test]
    fn format_detection() {
        assert_eq!(Format::detect("user,groups\n", false), Format::Csv);
        assert_eq!(Format::detect("# c\n\nuser\n", true), Format::Csv);
        assert_eq!(Format::detect("user\n", false), Format::Yaml);
        assert_eq!(
            Format::detect("users: [{user: a, groups: b}]\n", false),
            Format::Yaml
        );
        assert_eq!(Format::detect("", false), Format::Yaml);
        assert_eq!(
            parse("user\nalice\n", Format::Csv).unwrap()[0]
                .fields
                .user
                .as_deref(),
            Some("alice")
        );
        assert!(matches!(
            parse("user,\n", Format::Yaml),
            Err(RosterError::Yaml(_))
        ));
    }
}
