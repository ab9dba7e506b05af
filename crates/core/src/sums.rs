//! `SHA256SUMS`: the media's manifest of files, in the format `sha256sum -c` verifies.

use std::collections::BTreeMap;

use crate::digest;
use crate::file_name::is_safe_file_name;

/// The file name on the media.
pub const FILE_NAME: &str = "SHA256SUMS";

/// The parsed checksum file: file name -> SHA-256.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums {
    entries: BTreeMap<String, [u8; 32]>,
}

/// A malformed `SHA256SUMS` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SHA256SUMS line {line}: {why}")]
pub struct SumsError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub why: String,
}

/// A difference between `SHA256SUMS` and the files present.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// Listed but not present.
    Missing {
        /// File name.
        file: String,
    },
    /// Present but not listed.
    Extra {
        /// File name.
        file: String,
    },
    /// Present and listed with another digest.
    Changed {
        /// File name.
        file: String,
        /// Listed digest.
        expected: String,
        /// Actual digest.
        actual: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { file } => write!(f, "{file}: listed in SHA256SUMS but missing"),
            Self::Extra { file } => write!(f, "{file}: present but not listed in SHA256SUMS"),
            Self::Changed {
                file,
                expected,
                actual,
            } => write!(
                f,
                "{file}: content changed (SHA256SUMS says {expected}, the file is {actual})"
            ),
        }
    }
}

impl Sums {
    /// Reads the text of a `SHA256SUMS` file. Lines are `<64 hex>  <name>` (text mode) or
    /// `<64 hex> *<name>` (binary mode); names must be plain media file names.
    pub fn parse(data: &[u8]) -> Result<Self, SumsError> {
        let text = std::str::from_utf8(data).map_err(|_| SumsError {
            line: 0,
            why: "the file is not UTF-8 text".to_owned(),
        })?;
        let mut entries = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.is_empty() {
                continue;
            }
            let err = |why: &str| SumsError {
                line: n,
                why: why.to_owned(),
            };
            let (hex, rest) = line
                .split_at_checked(64)
                .ok_or_else(|| err("expected 64 hex digits, two spaces and a file name"))?;
            let sum = digest::parse_sha256_hex(hex)
                .ok_or_else(|| err("expected 64 hex digits at the start of the line"))?;
            let name = rest
                .strip_prefix("  ")
                .or_else(|| rest.strip_prefix(" *"))
                .ok_or_else(|| err("expected two spaces between the digest and the file name"))?;
            if !is_safe_file_name(name) {
                return Err(err(&format!(
                    "file name {name:?} is not a plain media file name (letters, digits, '.', '-', '_'; no '/' or leading '.')"
                )));
            }
            if entries.insert(name.to_owned(), sum).is_some() {
                return Err(err(&format!("{name:?} is listed twice")));
            }
        }
        Ok(Self { entries })
    }

    /// The text, sorted by file name, each line `<hex>  <name>`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, sum) in &self.entries {
            out.push_str(&digest::hex(sum));
            out.push_str("  ");
            out.push_str(name);
            out.push('\n');
        }
        out
    }

    /// Records `name` with the digest of `content`.
    pub fn insert(&mut self, name: &str, content: &[u8]) {
        self.entries
            .insert(name.to_owned(), digest::sha256(content));
    }

    /// Records `name` with a digest computed elsewhere.
    pub fn insert_digest(&mut self, name: &str, digest: [u8; 32]) {
        self.entries.insert(name.to_owned(), digest);
    }

    /// Forgets `name`.
    pub fn remove(&mut self, name: &str) {
        self.entries.remove(name);
    }

    /// The digest listed for `name`.
    pub fn get(&self, name: &str) -> Option<&[u8; 32]> {
        self.entries.get(name)
    }

    /// Whether `name` is listed with exactly the digest of `content`.
    pub fn matches(&self, name: &str, content: &[u8]) -> bool {
        self.get(name) == Some(&digest::sha256(content))
    }

    /// Listed file names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Compares with the files present (`name -> digest`, excluding `SHA256SUMS` itself).
    pub fn compare(&self, present: &BTreeMap<String, [u8; 32]>) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (name, expected) in &self.entries {
            match present.get(name) {
                None => problems.push(Problem::Missing { file: name.clone() }),
                Some(actual) if actual != expected => problems.push(Problem::Changed {
                    file: name.clone(),
                    expected: digest::hex(expected),
                    actual: digest::hex(actual),
                }),
                Some(_) => {}
            }
        }
        for name in present.keys() {
            if !self.entries.contains_key(name) {
                problems.push(Problem::Extra { file: name.clone() });
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_compares() {
        let mut s = Sums::default();
        s.insert("b.csr.yaml", b"b");
        s.insert("a.csr.yaml", b"a");
        let text = s.render();
        assert!(text.starts_with(&format!("{}  a.csr.yaml\n", digest::sha256_hex(b"a"))));
        assert_eq!(Sums::parse(text.as_bytes()).unwrap(), s);
        let mut present = BTreeMap::new();
        present.insert("a.csr.yaml".to_owned(), digest::sha256(b"A"));
        present.insert("c.crt".to_owned(), digest::sha256(b"c"));
        let problems = s.compare(&present);
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn refuses_paths_and_garbage() {
        let h = digest::sha256_hex(b"x");
        for bad in [
            format!("{h}  ../etc/passwd\n"),
            format!("{h}  a/b\n"),
            format!("{h} a\n"),
            "nothex  a\n".to_owned(),
            format!("{h}  a\n{h}  a\n"),
        ] {
            assert!(Sums::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(Sums::parse(format!("{h} *a.crt\n").as_bytes()).is_ok());
    }
}
