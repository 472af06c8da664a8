//! One settings layer: the command-line flags and the `PROMPTOPS_*` environment, resolved once
//! into a value every command receives. This is the only code that reads the environment.
//!
//! `promptops.yaml` is read with the repository (it is checked like every other file, with
//! findings at their lines); where a setting can come from all three places, the order is
//! flag, then environment, then `promptops.yaml`, then the built-in default
//! ([`Settings::concurrency`], [`Settings::cache_dir`]).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::{ColorChoice, GlobalArgs};
use crate::exit::{ExitStatus, UserError};

/// Where stored LLM responses live when nothing else says.
pub const DEFAULT_CACHE_DIR: &str = ".promptops/cache";
/// Requests in flight when nothing else says.
pub const DEFAULT_CONCURRENCY: u32 = 8;

/// A snapshot of the process environment, taken once at start.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    variables: BTreeMap<OsString, OsString>,
}

impl Environment {
    /// The process environment as it is now.
    pub fn from_process() -> Environment {
        Environment {
            variables: std::env::vars_os().collect(),
        }
    }

    /// An environment of the given variables (for tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Environment {
        Environment {
            variables: pairs
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }

    /// A variable's value as text; an empty or blank value counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        self.variables
            .get(std::ffi::OsStr::new(name))
            .and_then(|value| value.to_str())
            .filter(|value| !value.trim().is_empty())
            .map(str::to_owned)
    }

    /// A variable's value as a path; empty counts as unset.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.variables
            .get(std::ffi::OsStr::new(name))
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    }

    fn is_set(&self, name: &str) -> bool {
        self.variables
            .get(std::ffi::OsStr::new(name))
            .is_some_and(|value| !value.is_empty())
    }
}

/// What time it is: the system clock, or a fixed time (`PROMPTOPS_NOW`, for reproducible runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    System,
    Fixed(i64),
}

impl Clock {
    /// Seconds since the Unix epoch.
    pub fn now(self) -> i64 {
        match self {
            Clock::Fixed(seconds) => seconds,
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(0)),
        }
    }
}

/// Everything a command needs to know about how it was asked to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--repo` or `PROMPTOPS_REPO`: the prompt repository, else found from `current_dir`.
    pub repo: Option<PathBuf>,
    pub current_dir: PathBuf,
    /// Colour on stderr: `--color`, `NO_COLOR`, and whether stderr is a terminal.
    pub color: bool,
    /// Running in CI (`CI` set): plain progress lines, never bars.
    pub ci: bool,
    /// Whether stderr is a terminal (progress bars only there).
    pub interactive: bool,
    /// `GITHUB_STEP_SUMMARY`: the Markdown file a GitHub Actions step appends its summary to.
    pub github_step_summary: Option<PathBuf>,
    /// `PROMPTOPS_RETRY_DELAY_SCALE`: multiplies every retry delay (0 in tests: no waiting).
    pub retry_delay_scale: f64,
    /// `PROMPTOPS_CACHE_DIR`: where stored responses live, unless `--cache-dir` says.
    pub cache_dir: Option<PathBuf>,
    /// `PROMPTOPS_LOG`: the tracing filter for logs on stderr (default `warn`).
    pub log_filter: String,
    pub clock: Clock,
    /// The environment, for the variables `promptops.yaml` names (API keys).
    pub environment: Environment,
    /// `PROMPTOPS_LISTEN`: where `serve` listens (and `healthcheck` asks) unless `--listen` says.
    pub listen: Option<String>,
    /// `PROMPTOPS_BUNDLE`: the release bundle `serve` loads unless `--bundle` says (the image
    /// sets it).
    pub bundle: Option<PathBuf>,
    /// `PROMPTOPS_RELEASE`: the release id the image says it holds; `serve` refuses a bundle
    /// with another id.
    pub release: Option<String>,
    /// `PROMPTOPS_REGISTRY_PASSWORD`: the password of `image --registry-username`.
    pub registry_password: Option<String>,
    /// `GITHUB_OUTPUT` under GitHub Actions: where a step's outputs go.
    pub github_output: Option<PathBuf>,
    /// `PROMPTOPS_FAIL_AT` (debug builds only): a test switch that aborts a mutating command
    /// at a named step, as a killed process would stop.
    pub fail_at: Option<String>,
}

