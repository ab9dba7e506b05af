//! The station's files in the key directory (decision 0009): where they live, and reading and
//! writing pins and request records. Every write goes through kcsr-fs (0600, atomic, fsynced).

use std::path::{Path, PathBuf};

use kcsr_core::station::{ClusterName, ClusterPin, RequestRecord, RequestState};
use kcsr_fs::{self as output, Mode, Overwrite};

use crate::fail::{self, Fail, Result};

/// The station's subdirectory of the key directory. User key files are `<stem>.key.pem` at
/// the top level and stems never hold `/`, so no user name reaches it.
pub(crate) const STATION_DIR: &str = "station";
/// The Ed25519 signing key (PKCS#8 PEM, possibly encrypted).
pub(crate) const SIGNING_KEY_FILE: &str = "signing-key.pem";
/// Its OpenSSH public line, readable without the passphrase.
pub(crate) const SIGNING_PUB_FILE: &str = "signing-key.pub";
/// Public lines of rotated keys.
pub(crate) const RETIRED_FILE: &str = "retired.pub";
/// Pins, `<name>.json`.
pub(crate) const CLUSTERS_DIR: &str = "clusters";
/// Records, `<object-name>.json`.
pub(crate) const REQUESTS_DIR: &str = "requests";
/// Largest station file read.
const MAX_STATION_FILE: u64 = 1 << 20;

/// The station of one key directory.
#[derive(Debug, Clone)]
pub(crate) struct Station {
    /// `KEY_DIR/station`.
    pub(crate) dir: PathBuf,
}

impl Station {
    pub(crate) fn new(key_dir: &Path) -> Self {
        Self {
            dir: key_dir.join(STATION_DIR),
        }
    }

    pub(crate) fn clusters_dir(&self) -> PathBuf {
        self.dir.join(CLUSTERS_DIR)
    }

    pub(crate) fn requests_dir(&self) -> PathBuf {
        self.dir.join(REQUESTS_DIR)
    }

    /// Writes one station file: 0600, atomic, fsynced, its directories created 0700.
    pub(crate) fn write(&self, sub: Option<&str>, name: &str, text: &str) -> Result<PathBuf> {
        self.write_with(sub, name, text.as_bytes(), Overwrite::Allow)
    }

    /// [`Station::write`], create-new with `Overwrite::Deny` (the signing key).
    pub(crate) fn write_with(
        &self,
        sub: Option<&str>,
        name: &str,
        content: &[u8],
        overwrite: Overwrite,
    ) -> Result<PathBuf> {
        let dir = match sub {
            Some(s) => self.dir.join(s),
            None => self.dir.clone(),
        };
        for d in [&self.dir, &dir] {
            output::create_dir(d, 0o700).map_err(|e| {
                fail::write_failed(
                    &format!("failed to create {}", d.display()),
                    d,
                    &e,
                    "another key directory",
                    fail::RESUME,
                )
            })?;
        }
        output::write_file(&dir, name, content, Mode::Secret, overwrite).map_err(|e| {
            let path = dir.join(name);
            fail::write_failed(
                &format!("failed to write {}", path.display()),
                &path,
                &e,
                "another key directory",
                fail::RESUME,
            )
        })
    }

