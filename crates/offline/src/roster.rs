//! Rosters for `kcsr batch`: CSV (header row; columns user, groups, key_type, signer,
//! expiration, clusterrole, role, namespace, ticket, passphrase_file, pkcs11; groups, clusterrole and
//! role `;`-separated) or YAML (`defaults:` and `users:` with the same fields). The text is
//! split into rows by [`kcsr_core::roster`] (pure, so it can be fuzzed);
//! here every row becomes a [`Spec`] before anything is written, and every bad row is reported
//! with its line number.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kcsr_core::expiry::Expiration;
use kcsr_core::key::KeyType;
use kcsr_core::manifest::{ApiVersion, Ticket};
use kcsr_core::names::{GroupName, UserName};
use kcsr_core::pkcs11_uri::Pkcs11Uri;
use kcsr_core::roster::{Fields, Format, RosterError};
use kcsr_core::signer::SignerName;

use crate::fail::{Context as _, Fail, Result};
use crate::plan::{self, Spec};

/// Largest roster accepted (a 10,000-user roster is under 1 MiB).
const MAX_ROSTER_BYTES: u64 = 64 << 20;

/// One parsed row and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) line: usize,
    pub(crate) spec: Spec,
    /// This user's key passphrase file (column `passphrase_file`), relative paths resolved
    /// against the roster's directory.
    pub(crate) passphrase_file: Option<PathBuf>,
    /// The PKCS#11 token key this user's request is made with (column `pkcs11`, an RFC 7512
    /// URI as `kcsr request --pkcs11` takes it): no key file is written for this user.
    pub(crate) pkcs11: Option<Pkcs11Uri>,
}

