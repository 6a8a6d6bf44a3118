//! The per-statement execution context and outcome shared by the statement modules. Holds no
//! state of its own and never commits: the session decides when a transaction commits.

use super::error::SqlError;
use super::rows::RowIdGen;
use super::txn::Txn;
use crate::catalog::Catalog;
use crate::datum::Datum;
use crate::timestamp::Timestamp;

/// What one statement runs with: the transaction it reads and writes through, who runs it and
/// in which database.
pub(crate) struct Ctx<'a> {
    pub txn: &'a mut Txn,
    pub user: &'a str,
    pub database: &'a str,
    pub rowids: &'a mut RowIdGen,
    /// True inside BEGIN ... COMMIT.
    pub explicit: bool,
}

impl Ctx<'_> {
    /// The catalog as the transaction sees it (its own DDL included).
    pub async fn catalog(&self) -> Result<Catalog, SqlError> {
        Ok(Catalog::read(&self.txn.view(), self.txn.read_ts).await?)
    }
}

/// The result of one statement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExecResult {
    /// The command tag, e.g. `INSERT 3`, `SELECT 2`, `CREATE TABLE`.
    pub tag: String,
    /// Result column names (empty for statements without rows).
    pub columns: Vec<String>,
    /// Result rows.
    pub rows: Vec<Vec<Datum>>,
    /// Rows inserted, updated, deleted or returned.
    pub rows_affected: u64,
    /// When the statement's writes committed: set for every implicit write statement and for
    /// COMMIT, because the test bed's oracle records it.
    pub commit_ts: Option<Timestamp>,
}

impl ExecResult {
    pub(crate) fn tag(tag: impl Into<String>) -> Self {
        ExecResult { tag: tag.into(), ..Default::default() }
    }

    pub(crate) fn count(verb: &str, n: u64) -> Self {
        ExecResult { tag: format!("{verb} {n}"), rows_affected: n, ..Default::default() }
    }
}

/// A statement's result plus what the session must do with it.
pub(crate) struct Outcome {
    pub result: ExecResult,
    /// The statement writes (its implicit transaction must commit even if the buffer is empty).
    pub write: bool,
    /// USE / SET DATABASE: the session's new current database.
    pub set_database: Option<String>,
}

impl Outcome {
    pub fn write(result: ExecResult) -> Self {
        Outcome { result, write: true, set_database: None }
    }

    pub fn read(result: ExecResult) -> Self {
        Outcome { result, write: false, set_database: None }
    }
}
