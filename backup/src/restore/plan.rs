//! RESTORE's plan: what it will create (databases, relations, in backup ids), checked against
//! the cluster as it is and the dependency rules, and the fresh ids the restored objects get.

use crate::env::Env;
use crate::error::BackupError;
use crate::format::manifest::Manifest;
use crate::statement::{RestoreStmt, Targets};
use crate::targets::{qualified, resolve_targets, SessionContext};
use model::catalog::{self, Catalog, DatabaseDescriptor, DefaultExpr, TableDescriptor, TableKind, DEFAULT_DATABASE, POSTGRES_DATABASE};
use model::KvError;
use std::collections::{BTreeMap, BTreeSet};

/// What a restore will create, in backup ids.
pub(super) struct RestorePlan {
    /// Databases to create (backup descriptors).
    pub(super) new_databases: Vec<DatabaseDescriptor>,
    /// Relations to create, with the id of the database they go into: a backup id (a database
    /// created by this restore) or an existing database's id.
    pub(super) tables: Vec<(TableDescriptor, Target)>,
    pub(super) cluster: bool,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Target {
    /// Into a database this restore creates (its backup id).
    NewDatabase(u32),
    /// Into an existing database.
    Existing(u32),
}

/// Old (backup) id → new id for every restored descriptor.
pub(super) struct Rewrite {
    pub(super) ids: BTreeMap<u32, u32>,
}

impl RestorePlan {
    pub(super) fn count(&self) -> u32 {
        (self.new_databases.len() + self.tables.len()) as u32
    }

