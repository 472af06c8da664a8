//! Command-line arguments. Doc comments here are the `--help` text; no logic lives here, and
//! nothing of the crate is imported.

// The doc comments are shown as they are by `--help`, where backticks would be literal.
#![allow(clippy::doc_markdown)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// GitOps lifecycle for LLM prompts: validate, evaluate and promote prompts kept in git.
#[derive(Debug, Parser)]
#[command(
    name = "promptops",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Exit status: 0 passed, 1 a check or gate said no, 2 bad usage or input, \
                  3 an external service failed, 130 interrupted.\n\
                  Environment: PROMPTOPS_REPO, PROMPTOPS_CACHE_DIR, PROMPTOPS_LOG (log filter, \
                  e.g. debug), PROMPTOPS_RETRY_DELAY_SCALE, PROMPTOPS_LISTEN, PROMPTOPS_REGISTRY_PASSWORD, PROMPTOPS_NOW (a fixed clock), \
                  NO_COLOR, CI."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The options every command takes.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The prompt repository (or PROMPTOPS_REPO) [default: found from the current folder]
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// When to colour messages (NO_COLOR is honoured)
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// Whether to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every prompt, metadata, examples and registry file; report all problems with <file:line>
    #[command(after_help = "Examples:\n  \
        promptops validate\n  \
        promptops validate prompts/00-templates/summarize.yaml --strict\n  \
        promptops validate --format github    # annotations on a pull request")]
    Validate(ValidateArgs),
    /// Rewrite prompt_registry.yaml from the files (deterministic; history is kept)
    #[command(after_help = "Examples:\n  \
        promptops registry\n  \
        promptops registry --check    # in CI: exit 1 and show the difference when stale")]
    Registry(RegistryArgs),
    /// One line per task: production and candidate versions, threshold, score, last change
    #[command(after_help = "Examples:\n  \
        promptops status\n  \
        promptops status --format json | jq '.tasks[] | select(.errors > 0)'")]
    Status(StatusArgs),
    /// Run a task's examples through its prompt, score the answers, log them and gate on the threshold
    #[command(after_help = "Examples:\n  \
        promptops eval --offline                          # replay stored answers, no API key\n  \
        promptops eval summarize --candidate --baseline production\n  \
        promptops eval --shard 2/4 && promptops eval merge prompts/04-evals")]
    Eval(EvalArgs),
    /// Move a task's candidate to production when every gate passes; archive, commit and tag
    #[command(after_help = "Examples:\n  \
        promptops promote summarize --dry-run    # every gate with its evidence, and the plan\n  \
        promptops promote summarize\n  \
        promptops promote summarize --force --reason \"hotfix, re-evaluated by hand\"")]
    Promote(PromoteArgs),
    /// Retire the production prompt (the task is then retired) or a candidate to 99-archive/
    #[command(after_help = "Examples:\n  \
        promptops archive summarize --candidate --reason \"scored below production\"\n  \
        promptops archive summarize --reason \"the feature was removed\" --dry-run")]
    Archive(ArchiveArgs),
    /// Restore an archived version to production; the current production is archived
    #[command(after_help = "Examples:\n  \
        promptops rollback summarize --reason \"answers got worse after 1.3.0\"   # newest archived version that passed\n  \
        promptops rollback summarize --to 1.1.0 --reason \"...\" --dry-run")]
    Rollback(RollbackArgs),
    /// Finish (or, with --undo, undo) a change a killed promptops command left half done
    #[command(
        after_help = "Every promptops command finishes such a change by itself first; \
        use this to see that it happened, or to undo it instead.\n\nExamples:\n  \
        promptops repair\n  \
        promptops repair --undo"
    )]
    Repair(RepairArgs),
    /// Write the release bundle (production prompts, metadata, release.json) and print its id
    #[command(
        after_help = "The release id is a sha256 over the bundle's files: the same production prompts \
        give the same id, whatever history was recorded since.\n\nExample:\n  \
        promptops bundle --out /tmp/release"
    )]
    Bundle(BundleArgs),
    /// Serve the production prompts over HTTP (the prompt loader of the container image)
    #[command(
        after_help = "Routes: GET /healthz, /readyz, /v1/prompts, /v1/prompts/{task} (ETag, 304), \
        POST /v1/prompts/{task}/render (JSON variables in, messages out), GET /v1/release, /metrics.\n\
        Stops gracefully on SIGTERM. Environment: PROMPTOPS_LISTEN, PROMPTOPS_BUNDLE, PROMPTOPS_RELEASE (the release id \
        the bundle must have).\n\nExamples:\n  \
        promptops serve                                  # the repository's production prompts\n  \
        promptops serve --bundle /srv/promptops --listen 0.0.0.0:8080 --log-format json\n  \
        curl -s localhost:8080/v1/prompts/summarize/render -d '{\"text\": \"...\"}'"
    )]
    Serve(ServeArgs),
    /// Exit 0 when a local promptops serve is ready (the image's HEALTHCHECK; no curl needed)
    #[command(after_help = "Example:\n  promptops healthcheck --listen 127.0.0.1:8080")]
    Healthcheck(HealthcheckArgs),
    /// Build the app image without Docker: the base image plus one layer holding the release
    /// bundle, pushed to a registry (or written as an OCI layout)
    #[command(
        after_help = "The same production prompts on the same base give the same digest: a second \
        push uploads nothing. The default tag is release-<first 12 hex of the release id>.\n\
        Auth: ECR registries (<account>.dkr.ecr.<region>.amazonaws.com) log in with the AWS \
        credential chain; others are anonymous, or --registry-username with \
        PROMPTOPS_REGISTRY_PASSWORD.\n\nExamples:\n  \
        promptops image --base ghcr.io/acme/promptops-runtime:0.1.0 --push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/prompts\n  \
        promptops image --base localhost:5000/runtime:0.1.0 --push localhost:5000/prompts --insecure-registry localhost:5000\n  \
        promptops image --base localhost:5000/runtime:0.1.0 --oci-layout ./image --insecure-registry localhost:5000"
    )]
    Image(ImageArgs),
    /// Deploy the release's image to an Amazon ECS service; wait, verify, record and tag, or roll back
    #[command(
        after_help = "Steps: resolve the image's digest in ECR; register a task-definition revision that \
        differs only in the container's image and PROMPTOPS_RELEASE; update the service; wait until our \
        deployment alone is COMPLETED with running = desired (a rollback by ECS is a failure); verify \
        GET /v1/release at --verify-url and the scores; then record a deploy event and tag \
        deploy/<service>/<n>. On a failure the service goes back to the revision it ran, a \
        deploy-rollback event is recorded, and the exit status is 1.\n\nExamples:\n  \
        promptops deploy --cluster prod --service prompts --image-repository 123456789012.dkr.ecr.eu-west-1.amazonaws.com/prompts --dry-run\n  \
        promptops deploy --verify-url https://prompts.internal.example.com\n  \
        promptops deploy rollback --reason \"answers got worse\"\n  \
        promptops deploy status"
    )]
    Deploy(DeployArgs),
    /// Run the lifecycle as stages: validate, eval, gate, promote, image, deploy, verify
    #[command(
        after_help = "Each stage runs the promptops command a person would type (printed with $). A \
        stage whose inputs (content hashes) are those of its last passed run is skipped, and says why; \
        --force runs it anyway. Every stage appends a line to prompts/04-evals/pipeline-log.jsonl. The \
        run stops at the first failing stage with its exit status.\n\nExamples:\n  \
        promptops pipeline --offline --until promote --dry-run   # the plan, no API key, no AWS\n  \
        promptops pipeline --until gate\n  \
        promptops pipeline --image-base ghcr.io/acme/promptops-runtime:0.1.0 --image-push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/prompts"
    )]
    Pipeline(PipelineArgs),
    /// Reports for reviewers: report pr, the pull request's changes, scores and gates in Markdown
    #[command(subcommand)]
    Report(ReportCommand),
    /// Every version of a task: dates, scores, decisions, who, why and the commit
    #[command(after_help = "Examples:\n  \
        promptops history summarize\n  \
        promptops history summarize --format json | jq '.rows[] | select(.event == \"override\")'")]
    History(HistoryArgs),
    /// Scaffold a new prompt repository with a sample task that validates clean
    #[command(
        after_help = "Example:\n  promptops init my-prompts && cd my-prompts && promptops validate"
    )]
    Init(InitArgs),
    /// Print a shell completion script
    #[command(after_help = "Examples:\n  \
        promptops completions bash > ~/.local/share/bash-completion/completions/promptops\n  \
        promptops completions zsh > ~/.zfunc/_promptops")]
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    #[command(hide = true)]
    Man,
}

