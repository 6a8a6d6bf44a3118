//! RESTORE's ingest: every data file the restored tables need, read ahead, checked against its
//! manifest, decrypted, re-keyed to the new ids and ingested at the restore's time.

use crate::crypto::FileCipher;
use crate::env::Env;
use crate::error::BackupError;
use crate::format::data::DataFile;
use crate::format::manifest::Manifest;
use crate::jobs::JobTotals;
use crate::storage::ExternalStorage;
use model::{Entry, Key, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::retry::read_retrying;

use super::plan::Rewrite;

/// The chain's data as of `ts`: for every key of the restored tables, the newest version at or
/// below `ts` across all layers (a tombstone: the key is absent), ingested at `restore_ts`.
/// Every file read is checked against its manifest.
pub(super) async fn ingest_at(
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
        if batch.len() >= env.jobs.ingest_batch.max(1) {
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
pub(super) async fn ingest(
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
