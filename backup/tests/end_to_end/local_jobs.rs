//! End-to-end, in-process job control: PAUSE / RESUME / CANCEL JOB on backups, including a
//! backup paused mid-way (the PAUSE is issued from inside an export, which then fails
//! retryably so its span is left for later) and resumed from its checkpoint, with every span
//! exported exactly once into the finished backup.

use crate::common::*;
use backup::exec;
use backup::jobs::{self, JobStatus, JobSummary};
use backup::storage::MemStorageProvider;
use backup::targets::SessionContext;
use futures::executor::block_on;
use model::kv::KvError;
use model::{Datum, Span};
use std::collections::BTreeMap;
use std::sync::Arc;

fn bank() -> Cluster {
    bank_cluster(Arc::new(MemStorageProvider::new()))
}

fn job(c: &Cluster, id: i64) -> JobSummary {
    block_on(jobs::load::<serde_json::Value>(&*c.local, id)).unwrap().unwrap()
}

fn backup_jobs(c: &Cluster) -> Vec<JobSummary> {
    block_on(jobs::list(&*c.local)).unwrap().into_iter().filter(|j| j.job_type == jobs::JobType::Backup).collect()
}

/// The SHOW JOBS row of job `id`.
fn show_job(c: &Cluster, id: i64) -> Vec<Datum> {
    let r = c.ok("SHOW JOBS");
    r.rows.iter().find(|row| row[0] == i(id)).cloned().unwrap_or_else(|| panic!("job {id} not in\n{}", r.render()))
}

const BACKUP_ALL: &str = "BACKUP DATABASE bank, employees TO 'nodelocal://1/paused'";

#[test]
fn a_backup_paused_mid_way_resumes_from_its_checkpoint_and_exports_every_span_once() {
    let c = bank();
    control_mid_backup(&c, 2, &["PAUSE JOB {id}"]);
    let e = c.err(BACKUP_ALL);
    c.kv.clear_hook();
    let id = backup_jobs(&c)[0].id;
    assert_eq!(e, format!("job {id} was paused before it completed; RESUME JOB {id} to continue it"));
    // Paused with 2 of its 5 spans done (customers, accounts); progress says so.
    let j = job(&c, id);
    assert_eq!((j.status, j.lease, j.progress_millis), (JobStatus::Paused, None, 400));
    let row = show_job(&c, id);
    assert_eq!((&row[5], &row[11]), (&s("paused"), &f(0.4)));
    let store = c.store("nodelocal://1/paused");
    let files = store.snapshot();
    assert!(files.contains_key("BACKUP-CHECKPOINT") && !files.contains_key("BACKUP"), "{files:?}");
    assert_eq!(files.keys().filter(|k| k.starts_with("data/")).count(), 2, "{files:?}");
    assert!(c.err("SHOW BACKUP 'nodelocal://1/paused'").contains("the backup is incomplete"));
    // Pausing again is a no-op; the job stays paused until resumed.
    c.ok(&format!("PAUSE JOB {id}"));
    assert_eq!(job(&c, id).status, JobStatus::Paused);
    // RESUME hands the job to a coordinator in the background: running until that runs.
    let r = c.ok(&format!("RESUME JOB {id}"));
    assert!(r.rows.is_empty());
    assert_eq!(job(&c, id).status, JobStatus::Running);
    assert_eq!(show_job(&c, id)[5], s("running"));
    assert!(c.runtime.run_spawned() >= 2, "the old heartbeat and the resumed coordinator ran");
    let j = job(&c, id);
    assert_eq!((j.status, j.progress_millis, j.lease), (JobStatus::Succeeded, 1000, None));
    assert_eq!(c.log.named("job-resumed-from-checkpoint").len(), 1);
    // The finished backup: files disjoint, within the spans, and every span exported
    // successfully exactly once across both runs.
    let m = c.manifest("nodelocal://1/paused");
    assert_eq!(m.spans.len(), 5);
    for w in m.files.windows(2) {
        assert!(w[0].span.end <= w[1].span.start, "files overlap: {:?} {:?}", w[0], w[1]);
    }
    for f in &m.files {
        assert!(m.spans.iter().any(|s| s.contains(&f.span)), "{f:?} outside the spans");
    }
    let mut ok_exports: BTreeMap<Span, usize> = BTreeMap::new();
    for (span, ok) in c.kv.exports.lock().unwrap().iter() {
        if *ok {
            *ok_exports.entry(span.clone()).or_default() += 1;
        }
    }
    assert_eq!(ok_exports.keys().cloned().collect::<Vec<_>>(), m.spans, "each span exported, and only those");
    assert!(ok_exports.values().all(|n| *n == 1), "{ok_exports:?}");
    assert_eq!(m.files.iter().map(|f| f.span.clone()).collect::<Vec<_>>(), m.spans, "every table has data: one file each");
    // No orphan: the data files are exactly the manifest's (the first run's two are reused).
    let files = store.snapshot();
    let mut data: Vec<&String> = files.keys().filter(|k| k.starts_with("data/")).collect();
    data.sort();
    let mut listed: Vec<&String> = m.files.iter().map(|f| &f.path).collect();
    listed.sort();
    assert_eq!(data, listed);
    assert!(!files.contains_key("BACKUP-CHECKPOINT"), "the manifest replaced the checkpoint");
    // SHOW JOBS and the totals.
    let row = show_job(&c, id);
    assert_eq!((&row[5], &row[11]), (&s("succeeded"), &f(1.0)));
    let all: Vec<u32> = [("bank", "customers"), ("bank", "accounts"), ("bank", "transfer_ids"), ("bank", "transfers"), ("employees", "staff")]
        .iter()
        .map(|(d, t)| c.table_id(d, t))
        .collect();
    let (rows, idx, bytes) = expected_totals(&c, &all, m.end_time);
    assert_eq!((m.entry_counts.rows as i64, m.entry_counts.index_entries as i64, m.entry_counts.data_size as i64), (rows, idx, bytes));
    assert_eq!((j.totals.rows as i64, j.totals.index_entries as i64, j.totals.bytes as i64), (rows, idx, bytes));
    // It restores to the source as of its time.
    let dst = c.fresh_destination();
    dst.ok("RESTORE DATABASE bank, employees FROM 'nodelocal://1/paused'");
    for (t, _) in BANK_TABLES {
        assert_eq!(dst.read_now("bank", t).rows, c.read("bank", t, m.end_time).rows, "{t}");
    }
    assert_eq!(dst.read_now("employees", "staff").rows, c.read("employees", "staff", m.end_time).rows);
    // A finished job cannot be paused, resumed or canceled.
    for op in ["pause", "resume", "cancel"] {
        assert_eq!(c.err(&format!("{} JOB {id}", op.to_uppercase())), format!("job {id}: cannot {op} a job whose status is succeeded"));
    }
    assert_eq!(job(&c, id).status, JobStatus::Succeeded);
}