/// Reads and checks the whole roster. Errors list every bad row. `token`: `kcsr batch
/// --pkcs11`, the token of the users without a `pkcs11` column.
pub(crate) fn read(
    path: &Path,
    api_version: ApiVersion,
    token: Option<&Pkcs11Uri>,
) -> Result<Vec<Row>> {
    if let Some(t) = token
        && (t.object.is_some() || t.id.is_some())
    {
        return Err(Fail::new("--pkcs11 names a key object, but every user of a batch needs a key of their own").hint("leave object= and id= out of --pkcs11: each user's key is the token's object labelled with the user's stem; or give each user a URI in the roster's pkcs11 column"));
    }
    let raw = raw_rows(path)?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen = Seen {
        base: path.parent().unwrap_or(Path::new("")),
        token,
        stems: BTreeMap::new(),
        token_keys: BTreeMap::new(),
    };
    for kcsr_core::roster::Row { line, fields } in raw {
        let row = to_spec(&fields, api_version)
            .map_err(|e| format!("line {line}: {e}"))
            .and_then(|spec| seen.row(line, &fields, spec));
        match row {
            Ok(row) => rows.push(row),
            Err(e) => errors.push(e),
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

/// The roster's rows as text fields.
fn raw_rows(path: &Path) -> Result<Vec<kcsr_core::roster::Row>> {
    let data = kcsr_fs::read_limited(path, MAX_ROSTER_BYTES)
        .context(|| format!("failed to read roster {}", path.display()))?;
    let text = std::str::from_utf8(&data)
        .map_err(|_| Fail::new(format!("roster {} is not UTF-8 text", path.display())))?;
    let csv_extension = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    kcsr_core::roster::parse(text, Format::detect(text, csv_extension)).map_err(|e| {
        let fail = Fail::new(format!("{}: {e}", path.display()));
        match e {
            RosterError::Yaml(_) => fail.hint("see `kcsr batch --help` for the roster format"),
            _ => fail,
        }
    })
}

/// What the rows read so far claimed: no two users may share a key file or a token key.
struct Seen<'a> {
    /// The roster's directory: relative passphrase files are resolved against it.
    base: &'a Path,
    /// `kcsr batch --pkcs11`.
    token: Option<&'a Pkcs11Uri>,
    stems: BTreeMap<String, (usize, UserName)>,
    /// The token key each row names (token and object, without module or PIN).
    token_keys: BTreeMap<String, usize>,
}

impl Seen<'_> {
    /// The row of `spec`, or the error naming its line.
    fn row(
        &mut self,
        line: usize,
        fields: &Fields,
        spec: Spec,
    ) -> std::result::Result<Row, String> {
        let stem = spec.stem();
        if let Some((first, other)) = self.stems.get(&stem) {
            // A plain name can equal another's hashed stem ("alice-3bc51e" is
            // "Alice"'s): never let two users share a key file.
            return Err(if *other == spec.user {
                format!(
                    "line {line}: user {:?} is already on line {first}",
                    spec.user.as_str()
                )
            } else {
                format!(
                    "line {line}: user {:?} would share the files {stem}.* with user {:?} on line {first}; request one of them on its own with kcsr request --name",
                    spec.user.as_str(),
                    other.as_str()
                )
            });
        }
        self.stems.insert(stem, (line, spec.user.clone()));
        let passphrase_file = fields
            .passphrase_file
            .as_deref()
            .filter(|f| !f.is_empty())
            .map(|f| self.base.join(f));
        let pkcs11 = token_key(fields, passphrase_file.is_some(), self.token, &spec.stem())
            .map_err(|e| format!("line {line}: {e}"))?;
        if let Some(uri) = &pkcs11 {
            let key = key_identity(uri);
            if let Some(first) = self.token_keys.get(&key) {
                return Err(format!(
                    "line {line}: column pkcs11 names the token key of line {first} ({key}): each user needs a key of their own"
                ));
            }
            self.token_keys.insert(key, line);
        }
        Ok(Row {
            line,
            spec,
            passphrase_file,
            pkcs11,
        })
    }
}

/// The row's `pkcs11` column: a URI as `kcsr request --pkcs11` takes it; without one, the
/// `--pkcs11` token's object labelled `stem`. A token key is not a file and has no
/// passphrase, so a `passphrase_file` next to it is a mistake to name.
fn token_key(
    f: &Fields,
    passphrase_file: bool,
    token: Option<&Pkcs11Uri>,
    stem: &str,
) -> std::result::Result<Option<Pkcs11Uri>, String> {
    let uri = match (f.pkcs11.as_deref().filter(|t| !t.is_empty()), token) {
        (None, None) => return Ok(None),
        (None, Some(t)) => {
            if passphrase_file {
                return Err("column passphrase_file is given, but --pkcs11 puts this user's key in a token, which has no passphrase file; drop the passphrase_file or give the user a file key in another batch".to_owned());
            }
            return Ok(Some(Pkcs11Uri {
                object: Some(stem.to_owned()),
                ..t.clone()
            }));
        }
        // The parser's errors never repeat the value: a URI may carry a PIN (pin-value,
        // refused).
        (Some(text), _) => text
            .parse::<Pkcs11Uri>()
            .map_err(|e| format!("column pkcs11: {e}"))?,
    };
    if passphrase_file {
        return Err("columns pkcs11 and passphrase_file are both given: a key in a token has no passphrase file (its PIN comes from the URI's pin-source or the terminal); drop one of them".to_owned());
    }
    if uri.object.is_none() && uri.id.is_none() {
        return Err(
            "column pkcs11 names no key object: add object=LABEL (or id=) to the URI, one per user"
                .to_owned(),
        );
    }
    Ok(Some(uri))
}

/// Which key in which token a URI names, for telling two rows' keys apart.
fn key_identity(uri: &Pkcs11Uri) -> String {
    let key = Pkcs11Uri {
        token: uri.token.clone(),
        manufacturer: uri.manufacturer.clone(),
        model: uri.model.clone(),
        serial: uri.serial.clone(),
        slot_id: uri.slot_id,
        object: uri.object.clone(),
        id: uri.id.clone(),
        ..Pkcs11Uri::default()
    };
    key.to_string()
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
    let namespace = f.namespace.as_deref().filter(|n| !n.is_empty());
    let grants = plan::grants(
        f.clusterrole.as_deref().unwrap_or_default(),
        f.role.as_deref().unwrap_or_default(),
        namespace,
    )
    .map_err(|f| match f.hint {
        // The flags' hints name flags; in a roster, the columns.
        Some(_) => format!(
            "{} (roster columns clusterrole, role, namespace: ROLE or NS/ROLE, ';'-separated)",
            f.message
        ),
        None => f.message,
    })?;
    let ticket: Option<Ticket> = match f.ticket.as_deref() {
        None | Some("") => None,
        Some(t) => Some(t.parse()?),
    };
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
        grants,
        ticket,
        name: None,
        stem: None,
    })
}
