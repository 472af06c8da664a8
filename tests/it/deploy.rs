//! `promptops deploy` against moto on loopback, with the deployment states moto lacks added by
//! the test proxy (`support::ecs`): success with record and tag, no-op, dry run, each failure
//! rolled back, verification against a real `promptops serve`, a score regression, a rollback
//! by hand, `deploy status`, and OIDC credentials through moto's STS.

use serde_json::Value;

use crate::support::ecs::{ECR_HOST, Ending, World, ecs};
use crate::support::http::Server;
use crate::support::{TestRepo, bundled_example, committed_example, pairs};

/// The bundled example, committed, with a git identity; and its release id.
fn repository() -> (TestRepo, String) {
    let repo = committed_example();
    let release = repo.release_id();
    (repo, release)
}

fn deploy(repo: &TestRepo, world: &World, extra: &[&str]) -> crate::support::Output {
    let repository = format!("{ECR_HOST}/prompts");
    let args = [
        &[
            "deploy",
            "--cluster",
            "prod",
            "--service",
            "prompts",
            "--image-repository",
            &repository,
            "--poll-interval",
            "50ms",
        ][..],
        extra,
    ]
    .concat();
    let output = with_aws(repo, world, &args);
    if std::env::var_os("DEPLOY_TEST_SHOW").is_some() {
        eprintln!(
            "$ promptops {}\n{}{}exit {}\n",
            args.join(" "),
            output.stdout,
            output.stderr,
            output.code
        );
    }
    output
}

/// Any promptops command against the world (through its proxy, with its credentials).
fn with_aws(repo: &TestRepo, world: &World, args: &[&str]) -> crate::support::Output {
    let environment = world.environment();
    repo.run_env(args, &pairs(&environment))
}

fn json(output: &crate::support::Output) -> Value {
    serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"))
}

fn registry(repo: &TestRepo) -> String {
    repo.read("prompt_registry.yaml")
}

fn tags(repo: &TestRepo) -> Vec<String> {
    let repository = git2::Repository::open(repo.path()).unwrap();
    repository
        .tag_names(Some("deploy/*"))
        .unwrap()
        .iter()
        .filter_map(|name| name.ok().flatten().map(str::to_owned))
        .collect()
}

fn mutating(calls: &[String]) -> Vec<&str> {
    calls
        .iter()
        .map(String::as_str)
        .filter(|call| {
            [
                "RegisterTaskDefinition",
                "UpdateService",
                "DeregisterTaskDefinition",
            ]
            .contains(call)
        })
        .collect()
}

