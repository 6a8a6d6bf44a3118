//! The bulk-I/O statements: BACKUP, RESTORE, SHOW BACKUP, SHOW JOBS and PAUSE / RESUME /
//! CANCEL JOB, in CockroachDB v20.1–v20.2 syntax, as typed values ([`Statement`]), parsed from
//! sqlparser's token stream by a small recursive-descent parser ([`parse`]) and printed back
//! as canonical SQL with every secret replaced ([`Statement::redacted`]).
//!
//! What this module must never do: split SQL text by hand (sqlparser's `Tokenizer` reads it),
//! interpret anything (URLs stay strings, `AS OF SYSTEM TIME` stays raw text: the planner
//! validates both), panic on any input, or echo a secret. Passphrases live in [`Secret`], whose
//! `Debug` and `Display` print `redacted`; a [`ParseError`] never quotes a string literal nor a
//! token that follows `encryption_passphrase`.

mod lexer;
mod parser;
mod render;
mod schedule;

#[cfg(test)]
mod tests;

pub use schedule::{CreateScheduleStmt, FullBackup, Recurring, ScheduleControl, ScheduleOptions, ScheduleStmt};
use std::fmt;

/// One parsed bulk-I/O statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    /// `BACKUP … TO …`.
    Backup(BackupStmt),
    /// `RESTORE … FROM …`.
    Restore(RestoreStmt),
    /// `SHOW BACKUP [SCHEMAS|FILES|RANGES] 'location'`.
    ShowBackup(ShowBackupStmt),
    /// `SHOW BACKUPS IN 'collection'` (CockroachDB v20.2): the full backups of a collection.
    ShowBackups(String),
    /// `SHOW JOBS`.
    ShowJobs,
    /// `PAUSE JOB id`.
    PauseJob(u64),
    /// `RESUME JOB id`.
    ResumeJob(u64),
    /// `CANCEL JOB id`.
    CancelJob(u64),
    /// `SET CLUSTER SETTING name = 'value'` (or `TO`), for the settings of [`crate::settings`].
    SetClusterSetting {
        /// The setting's dotted name, lower case.
        name: String,
        /// The value ('' resets it).
        value: String,
    },
    /// `SHOW CLUSTER SETTING name`.
    ShowClusterSetting(String),
    /// `SHOW LOCALITY`: the gateway node's `--locality`.
    ShowLocality,
    /// `CREATE SCHEDULE … FOR BACKUP`, `SHOW SCHEDULES`, `PAUSE / RESUME / DROP SCHEDULE`
    /// (CockroachDB v21.1–v22.2).
    Schedule(ScheduleStmt),
}

/// `BACKUP targets TO locations [AS OF SYSTEM TIME t] [INCREMENTAL FROM …] [WITH …]`, or
/// `BACKUP targets INTO [LATEST IN | 'subdir' IN] collection [AS OF SYSTEM TIME t] [WITH …]`.
#[derive(Clone, PartialEq, Eq)]
pub struct BackupStmt {
    /// What to back up.
    pub targets: Targets,
    /// The destination URL(s), unparsed: one, or several for a locality-aware backup. With
    /// `INTO`, the collection's.
    pub to: Vec<String>,
    /// `None` for `BACKUP … TO`; with `INTO`, where in the collection `to` names the backup
    /// goes ([`crate::collection`]).
    pub into: Option<BackupInto>,
    /// The backup's time; `None` means the statement's time.
    pub as_of: Option<AsOf>,
    /// Previous backups this one is incremental to, oldest first.
    pub incremental_from: Vec<String>,
    /// The `WITH` options.
    pub options: BackupOptions,
}

/// Where a `BACKUP … INTO` goes in its collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupInto {
    /// `INTO 'collection'`: a new full backup in a new dated subdirectory.
    NewFull,
    /// `INTO LATEST IN` / `INTO 'subdir' IN`: an incremental onto that full backup's chain.
    Chain(InCollection),
}

/// Which full backup of a collection (with its incrementals) a statement names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InCollection {
    /// `LATEST IN 'collection'` (or the string `'LATEST'`, as CockroachDB reads it): the full
    /// backup the collection's LATEST file names.
    Latest,
    /// `'subdir' IN 'collection'`: the full backup in that subdirectory, as SHOW BACKUPS IN
    /// lists it (`/2024/05/01-120000.00`; the leading `/` is optional).
    Subdir(String),
}

/// What a BACKUP or RESTORE covers (serializable: a backup schedule stores its targets).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Targets {
    /// No target list: the whole cluster.
    Cluster,
    /// `DATABASE a, b`.
    Databases(Vec<String>),
    /// `[TABLE] t, db.t, db.*`.
    Tables(Vec<TablePattern>),
}

/// One table pattern. Unquoted names are folded to lower case, quoted ones kept as written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TablePattern {
    /// `t` or `db.t` (or `db.public.t`): one table, view or sequence.
    Table {
        /// The database, if named; otherwise the session's current one.
        database: Option<String>,
        /// The table's name.
        table: String,
    },
    /// `db.*`: every table of a database (without making it a "complete database" backup).
    AllTablesIn(String),
}

