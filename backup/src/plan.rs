//! Planning a BACKUP: from a parsed statement to the exact set of spans, descriptors and times
//! the job will export, after every refusal the seed page and CockroachDB impose.
//!
//! Refusals, in the order they are checked: inside a transaction; not an admin; options a later
//! version implements; an `AS OF SYSTEM TIME` that does not parse or lies in the future; targets
//! that do not exist; a dependency (foreign key, sequence, view, interleave parent) left out; an
//! end time at or below a span's GC threshold; a destination that already holds a backup, or
//! that another job holds (its lock file, or a checkpoint no lock explains — each refusal names
//! the job, its status and how to free the location, [`crate::lock`]); an incremental whose
//! targets are not its chain's. Planning reads the catalog as of the backup's own time, so what
//! is backed up is what existed then.

use crate::env::Env;
use crate::error::{BackupError, ChainError};
use crate::format::manifest::{ClusterData, DescriptorChange, CHECKPOINT_NAME, MANIFEST_NAME};
use crate::statement::{BackupStmt, Targets};
use crate::storage::url::StorageUrl;
use crate::storage::ExternalStorage;
use crate::targets::{catalog_at, check_dependencies, check_session, describe_targets, qualified, resolve_as_of, resolve_targets, Resolved, SessionContext};
use model::catalog::{Catalog, Descriptor};
use model::{MvccError, MvccFilter, Span, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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
    /// Spans new since the previous backup (an incremental's new tables), exported from time
    /// zero.
    #[serde(default)]
    pub introduced_spans: Vec<Span>,
    /// Databases and relations backed up.
    pub descriptors: Vec<Descriptor>,
    /// With revision history: every descriptor revision in the window.
    #[serde(default)]
    pub descriptor_changes: Vec<DescriptorChange>,
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
    /// `WITH encryption_passphrase`: the derived key (never the passphrase) and where the
    /// chain's `ENCRYPTION-INFO` is. Absent, and left out of the stored job record, for an
    /// unencrypted backup, whose record is then exactly what it was before encryption existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<crate::crypto::JobEncryption>,
    /// An automatic incremental's chain root: the location its statement named, holding the
    /// full backup, where its lock file goes (so that every incremental of the chain conflicts
    /// there) and its claim on its base ([`crate::lock`]). Absent for every other backup, whose
    /// lock is at its destination (and from a record written before locks existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_root: Option<String>,
    /// A locality-aware backup's destinations other than the default, in its statement's order
    /// ([`crate::partitioned`]). Empty, and left out of the record, for any other backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<crate::partitioned::PartitionDestination>,
    /// A run has sent the manifest: it may be at the destination although no answer said so (a
    /// server that died just after the upload). From then on the job waits for storage to
    /// answer, however long, rather than end failed beside a complete backup. Left out of the
    /// record until then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manifest_sent: bool,
    /// A full backup into a collection (`BACKUP … INTO 'c'`): the collection and the
    /// subdirectory its LATEST is to name once the manifest is written. Absent for every other
    /// backup (an incremental leaves LATEST as it is), and left out of the record then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<crate::collection::LatestUpdate>,
}

impl BackupDetails {
    /// Where this job's lock file goes: the chain root of an automatic incremental, else the
    /// destination.
    pub fn lock_location(&self) -> &str {
        self.chain_root.as_deref().unwrap_or(&self.destination)
    }

    /// The cipher of the job's files, from its payload (so an adopting node has it too).
    pub fn cipher(&self) -> crate::crypto::FileCipher {
        match &self.encryption {
            Some(e) => crate::crypto::FileCipher::with_checked_key(e.key.clone()),
            None => crate::crypto::FileCipher::plaintext(),
        }
    }

    /// The lock file this job writes at its location (and the content of its claims).
    pub fn lock_file(&self, job_id: crate::jobs::JobId) -> crate::lock::LockFile {
        let subdir = match &self.chain_root {
            Some(_) => crate::chain::subdir_name(self.end_time),
            None => String::new(),
        };
        crate::lock::LockFile { job_id, cluster_id: self.cluster_id.clone(), backup_id: self.backup_id.clone(), subdir }
    }
}

