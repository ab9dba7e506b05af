//! The `CertificateSigningRequest` manifest that travels on the media (reference §2).
//!
//! kcsr writes only what a client may set: `metadata.name`, labels and annotations, and
//! `spec.request`, `spec.signerName`, `spec.usages`, `spec.expirationSeconds`. Never
//! `spec.username`/`groups`/`uid`/`extra`: the API server overwrites them from the
//! credential that creates the object (reference §4.1).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::csr::{self, CsrInfo};
use crate::expiry::Expiration;
use crate::names::ObjectName;
// In their own leaf module: binding manifests (`rbac`) have them too, and manifests read bindings.
pub use crate::object_meta::{MANAGED_BY_LABEL, ObjectMeta};
use crate::rbac::BindingManifest;
use crate::signer::SignerName;
use crate::usage::Usage;
use crate::{digest, yaml};

mod ticket;

pub use ticket::{MAX_TICKET_CHARS, Operator, Ticket};

/// The API group of CSRs.
pub const GROUP: &str = "certificates.k8s.io";
/// The kind.
pub const KIND: &str = "CertificateSigningRequest";
/// Annotation: the kcsr version that wrote the manifest.
pub const VERSION_ANNOTATION: &str = "kcsr.dev/version";
/// Annotation: SHA-256 of the request's public key (DER SubjectPublicKeyInfo).
pub const FINGERPRINT_ANNOTATION: &str = "kcsr.dev/public-key-sha256";
/// When the station wrote the request, RFC 3339 (signed with the media, see decision 0009).
pub const CREATED_ANNOTATION: &str = "kcsr.dev/created";
/// After this time (RFC 3339) the connected side refuses the request: freshness, not authority.
pub const NOT_AFTER_ANNOTATION: &str = "kcsr.dev/not-after";
/// The bindings the station asked for, as [`crate::rbac::Grant`]'s text forms separated by `,`
/// in the order asked ([`crate::rbac::Grant::join`]); absent when the request asks for none.
pub const GRANT_ANNOTATION: &str = "kcsr.dev/grant";
/// The change ticket the request was made for (decision 0010).
pub const TICKET_ANNOTATION: &str = "kcsr.dev/ticket";
/// Who ran kcsr on the station (decision 0010).
pub const OPERATOR_ANNOTATION: &str = "kcsr.dev/operator";
/// The name of the station's pin of the cluster the request is for; absent without a pin.
pub const CLUSTER_ANNOTATION: &str = "kcsr.dev/cluster";
/// The pinned server CA fingerprints (`sha256:HEX`, comma-separated) of that cluster.
pub const CLUSTER_CA_ANNOTATION: &str = "kcsr.dev/cluster-ca-sha256";

/// Which `certificates.k8s.io` version a manifest targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    /// `certificates.k8s.io/v1` (Kubernetes 1.19 and later; the only one from 1.22).
    V1,
    /// `certificates.k8s.io/v1beta1` (removed in 1.22): signer optional, no expirationSeconds.
    V1beta1,
}

impl ApiVersion {
    /// `certificates.k8s.io/v1` or `certificates.k8s.io/v1beta1`.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::V1 => "certificates.k8s.io/v1",
            Self::V1beta1 => "certificates.k8s.io/v1beta1",
        }
    }

    /// `v1` or `v1beta1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V1beta1 => "v1beta1",
        }
    }
}

impl std::str::FromStr for ApiVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v1" | "certificates.k8s.io/v1" => Ok(Self::V1),
            "v1beta1" | "certificates.k8s.io/v1beta1" => Ok(Self::V1beta1),
            other => Err(format!(
                "unknown API version {other:?}; use v1 (Kubernetes 1.19+) or v1beta1 (before 1.22)"
            )),
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `spec` of a CSR manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CsrSpec {
    /// base64 of the PEM CSR.
    #[serde(default)]
    pub request: String,
    /// Signer; optional only in v1beta1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_name: Option<String>,
    /// Requested lifetime in seconds (v1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
    /// Requested usages.
    #[serde(default)]
    pub usages: Vec<String>,
    /// Set by the server; present only in manifests copied from a cluster.
    #[serde(default, skip_serializing)]
    pub username: Option<String>,
    /// Set by the server.
    #[serde(default, skip_serializing)]
    pub uid: Option<String>,
    /// Set by the server.
    #[serde(default, skip_serializing)]
    pub groups: Option<Vec<String>>,
    /// Set by the server.
    #[serde(default, skip_serializing)]
    pub extra: Option<serde_json::Value>,
}