#[derive(Clone, Debug, Args)]
pub struct PromoteArgs {
    /// The task whose candidate (prompts/00-templates/TASK.yaml) to promote
    #[arg(required_unless_present = "changed_since")]
    pub task: Option<String>,
    /// Instead of TASK: every task with a candidate whose files differ between REF and the
    /// work tree, each promoted (or refused) on its own
    #[arg(long, value_name = "REF", conflicts_with = "task")]
    pub changed_since: Option<String>,
    /// Promote despite failed gates (never an invalid prompt); needs --reason
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why the gates are overridden (recorded in the registry history and the commit)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Set the candidate's version to production's, raised (rewrites the candidate's file)
    #[arg(long, value_enum, value_name = "PART")]
    pub bump: Option<Bump>,
    /// Evaluate the candidate now (paired with production) and take that run as the evidence
    #[arg(long, conflicts_with = "dry_run")]
    pub eval: bool,
    /// Decide only on this eval run of the candidate (a run name under prompts/04-evals/TASK/;
    /// repeatable): the pipeline passes the runs its own eval stage made, so no committed file
    /// decides
    #[arg(long, value_name = "RUN", conflicts_with = "eval")]
    pub evidence: Vec<String>,
    #[command(flatten)]
    pub run: RunOptions,
    #[command(flatten)]
    pub change: ChangeFlags,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The task
    pub task: String,
    /// Why (recorded in the archived file, the registry history and the commit)
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Archive the candidate in prompts/00-templates/ instead of the production prompt
    #[arg(long)]
    pub candidate: bool,
    #[command(flatten)]
    pub change: ChangeFlags,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The task (with --on-regression: the tasks to check [default: every task in production])
    #[arg(required_unless_present = "on_regression")]
    pub tasks: Vec<String>,
    /// The archived version to restore [default: the newest archived version whose recorded eval passed]
    #[arg(long, value_name = "VERSION", conflicts_with = "on_regression")]
    pub to: Option<String>,
    /// Why (recorded in the archived file, the registry history and the commit)
    #[arg(long, value_name = "TEXT", required_unless_present = "on_regression")]
    pub reason: Option<String>,
    /// Read each task's newest production eval; where it fell below the threshold or dropped
    /// beyond the tolerance, evaluate the rollback target and roll back when it does better
    #[arg(long)]
    pub on_regression: bool,
    #[command(flatten)]
    pub run: RunOptions,
    #[command(flatten)]
    pub change: ChangeFlags,
}

/// The flags every command that changes the repository takes (promote, archive, rollback).
#[derive(Clone, Debug, Args)]
pub struct ChangeFlags {
    /// Print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write and stage the change but do not commit (or tag) it
    #[arg(long)]
    pub no_commit: bool,
    /// Go ahead even when the files it changes hold uncommitted work
    #[arg(long)]
    pub allow_dirty: bool,
    /// How long to wait for another promptops command's lock on the repository (seconds, or 500ms, 30s, 2m)
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub lock_timeout: String,
    /// How to print the plan
    #[arg(long, value_enum, default_value_t)]
    pub format: TableFormat,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Put back the files the interrupted change wrote or removed, instead of finishing it
    #[arg(long)]
    pub undo: bool,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// A new or empty folder to write the bundle to
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How to print the release
    #[arg(long, value_enum, default_value_t)]
    pub format: TableFormat,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (or PROMPTOPS_LISTEN) [default: 127.0.0.1:8080]; port 0 picks a free port
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// A release bundle written by promptops bundle (or PROMPTOPS_BUNDLE) [default: built from the repository]
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// How to write the access log on stderr, one line per request
    #[arg(long, value_enum, default_value_t)]
    pub log_format: LogFormat,
    /// The largest request body read, in bytes; larger ones get 413
    #[arg(long, value_name = "BYTES", default_value_t = 1_048_576)]
    pub body_limit: usize,
    /// How long a request may take, from its headers to its answer; then 408 (seconds, or 500ms, 10s, 1m)
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub request_timeout: String,
    /// How long to let requests in flight finish after SIGTERM (seconds, or 500ms, 20s, 1m)
    #[arg(long, value_name = "DURATION", default_value = "20s")]
    pub shutdown_timeout: String,
    /// Threads answering requests [default: the CPUs this process may use]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// How the access log is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The server's address (or PROMPTOPS_LISTEN; 0.0.0.0 is asked on 127.0.0.1) [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// How long to wait for the answer (seconds, or 500ms, 3s)
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub timeout: String,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The runtime image to build on (the Dockerfile's runtime stage), e.g. REGISTRY/REPO:TAG
    #[arg(long, value_name = "REF")]
    pub base: String,
    /// The repository (and tag) to push to [default tag: release-<id>]
    #[arg(long, value_name = "REF", required_unless_present = "oci_layout")]
    pub push: Option<String>,
    /// Write the image as an OCI layout folder (new or empty) instead of pushing
    #[arg(long, value_name = "DIR", conflicts_with = "push")]
    pub oci_layout: Option<PathBuf>,
    /// A release bundle written by promptops bundle [default: built from the repository]
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Build the runtime image instead, as the Dockerfile's runtime stage does but without
    /// Docker: --base (gcr.io/distroless/cc-debian12:nonroot) plus this promptops binary, with
    /// the stage's entrypoint, command, port and user [default tag: runtime-<12 hex of the
    /// binary>]
    #[arg(long, value_name = "PATH", conflicts_with = "bundle")]
    pub runtime_binary: Option<PathBuf>,
    /// The tag of --oci-layout's image [default: release-<id>]
    #[arg(long, value_name = "TAG", requires = "oci_layout")]
    pub tag: Option<String>,
    /// A registry spoken to over plain HTTP (tests and local registries only); repeatable
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// How to log in to the target registry
    #[arg(long, value_enum, default_value_t)]
    pub registry_auth: RegistryAuth,
    /// The user for basic auth; the password is read from PROMPTOPS_REGISTRY_PASSWORD
    #[arg(long, value_name = "USER")]
    pub registry_username: Option<String>,
    /// The platform to take from a multi-platform base [default: linux and this machine's CPU]
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// An extra label; repeatable (a label that changes per commit changes the digest)
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// How to print the result
    #[arg(long, value_enum, default_value_t)]
    pub format: TableFormat,
}

/// How `image` logs in to the registry it pushes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum RegistryAuth {
    /// ECR hosts by AWS credentials, basic auth when --registry-username is given, else none
    #[default]
    Auto,
    Anonymous,
    Basic,
    /// Amazon ECR's GetAuthorizationToken, whatever the host
    Ecr,
}

/// Which ECS service (flags win over promptops.yaml's `deploy:` section).
#[derive(Clone, Debug, Default, Args)]
pub struct DeployTarget {
    /// The ECS cluster [default: deploy.cluster in promptops.yaml]
    #[arg(long)]
    pub cluster: Option<String>,
    /// The ECS service [default: deploy.service in promptops.yaml]
    #[arg(long)]
    pub service: Option<String>,
    /// Seconds (or 30s, 10m, 1h) to wait for the rollout [default: 10m]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Seconds (or 500ms, 5s) between looks at the service
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub poll_interval: String,
    /// Record nothing in git (the registry is still written)
    #[arg(long)]
    pub no_commit: bool,
    /// How long to wait for another promptops command's lock on the repository (seconds, or 500ms, 30s, 2m)
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub lock_timeout: String,
    /// How to print the result
    #[arg(long, value_enum, default_value_t)]
    pub format: TableFormat,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub command: Option<DeployCommand>,
    #[command(flatten)]
    pub target: DeployTarget,
    /// The container that serves the prompts [default: the only one]
    #[arg(long)]
    pub container: Option<String>,
    /// The image to deploy, REPO:TAG or REPO@sha256:… (ECR)
    #[arg(long, value_name = "REF", conflicts_with = "image_repository")]
    pub image: Option<String>,
    /// The ECR repository promptops image pushed to: its tag release-<id> of this release is deployed
    #[arg(long, value_name = "REPO")]
    pub image_repository: Option<String>,
    /// Print the plan (digest, task-definition difference, calls) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Update the service and return without waiting (nothing is verified, recorded or tagged)
    #[arg(long)]
    pub no_wait: bool,
    /// A URL whose GET /v1/release must serve the deployed release
    #[arg(long, value_name = "URL")]
    pub verify_url: Option<String>,
    /// Deregister the revision that failed, after rolling back
    #[arg(long)]
    pub deregister_failed: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Roll the service back by hand to the revision it ran before (or --to-revision N) and wait
    Rollback(DeployRollbackArgs),
    /// The service's deployments, the release each runs, and the prompt versions in it
    Status(DeployStatusArgs),
}

#[derive(Debug, Args)]
pub struct DeployRollbackArgs {
    #[command(flatten)]
    pub target: DeployTarget,
    /// The revision of the task-definition family to go back to
    #[arg(long, value_name = "N")]
    pub to_revision: Option<u32>,
    /// Why (recorded in the registry history and the commit)
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct DeployStatusArgs {
    #[command(flatten)]
    pub target: DeployTarget,
}

/// A pipeline stage, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    Validate,
    Eval,
    Gate,
    Promote,
    Image,
    Deploy,
    Verify,
}

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Print every stage's plan (what it would skip, evaluate, promote, push and deploy) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Start at this stage
    #[arg(long, value_name = "STAGE")]
    pub from: Option<Stage>,
    /// Stop after this stage
    #[arg(long, value_name = "STAGE")]
    pub until: Option<Stage>,
    /// Run only this stage
    #[arg(long, value_name = "STAGE", conflicts_with_all = ["from", "until"])]
    pub only: Option<Stage>,
    /// Run stages even when their inputs are unchanged since their last passed run
    #[arg(long)]
    pub force: bool,
    /// Evaluate from stored responses only (no API key)
    #[arg(long, conflicts_with = "no_cache")]
    pub offline: bool,
    /// Evaluate without the response cache
    #[arg(long)]
    pub no_cache: bool,
    /// The longest one stage may run (seconds, or 30s, 10m, 1h)
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub stage_timeout: String,
    /// The image stage's base (the runtime image); without it and --image-push the stage is skipped
    #[arg(long, value_name = "REF", requires = "image_push")]
    pub image_base: Option<String>,
    /// Where the image stage pushes
    #[arg(long, value_name = "REF", requires = "image_base")]
    pub image_push: Option<String>,
    /// Passed to the image stage: a registry spoken to over plain HTTP
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Passed to the deploy stage: the URL whose /v1/release must serve the release
    #[arg(long, value_name = "URL")]
    pub verify_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Markdown for a pull request: each changed task's scores (paired delta and interval), gates,
    /// worst regressed examples, and what merging will promote and deploy
    #[command(
        after_help = "Written to --out, else to GITHUB_STEP_SUMMARY when set, else stdout. The first line \
        is a hidden marker, so a workflow can update one sticky comment.\n\nExample:\n  \
        promptops report pr --base origin/main --out report.md"
    )]
    Pr(ReportPrArgs),
}

