//! The progress bar of a running BACKUP or RESTORE: its job's fraction completed, read from the
//! job record (what SHOW JOBS prints and the Jobs page draws), with the job's status and what it
//! is doing, redrawn a few times a second on standard error.
//!
//! Drawn only where someone watches: when standard error is a terminal, and only once the
//! statement has run for [`SHOW_AFTER`] and has a job, so that a quick statement draws nothing.
//! With `-e`, `-f`, a pipe or a test's captured output it draws nothing at all, so their output
//! stays exactly what it was. The notes of [`super::progress`] (what a slow statement waits for)
//! and of a Ctrl-C go through [`JobBar::note`], which prints them above the bar instead of through
//! it; the bar is cleared before the statement's result is printed.
//!
//! The bar is drawn on [`Stderr`], which tells indicatif the terminal is [`ECHO_ROOM`] columns
//! narrower than it is: indicatif pads the bar's line to the right edge, so the terminal's echo
//! of a Ctrl-C (`^C`) wrapped onto a new line, and the bar's next clear cleared that line instead,
//! leaving a stale bar above the cancel's notes.
//!
//! The fraction is the job record's: a backup records it after each round of exports (on the
//! shell's one node, all spans are one round, so it moves from 0 to nearly 1 at once), a restore
//! after each span it ingests.

use backup::jobs::{self, JobId, JobSummary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use model::{Kv, Timestamp};
use std::io::Write;
use std::time::Duration;

/// How long a statement runs before its bar appears.
pub const SHOW_AFTER: Duration = Duration::from_millis(400);

/// How often the bar reads the job record and redraws.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// One statement's bar (nothing is drawn until [`JobBar::refresh`] finds its job).
pub struct JobBar {
    /// False: never draw (standard error is not a terminal).
    enabled: bool,
    /// The statement's job is the newest created at or after this.
    since: Timestamp,
    /// The job, once found.
    job: Option<JobId>,
    bar: Option<ProgressBar>,
}

impl JobBar {
    /// A bar for the statement that started at cluster time `since`; `enabled` says whether it
    /// may draw.
    pub fn new(enabled: bool, since: Timestamp) -> JobBar {
        JobBar { enabled, since, job: None, bar: None }
    }

    /// Reads the statement's job record and redraws the bar (a record that cannot be read
    /// leaves it as it was).
    pub async fn refresh(&mut self, kv: &dyn Kv) {
        if !self.enabled {
            return;
        }
        let record = match self.job {
            // The shell runs one statement at a time and background adoption creates no jobs:
            // the job created since the statement started is its own (as Ctrl-C decides).
            None => match jobs::list(kv).await.ok().and_then(|all| all.into_iter().rev().find(|j| j.created >= self.since)) {
                Some(j) => j,
                None => return,
            },
            Some(id) => match jobs::load::<serde_json::Value>(kv, id).await {
                Ok(Some(r)) => r,
                _ => return,
            },
        };
        self.job = Some(record.id);
        let bar = self.bar.get_or_insert_with(|| start(&record));
        bar.set_position(u64::from(record.progress_millis.min(1000)));
        bar.set_message(message(&record));
    }

    /// Prints `note: TEXT` on standard error, above the bar if one is drawn.
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| note(text)),
            None => note(text),
        }
    }
}

impl Drop for JobBar {
    /// The bar goes before the statement's result or error is printed.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// A bar for `record`'s job on standard error.
fn start(record: &JobSummary) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::term_like_with_hz(Box::new(Stderr), 8));
    let style = ProgressStyle::with_template("{prefix} [{bar:32}] {msg}").map(|s| s.progress_chars("=> ")).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(format!("{} job {}", record.job_type, record.id));
    bar
}

/// Columns left free at the right edge, for the terminal's echo of `^C`.
pub const ECHO_ROOM: u16 = 3;

/// Standard error as indicatif's terminal, [`ECHO_ROOM`] columns narrower than it is (see the
/// module doc), written with plain ANSI cursor sequences.
#[derive(Debug)]
pub struct Stderr;

impl Stderr {
    fn write(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().lock().write_all(s.as_bytes())
    }

    /// The terminal's (rows, columns), if standard error is one.
    fn size() -> Option<(u16, u16)> {
        let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ writes one `winsize` into the struct it is given, which lives
        // for the call; a descriptor that is not a terminal makes it fail, and nothing is read.
        let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
        (ok && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
    }
}

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        Stderr::size().map_or(80, |(_, cols)| cols).saturating_sub(ECHO_ROOM).max(20)
    }

    fn height(&self) -> u16 {
        Stderr::size().map_or(24, |(rows, _)| rows.max(1))
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}A"))
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}B"))
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}C"))
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}D"))
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.write(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.write("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The words after the bar: the fraction, the status and what the job is doing.
pub fn message(record: &JobSummary) -> String {
    let pct = f64::from(record.progress_millis.min(1000)) / 10.0;
    let status = record.status.as_str();
    if record.running_status.is_empty() {
        format!("{pct:5.1}% {status}")
    } else {
        format!("{pct:5.1}% {status}: {}", record.running_status)
    }
}

/// A note on standard error, between the statement's output lines.
fn note(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "note: {text}");
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use backup::jobs::{JobRecord, JobStatus, JobType};

    #[test]
    fn the_message_says_fraction_status_and_doing() {
        let mut r: JobSummary = JobRecord::new(JobType::Restore, String::new(), "root", serde_json::Value::Null);
        r.status = JobStatus::Running;
        r.progress_millis = 425;
        r.running_status = "restored 17 of 40 spans".into();
        assert_eq!(message(&r), " 42.5% running: restored 17 of 40 spans");
        r.running_status.clear();
        r.progress_millis = 0;
        r.status = JobStatus::CancelRequested;
        assert_eq!(message(&r), "  0.0% cancel-requested");
    }

    #[test]
    fn a_disabled_bar_never_reads_or_draws() {
        let kv = model::LocalKv::with_system_clock();
        let mut bar = JobBar::new(false, Timestamp::ZERO);
        futures::executor::block_on(bar.refresh(&kv));
        assert!(bar.job.is_none() && bar.bar.is_none());
    }
}
