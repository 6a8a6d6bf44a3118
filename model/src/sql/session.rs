//! [`Session`]: one SQL connection. Runs statements, implicit transactions (retried
//! automatically on conflicts, up to a bound) and explicit ones (BEGIN ... COMMIT, writes
//! buffered in the session, one `Kv::commit` at COMMIT, poisoned by any error until ROLLBACK).
//!
//! The session never reads the wall clock (time comes from the KV layer) and never spawns work.

use super::alter;
use super::context::{Ctx, ExecResult, Outcome};
use super::create;
use super::dml;
use super::drop;
use super::error::SqlError;
use super::names;
use super::prepass::{self, Extensions, Prepared};
use super::rows::RowIdGen;
use super::select::{self, TableRows};
use super::txn::Txn;
use super::users;
use crate::catalog::{Catalog, DEFAULT_DATABASE, ROOT_USER};
use crate::datum::Datum;
use crate::kv::Kv;
use crate::timestamp::Timestamp;
use sqlparser::ast::{CreateTableOptions, ObjectName, Set, ShowStatementIn, ShowStatementInParentType, ShowStatementOptions, Statement, Use};
use std::sync::Arc;

/// How many times an implicit statement is retried after losing a write-write conflict.
pub const MAX_IMPLICIT_RETRIES: usize = 10;

struct Explicit {
    txn: Txn,
    failed: bool,
}

/// A SQL session: user, current database and explicit-transaction state over a KV handle.
pub struct Session {
    kv: Arc<dyn Kv>,
    user: String,
    database: String,
    txn: Option<Explicit>,
    rowids: RowIdGen,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("user", &self.user).field("database", &self.database).field("in_transaction", &self.txn.is_some()).finish()
    }
}

impl Session {
    /// A session for `user` in `defaultdb`.
    pub fn new(kv: Arc<dyn Kv>, user: impl Into<String>) -> Self {
        Session { kv, user: user.into(), database: DEFAULT_DATABASE.to_string(), txn: None, rowids: RowIdGen::default() }
    }

    /// A session for `root`.
    pub fn root(kv: Arc<dyn Kv>) -> Self {
        Self::new(kv, ROOT_USER)
    }