/// Plans a BACKUP statement: every check, then the job's payload.
///
/// A full backup, or an incremental: with `INCREMENTAL FROM` the listed chain is its base; a
/// destination that already holds a full backup makes it an automatic incremental in a
/// date-named subdirectory, chained onto everything there ([`crate::chain`]). A locality-aware
/// destination list is planned as a backup to its default URL, whose other URLs then receive
/// the files of their localities' nodes in the same subdirectory ([`crate::partitioned`]).
pub async fn plan_backup(env: &Env, ctx: &SessionContext, stmt: &BackupStmt) -> Result<BackupDetails, BackupError> {
    check_session(env, ctx, "BACKUP").await?;
    let dests = crate::locality::Destinations::parse(&stmt.to)?;
    let to_default = BackupStmt { to: vec![dests.default.clone()], ..stmt.clone() };
    let mut details = plan_to(env, ctx, &to_default).await?;
    details.partitions = crate::partitioned::plan(env, &dests, &details.destination).await?;
    Ok(details)
}

/// [`plan_backup`] of a statement with one destination (its session already checked).
async fn plan_to(env: &Env, ctx: &SessionContext, stmt: &BackupStmt) -> Result<BackupDetails, BackupError> {
    let now = env.kv.now();
    let end_time = resolve_as_of(stmt.as_of.as_ref().map(|a| a.0.as_str()), now)?;
    // With the system database and `system.users`, so that `BACKUP TABLE system.users` (the
    // seed's way to keep users apart from a cluster backup) resolves as in CockroachDB: its
    // table exports the user records' span as it is, and a RESTORE of it `WITH into_db` turns
    // them into rows (`restore::system_users`). A cluster backup skips the system database.
    let catalog = catalog_at(env, end_time).await?.with_system_tables();
    let resolved = resolve_targets(&catalog, &stmt.targets, &ctx.database)?;
    if resolved.complete_dbs.contains(&model::catalog::SYSTEM_DATABASE_ID) {
        return Err(BackupError::TargetNotFound(
            "database \"system\" cannot be backed up whole: back up its table system.users (BACKUP TABLE system.users TO …), or the cluster".into(),
        ));
    }
    let skip_dependencies = env.planted(crate::planted::PlantedBug::DependencyNotChecked);
    if !skip_dependencies {
        check_dependencies(&catalog, &resolved.tables)?;
    }
    let is_full_cluster = matches!(stmt.targets, Targets::Cluster);
    let mvcc_filter = if stmt.options.revision_history { MvccFilter::AllRevisions } else { MvccFilter::Latest };

    // Where it goes, and what it builds on.
    let passphrase = stmt.options.encryption_passphrase.as_ref();
    // `INTO` a collection: where in it, decided here ([`crate::collection`]); the rest of the
    // planning is that of a full backup at that subdirectory, or of an automatic incremental
    // of that chain whose incrementals live under `root`.
    let into = match &stmt.into {
        Some(into) => Some(crate::collection::plan_destination(env, &stmt.to[0], into, end_time).await?),
        None => None,
    };
    let location = match &into {
        Some(crate::collection::Destination::Full { location, .. }) => location.clone(),
        Some(crate::collection::Destination::Incremental { full, .. }) => full.clone(),
        None => stmt.to[0].clone(),
    };
    let (url, storage) = crate::location::open(env, &location)?;
    // A leftover checkpoint is encrypted with the key of the chain's ENCRYPTION-INFO, which lives
    // in its full backup's directory: the first location named, or the collection's root.
    let first = stmt.incremental_from.first().unwrap_or(&location);
    let keyed = passphrase.map(|passphrase| KeySource { location: first, passphrase });
    let (base, target, chain_root) = if let Some(crate::collection::Destination::Incremental { full, root, .. }) = &into {
        let (base, sub) = append_to(env, full, root, passphrase, keyed, end_time).await?;
        (Some(base), sub, Some(root.clone()))
    } else if into.is_some() {
        check_destination(env, &url, &*storage, keyed).await?;
        (None, location.clone(), None)
    } else if !stmt.incremental_from.is_empty() {
        check_destination(env, &url, &*storage, keyed).await?;
        (Some(crate::chain::base_chain(env, &stmt.incremental_from, passphrase).await?), stmt.to[0].clone(), None)
    } else if crate::retry::retrying(env, || storage.exists(MANIFEST_NAME)).await? {
        // A collection's full backup named by its own path: its chain may already go on in
        // the collection's layout, which appending here would fork.
        crate::collection::refuse_plain_append_to_collection_chain(env, &stmt.to[0]).await?;
        let (base, sub) = append_to(env, &stmt.to[0], &stmt.to[0], passphrase, keyed, end_time).await?;
        (Some(base), sub, Some(stmt.to[0].clone()))
    } else {
        check_destination(env, &url, &*storage, keyed).await?;
        (None, stmt.to[0].clone(), None)
    };

    // One span per table, never merged across tables (CockroachDB's ranges split at table
    // boundaries too): a data file then holds one table's keys, so SHOW BACKUP can give each
    // table its own size and row count.
    let mut spans: Vec<Span> = resolved.tables.iter().filter(|t| !t.is_view()).map(|t| t.span()).collect();
    // What the chain's layers back up between them, merged.
    let covered: Vec<Span> = match &base {
        Some(layers) => model::key::merge_spans(&layers.iter().flat_map(|l| l.manifest.spans.iter().cloned()).collect::<Vec<_>>()),
        None => Vec::new(),
    };
    let (start_time, introduced_spans, depends_on) = match &base {
        None => (Timestamp::ZERO, Vec::new(), Vec::new()),
        Some(layers) => {
            let last = layers.last().expect("a validated chain is not empty");
            let start = last.manifest.end_time;
            if end_time <= start {
                return Err(ChainError::NotAfterBase { end: end_time, base_end: start, base: last.shown.clone() }.into());
            }
            if last.manifest.cluster_id != env.cluster_id {
                return Err(ChainError::OtherCluster { previous: last.shown.clone(), cluster: last.manifest.cluster_id.clone() }.into());
            }
            if let Err(e) = check_same_targets(&stmt.targets, &catalog, &resolved, layers) {
                return Err(match (e, &into) {
                    (BackupError::Chain(ChainError::TargetsDiffer(reason)), Some(_)) => {
                        let hint = crate::collection::targets_hint(env, &stmt.to[0], &describe_targets(&stmt.targets), passphrase).await;
                        crate::error::CollectionError::TargetsDiffer { reason, hint }.into()
                    }
                    (e, _) => e,
                });
            }
            if !is_full_cluster {
                check_same_tables(&catalog, &resolved, last)?;
            }
            let introduced: Vec<Span> = spans.iter().filter(|s| !s.subtract(&covered).is_empty()).cloned().collect();
            (start, introduced, crate::chain::depends_on(layers))
        }
    };
    let start_time = match &base {
        Some(layers) if env.planted(crate::planted::PlantedBug::IncrementalStartFromFirstBase) => layers[0].manifest.end_time,
        _ => start_time,
    };
    let checked_time = if env.planted(crate::planted::PlantedBug::GcCheckWrongTimestamp) { now } else { end_time };
    // The GC window, checked before any history is read: reading the descriptors' history
    // from a base older than it would otherwise fail with the KV layer's bare "start timestamp
    // must be after replica GC threshold" rather than saying a new full backup is needed.
    check_gc_window(env, &spans, start_time, &introduced_spans, checked_time, end_time).await?;
    // A table that this cluster's catalog as of the base's end time does not hold under the same
    // id was not in this cluster then: created, restored or imported since, or this cluster (a
    // later shell session with the same cluster id) started after the base. Its changes since
    // the base are its whole history, so it is an introduced span, exported from time zero, and
    // replaces on restore whatever the chain holds in its span (rows of another table that had
    // its id). Within one cluster this only repeats what the base's spans say.
    //
    // So is a table that was there but offline at the base's end time (a RESTORE still running):
    // the restore writes its rows at the restore's own time, fixed when it was planned and so
    // possibly before the base's end, so the base (which a revision-history backup gives the
    // offline table's span) and this window both miss what was ingested after the base ran.
    // CockroachDB calls these reintroduced spans (chain seed 1825 of `--faults everything`
    // restored 30 of a mid-chain restored table's 33 rows).
    let mut introduced_spans = introduced_spans;
    if base.is_some() {
        check_gc_window(env, &[model::catalog::descriptors_span()], start_time, &[], checked_time, end_time).await?;
        let then = catalog_at(env, start_time).await?.with_system_tables();
        for t in resolved.tables.iter().filter(|t| !t.is_view() && !then.table(t.id).is_some_and(|t| t.is_public())) {
            let span = t.span();
            if !introduced_spans.contains(&span) {
                introduced_spans.push(span);
            }
        }
        introduced_spans.sort();
    }
    // Revision history: the descriptors' own history in the window, and the spans of tables of
    // the backed-up databases that existed in the window but are gone at its end (a restore to
    // a time before their drop needs their rows).
    let descriptor_changes = if mvcc_filter == MvccFilter::AllRevisions {
        if !start_time.is_zero() {
            check_gc_window(env, &[model::catalog::descriptors_span()], start_time, &[], checked_time, end_time).await?;
        }
        // A cluster backup covers every user database and table, including those dropped in
        // the window with their database (DROP DATABASE ... CASCADE): the catalog as of the end
        // time no longer names them, but a restore to a time before the drop needs their
        // descriptors and rows (their drop, replayed, leaves them out of later times).
        let user_object = |d: &Descriptor| match d {
            Descriptor::Database(db) => db.name != "system",
            Descriptor::Table(t) => t.id >= model::encoding::FIRST_USER_TABLE_ID,
        };
        // A table target names a table, not an id: the table its name held earlier in the
        // window (one TRUNCATE replaced with a new id, or one dropped and created again under
        // the name) is what the statement meant at those times, and a restore to one of them
        // needs its descriptor and rows (cockroachdb/cockroach#22459).
        let predecessor = |t: &model::catalog::TableDescriptor| resolved.tables.iter().any(|x| x.parent_id == t.parent_id && x.name == t.name);
        let relevant = |d: &Descriptor| match d {
            _ if is_full_cluster => user_object(d),
            Descriptor::Database(db) => resolved.databases.iter().any(|x| x.id == db.id) || resolved.complete_dbs.contains(&db.id),
            Descriptor::Table(t) => resolved.tables.iter().any(|x| x.id == t.id) || resolved.complete_dbs.contains(&t.parent_id) || predecessor(t),
        };
        let mut changes = descriptor_history(env, start_time, end_time, &relevant).await?;
        // An incremental that introduces objects (a cluster chain whose base held less) records
        // their state at its start, so a restore to any time in its window knows them even if
        // they do not change in it.
        if let Some(layers) = &base {
            let before: BTreeSet<u32> = layers.last().map(|l| l.manifest.descriptors.iter().map(|d| d.id()).collect()).unwrap_or_default();
            let at_start = catalog_at(env, start_time).await?.with_system_tables();
            let mut initial: Vec<DescriptorChange> = at_start
                .descriptors()
                .filter(|d| !before.contains(&d.id()) && relevant(d))
                .map(|d| DescriptorChange { time: start_time, id: d.id(), desc: Some(d.clone()) })
                .collect();
            initial.append(&mut changes);
            changes = initial;
        } else {
            // The system database and `system.users` are in no descriptor history (the
            // descriptors table does not hold them): a full backup records them as of its
            // start, so a restore to any time in its window finds them.
            let mut initial: Vec<DescriptorChange> = catalog
                .descriptors()
                .filter(|d| d.id() < model::catalog::FIRST_USER_DESCRIPTOR_ID && relevant(d))
                .map(|d| DescriptorChange { time: start_time, id: d.id(), desc: Some(d.clone()) })
                .collect();
            initial.append(&mut changes);
            changes = initial;
        }
        for c in &changes {
            if let Some(Descriptor::Table(t)) = &c.desc {
                if (is_full_cluster || resolved.complete_dbs.contains(&t.parent_id) || predecessor(t)) && !t.is_view() {
                    spans.push(t.span());
                }
            }
        }
        changes
    } else {
        Vec::new()
    };
    // A revision-history cluster backup carries the history of users, role memberships and
    // zone configs as data, as CockroachDB's backs up its system tables: a restore to a time
    // inside its window restores them as of that time, not as of the backup's end.
    // On a chain whose earlier backups lack them (written before this), they are introduced:
    // exported whole, history and all.
    if is_full_cluster && mvcc_filter == MvccFilter::AllRevisions {
        for span in model::catalog::cluster_data_spans() {
            if base.is_some() && !span.subtract(&covered).is_empty() {
                introduced_spans.push(span.clone());
            }
            spans.push(span);
        }
        introduced_spans.sort();
        introduced_spans.dedup();
    }
    spans.sort();
    spans.dedup();
    // Again with the spans revision history added (tables dropped in the window).
    check_gc_window(env, &spans, start_time, &introduced_spans, checked_time, end_time).await?;
    // `nodelocal://self` means this gateway's directory: pin it, so that a node adopting the job
    // later writes to the same place rather than to its own.
    let pin = |location: &str| match StorageUrl::parse(location).ok().and_then(|u| u.nodelocal_target()) {
        Some(crate::storage::url::NodelocalTarget::SelfNode) => location.replacen("nodelocal://self", &format!("nodelocal://{}", env.node()), 1),
        _ => location.to_string(),
    };
    let destination = pin(&target);
    let destination_redacted = crate::storage::url::redact_location(&destination);
    // The chain's ENCRYPTION-INFO lives in its full backup's directory.
    let info_location = match &base {
        Some(layers) => pin(&layers[0].location),
        None => destination.clone(),
    };
    let encryption = crate::encryption::plan_backup_encryption(env, passphrase, &info_location).await?;
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
        start_time,
        end_time,
        mvcc_filter,
        spans,
        introduced_spans,
        descriptors,
        descriptor_changes,
        complete_dbs: resolved.complete_dbs,
        is_full_cluster,
        cluster_data,
        // Unique per statement, as CockroachDB's unique_rowid is: this node's clock reading and
        // the node. The clock reading alone is not: two gateways whose clocks lag a third's
        // both read the hybrid clock the third pushed them to, logical count and all, and two
        // BACKUPs planned on them at once (AS OF the same '-1s') took each other's claim and
        // manifest for their own — both succeeded at one location, one silently lost (swarm
        // seed 1643 of the backup scenario, with a rival backup and clock skew).
        backup_id: format!("{}-{}-{}-n{}", env.cluster_id, end_time, env.kv.now(), env.node()),
        depends_on,
        cluster_id: env.cluster_id.clone(),
        targets_description: describe_targets(&stmt.targets),
        encryption,
        partitions: Vec::new(),
        chain_root: chain_root.map(|r| pin(&r)),
        manifest_sent: false,
        latest: match into {
            Some(crate::collection::Destination::Full { subdir, .. }) => Some(crate::collection::LatestUpdate { collection: pin(&stmt.to[0]), subdir }),
            _ => None,
        },
    })
}

