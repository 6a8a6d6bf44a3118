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
use crate::property::Property;
use crate::run::{
    draw_swarm, drive, join_writers, settle_schedule, setup, simulate, spawn_writers, start_world, Failure, FaultDriver, FaultMix, RunOptions, RunReport,
};
use crate::workload::{self, WorkloadConfig, VIEW_BIG_ACCOUNTS};
use backup::format::manifest::{Manifest, CHECKPOINT_NAME, MANIFEST_NAME};
use backup::storage::url::StorageUrl;
use model::sql::Session;
use model::{Datum, Kv};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::faults;
use sim::storage::SimStorage;
use sim::{SimKv, Trace, World};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The scenario's name.
pub const BACKUP: &str = "backup";

/// Salt of the scenario's random stream (seed ^ salt).
pub const RNG_SALT: u64 = 0xbac4_0bac;

/// Salt of the stream that draws the rival backup (a stream of its own, so that adding it left
/// every other draw of a seed as it was).
pub const RIVAL_SALT: u64 = 0x41fa_1bac;

/// Runs the backup scenario for one seed in a fresh simulator.
pub fn run_backup(opts: &RunOptions) -> RunReport {
    simulate(opts, BACKUP, |o, t| body(o, t, BACKUP))
}

/// The standard scenario's name: the benchmark's unit of work.
pub const STANDARD: &str = "standard";

/// Rows the standard scenario loads before its backup.
pub const STANDARD_ROWS: usize = 10_000;

/// The standard scenario: the backup scenario over a [`STANDARD_ROWS`]-row table that the split
/// queue spreads over many ranges (about 20 in all) — a full backup and a restore with faults on.
/// What `backup-sim bench` measures.
pub fn run_standard(opts: &RunOptions) -> RunReport {
    let mut o = opts.clone();
    o.workload.preload_rows = STANDARD_ROWS;
    simulate(&o, STANDARD, |o, t| body(o, t, STANDARD))
}

/// The backup scenario in the registry.
pub struct BackupScenario;

impl crate::run::Scenario for BackupScenario {
    fn name(&self) -> &'static str {
        BACKUP
    }
    fn description(&self) -> String {
        "the same, plus a BACKUP under faults (coordinator killed at chosen phases, PAUSE/RESUME/CANCEL, torn/lost writes, bit rot) restored into a fresh cluster; restored data must equal the oracle at the backup's time, damage must be refused naming the file".into()
    }
    fn in_default_sweep(&self) -> bool {
        true
    }
    fn run(&self, opts: &RunOptions) -> RunReport {
        run_backup(opts)
    }
    fn seed_schedule(&self, opts: &RunOptions) -> faults::Schedule {
        seed_schedule(opts)
    }
}

/// The standard (benchmark) scenario in the registry: run by name, not in the default sweep.
pub struct StandardScenario;

impl crate::run::Scenario for StandardScenario {
    fn name(&self) -> &'static str {
        STANDARD
    }
    fn description(&self) -> String {
        format!("the backup scenario over a {STANDARD_ROWS}-row table spread over ~20 ranges; run it by name (what `bench` measures)")
    }
    fn in_default_sweep(&self) -> bool {
        false
    }
    fn run(&self, opts: &RunOptions) -> RunReport {
        run_standard(opts)
    }
    fn seed_schedule(&self, opts: &RunOptions) -> faults::Schedule {
        seed_schedule(opts)
    }
}

/// What is backed up: the seed picks one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Cluster,
    Database,
    Tables,
}

impl Kind {
    pub(crate) fn targets(self) -> &'static str {
        match self {
            Kind::Cluster => "",
            Kind::Database => "DATABASE bank ",
            Kind::Tables => "bank.customers, bank.accounts, bank.big_accounts ",
        }
    }
}

/// How the backup job ended, as its client saw it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JobEnd {
    Succeeded,
    Failed(String),
    /// CANCEL JOB took effect.
    Canceled,
}

/// When the backup started, and on which gateway.
type Started = Arc<Mutex<Option<(model::NodeId, madsim::time::Instant)>>>;

pub(crate) fn destination(rng: &mut ChaCha8Rng, seed: u64) -> String {
    match rng.gen_range(0..4) {
        0 => format!("nodelocal://1/backups/seed-{seed}"),
        1 => format!("s3://acme-co/backups/seed-{seed}?AWS_ACCESS_KEY_ID=AKIAEXAMPLE&AWS_SECRET_ACCESS_KEY=sim-secret-{seed}"),
        2 => format!("gs://acme-co-backup/seed-{seed}?AUTH=implicit"),
        _ => format!("azure://backups/seed-{seed}?AZURE_ACCOUNT_NAME=acme&AZURE_ACCOUNT_KEY=sim-secret-{seed}"),
    }
}

/// True for a statement error that is a verdict, not a reason to retry: the planner refused the
/// backup (a GC threshold, a chain that does not line up, another backup at the destination)
/// and will refuse it again.
fn is_refusal(e: &str) -> bool {
    [
        "GC threshold",
        "invalid previous backups",
        "listed out of order",
        "does not contain table",
        "no longer among the targets",
        "new full backup is needed",
        "belongs to cluster",
        "is not after the end time",
    ]
    .iter()
    .any(|p| e.contains(p))
        || is_conflict(e)
        || is_damage(e)
}

