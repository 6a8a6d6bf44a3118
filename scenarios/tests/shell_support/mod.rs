//! Helpers for the tests that run `backup-sim shell` (tests/shell.rs, and by `mod` or `#[path]`
//! the browser, CLI and concurrent-backup tests): the prompt in a pseudo-terminal, a child's
//! output collected as it comes, a shell with piped input ([`spawn_piped`]), a tiny HTTP object
//! server, and [`basics`].

pub mod basics;
pub mod http;

pub use basics::TempDir;

use rexpect::session::PtySession;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Reads a child's pipe on a thread into a buffer the test can look at while the child runs.
pub fn collect(pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            let mut b = b.lock().unwrap();
            b.push_str(&line);
            b.push('\n');
        }
    });
    buf
}

/// Waits until `buf` contains `needle` (or panics after `within`, showing `buf`).
pub fn wait_for(buf: &Arc<Mutex<String>>, needle: &str, within: Duration) {
    let start = Instant::now();
    while !buf.lock().unwrap().contains(needle) {
        assert!(start.elapsed() < within, "no {needle:?} within {within:?} in:\n{}", buf.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `backup-sim shell` in `dir` with `args`, its standard input left open for the test to write
/// as it goes, its standard output and error collected as they come.
pub struct Piped {
    pub child: std::process::Child,
    pub out: Arc<Mutex<String>>,
    pub err: Arc<Mutex<String>>,
    pub stdin: std::process::ChildStdin,
}

pub fn spawn_piped(dir: &Path, args: &[&str]) -> Piped {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backup-sim"))
        .current_dir(dir)
        .arg("shell")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    let stdin = child.stdin.take().unwrap();
    Piped { child, out, err, stdin }
}
