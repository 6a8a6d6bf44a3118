//! Running a BACKUP job: the coordinator that takes its location ([`crate::lock`]), exports
//! every span from the leaseholder that serves it, writes data files, checkpoints progress into
//! `BACKUP-CHECKPOINT`, and finally writes the `BACKUP` manifest that replaces it — create-only,
//! so that it never replaces another backup's. A job that ends removes its lock; one that fails
//! or is canceled also removes what it wrote ([`clean_up`]).
//!
//! The coordinator runs on whichever node holds the job's lease: first the gateway that ran the
//! statement, later any node that adopts the job after the lease lapses. It resumes from the
//! checkpoint: spans covered by a file listed there are never exported again, spans not covered
//! are exported exactly once into the finished backup (a file whose write failed is simply not
//! listed and its span is exported again into a new file). Exports go to the leaseholder the
//! range descriptors name, grouped by node so that each node exports only what it serves and
//! no two nodes the same span; a not-leaseholder answer, a split, an unreachable node or a
//! transient storage error sends the span back to be re-resolved and retried.

use crate::env::{Env, Started};
use crate::error::BackupError;
use crate::format::checkpoint::Checkpoint;
use crate::format::data::DataFile;
use crate::format::manifest::{FileInfo, Manifest, CHECKPOINT_NAME, MANIFEST_NAME};
pub use crate::job_run::RunOutcome;
use crate::job_run::{control_check, fencing_token, finish, pausepoint, spawn_heartbeat, until_through, update_held, HeartbeatGuard};
use crate::jobs::{self, JobId, JobTotals};
use crate::plan::BackupDetails;
use crate::retry::Backoff;
use crate::storage::ExternalStorage;
use futures::lock::Mutex as AsyncMutex;
use model::{ExportRequest, KvError, NodeId, Span, Timestamp};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs (or resumes) backup job `id` on this node until it ends or this node loses it.
pub async fn run(env: &Env, id: JobId) -> Result<RunOutcome, BackupError> {
    let node = env.node();
    let lease = env.jobs.lease;
    let run = fencing_token(env);
    let claimed = jobs::update::<BackupDetails, _>(&*env.kv, id, |r, now| jobs::claim(r, now, node, run, lease)).await?;
    let record = match claimed {
        Ok(r) => r,
        Err(_) => return Ok(RunOutcome::NotCoordinator),
    };
    env.event(crate::event::JOB_CLAIMED, format!("job {id} by n{node}"));
    let details = record.payload.clone();
    let lost = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    spawn_heartbeat(env, id, run, lost.clone(), done.clone());
    let _heartbeat = HeartbeatGuard(done.clone());
    // A run that an outage stopped runs again (from the checkpoint, taking its lock as it is)
    // until it gets through: exports retry for the whole budget themselves; this covers the
    // rest (reading the destination, the lock, the checkpoint, the manifest write).
    // Once its manifest has been sent (by this run or an earlier one), the job waits out any
    // outage: the manifest may be there, and a failed job beside a complete backup is wrong.
    let patient = AtomicBool::new(details.manifest_sent);
    let result = until_through(env, id, run, &lost, &patient, || coordinate(env, id, run, &details, &lost, &patient)).await;
    done.store(true, Ordering::Relaxed);
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => RunOutcome::Failed(e.to_string()),
    };
    let recorded = finish(env, id, run, &outcome).await?;
    // Only the run that recorded the end cleans up: one that lost the job leaves everything to
    // the coordinator that has it.
    match outcome {
        // The run that wrote the manifest removed the checkpoint already.
        RunOutcome::Succeeded(_) if recorded => {
            clean_up(env, id, &details, Some(true)).await;
        }
        RunOutcome::Failed(_) | RunOutcome::Canceled if recorded => {
            clean_up(env, id, &details, None).await;
        }
        _ => {}
    }
    env.event(crate::event::JOB_RUN_ENDED, format!("job {id} on n{node}: {outcome:?}"));
    // A run that lost the job (another node adopted it) does not speak for it: the statement
    // waits for the job's recorded end instead of reporting this run's.
    if !recorded {
        return Ok(RunOutcome::NotCoordinator);
    }
    Ok(outcome)
}

