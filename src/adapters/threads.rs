//! The threads the domain's parallel work runs on (`domain::parallel::Spawn`).

/// The main thread's stack (8 MiB) rather than a worker's default 2 MiB: parsing bounds
/// nesting, and this keeps the margin the same on every thread.
const WORKER_STACK: usize = 8 << 20;

/// OS threads, scoped to the call.
pub struct Threads;

impl crate::domain::parallel::Spawn for Threads {
    fn run(&self, count: usize, job: &(dyn Fn() + Sync)) {
        std::thread::scope(|scope| {
            for _ in 0..count {
                std::thread::Builder::new()
                    .stack_size(WORKER_STACK)
                    .spawn_scoped(scope, job)
                    .expect("a worker thread can be started");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::parallel::{Sequential, map};

    #[test]
    fn the_parallel_map_keeps_order_whatever_the_thread_count() {
        let items: Vec<u32> = (0..1000).collect();
        let doubled: Vec<u32> = items.iter().map(|n| n * 2).collect();
        for threads in [1, 2, 3, 8] {
            assert_eq!(
                map(&items, (threads, &super::Threads), || (), |(), n| n * 2),
                doubled
            );
        }
        assert_eq!(map(&items, (4, &Sequential), || (), |(), n| n * 2), doubled);
    }
}
