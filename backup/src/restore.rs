//! RESTORE: reads a backup's manifest, checks that what it would create does not collide with
//! anything, gives every restored object a fresh id, ingests the data with keys rewritten to the
//! new ids, and publishes all descriptors in one commit — so a restore is all or nothing to SQL.
//!
//! Refusals: inside a transaction; not an admin; options and backup chains a later version
//! implements; a missing, wrong or superfluous `encryption_passphrase` ([`crate::crypto`]); a
//! location without a complete manifest (a lone `BACKUP-CHECKPOINT` is an
//! incomplete backup); a corrupted manifest or data file (each error names the file; no row of
//! a damaged backup is ever published); targets not in the backup; an object that already
//! exists; a dependency left behind without its `skip_missing_*` option; a full-cluster restore
//! into a cluster that holds user data.

use crate::crypto::FileCipher;
use crate::env::Env;
use crate::error::BackupError;
use crate::format::data::DataFile;
use crate::format::manifest::Manifest;
use crate::jobs::JobTotals;
use crate::statement::{RestoreStmt, Targets};
use crate::storage::ExternalStorage;
use crate::targets::{check_session, qualified, resolve_targets, SessionContext};
use model::catalog::{
    self, Catalog, DatabaseDescriptor, DefaultExpr, Descriptor, DescriptorState, TableDescriptor, TableKind, DEFAULT_DATABASE, POSTGRES_DATABASE,
};
use model::{Entry, Key, KvError, Timestamp, WriteOp};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::retry::read_retrying;

/// What RESTORE produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreOutcome {
    /// Totals of the data ingested.
    pub totals: JobTotals,
    /// The commit time at which the restored objects became visible.
    pub published_at: Timestamp,
}

/// Runs a RESTORE statement to completion.
///
/// The backups named by `FROM` form a chain ([`crate::chain`]: a full backup and its
/// incrementals, listed or found in the location's date-named subdirectories), validated before
/// anything else. Without `AS OF SYSTEM TIME` the restore is of the chain's last end time; with
/// one, of that time, which needs a backup ending exactly then or one with revision history
/// covering it. The state at that time is the newest version of each key at or below it across
/// the chain's layers up to it, and the descriptors are those of that time.
pub async fn restore(env: &Env, ctx: &SessionContext, stmt: &RestoreStmt) -> Result<RestoreOutcome, BackupError> {
    let current = check_session(env, ctx, "RESTORE").await?;
    let locations = crate::chain::expand(env, &stmt.from).await?;
    let (layers, cipher) = crate::chain::read_chain(env, &locations, stmt.options.encryption_passphrase.as_ref()).await?;
    crate::chain::validate(&layers)?;
    let wanted_time = match &stmt.as_of {
        Some(a) => Some(Timestamp::parse_as_of(&a.0, env.kv.now())?),
        None => None,
    };
    let (cut, ts) = crate::chain::pick_time(&layers, wanted_time)?;
    let layers = &layers[..cut];
    let manifest = crate::chain::state_at(layers, ts);
    let backup = manifest.catalog();
    let plan = plan_restore(&backup, &current, &manifest, stmt, ctx)?;
    let new_ids = allocate_ids(env, plan.count()).await?;
    let rewrite = plan.rewrite(new_ids);
    let restore_ts = env.kv.now();
    let totals = if layers.len() == 1 && ts == layers[0].manifest.end_time && layers[0].manifest.mvcc_filter == model::MvccFilter::Latest {
        let only = &layers[0];
        ingest(env, &only.shown, &only.storage, &cipher, &only.manifest, &rewrite, restore_ts).await?
    } else {
        ingest_at(env, layers, &cipher, &rewrite, ts, restore_ts).await?
    };
    let published_at = publish(env, &plan, &rewrite, &manifest, stmt).await?;
    Ok(RestoreOutcome { totals, published_at })
}