    /// True inside BEGIN ... COMMIT / ROLLBACK.
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }

    /// The session user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The current database.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Switches the session user (what `cockroach sql --user` would pick at connect time).
    pub fn set_user(&mut self, user: impl Into<String>) {
        self.user = user.into();
    }

    /// Switches the current database without checking that it exists (USE checks).
    pub fn set_database(&mut self, database: impl Into<String>) {
        self.database = database.into();
    }

    /// The KV handle the session runs on.
    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    /// Runs exactly one statement.
    pub async fn execute(&mut self, sql: &str) -> Result<ExecResult, SqlError> {
        let prepared = match prepass::prepare_script(sql) {
            Ok(p) => p,
            Err(e) => return Err(self.fail(e)),
        };
        let mut it = prepared.into_iter();
        match (it.next(), it.next()) {
            (Some(p), None) => self.run(p).await,
            (None, _) => Ok(ExecResult::default()),
            (Some(_), Some(_)) => Err(SqlError::Invalid("execute takes one statement; use execute_script for several".into())),
        }
    }

    /// Runs `;`-separated statements in order, stopping at the first error.
    pub async fn execute_script(&mut self, sql: &str) -> Result<Vec<ExecResult>, SqlError> {
        let prepared = match prepass::prepare_script(sql) {
            Ok(p) => p,
            Err(e) => return Err(self.fail(e)),
        };
        let mut out = Vec::with_capacity(prepared.len());
        for p in prepared {
            out.push(self.run(p).await?);
        }
        Ok(out)
    }

    /// All rows of `database.table` as of `ts`; see [`select::read_table`].
    pub async fn read_table(&self, database: &str, table: &str, ts: Timestamp) -> Result<TableRows, SqlError> {
        select::read_table(&*self.kv, database, table, ts).await
    }

    /// The catalog as of `ts`.
    pub async fn catalog(&self, ts: Timestamp) -> Result<Catalog, SqlError> {
        Ok(Catalog::read(&*self.kv, ts).await?)
    }

    /// Poisons an open explicit transaction.
    fn fail(&mut self, e: SqlError) -> SqlError {
        if let Some(t) = &mut self.txn {
            t.failed = true;
        }
        e
    }

    async fn run(&mut self, p: Prepared) -> Result<ExecResult, SqlError> {
        if let Prepared::Statement { stmt, .. } = &p {
            match stmt.as_ref() {
                Statement::StartTransaction { .. } => {
                    if self.txn.is_some() {
                        return Err(self.fail(SqlError::AlreadyInTransaction));
                    }
                    self.txn = Some(Explicit { txn: Txn::begin(self.kv.clone()), failed: false });
                    return Ok(ExecResult::tag("BEGIN"));
                }
                Statement::Commit { .. } => {
                    let t = self.txn.take().ok_or(SqlError::NoTransaction)?;
                    if t.failed {
                        return Err(SqlError::InFailedTransaction);
                    }
                    let ts = t.txn.commit().await?;
                    return Ok(ExecResult { tag: "COMMIT".into(), commit_ts: Some(ts), ..Default::default() });
                }
                Statement::Rollback { savepoint: None, .. } => {
                    self.txn.take().ok_or(SqlError::NoTransaction)?;
                    return Ok(ExecResult::tag("ROLLBACK"));
                }
                _ => {}
            }
        }
        if let Some(mut t) = self.txn.take() {
            if t.failed {
                self.txn = Some(t);
                return Err(SqlError::InFailedTransaction);
            }
            let res = {
                let mut ctx = Ctx { txn: &mut t.txn, user: &self.user, database: &self.database, rowids: &mut self.rowids, explicit: true };
                exec(&mut ctx, &p).await
            };
            self.txn = Some(t);
            return match res {
                Ok(out) => {
                    if let Some(db) = out.set_database {
                        self.database = db;
                    }
                    Ok(out.result)
                }
                Err(e) => Err(self.fail(e)),
            };
        }
        let mut attempt = 0;
        loop {
            let mut txn = Txn::begin(self.kv.clone());
            let res = {
                let mut ctx = Ctx { txn: &mut txn, user: &self.user, database: &self.database, rowids: &mut self.rowids, explicit: false };
                exec(&mut ctx, &p).await
            };
            let err = match res {
                Ok(mut out) => {
                    if out.write || !txn.writes.is_empty() {
                        match txn.commit().await {
                            Ok(ts) => out.result.commit_ts = Some(ts),
                            Err(e) => {
                                let e = SqlError::from(e);
                                if matches!(e, SqlError::TxnAborted(_)) && attempt < MAX_IMPLICIT_RETRIES {
                                    attempt += 1;
                                    continue;
                                }
                                return Err(e);
                            }
                        }
                    }
                    if let Some(db) = out.set_database {
                        self.database = db;
                    }
                    return Ok(out.result);
                }
                Err(e) => e,
            };
            if matches!(err, SqlError::TxnAborted(_)) && attempt < MAX_IMPLICIT_RETRIES {
                attempt += 1;
                continue;
            }
            return Err(err);
        }
    }
}

async fn set_database(ctx: &mut Ctx<'_>, name: &ObjectName) -> Result<Outcome, SqlError> {
    let name = names::single(name)?;
    let cat = ctx.catalog().await?;
    super::access::database(&cat, &name)?;
    Ok(Outcome { result: ExecResult::tag("SET"), write: false, set_database: Some(name) })
}

fn listing(column: &str, mut names: Vec<String>) -> Outcome {
    names.sort();
    let n = names.len() as u64;
    Outcome::read(ExecResult {
        tag: format!("SHOW {n}"),
        columns: vec![column.to_string()],
        rows: names.into_iter().map(|s| vec![Datum::String(s)]).collect(),
        rows_affected: n,
        commit_ts: None,
    })
}

fn no_extensions(ext: &Extensions, head: &str) -> Result<(), SqlError> {
    if ext.as_of.is_some() {
        return Err(SqlError::Unsupported(format!("AS OF SYSTEM TIME in {head}")));
    }
    if ext.interleave.is_some() {
        return Err(SqlError::Unsupported(format!("INTERLEAVE IN PARENT in {head}")));
    }
    Ok(())
}