#[test]
fn a_deploy_registers_updates_waits_records_and_tags_then_a_second_is_a_no_op() {
    let (repo, release) = repository();
    let world = World::start(&release);
    world.script(Ending::Complete, 2);
    world.start_recording();
    let done = deploy(&repo, &world, &["--format", "json"]);
    assert_eq!(done.code, 0, "{done:?}");
    let value = json(&done);
    assert_eq!(value["result"], "succeeded");
    assert_eq!(value["tag"], "deploy/prompts/1");
    let calls = world.recorded();
    assert_eq!(
        calls[..5],
        [
            "DescribeImages",
            "DescribeServices",
            "DescribeTaskDefinition",
            "RegisterTaskDefinition",
            "UpdateService"
        ],
        "{calls:?}"
    );
    assert!(
        calls[5..].iter().all(|call| call == "DescribeServices"),
        "{calls:?}"
    );
    assert!(
        calls.len() >= 8,
        "three looks at least (two in progress, one done): {calls:?}"
    );

    // The new revision differs only in image (pinned by digest) and release; tags are kept.
    let arn = value["task_definition"].as_str().unwrap();
    assert!(arn.ends_with("task-definition/prompts:2"), "{arn}");
    let described = world.task_definition(arn);
    let container = &described["taskDefinition"]["containerDefinitions"][0];
    let image = container["image"].as_str().unwrap();
    assert!(
        image.starts_with(&format!("{ECR_HOST}/prompts@sha256:")),
        "{image}"
    );
    assert_eq!(value["image"], image);
    let environment: Vec<(String, String)> = container["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair["name"].as_str().unwrap().to_owned(),
                pair["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        environment,
        [
            ("A".to_owned(), "1".to_owned()),
            ("PROMPTOPS_RELEASE".to_owned(), release.clone())
        ]
    );
    assert_eq!(container["portMappings"][0]["containerPort"], 8080);
    assert_eq!(described["tags"][0]["key"], "team");

    // Recorded and tagged in git.
    let text = registry(&repo);
    assert!(text.contains("event: deploy"), "{text}");
    assert!(text.contains(&format!("release_id: {release}")), "{text}");
    assert!(
        text.contains(
            "task_definition: arn:aws:ecs:us-east-1:123456789012:task-definition/prompts:2"
        ),
        "{text}"
    );
    assert_eq!(tags(&repo), ["deploy/prompts/1"]);
    let validate = repo.run(&["validate"]);
    assert_eq!(validate.code, 0, "{validate:?}");
    // The record does not change the release (the bundle has no history).
    assert_eq!(repo.release_id(), release);

    // Again: the release already runs.
    world.start_recording();
    let again = deploy(&repo, &world, &[]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("already runs"), "{again:?}");
    assert!(mutating(&world.recorded()).is_empty());

    // deploy status maps the running revision to its release and prompt versions.
    let status = with_aws(
        &repo,
        &world,
        &[
            "deploy",
            "status",
            "--cluster",
            "prod",
            "--service",
            "prompts",
        ],
    );
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.contains("prompts:2"), "{status:?}");
    assert!(status.stdout.contains(&release[..12]), "{status:?}");
    assert!(
        status.stdout.contains("normalize-product-title 1.2.0"),
        "{status:?}"
    );
}

#[test]
fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let (repo, release) = repository();
    let world = World::start(&release);
    world.start_recording();
    let before = registry(&repo);
    let dry = deploy(&repo, &world, &["--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stderr
            .contains(&format!("image {ECR_HOST}/prompts@sha256:")),
        "{dry:?}"
    );
    assert!(
        dry.stderr
            .contains(&format!("- image: {ECR_HOST}/prompts:old")),
        "{dry:?}"
    );
    assert!(
        dry.stderr
            .contains(&format!("+ environment PROMPTOPS_RELEASE={release}")),
        "{dry:?}"
    );
    assert!(dry.stderr.contains("would: ecs:UpdateService"), "{dry:?}");
    assert!(dry.stderr.contains("deploy/prompts/1"), "{dry:?}");
    let calls = world.recorded();
    assert!(mutating(&calls).is_empty(), "{calls:?}");
    assert!(calls.contains(&"DescribeServices".to_owned()), "{calls:?}");
    assert_eq!(registry(&repo), before);
    assert!(tags(&repo).is_empty());
}

