//! Two BACKUPs to one location (issue #11 item 1) and what a backup leaves behind (item 2), in
//! process: two clusters (distinct cluster ids) share one `MemStorageProvider`, their jobs are
//! planned first and their coordinators then run in every order the test can force — one after
//! the other, one inside the other's first export (so it starts while the other holds the
//! location), with listings that hide every lock file (a stale, eventually consistent
//! listing) — and never do both succeed, and the location always restores the winner's data.

use crate::common::*;
use async_trait::async_trait;
use backup::backup_job::{self, RunOutcome};
use backup::jobs::{self, JobId, JobRecord, JobStatus, JobType};
use backup::lock::{self, LockFile};
use backup::plan;
use backup::statement::{self, Statement};
use backup::storage::url::StorageUrl;
use backup::storage::{ExternalStorage, MemStorageProvider, StorageError, StorageProvider};
use backup::targets::SessionContext;
use futures::executor::block_on;
use model::{NodeId, Timestamp};
use std::sync::Arc;
use std::time::Duration;

const TABLES: [(&str, &str); 3] = [("bank", "customers"), ("bank", "accounts"), ("employees", "staff")];

/// Listings that never show a lock file: what a stale listing does to a lock written a moment
/// ago. Everything else goes to the shared store.
struct HideLocks(Arc<MemStorageProvider>);

struct HideLocksStorage(Arc<dyn ExternalStorage>);

impl StorageProvider for HideLocks {
    fn open(&self, url: &StorageUrl, node: NodeId) -> Result<Arc<dyn ExternalStorage>, StorageError> {
        Ok(Arc::new(HideLocksStorage(self.0.open(url, node)?)))
    }
}

#[async_trait]
impl ExternalStorage for HideLocksStorage {
    async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.0.write(path, data).await
    }
    async fn write_new(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.0.write_new(path, data).await
    }
    async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.0.read(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self.0.list(prefix).await?.into_iter().filter(|p| !p.contains(lock::LOCK_PREFIX)).collect())
    }
    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.0.delete(path).await
    }
    async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        self.0.exists(path).await
    }
}

/// A bank cluster with its own cluster id on shared storage, its data changed by `tweak` so
/// that a restore tells whose backup it is.
fn cluster(storage: &Arc<MemStorageProvider>, id: &str, tweak: &str, stale: bool) -> Cluster {
    let mut c = bank_cluster(storage.clone());
    c.env.cluster_id = id.into();
    c.sql(tweak);
    c.advance(Duration::from_secs(1));
    if stale {
        c.env.storage = Arc::new(HideLocks(storage.clone()));
    }
    c
}

/// Plans `sql` and records its job without running it (as if its gateway stopped right after).
fn planned(c: &Cluster, sql: &str) -> JobId {
    let Statement::Backup(stmt) = statement::parse(sql).unwrap() else { panic!("{sql}") };
    let details = block_on(plan::plan_backup(&c.env, &SessionContext::root(), &stmt)).unwrap_or_else(|e| panic!("{sql}: {e}"));
    block_on(jobs::create(&*c.env.kv, JobRecord::new(JobType::Backup, sql.into(), "root", details))).unwrap()
}

fn outcome(c: &Cluster, id: JobId) -> RunOutcome {
    let o = block_on(backup_job::run(&c.env, id)).unwrap();
    c.runtime.drop_spawned();
    o
}

fn job(c: &Cluster, id: JobId) -> jobs::JobSummary {
    block_on(jobs::load::<serde_json::Value>(&*c.env.kv, id)).unwrap().unwrap()
}

/// During `first`'s first export, runs `second`'s job to its end; returns both outcomes.
fn nested(first: &Cluster, first_id: JobId, second: &Cluster, second_id: JobId) -> (RunOutcome, RunOutcome) {
    let env2 = second.env.clone();
    let got: Arc<std::sync::Mutex<Option<RunOutcome>>> = Arc::default();
    let got2 = got.clone();
    first.kv.set_hook(Box::new(move |n, _| {
        let (env2, got2) = (env2.clone(), got2.clone());
        Box::pin(async move {
            if n == 0 {
                let o = backup_job::run(&env2, second_id).await.unwrap();
                *got2.lock().unwrap() = Some(o);
            }
            None
        })
    }));
    let o1 = outcome(first, first_id);
    first.kv.clear_hook();
    second.runtime.drop_spawned();
    let o2 = got.lock().unwrap().take().expect("the second job ran");
    (o1, o2)
}

/// Exactly one of two outcomes succeeded; returns which (0 or 1) and the other's error.
fn one_winner(outcomes: [&RunOutcome; 2], what: &str) -> (usize, String) {
    match outcomes {
        [RunOutcome::Succeeded(_), RunOutcome::Failed(e)] => (0, e.clone()),
        [RunOutcome::Failed(e), RunOutcome::Succeeded(_)] => (1, e.clone()),
        other => panic!("{what}: not exactly one success and one failure: {other:?}"),
    }
}

/// The location restores exactly `winner`'s data as of its backup's time.
fn restores_winner(storage: &Arc<MemStorageProvider>, winner: &Cluster, winner_id: JobId, loc: &str) {
    let dst = Cluster::new(storage.clone());
    dst.ok(&format!("RESTORE DATABASE bank, employees FROM '{loc}'"));
    let end: Timestamp = serde_json::from_value(job(winner, winner_id).payload["end_time"].clone()).unwrap();
    for (db, t) in TABLES {
        let (want, got) = (winner.read(db, t, end), dst.read_now(db, t));
        assert_eq!((&got.columns, &got.rows), (&want.columns, &want.rows), "{db}.{t}");
    }
}

