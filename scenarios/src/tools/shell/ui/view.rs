//! What the Jobs page shows, read from the shell's cluster and the jobs' storage: one
//! [`JobRow`] per job and, for one job, a [`JobDetail`].
//!
//! The rows are SHOW JOBS's own ([`backup::show::show_jobs`], mapped by column name), so the page
//! prints exactly what SHOW JOBS prints, redacted exactly as SHOW JOBS redacts it: the
//! description and error are the job record's, which never held a secret. A job's details come
//! from its record's payload, which does hold secrets (destinations with credentials, an
//! encrypted backup's key): they are used to open and decrypt the job's storage and never
//! shown; every location shown is the library's redacted form ([`redact_location`],
//! `destination_redacted`). Spans done and to do and files written come from the backup's
//! `BACKUP-CHECKPOINT` while it runs, from its manifest once it succeeded (with what SHOW BACKUP
//! prints for it, rendered by [`backup::show::backup_rows`]), and from the restore's job record.
//!
//! What it must never do: write anything (cluster or storage), wait long on storage (one read,
//! bounded by [`STORAGE_PATIENCE`]), or put a payload field other than a redacted location into a
//! view.

use backup::env::Env;
use backup::error::BackupError;
use backup::format::checkpoint::Checkpoint;
use backup::format::manifest::{FileInfo, Manifest, CHECKPOINT_NAME};
use backup::jobs::{self, JobId, JobStatus, JobSummary, JobType};
use backup::plan::BackupDetails;
use backup::restore::RestoreDetails;
use backup::show::{self, render_datum, QueryResult};
use backup::storage::url::redact_location;
use backup::targets::SessionContext;
use model::key::merge_spans;
use model::Span;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a page waits for one storage read (a checkpoint or a manifest) before it says the
/// location did not answer: the page must come back even when a destination is unreachable.
pub const STORAGE_PATIENCE: Duration = Duration::from_secs(3);

/// Most spans listed per list, and most files listed: a cluster backup has hundreds of spans,
/// and a page that lists them all is unreadable; the counts are always given.
pub const MOST_LISTED: usize = 100;

/// One job as the Jobs page lists it: SHOW JOBS's columns, as text.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct JobRow {
    /// `job_id`.
    pub id: i64,
    /// `job_type` (BACKUP, RESTORE).
    pub job_type: String,
    /// `description`: the statement, redacted.
    pub description: String,
    /// `user_name`.
    pub user: String,
    /// `status` (running, succeeded, …).
    pub status: String,
    /// `running_status`: what it is doing now, in words (empty when NULL).
    pub running_status: String,
    /// `fraction_completed`, in [0, 1].
    pub fraction: f64,
    /// The fraction in thousandths, the `<progress>` element's value (max 1000): computed here
    /// once, so the page as served and the script that updates it from `/api/jobs` agree.
    pub permille: u32,
    /// The fraction as the bar's label (`42.1%`), for the same reason.
    pub percent: String,
    /// `created` (UTC).
    pub created: String,
    /// `started` (empty when NULL).
    pub started: String,
    /// `finished` (empty when NULL).
    pub finished: String,
    /// `modified`: changes whenever the record does, including every lease heartbeat of its
    /// coordinator, so the pages show it but do not reload on it.
    pub modified: String,
    /// `error` (empty when none).
    pub error: String,
    /// `coordinator_id` (empty when none).
    pub coordinator: String,
    /// True once the job will never run again (the page stops expecting changes).
    pub terminal: bool,
    /// True while the job can change by itself (not finished, not paused): the list polls every
    /// second while one is, and every 10 s otherwise.
    pub active: bool,
}

fn permille(fraction: f64) -> u32 {
    (fraction.clamp(0.0, 1.0) * 1000.0).round() as u32
}

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction.clamp(0.0, 1.0) * 100.0)
}

/// The statuses after which a job never runs again, as SHOW JOBS words them.
fn terminal_words() -> [&'static str; 3] {
    [JobStatus::Succeeded.as_str(), JobStatus::Failed.as_str(), JobStatus::Canceled.as_str()]
}

