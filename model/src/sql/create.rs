//! CREATE DATABASE / TABLE / INDEX / VIEW / SEQUENCE: build complete descriptors (columns,
//! keys, indexes, foreign keys, defaults, interleave parent, privileges) and buffer them in the
//! statement's transaction, backfilling new indexes. Nothing is committed here.

use super::access;
use super::context::{Ctx, ExecResult, Outcome};
use super::error::SqlError;
use super::expr::{self, NoSequences, Scope};
use super::names;
use super::prepass::Interleave;
use super::rows;
use super::schema::{self, IdAlloc};
use super::select;
use crate::catalog::{
    Catalog, Column, ColumnType, DatabaseDescriptor, DefaultExpr, DescriptorState, ForeignKey, IndexDescriptor, Privilege, PrivilegeDescriptor,
    TableDescriptor, TableKind,
};
use crate::datum::Datum;
use crate::encoding::PRIMARY_INDEX_ID;
use sqlparser::ast::{
    ColumnDef, ColumnOption, CreateIndex, CreateTable, Expr, Ident, ObjectName, ObjectNamePart, Query, ReferentialAction, SequenceOptions, SetExpr,
    TableConstraint, TableFactor,
};
use std::collections::BTreeSet;

/// Privileges of a new relation: the database's grants, admin and root with ALL, and the
/// creator with ALL.
fn new_relation_privileges(db: &DatabaseDescriptor, creator: &str) -> PrivilegeDescriptor {
    let mut p = db.privileges.clone();
    let base = PrivilegeDescriptor::default_for_new_object();
    for u in &base.users {
        p.grant(&u.user, &u.privileges);
    }
    p.grant(creator, &[Privilege::All]);
    p
}

/// CREATE DATABASE [IF NOT EXISTS] d.
pub(crate) async fn create_database(ctx: &mut Ctx<'_>, name: &ObjectName, if_not_exists: bool) -> Result<Outcome, SqlError> {
    let cat = ctx.catalog().await?;
    access::require_admin(&cat, ctx.user, "CREATE DATABASE")?;
    let name = names::single(name)?;
    // `system` is taken even though the catalog lists no such database: SQL names
    // `system.users` in it, and a user database of that name would be shadowed by it.
    if cat.database_by_name(&name).is_some() || name == crate::catalog::SYSTEM_DATABASE {
        if if_not_exists {
            return Ok(Outcome::write(ExecResult::tag("CREATE DATABASE")));
        }
        return Err(SqlError::DuplicateObject { kind: "database", name });
    }
    let mut ids = IdAlloc::new(&cat);
    let mut privileges = PrivilegeDescriptor::default_for_new_object();
    privileges.grant(ctx.user, &[Privilege::All]);
    schema::put_database(ctx.txn, &DatabaseDescriptor { id: ids.next(), name, privileges, offline: false });
    ids.finish(ctx.txn);
    Ok(Outcome::write(ExecResult::tag("CREATE DATABASE")))
}

/// Resolves the database of a new relation, checks CREATE on it and that the name is free.
/// `Ok(None)` means "exists, IF NOT EXISTS given".
fn new_relation_target(
    cat: &Catalog,
    user: &str,
    db_default: &str,
    name: &ObjectName,
    if_not_exists: bool,
) -> Result<Option<(DatabaseDescriptor, String)>, SqlError> {
    let (db, rel) = names::relation_of(name, db_default)?;
    let dbd = access::database(cat, &db)?.clone();
    access::require_on_database(cat, user, &dbd, Privilege::Create)?;
    if cat.table_by_name(&db, &rel).is_some() || cat.offline_table_by_name(&db, &rel).is_some() {
        if if_not_exists {
            return Ok(None);
        }
        return Err(SqlError::DuplicateObject { kind: "relation", name: rel });
    }
    Ok(Some((dbd, rel)))
}

