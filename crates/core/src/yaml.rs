//! YAML in and out, with bounds: every reader of outside YAML goes through [`parse_documents`].

use serde::Serialize;
use serde::de::DeserializeOwned;
/// A value with the line and column it was read from.
pub use serde_saphyr::Spanned;

/// Largest YAML file kcsr reads. Real manifests are a few KiB; bundles and kubeconfigs tens.
pub const MAX_YAML_BYTES: usize = 4 << 20;

/// Why YAML could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum YamlError {
    /// Over [`MAX_YAML_BYTES`].
    #[error("the file is {size} bytes; YAML larger than {max} bytes is refused")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not UTF-8 (or contains NUL).
    #[error("the file is not UTF-8 text")]
    NotText,
    /// Syntax, structure, type or budget error, with line and column.
    #[error("{0}")]
    Parse(String),
    /// Serialization failed.
    #[error("could not write YAML: {0}")]
    Write(String),
}

/// Whether error messages may quote the offending YAML text. Off for files that may hold
/// secrets (kubeconfigs), on for media files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snippets {
    /// Quote the offending line.
    Show,
    /// Never quote file content.
    Hide,
}

fn options(snippets: Snippets) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    // Kubernetes manifests and kubeconfigs never need aliases; a few are allowed for
    // hand-written files, far below anything that could expand.
    budget.max_aliases = 64;
    budget.max_anchors = 64;
    budget.max_depth = 32;
    budget.max_nodes = 100_000;
    budget.max_documents = 1_000;
    budget.max_total_scalar_bytes = MAX_YAML_BYTES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.with_snippet = snippets == Snippets::Show;
    options
}

fn text(data: &[u8]) -> Result<&str, YamlError> {
    if data.len() > MAX_YAML_BYTES {
        return Err(YamlError::TooLarge {
            size: data.len(),
            max: MAX_YAML_BYTES,
        });
    }
    let text = std::str::from_utf8(data).map_err(|_| YamlError::NotText)?;
    if text.contains('\0') {
        return Err(YamlError::NotText);
    }
    Ok(text)
}

/// Reads every document of a (possibly multi-document) YAML or JSON stream.
pub fn parse_documents<T: DeserializeOwned>(
    data: &[u8],
    snippets: Snippets,
) -> Result<Vec<T>, YamlError> {
    let text = text(data)?;
    serde_saphyr::from_str_multiple_with_options::<T, Vec<T>>(text, options(snippets))
        .map_err(|e| YamlError::Parse(e.to_string()))
}

/// Reads exactly one YAML or JSON document.
pub fn parse_one<T: DeserializeOwned>(data: &[u8], snippets: Snippets) -> Result<T, YamlError> {
    let text = text(data)?;
    serde_saphyr::from_str_with_options(text, options(snippets))
        .map_err(|e| YamlError::Parse(e.to_string()))
}

/// Writes one document. Long strings (base64 requests) stay on one plain line, as kubectl
/// writes them, rather than folded blocks.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(value, options)
        .map_err(|e| YamlError::Write(e.to_string()))
}
