//! The backup scenario: the cluster workload runs under faults while a BACKUP (of the cluster, a
//! database, or a list of tables, to one of the seed's URL schemes) runs as a job — its gateway
//! may be crashed mid-job, the job may be paused and resumed — then the backup is restored into
//! a fresh simulated cluster and every restored table must equal the oracle at the backup's
//! time.
//!
//! Setup → faults + writers + backup → liveness → verify, all from one seed. The verdict never
//! trusts the system: the manifest is read straight from the simulated storage, the restored
//! rows are compared with what the workload itself recorded.

use crate::check::{self, Observation};
use crate::oracle::Oracle;
use crate::run::{draw_faults, drive, setup, simulate, spawn_writers, Failure, FaultMix, RunOptions, RunReport};
use crate::workload::{self, WorkloadConfig, WriterStats, VIEW_BIG_ACCOUNTS};
use backup::format::manifest::{Manifest, CHECKPOINT_NAME, MANIFEST_NAME};
use backup::storage::url::StorageUrl;
use model::sql::Session;
use model::{Datum, Kv};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::faults;
use sim::storage::SimStorage;
use sim::{SimKv, Trace, World};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The scenario's name.
pub const BACKUP: &str = "backup";

/// Salt of the scenario's random stream (seed ^ salt).
pub const RNG_SALT: u64 = 0xbac4_0bac;

/// Runs the backup scenario for one seed in a fresh simulator.
pub fn run_backup(opts: &RunOptions) -> RunReport {
    simulate(opts, BACKUP, body)
}

/// What is backed up: the seed picks one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Cluster,
    Database,
    Tables,
}

impl Kind {
    fn targets(self) -> &'static str {
        match self {
            Kind::Cluster => "",
            Kind::Database => "DATABASE bank ",
            Kind::Tables => "bank.customers, bank.accounts, bank.big_accounts ",
        }
    }
}

/// How the backup job ended, as its client saw it.
#[derive(Clone, Debug, PartialEq)]
enum JobEnd {
    Succeeded,
    Failed(String),
}

/// When the backup started, and on which gateway.
type Started = Arc<Mutex<Option<(model::NodeId, madsim::time::Instant)>>>;

fn destination(rng: &mut ChaCha8Rng, seed: u64) -> String {
    match rng.gen_range(0..4) {
        0 => format!("nodelocal://1/backups/seed-{seed}"),
        1 => format!("s3://acme-co/backups/seed-{seed}?AWS_ACCESS_KEY_ID=AKIAEXAMPLE&AWS_SECRET_ACCESS_KEY=sim-secret-{seed}"),
        2 => format!("gs://acme-co-backup/seed-{seed}?AUTH=implicit"),
        _ => format!("azure://backups/seed-{seed}?AZURE_ACCOUNT_NAME=acme&AZURE_ACCOUNT_KEY=sim-secret-{seed}"),
    }
}

/// The job's row in SHOW JOBS: (id, status, error).
fn backup_job(rows: &[Vec<Datum>]) -> Option<(i64, String, String)> {
    rows.iter().rev().find(|r| matches!(r.get(1), Some(Datum::String(t)) if t == "BACKUP")).map(|r| {
        let id = match r.first() {
            Some(Datum::Int(i)) => *i,
            _ => 0,
        };
        let text = |i: usize| match r.get(i) {
            Some(Datum::String(s)) => s.clone(),
            _ => String::new(),
        };
        (id, text(5), text(12))
    })
}

