//! LLM providers: one client per provider with its timeout, retry budget and request rate.
//!
//! A 429 holds the whole provider for what it asked (with jitter) and does not use up the
//! example's retries; retries use exponential backoff with jitter on 5xx, timeouts,
//! connection errors and unreadable bodies, and take the delay from `Retry-After` when the
//! server gives one. API
//! keys live only in request headers; every message that leaves this module is passed through
//! [`Secrets::redact`] so a server echoing a key cannot leak it into logs or eval files.

mod anthropic;
mod exec;
mod openai;
mod rate;

use serde::Deserialize as _;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};

use crate::domain::eval::request::{ChatRequest, ChatResponse};
use crate::domain::model::{MaxTokensParameter, ProjectConfig, ProviderConfig, ProviderKind};

/// Why a call did not produce an answer.
#[derive(Clone, Debug)]
pub struct CallError {
    pub kind: CallErrorKind,
    pub message: String,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
    /// The connection could not be made (refused, no such host): nothing reached the server.
    pub connect: bool,
    /// A 429: the provider's rate limit, not an error of this request.
    pub rate_limited: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallErrorKind {
    /// Worth another attempt: 429, 5xx, timeout, connection error, unreadable body.
    Transient,
    /// This request will not work (400, a failing `exec` command): the example fails.
    Rejected,
    /// No request to this provider will work (401, 403, 404): stop the run.
    Fatal,
    /// The configuration cannot work (no API key, no such provider, no command): stop the
    /// run; this is bad input, not a failing service.
    Config,
}

impl CallError {
    fn new(kind: CallErrorKind, message: impl Into<String>) -> CallError {
        CallError {
            kind,
            message: message.into(),
            retry_after: None,
            connect: false,
            rate_limited: false,
        }
    }

    pub(crate) fn transient(message: impl Into<String>) -> CallError {
        CallError::new(CallErrorKind::Transient, message)
    }

    pub(crate) fn rejected(message: impl Into<String>) -> CallError {
        CallError::new(CallErrorKind::Rejected, message)
    }

    pub(crate) fn fatal(message: impl Into<String>) -> CallError {
        CallError::new(CallErrorKind::Fatal, message)
    }

    pub(crate) fn config(message: impl Into<String>) -> CallError {
        CallError::new(CallErrorKind::Config, message)
    }

    /// The error for an HTTP status that is not a success.
    pub(crate) fn from_status(
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &str,
        key_env: &str,
    ) -> CallError {
        let detail: String = body.chars().take(300).collect();
        let message = format!("HTTP {status}: {}", detail.trim());
        match status.as_u16() {
            408 | 409 | 425 | 429 | 500..=599 => CallError {
                retry_after: retry_after(headers),
                rate_limited: status.as_u16() == 429,
                ..CallError::transient(message)
            },
            401 | 403 => CallError::fatal(format!("{message} (check the API key in ${key_env})")),
            404 => CallError::fatal(format!("{message} (check the base URL and the model name)")),
            _ => CallError::rejected(message),
        }
    }
}

/// `retry-after-ms` (OpenAI's, in milliseconds), else `Retry-After` as seconds or an HTTP
/// date; capped at five minutes.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(milliseconds) = headers
        .get("retry-after-ms")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<f64>().ok())
        .filter(|milliseconds| milliseconds.is_finite())
    {
        return Duration::try_from_secs_f64(milliseconds.max(0.0) / 1000.0)
            .ok()
            .map(|delay| delay.min(Duration::from_mins(5)));
    }
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let delay = if let Ok(seconds) = value.parse::<f64>() {
        Duration::try_from_secs_f64(seconds.max(0.0)).ok()?
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO)
    };
    Some(delay.min(Duration::from_mins(5)))
}