/// SHOW JOBS's result as rows, oldest first, each column found by its name (a column SHOW JOBS
/// no longer has reads as empty).
pub fn rows_of(result: &QueryResult) -> Vec<JobRow> {
    let col = |name: &str| result.columns.iter().position(|c| c == name);
    let (id, ty, desc, user, status, running, created, started, finished, modified, fraction, error, coordinator) = (
        col("job_id"),
        col("job_type"),
        col("description"),
        col("user_name"),
        col("status"),
        col("running_status"),
        col("created"),
        col("started"),
        col("finished"),
        col("modified"),
        col("fraction_completed"),
        col("error"),
        col("coordinator_id"),
    );
    result
        .rows
        .iter()
        .map(|row| {
            let text = |c: Option<usize>| match c.and_then(|i| row.get(i)) {
                None | Some(model::Datum::Null) => String::new(),
                Some(d) => render_datum(d),
            };
            let status = text(status);
            let fraction = match fraction.and_then(|i| row.get(i)) {
                Some(model::Datum::Float(f)) if f.is_finite() => *f,
                _ => 0.0,
            };
            let terminal = terminal_words().contains(&status.as_str());
            JobRow {
                id: match id.and_then(|i| row.get(i)) {
                    Some(model::Datum::Int(v)) => *v,
                    _ => 0,
                },
                job_type: text(ty),
                description: text(desc),
                user: text(user),
                terminal,
                active: !terminal && status != JobStatus::Paused.as_str(),
                status,
                running_status: text(running),
                fraction,
                permille: permille(fraction),
                percent: percent(fraction),
                created: text(created),
                started: text(started),
                finished: text(finished),
                modified: text(modified),
                error: text(error),
                coordinator: text(coordinator),
            }
        })
        .collect()
}

/// Every job, newest first, as SHOW JOBS (run as root) lists it.
pub async fn list(env: &Env) -> Result<Vec<JobRow>, BackupError> {
    let mut rows = rows_of(&show::show_jobs(env, &SessionContext::root()).await?);
    rows.reverse();
    Ok(rows)
}

/// A result table as text cells (what the shell prints, cell by cell).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TableView {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of rendered cells.
    pub rows: Vec<Vec<String>>,
}

impl From<&QueryResult> for TableView {
    fn from(r: &QueryResult) -> Self {
        TableView { columns: r.columns.clone(), rows: r.rows.iter().map(|row| row.iter().map(render_datum).collect()).collect() }
    }
}

/// A list shown at most [`MOST_LISTED`] long, with its full length.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Listing<T> {
    /// The first items.
    pub items: Vec<T>,
    /// How many there are in all.
    pub total: usize,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Listing { items: Vec::new(), total: 0 }
    }
}

impl<T> Listing<T> {
    fn of(all: impl IntoIterator<Item = T>) -> Self {
        let mut items = Vec::new();
        let mut total = 0;
        for x in all {
            if items.len() < MOST_LISTED {
                items.push(x);
            }
            total += 1;
        }
        Listing { items, total }
    }

    /// How many were left out.
    pub fn more(&self) -> usize {
        self.total.saturating_sub(self.items.len())
    }
}

/// A data file a backup wrote.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FileRow {
    /// Its path under the backup's directory.
    pub path: String,
    /// The keys it covers.
    pub span: String,
    /// Primary-index entries.
    pub rows: u64,
    /// Secondary-index entries.
    pub index_entries: u64,
    /// Key and value bytes.
    pub bytes: u64,
}

impl From<&FileInfo> for FileRow {
    fn from(f: &FileInfo) -> Self {
        FileRow { path: f.path.clone(), span: f.span.to_string(), rows: f.rows, index_entries: f.index_entries, bytes: f.data_size }
    }
}