#[test]
fn cancel_a_paused_backup_and_cancel_a_running_one() {
    let c = bank();
    control_mid_backup(&c, 1, &["PAUSE JOB {id}"]);
    c.err(BACKUP_ALL);
    c.kv.clear_hook();
    let id = backup_jobs(&c)[0].id;
    assert_eq!(job(&c, id).status, JobStatus::Paused);
    c.ok(&format!("CANCEL JOB {id}"));
    assert_eq!(job(&c, id).status, JobStatus::Canceled);
    assert_eq!(show_job(&c, id)[5], s("canceled"));
    assert_eq!(c.err(&format!("RESUME JOB {id}")), format!("job {id}: cannot resume a job whose status is canceled"));
    assert_eq!(c.err(&format!("PAUSE JOB {id}")), format!("job {id}: cannot pause a job whose status is canceled"));
    assert_eq!(c.err(&format!("CANCEL JOB {id}")), format!("job {id}: cannot cancel a job whose status is canceled"));
    assert_eq!(c.runtime.run_spawned(), 1, "only the old heartbeat: nothing resumed the job");
    assert_eq!(job(&c, id).status, JobStatus::Canceled);
    assert!(!c.store("nodelocal://1/paused").snapshot().contains_key("BACKUP"));
    // Canceled while running: the coordinator stops at its next check.
    control_mid_backup(&c, 1, &["CANCEL JOB {id}"]);
    let e = c.err("BACKUP DATABASE bank, employees TO 'nodelocal://1/canceled'");
    c.kv.clear_hook();
    let id2 = backup_jobs(&c).iter().map(|j| j.id).find(|j| *j != id).unwrap();
    assert_eq!(e, format!("job {id2} was canceled"));
    let j = job(&c, id2);
    assert_eq!(j.status, JobStatus::Canceled);
    assert!(j.finished.is_some() && j.lease.is_none());
    assert!(!c.store("nodelocal://1/canceled").snapshot().contains_key("BACKUP"));
    assert_eq!(c.err(&format!("RESUME JOB {id2}")), format!("job {id2}: cannot resume a job whose status is canceled"));
}

