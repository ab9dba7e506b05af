//! Bounded concurrency: requests run on a few worker threads.

use std::sync::Mutex;

/// How many requests are worked on at once where no `--parallel` says otherwise (fetch,
/// approve, deny, status; apply's `--parallel` default).
pub(super) const DEFAULT_PARALLEL: u16 = 4;

/// Runs `f` on every item with at most `n` threads.
pub(super) fn par_for_each<T: Send>(items: &mut [T], n: usize, f: impl Fn(&mut T) + Sync) {
    let n = n.clamp(1, items.len().max(1));
    if n == 1 {
        items.iter_mut().for_each(f);
        return;
    }
    let queue = Mutex::new(items.iter_mut());
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    match next {
                        Some(item) => f(item),
                        None => break,
                    }
                }
            });
        }
    });
}
