//! Planning a BACKUP: from a parsed statement to the exact set of spans, descriptors and times
//! the job will export, after every refusal the seed page and CockroachDB impose.
//!
//! Refusals, in the order they are checked: inside a transaction; not an admin; options a later
//! version implements; an `AS OF SYSTEM TIME` that does not parse or lies in the future; targets
//! that do not exist; a dependency (foreign key, sequence, view, interleave parent) left out; an
//! end time at or below a span's GC threshold; a destination that already holds a backup or a
//! backup in progress. Planning reads the catalog as of the backup's own time, so what is backed
//! up is what existed then.

use crate::env::Env;
use crate::error::BackupError;
use crate::format::manifest::{ClusterData, CHECKPOINT_NAME, MANIFEST_NAME};
use crate::statement::{BackupStmt, TablePattern, Targets};
use crate::storage::url::StorageUrl;
use crate::storage::ExternalStorage;
use model::catalog::{Catalog, DatabaseDescriptor, Descriptor, TableDescriptor};
use model::{MvccError, MvccFilter, Span, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

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

/// Everything a backup job needs to run (and to resume after adoption): its payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupDetails {
    /// The destination, credentials included (needed to resume; never printed).
    pub destination: String,
    /// The destination as printed.
    pub destination_redacted: String,
    /// Exclusive start of the exported window (zero for a full backup).
    pub start_time: Timestamp,
    /// The backup's time.
    pub end_time: Timestamp,
    /// Latest values or every revision.
    pub mvcc_filter: MvccFilter,
    /// The spans to export, sorted and merged.
    pub spans: Vec<Span>,
    /// Databases and relations backed up.
    pub descriptors: Vec<Descriptor>,
    /// Databases backed up whole.
    pub complete_dbs: Vec<u32>,
    /// True for a cluster backup.
    pub is_full_cluster: bool,
    /// Users, roles and zone configs (cluster backups).
    pub cluster_data: Option<ClusterData>,
    /// Unique id of this backup.
    pub backup_id: String,
    /// Backups this one builds on (empty for a full backup).
    pub depends_on: Vec<String>,
    /// The cluster backed up.
    pub cluster_id: String,
    /// The statement's targets, as printed (no secrets).
    pub targets_description: String,
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

/// Parses a location, applies this node's external-io settings, and opens it.
pub fn open_location(env: &Env, location: &str) -> Result<(StorageUrl, Arc<dyn ExternalStorage>), BackupError> {
    let url = StorageUrl::parse(location)?;
    env.io.check(&url)?;
    let storage = env.storage.open(&url, env.node())?;
    Ok((url, storage))
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
                if db.name == "system" {
                    continue;
                }
                complete.insert(db.id);
                table_ids.extend(public_in(db));
            }
        }
        Targets::Databases(names) => {
            for name in names {
                let db = catalog.database_by_name(name).ok_or_else(|| BackupError::TargetNotFound(format!("database \"{name}\" does not exist")))?;
                complete.insert(db.id);
                table_ids.extend(public_in(db));
            }
        }
        Targets::Tables(patterns) => {
            for p in patterns {
                match p {
                    TablePattern::Table { database, table } => {
                        let db = database.as_deref().unwrap_or(current_db);
                        let t = catalog.table_by_name(db, table).filter(|t| t.is_public()).ok_or_else(|| BackupError::TargetNotFound(format!("table \"{db}.{table}\" does not exist")))?;
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
            let dependency = catalog.table(dep.on).map(|d| format!("{} {}", d.kind_name(), qualified(catalog, d))).unwrap_or_else(|| format!("relation [{}]", dep.on));
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

/// Plans a BACKUP statement: every check, then the job's payload.
pub async fn plan_backup(env: &Env, ctx: &SessionContext, stmt: &BackupStmt) -> Result<BackupDetails, BackupError> {
    check_session(env, ctx, "BACKUP").await?;
    if stmt.options.revision_history {
        return Err(BackupError::NotSupportedYet("BACKUP ... WITH revision_history"));
    }
    if stmt.options.encryption_passphrase.is_some() {
        return Err(BackupError::NotSupportedYet("BACKUP ... WITH encryption_passphrase"));
    }
    if !stmt.incremental_from.is_empty() {
        return Err(BackupError::NotSupportedYet("BACKUP ... INCREMENTAL FROM"));
    }
    if stmt.to.len() != 1 {
        return Err(BackupError::NotSupportedYet("BACKUP to a list of locality-aware destinations"));
    }
    let now = env.kv.now();
    let end_time = resolve_as_of(stmt.as_of.as_ref().map(|a| a.0.as_str()), now)?;
    let catalog = catalog_at(env, end_time).await?;
    let resolved = resolve_targets(&catalog, &stmt.targets, &ctx.database)?;
    #[cfg(feature = "planted-bugs")]
    let skip_dependencies = env.planted(crate::planted::PlantedBug::DependencyNotChecked);
    #[cfg(not(feature = "planted-bugs"))]
    let skip_dependencies = false;
    if !skip_dependencies {
        check_dependencies(&catalog, &resolved.tables)?;
    }
    // One span per table, never merged across tables (CockroachDB's ranges split at table
    // boundaries too): a data file then holds one table's keys, so SHOW BACKUP can give each
    // table its own size and row count.
    let mut spans: Vec<Span> = resolved.tables.iter().filter(|t| !t.is_view()).map(|t| t.span()).collect();
    spans.sort();
    spans.dedup();
    #[cfg(feature = "planted-bugs")]
    let checked_time = if env.planted(crate::planted::PlantedBug::GcCheckWrongTimestamp) { now } else { end_time };
    #[cfg(not(feature = "planted-bugs"))]
    let checked_time = end_time;
    for span in &spans {
        let threshold = env.kv.gc_threshold(span).await?;
        if !threshold.is_zero() && checked_time <= threshold {
            return Err(BackupError::Kv(MvccError::BelowGcThreshold { ts: end_time, threshold }.into()));
        }
    }
    let (url, storage) = open_location(env, &stmt.to[0])?;
    check_destination(&url, &*storage).await?;
    // `nodelocal://self` means this gateway's directory: pin it, so that a node adopting the job
    // later writes to the same place rather than to its own.
    let destination = match url.nodelocal_target() {
        Some(crate::storage::url::NodelocalTarget::SelfNode) => stmt.to[0].replacen("nodelocal://self", &format!("nodelocal://{}", env.node()), 1),
        _ => stmt.to[0].clone(),
    };
    let destination_redacted = crate::storage::url::redact_location(&destination);
    let is_full_cluster = matches!(stmt.targets, Targets::Cluster);
    let cluster_data = is_full_cluster.then(|| ClusterData {
        users: catalog.users().cloned().collect(),
        role_memberships: catalog.role_memberships().cloned().collect(),
        zones: catalog.zones().map(|(id, z)| (id, z.clone())).collect(),
    });
    let mut descriptors: Vec<Descriptor> = resolved.databases.iter().cloned().map(Descriptor::Database).collect();
    descriptors.extend(resolved.tables.iter().cloned().map(Descriptor::Table));
    Ok(BackupDetails {
        destination,
        destination_redacted,
        start_time: Timestamp::ZERO,
        end_time,
        mvcc_filter: MvccFilter::Latest,
        spans,
        descriptors,
        complete_dbs: resolved.complete_dbs,
        is_full_cluster,
        cluster_data,
        // Unique per statement: two BACKUPs with the same AS OF SYSTEM TIME still differ.
        backup_id: format!("{}-{}-{}", env.cluster_id, end_time, env.kv.now()),
        depends_on: Vec::new(),
        cluster_id: env.cluster_id.clone(),
        targets_description: describe_targets(&stmt.targets),
    })
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

/// Refuses a destination that already holds a backup, or a backup in progress.
pub async fn check_destination(url: &StorageUrl, storage: &dyn ExternalStorage) -> Result<(), BackupError> {
    if storage.exists(MANIFEST_NAME).await? {
        return Err(BackupError::DestinationNotEmpty { url: url.redacted(), file: MANIFEST_NAME, hint: "" });
    }
    if storage.exists(CHECKPOINT_NAME).await? {
        return Err(BackupError::DestinationNotEmpty { url: url.redacted(), file: CHECKPOINT_NAME, hint: " (is another operation already in progress?)" });
    }
    Ok(())
}
