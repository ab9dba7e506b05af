//! The errno values kcsr-fs decides on, by name: the numbers differ between Unix systems
//! (EDQUOT is 122 on Linux, 69 on macOS and the BSDs), and rustix knows each platform's.

use rustix::io::Errno;

pub(crate) const EPERM: i32 = Errno::PERM.raw_os_error();
pub(crate) const EINVAL: i32 = Errno::INVAL.raw_os_error();
pub(crate) const ENOSPC: i32 = Errno::NOSPC.raw_os_error();
pub(crate) const EROFS: i32 = Errno::ROFS.raw_os_error();
pub(crate) const ENOSYS: i32 = Errno::NOSYS.raw_os_error();
pub(crate) const EOPNOTSUPP: i32 = Errno::OPNOTSUPP.raw_os_error();
pub(crate) const EDQUOT: i32 = Errno::DQUOT.raw_os_error();
#[cfg(test)]
pub(crate) const EIO: i32 = Errno::IO.raw_os_error();
#[cfg(test)]
pub(crate) const ENOENT: i32 = Errno::NOENT.raw_os_error();