#[test]
fn pause_then_resume_before_the_coordinator_notices_lets_it_finish() {
    let c = bank();
    // Export 1 issues PAUSE then RESUME and fails once (retryably): the coordinator never sees
    // the pause and exports that span again in its next round.
    let env = c.env.clone();
    c.kv.set_hook(Box::new(move |n, _req| {
        let env = env.clone();
        Box::pin(async move {
            if n != 1 {
                return None;
            }
            let id = jobs::list(&*env.kv).await.unwrap().into_iter().find(|j| j.status == JobStatus::Running).unwrap().id;
            exec::execute(&env, &SessionContext::root(), &format!("PAUSE JOB {id}")).await.unwrap();
            exec::execute(&env, &SessionContext::root(), &format!("RESUME JOB {id}")).await.unwrap();
            Some(KvError::Unavailable { node: 1, reason: "injected once".into() })
        })
    }));
    let r = c.ok(BACKUP_ALL);
    c.kv.clear_hook();
    let (id, rows, ..) = result_row(&r);
    assert_eq!(job(&c, id).status, JobStatus::Succeeded);
    assert_eq!(rows, 4 + 5 + 1 + 3 + 3);
    // The failed span was exported again once, into the one backup.
    let m = c.manifest("nodelocal://1/paused");
    assert_eq!(m.files.len(), 5);
    let exports = c.kv.exports.lock().unwrap().clone();
    assert_eq!(exports.iter().filter(|(_, ok)| !ok).count(), 1);
    assert_eq!(exports.iter().filter(|(_, ok)| *ok).count(), 5);
    // The resume queued a second coordinator; it finds the job finished and does nothing.
    c.runtime.run_spawned();
    assert_eq!(job(&c, id).status, JobStatus::Succeeded);
    assert_eq!(c.manifest("nodelocal://1/paused"), m);
}

#[test]
fn job_control_errors() {
    let c = bank();
    for op in ["PAUSE", "RESUME", "CANCEL"] {
        assert_eq!(c.err(&format!("{op} JOB 12345")), "job with ID 12345 does not exist");
    }
    // A failed backup cannot be resumed.
    c.kv.set_hook(Box::new(|_, _| Box::pin(async { Some(KvError::Invalid("boom".into())) })));
    let e = c.err("BACKUP DATABASE bank TO 'nodelocal://1/failed'");
    c.kv.clear_hook();
    let id = backup_jobs(&c)[0].id;
    assert_eq!(e, format!("job {id} failed: invalid request: boom"));
    assert_eq!(c.err(&format!("RESUME JOB {id}")), format!("job {id}: cannot resume a job whose status is failed"));
    assert_eq!(c.err(&format!("PAUSE JOB {id}")), format!("job {id}: cannot pause a job whose status is failed"));
    // A restore job is a job too: finished, it cannot be paused.
    c.ok("BACKUP DATABASE employees TO 'nodelocal://1/emp'");
    let dst = c.fresh_destination();
    let (rid, ..) = result_row(&dst.ok("RESTORE DATABASE employees FROM 'nodelocal://1/emp'"));
    assert_eq!(dst.err(&format!("PAUSE JOB {rid}")), format!("job {rid}: cannot pause a job whose status is succeeded"));
    let row = show_job(&dst, rid);
    assert_eq!((&row[1], &row[5]), (&s("RESTORE"), &s("succeeded")));
    // Syntax errors point at the token.
    let e = c.err("PAUSE JOB abc");
    assert_eq!(e, "syntax error at or near \"abc\" (line 1, column 11): expected a job ID");
}

