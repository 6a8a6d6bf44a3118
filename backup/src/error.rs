//! [`BackupError`]: every way a bulk statement or job fails, each naming what to fix. No variant
//! ever carries a secret: URLs are redacted and passphrases never enter a message.

use crate::crypto::EncryptionError;
use crate::format::FormatError;
use crate::statement::ParseError;
use crate::storage::url::UrlError;
use crate::storage::StorageError;
use model::catalog::CatalogError;
use model::{KvError, TimestampError};

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
    /// A chain of backups that cannot be built on or restored: not starting with a full
    /// backup, out of order, with a gap, from another cluster, or an incremental whose tables
    /// changed since its base.
    #[error("{0}")]
    BadChain(String),
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
    /// Something that should not happen; the message says what.
    #[error("internal error: {0}")]
    Internal(String),
}
