//! An order-keeping parallel map over a slice, with a shared work queue.
//!
//! Files differ wildly in cost (a 5 MB registry beside 30,000 small prompts), so workers take
//! small batches from a shared counter instead of fixed halves: nobody waits on one slow chunk.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Items a worker takes at a time: small enough to balance, large enough to keep the counter
/// out of the profile.
const BATCH: usize = 32;

const WORKER_STACK: usize = 8 << 20;

/// `f` applied to every item, results in item order. Each worker builds its own state once
/// with `init` (a template environment, say).
pub fn map<T, R, S>(
    items: &[T],
    threads: usize,
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
    let mut batches: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                // The main thread's stack (8 MiB) rather than a worker's default 2 MiB: parsing
                // bounds nesting, and this keeps the margin the same on every thread.
                std::thread::Builder::new()
                    .stack_size(WORKER_STACK)
                    .spawn_scoped(scope, || {
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
                        done
                    })
                    .expect("a worker thread can be started")
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a worker does not panic"))
            .collect()
    });
    batches.sort_unstable_by_key(|(start, _)| *start);
    batches
        .into_iter()
        .flat_map(|(_, results)| results)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_whatever_the_thread_count() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 3, 8] {
            let doubled = super::map(&items, threads, || (), |(), n| n * 2);
            assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        }
    }
}
