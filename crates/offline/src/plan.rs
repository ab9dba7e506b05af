//! One user's request, shared by `kcsr request`, `kcsr batch` and `kcsr renew`: the parsed
//! spec ([`spec`]), the CSR, its checks and manifests ([`build`]), the key files ([`keys`]),
//! how they compare with what the media holds and writing them there ([`media`]), and the
//! station's record ([`record`]).

pub(crate) use build::{Built, build, build_from_csr, precheck};
pub(crate) use keys::{key_file, key_pem, load_key, obtain_key, read_key, write_key};
pub(crate) use media::{Existing, MediaState, media_state, refuse_other_request, write_media};
pub(crate) use record::record;
pub(crate) use spec::{
    EXTERNAL_CSR, KeySource, Spec, Stamp, base_stem, expiration, grants, operator, signer,
};

mod build;
mod keys;
mod media;
mod record;
mod spec;
