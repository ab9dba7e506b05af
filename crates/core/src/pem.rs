//! A small, strict PEM reader and writer (RFC 7468), shared by every reader of outside data.
//!
//! Decoded bytes are held in [`Zeroizing`] buffers because a PEM block may be a private key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// One `-----BEGIN LABEL-----` … `-----END LABEL-----` block.
pub struct PemBlock {
    /// The label, e.g. `CERTIFICATE REQUEST`.
    pub label: String,
    /// The decoded DER.
    pub der: Zeroizing<Vec<u8>>,
    /// Whether the block carried RFC 1421 headers (`Proc-Type:` …), as legacy encrypted keys do.
    pub has_headers: bool,
}

impl std::fmt::Debug for PemBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The content may be a private key: show only its size.
        f.debug_struct("PemBlock")
            .field("label", &self.label)
            .field("der_len", &self.der.len())
            .finish()
    }
}

/// Why PEM text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// A BEGIN line without its END line.
    #[error("PEM block {label:?} starting on line {line} has no matching END line")]
    Unterminated {
        /// The label of the open block.
        label: String,
        /// 1-based line of the BEGIN line.
        line: usize,
    },
    /// The base64 body does not decode.
    #[error("PEM block {label:?} starting on line {line} is not valid base64")]
    Base64 {
        /// The label.
        label: String,
        /// 1-based line of the BEGIN line.
        line: usize,
    },
}

/// Whether `data` looks like PEM text (has a BEGIN line), as opposed to DER.
pub fn looks_like_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Reads every PEM block in `text`, in order. Text outside blocks is ignored, as Go's
/// `pem.Decode` does.
pub fn parse(text: &[u8]) -> Result<Vec<PemBlock>, PemError> {
    let text = String::from_utf8_lossy(text);
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let line = line.trim_end();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let label = label.to_owned();
        let end = format!("-----END {label}-----");
        let mut body = Zeroizing::new(String::new());
        let mut has_headers = false;
        let mut closed = false;
        for (_, inner) in lines.by_ref() {
            let inner = inner.trim();
            if inner == end {
                closed = true;
                break;
            }
            if inner.contains(':') {
                has_headers = true;
                continue;
            }
            body.push_str(inner);
        }
        if !closed {
            return Err(PemError::Unterminated { label, line: i + 1 });
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| PemError::Base64 {
                label: label.clone(),
                line: i + 1,
            })?;
        blocks.push(PemBlock {
            label,
            der: Zeroizing::new(der),
            has_headers,
        });
    }
    Ok(blocks)
}

/// Encodes `der` as one PEM block with 64-character lines and a trailing newline, the layout
/// Go's `pem.EncodeToMemory` and OpenSSL produce.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Labels under which private keys travel; any of them on the media is refused.
pub const PRIVATE_KEY_LABELS: [&str; 6] = [
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
];

/// Whether `data` contains a PEM private-key header anywhere, even in a malformed block.
pub fn contains_private_key_marker(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    text.contains("PRIVATE KEY-----")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_errors() {
        let pem = encode("CERTIFICATE REQUEST", &[1, 2, 3, 250]);
        let blocks = parse(format!("junk\n{pem}trailer").as_bytes()).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "CERTIFICATE REQUEST");
        assert_eq!(blocks[0].der.as_slice(), &[1, 2, 3, 250]);
        assert!(matches!(
            parse(b"-----BEGIN X-----\nAAAA\n"),
            Err(PemError::Unterminated { line: 1, .. })
        ));
        assert!(matches!(
            parse(b"-----BEGIN X-----\n!!!!\n-----END X-----\n"),
            Err(PemError::Base64 { .. })
        ));
        assert!(contains_private_key_marker(
            b"x\n-----BEGIN EC PRIVATE KEY-----\n"
        ));
        assert!(!contains_private_key_marker(pem.as_bytes()));
    }
}
