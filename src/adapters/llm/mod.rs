//! LLM providers: one client per provider with its timeout, retry budget and request rate.
//!
//! Retries use exponential backoff with jitter on 429, 5xx, timeouts, connection errors and
//! unreadable bodies, and take the delay from `Retry-After` when the server gives one. API
//! keys live only in request headers; every message that leaves this module is passed through
//! [`Secrets::redact`] so a server echoing a key cannot leak it into logs or eval files.

mod anthropic;
mod exec;
mod openai;
mod rate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};

use crate::domain::eval::request::{ChatRequest, ChatResponse};
use crate::domain::model::{ProjectConfig, ProviderConfig, ProviderKind};

/// Why a call did not produce an answer.
#[derive(Clone, Debug)]
pub struct CallError {
    pub kind: CallErrorKind,
    pub message: String,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
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
                ..CallError::transient(message)
            },
            401 | 403 => CallError::fatal(format!("{message} (check the API key in ${key_env})")),
            404 => CallError::fatal(format!("{message} (check the base URL and the model name)")),
            _ => CallError::rejected(message),
        }
    }
}

/// `Retry-After` as seconds or an HTTP date, capped at five minutes.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
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

/// The API keys in use, so messages can be scrubbed of them.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.0 {
            if secret.len() >= 4 {
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
}

/// How the whole run talks to providers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Multiplies every retry delay (backoff and `Retry-After`); tests set it near 0.
    pub delay_scale: f64,
    pub concurrency: usize,
    /// Where `exec` commands run.
    pub root: PathBuf,
}

/// Every provider a run may call, sharing one HTTP connection pool.
pub struct Client {
    http: reqwest::Client,
    providers: BTreeMap<String, Arc<Provider>>,
    settings: Settings,
    secrets: Secrets,
}

/// Reads an environment variable, treating an empty value as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

impl Client {
    pub fn new(config: &ProjectConfig, settings: Settings) -> anyhow::Result<Client> {
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
                command: None,
                timeout_seconds: None,
                max_retries: None,
                requests_per_second: None,
                prices: BTreeMap::new(),
            };
            let provider = resolve(name, config.providers.get(name).unwrap_or(&default));
            secrets.extend(provider.api_key.clone());
            providers.insert(name.to_owned(), Arc::new(provider));
        }
        for (name, provider_config) in &config.providers {
            let provider = resolve(name, provider_config);
            secrets.extend(provider.api_key.clone());
            providers.insert(name.clone(), Arc::new(provider));
        }
        Ok(Client {
            http,
            providers,
            settings,
            secrets: Secrets(secrets),
        })
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    pub fn provider(&self, name: &str) -> Option<&Arc<Provider>> {
        self.providers.get(name)
    }

    /// One answer, with retries. The latency is that of the attempt that succeeded.
    pub async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, CallError> {
        let Some(provider) = self.providers.get(&request.provider) else {
            return Err(CallError::config(format!(
                "no provider `{}` in promptops.yaml",
                request.provider
            )));
        };
        if provider.kind != ProviderKind::Exec && provider.api_key.is_none() {
            return Err(CallError::config(format!(
                "${} is not set; the `{}` provider needs an API key",
                provider.key_env, provider.name
            )));
        }
        let scale = self.settings.delay_scale;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(provider.max_retries)
            .with_jitter();
        let attempt = || async {
            provider.limiter.wait().await;
            let started = Instant::now();
            let result = tokio::time::timeout(provider.timeout, self.attempt(provider, request))
                .await
                .unwrap_or_else(|_| {
                    Err(CallError::transient(format!(
                        "no answer within {} s",
                        provider.timeout.as_secs_f64()
                    )))
                });
            result.map(|mut response| {
                response.latency_ms =
                    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                response
            })
        };
        let mut attempts = 0u32;
        let result = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|error: &CallError| error.kind == CallErrorKind::Transient)
            .adjust(|error: &CallError, delay| {
                delay.map(|delay| {
                    let wanted = error.retry_after.unwrap_or(delay);
                    wanted.mul_f64(scale.max(0.0))
                })
            })
            .notify(|_, _| attempts += 1)
            .await;
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

fn resolve(name: &str, config: &ProviderConfig) -> Provider {
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
    Provider {
        name: name.to_owned(),
        kind: config.kind,
        base_url: base_url.trim_end_matches('/').to_owned(),
        api_key: (!key_env.is_empty()).then(|| env(&key_env)).flatten(),
        key_env,
        command: config.command.clone().unwrap_or_default(),
        timeout: Duration::try_from_secs_f64(config.timeout_seconds.unwrap_or(60.0))
            .unwrap_or(Duration::from_mins(1)),
        max_retries: config.max_retries.unwrap_or(4) as usize,
        limiter: rate::Limiter::new(config.requests_per_second),
    }
}

/// Sends a request and returns the body of a successful answer; any other status becomes the
/// `CallError` its code calls for.
async fn send(call: reqwest::RequestBuilder, provider: &Provider) -> Result<String, CallError> {
    let response = call.send().await.map_err(http_error)?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.map_err(http_error)?;
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

/// A successful answer's body as JSON; a body that is not JSON is worth another attempt
/// (proxies and overloaded servers send HTML error pages with 200).
fn answer_json(text: &str) -> Result<serde_json::Value, CallError> {
    serde_json::from_str(text)
        .map_err(|error| CallError::transient(format!("the answer is not JSON: {error}")))
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
    CallError::transient(message)
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
        let secrets = Secrets(vec!["sk-abcdef".into()]);
        assert_eq!(secrets.redact("bad key sk-abcdef!"), "bad key [redacted]!");
    }
}