/// Refuses the filters of a SHOW statement (`LIKE`, `STARTS WITH`, `LIMIT`, `WHERE`) rather than
/// ignoring them, which would list more than was asked for.
fn no_filters(options: &ShowStatementOptions, what: &str) -> Result<(), SqlError> {
    if options.starts_with.is_some() || options.limit.is_some() || options.limit_from.is_some() || options.filter_position.is_some() {
        return Err(SqlError::Unsupported(format!("LIKE / STARTS WITH / LIMIT / WHERE in {what}")));
    }
    Ok(())
}

/// The database `SHOW TABLES [FROM | IN name]` lists, resolved as CockroachDB does: no name is
/// the session's database; `db` or `DATABASE db` a database; `public` the session database's
/// public schema; `db.public` that database's. Only the public schema exists, so any other
/// schema name is an error naming it; a database that does not exist is one too (the
/// caller's lookup names it).
fn show_tables_database(cat: &Catalog, current: &str, show_in: Option<&ShowStatementIn>) -> Result<String, SqlError> {
    let Some(show_in) = show_in else { return Ok(current.to_string()) };
    let Some(name) = &show_in.parent_name else {
        return Err(SqlError::Invalid("SHOW TABLES FROM needs a database or schema name".into()));
    };
    let parts = names::parts(name)?;
    match (show_in.parent_type.as_ref(), parts.as_slice()) {
        (Some(ShowStatementInParentType::Database), [db]) => Ok(db.clone()),
        // CockroachDB reads a single name as a database first, then as a schema of the
        // current database.
        (None, [db]) if db == "public" && cat.database_by_name(db).is_none() => Ok(current.to_string()),
        (None, [db]) => Ok(db.clone()),
        (None | Some(ShowStatementInParentType::Schema), [db, schema]) => {
            if schema != "public" {
                return Err(SqlError::Invalid(format!("schema \"{db}.{schema}\" does not exist (only the public schema is supported)")));
            }
            Ok(db.clone())
        }
        (Some(ShowStatementInParentType::Schema), [schema]) => {
            if schema != "public" {
                return Err(SqlError::Invalid(format!("schema \"{schema}\" does not exist (only the public schema is supported)")));
            }
            Ok(current.to_string())
        }
        _ => Err(SqlError::Unsupported(format!("SHOW TABLES {show_in}"))),
    }
}

