//! An AWS-compatible world on loopback for `deploy`: `moto_server` for ECR, ECS and STS, and a
//! small proxy in front of it that adds the deployment state machine moto lacks (moto never
//! moves a deployment): after an `UpdateService`, `DescribeServices` answers show our new
//! PRIMARY deployment `IN_PROGRESS` for a few looks, then `COMPLETED`, `FAILED`, rolled back by
//! ECS, or gone, as the test scripted. A later `UpdateService` (a rollback) always completes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::http::request;
use super::registry::Moto;

/// How the rollout of the next `UpdateService` ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    Complete,
    Fail,
    EcsRollback,
    Vanish,
}

#[derive(Default)]
struct Script {
    ending: Option<Ending>,
    looks_in_progress: usize,
    /// The service's task definition as last answered.
    current: String,
    /// How many `DescribeServices` answers during the next rollout are a 500 (AWS failing).
    failing_looks: usize,
    active: Option<(String, String, usize, Ending)>,
}

pub(crate) struct World {
    pub(crate) moto: Moto,
    pub(crate) endpoint: String,
    script: Arc<Mutex<Script>>,
}

pub(crate) const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn call(moto: &Moto, service: &str, target: &str, body: &Value) -> Value {
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let address = moto.url.trim_start_matches("http://");
    let answer = request(
        address,
        "POST",
        "/",
        &[
            ("X-Amz-Target", target),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", authorization.as_str()),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200, "{target}: {}", answer.text());
    answer.json()
}

pub(crate) fn ecs(moto: &Moto, action: &str, body: &Value) -> Value {
    call(
        moto,
        "ecs",
        &format!("AmazonEC2ContainerServiceV20141113.{action}"),
        body,
    )
}

pub(crate) fn ecr(moto: &Moto, action: &str, body: &Value) -> Value {
    call(
        moto,
        "ecr",
        &format!("AmazonEC2ContainerRegistry_V20150921.{action}"),
        body,
    )
}

impl World {
    /// moto with an ECR repository `prompts` holding the image of `release` (the tag
    /// `promptops image` gives it), a cluster `prod`, and a service `prompts` running task
    /// definition `prompts:1` (container `app`, release `old`).
    pub(crate) fn start(release: &str) -> World {
        let moto = Moto::start();
        ecr(
            &moto,
            "CreateRepository",
            &json!({"repositoryName": "prompts"}),
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{:064x}", 1), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{:064x}", 100), "size": 2}],
        });
        ecr(
            &moto,
            "PutImage",
            &json!({
                "repositoryName": "prompts",
                "imageManifest": manifest.to_string(),
                "imageTag": promptops::domain::image::release_tag(release),
            }),
        );
        ecs(&moto, "CreateCluster", &json!({"clusterName": "prod"}));
        ecs(
            &moto,
            "RegisterTaskDefinition",
            &json!({
                "family": "prompts",
                "containerDefinitions": [{
                    "name": "app", "image": format!("{ECR_HOST}/prompts:old"), "memory": 256,
                    "environment": [{"name": "A", "value": "1"}, {"name": "PROMPTOPS_RELEASE", "value": "old"}],
                    "portMappings": [{"containerPort": 8080}],
                }],
                "tags": [{"key": "team", "value": "catalog"}],
            }),
        );
        ecs(
            &moto,
            "CreateService",
            &json!({"cluster": "prod", "serviceName": "prompts", "taskDefinition": "prompts:1", "desiredCount": 1}),
        );
        let script = Arc::new(Mutex::new(Script {
            ending: Some(Ending::Complete),
            looks_in_progress: 1,
            ..Script::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream = moto.url.trim_start_matches("http://").to_owned();
        {
            let script = Arc::clone(&script);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { break };
                    let script = Arc::clone(&script);
                    let upstream = upstream.clone();
                    std::thread::spawn(move || serve_connection(stream, &upstream, &script));
                }
            });
        }
        World {
            moto,
            endpoint,
            script,
        }
    }

    /// How the next rollout ends, after `looks` `DescribeServices` answers in progress.
    pub(crate) fn script(&self, ending: Ending, looks: usize) {
        let mut script = self.script.lock().unwrap();
        script.ending = Some(ending);
        script.looks_in_progress = looks;
        script.active = None;
    }

    /// The next `n` looks at the service during a rollout get a 500, as AWS gives at times.
    pub(crate) fn fail_looks(&self, n: usize) {
        self.script.lock().unwrap().failing_looks = n;
    }

    /// The environment for promptops: AWS through the proxy, dummy credentials.
    pub(crate) fn environment(&self) -> Vec<(&'static str, String)> {
        let mut environment = self.moto.environment();
        for (name, value) in &mut environment {
            if *name == "AWS_ENDPOINT_URL" {
                value.clone_from(&self.endpoint);
            }
        }
        environment
    }

    pub(crate) fn start_recording(&self) {
        let address = self.moto.url.trim_start_matches("http://");
        request(
            address,
            "POST",
            "/moto-api/recorder/reset-recording",
            &[],
            b"",
        );
        request(
            address,
            "POST",
            "/moto-api/recorder/start-recording",
            &[],
            b"",
        );
    }

    /// The requests moto recorded since `start_recording` (recording stops).
    fn recording(&self) -> Vec<Value> {
        let address = self.moto.url.trim_start_matches("http://");
        request(
            address,
            "POST",
            "/moto-api/recorder/stop-recording",
            &[],
            b"",
        );
        let text = request(
            address,
            "GET",
            "/moto-api/recorder/download-recording",
            &[],
            b"",
        )
        .text();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .collect()
    }

    /// The `X-Amz-Target` actions moto received since `start_recording`, in order.
    pub(crate) fn recorded(&self) -> Vec<String> {
        self.recording()
            .iter()
            .filter_map(|entry| {
                entry["headers"]
                    .as_object()?
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target"))
                    .and_then(|(_, value)| value.as_str())
                    .map(|target| target.rsplit('.').next().unwrap_or(target).to_owned())
            })
            .collect()
    }

    /// The query-protocol actions (STS) moto received since `start_recording`.
    pub(crate) fn recorded_actions(&self) -> Vec<String> {
        use base64::Engine;
        self.recording()
            .iter()
            .filter_map(|entry| {
                let body = entry["body"].as_str()?;
                let body = if entry["body_encoded"] == true {
                    String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(body)
                            .ok()?,
                    )
                    .ok()?
                } else {
                    body.to_owned()
                };
                body.split('&')
                    .find_map(|pair| pair.strip_prefix("Action="))
                    .map(str::to_owned)
            })
            .collect()
    }

    /// The service as moto holds it (through no proxy).
    pub(crate) fn task_definition(&self, arn: &str) -> Value {
        ecs(
            &self.moto,
            "DescribeTaskDefinition",
            &json!({"taskDefinition": arn, "include": ["TAGS"]}),
        )
    }
}