/// A `CertificateSigningRequest` manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CsrManifest {
    /// `certificates.k8s.io/v1` or `/v1beta1`.
    pub api_version: String,
    /// `CertificateSigningRequest`.
    pub kind: String,
    /// Name, labels, annotations.
    pub metadata: ObjectMeta,
    /// The request.
    pub spec: CsrSpec,
}

/// Everything needed to write a CSR manifest.
#[derive(Debug, Clone)]
pub struct NewCsrManifest<'a> {
    /// Target API version.
    pub api_version: ApiVersion,
    /// Object name.
    pub name: &'a ObjectName,
    /// The signed CSR.
    pub csr: &'a CsrInfo,
    /// Signer; `None` only for v1beta1 (the server then picks one, reference §1).
    pub signer: Option<&'a SignerName>,
    /// Usages.
    pub usages: &'a [Usage],
    /// Lifetime (v1 only).
    pub expiration: Option<Expiration>,
}

impl CsrManifest {
    /// Builds the manifest kcsr writes.
    pub fn new(n: &NewCsrManifest<'_>) -> Self {
        let mut labels = BTreeMap::new();
        labels.insert(MANAGED_BY_LABEL.to_owned(), "kcsr".to_owned());
        let mut annotations = BTreeMap::new();
        annotations.insert(VERSION_ANNOTATION.to_owned(), crate::VERSION.to_owned());
        annotations.insert(
            FINGERPRINT_ANNOTATION.to_owned(),
            n.csr.public_key.fingerprint.clone(),
        );
        Self {
            api_version: n.api_version.api_version().to_owned(),
            kind: KIND.to_owned(),
            metadata: ObjectMeta {
                name: n.name.as_str().to_owned(),
                namespace: None,
                labels,
                annotations,
            },
            spec: CsrSpec {
                request: STANDARD.encode(n.csr.to_pem()),
                signer_name: n.signer.map(|s| s.as_str().to_owned()),
                expiration_seconds: match n.api_version {
                    ApiVersion::V1 => n.expiration.map(Expiration::seconds),
                    ApiVersion::V1beta1 => None,
                },
                usages: n.usages.iter().map(|u| u.as_str().to_owned()).collect(),
                ..CsrSpec::default()
            },
        }
    }

    /// The manifest as YAML that `kubectl apply -f` accepts.
    pub fn to_yaml(&self) -> Result<String, yaml::YamlError> {
        yaml::to_string(self)
    }

    /// Which API version it targets, if a known one.
    pub fn version(&self) -> Option<ApiVersion> {
        self.api_version.parse().ok()
    }

    /// Decodes `spec.request` (base64 of PEM) and reads the CSR.
    pub fn decode_request(&self) -> Result<CsrInfo, ManifestError> {
        let pem = STANDARD
            .decode(self.spec.request.trim())
            .map_err(|_| ManifestError::Field {
                field: "spec.request",
                value: abbreviate(&self.spec.request),
                why: "is not base64".to_owned(),
            })?;
        if !crate::pem::looks_like_pem(&pem) {
            return Err(ManifestError::Field {
                field: "spec.request",
                value: abbreviate(&self.spec.request),
                why: "must be base64 of the PEM text (-----BEGIN CERTIFICATE REQUEST-----), not of DER: the API server rejects DER".to_owned(),
            });
        }
        csr::parse(&pem).map_err(|e| ManifestError::Field {
            field: "spec.request",
            value: abbreviate(&self.spec.request),
            why: e.to_string(),
        })
    }

    /// The signer as parsed, or the error for `spec.signerName`.
    pub fn signer(&self) -> Result<Option<SignerName>, ManifestError> {
        self.spec
            .signer_name
            .as_deref()
            .map(|s| {
                s.parse()
                    .map_err(|e: crate::signer::SignerError| ManifestError::Field {
                        field: "spec.signerName",
                        value: s.to_owned(),
                        why: e.to_string(),
                    })
            })
            .transpose()
    }

    /// The usages as parsed, or the error for the first unknown one.
    pub fn usages(&self) -> Result<Vec<Usage>, ManifestError> {
        self.spec
            .usages
            .iter()
            .enumerate()
            .map(|(i, u)| {
                u.parse()
                    .map_err(|e: crate::usage::UsageError| ManifestError::Usage {
                        index: i,
                        why: e.to_string(),
                    })
            })
            .collect()
    }
}