/// The API keys in use, and the forms a server may echo them in (base64, as in Basic auth;
/// percent-encoded; JSON-escaped), so everything stored or printed can be scrubbed of them.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    pub fn new(keys: impl IntoIterator<Item = String>) -> Secrets {
        let mut forms = Vec::new();
        for key in keys.into_iter().filter(|key| key.len() >= 4) {
            use base64::Engine as _;
            let engines = [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE,
            ];
            for engine in &engines {
                for text in [key.clone(), format!(":{key}"), format!("{key}:")] {
                    let encoded = engine.encode(text.as_bytes());
                    forms.push(encoded.trim_end_matches('=').to_owned());
                }
                // Inside a longer encoding (`Basic base64(user:password)`) the key's characters
                // depend on where it starts modulo 3: the part that depends on the key alone,
                // for each of the three starts.
                for offset in 0..3usize {
                    let mut bytes = vec![0u8; offset];
                    bytes.extend_from_slice(key.as_bytes());
                    let encoded = engine.encode(&bytes);
                    let encoded = encoded.trim_end_matches('=');
                    let skip = (offset * 8).div_ceil(6);
                    let keep_end = if bytes.len() % 3 == 0 {
                        encoded.len()
                    } else {
                        encoded.len().saturating_sub(1)
                    };
                    if let Some(core) = encoded.get(skip..keep_end) {
                        forms.push(core.to_owned());
                    }
                }
            }
            let percent: String = key
                .bytes()
                .map(|byte| {
                    if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                        char::from(byte).to_string()
                    } else {
                        format!("%{byte:02X}")
                    }
                })
                .collect();
            forms.push(percent);
            let json = serde_json::to_string(&key).unwrap_or_default();
            forms.push(json.trim_matches('"').to_owned());
            forms.push(key);
        }
        forms.retain(|form| form.len() >= 4);
        // Longest first, so a form that contains another is scrubbed whole.
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        forms.dedup();
        Secrets(forms)
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        out
    }
}

/// A provider as the run uses it: settings resolved from the config and the environment.
#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    base_url: String,
    key_env: String,
    api_key: Option<String>,
    command: Vec<String>,
    timeout: Duration,
    max_retries: usize,
    limiter: rate::Limiter,
    /// One example's time across all its attempts and waits.
    deadline: Duration,
    /// The largest answer body read.
    max_response_bytes: u64,
    /// For OpenAI-compatible APIs: the name of the output-length parameter.
    max_tokens_parameter: MaxTokensParameter,
    /// Why this provider cannot be used safely (a key in the URL, a key over plain HTTP to
    /// another host); said when a request would use it.
    refused: Option<String>,
    /// For `exec`: what the answers depend on besides the request (the command and the
    /// content of the script it names), so the cache key changes when they do.
    pub fingerprint: Option<String>,
    /// `keyless: true`: a local server that needs no key; none is read or sent.
    keyless: bool,
    /// Whether any request reached the server (an answer of any status).
    reached: std::sync::atomic::AtomicBool,
    /// Connection failures while nothing has reached the server.
    unreachable: std::sync::atomic::AtomicU32,
}

/// Connection failures, with no request ever reaching the server, after which the run stops
/// and names `providers.<name>.base_url` (a wrong URL must not cost a minute of retries per
/// example).
const CONNECT_FAILURES_BEFORE_STOP: u32 = 3;

/// How the whole run talks to providers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Multiplies every retry delay (backoff and `Retry-After`); tests set it near 0.
    pub delay_scale: f64,
    pub concurrency: usize,
    /// Where `exec` commands run.
    pub root: PathBuf,
}

/// The HTTP client could not be set up (no TLS roots, for one).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// Every provider a run may call, sharing one HTTP connection pool.
pub struct Client {
    http: reqwest::Client,
    providers: BTreeMap<String, Arc<Provider>>,
    settings: Settings,
    secrets: Secrets,
}

