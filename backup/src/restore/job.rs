//! Running a RESTORE job: the coordinator that takes the restored names with offline
//! descriptors, restores the spans not yet recorded done, and publishes — the descriptors made
//! public and the job marked succeeded in one commit, so that no restore is ever visible without
//! its job having succeeded, nor succeeded without being visible.
//!
//! Like BACKUP's, the coordinator runs on whichever node holds the job's lease, under a fencing
//! token: a run that lost the lease records nothing more. Each span is recorded done after its
//! ingest landed, in the order spans finish; a resumed run (an adopter after the coordinator
//! died, or RESUME after PAUSE) restores exactly the spans not recorded. Every span is ingested
//! at the job's fixed restore time, so a span ingested by a run that died before recording it
//! is ingested again with the very same versions. PAUSE keeps everything for RESUME; CANCEL or
//! a failure removes the offline descriptors and their data before the job is marked ended.

use crate::chain::Layer;
use crate::env::Env;
use crate::error::BackupError;
use crate::job_run::{control_check, fencing_token, finish, pausepoint, spawn_heartbeat, until_through, update_held, HeartbeatGuard, RunOutcome};
use crate::jobs::{self, JobId, JobRecord, JobStatus};
use crate::retry::Backoff;
use futures::StreamExt;
use model::catalog::{self, Catalog, Descriptor};
use model::{KvError, Span, WriteOp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::ingest::{ingest_prepared, prepare_span, Source, SPANS_AT_ONCE};
use super::RestoreDetails;

/// Runs (or resumes) restore job `id` on this node until it ends or this node loses it.
///
/// `Err` is the restore's own failure, recorded in the job (the statement reports it as it
/// is); anything this node could not do for want of the cluster is `NotCoordinator`: the job
/// is another node's to adopt, and the statement waits for its end.
pub async fn run(env: &Env, id: JobId) -> Result<RunOutcome, BackupError> {
    run_planned(env, id, None).await
}

/// [`run`], starting from the chain's `layers` as planning read them (the statement's own run):
/// a later run (an adopter, RESUME) reads them again.
pub async fn run_planned(env: &Env, id: JobId, layers: Option<Vec<Layer>>) -> Result<RunOutcome, BackupError> {
    let node = env.node();
    let run = fencing_token(env);
    // A job asking to be canceled (or reverting after a failure) is never restored again: its
    // removal is `cancel_uncoordinated`'s, whatever a stale adoption pass decided.
    let claim = |r: &mut JobRecord<RestoreDetails>, now| match r.status {
        JobStatus::CancelRequested => Err(format!("job {id} is {}", r.status.as_str())),
        _ => jobs::claim(r, now, node, run, env.jobs.lease),
    };
    if !matches!(jobs::update::<RestoreDetails, _>(&*env.kv, id, claim).await, Ok(Ok(_))) {
        return Ok(RunOutcome::NotCoordinator);
    }
    env.event(crate::event::JOB_CLAIMED, format!("job {id} by n{node}"));
    let lost = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    spawn_heartbeat(env, id, run, lost.clone(), done.clone());
    let _heartbeat = HeartbeatGuard(done.clone());
    let mut layers = layers;
    let result = until_through(env, id, run, &lost, &AtomicBool::new(false), || coordinate(env, id, run, &lost, layers.take())).await;
    let (outcome, error) = match result {
        Ok(o) => (o, None),
        Err(e) => (RunOutcome::Failed(e.to_string()), Some(e)),
    };
    // The lease stays renewed while the restore removes what it wrote. A failed run records
    // first that it is reverting, so that a node adopting it after this one dies finishes the
    // removal instead of restoring again over half-removed data.
    let mut reverting = matches!(outcome, RunOutcome::Failed(_) | RunOutcome::Canceled) && !lost.load(Ordering::Relaxed);
    if let (true, RunOutcome::Failed(why)) = (reverting, &outcome) {
        reverting = mark_reverting(env, id, run, why).await;
    }
    let removed = reverting && remove(env, id, run, &lost).await;
    let recorded = match &outcome {
        // Publishing recorded it, in the same commit.
        RunOutcome::Succeeded(_) => true,
        RunOutcome::NotCoordinator => false,
        // What it wrote is not all removed: the job stays asking to be canceled (with its
        // error, if it failed), without a coordinator, for the adoption loop to finish.
        RunOutcome::Failed(_) | RunOutcome::Canceled if !removed => {
            if reverting {
                release(env, id, run).await;
            }
            false
        }
        other => finish(env, id, run, other).await.unwrap_or(false),
    };
    done.store(true, Ordering::Relaxed);
    env.event(crate::event::JOB_RUN_ENDED, format!("restore job {id} on n{node}: {outcome:?}"));
    if !recorded {
        return Ok(RunOutcome::NotCoordinator);
    }
    match error {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

async fn coordinate(env: &Env, id: JobId, run: u64, lost: &AtomicBool, planned: Option<Vec<Layer>>) -> Result<RunOutcome, BackupError> {
    let Some(record) = jobs::load::<RestoreDetails>(&*env.kv, id).await? else { return Ok(RunOutcome::NotCoordinator) };
    let mut details = record.payload;
    let layers = match planned {
        Some(layers) => layers,
        None => open_layers(env, &details).await?,
    };
    if !details.offline {
        match take_names(env, id, run).await? {
            Some(d) => details = d,
            None => return Ok(RunOutcome::NotCoordinator),
        }
        env.event(crate::event::RESTORE_OFFLINE, format!("job {id}: {} descriptors offline", details.publication.descriptors.len()));
    }
    if pausepoint(env, id, "restore.before_flow").await {
        return Ok(RunOutcome::Paused);
    }
    let spans = details.spans(&layers);
    let todo = planted_resume(env, &details, &spans);
    if todo.len() < spans.len() {
        env.event(crate::event::RESTORE_RESUMED, format!("job {id}: {} spans done, {} to go", spans.len() - todo.len(), todo.len()));
    }
    let source = Source {
        layers: &layers,
        cipher: &details.cipher(),
        ts: details.as_of,
        restore_ts: details.restore_ts,
        ids: Arc::new(details.ids.clone()),
        verify_only: details.verify_data,
    };
    let stop: Mutex<Option<RunOutcome>> = Mutex::new(None);
    let work = futures::stream::iter(todo.into_iter().map(|span| restore_span(env, id, run, lost, &source, span, &stop))).buffer_unordered(SPANS_AT_ONCE);
    let results: Vec<Result<(), BackupError>> = work.collect().await;
    for r in results {
        r?;
    }
    if let Some(stop) = stop.lock().expect("not poisoned").take() {
        return Ok(stop);
    }
    if lost.load(Ordering::Relaxed) {
        return Ok(RunOutcome::NotCoordinator);
    }
    if let Some(stop) = control_check(env, id, run, lost).await {
        return Ok(stop);
    }
    if pausepoint(env, id, "restore.before_publish").await {
        return Ok(RunOutcome::Paused);
    }
    env.event(crate::event::RESTORE_PUBLISHING, format!("job {id}: {} spans done", spans.len()));
    publish(env, id, run).await
}

/// Restores one span and records it done — unless the job is to stop (PAUSE, CANCEL, a lost
/// lease), which the first span to see it records in `stop` for the rest to see.
async fn restore_span(
    env: &Env,
    id: JobId,
    run: u64,
    lost: &AtomicBool,
    source: &Source<'_>,
    span: Span,
    stop: &Mutex<Option<RunOutcome>>,
) -> Result<(), BackupError> {
    if stop.lock().expect("not poisoned").is_some() || lost.load(Ordering::Relaxed) {
        return Ok(());
    }
    if let Some(s) = control_check(env, id, run, lost).await {
        stop.lock().expect("not poisoned").get_or_insert(s);
        return Ok(());
    }
    let mut prepared = prepare_span(env, source, &span).await?;
    if source.verify_only {
        // `verify_backup_table_data`: every file of the span was read, decrypted and checked
        // against its manifest record by `prepare_span`; `verify` decodes every entry. Nothing
        // is ingested, so the span is done with nothing restored.
        prepared.verify().map_err(|reason| BackupError::NotABackup { url: source.shown().to_string(), reason })?;
        if !record_done(env, id, run, &span, crate::jobs::JobTotals::default()).await {
            lost.store(true, Ordering::Relaxed);
        }
        return Ok(());
    }
    let early = env.planted(crate::planted::PlantedBug::RestoreCheckpointBeforeIngest);
    if early {
        let (counted, totals) = prepared.counted();
        prepared = counted;
        if !record_done(env, id, run, &span, totals).await {
            lost.store(true, Ordering::Relaxed);
            return Ok(());
        }
    }
    let totals = ingest_prepared(env, prepared).await?;
    if !early && !record_done(env, id, run, &span, totals).await {
        lost.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// Records `span` done with what it ingested, if this run still holds the job; false if not.
async fn record_done(env: &Env, id: JobId, run: u64, span: &Span, totals: crate::jobs::JobTotals) -> bool {
    let updated = update_held::<RestoreDetails, _>(env, id, run, |r, _| {
        let d = &mut r.payload;
        if d.done.iter().any(|s| s.contains(span)) {
            return Ok(());
        }
        let mut done = d.done.clone();
        done.push(span.clone());
        d.done = model::key::merge_spans(&done);
        d.done_count += 1;
        d.totals.rows += totals.rows;
        d.totals.index_entries += totals.index_entries;
        d.totals.bytes += totals.bytes;
        r.progress_millis = r.payload.progress_millis();
        let verb = if r.payload.verify_data { "verified" } else { "restored" };
        r.running_status = format!("{verb} {} of {} spans", r.payload.done_count, r.payload.span_count);
        Ok(())
    })
    .await;
    let ok = matches!(updated, Ok(Ok(_)));
    if ok {
        env.event(crate::event::RESTORE_SPAN_INGESTED, format!("job {id}: {span}"));
    }
    ok
}

/// Opens the restored chain's layers again, from the payload (so an adopting node can), and
/// checks each still holds the backup the restore was planned on.
async fn open_layers(env: &Env, details: &RestoreDetails) -> Result<Vec<Layer>, BackupError> {
    let cipher = details.cipher();
    let mut layers = Vec::new();
    for l in &details.layers {
        let (url, storage) = crate::location::open(env, &l.location)?;
        let shown = url.redacted();
        let manifest = crate::location::read_manifest(env, &shown, &*storage, &cipher).await?;
        if manifest.backup_id != l.backup_id {
            return Err(BackupError::NotABackup {
                url: shown,
                reason: format!("it holds another backup ({}) than the one this restore began with ({})", manifest.backup_id, l.backup_id),
            });
        }
        let partitions = crate::partitioned::reopen(env, &l.partitions)?;
        layers.push(Layer { location: l.location.clone(), shown, storage, manifest, partitions });
    }
    Ok(layers)
}

/// Reads the job record and the catalog at one time, lets `change` decide the job's new record
/// and the writes that go with it, and commits both at once — refused if either changed since
/// (first committer wins). `None` when this run no longer holds the job.
async fn commit_with_record<F>(env: &Env, id: JobId, run: u64, mut change: F) -> Result<Option<JobRecord<RestoreDetails>>, BackupError>
where
    F: FnMut(&mut JobRecord<RestoreDetails>, &Catalog, model::Timestamp) -> Result<Vec<WriteOp>, BackupError>,
{
    let node = env.node();
    for _ in 0..50 {
        let now = env.kv.now();
        let Some(bytes) = env.kv.get(&jobs::job_key(id), now).await? else { return Ok(None) };
        let mut record: JobRecord<RestoreDetails> = jobs::decode_record(id, &bytes)?;
        if !jobs::holds(&record, now, node, run) {
            return Ok(None);
        }
        let catalog = Catalog::read(&*env.kv, now).await?;
        let mut writes = change(&mut record, &catalog, now)?;
        // Every DDL statement writes the descriptor-id counter: a CREATE or another RESTORE
        // committed meanwhile makes this commit conflict, and it is decided again.
        writes.push(catalog::descriptor_id_gen_write(catalog.next_descriptor_id()));
        record.modified = now;
        writes.push(jobs::record_write(&record)?);
        match env.kv.commit(writes, Some(now)).await {
            Ok(_) => return Ok(Some(record)),
            Err(KvError::TxnAborted(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BackupError::Internal(format!("job {id}: too many conflicting schema changes")))
}

/// Takes the restored names: every descriptor written offline, in the commit that records it.
async fn take_names(env: &Env, id: JobId, run: u64) -> Result<Option<RestoreDetails>, BackupError> {
    let record = commit_with_record(env, id, run, |r, catalog, _| {
        r.payload.publication.check_no_collisions(catalog)?;
        r.payload.offline = true;
        r.running_status = "restoring: descriptors offline".into();
        Ok(r.payload.publication.offline_writes())
    })
    .await?;
    Ok(record.map(|r| r.payload))
}

/// Publishes the restore and records the job succeeded, in one commit — unless PAUSE or CANCEL
/// was asked meanwhile, which then wins.
async fn publish(env: &Env, id: JobId, run: u64) -> Result<RunOutcome, BackupError> {
    let mut asked = None;
    let record = commit_with_record(env, id, run, |r, catalog, now| {
        asked = match r.status {
            JobStatus::PauseRequested => Some(RunOutcome::Paused),
            JobStatus::CancelRequested => Some(RunOutcome::Canceled),
            _ => None,
        };
        if asked.is_some() {
            return Err(BackupError::Internal("asked to stop".into()));
        }
        r.payload.publication.check_no_collisions(catalog)?;
        r.status = JobStatus::Succeeded;
        r.totals = r.payload.totals;
        r.progress_millis = 1000;
        r.running_status.clear();
        r.finished = Some(now);
        r.lease = None;
        Ok(r.payload.publication.public_writes())
    })
    .await;
    match (record, asked) {
        (_, Some(stop)) => Ok(stop),
        (Ok(Some(r)), None) => {
            env.event(crate::event::RESTORE_PUBLISHED, format!("job {id}: {} descriptors public", r.payload.publication.descriptors.len()));
            Ok(RunOutcome::Succeeded(r.totals))
        }
        (Ok(None), None) => Ok(RunOutcome::NotCoordinator),
        (Err(e), None) => Err(e),
    }
}

/// Records that failed run `run` of job `id` is reverting: asking to be canceled, with its
/// error, which [`cancel_uncoordinated`] turns into `failed` once the removal is complete.
/// False if this run no longer holds the job (its adopter runs it again: nothing was removed).
async fn mark_reverting(env: &Env, id: JobId, run: u64, why: &str) -> bool {
    let marked = update_held::<RestoreDetails, _>(env, id, run, |r, _| {
        r.status = JobStatus::CancelRequested;
        r.error = Some(why.to_string());
        r.running_status = "reverting: removing what it restored".into();
        Ok(())
    })
    .await;
    matches!(marked, Ok(Ok(_)))
}

/// Lets go of job `id` (asking to be canceled) so that the adoption loop finishes its removal
/// at once rather than after the lease lapses.
async fn release(env: &Env, id: JobId, run: u64) {
    let _ = update_held::<RestoreDetails, _>(env, id, run, |r, _| {
        r.lease = None;
        Ok(())
    })
    .await;
}

/// Removes what a restore that will not finish wrote: its data, then its offline descriptors
/// (never a public one), and says whether nothing of it is left. The job forgets its progress
/// first; it stays `offline` (its descriptors may exist) until the commit that deletes them,
/// so that a removal cut short and taken up again — by this node, or by the adoption loop
/// after this one died — removes everything, never judging that nothing was written. A job
/// being removed never runs its restore again: it is asking to be canceled. `run` fences it.
async fn remove(env: &Env, id: JobId, run: u64, lost: &AtomicBool) -> bool {
    let removed = remove_all(env, id, run, lost).await;
    if !removed {
        env.event(crate::event::RESTORE_REMOVAL_UNFINISHED, format!("job {id}: left asking to be canceled"));
    }
    removed
}

async fn remove_all(env: &Env, id: JobId, run: u64, lost: &AtomicBool) -> bool {
    let reset = update_held::<RestoreDetails, _>(env, id, run, |r, _| {
        r.payload.done.clear();
        r.payload.done_count = 0;
        r.payload.totals = Default::default();
        Ok(())
    })
    .await;
    let details = match reset {
        Ok(Ok(r)) => r.payload,
        _ => return false,
    };
    if !details.offline {
        // Nothing was written: the names are taken (offline) before any span is ingested.
        return true;
    }
    for table in details.publication.table_ids() {
        if !tombstone_span(env, &model::encoding::table_span(table), lost).await {
            return false;
        }
    }
    // Only descriptors still offline go (a public one is not this restore's to remove), in the
    // commit that records the job no longer offline.
    let mut backoff = Backoff::new();
    for _ in 0..20 {
        if lost.load(Ordering::Relaxed) {
            return false;
        }
        let deleted = commit_with_record(env, id, run, |r, current, _| {
            r.payload.offline = false;
            Ok(details
                .publication
                .descriptors
                .iter()
                .filter(|d| match current.descriptor(d.id()) {
                    Some(Descriptor::Database(db)) => db.offline,
                    Some(Descriptor::Table(t)) => t.is_offline(),
                    None => false,
                })
                .map(|d| WriteOp::Delete(catalog::descriptor_key(d.id())))
                .collect())
        })
        .await;
        match deleted {
            Ok(Some(_)) => {
                env.event(crate::event::RESTORE_REMOVED, format!("job {id}: offline descriptors and their data removed"));
                return true;
            }
            Ok(None) => return false,
            Err(_) => backoff.wait(env).await,
        }
    }
    false
}

/// How many keys one commit of a removal deletes.
const DELETE_BATCH: usize = 1_000;

/// Deletes every key of `span`, range by range and in batches; false if it had to give up
/// (the cluster did not answer, or the lease was lost).
async fn tombstone_span(env: &Env, span: &Span, lost: &AtomicBool) -> bool {
    let mut backoff = Backoff::new();
    for _ in 0..20 {
        if lost.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(ranges) = env.kv.ranges(span).await else {
            backoff.wait(env).await;
            continue;
        };
        let mut all_done = true;
        for range in ranges {
            let Some(piece) = range.span.intersect(span) else { continue };
            let Ok(rows) = env.kv.scan(&piece, env.kv.now()).await else {
                all_done = false;
                break;
            };
            for chunk in rows.chunks(DELETE_BATCH) {
                if lost.load(Ordering::Relaxed) {
                    return false;
                }
                let deletes = chunk.iter().map(|(k, _)| WriteOp::Delete(k.clone())).collect();
                if env.kv.commit(deletes, None).await.is_err() {
                    all_done = false;
                    break;
                }
            }
        }
        if all_done {
            return true;
        }
        backoff.wait(env).await;
    }
    false
}

/// Cancels a restore whose coordinator this process has just stopped by dropping it (the
/// shell's Ctrl-C does, as a node dying would): the stopped run's lease is released, what it
/// wrote removed, and the job recorded canceled. `Ok(false)`: the cluster did not let all of it
/// be removed yet, and the job stays asking to be canceled, for the adoption loop to finish;
/// `Err` says why it was not (it had ended).
pub async fn cancel_stopped(env: &Env, id: JobId) -> Result<bool, String> {
    cancel_without_coordinator(env, id, false).await
}

/// CANCEL JOB of a restore without a coordinator (paused, or asked to cancel with no live
/// lease): what it wrote is removed before the job is recorded canceled, so that whoever sees it
/// canceled finds nothing of it. Refused (changing nothing) if a coordinator has it meanwhile.
/// `Ok(false)` as for [`cancel_stopped`].
pub async fn cancel_uncoordinated(env: &Env, id: JobId) -> Result<bool, String> {
    cancel_without_coordinator(env, id, true).await
}

/// Why [`cancel_without_coordinator`] did not record the end: its claim lapsed meanwhile.
const LAPSED: &str = "the cancel's claim lapsed";

async fn cancel_without_coordinator(env: &Env, id: JobId, only_paused: bool) -> Result<bool, String> {
    // This node takes the job while it removes what the job wrote, so that no adoption loop
    // sees a cancel request without a coordinator and does the same meanwhile.
    let (node, run) = (env.node(), fencing_token(env));
    let released = jobs::update::<RestoreDetails, _>(&*env.kv, id, |r, now| {
        if r.status.is_terminal() {
            return Err(format!("job {id} is already {}", r.status.as_str()));
        }
        // A coordinator that has the job meanwhile sees the cancel request itself.
        if only_paused && (r.lease.is_some_and(|l| l.expires > now) || !matches!(r.status, JobStatus::Paused | JobStatus::CancelRequested)) {
            return Err(String::new());
        }
        r.status = JobStatus::CancelRequested;
        r.lease = Some(jobs::JobLease { node, run, expires: now.add(env.jobs.lease) });
        Ok(())
    })
    .await;
    match released {
        Ok(Ok(_)) => {}
        Ok(Err(jobs::UpdateRefused::Refused(why))) if why.is_empty() => return Ok(true),
        Ok(Err(jobs::UpdateRefused::Refused(why))) => return Err(why),
        Ok(Err(jobs::UpdateRefused::NotFound)) => return Err(format!("job {id} no longer exists")),
        Err(e) => return Err(e.to_string()),
    }
    // Renewed while it removes, as a coordinator's: a removal slower than a lease is not
    // taken up by another node meanwhile.
    let lost = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    spawn_heartbeat(env, id, run, lost.clone(), done.clone());
    let _heartbeat = HeartbeatGuard(done);
    if !remove(env, id, run, &lost).await {
        // Still asking to be canceled: the adoption loop takes the removal up again.
        release(env, id, run).await;
        return Ok(false);
    }
    let ended = jobs::update::<RestoreDetails, _>(&*env.kv, id, |r, now| {
        // Only while this claim holds: once it lapsed, another pass may be at work on the job.
        if !jobs::holds(r, now, node, run) && r.status == JobStatus::CancelRequested {
            return Err(LAPSED.into());
        }
        match r.status {
            JobStatus::CancelRequested => {}
            // An adoption loop finished the cancel (this node's claim had lapsed).
            JobStatus::Canceled | JobStatus::Failed => return Err(String::new()),
            other => return Err(format!("job {id} is {}", other.as_str())),
        }
        // A run that failed and could not remove everything it wrote ends failed, with its
        // error, as it would have had its removal finished at once.
        r.status = if r.error.is_some() { JobStatus::Failed } else { JobStatus::Canceled };
        r.running_status.clear();
        r.finished = Some(now);
        r.lease = None;
        Ok(())
    })
    .await;
    match ended {
        Ok(Ok(_)) => Ok(true),
        Ok(Err(jobs::UpdateRefused::Refused(why))) if why.is_empty() => Ok(true),
        // Removed, but not recorded: the next pass finds nothing to remove and records it.
        Ok(Err(jobs::UpdateRefused::Refused(why))) if why == LAPSED => Ok(false),
        Ok(Err(jobs::UpdateRefused::Refused(why))) => Err(why),
        Ok(Err(jobs::UpdateRefused::NotFound)) => Err(format!("job {id} no longer exists")),
        Err(e) => Err(e.to_string()),
    }
}

/// The spans this run restores: those not recorded done — or, with the planted
/// `RestoreResumeTrustsWatermark`, those above the end of the highest span recorded done.
fn planted_resume(env: &Env, details: &RestoreDetails, spans: &[Span]) -> Vec<Span> {
    let remaining = details.remaining(spans);
    if env.planted(crate::planted::PlantedBug::RestoreResumeTrustsWatermark) {
        if let Some(mark) = details.done.iter().map(|s| s.end.clone()).max() {
            return remaining.into_iter().filter(|s| s.start >= mark).collect();
        }
    }
    remaining
}