/// What is left at a location: no lock file and no checkpoint (both jobs ended).
fn no_leftovers(storage: &Arc<MemStorageProvider>, loc: &str) {
    let url = StorageUrl::parse(loc).unwrap();
    let files = storage.store(&url, 1).unwrap().at(url.path()).unwrap().snapshot();
    assert!(!files.keys().any(|k| k.contains("BACKUP-LOCK-") || k.ends_with("BACKUP-CHECKPOINT")), "{files:?}");
}

#[derive(Clone, Copy, Debug)]
enum Order {
    /// A's job runs to its end, then B's.
    AThenB,
    /// B's, then A's.
    BThenA,
    /// B's job runs during A's first export (A holds the location).
    BInsideA,
    /// A's during B's first export.
    AInsideB,
}

const ORDERS: [Order; 4] = [Order::AThenB, Order::BThenA, Order::BInsideA, Order::AInsideB];

fn race(order: Order, stale: bool, sql: &str, setup: &dyn Fn(&Cluster, &Cluster)) -> (Arc<MemStorageProvider>, Cluster, Cluster, JobId, JobId, usize, String) {
    let storage = Arc::new(MemStorageProvider::new());
    let a = cluster(&storage, "cluster-a", "UPDATE bank.customers SET name = 'from-a' WHERE id = 1", stale);
    let b = cluster(&storage, "cluster-b", "UPDATE bank.customers SET name = 'from-b' WHERE id = 1", stale);
    setup(&a, &b);
    // Both plan before either writes anything: each sees an empty location (or the same
    // chain).
    let ia = planned(&a, sql);
    b.advance(Duration::from_millis(3));
    let ib = planned(&b, sql);
    let (oa, ob) = match order {
        Order::AThenB => {
            let oa = outcome(&a, ia);
            (oa, outcome(&b, ib))
        }
        Order::BThenA => {
            let ob = outcome(&b, ib);
            (outcome(&a, ia), ob)
        }
        Order::BInsideA => nested(&a, ia, &b, ib),
        Order::AInsideB => {
            let (ob, oa) = nested(&b, ib, &a, ia);
            (oa, ob)
        }
    };
    let (w, e) = one_winner([&oa, &ob], &format!("{order:?}, stale listings {stale}"));
    (storage, a, b, ia, ib, w, e)
}

#[test]
fn two_full_backups_planned_together_to_one_location_never_both_succeed() {
    let loc = "nodelocal://1/both";
    let sql = format!("BACKUP DATABASE bank, employees TO '{loc}'");
    for stale in [false, true] {
        for order in ORDERS {
            let (storage, a, b, ia, ib, w, e) = race(order, stale, &sql, &|_, _| {});
            let (winner, wid, lid) = if w == 0 { (&a, ia, ib) } else { (&b, ib, ia) };
            let what = format!("{order:?}, stale {stale}: {e}");
            match (order, stale) {
                // One after the other: the second finds the first's manifest as soon as it holds
                // the location, before exporting anything.
                (Order::AThenB | Order::BThenA, _) => {
                    assert!(e.contains("already contains a BACKUP file (written by another backup after this one was planned)"), "{what}")
                }
                // Listings that hid each other's locks: the claim on the manifest path (or the
                // manifest's own create-only write) decides.
                (_, true) => {
                    assert!(e.contains("claimed this location's BACKUP manifest") || e.contains("already holds the manifest of another backup"), "{what}")
                }
                // One inside the other: the lock refuses it, naming the job holding the location.
                (Order::BInsideA | Order::AInsideB, false) => {
                    assert!(e.contains(&format!("already contains a BACKUP-LOCK-{wid} file")), "{what}");
                    assert!(e.contains("of another cluster"), "{what}");
                }
            }
            // Who wins: the first to run, or with one inside the other, the outer one (it holds
            // the location) — unless stale listings hid its lock, and the inner one, which
            // publishes first, wins.
            let expected = match order {
                Order::AThenB => 0,
                Order::BThenA => 1,
                Order::BInsideA => usize::from(stale),
                Order::AInsideB => usize::from(!stale),
            };
            assert_eq!(w, expected, "{what}");
            restores_winner(&storage, winner, wid, loc);
            no_leftovers(&storage, loc);
            let url = StorageUrl::parse(loc).unwrap();
            let files = storage.store(&url, 1).unwrap().at(url.path()).unwrap().snapshot();
            assert!(!files.keys().any(|k| k.starts_with(&format!("data/{lid}/"))), "the loser removed its data files: {files:?}");
        }
    }
}

#[test]
fn two_automatic_incrementals_planned_onto_one_chain_never_fork_it() {
    let loc = "nodelocal://1/chain";
    let sql = format!("BACKUP DATABASE bank, employees TO '{loc}'");
    // Both jobs are one cluster's (two sessions): another cluster's incremental is refused
    // at planning as from another cluster.
    for stale in [false, true] {
        for nest in [false, true] {
            let storage = Arc::new(MemStorageProvider::new());
            let mut a = cluster(&storage, "cluster-a", "UPDATE bank.customers SET name = 'first' WHERE id = 1", stale);
            a.ok(&sql);
            a.sql("UPDATE bank.customers SET name = 'second' WHERE id = 1");
            a.advance(Duration::from_secs(1));
            let i1 = planned(&a, &sql);
            a.advance(Duration::from_secs(1));
            a.sql("UPDATE bank.customers SET name = 'third' WHERE id = 1");
            a.advance(Duration::from_secs(1));
            let i2 = planned(&a, &sql);
            let (o1, o2) = if nest {
                nested(&a, i1, &a, i2)
            } else {
                let o1 = outcome(&a, i1);
                (o1, outcome(&a, i2))
            };
            let what = format!("stale {stale}, nested {nest}");
            let (w, e) = one_winner([&o1, &o2], &what);
            let wid = if w == 0 { i1 } else { i2 };
            assert_eq!(w, usize::from(nest && stale), "{what}: the first to publish wins");
            if nest && !stale {
                assert!(
                    e.contains(&format!("already contains a BACKUP-LOCK-{wid} file")) && e.contains("of this cluster, whose status is running"),
                    "{what}: {e}"
                );
            } else {
                assert!(e.contains("appended to the chain") || e.contains("was appended to the backup ending at"), "{what}: {e}");
            }
            // The chain is whole: SHOW BACKUP and RESTORE read it, and it takes the next one.
            assert_eq!(a.ok(&format!("SHOW BACKUP '{loc}'")).rows.iter().filter(|r| r[9] == s("incremental")).count(), 8, "{what}: one incremental layer");
            restores_winner(&storage, &a, wid, loc);
            no_leftovers(&storage, loc);
            a.advance(Duration::from_secs(1));
            a.ok(&sql);
            let dst = Cluster::new(storage.clone());
            dst.ok(&format!("RESTORE DATABASE bank, employees FROM '{loc}'"));
        }
    }
}

