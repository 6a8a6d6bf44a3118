//! [`BackupError`]: every way a bulk statement or job fails, each naming what to fix. No variant
//! ever carries a secret: URLs are redacted and passphrases never enter a message.

use crate::crypto::EncryptionError;
use crate::format::FormatError;
use crate::statement::{ParseError, ParseErrorKind};
use crate::storage::url::UrlError;
use crate::storage::StorageError;
use model::catalog::CatalogError;
use model::{KvError, Span, Timestamp, TimestampError};

/// A schedule's id.
pub type ScheduleId = i64;

/// Why a schedule statement was refused, in CockroachDB's words where it has them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A cron expression that does not parse (or never fires).
    #[error("error parsing schedule expression: {0:?}; it must be a valid cron expression")]
    BadCron(String),
    /// `on_execution_failure` other than retry, reschedule or pause.
    #[error("{0:?} is not a valid on_execution_error; valid values are [retry|reschedule|pause]")]
    BadOnError(String),
    /// `on_previous_running` other than start, skip or wait.
    #[error("{0:?} is not a valid on_previous_running; valid values are [start|skip|wait]")]
    BadWait(String),
    /// `first_run` that is not a time.
    #[error("first_run: {0}")]
    BadFirstRun(String),
    /// `RECURRING NEVER`: a backup schedule must recur.
    #[error("RECURRING clause required")]
    RecurringRequired,
    /// The collection already holds backups (another schedule's, perhaps).
    #[error("backups already created in {0}; to ignore existing backups, the schedule can be created with the 'ignore_existing_backups' option")]
    BackupsExist(String),
    /// No schedule has that id.
    #[error("schedule with ID {0} does not exist")]
    NotFound(ScheduleId),
}

/// Why a statement naming a backup collection (`INTO`, `LATEST IN`, `'subdir' IN`, `SHOW
/// BACKUPS IN`) cannot go ahead: one variant per cause, in CockroachDB's words where it has
/// them, each naming the collection (redacted) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectionError {
    /// `LATEST` in a collection that no full backup has finished in.
    #[error(
        "path does not contain a completed latest backup: {collection} has no LATEST file (take a full backup into it first: BACKUP … INTO '{collection}')"
    )]
    NoLatest { collection: String },
    /// A LATEST file that names no subdirectory a backup can be in.
    #[error("malformed LATEST file {file}: it must name a full backup's subdirectory of the collection")]
    MalformedLatest { file: String },
    /// `INTO 'subdir' IN` a subdirectory holding no full backup (CockroachDB v22.2 refuses to
    /// start a full backup there).
    #[error(
        "A full backup cannot be written to \"{subdir}\", a user defined subdirectory. To take a full backup, remove the subdirectory from the backup command (i.e. run 'BACKUP ... INTO <collectionURI>'). {collection} holds no backup in {subdir}"
    )]
    NoFullInSubdir { subdir: String, collection: String },
    /// `INTO 'collection'` whose new subdirectory already holds a full backup.
    #[error(
        "A full backup already exists in {location}. Consider running an incremental backup to this full backup via `BACKUP INTO '{subdir}' IN '{collection}'`"
    )]
    FullExists { location: String, subdir: String, collection: String },
    /// A subdirectory that is not a relative path inside the collection.
    #[error("invalid subdirectory {subdir:?} of a collection: {reason}")]
    BadSubdir { subdir: String, reason: String },
    /// A chain whose incrementals are in both the full backup's directory (v20.2–v21.1) and
    /// the collection's `incrementals/` directory (v21.2 on).
    #[error("Incremental layers found in both old and new default locations: {old} and {new}; move one of them away (RESTORE and SHOW BACKUP cannot tell which chain is meant)")]
    BothLayouts { old: String, new: String },
    /// `INTO LATEST IN` (or `'subdir' IN`) a chain of other targets.
    #[error("{reason}{hint}")]
    TargetsDiffer { reason: String, hint: String },
    /// `BACKUP … TO` a collection's full backup whose incrementals are in the collection layout:
    /// appending inside the full's directory would fork its chain.
    #[error(
        "{location} is the full backup {subdir} of the collection {collection}, whose incrementals are in {incrementals}: BACKUP … TO this location would start a second chain of incrementals inside the full backup's directory, beside them (and the collection's statements would then refuse both); append to the chain with BACKUP … INTO '{subdir}' IN '{collection}'"
    )]
    PlainAppendForksChain { location: String, subdir: String, collection: String, incrementals: String },
}