/// An automatic incremental of the chain of the full backup at `full`, whose incrementals are
/// under `root` (the same location for `BACKUP … TO`; a collection's `incrementals/<subdir>`
/// for `BACKUP … INTO`): refused over http (its incrementals cannot be listed) or while another
/// job holds the root; otherwise the chain, validated, and the new incremental's location.
async fn append_to(
    env: &Env,
    full: &str,
    root: &str,
    passphrase: Option<&crate::statement::Secret>,
    keyed: Option<KeySource<'_>>,
    end_time: Timestamp,
) -> Result<(Vec<crate::chain::Layer>, String), BackupError> {
    let (url, storage) = crate::location::open(env, root)?;
    if matches!(url.scheme(), crate::storage::url::Scheme::Http | crate::storage::url::Scheme::Https) {
        return Err(ChainError::AutoIncrementalOverHttp { location: url.redacted() }.into());
    }
    // Another job appending to this chain (running or paused) holds the root.
    check_locks(env, &url.redacted(), &*storage).await?;
    let (base, _) = crate::chain::read_rooted(env, full, root, passphrase).await?;
    crate::chain::validate(&base)?;
    let sub = crate::location::join(root, &crate::chain::subdir_name(end_time));
    let (sub_url, sub_storage) = crate::location::open(env, &sub)?;
    check_destination(env, &sub_url, &*sub_storage, keyed).await?;
    Ok((base, sub))
}

