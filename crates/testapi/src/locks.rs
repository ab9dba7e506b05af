//! Locking that survives a panicking thread.

use std::sync::{Mutex, MutexGuard};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread must not take the server down with it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