/// Why a chain of backups cannot be built on or restored: one variant per cause, so that callers
/// and tests match on the kind, and each message names the members involved and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The first member listed is an incremental.
    #[error("{member} is an incremental backup (from {start}), not a full backup: a chain must start with the full backup it builds on")]
    StartsWithIncremental { member: String, start: Timestamp },
    /// Two listed members come from different clusters.
    #[error("previous BACKUP {previous} belongs to cluster {cluster}, not {other}")]
    MixedClusters { previous: String, cluster: String, other: String },
    /// The chain to append to belongs to another cluster than this one.
    #[error("previous BACKUP {previous} belongs to cluster {cluster}")]
    OtherCluster { previous: String, cluster: String },
    /// A full backup listed after the first member.
    #[error("{member} is a full backup: only incrementals may follow the full backup {full}")]
    FullAfterFull { member: String, full: String },
    /// Members listed out of time order.
    #[error("backups listed out of order: {member} (up to {end}) is listed after {previous} (up to {previous_end})")]
    OutOfOrder { member: String, end: Timestamp, previous: String, previous_end: Timestamp },
    /// A member does not start where the one before it ends.
    #[error(
        "invalid previous backups: {member} starts at {start} but {previous} ends at {previous_end}; a backup between them is missing or they belong to different chains (a new full backup may be required if a table has been created, dropped or truncated)"
    )]
    Gap { member: String, start: Timestamp, previous: String, previous_end: Timestamp },
    /// An automatic incremental asked of HTTP storage, which cannot list subdirectories.
    #[error(
        "{location} already contains a BACKUP file: automatic incremental backups do not work with HTTP storage; use BACKUP ... INCREMENTAL FROM to say where each incremental goes"
    )]
    AutoIncrementalOverHttp { location: String },
    /// The incremental's time is not after its base's end.
    #[error("the backup's time {end} is not after the end time {base_end} of the previous backup {base}")]
    NotAfterBase { end: Timestamp, base_end: Timestamp, base: String },
    /// The base ends at or below a GC threshold: the changes since may be gone.
    #[error(
        "the previous backup's end time {base_end} is at or below the GC threshold {threshold} of {span}: the changes since it may already be garbage collected, so a new full backup is needed"
    )]
    BaseBelowGcThreshold { base_end: Timestamp, threshold: Timestamp, span: Span },
    /// The incremental's targets are not the chain's (cluster vs. tables or databases, or other
    /// complete databases); the message names the member and both target lists.
    #[error("{0}")]
    TargetsDiffer(String),
    /// A table among the targets that the base does not hold (created or truncated since).
    #[error(
        "previous backup {base} does not contain table \"{table}\": a new full backup is required after tables are created, dropped or truncated (or back up the whole cluster, whose incrementals carry new tables)"
    )]
    TableNotInBase { base: String, table: String },
    /// A table of the base no longer among the targets (dropped or truncated since).
    #[error(
        "table \"{table}\" of the previous backup {base} is no longer among the targets (dropped or truncated since): a new full backup is required after tables are created, dropped or truncated (or back up the whole cluster, whose incrementals carry new tables)"
    )]
    TableGoneSinceBase { table: String, base: String },
    /// Another incremental claimed the same base while this one ran.
    #[error(
        "another incremental backup was appended to the backup ending at {base_end} at {location} {by} while this one ran: publishing this one too would fork the chain; run the BACKUP again to append to the newest backup"
    )]
    BaseClaimed { base_end: Timestamp, location: String, by: String },
    /// A newer incremental landed in the chain while this one ran.
    #[error(
        "another incremental backup ({newer}) was appended to the chain at {location} while this one ran: publishing this one too would fork the chain; run the BACKUP again to append to the newest backup"
    )]
    NewerMember { newer: String, location: String },
}

