//! How commands run work: the threads that read files, and the small runtime a conversation
//! with a remote service (a registry, AWS) runs on.

/// Runs a conversation with a remote service (a registry, AWS) on a small runtime, which is
/// then let go without waiting for idle connections.
pub fn block_on<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(work);
    runtime.shutdown_background();
    result
}

/// Worker threads for reading and checking files.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
