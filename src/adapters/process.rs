//! Running promptops itself as a child process: a pipeline stage runs the very command a
//! person would type, with its own exit status, and can be stopped at a timeout.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a child ended.
#[derive(Debug)]
pub struct Ended {
    /// The exit code (`None`: killed at the timeout or by a signal).
    pub code: Option<i32>,
    pub timed_out: bool,
    /// Its stdout, when it was captured.
    pub stdout: String,
}

/// Runs this executable with `args` in `dir`; stderr goes through, stdout too unless
/// `capture`. Killed when it runs past `timeout`.
pub fn run_self(
    dir: &Path,
    args: &[String],
    timeout: Duration,
    capture: bool,
) -> std::io::Result<Ended> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(if capture {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .stderr(Stdio::inherit())
        .spawn()?;
    let reader = child.stdout.take().map(|mut stdout| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        })
    });
    let deadline = Instant::now() + timeout;
    let (code, timed_out) = loop {
        if let Some(status) = child.try_wait()? {
            break (status.code(), false);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    Ok(Ended {
        code,
        timed_out,
        stdout,
    })
}
