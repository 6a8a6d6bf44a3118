//! Job records: a BACKUP or RESTORE as a durable, adoptable unit of work stored in the cluster
//! (`system.jobs`), and the statements that watch and steer it (SHOW JOBS, PAUSE / RESUME /
//! CANCEL JOB).
//!
//! A job's record holds its status, progress, error, and a lease naming the node coordinating
//! it. A coordinator extends its lease while it works; when the lease lapses (the coordinator
//! died or was cut off) any node's adoption loop claims the job and resumes it. Every change to
//! a record is a read-modify-write committed with first-committer-wins, so two nodes never both
//! believe they hold a job. The description is redacted: no secret ever reaches it. The payload
//! (destinations with their credentials, needed to resume) is never printed.

use crate::error::BackupError;
use model::catalog::{jobs_span, SYSTEM_JOBS_TABLE_ID};
use model::{encoding, Datum, Key, Kv, KvError, NodeId, Timestamp, WriteOp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A job's id.
pub type JobId = i64;

/// What kind of job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobType {
    /// BACKUP.
    Backup,
    /// RESTORE.
    Restore,
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobType::Backup => "BACKUP",
            JobType::Restore => "RESTORE",
        })
    }
}

/// A job's status, as SHOW JOBS prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Created, not yet started.
    Pending,
    /// A coordinator is (or should be) working on it.
    Running,
    /// PAUSE JOB was issued; the coordinator stops at its next checkpoint.
    PauseRequested,
    /// Stopped; RESUME JOB continues it from its checkpoint.
    Paused,
    /// CANCEL JOB was issued; the coordinator stops at its next checkpoint.
    CancelRequested,
    /// Stopped for good by CANCEL JOB.
    Canceled,
    /// Stopped for good by an error.
    Failed,
    /// Done.
    Succeeded,
}

impl JobStatus {
    /// True once the job will never run again.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Canceled | JobStatus::Failed | JobStatus::Succeeded)
    }

    /// The word SHOW JOBS prints.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::PauseRequested => "pause-requested",
            JobStatus::Paused => "paused",
            JobStatus::CancelRequested => "cancel-requested",
            JobStatus::Canceled => "canceled",
            JobStatus::Failed => "failed",
            JobStatus::Succeeded => "succeeded",
        }
    }
}

/// A coordinator's claim on a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLease {
    /// The coordinating node.
    pub node: NodeId,
    /// Which run on that node (a fencing token): a second run of the same job on the same node
    /// takes the lease over, and the first one sees it has lost it.
    #[serde(default)]
    pub run: u64,
    /// The claim lapses at this cluster time unless renewed.
    pub expires: Timestamp,
}

/// Totals a finished job reports (BACKUP's result row).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTotals {
    /// Primary-index entries.
    pub rows: u64,
    /// Secondary-index entries.
    pub index_entries: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
}

/// A job as stored in `system.jobs`. `P` is the job-type-specific payload. Its `Debug` leaves
/// the payload out: it may hold credentials and an encrypted backup's key, and a record read as
/// [`JobSummary`] (raw JSON) would print them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord<P> {
    /// Id.
    pub id: JobId,
    /// BACKUP or RESTORE.
    pub job_type: JobType,
    /// The statement with every secret redacted.
    pub description: String,
    /// Who ran it.
    pub user_name: String,
    /// Status.
    pub status: JobStatus,
    /// What it is doing now, in words.
    pub running_status: String,
    /// When it was created / started / finished / last changed (cluster time).
    pub created: Timestamp,
    /// Start of its first run.
    pub started: Option<Timestamp>,
    /// When it reached a terminal status.
    pub finished: Option<Timestamp>,
    /// Last change.
    pub modified: Timestamp,
    /// Progress in [0, 1], in thousandths so that it is exact and deterministic.
    pub progress_millis: u32,
    /// Why it failed, redacted.
    pub error: Option<String>,
    /// The node coordinating it, if any.
    pub lease: Option<JobLease>,
    /// Totals once succeeded.
    pub totals: JobTotals,
    /// Type-specific state needed to run or resume it (may contain credentials: never printed).
    pub payload: P,
}

impl<P> fmt::Debug for JobRecord<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRecord")
            .field("id", &self.id)
            .field("job_type", &self.job_type)
            .field("description", &self.description)
            .field("user_name", &self.user_name)
            .field("status", &self.status)
            .field("running_status", &self.running_status)
            .field("created", &self.created)
            .field("started", &self.started)
            .field("finished", &self.finished)
            .field("modified", &self.modified)
            .field("progress_millis", &self.progress_millis)
            .field("error", &self.error)
            .field("lease", &self.lease)
            .field("totals", &self.totals)
            .field("payload", &format_args!("<not printed>"))
            .finish()
    }
}

