//! ALTER TABLE ... ADD COLUMN / DROP COLUMN, and CONFIGURE ZONE (the GC TTL of a table, a
//! database or the default zone). Rows are rewritten in the statement's transaction when a new
//! column has a default or a column is dropped. Nothing is committed here.

use super::access;
use super::context::{Ctx, ExecResult, Outcome};
use super::create;
use super::dml;
use super::error::SqlError;
use super::names;
use super::prepass::ZoneTarget;
use super::rows;
use super::schema;
use super::sequence::Sequences;
use crate::catalog::{self, DependencyReason, Privilege, ZoneConfig, DEFAULT_ZONE_ID};
use sqlparser::ast::{AlterTableOperation, ObjectName};

/// ALTER TABLE t op, op, ...
pub(crate) async fn alter_table(ctx: &mut Ctx<'_>, name: &ObjectName, if_exists: bool, ops: &[AlterTableOperation]) -> Result<Outcome, SqlError> {
    let cat = ctx.catalog().await?;
    let (db, tname) = names::relation_of(name, ctx.database)?;
    let mut t = match access::table(&cat, &db, &tname) {
        Ok(t) => t.clone(),
        Err(SqlError::UndefinedRelation(_)) if if_exists => return Ok(Outcome::write(ExecResult::tag("ALTER TABLE"))),
        Err(e) => return Err(e),
    };
    access::require_on_table(&cat, ctx.user, &t, Privilege::Create)?;
    for op in ops {
        match op {
            AlterTableOperation::AddColumn { if_not_exists, column_def, column_position: None, .. } => {
                let spec = create::column_spec(&cat, &db, column_def, t.next_column_id)?;
                if t.column_by_name(&spec.column.name).is_some() {
                    if *if_not_exists {
                        continue;
                    }
                    return Err(SqlError::DuplicateObject { kind: "column", name: spec.column.name });
                }
                if spec.primary || spec.unique || spec.references.is_some() {
                    return Err(SqlError::Unsupported("PRIMARY KEY / UNIQUE / REFERENCES in ADD COLUMN".into()));
                }
                t.next_column_id += 1;
                let old_rows = rows::scan_txn(ctx.txn, &t).await?;
                let col = spec.column;
                if !old_rows.is_empty() && !col.nullable && col.default.is_none() {
                    return Err(SqlError::NotNullViolation(col.name));
                }
                let mut seqs = Sequences::default();
                if let Some(catalog::DefaultExpr::Nextval(id)) = col.default {
                    seqs.load_id(ctx.txn, &cat, ctx.user, id).await?;
                }
                let old_t = t.clone();
                t.columns.push(col.clone());
                if col.default.is_some() {
                    for old in old_rows {
                        let mut new = old.clone();
                        new.push(dml::default_value(ctx, &col, &mut seqs)?);
                        rows::write_row(ctx.txn, &t, Some(&old_for(&old_t, &t, &old)), &new);
                    }
                }
                seqs.flush(ctx.txn);
            }
            AlterTableOperation::DropColumn { column_names, if_exists, .. } => {
                for cn in column_names {
                    let cname = names::ident(cn);
                    let Some(c) = t.column_by_name(&cname).cloned() else {
                        if *if_exists {
                            continue;
                        }
                        return Err(SqlError::UndefinedColumn(cname));
                    };
                    if t.primary_key.contains(&c.id) {
                        return Err(SqlError::DependentObjects(format!("column \"{cname}\" is referenced by the primary key")));
                    }
                    if let Some(i) = t.secondary_indexes().find(|i| i.column_ids.contains(&c.id)) {
                        return Err(SqlError::DependentObjects(format!("column \"{cname}\" is referenced by existing index \"{}\"", i.name)));
                    }
                    if t.foreign_keys.iter().any(|fk| fk.column_ids.contains(&c.id)) {
                        return Err(SqlError::DependentObjects(format!("column \"{cname}\" is referenced by a foreign key")));
                    }
                    for dep in cat.dependents(t.id) {
                        let referenced = match &dep.reason {
                            DependencyReason::View => true,
                            DependencyReason::ForeignKey { constraint } => cat
                                .table(dep.from)
                                .and_then(|d| d.foreign_keys.iter().find(|fk| &fk.name == constraint))
                                .is_some_and(|fk| fk.referenced_column_ids.contains(&c.id)),
                            _ => false,
                        };
                        if referenced {
                            let from = cat.table(dep.from).map(|d| d.name.clone()).unwrap_or_default();
                            return Err(SqlError::DependentObjects(format!("cannot drop column \"{cname}\" because \"{from}\" depends on it")));
                        }
                    }
                    let old_t = t.clone();
                    let pos = t.column_position(c.id).unwrap_or(0);
                    t.columns.retain(|x| x.id != c.id);
                    for old in rows::scan_txn(ctx.txn, &old_t).await? {
                        let mut new = old.clone();
                        new.remove(pos);
                        ctx.txn.put(rows::primary_key(&t, &new), rows::encode_row_value(&t, &new));
                    }
                }
            }
            other => return Err(SqlError::Unsupported(format!("ALTER TABLE {other}"))),
        }
    }
    schema::put_table(ctx.txn, &t);
    Ok(Outcome::write(ExecResult::tag("ALTER TABLE")))
}

/// An old row (of `old_t`) padded to the new descriptor's width so index keys compute alike.
fn old_for(old_t: &crate::catalog::TableDescriptor, new_t: &crate::catalog::TableDescriptor, row: &[crate::Datum]) -> Vec<crate::Datum> {
    let mut r = row.to_vec();
    r.resize(new_t.columns.len().max(old_t.columns.len()), crate::Datum::Null);
    r
}

/// ALTER ... CONFIGURE ZONE USING gc.ttlseconds = N.
pub(crate) async fn configure_zone(ctx: &mut Ctx<'_>, target: &ZoneTarget, ttl_seconds: u64) -> Result<Outcome, SqlError> {
    let cat = ctx.catalog().await?;
    access::require_admin(&cat, ctx.user, "CONFIGURE ZONE")?;
    if ttl_seconds == 0 {
        return Err(SqlError::Invalid("gc.ttlseconds must be at least 1".into()));
    }
    let id = match target {
        ZoneTarget::Default => DEFAULT_ZONE_ID,
        ZoneTarget::Database(d) => access::database(&cat, d)?.id,
        ZoneTarget::Table(parts) => {
            let (db, t) = names::relation(parts, ctx.database)?;
            access::relation(&cat, &db, &t)?.id
        }
    };
    schema::apply(ctx.txn, catalog::zone_write(id, &ZoneConfig { gc_ttl_seconds: ttl_seconds }));
    Ok(Outcome::write(ExecResult { tag: "CONFIGURE ZONE 1".into(), rows_affected: 1, ..Default::default() }))
}
