//! RESTORE's publish: every restored descriptor (and for a cluster restore users, roles and
//! zones) written in one commit, after checking that no name was taken meanwhile.

use crate::env::Env;
use crate::error::BackupError;
use crate::format::manifest::Manifest;
use model::catalog::{self, Catalog, DefaultExpr, Descriptor, DescriptorState, TableKind, DEFAULT_DATABASE, POSTGRES_DATABASE};
use model::{KvError, WriteOp};
use std::collections::{BTreeMap, BTreeSet};

use super::plan::{RestorePlan, Rewrite, Target};

/// Writes every restored descriptor (and, for a cluster restore, users, roles and zones) in one
/// commit: the moment the restore becomes visible.
pub(super) async fn publish(env: &Env, plan: &RestorePlan, rewrite: &Rewrite, manifest: &Manifest) -> Result<(), BackupError> {
    let ids = &rewrite.ids;
    let map = |id: u32| ids.get(&id).copied().unwrap_or(id);
    // Where each restored relation lands (database name, relation name), by backup id: a view's
    // query names its source by name, so it is rewritten to the restored source.
    let current = Catalog::read(&*env.kv, env.kv.now()).await?;
    let db_name = |target: &Target| match target {
        Target::NewDatabase(old) => plan.new_databases.iter().find(|d| d.id == *old).map(|d| d.name.clone()),
        Target::Existing(id) => current.database(*id).map(|d| d.name.clone()),
    };
    let landing: BTreeMap<u32, (String, String)> = plan.tables.iter().filter_map(|(t, target)| Some((t.id, (db_name(target)?, t.name.clone())))).collect();
    let mut writes: Vec<WriteOp> = Vec::new();
    for d in &plan.new_databases {
        let mut d = d.clone();
        d.id = map(d.id);
        writes.push(catalog::descriptor_write(&Descriptor::Database(d)));
    }
    for (t, target) in &plan.tables {
        let mut t = t.clone();
        t.id = map(t.id);
        t.parent_id = match target {
            Target::NewDatabase(old) => map(*old),
            Target::Existing(id) => *id,
        };
        t.state = DescriptorState::Public;
        for fk in t.foreign_keys.iter_mut() {
            fk.referenced_table_id = map(fk.referenced_table_id);
        }
        for c in t.columns.iter_mut() {
            if let Some(DefaultExpr::Nextval(seq)) = c.default {
                c.default = Some(DefaultExpr::Nextval(map(seq)));
            }
        }
        if let TableKind::View { depends_on, query } = &mut t.kind {
            let view_db = db_name(target).unwrap_or_default();
            if let Some((src_db, src_name)) = depends_on.first().and_then(|d| landing.get(d)) {
                *query = rewrite_view_source(query, &view_db, src_db, src_name).map_err(|e| BackupError::Internal(format!("view {}: {e}", t.name)))?;
            }
            for d in depends_on.iter_mut() {
                *d = map(*d);
            }
        }
        t.interleave_parent = t.interleave_parent.map(map);
        writes.push(catalog::descriptor_write(&Descriptor::Table(t)));
    }
    if plan.cluster {
        if let Some(data) = &manifest.cluster_data {
            for u in &data.users {
                writes.push(catalog::user_write(u));
            }
            for m in &data.role_memberships {
                writes.push(catalog::role_member_write(m));
            }
            for (id, z) in &data.zones {
                // Only the default zone and zones of what is restored, under their new ids (the
                // bootstrap databases restore into the destination's own): a zone left behind
                // by a dropped object must not land on whichever restored object got its id.
                let bootstrap_db = manifest
                    .descriptors
                    .iter()
                    .find_map(|d| d.as_database().filter(|d| d.id == *id && (d.name == DEFAULT_DATABASE || d.name == POSTGRES_DATABASE)));
                let target = match bootstrap_db {
                    _ if *id == catalog::DEFAULT_ZONE_ID => Some(*id),
                    Some(db) => current.database_by_name(&db.name).map(|d| d.id),
                    None => ids.get(id).copied(),
                };
                if let Some(target) = target {
                    writes.push(catalog::zone_write(target, z));
                }
            }
        }
    } else if let Some(data) = &manifest.cluster_data {
        // Zone configs of restored tables travel with them.
        for (id, z) in &data.zones {
            if ids.contains_key(id) {
                writes.push(catalog::zone_write(map(*id), z));
            }
        }
    }
    // Publish only if nothing appeared meanwhile that the restored objects would collide with:
    // re-check names against a fresh catalog, and re-write the descriptor-id counter that every
    // DDL statement writes, so a concurrent CREATE or RESTORE makes this commit conflict.
    for _ in 0..50 {
        let now = env.kv.now();
        let catalog = Catalog::read(&*env.kv, now).await?;
        check_no_collisions(&catalog, plan, rewrite)?;
        let mut all = writes.clone();
        all.push(catalog::descriptor_id_gen_write(catalog.next_descriptor_id()));
        match env.kv.commit(all, Some(now)).await {
            Ok(_) => return Ok(()),
            Err(KvError::TxnAborted(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BackupError::Internal("could not publish the restored descriptors: too many conflicting schema changes".into()))
}

/// Refuses to publish objects whose names are taken now (by something created during the
/// restore), or that collide with each other.
fn check_no_collisions(current: &Catalog, plan: &RestorePlan, rewrite: &Rewrite) -> Result<(), BackupError> {
    let mut names: BTreeSet<(u32, String)> = BTreeSet::new();
    for d in &plan.new_databases {
        if current.database_by_name(&d.name).is_some() {
            return Err(BackupError::RestoreConflict(format!("database \"{}\" already exists", d.name)));
        }
    }
    for (t, target) in &plan.tables {
        let parent = match target {
            Target::NewDatabase(old) => rewrite.ids.get(old).copied().unwrap_or(*old),
            Target::Existing(id) => *id,
        };
        if let Some(db) = current.database(parent) {
            if current.table_by_name(&db.name, &t.name).is_some() {
                return Err(BackupError::RestoreConflict(format!("relation \"{}.{}\" already exists", db.name, t.name)));
            }
        }
        if !names.insert((parent, t.name.clone())) {
            return Err(BackupError::RestoreConflict(format!("two restored relations would both be named \"{}\"", t.name)));
        }
    }
    Ok(())
}

/// Rewrites the relation a view's query selects from to `src_db.src_name`, written the way
/// CREATE VIEW stores it: unqualified when in the view's own database `view_db`, qualified
/// otherwise. (CockroachDB rewrites view queries on restore too: restored into another
/// database, a view must read the restored relation, never a same-named one of the
/// destination.) Views select from one relation (the SQL layer's subset).
fn rewrite_view_source(query: &str, view_db: &str, src_db: &str, src_name: &str) -> Result<String, String> {
    use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, SetExpr, TableFactor};
    let mut q = sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(query)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| e.to_string())?;
    if let SetExpr::Select(s) = q.body.as_mut() {
        if let Some(TableFactor::Table { name, .. }) = s.from.first_mut().map(|f| &mut f.relation) {
            let part = |n: &str| ObjectNamePart::Identifier(Ident::with_quote('"', n));
            *name = ObjectName(if src_db == view_db { vec![part(src_name)] } else { vec![part(src_db), part(src_name)] });
        }
    }
    Ok(q.to_string())
}