/// What a job that ended (succeeded, failed or canceled) removes from its location, best effort
/// with retries: always its lock file (a paused job keeps it: it will be back). A backup that
/// did not finish also removes what it wrote — its data files, its checkpoint and, for an
/// automatic incremental, its claim on its base — so that neither a leftover checkpoint nor a
/// half-written date directory blocks the location or the chain (CockroachDB's resumer deletes
/// its checkpoint on fail and cancel; a half-written incremental directory would make RESTORE
/// refuse the chain). Nothing is removed unless the lock there is still this job's: a job that
/// never got the location (another job's lock, or one with its id from another cluster) wrote
/// nothing there and must not touch what is there.
///
/// `complete` says whether this backup's manifest is known to be at the destination (with its
/// checkpoint already removed); `None` reads the destination to find out.
///
/// False when the location did not answer well enough to tell what is the job's (its lock or
/// manifest unreadable): nothing was removed, and a caller that can wait should ask again.
pub async fn clean_up(env: &Env, id: JobId, details: &BackupDetails, complete: Option<bool>) -> bool {
    let mine = details.lock_file(id);
    // A location that does not parse now never will: nothing there can be tidied.
    let Ok((_, lock_storage)) = crate::location::open(env, details.lock_location()) else { return true };
    // Without its lock (a lock write that never landed, or one an operator deleted) the job
    // still removes what is provably its own — its data directory unless another backup stands
    // there ([`another_backup_there`]), a checkpoint and claims carrying its backup id — and
    // nothing else.
    // Storage that does not answer (a server gone) gets no round of retried removals: what the
    // job wrote stays, named by the next job's refusal. A lock of its name that is another
    // cluster's job's (the same clock-derived id) means this job never got the location: its
    // "own" data directory there is that job's, and removing it lost a finished backup's files
    // (backup/tests/end_to_end/real_nodelocal_locks.rs, two clusters started in the same microsecond).
    let holds = match crate::lock::lock_state(env, &*lock_storage, &mine).await {
        crate::lock::LockState::Mine => true,
        crate::lock::LockState::Absent => false,
        crate::lock::LockState::Another => return true,
        crate::lock::LockState::Unreachable => return false,
    };
    let Ok((_, storage)) = crate::location::open(env, &details.destination) else { return true };
    let finished = match complete {
        Some(known) => known,
        None => match read_manifest_if_ours(env, &*storage, details).await {
            Ok(found) => found.is_some(),
            // Whether this backup finished is unknown: its data files may be a complete
            // backup's, so nothing is removed (the next job's refusal names what is left).
            Err(_) => return false,
        },
    };
    if finished {
        env.event(crate::event::JOB_CLEANUP, format!("job {id}: removing its lock"));
        if complete.is_none() && (holds || matches!(read_checkpoint(env, &*storage, details).await, Ok(Some(_)))) {
            remove_checkpoint(env, &*storage).await;
        }
        // The claim stays with the finished backup, as an automatic incremental's append claim
        // does: while it is there no other job can claim the manifest path, so a job that
        // raced this one past a stale listing fails at its claim and never touches the
        // manifest. (Removed, it let such a job claim the path, fail at the manifest's
        // create-only write, and take the finished manifest for its own torn one.)
    } else {
        env.event(crate::event::JOB_CLEANUP, format!("job {id}: removing its lock, checkpoint and data files"));
        let data = format!("data/{id}/");
        if holds || !another_backup_there(env, &*storage, details, &mine).await {
            if let Ok(files) = crate::retry::retrying(env, || storage.list(&data)).await {
                for f in files {
                    crate::lock::remove(env, &*storage, &f).await;
                }
            }
            // A locality-aware backup's other destinations hold its files under the same
            // directory, and perhaps its partition descriptors (written just before the manifest).
            clean_up_partitions(env, details, &data).await;
        }
        if let Ok(Some(_)) = read_checkpoint(env, &*storage, details).await {
            remove_checkpoint(env, &*storage).await;
        }
        if details.chain_root.is_some() {
            crate::lock::remove_if_mine(env, &*lock_storage, &crate::lock::append_claim_name(details.start_time), &mine).await;
        } else {
            // A manifest under this job's claim that is not a finished backup of it is its own,
            // torn by a run that died writing it (no one else publishes under this claim):
            // removed first, then the claim, so the location is free for the next backup.
            let torn = matches!(crate::retry::read_retrying(env, &*storage, MANIFEST_NAME).await.map(|b| whose_manifest(details, b)), Ok(Whose::Damaged));
            if torn && crate::lock::owns_claim(env, &*storage, crate::lock::MANIFEST_CLAIM, &mine).await {
                env.event(crate::event::JOB_CLEANUP, format!("job {id}: removing its own torn manifest"));
                crate::lock::remove(env, &*storage, MANIFEST_NAME).await;
            }
            crate::lock::remove_if_mine(env, &*storage, crate::lock::MANIFEST_CLAIM, &mine).await;
        }
    }
    if holds {
        crate::lock::remove(env, &*lock_storage, &mine.name()).await;
    }
    true
}

/// Removes what an unfinished locality-aware backup wrote at its other destinations: its data
/// directory there, and each partition descriptor that is provably this backup's (its backup
/// id), best effort.
async fn clean_up_partitions(env: &Env, details: &BackupDetails, data: &str) {
    for (n, p) in details.partitions.iter().enumerate() {
        let Ok((_, storage)) = crate::location::open(env, &p.location) else { continue };
        if let Ok(files) = crate::retry::retrying(env, || storage.list(data)).await {
            for f in files {
                crate::lock::remove(env, &*storage, &f).await;
            }
        }
        let name = p.file_name(n + 1);
        if let Ok(bytes) = crate::retry::read_retrying(env, &*storage, &name).await {
            let ours = details
                .cipher()
                .open(&name, bytes)
                .ok()
                .and_then(|b| crate::format::partition::PartitionDescriptor::decode(&name, &b).ok())
                .is_some_and(|d| d.backup_id == details.backup_id);
            if ours {
                crate::lock::remove(env, &*storage, &name).await;
            }
        }
    }
}