/// True for an error that names a backup file storage damaged: refused now, refused again.
fn is_damage(e: &str) -> bool {
    ["checksum mismatch", "truncated (", "bad magic", "undecodable payload", "bytes beyond the length"].iter().any(|p| e.contains(p))
}

/// True for the refusal of a backup because another backup holds or held its destination (a
/// manifest already there, another job's lock, targets that do not match the backup there).
pub(crate) fn is_conflict(e: &str) -> bool {
    // A backup at the destination that this one cannot build on is a conflict too: one of
    // other targets (refused as an incremental of it), or one newer than this one's time.
    [
        "already contains",
        "another backup",
        "another incremental backup",
        "BACKUP-LOCK",
        "cannot append",
        "do not match",
        "no longer among the targets",
        "does not contain table",
        "is not after the end time",
    ]
    .iter()
    .any(|p| e.contains(p))
}

/// The newest BACKUP job's row in SHOW JOBS that is not among `known` and, when `description`
/// is given, was recorded for that statement: (id, status, error). Two clients backing up at
/// once each follow their own job.
fn backup_job(rows: &[Vec<Datum>], known: &BTreeSet<i64>, description: Option<&str>) -> Option<(i64, String, String)> {
    let ours = |r: &Vec<Datum>| description.is_none_or(|d| matches!(r.get(2), Some(Datum::String(t)) if t == d));
    rows.iter()
        .rev()
        .find(|r| matches!(r.get(1), Some(Datum::String(t)) if t == "BACKUP") && !matches!(r.first(), Some(Datum::Int(i)) if known.contains(i)) && ours(r))
        .map(|r| {
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
/// through any reachable node until the job succeeds, fails or is canceled. A paused job is
/// resumed once `calm` is set (the liveness phase: the operator lets jobs finish).
pub(crate) async fn run_and_follow(kv: &SimKv, gateway: model::NodeId, nodes: u32, sql: &str, calm: &AtomicBool) -> JobEnd {
    // The jobs that exist before this statement: following must never mistake one of them
    // (an earlier backup of a chain) for this statement's job.
    let mut known: BTreeSet<i64> = BTreeSet::new();
    for n in (0..nodes * 3).map(|i| (gateway + i - 1) % nodes + 1) {
        if let Ok((_, rows)) = kv.bulk(n, "SHOW JOBS", "root", "defaultdb", Duration::from_secs(5)).await {
            known = rows
                .iter()
                .filter_map(|r| match r.first() {
                    Some(Datum::Int(i)) => Some(*i),
                    _ => None,
                })
                .collect();
            break;
        }
    }
    // The job's description is the statement, redacted: what tells this statement's job apart
    // from another client's.
    let description = backup::statement::parse(sql).ok().map(|s| s.redacted());
    let description = description.as_deref();
    // A gateway that dies never answers (there is no connection to reset): stop waiting after
    // a while and follow the job through SHOW JOBS instead.
    match kv.bulk(gateway, sql, "root", "defaultdb", Duration::from_secs(20)).await {
        Ok(_) => return JobEnd::Succeeded,
        Err(e) if is_refusal(&e) => return JobEnd::Failed(e),
        Err(_) => {}
    }
    let mut n = gateway;
    let mut without_job = 0;
    loop {
        madsim::time::sleep(Duration::from_secs(1)).await;
        n = n % nodes + 1;
        let Ok((_, rows)) = kv.bulk(n, "SHOW JOBS", "root", "defaultdb", Duration::from_secs(30)).await else { continue };
        if backup_job(&rows, &known, description).is_none() {
            // The gateway died before it recorded the job: nothing ran, so run the statement
            // again elsewhere, as a client whose connection broke would.
            without_job += 1;
            if without_job >= 10 {
                without_job = 0;
                match kv.bulk(n, sql, "root", "defaultdb", Duration::from_secs(20)).await {
                    Ok(_) => return JobEnd::Succeeded,
                    Err(e) if is_refusal(&e) => return JobEnd::Failed(e),
                    Err(_) => {}
                }
            }
            continue;
        }
        match backup_job(&rows, &known, description) {
            Some((_, status, _)) if status == "succeeded" => return JobEnd::Succeeded,
            Some((_, status, _)) if status == "canceled" => return JobEnd::Canceled,
            Some((_, status, error)) if status == "failed" => return JobEnd::Failed(format!("{status}: {error}")),
            Some((id, status, _)) if status == "paused" && calm.load(Ordering::Relaxed) => {
                let _ = kv.bulk(n, &format!("RESUME JOB {id}"), "root", "defaultdb", Duration::from_secs(30)).await;
            }
            _ => {}
        }
    }
}

/// Everything the seed decides about a run before it starts, drawn in a fixed order from the
/// scenario's stream (so [`seed_schedule`] and the run agree).
struct Choices {
    swarm: faults::Swarm,
    /// The seed's whole schedule: the swarm's cluster faults and the faults aimed at the job.
    schedule: faults::Schedule,
    kind: Kind,
    dest: String,
    backup_at: Duration,
    gateway: model::NodeId,
    storage_faults: sim::storage::StorageFaults,
    exact_time: bool,
    /// What a rival backup (if the schedule starts one) backs up: other targets than the job's,
    /// to the same destination.
    rival_kind: Kind,
}

fn choose(opts: &RunOptions, cfg: &sim::WorldConfig, rng: &mut ChaCha8Rng) -> Choices {
    let faulty = opts.faults != FaultMix::None;
    let (swarm, mut schedule) = draw_swarm(cfg, opts.faults, opts.safety, rng);
    let kind = [Kind::Cluster, Kind::Database, Kind::Tables][rng.gen_range(0..3)];
    let dest = destination(rng, opts.seed);
    let backup_at = Duration::from_millis(rng.gen_range(6_000..24_000));
    let gateway = rng.gen_range(1..=cfg.nodes as u32);
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
    // Half the seeds back up as of exactly the newest commit the workload knows of when the
    // backup starts: a write at the very end of the window must be in the backup.
    let exact_time = rng.gen_ratio(1, 2);
    if faulty {
        schedule.extend(job_faults(rng, backup_at, gateway));
    }
    // A rival: a second client backs up other targets to the same destination, from just
    // before the job to a few seconds into it — concurrent with it, or after it. Not in the
    // standard scenario (the benchmark's unit of work is one backup and one restore).
    let mut rival_rng = ChaCha8Rng::seed_from_u64(opts.seed ^ RIVAL_SALT);
    let others: Vec<Kind> = [Kind::Cluster, Kind::Database, Kind::Tables].into_iter().filter(|k| *k != kind).collect();
    let rival_kind = others[rival_rng.gen_range(0..others.len())];
    let rival_at = backup_at.saturating_sub(Duration::from_millis(500)) + Duration::from_millis(rival_rng.gen_range(0..4_000));
    let rival_node = rival_rng.gen_range(1..=cfg.nodes as u32);
    if faulty && opts.workload.preload_rows == 0 && rival_rng.gen_ratio(1, 4) {
        schedule.push(faults::ScheduledFault { at: rival_at, fault: faults::Fault::RivalBackup { node: rival_node } });
    }
    schedule.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| format!("{:?}", a.fault).cmp(&format!("{:?}", b.fault))));
    Choices { swarm, schedule, kind, dest, backup_at, gateway, storage_faults, exact_time, rival_kind }
}

/// The faults aimed at the backup job, timed from its start: its gateway crashed mid-statement,
/// its coordinator killed at a chosen phase, PAUSE / RESUME / CANCEL, torn and lost writes, bit
/// rot. Each is on for a share of the seeds (swarm testing at the job's level).
fn job_faults(rng: &mut ChaCha8Rng, backup_at: Duration, gateway: model::NodeId) -> faults::Schedule {
    use faults::{Fault, JobAction, JobPhase, ScheduledFault};
    let ms = |rng: &mut ChaCha8Rng, lo: u64, hi: u64| Duration::from_millis(rng.gen_range(lo..hi));
    let mut out = Vec::new();
    if rng.gen_ratio(1, 2) {
        let at = backup_at + ms(rng, 20, 1_500);
        out.push(ScheduledFault { at, fault: Fault::Crash { node: gateway } });
        out.push(ScheduledFault { at: at + ms(rng, 1_000, 8_000), fault: Fault::Restart { node: gateway } });
    }
    if rng.gen_ratio(1, 2) {
        let at = backup_at + ms(rng, 0, 2_000);
        out.push(ScheduledFault { at, fault: Fault::Job { action: JobAction::Pause } });
        out.push(ScheduledFault { at: at + ms(rng, 200, 5_000), fault: Fault::Job { action: JobAction::Resume } });
    }
    if rng.gen_ratio(1, 5) {
        out.push(ScheduledFault { at: backup_at + ms(rng, 0, 1_500), fault: Fault::Job { action: JobAction::Cancel } });
    }
    if rng.gen_ratio(1, 3) {
        let phase = [JobPhase::Exporting, JobPhase::BeforeManifest, JobPhase::WritingManifest][rng.gen_range(0..3)];
        // While exporting, let it write a few files first, so that it dies with a checkpoint.
        let skip = if phase == JobPhase::Exporting { rng.gen_range(0..4) } else { 0 };
        out.push(ScheduledFault { at: backup_at, fault: Fault::KillCoordinator { phase, skip, down_ms: rng.gen_range(1_000..6_000) } });
    }
    if rng.gen_ratio(1, 4) {
        let fault = if rng.gen() { Fault::TornWrite } else { Fault::LostWrite };
        out.push(ScheduledFault { at: backup_at + ms(rng, 0, 3_000), fault });
    }
    if rng.gen_ratio(1, 4) {
        out.push(ScheduledFault { at: backup_at + ms(rng, 0, 15_000), fault: Fault::BitRot { pick: rng.gen(), bit: rng.gen() } });
    }
    out
}

/// The schedule `opts.seed` draws for this scenario (what `replay --print-schedule` prints and
/// `shrink` starts from).
pub fn seed_schedule(opts: &RunOptions) -> faults::Schedule {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ RNG_SALT);
    choose(opts, &opts.world_config(0), &mut rng).schedule
}

