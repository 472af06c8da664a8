//! `promptops serve` over real HTTP on 127.0.0.1: every route and error, the entity tag, limits,
//! timeouts, SIGTERM with requests in flight, concurrency, and what it refuses to load.

use std::io::Write;
use std::time::Duration;

use crate::support::bundled_example;
use crate::support::http::{Server, connect, read_response, request};

const TASK: &str = "normalize-product-title";

#[test]
fn every_route_answers_with_json_an_etag_and_metrics() {
    let repo = bundled_example();
    let server = Server::start(&repo, &["--log-format", "json"]);

    let health = server.get("/healthz");
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (200, "ok".into())
    );
    let ready = server.get("/readyz");
    assert_eq!(ready.status, 200);

    let release_id = repo.release_id();
    let release = server.get("/v1/release");
    assert_eq!(release.status, 200);
    assert_eq!(release.json()["release_id"], release_id.as_str());
    assert_eq!(ready.json()["release_id"], release_id.as_str());
    assert_eq!(release.json()["tasks"][TASK]["version"], "1.2.0");

    let list = server.get("/v1/prompts");
    let tasks: Vec<String> = list.json()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["task"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        tasks,
        [
            "classify-product-category",
            "extract-product-attributes",
            TASK
        ]
    );

    let prompt = server.get(&format!("/v1/prompts/{TASK}"));
    assert_eq!(prompt.status, 200);
    assert_eq!(prompt.header("content-type"), Some("application/json"));
    let sha256 = prompt.json()["sha256"].as_str().unwrap().to_owned();
    let on_disk = std::fs::read(
        repo.path()
            .join(format!("prompts/02-production/{TASK}.yaml")),
    )
    .unwrap();
    assert_eq!(sha256, sha256_hex(&on_disk));
    assert_eq!(
        prompt.header("etag"),
        Some(format!("\"{sha256}\"").as_str())
    );
    assert_eq!(prompt.json()["prompt"]["version"], "1.2.0");

    let etag = format!("\"{sha256}\"");
    let cached = request(
        &server.address,
        "GET",
        &format!("/v1/prompts/{TASK}"),
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    let stale = request(
        &server.address,
        "GET",
        &format!("/v1/prompts/{TASK}"),
        &[("If-None-Match", "\"old\"")],
        b"",
    );
    assert_eq!(stale.status, 200);

    let rendered = server.post(
        &format!("/v1/prompts/{TASK}/render"),
        br#"{"raw_title": "  BOSCH gsr 12v-15 Akku-Bohrschrauber  "}"#,
    );
    assert_eq!(rendered.status, 200, "{}", rendered.text());
    let value = rendered.json();
    assert_eq!(value["version"], "1.2.0");
    assert_eq!(value["model"]["provider"], "openai");
    let messages = value["messages"].as_array().unwrap();
    assert!(
        messages.iter().any(|m| m["content"]
            .as_str()
            .unwrap()
            .contains("BOSCH gsr 12v-15 Akku-Bohrschrauber")),
        "{value}"
    );

    let bad = server.post(
        &format!("/v1/prompts/{TASK}/render"),
        br#"{"raw_titel": "x", "max_length": "ten"}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    let problems: Vec<(String, String)> = bad.json()["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["problem"].as_str().unwrap().into(),
                p["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        problems.contains(&("missing".into(), "raw_title".into())),
        "{problems:?}"
    );
    assert!(
        problems.contains(&("undeclared".into(), "raw_titel".into())),
        "{problems:?}"
    );

    for (body, what) in [
        (&b"[1,2]"[..], "not a JSON object"),
        (b"{\"raw_title\": ", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
    ] {
        let answer = server.post(&format!("/v1/prompts/{TASK}/render"), body);
        assert_eq!(answer.status, 400);
        assert!(
            answer.json()["error"].as_str().unwrap().contains(what),
            "{}",
            answer.text()
        );
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        server
            .post(&format!("/v1/prompts/{TASK}/render"), deep.as_bytes())
            .status,
        400
    );

    let unknown = server.get("/v1/prompts/no-such-task");
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["hint"].as_str().unwrap().contains(TASK));
    assert_eq!(
        server.post("/v1/prompts/no-such-task/render", b"{}").status,
        404
    );
    assert_eq!(server.get("/nothing/here").status, 404);
    let bad_path = server.get("/v1/prompts/%FF%00%2F..");
    assert_eq!(bad_path.status, 400);
    assert!(
        bad_path.json()["error"]
            .as_str()
            .unwrap()
            .contains("cannot be read")
    );
    assert_eq!(server.post("/v1/release", b"").status, 405);
    assert_eq!(
        server.get(&format!("/v1/prompts/{TASK}/render")).status,
        405
    );

    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = metrics.text();
    for line in [
        "promptops_http_requests_total{route=\"/v1/prompts/{task}\",status=\"304\"} 1".to_owned(),
        "promptops_http_requests_total{route=\"/v1/prompts/{task}/render\",status=\"400\"} 5"
            .to_owned(),
        "promptops_http_requests_total{route=\"other\",status=\"404\"} 1".to_owned(),
        format!("promptops_release_info{{release_id=\"{release_id}\",tasks=\"3\"}} 1"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    assert!(text.contains("promptops_http_request_duration_seconds_bucket{route=\"/v1/prompts/{task}\",le=\"+Inf\"} 5"), "{text}");

    // One JSON access-log line per request, with route and status.
    let lines = server.log_lines(20);
    let entries: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        entries.iter().any(|e| e["status"] == 304
            && e["route"] == "/v1/prompts/{task}"
            && e["method"] == "GET"),
        "{lines:?}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["remote"].as_str().unwrap().starts_with("127.0.0.1:"))
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    promptops::domain::source::sha256_hex(bytes)
}

#[test]
fn a_body_over_the_limit_gets_413_and_the_server_goes_on() {
    let repo = bundled_example();
    let server = Server::start(&repo, &["--body-limit", "1024"]);
    let big = format!("{{\"raw_title\": \"{}\"}}", "x".repeat(4096));
    let answer = server.post(&format!("/v1/prompts/{TASK}/render"), big.as_bytes());
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert!(answer.json()["error"].as_str().unwrap().contains("limit"));
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn a_slow_request_is_stopped_by_the_request_timeout() {
    let repo = bundled_example();
    let server = Server::start(&repo, &["--request-timeout", "0.5"]);
    let mut stream = connect(&server.address);
    write!(
        stream,
        "POST /v1/prompts/{TASK}/render HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n{{\"raw"
    )
    .unwrap();
    let started = std::time::Instant::now();
    let answer = read_response(&mut stream);
    assert_eq!(answer.status, 408, "{}", answer.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    // A connection that never sends its headers is closed too.
    let mut silent = connect(&server.address);
    let mut buffer = Vec::new();
    let started = std::time::Instant::now();
    let _ = std::io::Read::read_to_end(&mut silent, &mut buffer);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_exits_0() {
    let repo = bundled_example();
    let mut server = Server::start(&repo, &["--shutdown-timeout", "10"]);
    let body = br#"{"raw_title": "in flight"}"#;
    let mut stream = connect(&server.address);
    write!(
        stream,
        "POST /v1/prompts/{TASK}/render HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.terminate();
    std::thread::sleep(Duration::from_millis(300));
    // Still running: the request is in flight.
    assert!(server.child.try_wait().unwrap().is_none());
    stream.write_all(&body[5..]).unwrap();
    let answer = read_response(&mut stream);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("in flight"));
    assert_eq!(server.wait(Duration::from_secs(10)), Some(0));
    assert!(std::net::TcpStream::connect(&server.address).is_err());
}

#[test]
fn concurrent_clients_all_get_answers() {
    let repo = bundled_example();
    let server = Server::start(&repo, &[]);
    let address = server.address.clone();
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let address = address.clone();
            std::thread::spawn(move || {
                (0..40)
                    .map(|i| {
                        if (n + i) % 2 == 0 {
                            request(&address, "GET", &format!("/v1/prompts/{TASK}"), &[], b"")
                                .status
                        } else {
                            request(
                                &address,
                                "POST",
                                &format!("/v1/prompts/{TASK}/render"),
                                &[],
                                br#"{"raw_title": "a"}"#,
                            )
                            .status
                        }
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let statuses: Vec<u16> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(statuses.len(), 320);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains(
            "promptops_http_requests_total{route=\"/v1/prompts/{task}\",status=\"200\"} 160"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "promptops_http_requests_total{route=\"/v1/prompts/{task}/render\",status=\"200\"} 160"
        ),
        "{metrics}"
    );
}

#[test]
fn garbage_on_the_wire_never_takes_the_server_down() {
    let repo = bundled_example();
    let server = Server::start(&repo, &[]);
    for junk in [
        &b"\x00\x01\x02\xff garbage\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /v1/prompts HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/prompts/x/render HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut stream = connect(&server.address);
        let _ = stream.write_all(junk);
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut sink);
    }
    // A request head over 64 KiB is refused with 431 before it is buffered whole (the server
    // may close while the rest is still being sent).
    let mut big = connect(&server.address);
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "x".repeat(200_000)
    );
    let _ = big.write_all(head.as_bytes());
    assert_eq!(read_response(&mut big).status, 431);
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn serves_a_bundle_folder_and_refuses_one_changed_by_hand() {
    let repo = bundled_example();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("release");
    let bundled = repo.run(&["bundle", "--out", dir.to_str().unwrap()]);
    assert_eq!(bundled.code, 0, "{bundled:?}");
    // Served from the folder, in another folder than the repository.
    let elsewhere = crate::support::TestRepo::empty();
    let server = Server::start(&elsewhere, &["--bundle", dir.to_str().unwrap()]);
    assert_eq!(
        server.get("/v1/release").json()["release_id"],
        bundled.stdout.trim()
    );
    drop(server);

    let path = dir.join(format!("prompts/{TASK}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("version: 1.2.0", "version: 1.2.1")).unwrap();
    let refused = elsewhere.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--bundle",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains(&format!("prompts/{TASK}.yaml")),
        "{refused:?}"
    );
    assert!(
        refused
            .stderr
            .contains("changed after the bundle was written"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("not serving"), "{refused:?}");

    let not_a_bundle = elsewhere.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--bundle",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(not_a_bundle.code, 2, "{not_a_bundle:?}");
    assert!(
        not_a_bundle.stderr.contains("is not a release bundle"),
        "{not_a_bundle:?}"
    );

    std::fs::write(dir.join("release.json"), br#"{"schema_version": 1, "tasks": {"../../etc/passwd": {"version": "1.0.0", "prompt_sha256": "", "metadata_sha256": ""}}}"#).unwrap();
    let crafted = elsewhere.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--bundle",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(crafted.code, 2, "{crafted:?}");
    assert!(crafted.stderr.contains("is not a task id"), "{crafted:?}");
}

#[test]
fn a_repository_with_errors_is_not_served() {
    let repo = bundled_example();
    repo.edit(
        &format!("prompts/02-production/{TASK}.yaml"),
        "{{ raw_title }}",
        "{{ raw_title }} {{ not_declared }}",
    );
    let refused = repo.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(refused.stderr.contains("error(s)"), "{refused:?}");
}

#[test]
fn healthcheck_says_whether_a_server_is_ready() {
    let repo = bundled_example();
    let server = Server::start(&repo, &[]);
    let ready = repo.run(&["healthcheck", "--listen", &server.address]);
    assert_eq!(ready.code, 0, "{ready:?}");
    let port = server.address.rsplit(':').next().unwrap().to_owned();
    let wildcard = repo.run_env(
        &["healthcheck"],
        &[("PROMPTOPS_LISTEN", &format!("0.0.0.0:{port}"))],
    );
    assert_eq!(wildcard.code, 0, "{wildcard:?}");
    drop(server);
    let closed = repo.run(&[
        "healthcheck",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "1",
    ]);
    assert_eq!(closed.code, 1, "{closed:?}");
    assert!(closed.stderr.contains("not ready"), "{closed:?}");
}

/// Regression: `serve` rendered with no time limit (eval has a watchdog). A render runs against
/// the same deadline on its own thread: a runaway template gets a 503 naming its task, the
/// server goes on answering, and `/healthz` says it needs replacing.
#[test]
fn a_runaway_render_is_refused_at_the_deadline_and_the_server_goes_on() {
    let repo = crate::support::TestRepo::sample();
    repo.edit(
        "prompts/02-production/summarize.yaml",
        "content: \"Ticket: {{ ticket }}\"",
        "content: \"{% set ns = namespace(s=[1]) %}{% for i in range(33) %}{% set ns.s = ns.s + ns.s %}{% endfor %}Ticket: {{ ticket }}\"",
    );
    repo.rebuild_registry();
    let server = Server::start(&repo, &[]);
    assert_eq!(server.get("/healthz").status, 200);
    let started = std::time::Instant::now();
    let answer = server.post("/v1/prompts/summarize/render", br#"{"ticket": "x"}"#);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert!(
        answer.text().contains("took more than 2 s"),
        "{}",
        answer.text()
    );
    assert_eq!(server.get("/v1/prompts/summarize").status, 200);
    assert_eq!(server.get("/healthz").status, 503);
}
