//! Job control faults: an operator pausing, resuming or cancelling the running backup job.
//!
//! Fault model. PAUSE JOB, RESUME JOB and CANCEL JOB may arrive at any moment of a job's life,
//! through any live node, in any order, and more than once. A paused job must stop touching the
//! destination and resume from its checkpoint; a cancelled job must end `canceled` and leave no
//! manifest (a destination it touched is never taken for a finished backup); a statement that
//! does not apply to the job's status (pausing or cancelling a job that has ended, resuming one
//! whose cancel was requested) must be refused with an error naming that status, changing
//! nothing, and one that is already in effect (resuming a running job, pausing a paused one) is
//! accepted and changes nothing, as CockroachDB does.

use crate::world::World;
use model::Datum;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the operator does to the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum JobAction {
    /// PAUSE JOB.
    Pause,
    /// RESUME JOB.
    Resume,
    /// CANCEL JOB.
    Cancel,
}

impl JobAction {
    fn verb(self) -> &'static str {
        match self {
            JobAction::Pause => "PAUSE",
            JobAction::Resume => "RESUME",
            JobAction::Cancel => "CANCEL",
        }
    }
}

/// The newest job of type `job_type` (`BACKUP`, `RESTORE`) in SHOW JOBS rows: whom an operator
/// acts on, and which restore a scenario follows.
pub fn newest(rows: &[Vec<Datum>], job_type: &str) -> Option<i64> {
    rows.iter().rev().find(|r| matches!(r.get(1), Some(Datum::String(t)) if t == job_type)).and_then(|r| match r.first() {
        Some(Datum::Int(i)) => Some(*i),
        _ => None,
    })
}

/// How long the operator watches SHOW JOBS for the backup job to appear before giving up, and
/// how often it looks.
const WAIT_FOR_JOB: Duration = Duration::from_secs(30);
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Sends `action` for the newest backup job from the world's operator machine, trying live
/// nodes in turn; the outcome goes into the trace. Returns false when no node is up.
///
/// An operator acts on a job they can see: when the statement has not created its job yet (it
/// is still in flight to its gateway, or being planned), the operator watches SHOW JOBS until
/// the job appears, for up to [`WAIT_FOR_JOB`], rather than wasting the fault. Without this
/// wait most PAUSE and CANCEL faults arrived before the job existed and did nothing.
pub fn control(world: &mut World, action: JobAction) -> bool {
    control_newest(world, action, "BACKUP")
}

/// [`control`] of the newest RESTORE job instead: the faults a scenario aims at the restore of
/// its backup.
pub fn control_restore(world: &mut World, action: JobAction) -> bool {
    control_newest(world, action, "RESTORE")
}

fn control_newest(world: &mut World, action: JobAction, job_type: &'static str) -> bool {
    let nodes: Vec<_> = world.node_ids().into_iter().filter(|n| world.life(*n) == Some(crate::NodeLife::Up)).collect();
    if nodes.is_empty() {
        return false;
    }
    let operator = world.operator();
    let trace = world.trace.clone();
    operator.spawn(move |kv| async move {
        let deadline = madsim::time::Instant::now() + WAIT_FOR_JOB;
        loop {
            let mut listed = false;
            for &n in &nodes {
                let Ok((_, rows)) = kv.bulk(n, "SHOW JOBS", "root", "defaultdb", Duration::from_secs(5)).await else { continue };
                listed = true;
                let Some(id) = newest(&rows, job_type) else { break };
                let outcome = match kv.bulk(n, &format!("{} JOB {id}", action.verb()), "root", "defaultdb", Duration::from_secs(5)).await {
                    Ok(_) => "ok".to_string(),
                    Err(e) => format!("refused: {e}"),
                };
                crate::trace_event!(trace, "operator", crate::event::JOB_CONTROL, "{} JOB {id} via n{n}: {outcome}", action.verb());
                return;
            }
            if madsim::time::Instant::now() >= deadline {
                let why = if listed { format!("no {job_type} job appeared") } else { "no node answered SHOW JOBS".to_string() };
                crate::trace_event!(trace, "operator", crate::event::JOB_CONTROL, "{} JOB: gave up after {WAIT_FOR_JOB:?}: {why}", action.verb());
                return;
            }
            madsim::time::sleep(LOOK_EVERY).await;
        }
    });
    true
}