async fn body(opts: RunOptions, trace_slot: Arc<Mutex<Option<Trace>>>, scenario: &'static str) -> RunReport {
    let seed = opts.seed;
    let cfg = opts.world_config(0);
    let (mut world, trace, mut rng) = start_world(&opts, RNG_SALT, &trace_slot);
    let Choices { swarm, schedule, kind, dest, backup_at, gateway, storage_faults, exact_time, rival_kind } = choose(&opts, &cfg, &mut rng);
    let preload = opts.workload.preload_rows;
    // The bulk table is not among the explicit table list: back up its database instead.
    let kind = if preload > 0 && kind == Kind::Tables { Kind::Database } else { kind };
    let plan = settle_schedule(&world, &swarm, schedule, opts.schedule.as_ref());
    let cancel_planned = plan.iter().any(|f| f.fault == faults::Fault::Job { action: faults::JobAction::Cancel });
    world.storage.set_faults(storage_faults);
    let sql_template = format!("BACKUP {}TO '{dest}' AS OF SYSTEM TIME ", kind.targets());
    let sql = format!("{sql_template}'-1s'");
    sim::trace_event!(trace, "runner", sim::event::BACKUP_PLAN, "at={backup_at:?} gateway=n{gateway} kind={kind:?}");
    let mut report = RunReport::new(scenario, seed);
    report.faults = plan.len();
    report.swarm = swarm.to_string();
    let oracle: Arc<Mutex<Oracle>> = Arc::default();
    let start = madsim::time::Instant::now();

    if let Err(f) = setup(&mut world, &oracle).await {
        report.failure = Some(f);
        return report;
    }
    if preload > 0 {
        let client = world.add_client("loader");
        let o = oracle.clone();
        let load = client.spawn(move |kv| async move {
            let mut s = Session::root(Arc::new(kv.clone()));
            workload::preload(&mut s, &kv, &o, preload, seed).await
        });
        if let Err(e) = drive(&mut world, load).await {
            report.failure = Some(Failure { property: Property::Workload, message: format!("preload: {e}") });
            return report;
        }
    }

    // Safety phase: writers, the backup (and its controller), the fault schedule.
    let safety_start = madsim::time::Instant::now();
    let wc = WorkloadConfig { ops_per_writer: opts.workload.ops_per_writer.min(80), ..opts.workload.clone() };
    let writers = spawn_writers(&mut world, &wc, seed, &oracle, None);
    let started: Started = Arc::default();
    let mut driver = FaultDriver::new(&plan, opts.safety);
    let calm = driver.calm.clone();
    let nodes = cfg.nodes as u32;
    let backup_client = {
        let client = world.add_client("backup-client");
        let (sql, started, o, calm) = (sql.clone(), started.clone(), oracle.clone(), calm.clone());
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
            run_and_follow(&kv, gateway, nodes, &sql, &calm).await
        })
    };
    // The rival backup, when the schedule holds one: its client waits for the fault to name the
    // node it goes through (or for the liveness phase, if the fault never came).
    let rival_go: Arc<Mutex<Option<model::NodeId>>> = Arc::default();
    let rival_client = plan.iter().any(|f| matches!(f.fault, faults::Fault::RivalBackup { .. })).then(|| {
        let client = world.add_client("rival-client");
        let (go, calm) = (rival_go.clone(), calm.clone());
        let sql = format!("BACKUP {}TO '{dest}' AS OF SYSTEM TIME '-1s'", rival_kind.targets());
        client.spawn(move |kv| async move {
            let node = loop {
                if let Some(n) = *go.lock().expect("rival") {
                    break n;
                }
                if calm.load(Ordering::Relaxed) {
                    return None;
                }
                madsim::time::sleep(Duration::from_millis(50)).await;
            };
            Some(run_and_follow(&kv, node, nodes, &sql, &calm).await)
        })
    });
    let deadline = opts.safety + Duration::from_secs(600);
    let before_fault = |fault: &faults::Fault| {
        if *fault == (faults::Fault::Crash { node: gateway }) && started.lock().expect("started").is_some() && !backup_client.is_finished() {
            sim::trace_event!(trace, "runner", sim::event::GATEWAY_CRASH, "the backup's gateway n{gateway} crashes with the statement in flight");
        }
        if let faults::Fault::RivalBackup { node } = fault {
            sim::trace_event!(trace, "runner", sim::event::RIVAL_BACKUP, "a second client backs up {rival_kind:?} to the same destination via n{node}");
            *rival_go.lock().expect("rival") = Some(*node);
        }
    };
    let all_done = || backup_client.is_finished() && rival_client.as_ref().is_none_or(|r| r.is_finished()) && writers.iter().all(|w| w.is_finished());
    if !driver.run_until(&mut world, safety_start, deadline, all_done, before_fault).await {
        report.failure = Some(Failure {
            property: Property::Liveness,
            message: format!("the backup job or the writers did not finish within {:?} of simulated time after faults stopped", deadline - opts.safety),
        });
        return report;
    }
    driver.end(&mut world);
    if let Err(f) = join_writers(writers, &mut report).await {
        report.failure = Some(f);
        return report;
    }
    let end = backup_client.await.expect("backup client");
    sim::trace_event!(trace, "runner", sim::event::BACKUP_ENDED, "{end:?}");
    let rival_end = match rival_client {
        Some(r) => r.await.expect("rival client"),
        None => None,
    };
    // With a rival, the verdict follows whichever backup holds the destination.
    let (kind, end) = match rival_end {
        None => (kind, end),
        Some(rival) => {
            sim::trace_event!(trace, "runner", sim::event::RIVAL_ENDED, "{rival:?}");
            match settle_rivals((kind, end), (rival_kind, rival)) {
                Ok(winner) => winner,
                Err(f) => {
                    report.failure = Some(f);
                    return report;
                }
            }
        }
    };
    // Every export was answered by the range's leaseholder of the moment.
    if let Some(line) = trace.lines().into_iter().find(|l| l.contains(" export-served ") && l.ends_with("as-leaseholder=false")) {
        report.failure = Some(Failure {
            property: Property::ExportsFromLeaseholders,
            message: format!("an export was answered by a node not holding the range's lease: {}", line.trim()),
        });
        return report;
    }

    // Verify the destination, straight from storage.
    let url = match StorageUrl::parse(&dest) {
        Ok(u) => u,
        Err(e) => {
            report.failure = Some(Failure { property: Property::Workload, message: format!("scenario destination does not parse: {e}") });
            return report;
        }
    };
    let storage = world.storage.clone();
    let key_of = |path: &str| SimStorage::key(&url, gateway, path);
    let tables: Vec<String> = {
        let oracle = oracle.lock().expect("oracle");
        let mut t: Vec<String> = match kind {
            Kind::Cluster => oracle.tables().into_iter().filter(|t| t != VIEW_BIG_ACCOUNTS).collect(),
            Kind::Database | Kind::Tables => vec!["bank.customers".into(), "bank.accounts".into()],
        };
        if preload > 0 && kind != Kind::Cluster {
            t.push(workload::LEDGER.into());
        }
        t.push(VIEW_BIG_ACCOUNTS.into());
        t
    };
    let restore_sql = format!("RESTORE {}FROM '{dest}'", kind.targets());
    let show_sql = format!("SHOW BACKUP '{dest}'");
    let probe = RestoreProbe { opts: &opts, trace: &trace, storage: &storage, kind, restore_sql: &restore_sql, tables: &tables };
    let manifest_bytes = storage.get(&key_of(MANIFEST_NAME));
    let checkpoint_left = storage.get(&key_of(CHECKPOINT_NAME)).is_some();
    let damaged = storage.damaged();
    match (&end, &manifest_bytes) {
        (JobEnd::Failed(e), None) if e.contains("GC threshold") => {
            // The GC threshold passed the backup's time mid-job: the job must fail, and did. If
            // storage rotted the manifest a dead coordinator had written, the run that adopted
            // the job found it damaged under its own claim, exported again (below the threshold
            // by now) and, failing, removed that manifest as its own: nothing is left to restore.
            let manifest_key = key_of(MANIFEST_NAME);
            let rotted = trace.lines().iter().any(|l| l.contains(&format!(" bit-rot {manifest_key} ")));
            let removed = trace.lines().iter().any(|l| l.ends_with(&format!(" delete {manifest_key}")));
            report.detail = if rotted && removed {
                format!("backup of {kind:?} failed as it must after its manifest was damaged by bit rot, and removed that manifest as its own: {e}")
            } else {
                format!("backup of {kind:?} failed as it must: {e}")
            };
            report.sim_seconds = start.elapsed().as_secs_f64();
            return report;
        }
        (JobEnd::Failed(e), Some(_)) if e.contains("GC threshold") && damaged.contains_key(&key_of(MANIFEST_NAME)) => {
            // The coordinator wrote the manifest and died before recording success; storage then
            // damaged that manifest, so the node that adopted the job found no backup of its own
            // and exported again, by now below the GC threshold. The job must fail, and RESTORE
            // and SHOW BACKUP must refuse the damaged manifest naming it.
            let cause = damaged[&key_of(MANIFEST_NAME)];
            if let Err(f) = probe.manifest_refused(&show_sql, cause).await {
                report.failure = Some(f);
                return report;
            }
            report.detail =
                format!("backup of {kind:?} failed as it must after its manifest was damaged by a {cause}: {e}; RESTORE and SHOW BACKUP refused the manifest");
            report.sim_seconds = start.elapsed().as_secs_f64();
            return report;
        }
        (JobEnd::Failed(e), _) if e.contains("cannot prove that the BACKUP is its own") && damaged.contains_key(&key_of(backup::lock::MANIFEST_CLAIM)) => {
            // Storage damaged the job's claim on its manifest path, and a run that adopted the
            // job found a manifest there it could not prove its own (its own, torn by a run that
            // died writing it): it must refuse rather than replace what might be another
            // backup's, and what is there must not restore.
            if manifest_bytes.is_some() {
                if let Err(f) = probe.refused(1, &[MANIFEST_NAME.to_string()], None, "a damaged claim").await {
                    report.failure = Some(f);
                    return report;
                }
            }
            report.detail =
                format!("backup of {kind:?} refused as it must after storage damaged its claim ({}): {e}", damaged[&key_of(backup::lock::MANIFEST_CLAIM)]);
            report.sim_seconds = start.elapsed().as_secs_f64();
            return report;
        }
        (JobEnd::Failed(e), _) => {
            report.failure = Some(Failure { property: Property::BackupJobSucceeds, message: format!("the backup job failed: {e}") });
            return report;
        }
        (JobEnd::Canceled, _) if !cancel_planned => {
            report.failure = Some(Failure { property: Property::BackupJobSucceeds, message: "the backup job ended canceled, and nobody canceled it".into() });
            return report;
        }
        (JobEnd::Canceled, None) => {
            // Canceled before its manifest: whatever it left must be refused, nothing published.
            match probe.refused(1, &[], None, "a canceled backup").await {
                Ok(e) => report.detail = format!("{kind:?} backup canceled; RESTORE refused what it left: {e}"),
                Err(f) => {
                    report.failure = Some(f);
                    return report;
                }
            }
        }
        (JobEnd::Succeeded, None) => {
            report.failure =
                Some(Failure { property: Property::BackupComplete, message: "the job succeeded but the destination holds no BACKUP manifest".into() });
            return report;
        }
        (JobEnd::Succeeded | JobEnd::Canceled, Some(bytes)) => {
            // A finished manifest (a CANCEL that came too late finds one too): either it and
            // every file it lists are intact and restore to the oracle, or storage damaged one
            // of them and RESTORE (and SHOW BACKUP, for the manifest) must refuse naming it.
            if let Some(cause) = damaged.get(&key_of(MANIFEST_NAME)) {
                if let Err(f) = probe.manifest_refused(&show_sql, cause).await {
                    report.failure = Some(f);
                    return report;
                }
                report.detail = format!("{kind:?} backup's manifest damaged by a {cause}; RESTORE and SHOW BACKUP refused it");
            } else {
                let manifest = match Manifest::decode(MANIFEST_NAME, bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        report.failure = Some(Failure { property: Property::BackupComplete, message: format!("the manifest does not decode: {e}") });
                        return report;
                    }
                };
                if checkpoint_left {
                    report.failure = Some(Failure {
                        property: Property::BackupComplete,
                        message: "BACKUP-CHECKPOINT is still present next to the finished manifest".into(),
                    });
                    return report;
                }
                let hurt: Vec<(String, &str)> = manifest.files.iter().filter_map(|f| damaged.get(&key_of(&f.path)).map(|c| (f.path.clone(), *c))).collect();
                for f in &manifest.files {
                    if storage.get(&key_of(&f.path)).is_none() && !damaged.contains_key(&key_of(&f.path)) {
                        report.failure = Some(Failure {
                            property: Property::BackupComplete,
                            message: format!("the manifest lists {} but storage has no such file", f.path),
                        });
                        return report;
                    }
                }
                if !hurt.is_empty() {
                    let names: Vec<String> = hurt.iter().map(|(p, _)| p.clone()).collect();
                    match probe.refused(1, &names, None, hurt[0].1).await {
                        Ok(e) => {
                            sim::trace_event!(trace, "runner", sim::event::DAMAGE_DETECTED, "{hurt:?}: {e}");
                            report.detail = format!("{kind:?} backup with {} damaged file(s) ({}): RESTORE refused it", hurt.len(), hurt[0].1);
                        }
                        Err(f) => {
                            report.failure = Some(f);
                            return report;
                        }
                    }
                } else {
                    match verify_restore(&probe, &url, gateway, &manifest, &oracle, &mut rng).await {
                        Ok((rows, relations)) => {
                            report.reads_matched = relations;
                            report.detail = format!(
                                "{kind:?} backup at {} ({} files) restored: {rows} rows in {relations} relations match the oracle",
                                manifest.end_time,
                                manifest.files.len()
                            );
                        }
                        Err(f) => {
                            report.failure = Some(f);
                            return report;
                        }
                    }
                }
            }
        }
    }

    // Refusals, in the source cluster with faults off: a backup missing a dependency, and one
    // below a GC threshold, must be refused at planning, before any job exists.
    let refusals = world.add_client("refusals");
    // The table to garbage-collect (set by the client), and whether the GC ran (set here).
    let gc_table: Arc<Mutex<Option<u32>>> = Arc::default();
    let gc_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (gc_t, gc_d) = (gc_table.clone(), gc_done.clone());
    let refusal_checks = refusals.spawn(move |kv| async move {
        let dep =
            kv.bulk(1, &format!("BACKUP bank.accounts TO 'nodelocal://1/refusals/{seed}/dependency'"), "root", "defaultdb", Duration::from_secs(300)).await;
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
        let gc = kv
            .bulk(
                1,
                &format!("BACKUP bank.customers TO 'nodelocal://1/refusals/{seed}/gc' AS OF SYSTEM TIME '-5s'"),
                "root",
                "defaultdb",
                Duration::from_secs(300),
            )
            .await;
        match &gc {
            Err(e) if e.contains("must be after replica GC threshold") && !e.starts_with("job ") => Ok(()),
            other => Err(format!("BACKUP AS OF SYSTEM TIME below the GC threshold was not refused at planning: {other:?}")),
        }
    });
    while !refusal_checks.is_finished() {
        madsim::time::sleep(Duration::from_millis(50)).await;
        world.tick();
        if !gc_done.load(std::sync::atomic::Ordering::Relaxed) {
            let table = *gc_table.lock().expect("gc table");
            if let Some(id) = table {
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
        report.failure = Some(Failure { property: Property::Refusals, message });
        return report;
    }
    report.sim_seconds = start.elapsed().as_secs_f64();
    report
}

/// Two BACKUPs to one destination, of different targets (so neither may build on the other):
/// at most one may succeed, and the other must be refused for the conflict (or have been
/// canceled, or have met the GC threshold). Returns the backup the destination must now hold,
/// or the job's own end when neither succeeded — never two successes (one of them would be
/// lost), never two refusals for the conflict (neither would be there).
fn settle_rivals(job: (Kind, JobEnd), rival: (Kind, JobEnd)) -> Result<(Kind, JobEnd), Failure> {
    let fail = |message: String| Failure { property: Property::OneBackupPerLocation, message };
    // A refusal because storage damaged the job's own claim, not because of the other backup.
    let cannot_prove = |e: &str| e.contains("cannot prove that the BACKUP is its own");
    // An end that is a legitimate loss to the other backup, or to the run's other faults.
    let stood_aside = |end: &JobEnd| match end {
        JobEnd::Canceled => true,
        JobEnd::Failed(e) => is_conflict(e) || is_damage(e) || e.contains("GC threshold"),
        JobEnd::Succeeded => false,
    };
    match (&job.1, &rival.1) {
        (JobEnd::Succeeded, JobEnd::Succeeded) => Err(fail(format!(
            "two BACKUPs to the same destination ({:?} and {:?}) both succeeded: the destination holds one manifest, so one of them is lost",
            job.0, rival.0
        ))),
        (JobEnd::Succeeded, r) if stood_aside(r) => Ok(job),
        (JobEnd::Succeeded, r) => Err(fail(format!("the rival BACKUP of {:?} failed for another reason than the job holding the destination: {r:?}", rival.0))),
        (j, JobEnd::Succeeded) if stood_aside(j) => Ok(rival),
        (JobEnd::Failed(a), JobEnd::Failed(b)) if is_conflict(a) && is_conflict(b) && !cannot_prove(a) && !cannot_prove(b) => {
            Err(fail(format!("two BACKUPs to the same destination refused each other, so neither is there: {a} / {b}")))
        }
        // The rival's claim was damaged at rest and it refused to replace the manifest it found
        // (its own, torn): the job was refused by that torn manifest or the rival's lock. Judge
        // the rival's end (whose refusal the verdict checks against the damage).
        (JobEnd::Failed(a), JobEnd::Failed(b)) if (is_damage(a) || is_conflict(a)) && !cannot_prove(a) && cannot_prove(b) => Ok(rival),
        // The job gave way to the rival, which then ended without a backup of its own (canceled,
        // or past the GC threshold): judge the rival's end.
        (JobEnd::Failed(a), _) if is_conflict(a) && !cannot_prove(a) => Ok(rival),
        // Neither succeeded for other reasons (a cancel, a GC threshold): judge the job's own end.
        _ => Ok(job),
    }
}

/// Restores of this run's backup into fresh clusters that share its storage.
pub(crate) struct RestoreProbe<'a> {
    pub(crate) opts: &'a RunOptions,
    pub(crate) trace: &'a Trace,
    pub(crate) storage: &'a SimStorage,
    pub(crate) kind: Kind,
    pub(crate) restore_sql: &'a str,
    pub(crate) tables: &'a [String],
}

