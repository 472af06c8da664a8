//! Budget scorers: `latency` and `cost`.

use super::{Outcome, binary};

pub(super) fn latency(latency_ms: u64, max_ms: f64) -> Outcome {
    let latency = latency_ms as f64;
    binary(
        latency <= max_ms,
        format!("{latency_ms} ms (budget {max_ms} ms)"),
    )
}

pub(super) fn cost(cost_usd: Option<f64>, max_usd: f64) -> Outcome {
    match cost_usd {
        None => binary(false, "no cost: the API reported no token usage"),
        Some(cost) => binary(cost <= max_usd, format!("${cost:.6} (budget ${max_usd})")),
    }
}