fn bank() -> Cluster {
    bank_cluster(Arc::new(MemStorageProvider::new()))
}

fn lock_of(c: &Cluster, id: JobId, backup: &str) -> LockFile {
    LockFile { job_id: id, cluster_id: c.env.cluster_id.clone(), backup_id: backup.into(), subdir: String::new() }
}

#[test]
fn when_two_jobs_see_each_others_locks_the_smaller_id_goes_on() {
    let c = bank();
    let store = c.store("nodelocal://1/locks");
    let (small, large) = (lock_of(&c, 10, "b10"), lock_of(&c, 20, "b20"));
    block_on(store.write_new(&small.name(), small.encode())).unwrap();
    block_on(store.write_new(&large.name(), large.encode())).unwrap();
    // The larger sees the smaller and gives up at once, naming it.
    let e = block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &large, None, false)).unwrap_err().to_string();
    assert!(e.starts_with("nodelocal://1/locks already contains a BACKUP-LOCK-10 file (is another operation already in progress?): it belongs to job 10, which does not exist in this cluster"), "{e}");
    // The smaller waits for the larger's lock to go; while it stays (the larger went on
    // first), it gives up after LOCK_WAIT, naming it.
    let slept = c.runtime.slept.lock().unwrap().len();
    let e = block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &small, None, false)).unwrap_err().to_string();
    assert!(e.contains("a BACKUP-LOCK-20 file"), "{e}");
    let waited: Duration = c.runtime.slept.lock().unwrap()[slept..].iter().sum();
    assert!(waited >= lock::LOCK_WAIT, "{waited:?}");
    // Once the larger has given up and removed its lock, the smaller goes on; its own lock
    // (from an earlier run of the same job) is taken as is.
    block_on(store.delete(&large.name())).unwrap();
    block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &small, None, false)).unwrap();
    assert_eq!(LockFile::decode(&read_obj(&store, &small.name())), Some(small.clone()));
    // A lock with this job's name but another backup's id (another cluster's job with the same
    // id) is not taken over.
    let twin = LockFile { cluster_id: "elsewhere".into(), backup_id: "other".into(), ..small.clone() };
    let e = block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &twin, None, false)).unwrap_err().to_string();
    assert!(e.contains("a BACKUP-LOCK-10 file") && e.contains("does not exist in this cluster"), "{e}");
    // A torn lock of its own is written whole again.
    write_obj(&store, &small.name(), b"{\"job_i".to_vec());
    block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &small, None, false)).unwrap();
    assert_eq!(LockFile::decode(&read_obj(&store, &small.name())), Some(small));
}

#[test]
fn a_job_that_already_holds_its_manifest_claim_keeps_the_location_against_a_smaller_id() {
    // The larger-id job got as far as claiming its manifest and its coordinator died; a
    // smaller-id job arrived meanwhile. On adoption the larger one does not stand aside: the
    // smaller one can never publish past its claim, so standing aside would leave both refused.
    let c = bank();
    let store = c.store("nodelocal://1/locks");
    let (small, large) = (lock_of(&c, 10, "b10"), lock_of(&c, 20, "b20"));
    block_on(store.write_new(&small.name(), small.encode())).unwrap();
    block_on(store.write_new(&large.name(), large.encode())).unwrap();
    let claim: (&dyn ExternalStorage, &str) = (&store, lock::MANIFEST_CLAIM);
    // Without its claim it gives up, naming the smaller one.
    let e = block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &large, Some(claim), false)).unwrap_err().to_string();
    assert!(e.contains("a BACKUP-LOCK-10 file"), "{e}");
    // Another job's claim does not count as its own.
    block_on(store.write_new(lock::MANIFEST_CLAIM, small.encode())).unwrap();
    let e = block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &large, Some(claim), false)).unwrap_err().to_string();
    assert!(e.contains("a BACKUP-LOCK-10 file"), "{e}");
    // With its own claim it goes on.
    write_obj(&store, lock::MANIFEST_CLAIM, large.encode());
    block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &large, Some(claim), false)).unwrap();
    // And the smaller one, which cannot publish there, still gives up after its wait.
    let e = block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &small, Some(claim), false)).unwrap_err().to_string();
    assert!(e.contains("a BACKUP-LOCK-20 file"), "{e}");
}

