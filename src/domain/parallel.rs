//! An order-keeping parallel map over a slice, with a shared work queue.
//!
//! Files differ wildly in cost (a 5 MB registry beside 30,000 small prompts), so workers take
//! small batches from a shared counter instead of fixed halves: nobody waits on one slow chunk.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Items a worker takes at a time: small enough to balance, large enough to keep the counter
/// out of the profile.
const BATCH: usize = 32;

/// Runs one job on several threads at once and waits for them all. The domain starts no
/// thread of its own: the edges hand it one of these (`adapters::threads::Threads`), and
/// whatever runs without threads hands it [`Sequential`].
pub trait Spawn: Sync {
    /// Runs `job` on `count` threads at once; returns when every one of them has returned.
    fn run(&self, count: usize, job: &(dyn Fn() + Sync));
}

/// No thread: the job runs once, here (and so takes every item itself).
pub struct Sequential;

impl Spawn for Sequential {
    fn run(&self, _count: usize, job: &(dyn Fn() + Sync)) {
        job();
    }
}

/// `f` applied to every item, results in item order. Each worker builds its own state once
/// with `init` (a template environment, say).
pub fn map<T, R, S>(
    items: &[T],
    (threads, spawn): (usize, &dyn Spawn),
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    if threads <= 1 || items.len() <= BATCH {
        let mut state = init();
        return items.iter().map(|item| f(&mut state, item)).collect();
    }
    let next = AtomicUsize::new(0);
    let finished: Mutex<Vec<(usize, Vec<R>)>> = Mutex::new(Vec::new());
    spawn.run(threads, &|| {
        let mut state = init();
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(BATCH, Ordering::Relaxed);
            if start >= items.len() {
                break;
            }
            let end = (start + BATCH).min(items.len());
            done.push((
                start,
                items[start..end]
                    .iter()
                    .map(|item| f(&mut state, item))
                    .collect(),
            ));
        }
        finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(done);
    });
    let mut batches = finished
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    batches.sort_unstable_by_key(|(start, _)| *start);
    batches
        .into_iter()
        .flat_map(|(_, results)| results)
        .collect()
}
