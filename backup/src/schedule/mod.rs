//! Scheduled backups (CockroachDB's `CREATE SCHEDULE … FOR BACKUP`, v21.1–v22.2): schedules
//! stored in the cluster, a scheduler every node runs that starts their backups when they are
//! due, and the protected timestamps that keep a scheduled chain's next incremental possible.
//!
//! A `CREATE SCHEDULE` makes a pair, as CockroachDB does: an incremental schedule
//! (`BACKUP INTO LATEST IN 'coll'`, paused until the first full backup succeeds) and a full one
//! (`BACKUP INTO 'coll'`), linked to each other; with `FULL BACKUP ALWAYS` (or an incremental
//! cadence slower than daily and no `FULL BACKUP` clause) only the full one. Each record holds
//! its cron expression, next run, policies, and the backup statement with its secrets (the
//! payload: never printed; CockroachDB stores its statement with passwords shown as well).
//!
//! Time is the cluster's: a schedule is due when the node's HLC clock passes its `next_run`;
//! the backup it starts reads `AS OF SYSTEM TIME` the time the run was scheduled for. Records are
//! versioned JSON in `system.scheduled_jobs` ([`model::catalog::SYSTEM_SCHEDULED_JOBS_TABLE_ID`]);
//! every change is a read-modify-write committed with first-committer-wins, so two nodes never
//! both start one run ([`executor`]).
//!
//! Protected timestamps ([`model::protected_ts`]): a scheduled chain holds one record at the end
//! time of its newest backup, over that backup's spans, so no GC threshold passes the time the
//! next incremental starts from, however long the gap; a running scheduled backup holds one at
//! the time it reads. A newer backup of the chain replaces the chain's record; a job's goes when
//! its end is handled; `DROP SCHEDULE` releases the schedule's. CockroachDB chains records this
//! way behind `schedules.backup.gc_protection.enabled`; here every backup schedule does.

pub mod cron;
pub mod executor;
mod statements;

pub use statements::execute;

use crate::error::BackupError;
/// Re-exported from [`crate::error`], where they live so that `BackupError` can carry them
/// without the error module importing the scheduler (which imports nearly every module).
pub use crate::error::{ScheduleError, ScheduleId};
use crate::jobs::JobId;
use crate::statement::Targets;
use model::catalog::{scheduled_jobs_span, SYSTEM_SCHEDULED_JOBS_TABLE_ID};
use model::{encoding, Datum, Key, Kv, Timestamp, WriteOp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The version of the schedule record encoding this build writes and reads.
pub const SCHEDULE_RECORD_VERSION: u32 = 1;

/// Whether a schedule's backups are full backups or incrementals onto the collection's LATEST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupKind {
    /// `BACKUP INTO 'coll'`.
    Full,
    /// `BACKUP INTO LATEST IN 'coll'`.
    Incremental,
}

/// What a schedule does when its backup fails (CockroachDB's `on_execution_failure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnError {
    /// `retry`: run again a minute later.
    Retry,
    /// `reschedule` (the default): run again at the next cron time.
    #[default]
    Reschedule,
    /// `pause`: pause the schedule.
    Pause,
}

/// What a due schedule does while a backup it started still runs (`on_previous_running`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wait {
    /// `start`: start another anyway.
    Start,
    /// `skip`: skip this run, wait for the next cron time.
    Skip,
    /// `wait` (the default): check again a minute later.
    #[default]
    Wait,
}

impl OnError {
    /// The option's word.
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::Retry => "retry",
            OnError::Reschedule => "reschedule",
            OnError::Pause => "pause",
        }
    }
}

impl Wait {
    /// The option's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Wait::Start => "start",
            Wait::Skip => "skip",
            Wait::Wait => "wait",
        }
    }
}

/// What a schedule's backups are: everything needed to plan one, secrets included.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledBackup {
    /// The targets, table names qualified with the creating session's database.
    pub targets: Targets,
    /// The collection's URL(s), credentials kept.
    pub collection: Vec<String>,
    /// `revision_history`.
    pub revision_history: bool,
    /// `encryption_passphrase`, kept to plan each backup.
    pub passphrase: Option<String>,
}

/// A backup started by a schedule whose end the scheduler has not handled yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedJob {
    /// The job.
    pub job: JobId,
    /// The protected timestamp record holding the job's read time, released at its end.
    pub protection: Option<i64>,
}