#[test]
fn a_job_whose_earlier_run_exported_keeps_the_location_against_a_smaller_id() {
    // Swarm seed 50657: the larger-id job took the location, exported a file and its coordinator
    // died; a smaller-id job arrived, waited LOCK_WAIT for the larger's lock, and gave up just as
    // the larger was adopted, saw the smaller's lock and stood aside too: neither backup taken.
    // A run that exported under its lock went on before the smaller arrived: it keeps the
    // location, while the smaller one still stands aside after its wait.
    let c = bank();
    let store = c.store("nodelocal://1/locks");
    let (small, large) = (lock_of(&c, 10, "b10"), lock_of(&c, 20, "b20"));
    block_on(store.write_new(&large.name(), large.encode())).unwrap();
    block_on(store.write_new(&small.name(), small.encode())).unwrap();
    let e = block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &large, None, false)).unwrap_err().to_string();
    assert!(e.contains("a BACKUP-LOCK-10 file"), "a fresh larger-id job stands aside: {e}");
    block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &large, None, true)).unwrap();
    let e = block_on(lock::acquire(&c.env, &store, "nodelocal://1/locks", &small, None, false)).unwrap_err().to_string();
    assert!(e.contains("a BACKUP-LOCK-20 file"), "{e}");
}

/// A backup of bank, employees to `loc` paused after its first span: it leaves its lock, its
/// checkpoint and a data file. Returns its job id.
fn paused_backup(c: &Cluster, loc: &str) -> JobId {
    control_mid_backup(c, 1, &["PAUSE JOB {id}"]);
    let e = c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    c.kv.clear_hook();
    c.runtime.drop_spawned();
    assert!(e.contains("was paused"), "{e}");
    block_on(jobs::list(&*c.env.kv)).unwrap().iter().map(|j| j.id).max().unwrap()
}

#[test]
fn what_a_killed_backup_leaves_is_refused_naming_its_job_and_how_to_clear_it() {
    let c = bank();
    let loc = "nodelocal://1/left";
    let id = paused_backup(&c, loc);
    let files = c.store(loc).snapshot();
    assert!(files.contains_key(&format!("BACKUP-LOCK-{id}")) && files.contains_key("BACKUP-CHECKPOINT"), "{files:?}");
    // Seen from this cluster: the paused job, and what to do about it.
    assert_eq!(
        c.err(&format!("BACKUP DATABASE bank TO '{loc}'")),
        format!("{loc} already contains a BACKUP-LOCK-{id} file (is another operation already in progress?): it belongs to job {id} of this cluster, whose status is paused; RESUME JOB {id} to finish that backup, or CANCEL JOB {id} to discard it and free the location")
    );
    // Seen from a cluster that does not know the job (the same cluster id after a restart of
    // a process that kept its jobs in memory): the job is gone, and the files are named.
    let restarted = bank_cluster(c.storage.clone());
    let e = restarted.err(&format!("BACKUP DATABASE bank TO '{loc}'"));
    assert_eq!(
        e,
        format!(
            "{loc} already contains a BACKUP-LOCK-{id} file (is another operation already in progress?): it belongs to job {id}, which does not exist in this cluster; if no backup is running there any more (for example its process was killed), it is safe to delete {loc}/BACKUP-LOCK-{id}, {loc}/BACKUP-CHECKPOINT and {loc}/data/{id}/; if one is, deleting them makes one of the two backups fail at its end, never both succeed"
        )
    );
    // Another cluster: named as such.
    let mut other = bank_cluster(c.storage.clone());
    other.env.cluster_id = "another".into();
    let e = other.err(&format!("BACKUP DATABASE bank TO '{loc}'"));
    assert!(e.contains(&format!("it belongs to job {id} of another cluster (test-cluster-id), whose status cannot be seen from this one")), "{e}");
    // Without its lock (deleted by hand, or left by a version before locks), the checkpoint is
    // still traced to its job through its backup id.
    let store = c.store(loc);
    delete_obj(&store, &format!("BACKUP-LOCK-{id}"));
    assert_eq!(
        c.err(&format!("BACKUP DATABASE bank TO '{loc}'")),
        format!("{loc} already contains a BACKUP-CHECKPOINT file (is another operation already in progress?): it belongs to job {id} of this cluster, whose status is paused; RESUME JOB {id} to finish that backup, or CANCEL JOB {id} to discard it and free the location")
    );
    let e = restarted.err(&format!("BACKUP DATABASE bank TO '{loc}'"));
    assert!(
        e.starts_with(&format!(
            "{loc} already contains a BACKUP-CHECKPOINT file (is another operation already in progress?): it belongs to backup test-cluster-id-"
        )),
        "{e}"
    );
    assert!(
        e.contains("whose job does not exist in this cluster") && e.contains(&format!("it is safe to delete {loc}/BACKUP-CHECKPOINT and its data/ files")),
        "{e}"
    );
    // Following the advice frees the location.
    for k in store.snapshot().into_keys() {
        delete_obj(&store, &k);
    }
    restarted.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
}

#[test]
fn an_encrypted_leftover_checkpoint_is_traced_to_its_job_with_the_statements_passphrase() {
    let c = bank();
    let loc = "nodelocal://1/left-encrypted";
    control_mid_backup(&c, 1, &["PAUSE JOB {id}"]);
    let e = c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}' WITH encryption_passphrase = 'sesame-1'"));
    c.kv.clear_hook();
    c.runtime.drop_spawned();
    assert!(e.contains("was paused"), "{e}");
    let id = block_on(jobs::list(&*c.env.kv)).unwrap().iter().map(|j| j.id).max().unwrap();
    let store = c.store(loc);
    delete_obj(&store, &format!("BACKUP-LOCK-{id}"));
    // The same passphrase opens the checkpoint: its job is named, as for a plaintext one.
    assert_eq!(
        c.err(&format!("BACKUP DATABASE bank TO '{loc}' WITH encryption_passphrase = 'sesame-1'")),
        format!("{loc} already contains a BACKUP-CHECKPOINT file (is another operation already in progress?): it belongs to job {id} of this cluster, whose status is paused; RESUME JOB {id} to finish that backup, or CANCEL JOB {id} to discard it and free the location")
    );
    // Another passphrase, or none, cannot read it: said so, and no passphrase is echoed.
    for with in [" WITH encryption_passphrase = 'sesame-2'", ""] {
        let e = c.err(&format!("BACKUP DATABASE bank TO '{loc}'{with}"));
        assert!(
            e.starts_with(&format!("{loc} already contains a BACKUP-CHECKPOINT file (is another operation already in progress?): it cannot be read to tell which job it belongs to")),
            "{with}: {e}"
        );
        assert!(!e.contains("sesame"), "{e}");
    }
}