impl Settings {
    /// Resolves the global flags against the environment.
    pub fn resolve(global: &GlobalArgs, environment: Environment) -> anyhow::Result<Settings> {
        let current_dir = std::env::current_dir()
            .map_err(|error| anyhow::anyhow!("cannot read the current folder: {error}"))?;
        let interactive = std::io::stderr().is_terminal();
        let retry_delay_scale = match environment.get("PROMPTOPS_RETRY_DELAY_SCALE") {
            None => 1.0,
            Some(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|scale| scale.is_finite() && *scale >= 0.0)
                .ok_or_else(|| {
                    UserError::new(
                        ExitStatus::Error,
                        format!("PROMPTOPS_RETRY_DELAY_SCALE={text} is not a number of at least 0"),
                    )
                    .hint("set it to 0 (no waiting between retries), 1 (the default) or another factor")
                })?,
        };
        let clock = match environment.get("PROMPTOPS_NOW") {
            None => Clock::System,
            Some(text) => Clock::Fixed(parse_time(text.trim()).ok_or_else(|| {
                UserError::new(
                    ExitStatus::Error,
                    format!("PROMPTOPS_NOW={text} is not a time"),
                )
                .hint("give seconds since 1970 (e.g. 1767225600) or a UTC time such as 2026-01-01T00:00:00Z")
            })?),
        };
        let no_color = environment.is_set("NO_COLOR");
        Ok(Settings {
            repo: global
                .repo
                .clone()
                .or_else(|| environment.path("PROMPTOPS_REPO")),
            color: match global.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => !no_color && interactive,
            },
            ci: environment.is_set("CI"),
            interactive,
            github_step_summary: environment.path("GITHUB_STEP_SUMMARY"),
            retry_delay_scale,
            cache_dir: environment.path("PROMPTOPS_CACHE_DIR"),
            log_filter: environment
                .get("PROMPTOPS_LOG")
                .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned()),
            clock,
            current_dir,
            listen: environment.get("PROMPTOPS_LISTEN"),
            github_output: (environment.get("GITHUB_ACTIONS").as_deref() == Some("true"))
                .then(|| environment.path("GITHUB_OUTPUT"))
                .flatten(),
            registry_password: environment.get("PROMPTOPS_REGISTRY_PASSWORD"),
            bundle: environment.path("PROMPTOPS_BUNDLE"),
            release: environment.get("PROMPTOPS_RELEASE"),
            fail_at: if cfg!(debug_assertions) {
                environment.get("PROMPTOPS_FAIL_AT")
            } else {
                None
            },
            environment,
        })
    }

    /// The response cache folder: `--cache-dir`, `PROMPTOPS_CACHE_DIR`, else
    /// `.promptops/cache`; a relative one is under the repository root.
    pub fn cache_dir(&self, flag: Option<&Path>, root: &Path) -> PathBuf {
        // A folder a person names (the flag, the variable) is from where they typed it; the
        // default lives in the repository.
        match flag
            .map(Path::to_path_buf)
            .or_else(|| self.cache_dir.clone())
        {
            Some(named) => self.current_dir.join(named),
            None => root.join(DEFAULT_CACHE_DIR),
        }
    }

    /// Requests in flight: `--concurrency`, else `defaults.concurrency` in `promptops.yaml`,
    /// else 8.
    pub fn concurrency(flag: Option<u32>, config: Option<u32>) -> usize {
        flag.or(config).unwrap_or(DEFAULT_CONCURRENCY) as usize
    }

    /// Under GitHub Actions (`GITHUB_ACTIONS=true`), the user the run is for (`GITHUB_ACTOR`).
    pub fn github_actor(&self) -> Option<String> {
        (self.environment.get("GITHUB_ACTIONS").as_deref() == Some("true"))
            .then(|| self.environment.get("GITHUB_ACTOR"))
            .flatten()
    }

    /// The GitHub Actions run this is part of (`GITHUB_SERVER_URL`/`GITHUB_REPOSITORY`/
    /// `actions/runs/GITHUB_RUN_ID`), for the record of a deploy.
    pub fn github_run_url(&self) -> Option<String> {
        let get = |name: &str| self.environment.get(name);
        Some(format!(
            "{}/{}/actions/runs/{}",
            get("GITHUB_SERVER_URL")?,
            get("GITHUB_REPOSITORY")?,
            get("GITHUB_RUN_ID")?
        ))
    }

    /// Whether this runs as a GitHub Actions step.
    pub fn github_actions(&self) -> bool {
        self.environment.get("GITHUB_ACTIONS").as_deref() == Some("true")
    }

    /// Whether progress may draw bars (a terminal, and not CI).
    pub fn progress_bars(&self) -> bool {
        self.interactive && !self.ci
    }
}