#[derive(Debug, Args)]
pub struct ReportPrArgs {
    /// The pull request's base (a git ref), e.g. origin/main
    #[arg(long, value_name = "REF")]
    pub base: String,
    /// Write the report to this file
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How many of the worst regressed examples to show per task
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub examples: usize,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The task
    pub task: String,
    /// How to print the history
    #[arg(long, value_enum, default_value_t)]
    pub format: TableFormat,
}

/// Which part of a semantic version to raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Bump {
    Major,
    Minor,
    Patch,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or folders to check, with the cross-file checks they take part in [default: all]
    pub paths: Vec<PathBuf>,
    /// Treat problems in prompts/00-templates/ as errors, not warnings
    #[arg(long)]
    pub strict: bool,
    /// Only the tasks with a file that differs between REF and the work tree (e.g. origin/main)
    #[arg(long, value_name = "REF", conflicts_with = "paths")]
    pub changed_since: Option<String>,
    /// How to print findings
    #[arg(long, value_enum, default_value_t)]
    pub format: FindingsFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum FindingsFormat {
    /// Readable text with source lines, on stderr
    #[default]
    Human,
    /// One JSON document on stdout
    Json,
    /// GitHub Actions annotations on stdout
    Github,
}

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Write nothing; exit 1 and print the difference if the committed registry is stale
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    /// Write nothing; print the registry that would be written to stdout
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only the tasks with a file that differs between REF and the work tree
    #[arg(long, value_name = "REF")]
    pub changed_since: Option<String>,
    /// How to print the table
    #[arg(long, value_enum, default_value_t)]
    pub format: TableFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the repository [default: the current folder]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub command: Option<EvalCommand>,
    /// Tasks to evaluate [default: every task that has the prompt being evaluated]
    pub tasks: Vec<String>,
    /// Evaluate the candidate in prompts/00-templates/ instead of the production prompt
    #[arg(long)]
    pub candidate: bool,
    /// With --candidate: also run this prompt on the same examples and compare (paired)
    #[arg(long, value_enum, value_name = "PROMPT", requires = "candidate")]
    pub baseline: Option<Baseline>,
    /// Take only shard K of N of the examples (stable by example id), e.g. 2/4
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Continue the newest interrupted run of the same prompt and examples
    #[arg(long)]
    pub resume: bool,
    /// Only the tasks with a file that differs between REF and the work tree (e.g. origin/main)
    #[arg(long, value_name = "REF")]
    pub changed_since: Option<String>,
    /// For `pipeline`: append each task's run (made, or an unchanged earlier one) to FILE
    #[arg(long, value_name = "FILE", hide = true)]
    pub record_runs: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunOptions,
    #[command(flatten)]
    pub reports: EvalReports,
}