#[test]
fn canceling_a_paused_backup_frees_its_location() {
    let c = bank();
    let loc = "nodelocal://1/cancel-paused";
    let id = paused_backup(&c, loc);
    assert!(!c.store(loc).snapshot().is_empty());
    c.ok(&format!("CANCEL JOB {id}"));
    assert_eq!(job(&c, id).status, JobStatus::Canceled);
    assert!(c.store(loc).snapshot().is_empty(), "{:?}", c.store(loc).snapshot());
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
}

#[test]
fn a_leftover_lock_of_an_ended_job_of_this_cluster_blocks_nothing() {
    let c = bank();
    let loc = "nodelocal://1/ended";
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
    let id = block_on(jobs::list(&*c.env.kv)).unwrap().iter().map(|j| j.id).max().unwrap();
    let details: plan::BackupDetails = serde_json::from_value(job(&c, id).payload).unwrap();
    // Its cleanup did not run (the process died right after recording success).
    let store = c.store("nodelocal://1/ended2");
    let stale = LockFile { subdir: String::new(), ..details.lock_file(id) };
    write_obj(&store, &stale.name(), stale.encode());
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/ended2'");
}

#[test]
fn a_cancel_finished_after_the_coordinator_died_cleans_up_too() {
    // What exec::adopt_forever does for a CANCEL its dead coordinator never saw: the job is
    // left running with a lapsed lease and cancel-requested; tidy_before_cancel removes its
    // lock, checkpoint and data files before the cancel is recorded.
    let c = bank();
    let loc = "nodelocal://1/cancel-dead";
    let id = paused_backup(&c, loc);
    block_on(jobs::update::<serde_json::Value, _>(&*c.env.kv, id, |r, _| {
        r.status = JobStatus::CancelRequested;
        r.lease = None;
        Ok(())
    }))
    .unwrap()
    .unwrap();
    assert!(c.store(loc).snapshot().keys().any(|k| k.starts_with("BACKUP-LOCK-")));
    block_on(backup_job::tidy_before_cancel(&c.env, id));
    assert!(c.store(loc).snapshot().is_empty(), "{:?}", c.store(loc).snapshot());
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
}

