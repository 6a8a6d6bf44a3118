//! SELECT: projection or `*` from one table, view or sequence (or from nothing), WHERE,
//! ORDER BY, LIMIT / OFFSET, `count(*)`, and `AS OF SYSTEM TIME`; views run their stored query.
//! Also the public readers the test bed's oracle uses ([`read_table`]).
//!
//! Reads happen at one timestamp through one [`Kv`]: the transaction's view, or the store
//! itself at an `AS OF SYSTEM TIME` (whose catalog is read at that time too). Only `nextval`
//! writes, and only into the statement's transaction.

use super::access;
use super::context::{Ctx, ExecResult, Outcome};
use super::error::SqlError;
use super::expr::{self, NextVal, NoSequences, Scope, Subqueries, NO_SUBQUERIES};
use super::names;
use super::prepass::DIALECT;
use super::rows::{self, Row};
use super::sequence::Sequences;
use crate::catalog::{sequence_value_key, Catalog, Privilege, TableDescriptor, TableKind};
use crate::datum::Datum;
use crate::encoding;
use crate::kv::Kv;
use crate::timestamp::Timestamp;
use sqlparser::ast::{Expr, FunctionArgExpr, GroupByExpr, LimitClause, ObjectName, OrderByKind, Query, Select, SelectItem, SetExpr, TableFactor, Value};
use sqlparser::parser::Parser;
use std::cmp::Ordering;

/// Views may nest; this bounds the chain (and any cycle a corrupted catalog could hold).
const MAX_VIEW_DEPTH: usize = 32;

/// Intermediate rows with their column names.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Relation {
    pub names: Vec<String>,
    pub hidden: Vec<bool>,
    pub rows: Vec<Row>,
}

/// All rows of one relation at one timestamp, as the test bed's oracle compares them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableRows {
    /// Descriptor id of the relation read.
    pub table_id: u32,
    /// Column names, hidden columns (`rowid`) included, in column order.
    pub columns: Vec<String>,
    /// Rows in primary-key order (views: in their query's order).
    pub rows: Vec<Vec<Datum>>,
}

enum Source {
    Unit,
    Table(TableDescriptor),
    Sequence(TableDescriptor),
    /// `system.users`: the user records, read as rows.
    Users,
}

/// Parses a stored (or user) query text.
pub(crate) fn parse_query(text: &str) -> Result<Query, SqlError> {
    let mut p = Parser::new(&DIALECT).try_with_sql(text).map_err(|e| SqlError::parse(e.to_string(), None))?;
    Ok(*p.parse_query().map_err(|e| SqlError::parse(e.to_string(), None))?)
}

/// The SELECT body of a query, refusing what the subset does not do.
pub(crate) fn select_of(q: &Query) -> Result<&Select, SqlError> {
    if q.with.is_some() {
        return Err(SqlError::Unsupported("WITH".into()));
    }
    if q.fetch.is_some() || !q.locks.is_empty() || q.for_clause.is_some() || !q.pipe_operators.is_empty() {
        return Err(SqlError::Unsupported("FETCH / FOR UPDATE / pipe operators".into()));
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return Err(SqlError::Unsupported(format!("query form {}", q.body)));
    };
    if s.distinct.is_some() {
        return Err(SqlError::Unsupported("DISTINCT".into()));
    }
    if !matches!(&s.group_by, GroupByExpr::Expressions(v, _) if v.is_empty()) || s.having.is_some() {
        return Err(SqlError::Unsupported("GROUP BY / HAVING".into()));
    }
    if s.into.is_some() || s.top.is_some() || s.prewhere.is_some() || s.qualify.is_some() || !s.lateral_views.is_empty() {
        return Err(SqlError::Unsupported("this SELECT clause".into()));
    }
    Ok(s)
}

/// The one relation a query selects from, if any.
pub(crate) fn from_of(q: &Query) -> Result<Option<&ObjectName>, SqlError> {
    let s = select_of(q)?;
    match s.from.as_slice() {
        [] => Ok(None),
        [twj] if twj.joins.is_empty() => match &twj.relation {
            TableFactor::Table { name, args: None, .. } => Ok(Some(name)),
            other => Err(SqlError::Unsupported(format!("FROM {other}"))),
        },
        [_] => Err(SqlError::Unsupported("JOIN".into())),
        _ => Err(SqlError::Unsupported("selecting from more than one table".into())),
    }
}

