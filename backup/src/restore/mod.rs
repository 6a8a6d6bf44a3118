//! RESTORE: reads a backup's manifest, checks that what it would create does not collide with
//! anything, gives every restored object a fresh id, and records a job that takes the restored
//! names with offline descriptors, ingests the data span by span with keys rewritten to the new
//! ids, and publishes all descriptors in one commit — so a restore is all or nothing to SQL.
//!
//! The job ([`job`]) is resumable like BACKUP's: it runs under a lease with a fencing token,
//! records every span it finished (not a low-watermark: spans finish out of order), and a node
//! that adopts it after its coordinator died, or a RESUME after a PAUSE, restores only the
//! spans not recorded. CANCEL, or a failure, removes the offline descriptors and their data.
//!
//! CockroachDB's later options change only what lands and what is read: `new_db_name` the
//! name of the one database restored ([`plan`]); `schema_only` leaves the job no span to
//! restore, so it publishes the descriptors empty; `verify_backup_table_data` (with
//! `schema_only`) keeps every span but reads, checks and decodes it instead of ingesting it
//! ([`job`]), so a damaged file fails it as it would fail a restore.
//!
//! Refusals: inside a transaction; not an admin; options and backup chains a later version
//! implements; `new_db_name` other than for one database, `verify_backup_table_data` without
//! `schema_only` (both in CockroachDB's words, before anything is read); a missing, wrong or superfluous `encryption_passphrase` ([`crate::crypto`]); a
//! location without a complete manifest (a lone `BACKUP-CHECKPOINT` is an
//! incomplete backup); a corrupted manifest or data file (each error names the file; no row of
//! a damaged backup is ever published); targets not in the backup; an object that already
//! exists; a dependency left behind without its `skip_missing_*` option; a full-cluster restore
//! into a cluster that holds user data.
//!
//! The stages live in their own files: [`plan`] (what the restore creates, checked against the
//! cluster and the dependency rules; fresh ids), [`publish`] (the descriptors: offline, public,
//! removed), [`ingest`] (the spans, each read, checked, merged, re-keyed and ingested), [`job`]
//! (the job that runs them).

mod cluster_data;
mod ingest;
pub mod job;
mod merge;
mod plan;
mod publish;
mod system_users;

use crate::chain::Layer;
use crate::crypto::{EncryptionKey, FileCipher};
use crate::env::Env;
use crate::error::BackupError;
use crate::jobs::JobTotals;
use crate::statement::RestoreStmt;
use crate::targets::{check_session, SessionContext};
use model::{Span, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use plan::{allocate_ids, plan_restore};
pub use publish::Publication;

/// A RESTORE job's payload: everything a coordinator needs to run or resume it, decided once
/// when the statement is planned, and its progress. It holds credentials and the backup's key:
/// never printed (its `Debug` leaves them out).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreDetails {
    /// The chain's layers restored from, oldest first, up to the restored time.
    pub layers: Vec<RestoreLayer>,
    /// The chain's key, for an encrypted backup (never the passphrase).
    pub key: Option<EncryptionKey>,
    /// The restored time.
    pub as_of: Timestamp,
    /// The cluster time the data is written at: fixed, so that a span ingested twice (by a run
    /// that died before recording it, and by its successor) writes the very same versions.
    pub restore_ts: Timestamp,
    /// Backup id → new id of every restored database and relation.
    pub ids: BTreeMap<u32, u32>,
    /// What the restore creates.
    pub publication: Publication,
    /// The restored tables' key spans (backup ids): cut at the chain's file boundaries, they
    /// are the spans to restore ([`RestoreDetails::spans`]). Kept whole rather than cut, so that
    /// the record every span's progress rewrites stays small whatever the file count.
    pub wanted: Vec<Span>,
    /// How many spans there are to restore.
    pub span_count: usize,
    /// The spans recorded done, merged: in any order, never a watermark.
    pub done: Vec<Span>,
    /// How many spans are recorded done.
    pub done_count: usize,
    /// What the spans recorded done ingested.
    pub totals: JobTotals,
    /// True once the offline descriptors are written.
    pub offline: bool,
    /// `schema_only`: the descriptors are published with no row ingested. Without
    /// `verify_data` the restore has no span to restore (`wanted` is empty). Left out of the
    /// record when false (and read as false when absent), so that a plain restore's record is
    /// byte for byte what it was before the option existed, and older records still load.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub schema_only: bool,
    /// `verify_backup_table_data` (with `schema_only`): every span is read, checked and decoded
    /// as for a restore, its entries decoded and discarded, and recorded done; nothing is
    /// ingested. Recorded only when true, as `schema_only`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verify_data: bool,
}

