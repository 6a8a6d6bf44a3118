//! What every job coordinator does whatever its kind (BACKUP's and RESTORE's): take the job
//! under a fencing token, keep its lease alive, heed PAUSE and CANCEL, stop at pausepoints, and
//! record how the run ended — only while it still holds the job, so that a coordinator that lost
//! its lease (cut off, or outlived by an adopter) never speaks for the job again.
//!
//! The record's payload is read as raw JSON here: these steps touch only the common fields.

use crate::env::Env;
use crate::error::BackupError;
use crate::jobs::{self, JobId, JobStatus, JobTotals};
use crate::retry::Backoff;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// [`jobs::update`] as run `run` of this node: refused ("lease lost") once that run no longer
/// holds the job, so that every write a coordinator makes to its job record is fenced.
pub(crate) async fn update_held<P, F>(env: &Env, id: JobId, run: u64, mut change: F) -> Result<Result<jobs::JobRecord<P>, jobs::UpdateRefused>, BackupError>
where
    P: serde::Serialize + serde::de::DeserializeOwned + Clone,
    F: FnMut(&mut jobs::JobRecord<P>, model::Timestamp) -> Result<(), String>,
{
    let node = env.node();
    jobs::update::<P, _>(&*env.kv, id, |r, now| {
        if !jobs::holds(r, now, node, run) {
            return Err("lease lost".into());
        }
        change(r, now)
    })
    .await
}

/// How a coordinator's run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Done and marked succeeded (a BACKUP's manifest is written; a RESTORE's descriptors are
    /// published).
    Succeeded(JobTotals),
    /// Paused on request.
    Paused,
    /// Canceled on request.
    Canceled,
    /// Failed with this (redacted) error.
    Failed(String),
    /// Another node holds the job (this node never had it, or lost it).
    NotCoordinator,
}

/// A fresh fencing token for a run on this node: the full HLC reading, unique on this node
/// (two runs started in the same instant still differ in the logical part).
pub(crate) fn fencing_token(env: &Env) -> u64 {
    let now = env.kv.now();
    now.wall.wrapping_mul(1 << 16).wrapping_add(now.logical as u64)
}

/// Records the outcome in the job record (only if this node still coordinates it); true if it
/// did.
pub(crate) async fn finish(env: &Env, id: JobId, run: u64, outcome: &RunOutcome) -> Result<bool, BackupError> {
    let outcome = outcome.clone();
    let recorded = update_held::<serde_json::Value, _>(env, id, run, |r, now| {
        match &outcome {
            RunOutcome::Succeeded(totals) => {
                r.status = JobStatus::Succeeded;
                r.totals = *totals;
                r.progress_millis = 1000;
                r.running_status.clear();
                r.finished = Some(now);
            }
            // A CANCEL that arrived after the run decided to pause stands: the job is left
            // without a coordinator, asking to be canceled, for the adoption loop to finish.
            RunOutcome::Paused if r.status == JobStatus::CancelRequested => {}
            RunOutcome::Paused => {
                r.status = JobStatus::Paused;
                r.running_status = "paused".into();
            }
            // A restore reverting after a failure (asking to be canceled, with its error) ends
            // failed, with that error, whichever run finishes its removal.
            RunOutcome::Canceled => {
                r.status = if r.error.is_some() { JobStatus::Failed } else { JobStatus::Canceled };
                r.finished = Some(now);
            }
            RunOutcome::Failed(e) => {
                r.status = JobStatus::Failed;
                r.error = Some(e.clone());
                r.finished = Some(now);
            }
            RunOutcome::NotCoordinator => return Err("not coordinator".into()),
        }
        r.lease = None;
        Ok(())
    })
    .await?;
    Ok(recorded.is_ok())
}

