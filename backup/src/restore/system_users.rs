//! RESTORE of `system.users` (from a `BACKUP TABLE system.users`) into a user database, the
//! seed's procedure for bringing users back without a cluster restore: `RESTORE system.users
//! FROM … WITH into_db = 'newdb'` makes `newdb.users` an ordinary table with one row per backed
//! up user or role, which `INSERT INTO system.users SELECT … FROM newdb.users` copies back.
//!
//! The backup holds the user records' span as the cluster stores it (JSON records, not rows:
//! the records are the one truth, `model::catalog::users_table`). So the table's data does not
//! go through the span-by-span ingest, which copies entries as they are: the records as of the
//! restored time are read here, through the same reader and merge as any span (so incrementals
//! and revision history restore them as of that time), turned into rows of the restored table,
//! and written with the descriptors when the restore publishes. A user table holds a handful of
//! rows, so they fit the job's payload. Nothing here writes to the cluster by itself.

use super::ingest::{prepare_span, Source};
use crate::chain::Layer;
use crate::crypto::FileCipher;
use crate::env::Env;
use crate::error::BackupError;
use crate::jobs::JobTotals;
use model::catalog::{self, Descriptor, TableDescriptor, SYSTEM_USERS_TABLE_ID};
use model::{Timestamp, WriteOp};
use std::collections::BTreeMap;
use std::sync::Arc;

/// True for the backup id of a system table, whose data is restored here, not ingested.
pub(super) fn is_system_table(backup_id: u32) -> bool {
    backup_id < catalog::FIRST_USER_DESCRIPTOR_ID
}

/// The rows of the restored `users` table (`restored`, under its new id) as of `ts`, as writes,
/// with what they add up to; the records come from the chain's data files.
pub(super) async fn rows(
    env: &Env,
    layers: &[Layer],
    cipher: &FileCipher,
    ts: Timestamp,
    restored: &TableDescriptor,
) -> Result<(Vec<WriteOp>, JobTotals), BackupError> {
    let shown = layers.last().map(|l| l.shown.clone()).unwrap_or_default();
    let ids: BTreeMap<u32, u32> = [(SYSTEM_USERS_TABLE_ID, SYSTEM_USERS_TABLE_ID)].into_iter().collect();
    let source = Source { layers, cipher, ts, restore_ts: ts, ids: Arc::new(ids), verify_only: false };
    let mut writes = Vec::new();
    let mut totals = JobTotals::default();
    for e in prepare_span(env, &source, &catalog::users_span()).await?.into_entries() {
        let user = catalog::decode_user(&e.key, e.value.as_deref().unwrap_or_default())
            .map_err(|err| BackupError::NotABackup { url: shown.clone(), reason: format!("its system.users records do not decode: {err}") })?;
        totals.rows += 1;
        for (key, value) in model::sql::row_entries(restored, &catalog::user_row(&user)) {
            totals.bytes += (key.0.len() + value.len()) as u64;
            writes.push(WriteOp::Put(key, value));
        }
    }
    Ok((writes, totals))
}

/// The restored `system.users` among a publication's descriptors, if the restore has one:
/// the relation whose backup id is the system users table's.
pub(super) fn restored_users_table<'p>(descriptors: &'p [Descriptor], ids: &BTreeMap<u32, u32>) -> Option<&'p TableDescriptor> {
    let new_id = ids.get(&SYSTEM_USERS_TABLE_ID)?;
    descriptors.iter().filter_map(Descriptor::as_table).find(|t| t.id == *new_id)
}