/// The `AS OF SYSTEM TIME` argument as written (string literal contents, or a number); the
/// planner interprets it with `model::Timestamp::parse_as_of` against its own clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsOf(pub String);

/// BACKUP's `WITH` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupOptions {
    /// `revision_history`: keep every revision in the GC window, not just the latest.
    pub revision_history: bool,
    /// `encryption_passphrase = '…'`.
    pub encryption_passphrase: Option<Secret>,
    /// `detached`: the statement returns the job's id as soon as the job is recorded, and the
    /// job runs on in the background (CockroachDB's `WITH detached`), to be followed with SHOW
    /// JOBS and controlled with PAUSE / RESUME / CANCEL JOB.
    pub detached: bool,
}

/// `RESTORE targets FROM locations [AS OF SYSTEM TIME t] [WITH …]`.
#[derive(Clone, PartialEq, Eq)]
pub struct RestoreStmt {
    /// What to restore.
    pub targets: Targets,
    /// The backups to restore from: a full backup then its incrementals, oldest first. With
    /// `in_collection`, the one collection.
    pub from: Vec<String>,
    /// `FROM LATEST IN 'collection'` / `FROM 'subdir' IN 'collection'`: which chain of the
    /// collection `from` names.
    pub in_collection: Option<InCollection>,
    /// `FROM ('default', 'other', …), …`: the URLs given with each backup of `from` besides it
    /// (its first URL, which holds the manifest), among which a locality-aware backup's
    /// partitions are found; one list for an automatic chain serves all its members. Empty
    /// when no backup was given as a list ([`crate::partitioned`]).
    pub from_localities: Vec<Vec<String>>,
    /// Restore to this time inside the backups (needs revision history unless it is a backup's
    /// end time).
    pub as_of: Option<AsOf>,
    /// The `WITH` options.
    pub options: RestoreOptions,
}

/// RESTORE's `WITH` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// `into_db = 'db'`: restore tables into this database instead of their own.
    pub into_db: Option<String>,
    /// Drop foreign keys whose referenced table is not restored.
    pub skip_missing_foreign_keys: bool,
    /// Drop sequence defaults whose sequence is not restored.
    pub skip_missing_sequences: bool,
    /// Skip views whose tables are not restored.
    pub skip_missing_views: bool,
    /// `encryption_passphrase = '…'`: the backup's passphrase.
    pub encryption_passphrase: Option<Secret>,
    /// `detached`: the statement returns the job's id once the job is recorded, and the restore
    /// runs on in the background, as BACKUP's `detached` does.
    pub detached: bool,
    /// `new_db_name = 'x'` (CockroachDB v21.1): a `RESTORE DATABASE` of exactly one database
    /// creates it under this name instead of its own, so a backup can be restored beside the
    /// database it came from (for a comparison, or a validation that must not touch it).
    pub new_db_name: Option<String>,
    /// `schema_only` (CockroachDB v22.2): the restore creates every descriptor it would and
    /// publishes them, but ingests no row: the fast check that a backup's schema restores.
    pub schema_only: bool,
    /// `verify_backup_table_data` (CockroachDB v22.2, only with `schema_only`): the restore also
    /// reads, decrypts, checksums and decodes every data file it would ingest, and discards the
    /// rows, so a damaged file fails it while still writing no row.
    pub verify_backup_table_data: bool,
}

/// Which listing SHOW BACKUP gives.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum ShowBackupKind {
    /// `SHOW BACKUP 'l'`: databases and objects.
    #[default]
    Objects,
    /// `SHOW BACKUP SCHEMAS 'l'`: with each table's CREATE statement.
    Schemas,
    /// `SHOW BACKUP FILES 'l'`: the data files.
    Files,
    /// `SHOW BACKUP RANGES 'l'`: the spans.
    Ranges,
}

/// `SHOW BACKUP [SCHEMAS|FILES|RANGES] 'location' [WITH privileges, check_files,
/// encryption_passphrase = '…']`.
#[derive(Clone, PartialEq, Eq)]
pub struct ShowBackupStmt {
    /// Which listing.
    pub kind: ShowBackupKind,
    /// The backup's URL, unparsed (with `in_collection`, the collection's).
    pub location: String,
    /// `SHOW BACKUP LATEST IN 'collection'` / `SHOW BACKUP 'subdir' IN 'collection'`: which
    /// chain of the collection `location` names.
    pub in_collection: Option<InCollection>,
    /// `SHOW BACKUP ('default', 'other', …)`: the URLs given besides `location` (the first),
    /// among which a locality-aware backup's partitions are found (needed to read its files,
    /// `WITH check_files`).
    pub location_localities: Vec<String>,
    /// `WITH privileges`: add the grants column.
    pub with_privileges: bool,
    /// `WITH check_files` (CockroachDB v22.2): read every data file the chain's manifests list
    /// and refuse, naming them, files missing or not matching their recorded checksum; the
    /// objects listing then carries each table's `file_bytes`.
    pub check_files: bool,
    /// The backup's passphrase.
    pub encryption_passphrase: Option<Secret>,
}