/// One job's page: its row, where it reads and writes, its spans, files and checkpoint, and for
/// a finished backup what SHOW BACKUP prints for it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct JobDetail {
    /// SHOW JOBS's row.
    pub job: JobRow,
    /// Where the job writes or reads, labeled (`Destination`, `Backup 1 of 2 (full)`), redacted.
    pub locations: Vec<(String, String)>,
    /// True when the backup is encrypted (its key is in the payload, never shown).
    pub encrypted: bool,
    /// What the spans and files below were read from, in words.
    pub progress_source: String,
    /// Spans whose work is done.
    pub spans_done: Listing<String>,
    /// Spans still to do.
    pub spans_todo: Listing<String>,
    /// Data files written (a backup's).
    pub files: Listing<FileRow>,
    /// The checkpoint's state, in lines.
    pub checkpoint: Vec<String>,
    /// Rows, index entries and bytes done, in words (empty if unknown).
    pub totals: String,
    /// What SHOW BACKUP prints for a succeeded backup.
    pub show_backup: Option<TableView>,
    /// What could not be read, and why (a location that did not answer, a payload that does not
    /// decode).
    pub problems: Vec<String>,
}

/// Manifests of succeeded backups already read: a finished backup does not change, and a page
/// open on it would otherwise read it again at every reload.
#[derive(Default)]
pub struct ManifestCache {
    read: Mutex<BTreeMap<JobId, Arc<Manifest>>>,
}

impl ManifestCache {
    fn get(&self, id: JobId) -> Option<Arc<Manifest>> {
        self.read.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned()
    }

    fn put(&self, id: JobId, m: Arc<Manifest>) {
        self.read.lock().unwrap_or_else(|e| e.into_inner()).insert(id, m);
    }
}

/// Job `id`'s page, or `None` when there is no such job.
pub async fn detail(env: &Env, cache: &ManifestCache, id: JobId) -> Result<Option<JobDetail>, BackupError> {
    let Some(record) = jobs::load::<serde_json::Value>(&*env.kv, id).await? else { return Ok(None) };
    // The row as SHOW JOBS prints it (read after the record: a job listed is never missing).
    let Some(job) = list(env).await?.into_iter().find(|r| r.id == id) else { return Ok(None) };
    let mut d = JobDetail {
        job,
        locations: Vec::new(),
        encrypted: false,
        progress_source: String::new(),
        spans_done: Listing::default(),
        spans_todo: Listing::default(),
        files: Listing::default(),
        checkpoint: Vec::new(),
        totals: String::new(),
        show_backup: None,
        problems: Vec::new(),
    };
    match record.job_type {
        JobType::Backup => match serde_json::from_value::<BackupDetails>(record.payload.clone()) {
            Ok(details) => backup_detail(env, cache, &record, &details, &mut d).await,
            Err(e) => d.problems.push(format!("the job's payload does not read as a backup's: {e}")),
        },
        JobType::Restore => match serde_json::from_value::<RestoreDetails>(record.payload.clone()) {
            Ok(details) => restore_detail(&record, &details, &mut d),
            Err(e) => d.problems.push(format!("the job's payload does not read as a restore's: {e}")),
        },
    }
    Ok(Some(d))
}

fn span_texts(spans: &[Span]) -> Listing<String> {
    Listing::of(spans.iter().map(|s| s.to_string()))
}

fn totals_text(rows: u64, index_entries: u64, bytes: u64) -> String {
    format!("{rows} rows, {index_entries} index entries, {bytes} bytes")
}

