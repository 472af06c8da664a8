//! The HTTP side of `promptops serve`: axum routes over hyper's HTTP/1 connections on tokio.
//! Every answer is a `domain::serve` value; this module moves bytes, times requests, logs them,
//! and shuts down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;

use crate::domain::serve::access::{self, AccessEntry};
use crate::domain::serve::metrics::Metrics;
use crate::domain::serve::{Catalog, Reply, Route};

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub body_limit: usize,
    /// The longest a request may take, from its headers to its answer (a slow body included).
    pub request_timeout: Duration,
    /// The longest to wait for the request headers of a connection.
    pub header_timeout: Duration,
    /// The longest to wait for requests in flight after SIGTERM.
    pub shutdown_timeout: Duration,
    pub log_json: bool,
}

struct AppState {
    catalog: Catalog,
    /// Renders running at once (each on a blocking thread, against the render deadline).
    renders: Arc<tokio::sync::Semaphore>,
    metrics: Metrics,
    draining: AtomicBool,
    /// A render overran its deadline; its thread runs on and cannot be stopped, so the server
    /// says it is unhealthy and the orchestrator replaces it (eval stops on the same bound).
    overrun: AtomicBool,
    log: Arc<LogBuffer>,
    log_json: bool,
}

/// Access-log lines waiting for the writer thread, which takes them every few milliseconds: a
/// request appends under a short lock and never wakes another thread (with a channel and a
/// wake-up per line, `bench/serve.py` measured 83,563 lookups/s; with this buffer, 107,801).
#[derive(Default)]
struct LogBuffer {
    pending: std::sync::Mutex<Vec<u8>>,
    stopping: AtomicBool,
    dropped: std::sync::atomic::AtomicU64,
}

/// Lines beyond this many waiting bytes are counted, not kept (stderr blocked).
const LOG_BUFFER_LIMIT: usize = 16 << 20;

/// Renders in progress at once; more wait for none and are answered 503. A render that
/// overruns its deadline keeps its thread until it ends (a render cannot be stopped from
/// outside), so the number of such threads is bounded here.
const RENDERS_AT_ONCE: usize = 32;

impl LogBuffer {
    /// Appends one line, written by `write` straight into the buffer.
    fn push(&self, write: impl FnOnce(&mut Vec<u8>)) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pending.len() < LOG_BUFFER_LIMIT {
            write(&mut pending);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes what is waiting to stderr until `stopping`, then what is left.
    fn write_until_stopped(&self) {
        use std::io::Write;
        let mut taken = Vec::new();
        loop {
            let stopping = self.stopping.load(Ordering::SeqCst);
            std::mem::swap(
                &mut taken,
                &mut *self
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            if !taken.is_empty() {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(&taken);
                let _ = err.flush();
                taken.clear();
            }
            if stopping {
                let dropped = self.dropped.load(Ordering::Relaxed);
                if dropped > 0 {
                    let _ = writeln!(
                        std::io::stderr(),
                        "promptops serve: {dropped} access-log line(s) were dropped (stderr could not keep up)"
                    );
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[derive(Clone, Copy)]
struct Remote(SocketAddr);

/// Binds the address (port 0: any free port); the listener says where it is.
pub async fn bind(address: &str) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await
}

/// How a server run ended.
#[derive(Debug)]
pub struct Stopped {
    /// Requests were still running when the shutdown time was up.
    pub abandoned_connections: bool,
}

/// Serves `catalog` on `listener` until `shutdown` resolves, then stops taking connections,
/// answers `/readyz` with 503, lets the requests in flight finish (for at most
/// `shutdown_timeout`) and returns.
pub async fn run(
    listener: tokio::net::TcpListener,
    catalog: Catalog,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<Stopped> {
    let log = Arc::new(LogBuffer::default());
    let writer = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || log.write_until_stopped())
    };
    let state = Arc::new(AppState {
        catalog,
        renders: Arc::new(tokio::sync::Semaphore::new(RENDERS_AT_ONCE)),
        metrics: Metrics::default(),
        draining: AtomicBool::new(false),
        overrun: AtomicBool::new(false),
        log: Arc::clone(&log),
        log_json: config.log_json,
    });
    let router = router(Arc::clone(&state), &config);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        // Request heads larger than this are refused (431) before they are buffered.
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a connection reset before accept: not fatal.
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service =
            router
                .clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(Remote(remote));
                    request
                });
        let connection = http.serve_connection(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("connection from {remote}: {error}");
            }
        });
    }
    state.draining.store(true, Ordering::SeqCst);
    drop(listener);
    let abandoned = tokio::time::timeout(config.shutdown_timeout, graceful.shutdown())
        .await
        .is_err();
    log.stopping.store(true, Ordering::SeqCst);
    let _ = writer.join();
    Ok(Stopped {
        abandoned_connections: abandoned,
    })
}