/// A secret (a passphrase) that prints as `redacted` everywhere, so it can sit in a statement
/// that is logged or shown in a job description.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret text, for the one place that needs it (key derivation).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redacted")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redacted")
    }
}

/// Which part of a statement a [`ParseError`] is about, so that callers can tell a malformed
/// statement from a well-formed one with a bad `WITH` option without reading the message.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParseErrorKind {
    /// The text is not a statement of this grammar.
    #[default]
    Syntax,
    /// A `WITH` option is unknown, repeated, missing its value, given one it does not take, or
    /// given a value it refuses (an empty `encryption_passphrase`).
    Option,
}

/// A statement that does not parse: what is wrong, where (1-based line and column, as
/// sqlparser counts them), and the offending token (`EOF` at the end; string literals and
/// whatever follows `encryption_passphrase` are never shown; empty for a lexical error, where
/// no token could be read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// A malformed statement or a bad option.
    pub kind: ParseErrorKind,
    /// What was expected or is wrong.
    pub message: String,
    /// Line of the offending token, from 1.
    pub line: u64,
    /// Column of the offending token, from 1.
    pub column: u64,
    /// The offending token as printed in the message.
    pub near: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.near.is_empty() {
            write!(f, "syntax error (line {}, column {}): {}", self.line, self.column, self.message)
        } else {
            write!(f, "syntax error at or near {:?} (line {}, column {}): {}", self.near, self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses one BACKUP, RESTORE, SHOW BACKUP, SHOW JOBS or PAUSE / RESUME / CANCEL JOB statement
/// (a trailing `;` and backslash-newline line continuations allowed).
pub fn parse(sql: &str) -> Result<Statement, ParseError> {
    let lexed = lexer::lex(sql)?;
    parser::Parser::new(lexed).statement()
}

/// True if `sql` starts like a statement this module handles, so that a SQL front end routes
/// it here (and reports this module's errors) rather than to the SQL layer. Looks at the
/// leading keywords only, so a statement that later fails to tokenize still counts.
pub fn is_bulk_statement(sql: &str) -> bool {
    let words = lexer::leading_words(sql, 2);
    let first = words.first().map(String::as_str).unwrap_or("");
    let second = words.get(1).map(String::as_str).unwrap_or("");
    match first {
        "BACKUP" | "RESTORE" => true,
        "SHOW" => matches!(second, "BACKUP" | "BACKUPS" | "JOB" | "JOBS" | "CLUSTER" | "LOCALITY" | "SCHEDULE" | "SCHEDULES"),
        "SET" => second == "CLUSTER",
        "PAUSE" | "RESUME" => matches!(second, "JOB" | "JOBS" | "SCHEDULE" | "SCHEDULES"),
        "CANCEL" => matches!(second, "JOB" | "JOBS"),
        "CREATE" | "DROP" => matches!(second, "SCHEDULE" | "SCHEDULES"),
        _ => false,
    }
}

impl Statement {
    /// Canonical SQL text with every secret replaced by `redacted` (passphrases, and secret
    /// URL parameters through the storage URL redaction): for job descriptions and logs.
    pub fn redacted(&self) -> String {
        render::redacted(self)
    }
}

/// Locations in `Debug` output: URLs are redacted, so that `{:?}` of a statement (in a panic
/// message, a log, a test failure) never shows a credential.
struct Locations<'a>(&'a [String]);

impl fmt::Debug for Locations<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|l| crate::storage::url::redact_location(l))).finish()
    }
}

impl fmt::Debug for BackupStmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupStmt")
            .field("targets", &self.targets)
            .field("to", &Locations(&self.to))
            .field("into", &self.into)
            .field("as_of", &self.as_of)
            .field("incremental_from", &Locations(&self.incremental_from))
            .field("options", &self.options)
            .finish()
    }
}

impl fmt::Debug for RestoreStmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreStmt")
            .field("targets", &self.targets)
            .field("from", &Locations(&self.from))
            .field("in_collection", &self.in_collection)
            .field("from_localities", &self.from_localities.iter().map(|l| Locations(l)).collect::<Vec<_>>())
            .field("as_of", &self.as_of)
            .field("options", &self.options)
            .finish()
    }
}

impl fmt::Debug for ShowBackupStmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShowBackupStmt")
            .field("kind", &self.kind)
            .field("location", &Locations(std::slice::from_ref(&self.location)))
            .field("in_collection", &self.in_collection)
            .field("location_localities", &Locations(&self.location_localities))
            .field("with_privileges", &self.with_privileges)
            .field("check_files", &self.check_files)
            .field("encryption_passphrase", &self.encryption_passphrase)
            .finish()
    }
}

impl fmt::Display for Statement {
    /// The redacted canonical form, so a statement can be printed anywhere.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}
