//! End-to-end, in process: RESTORE as a resumable job. Paused mid-way (the PAUSE issued from
//! inside an ingest) with its descriptors offline and refused to readers, resumed, canceled;
//! its coordinator killed mid-ingest (its future dropped, as a node dying drops it) and the job
//! resumed by the next run after the lease lapsed — every key ingested by a span recorded done
//! is never ingested again, and the restore equals the source.

use crate::common::*;
use backup::jobs::{self, JobStatus, JobSummary, JobType};
use backup::restore::RestoreDetails;
use backup::storage::MemStorageProvider;
use backup::targets::SessionContext;
use futures::executor::block_on;
use model::Key;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LOC: &str = "nodelocal://1/restore-job";

/// A bank backup in small files (several per table, so the restore has many spans), and a
/// fresh cluster on the same storage to restore it into.
fn backed_up() -> (Cluster, Cluster, model::Timestamp) {
    let mut c = bank_cluster(Arc::new(MemStorageProvider::new()));
    c.env.jobs.file_target_bytes = 40;
    c.ok(&format!("BACKUP DATABASE bank TO '{LOC}'"));
    let m = c.manifest(LOC);
    assert!(m.files.len() >= 8, "small files: {}", m.files.len());
    let dst = c.fresh_destination();
    (c, dst, m.end_time)
}