/// Runs the BACKUP statement on `gateway` and follows the job until it ends, whatever happens to
/// the gateway: if the statement's connection fails or the job is paused, it watches SHOW JOBS
/// through any reachable node until the job succeeds or fails.
async fn run_and_follow(kv: &SimKv, gateway: model::NodeId, nodes: u32, sql: &str) -> JobEnd {
    // A gateway that dies never answers (there is no connection to reset): stop waiting after
    // a while and follow the job through SHOW JOBS instead.
    match kv.bulk(gateway, sql, "root", "defaultdb", Duration::from_secs(20)).await {
        Ok(_) => return JobEnd::Succeeded,
        Err(e) if e.contains("GC threshold") => return JobEnd::Failed(e),
        Err(_) => {}
    }
    let mut n = gateway;
    let mut without_job = 0;
    loop {
        madsim::time::sleep(Duration::from_secs(1)).await;
        n = n % nodes + 1;
        let Ok((_, rows)) = kv.bulk(n, "SHOW JOBS", "root", "defaultdb", Duration::from_secs(30)).await else { continue };
        if backup_job(&rows).is_none() {
            // The gateway died before it recorded the job: nothing ran, so run the statement
            // again elsewhere, as a client whose connection broke would.
            without_job += 1;
            if without_job >= 10 {
                without_job = 0;
                match kv.bulk(n, sql, "root", "defaultdb", Duration::from_secs(20)).await {
                    Ok(_) => return JobEnd::Succeeded,
                    Err(e) if e.contains("GC threshold") => return JobEnd::Failed(e),
                    Err(_) => {}
                }
            }
            continue;
        }
        match backup_job(&rows) {
            Some((_, status, _)) if status == "succeeded" => return JobEnd::Succeeded,
            Some((_, status, error)) if status == "failed" || status == "canceled" => return JobEnd::Failed(format!("{status}: {error}")),
            Some((id, status, _)) if status == "paused" => {
                let _ = kv.bulk(n, &format!("RESUME JOB {id}"), "root", "defaultdb", Duration::from_secs(30)).await;
            }
            _ => {}
        }
    }
}

/// Pauses the backup job once it runs, then resumes it.
async fn pause_and_resume(kv: &SimKv, nodes: u32, pause_after: Duration, paused_for: Duration) {
    let mut n = 1;
    loop {
        madsim::time::sleep(Duration::from_millis(200)).await;
        n = n % nodes + 1;
        let Ok((_, rows)) = kv.bulk(n, "SHOW JOBS", "root", "defaultdb", Duration::from_secs(30)).await else { continue };
        let Some((id, status, _)) = backup_job(&rows) else { continue };
        if status != "running" && status != "pending" {
            return;
        }
        madsim::time::sleep(pause_after).await;
        if kv.bulk(n, &format!("PAUSE JOB {id}"), "root", "defaultdb", Duration::from_secs(30)).await.is_err() {
            return;
        }
        madsim::time::sleep(paused_for).await;
        for _ in 0..30 {
            n = n % nodes + 1;
            match kv.bulk(n, &format!("RESUME JOB {id}"), "root", "defaultdb", Duration::from_secs(30)).await {
                Ok(_) => return,
                // A job that finished or was already resumed cannot be resumed: nothing to do.
                Err(e) if e.contains("cannot resume") => return,
                Err(_) => madsim::time::sleep(Duration::from_millis(500)).await,
            }
        }
        return;
    }
}