fn router(state: Arc<AppState>, config: &ServerConfig) -> Router {
    let timeout = config.request_timeout;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/prompts", get(list))
        .route("/v1/prompts/{task}", get(prompt))
        .route("/v1/prompts/{task}/render", post(render))
        .route("/v1/release", get(release))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            move |state, request, next| observe(state, request, next, timeout),
        ))
        .with_state(state)
}

/// Times the request (bounded by the request timeout), counts it, and logs it.
async fn observe(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
    timeout: Duration,
) -> Response {
    let started = Instant::now();
    let route = Route::of(
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let remote = request.extensions().get::<Remote>().copied();
    // Only a request with a body can keep a handler waiting (on a slow sender); the others
    // are answered from memory, and their headers are bounded by the header timeout.
    let has_body = request.method() == axum::http::Method::POST
        || request.headers().contains_key(header::CONTENT_LENGTH)
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let answered = if has_body {
        tokio::time::timeout(timeout, next.run(request)).await
    } else {
        Ok(next.run(request).await)
    };
    let response = match answered {
        Ok(response) => response,
        Err(_) => reply(Reply::error(
            408,
            &format!(
                "the request took more than {} s; it was stopped",
                timeout.as_secs_f64()
            ),
            Some("send the whole request at once, and retry"),
        )),
    };
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let status = response.status().as_u16();
    state.metrics.record(route, status, micros);
    let bytes = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .unwrap_or(0);
    let time = now_text();
    let mut remote_text = [0u8; 64];
    let remote = remote.map_or("-", |remote| {
        use std::io::Write;
        let mut cursor = std::io::Cursor::new(&mut remote_text[..]);
        let _ = write!(cursor, "{}", remote.0);
        let end = usize::try_from(cursor.position()).unwrap_or(0);
        std::str::from_utf8(&remote_text[..end]).unwrap_or("-")
    });
    let entry = AccessEntry {
        time: &time,
        remote,
        method: method.as_str(),
        path: access::shown_path(&path),
        route: route.as_str(),
        status,
        micros,
        bytes,
    };
    state
        .log
        .push(|out| access::write_line(out, &entry, state.log_json));
    response
}

/// The time as the log writes it; the seconds part is formatted once per second per thread.
fn now_text() -> String {
    thread_local! {
        static SECOND: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(0));
    let second = millis.div_euclid(1000);
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != second {
            let text = crate::domain::time::rfc3339(second);
            *cached = (second, text.trim_end_matches('Z').to_owned());
        }
        format!("{}.{:03}Z", cached.1, millis.rem_euclid(1000))
    })
}

