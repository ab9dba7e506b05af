pub(crate) mod assemble;
pub(crate) mod batch;
pub(crate) mod cluster;
pub(crate) mod inspect;
pub(crate) mod renew;
pub(crate) mod request;
pub(crate) mod station;
pub(crate) mod verify;
