//! Watch streams (reference §8): newline-delimited JSON events read as they arrive.

use std::io::{BufRead as _, BufReader, Read as _};
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::client_error::ClientError;
use crate::status::Status;

/// One watch event.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<T> {
    /// The object was created (or exists, for a watch without resourceVersion).
    Added(T),
    /// The object changed.
    Modified(T),
    /// The object was deleted; its last state.
    Deleted(T),
    /// A progress marker carrying only a resourceVersion.
    Bookmark {
        /// `metadata.resourceVersion`.
        resource_version: String,
    },
    /// An in-stream error, e.g. `410 Expired` for a too old resourceVersion.
    Error(Status),
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: serde_json::Value,
}

/// The events of one watch request, until the server ends the stream.
pub struct WatchStream<T> {
    reader: BufReader<ureq::BodyReader<'static>>,
    max_event_bytes: u64,
    path: String,
    done: bool,
    _marker: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for WatchStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream")
            .field("path", &self.path)
            .field("done", &self.done)
            .finish()
    }
}

impl<T: DeserializeOwned> WatchStream<T> {
    pub(crate) fn new(
        reader: ureq::BodyReader<'static>,
        max_event_bytes: u64,
        path: String,
    ) -> Self {
        Self {
            reader: BufReader::new(reader),
            max_event_bytes,
            path,
            done: false,
            _marker: PhantomData,
        }
    }

    fn decode_error(&self, message: String) -> ClientError {
        ClientError::Decode {
            method: "GET".into(),
            path: self.path.clone(),
            message,
        }
    }

    fn next_line(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        loop {
            let mut line = Vec::new();
            let read = (&mut self.reader)
                .take(self.max_event_bytes + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| self.decode_error(format!("the watch stream broke: {e}")))?;
            if read == 0 {
                return Ok(None);
            }
            if line.len() as u64 > self.max_event_bytes {
                return Err(self.decode_error(format!(
                    "a watch event is larger than {} bytes",
                    self.max_event_bytes
                )));
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(line));
        }
    }

    fn parse(&self, line: &[u8]) -> Result<WatchEvent<T>, ClientError> {
        let raw: RawEvent = serde_json::from_slice(line)
            .map_err(|e| self.decode_error(format!("a watch event is not JSON ({e})")))?;
        let object = |value: serde_json::Value| {
            serde_json::from_value::<T>(value)
                .map_err(|e| self.decode_error(format!("unexpected object in a watch event ({e})")))
        };
        Ok(match raw.kind.as_str() {
            "ADDED" => WatchEvent::Added(object(raw.object)?),
            "MODIFIED" => WatchEvent::Modified(object(raw.object)?),
            "DELETED" => WatchEvent::Deleted(object(raw.object)?),
            "BOOKMARK" => WatchEvent::Bookmark {
                resource_version: raw.object["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            },
            "ERROR" => WatchEvent::Error(serde_json::from_value(raw.object).map_err(|e| {
                self.decode_error(format!("an ERROR event without a Status ({e})"))
            })?),
            other => {
                return Err(self.decode_error(format!(
                    "unknown watch event type {:?}",
                    crate::sanitize::one_line(other)
                )));
            }
        })
    }
}

impl<T: DeserializeOwned> Iterator for WatchStream<T> {
    type Item = Result<WatchEvent<T>, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match self.next_line() {
            Ok(Some(line)) => self.parse(&line),
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}
