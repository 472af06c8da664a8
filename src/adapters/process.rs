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
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on our own child, which has not been waited for, so its pid is ours.
        unsafe { libc::kill(pid, libc::SIGTERM) };
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
    // SAFETY: getpid before the fork; between fork and exec only async-signal-safe calls
    // (prctl, getppid, _exit), touching no memory of the parent's.
    let parent = unsafe { libc::getpid() };
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the line above: then end now.
            if libc::getppid() != parent {
                libc::_exit(143);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn end_with_parent(_command: &mut Command) {}