async fn backup_detail(env: &Env, cache: &ManifestCache, record: &JobSummary, details: &BackupDetails, d: &mut JobDetail) {
    d.locations.push(("Destination".into(), details.destination_redacted.clone()));
    if let Some(root) = &details.chain_root {
        d.locations.push(("Chain (its full backup)".into(), redact_location(root)));
    }
    d.encrypted = details.encryption.is_some();
    let planned = &details.spans;
    if record.status == JobStatus::Succeeded {
        match finished_manifest(env, cache, record.id, details).await {
            Ok(m) => {
                d.progress_source = "the backup's manifest (BACKUP)".into();
                d.spans_done = span_texts(&m.spans);
                d.files = Listing::of(m.files.iter().map(FileRow::from));
                d.totals = totals_text(m.entry_counts.rows, m.entry_counts.index_entries, m.entry_counts.data_size);
                d.checkpoint.push(format!("none: the manifest replaced {CHECKPOINT_NAME} when the backup finished"));
                d.show_backup = Some(TableView::from(&show::backup_rows(&m, false)));
            }
            Err(why) => {
                d.progress_source = "the job record (the manifest could not be read)".into();
                d.spans_done = span_texts(planned);
                d.totals = totals_text(record.totals.rows, record.totals.index_entries, record.totals.bytes);
                d.problems.push(why);
            }
        }
        return;
    }
    match read_checkpoint(env, details).await {
        Ok(Some(cp)) => {
            d.progress_source = format!("the checkpoint ({CHECKPOINT_NAME}) at the destination");
            d.spans_done = span_texts(&cp.completed_spans);
            d.spans_todo = span_texts(&cp.remaining_spans());
            d.files = Listing::of(cp.completed.iter().map(FileRow::from));
            let c = cp.counts();
            d.totals = totals_text(c.rows, c.index_entries, c.data_size);
            d.checkpoint.push(format!(
                "{CHECKPOINT_NAME} lists {} file{} and {} of {} planned span{} done (merged: {} done, {} to do)",
                cp.completed.len(),
                if cp.completed.len() == 1 { "" } else { "s" },
                planned.iter().filter(|s| s.subtract(&cp.completed_spans).is_empty()).count(),
                planned.len(),
                if planned.len() == 1 { "" } else { "s" },
                cp.completed_spans.len(),
                cp.remaining_spans().len(),
            ));
            if record.status.is_terminal() {
                d.checkpoint.push(format!("the job ended {}: its checkpoint is removed with what it wrote", record.status.as_str()));
            }
        }
        Ok(None) => {
            d.progress_source = "the job's plan (no checkpoint at the destination)".into();
            d.spans_todo = span_texts(planned);
            d.checkpoint.push(match record.status {
                s if s.is_terminal() => format!("none: the job ended {} and removed what it wrote", s.as_str()),
                _ => format!("none yet: {CHECKPOINT_NAME} is written as each span's export lands"),
            });
        }
        Err(why) => {
            d.progress_source = "the job's plan (the checkpoint could not be read)".into();
            d.spans_todo = span_texts(planned);
            d.problems.push(why);
        }
    }
}

fn restore_detail(record: &JobSummary, details: &RestoreDetails, d: &mut JobDetail) {
    let n = details.layers.len();
    for (i, layer) in details.layers.iter().enumerate() {
        let kind = if i == 0 { "full" } else { "incremental" };
        d.locations.push((format!("Backup {} of {n} ({kind})", i + 1), redact_location(&layer.location)));
    }
    d.encrypted = details.key.is_some();
    d.progress_source = "the job record (a restore records each span as it lands)".into();
    let todo: Vec<Span> = details.wanted.iter().flat_map(|w| w.subtract(&details.done)).collect();
    d.spans_done = span_texts(&merge_spans(&details.done));
    d.spans_todo = span_texts(&merge_spans(&todo));
    let t = &details.totals;
    d.totals = totals_text(t.rows, t.index_entries, t.bytes);
    d.checkpoint.push(format!("{} of {} spans recorded done in the job record", details.done_count, details.span_count));
    d.checkpoint.push(if details.offline {
        "the restored descriptors are written, offline until the restore publishes them".into()
    } else if record.status == JobStatus::Succeeded {
        "the restored descriptors are published".into()
    } else {
        "no descriptors written (yet, or any more)".into()
    });
}

/// `read` of storage at `shown` (a redacted location), given at most [`STORAGE_PATIENCE`]: a
/// page waits for a destination that does not answer only that long, then names it.
async fn patiently<T>(shown: &str, read: impl std::future::Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(STORAGE_PATIENCE, read).await.map_err(|_| format!("{shown} did not answer within {} s", STORAGE_PATIENCE.as_secs()))
}