/// How an eval calls the models (`eval`, and `promote --eval`).
#[derive(Clone, Debug, Default, Args)]
pub struct RunOptions {
    /// Use stored responses only; a missing one is an error naming the task and example
    #[arg(long, conflicts_with = "no_cache")]
    pub offline: bool,
    /// Neither read nor write stored responses
    #[arg(long)]
    pub no_cache: bool,
    /// Requests in flight at once [default: defaults.concurrency in promptops.yaml, else 8]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,
    /// Where stored responses live (or PROMPTOPS_CACHE_DIR) [default: .promptops/cache]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// How `eval` and `eval merge` report the runs that gate.
#[derive(Debug, Args)]
pub struct EvalReports {
    /// How to print the results
    #[arg(long, value_enum, default_value_t)]
    pub format: TableFormat,
    /// Also write a JUnit XML report: per task a test case for its gate, then one per example
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a Markdown summary (for $GITHUB_STEP_SUMMARY or a pull-request comment)
    #[arg(long, value_name = "FILE")]
    pub summary_md: Option<PathBuf>,
    /// In the JUnit report, count each failing example as a failed test case (by default only
    /// a task's gate can fail; examples are listed with their reasons)
    #[arg(long, requires = "junit")]
    pub junit_examples_fail: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Baseline {
    /// The task's production prompt
    Production,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Combine the logs of --shard K/N runs (e.g. CI matrix artifacts) into one run
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Folders holding shard logs (*.summary.json and their .jsonl), searched recursively
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The reports of the merged runs (the ones that gate in CI)
    #[command(flatten)]
    pub reports: EvalReports,
}
