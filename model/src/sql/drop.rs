//! DROP DATABASE / TABLE / VIEW / SEQUENCE / INDEX and TRUNCATE.
//!
//! Dropping marks descriptors Dropped (kept, so history stays readable until GC) and writes
//! tombstones over their data in the same transaction; dependents are refused without CASCADE
//! and dropped or detached with it. TRUNCATE gives each table a new descriptor id, as
//! CockroachDB does: the old descriptor is dropped with its rows tombstoned, and every reference
//! to the old id is repointed. Nothing is committed here.

use super::access;
use super::context::{Ctx, ExecResult, Outcome};
use super::error::SqlError;
use super::names;
use super::rows;
use super::schema::{self, IdAlloc};
use crate::catalog::{self, Catalog, DependencyReason, DescriptorState, Privilege, TableDescriptor, TableKind};
use crate::encoding;
use sqlparser::ast::{ObjectName, ObjectType};
use std::collections::{BTreeMap, BTreeSet};

fn describe(cat: &Catalog, id: u32) -> (String, &'static str) {
    cat.table(id).map(|t| (t.name.clone(), t.kind_name())).unwrap_or_else(|| (format!("[{id}]"), "relation"))
}

/// Drops the relations `initial` (and with CASCADE what depends on them).
pub(crate) async fn drop_relations(ctx: &mut Ctx<'_>, cat: &Catalog, initial: &[u32], cascade: bool) -> Result<(), SqlError> {
    let mut set: BTreeSet<u32> = initial.iter().copied().collect();
    let mut work: Vec<u32> = initial.to_vec();
    while let Some(id) = work.pop() {
        for dep in cat.dependents(id) {
            if set.contains(&dep.from) {
                continue;
            }
            if !cascade {
                let (name, kind) = describe(cat, id);
                let (dname, dkind) = describe(cat, dep.from);
                return Err(SqlError::DependentObjects(match dep.reason {
                    DependencyReason::ForeignKey { .. } => format!("\"{name}\" is referenced by foreign key from table \"{dname}\""),
                    DependencyReason::SequenceDefault { .. } => format!("cannot drop {kind} {name} because other objects depend on it"),
                    DependencyReason::View | DependencyReason::InterleaveParent => {
                        format!("cannot drop relation \"{name}\" because {dkind} \"{dname}\" depends on it")
                    }
                }));
            }
            if matches!(dep.reason, DependencyReason::View | DependencyReason::InterleaveParent) {
                set.insert(dep.from);
                work.push(dep.from);
            }
        }
    }
    // Detach the survivors from what is dropped.
    for t in cat.all_tables().into_iter().filter(|t| t.is_public() && !set.contains(&t.id)) {
        let mut c = t.clone();
        c.foreign_keys.retain(|fk| !set.contains(&fk.referenced_table_id));
        for col in &mut c.columns {
            if matches!(col.default, Some(catalog::DefaultExpr::Nextval(s)) if set.contains(&s)) {
                col.default = None;
            }
        }
        if c.interleave_parent.is_some_and(|p| set.contains(&p)) {
            c.interleave_parent = None;
        }
        if c != *t {
            schema::put_table(ctx.txn, &c);
        }
    }
    for id in set {
        if let Some(t) = cat.table(id) {
            let mut d = t.clone();
            d.state = DescriptorState::Dropped;
            schema::put_table(ctx.txn, &d);
            rows::tombstone_span(ctx.txn, &encoding::table_span(id)).await?;
        }
    }
    Ok(())
}

