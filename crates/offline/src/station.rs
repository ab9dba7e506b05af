//! The station's files in the key directory (decision 0009): where they live, and reading and
//! writing pins and request records. Every write goes through kcsr-fs (0600, atomic, fsynced).

use std::path::{Path, PathBuf};

use kcsr_core::station::{ClusterName, ClusterPin, RequestRecord};
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
        output::write_file(&dir, name, text.as_bytes(), Mode::Secret, Overwrite::Allow).map_err(
            |e| {
                let path = dir.join(name);
                fail::write_failed(
                    &format!("failed to write {}", path.display()),
                    &path,
                    &e,
                    "another key directory",
                    fail::RESUME,
                )
            },
        )
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
        self.clusters_dir().join(format!("{name}.json"))
    }

    /// The pin named `name`, if there is one.
    pub(crate) fn pin(&self, name: &ClusterName) -> Result<Option<ClusterPin>> {
        let path = self.pin_path(name);
        self.read(&path)?
            .map(|d| {
                ClusterPin::parse(&d).map_err(|e| {
                    Fail::new(format!("{}: {e}", path.display())).hint(
                        "the station's pin is damaged: remove it with kcsr cluster remove and add it again",
                    )
                })
            })
            .transpose()
    }

    /// Every pin, by name.
    pub(crate) fn pins(&self) -> Result<Vec<ClusterPin>> {
        let mut out = Vec::new();
        for name in self.json_names(&self.clusters_dir())? {
            if let Ok(n) = name.parse::<ClusterName>()
                && let Some(p) = self.pin(&n)?
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    pub(crate) fn save_pin(&self, pin: &ClusterPin) -> Result<PathBuf> {
        self.write(
            Some(CLUSTERS_DIR),
            &format!("{}.json", pin.name),
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