/// A request: its start line, headers and body.
type Request = (String, Vec<(String, String)>, Vec<u8>);

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let start = line.trim_end().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((start, headers, body))
}

fn serve_connection(stream: TcpStream, upstream: &str, script: &Mutex<Script>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some((start, headers, body)) = read_request(&mut reader) {
        let target = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target"))
            .map(|(_, value)| value.rsplit('.').next().unwrap_or(value).to_owned())
            .unwrap_or_default();
        if target == "UpdateService" {
            let wanted: Value = serde_json::from_slice(&body).unwrap_or_default();
            let wanted = wanted["taskDefinition"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut script = script.lock().unwrap();
            let old = script.current.clone();
            // The scripted ending is the first rollout's; any later one (a rollback) completes.
            let ending = script.ending.take().unwrap_or(Ending::Complete);
            script.active = Some((wanted, old, 0, ending));
        }
        {
            let mut script = script.lock().unwrap();
            if target == "DescribeServices" && script.active.is_some() && script.failing_looks > 0 {
                script.failing_looks -= 1;
                let body = br#"{"__type":"ServerException","message":"Internal failure"}"#;
                let head = format!(
                    "HTTP/1.1 500 X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nx-amzn-requestid: test\r\n\r\n",
                    body.len()
                );
                if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body).is_err() {
                    break;
                }
                continue;
            }
        }
        // Forward as it came (moto does not check signatures), on a fresh connection.
        let (method, path) = {
            let mut parts = start.split(' ');
            (
                parts.next().unwrap_or("GET").to_owned(),
                parts.next().unwrap_or("/").to_owned(),
            )
        };
        let forwarded: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(name, _)| {
                !["content-length", "connection", "host"]
                    .contains(&name.to_ascii_lowercase().as_str())
            })
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let answer = request(upstream, &method, &path, &forwarded, &body);
        let mut out = answer.body.clone();
        if target == "DescribeServices" && answer.status == 200 {
            let mut value: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            rewrite(&mut value, script);
            out = serde_json::to_vec(&value).unwrap();
        }
        let content_type = answer
            .header("content-type")
            .unwrap_or("application/x-amz-json-1.1")
            .to_owned();
        let head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-requestid: test\r\n\r\n",
            answer.status,
            out.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&out).is_err() {
            break;
        }
    }
}