/// What a RESTORE (and optional SHOW BACKUP) in a fresh cluster did: the statements' results,
/// and what reading every relation afterwards found.
type Attempt = (Result<(), String>, Option<Result<(), String>>, Vec<Observation>);

impl RestoreProbe<'_> {
    /// Runs the RESTORE in a fresh cluster on `network` (and `show`, a SHOW BACKUP, first), then
    /// reads every relation of the backup there.
    pub(crate) async fn attempt(&self, network: u8, show: Option<&str>) -> Result<Attempt, String> {
        let mut world =
            World::start_with(self.opts.world_config(network), self.opts.seed ^ 0x7a_46e7 ^ network as u64, self.trace.clone(), self.storage.clone());
        let client = world.add_client("restorer");
        let (kind, restore_sql, tables, show) = (self.kind, self.restore_sql.to_string(), self.tables.to_vec(), show.map(str::to_string));
        let task = client.spawn(move |kv| async move {
            let shared: Arc<dyn Kv> = Arc::new(kv.clone());
            model::catalog::bootstrap(&*shared).await.map_err(|e| format!("bootstrap of the restore target: {e}"))?;
            if kind == Kind::Tables {
                let mut s = Session::root(shared.clone());
                s.execute("CREATE DATABASE bank").await.map_err(|e| format!("CREATE DATABASE bank: {e}"))?;
            }
            let shown = match show {
                Some(sql) => Some(kv.bulk(1, &sql, "root", "defaultdb", Duration::from_secs(300)).await.map(|_| ())),
                None => None,
            };
            let restored = kv.bulk(1, &restore_sql, "root", "defaultdb", Duration::from_secs(900)).await.map(|_| ());
            let now = kv.now();
            let mut obs = Vec::new();
            for t in &tables {
                obs.push(check::observe(&*shared, t, now).await);
            }
            Ok::<_, String>((restored, shown, obs))
        });
        drive(&mut world, task).await
    }

    /// A RESTORE that must be refused — with an error naming one of `names` (any error when
    /// empty) — publishing nothing; with `show`, SHOW BACKUP must be refused the same way.
    /// Returns the RESTORE's error.
    /// A damaged manifest: RESTORE and `show_sql` (SHOW BACKUP) must both refuse it naming it;
    /// the refusal goes into the trace.
    async fn manifest_refused(&self, show_sql: &str, cause: &str) -> Result<(), Failure> {
        let refusal = self.refused(1, &[MANIFEST_NAME.to_string()], Some(show_sql), cause).await?;
        sim::trace_event!(self.trace, "runner", sim::event::DAMAGE_DETECTED, "{MANIFEST_NAME} ({cause}): {refusal}");
        Ok(())
    }

    pub(crate) async fn refused(&self, network: u8, names: &[String], show: Option<&str>, why: &str) -> Result<String, Failure> {
        let fail = |message: String| Failure { property: Property::DamageDetected, message };
        let (restored, shown, observations) = self.attempt(network, show).await.map_err(fail)?;
        let names_one = |e: &str| names.is_empty() || names.iter().any(|n| names_file(e, n));
        let error = match restored {
            Err(e) if names_one(&e) => e,
            other => return Err(fail(format!("after a {why} of {names:?}, RESTORE gave {other:?} instead of an error naming the file"))),
        };
        if let Some(shown) = shown {
            match shown {
                Err(e) if names_one(&e) => {}
                other => return Err(fail(format!("after a {why} of {names:?}, SHOW BACKUP gave {other:?} instead of an error naming the file"))),
            }
        }
        let visible: Vec<&str> = observations.iter().filter(|o| o.result.is_ok()).map(|o| o.table.as_str()).collect();
        if !visible.is_empty() {
            return Err(fail(format!("a refused RESTORE ({why}) published {visible:?}")));
        }
        Ok(error)
    }
}