impl<P> JobRecord<P> {
    /// A pending job with nothing done yet; [`create`] gives it its id and times.
    pub fn new(job_type: JobType, description: String, user: &str, payload: P) -> Self {
        JobRecord {
            id: 0,
            job_type,
            description,
            user_name: user.to_string(),
            status: JobStatus::Pending,
            running_status: String::new(),
            created: Timestamp::ZERO,
            started: None,
            finished: None,
            modified: Timestamp::ZERO,
            progress_millis: 0,
            error: None,
            lease: None,
            totals: JobTotals::default(),
            payload,
        }
    }

    /// Progress as SHOW JOBS prints it.
    pub fn fraction_completed(&self) -> f64 {
        self.progress_millis as f64 / 1000.0
    }
}

/// The key of job `id`.
pub fn job_key(id: JobId) -> Key {
    encoding::encode_index_key(SYSTEM_JOBS_TABLE_ID, 1, &[Datum::Int(id)])
}

fn encode<P: Serialize>(r: &JobRecord<P>) -> Result<Vec<u8>, BackupError> {
    serde_json::to_vec(r).map_err(|e| BackupError::Internal(format!("encoding job {}: {e}", r.id)))
}

fn decode<P: DeserializeOwned>(key: &Key, bytes: &[u8]) -> Result<JobRecord<P>, BackupError> {
    serde_json::from_slice(bytes).map_err(|e| BackupError::Internal(format!("job record at {key} is corrupt: {e}")))
}

/// Job `id`'s record from its stored bytes.
pub(crate) fn decode_record<P: DeserializeOwned>(id: JobId, bytes: &[u8]) -> Result<JobRecord<P>, BackupError> {
    decode(&job_key(id), bytes)
}

/// The write that stores `r`: for a job step that commits its record with other writes.
pub(crate) fn record_write<P: Serialize>(r: &JobRecord<P>) -> Result<WriteOp, BackupError> {
    Ok(WriteOp::Put(job_key(r.id), encode(r)?))
}

/// The common part of every job record, whatever its payload: what SHOW JOBS lists.
pub type JobSummary = JobRecord<serde_json::Value>;

