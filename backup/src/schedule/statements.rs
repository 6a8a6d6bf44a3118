//! The schedule statements run: `CREATE SCHEDULE … FOR BACKUP` (the pair of schedules, after a
//! dry run of the full backup's planning, as CockroachDB does), `SHOW SCHEDULES`,
//! `SHOW SCHEDULE id`, and `PAUSE / RESUME / DROP SCHEDULE id`.

use super::cron::{show_time, Recurrence};
use super::*;
use crate::env::Env;
use crate::show::QueryResult;
use crate::statement::{
    AsOf, BackupInto, BackupOptions, BackupStmt, CreateScheduleStmt, FullBackup, InCollection, Recurring, ScheduleControl, ScheduleStmt, Secret, Statement,
    TablePattern,
};
use crate::targets::{check_session, SessionContext};
use model::protected_ts;
use std::time::Duration;

/// What CockroachDB's CREATE SCHEDULE calls itself in privilege errors.
const CREATE_OP: &str = "CREATE SCHEDULE FOR BACKUP";

/// Runs one schedule statement.
pub async fn execute(env: &Env, ctx: &SessionContext, stmt: &ScheduleStmt) -> Result<QueryResult, BackupError> {
    match stmt {
        ScheduleStmt::Create(c) => create(env, ctx, c).await,
        ScheduleStmt::Show(which) => show(env, ctx, *which).await,
        ScheduleStmt::Control(op, id) => control(env, ctx, *op, *id).await,
    }
}

/// The backup statement a schedule of `kind` runs, `AS OF SYSTEM TIME as_of` when given, always
/// detached: what it plans, and (redacted) what it shows.
pub fn backup_statement(b: &ScheduledBackup, kind: BackupKind, as_of: Option<Timestamp>) -> BackupStmt {
    BackupStmt {
        targets: b.targets.clone(),
        to: b.collection.clone(),
        into: Some(match kind {
            BackupKind::Full => BackupInto::NewFull,
            BackupKind::Incremental => BackupInto::Chain(InCollection::Latest),
        }),
        as_of: as_of.map(|t| AsOf(t.to_string())),
        incremental_from: Vec::new(),
        options: BackupOptions { revision_history: b.revision_history, encryption_passphrase: b.passphrase.clone().map(Secret::new), detached: true },
    }
}

/// The redacted statement a schedule runs (CREATE SCHEDULE's `backup_stmt`, SHOW SCHEDULES'
/// `command`).
pub fn shown_statement(r: &ScheduleRecord) -> String {
    Statement::Backup(backup_statement(&r.backup, r.kind, None)).redacted()
}

