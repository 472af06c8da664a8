//! `exec`: a local command answers. It gets the request as JSON on stdin
//! (`{"provider", "model", "parameters", "messages", "repeat"}`) and prints the answer on
//! stdout; a non-zero exit fails the example with the end of its stderr.

use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::{CallError, Provider};
use crate::domain::eval::request::{ChatRequest, ChatResponse};

pub(super) async fn complete(
    provider: &Provider,
    request: &ChatRequest,
    root: &Path,
) -> Result<ChatResponse, CallError> {
    let Some((program, arguments)) = provider.command.split_first() else {
        return Err(CallError::config(format!(
            "provider `{}` has `kind: exec` but no `command`",
            provider.name
        )));
    };
    let mut child = tokio::process::Command::new(program)
        .args(arguments)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| CallError::config(format!("cannot run `{program}`: {error}")))?;
    let input = serde_json::to_vec(request).expect("a request serialises");
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is its own business; its answer still counts.
        let _ = stdin.write_all(&input).await;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|error| CallError::transient(format!("`{program}` failed: {error}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        // The end of stderr is where the error usually is: its last 300 characters.
        let start = stderr
            .char_indices()
            .rev()
            .nth(299)
            .map_or(0, |(index, _)| index);
        let tail = &stderr[start..];
        return Err(CallError::rejected(format!(
            "`{program}` exited with {}: {tail}",
            output.status
        )));
    }
    let text = String::from_utf8(output.stdout).map_err(|_| {
        CallError::rejected(format!("`{program}` printed bytes that are not UTF-8"))
    })?;
    Ok(ChatResponse {
        text: text.strip_suffix('\n').unwrap_or(&text).to_owned(),
        usage: None,
        latency_ms: 0,
        finish_reason: None,
    })
}