/// DROP TABLE / VIEW / SEQUENCE / DATABASE / INDEX / USER / ROLE.
pub(crate) async fn drop(ctx: &mut Ctx<'_>, object_type: &ObjectType, names_: &[ObjectName], if_exists: bool, cascade: bool) -> Result<Outcome, SqlError> {
    let cat = ctx.catalog().await?;
    match object_type {
        ObjectType::Table | ObjectType::View | ObjectType::Sequence => {
            let want = match object_type {
                ObjectType::Table => "table",
                ObjectType::View => "view",
                _ => "sequence",
            };
            let mut ids = Vec::new();
            for n in names_ {
                let (db, rel) = names::relation_of(n, ctx.database)?;
                let t = match access::relation(&cat, &db, &rel) {
                    Ok(t) => t,
                    Err(SqlError::UndefinedRelation(_) | SqlError::UndefinedDatabase(_)) if if_exists => continue,
                    Err(e) => return Err(e),
                };
                if t.kind_name() != want {
                    return Err(SqlError::Invalid(format!("\"{rel}\" is not a {want}")));
                }
                access::require_on_table(&cat, ctx.user, t, Privilege::Drop)?;
                ids.push(t.id);
            }
            drop_relations(ctx, &cat, &ids, cascade).await?;
            Ok(Outcome::write(ExecResult::tag(format!("DROP {}", want.to_uppercase()))))
        }
        ObjectType::Database => {
            for n in names_ {
                let name = names::single(n)?;
                let Some(db) = cat.database_by_name(&name) else {
                    if if_exists {
                        continue;
                    }
                    return Err(SqlError::UndefinedDatabase(name));
                };
                access::require_on_database(&cat, ctx.user, db, Privilege::Drop)?;
                let tables: Vec<u32> = cat.tables_in(db.id).iter().map(|t| t.id).collect();
                if !tables.is_empty() && !cascade {
                    return Err(SqlError::DependentObjects(format!("database \"{name}\" is not empty and CASCADE was not specified")));
                }
                drop_relations(ctx, &cat, &tables, true).await?;
                ctx.txn.delete(catalog::descriptor_key(db.id));
            }
            Ok(Outcome::write(ExecResult::tag("DROP DATABASE")))
        }
        ObjectType::Index => {
            for n in names_ {
                let iname = names::single(n)?;
                let db = access::database(&cat, ctx.database)?;
                let found: Vec<&TableDescriptor> = cat.tables_in(db.id).into_iter().filter(|t| t.secondary_indexes().any(|i| i.name == iname)).collect();
                let t = match found.as_slice() {
                    [] if if_exists => continue,
                    [] => return Err(SqlError::UndefinedIndex(iname)),
                    [t] => (*t).clone(),
                    _ => return Err(SqlError::Invalid(format!("index name \"{iname}\" is ambiguous"))),
                };
                access::require_on_table(&cat, ctx.user, &t, Privilege::Create)?;
                let idx = t.index_by_name(&iname).cloned().ok_or_else(|| SqlError::UndefinedIndex(iname.clone()))?;
                let used = cat.all_tables().iter().filter(|c| c.is_public()).any(|c| {
                    c.foreign_keys
                        .iter()
                        .any(|fk| fk.referenced_table_id == t.id && fk.referenced_column_ids == idx.column_ids && idx.column_ids != t.primary_key)
                });
                if used && !cascade {
                    return Err(SqlError::DependentObjects(format!("index \"{iname}\" is in use as unique constraint by a foreign key")));
                }
                let mut t = t;
                t.indexes.retain(|i| i.id != idx.id);
                schema::put_table(ctx.txn, &t);
                rows::tombstone_span(ctx.txn, &encoding::index_span(t.id, idx.id)).await?;
            }
            Ok(Outcome::write(ExecResult::tag("DROP INDEX")))
        }
        ObjectType::User | ObjectType::Role => super::users::drop_users(ctx, &cat, names_, if_exists).await,
        other => Err(SqlError::Unsupported(format!("DROP {other}"))),
    }
}

/// TRUNCATE t [, ...] [CASCADE].
pub(crate) async fn truncate(ctx: &mut Ctx<'_>, targets: &[ObjectName], cascade: bool) -> Result<Outcome, SqlError> {
    let cat = ctx.catalog().await?;
    let mut set = BTreeSet::new();
    for n in targets {
        let (db, rel) = names::relation_of(n, ctx.database)?;
        let t = access::table(&cat, &db, &rel)?;
        access::require_on_table(&cat, ctx.user, t, Privilege::Drop)?;
        set.insert(t.id);
    }
    // Tables referencing (or interleaved in) a truncated table are truncated with CASCADE and
    // refused without it.
    let mut work: Vec<u32> = set.iter().copied().collect();
    while let Some(id) = work.pop() {
        for dep in cat.dependents(id) {
            if set.contains(&dep.from) || !matches!(dep.reason, DependencyReason::ForeignKey { .. } | DependencyReason::InterleaveParent) {
                continue;
            }
            if !cascade {
                let (name, _) = describe(&cat, id);
                let (dname, _) = describe(&cat, dep.from);
                return Err(SqlError::DependentObjects(format!("\"{name}\" is referenced by foreign key from table \"{dname}\"")));
            }
            set.insert(dep.from);
            work.push(dep.from);
        }
    }
    let mut ids = IdAlloc::new(&cat);
    let mut remap: BTreeMap<u32, u32> = BTreeMap::new();
    let mut new_descs = Vec::new();
    for &old in &set {
        let Some(t) = cat.table(old) else { continue };
        let new_id = ids.next();
        remap.insert(old, new_id);
        let mut dropped = t.clone();
        dropped.state = DescriptorState::Dropped;
        schema::put_table(ctx.txn, &dropped);
        rows::tombstone_span(ctx.txn, &encoding::table_span(old)).await?;
        if let Some(z) = cat.zone(old) {
            schema::apply(ctx.txn, catalog::zone_write(new_id, z));
        }
        let mut fresh = t.clone();
        fresh.id = new_id;
        new_descs.push(fresh);
    }
    let repoint = |t: &mut TableDescriptor| {
        for fk in &mut t.foreign_keys {
            if let Some(n) = remap.get(&fk.referenced_table_id) {
                fk.referenced_table_id = *n;
            }
        }
        if let TableKind::View { depends_on, .. } = &mut t.kind {
            for d in depends_on {
                if let Some(n) = remap.get(d) {
                    *d = *n;
                }
            }
        }
        if let Some(p) = t.interleave_parent {
            if let Some(n) = remap.get(&p) {
                t.interleave_parent = Some(*n);
            }
        }
    };
    for mut t in new_descs {
        repoint(&mut t);
        schema::put_table(ctx.txn, &t);
    }
    for t in cat.all_tables().into_iter().filter(|t| t.is_public() && !set.contains(&t.id)) {
        let mut c = t.clone();
        repoint(&mut c);
        if c != *t {
            schema::put_table(ctx.txn, &c);
        }
    }
    ids.finish(ctx.txn);
    Ok(Outcome::write(ExecResult::tag("TRUNCATE")))
}