/// True when the destination holds a backup that is not provably this job's: a finished
/// manifest of another backup, a damaged one under no claim of this job's, or one that cannot be
/// read. Asked only by a job that no longer finds its lock: its data directory `data/<id>/` is
/// its own only if no other job used that id there, and ids are clock-derived, so a job of
/// another cluster started in the same microsecond has this one's id, and its finished backup
/// lists files in that directory.
async fn another_backup_there(env: &Env, storage: &dyn ExternalStorage, details: &BackupDetails, mine: &crate::lock::LockFile) -> bool {
    match crate::retry::read_retrying(env, storage, MANIFEST_NAME).await {
        Ok(bytes) => match whose_manifest(details, bytes) {
            Whose::Ours => false,
            Whose::Another(_) => true,
            Whose::Damaged => !crate::lock::owns_claim(env, storage, crate::lock::MANIFEST_CLAIM, mine).await,
        },
        Err(e) => !e.is_not_found(),
    }
}

/// The pieces of `spans` with the node serving each, from the cluster's range descriptors.
async fn resolve(env: &Env, spans: &[Span]) -> Result<BTreeMap<NodeId, Vec<Span>>, KvError> {
    let mut by_node: BTreeMap<NodeId, Vec<Span>> = BTreeMap::new();
    for span in spans {
        for range in env.kv.ranges(span).await? {
            if let Some(piece) = range.span.intersect(span) {
                by_node.entry(range.leaseholder).or_default().push(piece);
            }
        }
    }
    Ok(by_node)
}

/// The refusal of a job that finds a damaged manifest at its destination while its claim on the
/// manifest path cannot be read: it cannot tell its own torn manifest from another backup's.
fn unprovable_manifest(details: &BackupDetails) -> BackupError {
    let url = &details.destination_redacted;
    BackupError::DestinationInUse {
        url: url.clone(),
        file: MANIFEST_NAME.to_string(),
        detail: format!(
            "its {claim} cannot be read (damaged), so this job cannot prove that the BACKUP is its own (written by an earlier run of it that died mid-write) rather than another backup's; both are left untouched: if no other backup uses this location, delete {} and {} and run the backup again",
            crate::storage::join_path(url, MANIFEST_NAME),
            crate::storage::join_path(url, crate::lock::MANIFEST_CLAIM),
            claim = crate::lock::MANIFEST_CLAIM,
        ),
    }
}