/// The succeeded backup's manifest, read once (with the job's key) and cached.
async fn finished_manifest(env: &Env, cache: &ManifestCache, id: JobId, details: &BackupDetails) -> Result<Arc<Manifest>, String> {
    if let Some(m) = cache.get(id) {
        return Ok(m);
    }
    let (_, storage) = backup::location::open(env, &details.destination).map_err(|e| e.to_string())?;
    let cipher = details.cipher();
    let read = backup::location::read_manifest(env, &details.destination_redacted, &*storage, &cipher);
    let m = patiently(&details.destination_redacted, read).await?.map_err(|e| format!("cannot read the backup's manifest: {e}"))?;
    if m.backup_id != details.backup_id {
        return Err(format!("the manifest at {} is another backup's now", details.destination_redacted));
    }
    let m = Arc::new(m);
    cache.put(id, m.clone());
    Ok(m)
}

/// The job's checkpoint at its destination, if there is one of this backup's: one read, no
/// retries, at most [`STORAGE_PATIENCE`].
async fn read_checkpoint(env: &Env, details: &BackupDetails) -> Result<Option<Checkpoint>, String> {
    let (_, storage) = backup::location::open(env, &details.destination).map_err(|e| e.to_string())?;
    let bytes = match patiently(&details.destination_redacted, storage.read(CHECKPOINT_NAME)).await? {
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(format!("cannot read the checkpoint: {e}")),
        Ok(b) => b,
    };
    let plain = details.cipher().open(CHECKPOINT_NAME, bytes).map_err(|e| format!("cannot decrypt the checkpoint: {e}"))?;
    let cp = Checkpoint::decode(CHECKPOINT_NAME, &plain).map_err(|e| format!("the checkpoint does not decode: {e}"))?;
    // Another backup's checkpoint (a rival job at the same destination) is not this job's.
    Ok(Some(cp).filter(|c| c.plan.backup_id == details.backup_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use backup::jobs::{JobRecord, JobType};
    use model::Timestamp;

    #[test]
    fn rows_are_show_jobs_columns_by_name() {
        let mut r: JobRecord<serde_json::Value> = JobRecord::new(JobType::Backup, "BACKUP INTO 'x'".into(), "root", serde_json::Value::Null);
        r.id = 7;
        r.status = JobStatus::Succeeded;
        r.progress_millis = 1000;
        r.created = Timestamp::from_nanos(1_700_000_000_000_000_000);
        r.finished = Some(Timestamp::from_nanos(1_700_000_001_000_000_000));
        let mut running = r.clone();
        running.id = 8;
        running.status = JobStatus::Running;
        running.progress_millis = 421;
        running.finished = None;
        running.error = Some("boom".into());
        let rows = rows_of(&show::job_rows(&[r, running]));
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].id, rows[0].job_type.as_str(), rows[0].status.as_str(), rows[0].terminal), (7, "BACKUP", "succeeded", true));
        assert_eq!((rows[0].permille, rows[0].percent.as_str(), rows[0].active), (1000, "100.0%", false));
        assert_eq!(rows[0].created, "2023-11-14 22:13:20.000000");
        assert_eq!(rows[0].finished, "2023-11-14 22:13:21.000000");
        assert_eq!((rows[1].terminal, rows[1].active, rows[1].permille, rows[1].percent.as_str()), (false, true, 421, "42.1%"));
        assert_eq!((rows[1].finished.as_str(), rows[1].error.as_str(), rows[1].running_status.as_str()), ("", "boom", ""));
    }

    #[test]
    fn listings_keep_their_count() {
        let l = Listing::of(0..250);
        assert_eq!((l.items.len(), l.total, l.more()), (MOST_LISTED, 250, 150));
        let l = Listing::of(0..3);
        assert_eq!((l.items.clone(), l.total, l.more()), (vec![0, 1, 2], 3, 0));
    }
}