    pub(super) fn rewrite(&self, first: u32) -> Rewrite {
        let mut ids = BTreeMap::new();
        let mut next = first;
        for d in &self.new_databases {
            ids.insert(d.id, next);
            next += 1;
        }
        for (t, _) in &self.tables {
            ids.insert(t.id, next);
            next += 1;
        }
        Rewrite { ids }
    }
}

pub(super) fn plan_restore(
    backup: &Catalog,
    current: &Catalog,
    manifest: &Manifest,
    stmt: &RestoreStmt,
    ctx: &SessionContext,
) -> Result<RestorePlan, BackupError> {
    let opts = &stmt.options;
    let mut plan = RestorePlan { new_databases: Vec::new(), tables: Vec::new(), cluster: false };
    let backed_up = |t: &TableDescriptor| t.is_public();
    match &stmt.targets {
        Targets::Cluster => {
            if !manifest.is_full_cluster {
                return Err(BackupError::NotABackup {
                    url: "the backup".into(),
                    reason: "is not a full cluster backup: RESTORE FROM restores a whole cluster".into(),
                });
            }
            let user_dbs: Vec<&DatabaseDescriptor> =
                current.databases().into_iter().filter(|d| d.name != DEFAULT_DATABASE && d.name != POSTGRES_DATABASE && d.name != "system").collect();
            let user_tables = current.all_tables().into_iter().filter(|t| t.is_public()).count();
            if !user_dbs.is_empty() || user_tables > 0 {
                return Err(BackupError::RestoreConflict(
                    "full cluster restore can only be run on a cluster with no tables or databases but the system database".into(),
                ));
            }
            plan.cluster = true;
            for db in backup.databases() {
                if db.name == DEFAULT_DATABASE || db.name == POSTGRES_DATABASE {
                    // Present in every cluster: restore into the existing one.
                    let existing =
                        current.database_by_name(&db.name).ok_or_else(|| BackupError::Internal(format!("bootstrap database {} missing", db.name)))?;
                    for t in backup.tables_in(db.id).into_iter().filter(|t| backed_up(t)) {
                        plan.tables.push((t.clone(), Target::Existing(existing.id)));
                    }
                    continue;
                }
                plan.new_databases.push(db.clone());
                for t in backup.tables_in(db.id).into_iter().filter(|t| backed_up(t)) {
                    plan.tables.push((t.clone(), Target::NewDatabase(db.id)));
                }
            }
        }
        Targets::Databases(names) => {
            if opts.into_db.is_some() {
                return Err(BackupError::RestoreConflict("cannot use \"into_db\" option when restoring database(s)".into()));
            }
            for name in names {
                let db = backup
                    .database_by_name(name)
                    .filter(|d| manifest.complete_dbs.contains(&d.id))
                    .ok_or_else(|| BackupError::TargetNotFound(format!("database \"{name}\" not found in the backup (or not backed up whole)")))?;
                // `new_db_name` (one database only: checked before planning) is the name it
                // lands under, and so the name that must be free.
                let landing = opts.new_db_name.as_deref().unwrap_or(name);
                if current.database_by_name(landing).is_some() {
                    return Err(BackupError::RestoreConflict(format!("database \"{landing}\" already exists")));
                }
                let mut db = db.clone();
                db.name = landing.to_string();
                for t in backup.tables_in(db.id).into_iter().filter(|t| backed_up(t)) {
                    plan.tables.push((t.clone(), Target::NewDatabase(db.id)));
                }
                plan.new_databases.push(db);
            }
        }
        Targets::Tables(_) => {
            let resolved = resolve_targets(backup, &stmt.targets, &ctx.database).map_err(|e| match e {
                BackupError::TargetNotFound(m) => BackupError::TargetNotFound(format!("{m} in the backup")),
                other => other,
            })?;
            for t in resolved.tables {
                let source_db = backup.database(t.parent_id).map(|d| d.name.clone()).unwrap_or_default();
                // A system table (`system.users` of a `BACKUP TABLE system.users`) exists in
                // every cluster and cannot be replaced: CockroachDB refuses it as a name taken,
                // and its documented procedure restores it elsewhere and copies the rows back.
                if opts.into_db.is_none() && super::system_users::is_system_table(t.id) {
                    return Err(BackupError::RestoreConflict(format!(
                        "relation \"{source_db}.{}\" already exists: a system table cannot be restored into the system database; restore it into another database (WITH into_db = 'newdb'), then copy its rows with INSERT INTO {source_db}.{} SELECT … FROM newdb.{}",
                        t.name, t.name, t.name
                    )));
                }
                let into = opts.into_db.clone().unwrap_or(source_db);
                let db = current.database_by_name(&into).ok_or_else(|| {
                    BackupError::TargetNotFound(format!("a database named \"{into}\" needs to exist to restore table \"{}\" into it", t.name))
                })?;
                if current.table_by_name(&into, &t.name).is_some() {
                    return Err(BackupError::RestoreConflict(format!("relation \"{into}.{}\" already exists", t.name)));
                }
                plan.tables.push((t, Target::Existing(db.id)));
            }
        }
    }
    check_restore_dependencies(backup, &mut plan, stmt)?;
    Ok(plan)
}

/// Dependencies of restored relations on relations not restored: refused unless the matching
/// `skip_missing_*` option removes them (views are skipped whole).
fn check_restore_dependencies(backup: &Catalog, plan: &mut RestorePlan, stmt: &RestoreStmt) -> Result<(), BackupError> {
    let opts = &stmt.options;
    loop {
        let ids: BTreeSet<u32> = plan.tables.iter().map(|(t, _)| t.id).collect();
        let mut drop_view = None;
        for (t, _) in plan.tables.iter_mut() {
            let name = qualified(backup, t);
            // Foreign keys.
            let missing_fks: Vec<_> =
                t.foreign_keys.iter().filter(|fk| fk.referenced_table_id != t.id && !ids.contains(&fk.referenced_table_id)).cloned().collect();
            if !missing_fks.is_empty() {
                if !opts.skip_missing_foreign_keys {
                    let fk = &missing_fks[0];
                    return Err(BackupError::MissingDependency {
                        action: "restore",
                        object: format!("table {name}"),
                        dependency: format!(
                            "referenced table {}",
                            backup.table(fk.referenced_table_id).map(|r| qualified(backup, r)).unwrap_or_else(|| fk.referenced_table_id.to_string())
                        ),
                        reason: "use the \"skip_missing_foreign_keys\" option to restore without the constraint".into(),
                    });
                }
                t.foreign_keys.retain(|fk| fk.referenced_table_id == t.id || ids.contains(&fk.referenced_table_id));
            }
            // Sequences used by column defaults.
            for c in t.columns.iter_mut() {
                if let Some(DefaultExpr::Nextval(seq)) = c.default {
                    if !ids.contains(&seq) {
                        if !opts.skip_missing_sequences {
                            return Err(BackupError::MissingDependency {
                                action: "restore",
                                object: format!("table {name}"),
                                dependency: format!("sequence {}", backup.table(seq).map(|r| qualified(backup, r)).unwrap_or_else(|| seq.to_string())),
                                reason: "use the \"skip_missing_sequences\" option to restore without the column default".into(),
                            });
                        }
                        c.default = None;
                    }
                }
            }
            // Views.
            if let TableKind::View { depends_on, .. } = &t.kind {
                if let Some(missing) = depends_on.iter().find(|d| !ids.contains(d)) {
                    if !opts.skip_missing_views {
                        return Err(BackupError::MissingDependency {
                            action: "restore",
                            object: format!("view {name}"),
                            dependency: format!("relation {}", backup.table(*missing).map(|r| qualified(backup, r)).unwrap_or_else(|| missing.to_string())),
                            reason: "use the \"skip_missing_views\" option to skip the view".into(),
                        });
                    }
                    drop_view = Some(t.id);
                    break;
                }
            }
            // Interleave parents cannot be skipped.
            if let Some(parent) = t.interleave_parent {
                if !ids.contains(&parent) {
                    return Err(BackupError::MissingDependency {
                        action: "restore",
                        object: format!("table {name}"),
                        dependency: format!("interleave parent {}", backup.table(parent).map(|r| qualified(backup, r)).unwrap_or_else(|| parent.to_string())),
                        reason: "an interleaved table needs its parent".into(),
                    });
                }
            }
        }
        match drop_view {
            // Skipping a view may strand views built on it: check again.
            Some(v) => plan.tables.retain(|(t, _)| t.id != v),
            None => return Ok(()),
        }
    }
}

/// Reserves `n` consecutive descriptor ids; returns the first.
pub(super) async fn allocate_ids(env: &Env, n: u32) -> Result<u32, BackupError> {
    for _ in 0..100 {
        let now = env.kv.now();
        let catalog = Catalog::read(&*env.kv, now).await?;
        let first = catalog.next_descriptor_id();
        match env.kv.commit(vec![catalog::descriptor_id_gen_write(first + n)], Some(now)).await {
            Ok(_) => return Ok(first),
            Err(KvError::TxnAborted(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BackupError::Internal("could not allocate descriptor ids".into()))
}
