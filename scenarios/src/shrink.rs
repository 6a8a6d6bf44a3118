//! Shrinking: reduce a failing run to a minimal one that still fails the same property — first
//! its fault schedule (delta debugging, Zeller's ddmin, over the injected faults), then its
//! workload steps (fewer writers, then fewer operations per writer, each writer's operations
//! being a prefix of the original's since they come from the writer's own seeded stream).
//!
//! Everything else still comes from the seed, so a shrunk run file plus the seed is a complete,
//! replayable run: `replay <scenario> --seed N --schedule FILE`.

use crate::registry::{run_named, schedule_of};
use crate::run::RunOptions;
use sim::faults::Schedule;

pub use sim::run_file::{RunFile, WorkloadSteps};

/// Applies a run file to `opts`: its schedule, and its workload size if it has one.
pub fn apply(file: &RunFile, opts: &mut RunOptions) {
    opts.schedule = Some(file.faults.clone());
    if let Some(w) = file.workload {
        opts.workload.writers = w.writers;
        opts.workload.ops_per_writer = w.ops_per_writer;
    }
}

/// The outcome of a shrink.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The property the run fails.
    pub property: crate::property::Property,
    /// The seed's own schedule.
    pub original: Schedule,
    /// The smallest schedule found that still fails the same property.
    pub schedule: Schedule,
    /// The workload before shrinking.
    pub original_workload: WorkloadSteps,
    /// The smallest workload found (with `schedule`) that still fails the same property.
    pub workload: WorkloadSteps,
    /// Runs it took.
    pub runs: usize,
}

impl Shrunk {
    /// The run file that replays the shrunk run.
    pub fn run_file(&self) -> RunFile {
        RunFile { faults: self.schedule.clone(), workload: Some(self.workload) }
    }
}

/// Why a run could not be shrunk.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShrinkError {
    /// The scenario name is unknown.
    #[error("unknown scenario {0:?}")]
    UnknownScenario(String),
    /// The run passes: there is nothing to shrink.
    #[error("seed {0} passes: nothing to shrink")]
    Passes(u64),
}

/// Shrinks the schedule of `base` (a failing run of `scenario`).
pub fn shrink(scenario: &str, base: &RunOptions) -> Result<Shrunk, ShrinkError> {
    let first = run_named(scenario, base).ok_or_else(|| ShrinkError::UnknownScenario(scenario.to_string()))?;
    let property = first.failure.map(|f| f.property).ok_or(ShrinkError::Passes(base.seed))?;
    let original = schedule_of(scenario, base);
    let mut runs = 1;
    let original_workload = WorkloadSteps { writers: base.workload.writers, ops_per_writer: base.workload.ops_per_writer };
    let mut fails = |candidate: &Schedule, w: WorkloadSteps| {
        runs += 1;
        let mut opts = RunOptions { schedule: Some(candidate.clone()), ..base.clone() };
        opts.workload.writers = w.writers;
        opts.workload.ops_per_writer = w.ops_per_writer;
        run_named(scenario, &opts).and_then(|r| r.failure).is_some_and(|f| f.property == property)
    };
    let mut current = original.clone();
    // ddmin: try removing ever smaller chunks; keep any removal that still fails the same way.
    let mut n = 2usize;
    while !current.is_empty() {
        let chunk = current.len().div_ceil(n);
        let mut reduced = false;
        for start in (0..current.len()).step_by(chunk.max(1)) {
            let candidate: Schedule = current.iter().enumerate().filter(|(i, _)| *i < start || *i >= start + chunk).map(|(_, f)| f.clone()).collect();
            if fails(&candidate, original_workload) {
                current = candidate;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= current.len() {
                break;
            }
            n = (n * 2).min(current.len());
        }
    }
    // Workload steps: fewer writers, then the shortest prefix of each writer's operations
    // (a binary search for the smallest count that still fails; failures need not be monotone
    // in the count, so this finds a small one, not always the smallest).
    let mut workload = original_workload;
    while workload.writers > 1 && fails(&current, WorkloadSteps { writers: workload.writers - 1, ..workload }) {
        workload.writers -= 1;
    }
    let (mut lo, mut hi) = (0, workload.ops_per_writer);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fails(&current, WorkloadSteps { ops_per_writer: mid, ..workload }) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    workload.ops_per_writer = hi;
    Ok(Shrunk { property, original, schedule: current, original_workload, workload, runs })
}
