//! Helpers for tests/shell.rs: the prompt in a pseudo-terminal, and a tiny HTTP object server.

pub mod http;

/// A fresh directory under the system's temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let d = std::env::temp_dir().join(format!("backup-sim-shell-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

use rexpect::session::PtySession;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `backup-sim shell ARGS` at its prompt, in a pseudo-terminal, in `dir` (also its HOME, so the
/// default history file lands there). `expect` calls fail after `timeout_ms`.
pub fn prompt(dir: &Path, args: &[&str], timeout_ms: u64) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-sim"));
    // A terminal the line editor drives in raw mode (a "dumb" one would read lines as a pipe).
    cmd.current_dir(dir).arg("shell").args(args).env("TERM", "xterm").env("HOME", dir);
    let mut s = rexpect::session::spawn_command(cmd, Some(timeout_ms)).expect("spawn the shell in a pty");
    s.exp_string("root@backup-sim/defaultdb> ").expect("the first prompt");
    s
}

/// What the line editor writes when it hands a line over (it turns bracketed paste off on leaving
/// raw mode): everything after it is the shell's answer, not the editor echoing or redrawing
/// what was typed.
pub const LINE_ACCEPTED: &str = "\x1b[?2004l";

/// Types `line` and Enter, and waits for `expect` to appear in what the shell answers (not in
/// the editor's echo of the line: a CREATE TABLE line contains "CREATE TABLE", and the editor
/// redraws a line that wraps, prompt included); returns what came before it.
pub fn run(s: &mut PtySession, line: &str, expect: &str) -> String {
    s.send_line(line).expect("type");
    s.exp_string(LINE_ACCEPTED).unwrap_or_else(|e| panic!("after typing {line:?}, the editor never handed the line over: {e}"));
    s.exp_string(expect).unwrap_or_else(|e| panic!("after typing {line:?}, no {expect:?}: {e}"))
}

/// Waits for the next main prompt.
pub fn wait_prompt(s: &mut PtySession) -> String {
    s.exp_string("root@backup-sim/").expect("the prompt")
}
