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
    let mut command = Command::new(exe);
    end_with_parent(&mut command);
    let mut child = command
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
            stop(&mut child)?;
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

/// Stops a child past its timeout: SIGTERM first, so an eval keeps what finished (and can be
/// resumed), then SIGKILL if it has not ended within the grace period.
fn stop(child: &mut std::process::Child) -> std::io::Result<()> {
    const GRACE: Duration = Duration::from_secs(5);
    {
        // Our own child, not yet waited for: its pid is still ours.
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_child(child),
            rustix::process::Signal::TERM,
        );
        let asked = Instant::now();
        while asked.elapsed() < GRACE {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    child.wait().map(drop)
}

/// A stage must not outlive its pipeline: when the pipeline is killed (a cancelled CI job, a
/// `kill`), Linux sends the stage SIGTERM, so no orphan goes on writing logs and holding the
/// repository's lock. (Ctrl-C reaches both already: they share the terminal's process group.)
#[cfg(target_os = "linux")]
fn end_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = rustix::process::getpid();
    // SAFETY: between fork and exec only async-signal-safe system calls (prctl, getppid),
    // touching no memory of the parent's; an error ends the child before exec.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
            // The parent may have died before the line above: then the child does not start.
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::other(
                    "the pipeline ended before its stage started",
                ));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn end_with_parent(_command: &mut Command) {}