/// One layer of the restored chain.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreLayer {
    /// Its location, credentials included (to open it again on any node).
    pub location: String,
    /// Its backup's id: a location whose manifest is another backup's by the time a resumed
    /// job reads it fails the job, rather than mixing two backups.
    pub backup_id: String,
    /// A locality-aware backup's partitions: each locality and where its files were found
    /// (credentials included). Left out of the record for any other backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<(String, String)>,
}

impl fmt::Debug for RestoreDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreDetails")
            .field("layers", &self.layers.iter().map(|l| crate::storage::url::redact_location(&l.location)).collect::<Vec<_>>())
            .field("encrypted", &self.key.is_some())
            .field("as_of", &self.as_of)
            .field("restore_ts", &self.restore_ts)
            .field("ids", &self.ids)
            .field("spans", &self.span_count)
            .field("done", &self.done_count)
            .field("totals", &self.totals)
            .field("offline", &self.offline)
            .field("schema_only", &self.schema_only)
            .field("verify_data", &self.verify_data)
            .finish()
    }
}

impl RestoreDetails {
    /// The cipher of the backup's files.
    pub fn cipher(&self) -> FileCipher {
        match &self.key {
            Some(k) => FileCipher::with_checked_key(k.clone()),
            None => FileCipher::plaintext(),
        }
    }

    /// The spans to restore, in key order: the wanted spans cut at every boundary of a file of
    /// `layers` (the chain as planned) that overlaps them.
    pub fn spans(&self, layers: &[Layer]) -> Vec<Span> {
        ingest::units(layers, &self.wanted)
    }

    /// Of `spans`, those not recorded done.
    pub fn remaining(&self, spans: &[Span]) -> Vec<Span> {
        spans.iter().filter(|s| !self.done.iter().any(|d| d.contains(s))).cloned().collect()
    }

    /// Progress in thousandths: spans done over spans, short of 1000 until published.
    pub fn progress_millis(&self) -> u32 {
        let total = self.span_count.max(1);
        ((self.done_count.min(total) * 1000 / total) as u32).min(999)
    }
}

/// Plans a RESTORE statement: every check that can refuse it before a job exists, the new ids
/// (reserved now), the descriptors it will create, and the spans it will ingest.
///
/// The backups named by `FROM` form a chain ([`crate::chain`]: a full backup and its
/// incrementals, listed or found in the location's date-named subdirectories), validated before
/// anything else. Without `AS OF SYSTEM TIME` the restore is of the chain's last end time; with
/// one, of that time, which needs a backup ending exactly then or one with revision history
/// covering it. The state at that time is the newest version of each key at or below it across
/// the chain's layers up to it, and the descriptors are those of that time.
pub async fn plan(env: &Env, ctx: &SessionContext, stmt: &RestoreStmt) -> Result<RestoreDetails, BackupError> {
    Ok(plan_with_layers(env, ctx, stmt).await?.0)
}