async fn coordinate(env: &Env, id: JobId, run: u64, details: &BackupDetails, lost: &AtomicBool, patient: &AtomicBool) -> Result<RunOutcome, BackupError> {
    let (_, storage) = crate::location::open(env, &details.destination)?;
    // A previous coordinator may have finished the manifest and died before recording success.
    if let Some(manifest) = read_manifest_if_ours(env, &*storage, details).await? {
        env.event(crate::event::JOB_FOUND_MANIFEST, format!("job {id}: a previous coordinator wrote the manifest and died before recording success"));
        remove_checkpoint(env, &*storage).await;
        publish_latest(env, details).await?;
        return Ok(RunOutcome::Succeeded(totals(&manifest)));
    }
    // The location is this job's alone from here on, or the job fails naming the one that has
    // it ([`crate::lock`]).
    let (lock_url, lock_storage) = crate::location::open(env, details.lock_location())?;
    let append_claim = crate::lock::append_claim_name(details.start_time);
    let claim: (&dyn crate::storage::ExternalStorage, &str) = match details.chain_root {
        Some(_) => (&*lock_storage, &append_claim),
        None => (&*storage, crate::lock::MANIFEST_CLAIM),
    };
    // A job exports only once it holds the location: files of its own under `data/<id>/` prove an
    // earlier run of it held the location and went on, so this run keeps it (a job that arrived
    // since, seeing this one's lock, stands aside; if both stood aside, neither backup would be
    // taken). A listing that misses them only costs the job its precedence.
    let data = format!("data/{id}/");
    let went_on = crate::retry::retrying(env, || storage.list(&data)).await.is_ok_and(|files| !files.is_empty());
    crate::lock::acquire(env, &*lock_storage, &lock_url.redacted(), &details.lock_file(id), Some(claim), went_on).await?;
    // A manifest that is not this job's, found with the lock held: a backup that finished
    // between this one's planning and its lock. Refuse before exporting anything — unless this
    // job's claim is there, in which case it is this job's own manifest, torn by a run that died
    // writing it, which the manifest write will replace.
    // A torn manifest under another job's claim is that job's, which fails and removes it (a
    // job whose run died writing it, refused now by this one's lock): wait a while for that.
    let mut waited = Duration::ZERO;
    while details.chain_root.is_none()
        && waited < crate::lock::LOCK_WAIT
        && crate::lock::claim_state(env, &*storage, crate::lock::MANIFEST_CLAIM, &details.lock_file(id)).await == crate::lock::ClaimState::Another
        && matches!(crate::retry::read_retrying(env, &*storage, MANIFEST_NAME).await.map(|b| whose_manifest(details, b)), Ok(Whose::Damaged))
    {
        env.sleep(Duration::from_millis(500)).await;
        waited += Duration::from_millis(500);
    }
    if details.chain_root.is_none()
        && crate::retry::retrying(env, || storage.exists(MANIFEST_NAME)).await?
        && !owns_manifest_claim(env, &*storage, &*lock_storage, id, details).await
    {
        // A claim that storage damaged cannot say whose the manifest is: the job refuses rather
        // than risk replacing another backup's, and says what it could not tell.
        if crate::lock::claim_state(env, &*storage, crate::lock::MANIFEST_CLAIM, &details.lock_file(id)).await == crate::lock::ClaimState::Unreadable {
            return Err(unprovable_manifest(details));
        }
        return Err(BackupError::DestinationNotEmpty {
            url: details.destination_redacted.clone(),
            file: MANIFEST_NAME,
            hint: " (written by another backup after this one was planned)",
        });
    }
    let resumed = read_checkpoint(env, &*storage, details).await?;
    // The job's first checkpoint is behind it when a run resumes from one: the pausepoint after
    // it holds there too (CockroachDB checks it on every run, after writing its checkpoint).
    let mut first_checkpoint = resumed.is_none();
    let checkpoint = match resumed {
        Some(c) => {
            env.event(
                crate::event::JOB_RESUMED_FROM_CHECKPOINT,
                format!("job {id}: {} spans done, {} to go", c.completed_spans.len(), c.remaining_spans().len()),
            );
            planted_resume(env, c)
        }
        None => Checkpoint::new(plan_manifest(details)),
    };
    let attempt = run;
    let sinks = crate::partitioned::Sinks::open(env, storage.clone(), &details.partitions)?;
    let checkpoint = Arc::new(AsyncMutex::new(checkpoint));
    let mut seq: u64 = 0;
    let mut last_progress = env.kv.now();
    let mut backoff = Backoff::new();
    if pausepoint(env, id, "backup.before.flow").await {
        return Ok(RunOutcome::Paused);
    }
    if !first_checkpoint && pausepoint(env, id, "backup.after.write_first_checkpoint").await {
        return Ok(RunOutcome::Paused);
    }
    loop {
        if lost.load(Ordering::Relaxed) {
            return Ok(RunOutcome::NotCoordinator);
        }
        if let Some(stop) = control_check(env, id, run, lost).await {
            return Ok(stop);
        }
        let todo = checkpoint.lock().await.remaining_spans();
        if todo.is_empty() {
            break;
        }
        let by_node = match resolve(env, &todo).await {
            Ok(m) => m,
            Err(e) if e.is_retryable() => BTreeMap::new(),
            Err(e) => return Err(e.into()),
        };
        // One worker per leaseholder node, all nodes at once, each exporting its pieces in
        // key order.
        let before = checkpoint.lock().await.completed_spans.clone();
        let mut workers = Vec::new();
        for (node, pieces) in by_node {
            let first_seq = seq;
            seq += pieces.len() as u64;
            workers.push(export_pieces(env, id, details, storage.clone(), &sinks, node, pieces, attempt, first_seq, checkpoint.clone(), lost));
        }
        for r in futures::future::join_all(workers).await {
            r?;
        }
        let cp = checkpoint.lock().await.clone();
        if cp.completed_spans != before {
            last_progress = env.kv.now();
            backoff.reset();
            update_progress(env, id, run, &cp).await;
            if std::mem::take(&mut first_checkpoint) && pausepoint(env, id, "backup.after.write_first_checkpoint").await {
                return Ok(RunOutcome::Paused);
            }
        } else {
            if env.kv.now().wall.saturating_sub(last_progress.wall) > env.jobs.retry_budget.as_nanos() as u64 {
                return Err(BackupError::Job(format!("job {id}: no progress for {:?}; giving up", env.jobs.retry_budget)));
            }
            backoff.wait(env).await;
        }
    }
    if let Some(stop) = control_check(env, id, run, lost).await {
        return Ok(stop);
    }
    let cp = checkpoint.lock().await.clone();
    let cp = if env.planted(crate::planted::PlantedBug::ManifestBeforeLastFile) { drop_last_file(cp) } else { cp };
    let manifest = cp.into_manifest().map_err(|e| BackupError::Internal(format!("job {id}: finished checkpoint is not a valid manifest: {e}")))?;
    crate::encryption::check_before_manifest(env, details.encryption.as_ref()).await?;
    if details.chain_root.is_some() {
        // An automatic incremental publishes only onto the newest backup of its chain, and only
        // one incremental per base ever does.
        let shown = lock_url.redacted();
        if let Some(newer) = crate::chain::member_after(env, &*lock_storage, details.start_time, &crate::chain::subdir_name(details.end_time)).await? {
            return Err(crate::error::ChainError::NewerMember { newer: crate::location::join(&shown, &newer), location: shown }.into());
        }
        crate::lock::claim_append(env, &*lock_storage, &shown, &details.lock_file(id), details.start_time).await?;
    } else {
        crate::lock::claim_manifest(env, &*storage, &crate::storage::url::redact_location(&details.destination), &details.lock_file(id)).await?;
    }
    // The partition descriptors go after the claim, before the manifest: their names are the
    // same for every backup to the list, so a backup that loses the claim to another must not
    // have written over the winner's (and then removed them as its own when it cleaned up:
    // backup-localities.txt seed 228, a rival to the same list).
    crate::partitioned::write_descriptors(env, &details.backup_id, &details.partitions, &manifest.files, &details.cipher()).await?;
    let sealed = details.cipher().seal(&*env.runtime, MANIFEST_NAME, manifest.encode())?;
    if !patient.load(Ordering::Relaxed) {
        if !mark_manifest_sent(env, id, run).await? {
            return Ok(RunOutcome::NotCoordinator);
        }
        patient.store(true, Ordering::Relaxed);
    }
    write_verified(env, &*storage, &*lock_storage, id, details, sealed).await?;
    env.event(crate::event::JOB_MANIFEST_WRITTEN, format!("job {id}: {} files for {} spans", manifest.files.len(), manifest.spans.len()));
    remove_checkpoint(env, &*storage).await;
    publish_latest(env, details).await?;
    Ok(RunOutcome::Succeeded(totals(&manifest)))
}