    /// Reads one station file; `None` when it does not exist.
    pub(crate) fn read(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match output::read_limited(path, MAX_STATION_FILE) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Fail::new(format!("failed to read {}: {e}", path.display()))),
        }
    }

    pub(crate) fn pin_path(&self, name: &ClusterName) -> PathBuf {
        self.clusters_dir().join(pin_file_name(name))
    }

    /// The pin named `name`, if there is one. The name inside the pin must be `name` exactly:
    /// a long name's file is named by a prefix and a hash of it.
    pub(crate) fn pin(&self, name: &ClusterName) -> Result<Option<ClusterPin>> {
        let path = self.pin_path(name);
        let damaged = |why: String| {
            Fail::new(format!("{}: {why}", path.display())).hint(
                "the station's pin is damaged: remove it with kcsr cluster remove and add it again",
            )
        };
        let Some(data) = self.read(&path)? else {
            return Ok(None);
        };
        let pin = ClusterPin::parse(&data).map_err(|e| damaged(e.to_string()))?;
        if pin.name != *name {
            return Err(damaged(format!(
                "holds the pin of cluster {:?}, not {name:?}",
                pin.name.as_str()
            )));
        }
        Ok(Some(pin))
    }

    /// Every pin, by name.
    pub(crate) fn pins(&self) -> Result<Vec<ClusterPin>> {
        let mut out = Vec::new();
        for stem in self.json_names(&self.clusters_dir())? {
            let path = self.clusters_dir().join(format!("{stem}.json"));
            // A file is a pin when the name inside it names that file: the long-name form is
            // read for its name, every other file only by the name it has.
            let name = match stem.parse::<ClusterName>() {
                Ok(n) => Some(n),
                Err(_) => self
                    .read(&path)?
                    .and_then(|d| ClusterPin::parse(&d).ok())
                    .map(|p| p.name),
            };
            if let Some(n) = name.filter(|n| pin_file_name(n) == format!("{stem}.json"))
                && let Some(p) = self.pin(&n)?
            {
                out.push(p);
            }
        }
        out.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        Ok(out)
    }

    /// The cluster a run's requests are for: the one asked for, else the only pin, else none
    /// (no pin at all: requests as before pins existed). Several pins and none asked for is an
    /// error naming them.
    pub(crate) fn target(&self, asked: Option<&ClusterName>) -> Result<Option<ClusterPin>> {
        if let Some(name) = asked {
            return match self.pin(name)? {
                Some(p) => Ok(Some(p)),
                None => Err(Fail::new(format!(
                    "no cluster named {name:?} is pinned in {}",
                    self.clusters_dir().display()
                ))
                .hint(self.pinned_hint()?)),
            };
        }
        let mut pins = self.pins()?;
        match pins.len() {
            0 | 1 => Ok(pins.pop()),
            _ => Err(Fail::new(format!(
                "{} clusters are pinned ({}); say which one the requests are for",
                pins.len(),
                pins.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .hint(format!(
                "add --cluster NAME, e.g. --cluster {}",
                pins[0].name
            ))),
        }
    }

    /// What is pinned, for a hint.
    fn pinned_hint(&self) -> Result<String> {
        let names: Vec<String> = self.pins()?.into_iter().map(|p| p.name.into()).collect();
        Ok(if names.is_empty() {
            "no cluster is pinned: pin it first with kcsr cluster add NAME --keys KEY_DIR …"
                .to_owned()
        } else {
            format!(
                "pinned: {}; pin another with kcsr cluster add",
                names.join(", ")
            )
        })
    }

    /// Removes a pin; an error naming the pins when there is none of that name.
    pub(crate) fn remove_pin(&self, name: &ClusterName) -> Result<PathBuf> {
        let path = self.pin_path(name);
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(
                Fail::new(format!("no cluster named {name:?} is pinned")).hint(self.pinned_hint()?)
            );
        }
        output::remove_file(&self.clusters_dir(), &pin_file_name(name))
            .map_err(|e| Fail::new(format!("failed to remove {}: {e}", path.display())))?;
        Ok(path)
    }

    pub(crate) fn save_pin(&self, pin: &ClusterPin) -> Result<PathBuf> {
        self.write(
            Some(CLUSTERS_DIR),
            &pin_file_name(&pin.name),
            &pin.to_json(),
        )
    }

    pub(crate) fn record_path(&self, object_name: &str) -> PathBuf {
        self.requests_dir().join(format!("{object_name}.json"))
    }

    /// The record of the request named `object_name`, if the station wrote one.
    pub(crate) fn record(&self, object_name: &str) -> Result<Option<RequestRecord>> {
        if object_name.parse::<kcsr_core::names::ObjectName>().is_err() {
            return Ok(None);
        }
        let path = self.record_path(object_name);
        self.read(&path)?
            .map(|d| {
                RequestRecord::parse(&d).map_err(|e| Fail::new(format!("{}: {e}", path.display())))
            })
            .transpose()
    }

    /// Every record (for renew's look-up by public key, and audits).
    /// The object names of every record, without reading them.
    pub(crate) fn record_names(&self) -> Result<Vec<String>> {
        self.json_names(&self.requests_dir())
    }

    pub(crate) fn records(&self) -> Result<Vec<RequestRecord>> {
        let mut out = Vec::new();
        for name in self.json_names(&self.requests_dir())? {
            if let Some(r) = self.record(&name)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub(crate) fn save_record(&self, record: &RequestRecord) -> Result<PathBuf> {
        self.write(
            Some(REQUESTS_DIR),
            &format!("{}.json", record.name),
            &record.to_json(),
        )
    }

    /// Moves `record` to `state` as of `at` (RFC 3339) and saves it (decision 0010).
    pub(crate) fn set_state(
        &self,
        record: &RequestRecord,
        state: RequestState,
        at: &str,
    ) -> Result<PathBuf> {
        let mut r = record.clone();
        r.state = state;
        r.state_at = Some(at.to_owned());
        self.save_record(&r)
    }

    /// Makes sure the station holds `record` before its manifest reaches the media. A record
    /// of the same request (name, key and manifest) is kept as it is, so re-runs neither
    /// duplicate nor rewrite it. Returns the record's path and whether it was written.
    pub(crate) fn ensure_record(&self, record: &RequestRecord) -> Result<(PathBuf, bool)> {
        if self.holds(record)? {
            return Ok((self.record_path(&record.name), false));
        }
        self.save_record(record).map(|p| (p, true))
    }

    /// Whether the station already holds a record of this request.
    pub(crate) fn holds(&self, record: &RequestRecord) -> Result<bool> {
        // A damaged record is replaced by the one for the request being written.
        Ok(self.record(&record.name).ok().flatten().is_some_and(|r| {
            r.public_key_sha256 == record.public_key_sha256
                && r.manifest_sha256 == record.manifest_sha256
        }))
    }

    /// The stems of `*.json` files in `dir` (none when it does not exist).
    fn json_names(&self, dir: &Path) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Fail::new(format!("failed to list {}: {e}", dir.display()))),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| Fail::new(format!("failed to list {}: {e}", dir.display())))?;
            if let Some(stem) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|s| !s.is_empty() && !s.starts_with('.'))
            {
                names.push(stem.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// The longest pin name whose file is `<NAME>.json` within the 255 bytes of a file name.
const PIN_NAME_MAX: usize = 255 - ".json".len();

/// The file of the pin named `name` in `station/clusters/`: `<NAME>.json`, or for a name too
/// long for that (a DNS-1123 subdomain may have 253 characters), its first 200 characters, `_`
/// and 32 hex digits of the name's SHA-256. `_` is never in a cluster name, so no name's plain
/// file is another's long form; the pin holds its real name, checked on every read.
pub(crate) fn pin_file_name(name: &ClusterName) -> String {
    let name = name.as_str();
    if name.len() <= PIN_NAME_MAX {
        return format!("{name}.json");
    }
    let hash = kcsr_core::digest::sha256_hex(name.as_bytes());
    format!("{}_{}.json", &name[..200], &hash[..32])
}

/// Of `records`, the newest of a request for the key with this SHA-256 (`publicKeySha256`):
/// with `--reuse-key` renewals, one key has several.
pub(crate) fn newest_for_key<'a>(
    records: &'a [RequestRecord],
    public_key_sha256: &str,
) -> Option<&'a RequestRecord> {
    let time = |r: &RequestRecord| kcsr_core::time::parse_rfc3339(&r.created).unwrap_or(i64::MIN);
    records
        .iter()
        .filter(|r| r.public_key_sha256 == public_key_sha256)
        .max_by_key(|r| time(r))
}