#[test]
fn each_failed_rollout_rolls_back_and_exits_1_with_the_reason() {
    let (repo, release) = repository();
    let world = World::start(&release);
    for (ending, says) in [
        (Ending::Fail, "circuit breaker: tasks failed to start"),
        (Ending::EcsRollback, "ECS rolled the deployment back"),
        (Ending::Vanish, "no deployment at all"),
    ] {
        world.script(ending, 1);
        world.start_recording();
        let failed = deploy(&repo, &world, &["--format", "json", "--deregister-failed"]);
        assert_eq!(failed.code, 1, "{ending:?}: {failed:?}");
        let value = json(&failed);
        assert_eq!(value["result"], "rolled-back", "{value}");
        assert!(
            value["reason"].as_str().unwrap().contains(says),
            "{ending:?}: {value}"
        );
        let calls = world.recorded();
        assert_eq!(
            mutating(&calls),
            [
                "RegisterTaskDefinition",
                "UpdateService",
                "UpdateService",
                "DeregisterTaskDefinition"
            ],
            "{ending:?}"
        );
        // The service is back on the revision it ran.
        let service = ecs(
            &world.moto,
            "DescribeServices",
            &serde_json::json!({"cluster": "prod", "services": ["prompts"]}),
        );
        assert!(
            service["services"][0]["taskDefinition"]
                .as_str()
                .unwrap()
                .ends_with("prompts:1"),
            "{service}"
        );
    }
    // A rollout that never ends is a failure at the timeout (the rollback then times out too:
    // the script keeps every rollout in progress).
    world.script(Ending::Complete, 1_000_000);
    let stuck = deploy(&repo, &world, &["--timeout", "1s"]);
    assert_eq!(stuck.code, 1, "{stuck:?}");
    assert!(stuck.stdout.contains("timed out after 1 s"), "{stuck:?}");
    world.script(Ending::Complete, 0);
    let home = with_aws(
        &repo,
        &world,
        &[
            "deploy",
            "rollback",
            "--cluster",
            "prod",
            "--service",
            "prompts",
            "--to-revision",
            "1",
            "--reason",
            "after the timeout test",
            "--poll-interval",
            "50ms",
        ],
    );
    assert_eq!(home.code, 0, "{home:?}");
    let text = registry(&repo);
    assert_eq!(
        text.matches("event: deploy-rollback").count(),
        15,
        "three tasks, five rollbacks:\n{text}"
    );
    assert!(tags(&repo).is_empty(), "a failed deploy is never tagged");
}

#[test]
fn verification_and_scores_decide_after_the_rollout() {
    let (repo, release) = repository();
    let world = World::start(&release);
    // A server that serves another release: the verification fails and the deploy rolls back.
    let other = bundled_example();
    other.edit(
        "prompts/02-production/classify-product-category.yaml",
        "description: ",
        "description: Other. ",
    );
    other.rebuild_registry();
    let elsewhere = Server::start(&other, &[]);
    world.script(Ending::Complete, 0);
    let wrong = deploy(
        &repo,
        &world,
        &[
            "--verify-url",
            &format!("http://{}", elsewhere.address),
            "--timeout",
            "3s",
        ],
    );
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stdout.contains("verification failed"), "{wrong:?}");
    drop(elsewhere);

    // The same release served: verified, then the scores pass.
    let served = Server::start(&repo, &[]);
    world.script(Ending::Complete, 0);
    let verified = deploy(
        &repo,
        &world,
        &["--verify-url", &format!("http://{}", served.address)],
    );
    assert_eq!(verified.code, 0, "{verified:?}");
    assert!(verified.stdout.contains("deploy/prompts/1"), "{verified:?}");
}

#[test]
fn a_score_below_the_previous_deploy_rolls_back() {
    let (repo, _) = repository();
    // The release deployed before scored 0.99 on normalize-product-title; this one has 0.914
    // with a tolerance of 0.02.
    let mut text = registry(&repo);
    text.push_str("    history:\n      - event: deploy\n        version: 1.1.0\n        at: \"2026-11-30T00:00:00Z\"\n        by: Pat Doe <pat@example.com>\n        deployment:\n          cluster: prod\n          service: prompts\n          image: x@sha256:0\n          task_definition: arn:aws:ecs:us-east-1:123456789012:task-definition/prompts:1\n          release_id: earlier\n          score: 0.99\n");
    repo.write("prompt_registry.yaml", &text);
    let rewritten = repo.run(&["registry"]);
    assert_eq!(rewritten.code, 0, "{rewritten:?}");
    repo.commit("an earlier deploy", 1_795_437_300);
    let release = repo.release_id();
    let world = World::start(&release);
    world.script(Ending::Complete, 0);
    let regressed = deploy(&repo, &world, &["--format", "json"]);
    assert_eq!(regressed.code, 1, "{regressed:?}");
    let value = json(&regressed);
    let reason = value["reason"].as_str().unwrap();
    assert!(reason.contains("score check failed"), "{reason}");
    assert!(
        reason.contains("normalize-product-title 1.2.0 scored 0.914"),
        "{reason}"
    );
    assert!(
        value["scores"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["ok"] == true),
        "{value}"
    );
}

