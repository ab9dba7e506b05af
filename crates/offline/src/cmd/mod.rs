pub(crate) mod inspect;
pub(crate) mod request;
pub(crate) mod verify;
