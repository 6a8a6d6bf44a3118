//! INSERT, UPSERT, UPDATE and DELETE: rows built and type-checked against the descriptor,
//! written with their index entries into the statement's transaction, then checked against
//! unique indexes and foreign keys. Nothing is committed here.

use super::access;
use super::context::{Ctx, ExecResult, Outcome};
use super::error::SqlError;
use super::expr::{self, Scope};
use super::fk;
use super::names;
use super::rows::{self, Row};
use super::select;
use super::sequence::Sequences;
use crate::catalog::{Column, DefaultExpr, Privilege, TableDescriptor};
use crate::datum::Datum;
use sqlparser::ast::{Assignment, AssignmentTarget, Delete, Expr, FromTable, Insert, SetExpr, TableFactor, TableObject, TableWithJoins};

/// A column's default value for a new row.
pub(crate) fn default_value(ctx: &mut Ctx<'_>, c: &Column, seqs: &mut Sequences) -> Result<Datum, SqlError> {
    Ok(match &c.default {
        None => Datum::Null,
        Some(DefaultExpr::Literal(d)) => d.clone(),
        Some(DefaultExpr::Nextval(id)) => Datum::Int(seqs.next(*id)?),
        Some(DefaultExpr::UniqueRowId) => Datum::Int(ctx.rowids.next(ctx.txn.kv.now())),
    })
}

/// Loads the sequences used by `desc`'s column defaults.
async fn load_default_sequences(ctx: &mut Ctx<'_>, cat: &crate::catalog::Catalog, desc: &TableDescriptor, seqs: &mut Sequences) -> Result<(), SqlError> {
    for (id, _) in desc.sequences_used() {
        seqs.load_id(ctx.txn, cat, ctx.user, id).await?;
    }
    Ok(())
}

fn check_not_null(desc: &TableDescriptor, row: &[Datum]) -> Result<(), SqlError> {
    for (c, d) in desc.columns.iter().zip(row) {
        if !c.nullable && d.is_null() {
            return Err(SqlError::NotNullViolation(c.name.clone()));
        }
    }
    Ok(())
}