/// [`plan`], with the chain's layers as it read them: the statement's own run of the job starts
/// from them instead of reading every manifest again ([`job::run_planned`]).
pub async fn plan_with_layers(env: &Env, ctx: &SessionContext, stmt: &RestoreStmt) -> Result<(RestoreDetails, Vec<Layer>), BackupError> {
    check_options(stmt)?;
    let current = check_session(env, ctx, "RESTORE").await?;
    let passphrase = stmt.options.encryption_passphrase.as_ref();
    let (layers, cipher) = match &stmt.in_collection {
        Some(which) => {
            let (layers, cipher, _) = crate::collection::read_chain(env, &stmt.from[0], which, passphrase).await?;
            (layers, cipher)
        }
        None => crate::chain::read_location(env, &stmt.from, passphrase).await?,
    };
    crate::chain::validate(&layers)?;
    let mut layers = layers;
    crate::partitioned::attach(env, &mut layers, &stmt.from_localities, &cipher).await?;
    let wanted_time = match &stmt.as_of {
        Some(a) => Some(Timestamp::parse_as_of(&a.0, env.kv.now())?),
        None => None,
    };
    let (cut, ts) = crate::chain::pick_time(&layers, wanted_time)?;
    let layers: Vec<Layer> = layers.into_iter().take(cut).collect();
    let mut manifest = crate::chain::state_at(&layers, ts);
    if let Some(data) = cluster_data::as_of(env, &layers, &cipher, ts).await? {
        manifest.cluster_data = Some(data);
    }
    let backup = manifest.catalog();
    let plan = plan_restore(&backup, &current, &manifest, stmt, ctx)?;
    let new_ids = allocate_ids(env, plan.count()).await?;
    let rewrite = plan.rewrite(new_ids);
    let mut publication = publish::prepare(env, &plan, &rewrite, &manifest).await?;
    let (schema_only, verify_data) = (stmt.options.schema_only, stmt.options.verify_backup_table_data);
    // `system.users` restored into a user database: its records, read now, become rows written
    // as the restore publishes (read and checked, but not written, for a schema-only restore).
    let mut totals = JobTotals::default();
    if let Some(users) = system_users::restored_users_table(&publication.descriptors, &rewrite.ids).cloned() {
        let (rows, restored) = system_users::rows(env, &layers, &cipher, ts, &users).await?;
        if !schema_only {
            publication.other.extend(rows);
            totals = restored;
        }
    }
    // A schema-only restore has no span to restore unless it verifies the data it does not
    // ingest: its job takes the names offline and publishes them empty.
    let wanted: Vec<Span> = if schema_only && !verify_data {
        Vec::new()
    } else {
        model::key::merge_spans(
            &rewrite.ids.keys().filter(|id| !system_users::is_system_table(**id)).map(|id| model::encoding::table_span(*id)).collect::<Vec<_>>(),
        )
    };
    let span_count = ingest::units(&layers, &wanted).len();
    let details = RestoreDetails {
        layers: layers
            .iter()
            .zip(crate::partitioned::payload(&layers))
            .map(|(l, partitions)| RestoreLayer { location: l.location.clone(), backup_id: l.manifest.backup_id.clone(), partitions })
            .collect(),
        key: cipher.checked_key().cloned(),
        as_of: ts,
        restore_ts: env.kv.now(),
        ids: rewrite.ids,
        publication,
        wanted,
        span_count,
        done: Vec::new(),
        done_count: 0,
        totals,
        offline: false,
        schema_only,
        verify_data,
    };
    Ok((details, layers))
}

/// Refuses option combinations before anything is read, with CockroachDB's messages (its
/// restore planner checks the same two things first): `verify_backup_table_data` only with
/// `schema_only` (a verifying restore that also ingested would be a plain restore), and
/// `new_db_name` only for a `RESTORE DATABASE` of one database (a table restore names its
/// destination with `into_db`; several databases cannot all take one name).
fn check_options(stmt: &RestoreStmt) -> Result<(), BackupError> {
    let opts = &stmt.options;
    if opts.verify_backup_table_data && !opts.schema_only {
        return Err(BackupError::InvalidOptions("to set the verify_backup_table_data option, the schema_only option must be set"));
    }
    if opts.new_db_name.is_some() && !matches!(&stmt.targets, crate::statement::Targets::Databases(dbs) if dbs.len() == 1) {
        return Err(BackupError::InvalidOptions("new_db_name can only be used for RESTORE DATABASE with a single target database"));
    }
    Ok(())
}