/// A schedule as stored in `system.scheduled_jobs`. Its `Debug` leaves the backup out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    /// [`SCHEDULE_RECORD_VERSION`].
    pub version: u32,
    /// Id.
    pub id: ScheduleId,
    /// The label (several schedules may share one).
    pub label: String,
    /// Who created it: the user its backups run as.
    pub owner: String,
    /// When it was created.
    pub created: Timestamp,
    /// The cron expression.
    pub cron: String,
    /// When it runs next; `None` while paused.
    pub next_run: Option<Timestamp>,
    /// Paused (by PAUSE SCHEDULE, by a failure with `on_execution_failure = 'pause'`, or an
    /// incremental schedule waiting for its first full backup).
    pub paused: bool,
    /// What happened last, in words (CockroachDB's `schedule_status`).
    pub status: String,
    /// `on_execution_failure`.
    pub on_error: OnError,
    /// `on_previous_running`.
    pub wait: Wait,
    /// Full or incremental.
    pub kind: BackupKind,
    /// The backup it runs.
    pub backup: ScheduledBackup,
    /// The other schedule of the pair.
    pub dependent: Option<ScheduleId>,
    /// The schedule to unpause when this one's backup first succeeds (the full schedule's
    /// incremental).
    pub unpause_on_success: Option<ScheduleId>,
    /// The protected timestamp record of the chain (on the incremental schedule).
    pub chain_protection: Option<i64>,
    /// The end time of the full backup the protected chain starts with: a full backup that
    /// ends later starts a newer chain (LATEST names it), whatever an older chain's incremental
    /// finishing meanwhile moved the record to. Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_full_end: Option<Timestamp>,
    /// Backups started and not yet seen to end.
    pub started: Vec<StartedJob>,
}

impl fmt::Debug for ScheduleRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduleRecord")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("cron", &self.cron)
            .field("next_run", &self.next_run)
            .field("paused", &self.paused)
            .field("status", &self.status)
            .field("kind", &self.kind)
            .field("dependent", &self.dependent)
            .field("chain_protection", &self.chain_protection)
            .field("started", &self.started)
            .field("backup", &format_args!("<not printed>"))
            .finish()
    }
}

/// The key of schedule `id`.
pub fn schedule_key(id: ScheduleId) -> Key {
    encoding::encode_index_key(SYSTEM_SCHEDULED_JOBS_TABLE_ID, encoding::PRIMARY_INDEX_ID, &[Datum::Int(id)])
}

/// The write that stores `r`.
pub(crate) fn record_write(r: &ScheduleRecord) -> Result<WriteOp, BackupError> {
    let bytes = serde_json::to_vec(r).map_err(|e| BackupError::Internal(format!("encoding schedule {}: {e}", r.id)))?;
    Ok(WriteOp::Put(schedule_key(r.id), bytes))
}

/// Decodes the schedule at `key`, refusing a version this build does not read.
pub fn decode(key: &Key, bytes: &[u8]) -> Result<ScheduleRecord, BackupError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| BackupError::Internal(format!("schedule record at {key} is corrupt: {e}")))?;
    let version = v.get("version").and_then(|v| v.as_u64());
    if version != Some(SCHEDULE_RECORD_VERSION as u64) {
        return Err(BackupError::Internal(format!("schedule record at {key} has version {version:?}; this build reads version {SCHEDULE_RECORD_VERSION}")));
    }
    let r: ScheduleRecord = serde_json::from_value(v).map_err(|e| BackupError::Internal(format!("schedule record at {key} is corrupt: {e}")))?;
    if schedule_key(r.id) != *key {
        return Err(BackupError::Internal(format!("schedule record at {key} names schedule {}", r.id)));
    }
    Ok(r)
}

/// Schedule `id` as of `ts`.
pub async fn load_at(kv: &dyn Kv, id: ScheduleId, ts: Timestamp) -> Result<Option<ScheduleRecord>, BackupError> {
    let key = schedule_key(id);
    match kv.get(&key, ts).await? {
        None => Ok(None),
        Some(bytes) => decode(&key, &bytes).map(Some),
    }
}

/// Every schedule as of `ts`, in id order.
pub async fn list_at(kv: &dyn Kv, ts: Timestamp) -> Result<Vec<ScheduleRecord>, BackupError> {
    let rows = kv.scan(&scheduled_jobs_span(), ts).await?;
    rows.iter().map(|(k, v)| decode(k, v)).collect()
}

/// A fresh id for a record of the table `key_of` keys (schedules, protected timestamp records):
/// unique_rowid-like, microseconds of cluster time, bumped past ids taken as of `now` (the
/// commit that writes it refuses an id taken meanwhile).
pub(crate) async fn fresh_id(kv: &dyn Kv, now: Timestamp, taken: &[i64], key_of: fn(i64) -> Key) -> Result<i64, BackupError> {
    for attempt in 0..1_000 {
        let id = (now.wall / 1_000) as i64 + attempt;
        if taken.contains(&id) {
            continue;
        }
        if kv.get(&key_of(id), now).await?.is_none() {
            return Ok(id);
        }
    }
    Err(BackupError::Internal("could not allocate an id".into()))
}