async fn body(opts: RunOptions, trace_slot: Arc<Mutex<Option<Trace>>>) -> RunReport {
    let seed = opts.seed;
    let cfg = opts.world_config(0);
    let mut world = World::start(cfg.clone(), seed, opts.echo_trace);
    let trace = world.trace.clone();
    *trace_slot.lock().expect("trace slot") = Some(trace.clone());
    workload::TRACE.with(|t| *t.borrow_mut() = Some(trace.clone()));
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ RNG_SALT);
    let faulty = opts.faults != FaultMix::None;
    let (swarm, plan) = draw_faults(&world, opts.faults, opts.safety, opts.schedule.as_ref(), &mut rng);
    let kind = [Kind::Cluster, Kind::Database, Kind::Tables][rng.gen_range(0..3)];
    let dest = destination(&mut rng, seed);
    let backup_at = Duration::from_millis(rng.gen_range(6_000..24_000));
    let gateway = rng.gen_range(1..=cfg.nodes as u32);
    let crash_after = (faulty && rng.gen_ratio(1, 2)).then(|| Duration::from_millis(rng.gen_range(20..1_500)));
    let downtime = Duration::from_millis(rng.gen_range(1_000..8_000));
    let pause = (faulty && rng.gen_ratio(1, 2)).then(|| (Duration::from_millis(rng.gen_range(0..2_000)), Duration::from_millis(rng.gen_range(200..5_000))));
    let storage_faults = if faulty {
        sim::storage::StorageFaults {
            transient_per_mille: rng.gen_range(0..80),
            slow_per_mille: rng.gen_range(0..40),
            lands_but_fails_per_mille: rng.gen_range(0..40),
            stale_list_per_mille: rng.gen_range(0..200),
        }
    } else {
        sim::storage::StorageFaults::default()
    };
    world.storage.set_faults(storage_faults);
    // Half the seeds back up as of exactly the newest commit the workload knows of when the
    // backup starts: a write at the very end of the window must be in the backup.
    let exact_time = rng.gen_ratio(1, 2);
    let sql_template = format!("BACKUP {}TO '{dest}' AS OF SYSTEM TIME ", kind.targets());
    let sql = format!("{sql_template}'-1s'");
    sim::trace_event!(trace, "runner", "backup-plan", "at={backup_at:?} gateway=n{gateway} crash_gateway_after={crash_after:?} pause={pause:?} kind={kind:?}");
    let mut report = RunReport::new(BACKUP, seed);
    report.faults = plan.len() + crash_after.is_some() as usize + pause.is_some() as usize;
    report.swarm = swarm.to_string();
    let oracle: Arc<Mutex<Oracle>> = Arc::default();
    let start = madsim::time::Instant::now();

    if let Err(f) = setup(&mut world, &oracle).await {
        report.failure = Some(f);
        return report;
    }

    // Safety phase: writers, the backup (and its controller), the fault schedule.
    let safety_start = madsim::time::Instant::now();
    let wc = WorkloadConfig { ops_per_writer: opts.workload.ops_per_writer.min(80), ..opts.workload.clone() };
    let writers = spawn_writers(&mut world, &wc, seed, &oracle, None);
    let started: Started = Arc::default();
    let nodes = cfg.nodes as u32;
    let backup_client = {
        let client = world.add_client("backup-client");
        let (sql, started, o) = (sql.clone(), started.clone(), oracle.clone());
        client.spawn(move |kv| async move {
            madsim::time::sleep(backup_at).await;
            let newest = {
                let oracle = o.lock().expect("oracle");
                oracle.tables().iter().flat_map(|t| oracle.timestamps(t)).max()
            };
            let sql = match newest {
                Some(ts) if exact_time => {
                    kv.hlc().update(ts);
                    format!("{sql_template}'{ts}'")
                }
                _ => sql,
            };
            *started.lock().expect("started") = Some((gateway, madsim::time::Instant::now()));
            run_and_follow(&kv, gateway, nodes, &sql).await
        })
    };
    if let Some((after, paused_for)) = pause {
        let client = world.add_client("job-controller");
        client.spawn(move |kv| async move {
            madsim::time::sleep(backup_at).await;
            pause_and_resume(&kv, nodes, after, paused_for).await;
        });
    }
    let mut next = 0;
    let mut calmed = false;
    let mut crashed_at: Option<madsim::time::Instant> = None;
    let deadline = opts.safety + Duration::from_secs(600);
    loop {
        madsim::time::sleep(Duration::from_millis(50)).await;
        let elapsed = safety_start.elapsed();
        while !calmed && next < plan.len() && plan[next].at <= elapsed {
            faults::inject(&mut world, &plan[next].fault);
            next += 1;
        }
        if let (Some(after), Some((g, t0))) = (crash_after, *started.lock().expect("started")) {
            if crashed_at.is_none() && !calmed && t0.elapsed() >= after {
                sim::trace_event!(trace, "nemesis", "inject", "crash the backup's gateway n{g}");
                if world.crash(g) {
                    crashed_at = Some(madsim::time::Instant::now());
                }
            }
        }
        if let Some(t) = crashed_at {
            if t.elapsed() >= downtime && world.life(gateway) == Some(sim::NodeLife::Down) {
                world.restart(gateway);
            }
        }
        if !calmed && elapsed >= opts.safety {
            sim::trace_event!(trace, "runner", "liveness-phase", "faults stop; nodes restart; network heals; storage behaves");
            world.calm();
            world.storage.set_faults(sim::storage::StorageFaults::default());
            calmed = true;
        }
        world.tick();
        if backup_client.is_finished() && writers.iter().all(|w| w.is_finished()) {
            break;
        }
        if elapsed > deadline {
            report.failure = Some(Failure { property: "liveness", message: format!("the backup job or the writers did not finish within {:?} of simulated time after faults stopped", deadline - opts.safety) });
            return report;
        }
    }
    if !calmed {
        world.calm();
        world.storage.set_faults(sim::storage::StorageFaults::default());
    }
    for w in writers {
        match w.await.expect("writer task") {
            Ok(WriterStats { committed, aborted }) => {
                report.committed += committed;
                report.aborted += aborted;
            }
            Err(e) => {
                report.failure = Some(Failure { property: "workload", message: e.to_string() });
                return report;
            }
        }
    }
    let end = backup_client.await.expect("backup client");
    sim::trace_event!(trace, "runner", "backup-ended", "{end:?}");
    // Every export was answered by the range's leaseholder of the moment.
    if let Some(line) = trace.lines().into_iter().find(|l| l.contains(" export-served ") && l.ends_with("as-leaseholder=false")) {
        report.failure = Some(Failure { property: "exports-from-leaseholders", message: format!("an export was answered by a node not holding the range's lease: {}", line.trim()) });
        return report;
    }

    // Verify the destination, straight from storage.
    let url = match StorageUrl::parse(&dest) {
        Ok(u) => u,
        Err(e) => {
            report.failure = Some(Failure { property: "workload", message: format!("scenario destination does not parse: {e}") });
            return report;
        }
    };
    let storage = world.storage.clone();
    let manifest_bytes = storage.get(&SimStorage::key(&url, gateway, MANIFEST_NAME));
    let checkpoint_left = storage.get(&SimStorage::key(&url, gateway, CHECKPOINT_NAME)).is_some();
    let manifest = match (&end, manifest_bytes) {
        (JobEnd::Failed(e), None) if e.contains("GC threshold") => {
            // The GC threshold passed the backup's time mid-job: the job must fail, and did.
            report.detail = format!("backup of {kind:?} failed as it must: {e}");
            report.sim_seconds = start.elapsed().as_secs_f64();
            return report;
        }
        (JobEnd::Failed(e), _) => {
            report.failure = Some(Failure { property: "backup-job-succeeds", message: format!("the backup job failed: {e}") });
            return report;
        }
        (JobEnd::Succeeded, None) => {
            report.failure = Some(Failure { property: "backup-complete", message: "the job succeeded but the destination holds no BACKUP manifest".into() });
            return report;
        }
        (JobEnd::Succeeded, Some(bytes)) => match Manifest::decode(MANIFEST_NAME, &bytes) {
            Ok(m) => m,
            Err(e) => {
                report.failure = Some(Failure { property: "backup-complete", message: format!("the manifest does not decode: {e}") });
                return report;
            }
        },
    };
    if checkpoint_left {
        report.failure = Some(Failure { property: "backup-complete", message: "BACKUP-CHECKPOINT is still present next to the finished manifest".into() });
        return report;
    }
    for f in &manifest.files {
        if storage.get(&SimStorage::key(&url, gateway, &f.path)).is_none() {
            report.failure = Some(Failure { property: "backup-complete", message: format!("the manifest lists {} but storage has no such file", f.path) });
            return report;
        }
    }
    let backup_time = manifest.end_time;

    // Restore into a fresh cluster that shares the storage, then compare with the oracle.
    let cfg_b = opts.world_config(1);
    let mut target = World::start_with(cfg_b.clone(), seed ^ 0x7a46_e7, trace.clone(), storage.clone());
    let restore_targets = kind.targets();
    let restore_sql = format!("RESTORE {}FROM '{dest}'", restore_targets);
    let rot_restore_sql = restore_sql.clone();
    let restorer = target.add_client("restorer");
    let o = oracle.clone();
    let tables: Vec<String> = {
        let oracle = o.lock().expect("oracle");
        let mut t: Vec<String> = match kind {
            Kind::Cluster => oracle.tables().into_iter().filter(|t| t != VIEW_BIG_ACCOUNTS).collect(),
            Kind::Database | Kind::Tables => vec!["bank.customers".into(), "bank.accounts".into()],
        };
        t.push(VIEW_BIG_ACCOUNTS.into());
        t
    };
    let restore_gateway = rng.gen_range(1..=cfg_b.nodes as u32);
    let read_tables = tables.clone();
    let restored = restorer.spawn(move |kv| async move {
        let shared: Arc<dyn Kv> = Arc::new(kv.clone());
        if let Err(e) = model::catalog::bootstrap(&*shared).await {
            return Err(format!("bootstrap of the restore target: {e}"));
        }
        if kind == Kind::Tables {
            let mut s = Session::root(shared.clone());
            s.execute("CREATE DATABASE bank").await.map_err(|e| format!("CREATE DATABASE bank: {e}"))?;
        }
        kv.bulk(restore_gateway, &restore_sql, "root", "defaultdb", Duration::from_secs(900)).await.map_err(|e| format!("{}: {e}", backup::statement::parse(&restore_sql).map(|s| s.redacted()).unwrap_or_else(|_| "RESTORE".into())))?;
        let now = kv.now();
        let mut obs = Vec::new();
        for t in &read_tables {
            obs.push(check::observe(&*shared, t, now).await);
        }
        Ok(obs)
    });
    let observations: Vec<Observation> = match drive(&mut target, restored).await {
        Ok(o) => o,
        Err(e) => {
            report.failure = Some(Failure { property: "restore-succeeds", message: e });
            return report;
        }
    };
    // The oracle's state at the backup's time, read back from the restored cluster.
    let oracle = oracle.lock().expect("oracle").clone();
    let mut rows = 0;
    for ob in &observations {
        let want = check::expected(&oracle, &ob.table, backup_time);
        match (&ob.result, want) {
            (Ok((columns, got)), Some(want)) => {
                if let Some(d) = crate::oracle::diff(&ob.table, backup_time, &want, columns, got) {
                    report.failure = Some(Failure { property: "restore-matches-oracle", message: format!("after restoring the backup taken at {backup_time}: {d}") });
                    return report;
                }
                rows += got.len();
            }
            (Err(model::sql::SqlError::UndefinedRelation(_)), None) => {}
            (Ok(_), None) => {
                report.failure = Some(Failure { property: "restore-matches-oracle", message: format!("{} was restored but did not exist at the backup's time {backup_time}", ob.table) });
                return report;
            }
            (Err(e), _) => {
                report.failure = Some(Failure { property: "restore-matches-oracle", message: format!("reading restored {}: {e}", ob.table) });
                return report;
            }
        }
    }
    report.reads_matched = observations.len();

    // Bit rot: flip one bit of one file of the backup (the seed picks which file and which bit).
    // A RESTORE into a third, fresh cluster must refuse, naming the file, and publish nothing.
    if !manifest.files.is_empty() || rng.gen_ratio(1, 4) {
        let mut paths: Vec<String> = manifest.files.iter().map(|f| f.path.clone()).collect();
        paths.push(MANIFEST_NAME.to_string());
        let victim = paths[rng.gen_range(0..paths.len())].clone();
        let key = SimStorage::key(&url, gateway, &victim);
        let bit = rng.gen::<u64>();
        storage.corrupt(&key, |bytes| {
            if !bytes.is_empty() {
                let at = (bit as usize / 8) % bytes.len();
                bytes[at] ^= 1 << (bit % 8);
            }
        });
        let cfg_c = opts.world_config(2);
        let mut third = World::start_with(cfg_c, seed ^ 0xb17_407, trace.clone(), storage.clone());
        let client = third.add_client("rot-restorer");
        let (restore_sql, read_tables) = (rot_restore_sql, tables.clone());
        let rot = client.spawn(move |kv| async move {
            let shared: Arc<dyn Kv> = Arc::new(kv.clone());
            model::catalog::bootstrap(&*shared).await.map_err(|e| format!("bootstrap: {e}"))?;
            if kind == Kind::Tables {
                let mut s = Session::root(shared.clone());
                s.execute("CREATE DATABASE bank").await.map_err(|e| format!("CREATE DATABASE bank: {e}"))?;
            }
            let restored = kv.bulk(1, &restore_sql, "root", "defaultdb", Duration::from_secs(900)).await;
            let now = kv.now();
            let mut visible = Vec::new();
            for t in &read_tables {
                if t == VIEW_BIG_ACCOUNTS {
                    continue;
                }
                if let Ok((_, rows)) = check::observe(&*shared, t, now).await.result {
                    if kind != Kind::Tables || !rows.is_empty() {
                        visible.push(t.clone());
                    }
                }
            }
            Ok::<_, String>((restored, visible))
        });
        let (restored, visible) = match drive(&mut third, rot).await {
            Ok(r) => r,
            Err(e) => {
                report.failure = Some(Failure { property: "corruption-detected", message: e });
                return report;
            }
        };
        let shown_victim = victim.rsplit('/').next().unwrap_or(&victim).to_string();
        match restored {
            Err(e) if e.contains(&shown_victim) => {}
            other => {
                report.failure = Some(Failure { property: "corruption-detected", message: format!("after flipping one bit of {victim}, RESTORE gave {other:?} instead of an error naming the file") });
                return report;
            }
        }
        if !visible.is_empty() {
            report.failure = Some(Failure { property: "corruption-detected", message: format!("a refused RESTORE of a corrupted backup published {visible:?}") });
            return report;
        }
        sim::trace_event!(trace, "runner", "bit-rot-detected", "{victim}");
    }

    // Refusals, in the source cluster with faults off: a backup missing a dependency, and one
    // below a GC threshold, must be refused at planning, before any job exists.
    let refusals = world.add_client("refusals");
    // The table to garbage-collect (set by the client), and whether the GC ran (set here).
    let gc_table: Arc<Mutex<Option<u32>>> = Arc::default();
    let gc_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (gc_t, gc_d) = (gc_table.clone(), gc_done.clone());
    let refusal_checks = refusals.spawn(move |kv| async move {
        let dep = kv.bulk(1, &format!("BACKUP bank.accounts TO 'nodelocal://1/refusals/{seed}/dependency'"), "root", "defaultdb", Duration::from_secs(300)).await;
        match &dep {
            Err(e) if e.contains("cannot back up") && e.contains("bank.customers") => {}
            other => return Err(format!("BACKUP of bank.accounts without bank.customers was not refused for its missing dependency: {other:?}")),
        }
        let catalog = model::catalog::Catalog::read(&kv, kv.now()).await.map_err(|e| format!("catalog: {e}"))?;
        let id = catalog.table_by_name("bank", "customers").map(|t| t.id).ok_or("bank.customers is gone")?;
        *gc_t.lock().expect("gc table") = Some(id);
        while !gc_d.load(std::sync::atomic::Ordering::Relaxed) {
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
        madsim::time::sleep(Duration::from_millis(500)).await;
        let gc = kv.bulk(1, &format!("BACKUP bank.customers TO 'nodelocal://1/refusals/{seed}/gc' AS OF SYSTEM TIME '-5s'"), "root", "defaultdb", Duration::from_secs(300)).await;
        match &gc {
            Err(e) if e.contains("must be after replica GC threshold") && !e.starts_with("job ") => Ok(()),
            other => Err(format!("BACKUP AS OF SYSTEM TIME below the GC threshold was not refused at planning: {other:?}")),
        }
    });
    while !refusal_checks.is_finished() {
        madsim::time::sleep(Duration::from_millis(50)).await;
        world.tick();
        if !gc_done.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(id) = *gc_table.lock().expect("gc table") {
                // GC the table's range with a one-second TTL, as a zone config of 1 s would.
                if let Some(desc) = world.directory.lookup(&model::encoding::table_span(id).start) {
                    if world.gc_now(desc.range_id, Duration::from_secs(1)) {
                        madsim::time::sleep(Duration::from_millis(300)).await;
                        gc_done.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
    }
    if let Err(message) = refusal_checks.await.expect("refusal task") {
        report.failure = Some(Failure { property: "refusals", message });
        return report;
    }
    report.sim_seconds = start.elapsed().as_secs_f64();
    report.detail = format!("{kind:?} backup at {backup_time} ({} files) restored: {rows} rows in {} relations match the oracle", manifest.files.len(), observations.len());
    report
}