/// A full backup into a collection makes the collection's LATEST name it, once its manifest is
/// there and before the job records success: a statement that sees the backup succeed finds it
/// as LATEST. A run that died in between finds its manifest and does this again.
async fn publish_latest(env: &Env, details: &BackupDetails) -> Result<(), BackupError> {
    match &details.latest {
        Some(latest) => crate::collection::write_latest(env, &latest.collection, &latest.subdir).await,
        None => Ok(()),
    }
}

/// Records in the job that its manifest is about to be sent ([`BackupDetails::manifest_sent`]),
/// so that this run and any later one wait for storage rather than fail; false if this run no
/// longer holds the job.
async fn mark_manifest_sent(env: &Env, id: JobId, run: u64) -> Result<bool, BackupError> {
    let marked = update_held::<BackupDetails, _>(env, id, run, |r, _| {
        r.payload.manifest_sent = true;
        r.running_status = "writing its manifest".into();
        Ok(())
    })
    .await?;
    Ok(marked.is_ok())
}

/// Before a CANCEL is recorded for a backup whose coordinator died (or that was paused, so has
/// none): [`clean_up`] as its coordinator would have. If that coordinator had already written
/// the manifest, the backup at the destination is complete and stays (only the checkpoint and
/// lock it had no time to remove go); the job still ends canceled, as asked, and RESTORE accepts
/// the finished backup either way. False when the destination could not be read: the cancel
/// is then left requested for a later adoption pass to finish once the storage answers (one
/// recorded regardless left a finished backup's checkpoint beside its manifest for good, backup
/// seed 2147 of `--faults everything`).
pub async fn tidy_before_cancel(env: &Env, id: JobId) -> bool {
    let Ok(Some(r)) = jobs::load::<BackupDetails>(&*env.kv, id).await else { return false };
    if let Ok((_, storage)) = crate::location::open(env, &r.payload.destination) {
        if let Ok(Some(_)) = read_manifest_if_ours(env, &*storage, &r.payload).await {
            env.event(
                crate::event::JOB_FOUND_MANIFEST,
                format!("job {id}: a previous coordinator wrote the manifest and died before recording success; canceled with the backup complete"),
            );
        }
    }
    clean_up(env, id, &r.payload, None).await
}

/// The manifest replaces the checkpoint. A checkpoint left behind would do no harm (readers look
/// for the manifest first) but would misreport the destination as busy: retry a while.
async fn remove_checkpoint(env: &Env, storage: &dyn ExternalStorage) {
    crate::lock::remove(env, storage, CHECKPOINT_NAME).await
}

