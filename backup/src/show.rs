//! SHOW BACKUP and SHOW JOBS: what a backup holds and what jobs are doing, as rows.
//!
//! SHOW BACKUP uses CockroachDB v20.2's columns (database_name, parent_schema_name,
//! object_name, object_type, start_time, end_time, size_bytes, rows, is_full_cluster, then this
//! project's backup_type and revision_history): one row per database (size and rows NULL) and
//! one per relation. start_time is NULL for a full backup. `SCHEMAS` adds `create_statement`;
//! `FILES` lists the data files (`path, backup_type, start_pretty, end_pretty, start_key,
//! end_key, size_bytes, rows`) and `RANGES` the spans (`start_pretty, end_pretty, start_key,
//! end_key`), as CockroachDB's `backupShowerFiles` / `backupShowerRanges` do. Reading a
//! location without a complete manifest is the same error RESTORE gives. `WITH check_files`
//! (CockroachDB v22.2) first reads every listed data file and refuses, naming them, files that
//! are missing or do not match their recorded checksum; the objects listing then ends with
//! `file_bytes`.
//!
//! Nothing here may panic on what a backup holds: names and values of any length print.

use crate::chain::Layer;
use crate::crypto::FileCipher;
use crate::env::Env;
use crate::error::{BackupError, CHECK_FILES_MAX_NAMED};
use crate::format::manifest::Manifest;
use crate::jobs::{self, JobSummary};
use crate::retry::read_retrying;
use crate::statement::{ShowBackupKind, ShowBackupStmt};
use crate::storage::StorageUrl;
use crate::targets::{check_session, SessionContext};
use model::catalog::Descriptor;
use model::{Datum, Timestamp};
use unicode_width::UnicodeWidthStr;

/// Column names and rows of a statement's result.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Datum>>,
}

impl QueryResult {
    fn new(columns: &[&str]) -> Self {
        QueryResult { columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new() }
    }

    /// A plain-text table, for the shell and for snapshots. Columns are padded by hand to their
    /// widest cell (counted in displayed columns), so no cell or column name is too wide:
    /// `format!`'s `{:<w$}` panics for a width above 65,535. A cell of several lines (a CREATE
    /// statement) takes as many lines, the other columns left blank; tabs print as four spaces.
    pub fn render(&self) -> String {
        // Tabs (in CREATE statements) become spaces: a terminal's tab stops would break the
        // alignment.
        let cells: Vec<Vec<String>> = self.rows.iter().map(|r| r.iter().map(|d| render_datum(d).replace('\t', "    ")).collect()).collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.width()).collect();
        for row in &cells {
            for (i, c) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(c.lines().map(|l| l.width()).max().unwrap_or(0));
                }
            }
        }
        let line = |vals: &[&str]| {
            let mut out = String::new();
            for (i, v) in vals.iter().enumerate() {
                if i > 0 {
                    out.push_str(" | ");
                }
                out.push_str(v);
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(v.width());
                out.extend(std::iter::repeat_n(' ', pad));
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
            out
        };
        let mut out = line(&self.columns.iter().map(String::as_str).collect::<Vec<_>>());
        out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"));
        out.push('\n');
        for row in &cells {
            let lines: Vec<Vec<&str>> = row.iter().map(|c| c.lines().collect()).collect();
            let height = lines.iter().map(Vec::len).max().unwrap_or(0).max(1);
            for k in 0..height {
                out.push_str(&line(&lines.iter().map(|l| l.get(k).copied().unwrap_or("")).collect::<Vec<_>>()));
            }
        }
        out.push_str(&format!("({} row{})\n", cells.len(), if cells.len() == 1 { "" } else { "s" }));
        out
    }
}

