//! The trace: one line per simulated event, stamped with simulated time.
//!
//! The trace is the run's identity: two runs of one seed must produce it byte for byte, so
//! nothing here may depend on the wall clock, addresses, or unordered iteration. Lines look like
//! `    12.345678s n3 lease-acquire r7 epoch=4`.

use madsim::time::Instant;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// A shared, append-only event log.
#[derive(Clone)]
pub struct Trace {
    inner: Arc<Mutex<TraceInner>>,
}

struct TraceInner {
    start: Instant,
    lines: Vec<String>,
    echo: bool,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trace({} lines)", self.len())
    }
}

impl Trace {
    /// A trace whose time zero is now (call inside the simulation).
    pub fn new(echo: bool) -> Self {
        Trace { inner: Arc::new(Mutex::new(TraceInner { start: Instant::now(), lines: Vec::new(), echo })) }
    }

    /// Simulated time since the world started.
    pub fn elapsed(&self) -> std::time::Duration {
        let start = self.inner.lock().expect("trace lock").start;
        Instant::now().saturating_duration_since(start)
    }

    /// Records one event. `who` is `n<id>`, `client`, `world` or similar.
    pub fn event(&self, who: &str, what: &str, detail: std::fmt::Arguments<'_>) {
        let mut inner = self.inner.lock().expect("trace lock");
        let t = Instant::now().saturating_duration_since(inner.start);
        let mut line = String::with_capacity(64);
        let _ = write!(line, "{:>4}.{:06}s {who} {what}", t.as_secs(), t.subsec_micros());
        let detail = detail.to_string();
        if !detail.is_empty() {
            line.push(' ');
            line.push_str(&detail);
        }
        if inner.echo {
            eprintln!("{line}");
        }
        inner.lines.push(line);
    }

    /// All lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.inner.lock().expect("trace lock").lines.clone()
    }

    /// Number of lines so far.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("trace lock").lines.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole trace as text, one event per line.
    pub fn text(&self) -> String {
        let inner = self.inner.lock().expect("trace lock");
        let mut s = String::with_capacity(inner.lines.len() * 64);
        for l in &inner.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    /// A CRC-32 of the whole text, for one-line comparisons of runs.
    pub fn digest(&self) -> u32 {
        crc32fast::hash(self.text().as_bytes())
    }
}

/// Records an event: `trace_event!(trace, "n3", crate::event::CRASH, "lost={}", n)`.
#[macro_export]
macro_rules! trace_event {
    ($trace:expr, $who:expr, $what:expr) => {
        $trace.event(&$who, $what, format_args!(""))
    };
    ($trace:expr, $who:expr, $what:expr, $($arg:tt)+) => {
        $trace.event(&$who, $what, format_args!($($arg)+))
    };
}