/// Runs `attempt` (one run of a coordinator's work) again after a transient failure (storage
/// or the cluster not answering for longer than one operation's retries), backing off, until an
/// attempt gets through or the job's retry budget is spent: a job is not failed by an outage it
/// can outlast, as CockroachDB's resumer retries every error that is not permanent. Once
/// `patient` is set there is no budget: the job waits for as long as the outage lasts (PAUSE
/// and CANCEL still stop it). Each attempt resumes from the job's recorded progress. PAUSE and
/// CANCEL are heeded between them.
pub(crate) async fn until_through<F, Fut>(
    env: &Env,
    id: JobId,
    run: u64,
    lost: &AtomicBool,
    patient: &AtomicBool,
    mut attempt: F,
) -> Result<RunOutcome, BackupError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<RunOutcome, BackupError>>,
{
    // The budget runs from the first failure, not from the start of the run: a job that has
    // exported for longer than the budget and then meets a brief outage is retried like any
    // other (counted from the run's start, it failed at its first transient error: schedule
    // scenario seed 0, a full backup still running when a day passed).
    let mut first_failure: Option<model::Timestamp> = None;
    let mut backoff = Backoff::starting_at(Duration::from_millis(500));
    loop {
        let mut within_budget = || {
            let now = env.kv.now();
            let since = *first_failure.get_or_insert(now);
            now.wall.saturating_sub(since.wall) < env.jobs.retry_budget.as_nanos() as u64
        };
        match attempt().await {
            // Past the budget, a job that is `patient` (a backup whose manifest may have landed)
            // still waits: failing would leave a failed job beside a complete backup.
            Err(e) if e.is_transient() && (within_budget() || patient.load(Ordering::Relaxed)) => {
                env.event(crate::event::JOB_RETRYING, format!("job {id}: {e}; running it again"));
                backoff.wait(env).await;
                if let Some(stop) = control_check(env, id, run, lost).await {
                    return Ok(stop);
                }
            }
            other => return other,
        }
    }
}

/// Ends a run's heartbeat when the run ends, however it ends: also when its future is dropped
/// mid-flight (a shell's Ctrl-C stops a statement that way), which would otherwise leave the
/// heartbeat renewing the lease of a run that no longer exists.
pub(crate) struct HeartbeatGuard(pub(crate) Arc<AtomicBool>);

impl Drop for HeartbeatGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Renews the lease every third of its duration until `done`; sets `lost` if refused.
pub(crate) fn spawn_heartbeat(env: &Env, id: JobId, run: u64, lost: Arc<AtomicBool>, done: Arc<AtomicBool>) {
    let env2 = env.clone();
    let fut = async move {
        let node = env2.node();
        let every = env2.jobs.lease / 3;
        let mut last_renewed = env2.kv.now();
        loop {
            env2.sleep(every).await;
            if done.load(Ordering::Relaxed) {
                return;
            }
            let renewed = update_held::<serde_json::Value, _>(&env2, id, run, |r, now| jobs::claim(r, now, node, run, env2.jobs.lease)).await;
            match renewed {
                Ok(Ok(_)) => last_renewed = env2.kv.now(),
                Ok(Err(_)) => {
                    lost.store(true, Ordering::Relaxed);
                    return;
                }
                // The cluster did not answer. Once the lease may have lapsed (two thirds of it
                // gone without a renewal, leaving room for clock offsets), assume another node
                // has adopted the job and stop touching the destination.
                Err(_) => {
                    if env2.kv.now().wall.saturating_sub(last_renewed.wall) > (env2.jobs.lease * 2 / 3).as_nanos() as u64 {
                        lost.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }
    };
    env.runtime.spawn(Box::pin(fut));
}

/// What the job record asks of the coordinator right now. A record that cannot be read is
/// asked again (with backoff) rather than taken as "carry on": a coordinator cut off from the
/// cluster must not keep writing on a lease it can no longer confirm.
pub(crate) async fn control_check(env: &Env, id: JobId, run: u64, lost: &AtomicBool) -> Option<RunOutcome> {
    let node = env.node();
    let mut backoff = Backoff::starting_at(Duration::from_millis(100));
    loop {
        if lost.load(Ordering::Relaxed) {
            return Some(RunOutcome::NotCoordinator);
        }
        match jobs::load::<serde_json::Value>(&*env.kv, id).await {
            Ok(Some(r)) => {
                let now = env.kv.now();
                if !jobs::holds(&r, now, node, run) {
                    return Some(RunOutcome::NotCoordinator);
                }
                return match r.status {
                    JobStatus::PauseRequested => Some(RunOutcome::Paused),
                    JobStatus::CancelRequested => Some(RunOutcome::Canceled),
                    _ => None,
                };
            }
            Ok(None) => return Some(RunOutcome::NotCoordinator),
            Err(_) => backoff.wait(env).await,
        }
    }
}

/// True when the cluster setting `jobs.debug.pausepoints` lists `point`: the job then pauses
/// there, as if PAUSE JOB had been run (CockroachDB's pausepoints; see [`crate::settings`]).
pub(crate) async fn pausepoint(env: &Env, id: JobId, point: &str) -> bool {
    let hit = crate::settings::pauses_at(&*env.kv, point).await;
    if hit {
        env.event(crate::event::JOB_PAUSEPOINT, format!("job {id}: pausing at {point}"));
    }
    hit
}