/// promptops's own warnings; the AWS SDK's are errors only: what they warn of (no region from
/// the instance metadata, a credential provider that failed) ends in promptops's own error with
/// its hint, once, instead of three debug dumps before it (`PROMPTOPS_LOG=warn` shows them).
const DEFAULT_LOG_FILTER: &str = "warn,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error,aws_sdk_ecs=error,aws_sdk_ecr=error,aws_sdk_sts=error";

/// Seconds since the epoch, or `YYYY-MM-DDTHH:MM:SSZ`.
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    crate::domain::time::parse_rfc3339(text)
}

/// Sends `tracing` events at or above the filter to stderr. A bad filter is said once and
/// falls back to `warn`, so a typo in `PROMPTOPS_LOG` never stops a command.
pub fn init_logging(settings: &Settings) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|error| {
            eprintln!(
                "warning: PROMPTOPS_LOG={} is not a log filter ({error}); using `warn`",
                settings.log_filter
            );
            tracing_subscriber::EnvFilter::new("warn")
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::report::actions::Guarded::new(std::io::stderr()))
        .with_ansi(settings.color)
        .without_time()
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        Settings::resolve(
            &GlobalArgs::default(),
            Environment::from_pairs(pairs.iter().copied()),
        )
    }

    #[test]
    fn the_environment_is_read_into_settings() {
        let settings = settings(&[
            ("PROMPTOPS_RETRY_DELAY_SCALE", "0"),
            ("PROMPTOPS_CACHE_DIR", "/tmp/c"),
            ("PROMPTOPS_NOW", "2026-01-02T03:04:05Z"),
            ("PROMPTOPS_LOG", "debug"),
            ("CI", "true"),
            ("NO_COLOR", "1"),
        ])
        .unwrap();
        assert!(settings.retry_delay_scale.abs() < f64::EPSILON);
        assert_eq!(settings.clock, Clock::Fixed(1_767_323_045));
        assert_eq!(settings.log_filter, "debug");
        assert!(settings.ci && !settings.color && !settings.progress_bars());
        assert_eq!(
            settings.cache_dir(None, Path::new("/repo")),
            PathBuf::from("/tmp/c")
        );
        // A relative folder a person names is from the folder they typed it in.
        assert_eq!(
            settings.cache_dir(Some(Path::new("here")), Path::new("/repo")),
            settings.current_dir.join("here")
        );
        assert_eq!(
            settings.cache_dir(Some(Path::new("/abs")), Path::new("/repo")),
            PathBuf::from("/abs")
        );
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let settings = settings(&[("PROMPTOPS_CACHE_DIR", "")]).unwrap();
        assert!((settings.retry_delay_scale - 1.0).abs() < f64::EPSILON);
        assert_eq!(settings.clock, Clock::System);
        assert_eq!(settings.log_filter, DEFAULT_LOG_FILTER);
        assert_eq!(
            settings.cache_dir(None, Path::new("/repo")),
            PathBuf::from("/repo/.promptops/cache")
        );
        assert_eq!(Settings::concurrency(None, Some(3)), 3);
        assert_eq!(Settings::concurrency(Some(5), Some(3)), 5);
        assert_eq!(Settings::concurrency(None, None), 8);
    }

    #[test]
    fn bad_values_are_usage_errors_naming_the_variable() {
        for (name, value) in [
            ("PROMPTOPS_RETRY_DELAY_SCALE", "-1"),
            ("PROMPTOPS_RETRY_DELAY_SCALE", "NaN"),
            ("PROMPTOPS_NOW", "yesterday"),
        ] {
            let error = settings(&[(name, value)]).unwrap_err();
            let user = error.downcast_ref::<UserError>().unwrap();
            assert_eq!(user.status, ExitStatus::Error);
            assert!(user.message.starts_with(name), "{}", user.message);
        }
    }
}