/// Runs one prepared statement inside `ctx`'s transaction.
async fn exec(ctx: &mut Ctx<'_>, p: &Prepared) -> Result<Outcome, SqlError> {
    let (stmt, ext, head) = match p {
        Prepared::ConfigureZone { target, ttl_seconds } => return alter::configure_zone(ctx, target, *ttl_seconds).await,
        Prepared::RoleGrant { roles, members, revoke } => return users::role_grant(ctx, roles, members, *revoke).await,
        Prepared::Statement { stmt, ext, head } => (stmt.as_ref(), ext, head.as_str()),
    };
    if !matches!(stmt, Statement::Query(_)) && ext.as_of.is_some() {
        return Err(SqlError::Unsupported(format!("AS OF SYSTEM TIME in {head}")));
    }
    if !matches!(stmt, Statement::CreateTable(_)) && ext.interleave.is_some() {
        return Err(SqlError::Unsupported(format!("INTERLEAVE IN PARENT in {head}")));
    }
    match stmt {
        Statement::Query(q) => select::run_select(ctx, q, ext.as_of.as_deref()).await,
        Statement::Insert(ins) => dml::insert(ctx, ins, ext.upsert).await,
        Statement::Update { table, assignments, from, selection, returning, or, limit } => {
            let unsupported = from.is_some() || returning.is_some() || or.is_some() || limit.is_some();
            dml::update(ctx, table, assignments, selection.as_ref(), unsupported).await
        }
        Statement::Delete(d) => dml::delete(ctx, d).await,
        Statement::CreateDatabase { db_name, if_not_exists, .. } => create::create_database(ctx, db_name, *if_not_exists).await,
        Statement::CreateTable(ct) => create::create_table(ctx, ct, ext.interleave.as_ref()).await,
        Statement::CreateIndex(ci) => create::create_index(ctx, ci).await,
        Statement::CreateView { name, query, or_replace, or_alter, materialized, columns, options, to, temporary, .. } => {
            let unsupported =
                *or_replace || *or_alter || *materialized || !columns.is_empty() || *temporary || to.is_some() || !matches!(options, CreateTableOptions::None);
            create::create_view(ctx, name, query, unsupported).await
        }
        Statement::CreateSequence { temporary, if_not_exists, name, sequence_options, owned_by, .. } => {
            create::create_sequence(ctx, name, *if_not_exists, sequence_options, *temporary || owned_by.is_some()).await
        }
        Statement::CreateRole { names, if_not_exists, password, in_role, in_group, role, user, admin, .. } => {
            if !(in_role.is_empty() && in_group.is_empty() && role.is_empty() && user.is_empty() && admin.is_empty()) {
                return Err(SqlError::Unsupported("role membership clauses in CREATE ROLE (use GRANT role TO user)".into()));
            }
            users::create_user(ctx, names, *if_not_exists, password.as_ref(), !ext.create_user).await
        }
        Statement::Grant { privileges, objects, grantees, .. } => users::grant(ctx, privileges, objects.as_ref(), grantees, false).await,
        Statement::Revoke { privileges, objects, grantees, .. } => users::grant(ctx, privileges, objects.as_ref(), grantees, true).await,
        Statement::Drop { object_type, if_exists, names, cascade, .. } => drop::drop(ctx, object_type, names, *if_exists, *cascade).await,
        Statement::Truncate { table_names, cascade, partitions: None, .. } => {
            let targets: Vec<ObjectName> = table_names.iter().map(|t| t.name.clone()).collect();
            let cascade = matches!(cascade, Some(sqlparser::ast::CascadeOption::Cascade));
            drop::truncate(ctx, &targets, cascade).await
        }
        Statement::AlterTable { name, if_exists, operations, .. } => alter::alter_table(ctx, name, *if_exists, operations).await,
        Statement::Use(Use::Object(n) | Use::Database(n)) => set_database(ctx, n).await,
        Statement::Set(Set::SingleAssignment { variable, values, .. }) if variable.to_string().eq_ignore_ascii_case("database") => match values.as_slice() {
            [sqlparser::ast::Expr::Identifier(i)] => set_database(ctx, &ObjectName::from(vec![i.clone()])).await,
            [sqlparser::ast::Expr::Value(v)] => match &v.value {
                sqlparser::ast::Value::SingleQuotedString(s) => set_database(ctx, &ObjectName::from(vec![sqlparser::ast::Ident::with_quote('"', s)])).await,
                _ => Err(SqlError::Invalid("SET DATABASE takes a database name".into())),
            },
            _ => Err(SqlError::Invalid("SET DATABASE takes a database name".into())),
        },
        Statement::ShowTables { terse, history, extended, full, external, show_options } => {
            no_extensions(ext, head)?;
            if *terse || *history || *extended || *full || *external {
                return Err(SqlError::Unsupported("SHOW TERSE / HISTORY / EXTENDED / FULL / EXTERNAL TABLES".into()));
            }
            no_filters(show_options, "SHOW TABLES")?;
            let cat = ctx.catalog().await?;
            let db_name = show_tables_database(&cat, ctx.database, show_options.show_in.as_ref())?;
            let db = crate::sql::access::database(&cat, &db_name)?;
            Ok(listing("table_name", cat.tables_in(db.id).iter().map(|t| t.name.clone()).collect()))
        }
        Statement::ShowDatabases { terse, history, show_options } => {
            no_extensions(ext, head)?;
            if *terse || *history {
                return Err(SqlError::Unsupported("SHOW TERSE / HISTORY DATABASES".into()));
            }
            no_filters(show_options, "SHOW DATABASES")?;
            if show_options.show_in.is_some() {
                return Err(SqlError::Unsupported("SHOW DATABASES IN / FROM".into()));
            }
            let cat = ctx.catalog().await?;
            Ok(listing("database_name", cat.databases().iter().filter(|d| !d.offline).map(|d| d.name.clone()).collect()))
        }
        _ => Err(SqlError::Unsupported(format!("statement {head}"))),
    }
}