fn is_default_keyword(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

/// INSERT (or UPSERT: insert-or-replace by primary key, unnamed columns keeping their values).
/// The rows come from VALUES or from any SELECT of the subset (`INSERT INTO t SELECT …`),
/// read in the statement's own transaction; `system.users` takes user records
/// ([`insert_users`]).
pub(crate) async fn insert(ctx: &mut Ctx<'_>, ins: &Insert, upsert: bool) -> Result<Outcome, SqlError> {
    if ins.on.is_some() || ins.returning.is_some() || ins.or.is_some() || ins.ignore || ins.overwrite || ins.partitioned.is_some() {
        return Err(SqlError::Unsupported("ON CONFLICT / RETURNING / INSERT options".into()));
    }
    let TableObject::TableName(name) = &ins.table else {
        return Err(SqlError::Unsupported("INSERT into a table function".into()));
    };
    let cat = ctx.catalog().await?;
    let (db, tname) = names::relation_of(name, ctx.database)?;
    if access::is_system_users(&db, &tname) {
        return insert_users(ctx, &cat, ins, upsert).await;
    }
    let desc = access::table(&cat, &db, &tname)?.clone();
    access::require_on_table(&cat, ctx.user, &desc, Privilege::Insert)?;
    if upsert {
        access::require_on_table(&cat, ctx.user, &desc, Privilege::Update)?;
    }
    let mut seqs = Sequences::default();
    load_default_sequences(ctx, &cat, &desc, &mut seqs).await?;
    let (targets, provided) = source_rows(ctx, &cat, &desc, ins, &mut seqs).await?;
    let mut written: Vec<Row> = Vec::new();
    let mut replaced: Vec<Row> = Vec::new();
    let rowid_pk = desc.primary_key.len() == 1 && desc.column(desc.primary_key[0]).is_some_and(|c| matches!(c.default, Some(DefaultExpr::UniqueRowId)));
    for vals in provided {
        let (mut row, given) = build_row(ctx, &desc, &targets, vals, &mut seqs)?;
        let mut key = rows::primary_key(&desc, &row);
        let mut existing = rows::get_row(ctx.txn, &desc, &key).await?;
        // A generated rowid that collides (another node, same tick) is simply drawn again.
        let mut tries = 0;
        while existing.is_some() && rowid_pk && !given[desc.column_position(desc.primary_key[0]).unwrap_or(0)] && tries < 16 {
            let p = desc.column_position(desc.primary_key[0]).unwrap_or(0);
            row[p] = Datum::Int(ctx.rowids.next(ctx.txn.kv.now()));
            key = rows::primary_key(&desc, &row);
            existing = rows::get_row(ctx.txn, &desc, &key).await?;
            tries += 1;
        }
        match existing {
            Some(old) if upsert => {
                // Unnamed columns keep their stored values.
                for (p, g) in given.iter().enumerate() {
                    if !g {
                        row[p] = old[p].clone();
                    }
                }
                check_not_null(&desc, &row)?;
                rows::check_unique(ctx.txn, &desc, &row).await?;
                rows::write_row(ctx.txn, &desc, Some(&old), &row);
                replaced.push(old);
            }
            Some(_) => {
                let pk = rows::pk_datums(&desc, &row);
                return Err(SqlError::UniqueViolation {
                    constraint: desc.primary_index().map(|i| i.name.clone()).unwrap_or_else(|| "primary".into()),
                    detail: format!("key {} already exists", rows::describe_key(&desc, &desc.primary_key, &pk)),
                });
            }
            None => {
                check_not_null(&desc, &row)?;
                rows::check_unique(ctx.txn, &desc, &row).await?;
                rows::write_row(ctx.txn, &desc, None, &row);
            }
        }
        written.push(row);
    }
    let op = if upsert { "upsert" } else { "insert" };
    fk::check_outgoing(ctx.txn, &cat, &desc, &written, op).await?;
    fk::check_incoming(ctx.txn, &cat, &desc, &replaced, op).await?;
    seqs.flush(ctx.txn);
    Ok(Outcome::write(ExecResult::count("INSERT", written.len() as u64)))
}

/// The target columns of an INSERT (as positions in `desc`'s rows: the named ones, or every
/// visible column) and its source rows, one `Some(value)` per target given, `None` for
/// DEFAULT: from VALUES, or from a SELECT run in the statement's transaction (so it sees the
/// transaction's own writes, and reads as the user).
async fn source_rows(
    ctx: &mut Ctx<'_>,
    cat: &crate::catalog::Catalog,
    desc: &TableDescriptor,
    ins: &Insert,
    seqs: &mut Sequences,
) -> Result<(Vec<usize>, Vec<Vec<Option<Datum>>>), SqlError> {
    let targets: Vec<usize> = if ins.columns.is_empty() {
        desc.columns.iter().enumerate().filter(|(_, c)| !c.hidden).map(|(i, _)| i).collect()
    } else {
        let mut v = Vec::new();
        for c in &ins.columns {
            let n = names::ident(c);
            let p = desc.columns.iter().position(|x| x.name == n).ok_or_else(|| SqlError::UndefinedColumn(n.clone()))?;
            if v.contains(&p) {
                return Err(SqlError::Invalid(format!("multiple assignments to the same column \"{n}\"")));
            }
            v.push(p);
        }
        v
    };
    let source = ins.source.as_ref().ok_or_else(|| SqlError::Unsupported("INSERT without VALUES or SELECT".into()))?;
    let mut provided: Vec<Vec<Option<Datum>>> = Vec::new();
    if let SetExpr::Values(values) = source.body.as_ref() {
        if source.order_by.is_some() || source.limit_clause.is_some() {
            return Err(SqlError::Unsupported("ORDER BY / LIMIT on VALUES".into()));
        }
        let mut names_used = Vec::new();
        for row in &values.rows {
            for e in row {
                expr::nextval_names(e, &mut names_used)?;
            }
        }
        seqs.load_names(ctx.txn, cat, ctx.user, ctx.database, &names_used).await?;
        for row in &values.rows {
            let mut out = Vec::with_capacity(row.len());
            for e in row {
                out.push(if is_default_keyword(e) { None } else { Some(expr::eval(e, &Scope::EMPTY, seqs)?) });
            }
            provided.push(out);
        }
    } else {
        let (rel, _) = select::query_in_txn(ctx, cat, source).await?;
        // Counted on the SELECT's columns, not its rows, so that a SELECT of no rows is
        // refused too: its shape is wrong whatever it returns.
        check_width(rel.names.len(), targets.len(), !ins.columns.is_empty())?;
        provided = rel.rows.into_iter().map(|r| r.into_iter().map(Some).collect()).collect();
    }
    for vals in &provided {
        check_width(vals.len(), targets.len(), !ins.columns.is_empty())?;
    }
    Ok((targets, provided))
}

/// Refuses a source row wider than the target columns, and, when the columns are named, one
/// narrower than them (PostgreSQL's and CockroachDB's rule: without a column list, the
/// columns left over take their defaults).
fn check_width(given: usize, targets: usize, named: bool) -> Result<(), SqlError> {
    if given > targets {
        return Err(SqlError::Invalid(format!("INSERT has more expressions than target columns, {given} expressions for {targets} targets")));
    }
    if named && given < targets {
        return Err(SqlError::Invalid(format!("INSERT has more target columns than expressions, {given} expressions for {targets} targets")));
    }
    Ok(())
}

/// One source row as a full row of `desc`: each given value coerced to its column's type, every
/// other column its default. Also says which columns were given.
fn build_row(
    ctx: &mut Ctx<'_>,
    desc: &TableDescriptor,
    targets: &[usize],
    vals: Vec<Option<Datum>>,
    seqs: &mut Sequences,
) -> Result<(Row, Vec<bool>), SqlError> {
    let mut given = vec![false; desc.columns.len()];
    let mut row = vec![Datum::Null; desc.columns.len()];
    for (i, v) in vals.into_iter().enumerate() {
        let p = targets[i];
        if let Some(v) = v {
            row[p] = expr::coerce(v, desc.columns[p].ty, &desc.columns[p].name)?;
            given[p] = true;
        }
    }
    for (p, c) in desc.columns.iter().enumerate() {
        if !given[p] {
            row[p] = default_value(ctx, c, seqs)?;
        }
    }
    Ok((row, given))
}

/// INSERT INTO system.users: each row becomes a user record (admins only, as CockroachDB grants
/// the table). A name already taken (before the statement or earlier in it) is the primary
/// key's unique violation, as CockroachDB reports it, so `INSERT … SELECT * FROM newdb.users`
/// of a backup that holds `root` fails whole unless filtered (`WHERE username NOT IN (SELECT
/// username FROM system.users)`). UPSERT is refused: it would rewrite `root` or `admin`.
async fn insert_users(ctx: &mut Ctx<'_>, cat: &crate::catalog::Catalog, ins: &Insert, upsert: bool) -> Result<Outcome, SqlError> {
    if upsert {
        return Err(SqlError::Unsupported("UPSERT INTO system.users (INSERT adds users; CREATE / DROP USER change them)".into()));
    }
    access::require_on_system_users(cat, ctx.user, Privilege::Insert)?;
    let desc = crate::catalog::users_table();
    let mut seqs = Sequences::default();
    let (targets, provided) = source_rows(ctx, cat, &desc, ins, &mut seqs).await?;
    let mut added: Vec<String> = Vec::new();
    for vals in provided {
        let (row, _) = build_row(ctx, &desc, &targets, vals, &mut seqs)?;
        check_not_null(&desc, &row)?;
        let user = crate::catalog::user_from_row(&row).map_err(SqlError::Invalid)?;
        if cat.user(&user.name).is_some() || added.contains(&user.name) {
            return Err(SqlError::UniqueViolation {
                constraint: "primary".into(),
                detail: format!("key {} already exists", rows::describe_key(&desc, &desc.primary_key, &[Datum::String(user.name.clone())])),
            });
        }
        super::schema::apply(ctx.txn, crate::catalog::user_write(&user));
        added.push(user.name);
    }
    Ok(Outcome::write(ExecResult::count("INSERT", added.len() as u64)))
}

fn single_table(t: &TableWithJoins) -> Result<&sqlparser::ast::ObjectName, SqlError> {
    if !t.joins.is_empty() {
        return Err(SqlError::Unsupported("JOIN in UPDATE / DELETE".into()));
    }
    match &t.relation {
        TableFactor::Table { name, args: None, .. } => Ok(name),
        other => Err(SqlError::Unsupported(format!("target {other}"))),
    }
}

/// The rows of `desc` matching `selection`, as the transaction sees them.
async fn matching_rows(ctx: &mut Ctx<'_>, desc: &TableDescriptor, selection: Option<&Expr>, seqs: &mut Sequences) -> Result<Vec<Row>, SqlError> {
    let names: Vec<String> = desc.columns.iter().map(|c| c.name.clone()).collect();
    let mut out = Vec::new();
    for r in rows::scan_txn(ctx.txn, desc).await? {
        let keep = match selection {
            Some(w) => expr::predicate(w, &Scope::row(&names, &r), seqs)?,
            None => true,
        };
        if keep {
            out.push(r);
        }
    }
    Ok(out)
}

/// UPDATE t SET c = expr, ... [WHERE ...].
pub(crate) async fn update(
    ctx: &mut Ctx<'_>,
    table: &TableWithJoins,
    assignments: &[Assignment],
    selection: Option<&Expr>,
    unsupported: bool,
) -> Result<Outcome, SqlError> {
    if unsupported {
        return Err(SqlError::Unsupported("UPDATE ... FROM / RETURNING / LIMIT".into()));
    }
    let cat = ctx.catalog().await?;
    let (db, tname) = names::relation_of(single_table(table)?, ctx.database)?;
    let desc = access::table(&cat, &db, &tname)?.clone();
    access::require_on_table(&cat, ctx.user, &desc, Privilege::Update)?;
    let mut sets: Vec<(usize, &Expr)> = Vec::new();
    let mut seq_names = Vec::new();
    for a in assignments {
        let AssignmentTarget::ColumnName(n) = &a.target else {
            return Err(SqlError::Unsupported("tuple assignment".into()));
        };
        let cname = names::parts(n)?.pop().unwrap_or_default();
        let p = desc.columns.iter().position(|c| c.name == cname).ok_or_else(|| SqlError::UndefinedColumn(cname.clone()))?;
        if sets.iter().any(|(q, _)| *q == p) {
            return Err(SqlError::Invalid(format!("multiple assignments to the same column \"{cname}\"")));
        }
        expr::nextval_names(&a.value, &mut seq_names)?;
        sets.push((p, &a.value));
    }
    let mut seqs = Sequences::default();
    seqs.load_names(ctx.txn, &cat, ctx.user, ctx.database, &seq_names).await?;
    let old_rows = matching_rows(ctx, &desc, selection, &mut seqs).await?;
    let names: Vec<String> = desc.columns.iter().map(|c| c.name.clone()).collect();
    let mut new_rows = Vec::with_capacity(old_rows.len());
    for old in &old_rows {
        let mut new = old.clone();
        for (p, e) in &sets {
            let v = if is_default_keyword(e) {
                let c = desc.columns[*p].clone();
                default_value(ctx, &c, &mut seqs)?
            } else {
                expr::eval(e, &Scope::row(&names, old), &mut seqs)?
            };
            new[*p] = expr::coerce(v, desc.columns[*p].ty, &desc.columns[*p].name)?;
        }
        check_not_null(&desc, &new)?;
        new_rows.push(new);
    }
    // Remove every old row first, so key changes within the statement do not trip over each
    // other; then write the new rows, refusing duplicates.
    for old in &old_rows {
        rows::delete_row(ctx.txn, &desc, old);
    }
    for new in &new_rows {
        let key = rows::primary_key(&desc, new);
        if ctx.txn.get(&key).await?.is_some() {
            return Err(SqlError::UniqueViolation {
                constraint: desc.primary_index().map(|i| i.name.clone()).unwrap_or_else(|| "primary".into()),
                detail: format!("key {} already exists", rows::describe_key(&desc, &desc.primary_key, &rows::pk_datums(&desc, new))),
            });
        }
        rows::check_unique(ctx.txn, &desc, new).await?;
        rows::write_row(ctx.txn, &desc, None, new);
    }
    fk::check_outgoing(ctx.txn, &cat, &desc, &new_rows, "update").await?;
    fk::check_incoming(ctx.txn, &cat, &desc, &old_rows, "update").await?;
    seqs.flush(ctx.txn);
    Ok(Outcome::write(ExecResult::count("UPDATE", new_rows.len() as u64)))
}

/// DELETE FROM t [WHERE ...].
pub(crate) async fn delete(ctx: &mut Ctx<'_>, d: &Delete) -> Result<Outcome, SqlError> {
    if !d.tables.is_empty() || d.using.is_some() || d.returning.is_some() || !d.order_by.is_empty() || d.limit.is_some() {
        return Err(SqlError::Unsupported("DELETE ... USING / RETURNING / ORDER BY / LIMIT".into()));
    }
    let tables = match &d.from {
        FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
    };
    let [table] = tables.as_slice() else {
        return Err(SqlError::Unsupported("DELETE from more than one table".into()));
    };
    let cat = ctx.catalog().await?;
    let (db, tname) = names::relation_of(single_table(table)?, ctx.database)?;
    let desc = access::table(&cat, &db, &tname)?.clone();
    access::require_on_table(&cat, ctx.user, &desc, Privilege::Delete)?;
    let mut seqs = Sequences::default();
    let old_rows = matching_rows(ctx, &desc, d.selection.as_ref(), &mut seqs).await?;
    for old in &old_rows {
        rows::delete_row(ctx.txn, &desc, old);
    }
    fk::check_incoming(ctx.txn, &cat, &desc, &old_rows, "delete").await?;
    Ok(Outcome::write(ExecResult::count("DELETE", old_rows.len() as u64)))
}