#[test]
fn a_failed_automatic_incremental_removes_its_directory_and_the_chain_goes_on() {
    let mut c = bank();
    let loc = "nodelocal://1/failed-inc";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    c.sql("UPDATE bank.customers SET name = 'changed' WHERE id = 1");
    c.advance(Duration::from_secs(1));
    let before = c.store(loc).snapshot();
    // The second export fails for good: the incremental fails after writing a data file and a
    // checkpoint in its date directory.
    c.kv.set_hook(Box::new(|n, _| Box::pin(async move { (n >= 1).then(|| model::kv::KvError::Invalid("injected export failure".into())) })));
    let e = c.err(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    c.kv.clear_hook();
    assert!(e.ends_with("failed: invalid request: injected export failure"), "{e}");
    assert_eq!(c.store(loc).snapshot(), before, "the failed incremental left nothing behind");
    let dst = Cluster::new(c.storage.clone());
    dst.ok(&format!("RESTORE DATABASE bank, employees FROM '{loc}'"));
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    assert_eq!(c.ok(&format!("SHOW BACKUP '{loc}'")).rows.iter().filter(|r| r[9] == s("incremental")).count(), 8);
}

/// The state the backup scenario's rotted-manifest arm judges, which swarm sweeps rarely reach
/// since #11 (none in seeds 50000..58000): a run wrote its claim and its manifest and died, storage
/// damaged that manifest, and the run that took the job over, finding no intact backup of its
/// own, exported again and failed. Failing, it removes the damaged manifest as its own (its claim
/// says no one else publishes there), then its claim, so nothing unrestorable is left and the
/// location takes the next backup.
#[test]
fn a_job_that_fails_after_its_own_manifest_rotted_removes_it() {
    let c = bank();
    let loc = "nodelocal://1/own-rotted";
    let id = paused_backup(&c, loc);
    let details: plan::BackupDetails = serde_json::from_value(job(&c, id).payload).unwrap();
    let store = c.store(loc);
    // What the dead run left: its claim, and its manifest as storage damaged it.
    write_obj(&store, lock::MANIFEST_CLAIM, details.lock_file(id).encode());
    write_obj(&store, "BACKUP", b"BKUPMANIFEST-rotted".to_vec());
    c.kv.set_hook(Box::new(|_, _| Box::pin(async move { Some(model::kv::KvError::Invalid("injected export failure".into())) })));
    c.ok(&format!("RESUME JOB {id}"));
    assert!(c.runtime.run_spawned() >= 1);
    c.kv.clear_hook();
    let j = job(&c, id);
    assert_eq!(j.status, JobStatus::Failed, "{:?}", j.error);
    assert_eq!(c.log.named("job-cleanup").iter().filter(|e| e.contains("its own torn manifest")).count(), 1);
    assert!(store.snapshot().is_empty(), "{:?}", store.snapshot().keys().collect::<Vec<_>>());
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
}

/// Found by the backup scenario's rival backup (seed 216 of the first sweep): two backups to one
/// location, planned together; the first finishes, storage then damages its manifest, and the
/// second — holding the location's lock by now, the first's gone — took the damaged manifest for
/// a torn one of its own and replaced it: two successes, the first backup lost. A damaged
/// manifest that a job did not claim is never replaced, and a job that finds another backup's
/// manifest when it takes the location is refused before it exports anything.
#[test]
fn a_damaged_manifest_of_another_backup_is_never_replaced() {
    let loc = "nodelocal://1/rotted";
    let sql = format!("BACKUP DATABASE bank, employees TO '{loc}'");
    for stale in [false, true] {
        let storage = Arc::new(MemStorageProvider::new());
        let a = cluster(&storage, "cluster-a", "UPDATE bank.customers SET name = 'from-a' WHERE id = 1", stale);
        let b = cluster(&storage, "cluster-b", "UPDATE bank.customers SET name = 'from-b' WHERE id = 1", stale);
        let ia = planned(&a, &sql);
        b.advance(Duration::from_millis(3));
        let ib = planned(&b, &sql);
        assert!(matches!(outcome(&a, ia), RunOutcome::Succeeded(_)));
        let store = a.store(loc);
        let mut rotted = block_on(store.read("BACKUP")).unwrap();
        let at = rotted.len() / 2;
        rotted[at] ^= 0x10;
        write_obj(&store, "BACKUP", rotted.clone());
        match outcome(&b, ib) {
            RunOutcome::Failed(e) => {
                assert!(e.contains("already contains a BACKUP file (written by another backup after this one was planned)"), "stale {stale}: {e}")
            }
            other => panic!("stale {stale}: the second backup replaced the first's damaged manifest: {other:?}"),
        }
        assert_eq!(block_on(store.read("BACKUP")).unwrap(), rotted, "stale {stale}: the damaged manifest was touched");
        no_leftovers(&storage, loc);
    }
}

#[test]
fn a_job_of_another_cluster_with_the_same_id_removes_nothing_of_the_backup_there() {
    // Job ids are clock-derived, so two clusters that start a BACKUP in the same microsecond
    // give their jobs one id (backup/tests/real_nodelocal_locks.rs did, on real nodelocal). The
    // loser never got the location; on ending it used to remove "its" data directory
    // data/<id>/ — the winner's — and the winner's backup lost its files.
    let storage = Arc::new(MemStorageProvider::new());
    let a = cluster(&storage, "cluster-a", "UPDATE bank.customers SET name = 'from-a' WHERE id = 1", false);
    let b = cluster(&storage, "cluster-b", "UPDATE bank.customers SET name = 'from-b' WHERE id = 1", false);
    let sql = "BACKUP DATABASE bank, employees TO 'nodelocal://1/twin'";
    let ia = planned(&a, sql);
    assert!(matches!(outcome(&a, ia), RunOutcome::Succeeded(_)));
    let Statement::Backup(stmt) = statement::parse(sql).unwrap() else { panic!("{sql}") };
    let twin = block_on(plan::plan_backup(&b.env, &SessionContext::root(), &stmt));
    // Planning already refuses a location that holds a finished backup; the twin got its plan
    // in before A's manifest landed, so plan it against the empty location's details.
    let details = match twin {
        Ok(d) => d,
        Err(_) => {
            let other = Arc::new(MemStorageProvider::new());
            let c = cluster(&other, "cluster-b", "UPDATE bank.customers SET name = 'from-b' WHERE id = 1", false);
            block_on(plan::plan_backup(&c.env, &SessionContext::root(), &stmt)).unwrap()
        }
    };
    let url = StorageUrl::parse("nodelocal://1/twin").unwrap();
    let before = storage.store(&url, 1).unwrap().at(url.path()).unwrap().snapshot();
    // A lock of A's job under the shared name stands for A holding the location (A removed its
    // own when it ended; a twin's cleanup can also run while A still holds it).
    let store = b.store("nodelocal://1/twin");
    let a_lock = LockFile { job_id: ia, cluster_id: "cluster-a".into(), backup_id: "a's backup".into(), subdir: String::new() };
    block_on(store.write_new(&a_lock.name(), a_lock.encode())).unwrap();
    block_on(backup_job::clean_up(&b.env, ia, &details, Some(false)));
    block_on(store.delete(&a_lock.name())).unwrap();
    let after = storage.store(&url, 1).unwrap().at(url.path()).unwrap().snapshot();
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "the twin's cleanup, A's lock there, changed the location");
    // A ended and removed its lock first (what the real race did): the twin finds no lock of
    // its name, and A's finished manifest tells it the data directory is not its own.
    block_on(backup_job::clean_up(&b.env, ia, &details, Some(false)));
    let after = storage.store(&url, 1).unwrap().at(url.path()).unwrap().snapshot();
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "the twin's cleanup, no lock there, changed the location");
    restores_winner(&storage, &a, ia, "nodelocal://1/twin");
}

