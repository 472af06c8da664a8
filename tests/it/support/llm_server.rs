//! A real HTTP server on 127.0.0.1 that stands in for the `OpenAI` and Anthropic APIs.
//!
//! It answers `POST …/chat/completions` and `POST …/v1/messages` in each API's shape, records
//! every request it sees, and plays a script of misbehaviours first (429 with `Retry-After`,
//! 500, malformed bodies, connection resets, hangs) so tests can count what the client did.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// A proper answer from the answer function.
    Answer,
    /// This status, with a `Retry-After` header when given.
    Status(u16, Option<&'static str>),
    /// 200 with a body that is not the API's JSON.
    Malformed,
    /// Close the connection without answering.
    Reset,
    /// Wait this long, then close without answering.
    Hang(Duration),
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Value,
    pub(crate) at: Instant,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The example's number: the last word of `Ticket: ticket N` (0 when there is none).
    pub(crate) fn example_number(&self) -> u32 {
        self.user_text()
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// The text of the first (system) message.
    pub(crate) fn system_text(&self) -> &str {
        self.body["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
    }

    /// The text of the last user message.
    pub(crate) fn user_text(&self) -> String {
        self.body["messages"]
            .as_array()
            .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
            .and_then(|message| message["content"].as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

type Answer = dyn Fn(&Seen) -> String + Send + Sync;

struct State {
    seen: Vec<Seen>,
    script: VecDeque<Reply>,
    /// Once the script is used up: answer, or keep failing with this reply.
    after_script: Reply,
    latency: Duration,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    peak: usize,
    /// A token bucket (rate per second, burst, tokens, last refill): a request that finds it
    /// empty is answered 429 with `Retry-After: 1`, as a provider's rate limit does.
    bucket: Option<(f64, f64, f64, Instant)>,
    /// Requests answered 429 by the bucket.
    limited: usize,
}

pub(crate) struct LlmServer {
    address: String,
    state: Arc<Mutex<State>>,
}

impl LlmServer {
    /// Starts a server whose answers come from `answer`.
    pub(crate) fn start(answer: impl Fn(&Seen) -> String + Send + Sync + 'static) -> LlmServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let address = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            seen: Vec::new(),
            script: VecDeque::new(),
            after_script: Reply::Answer,
            latency: Duration::ZERO,
            in_flight: 0,
            peak: 0,
            bucket: None,
            limited: 0,
        }));
        let answer: Arc<Answer> = Arc::new(answer);
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                let answer = Arc::clone(&answer);
                std::thread::spawn(move || serve(stream, &state, &*answer));
            }
        });
        LlmServer { address, state }
    }

    /// The base URL for `OpenAI`-style clients (`…/v1`).
    pub(crate) fn openai_url(&self) -> String {
        format!("{}/v1", self.address)
    }

    /// The base URL for Anthropic-style clients (no `/v1`).
    pub(crate) fn anthropic_url(&self) -> String {
        self.address.clone()
    }

    pub(crate) fn script(&self, replies: &[Reply]) {
        self.state
            .lock()
            .unwrap()
            .script
            .extend(replies.iter().cloned());
    }

    pub(crate) fn always(&self, reply: Reply) {
        self.state.lock().unwrap().after_script = reply;
    }

    pub(crate) fn latency(&self, latency: Duration) {
        self.state.lock().unwrap().latency = latency;
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.state.lock().unwrap().seen.len()
    }

    /// A rate limit: `per_second` requests, `burst` at once; beyond it, 429.
    pub(crate) fn token_bucket(&self, per_second: f64, burst: u32) {
        let burst = f64::from(burst);
        self.state.lock().unwrap().bucket = Some((per_second, burst, burst, Instant::now()));
    }

    /// Requests the token bucket refused.
    pub(crate) fn limited(&self) -> usize {
        self.state.lock().unwrap().limited
    }

    /// The most requests that were being answered at once.
    pub(crate) fn peak(&self) -> usize {
        self.state.lock().unwrap().peak
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, answer: &Answer) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((key, value)) = line.split_once(':') {
                let (key, value) = (key.trim().to_owned(), value.trim().to_owned());
                if key.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                }
                headers.push((key, value));
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let seen = Seen {
            path,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            at: Instant::now(),
        };
        let (reply, latency) = {
            let mut state = state.lock().unwrap();
            state.seen.push(seen.clone());
            state.in_flight += 1;
            state.peak = state.peak.max(state.in_flight);
            let refused = match &mut state.bucket {
                Some((rate, burst, tokens, last)) => {
                    let now = Instant::now();
                    *tokens =
                        (*tokens + now.duration_since(*last).as_secs_f64() * *rate).min(*burst);
                    *last = now;
                    if *tokens >= 1.0 {
                        *tokens -= 1.0;
                        false
                    } else {
                        true
                    }
                }
                None => false,
            };
            let reply = if refused {
                state.limited += 1;
                Reply::Status(429, Some("1"))
            } else {
                state
                    .script
                    .pop_front()
                    .unwrap_or_else(|| state.after_script.clone())
            };
            (reply, state.latency)
        };
        std::thread::sleep(latency);
        // Answered (or dropped) from here on: no longer in flight.
        state.lock().unwrap().in_flight -= 1;
        let (status, extra, body) = match reply {
            Reply::Answer => (200, String::new(), respond(&seen, &answer(&seen))),
            Reply::Status(code, retry_after) => (
                code,
                retry_after.map_or_else(String::new, |value| format!("Retry-After: {value}\r\n")),
                json!({"error": {"message": format!("status {code} from the test server")}})
                    .to_string(),
            ),
            Reply::Malformed => (200, String::new(), "{\"choices\": [oops".to_owned()),
            Reply::Reset => return,
            Reply::Hang(duration) => {
                std::thread::sleep(duration);
                return;
            }
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The answer in the shape of the API that was called.
fn respond(seen: &Seen, text: &str) -> String {
    if seen.path.ends_with("/v1/messages") {
        json!({
            "id": "msg_test", "type": "message", "role": "assistant", "model": seen.body["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 11, "output_tokens": 7}
        })
        .to_string()
    } else {
        json!({
            "id": "chatcmpl-test", "object": "chat.completion", "model": seen.body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        })
        .to_string()
    }
}