/// Refuses a backup whose history is (or may be) garbage collected: a full backup (or a span
/// an incremental introduces, exported from time zero) whose time is at or below a span's GC
/// threshold; an incremental whose base ends at or below it, which needs a new full backup.
async fn check_gc_window(
    env: &Env,
    spans: &[Span],
    start_time: Timestamp,
    introduced_spans: &[Span],
    checked_time: Timestamp,
    end_time: Timestamp,
) -> Result<(), BackupError> {
    for span in spans {
        let threshold = env.kv.gc_threshold(span).await?;
        if threshold.is_zero() {
            continue;
        }
        let from_zero = start_time.is_zero() || introduced_spans.iter().any(|s| s.overlaps(span));
        if from_zero {
            if checked_time <= threshold {
                return Err(BackupError::Kv(MvccError::BelowGcThreshold { ts: end_time, threshold }.into()));
            }
        } else if start_time <= threshold {
            return Err(ChainError::BaseBelowGcThreshold { base_end: start_time, threshold, span: span.clone() }.into());
        }
    }
    Ok(())
}

/// An incremental must back up what its chain backs up, so that the chain at a location never
/// degrades: a cluster backup appends only to a cluster backup (CockroachDB: "cannot append a
/// backup of specific tables or databases to a cluster backup"), a backup of databases only to
/// a backup of the same complete databases, and a backup of tables only to a backup of tables
/// (their exact set is [`check_same_tables`]'s). Naming every user database is not a cluster
/// backup (no users, zone configs or future databases), and a database's tables listed one by
/// one are not the database. Checked against every member of the chain, so a chain that
/// degraded before this check existed is refused too, naming the member that differs.
fn check_same_targets(targets: &Targets, catalog: &Catalog, resolved: &Resolved, layers: &[crate::chain::Layer]) -> Result<(), BackupError> {
    let this = describe_targets(targets);
    let db_names = |ids: &[u32], names: &dyn Fn(u32) -> Option<String>| {
        ids.iter().map(|id| names(*id).unwrap_or_else(|| format!("[{id}]"))).collect::<Vec<_>>().join(", ")
    };
    let is_cluster = matches!(targets, Targets::Cluster);
    let mut wanted: Vec<u32> = if matches!(targets, Targets::Databases(_)) { resolved.complete_dbs.clone() } else { Vec::new() };
    wanted.sort_unstable();
    for base in layers {
        let m = &base.manifest;
        let base_targets = if m.targets_description.is_empty() { "an unnamed target list".to_string() } else { m.targets_description.clone() };
        if m.is_full_cluster && !is_cluster {
            return Err(ChainError::TargetsDiffer(format!(
                "cannot append a backup of specific tables or databases to a cluster backup: {} is a backup of the cluster, this one of {this}; back up the cluster to append to it, or back up {this} to a new location",
                base.shown
            )).into());
        }
        if !m.is_full_cluster && is_cluster {
            return Err(ChainError::TargetsDiffer(format!(
                "cannot append a cluster backup to a backup of specific tables or databases: {} is a backup of {base_targets}; back up the cluster to a new location",
                base.shown
            )).into());
        }
        if is_cluster {
            continue;
        }
        let mut had = m.complete_dbs.clone();
        had.sort_unstable();
        if had != wanted {
            let base_db = |id: u32| {
                m.descriptors.iter().find_map(|d| match d {
                    Descriptor::Database(db) if db.id == id => Some(db.name.clone()),
                    _ => None,
                })
            };
            let now_db = |id: u32| catalog.database(id).map(|d| d.name.clone());
            let (was, is) = (db_names(&had, &base_db), db_names(&wanted, &now_db));
            let detail = match (had.is_empty(), wanted.is_empty()) {
                (true, _) => format!("it backs up tables, this one the complete database{} {is}", if wanted.len() == 1 { "" } else { "s" }),
                (false, true) => format!("it backs up the complete database{} {was}, this one only tables", if had.len() == 1 { "" } else { "s" }),
                (false, false) => format!("it backs up the complete database{} {was}, this one {is}", if had.len() == 1 { "" } else { "s" }),
            };
            return Err(ChainError::TargetsDiffer(format!(
                "cannot append a backup of {this} to {}, a backup of {base_targets}: {detail}; an incremental must back up the same targets as the backups it builds on (back up {base_targets} to append to it, or use a new location)",
                base.shown
            )).into());
        }
    }
    Ok(())
}

