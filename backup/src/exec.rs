//! The front door: runs one BACKUP, RESTORE, SHOW BACKUP, SHOW JOBS or PAUSE / RESUME / CANCEL
//! JOB statement, as a SQL gateway node would, and the adoption loop every node runs.
//!
//! BACKUP plans, records a job and coordinates it on this node, returning CockroachDB's result
//! row (job_id, status, fraction_completed, rows, index_entries, bytes) when the job succeeds;
//! `WITH detached` returns the job's id once the job is recorded and lets it run on. If
//! another node ends up coordinating it (this one lost its lease), the statement waits for the
//! job's outcome. RESTORE runs to completion the same way.

use crate::backup_job::{self, RunOutcome};
use crate::env::Env;
use crate::error::BackupError;
use crate::jobs::{self, ControlOp, JobId, JobRecord, JobStatus, JobTotals, JobType, UpdateRefused};
use crate::plan;
use crate::restore;
use crate::show::{self, QueryResult};
use crate::statement::{self, BackupStmt, Statement};
use crate::targets::{check_session, SessionContext};
use model::Datum;
use std::time::Duration;

/// True when `sql` is a statement this crate handles (route it here, not to the SQL layer).
pub fn is_bulk_statement(sql: &str) -> bool {
    statement::is_bulk_statement(sql)
}

/// BACKUP's and RESTORE's result row (job_id, status, fraction_completed, rows, index_entries,
/// bytes): also what a client that followed a job to its end reports for it.
pub fn result_row(id: JobId, status: &str, fraction: f64, t: JobTotals) -> QueryResult {
    QueryResult {
        columns: ["job_id", "status", "fraction_completed", "rows", "index_entries", "bytes"].iter().map(|c| c.to_string()).collect(),
        rows: vec![vec![
            Datum::Int(id),
            Datum::String(status.into()),
            Datum::Float(fraction),
            Datum::Int(t.rows as i64),
            Datum::Int(t.index_entries as i64),
            Datum::Int(t.bytes as i64),
        ]],
    }
}

/// Runs one bulk statement.
pub async fn execute(env: &Env, ctx: &SessionContext, sql: &str) -> Result<QueryResult, BackupError> {
    let stmt = statement::parse(sql)?;
    match &stmt {
        Statement::Backup(b) => backup(env, ctx, b).await,
        Statement::Restore(r) => {
            // Every check that can refuse the statement runs before a job exists, as for BACKUP:
            // a refused RESTORE leaves no job record behind.
            let (details, layers) = restore::plan_with_layers(env, ctx, r).await?;
            let id = jobs::create(&*env.kv, JobRecord::new(JobType::Restore, stmt.redacted(), &ctx.user, details)).await?;
            if r.options.detached {
                spawn_run(env, JobType::Restore, id);
                return Ok(QueryResult { columns: vec!["job_id".into()], rows: vec![vec![Datum::Int(id)]] });
            }
            // The restore's own failure is reported as it is (naming the damaged file, the
            // name taken meanwhile); anything else as BACKUP's outcome is.
            let outcome = restore::job::run_planned(env, id, Some(layers)).await?;
            job_outcome(env, id, outcome).await
        }
        Statement::ShowBackup(s) => show::show_backup(env, ctx, s).await,
        Statement::ShowBackups(collection) => show::show_backups(env, ctx, collection).await,
        Statement::ShowJobs => show::show_jobs(env, ctx).await,
        Statement::PauseJob(id) => control(env, ctx, *id as JobId, ControlOp::Pause).await,
        Statement::ResumeJob(id) => control(env, ctx, *id as JobId, ControlOp::Resume).await,
        Statement::CancelJob(id) => control(env, ctx, *id as JobId, ControlOp::Cancel).await,
        Statement::SetClusterSetting { name, value } => {
            // CockroachDB requires MODIFYCLUSTERSETTING, which admins hold.
            crate::settings::check_name(name)?;
            check_session(env, ctx, "SET CLUSTER SETTING").await?;
            crate::settings::set(&*env.kv, name, value).await?;
            Ok(QueryResult { columns: Vec::new(), rows: Vec::new() })
        }
        Statement::ShowClusterSetting(name) => {
            let value = crate::settings::get(&*env.kv, name).await?;
            Ok(QueryResult { columns: vec![name.clone()], rows: vec![vec![Datum::String(value)]] })
        }
        Statement::Schedule(s) => crate::schedule::execute(env, ctx, s).await,
        Statement::ShowLocality => Ok(QueryResult { columns: vec!["locality".into()], rows: vec![vec![Datum::String(env.locality.to_string())]] }),
    }
}

