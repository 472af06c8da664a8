//! Request counters and latency histograms for `GET /metrics`, in the Prometheus text format.
//! Lock-free (one atomic per cell) and of fixed size: labels come from fixed sets, never from a
//! request.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Route;

/// Statuses counted on their own; any other is counted under its class (`2xx`…).
const STATUSES: [u16; 11] = [200, 304, 400, 404, 405, 408, 413, 422, 500, 503, 0];
/// Histogram bucket bounds, in microseconds.
const BUCKETS_MICROS: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000,
];
const ROUTES: usize = Route::ALL.len();

pub struct Metrics {
    /// [route][status index][class for `0`: 1xx..5xx]
    requests: [[AtomicU64; STATUSES.len()]; ROUTES],
    other_classes: [[AtomicU64; 5]; ROUTES],
    /// Cumulative counts are computed when rendering; each cell counts its own bucket.
    buckets: [[AtomicU64; BUCKETS_MICROS.len() + 1]; ROUTES],
    sum_micros: [AtomicU64; ROUTES],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            other_classes: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            buckets: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            sum_micros: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

fn route_index(route: Route) -> usize {
    Route::ALL
        .iter()
        .position(|known| *known == route)
        .expect("every route is listed")
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, route: Route, status: u16, micros: u64) {
        let at = route_index(route);
        if let Some(index) = STATUSES[..STATUSES.len() - 1]
            .iter()
            .position(|known| *known == status)
        {
            self.requests[at][index].fetch_add(1, Ordering::Relaxed);
        } else {
            let class = usize::from(status / 100).clamp(1, 5) - 1;
            self.other_classes[at][class].fetch_add(1, Ordering::Relaxed);
        }
        let bucket = BUCKETS_MICROS
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(BUCKETS_MICROS.len());
        self.buckets[at][bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros[at].fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render<'a>(
        &self,
        release_id: &str,
        tasks: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> String {
        let mut text = String::new();
        text.push_str("# HELP promptops_http_requests_total Requests answered, by route and status.\n# TYPE promptops_http_requests_total counter\n");
        for route in Route::ALL {
            let at = route_index(route);
            for (index, status) in STATUSES[..STATUSES.len() - 1].iter().enumerate() {
                let count = self.requests[at][index].load(Ordering::Relaxed);
                if count > 0 {
                    let _ = writeln!(
                        text,
                        "promptops_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                        route.as_str()
                    );
                }
            }
            for (class, cell) in self.other_classes[at].iter().enumerate() {
                let count = cell.load(Ordering::Relaxed);
                if count > 0 {
                    let _ = writeln!(
                        text,
                        "promptops_http_requests_total{{route=\"{}\",status=\"{}xx\"}} {count}",
                        route.as_str(),
                        class + 1
                    );
                }
            }
        }
        text.push_str("# HELP promptops_http_request_duration_seconds Time from request to answer, by route.\n# TYPE promptops_http_request_duration_seconds histogram\n");
        for route in Route::ALL {
            let at = route_index(route);
            let counts: Vec<u64> = self.buckets[at]
                .iter()
                .map(|cell| cell.load(Ordering::Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (bound, count) in BUCKETS_MICROS.iter().zip(&counts) {
                cumulative += count;
                let _ = writeln!(
                    text,
                    "promptops_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {cumulative}",
                    route.as_str(),
                    *bound as f64 / 1e6
                );
            }
            let _ = writeln!(
                text,
                "promptops_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {total}",
                route.as_str()
            );
            let _ = writeln!(
                text,
                "promptops_http_request_duration_seconds_sum{{route=\"{}\"}} {}",
                route.as_str(),
                self.sum_micros[at].load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                text,
                "promptops_http_request_duration_seconds_count{{route=\"{}\"}} {total}",
                route.as_str()
            );
        }
        let tasks: Vec<_> = tasks.collect();
        let _ = write!(
            text,
            "# HELP promptops_release_info The release being served.\n# TYPE promptops_release_info gauge\npromptops_release_info{{release_id=\"{release_id}\",tasks=\"{}\"}} 1\n",
            tasks.len()
        );
        text.push_str("# HELP promptops_prompt_info Each production prompt being served.\n# TYPE promptops_prompt_info gauge\n");
        for (task, version, sha256) in tasks {
            let _ = writeln!(
                text,
                "promptops_prompt_info{{task=\"{task}\",version=\"{}\",sha256=\"{sha256}\"}} 1",
                label(version)
            );
        }
        text
    }
}

/// A label value escaped as the text format asks (backslash, quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_statuses_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record(Route::Prompt, 200, 80);
        metrics.record(Route::Prompt, 200, 700);
        metrics.record(Route::Prompt, 418, 700);
        metrics.record(Route::Other, 404, 5);
        let text = metrics.render("abc", [("t", "1.0.0", "ff")].into_iter());
        for line in [
            "promptops_http_requests_total{route=\"/v1/prompts/{task}\",status=\"200\"} 2",
            "promptops_http_requests_total{route=\"/v1/prompts/{task}\",status=\"4xx\"} 1",
            "promptops_http_requests_total{route=\"other\",status=\"404\"} 1",
            "promptops_http_request_duration_seconds_bucket{route=\"/v1/prompts/{task}\",le=\"0.0001\"} 1",
            "promptops_http_request_duration_seconds_bucket{route=\"/v1/prompts/{task}\",le=\"0.001\"} 3",
            "promptops_http_request_duration_seconds_bucket{route=\"/v1/prompts/{task}\",le=\"+Inf\"} 3",
            "promptops_http_request_duration_seconds_count{route=\"/v1/prompts/{task}\"} 3",
            "promptops_release_info{release_id=\"abc\",tasks=\"1\"} 1",
            "promptops_prompt_info{task=\"t\",version=\"1.0.0\",sha256=\"ff\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }
}