#[test]
fn a_corrupted_checkpoint_makes_the_resumed_job_start_over_without_duplicates() {
    let c = bank();
    control_mid_backup(&c, 2, &["PAUSE JOB {id}"]);
    c.err(BACKUP_ALL);
    c.kv.clear_hook();
    let id = backup_jobs(&c)[0].id;
    let store = c.store("nodelocal://1/paused");
    let mut cp = read_obj(&store, "BACKUP-CHECKPOINT");
    let mid = cp.len() / 2;
    cp[mid] ^= 1;
    write_obj(&store, "BACKUP-CHECKPOINT", cp);
    c.ok(&format!("RESUME JOB {id}"));
    c.runtime.run_spawned();
    assert_eq!(job(&c, id).status, JobStatus::Succeeded);
    assert!(c.log.named("job-resumed-from-checkpoint").is_empty(), "the damaged checkpoint was not trusted");
    let m = c.manifest("nodelocal://1/paused");
    // Every span is in the backup once, though two were exported twice.
    assert_eq!(m.files.iter().map(|f| f.span.clone()).collect::<Vec<_>>(), m.spans);
    let ok = c.kv.exports.lock().unwrap().iter().filter(|(_, ok)| *ok).count();
    assert_eq!(ok, 5 + 2);
    let dst = c.fresh_destination();
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/paused'");
    for (t, _) in BANK_TABLES {
        assert_eq!(dst.read_now("bank", t).rows, c.read("bank", t, m.end_time).rows, "{t}");
    }
}

#[test]
fn a_detached_backup_returns_its_job_id_at_once_and_runs_on() {
    let c = bank();
    let r = c.ok("BACKUP DATABASE bank TO 'nodelocal://1/detached' WITH detached");
    assert_eq!(r.columns, vec!["job_id".to_string()]);
    let [Datum::Int(id)] = r.rows[0][..] else { panic!("{:?}", r.rows) };
    // Recorded, not yet run: no manifest; the job is pending in SHOW JOBS, described with its
    // option.
    let j = job(&c, id);
    assert_eq!(j.status, JobStatus::Pending, "{j:?}");
    assert!(j.description.ends_with("WITH detached"), "{}", j.description);
    assert!(!c.store("nodelocal://1/detached").snapshot().contains_key("BACKUP"));
    // The job runs on in the background, to its end, as a plain BACKUP would.
    c.runtime.run_spawned();
    assert_eq!(job(&c, id).status, JobStatus::Succeeded);
    let end = c.manifest("nodelocal://1/detached").end_time;
    let dst = c.fresh_destination();
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/detached'");
    for t in ["customers", "accounts"] {
        assert_eq!(dst.read_now("bank", t).rows, c.read("bank", t, end).rows, "bank.{t}");
    }
}

#[test]
fn pausepoints_pause_a_backup_at_a_named_step_until_it_is_resumed() {
    let c = bank();
    assert_eq!(c.ok("SHOW CLUSTER SETTING jobs.debug.pausepoints").rows, vec![vec![s("")]]);
    c.ok("SET CLUSTER SETTING jobs.debug.pausepoints = 'backup.after.write_first_checkpoint'");
    assert_eq!(c.ok("SHOW CLUSTER SETTING jobs.debug.pausepoints").rows, vec![vec![s("backup.after.write_first_checkpoint")]]);
    // The job pauses itself after its first checkpoint: some spans done, no manifest.
    let r = c.ok("BACKUP DATABASE bank TO 'nodelocal://1/pp' WITH detached");
    let [Datum::Int(id)] = r.rows[0][..] else { panic!("{:?}", r.rows) };
    c.runtime.run_spawned();
    let j = job(&c, id);
    assert_eq!(j.status, JobStatus::Paused, "{j:?}");
    assert!(j.progress_millis > 0 && j.progress_millis < 1000, "{j:?}");
    assert_eq!(c.log.named("job-pausepoint").len(), 1);
    let files = c.store("nodelocal://1/pp").snapshot();
    assert!(files.contains_key("BACKUP-CHECKPOINT") && !files.contains_key("BACKUP"), "{files:?}");
    // Resumed with the pausepoint still set, its run resumed from the checkpoint pauses there
    // again (as CockroachDB's do); cleared and resumed, it runs on to success.
    c.ok(&format!("RESUME JOB {id}"));
    c.runtime.run_spawned();
    assert_eq!(job(&c, id).status, JobStatus::Paused);
    assert_eq!(c.log.named("job-pausepoint").len(), 2);
    c.ok("SET CLUSTER SETTING jobs.debug.pausepoints = ''");
    c.ok(&format!("RESUME JOB {id}"));
    c.runtime.run_spawned();
    assert_eq!(job(&c, id).status, JobStatus::Succeeded);
    assert_eq!(c.log.named("job-resumed-from-checkpoint").len(), 2);
    let dst = c.fresh_destination();
    dst.ok("RESTORE DATABASE bank FROM 'nodelocal://1/pp'");
    // `backup.before.flow` stops a job before it exports anything.
    c.ok("SET CLUSTER SETTING jobs.debug.pausepoints TO 'other.point, backup.before.flow'");
    let r = c.ok("BACKUP DATABASE bank TO 'nodelocal://1/pp2' WITH detached");
    let [Datum::Int(id2)] = r.rows[0][..] else { panic!("{:?}", r.rows) };
    c.runtime.run_spawned();
    assert_eq!((job(&c, id2).status, job(&c, id2).progress_millis), (JobStatus::Paused, 0));
    // Only admins set it; an unknown setting is named; a setting inside a transaction refused.
    let e = exec_err(&c, &as_user("maxroach"), "SET CLUSTER SETTING jobs.debug.pausepoints = ''");
    assert!(e.contains("admin"), "{e}");
    let e = c.err("SET CLUSTER SETTING jobs.debug.nope = 'x'");
    assert!(e.contains("unknown cluster setting \"jobs.debug.nope\"") && e.contains("jobs.debug.pausepoints"), "{e}");
    let e = exec_err(&c, &in_txn(), "SET CLUSTER SETTING jobs.debug.pausepoints = ''");
    assert!(e.contains("inside a transaction"), "{e}");
}

