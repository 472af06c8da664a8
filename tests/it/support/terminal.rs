//! Runs the binary under a pseudo-terminal, as a person at a terminal runs it: stdin, stdout and
//! stderr are the terminal, so colour, progress bars and logging decide they face a person.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};

/// What a command printed to its terminal (stdout and stderr as one stream) and how it ended.
#[derive(Debug)]
pub(crate) struct TerminalRun {
    pub(crate) code: Option<i32>,
    pub(crate) screen: String,
}

/// Runs `program args` in `dir` with a pseudo-terminal as its stdin, stdout and stderr; `CI`,
/// `NO_COLOR` and the variables of a GitHub runner are removed, so it sees what a person's shell
/// gives it.
pub(crate) fn run_in_terminal(dir: &Path, program: &Path, args: &[&str]) -> TerminalRun {
    let mut leader: libc::c_int = -1;
    let mut follower: libc::c_int = -1;
    let window = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors into the integers it is given.
    let opened = unsafe {
        libc::openpty(
            &raw mut leader,
            &raw mut follower,
            std::ptr::null_mut(),
            std::ptr::null(),
            &raw const window,
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here alone.
    let (leader, follower) =
        unsafe { (OwnedFd::from_raw_fd(leader), OwnedFd::from_raw_fd(follower)) };
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env("TERM", "xterm-256color");
    for name in [
        "CI",
        "NO_COLOR",
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "PROMPTOPS_REPO",
        "PROMPTOPS_LOG",
        "CARGO_TERM_COLOR",
    ] {
        command.env_remove(name);
    }
    command
        .stdin(Stdio::from(follower.try_clone().unwrap()))
        .stdout(Stdio::from(follower.try_clone().unwrap()))
        .stderr(Stdio::from(follower));
    let mut child = command.spawn().expect("the command starts");
    // The terminal's far end must be read while the child runs, or a full buffer stops it.
    drop(command);
    let mut reader = std::fs::File::from(leader);
    let mut screen = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => screen.extend_from_slice(&buffer[..read]),
            // Linux answers EIO once every copy of the follower is closed: the child ended.
            Err(error) if error.raw_os_error() == Some(libc::EIO) => break,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => panic!("reading the terminal: {error}"),
        }
    }
    let status = child.wait().expect("the command ends");
    TerminalRun {
        code: status.code(),
        screen: String::from_utf8_lossy(&screen).into_owned(),
    }
}