/// Why a BACKUP, RESTORE, SHOW BACKUP or job statement failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackupError {
    /// The statement does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The user may not run it.
    #[error("only users with the admin role are allowed to {0}")]
    NotAdmin(&'static str),
    /// Inside BEGIN ... COMMIT.
    #[error("{0} cannot be used inside a transaction")]
    InTransaction(&'static str),
    /// A target that does not exist.
    #[error("{0}")]
    TargetNotFound(String),
    /// A target whose dependency is not being backed up (or restored).
    #[error("cannot {action} {object} without {dependency} ({reason})")]
    MissingDependency { action: &'static str, object: String, dependency: String, reason: String },
    /// An `AS OF SYSTEM TIME` that cannot be interpreted.
    #[error("AS OF SYSTEM TIME: {0}")]
    BadTimestamp(#[from] TimestampError),
    /// An `AS OF SYSTEM TIME` in the future.
    #[error("AS OF SYSTEM TIME: cannot specify timestamp in the future ({ts} > {now})")]
    FutureTimestamp { ts: model::Timestamp, now: model::Timestamp },
    /// The destination already holds a backup or a backup in progress.
    #[error("{url} already contains a {file} file{hint}")]
    DestinationNotEmpty { url: String, file: &'static str, hint: &'static str },
    /// The destination is in use by another backup job, or holds what one left behind (its
    /// lock file or checkpoint): `detail` names the job, its status and how to free the location.
    #[error("{url} already contains a {file} file (is another operation already in progress?): {detail}")]
    DestinationInUse { url: String, file: String, detail: String },
    /// A location holds no complete backup.
    #[error("{url}: {reason}")]
    NotABackup { url: String, reason: String },
    /// A chain of backups that cannot be built on or restored ([`ChainError`] says which way).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A collection statement that cannot go ahead ([`CollectionError`] says why).
    #[error(transparent)]
    Collection(#[from] CollectionError),
    /// An `AS OF SYSTEM TIME` that the backups given to RESTORE do not cover.
    #[error("invalid RESTORE timestamp: {0}")]
    BadRestoreTime(String),
    /// A feature of the statement that a later version implements.
    #[error("{0} is not supported yet")]
    NotSupportedYet(&'static str),
    /// A restore target collides with an existing object.
    #[error("{0}")]
    RestoreConflict(String),
    /// A file failed its format checks.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// An encrypted file, or the passphrase given for it, did not check out.
    #[error(transparent)]
    Encryption(#[from] EncryptionError),
    /// A storage operation failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A URL was refused.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The cluster refused (GC threshold, unavailability...).
    #[error(transparent)]
    Kv(#[from] KvError),
    /// The catalog could not be read.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A job cannot do what was asked.
    #[error("{0}")]
    Job(String),
    /// A schedule statement was refused ([`crate::schedule`]).
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// `SHOW BACKUP … WITH check_files` found data files its manifests list missing from
    /// storage or not matching their recorded checksum: each named by its redacted location
    /// without query parameters and path, sorted, at most [`CHECK_FILES_MAX_NAMED`] in all
    /// (CockroachDB's limit and wording for missing files).
    #[error("{}", check_files_message(missing, damaged))]
    FilesFailedCheck {
        /// Listed files the storage does not have.
        missing: Vec<String>,
        /// Listed files that are there but damaged: the file, and why.
        damaged: Vec<(String, String)>,
    },
    /// `WITH` options that parse but cannot go together or with these targets (`new_db_name`
    /// on a table or cluster restore, `verify_backup_table_data` without `schema_only`), in
    /// CockroachDB's words.
    #[error("{0}")]
    InvalidOptions(&'static str),
    /// `SET` / `SHOW CLUSTER SETTING` of a setting this crate does not know.
    #[error("unknown cluster setting {name:?}; the settings are {known}")]
    UnknownSetting {
        /// The name given.
        name: String,
        /// The settings there are.
        known: String,
    },
    /// A locality-aware BACKUP's destination list that cannot be used
    /// ([`crate::locality::DestinationError`] says why).
    #[error(transparent)]
    Locality(#[from] crate::locality::DestinationError),
    /// A locality-aware backup's partition that none of the URLs given holds (CockroachDB's
    /// text, then which locality's files are missing and where they were looked for).
    #[error(
        "expected manifest {file} not found in backup locations: the files the nodes of locality {locality} wrote for the backup at {backup} are in none of {searched}; list the URL the backup was given for locality {locality} (or where its files were moved) with its default URL"
    )]
    MissingPartition {
        /// The partition descriptor's name.
        file: String,
        /// Its locality.
        locality: String,
        /// The backup (its default location), redacted.
        backup: String,
        /// The locations searched, redacted.
        searched: String,
    },
    /// Something that should not happen; the message says what.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The class of a [`BackupError`], for callers and tests that must tell failures apart without
/// reading prose (a message may be reworded; its class may not change).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The statement does not parse.
    Syntax,
    /// A `WITH` option is unknown, repeated, missing its value or given a refused value.
    Option,
    /// The user lacks the admin role.
    Privilege,
    /// Run inside BEGIN ... COMMIT.
    Transaction,
    /// A target that does not exist.
    TargetNotFound,
    /// A dependency left out.
    Dependency,
    /// An `AS OF SYSTEM TIME` that is unreadable, in the future, or not covered.
    Timestamp,
    /// A destination that already holds a backup.
    DestinationNotEmpty,
    /// A destination another backup job is writing to (its lock file is there).
    DestinationInUse,
    /// A location holding no complete backup.
    NotABackup,
    /// A chain of backups that cannot be used.
    Chain,
    /// A feature a later version implements.
    Unsupported,
    /// A restore target that collides with an existing object.
    Conflict,
    /// A file that fails its format checks.
    Format,
    /// An encrypted file or its passphrase that does not check out.
    Encryption,
    /// A storage operation that failed.
    Storage,
    /// A storage URL that was refused (invalid, or forbidden by the node's settings).
    Url,
    /// The cluster refused.
    Kv,
    /// The catalog could not be read.
    Catalog,
    /// A job that cannot do what was asked, or that failed.
    Job,
    /// A bug.
    Internal,
}

impl BackupError {
    /// True for an error a later attempt may not meet: a storage operation or a KV request that
    /// failed transiently and ran out of its own retries (an outage longer than they last). A
    /// job runs again after one, for as long as its retry budget allows, instead of failing.
    pub fn is_transient(&self) -> bool {
        match self {
            BackupError::Storage(e) => e.is_retryable(),
            BackupError::Kv(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// This error's class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BackupError::Parse(e) => match e.kind {
                ParseErrorKind::Syntax => ErrorKind::Syntax,
                ParseErrorKind::Option => ErrorKind::Option,
            },
            BackupError::NotAdmin(_) => ErrorKind::Privilege,
            BackupError::InTransaction(_) => ErrorKind::Transaction,
            BackupError::TargetNotFound(_) => ErrorKind::TargetNotFound,
            BackupError::MissingDependency { .. } => ErrorKind::Dependency,
            BackupError::BadTimestamp(_) | BackupError::FutureTimestamp { .. } | BackupError::BadRestoreTime(_) => ErrorKind::Timestamp,
            BackupError::DestinationNotEmpty { .. } => ErrorKind::DestinationNotEmpty,
            BackupError::DestinationInUse { .. } => ErrorKind::DestinationInUse,
            BackupError::NotABackup { .. } => ErrorKind::NotABackup,
            BackupError::Chain(_)
            | BackupError::Collection(
                CollectionError::TargetsDiffer { .. } | CollectionError::BothLayouts { .. } | CollectionError::PlainAppendForksChain { .. },
            ) => ErrorKind::Chain,
            BackupError::Collection(CollectionError::FullExists { .. }) => ErrorKind::DestinationNotEmpty,
            BackupError::Collection(CollectionError::BadSubdir { .. }) => ErrorKind::Url,
            BackupError::Collection(_) => ErrorKind::NotABackup,
            BackupError::NotSupportedYet(_) => ErrorKind::Unsupported,
            BackupError::RestoreConflict(_) => ErrorKind::Conflict,
            BackupError::Format(_) => ErrorKind::Format,
            BackupError::Encryption(_) => ErrorKind::Encryption,
            BackupError::Storage(StorageError::Refused(_)) | BackupError::Url(_) => ErrorKind::Url,
            BackupError::Storage(_) => ErrorKind::Storage,
            BackupError::Kv(_) => ErrorKind::Kv,
            BackupError::Catalog(_) => ErrorKind::Catalog,
            BackupError::Job(_) | BackupError::Schedule(ScheduleError::NotFound(_)) => ErrorKind::Job,
            BackupError::Schedule(ScheduleError::BackupsExist(_)) => ErrorKind::DestinationNotEmpty,
            BackupError::Schedule(_) => ErrorKind::Option,
            BackupError::UnknownSetting { .. } | BackupError::InvalidOptions(_) => ErrorKind::Option,
            BackupError::FilesFailedCheck { .. } => ErrorKind::NotABackup,
            BackupError::Locality(crate::locality::DestinationError::PartitionExists { .. }) => ErrorKind::DestinationNotEmpty,
            BackupError::Locality(_) => ErrorKind::Url,
            BackupError::MissingPartition { .. } => ErrorKind::NotABackup,
            BackupError::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// How many files a [`BackupError::FilesFailedCheck`] names at most: CockroachDB's
/// `maxMissingFiles`, after which it stops looking and says "including".
pub const CHECK_FILES_MAX_NAMED: usize = 10;

/// The message of [`BackupError::FilesFailedCheck`]: CockroachDB's for missing files ("The
/// following files are missing from the backup:", or "Multiple files cannot be read from the
/// backup including:" once the limit is reached), then in the same shape the files whose bytes
/// do not check out (CockroachDB's check only asks the storage for each file's size).
fn check_files_message(missing: &[String], damaged: &[(String, String)]) -> String {
    let full = missing.len() + damaged.len() >= CHECK_FILES_MAX_NAMED;
    let mut parts = Vec::new();
    if !missing.is_empty() {
        let head = if full { "Multiple files cannot be read from the backup including:" } else { "The following files are missing from the backup:" };
        parts.push(format!("{head}\n\t{}", missing.join("\n\t")));
    }
    if !damaged.is_empty() {
        let head = if full && missing.is_empty() {
            "Multiple files do not match the backup's manifest, including:"
        } else {
            "The following files do not match the backup's manifest:"
        };
        let lines: Vec<String> = damaged.iter().map(|(file, why)| format!("{file} ({why})")).collect();
        parts.push(format!("{head}\n\t{}", lines.join("\n\t")));
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past [`CHECK_FILES_MAX_NAMED`] files the message says "including", as CockroachDB's does;
    /// below it, it lists them all under its header.
    #[test]
    fn check_files_message_switches_to_including_at_the_limit() {
        let names = |n: usize| (0..n).map(|i| format!("nodelocal://1/b/data/{i}.sst")).collect::<Vec<_>>();
        let e = BackupError::FilesFailedCheck { missing: names(2), damaged: Vec::new() };
        assert_eq!(e.to_string(), "The following files are missing from the backup:\n\tnodelocal://1/b/data/0.sst\n\tnodelocal://1/b/data/1.sst");
        let e = BackupError::FilesFailedCheck { missing: names(CHECK_FILES_MAX_NAMED), damaged: Vec::new() };
        assert!(e.to_string().starts_with("Multiple files cannot be read from the backup including:\n\t"), "{e}");
        let damaged = vec![("nodelocal://1/b/data/9.sst".to_string(), "checksum 0x00000001, the manifest records 0x00000002".to_string())];
        let e = BackupError::FilesFailedCheck { missing: names(1), damaged };
        assert_eq!(
            e.to_string(),
            "The following files are missing from the backup:\n\tnodelocal://1/b/data/0.sst\n\
             The following files do not match the backup's manifest:\n\tnodelocal://1/b/data/9.sst (checksum 0x00000001, the manifest records 0x00000002)"
        );
        let all_damaged = names(CHECK_FILES_MAX_NAMED).into_iter().map(|n| (n, "why".to_string())).collect();
        let e = BackupError::FilesFailedCheck { missing: Vec::new(), damaged: all_damaged };
        assert!(e.to_string().starts_with("Multiple files do not match the backup's manifest, including:\n\t"), "{e}");
    }
}