fn exec_err(c: &Cluster, ctx: &SessionContext, sql: &str) -> String {
    match block_on(exec::execute(&c.env, ctx, sql)) {
        Ok(r) => panic!("{sql}: expected an error, got {}", r.render()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn show_locality_prints_the_gateway_nodes_own() {
    let mut c = bank();
    assert_eq!(c.ok("SHOW LOCALITY").rows, vec![vec![s("")]]);
    c.env.locality = "region=eu-west,zone=eu-west-1b".parse().unwrap();
    let r = c.ok("SHOW LOCALITY;");
    assert_eq!(r.columns, vec!["locality".to_string()]);
    assert_eq!(r.rows, vec![vec![s("region=eu-west,zone=eu-west-1b")]]);
    // Routed to this crate, not the SQL layer; nothing else follows it.
    assert!(backup::exec::is_bulk_statement("SHOW LOCALITY"));
    assert!(c.err("SHOW LOCALITY now").contains("now"), "{}", c.err("SHOW LOCALITY now"));
}

/// Two gateways creating a job at one clock reading: gateway B reads the id free, gateway A
/// writes it, then B commits. B's commit reads at its own read time (first committer wins),
/// so it is refused and B takes the next id: neither record replaces the other.
#[test]
fn two_gateways_creating_a_job_at_one_clock_reading_never_share_an_id() {
    let c = Cluster::alone();
    let inner = c.local.clone();
    let fired = std::sync::atomic::AtomicBool::new(false);
    let jobs_key_prefix = jobs::job_key(0).0[..4].to_vec();
    c.kv.set_commit_hook(Box::new(move |writes| {
        let job_write = writes.iter().any(|w| matches!(w, model::WriteOp::Put(k, _) if k.0.starts_with(&jobs_key_prefix)));
        if job_write && !fired.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // Gateway A, between B's read and B's commit.
            // (The in-process cluster answers at once; a nested executor is not allowed.)
            let created = futures::FutureExt::now_or_never(jobs::create(
                &*inner,
                jobs::JobRecord::new(jobs::JobType::Backup, "gateway A".into(), "root", serde_json::Value::Null),
            ));
            created.expect("in-process: ready at once").unwrap();
        }
        None
    }));
    let b = block_on(jobs::create(&*c.kv, jobs::JobRecord::new(jobs::JobType::Backup, "gateway B".into(), "root", serde_json::Value::Null))).unwrap();
    c.kv.clear_commit_hook();
    let all = block_on(jobs::list(&*c.local)).unwrap();
    let described: Vec<(i64, &str)> = all.iter().map(|j| (j.id, j.description.as_str())).collect();
    assert_eq!(described.len(), 2, "{described:?}");
    let a = described.iter().find(|(_, d)| *d == "gateway A").expect("A's record kept").0;
    assert_eq!(described.iter().find(|(_, d)| *d == "gateway B").map(|j| j.0), Some(b));
    assert_eq!(b, a + 1, "B was refused A's id and took the next");
}