/// A value as a result table prints it (`NULL`, a string as it is, anything else by `Display`):
/// what a scenario file's output rules see.
pub fn render_datum(d: &Datum) -> String {
    match d {
        Datum::Null => "NULL".into(),
        Datum::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn ts_datum(t: Timestamp) -> Datum {
    Datum::String(t.to_datetime_string())
}

/// The columns SHOW BACKUP (and SHOW BACKUP SCHEMAS) print before the optional ones.
const OBJECT_COLUMNS: [&str; 11] = [
    "database_name",
    "parent_schema_name",
    "object_name",
    "object_type",
    "start_time",
    "end_time",
    "size_bytes",
    "rows",
    "is_full_cluster",
    "backup_type",
    "revision_history",
];

/// SHOW BACKUP FILES' columns (CockroachDB v20.2's).
pub const FILE_COLUMNS: [&str; 8] = ["path", "backup_type", "start_pretty", "end_pretty", "start_key", "end_key", "size_bytes", "rows"];

/// SHOW BACKUP RANGES' columns (CockroachDB v20.2's).
pub const RANGE_COLUMNS: [&str; 4] = ["start_pretty", "end_pretty", "start_key", "end_key"];

/// The rows SHOW BACKUP prints for a manifest.
pub fn backup_rows(m: &Manifest, with_privileges: bool) -> QueryResult {
    object_rows(m, false, with_privileges, None)
}

/// The rows SHOW BACKUP SCHEMAS prints for a manifest: SHOW BACKUP's, plus each relation's
/// CREATE statement (`create_statement`, NULL for a database), as CockroachDB adds it.
pub fn schema_rows(m: &Manifest, with_privileges: bool) -> QueryResult {
    object_rows(m, true, with_privileges, None)
}

fn backup_type(m: &Manifest) -> Datum {
    Datum::String(if m.is_full() { "full" } else { "incremental" }.into())
}

/// The objects listing. `file_bytes` (from `WITH check_files`: the stored size of each file of
/// `m.files`, in order) adds CockroachDB's `file_bytes` column: each table's files' bytes as
/// stored (encrypted, framed), beside `size_bytes`, the keys and values they hold.
fn object_rows(m: &Manifest, schemas: bool, with_privileges: bool, file_bytes: Option<&[u64]>) -> QueryResult {
    let mut cols = OBJECT_COLUMNS.to_vec();
    if schemas {
        cols.push("create_statement");
    }
    if with_privileges {
        cols.push("privileges");
    }
    if file_bytes.is_some() {
        cols.push("file_bytes");
    }
    let mut out = QueryResult::new(&cols);
    let catalog = m.catalog();
    let start = if m.is_full() { Datum::Null } else { ts_datum(m.start_time) };
    let kind = backup_type(m);
    let history = Datum::Bool(m.mvcc_filter == model::MvccFilter::AllRevisions);
    for d in &m.descriptors {
        let mut row = match d {
            Descriptor::Database(db) => vec![
                Datum::Null,
                Datum::Null,
                Datum::String(db.name.clone()),
                Datum::String("database".into()),
                start.clone(),
                ts_datum(m.end_time),
                Datum::Null,
                Datum::Null,
                Datum::Bool(m.is_full_cluster),
                kind.clone(),
                history.clone(),
            ],
            Descriptor::Table(t) => {
                let span = t.span();
                let (mut size, mut rows) = (0u64, 0u64);
                for f in m.files.iter().filter(|f| span.contains(&f.span)) {
                    size += f.data_size;
                    rows += f.rows;
                }
                let db = catalog.database(t.parent_id).map(|d| d.name.clone()).unwrap_or_default();
                vec![
                    Datum::String(db),
                    Datum::String("public".into()),
                    Datum::String(t.name.clone()),
                    Datum::String(t.kind_name().into()),
                    start.clone(),
                    ts_datum(m.end_time),
                    Datum::Int(size as i64),
                    Datum::Int(rows as i64),
                    Datum::Bool(m.is_full_cluster),
                    kind.clone(),
                    history.clone(),
                ]
            }
        };
        if schemas {
            row.push(match d {
                Descriptor::Database(_) => Datum::Null,
                Descriptor::Table(t) => Datum::String(model::sql::create_statement(&catalog, t)),
            });
        }
        if with_privileges {
            let privs = match d {
                Descriptor::Database(db) => &db.privileges,
                Descriptor::Table(t) => &t.privileges,
            };
            let text = privs
                .users
                .iter()
                .map(|u| {
                    format!(
                        "GRANT {} ON {} TO {}",
                        u.privileges.iter().map(|p| format!("{p:?}").to_uppercase()).collect::<Vec<_>>().join(", "),
                        d.name(),
                        u.user
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            row.push(Datum::String(text));
        }
        if let Some(sizes) = file_bytes {
            row.push(match d {
                Descriptor::Database(_) => Datum::Null,
                Descriptor::Table(t) => {
                    let span = t.span();
                    let stored: u64 = m.files.iter().zip(sizes).filter(|(f, _)| span.contains(&f.span)).map(|(_, n)| *n).sum();
                    Datum::Int(stored as i64)
                }
            });
        }
        out.rows.push(row);
    }
    out
}

/// The rows SHOW BACKUP FILES prints for a manifest: each data file with its span (readable
/// and raw), its size in key and value bytes and its row count. `dir` is the backup's
/// directory relative to the location SHOW BACKUP was given (empty for the full backup, the
/// subdirectory for an automatic incremental), so that each path names the file from there.
pub fn file_rows(m: &Manifest, dir: &str) -> QueryResult {
    let mut out = QueryResult::new(&FILE_COLUMNS);
    let kind = backup_type(m);
    for f in &m.files {
        let path = if dir.is_empty() { f.path.clone() } else { format!("{dir}/{}", f.path) };
        out.rows.push(vec![
            Datum::String(path),
            kind.clone(),
            Datum::String(f.span.start.to_string()),
            Datum::String(f.span.end.to_string()),
            Datum::Bytes(f.span.start.0.clone()),
            Datum::Bytes(f.span.end.0.clone()),
            Datum::Int(f.data_size as i64),
            Datum::Int(f.rows as i64),
        ]);
    }
    out
}

/// [`file_rows`] of a locality-aware backup's chain, with a last column `locality`: the locality
/// whose destination holds the file (`default`: the URL SHOW BACKUP was given), as CockroachDB's
/// later versions show it. Other backups' listings keep their columns.
pub fn locality_file_rows(m: &Manifest, dir: &str) -> QueryResult {
    let mut out = file_rows(m, dir);
    out.columns.push("locality".into());
    for (row, f) in out.rows.iter_mut().zip(&m.files) {
        row.push(Datum::String(f.locality.clone().unwrap_or_else(|| crate::locality::DEFAULT_LOCALITY.to_string())));
    }
    out
}

/// The rows SHOW BACKUP RANGES prints for a manifest: each span it backed up, readable and raw.
pub fn range_rows(m: &Manifest) -> QueryResult {
    let mut out = QueryResult::new(&RANGE_COLUMNS);
    for span in &m.spans {
        out.rows.push(vec![
            Datum::String(span.start.to_string()),
            Datum::String(span.end.to_string()),
            Datum::Bytes(span.start.0.clone()),
            Datum::Bytes(span.end.0.clone()),
        ]);
    }
    out
}

/// SHOW BACKUP [SCHEMAS | FILES | RANGES] 'location': the backup there, followed by its
/// automatic incrementals, each layer's rows in turn (CockroachDB's shape: the objects, the
/// objects with their CREATE statements, the data files, or the spans). A chain with a missing
/// or misplaced member is refused.
pub async fn show_backup(env: &Env, ctx: &SessionContext, stmt: &ShowBackupStmt) -> Result<QueryResult, BackupError> {
    check_session(env, ctx, "SHOW BACKUP").await?;
    let (layers, cipher) = match &stmt.in_collection {
        Some(which) => {
            let (layers, cipher, _) = crate::collection::read_chain(env, &stmt.location, which, stmt.encryption_passphrase.as_ref()).await?;
            (layers, cipher)
        }
        None => crate::chain::read_location(env, std::slice::from_ref(&stmt.location), stmt.encryption_passphrase.as_ref()).await?,
    };
    if layers.len() > 1 {
        crate::chain::validate(&layers)?;
    }
    // A locality-aware backup's partitions are needed only to read its files (and are checked
    // when they were listed).
    let mut layers = layers;
    if stmt.check_files || !stmt.location_localities.is_empty() {
        crate::partitioned::attach(env, &mut layers, std::slice::from_ref(&stmt.location_localities), &cipher).await?;
    }
    let partitioned = layers.iter().any(|l| !l.manifest.partitions.is_empty());
    let file_bytes = if stmt.check_files { Some(check_files(env, &layers, &cipher).await?) } else { None };
    let base = StorageUrl::parse(&stmt.location)?;
    let mut out: Option<QueryResult> = None;
    for (i, layer) in layers.iter().enumerate() {
        let sizes = file_bytes.as_ref().map(|all| all[i].as_slice());
        let rows = match stmt.kind {
            ShowBackupKind::Objects => object_rows(&layer.manifest, false, stmt.with_privileges, sizes),
            ShowBackupKind::Schemas => object_rows(&layer.manifest, true, stmt.with_privileges, sizes),
            ShowBackupKind::Files if partitioned => locality_file_rows(&layer.manifest, &relative_dir(&base, &layer.location)?),
            ShowBackupKind::Files => file_rows(&layer.manifest, &relative_dir(&base, &layer.location)?),
            ShowBackupKind::Ranges => range_rows(&layer.manifest),
        };
        match &mut out {
            None => out = Some(rows),
            Some(o) => o.rows.extend(rows.rows),
        }
    }
    out.ok_or_else(|| BackupError::Internal("an empty chain".into()))
}

/// `WITH check_files`: reads every data file each layer's manifest lists and checks that it is
/// there, decrypts, and has the checksum the manifest recorded — what a restore would find,
/// without restoring. Returns each layer's files' stored sizes, in manifest order; refuses with
/// every missing or damaged file named (up to [`CHECK_FILES_MAX_NAMED`], then it stops reading,
/// as CockroachDB does). A storage error other than "not found" that outlasts the retries is
/// the statement's error as it is: the file may well be there.
async fn check_files(env: &Env, layers: &[Layer], cipher: &FileCipher) -> Result<Vec<Vec<u64>>, BackupError> {
    let (mut missing, mut damaged) = (Vec::new(), Vec::new());
    let mut sizes = Vec::new();
    'layers: for layer in layers {
        // CockroachDB names a missing file by its location without the query (where credentials
        // may sit), joined with the file's path.
        let location = layer.shown.split('?').next().unwrap_or_default();
        let mut layer_sizes = Vec::new();
        for file in &layer.manifest.files {
            if missing.len() + damaged.len() >= CHECK_FILES_MAX_NAMED {
                break 'layers;
            }
            // A locality-aware backup's file is in its locality's partition.
            let (shown, storage) = layer.file_store(file)?;
            let location = if file.locality.is_some() { shown.split('?').next().unwrap_or_default() } else { location };
            let name = crate::location::join(location, &file.path);
            let bytes = match read_retrying(env, &*storage, &file.path).await {
                Ok(bytes) => bytes,
                Err(e) if e.is_not_found() => {
                    missing.push(name);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            layer_sizes.push(bytes.len() as u64);
            match cipher.open(&name, bytes) {
                Err(e) => {
                    // The cipher's error starts with the file's name, which the list already shows.
                    let why = e.to_string();
                    let why = why.strip_prefix(&format!("{name}: ")).unwrap_or(&why).to_string();
                    damaged.push((name, why));
                }
                Ok(plain) => {
                    let found = crate::format::envelope::file_checksum(&plain);
                    if found != file.checksum {
                        damaged.push((name, format!("checksum {found:#010x}, the manifest records {:#010x}", file.checksum)));
                    }
                }
            }
        }
        sizes.push(layer_sizes);
    }
    if missing.is_empty() && damaged.is_empty() {
        return Ok(sizes);
    }
    missing.sort();
    damaged.sort();
    Err(BackupError::FilesFailedCheck { missing, damaged })
}

/// Where `layer` (a location of the chain) lies under `base` (the location SHOW BACKUP was
/// given): empty for `base` itself, else the subdirectory.
fn relative_dir(base: &StorageUrl, layer: &str) -> Result<String, BackupError> {
    let url = StorageUrl::parse(layer)?;
    match url.path().strip_prefix(base.path()) {
        Some(rest) => Ok(rest.trim_start_matches('/').to_string()),
        None => Err(BackupError::Internal(format!("{} is not under {}", url.redacted(), base.redacted()))),
    }
}

/// SHOW BACKUPS IN 'collection': one row per full backup of the collection, column `path` (its
/// subdirectory, as `BACKUP … INTO 'path' IN`, `RESTORE … FROM 'path' IN` and `SHOW BACKUP
/// 'path' IN` take it), oldest first, as CockroachDB lists them.
pub async fn show_backups(env: &Env, ctx: &SessionContext, collection: &str) -> Result<QueryResult, BackupError> {
    check_session(env, ctx, "SHOW BACKUPS").await?;
    let mut out = QueryResult::new(&["path"]);
    for path in crate::collection::list_full_backups(env, collection).await? {
        out.rows.push(vec![Datum::String(path)]);
    }
    Ok(out)
}

/// The rows SHOW JOBS prints.
pub fn job_rows(jobs: &[JobSummary]) -> QueryResult {
    let mut out = QueryResult::new(&[
        "job_id",
        "job_type",
        "description",
        "statement",
        "user_name",
        "status",
        "running_status",
        "created",
        "started",
        "finished",
        "modified",
        "fraction_completed",
        "error",
        "coordinator_id",
    ]);
    let opt_ts = |t: Option<Timestamp>| t.map(ts_datum).unwrap_or(Datum::Null);
    for j in jobs {
        out.rows.push(vec![
            Datum::Int(j.id),
            Datum::String(j.job_type.to_string()),
            Datum::String(j.description.clone()),
            // The statement as run, redacted like the description (which CockroachDB lets a
            // user edit; here the two are the same).
            Datum::String(j.description.clone()),
            Datum::String(j.user_name.clone()),
            Datum::String(j.status.as_str().into()),
            if j.running_status.is_empty() { Datum::Null } else { Datum::String(j.running_status.clone()) },
            ts_datum(j.created),
            opt_ts(j.started),
            opt_ts(j.finished),
            ts_datum(j.modified),
            Datum::Float(j.fraction_completed()),
            j.error.clone().map(Datum::String).unwrap_or(Datum::String(String::new())),
            j.lease.map(|l| Datum::Int(l.node as i64)).unwrap_or(Datum::Null),
        ]);
    }
    out
}

/// SHOW JOBS.
pub async fn show_jobs(env: &Env, ctx: &SessionContext) -> Result<QueryResult, BackupError> {
    check_session(env, ctx, "SHOW JOBS").await?;
    Ok(job_rows(&jobs::list(&*env.kv).await?))
}
