//! Shrinking: reduce a failing run's fault schedule to a minimal one that still fails the same
//! property (delta debugging, Zeller's ddmin, over the schedule's faults).
//!
//! Everything but the schedule still comes from the seed, so a shrunk schedule plus the seed is a
//! complete, replayable run: `replay <scenario> --seed N --schedule FILE`.

use crate::run::{run_named, schedule_of, RunOptions};
use sim::faults::Schedule;

/// The outcome of a shrink.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The property the run fails.
    pub property: &'static str,
    /// The seed's own schedule.
    pub original: Schedule,
    /// The smallest schedule found that still fails the same property.
    pub schedule: Schedule,
    /// Runs it took.
    pub runs: usize,
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
    let mut fails = |candidate: &Schedule| {
        runs += 1;
        let opts = RunOptions { schedule: Some(candidate.clone()), ..base.clone() };
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
            if fails(&candidate) {
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
    Ok(Shrunk { property, original, schedule: current, runs })
}
