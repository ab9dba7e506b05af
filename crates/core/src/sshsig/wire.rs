//! The SSH wire encoding (RFC 4251 §5) of keys and signatures.

use super::error::SshSigError;

/// The only key and signature type kcsr signs and verifies with.
pub(super) const ED25519_NAME: &str = "ssh-ed25519";

/// Appends an SSH `string`: a big-endian u32 length, then the bytes.
pub(super) fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s);
}

/// At most 64 printable ASCII characters of `b`, for messages about hostile input.
pub(super) fn printable(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(64)
        .collect()
}

/// Reads SSH wire data (RFC 4251 §5) front to back.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], SshSigError> {
        if self.0.len() < n {
            return Err(SshSigError::Format("truncated".into()));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    pub(super) fn u32(&mut self) -> Result<u32, SshSigError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn string(&mut self) -> Result<&'a [u8], SshSigError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub(super) fn end(&self) -> Result<(), SshSigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SshSigError::Format(format!(
                "{} trailing bytes",
                self.0.len()
            )))
        }
    }
}