/// An incremental of an explicit table or database list must back up exactly the tables its
/// base did: a table created, dropped or truncated (TRUNCATE gives a table a new id) since then
/// has no base to build on (the seed's note on `full_backup_location`).
fn check_same_tables(catalog: &Catalog, resolved: &Resolved, base: &crate::chain::Layer) -> Result<(), BackupError> {
    let before: BTreeSet<u32> = base
        .manifest
        .descriptors
        .iter()
        .filter_map(|d| match d {
            Descriptor::Table(t) => Some(t.id),
            Descriptor::Database(_) => None,
        })
        .collect();
    let now: BTreeSet<u32> = resolved.tables.iter().map(|t| t.id).collect();
    if let Some(t) = resolved.tables.iter().find(|t| !before.contains(&t.id)) {
        return Err(ChainError::TableNotInBase { base: base.shown.clone(), table: qualified(catalog, t) }.into());
    }
    if let Some(id) = before.iter().find(|id| !now.contains(id)) {
        let name = base.manifest.descriptors.iter().find_map(|d| match d {
            Descriptor::Table(t) if t.id == *id => Some(t.name.clone()),
            _ => None,
        });
        return Err(ChainError::TableGoneSinceBase { table: name.unwrap_or_else(|| format!("[{id}]")), base: base.shown.clone() }.into());
    }
    Ok(())
}