/// Table names qualified with the session's database: the scheduler's backups run in no session.
fn qualified(targets: &Targets, database: &str) -> Targets {
    match targets {
        Targets::Tables(ps) => Targets::Tables(
            ps.iter()
                .map(|p| match p {
                    TablePattern::Table { database: None, table } => TablePattern::Table { database: Some(database.to_string()), table: table.clone() },
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn on_error(text: Option<&str>) -> Result<OnError, ScheduleError> {
    match text.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(OnError::default()),
        Some("retry") => Ok(OnError::Retry),
        Some("reschedule") => Ok(OnError::Reschedule),
        Some("pause") => Ok(OnError::Pause),
        Some(_) => Err(ScheduleError::BadOnError(text.unwrap_or_default().to_string())),
    }
}

fn wait(text: Option<&str>) -> Result<Wait, ScheduleError> {
    match text.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(Wait::default()),
        Some("start") => Ok(Wait::Start),
        Some("skip") => Ok(Wait::Skip),
        Some("wait") => Ok(Wait::Wait),
        Some(_) => Err(ScheduleError::BadWait(text.unwrap_or_default().to_string())),
    }
}

/// `first_run`: `now`, or a time `AS OF SYSTEM TIME` accepts (a timestamp string, a decimal).
fn first_run(text: &str, now: Timestamp) -> Result<Timestamp, ScheduleError> {
    if text.trim().eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    Timestamp::parse_as_of(text, now).map_err(|e| ScheduleError::BadFirstRun(e.to_string()))
}

async fn create(env: &Env, ctx: &SessionContext, c: &CreateScheduleStmt) -> Result<QueryResult, BackupError> {
    check_session(env, ctx, CREATE_OP).await?;
    let now = env.kv.now();
    let label = c.label.clone().unwrap_or_else(|| format!("BACKUP {}", now.wall / 1_000_000_000));
    if c.if_not_exists && list_at(&*env.kv, now).await?.iter().any(|s| s.label == label) {
        // CockroachDB sends the notice "schedule … already exists, skipping" and no row.
        return Ok(QueryResult { columns: result_columns(), rows: Vec::new() });
    }
    let mut inc = match &c.recurring {
        Recurring::Cron(expr) => Some(Recurrence::parse(expr)?),
        Recurring::Never => return Err(ScheduleError::RecurringRequired.into()),
    };
    let (full, picked) = match &c.full_backup {
        Some(FullBackup::Cron(expr)) => (Recurrence::parse(expr)?, false),
        Some(FullBackup::Always) => (inc.take().expect("set above"), false),
        None => {
            // CockroachDB's pick: fulls daily under hourly incrementals, weekly under daily
            // ones; slower incrementals become the fulls themselves.
            let frequency = inc.as_ref().and_then(|r| r.frequency(now)).unwrap_or(Duration::MAX);
            let full = if frequency <= Duration::from_secs(3_600) {
                Recurrence::parse("@daily")?
            } else if frequency <= Duration::from_secs(86_400) {
                Recurrence::parse("@weekly")?
            } else {
                inc.take().expect("set above")
            };
            (full, true)
        }
    };
    let on_error = on_error(c.options.on_execution_failure.as_deref())?;
    let wait = wait(c.options.on_previous_running.as_deref())?;
    let first = c.options.first_run.as_deref().map(|t| first_run(t, now)).transpose()?;
    let backup = ScheduledBackup {
        targets: qualified(&c.targets, &ctx.database),
        collection: c.collection.clone(),
        revision_history: c.backup_options.revision_history,
        passphrase: c.backup_options.encryption_passphrase.as_ref().map(|s| s.expose().to_string()),
    };
    // The dry run: every check a full backup of these targets into this collection makes now.
    crate::plan::plan_backup(env, ctx, &backup_statement(&backup, BackupKind::Full, None)).await?;
    if !c.options.ignore_existing_backups && c.collection.len() == 1 && !crate::collection::list_full_backups(env, &c.collection[0]).await?.is_empty() {
        return Err(ScheduleError::BackupsExist(crate::storage::url::redact_location(&c.collection[0])).into());
    }

    let full_id = fresh_id(&*env.kv, now, &[], schedule_key).await?;
    let inc_id = match inc {
        Some(_) => Some(fresh_id(&*env.kv, now, &[full_id], schedule_key).await?),
        None => None,
    };
    let base = |id: ScheduleId, cron: &Recurrence, kind: BackupKind| ScheduleRecord {
        version: SCHEDULE_RECORD_VERSION,
        id,
        label: label.clone(),
        owner: ctx.user.clone(),
        created: now,
        cron: cron.expr().to_string(),
        next_run: None,
        paused: false,
        status: String::new(),
        on_error,
        wait,
        kind,
        backup: backup.clone(),
        dependent: None,
        unpause_on_success: None,
        chain_protection: None,
        chain_full_end: None,
        started: Vec::new(),
    };
    let mut records = Vec::new();
    if let (Some(inc_cron), Some(inc_id)) = (&inc, inc_id) {
        let mut r = base(inc_id, inc_cron, BackupKind::Incremental);
        // Paused until the first full backup succeeds: an incremental needs one to append to.
        r.paused = true;
        r.status = "Waiting for initial backup to complete".into();
        r.dependent = Some(full_id);
        records.push(r);
    }
    let mut f = base(full_id, &full, BackupKind::Full);
    // A first run given runs then; a full cadence picked for the user runs its first full now,
    // so that the incrementals do not wait a week for one; otherwise the cron's next time.
    f.next_run = first.or(if picked { Some(now) } else { full.next_after(now) });
    f.dependent = inc_id;
    f.unpause_on_success = inc_id;
    records.push(f);
    let writes = records.iter().map(record_write).collect::<Result<Vec<_>, _>>()?;
    env.kv.commit(writes, Some(now)).await?;
    let rows = records
        .iter()
        .map(|r| {
            let status = if r.paused { format!("PAUSED: {}", r.status) } else { "ACTIVE".into() };
            vec![
                Datum::Int(r.id),
                Datum::String(r.label.clone()),
                Datum::String(status),
                r.next_run.map(|t| Datum::String(show_time(t))).unwrap_or(Datum::Null),
                Datum::String(r.cron.clone()),
                Datum::String(shown_statement(r)),
            ]
        })
        .collect();
    Ok(QueryResult { columns: result_columns(), rows })
}

/// CREATE SCHEDULE's columns, as CockroachDB's.
fn result_columns() -> Vec<String> {
    ["schedule_id", "label", "status", "first_run", "schedule", "backup_stmt"].iter().map(|c| c.to_string()).collect()
}

/// SHOW SCHEDULES' columns (CockroachDB's, `command` holding the redacted backup statement).
const SHOW_COLUMNS: [&str; 10] = ["id", "label", "schedule_status", "next_run", "state", "recurrence", "jobs_running", "owner", "created", "command"];

async fn show(env: &Env, ctx: &SessionContext, which: Option<ScheduleId>) -> Result<QueryResult, BackupError> {
    check_session(env, ctx, "SHOW SCHEDULES").await?;
    let now = env.kv.now();
    let all = list_at(&*env.kv, now).await?;
    let chosen: Vec<&ScheduleRecord> = all.iter().filter(|s| which.is_none_or(|id| s.id == id)).collect();
    if let (Some(id), true) = (which, chosen.is_empty()) {
        return Err(ScheduleError::NotFound(id).into());
    }
    let mut rows = Vec::new();
    for s in chosen {
        let mut running = 0;
        for j in &s.started {
            if crate::jobs::load::<serde_json::Value>(&*env.kv, j.job).await?.is_some_and(|r| !r.status.is_terminal()) {
                running += 1;
            }
        }
        rows.push(vec![
            Datum::Int(s.id),
            Datum::String(s.label.clone()),
            Datum::String(if s.paused { "PAUSED" } else { "ACTIVE" }.into()),
            s.next_run.map(|t| Datum::String(show_time(t))).unwrap_or(Datum::Null),
            Datum::String(s.status.clone()),
            Datum::String(s.cron.clone()),
            Datum::Int(running),
            Datum::String(s.owner.clone()),
            Datum::String(show_time(s.created)),
            Datum::String(shown_statement(s)),
        ]);
    }
    Ok(QueryResult { columns: SHOW_COLUMNS.iter().map(|c| c.to_string()).collect(), rows })
}

async fn control(env: &Env, ctx: &SessionContext, op: ScheduleControl, id: ScheduleId) -> Result<QueryResult, BackupError> {
    check_session(env, ctx, "control schedules").await?;
    for _ in 0..100 {
        let now = env.kv.now();
        let Some(mut s) = load_at(&*env.kv, id, now).await? else { return Err(ScheduleError::NotFound(id).into()) };
        let mut writes = Vec::new();
        match op {
            ScheduleControl::Pause => {
                s.paused = true;
                s.next_run = None;
                writes.push(record_write(&s)?);
            }
            ScheduleControl::Resume => {
                if s.paused {
                    s.paused = false;
                    s.status.clear();
                    s.next_run = Recurrence::parse(&s.cron)?.next_after(now);
                }
                writes.push(record_write(&s)?);
            }
            ScheduleControl::Drop => {
                writes.push(WriteOp::Delete(schedule_key(id)));
                // The other schedule of the pair no longer depends on this one.
                if let Some(other) = s.dependent {
                    if let Some(mut d) = load_at(&*env.kv, other, now).await? {
                        d.dependent = None;
                        if d.unpause_on_success == Some(id) {
                            d.unpause_on_success = None;
                        }
                        writes.push(record_write(&d)?);
                    }
                }
                // What the schedule protects goes with it: its chain's record and the records of
                // the backups it started (which run on, unprotected).
                for record in s.chain_protection.iter().chain(s.started.iter().filter_map(|j| j.protection.as_ref())) {
                    writes.push(protected_ts::release_write(*record));
                }
            }
        }
        match env.kv.commit(writes, Some(now)).await {
            Ok(_) => return Ok(QueryResult { columns: Vec::new(), rows: Vec::new() }),
            Err(model::KvError::TxnAborted(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BackupError::Internal(format!("schedule {id}: too many conflicting updates")))
}