#[test]
fn a_rollback_by_hand_goes_back_to_the_revision_before() {
    let (repo, release) = repository();
    let world = World::start(&release);
    world.script(Ending::Complete, 0);
    assert_eq!(deploy(&repo, &world, &[]).code, 0);
    let no_reason = with_aws(
        &repo,
        &world,
        &[
            "deploy",
            "rollback",
            "--cluster",
            "prod",
            "--service",
            "prompts",
            "--reason",
            " ",
        ],
    );
    assert_eq!(no_reason.code, 2, "{no_reason:?}");
    let back = with_aws(
        &repo,
        &world,
        &[
            "deploy",
            "rollback",
            "--cluster",
            "prod",
            "--service",
            "prompts",
            "--reason",
            "answers got worse",
            "--poll-interval",
            "50ms",
        ],
    );
    assert_eq!(back.code, 0, "{back:?}");
    assert!(
        back.stdout
            .contains("rolled back to prompts:1 (from prompts:2)"),
        "{back:?}"
    );
    let text = registry(&repo);
    assert!(text.contains("reason: answers got worse"), "{text}");
    let service = ecs(
        &world.moto,
        "DescribeServices",
        &serde_json::json!({"cluster": "prod", "services": ["prompts"]}),
    );
    assert!(
        service["services"][0]["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with("prompts:1")
    );
}

#[test]
fn oidc_credentials_go_through_sts() {
    let (repo, release) = repository();
    let world = World::start(&release);
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "a-github-oidc-token").unwrap();
    let mut environment: Vec<(&str, String)> = world
        .environment()
        .into_iter()
        .filter(|(name, _)| {
            !name.starts_with("AWS_ACCESS_KEY_ID") && !name.starts_with("AWS_SECRET")
        })
        .collect();
    environment.push((
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        token.path().to_str().unwrap().to_owned(),
    ));
    environment.push((
        "AWS_ROLE_ARN",
        "arn:aws:iam::123456789012:role/deploy".to_owned(),
    ));
    environment.push(("AWS_ROLE_SESSION_NAME", "gha".to_owned()));
    let environment = pairs(&environment);
    world.start_recording();
    let repository = format!("{ECR_HOST}/prompts");
    // The web identity's environment, not the world's static keys.
    let dry = repo.run_env(
        &[
            "deploy",
            "--cluster",
            "prod",
            "--service",
            "prompts",
            "--image-repository",
            &repository,
            "--dry-run",
        ],
        &environment,
    );
    assert_eq!(dry.code, 0, "{dry:?}");
    let actions = world.recorded_actions();
    assert!(
        actions.contains(&"AssumeRoleWithWebIdentity".to_owned()),
        "the web identity was exchanged at STS: {actions:?}"
    );
    // Without any credential the same call fails with exit 3.
    let bare: Vec<(&str, &str)> = environment
        .iter()
        .copied()
        .filter(|(name, _)| !name.starts_with("AWS_WEB") && !name.starts_with("AWS_ROLE"))
        .collect();
    let refused = repo.run_env(
        &[
            "deploy",
            "--cluster",
            "prod",
            "--service",
            "prompts",
            "--image-repository",
            &repository,
            "--dry-run",
        ],
        &[
            &bare[..],
            &[
                ("AWS_CONFIG_FILE", "/nonexistent"),
                ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ],
        ]
        .concat(),
    );
    assert_eq!(refused.code, 3, "{refused:?}");
}

