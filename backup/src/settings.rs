//! Cluster settings this crate reads, stored in the cluster's KV (CockroachDB's
//! `system.settings`, table 6): for now one, `jobs.debug.pausepoints` — a comma-separated list
//! of named points at which a job pauses itself (CockroachDB's, for tests and for operators who
//! need a job stopped at a known step). A job that reaches a listed point pauses as if PAUSE JOB
//! had been run, and RESUME JOB resumes it from its checkpoint — to pause again at a point
//! still listed, which every run resumed from a checkpoint passes (clear the setting first, as
//! CockroachDB's tests do).

use crate::error::BackupError;
use model::{encoding, Datum, Key, Kv, WriteOp};

/// CockroachDB's id of `system.settings`.
const SETTINGS_TABLE_ID: u32 = 6;

/// The setting that lists pausepoints.
pub const PAUSEPOINTS: &str = "jobs.debug.pausepoints";

/// Every setting `SET CLUSTER SETTING` accepts.
pub const KNOWN: [&str; 1] = [PAUSEPOINTS];

/// The points a backup job checks, in the order it reaches them: before it exports anything
/// (on every run, a resumed one too), and after its first checkpoint is written (on the run that
/// writes it, and on every run resumed from a checkpoint, as it starts).
pub const BACKUP_PAUSEPOINTS: [&str; 2] = ["backup.before.flow", "backup.after.write_first_checkpoint"];

fn key(name: &str) -> Key {
    encoding::encode_index_key(SETTINGS_TABLE_ID, 1, &[Datum::String(name.to_string())])
}

/// Refuses a setting this crate does not know, naming the ones it does.
pub fn check_name(name: &str) -> Result<(), BackupError> {
    if KNOWN.contains(&name) {
        Ok(())
    } else {
        Err(BackupError::UnknownSetting { name: name.to_string(), known: KNOWN.join(", ") })
    }
}

/// Sets `name` to `value` (an empty value resets it).
pub async fn set(kv: &dyn Kv, name: &str, value: &str) -> Result<(), BackupError> {
    check_name(name)?;
    let op = if value.is_empty() { WriteOp::Delete(key(name)) } else { WriteOp::Put(key(name), value.as_bytes().to_vec()) };
    kv.commit(vec![op], None).await?;
    Ok(())
}

/// The value of `name` now (empty when it was never set or was reset).
pub async fn get(kv: &dyn Kv, name: &str) -> Result<String, BackupError> {
    check_name(name)?;
    Ok(kv.get(&key(name), kv.now()).await?.map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default())
}

/// True when `point` is listed in `jobs.debug.pausepoints` (a setting that cannot be read is
/// taken as unset: a pausepoint is a debugging aid, never a reason for a job to fail).
pub async fn pauses_at(kv: &dyn Kv, point: &str) -> bool {
    match get(kv, PAUSEPOINTS).await {
        Ok(list) => list.split(',').map(str::trim).any(|p| p == point),
        Err(_) => false,
    }
}
