//! Process-wide hardening both binaries apply first thing in `main`.

use std::io;

/// Sets the core-file size limit, soft and hard, to 0: a crash (or a `kill -QUIT`) must not
/// write the memory of a process holding private keys, passphrases or cluster credentials to
/// a core file, and the hard limit keeps it from being raised again.
pub fn disable_core_dumps() -> io::Result<()> {
    #[cfg(unix)]
    rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_core_limit_is_zero_afterwards() {
        super::disable_core_dumps().unwrap();
        let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
    }
}