#[test]
fn the_deploy_section_of_the_config_and_no_wait() {
    let (repo, release) = repository();
    let world = World::start(&release);
    let config = repo.read("promptops.yaml");
    repo.write(
        "promptops.yaml",
        &format!("{config}deploy:\n  cluster: prod\n  service: prompts\n  container: app\n  image_repository: {ECR_HOST}/prompts\n"),
    );
    let validate = repo.run(&["validate"]);
    assert_eq!(validate.code, 0, "{validate:?}");
    repo.commit("deploy settings", 1_795_437_400);
    world.start_recording();
    let started = with_aws(&repo, &world, &["deploy", "--no-wait"]);
    assert_eq!(started.code, 0, "{started:?}");
    assert!(started.stdout.contains("not waited for"), "{started:?}");
    let calls = world.recorded();
    assert_eq!(
        mutating(&calls),
        ["RegisterTaskDefinition", "UpdateService"],
        "{calls:?}"
    );
    assert!(
        !registry(&repo).contains("event: deploy"),
        "nothing is recorded without the wait"
    );
    let typo = repo
        .read("promptops.yaml")
        .replace("  cluster: prod", "  clustr: prod");
    repo.write("promptops.yaml", &typo);
    let refused = repo.run(&["validate"]);
    assert_ne!(
        refused.code, 0,
        "an unknown deploy key is an error: {refused:?}"
    );
}

/// A `deploy:` section that does not validate is refused before anything else, naming its
/// file and line, instead of its settings going silently missing ("deploy needs a cluster").
#[test]
fn a_deploy_section_with_errors_is_refused_naming_its_line() {
    let repo = TestRepo::sample();
    repo.write(
        "promptops.yaml",
        "deploy:\n  cluster: prod\n  service: prompts\n  verify_url: file:///etc/passwd\n",
    );
    for args in [
        &["deploy", "--dry-run"][..],
        &["deploy", "status"],
        &["deploy", "rollback", "--reason", "r"],
    ] {
        let output = repo.run(args);
        assert_eq!(output.code, 2, "{args:?}: {output:?}");
        assert!(
            output.stderr.starts_with(
                "error: promptops.yaml:4:15: `verify_url`: `file:///etc/passwd` does not match"
            ),
            "{args:?}: {output:?}"
        );
    }
}

/// Regression: a few seconds of AWS 500s while deploy waited ended it at once (exit 3),
/// leaving the service on the new, unverified revision with no rollback and no record. They are
/// retried within the deadline; when AWS keeps failing, the outcome is unknown: said, recorded,
/// exit 4.
#[test]
fn aws_errors_while_waiting_are_retried_and_an_unknown_outcome_is_recorded() {
    let (repo, release) = repository();
    let world = World::start(&release);
    world.script(Ending::Complete, 1);
    world.fail_looks(3);
    let output = deploy(&repo, &world, &["--timeout", "60s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("trying again"), "{output:?}");
    assert!(
        registry(&repo).contains("event: deploy\n"),
        "{}",
        registry(&repo)
    );

    // A new release, and AWS failing until the deadline.
    repo.edit(
        "prompts/03-metadata/classify-product-category.yaml",
        "owner:",
        "# a change to the release\nowner:",
    );
    assert_eq!(repo.run(&["registry"]).code, 0);
    repo.commit("a change", 1_795_437_500);
    let release = repo.release_id();
    let world = World::start(&release);
    world.script(Ending::Complete, 1);
    world.fail_looks(usize::MAX);
    let output = deploy(&repo, &world, &["--timeout", "2s"]);
    assert_eq!(output.code, 4, "{output:?}");
    assert!(output.stderr.contains("cannot be known"), "{output:?}");
    assert!(
        registry(&repo).contains("event: deploy-unknown"),
        "{}",
        registry(&repo)
    );
}

/// A verify endpoint on loopback that answers every request with `answer` (status line,
/// headers and as much body as it likes), written by `write`.
fn hostile_endpoint(write: fn(&mut std::net::TcpStream)) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let _ = std::io::Read::read(&mut stream, &mut buffer);
                write(&mut stream);
            });
        }
    });
    format!("http://{address}")
}

