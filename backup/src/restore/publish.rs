//! RESTORE's descriptors: everything it creates, decided when it is planned (a
//! [`Publication`], kept in the job's payload), written offline before any data is ingested —
//! the names are taken, nothing may read them — and made public in one commit at the end, after
//! checking that no name was taken meanwhile. A restore that fails or is canceled removes them.

use crate::env::Env;
use crate::error::BackupError;
use crate::format::manifest::Manifest;
use model::catalog::{self, Catalog, DefaultExpr, Descriptor, DescriptorState, TableKind, DEFAULT_DATABASE, POSTGRES_DATABASE};
use model::WriteOp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::plan::{RestorePlan, Rewrite, Target};

/// Everything a RESTORE creates, in its final, public form under the new ids: what the job
/// writes offline first and publishes last, and what it removes if it does not finish.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Publication {
    /// The restored databases and relations.
    pub descriptors: Vec<Descriptor>,
    /// What else becomes visible with them: a cluster restore's users, role memberships and
    /// zone configs; a restored table's zone config.
    pub other: Vec<WriteOp>,
}

/// Decides every descriptor the restore creates (and, for a cluster restore, the users, roles
/// and zones it writes): relations land in their target databases under their new ids, with
/// their references (foreign keys, sequences, views, interleave parents) rewritten.
pub(super) async fn prepare(env: &Env, plan: &RestorePlan, rewrite: &Rewrite, manifest: &Manifest) -> Result<Publication, BackupError> {
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
    let mut descriptors: Vec<Descriptor> = Vec::new();
    let mut writes: Vec<WriteOp> = Vec::new();
    for d in &plan.new_databases {
        let mut d = d.clone();
        d.id = map(d.id);
        d.offline = false;
        descriptors.push(Descriptor::Database(d));
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
        descriptors.push(Descriptor::Table(t));
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
    Ok(Publication { descriptors, other: writes })
}

impl Publication {
    /// The writes that take the restored names with offline descriptors: nothing may read them
    /// yet, and nothing else may take their names.
    pub(super) fn offline_writes(&self) -> Vec<WriteOp> {
        self.descriptors
            .iter()
            .map(|d| {
                let mut d = d.clone();
                match &mut d {
                    Descriptor::Database(db) => db.offline = true,
                    Descriptor::Table(t) => t.state = DescriptorState::Offline,
                }
                catalog::descriptor_write(&d)
            })
            .collect()
    }

    /// The writes that publish the restore: every descriptor public, and the rest.
    pub(super) fn public_writes(&self) -> Vec<WriteOp> {
        let mut writes: Vec<WriteOp> = self.descriptors.iter().map(catalog::descriptor_write).collect();
        writes.extend(self.other.iter().cloned());
        writes
    }

    /// The new ids of the restored relations: the key spans its data lands in.
    pub(super) fn table_ids(&self) -> Vec<u32> {
        self.descriptors.iter().filter_map(Descriptor::as_table).map(|t| t.id).collect()
    }

    /// Refuses to take or publish names that something else holds in `current` (created while
    /// the restore was planned or ran), or that collide with each other; the restore's own
    /// offline descriptors are no collision. A database the restore lands in that is gone
    /// (dropped meanwhile) is refused too.
    pub(super) fn check_no_collisions(&self, current: &Catalog) -> Result<(), BackupError> {
        let ours: BTreeSet<u32> = self.descriptors.iter().map(Descriptor::id).collect();
        let mut names: BTreeSet<(u32, String)> = BTreeSet::new();
        for d in self.descriptors.iter().filter_map(Descriptor::as_database) {
            if current.database_by_name(&d.name).is_some_and(|now| now.id != d.id) {
                return Err(BackupError::RestoreConflict(format!("database \"{}\" already exists", d.name)));
            }
        }
        for t in self.descriptors.iter().filter_map(Descriptor::as_table) {
            let db_name = match self.descriptors.iter().filter_map(Descriptor::as_database).find(|d| d.id == t.parent_id) {
                Some(d) => d.name.clone(),
                None => match current.database(t.parent_id).filter(|d| !d.offline) {
                    Some(d) => d.name.clone(),
                    None => return Err(BackupError::RestoreConflict(format!("the database relation \"{}\" is restored into was dropped", t.name))),
                },
            };
            let taken = current.table_by_name(&db_name, &t.name).or_else(|| current.offline_table_by_name(&db_name, &t.name));
            if taken.is_some_and(|now| !ours.contains(&now.id)) {
                return Err(BackupError::RestoreConflict(format!("relation \"{db_name}.{}\" already exists", t.name)));
            }
            if !names.insert((t.parent_id, t.name.clone())) {
                return Err(BackupError::RestoreConflict(format!("two restored relations would both be named \"{}\"", t.name)));
            }
        }
        Ok(())
    }
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
