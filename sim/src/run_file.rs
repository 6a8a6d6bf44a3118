//! The run file: a fault schedule and, optionally, a workload size, as `shrink` writes it and
//! `replay --schedule` reads it (or a bare JSON list of faults, as `--print-schedule` prints).
//! It lives here, beside the schedule it holds, rather than in `scenarios`, so that its fuzz
//! target (`fuzz/`) builds without the shell's storage stack.

use crate::faults::Schedule;
use serde::{Deserialize, Serialize};

/// How big a run's workload is: what workload shrinking reduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadSteps {
    /// Concurrent writers.
    pub writers: usize,
    /// Operations per writer.
    pub ops_per_writer: usize,
}

/// A run file: the faults to inject and, optionally, the workload's size. `shrink` writes one;
/// `replay --schedule` reads one (or a bare JSON list of faults, as `--print-schedule` prints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    /// The fault schedule.
    pub faults: Schedule,
    /// The workload's size, when it differs from the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadSteps>,
}

impl RunFile {
    /// Parses a run file, or a bare schedule.
    pub fn parse(text: &str) -> Result<RunFile, String> {
        match serde_json::from_str::<RunFile>(text) {
            Ok(f) => Ok(f),
            Err(e) => serde_json::from_str::<Schedule>(text)
                .map(|faults| RunFile { faults, workload: None })
                .map_err(|_| format!("neither a run file nor a list of faults: {e}")),
        }
    }
}
