//! [`SqlError`]: every way a SQL statement can fail, with texts modeled on CockroachDB's.
//!
//! Errors never contain a password: statements that carry one are reported without their text.

use crate::catalog::{CatalogError, Privilege};
use crate::kv::KvError;
use crate::timestamp::TimestampError;

/// Why a statement failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SqlError {
    /// The text is not valid SQL (as sqlparser or the extension pre-pass sees it). `line` and
    /// `column` locate the offending token when known (sqlparser's own messages also embed it).
    #[error("syntax error: {message}")]
    Parse {
        /// What the parser expected or found.
        message: String,
        /// 1-based line of the offending token, when known.
        line: Option<u64>,
        /// 1-based column of the offending token, when known.
        column: Option<u64>,
    },
    /// Valid SQL this subset does not implement; names what.
    #[error("unimplemented: {0} is not supported")]
    Unsupported(String),
    /// BACKUP, RESTORE, SHOW BACKUP, SHOW JOBS, PAUSE / RESUME / CANCEL JOB: statements the
    /// `backup` crate handles before the SQL layer sees them.
    #[error("{statement} is not a SQL-layer statement: it is handled by the backup crate")]
    NotSqlLayer {
        /// The statement's leading keywords, e.g. `BACKUP` or `SHOW JOBS`.
        statement: String,
    },
    /// No database by that name.
    #[error("database \"{0}\" does not exist")]
    UndefinedDatabase(String),
    /// No table, view or sequence by that name.
    #[error("relation \"{0}\" does not exist")]
    UndefinedRelation(String),
    /// A database or relation a RESTORE is still creating: its name is taken, its contents not
    /// yet there (CockroachDB's "is offline: restoring").
    #[error("{kind} \"{name}\" is offline: restoring")]
    Offline {
        /// "database" or "relation".
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// No column by that name.
    #[error("column \"{0}\" does not exist")]
    UndefinedColumn(String),
    /// No index by that name.
    #[error("index \"{0}\" does not exist")]
    UndefinedIndex(String),
    /// No user or role by that name.
    #[error("role/user \"{0}\" does not exist")]
    UndefinedUser(String),
    /// The object exists already.
    #[error("{kind} \"{name}\" already exists")]
    DuplicateObject {
        /// "relation", "database", "role/user", "column", "index".
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A value or expression of the wrong type.
    #[error("{0}")]
    Type(String),
    /// NULL into a NOT NULL column.
    #[error("null value in column \"{0}\" violates not-null constraint")]
    NotNullViolation(String),
    /// A second row with the same primary key or unique index values.
    #[error("duplicate key value violates unique constraint \"{constraint}\": {detail}")]
    UniqueViolation {
        /// The index name.
        constraint: String,
        /// The conflicting values.
        detail: String,
    },
    /// A row referencing a missing row, or removal of a referenced row.
    #[error("{0}")]
    ForeignKeyViolation(String),
    /// DROP / TRUNCATE of something others depend on, without CASCADE.
    #[error("{0}")]
    DependentObjects(String),
    /// The user lacks a privilege.
    #[error("user {user} does not have {privilege} privilege on {object_kind} {object}")]
    PrivilegeDenied {
        /// The session user.
        user: String,
        /// The privilege needed.
        privilege: Privilege,
        /// "relation" or "database".
        object_kind: &'static str,
        /// The object's name.
        object: String,
    },
    /// The statement needs membership in the admin role.
    #[error("user {user} does not have the admin role, required to {action}")]
    AdminRequired {
        /// The session user.
        user: String,
        /// What was attempted.
        action: String,
    },
    /// A semantically invalid request (division by zero, wrong kind of object, ...).
    #[error("{0}")]
    Invalid(String),
    /// The transaction lost a conflict; running it again may succeed. Implicit statements are
    /// retried automatically; explicit transactions see it at COMMIT.
    #[error("restart transaction: {0}")]
    TxnAborted(String),
    /// A statement in an explicit transaction that already failed.
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    /// BEGIN inside a transaction.
    #[error("there is already a transaction in progress")]
    AlreadyInTransaction,
    /// COMMIT / ROLLBACK outside a transaction.
    #[error("there is no transaction in progress")]
    NoTransaction,
    /// An `AS OF SYSTEM TIME` argument that is not a timestamp.
    #[error(transparent)]
    AsOf(#[from] TimestampError),
    /// The catalog could not be read or decoded.
    #[error(transparent)]
    Catalog(CatalogError),
    /// The KV layer refused (GC threshold, unavailability, ...).
    #[error(transparent)]
    Kv(KvError),
    /// A stored row that does not decode.
    #[error("corrupt row at {key}: {reason}")]
    Corrupt {
        /// The pretty-printed key.
        key: String,
        /// What was wrong.
        reason: String,
    },
}

impl SqlError {
    /// True when running the same statement (or transaction) again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SqlError::TxnAborted(_) => true,
            SqlError::Kv(e) => e.is_retryable(),
            SqlError::Catalog(CatalogError::Kv(e)) => e.is_retryable(),
            _ => false,
        }
    }

    pub(crate) fn parse(message: impl Into<String>, loc: Option<sqlparser::tokenizer::Location>) -> Self {
        SqlError::Parse { message: message.into(), line: loc.map(|l| l.line), column: loc.map(|l| l.column) }
    }
}

impl From<KvError> for SqlError {
    fn from(e: KvError) -> Self {
        match e {
            KvError::TxnAborted(m) => SqlError::TxnAborted(m),
            other => SqlError::Kv(other),
        }
    }
}

impl From<CatalogError> for SqlError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Kv(k) => k.into(),
            other => SqlError::Catalog(other),
        }
    }
}