/// True when error text `e` names the backup file at `path` (relative to the destination): its
/// last path segment appears as a whole word (`BACKUP` is not named by `BACKUP-CHECKPOINT`).
pub(crate) fn names_file(e: &str, path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let part = |c: Option<char>| matches!(c, Some(c) if c.is_alphanumeric() || c == '-' || c == '_');
    e.match_indices(name).any(|(i, _)| !part(e[i + name.len()..].chars().next()) && !part(e[..i].chars().next_back()))
}

/// Restores the backup into a fresh cluster and compares every relation with the oracle at the
/// manifest's end time; then flips one bit of one of its files (the seed picks which) and checks
/// that a RESTORE into a third cluster refuses naming it (and SHOW BACKUP, for the manifest).
/// Returns (rows, relations) matched.
async fn verify_restore(
    probe: &RestoreProbe<'_>,
    url: &StorageUrl,
    gateway: model::NodeId,
    manifest: &Manifest,
    oracle: &Arc<Mutex<Oracle>>,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize), Failure> {
    let backup_time = manifest.end_time;
    let (restored, _, observations) = probe.attempt(1, None).await.map_err(|message| Failure { property: Property::RestoreSucceeds, message })?;
    restored.map_err(|e| Failure {
        property: Property::RestoreSucceeds,
        message: format!("{}: {e}", backup::statement::parse(probe.restore_sql).map(|s| s.redacted()).unwrap_or_else(|_| "RESTORE".into())),
    })?;
    let (rows, _) = compare_with_oracle(&observations, &oracle.lock().expect("oracle"), backup_time, "the backup taken at")?;

    // Bit rot after the fact: one flipped bit in one file of the backup. (Not in the standard
    // scenario, whose unit of work is one backup and one restore: the backup scenario checks it.)
    if probe.opts.workload.preload_rows == 0 && (!manifest.files.is_empty() || rng.gen_ratio(1, 4)) {
        let mut paths: Vec<String> = manifest.files.iter().map(|f| f.path.clone()).collect();
        paths.push(MANIFEST_NAME.to_string());
        let victim = paths[rng.gen_range(0..paths.len())].clone();
        let bit = rng.gen::<u64>();
        probe.storage.corrupt(&SimStorage::key(url, gateway, &victim), |bytes| {
            if !bytes.is_empty() {
                let at = (bit as usize / 8) % bytes.len();
                bytes[at] ^= 1 << (bit % 8);
            }
        });
        let show = (victim == MANIFEST_NAME).then(|| probe.restore_sql.replacen(&format!("RESTORE {}FROM", probe.kind.targets()), "SHOW BACKUP", 1));
        probe
            .refused(2, std::slice::from_ref(&victim), show.as_deref(), "flipped bit")
            .await
            .map_err(|f| Failure { property: Property::CorruptionDetected, ..f })?;
        sim::trace_event!(probe.trace, "runner", sim::event::BIT_ROT_DETECTED, "{victim}");
    }
    Ok((rows, observations.len()))
}

/// Compares every observed relation of a restored cluster with the oracle at `ts`; returns
/// (rows, relations) matched. `what` says what was restored (for the message).
pub(crate) fn compare_with_oracle(observations: &[Observation], oracle: &Oracle, ts: model::Timestamp, what: &str) -> Result<(usize, usize), Failure> {
    let mut rows = 0;
    for ob in observations {
        let want = check::expected(oracle, &ob.table, ts);
        match (&ob.result, want) {
            (Ok((columns, got)), Some(want)) => {
                if let Some(d) = crate::oracle::diff(&ob.table, ts, &want, columns, got) {
                    return Err(Failure { property: Property::RestoreMatchesOracle, message: format!("after restoring {what} {ts}: {d}") });
                }
                rows += got.len();
            }
            (Err(model::sql::SqlError::UndefinedRelation(_)), None) => {}
            (Ok(_), None) => {
                return Err(Failure {
                    property: Property::RestoreMatchesOracle,
                    message: format!("{} was restored but did not exist at {ts} ({what})", ob.table),
                })
            }
            (Err(e), _) => return Err(Failure { property: Property::RestoreMatchesOracle, message: format!("reading restored {}: {e}", ob.table) }),
        }
    }
    Ok((rows, observations.len()))
}