/// Every revision of the descriptors `relevant` selects in the window `(start, end]`, read from
/// the catalog's own MVCC history (the descriptor table's span, exported with all revisions from
/// its leaseholders), oldest first. What a point-in-time restore replays.
pub async fn descriptor_history(
    env: &Env,
    start: Timestamp,
    end: Timestamp,
    relevant: impl Fn(&Descriptor) -> bool,
) -> Result<Vec<DescriptorChange>, BackupError> {
    let span = model::catalog::descriptors_span();
    let mut entries = Vec::new();
    let mut backoff = crate::retry::Backoff::new();
    let mut attempts = 0;
    'whole: loop {
        entries.clear();
        let ranges = env.kv.ranges(&span).await?;
        for r in ranges {
            let Some(piece) = r.span.intersect(&span) else { continue };
            let req = model::ExportRequest { span: piece, start, end, filter: MvccFilter::AllRevisions, target_bytes: 0 };
            match env.kv.export(r.leaseholder, req).await {
                Ok(resp) => entries.extend(resp.export.entries),
                Err(e) if e.is_retryable() && attempts < 60 => {
                    attempts += 1;
                    backoff.wait(env).await;
                    continue 'whole;
                }
                Err(e) => return Err(e.into()),
            }
        }
        break;
    }
    let mut changes = Vec::new();
    for e in entries {
        let id = match model::encoding::decode_index_key(&e.key) {
            Ok((_, _, datums)) => match datums.first() {
                Some(model::Datum::Int(i)) => *i as u32,
                _ => continue,
            },
            Err(_) => continue,
        };
        let desc = match &e.value {
            Some(v) => Some(model::catalog::decode_descriptor(&e.key, v)?),
            None => None,
        };
        if desc.as_ref().is_none_or(&relevant) {
            changes.push(DescriptorChange { time: e.ts, id, desc });
        }
    }
    changes.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
    Ok(changes)
}

