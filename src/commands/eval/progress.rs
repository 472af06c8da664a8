//! Progress on stderr: a bar on a terminal, plain lines in CI logs and pipes.

use std::time::{Duration, Instant};

use crate::domain::eval::record::ExampleRecord;

pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    label: String,
    total: u64,
    done: u64,
    failed: u64,
    next_line: u64,
    last_line: Instant,
}

impl Progress {
    /// `bars`: a terminal and not CI (`Settings::progress_bars`).
    pub fn new(label: String, total: u64, already: u64, bars: bool) -> Progress {
        let bar = bars.then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(label.clone());
            bar.set_position(already);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        if bar.is_none() {
            eprintln!("{label}: {total} examples to go");
        }
        Progress {
            bar,
            label,
            total,
            done: already,
            failed: 0,
            next_line: already + (total / 10).max(1),
            last_line: Instant::now(),
        }
    }

    pub fn advance(&mut self, record: &ExampleRecord) {
        self.done += 1;
        self.failed += u64::from(record.error.is_some());
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if self.failed > 0 {
                bar.set_message(format!("{} errors", self.failed));
            }
        } else if self.done >= self.next_line || self.last_line.elapsed() > Duration::from_secs(10)
        {
            eprintln!(
                "{}: {}/{} done, {} errors",
                self.label, self.done, self.total, self.failed
            );
            self.next_line = self.done + (self.total / 10).max(1);
            self.last_line = Instant::now();
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
