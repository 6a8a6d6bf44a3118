//! Target resolution: who runs a bulk statement (the session, and whether it may), the time it
//! reads at (`AS OF SYSTEM TIME`), and which databases and relations its target list names in a
//! catalog (the cluster's for BACKUP, a backup's for RESTORE and SHOW BACKUP), with their
//! dependencies. Shared by planning, RESTORE and SHOW so that a name resolves, and a refusal
//! reads, the same in all three.

use crate::env::Env;
use crate::error::BackupError;
use crate::statement::{TablePattern, Targets};
use model::catalog::{Catalog, DatabaseDescriptor, TableDescriptor};
use model::Timestamp;
use std::collections::BTreeSet;

/// Who runs a statement, and in what state their session is.
#[derive(Clone, Debug)]
pub struct SessionContext {
    /// The user.
    pub user: String,
    /// The session's current database (for unqualified table names).
    pub database: String,
    /// True inside BEGIN ... COMMIT.
    pub in_transaction: bool,
}

impl SessionContext {
    /// The root user outside any transaction, in `defaultdb`.
    pub fn root() -> Self {
        SessionContext { user: "root".into(), database: "defaultdb".into(), in_transaction: false }
    }
}

/// The catalog as of `ts`, with a GC refusal given in CockroachDB's words.
pub async fn catalog_at(env: &Env, ts: Timestamp) -> Result<Catalog, BackupError> {
    Ok(Catalog::read(&*env.kv, ts).await?)
}

/// Checks that the session may run a bulk statement.
pub async fn check_session(env: &Env, ctx: &SessionContext, what: &'static str) -> Result<Catalog, BackupError> {
    if ctx.in_transaction {
        return Err(BackupError::InTransaction(what));
    }
    let catalog = catalog_at(env, env.kv.now()).await?;
    if !catalog.is_admin(&ctx.user) {
        return Err(BackupError::NotAdmin(what));
    }
    Ok(catalog)
}

/// Interprets `AS OF SYSTEM TIME` against the cluster clock; `None` means now.
pub fn resolve_as_of(as_of: Option<&str>, now: Timestamp) -> Result<Timestamp, BackupError> {
    match as_of {
        None => Ok(now),
        Some(text) => {
            let ts = Timestamp::parse_as_of(text, now)?;
            if ts > now {
                return Err(BackupError::FutureTimestamp { ts, now });
            }
            Ok(ts)
        }
    }
}

/// The relations and databases a target list names, resolved in `catalog`.
pub struct Resolved {
    /// Relations (tables, views, sequences), by id order.
    pub tables: Vec<TableDescriptor>,
    /// Databases holding them, by id order.
    pub databases: Vec<DatabaseDescriptor>,
    /// Databases named whole.
    pub complete_dbs: Vec<u32>,
}

/// Resolves BACKUP targets (or a RESTORE's, against a backup's descriptors).
pub fn resolve_targets(catalog: &Catalog, targets: &Targets, current_db: &str) -> Result<Resolved, BackupError> {
    let mut table_ids: BTreeSet<u32> = BTreeSet::new();
    let mut complete: BTreeSet<u32> = BTreeSet::new();
    let public_in = |db: &DatabaseDescriptor| catalog.tables_in(db.id).into_iter().filter(|t| t.is_public()).map(|t| t.id).collect::<Vec<_>>();
    match targets {
        Targets::Cluster => {
            for db in catalog.databases() {
                // A database a RESTORE is still creating is not the cluster's yet.
                if db.name == "system" || db.offline {
                    continue;
                }
                complete.insert(db.id);
                table_ids.extend(public_in(db));
            }
        }
        Targets::Databases(names) => {
            for name in names {
                let db = catalog.database_by_name(name).ok_or_else(|| BackupError::TargetNotFound(format!("database \"{name}\" does not exist")))?;
                if db.offline {
                    return Err(BackupError::TargetNotFound(format!("database \"{name}\" is offline: restoring")));
                }
                complete.insert(db.id);
                table_ids.extend(public_in(db));
            }
        }
        Targets::Tables(patterns) => {
            for p in patterns {
                match p {
                    TablePattern::Table { database, table } => {
                        let db = database.as_deref().unwrap_or(current_db);
                        let t = catalog.table_by_name(db, table).filter(|t| t.is_public()).ok_or_else(|| match catalog.offline_table_by_name(db, table) {
                            Some(_) => BackupError::TargetNotFound(format!("table \"{db}.{table}\" is offline: restoring")),
                            None => BackupError::TargetNotFound(format!("table \"{db}.{table}\" does not exist")),
                        })?;
                        table_ids.insert(t.id);
                    }
                    TablePattern::AllTablesIn(db) => {
                        let d = catalog.database_by_name(db).ok_or_else(|| BackupError::TargetNotFound(format!("database \"{db}\" does not exist")))?;
                        let ids = public_in(d);
                        if ids.is_empty() {
                            return Err(BackupError::TargetNotFound(format!("no tables match \"{db}.*\"")));
                        }
                        table_ids.extend(ids);
                    }
                }
            }
        }
    }
    let tables: Vec<TableDescriptor> = table_ids.iter().filter_map(|id| catalog.table(*id).cloned()).collect();
    let mut db_ids: BTreeSet<u32> = tables.iter().map(|t| t.parent_id).collect();
    db_ids.extend(complete.iter().copied());
    let databases = db_ids.iter().filter_map(|id| catalog.database(*id).cloned()).collect();
    Ok(Resolved { tables, databases, complete_dbs: complete.into_iter().collect() })
}

/// A relation's name as messages print it: `db.name`.
pub fn qualified(catalog: &Catalog, t: &TableDescriptor) -> String {
    let db = catalog.database(t.parent_id).map(|d| d.name.clone()).unwrap_or_else(|| format!("[{}]", t.parent_id));
    format!("{db}.{}", t.name)
}

/// Refuses a target set that leaves out something a target depends on (the seed's table of
/// object dependencies).
pub fn check_dependencies(catalog: &Catalog, tables: &[TableDescriptor]) -> Result<(), BackupError> {
    let ids: BTreeSet<u32> = tables.iter().map(|t| t.id).collect();
    for t in tables {
        for dep in catalog.dependencies(t.id) {
            if ids.contains(&dep.on) {
                continue;
            }
            let dependency =
                catalog.table(dep.on).map(|d| format!("{} {}", d.kind_name(), qualified(catalog, d))).unwrap_or_else(|| format!("relation [{}]", dep.on));
            return Err(BackupError::MissingDependency {
                action: "back up",
                object: format!("{} {}", t.kind_name(), qualified(catalog, t)),
                dependency,
                reason: dep.reason.to_string(),
            });
        }
    }
    Ok(())
}

/// The targets as SQL prints them.
pub fn describe_targets(t: &Targets) -> String {
    match t {
        Targets::Cluster => "cluster".into(),
        Targets::Databases(d) => format!("DATABASE {}", d.join(", ")),
        Targets::Tables(ts) => format!(
            "TABLE {}",
            ts.iter()
                .map(|p| match p {
                    TablePattern::Table { database: Some(d), table } => format!("{d}.{table}"),
                    TablePattern::Table { database: None, table } => table.clone(),
                    TablePattern::AllTablesIn(d) => format!("{d}.*"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