/// Follows views down to the base relation. Returns it and the view queries met, outermost
/// first. Checks SELECT on the named relation when `user` is given.
fn resolve(cat: &Catalog, db: &str, from: Option<&ObjectName>, user: Option<&str>) -> Result<(Source, Vec<Query>), SqlError> {
    let mut chain = Vec::new();
    let Some(from) = from else { return Ok((Source::Unit, chain)) };
    let (mut d, mut n) = names::relation_of(from, db)?;
    for depth in 0..MAX_VIEW_DEPTH {
        if access::is_system_users(&d, &n) {
            if let Some(u) = user {
                access::require_on_system_users(cat, u, Privilege::Select)?;
            }
            return Ok((Source::Users, chain));
        }
        let t = access::relation(cat, &d, &n)?;
        if depth == 0 {
            if let Some(u) = user {
                access::require_on_table(cat, u, t, Privilege::Select)?;
            }
        }
        match &t.kind {
            TableKind::Table => return Ok((Source::Table(t.clone()), chain)),
            TableKind::Sequence { .. } => return Ok((Source::Sequence(t.clone()), chain)),
            TableKind::View { query, .. } => {
                let q = parse_query(query)?;
                let next = from_of(&q)?.map(names::parts).transpose()?;
                chain.push(q);
                match next {
                    None => return Ok((Source::Unit, chain)),
                    Some(parts) => {
                        let view_db = cat.database(t.parent_id).map(|x| x.name.clone()).unwrap_or_default();
                        (d, n) = names::relation(&parts, &view_db)?;
                    }
                }
            }
        }
    }
    Err(SqlError::Invalid(format!("views nested deeper than {MAX_VIEW_DEPTH} (or cyclic) under \"{n}\"")))
}

async fn read_base(kv: &dyn Kv, ts: Timestamp, src: &Source) -> Result<Relation, SqlError> {
    match src {
        Source::Unit => Ok(Relation { names: vec![], hidden: vec![], rows: vec![vec![]] }),
        Source::Table(t) => Ok(Relation {
            names: t.columns.iter().map(|c| c.name.clone()).collect(),
            hidden: t.columns.iter().map(|c| c.hidden).collect(),
            rows: rows::scan_rows(kv, t, ts).await?,
        }),
        Source::Sequence(t) => {
            let start = match t.kind {
                TableKind::Sequence { start, .. } => start,
                _ => 0,
            };
            let key = sequence_value_key(t.id);
            let row = match kv.get(&key, ts).await? {
                None => vec![Datum::Int(start), Datum::Int(0), Datum::Bool(false)],
                Some(v) => match encoding::decode_value(&v).map_err(|e| SqlError::Corrupt { key: key.to_string(), reason: e.to_string() })?.as_slice() {
                    [Datum::Int(i)] => vec![Datum::Int(*i), Datum::Int(0), Datum::Bool(true)],
                    _ => return Err(SqlError::Corrupt { key: key.to_string(), reason: "sequence value is not one integer".into() }),
                },
            };
            Ok(Relation { names: vec!["last_value".into(), "log_cnt".into(), "is_called".into()], hidden: vec![false; 3], rows: vec![row] })
        }
        Source::Users => {
            let mut rows = Vec::new();
            for (k, v) in kv.scan(&crate::catalog::users_span(), ts).await? {
                rows.push(crate::catalog::user_row(&crate::catalog::decode_user(&k, &v)?));
            }
            let names: Vec<String> = crate::catalog::USERS_COLUMNS.iter().map(|c| c.to_string()).collect();
            Ok(Relation { hidden: vec![false; names.len()], names, rows })
        }
    }
}

fn output_name(e: &Expr) -> String {
    if let Some(c) = expr::column_ref(e) {
        return c;
    }
    if let Expr::Function(f) = e {
        return f.name.to_string().to_lowercase();
    }
    "?column?".to_string()
}

fn is_count(e: &Expr) -> Option<Option<&Expr>> {
    let args = expr::call_args(e, "count")?;
    match args.as_slice() {
        [FunctionArgExpr::Wildcard] => Some(None),
        [FunctionArgExpr::Expr(x)] => Some(Some(x)),
        _ => None,
    }
}

fn const_count(e: &Expr, what: &str) -> Result<usize, SqlError> {
    match expr::eval(e, &Scope::EMPTY, &mut NoSequences)? {
        Datum::Int(i) if i >= 0 => Ok(i as usize),
        other => Err(SqlError::Type(format!("argument of {what} must be a non-negative integer, not {other}"))),
    }
}