/// Regression: `--verify-url`'s answer was read whole (512 MiB aborted the process mid-deploy),
/// and a redirect to another host (169.254.169.254) was followed. The answer is read to 64 KiB,
/// a redirect leaves neither host nor port, and the deploy ends rolled back with its reason.
#[test]
fn a_verify_endpoint_cannot_exhaust_memory_or_redirect_elsewhere() {
    use std::io::Write as _;
    let (repo, release) = repository();
    let world = World::start(&release);
    let huge = hostile_endpoint(|stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 536870912\r\n\r\n",
        );
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..512 {
            if stream.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    world.script(Ending::Complete, 0);
    let output = deploy(&repo, &world, &["--verify-url", &huge, "--timeout", "3s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stdout.contains("larger than the 65536 bytes read"),
        "{output:?}"
    );

    let elsewhere = hostile_endpoint(|stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n",
        );
    });
    world.script(Ending::Complete, 0);
    let output = deploy(
        &repo,
        &world,
        &["--verify-url", &elsewhere, "--timeout", "3s"],
    );
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("another host"), "{output:?}");
}

/// Regression: `REPO:release-` (an empty id) or a one-character prefix was taken as this
/// release; it is refused before any AWS call.
#[test]
fn an_image_tag_must_name_this_release_in_full() {
    let (repo, _) = repository();
    for tag in ["release-", "release-0"] {
        let image = format!("{ECR_HOST}/prompts:{tag}");
        let output = repo.run(&[
            "deploy",
            "--cluster",
            "prod",
            "--service",
            "prompts",
            "--image",
            &image,
        ]);
        assert_eq!(output.code, 2, "{tag}: {output:?}");
        assert!(
            output.stderr.contains("does not name a release"),
            "{output:?}"
        );
    }
}

/// Regression: without credentials, deploy printed three AWS SDK warning dumps before its
/// error. One clean error with its hint.
#[test]
fn without_credentials_deploy_prints_one_clean_error() {
    let (repo, _) = repository();
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_str().unwrap().to_owned();
    let repository = format!("{ECR_HOST}/prompts");
    // An instance metadata service that forbids (as a sandboxed runner's proxy answers).
    let metadata = hostile_endpoint(|stream| {
        use std::io::Write as _;
        let _ = stream.write_all(
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\ndenied",
        );
    });
    let output = repo.run_env(
        &[
            "deploy",
            "--cluster",
            "prod",
            "--service",
            "prompts",
            "--image-repository",
            &repository,
        ],
        &[
            ("HOME", home.as_str()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata.as_str()),
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_PROFILE", ""),
        ],
    );
    assert_eq!(output.code, 3, "{output:?}");
    assert!(!output.stderr.contains("WARN"), "{output:?}");
    assert_eq!(
        output
            .stderr
            .lines()
            .filter(|line| line.starts_with("error:"))
            .count(),
        1,
        "{output:?}"
    );
    assert_eq!(
        output.stderr.lines().count(),
        2,
        "the error and its hint: {output:?}"
    );
    assert!(
        output.stderr.contains("hint: check the credentials"),
        "{output:?}"
    );
}

/// The README's way to try `deploy` without an AWS account or Docker: `scripts/local_aws.py`
/// sets up moto, and the deploy's dry run shows the whole plan against it.
#[test]
fn the_local_aws_script_sets_up_a_deploy_to_try() {
    let repo = committed_example();
    let moto = crate::support::registry::Moto::start();
    let environment = moto.environment();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/local_aws.py");
    let set_up = std::process::Command::new("python3")
        .arg(script)
        .current_dir(repo.path())
        .envs(
            environment
                .iter()
                .map(|(name, value)| (*name, value.as_str())),
        )
        .env("PROMPTOPS", env!("CARGO_BIN_EXE_promptops"))
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&set_up.stdout).into_owned();
    assert!(
        set_up.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&set_up.stderr)
    );
    let command = said
        .lines()
        .find_map(|line| line.strip_prefix("try: promptops "))
        .expect("the script says what to try")
        .to_owned();
    let args: Vec<&str> = command.split_whitespace().collect();
    let output = repo.run_env(&args, &pairs(&environment));
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stderr.contains("would: ecs:UpdateService"),
        "{output:?}"
    );
}