/// Looks up an environment variable (API keys, base URLs) in the settings' snapshot of the
/// environment; an empty value is unset.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Client {
    pub fn new(
        config: &ProjectConfig,
        settings: Settings,
        env: EnvLookup<'_>,
    ) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(settings.concurrency.max(1))
            .tcp_nodelay(true)
            .user_agent(concat!("promptops/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut providers = BTreeMap::new();
        let mut secrets = Vec::new();
        // The provider kinds work by name without a config entry, with their defaults.
        for kind in [ProviderKind::Openai, ProviderKind::Anthropic] {
            let name = kind_name(kind);
            let default = ProviderConfig {
                kind,
                base_url: None,
                api_key_env: None,
                keyless: false,
                command: None,
                timeout_seconds: None,
                max_retries: None,
                requests_per_second: None,
                example_deadline_seconds: None,
                max_response_bytes: None,
                max_tokens_parameter: None,
                prices: BTreeMap::new(),
            };
            let provider = resolve(
                name,
                config.providers.get(name).unwrap_or(&default),
                &settings.root,
                env,
            );
            secrets.extend(provider.api_key.clone());
            providers.insert(name.to_owned(), Arc::new(provider));
        }
        for (name, provider_config) in &config.providers {
            let provider = resolve(name, provider_config, &settings.root, env);
            secrets.extend(provider.api_key.clone());
            providers.insert(name.clone(), Arc::new(provider));
        }
        let secrets = Secrets::new(secrets);
        Ok(Client {
            http,
            providers,
            settings,
            secrets,
        })
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    pub fn provider(&self, name: &str) -> Option<&Arc<Provider>> {
        self.providers.get(name)
    }

    /// One answer, with retries. The latency is that of the attempt that succeeded.
    // Long on purpose: the refusals that need no call, then one attempt (rate limit, time limit,
    // connection breaker) retried with backoff; the attempt's closure shares their state.
    pub async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, CallError> {
        let Some(provider) = self.providers.get(&request.provider) else {
            return Err(CallError::config(format!(
                "no provider `{}` in promptops.yaml",
                request.provider
            )));
        };
        if let Some(problem) = &provider.refused {
            return Err(CallError::config(problem.clone()));
        }
        if provider.kind != ProviderKind::Exec && !provider.keyless && provider.api_key.is_none() {
            return Err(CallError::config(format!(
                "${} is not set; the `{}` provider needs an API key (a local server without keys: `keyless: true`)",
                provider.key_env, provider.name
            )));
        }
        let unreachable = || {
            CallError::config(format!(
                "cannot connect to the `{name}` provider at {url}: {tries} connection attempts failed and none reached it; check `providers.{name}.base_url` in promptops.yaml",
                name = provider.name,
                url = provider.base_url,
                tries = CONNECT_FAILURES_BEFORE_STOP,
            ))
        };
        if provider.kind != ProviderKind::Exec
            && !provider.reached.load(std::sync::atomic::Ordering::SeqCst)
            && provider
                .unreachable
                .load(std::sync::atomic::Ordering::SeqCst)
                >= CONNECT_FAILURES_BEFORE_STOP
        {
            return Err(unreachable());
        }
        let scale = self.settings.delay_scale;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(provider.max_retries)
            .with_jitter();
        // One deadline across every attempt and wait: `Retry-After` is capped per retry, but
        // many of them must not hold one example for many minutes.
        let deadline = tokio::time::Instant::now() + provider.deadline;
        let attempt = || async {
            let mut absorbed = 0u32;
            loop {
                provider.limiter.wait().await;
                let started = Instant::now();
                let result =
                    tokio::time::timeout(provider.timeout, self.attempt(provider, request))
                        .await
                        .unwrap_or_else(|_| {
                            Err(CallError::transient(format!(
                                "no answer within {} s",
                                provider.timeout.as_secs_f64()
                            )))
                        });
                let result = match result {
                    Err(error) if error.connect && provider.kind != ProviderKind::Exec => {
                        let failures = provider
                            .unreachable
                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                            + 1;
                        if failures >= CONNECT_FAILURES_BEFORE_STOP
                            && !provider.reached.load(std::sync::atomic::Ordering::SeqCst)
                        {
                            Err(unreachable())
                        } else {
                            Err(error)
                        }
                    }
                    other => {
                        provider
                            .reached
                            .store(true, std::sync::atomic::Ordering::SeqCst);
                        other
                    }
                };
                let result = result.map(|mut response| {
                    response.latency_ms =
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    response
                });
                match result {
                    // A 429 is the provider's limit, not this request's fault: the whole
                    // provider waits (with jitter, so the waiting requests do not all return
                    // at once), and the example's retry budget is kept for errors. Only the
                    // example's deadline ends the waiting.
                    Err(error) if error.rate_limited => {
                        let wait =
                            rate::limited_wait(error.retry_after, absorbed).mul_f64(scale.max(0.0));
                        if tokio::time::Instant::now() + wait >= deadline
                            || absorbed >= rate::MAX_LIMITED
                        {
                            return Err(error);
                        }
                        absorbed += 1;
                        provider.limiter.hold(tokio::time::Instant::now() + wait);
                    }
                    other => return other,
                }
            }
        };
        let mut attempts = 0u32;
        let retried = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            // A 429 that reaches here outlasted the example's deadline or the backstop: the
            // limit was waited out inside the attempt already, so it is not retried again.
            .when(|error: &CallError| error.kind == CallErrorKind::Transient && !error.rate_limited)
            .adjust(|error: &CallError, delay| {
                let delay = delay.map(|delay| {
                    let wanted = error.retry_after.unwrap_or(delay);
                    wanted.mul_f64(scale.max(0.0))
                })?;
                // A wait that would end past the deadline is not taken: give up now.
                (tokio::time::Instant::now() + delay < deadline).then_some(delay)
            })
            .notify(|_, _| attempts += 1);
        let result = match tokio::time::timeout_at(deadline, retried).await {
            Ok(result) => result,
            Err(_) => Err(CallError::transient(format!(
                "no answer within the example's deadline of {} s",
                provider.deadline.as_secs_f64()
            ))),
        };
        let result = result.map(|mut response| {
            // A server that echoes the key must not get it into the log or the cache.
            response.text = self.secrets.redact(&response.text);
            response
        });
        result.map_err(|mut error| {
            error.message = self.secrets.redact(&error.message);
            if error.kind == CallErrorKind::Transient {
                error.message = format!(
                    "{} (gave up after {} attempts)",
                    error.message,
                    attempts + 1
                );
            }
            error
        })
    }

    async fn attempt(
        &self,
        provider: &Provider,
        request: &ChatRequest,
    ) -> Result<ChatResponse, CallError> {
        match provider.kind {
            ProviderKind::Openai => openai::complete(&self.http, provider, request).await,
            ProviderKind::Anthropic => anthropic::complete(&self.http, provider, request).await,
            ProviderKind::Exec => exec::complete(provider, request, &self.settings.root).await,
        }
    }
}

pub fn kind_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai => "openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Exec => "exec",
    }
}