/// Refuses a destination that already holds a backup, or a backup in progress (another job's
/// lock file, or a checkpoint no lock explains: what a killed backup leaves), naming the job
/// that holds it, its status and how to free the location (transient storage failures are
/// retried, not taken for an answer). An encrypted checkpoint is read with the statement's own
/// passphrase (`keyed`), when it has one, so that the refusal can still name its job.
pub async fn check_destination(env: &Env, url: &StorageUrl, storage: &dyn ExternalStorage, keyed: Option<KeySource<'_>>) -> Result<(), BackupError> {
    if crate::retry::retrying(env, || storage.exists(MANIFEST_NAME)).await? {
        return Err(BackupError::DestinationNotEmpty { url: url.redacted(), file: MANIFEST_NAME, hint: "" });
    }
    check_locks(env, &url.redacted(), storage).await?;
    match crate::retry::read_retrying(env, storage, CHECKPOINT_NAME).await {
        Ok(bytes) => {
            let bytes = match keyed {
                Some(keyed) if crate::crypto::appears_encrypted(&bytes) => keyed.open_checkpoint(env, bytes).await,
                _ => bytes,
            };
            Err(crate::lock::leftover_checkpoint(env, &url.redacted(), Some(bytes)).await?)
        }
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Where the key of a BACKUP's destination comes from: the passphrase it was given and the
/// location holding the chain's `ENCRYPTION-INFO`. Used only to read a leftover checkpoint, so
/// that a user retrying an encrypted BACKUP is told whose job left it, as for a plaintext one.
#[derive(Clone, Copy)]
pub struct KeySource<'a> {
    /// The location whose `ENCRYPTION-INFO` holds the salt (credentials included).
    pub location: &'a str,
    /// The statement's passphrase.
    pub passphrase: &'a crate::statement::Secret,
}

impl KeySource<'_> {
    /// `bytes` (an encrypted checkpoint) decrypted, or as they are when the key cannot be had
    /// (another passphrase, a missing or damaged `ENCRYPTION-INFO`) or they do not open: the
    /// refusal then says the checkpoint cannot be read, which is true for this statement.
    async fn open_checkpoint(self, env: &Env, bytes: Vec<u8>) -> Vec<u8> {
        let Ok((url, storage)) = crate::location::open(env, self.location) else { return bytes };
        match crate::encryption::cipher_for_reading(env, &url.redacted(), &*storage, Some(self.passphrase)).await {
            Ok(cipher) => cipher.open(CHECKPOINT_NAME, bytes.clone()).unwrap_or(bytes),
            Err(_) => bytes,
        }
    }
}

/// Refuses a location where another backup job holds a lock (a running or paused job, or the
/// leftover of one whose process was killed), naming it.
pub async fn check_locks(env: &Env, shown: &str, storage: &dyn ExternalStorage) -> Result<(), BackupError> {
    match crate::lock::found_locks(env, storage).await?.iter().find(|f| f.is_live()) {
        Some(f) => Err(crate::lock::in_use(shown, f)),
        None => Ok(()),
    }
}
