//! The scheduler every node runs (CockroachDB's job scheduler with its backup executor): on each
//! tick of the host's clock it handles the ends of backups schedules started, then starts the
//! backups of schedules that are due.
//!
//! Both steps are read-modify-write transactions on the schedule's record (first committer
//! wins), so whichever nodes tick at once, and whichever die half-way, one run of a schedule
//! starts one backup: the commit that advances `next_run` also creates the job and its
//! protected timestamp record, all or nothing. The job then runs on this node, and any node
//! adopts it if this one dies ([`crate::exec::adopt_forever`]).
//!
//! A run that finds a backup of its schedule still running follows `on_previous_running`; a
//! backup that fails (or cannot be planned) follows `on_execution_failure`; the first success of
//! the full schedule unpauses its incremental one; each success moves the chain's protected
//! timestamp record to the backup's end time (see [`crate::schedule`]).

use super::cron::Recurrence;
use super::statements::backup_statement;
use super::*;
use crate::env::Env;
use crate::jobs::{self, JobRecord, JobStatus, JobType};
use crate::plan::BackupDetails;
use crate::statement::Statement;
use crate::targets::SessionContext;
use model::protected_ts::{self, Holder, ProtectedRecord};
use model::KvError;
use std::time::Duration;

/// How long a schedule whose backup is still running waits before it looks again, and how soon
/// `on_execution_failure = 'retry'` runs again (CockroachDB's `recheckRunningAfter` and
/// `retryFailedJobAfter`).
pub const RETRY_AFTER: Duration = Duration::from_secs(60);

/// How often a node's scheduler ticks by default (CockroachDB's `jobs.scheduler.pace`).
pub const DEFAULT_PACE: Duration = Duration::from_secs(60);

/// What one tick did, for the host's log and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// Backups started: (schedule, job).
    pub started: Vec<(ScheduleId, JobId)>,
    /// Ends handled: (schedule, job, the job's status).
    pub ended: Vec<(ScheduleId, JobId, JobStatus)>,
}

/// Runs the scheduler for ever, one tick every `pace` of the host's time.
pub async fn run_forever(env: Env, pace: Duration) {
    loop {
        env.sleep(pace).await;
        // A cluster that does not answer now is asked again at the next tick.
        let _ = tick(&env).await;
    }
}

/// One pass: the ends first (so that a chain's protection has moved, and a waiting incremental
/// schedule is unpaused, before anything due starts), then the due schedules.
pub async fn tick(env: &Env) -> Result<Tick, BackupError> {
    let mut out = Tick::default();
    let now = env.kv.now();
    for s in list_at(&*env.kv, now).await? {
        for started in &s.started {
            let Some(job) = jobs::load::<serde_json::Value>(&*env.kv, started.job).await? else { continue };
            if job.status.is_terminal() && handle_end(env, s.id, started.job).await? {
                env.event(crate::event::SCHEDULE_JOB_ENDED, format!("schedule {} job {} {}", s.id, started.job, job.status.as_str()));
                out.ended.push((s.id, started.job, job.status));
            }
        }
    }
    let now = env.kv.now();
    for s in list_at(&*env.kv, now).await? {
        if !s.paused && s.next_run.is_some_and(|t| t <= now) {
            if let Some(job) = run_due(env, s.id).await? {
                out.started.push((s.id, job));
            }
        }
    }
    Ok(out)
}