/// Runs one BACKUP statement: plans it, records its job and coordinates it here (or, `WITH
/// detached`, returns the job's id and lets it run on).
pub async fn backup(env: &Env, ctx: &SessionContext, b: &BackupStmt) -> Result<QueryResult, BackupError> {
    let details = plan::plan_backup(env, ctx, b).await?;
    let description = Statement::Backup(b.clone()).redacted();
    let id = jobs::create(&*env.kv, JobRecord::new(JobType::Backup, description, &ctx.user, details)).await?;
    if b.options.detached {
        // The job runs on without the statement; if this node dies, another adopts it.
        let env2 = env.clone();
        env.runtime.spawn(Box::pin(async move {
            let _ = backup_job::run(&env2, id).await;
        }));
        return Ok(QueryResult { columns: vec!["job_id".into()], rows: vec![vec![Datum::Int(id)]] });
    }
    // Once the job exists, a failure to coordinate it here (the cluster did not answer a
    // lease update) is not the job's failure: another node adopts it; follow it.
    let outcome = backup_job::run(env, id).await.unwrap_or(RunOutcome::NotCoordinator);
    job_outcome(env, id, outcome).await
}

/// Full or incremental, for [`backup_into_collection`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CollectionBackup {
    /// `BACKUP … INTO 'c'`: a new chain, which LATEST then names.
    Full,
    /// `BACKUP … INTO LATEST IN 'c'`: an incremental onto the chain LATEST names (refused if
    /// that chain backs up other targets, or none is there yet).
    Incremental,
}

/// Backs `targets` up into the collection at `collection`, as a new full backup or as an
/// incremental onto its LATEST chain, exactly as the statement `BACKUP … INTO` would (same
/// planning, refusals, job and description): the one call a scheduler makes for each run
/// (a full now and then, incrementals between). `as_of` is an `AS OF SYSTEM TIME` argument
/// (a scheduler passes its run's time, so the backup is of the time it was due); `options` are
/// the statement's `WITH` options (`detached` returns the job id at once).
pub async fn backup_into_collection(
    env: &Env,
    ctx: &SessionContext,
    targets: statement::Targets,
    collection: &str,
    kind: CollectionBackup,
    as_of: Option<statement::AsOf>,
    options: statement::BackupOptions,
) -> Result<QueryResult, BackupError> {
    let into = match kind {
        CollectionBackup::Full => statement::BackupInto::NewFull,
        CollectionBackup::Incremental => statement::BackupInto::Chain(statement::InCollection::Latest),
    };
    let stmt = BackupStmt { targets, to: vec![collection.to_string()], into: Some(into), as_of, incremental_from: Vec::new(), options };
    backup(env, ctx, &stmt).await
}

async fn job_outcome(env: &Env, id: JobId, outcome: RunOutcome) -> Result<QueryResult, BackupError> {
    match outcome {
        RunOutcome::Succeeded(t) => Ok(result_row(id, "succeeded", 1.0, t)),
        RunOutcome::Paused => Err(BackupError::Job(format!("job {id} was paused before it completed; RESUME JOB {id} to continue it"))),
        RunOutcome::Canceled => Err(BackupError::Job(format!("job {id} was canceled"))),
        RunOutcome::Failed(e) => Err(BackupError::Job(format!("job {id} failed: {e}"))),
        RunOutcome::NotCoordinator => wait_for(env, id).await,
    }
}

/// Waits until job `id` ends and reports it like BACKUP does.
pub async fn wait_for(env: &Env, id: JobId) -> Result<QueryResult, BackupError> {
    loop {
        if let Some(r) = jobs::load::<serde_json::Value>(&*env.kv, id).await? {
            match r.status {
                JobStatus::Succeeded => return Ok(result_row(id, "succeeded", 1.0, r.totals)),
                JobStatus::Failed => return Err(BackupError::Job(format!("job {id} failed: {}", r.error.unwrap_or_default()))),
                JobStatus::Canceled => return Err(BackupError::Job(format!("job {id} was canceled"))),
                JobStatus::Paused => return Err(BackupError::Job(format!("job {id} was paused before it completed; RESUME JOB {id} to continue it"))),
                _ => {}
            }
        }
        env.sleep(Duration::from_secs(1)).await;
    }
}