fn resolve(
    name: &str,
    config: &ProviderConfig,
    root: &std::path::Path,
    env: EnvLookup<'_>,
) -> Provider {
    let (default_url, url_env, key_env) = match config.kind {
        ProviderKind::Openai => (
            "https://api.openai.com/v1",
            "OPENAI_BASE_URL",
            "OPENAI_API_KEY",
        ),
        ProviderKind::Anthropic => (
            "https://api.anthropic.com",
            "ANTHROPIC_BASE_URL",
            "ANTHROPIC_API_KEY",
        ),
        ProviderKind::Exec => ("", "", ""),
    };
    let base_url = config
        .base_url
        .clone()
        .or_else(|| (!url_env.is_empty()).then(|| env(url_env)).flatten())
        .unwrap_or_else(|| default_url.to_owned());
    let key_env = config
        .api_key_env
        .clone()
        .unwrap_or_else(|| key_env.to_owned());
    let keyless = config.keyless;
    let api_key = (!keyless && !key_env.is_empty())
        .then(|| env(&key_env))
        .flatten();
    let refused = if config.kind == ProviderKind::Exec {
        None
    } else {
        check_base_url(name, &base_url, api_key.is_some())
    };
    let command = config.command.clone().unwrap_or_default();
    let fingerprint = (config.kind == ProviderKind::Exec).then(|| exec_fingerprint(&command, root));
    Provider {
        name: name.to_owned(),
        kind: config.kind,
        base_url: base_url.trim_end_matches('/').to_owned(),
        api_key,
        key_env,
        command,
        timeout: seconds(config.timeout_seconds, 60.0, 3600.0),
        max_retries: config.max_retries.unwrap_or(4).min(20) as usize,
        limiter: rate::Limiter::new(config.requests_per_second),
        deadline: seconds(config.example_deadline_seconds, 600.0, 86_400.0),
        max_response_bytes: config
            .max_response_bytes
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES)
            .clamp(1024, 1 << 30),
        max_tokens_parameter: config
            .max_tokens_parameter
            .unwrap_or(MaxTokensParameter::MaxCompletionTokens),
        refused,
        fingerprint,
        keyless,
        reached: std::sync::atomic::AtomicBool::new(false),
        unreachable: std::sync::atomic::AtomicU32::new(0),
    }
}