fn deployment(
    status: &str,
    task_definition: &str,
    state: &str,
    running: i64,
    reason: Option<&str>,
) -> Value {
    json!({
        "id": format!("ecs-svc/{}", task_definition.rsplit(':').next().unwrap_or("0")),
        "status": status, "taskDefinition": task_definition,
        "desiredCount": 1, "runningCount": running, "pendingCount": 1 - running, "failedTasks": 0,
        "rolloutState": state, "rolloutStateReason": reason.unwrap_or(""),
        "createdAt": 1_795_000_000, "updatedAt": 1_795_000_000, "launchType": "EC2",
    })
}

fn rewrite(value: &mut Value, script: &Mutex<Script>) {
    let mut script = script.lock().unwrap();
    let Some(service) = value["services"].get_mut(0) else {
        return;
    };
    let Some((ours, old, looks, ending)) = script.active.clone() else {
        let current = service["taskDefinition"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        service["deployments"] = json!([deployment("PRIMARY", &current, "COMPLETED", 1, None)]);
        script.current = current;
        return;
    };
    let looks = looks + 1;
    script.active = Some((ours.clone(), old.clone(), looks, ending));
    let (deployments, current) = if looks <= script.looks_in_progress {
        (
            json!([
                deployment("PRIMARY", &ours, "IN_PROGRESS", 0, None),
                deployment("ACTIVE", &old, "COMPLETED", 1, None)
            ]),
            ours.clone(),
        )
    } else {
        match ending {
            Ending::Complete => (
                json!([deployment("PRIMARY", &ours, "COMPLETED", 1, None)]),
                ours.clone(),
            ),
            Ending::Fail => (
                json!([
                    deployment(
                        "PRIMARY",
                        &ours,
                        "FAILED",
                        0,
                        Some("ECS deployment circuit breaker: tasks failed to start.")
                    ),
                    deployment("ACTIVE", &old, "COMPLETED", 1, None)
                ]),
                ours.clone(),
            ),
            Ending::EcsRollback => (
                json!([deployment("PRIMARY", &old, "COMPLETED", 1, None)]),
                old.clone(),
            ),
            Ending::Vanish => (json!([]), ours.clone()),
        }
    };
    service["deployments"] = deployments;
    service["taskDefinition"] = json!(current);
    if looks > script.looks_in_progress && ending != Ending::Vanish {
        script.current.clone_from(&current);
        if ending == Ending::Complete || ending == Ending::EcsRollback {
            // Settled: later looks see a plain service again.
            script.active = None;
            script.current = current;
        }
    }
}