fn reply(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if status != StatusCode::NOT_MODIFIED {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if let Some(etag) = reply.etag
        && let Ok(value) = HeaderValue::from_maybe_shared(etag)
    {
        headers.insert(header::ETAG, value);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    if state.overrun.load(Ordering::SeqCst) {
        return reply(Reply::error(
            503,
            "a render ran past its deadline and still holds a thread",
            Some("the prompt's template loops or grows without bound; restart after fixing it"),
        ));
    }
    reply(Reply {
        status: 200,
        body: Bytes::from_static(b"{\"status\":\"ok\"}\n"),
        etag: None,
    })
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.draining.load(Ordering::SeqCst) {
        reply(Reply::error(503, "shutting down", None))
    } else {
        reply(Reply {
            status: 200,
            body: Bytes::from(format!(
                "{{\"status\":\"ready\",\"release_id\":\"{}\"}}\n",
                state.catalog.release_id()
            )),
            etag: None,
        })
    }
}

async fn list(State(state): State<Arc<AppState>>) -> Response {
    reply(state.catalog.list())
}

async fn release(State(state): State<Arc<AppState>>) -> Response {
    reply(state.catalog.release())
}

async fn prompt(
    State(state): State<Arc<AppState>>,
    task: Result<Path<String>, PathRejection>,
    headers: axum::http::HeaderMap,
) -> Response {
    let task = match task {
        Ok(Path(task)) => task,
        Err(rejection) => return bad_path(&rejection),
    };
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .map(HeaderValue::as_bytes);
    reply(state.catalog.prompt(&task, if_none_match))
}

async fn render(
    State(state): State<Arc<AppState>>,
    task: Result<Path<String>, PathRejection>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let task = match task {
        Ok(Path(task)) => task,
        Err(rejection) => return bad_path(&rejection),
    };
    match body {
        Ok(body) => render_bounded(&state, task, body).await,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            reply(Reply::error(
                413,
                "the body is larger than the server's limit",
                Some("send only the task's input variables (serve --body-limit sets the limit)"),
            ))
        }
        Err(rejection) => reply(Reply::error(
            400,
            &format!("the body cannot be read: {rejection}"),
            None,
        )),
    }
}

/// A render on a blocking thread, answered within the render deadline that `eval` keeps too:
/// a template that loops or grows without bound gets a 503 naming the task, and the server
/// goes on serving.
async fn render_bounded(state: &Arc<AppState>, task: String, body: Bytes) -> Response {
    let deadline = crate::domain::eval::render::RENDER_DEADLINE;
    let Ok(permit) = Arc::clone(&state.renders).try_acquire_owned() else {
        return reply(Reply::error(
            503,
            "too many renders are in progress",
            Some("retry in a moment"),
        ));
    };
    let worker = Arc::clone(state);
    let name = task.clone();
    let job = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        worker.catalog.render(&name, &body)
    });
    match tokio::time::timeout(deadline, job).await {
        Ok(Ok(answer)) => reply(answer),
        Ok(Err(_)) => reply(Reply::error(500, "the render failed", None)),
        Err(_) => {
            state.overrun.store(true, Ordering::SeqCst);
            tracing::error!(
                "task `{}`: rendering took more than {} s; refused",
                task,
                deadline.as_secs()
            );
            reply(Reply::error(
                503,
                &format!(
                    "rendering task `{task}` took more than {} s; a template that loops or grows without bound is refused",
                    deadline.as_secs()
                ),
                Some("fix the prompt's template (eval stops on the same bound)"),
            ))
        }
    }
}

fn bad_path(rejection: &PathRejection) -> Response {
    reply(Reply::error(
        400,
        &format!(
            "the task in the path cannot be read: {}",
            rejection.body_text()
        ),
        Some("task ids are lowercase letters, digits and hyphens"),
    ))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state
        .metrics
        .render(state.catalog.release_id(), state.catalog.tasks());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

async fn not_found() -> Response {
    reply(Reply::error(
        404,
        "no such route",
        Some(
            "the routes are /healthz, /readyz, /v1/prompts, /v1/prompts/{task}, POST /v1/prompts/{task}/render, /v1/release, /metrics",
        ),
    ))
}

async fn method_not_allowed() -> Response {
    reply(Reply::error(
        405,
        "this route does not take that method",
        Some("renders are POST /v1/prompts/{task}/render; everything else is GET"),
    ))
}

/// Resolves on SIGTERM (how ECS stops a task) or SIGINT.
pub async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut interrupt)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// `promptops healthcheck`: whether the server at `address` answers `/readyz` with 200, with
/// plain HTTP/1.0 over a socket (the runtime image has no curl).
pub fn probe(address: &str, path: &str, timeout: Duration) -> Result<u16, String> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let target = address
        .to_socket_addrs()
        .map_err(|error| format!("{address}: {error}"))?
        .next()
        .ok_or_else(|| format!("{address} resolves to no address"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&target, timeout)
        .map_err(|error| format!("cannot connect to {target}: {error}"))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")
        .map_err(|error| format!("cannot send to {target}: {error}"))?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(count) => read += count,
            Err(error) => return Err(format!("no answer from {target}: {error}")),
        }
    }
    let text = String::from_utf8_lossy(&head[..read]);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("{target} did not answer HTTP"))
}