/// Commits `writes` read at `now`; `Ok(false)` when another transaction wrote one of the keys
/// since (the caller reads again).
async fn commit(env: &Env, writes: Vec<WriteOp>, now: Timestamp) -> Result<bool, BackupError> {
    match env.kv.commit(writes, Some(now)).await {
        Ok(_) => Ok(true),
        Err(KvError::TxnAborted(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// What a failed run does to its schedule (CockroachDB's `DefaultHandleFailedRun`).
fn failed_run(s: &mut ScheduleRecord, now: Timestamp, why: String) {
    match s.on_error {
        OnError::Retry => {
            s.status = format!("retrying: {why}");
            s.next_run = Some(now.add(RETRY_AFTER));
        }
        OnError::Pause => {
            s.paused = true;
            s.next_run = None;
            s.status = format!("schedule paused: {why}");
        }
        // The next cron time was set when the run started.
        OnError::Reschedule => s.status = format!("reschedule: {why}"),
    }
}

/// Starts schedule `id`'s due run, if it is still due when read: returns the job started.
async fn run_due(env: &Env, id: ScheduleId) -> Result<Option<JobId>, BackupError> {
    for _ in 0..20 {
        let now = env.kv.now();
        let Some(mut s) = load_at(&*env.kv, id, now).await? else { return Ok(None) };
        let Some(scheduled) = s.next_run.filter(|t| !s.paused && *t <= now) else { return Ok(None) };
        let cron = Recurrence::parse(&s.cron)?;
        let mut running = 0;
        for j in &s.started {
            if jobs::load::<serde_json::Value>(&*env.kv, j.job).await?.is_some_and(|r| !r.status.is_terminal()) {
                running += 1;
            }
        }
        if running > 0 && s.wait != Wait::Start {
            if s.wait == Wait::Wait {
                s.next_run = Some(now.add(RETRY_AFTER));
                s.status = format!("delayed due to {running} already running");
            } else {
                s.next_run = cron.next_after(now);
                s.status = format!("rescheduled due to {running} already running");
            }
            if commit(env, vec![record_write(&s)?], now).await? {
                env.event(crate::event::SCHEDULE_RUN_DELAYED, format!("schedule {id}: {}", s.status));
                return Ok(None);
            }
            continue;
        }
        s.status.clear();
        s.next_run = cron.next_after(now);
        let stmt = backup_statement(&s.backup, s.kind, Some(scheduled));
        let ctx = SessionContext { user: s.owner.clone(), database: model::catalog::DEFAULT_DATABASE.into(), in_transaction: false };
        let details = match crate::plan::plan_backup(env, &ctx, &stmt).await {
            Ok(d) => d,
            Err(e) if is_transient(&e) => return Err(e),
            Err(e) => {
                failed_run(&mut s, now, format!("failed to create job for schedule {id}: err={e}"));
                if commit(env, vec![record_write(&s)?], now).await? {
                    env.event(crate::event::SCHEDULE_RUN_FAILED, format!("schedule {id}: {e}"));
                    return Ok(None);
                }
                continue;
            }
        };
        let job_id = fresh_id(&*env.kv, now, &[], jobs::job_key).await?;
        let protection = fresh_id(&*env.kv, now, &[], protected_ts::record_key).await?;
        let mut job = JobRecord::new(JobType::Backup, Statement::Backup(stmt).redacted(), &s.owner, details.clone());
        (job.id, job.created, job.modified) = (job_id, now, now);
        s.started.push(StartedJob { job: job_id, protection: Some(protection) });
        let record = ProtectedRecord::new(protection, job_reads_from(&details), protected_spans(&details), Holder::Job(job_id));
        let writes = vec![record_write(&s)?, jobs::record_write(&job)?, protected_ts::record_write(&record)];
        if !commit(env, writes, now).await? {
            continue;
        }
        env.event(crate::event::SCHEDULE_JOB_STARTED, format!("schedule {id} job {job_id} {:?} as of {scheduled}", s.kind));
        if let Some(why) = too_late(env, &record, &existing_spans(&details)).await? {
            // The job runs only to end as canceled, with the reason; its end is handled like any
            // failed run's (the schedule's on_execution_failure).
            let canceled = jobs::update::<serde_json::Value, _>(&*env.kv, job_id, |r, _| {
                jobs::control(r, jobs::ControlOp::Cancel)?;
                r.error = Some(why.clone());
                Ok(())
            })
            .await?;
            if canceled.is_ok() {
                env.event(crate::event::SCHEDULE_RUN_FAILED, format!("schedule {id}: job {job_id} canceled: {why}"));
            }
        }
        let env2 = env.clone();
        env.runtime.spawn(Box::pin(async move {
            let _ = crate::backup_job::run(&env2, job_id).await;
        }));
        return Ok(Some(job_id));
    }
    Ok(None)
}

/// True for a planning error that says nothing about the schedule (the cluster did not answer):
/// the run stays due and the next tick tries again.
fn is_transient(e: &BackupError) -> bool {
    matches!(e, BackupError::Kv(k) if k.is_retryable())
}

/// Handles the end of job `job` started by schedule `id`: releases the job's protection, moves
/// the chain's on success, unpauses the incremental schedule after the first full, applies
/// `on_execution_failure` otherwise. `Ok(false)` when another node handled it first.
async fn handle_end(env: &Env, id: ScheduleId, job: JobId) -> Result<bool, BackupError> {
    for _ in 0..20 {
        let now = env.kv.now();
        let Some(mut s) = load_at(&*env.kv, id, now).await? else { return Ok(false) };
        let Some(at) = s.started.iter().position(|j| j.job == job) else { return Ok(false) };
        let Some(record) = jobs::load::<BackupDetails>(&*env.kv, job).await? else { return Ok(false) };
        let started = s.started.remove(at);
        let mut writes = Vec::new();
        if let Some(p) = started.protection {
            writes.push(protected_ts::release_write(p));
        }
        // The incremental schedule of the pair holds the chain's record.
        let mut chain_holder = match s.kind {
            BackupKind::Incremental => None,
            BackupKind::Full => match s.dependent {
                Some(inc) => load_at(&*env.kv, inc, now).await?,
                None => None,
            },
        };
        let kind = s.kind;
        // The chain's record moved, for the host's log once committed: (holder, old, new, time).
        let mut moved = None;
        if record.status == JobStatus::Succeeded {
            let d = &record.payload;
            let holder = chain_holder.as_mut().unwrap_or(&mut s);
            if holder.kind == BackupKind::Incremental {
                let current = match holder.chain_protection {
                    Some(p) => read_record(env, p, now).await?,
                    None => None,
                };
                // A full starts the chain anew; an incremental extends it only if it starts
                // where the protected head ends (an incremental of an older chain finishing late
                // must not move the record off the chain LATEST names).
                // A full backup moves it unless a newer full already did: comparing with the
                // record's time instead let an older chain's incremental that ended after this
                // full's end time (it ran while the full did) keep the record on the older
                // chain, and GC then passed the time the next incremental onto this full starts
                // from (schedule scenario seeds 6, 36 and 39, on_previous_running = 'skip').
                let moves = match (&current, kind) {
                    (None, _) => true,
                    (Some(_), BackupKind::Full) => holder.chain_full_end.is_none_or(|f| d.end_time > f),
                    (Some(c), BackupKind::Incremental) => d.start_time == c.ts && d.end_time > c.ts,
                };
                if moves {
                    let taken: Vec<i64> = started.protection.into_iter().collect();
                    let fresh = fresh_id(&*env.kv, now, &taken, protected_ts::record_key).await?;
                    if let Some(old) = holder.chain_protection {
                        writes.push(protected_ts::release_write(old));
                    }
                    writes.push(protected_ts::record_write(&ProtectedRecord::new(fresh, d.end_time, protected_spans(d), Holder::Schedule(holder.id))));
                    moved = Some((holder.id, holder.chain_protection, fresh, d.end_time));
                    holder.chain_protection = Some(fresh);
                    if kind == BackupKind::Full {
                        holder.chain_full_end = Some(d.end_time);
                    }
                }
            }
            if let Some(inc) = s.unpause_on_success.take() {
                if let Some(h) = chain_holder.as_mut().filter(|h| h.id == inc) {
                    h.paused = false;
                    h.status.clear();
                    h.next_run = Recurrence::parse(&h.cron)?.next_after(now);
                }
            }
        } else {
            let why = format!("backup job {job} scheduled by {id} failed with status {}", record.status.as_str());
            failed_run(&mut s, now, format!("backup job {job} failed with err={why}"));
        }
        writes.push(record_write(&s)?);
        if let Some(h) = &chain_holder {
            writes.push(record_write(h)?);
        }
        if commit(env, writes, now).await? {
            if let Some((holder, old, fresh, at)) = moved {
                let released = old.map(|o| format!(", record {o} released")).unwrap_or_default();
                env.event(crate::event::SCHEDULE_PROTECTION_MOVED, format!("schedule {holder}: record {fresh} at {at}{released}"));
            }
            return Ok(true);
        }
    }
    Ok(false)
}

/// Verifies a run's record after it committed: from then on no GC threshold of its spans can
/// reach its time, but GC may have passed it between the planner's reads and the commit (a GC
/// pass that read the records before this one existed). Such a record came too late: the
/// backup could still succeed, but what it was to protect is gone — for a schedule's first full
/// backup, whose record is the only one, the history of the catalog tables the next incremental
/// reads as of the full's end, so the chain would be dead at birth. (CockroachDB verified new
/// records the same way, v20.2–v21.2.) A run of a chain that holds a record is never too late:
/// that record, older than the run's time, already holds every threshold below it. `spans` are
/// the record's spans that hold data at its time ([`existing_spans`]).
async fn too_late(env: &Env, record: &ProtectedRecord, spans: &[model::Span]) -> Result<Option<String>, BackupError> {
    for span in spans {
        let threshold = env.kv.gc_threshold(span).await?;
        if threshold >= record.ts {
            return Ok(Some(format!(
                "protected timestamp record {} at {} came too late: the GC threshold {threshold} of {span} had already passed it",
                record.id, record.ts
            )));
        }
    }
    Ok(None)
}

/// The time a running job's record protects: an incremental reads every change after its
/// start, so its history from there must stay until it has exported it (CockroachDB's
/// `protectTimestampForBackup` protects an incremental's start time too); a full reads as of
/// its end. Protecting the end alone let a new full's end move the chain's record past an
/// incremental of the older chain still exporting from its start (schedule seed 1, six-hourly
/// incrementals under a daily full).
fn job_reads_from(d: &BackupDetails) -> Timestamp {
    if d.start_time.is_zero() {
        d.end_time
    } else {
        d.start_time
    }
}

/// What a record protects for backup `d`: its spans and every table the catalog is read from
/// ([`model::catalog::SYSTEM_TABLE_IDS`]: the descriptor id generator, descriptors, users,
/// zones, role members), which every incremental reads as of its base's end (the catalog then,
/// and the descriptor changes since), and whose GC thresholds the planner checks like the
/// data's. The whole list rather than the tables a reading was seen to touch: the schedule
/// scenario met the descriptor table's threshold, then the users table's, then (seed 0) the id
/// generator's at `/Table/1`, each time an incremental's planning read the catalog at a base a
/// day old.
///
/// A cluster or database chain also protects every table created after `d`: the next
/// incremental backs them up too, and a revision-history one (or one planned before a table's
/// creation and run after) reads their history from `d`'s end. CockroachDB protects such a
/// chain by target (the cluster, the database descriptors) and resolves the target to spans
/// whenever its GC asks; the model's GC queues read spans only, so the record names the span of
/// every descriptor id above `d`'s highest — ids only grow, so every table created since is in
/// it. That also holds back new tables of other databases until the record moves on: more
/// protection than needed, never less. Without it, 5 of the schedule scenario's seeds 0..400
/// (cluster chains) fail: a table created since the chain's newest backup (seed 282:
/// `/Table/63`) is collected past the next incremental's start before that incremental's own
/// record exists, and the record is found too late ([`too_late`]) — rightly for a
/// revision-history incremental, which reads the table's history from its start.
fn protected_spans(d: &BackupDetails) -> Vec<model::Span> {
    let mut out = existing_spans(d);
    if d.is_full_cluster || !d.complete_dbs.is_empty() {
        let highest = d.descriptors.iter().map(|d| d.id()).max().unwrap_or(0);
        let first_new = highest.saturating_add(1).max(model::encoding::FIRST_USER_TABLE_ID);
        out.push(model::Span::new(first_new.to_be_bytes().to_vec(), vec![0xff; 5]));
    }
    out
}

/// The spans of [`protected_spans`] that existed at `d`'s time: its own and the catalog's.
fn existing_spans(d: &BackupDetails) -> Vec<model::Span> {
    let mut out = d.spans.to_vec();
    for id in model::catalog::SYSTEM_TABLE_IDS {
        let table = model::encoding::table_span(id);
        if !out.iter().any(|s| s.contains(&table)) {
            out.push(table);
        }
    }
    out
}

async fn read_record(env: &Env, id: i64, now: Timestamp) -> Result<Option<ProtectedRecord>, BackupError> {
    let key = protected_ts::record_key(id);
    match env.kv.get(&key, now).await? {
        None => Ok(None),
        Some(bytes) => protected_ts::decode(&key, &bytes).map(Some).map_err(|e| BackupError::Internal(e.to_string())),
    }
}
