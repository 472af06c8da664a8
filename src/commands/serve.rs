//! `promptops serve`: load a release bundle once (refusing one that does not validate) and
//! serve it over HTTP until SIGTERM; `promptops healthcheck`: ask a local server if it is ready.

use crate::adapters::{self, http_server};
use crate::cli::{HealthcheckArgs, LogFormat, ServeArgs};
use crate::domain::bundle::{self, Bundle, RELEASE_FILE};
use crate::domain::layout;
use crate::domain::outcome::ServedOutcome;
use crate::domain::serve::Catalog;
use crate::exit::{ExitStatus, UserError};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::report::{self, Printer};
use crate::settings::Settings;

use super::Outcome;

/// Where `serve` listens and `healthcheck` asks when neither a flag nor `PROMPTOPS_LISTEN` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub fn run(
    settings: &Settings,
    args: &ServeArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let request_timeout = super::flags::duration(&args.request_timeout, "request-timeout")?;
    let config = http_server::ServerConfig {
        body_limit: args.body_limit,
        request_timeout,
        header_timeout: request_timeout,
        shutdown_timeout: super::flags::wait(&args.shutdown_timeout, "shutdown-timeout")?,
        log_json: args.log_format == LogFormat::Json,
    };
    let (_, catalog) = load_release(
        settings,
        args.bundle.as_ref().or(settings.bundle.as_ref()),
        printer,
        "not serving it",
    )?;
    if let Some(expected) = &settings.release
        && expected.trim() != catalog.release_id()
    {
        return Err(UserError::new(
            ExitStatus::Error,
            format!(
                "PROMPTOPS_RELEASE is {}, but the bundle is release {}; not serving it",
                expected.trim(),
                catalog.release_id()
            ),
        )
        .hint("the image's release id and its bundle disagree: build the image again (promptops image, or docker build with --build-arg RELEASE_ID=$(promptops bundle --out DIR))")
        .into());
    }
    let listen = args
        .listen
        .clone()
        .or_else(|| settings.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let release_id = catalog.release_id().to_owned();
    let tasks = catalog.tasks().count();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            args.threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
                .clamp(1, 256),
        )
        .enable_all()
        .build()?;
    let stopped = runtime.block_on(async {
        let listener = http_server::bind(&listen).await.map_err(|error| {
            UserError::new(
                ExitStatus::Error,
                format!("cannot listen on {listen}: {error}"),
            )
            .hint("use another --listen ADDR:PORT (port 0 picks a free one)")
        })?;
        let address = listener.local_addr()?;
        writeln!(
            printer.err,
            "promptops serve: release {release_id} ({tasks} task(s)) on http://{address}"
        )?;
        printer.err.flush()?;
        anyhow::Ok(http_server::run(listener, catalog, config, http_server::termination()).await?)
    })?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    if stopped.abandoned_connections {
        writeln!(
            printer.err,
            "promptops serve: stopped; requests still running after --shutdown-timeout were cut off"
        )?;
    } else {
        writeln!(printer.err, "promptops serve: stopped")?;
    }
    Ok(Outcome::Served(ServedOutcome {
        release_id,
        abandoned_connections: stopped.abandoned_connections,
    }))
}

/// The release `serve` and `image` ship: the bundle in `dir`, else the repository's, loaded
/// and checked as `serve` loads it (the findings are printed; `refusal` says what was not done).
pub(crate) fn load_release(
    settings: &Settings,
    dir: Option<&std::path::PathBuf>,
    printer: &mut Printer<'_>,
    refusal: &str,
) -> anyhow::Result<(Bundle, Catalog)> {
    let bundle = if let Some(dir) = dir {
        read_bundle(&settings.current_dir.join(dir))?
    } else {
        let root = super::repository::root(settings)?;
        let _threads = super::runtime::threads();
        let (inputs, analysis) = super::repository::scan(&root, false)?;
        super::repository::release(&root, &inputs, &analysis)?
    };
    match Catalog::load(&bundle) {
        Ok(catalog) => Ok((bundle, catalog)),
        Err(shown) => {
            let problems = shown.findings.len();
            report::findings(printer, &shown)?;
            Err(UserError::new(
                ExitStatus::Failure,
                format!("the release has {problems} problem(s); {refusal}"),
            )
            .hint("rebuild the bundle from a repository that validates clean (`promptops validate`, then `promptops bundle`)")
            .into())
        }
    }
}

/// A bundle folder as `promptops bundle` wrote it: `release.json`, then the files it names
/// (paths made from its task ids, never taken from it). Files it does not name are not read.
fn read_bundle(dir: &Path) -> anyhow::Result<Bundle> {
    let index_path = dir.join(RELEASE_FILE);
    let index_bytes = adapters::fs::read_regular(&index_path, layout::REGISTRY_SIZE_LIMIT)
        .map_err(|error| {
            UserError::new(
                ExitStatus::Error,
                format!("{} is not a release bundle: {error}", dir.display()),
            )
            .hint("write one with `promptops bundle --out DIR`")
        })?;
    let index = bundle::read_index(&index_bytes).map_err(|message| {
        UserError::new(
            ExitStatus::Error,
            format!("{} cannot be read: {message}", index_path.display()),
        )
        .hint("rebuild the bundle with `promptops bundle`; a bundle is never edited by hand")
    })?;
    let mut files = BTreeMap::new();
    for task in index.tasks.keys() {
        let (prompt, metadata) = bundle::task_paths(task);
        for path in [prompt, metadata] {
            match adapters::fs::read_regular(&dir.join(&path), layout::YAML_SIZE_LIMIT) {
                Ok(bytes) => {
                    files.insert(path, bytes);
                }
                // A missing file is reported by the check that follows, with the others.
                Err(adapters::fs::FsError::Context { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    files.insert(RELEASE_FILE.to_owned(), index_bytes);
    Ok(bundle::from_files(files))
}

pub fn healthcheck(
    settings: &Settings,
    args: &HealthcheckArgs,
    printer: &mut Printer<'_>,
) -> anyhow::Result<Outcome> {
    let listen = args
        .listen
        .clone()
        .or_else(|| settings.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let address = local_address(&listen);
    let timeout = super::flags::duration(&args.timeout, "timeout")?.min(Duration::from_hours(1));
    let answer = http_server::probe(&address, "/readyz", timeout);
    match &answer {
        Ok(200) => writeln!(printer.out, "ready: http://{address}/readyz answered 200")?,
        Ok(status) => writeln!(
            printer.err,
            "not ready: http://{address}/readyz answered {status}"
        )?,
        Err(message) => writeln!(printer.err, "not ready: {message}")?,
    }
    Ok(Outcome::Health(answer))
}

/// The address to ask for a server listening on `listen`: a wildcard host is asked on
/// loopback.
fn local_address(listen: &str) -> String {
    if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_owned()
    }
}