/// The chain's data as of `ts`: for every key of the restored tables, the newest version at or
/// below `ts` across all layers (a tombstone: the key is absent), ingested at `restore_ts`.
/// Every file read is checked against its manifest.
async fn ingest_at(
    env: &Env,
    layers: &[crate::chain::Layer],
    cipher: &FileCipher,
    rewrite: &Rewrite,
    ts: Timestamp,
    restore_ts: Timestamp,
) -> Result<JobTotals, BackupError> {
    let wanted: Vec<model::Span> = rewrite.ids.keys().map(|id| model::encoding::table_span(*id)).collect();
    let skip_last = env.planted(crate::planted::PlantedBug::RestoreIgnoresAFile);
    let mut newest: BTreeMap<Key, (Timestamp, Option<Vec<u8>>)> = BTreeMap::new();
    for (l, layer) in layers.iter().enumerate() {
        // A span a layer introduces holds, in that layer, the whole history of a table that the
        // earlier layers did not back up: whatever they hold in it is not that table's (another
        // table that had its id, backed up by a shell session that shared the cluster id).
        if l > 0 {
            for span in &layer.manifest.introduced_spans {
                let stale: Vec<Key> = newest.range(span.start.clone()..span.end.clone()).map(|(k, _)| k.clone()).collect();
                for k in stale {
                    newest.remove(&k);
                }
            }
        }
        let last = layer.manifest.files.len().saturating_sub(1);
        for (i, file) in layer.manifest.files.iter().enumerate() {
            if !wanted.iter().any(|s| s.overlaps(&file.span)) || (skip_last && l + 1 == layers.len() && i == last) {
                continue;
            }
            let data = read_data_file(env, &layer.shown, &*layer.storage, cipher, file).await?;
            for e in data.entries {
                if e.ts > ts {
                    continue;
                }
                match newest.get(&e.key) {
                    Some((seen, _)) if *seen >= e.ts => {}
                    _ => {
                        newest.insert(e.key, (e.ts, e.value));
                    }
                }
            }
        }
    }
    let mut totals = JobTotals::default();
    let mut batch = Vec::new();
    for (key, (_, value)) in newest {
        let Some(value) = value else { continue };
        let Some(key) = rewrite_key(key, &rewrite.ids) else { continue };
        count_entry(&mut totals, &key, &value);
        batch.push(Entry { key, ts: restore_ts, value: Some(value) });
        if batch.len() >= 1_000 {
            env.kv.ingest(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        env.kv.ingest(batch).await?;
    }
    Ok(totals)
}

/// Reads one listed data file, decrypts it and checks it against the manifest's record.
async fn read_data_file(
    env: &Env,
    location: &str,
    storage: &dyn ExternalStorage,
    cipher: &FileCipher,
    file: &crate::format::manifest::FileInfo,
) -> Result<DataFile, BackupError> {
    let path = crate::location::join(location, &file.path);
    let bytes = read_retrying(env, storage, &file.path).await.map_err(|e| match e {
        e if e.is_not_found() => {
            BackupError::NotABackup { url: location.to_string(), reason: format!("data file {} listed in the manifest is missing", file.path) }
        }
        e => e.into(),
    })?;
    let bytes = cipher.open(&path, bytes)?;
    Ok(DataFile::decode_listed(&path, file, &bytes)?)
}

fn count_entry(totals: &mut JobTotals, key: &Key, value: &[u8]) {
    let (_, index) = model::encoding::index_of(key).unwrap_or((0, 0));
    if index == model::encoding::PRIMARY_INDEX_ID {
        totals.rows += 1;
    } else {
        totals.index_entries += 1;
    }
    totals.bytes += (key.0.len() + value.len()) as u64;
}

/// What a restore will create, in backup ids.
struct RestorePlan {
    /// Databases to create (backup descriptors).
    new_databases: Vec<DatabaseDescriptor>,
    /// Relations to create, with the id of the database they go into: a backup id (a database
    /// created by this restore) or an existing database's id.
    tables: Vec<(TableDescriptor, Target)>,
    cluster: bool,
}

#[derive(Clone, Copy, Debug)]
enum Target {
    /// Into a database this restore creates (its backup id).
    NewDatabase(u32),
    /// Into an existing database.
    Existing(u32),
}

/// Old (backup) id → new id for every restored descriptor.
struct Rewrite {
    ids: BTreeMap<u32, u32>,
}

impl RestorePlan {
    fn count(&self) -> u32 {
        (self.new_databases.len() + self.tables.len()) as u32
    }

    fn rewrite(&self, first: u32) -> Rewrite {
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

fn plan_restore(backup: &Catalog, current: &Catalog, manifest: &Manifest, stmt: &RestoreStmt, ctx: &SessionContext) -> Result<RestorePlan, BackupError> {
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
                if current.database_by_name(name).is_some() {
                    return Err(BackupError::RestoreConflict(format!("database \"{name}\" already exists")));
                }
                plan.new_databases.push(db.clone());
                for t in backup.tables_in(db.id).into_iter().filter(|t| backed_up(t)) {
                    plan.tables.push((t.clone(), Target::NewDatabase(db.id)));
                }
            }
        }
        Targets::Tables(_) => {
            let resolved = resolve_targets(backup, &stmt.targets, &ctx.database).map_err(|e| match e {
                BackupError::TargetNotFound(m) => BackupError::TargetNotFound(format!("{m} in the backup")),
                other => other,
            })?;
            for t in resolved.tables {
                let source_db = backup.database(t.parent_id).map(|d| d.name.clone()).unwrap_or_default();
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
async fn allocate_ids(env: &Env, n: u32) -> Result<u32, BackupError> {
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

/// Rewrites a key's table id; `None` for keys of tables not restored.
fn rewrite_key(mut key: Key, ids: &BTreeMap<u32, u32>) -> Option<Key> {
    let old = model::encoding::table_of(&key)?;
    let new = *ids.get(&old)?;
    key.0[..4].copy_from_slice(&new.to_be_bytes());
    Some(key)
}

/// How many data files RESTORE prepares ahead of the one it ingests.
const READ_AHEAD: usize = 2;

/// One data file ready to ingest: its live entries re-keyed to the new ids, and their totals.
struct Prepared {
    batch: Vec<Entry>,
    totals: JobTotals,
}

/// Reads every data file the restored tables need, checking each against the manifest, and
/// ingests its entries with rewritten keys at `ts`.
///
/// Reading, decrypting, checking and re-keying a file are started on the runtime
/// ([`Runtime::start`](crate::env::Runtime::start)) up to [`READ_AHEAD`] files ahead, while this
/// task ingests the previous one: in a real process the two sides keep two cores busy (the
/// restore of one 1 GiB table went from one core to two). In the simulator they are tasks of
/// the same node, in an order the seed fixes. Files are ingested
/// in manifest order whatever order their reads finish in, and the first error stops the
/// restore before anything later is ingested; files still in flight are dropped unread.
async fn ingest(
    env: &Env,
    location: &str,
    storage: &Arc<dyn ExternalStorage>,
    cipher: &FileCipher,
    manifest: &Manifest,
    rewrite: &Rewrite,
    ts: Timestamp,
) -> Result<JobTotals, BackupError> {
    let wanted: Vec<model::Span> = rewrite.ids.keys().map(|id| model::encoding::table_span(*id)).collect();
    let skip_last = env.planted(crate::planted::PlantedBug::RestoreIgnoresAFile);
    let last = manifest.files.len().saturating_sub(1);
    let files: Vec<&crate::format::manifest::FileInfo> = manifest
        .files
        .iter()
        .enumerate()
        .filter(|(i, file)| wanted.iter().any(|s| s.overlaps(&file.span)) && !(skip_last && *i == last))
        .map(|(_, file)| file)
        .collect();
    let ids = Arc::new(rewrite.ids.clone());
    let start = |file: &crate::format::manifest::FileInfo| {
        let (tx, rx) = futures::channel::oneshot::channel();
        let (env2, location, storage, cipher, file, ids) = (env.clone(), location.to_string(), storage.clone(), cipher.clone(), file.clone(), ids.clone());
        let work = env.runtime.start(Box::pin(async move {
            let prepared = read_data_file(&env2, &location, &*storage, &cipher, &file).await.map(|data| prepare(data, &ids, ts));
            // The restore may have failed meanwhile and dropped the receiver: nothing to do.
            let _ = tx.send(prepared);
        }));
        (work, rx)
    };
    let mut in_flight = std::collections::VecDeque::new();
    let mut next = 0;
    let mut totals = JobTotals::default();
    loop {
        while next < files.len() && in_flight.len() < READ_AHEAD {
            in_flight.push_back(start(files[next]));
            next += 1;
        }
        let Some((work, rx)) = in_flight.pop_front() else { break };
        work.await;
        let prepared = rx.await.map_err(|_| BackupError::Internal("a data file's read task ended without an answer".into()))??;
        totals.rows += prepared.totals.rows;
        totals.index_entries += prepared.totals.index_entries;
        totals.bytes += prepared.totals.bytes;
        if !prepared.batch.is_empty() {
            env.kv.ingest(prepared.batch).await?;
        }
    }
    Ok(totals)
}

/// A data file's live entries (a full backup holds no tombstones worth restoring), re-keyed to
/// the new ids and stamped `ts`.
fn prepare(data: DataFile, ids: &BTreeMap<u32, u32>, ts: Timestamp) -> Prepared {
    let mut totals = JobTotals::default();
    let mut batch = Vec::with_capacity(data.entries.len());
    for e in data.entries {
        let Some(value) = e.value else { continue };
        if let Some(key) = rewrite_key(e.key, ids) {
            count_entry(&mut totals, &key, &value);
            batch.push(Entry { key, ts, value: Some(value) });
        }
    }
    Prepared { batch, totals }
}

/// Writes every restored descriptor (and, for a cluster restore, users, roles and zones) in one
/// commit: the moment the restore becomes visible.
async fn publish(env: &Env, plan: &RestorePlan, rewrite: &Rewrite, manifest: &Manifest, stmt: &RestoreStmt) -> Result<Timestamp, BackupError> {
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
    let _ = stmt;
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
            Ok(ts) => return Ok(ts),
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