#[allow(clippy::too_many_arguments)]
async fn export_pieces(
    env: &Env,
    id: JobId,
    details: &BackupDetails,
    storage: Arc<dyn ExternalStorage>,
    sinks: &crate::partitioned::Sinks,
    node: NodeId,
    pieces: Vec<Span>,
    attempt: u64,
    first_seq: u64,
    checkpoint: Arc<AsyncMutex<Checkpoint>>,
    lost: &AtomicBool,
) -> Result<(), BackupError> {
    for (i, piece) in pieces.into_iter().enumerate() {
        // A coordinator that lost its lease stops before touching the destination again.
        if lost.load(Ordering::Relaxed) {
            return Ok(());
        }
        let end = if env.planted(crate::planted::PlantedBug::WindowEndExclusive) { details.end_time.prev() } else { details.end_time };
        // A span new since the base (an incremental's new table) is exported from time zero.
        let introduced = details.introduced_spans.iter().any(|s| s.overlaps(&piece));
        let introduced = introduced && !env.planted(crate::planted::PlantedBug::IntroducedSpanFromBaseTime);
        let start = if introduced { Timestamp::ZERO } else { details.start_time };
        // The piece is exported page by page, a data file per page of at most about
        // the settings' file_target_bytes, so a large range never sits in memory whole. Each
        // page is encoded, sealed and written on the runtime while the next one is exported
        // (one write in flight, as RESTORE reads ahead); every exit waits for it to land.
        let mut files = Vec::new();
        let mut revision_start = Timestamp::ZERO;
        let mut cursor = piece.start.clone();
        let mut page = 0u32;
        let mut in_flight: Option<PageWrite> = None;
        let file_start = (start != details.start_time).then_some(start);
        let cipher = details.cipher();
        let retry_piece = loop {
            let req = ExportRequest {
                span: Span::new(cursor.clone(), piece.end.clone()),
                start,
                end,
                filter: details.mvcc_filter,
                target_bytes: env.jobs.file_target_bytes,
            };
            let resp = match env.kv.export(node, req).await {
                Ok(r) => r,
                Err(e) if e.is_retryable() => {
                    env.event(crate::event::EXPORT_RETRIED, format!("job {id}: export of {piece} from n{node}: {e}"));
                    // The piece is exported again, but a page write storage refused for good
                    // still fails the job, as it did when the write was not overlapped.
                    land(in_flight.take(), &mut files, file_start).await?;
                    break true;
                }
                Err(e) => {
                    let _ = land(in_flight.take(), &mut files, file_start).await;
                    return Err(e.into());
                }
            };
            revision_start = revision_start.max(resp.export.revision_start);
            let resume = resp.export.resume.clone();
            let file_span = Span::new(cursor.clone(), resume.clone().unwrap_or_else(|| piece.end.clone()));
            if !resp.export.entries.is_empty() {
                let data = DataFile::from_export(file_span.clone(), resp.export)
                    .map_err(|e| BackupError::Internal(format!("export of {file_span} from n{}: {e}", resp.served_by)));
                // The previous page's write has had this page's export to land in.
                let landed = land(in_flight.take(), &mut files, file_start).await;
                let data = data?;
                if landed? {
                    break true;
                }
                // Unique per job, coordinator attempt, serving node, piece and page: a file
                // whose write failed is never overwritten by a different one, and no two nodes
                // share a name.
                let seq = first_seq + i as u64;
                let path = if page == 0 {
                    format!("data/{id}/n{}-{attempt:x}-n{}-{seq}.sst", env.node(), resp.served_by)
                } else {
                    format!("data/{id}/n{}-{attempt:x}-n{}-{seq}.{page}.sst", env.node(), resp.served_by)
                };
                // The file goes where the node that exported it writes: the destination of its
                // locality in a locality-aware backup, else the default.
                let by = if env.planted(crate::planted::PlantedBug::LocalityIgnored) { &[][..] } else { &resp.locality[..] };
                let (sink, locality) = sinks.pick(by);
                in_flight = Some(start_page_write(env, sink, cipher.clone(), path, data, locality));
            }
            match resume {
                Some(next) => {
                    cursor = next;
                    page += 1;
                }
                None => break land(in_flight.take(), &mut files, file_start).await?,
            }
        };
        if retry_piece {
            continue;
        }
        // Checkpoints are written one at a time, each listing every span completed so far.
        let mut cp = checkpoint.lock().await;
        if lost.load(Ordering::Relaxed) {
            return Ok(());
        }
        cp.record(piece.clone(), files).map_err(|e| BackupError::Internal(format!("job {id}: recording {piece}: {e}")))?;
        // A revision-history export from time zero covers history only from its range's GC
        // threshold: the backup's history starts at the latest such threshold.
        cp.plan.revision_start_time = cp.plan.revision_start_time.max(revision_start.min(details.end_time.prev()));
        let stored = details.cipher().seal(&*env.runtime, CHECKPOINT_NAME, cp.encode())?;
        if let Err(e) = storage.write(CHECKPOINT_NAME, stored).await {
            if !e.is_retryable() {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// One page's data file being encoded, sealed and written on the runtime
/// ([`Runtime::start`](crate::env::Runtime::start)) while the coordinator exports the next page.
type PageWrite = Started<Result<FileInfo, BackupError>>;

fn start_page_write(
    env: &Env,
    storage: Arc<dyn ExternalStorage>,
    cipher: crate::crypto::FileCipher,
    path: String,
    data: DataFile,
    locality: Option<String>,
) -> PageWrite {
    let env2 = env.clone();
    Started::start(&*env.runtime, async move {
        let bytes = data.encode();
        // The manifest records the checksum of the plaintext envelope (checked after
        // decryption); an encrypted backup stores the sealed bytes.
        let mut info = FileInfo::new(path.clone(), &data, &bytes);
        info.locality = locality;
        drop(data);
        let stored = cipher.seal(&*env2.runtime, &path, bytes)?;
        storage.write(&path, stored).await?;
        Ok(info)
    })
}

/// Waits for the page write in flight, if any, and lists its file in `files` (with the export's
/// start time when it is not the backup's); `Ok(true)` when storage refused it for now and the
/// piece is to be exported again.
async fn land(write: Option<PageWrite>, files: &mut Vec<FileInfo>, start: Option<Timestamp>) -> Result<bool, BackupError> {
    let Some(write) = write else { return Ok(false) };
    match write.wait().await {
        Some(Ok(mut info)) => {
            info.start_time = start;
            files.push(info);
            Ok(false)
        }
        Some(Err(BackupError::Storage(e))) if e.is_retryable() => Ok(true),
        Some(Err(e)) => Err(e),
        None => Err(BackupError::Internal("a data file's write task ended without an answer".into())),
    }
}

/// Publishes the manifest: a create-only write of `bytes`, read back until the stored bytes are
/// exactly those, so a backup never replaces another backup's manifest.
///
/// What the read-back can find: our bytes (done: also after a write that landed but reported
/// failure, whose retry then met its own object); this backup's manifest sealed in an earlier
/// run (done); another backup's manifest, readable with this backup's key or an intact
/// unencrypted one (this job fails and leaves it alone); nothing (a lost write: write again);
/// or bytes that are no manifest at all — a torn write, ours when our coordinator was killed
/// mid-write. Those are replaced, but only while this job's lock is still at the location, so
/// that only the job the location belongs to ever overwrites anything. (An encrypted manifest
/// of another backup with another passphrase looks like damage to this key: the lock is what
/// keeps such a backup from having written there.)
async fn write_verified(
    env: &Env,
    storage: &dyn ExternalStorage,
    lock_storage: &dyn ExternalStorage,
    id: JobId,
    details: &BackupDetails,
    bytes: Vec<u8>,
) -> Result<(), BackupError> {
    let path = MANIFEST_NAME;
    let mut backoff = Backoff::new();
    let mut replace = false;
    // The last transient failure: what the run ends with if storage keeps failing, so that the
    // job runs again once it answers (and finds its manifest, if the write landed).
    let mut last_failure = None;
    for _ in 0..30 {
        let wrote = if replace { storage.write(path, bytes.clone()).await } else { storage.write_new(path, bytes.clone()).await };
        match wrote {
            Ok(()) => {}
            Err(e) if e.is_already_exists() => {}
            Err(e) if e.is_retryable() => last_failure = Some(e),
            Err(e) => return Err(e.into()),
        }
        match storage.read(path).await {
            Ok(back) if back == bytes => return Ok(()),
            Ok(back) => match whose_manifest(details, back) {
                Whose::Ours => return Ok(()),
                Whose::Another(backup) => {
                    return Err(BackupError::Job(format!(
                        "job {id}: {} already holds the manifest of another backup ({backup}), written while this one ran; that backup is left as it is and this one is abandoned",
                        details.destination_redacted
                    )))
                }
                Whose::Damaged => {
                    // Only the job whose claim guards the manifest path can have written it: a
                    // torn write of its own (an earlier run died mid-write). Anyone else's
                    // damaged manifest stays as it is, for RESTORE to refuse naming it.
                    if !owns_manifest_claim(env, storage, lock_storage, id, details).await {
                        // Storage may have damaged the claim since this run last read it.
                        if crate::lock::claim_state(env, storage, crate::lock::MANIFEST_CLAIM, &details.lock_file(id)).await == crate::lock::ClaimState::Unreadable {
                            return Err(unprovable_manifest(details));
                        }
                        return Err(BackupError::Job(format!(
                            "job {id}: {} holds a damaged {path} that this job did not claim: not replacing another backup's manifest",
                            details.destination_redacted
                        )));
                    }
                    replace = true;
                }
            },
            Err(e) if !e.is_retryable() && !e.is_not_found() => return Err(e.into()),
            Err(e) if e.is_retryable() => last_failure = Some(e),
            _ => {}
        }
        backoff.wait(env).await;
    }
    // A write that may have landed while its read-back kept failing (a server that died just
    // after the upload) is not a failed backup: a transient error runs the job again, and that
    // run starts by looking for its manifest.
    Err(match last_failure {
        Some(e) => e.into(),
        None => BackupError::Job(format!("could not write {path}: it kept disappearing after each write")),
    })
}

/// True if this job holds the claim that guards its manifest path (the append claim at the
/// chain's root for an automatic incremental, [`crate::lock::MANIFEST_CLAIM`] beside the
/// manifest otherwise).
async fn owns_manifest_claim(env: &Env, storage: &dyn ExternalStorage, lock_storage: &dyn ExternalStorage, id: JobId, details: &BackupDetails) -> bool {
    let mine = details.lock_file(id);
    match details.chain_root {
        Some(_) => crate::lock::owns_claim(env, lock_storage, &crate::lock::append_claim_name(details.start_time), &mine).await,
        None => crate::lock::owns_claim(env, storage, crate::lock::MANIFEST_CLAIM, &mine).await,
    }
}

/// Whose manifest some bytes at the destination are.
enum Whose {
    /// This backup's (sealed in another run).
    Ours,
    /// Another backup's, by backup id (or "unknown" for an intact one this key cannot read).
    Another(String),
    /// Not a manifest: torn or damaged.
    Damaged,
}

fn whose_manifest(details: &BackupDetails, bytes: Vec<u8>) -> Whose {
    let intact_plain = !crate::crypto::appears_encrypted(&bytes) && crate::format::envelope::peek_kind(MANIFEST_NAME, &bytes).is_ok();
    match details.cipher().open(MANIFEST_NAME, bytes).ok().and_then(|b| Manifest::decode(MANIFEST_NAME, &b).ok()) {
        Some(m) if m.backup_id == details.backup_id => Whose::Ours,
        Some(m) => Whose::Another(m.backup_id),
        None if intact_plain => Whose::Another("one this job cannot read".into()),
        None => Whose::Damaged,
    }
}

/// The manifest at the destination if this job wrote it. Transient read failures are retried;
/// only a manifest that is really absent (or another backup's) counts as none.
async fn read_manifest_if_ours(env: &Env, storage: &dyn ExternalStorage, details: &BackupDetails) -> Result<Option<Manifest>, BackupError> {
    match crate::retry::read_retrying(env, storage, MANIFEST_NAME).await {
        Ok(bytes) => {
            let plain = details.cipher().open(MANIFEST_NAME, bytes).ok();
            Ok(plain.and_then(|b| Manifest::decode(MANIFEST_NAME, &b).ok()).filter(|m| m.backup_id == details.backup_id))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// This job's checkpoint, if any. A checkpoint that is absent, unreadable garbage or another
/// backup's means starting over; a storage that keeps failing is an error, not a fresh start.
async fn read_checkpoint(env: &Env, storage: &dyn ExternalStorage, details: &BackupDetails) -> Result<Option<Checkpoint>, BackupError> {
    match crate::retry::read_retrying(env, storage, CHECKPOINT_NAME).await {
        Ok(bytes) => {
            let plain = details.cipher().open(CHECKPOINT_NAME, bytes).ok();
            Ok(plain.and_then(|b| Checkpoint::decode(CHECKPOINT_NAME, &b).ok()).filter(|c| c.plan.backup_id == details.backup_id))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn update_progress(env: &Env, id: JobId, run: u64, cp: &Checkpoint) {
    let total = cp.plan.spans.len().max(1) as u64;
    let left = cp.remaining_spans().len() as u64;
    let fraction = (total.saturating_sub(left.min(total)) * 1000 / total) as u32;
    let n = cp.completed.len();
    let _ = update_held::<BackupDetails, _>(env, id, run, |r, _| {
        r.progress_millis = r.progress_millis.max(fraction.min(999));
        r.running_status = format!("exported {n} files");
        Ok(())
    })
    .await;
}

fn totals(m: &Manifest) -> JobTotals {
    JobTotals { rows: m.entry_counts.rows, index_entries: m.entry_counts.index_entries, bytes: m.entry_counts.data_size }
}

/// The manifest as planned: everything but the files.
pub fn plan_manifest(details: &BackupDetails) -> Manifest {
    let mut m = Manifest::new(details.backup_id.clone(), "", details.start_time, details.end_time, details.mvcc_filter);
    m.spans = details.spans.clone();
    m.introduced_spans = details.introduced_spans.clone();
    m.descriptors = details.descriptors.clone();
    m.descriptor_changes = details.descriptor_changes.clone();
    m.complete_dbs = details.complete_dbs.clone();
    m.is_full_cluster = details.is_full_cluster;
    m.cluster_data = details.cluster_data.clone();
    m.depends_on = details.depends_on.clone();
    m.targets_description = details.targets_description.clone();
    m.cluster_id = details.cluster_id.clone();
    m.partitions = details.partitions.iter().map(|p| p.locality.clone()).collect();
    m
}

/// `ResumeSkipsSpan` / `ResumeRepeatsSpan`: a resumed checkpoint that forgets a finished span
/// (so it is exported again) or claims an unfinished one (so it is never exported).
fn planted_resume(env: &Env, mut c: Checkpoint) -> Checkpoint {
    use crate::planted::PlantedBug;
    if env.planted(PlantedBug::ResumeSkipsSpan) {
        if let Some(first) = c.remaining_spans().into_iter().next() {
            let mut spans = c.completed_spans.clone();
            spans.push(first);
            c.completed_spans = model::key::merge_spans(&spans);
        }
    }
    // The files of that span stay listed: the span is exported into a second file.
    if env.planted(PlantedBug::ResumeRepeatsSpan) && !c.completed_spans.is_empty() {
        c.completed_spans.remove(0);
    }
    c
}

/// `ManifestBeforeLastFile`: the manifest as it would be if written before the last data file
/// was recorded — that file's rows are missing from the backup.
fn drop_last_file(mut cp: Checkpoint) -> Checkpoint {
    cp.completed.pop();
    cp
}