async fn control(env: &Env, ctx: &SessionContext, id: JobId, op: ControlOp) -> Result<QueryResult, BackupError> {
    check_session(env, ctx, "control jobs").await?;
    let updated = jobs::update::<serde_json::Value, _>(&*env.kv, id, |r, _| {
        jobs::control(r, op)?;
        // A job without a coordinator (paused) is not canceled at once: what it wrote goes
        // first, so that whoever sees it canceled finds nothing of it left.
        if r.status == JobStatus::Canceled {
            r.status = JobStatus::CancelRequested;
        }
        Ok(())
    })
    .await?;
    match updated {
        Ok(r) if r.job_type == JobType::Restore && r.status == JobStatus::CancelRequested && r.lease.is_none() => {
            // Not all removed yet (`Ok(false)`): the cancel stands, and the adoption loop
            // finishes it, as CockroachDB's CANCEL JOB returns before the job has reverted.
            match restore::job::cancel_uncoordinated(env, id).await {
                Ok(_) => Ok(QueryResult { columns: Vec::new(), rows: Vec::new() }),
                Err(why) => Err(BackupError::Job(why)),
            }
        }
        Ok(r) => {
            // A paused backup canceled has no coordinator to clean up after it: its lock,
            // checkpoint and data files go now, then it is recorded canceled. A destination
            // that does not answer leaves the cancel requested, for the adoption loop to finish.
            if r.job_type == JobType::Backup && r.status == JobStatus::CancelRequested && r.lease.is_none() && backup_job::tidy_before_cancel(env, id).await {
                finish_request(env, id).await;
            }
            // Resuming a paused job (its lease was released) starts a coordinator here; resuming
            // one whose pause was only requested leaves its coordinator running.
            if op == ControlOp::Resume && r.status == JobStatus::Running && r.lease.is_none() {
                spawn_run(env, r.job_type, id);
            }
            Ok(QueryResult { columns: Vec::new(), rows: Vec::new() })
        }
        Err(UpdateRefused::NotFound) => Err(BackupError::Job(format!("job with ID {id} does not exist"))),
        Err(UpdateRefused::Refused(reason)) => Err(BackupError::Job(reason)),
    }
}

/// Starts a coordinator for job `id` on this node, in the background.
fn spawn_run(env: &Env, job_type: JobType, id: JobId) {
    let env2 = env.clone();
    env.runtime.spawn(Box::pin(async move {
        let _ = match job_type {
            JobType::Backup => backup_job::run(&env2, id).await,
            JobType::Restore => restore::job::run(&env2, id).await,
        };
    }));
}

/// Records a pause or cancel requested of a job that no coordinator holds as done (paused,
/// canceled), deciding on the record as read now: another node may have finished it already.
async fn finish_request(env: &Env, id: JobId) {
    let _ = jobs::update::<serde_json::Value, _>(&*env.kv, id, |r, now| {
        if r.lease.is_some_and(|l| l.expires > now) {
            return Err("coordinated".into());
        }
        r.status = match r.status {
            JobStatus::PauseRequested => JobStatus::Paused,
            JobStatus::CancelRequested => JobStatus::Canceled,
            other => return Err(format!("already {}", other.as_str())),
        };
        r.lease = None;
        Ok(())
    })
    .await;
}

/// Every node runs this forever: it adopts jobs (BACKUP and RESTORE) whose coordinator's lease
/// lapsed and resumes them from their progress, and finishes pause and cancel requests that a
/// dead coordinator never saw (a canceled job's leftovers removed first).
pub async fn adopt_forever(env: Env) {
    loop {
        env.sleep(env.jobs.adopt_interval).await;
        let Ok(all) = jobs::list(&*env.kv).await else { continue };
        let now = env.kv.now();
        for j in all {
            let lapsed = j.lease.is_none_or(|l| l.expires <= now);
            if !lapsed {
                continue;
            }
            match (j.job_type, j.status) {
                (_, JobStatus::Running | JobStatus::Pending) => spawn_run(&env, j.job_type, j.id),
                // A restore's cancel is finished by one node, under a claim it takes, which
                // removes what the restore wrote and only then records it canceled (two nodes
                // tidying at once let one record the end while the other still removed).
                (JobType::Restore, JobStatus::CancelRequested) => {
                    let _ = restore::job::cancel_uncoordinated(&env, j.id).await;
                }
                (_, JobStatus::PauseRequested | JobStatus::CancelRequested) => {
                    if (j.job_type, j.status) == (JobType::Backup, JobStatus::CancelRequested) && !backup_job::tidy_before_cancel(&env, j.id).await {
                        continue;
                    }
                    finish_request(&env, j.id).await;
                }
                _ => {}
            }
        }
    }
}