#[test]
fn an_incremental_that_failed_and_died_cleaning_up_is_its_leftover_not_a_layer() {
    // Found by the chain scenario (seed 177 of `sweep --scenario chain`): an automatic
    // incremental met a GC threshold, recorded its failure and was killed before it removed
    // its subdirectory; every later BACKUP and RESTORE of the location was refused for "an
    // incomplete incremental backup" with advice conditional on "if no backup job is running
    // there", though the job's record says it ended without publishing.
    let storage = Arc::new(MemStorageProvider::new());
    let mut c = cluster(&storage, "cluster-a", "UPDATE bank.customers SET name = 'a' WHERE id = 1", false);
    let loc = "nodelocal://1/leftover";
    c.ok(&format!("BACKUP DATABASE bank, employees TO '{loc}'"));
    c.sql("UPDATE bank.customers SET name = 'b' WHERE id = 1");
    c.advance(Duration::from_secs(1));
    // The incremental as its job left it: planned, its lock taken, a data file and a checkpoint
    // in its subdirectory, its record failed; no manifest, nothing removed.
    let sql = format!("BACKUP DATABASE bank, employees TO '{loc}'");
    let id = planned(&c, &sql);
    let details: plan::BackupDetails = serde_json::from_value(job(&c, id).payload).unwrap();
    let lock = details.lock_file(id);
    assert!(!lock.subdir.is_empty(), "an automatic incremental");
    let root = c.store(loc);
    for (path, bytes) in [
        (lock.name(), lock.encode()),
        (format!("{}/data/{id}/n1-0.sst", lock.subdir), b"partial".to_vec()),
        (format!("{}/BACKUP-CHECKPOINT", lock.subdir), b"partial".to_vec()),
    ] {
        block_on(root.write(&path, bytes)).unwrap();
    }
    let failed = block_on(jobs::update::<serde_json::Value, _>(&*c.env.kv, id, |r, now| {
        r.status = JobStatus::Failed;
        r.error = Some("export below the GC threshold".into());
        r.finished = Some(now);
        r.lease = None;
        Ok(())
    }))
    .unwrap();
    assert!(failed.is_ok());
    // This cluster, which sees the job's record, leaves the leftover out: SHOW BACKUP shows the
    // full backup alone, RESTORE restores it, and the next incremental goes on from the full
    // backup into a subdirectory of its own. (Another cluster cannot see the job's status and
    // leaves it out as it leaves out a running one.)
    let full_end = c.manifest(loc).end_time;
    let shown = c.ok(&format!("SHOW BACKUP '{loc}'")).render();
    assert!(!shown.contains("incremental"), "{shown}");
    c.sql("CREATE DATABASE copy");
    c.ok(&format!("RESTORE TABLE bank.customers FROM '{loc}' WITH into_db = 'copy'"));
    let (want, got) = (c.read("bank", "customers", full_end), c.read_now("copy", "customers"));
    assert_eq!(got.rows, want.rows, "the full backup restores");
    c.advance(Duration::from_secs(1));
    c.ok(&sql);
    let shown = c.ok(&format!("SHOW BACKUP '{loc}'")).render();
    assert!(shown.contains("incremental"), "{shown}");
    // A leftover whose job's record says it succeeded is not: its manifest is missing, which
    // is damage.
    let succeeded = block_on(jobs::update::<serde_json::Value, _>(&*c.env.kv, id, |r, _| {
        r.status = JobStatus::Succeeded;
        Ok(())
    }))
    .unwrap();
    assert!(succeeded.is_ok());
    let e = c.err(&format!("SHOW BACKUP '{loc}'"));
    assert!(e.contains("an incomplete incremental backup"), "{e}");
}

/// A storage service that dies just after a manifest upload lands: the upload's answer is lost
/// (a transient error) and every request fails for `outage` of the test clock; then it is back.
struct DiesAfterManifest {
    inner: Arc<MemStorageProvider>,
    clock: Arc<model::ManualClock>,
    outage: Duration,
    down_until: Arc<std::sync::Mutex<Option<u64>>>,
}

struct DiesAfterManifestStorage {
    inner: Arc<dyn ExternalStorage>,
    clock: Arc<model::ManualClock>,
    outage: Duration,
    down_until: Arc<std::sync::Mutex<Option<u64>>>,
}

impl StorageProvider for DiesAfterManifest {
    fn open(&self, url: &StorageUrl, node: NodeId) -> Result<Arc<dyn ExternalStorage>, StorageError> {
        Ok(Arc::new(DiesAfterManifestStorage {
            inner: self.inner.open(url, node)?,
            clock: self.clock.clone(),
            outage: self.outage,
            down_until: self.down_until.clone(),
        }))
    }
}

impl DiesAfterManifestStorage {
    fn down(&self, path: &str) -> Result<(), StorageError> {
        let now = model::local::Clock::now_nanos(&*self.clock);
        match *self.down_until.lock().unwrap() {
            Some(until) if now < until => Err(StorageError::Transient { path: path.into(), reason: "503 Service Unavailable".into() }),
            _ => Ok(()),
        }
    }

    /// A manifest write that landed: the service goes down before it answers.
    fn landed(&self, path: &str, r: Result<(), StorageError>) -> Result<(), StorageError> {
        if r.is_ok() && path == backup::format::manifest::MANIFEST_NAME {
            let mut until = self.down_until.lock().unwrap();
            if until.is_none() {
                *until = Some(model::local::Clock::now_nanos(&*self.clock) + self.outage.as_nanos() as u64);
                return Err(StorageError::Transient { path: path.into(), reason: "connection reset".into() });
            }
        }
        r
    }
}

#[async_trait]
impl ExternalStorage for DiesAfterManifestStorage {
    async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.down(path)?;
        let r = self.inner.write(path, data).await;
        self.landed(path, r)
    }
    async fn write_new(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.down(path)?;
        let r = self.inner.write_new(path, data).await;
        self.landed(path, r)
    }
    async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.down(path)?;
        self.inner.read(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.down(prefix)?;
        self.inner.list(prefix).await
    }
    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.down(path)?;
        self.inner.delete(path).await
    }
    async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        self.down(path)?;
        self.inner.exists(path).await
    }
}

/// A bank cluster whose storage dies for `outage` just after the BACKUP's manifest lands; the
/// BACKUP's result, the cluster and the plain storage.
fn backup_as_storage_dies(outage: Duration) -> (Result<backup::show::QueryResult, backup::error::BackupError>, Cluster, Arc<MemStorageProvider>) {
    let storage = Arc::new(MemStorageProvider::new());
    let mut c = bank_cluster(storage.clone());
    let down_until = Arc::new(std::sync::Mutex::new(None));
    c.env.storage = Arc::new(DiesAfterManifest { inner: storage.clone(), clock: c.clock.clone(), outage, down_until: down_until.clone() });
    // This harness runs no heartbeat (spawned tasks wait for run_spawned): a lease that outlasts
    // the outage keeps the run its job's coordinator, as heartbeats would.
    c.env.jobs.lease = Duration::from_secs(3600);
    let r = c.exec("BACKUP DATABASE bank TO 'nodelocal://1/dies'");
    c.runtime.run_spawned();
    assert!(down_until.lock().unwrap().is_some(), "the outage never started");
    c.env.storage = storage.clone();
    (r, c, storage)
}