/// What went wrong with a manifest's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// A field has a bad value.
    #[error("{field}: {value:?} {why}")]
    Field {
        /// The field path.
        field: &'static str,
        /// The value (long values abbreviated).
        value: String,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// A bad entry in spec.usages.
    #[error("spec.usages[{index}]: {why}")]
    Usage {
        /// Index in the list.
        index: usize,
        /// The problem.
        why: String,
    },
    /// The YAML did not parse.
    #[error("{0}")]
    Yaml(#[from] yaml::YamlError),
    /// A document of an unexpected kind.
    #[error(
        "document {index}: kind {kind:?} apiVersion {api_version:?} is not a CertificateSigningRequest, ClusterRoleBinding or RoleBinding"
    )]
    UnknownKind {
        /// 1-based document index.
        index: usize,
        /// Its kind.
        kind: String,
        /// Its apiVersion.
        api_version: String,
    },
    /// A document whose fields do not match its kind.
    #[error("document {index} ({kind}): {why}")]
    Shape {
        /// 1-based document index.
        index: usize,
        /// Its kind.
        kind: String,
        /// What serde said.
        why: String,
    },
}

fn abbreviate(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_owned()
    } else {
        let head: String = s.chars().take(32).collect();
        format!("{head}…")
    }
}

/// One document of a manifest file.
#[derive(Debug, Clone)]
pub enum Document {
    /// A CSR.
    Csr(CsrManifest),
    /// A ClusterRoleBinding or RoleBinding.
    Binding(BindingManifest),
}

/// Reads every document of a manifest file (YAML or JSON, multi-document).
pub fn parse_documents(data: &[u8]) -> Result<Vec<Document>, ManifestError> {
    let values: Vec<serde_json::Value> = yaml::parse_documents(data, yaml::Snippets::Show)?;
    let mut out = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        if v.is_null() {
            continue; // an empty document (`---` at the end)
        }
        let kind = v
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_owned();
        let api_version = v
            .get("apiVersion")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_owned();
        let shape = |e: serde_json::Error| ManifestError::Shape {
            index: i + 1,
            kind: kind.clone(),
            why: e.to_string(),
        };
        let group = api_version.split('/').next().unwrap_or("");
        match (kind.as_str(), group) {
            (KIND, GROUP) => out.push(Document::Csr(serde_json::from_value(v).map_err(shape)?)),
            ("ClusterRoleBinding" | "RoleBinding", crate::rbac::GROUP) => {
                out.push(Document::Binding(serde_json::from_value(v).map_err(shape)?));
            }
            _ => {
                return Err(ManifestError::UnknownKind {
                    index: i + 1,
                    kind,
                    api_version,
                });
            }
        }
    }
    Ok(out)
}

/// Inputs of the default object name.
#[derive(Debug, Clone)]
pub struct NameInputs<'a> {
    /// File-name stem of the user ([`crate::names::slug`]).
    pub user_slug: &'a str,
    /// The public key's DER SPKI.
    pub spki_der: &'a [u8],
    /// CN and O values and SANs, as requested.
    pub subject: &'a [String],
    /// Signer, if any.
    pub signer: Option<&'a SignerName>,
    /// Usages.
    pub usages: &'a [Usage],
    /// Lifetime.
    pub expiration: Option<Expiration>,
    /// API version.
    pub api_version: ApiVersion,
    /// The station's pin the request is for: the same user and key asked of two clusters are
    /// two requests, with two names and two records.
    pub cluster: Option<&'a str>,
}

/// The deterministic default object name: `<user slug>-<10 hex digits>`, a hash of the public
/// key and every request parameter, so re-submitting the same request finds the same object
/// and a changed request never collides with the old one.
pub fn default_object_name(n: &NameInputs<'_>) -> ObjectName {
    let mut canon = String::from("kcsr-object-name-v1\n");
    canon.push_str(&digest::hex(n.spki_der));
    for s in n.subject {
        canon.push('\n');
        canon.push_str(s);
    }
    canon.push_str(&format!(
        "\nsigner={}\nusages={}\nexpiration={}\napi={}\n",
        n.signer.map(SignerName::as_str).unwrap_or("-"),
        n.usages
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>()
            .join(","),
        n.expiration.map(|e| e.seconds()).unwrap_or(0),
        n.api_version.as_str()
    ));
    // Only when pinned, so that names of requests without a cluster stay what they were.
    if let Some(c) = n.cluster {
        canon.push_str(&format!("cluster={c}\n"));
    }
    let hash = &digest::sha256_hex(canon.as_bytes())[..10];
    let name = format!("{}-{hash}", n.user_slug);
    // The slug is a DNS-1123 label of at most 47 characters and the suffix is hex, so the
    // result is always a valid subdomain; fall back to the hash alone if that ever changes.
    name.parse()
        .unwrap_or_else(|_| ObjectName::from_trusted(format!("kcsr-{hash}")))
}