fn sort_cmp(a: &Datum, b: &Datum) -> Ordering {
    match (a, b) {
        (Datum::Int(x), Datum::Float(y)) => (*x as f64).total_cmp(y),
        (Datum::Float(x), Datum::Int(y)) => x.total_cmp(&(*y as f64)),
        _ => a.cmp(b),
    }
}

/// Runs one SELECT over an input relation.
pub(crate) fn apply(q: &Query, input: Relation, seqs: &mut dyn NextVal, subqueries: &Subqueries) -> Result<Relation, SqlError> {
    let s = select_of(q)?;
    let names = input.names.clone();
    let mut rows = Vec::new();
    for r in input.rows {
        let keep = match &s.selection {
            Some(w) => expr::predicate(w, &Scope { names: &names, row: &r, subqueries }, seqs)?,
            None => true,
        };
        if keep {
            rows.push(r);
        }
    }
    // count(*) / count(x) only: one row.
    let counts: Option<Vec<(String, Option<&Expr>)>> = s
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) => is_count(e).map(|c| ("count".to_string(), c)),
            SelectItem::ExprWithAlias { expr, alias } => is_count(expr).map(|c| (names::ident(alias), c)),
            _ => None,
        })
        .collect();
    if let Some(counts) = counts {
        let mut out = Vec::new();
        for (_, arg) in &counts {
            let mut n = 0i64;
            for r in &rows {
                let counted = match arg {
                    None => true,
                    Some(x) => !expr::eval(x, &Scope { names: &names, row: r, subqueries }, seqs)?.is_null(),
                };
                n += counted as i64;
            }
            out.push(Datum::Int(n));
        }
        let len = counts.len();
        return Ok(Relation { names: counts.into_iter().map(|(n, _)| n).collect(), hidden: vec![false; len], rows: vec![out] });
    }
    // Output columns.
    let mut out_names = Vec::new();
    let mut out_exprs: Vec<Result<usize, &Expr>> = Vec::new();
    for item in &s.projection {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                for (i, n) in names.iter().enumerate() {
                    if !input.hidden.get(i).copied().unwrap_or(false) {
                        out_names.push(n.clone());
                        out_exprs.push(Ok(i));
                    }
                }
            }
            SelectItem::UnnamedExpr(e) => {
                out_names.push(output_name(e));
                out_exprs.push(Err(e));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                out_names.push(names::ident(alias));
                out_exprs.push(Err(expr));
            }
        }
    }
    let project = |r: &Row, seqs: &mut dyn NextVal, i: usize| -> Result<Datum, SqlError> {
        match out_exprs.get(i) {
            Some(Ok(p)) => Ok(r.get(*p).cloned().unwrap_or(Datum::Null)),
            Some(Err(e)) => expr::eval(e, &Scope { names: &names, row: r, subqueries }, seqs),
            None => Err(SqlError::Invalid(format!("ORDER BY position {} is not in select list", i + 1))),
        }
    };
    // ORDER BY: by input columns, output aliases or ordinals.
    if let Some(ob) = &q.order_by {
        let OrderByKind::Expressions(items) = &ob.kind else {
            return Err(SqlError::Unsupported("ORDER BY ALL".into()));
        };
        let mut keyed = Vec::with_capacity(rows.len());
        for r in rows {
            let mut keys = Vec::with_capacity(items.len());
            for it in items {
                let k = match &it.expr {
                    Expr::Value(v) if matches!(v.value, Value::Number(..)) => {
                        let pos = const_count(&it.expr, "ORDER BY")?;
                        project(&r, seqs, pos.wrapping_sub(1))?
                    }
                    e => match expr::eval(e, &Scope { names: &names, row: &r, subqueries }, seqs) {
                        Err(SqlError::UndefinedColumn(c)) => match out_names.iter().position(|n| *n == c) {
                            Some(i) => project(&r, seqs, i)?,
                            None => return Err(SqlError::UndefinedColumn(c)),
                        },
                        other => other?,
                    },
                };
                keys.push(k);
            }
            keyed.push((keys, r));
        }
        keyed.sort_by(|(a, _), (b, _)| {
            for (i, it) in items.iter().enumerate() {
                let (x, y) = (&a[i], &b[i]);
                let desc = it.options.asc == Some(false);
                let nulls_first = it.options.nulls_first.unwrap_or(!desc);
                let ord = match (x.is_null(), y.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => {
                        if nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (false, true) => {
                        if nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    _ => {
                        let o = sort_cmp(x, y);
                        if desc {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
        rows = keyed.into_iter().map(|(_, r)| r).collect();
    }
    let (limit, offset) = match &q.limit_clause {
        None => (None, 0),
        Some(LimitClause::LimitOffset { limit, offset, limit_by }) => {
            if !limit_by.is_empty() {
                return Err(SqlError::Unsupported("LIMIT BY".into()));
            }
            (limit.as_ref().map(|l| const_count(l, "LIMIT")).transpose()?, offset.as_ref().map(|o| const_count(&o.value, "OFFSET")).transpose()?.unwrap_or(0))
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => (Some(const_count(limit, "LIMIT")?), const_count(offset, "OFFSET")?),
    };
    let rows: Vec<Row> = rows.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).collect();
    let mut out_rows = Vec::with_capacity(rows.len());
    for r in &rows {
        out_rows.push((0..out_exprs.len()).map(|i| project(r, seqs, i)).collect::<Result<Row, _>>()?);
    }
    let n = out_names.len();
    Ok(Relation { names: out_names, hidden: vec![false; n], rows: out_rows })
}

/// Runs a query at `ts` through `kv`: base relation, view chain, then the query itself.
pub(crate) async fn evaluate(
    kv: &dyn Kv,
    ts: Timestamp,
    cat: &Catalog,
    user: Option<&str>,
    db: &str,
    q: &Query,
    seqs: &mut (dyn NextVal + Send),
) -> Result<Relation, SqlError> {
    let (src, chain) = resolve(cat, db, from_of(q)?, user)?;
    let mut rel = read_base(kv, ts, &src).await?;
    for vq in chain.iter().rev() {
        rel = apply(vq, rel, &mut NoSequences, &NO_SUBQUERIES)?;
    }
    let subqueries = read_subqueries(kv, ts, cat, user, db, q).await?;
    apply(q, rel, seqs, &subqueries)
}

/// The `IN (SELECT …)` subqueries of a query's projection and WHERE clause (not inside another
/// subquery: each level reads its own).
fn subqueries_of(q: &Query) -> Result<Vec<&Query>, SqlError> {
    fn walk<'q>(e: &'q Expr, out: &mut Vec<&'q Query>) {
        match e {
            Expr::InSubquery { expr, subquery, .. } => {
                walk(expr, out);
                out.push(subquery);
            }
            Expr::BinaryOp { left, right, .. } => {
                walk(left, out);
                walk(right, out);
            }
            Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::IsNull(expr) | Expr::IsNotNull(expr) | Expr::Cast { expr, .. } => walk(expr, out),
            Expr::InList { expr, list, .. } => {
                walk(expr, out);
                list.iter().for_each(|x| walk(x, out));
            }
            Expr::Between { expr, low, high, .. } => {
                walk(expr, out);
                walk(low, out);
                walk(high, out);
            }
            _ => {}
        }
    }
    let s = select_of(q)?;
    let mut out = Vec::new();
    for item in &s.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            walk(e, &mut out);
        }
    }
    if let Some(w) = &s.selection {
        walk(w, &mut out);
    }
    Ok(out)
}

/// True when a query holds an `IN (SELECT …)` subquery.
pub(crate) fn has_subquery(q: &Query) -> Result<bool, SqlError> {
    Ok(!subqueries_of(q)?.is_empty())
}

/// Reads each uncorrelated subquery of `q` once, at the statement's timestamp through the same
/// `kv`, as the user (who needs SELECT on what it reads). A subquery must give one column:
/// `x IN (SELECT a, b …)` is PostgreSQL's and CockroachDB's error, not a guess.
async fn read_subqueries(kv: &dyn Kv, ts: Timestamp, cat: &Catalog, user: Option<&str>, db: &str, q: &Query) -> Result<Subqueries, SqlError> {
    let mut out = Subqueries::new();
    for sub in subqueries_of(q)? {
        let key = sub.to_string();
        if out.contains_key(&key) {
            continue;
        }
        let rel = Box::pin(evaluate(kv, ts, cat, user, db, sub, &mut NoSequences)).await?;
        if rel.names.len() != 1 {
            return Err(SqlError::Invalid(format!("subquery must return only one column, found {}", rel.names.len())));
        }
        out.insert(key, rel.rows.into_iter().map(|mut r| r.pop().unwrap_or(Datum::Null)).collect());
    }
    Ok(out)
}

/// Sequence names used by `nextval` in a query's projection and WHERE clause.
fn nextval_names(q: &Query) -> Result<Vec<Vec<String>>, SqlError> {
    let s = select_of(q)?;
    let mut out = Vec::new();
    for item in &s.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            expr::nextval_names(e, &mut out)?;
        }
    }
    if let Some(w) = &s.selection {
        expr::nextval_names(w, &mut out)?;
    }
    Ok(out)
}

/// Runs a query inside the statement's transaction (INSERT ... SELECT, view validation).
pub(crate) async fn query_in_txn(ctx: &mut Ctx<'_>, cat: &Catalog, q: &Query) -> Result<(Relation, bool), SqlError> {
    let names = nextval_names(q)?;
    let mut seqs = Sequences::default();
    seqs.load_names(ctx.txn, cat, ctx.user, ctx.database, &names).await?;
    let rel = evaluate(&ctx.txn.view(), ctx.txn.read_ts, cat, Some(ctx.user), ctx.database, q, &mut seqs).await?;
    seqs.flush(ctx.txn);
    Ok((rel, !names.is_empty()))
}

/// A SELECT statement.
pub(crate) async fn run_select(ctx: &mut Ctx<'_>, q: &Query, as_of: Option<&str>) -> Result<Outcome, SqlError> {
    let (rel, wrote) = match as_of {
        Some(text) => {
            if ctx.explicit {
                return Err(SqlError::Invalid("AS OF SYSTEM TIME must be provided on a top-level statement, not inside BEGIN ... COMMIT".into()));
            }
            if !nextval_names(q)?.is_empty() {
                return Err(SqlError::Unsupported("nextval with AS OF SYSTEM TIME".into()));
            }
            let kv = ctx.txn.kv.clone();
            let ts = Timestamp::parse_as_of(text, kv.now())?;
            let cat = Catalog::read(&*kv, ts).await?;
            (evaluate(&*kv, ts, &cat, Some(ctx.user), ctx.database, q, &mut NoSequences).await?, false)
        }
        None => {
            let cat = ctx.catalog().await?;
            query_in_txn(ctx, &cat, q).await?
        }
    };
    let n = rel.rows.len() as u64;
    let result = ExecResult { tag: format!("SELECT {n}"), columns: rel.names, rows: rel.rows, rows_affected: n, commit_ts: None };
    Ok(if wrote { Outcome::write(result) } else { Outcome::read(result) })
}

async fn read_descriptor(kv: &dyn Kv, cat: &Catalog, t: &TableDescriptor, ts: Timestamp) -> Result<TableRows, SqlError> {
    let rel = match &t.kind {
        TableKind::Table => read_base(kv, ts, &Source::Table(t.clone())).await?,
        TableKind::Sequence { .. } => read_base(kv, ts, &Source::Sequence(t.clone())).await?,
        TableKind::View { query, .. } => {
            let q = parse_query(query)?;
            let db = cat.database(t.parent_id).map(|d| d.name.clone()).unwrap_or_default();
            evaluate(kv, ts, cat, None, &db, &q, &mut NoSequences).await?
        }
    };
    Ok(TableRows { table_id: t.id, columns: rel.names, rows: rel.rows })
}

/// Every row of relation `database.table` as of `ts` (tables: all columns, hidden ones too, in
/// primary-key order; views: their query's result; sequences: their state), with no privilege
/// check: this is the oracle's reader, not a user's.
pub async fn read_table(kv: &dyn Kv, database: &str, table: &str, ts: Timestamp) -> Result<TableRows, SqlError> {
    let cat = Catalog::read(kv, ts).await?;
    let t = access::relation(&cat, database, table)?;
    read_descriptor(kv, &cat, t, ts).await
}

/// [`read_table`] by descriptor id (public or dropped descriptors alike).
pub async fn read_table_by_id(kv: &dyn Kv, table_id: u32, ts: Timestamp) -> Result<TableRows, SqlError> {
    let cat = Catalog::read(kv, ts).await?;
    let t = cat.table(table_id).ok_or_else(|| SqlError::UndefinedRelation(format!("[{table_id}]")))?;
    read_descriptor(kv, &cat, t, ts).await
}
