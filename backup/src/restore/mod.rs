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
//!
//! The stages live in their own files: [`plan`] (what the restore creates, checked against the
//! cluster and the dependency rules; fresh ids), [`ingest`] (every data file read, checked,
//! re-keyed and ingested at the restore's time), [`publish`] (every descriptor in one commit).

mod ingest;
mod plan;
mod publish;

use crate::env::Env;
use crate::error::BackupError;
use crate::jobs::JobTotals;
use crate::statement::RestoreStmt;
use crate::targets::{check_session, SessionContext};
use model::Timestamp;

use ingest::{ingest, ingest_at};
use plan::{allocate_ids, plan_restore};
use publish::publish;

/// What RESTORE produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreOutcome {
    /// Totals of the data ingested.
    pub totals: JobTotals,
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
    let (layers, cipher) = crate::chain::read_location(env, &stmt.from, stmt.options.encryption_passphrase.as_ref()).await?;
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
    publish(env, &plan, &rewrite, &manifest).await?;
    Ok(RestoreOutcome { totals })
}