fn restore_job(c: &Cluster) -> JobSummary {
    let all: Vec<JobSummary> = block_on(jobs::list(&*c.local)).unwrap().into_iter().filter(|j| j.job_type == JobType::Restore).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

fn details(c: &Cluster, id: i64) -> RestoreDetails {
    block_on(jobs::load::<RestoreDetails>(&*c.local, id)).unwrap().unwrap().payload
}

/// Before ingest number `at` of the next restore, runs `sql` (with `{id}` the running restore's
/// job id); every ingest goes through.
fn control_mid_restore(c: &Cluster, at: usize, sql: &'static str) {
    let env = c.env.clone();
    c.kv.set_ingest_hook(Box::new(move |n| {
        let env = env.clone();
        Box::pin(async move {
            if n == at {
                let id = jobs::list(&*env.kv).await.unwrap().into_iter().find(|j| j.job_type == JobType::Restore).unwrap().id;
                let sql = sql.replace("{id}", &id.to_string());
                backup::exec::execute(&env, &SessionContext::root(), &sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            None
        })
    }));
}

/// How many times each key was ingested.
fn ingest_counts(c: &Cluster) -> BTreeMap<Key, usize> {
    let mut counts = BTreeMap::new();
    for k in c.kv.ingested.lock().unwrap().iter() {
        *counts.entry(k.clone()).or_default() += 1;
    }
    counts
}

fn assert_restored_equals_source(src: &Cluster, dst: &Cluster, ts: model::Timestamp) {
    for (t, _) in BANK_TABLES {
        assert_eq!(dst.read_now("bank", t).rows, src.read("bank", t, ts).rows, "{t}");
    }
}

#[test]
fn a_restore_paused_mid_way_is_offline_to_readers_and_resumes_ingesting_each_key_once() {
    let (src, mut dst, ts) = backed_up();
    control_mid_restore(&dst, 2, "PAUSE JOB {id}");
    let e = dst.err(&format!("RESTORE DATABASE bank FROM '{LOC}'"));
    dst.kv.clear_ingest_hook();
    let j = restore_job(&dst);
    let id = j.id;
    assert_eq!(e, format!("job {id} was paused before it completed; RESUME JOB {id} to continue it"));
    let d = details(&dst, id);
    let (done, total) = (d.done_count, d.span_count);
    assert!(done > 0 && done < total, "paused mid-way: {done} of {total} spans done");
    assert_eq!((j.status, j.lease), (JobStatus::Paused, None));
    assert_eq!(j.progress_millis as usize, done * 1000 / total);
    // The restored names are taken but offline: reads are refused, naming why; nothing is
    // listed; a CREATE of the same name is refused.
    assert_eq!(dst.sql_err("SELECT * FROM bank.accounts"), "database \"bank\" is offline: restoring");
    assert_eq!(dst.sql_err("USE bank"), "database \"bank\" is offline: restoring");
    assert!(!dst.rows("SHOW DATABASES").iter().any(|r| r[0] == s("bank")));
    assert!(dst.sql_err("CREATE DATABASE bank").contains("already exists"));
    assert!(dst.err(&format!("RESTORE DATABASE bank FROM '{LOC}'")).contains("database \"bank\" already exists"));
    assert!(dst.err("BACKUP DATABASE bank TO 'nodelocal://1/elsewhere'").contains("database \"bank\" is offline: restoring"));
    let row = dst.ok("SHOW JOBS").rows.into_iter().find(|r| r[0] == i(id)).unwrap();
    assert_eq!((&row[5], &row[11]), (&s("paused"), &f(j.progress_millis as f64 / 1000.0)));
    // RESUME: the rest of the spans, and only them.
    let before = ingest_counts(&dst);
    dst.ok(&format!("RESUME JOB {id}"));
    dst.runtime.run_spawned();
    let j = restore_job(&dst);
    assert_eq!((j.status, j.progress_millis), (JobStatus::Succeeded, 1000));
    assert_eq!(dst.log.named("restore-resumed").len(), 1);
    let after = ingest_counts(&dst);
    assert!(after.values().all(|n| *n == 1), "a key ingested twice: {:?}", after.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>());
    assert!(after.len() > before.len());
    assert_restored_equals_source(&src, &dst, ts);
    let tables: Vec<u32> = BANK_TABLES.iter().map(|(t, _)| src.table_id("bank", t)).collect();
    let (rows, idx, bytes) = expected_totals(&src, &tables, ts);
    assert_eq!((j.totals.rows as i64, j.totals.index_entries as i64, j.totals.bytes as i64), (rows, idx, bytes));
    assert_eq!(dst.rows("SELECT count(*) FROM bank.accounts"), vec![vec![i(5)]]);
}

#[test]
fn canceling_a_paused_restore_removes_its_descriptors_and_data_and_frees_the_names() {
    let (src, mut dst, ts) = backed_up();
    control_mid_restore(&dst, 2, "PAUSE JOB {id}");
    dst.err(&format!("RESTORE DATABASE bank FROM '{LOC}'"));
    dst.kv.clear_ingest_hook();
    let id = restore_job(&dst).id;
    let new_ids: Vec<u32> = details(&dst, id).publication.descriptors.iter().map(|d| d.id()).collect();
    assert!(new_ids.iter().any(|t| !dst.table_kvs(*t, dst.now()).is_empty()), "some data ingested before the pause");
    dst.ok(&format!("CANCEL JOB {id}"));
    assert_eq!(restore_job(&dst).status, JobStatus::Canceled);
    assert!(dst.log.named("restore-removed").len() == 1);
    let cat = dst.catalog();
    for id in &new_ids {
        assert!(cat.descriptor(*id).is_none(), "descriptor {id} left behind");
        assert!(dst.table_kvs(*id, dst.now()).is_empty(), "data of {id} left behind");
    }
    assert!(dst.sql_err("SELECT * FROM bank.accounts").contains("database \"bank\" does not exist"));
    // The names are free again: the same restore runs to the end.
    let before = ingest_counts(&dst).len();
    dst.ok(&format!("RESTORE DATABASE bank FROM '{LOC}'"));
    assert!(ingest_counts(&dst).len() > before);
    assert_restored_equals_source(&src, &dst, ts);
}

#[test]
fn canceling_a_running_restore_removes_what_it_wrote() {
    let (_src, dst, _) = backed_up();
    control_mid_restore(&dst, 2, "CANCEL JOB {id}");
    let e = dst.err(&format!("RESTORE DATABASE bank FROM '{LOC}'"));
    dst.kv.clear_ingest_hook();
    let j = restore_job(&dst);
    assert_eq!(e, format!("job {} was canceled", j.id));
    assert_eq!(j.status, JobStatus::Canceled);
    assert!(dst.catalog().database_by_name("bank").is_none());
    let d = details(&dst, j.id);
    for t in d.publication.descriptors.iter().map(|d| d.id()) {
        assert!(dst.table_kvs(t, dst.now()).is_empty(), "data of {t} left behind");
    }
}

#[test]
fn a_restore_whose_coordinator_died_mid_ingest_is_resumed_by_the_next_run_without_reingesting_recorded_spans() {
    let (src, dst, ts) = backed_up();
    // The coordinator dies at its fourth ingest: the ingest never returns and the run's future
    // is dropped, mid-flight, with other spans in flight too.
    let dead = Arc::new(AtomicBool::new(false));
    let dead2 = dead.clone();
    dst.kv.set_ingest_hook(Box::new(move |n| {
        if n >= 3 {
            dead2.store(true, Ordering::SeqCst);
            return Box::pin(futures::future::pending());
        }
        Box::pin(async { None })
    }));
    let stmt = backup::statement::parse(&format!("RESTORE DATABASE bank FROM '{LOC}'")).unwrap();
    let backup::statement::Statement::Restore(r) = &stmt else { unreachable!() };
    let planned = block_on(backup::restore::plan(&dst.env, &SessionContext::root(), r)).unwrap();
    let id = block_on(jobs::create(&*dst.kv, jobs::JobRecord::new(JobType::Restore, stmt.redacted(), "root", planned))).unwrap();
    {
        let mut run = Box::pin(backup::restore::job::run(&dst.env, id));
        block_on(futures::future::poll_fn(|cx| {
            if run.as_mut().poll(cx).is_ready() {
                panic!("the run ended although its coordinator died");
            }
            if dead.load(Ordering::SeqCst) {
                std::task::Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }));
    }
    dst.runtime.drop_spawned();
    dst.kv.clear_ingest_hook();
    let d = details(&dst, id);
    let recorded = d.done_count;
    assert!(recorded > 0 && recorded < d.span_count, "{recorded} of {}", d.span_count);
    assert_eq!(restore_job(&dst).status, JobStatus::Running);
    // Keys of the spans recorded done before the death.
    let first_run = ingest_counts(&dst);
    // A second run is refused while the dead one's lease holds, then takes the job.
    assert_eq!(block_on(backup::restore::job::run(&dst.env, id)).unwrap(), backup::job_run::RunOutcome::NotCoordinator);
    dst.advance(dst.env.jobs.lease + Duration::from_secs(1));
    let outcome = block_on(backup::restore::job::run(&dst.env, id)).unwrap();
    assert!(matches!(outcome, backup::job_run::RunOutcome::Succeeded(_)), "{outcome:?}");
    assert_eq!(dst.log.named("restore-resumed").len(), 1);
    let all = ingest_counts(&dst);
    // The recorded spans' keys were ingested once; only the spans in flight at the death
    // (ingested, not recorded) may have gone in twice.
    let done_spans = &d.done;
    for (k, n) in &all {
        let old = backup_key(k, &d);
        if done_spans.iter().any(|s| s.contains_key(&old)) {
            assert_eq!(*n, 1, "{k} of a recorded span ingested again");
        }
    }
    assert!(all.len() >= first_run.len());
    assert_restored_equals_source(&src, &dst, ts);
}

/// The backup's key for a restored key: its table id mapped back.
fn backup_key(k: &Key, d: &RestoreDetails) -> Key {
    let new = u32::from_be_bytes(k.0[..4].try_into().unwrap());
    let old = d.ids.iter().find(|(_, n)| **n == new).map(|(o, _)| *o).unwrap();
    let mut k = k.clone();
    k.0[..4].copy_from_slice(&old.to_be_bytes());
    k
}

#[test]
fn a_detached_restore_returns_its_job_id_at_once_and_runs_on() {
    let (src, dst, ts) = backed_up();
    let r = dst.ok(&format!("RESTORE DATABASE bank FROM '{LOC}' WITH detached"));
    assert_eq!(r.columns, vec!["job_id".to_string()]);
    let j = restore_job(&dst);
    assert_eq!(r.rows, vec![vec![i(j.id)]]);
    assert_eq!(j.description, format!("RESTORE DATABASE bank FROM '{LOC}' WITH detached"));
    assert!(!j.status.is_terminal());
    dst.runtime.run_spawned();
    assert_eq!(restore_job(&dst).status, JobStatus::Succeeded);
    assert_restored_equals_source(&src, &dst, ts);
}

/// A revision-history cluster chain taken while a RESTORE into the cluster was paused part-way:
/// the restore writes every row at its own time, fixed at planning (before that incremental's
/// end), so the incremental after the restore published must back the restored table up from
/// time zero — as CockroachDB's reintroduced spans do — or the chain loses the rows ingested
/// after the paused one ran (chain seed 1825 of `--faults everything` lost 3 of 33).
#[test]
fn an_incremental_after_a_restore_that_was_offline_in_its_base_backs_the_restored_table_up_whole() {
    const CHAIN: &str = "nodelocal://1/chain-while-restoring";
    let mut c = bank_cluster(Arc::new(MemStorageProvider::new()));
    c.env.jobs.file_target_bytes = 40;
    c.ok(&format!("BACKUP DATABASE bank TO '{LOC}'"));
    c.ok(&format!("BACKUP TO '{CHAIN}' WITH revision_history"));
    c.advance(Duration::from_secs(1));
    c.sql1("CREATE DATABASE restored");
    c.advance(Duration::from_secs(1));
    c.ok("SET CLUSTER SETTING jobs.debug.pausepoints = 'restore.before_flow'");
    let e = c.err(&format!("RESTORE TABLE bank.customers FROM '{LOC}' WITH into_db = 'restored'"));
    c.ok("SET CLUSTER SETTING jobs.debug.pausepoints = ''");
    assert!(e.contains("was paused before it completed"), "{e}");
    let id = restore_job(&c).id;
    assert_eq!(details(&c, id).done_count, 0);
    c.advance(Duration::from_secs(1));
    c.ok(&format!("BACKUP TO '{CHAIN}' WITH revision_history"));
    c.advance(Duration::from_secs(1));
    c.ok(&format!("RESUME JOB {id}"));
    c.runtime.run_spawned();
    assert_eq!(restore_job(&c).status, JobStatus::Succeeded);
    c.advance(Duration::from_secs(1));
    c.ok(&format!("BACKUP TO '{CHAIN}' WITH revision_history"));
    let source = c.read_now("restored", "customers");
    assert_eq!(source.rows.len(), 4);
    let dst = c.fresh_destination();
    dst.ok(&format!("RESTORE DATABASE restored FROM '{CHAIN}'"));
    assert_eq!(dst.read_now("restored", "customers").rows, source.rows);
}

/// Refuses every commit that only deletes (a removal's tombstones) while `on` is set.
fn refuse_tombstones(c: &Cluster) -> Arc<AtomicBool> {
    let on = Arc::new(AtomicBool::new(true));
    let on2 = on.clone();
    c.kv.set_commit_hook(Box::new(move |writes| {
        let tombstones = !writes.is_empty() && writes.iter().all(|w| matches!(w, model::WriteOp::Delete(_)));
        (tombstones && on2.load(Ordering::SeqCst)).then(|| model::KvError::Unavailable { node: 1, reason: "test: the removal cannot reach the range".into() })
    }));
    on
}

/// Every descriptor the restore created is gone, and so is its data.
fn assert_nothing_left(c: &Cluster, d: &RestoreDetails) {
    let cat = c.catalog();
    for t in d.publication.descriptors.iter().map(|d| d.id()) {
        assert!(cat.descriptor(t).is_none(), "descriptor {t} left behind");
        assert!(c.table_kvs(t, c.now()).is_empty(), "data of {t} left behind");
    }
}

// Backup seed 1644 of a 3,000-seed `--faults everything` run: a cancel's removal that gave up
// half-way (the cluster did not answer) had already recorded the job as having written
// nothing, so the removal taken up again removed nothing and the restore's offline descriptors
// stayed for good, behind a job recorded canceled.
#[test]
fn a_cancel_whose_removal_was_cut_short_stays_requested_and_the_next_attempt_removes_everything() {
    let (_src, mut dst, _) = backed_up();
    control_mid_restore(&dst, 2, "PAUSE JOB {id}");
    dst.err(&format!("RESTORE DATABASE bank FROM '{LOC}'"));
    dst.kv.clear_ingest_hook();
    let id = restore_job(&dst).id;
    let d = details(&dst, id);
    assert!(d.publication.descriptors.iter().any(|t| !dst.table_kvs(t.id(), dst.now()).is_empty()), "some data ingested before the pause");
    let refusing = refuse_tombstones(&dst);
    // CANCEL JOB is accepted; what the job wrote cannot be removed yet, so it is not canceled.
    dst.ok(&format!("CANCEL JOB {id}"));
    let j = restore_job(&dst);
    assert_eq!(j.status, JobStatus::CancelRequested);
    assert!(j.lease.is_none_or(|l| l.expires <= dst.now()), "left for the adoption loop: {:?}", j.lease);
    assert!(details(&dst, id).offline, "its descriptors are still there, offline");
    assert_eq!(dst.sql_err("SELECT * FROM bank.accounts"), "database \"bank\" is offline: restoring");
    // The cluster answers again: the adoption loop's attempt removes everything, then records
    // the job canceled.
    refusing.store(false, Ordering::SeqCst);
    assert_eq!(block_on(backup::restore::job::cancel_uncoordinated(&dst.env, id)), Ok(true));
    assert_eq!(restore_job(&dst).status, JobStatus::Canceled);
    assert_nothing_left(&dst, &d);
    assert!(dst.sql_err("SELECT * FROM bank.accounts").contains("database \"bank\" does not exist"));
}

// A failed restore records first that it is reverting (asking to be canceled, with its error):
// a coordinator whose removal is cut short leaves it so, and the adoption loop finishes the
// removal and records the job failed with the restore's own error — never a job that runs its
// restore again over half-removed data, nor one that ends with its descriptors left offline.
#[test]
fn a_failed_restore_whose_removal_was_cut_short_is_finished_by_the_adoption_loop_and_ends_failed() {
    let (_src, dst, _) = backed_up();
    dst.kv.set_ingest_hook(Box::new(|n| Box::pin(async move { (n == 3).then(|| model::KvError::Invalid("test: the ingest is refused".into())) })));
    let refusing = refuse_tombstones(&dst);
    let stmt = backup::statement::parse(&format!("RESTORE DATABASE bank FROM '{LOC}'")).unwrap();
    let backup::statement::Statement::Restore(r) = &stmt else { unreachable!() };
    let planned = block_on(backup::restore::plan(&dst.env, &SessionContext::root(), r)).unwrap();
    let id = block_on(jobs::create(&*dst.kv, jobs::JobRecord::new(JobType::Restore, stmt.redacted(), "root", planned))).unwrap();
    let outcome = block_on(backup::restore::job::run(&dst.env, id)).unwrap();
    assert_eq!(outcome, backup::job_run::RunOutcome::NotCoordinator, "not recorded failed: its removal is not done");
    dst.kv.clear_ingest_hook();
    let j = block_on(jobs::load::<RestoreDetails>(&*dst.kv, id)).unwrap().unwrap();
    assert_eq!(j.status, JobStatus::CancelRequested);
    assert!(j.lease.is_none_or(|l| l.expires <= dst.now()), "left for the adoption loop: {:?}", j.lease);
    assert!(j.error.as_deref().is_some_and(|e| e.contains("the ingest is refused")), "{:?}", j.error);
    assert!(j.payload.offline);
    // RESUME is refused: a reverting job never restores again.
    assert!(dst.err(&format!("RESUME JOB {id}")).contains("cannot resume a job whose status is cancel-requested"));
    refusing.store(false, Ordering::SeqCst);
    // Nor does a run started for it by a stale adoption pass (one that listed it running): it
    // is refused the job, which stays reverting for the cancel pass to end it failed, not
    // canceled with its error lost.
    assert_eq!(block_on(backup::restore::job::run(&dst.env, id)).unwrap(), backup::job_run::RunOutcome::NotCoordinator);
    assert_eq!(block_on(jobs::load::<RestoreDetails>(&*dst.kv, id)).unwrap().unwrap().status, JobStatus::CancelRequested);
    assert_eq!(block_on(backup::restore::job::cancel_uncoordinated(&dst.env, id)), Ok(true));
    let j = block_on(jobs::load::<RestoreDetails>(&*dst.kv, id)).unwrap().unwrap();
    assert_eq!(j.status, JobStatus::Failed);
    assert_nothing_left(&dst, &j.payload);
    let waited = block_on(backup::exec::wait_for(&dst.env, id)).unwrap_err().to_string();
    assert!(waited.contains(&format!("job {id} failed")) && waited.contains("the ingest is refused"), "{waited}");
}
