//! Keys in PKCS#11 tokens (decisions 0011, 0012): load the module a URI names, find its one token,
//! log in, find or generate the key object, and sign with it. The private key never leaves
//! the token: kcsr reads its public half and asks for signatures. The PIN comes from the URI's
//! `pin-source` file or a no-echo prompt, lives in a zeroizing `AuthPin`, and is never
//! printed, logged or written. Used by `kcsr` (requests, verify, renew) and `kcsr-agent`
//! (TLS signatures for kubectl); no networking here.

mod error;
mod generate;
mod key;
mod login;
mod session;
mod sign;
mod slot;

pub use error::{Error, ErrorKind, Result};
pub use generate::NewKey;
pub use key::{KeyAttributes, TokenKey};
pub use login::Logins;
pub use session::Token;
pub use sign::RawMechanism;