#[test]
fn a_manifest_that_landed_as_storage_went_down_ends_the_job_succeeded_once_storage_is_back() {
    // The manifest upload lands and the service dies before answering, for longer than the
    // manifest write's own retries last (about a minute), once and many times over, within the
    // job's retry budget (10 minutes). The job must find its complete backup when the service is
    // back: succeeded, restorable, the location holding one finished backup — not a failed job
    // beside a complete BACKUP, which refused every later full backup there. Past the budget
    // too (630 s, 50 minutes): a job whose manifest was sent waits for storage however long —
    // it once ended failed beside its complete backup then, its lock left behind.
    for outage in [Duration::from_secs(150), Duration::from_secs(500), Duration::from_secs(630), Duration::from_secs(50 * 60)] {
        let (r, mut c, _) = backup_as_storage_dies(outage);
        let r = r.unwrap_or_else(|e| panic!("{outage:?}: the backup whose manifest landed failed: {e}"));
        assert_eq!(r.rows[0][1], model::Datum::String("succeeded".into()), "{outage:?}: {:?}", r.rows);
        // Found by a run of the job started again, whose first step looks for its manifest.
        let found = c.log.named(backup::event::JOB_FOUND_MANIFEST);
        assert_eq!(found.len(), 1, "{outage:?}: {found:?}");
        let files = c.store("nodelocal://1/dies").snapshot();
        assert!(files.contains_key("BACKUP") && !files.contains_key("BACKUP-CHECKPOINT"), "{outage:?}: {:?}", files.keys());
        assert!(!files.keys().any(|k| k.starts_with("BACKUP-LOCK")), "{outage:?}: {:?}", files.keys());
        c.sql("CREATE DATABASE copy");
        c.ok("RESTORE bank.customers FROM 'nodelocal://1/dies' WITH into_db = 'copy'");
        assert_eq!(c.rows("SELECT count(*) FROM copy.customers"), c.rows("SELECT count(*) FROM bank.customers"));
    }
}

#[test]
fn a_backup_whose_storage_fails_before_its_manifest_still_gives_up_after_the_retry_budget() {
    // The patience is only for a manifest that may have landed: a destination that goes down
    // for ten hours mid-export fails the job once the budget is spent, having sent no manifest.
    let storage = Arc::new(MemStorageProvider::new());
    let mut c = bank_cluster(storage.clone());
    c.env.jobs.file_target_bytes = 40;
    c.env.jobs.lease = Duration::from_secs(3600 * 12);
    let down_until = Arc::new(std::sync::Mutex::new(None));
    c.env.storage = Arc::new(DiesAfterManifest { inner: storage.clone(), clock: c.clock.clone(), outage: Duration::ZERO, down_until: down_until.clone() });
    let (clock, down) = (c.clock.clone(), down_until.clone());
    c.kv.set_hook(Box::new(move |n, _| {
        if n == 1 {
            *down.lock().unwrap() = Some(model::local::Clock::now_nanos(&*clock) + Duration::from_secs(10 * 3600).as_nanos() as u64);
        }
        Box::pin(async { None })
    }));
    let start = c.now();
    let e = c.err("BACKUP DATABASE bank TO 'nodelocal://1/down'");
    assert!(e.contains("failed"), "{e}");
    let waited = Duration::from_nanos(c.now().wall - start.wall);
    assert!(waited >= c.env.jobs.retry_budget && waited < Duration::from_secs(3 * 3600), "gave up after {waited:?}");
    assert!(!c.store("nodelocal://1/down").snapshot().contains_key("BACKUP"));
}

#[test]
fn a_cancel_of_a_paused_backup_while_its_destination_is_down_waits_for_it_and_then_tidies() {
    // Recorded canceled at once, the job's tidy-up never ran again: a finished backup's
    // checkpoint (or a paused one's lock and data) stayed for good (backup seed 2147 of
    // `--faults everything`). The cancel stays requested until the destination answers.
    let c = bank();
    let loc = "nodelocal://1/cancel-down";
    let id = paused_backup(&c, loc);
    let before = c.store(loc).snapshot();
    let storage = c.storage.clone();
    let far = model::local::Clock::now_nanos(&*c.clock) + Duration::from_secs(10 * 3600).as_nanos() as u64;
    let down_until = Arc::new(std::sync::Mutex::new(Some(far)));
    let mut c = c;
    c.env.storage = Arc::new(DiesAfterManifest { inner: storage.clone(), clock: c.clock.clone(), outage: Duration::ZERO, down_until: down_until.clone() });
    c.ok(&format!("CANCEL JOB {id}"));
    assert_eq!(job(&c, id).status, JobStatus::CancelRequested);
    assert_eq!(c.store(loc).snapshot(), before, "nothing is removed while the destination cannot be read");
    // Back: the next pass (the adoption loop's, or CANCEL again) removes what the job wrote,
    // then records it canceled.
    *down_until.lock().unwrap() = None;
    c.ok(&format!("CANCEL JOB {id}"));
    assert_eq!(job(&c, id).status, JobStatus::Canceled);
    assert!(c.store(loc).snapshot().is_empty(), "{:?}", c.store(loc).snapshot());
    c.ok(&format!("BACKUP DATABASE bank TO '{loc}'"));
}
