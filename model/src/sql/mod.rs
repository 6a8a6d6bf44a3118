//! The SQL subset: statements parsed with `sqlparser` (PostgreSQL dialect) plus a token-level
//! pre-pass for CockroachDB's extensions, executed against any [`crate::kv::Kv`].
//!
//! Holds the [`Session`] (implicit and explicit transactions), DDL that writes descriptors into
//! system keyspace, DML over the row layout of [`rows`], SELECT with `AS OF SYSTEM TIME`, and
//! the oracle's readers. It never parses SQL by hand, never handles BACKUP / RESTORE / job
//! statements (they are refused with [`SqlError::NotSqlLayer`] for the `backup` crate to
//! intercept), never stores or echoes a password, and never reads the wall clock.

mod access;
mod alter;
mod context;
mod create;
mod dml;
mod drop;
mod error;
mod expr;
mod fk;
mod names;
mod prepass;
mod rows;
mod schema;
mod select;
mod sequence;
mod session;
mod show_create;
mod txn;
mod users;

#[cfg(test)]
mod tests;

pub use context::ExecResult;
pub use error::SqlError;
pub use prepass::{bulk_statement_kind, split_statements};
pub use rows::row_entries;
pub use select::{read_table, read_table_by_id, TableRows};
pub use session::{Session, MAX_IMPLICIT_RETRIES};
pub use show_create::{create_statement, quote_ident};