fn index_column_names(cols: &[sqlparser::ast::IndexColumn]) -> Result<Vec<String>, SqlError> {
    cols.iter()
        .map(|c| {
            if c.column.options.asc == Some(false) {
                return Err(SqlError::Unsupported("descending index columns".into()));
            }
            expr::column_ref(&c.column.expr).ok_or_else(|| SqlError::Unsupported(format!("index on expression {}", c.column.expr)))
        })
        .collect()
}

/// The default of a column: `nextval('seq')`, `unique_rowid()`, or a constant.
fn default_expr(cat: &Catalog, db: &str, e: &Expr, ty: ColumnType, column: &str) -> Result<DefaultExpr, SqlError> {
    if let Some(name) = expr::nextval_arg(e) {
        let (d, s) = names::relation(&name?, db)?;
        let t = access::relation(cat, &d, &s)?;
        if !t.is_sequence() {
            return Err(SqlError::Invalid(format!("\"{s}\" is not a sequence")));
        }
        if ty != ColumnType::Int {
            return Err(SqlError::Type(format!("nextval returns int, column \"{column}\" is {ty}")));
        }
        return Ok(DefaultExpr::Nextval(t.id));
    }
    if expr::call_args(e, "unique_rowid").is_some_and(|a| a.is_empty()) {
        if ty != ColumnType::Int {
            return Err(SqlError::Type(format!("unique_rowid returns int, column \"{column}\" is {ty}")));
        }
        return Ok(DefaultExpr::UniqueRowId);
    }
    let v = expr::eval(e, &Scope::EMPTY, &mut NoSequences).map_err(|err| match err {
        SqlError::UndefinedColumn(_) => SqlError::Invalid(format!("default expression for column \"{column}\" must be a constant")),
        other => other,
    })?;
    Ok(DefaultExpr::Literal(expr::coerce(v, ty, column)?))
}

/// A column definition, for CREATE TABLE and ADD COLUMN. Returns the column and the
/// constraints declared inline (primary key flag, unique flag, foreign key target).
pub(crate) struct ColumnSpec {
    pub column: Column,
    pub primary: bool,
    pub unique: bool,
    pub references: Option<(ObjectName, Vec<Ident>)>,
}

pub(crate) fn column_spec(cat: &Catalog, db: &str, def: &ColumnDef, id: u32) -> Result<ColumnSpec, SqlError> {
    let name = names::ident(&def.name);
    let (ty, serial) = expr::column_type(&def.data_type)?;
    let mut column = Column { id, name: name.clone(), ty, nullable: !serial, default: serial.then_some(DefaultExpr::UniqueRowId), hidden: false };
    let (mut primary, mut unique, mut references) = (false, false, None);
    for opt in &def.options {
        match &opt.option {
            ColumnOption::Null => column.nullable = true,
            ColumnOption::NotNull => column.nullable = false,
            ColumnOption::Default(e) => column.default = Some(default_expr(cat, db, e, ty, &name)?),
            ColumnOption::Unique { is_primary: true, .. } => primary = true,
            ColumnOption::Unique { is_primary: false, .. } => unique = true,
            ColumnOption::ForeignKey { foreign_table, referred_columns, on_delete, on_update, .. } => {
                check_actions(on_delete, on_update)?;
                references = Some((foreign_table.clone(), referred_columns.clone()));
            }
            ColumnOption::Check(_) => return Err(SqlError::Unsupported("CHECK constraints".into())),
            other => return Err(SqlError::Unsupported(format!("column option {other}"))),
        }
    }
    Ok(ColumnSpec { column, primary, unique, references })
}

fn check_actions(on_delete: &Option<ReferentialAction>, on_update: &Option<ReferentialAction>) -> Result<(), SqlError> {
    for a in [on_delete, on_update].into_iter().flatten() {
        if !matches!(a, ReferentialAction::Restrict | ReferentialAction::NoAction) {
            return Err(SqlError::Unsupported(format!("foreign key action {a}")));
        }
    }
    Ok(())
}