/// The largest answer body read by default: far above any chat answer, far below memory.
const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 << 20;

/// A duration setting in seconds, kept in (0, `max`] whatever the file says (validate checks
/// the same range; this keeps a bad value from panicking a worker).
fn seconds(value: Option<f64>, default: f64, max: f64) -> Duration {
    let value = value
        .filter(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(default)
        .min(max);
    Duration::try_from_secs_f64(value).unwrap_or(Duration::from_secs_f64(default))
}

/// Why `base_url` must not be used, if it must not: credentials in the URL would be sent as
/// Basic auth, and a key must never travel over plain HTTP to a host other than this machine.
fn check_base_url(name: &str, base_url: &str, has_key: bool) -> Option<String> {
    let Ok(url) = reqwest::Url::parse(base_url) else {
        return Some(format!("provider `{name}`: `{base_url}` is not a URL"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Some(format!(
            "provider `{name}`: the base URL holds credentials (user:password@); put the key in the environment variable named by `api_key_env` instead"
        ));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!(
            "provider `{name}`: the base URL must be http:// or https://"
        ));
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    if url.scheme() == "http" && has_key && !loopback {
        return Some(format!(
            "provider `{name}`: the API key would be sent over plain http:// to {}; use https://",
            url.host_str().unwrap_or("?")
        ));
    }
    None
}

/// What an `exec` provider's answers depend on besides the request: its command and the
/// content of every file of the repository it names (the script). The cache key covers it,
/// and so does the pipeline's skip of an unchanged eval.
pub fn exec_fingerprint(command: &[String], root: &std::path::Path) -> String {
    let mut text = serde_json::to_string(command).unwrap_or_default();
    for argument in command {
        let path = root.join(argument);
        let inside = std::fs::canonicalize(&path)
            .ok()
            .filter(|resolved| resolved.starts_with(root));
        if let Some(resolved) = inside
            && let Ok(bytes) = crate::adapters::fs::read_regular(&resolved, 16 << 20)
        {
            text.push('\n');
            text.push_str(argument);
            text.push(' ');
            text.push_str(&crate::domain::source::sha256_hex(&bytes));
        }
    }
    crate::domain::source::sha256_hex(text.as_bytes())
}

/// Sends a request and returns the body of a successful answer; any other status becomes the
/// `CallError` its code calls for. The body is read up to the provider's cap and no further.
async fn send(call: reqwest::RequestBuilder, provider: &Provider) -> Result<String, CallError> {
    let mut response = call.send().await.map_err(http_error)?;
    let status = response.status();
    let headers = response.headers().clone();
    let limit = provider.max_response_bytes;
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_large(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http_error)? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body)
        .map_err(|_| CallError::transient("the answer is not UTF-8 text".to_owned()))?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(CallError::from_status(
            status,
            &headers,
            &text,
            &provider.key_env,
        ))
    }
}

fn too_large(limit: u64) -> CallError {
    CallError::rejected(format!(
        "the answer is larger than {limit} bytes (`max_response_bytes` of the provider); not read further"
    ))
}

/// A successful answer's body as JSON; a body that is not JSON is worth another attempt
/// (proxies and overloaded servers send HTML error pages with 200).
/// An answer's body as the provider's answer type; a body that is not JSON (a proxy's HTML
/// page, a cut-off body) is worth asking again.
fn answer_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, CallError> {
    serde_json::from_str(text)
        .map_err(|error| CallError::transient(format!("the answer is not JSON: {error}")))
}

/// A field read only when it has the expected shape: token counts and stop reasons are
/// extras, and a server that writes them oddly still gives its answer.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// Token counts, by whatever names a provider gives them.
#[derive(Debug, Default, serde::Deserialize)]
struct Tokens {
    #[serde(alias = "prompt_tokens", default, deserialize_with = "lenient")]
    input_tokens: Option<u64>,
    #[serde(alias = "completion_tokens", default, deserialize_with = "lenient")]
    output_tokens: Option<u64>,
}

impl Tokens {
    /// Both counts, or nothing.
    fn usage(self) -> Option<crate::domain::eval::request::Usage> {
        Some(crate::domain::eval::request::Usage {
            input_tokens: self.input_tokens?,
            output_tokens: self.output_tokens?,
        })
    }
}

/// A transport error: timeouts and connection failures are worth retrying.
fn http_error(error: reqwest::Error) -> CallError {
    // reqwest's message names the URL, which holds no secret (keys go in headers).
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    let mut failed = CallError::transient(message);
    failed.connect = error.is_connect();
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_in_seconds_or_as_an_http_date() {
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(&headers("0.5")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(retry_after(&headers("99999")), Some(Duration::from_mins(5)));
        let in_a_minute = std::time::SystemTime::now() + Duration::from_secs(61);
        let date = retry_after(&headers(&httpdate::fmt_http_date(in_a_minute))).unwrap();
        assert!(
            date > Duration::from_secs(55) && date <= Duration::from_secs(61),
            "{date:?}"
        );
        let past = httpdate::fmt_http_date(std::time::UNIX_EPOCH);
        assert_eq!(retry_after(&headers(&past)), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn secrets_are_scrubbed_from_messages() {
        use base64::Engine as _;
        let secrets = Secrets::new(vec!["sk-abcdef".into()]);
        assert_eq!(secrets.redact("bad key sk-abcdef!"), "bad key [redacted]!");
        // Basic-auth and base64 forms, percent-encoded forms.
        let basic = base64::engine::general_purpose::STANDARD.encode(":sk-abcdef");
        assert!(!secrets.redact(&format!("Basic {basic}")).contains(&basic));
        // A password inside `base64(user:password)`, whatever the user name's length.
        for user in ["a", "ab", "abc", "robot$push"] {
            use base64::Engine as _;
            let header = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:sk-abcdef-registry-password"));
            let secrets = Secrets::new(["sk-abcdef-registry-password".to_owned()]);
            let redacted = secrets.redact(&format!("echo: Authorization: Basic {header}"));
            // What is left around the mark encodes the user name and at most a byte or two
            // of the password's edges.
            let (_, after) = redacted.split_once("[redacted]").expect("redacted");
            assert!(after.len() <= 4, "{user}: {redacted}");
        }
        let secrets = Secrets::new(vec!["sk/a+b=c".into()]);
        assert_eq!(secrets.redact("k=sk%2Fa%2Bb%3Dc"), "k=[redacted]");
    }

    // Regression (defect 16): a key in the URL was sent as Basic auth; a key went over plain
    // HTTP to any host.
    #[test]
    fn unsafe_base_urls_are_refused() {
        assert!(check_base_url("p", "https://user:sk@api.example.com/v1", true).is_some());
        assert!(check_base_url("p", "http://api.example.com/v1", true).is_some());
        assert!(check_base_url("p", "http://api.example.com/v1", false).is_none());
        assert!(check_base_url("p", "http://127.0.0.1:8080/v1", true).is_none());
        assert!(check_base_url("p", "http://localhost:8080/v1", true).is_none());
        assert!(check_base_url("p", "http://[::1]:8080/v1", true).is_none());
        assert!(check_base_url("p", "https://api.example.com/v1", true).is_none());
    }
}
