//! The served release checked at its `/v1/release`, bounded and on the same host.

use std::time::{Duration, Instant};

/// A release answer is a few hundred bytes; more is not read.
const VERIFY_ANSWER_LIMIT: usize = 64 * 1024;

/// An answer's body as JSON, read no further than `limit` bytes.
async fn bounded_json(
    answer: reqwest::Response,
    limit: usize,
) -> Result<serde_json::Value, String> {
    let body = crate::adapters::http_body::bounded(answer, limit).await?;
    serde_json::from_slice(&body).map_err(|error| error.to_string())
}

/// `GET URL/v1/release` must give `release` three times in a row before the deadline.
pub(super) async fn verify_served(
    url: &str,
    release: &str,
    deadline: Instant,
    poll: Duration,
) -> Result<(), String> {
    let address = format!("{}/v1/release", url.trim_end_matches('/'));
    let origin = reqwest::Url::parse(&address).map_err(|error| error.to_string())?;
    // A redirect is followed only on the same host and port (a verify endpoint has no reason to
    // send us elsewhere, and one that points at a link-local address such as the instance
    // metadata service must never be reached).
    let (host, port) = (
        origin.host_str().map(str::to_owned),
        origin.port_or_known_default(),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            let next = attempt.url().clone();
            if attempt.previous().len() < 5
                && next.host_str().map(str::to_owned) == host
                && next.port_or_known_default() == port
            {
                attempt.follow()
            } else {
                attempt.error(format!(
                    "a redirect to another host ({next}) is not followed"
                ))
            }
        }))
        .build()
        .map_err(|error| error.to_string())?;
    let mut in_a_row = 0;
    let mut seen = String::from("no answer");
    loop {
        match client.get(&address).send().await {
            Ok(answer) => match bounded_json(answer, VERIFY_ANSWER_LIMIT).await {
                Ok(value) => {
                    let served = value["release_id"].as_str().unwrap_or("").to_owned();
                    if served == release {
                        in_a_row += 1;
                        if in_a_row >= 3 {
                            return Ok(());
                        }
                    } else {
                        in_a_row = 0;
                        seen = format!("release {}", served.get(..12).unwrap_or(&served));
                    }
                }
                Err(error) => {
                    in_a_row = 0;
                    seen = format!("an answer that is not a release: {error}");
                }
            },
            Err(error) => {
                in_a_row = 0;
                seen = crate::adapters::aws::describe(&error);
            }
        }
        if Instant::now() + poll > deadline {
            return Err(format!(
                "{address} did not serve release {} (last: {seen})",
                crate::domain::bundle::short_release(release)
            ));
        }
        tokio::time::sleep(poll.min(Duration::from_secs(1))).await;
    }
}
