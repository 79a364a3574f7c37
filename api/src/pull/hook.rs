//! The operator's `--check` and `--reload` commands, run by `sh -c` so they may use the shell's
//! syntax, with a time limit: a hung `nginx -t` must not stop the agent for good.

use std::process::Stdio;
use std::time::Duration;

/// Output kept for the log: enough for nginx's or HAProxy's complaint, not a runaway script's.
const MAX_LOGGED: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("`{command}` could not start: {reason}")]
    Spawn { command: String, reason: String },
    #[error("`{command}` failed ({status}): {output}")]
    Failed { command: String, status: String, output: String },
    #[error("`{command}` did not finish within {seconds} s and was killed")]
    TimedOut { command: String, seconds: u64 },
}

pub async fn run(command: &str, limit: Duration) -> Result<(), HookError> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| HookError::Spawn { command: command.to_owned(), reason: e.to_string() })?;
    let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Err(_) => return Err(HookError::TimedOut { command: command.to_owned(), seconds: limit.as_secs() }),
        Ok(output) => output.map_err(|e| HookError::Spawn { command: command.to_owned(), reason: e.to_string() })?,
    };
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let text = text.trim();
    let mut end = text.len().min(MAX_LOGGED);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Err(HookError::Failed {
        command: command.to_owned(),
        status: output.status.to_string(),
        output: if text.is_empty() { "no output".to_owned() } else { text[..end].to_owned() },
    })
}