/// A FOREIGN KEY clause as parsed: its name, its columns, the table it references, and the
/// referenced columns.
type ForeignKeyDef = (Option<Ident>, Vec<String>, ObjectName, Vec<Ident>);

/// Builds a foreign key of table `t` (which may reference itself).
fn foreign_key(
    cat: &Catalog,
    db: &str,
    t: &TableDescriptor,
    name: Option<&Ident>,
    columns: &[String],
    target: &ObjectName,
    referred: &[Ident],
) -> Result<ForeignKey, SqlError> {
    let (rdb, rname) = names::relation_of(target, db)?;
    let self_ref = rdb == db && rname == t.name;
    let parent = if self_ref { t } else { access::table(cat, &rdb, &rname)? };
    let column_ids =
        columns.iter().map(|c| t.column_by_name(c).map(|c| c.id).ok_or_else(|| SqlError::UndefinedColumn(c.clone()))).collect::<Result<Vec<_>, _>>()?;
    let referenced_column_ids = if referred.is_empty() {
        parent.primary_key.clone()
    } else {
        referred
            .iter()
            .map(|c| {
                let n = names::ident(c);
                parent.column_by_name(&n).map(|c| c.id).ok_or(SqlError::UndefinedColumn(n))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if column_ids.len() != referenced_column_ids.len() {
        return Err(SqlError::Invalid(format!("number of referencing and referenced columns of foreign key to \"{}\" differ", parent.name)));
    }
    for (a, b) in column_ids.iter().zip(&referenced_column_ids) {
        let (ca, cb) = (t.column(*a), parent.column(*b));
        if let (Some(ca), Some(cb)) = (ca, cb) {
            if ca.ty != cb.ty {
                return Err(SqlError::Type(format!(
                    "type of \"{}\" ({}) does not match foreign key \"{}\".\"{}\" ({})",
                    ca.name, ca.ty, parent.name, cb.name, cb.ty
                )));
            }
        }
    }
    let unique_target = referenced_column_ids == parent.primary_key || parent.indexes.iter().any(|i| i.unique && i.column_ids == referenced_column_ids);
    if !unique_target {
        return Err(SqlError::Invalid(format!("there is no unique constraint matching given keys for referenced table {}", parent.name)));
    }
    let name = match name {
        Some(n) => names::ident(n),
        None => format!("fk_{}_ref_{}", columns.join("_"), parent.name),
    };
    Ok(ForeignKey { name, column_ids, referenced_table_id: parent.id, referenced_column_ids })
}

/// CREATE TABLE.
pub(crate) async fn create_table(ctx: &mut Ctx<'_>, ct: &CreateTable, interleave: Option<&Interleave>) -> Result<Outcome, SqlError> {
    if ct.query.is_some() || ct.like.is_some() || ct.clone.is_some() || ct.temporary || ct.or_replace || ct.external {
        return Err(SqlError::Unsupported("CREATE TABLE AS / LIKE / CLONE / TEMPORARY / OR REPLACE".into()));
    }
    let cat = ctx.catalog().await?;
    let Some((dbd, name)) = new_relation_target(&cat, ctx.user, ctx.database, &ct.name, ct.if_not_exists)? else {
        return Ok(Outcome::write(ExecResult::tag("CREATE TABLE")));
    };
    let mut ids = IdAlloc::new(&cat);
    let mut t = TableDescriptor {
        id: ids.next(),
        name,
        parent_id: dbd.id,
        kind: TableKind::Table,
        columns: Vec::new(),
        primary_key: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
        interleave_parent: None,
        state: DescriptorState::Public,
        privileges: new_relation_privileges(&dbd, ctx.user),
        next_column_id: 1,
        next_index_id: 2,
    };
    let mut pk: Option<Vec<String>> = None;
    let mut uniques: Vec<(Option<String>, Vec<String>)> = Vec::new();
    let mut fks: Vec<ForeignKeyDef> = Vec::new();
    for def in &ct.columns {
        let spec = column_spec(&cat, &dbd.name, def, t.next_column_id)?;
        t.next_column_id += 1;
        if t.column_by_name(&spec.column.name).is_some() {
            return Err(SqlError::DuplicateObject { kind: "column", name: spec.column.name });
        }
        let cname = spec.column.name.clone();
        if spec.primary {
            if pk.is_some() {
                return Err(SqlError::Invalid(format!("multiple primary keys for table \"{}\" are not allowed", t.name)));
            }
            pk = Some(vec![cname.clone()]);
        }
        if spec.unique {
            uniques.push((None, vec![cname.clone()]));
        }
        if let Some((target, referred)) = spec.references {
            fks.push((None, vec![cname], target, referred));
        }
        t.columns.push(spec.column);
    }
    for c in &ct.constraints {
        match c {
            TableConstraint::PrimaryKey { columns, .. } => {
                if pk.is_some() {
                    return Err(SqlError::Invalid(format!("multiple primary keys for table \"{}\" are not allowed", t.name)));
                }
                pk = Some(index_column_names(columns)?);
            }
            TableConstraint::Unique { name, columns, .. } => uniques.push((name.as_ref().map(names::ident), index_column_names(columns)?)),
            TableConstraint::ForeignKey { name, columns, foreign_table, referred_columns, on_delete, on_update, .. } => {
                check_actions(on_delete, on_update)?;
                fks.push((name.clone(), columns.iter().map(names::ident).collect(), foreign_table.clone(), referred_columns.clone()));
            }
            other => return Err(SqlError::Unsupported(format!("table constraint {other}"))),
        }
    }
    // Primary key: declared, or a hidden unique_rowid() column as CockroachDB adds.
    let pk_names = match pk {
        Some(p) => p,
        None => {
            let mut rowid = "rowid".to_string();
            let mut n = 0;
            while t.column_by_name(&rowid).is_some() {
                n += 1;
                rowid = format!("rowid_{n}");
            }
            t.columns.push(Column {
                id: t.next_column_id,
                name: rowid.clone(),
                ty: ColumnType::Int,
                nullable: false,
                default: Some(DefaultExpr::UniqueRowId),
                hidden: true,
            });
            t.next_column_id += 1;
            vec![rowid]
        }
    };
    let mut seen = BTreeSet::new();
    for n in &pk_names {
        let c = t.columns.iter_mut().find(|c| c.name == *n).ok_or_else(|| SqlError::UndefinedColumn(n.clone()))?;
        if !seen.insert(c.id) {
            return Err(SqlError::Invalid(format!("column \"{n}\" appears twice in the primary key")));
        }
        c.nullable = false;
        t.primary_key.push(c.id);
    }
    t.indexes.push(IndexDescriptor { id: PRIMARY_INDEX_ID, name: "primary".into(), column_ids: t.primary_key.clone(), unique: true });
    for (name, cols) in uniques {
        let column_ids =
            cols.iter().map(|c| t.column_by_name(c).map(|c| c.id).ok_or_else(|| SqlError::UndefinedColumn(c.clone()))).collect::<Result<Vec<_>, _>>()?;
        let name = name.unwrap_or_else(|| format!("{}_{}_key", t.name, cols.join("_")));
        if t.index_by_name(&name).is_some() {
            return Err(SqlError::DuplicateObject { kind: "index", name });
        }
        t.indexes.push(IndexDescriptor { id: t.next_index_id, name, column_ids, unique: true });
        t.next_index_id += 1;
    }
    for (name, cols, target, referred) in fks {
        let fk = foreign_key(&cat, &dbd.name, &t, name.as_ref(), &cols, &target, &referred)?;
        t.foreign_keys.push(fk);
    }
    if let Some(il) = interleave {
        let (pdb, pname) = names::relation(&il.parent, &dbd.name)?;
        let parent = access::table(&cat, &pdb, &pname)?;
        let child_prefix: Vec<&str> = t.primary_key.iter().take(il.columns.len()).filter_map(|id| t.column(*id).map(|c| c.name.as_str())).collect();
        let ok = il.columns.len() == parent.primary_key.len()
            && child_prefix == il.columns.iter().map(String::as_str).collect::<Vec<_>>()
            && t.primary_key.iter().zip(&parent.primary_key).all(|(a, b)| t.column(*a).map(|c| c.ty) == parent.column(*b).map(|c| c.ty));
        if !ok {
            return Err(SqlError::Invalid(format!(
                "declared interleaved columns ({}) must match a prefix of the primary key columns and the parent's primary key",
                il.columns.join(", ")
            )));
        }
        t.interleave_parent = Some(parent.id);
    }
    schema::put_table(ctx.txn, &t);
    ids.finish(ctx.txn);
    Ok(Outcome::write(ExecResult::tag("CREATE TABLE")))
}

/// CREATE [UNIQUE] INDEX [name] ON t (cols): adds the index and backfills existing rows.
pub(crate) async fn create_index(ctx: &mut Ctx<'_>, ci: &CreateIndex) -> Result<Outcome, SqlError> {
    if ci.using.is_some() || !ci.include.is_empty() || ci.predicate.is_some() || !ci.with.is_empty() || ci.concurrently || !ci.index_options.is_empty() {
        return Err(SqlError::Unsupported("CREATE INDEX with USING / INCLUDE / WHERE / WITH / CONCURRENTLY".into()));
    }
    let cat = ctx.catalog().await?;
    let (db, tname) = names::relation_of(&ci.table_name, ctx.database)?;
    let mut t = access::table(&cat, &db, &tname)?.clone();
    access::require_on_table(&cat, ctx.user, &t, Privilege::Create)?;
    let cols = index_column_names(&ci.columns)?;
    let column_ids =
        cols.iter().map(|c| t.column_by_name(c).map(|c| c.id).ok_or_else(|| SqlError::UndefinedColumn(c.clone()))).collect::<Result<Vec<_>, _>>()?;
    let name = match &ci.name {
        Some(n) => names::single(n)?,
        None => format!("{}_{}_{}", t.name, cols.join("_"), if ci.unique { "key" } else { "idx" }),
    };
    if t.index_by_name(&name).is_some() {
        if ci.if_not_exists {
            return Ok(Outcome::write(ExecResult::tag("CREATE INDEX")));
        }
        return Err(SqlError::DuplicateObject { kind: "index", name });
    }
    let idx = IndexDescriptor { id: t.next_index_id, name, column_ids, unique: ci.unique };
    t.next_index_id += 1;
    let existing = rows::scan_txn(ctx.txn, &t).await?;
    let mut seen = BTreeSet::new();
    for r in &existing {
        let vals = rows::cols(&t, r, &idx.column_ids);
        if idx.unique && !vals.iter().any(Datum::is_null) && !seen.insert(vals.clone()) {
            return Err(SqlError::UniqueViolation {
                constraint: idx.name.clone(),
                detail: format!("key {} already exists", rows::describe_key(&t, &idx.column_ids, &vals)),
            });
        }
        ctx.txn.put(rows::index_entry_key(&t, &idx, r), Vec::new());
    }
    t.indexes.push(idx);
    schema::put_table(ctx.txn, &t);
    Ok(Outcome::write(ExecResult::tag("CREATE INDEX")))
}

fn quoted(name: &str) -> ObjectNamePart {
    ObjectNamePart::Identifier(Ident::with_quote('"', name))
}

/// CREATE VIEW v AS SELECT ...: stores the query with its source name rewritten (unqualified
/// when in the view's own database) and records the relation it selects from.
pub(crate) async fn create_view(ctx: &mut Ctx<'_>, name: &ObjectName, query: &Query, unsupported: bool) -> Result<Outcome, SqlError> {
    if unsupported {
        return Err(SqlError::Unsupported("CREATE OR REPLACE / MATERIALIZED VIEW, view column lists".into()));
    }
    let cat = ctx.catalog().await?;
    let Some((dbd, vname)) = new_relation_target(&cat, ctx.user, ctx.database, name, false)? else {
        return Err(SqlError::DuplicateObject { kind: "relation", name: name.to_string() });
    };
    // A view records the one relation it selects from (its dependency, rewritten on restore);
    // a subquery's relations would be neither recorded nor rewritten.
    if select::has_subquery(query)? {
        return Err(SqlError::Unsupported("subqueries in a view".into()));
    }
    let mut q = query.clone();
    let mut depends_on = Vec::new();
    if let Some(from) = select::from_of(query)? {
        let (sdb, sname) = names::relation_of(from, ctx.database)?;
        let src = access::relation(&cat, &sdb, &sname)?;
        depends_on.push(src.id);
        let parts = if sdb == dbd.name { vec![quoted(&sname)] } else { vec![quoted(&sdb), quoted(&sname)] };
        if let SetExpr::Select(s) = q.body.as_mut() {
            if let Some(TableFactor::Table { name, .. }) = s.from.first_mut().map(|f| &mut f.relation) {
                *name = ObjectName(parts);
            }
        }
    }
    // Validate by running it once (checks columns, types and SELECT on the source).
    select::evaluate(&ctx.txn.view(), ctx.txn.read_ts, &cat, Some(ctx.user), &dbd.name, &q, &mut NoSequences).await?;
    let mut ids = IdAlloc::new(&cat);
    let t = TableDescriptor::empty(ids.next(), vname, dbd.id, TableKind::View { query: q.to_string(), depends_on }, new_relation_privileges(&dbd, ctx.user));
    schema::put_table(ctx.txn, &t);
    ids.finish(ctx.txn);
    Ok(Outcome::write(ExecResult::tag("CREATE VIEW")))
}

fn const_int(e: &Expr, what: &str) -> Result<i64, SqlError> {
    match expr::eval(e, &Scope::EMPTY, &mut NoSequences)? {
        Datum::Int(i) => Ok(i),
        other => Err(SqlError::Type(format!("{what} must be an integer, not {other}"))),
    }
}

/// CREATE SEQUENCE s [START [WITH] n] [INCREMENT [BY] n].
pub(crate) async fn create_sequence(
    ctx: &mut Ctx<'_>,
    name: &ObjectName,
    if_not_exists: bool,
    options: &[SequenceOptions],
    unsupported: bool,
) -> Result<Outcome, SqlError> {
    if unsupported {
        return Err(SqlError::Unsupported("TEMPORARY / OWNED BY sequences".into()));
    }
    let (mut start, mut increment) = (None, 1i64);
    for o in options {
        match o {
            SequenceOptions::StartWith(e, _) => start = Some(const_int(e, "START")?),
            SequenceOptions::IncrementBy(e, _) => increment = const_int(e, "INCREMENT")?,
            SequenceOptions::Cache(_) => {}
            other => return Err(SqlError::Unsupported(format!("sequence option{other}"))),
        }
    }
    if increment == 0 {
        return Err(SqlError::Invalid("INCREMENT must not be zero".into()));
    }
    let cat = ctx.catalog().await?;
    let Some((dbd, sname)) = new_relation_target(&cat, ctx.user, ctx.database, name, if_not_exists)? else {
        return Ok(Outcome::write(ExecResult::tag("CREATE SEQUENCE")));
    };
    let mut ids = IdAlloc::new(&cat);
    let t = TableDescriptor::empty(
        ids.next(),
        sname,
        dbd.id,
        TableKind::Sequence { start: start.unwrap_or(if increment > 0 { 1 } else { -1 }), increment },
        new_relation_privileges(&dbd, ctx.user),
    );
    schema::put_table(ctx.txn, &t);
    ids.finish(ctx.txn);
    Ok(Outcome::write(ExecResult::tag("CREATE SEQUENCE")))
}