/// Creates a job record under a fresh id derived from the cluster clock; returns the id.
pub async fn create<P: Serialize + Clone>(kv: &dyn Kv, mut record: JobRecord<P>) -> Result<JobId, BackupError> {
    for attempt in 0..50 {
        let now = kv.now();
        // Ids are unique_rowid-like: microseconds of cluster time, bumped on collision.
        let id = (now.wall / 1_000) as JobId + attempt;
        let key = job_key(id);
        if kv.get(&key, now).await?.is_some() {
            continue;
        }
        record.id = id;
        record.created = now;
        record.modified = now;
        match kv.commit(vec![WriteOp::Put(key, encode(&record)?)], Some(now)).await {
            Ok(_) => return Ok(id),
            Err(KvError::TxnAborted(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BackupError::Internal("could not allocate a job id".into()))
}

/// Reads job `id` as of now.
pub async fn load<P: DeserializeOwned>(kv: &dyn Kv, id: JobId) -> Result<Option<JobRecord<P>>, BackupError> {
    let key = job_key(id);
    match kv.get(&key, kv.now()).await? {
        None => Ok(None),
        Some(bytes) => decode(&key, &bytes).map(Some),
    }
}

/// Every job, oldest first.
pub async fn list(kv: &dyn Kv) -> Result<Vec<JobSummary>, BackupError> {
    let rows = kv.scan(&jobs_span(), kv.now()).await?;
    rows.iter().map(|(k, v)| decode(k, v)).collect()
}

/// Why an update was not applied.
#[derive(Debug)]
pub enum UpdateRefused {
    /// The closure refused (returns its reason).
    Refused(String),
    /// No such job.
    NotFound,
}

/// Reads job `id`, lets `f` change it (or refuse), and commits the change only if nobody else
/// changed the record meanwhile; retries conflicts. Returns the record as committed.
pub async fn update<P, F>(kv: &dyn Kv, id: JobId, mut f: F) -> Result<Result<JobRecord<P>, UpdateRefused>, BackupError>
where
    P: Serialize + DeserializeOwned + Clone,
    F: FnMut(&mut JobRecord<P>, Timestamp) -> Result<(), String>,
{
    let key = job_key(id);
    for _ in 0..100 {
        let now = kv.now();
        let Some(bytes) = kv.get(&key, now).await? else { return Ok(Err(UpdateRefused::NotFound)) };
        let mut record: JobRecord<P> = decode(&key, &bytes)?;
        if let Err(reason) = f(&mut record, now) {
            return Ok(Err(UpdateRefused::Refused(reason)));
        }
        record.modified = now;
        match kv.commit(vec![WriteOp::Put(key.clone(), encode(&record)?)], Some(now)).await {
            Ok(_) => return Ok(Ok(record)),
            Err(KvError::TxnAborted(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BackupError::Internal(format!("job {id}: too many conflicting updates")))
}

/// Renews or takes `node`'s lease on a job for `lease` from now. Refused when another node holds
/// an unexpired lease, or when the job no longer wants a coordinator.
pub fn claim<P>(r: &mut JobRecord<P>, now: Timestamp, node: NodeId, run: u64, lease: Duration) -> Result<(), String> {
    if let Some(l) = r.lease {
        // Another run — on another node, or an earlier or later run on this one — keeps the job
        // until its lease lapses: at most one coordinator at a time.
        if (l.node, l.run) != (node, run) && l.expires > now {
            return Err(format!("job {} is coordinated by n{} until {}", r.id, l.node, l.expires));
        }
    }
    if r.status.is_terminal() || r.status == JobStatus::Paused {
        return Err(format!("job {} is {}", r.id, r.status.as_str()));
    }
    if r.status == JobStatus::Pending {
        r.status = JobStatus::Running;
    }
    r.started.get_or_insert(now);
    r.lease = Some(JobLease { node, run, expires: now.add(lease) });
    Ok(())
}

/// True when run `run` on `node` holds an unexpired lease on the job.
pub fn holds<P>(r: &JobRecord<P>, now: Timestamp, node: NodeId, run: u64) -> bool {
    r.lease.is_some_and(|l| l.node == node && l.run == run && l.expires > now)
}

/// PAUSE / RESUME / CANCEL JOB applied to a record: the state machine of job control.
pub fn control<P>(r: &mut JobRecord<P>, op: ControlOp) -> Result<(), String> {
    use JobStatus::*;
    let id = r.id;
    let next = match (op, r.status) {
        (ControlOp::Pause, Running | Pending) => PauseRequested,
        (ControlOp::Pause, PauseRequested | Paused) => r.status,
        (ControlOp::Resume, Paused) => Running,
        (ControlOp::Resume, PauseRequested) => Running,
        (ControlOp::Resume, Running | Pending) => r.status,
        (ControlOp::Cancel, Running | Pending | PauseRequested) => CancelRequested,
        (ControlOp::Cancel, Paused) => Canceled,
        (ControlOp::Cancel, CancelRequested) => r.status,
        (op, status) => return Err(format!("job {id}: cannot {} a job whose status is {}", op.verb(), status.as_str())),
    };
    if op == ControlOp::Resume && r.status == Paused {
        r.lease = None;
    }
    r.status = next;
    Ok(())
}

/// PAUSE, RESUME or CANCEL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlOp {
    /// PAUSE JOB.
    Pause,
    /// RESUME JOB.
    Resume,
    /// CANCEL JOB.
    Cancel,
}

impl ControlOp {
    fn verb(self) -> &'static str {
        match self {
            ControlOp::Pause => "pause",
            ControlOp::Resume => "resume",
            ControlOp::Cancel => "cancel",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: JobStatus) -> JobRecord<()> {
        JobRecord { id: 1, status, ..JobRecord::new(JobType::Backup, String::new(), "root", ()) }
    }

    #[test]
    fn control_state_machine() {
        let mut r = rec(JobStatus::Running);
        control(&mut r, ControlOp::Pause).unwrap();
        assert_eq!(r.status, JobStatus::PauseRequested);
        r.status = JobStatus::Paused;
        r.lease = Some(JobLease { node: 2, run: 1, expires: Timestamp::from_nanos(5) });
        control(&mut r, ControlOp::Resume).unwrap();
        assert_eq!((r.status, r.lease), (JobStatus::Running, None));
        control(&mut r, ControlOp::Cancel).unwrap();
        assert_eq!(r.status, JobStatus::CancelRequested);
        let mut done = rec(JobStatus::Succeeded);
        assert!(control(&mut done, ControlOp::Pause).unwrap_err().contains("cannot pause a job whose status is succeeded"));
    }

    #[test]
    fn leases_exclude_other_nodes_until_they_lapse() {
        let mut r = rec(JobStatus::Running);
        let t = |n: u64| Timestamp::from_nanos(n * 1_000_000_000);
        claim(&mut r, t(1), 1, 7, Duration::from_secs(10)).unwrap();
        assert!(holds(&r, t(5), 1, 7));
        assert!(claim(&mut r, t(5), 2, 8, Duration::from_secs(10)).is_err());
        claim(&mut r, t(12), 2, 8, Duration::from_secs(10)).unwrap();
        assert!(!holds(&r, t(12), 1, 7) && holds(&r, t(12), 2, 8));
        // A second run on the same node waits for the first one's lease to lapse, then fences it.
        assert!(claim(&mut r, t(13), 2, 9, Duration::from_secs(10)).is_err());
        claim(&mut r, t(23), 2, 9, Duration::from_secs(10)).unwrap();
        assert!(!holds(&r, t(23), 2, 8) && holds(&r, t(23), 2, 9));
        let mut paused = rec(JobStatus::Paused);
        assert!(claim(&mut paused, t(1), 1, 1, Duration::from_secs(1)).is_err());
    }
}
