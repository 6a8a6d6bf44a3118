//! The backup scenario: the cluster workload runs under faults while a BACKUP (of the cluster, a
//! database, or a list of tables, to one of the seed's URL schemes) runs as a job — its gateway
//! may be crashed mid-job, the job may be paused and resumed — then the backup is restored into
//! a fresh simulated cluster and every restored table must equal the oracle at the backup's
//! time.
//!
//! Setup → faults + writers + backup → liveness → verify, all from one seed. The verdict never
//! trusts the system: the manifest is read straight from the simulated storage, the restored
//! rows are compared with what the workload itself recorded.

use crate::credentials::{destination, DestinationUrl};
use crate::job_client::{is_conflict, is_damage, run_and_follow, JobEnd, Kind};
use crate::knobs::{settle_schedule, RunKnobs};
use crate::locality_check::{self, LocalityPlan};
use crate::oracle::Oracle;
use crate::parts::{Check, Composition, Localities, Workload};
use crate::property::Property;
use crate::restore_check::{compare_cluster_state, compare_with_oracle, names_file, Attempt, RestoreProbe};
use crate::run::{drive, join_writers, setup, simulate, spawn_writers, start_world_with, Failure, FaultDriver, RunOptions, RunReport};
use crate::show_check;
use crate::workload::{self, WorkloadConfig, VIEW_BIG_ACCOUNTS};
use backup::format::manifest::{Manifest, CHECKPOINT_NAME, ENCRYPTION_INFO_NAME, MANIFEST_NAME};
use backup::storage::url::StorageUrl;
use model::sql::Session;
use model::Kv;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sim::faults::{self, FaultKind, JobTarget};
use sim::storage::SimStorage;
use sim::SeedTree;
use sim::Trace;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The scenario's name.
pub const BACKUP: &str = "backup";

/// Runs the backup scenario for one seed in a fresh simulator.
pub fn run_backup(opts: &RunOptions) -> RunReport {
    run_composed(&Composition::backup(), opts)
}

/// Runs a composition of the backup operation's parts for one seed in a fresh simulator (the
/// backup scenario is [`Composition::backup`]): another workload, a smaller fault menu, fewer
/// checks.
pub fn run_composed(parts: &Composition, opts: &RunOptions) -> RunReport {
    let parts = parts.clone();
    simulate(opts, BACKUP, move |o, t| body(o, t, BACKUP, parts))
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
    simulate(&o, STANDARD, |o, t| body(o, t, STANDARD, Composition::backup()))
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

/// When the backup started, and on which gateway.
type Started = Arc<Mutex<Option<(model::NodeId, madsim::time::Instant)>>>;

/// Everything the seed decides about a run before it starts: the run's knobs (swarm, storage
/// dice, schedule) and the scenario's own, each from its stream of the seed's tree (so
/// [`seed_schedule`] and the run agree).
struct Choices {
    knobs: RunKnobs,
    kind: Kind,
    dest: DestinationUrl,
    backup_at: Duration,
    gateway: model::NodeId,
    exact_time: bool,
    /// What a rival backup (if the schedule starts one) backs up: other targets than the job's,
    /// to the same destination.
    rival_kind: Kind,
    /// The backup's encryption passphrase, when the seed encrypts it.
    passphrase: Option<String>,
    /// The nodes' flags ([`crate::malformed::draw_io_flags`]).
    io: backup::storage::url::ExternalIoSettings,
    /// With `localities=drawn`: the nodes' localities and the BACKUP's list of URLs, its default
    /// the destination drawn above.
    localities: Option<LocalityPlan>,
}

/// One in three seeds encrypts its backups (`WITH encryption_passphrase`), with a passphrase
/// the seed makes up; the standard scenario never does (the benchmark's unit of work stays one
/// plain backup and restore). RESTORE and SHOW BACKUP then need it, and nothing may show it.
pub(crate) fn draw_passphrase(tree: &SeedTree, scenario: &str, opts: &RunOptions) -> Option<String> {
    let mut rng = tree.stream(&format!("{scenario}/encryption"));
    (opts.workload.preload_rows == 0 && rng.gen_ratio(1, 3)).then(|| format!("sim-passphrase-{}-{:08x}", opts.seed, rng.gen::<u32>()))
}

/// The `WITH` clause that gives a statement the passphrase (empty without one).
pub(crate) fn with_passphrase(passphrase: &Option<String>) -> String {
    passphrase.as_ref().map(|p| format!(" WITH encryption_passphrase = '{p}'")).unwrap_or_default()
}

/// The run's secrets: the destination's credentials (raw and escaped as its URL has them) and
/// the passphrase.
pub(crate) fn run_secrets(dest: &DestinationUrl, passphrase: &Option<String>) -> Vec<String> {
    dest.secrets.iter().chain(passphrase.iter()).cloned().collect()
}

/// The phases a coordinator kill is armed for in the backup scenario.
const KILL_PHASES: [faults::JobPhase; 3] = [faults::JobPhase::Exporting, faults::JobPhase::BeforeManifest, faults::JobPhase::WritingManifest];

/// The fault kinds the backup scenario offers: every cluster kind and every kind aimed at its
/// job — its gateway crashed mid-statement, its coordinator killed at a chosen phase, PAUSE /
/// RESUME / CANCEL, torn and lost writes, bit rot, flaky storage, a storage outage, a rival
/// backup — and every kind aimed at the restore of its backup (its coordinator killed, PAUSE /
/// RESUME / CANCEL). The standard scenario leaves the rival, the outage and the restore's faults
/// out (the benchmark's unit of work is one backup and one restore, not a wait for storage to
/// come back or for a lease to lapse).
fn menu(opts: &RunOptions) -> Vec<FaultKind> {
    let mut menu: Vec<FaultKind> = FaultKind::CLUSTER.into_iter().chain(FaultKind::JOB).chain(FaultKind::RESTORE).collect();
    menu.extend([FaultKind::Rebalance, FaultKind::LastingMinority]);
    if opts.workload.preload_rows > 0 {
        menu.retain(|k| {
            !matches!(k, FaultKind::ConcurrentBackup | FaultKind::StorageOutage | FaultKind::Rebalance | FaultKind::LastingMinority)
                && !FaultKind::RESTORE.contains(k)
        });
    }
    menu
}

fn choose(opts: &RunOptions, cfg: &sim::WorldConfig, parts: &Composition) -> Choices {
    let tree = SeedTree::new(opts.seed);
    let mut rng = tree.stream("backup/job");
    let kind = [Kind::Cluster, Kind::Database, Kind::Tables][rng.gen_range(0..3)];
    // The bulk table is not among the explicit table list: back up its database instead.
    let kind = if opts.workload.preload_rows > 0 && kind == Kind::Tables { Kind::Database } else { kind };
    let dest = destination(&mut rng, &tree, opts.seed);
    let backup_at = Duration::from_millis(rng.gen_range(6_000..24_000));
    let gateway = rng.gen_range(1..=cfg.nodes as u32);
    // Half the seeds back up as of exactly the newest commit the workload knows of when the
    // backup starts: a write at the very end of the window must be in the backup.
    let exact_time = rng.gen_ratio(1, 2);
    // A rival (when the swarm has one) backs up other targets to the same destination, from
    // just before the job to a few seconds into it — concurrent with it, or after it.
    let mut rng = tree.stream("backup/rival");
    let others: Vec<Kind> = [Kind::Cluster, Kind::Database, Kind::Tables].into_iter().filter(|k| *k != kind).collect();
    let rival_kind = others[rng.gen_range(0..others.len())];
    let job = JobTarget {
        start: backup_at,
        gateway,
        nodes: cfg.nodes,
        kill_phases: &KILL_PHASES,
        kill_window: (backup_at, backup_at),
        rival_window: (backup_at.saturating_sub(Duration::from_millis(500)), backup_at + Duration::from_millis(3_500)),
        kill_cleaning_up_after_cancel: true,
    };
    let mut knobs = RunKnobs::draw(opts, &parts.faults.kinds(&menu(opts)), Some(&job));
    if *parts != Composition::backup() {
        knobs.knob("backup.parts", parts);
    }
    knobs.knob("backup.targets", format!("{kind:?}"));
    knobs.knob("backup.destination", dest.url.split(':').next().unwrap_or("?"));
    knobs.knob("backup.start", format!("{}ms", backup_at.as_millis()));
    knobs.knob("backup.gateway", format!("n{gateway}"));
    knobs.knob("backup.as_of_newest_commit", exact_time);
    knobs.knob("backup.rival_targets", format!("{rival_kind:?}"));
    let passphrase = draw_passphrase(&tree, BACKUP, opts);
    knobs.knob("backup.encrypted", passphrase.is_some());
    let io = crate::malformed::draw_io_flags(&dest.url, &tree);
    knobs.knob("nodes.external_io_disable_http", io.disable_http);
    knobs.knob("nodes.external_io_disable_implicit_credentials", io.disable_implicit_credentials);
    // From its own stream, so no other draw moves.
    let localities = (parts.localities == Localities::Drawn).then(|| LocalityPlan::draw(&tree, cfg.nodes, &dest.url));
    if let Some(plan) = &localities {
        knobs.knob("backup.localities", plan.describe());
    }
    Choices { knobs, kind, dest, backup_at, gateway, exact_time, rival_kind, passphrase, io, localities }
}

/// The schedule `opts.seed` draws for this scenario (what `replay --print-schedule` prints and
/// `shrink` starts from).
pub fn seed_schedule(opts: &RunOptions) -> faults::Schedule {
    choose(opts, &opts.world_config(0), &Composition::backup()).knobs.schedule
}

/// One seed of the backup scenario, in its steps: setup (and the standard scenario's preload),
/// the backup under faults run on to liveness, the verdict on what the destination holds, and
/// the refusals at planning with faults off.
async fn body(mut opts: RunOptions, trace_slot: Arc<Mutex<Option<Trace>>>, scenario: &'static str, parts: Composition) -> RunReport {
    let seed = opts.seed;
    if parts.workload == Workload::Idle {
        // The rows the schema loads, then no writers: the backup of a cluster at rest.
        opts.workload.writers = 0;
    }
    let mut cfg = opts.world_config(0);
    let Choices { knobs, kind, dest, backup_at, gateway, exact_time, rival_kind, passphrase, io, localities } = choose(&opts, &cfg, &parts);
    cfg.io = io;
    if let Some(plan) = &localities {
        cfg.localities = plan.nodes.clone();
    }
    // What every statement on the destination names: its URL, or the locality-aware list.
    let to = localities.as_ref().map_or_else(|| format!("'{}'", dest.url), LocalityPlan::list_sql);
    let (mut world, trace, mut rng) = start_world_with(&opts, cfg.clone(), "backup/verify", &trace_slot);
    let plan = settle_schedule(&world, &opts, &knobs);
    let cancel_planned = plan.iter().any(|f| f.fault == faults::Fault::Job { action: faults::JobAction::Cancel });
    world.storage.set_faults(knobs.storage.clone());
    dest.register(&world.storage);
    let guest = workload::GuestNames::draw(seed);
    let sql_template = format!("BACKUP {}TO {to} AS OF SYSTEM TIME ", kind.targets(&guest));
    sim::trace_event!(trace, "runner", sim::event::BACKUP_PLAN, "at={backup_at:?} gateway=n{gateway} kind={kind:?}");
    let mut report = RunReport::new(scenario, seed);
    report.faults = plan.len();
    report.swarm = knobs.swarm.to_string();
    let oracle: Arc<Mutex<Oracle>> = Arc::default();
    let start = madsim::time::Instant::now();

    if let Err(f) = setup(&mut world, &oracle, opts.seed).await {
        report.failure = Some(f);
        return report;
    }
    let secrets = run_secrets(&dest, &passphrase);
    let tree = SeedTree::new(seed);
    let mut malformed = crate::malformed::draw(&dest.url, &tree, seed);
    malformed.extend(crate::malformed::forbidden_by_flags(&cfg.io, &tree, seed));
    let job = Job {
        dest: dest.url,
        to,
        localities,
        wrong_credentials: dest.wrong,
        malformed,
        backup_at,
        gateway,
        exact_time,
        rival_kind,
        sql_template,
        cancel_planned,
        nodes: cfg.nodes as u32,
        passphrase,
        guest,
    };
    let localities = job.localities.clone().map(|plan| (plan, gateway));
    let mut run = Run {
        opts,
        world,
        trace,
        oracle,
        report,
        start,
        secrets,
        restore_networks: 0,
        parts,
        restore_faults: knobs.restore.clone(),
        lasting: knobs.lasting,
        localities,
    };
    if let Err(f) = run.preload().await {
        return run.fail(f);
    }
    let (end, rival_end) = match run.under_faults(&job, &plan).await {
        Ok(ends) => ends,
        Err(f) => return run.fail(f),
    };
    // With a rival, the verdict follows whichever backup holds the destination.
    let (kind, end) = match rival_end {
        None => (kind, end),
        Some(rival) => {
            sim::trace_event!(run.trace, "runner", sim::event::RIVAL_ENDED, "{rival:?}");
            match settle_rivals((kind, end), (rival_kind, rival)) {
                Ok(winner) => winner,
                Err(f) => return run.fail(f),
            }
        }
    };
    if run.parts.judges(Check::ExportsFromLeaseholders) {
        if let Err(f) = exports_from_leaseholders(&run.trace) {
            return run.fail(f);
        }
    }
    let verdict = match run.parts.judges(Check::RestoresMatchOracle) {
        true => run.verdict(&job, kind, &end, &mut rng).await,
        // Not judged: only how the job ended, as the operation always judges it.
        false => run.judge_end(&job, &end).map(|()| Next::Refusals),
    };
    match verdict {
        Ok(Next::Retake) => {
            // The user's next step after a cancel: take the backup again, to the same place.
            if let Err(f) = run.retake(&job, kind, &mut rng).await {
                return run.fail(f);
            }
        }
        Ok(Next::Refusals) => {}
        Ok(Next::Done) => return run.audit_and_finish().await,
        Err(f) => return run.fail(f),
    }
    if run.parts.judges(Check::PlanningRefusals) {
        if let Err(f) = run.refusals(&job).await {
            return run.fail(f);
        }
    }
    run.audit_and_finish().await
}

/// One seed's run, as its steps share it.
struct Run {
    opts: RunOptions,
    world: sim::World,
    trace: Trace,
    oracle: Arc<Mutex<Oracle>>,
    report: RunReport,
    /// When the run began: the report gives its simulated length.
    start: madsim::time::Instant,
    /// What must never show ([`crate::secrets`]).
    secrets: Vec<String>,
    /// Where the network numbers of the verdict's restore clusters start (see
    /// [`RestoreProbe::network_offset`]): 0, then 10 for a backup taken again.
    restore_networks: u8,
    /// The parts the run is made of: which checks it judges.
    parts: Composition,
    /// The faults aimed at the restore of the verdict ([`crate::knobs::RunKnobs::restore`]).
    restore_faults: faults::Schedule,
    /// What stays broken through the liveness phase.
    lasting: Option<faults::Lasting>,
    /// With `localities=drawn`, the plan where each data file must go, and the gateway (whose
    /// node a `nodelocal://self` URL names).
    localities: Option<(LocalityPlan, model::NodeId)>,
}

/// What the seed chose for the backup job that the steps after setup need. Not its kind: with a
/// rival, the verdict judges whichever backup holds the destination.
struct Job {
    /// The destination's URL (with `localities=drawn`, the default URL of the list).
    dest: String,
    /// What statements name as the backup's location: `'<dest>'`, or the locality-aware list.
    to: String,
    /// With `localities=drawn`: the nodes' localities and the list.
    localities: Option<LocalityPlan>,
    /// The destination with a credential its bucket does not accept, and that credential's
    /// secrets (none for nodelocal and implicit credentials).
    wrong_credentials: Option<(String, Vec<String>)>,
    /// The destination spoiled in ways the URL rules forbid, each refused at planning for its
    /// reason ([`crate::malformed`]).
    malformed: Vec<crate::malformed::Malformed>,
    backup_at: Duration,
    gateway: model::NodeId,
    exact_time: bool,
    rival_kind: Kind,
    /// The job's statement up to its `AS OF SYSTEM TIME` value.
    sql_template: String,
    /// Whether the schedule cancels the job: otherwise a canceled job is a failure.
    cancel_planned: bool,
    /// The encryption passphrase every statement on the destination gives, if the seed encrypts.
    passphrase: Option<String>,
    /// The cluster's size: a client whose gateway fails follows its job through the others.
    nodes: u32,
    /// The guest database's names, which the DATABASE and table targets name too.
    guest: workload::GuestNames,
}

/// What follows once the destination is judged.
enum Next {
    /// The refusal checks.
    Refusals,
    /// The job was canceled before its manifest: take the backup again, then the refusal checks.
    Retake,
    /// Nothing: the job failed as it must, and that is the run's verdict.
    Done,
}

impl Run {
    /// Ends the run with a failure, its simulated length left unset as the scenario always left it.
    fn fail(mut self, f: Failure) -> RunReport {
        self.report.failure = Some(f);
        self.check_secrets();
        self.report
    }

    /// The secrets check, last of all, if the run judges it.
    fn check_secrets(&mut self) {
        if self.parts.judges(Check::NoSecretsShown) {
            crate::secrets::check(&mut self.report, &self.trace, &self.secrets);
        }
    }

    /// How the job ended, when the destination is not judged: it may fail (the faults may leave
    /// it no backup to make; whether for a good reason is the destination's verdict), and end
    /// canceled only if the schedule canceled it.
    fn judge_end(&mut self, job: &Job, end: &JobEnd) -> Result<(), Failure> {
        self.report.detail = format!("the backup job ended {end:?}; the destination is not judged");
        match end {
            JobEnd::Canceled if !job.cancel_planned => {
                Err(Failure { property: Property::BackupJobSucceeds, message: "the backup job ended canceled, and nobody canceled it".into() })
            }
            _ => Ok(()),
        }
    }

    /// Ends the run once its last property, what the cluster says of its jobs, is checked
    /// ([`crate::jobs_check`]): every job has ended by now.
    async fn audit_and_finish(mut self) -> RunReport {
        if let Err(f) = self.check_localities() {
            return self.fail(f);
        }
        if !self.parts.judges(Check::JobsAudit) {
            return self.finish();
        }
        match crate::jobs_check::check_run(&mut self.world, &self.secrets).await {
            Ok(()) => self.finish(),
            Err(f) => self.fail(f),
        }
    }

    /// With `localities=drawn`: every data file went where CockroachDB's rule sends the node
    /// that exported it ([`locality_check`], from the trace); each file's placement goes into the
    /// trace for the probes.
    fn check_localities(&mut self) -> Result<(), Failure> {
        let Some((plan, gateway)) = &self.localities else { return Ok(()) };
        for placed in locality_check::check(&self.trace.lines(), plan, *gateway)? {
            sim::trace_event!(self.trace, "runner", locality_check::LOCALITY_FILE_PLACED, "{placed}");
        }
        Ok(())
    }

    /// Ends the run with every property held (the secrets checked last), and its simulated length.
    fn finish(mut self) -> RunReport {
        self.report.sim_seconds = self.start.elapsed().as_secs_f64();
        self.check_secrets();
        self.report
    }

    /// The standard scenario's rows, loaded before any fault: the bulk of what it backs up.
    async fn preload(&mut self) -> Result<(), Failure> {
        let (preload, seed) = (self.opts.workload.preload_rows, self.opts.seed);
        if preload > 0 {
            let client = self.world.add_client("loader");
            let o = self.oracle.clone();
            let load = client.spawn(move |kv| async move {
                let mut s = Session::root(Arc::new(kv.clone()));
                workload::preload(&mut s, &kv, &o, preload, seed).await
            });
            if let Err(e) = drive(&mut self.world, load).await {
                return Err(Failure { property: Property::Workload, message: format!("preload: {e}") });
            }
        }
        Ok(())
    }

    /// The safety phase and the liveness phase after it: the writers, the backup (and its
    /// controller) and a rival backup if the schedule starts one, under the fault schedule, then
    /// with faults off until all of them have finished. Returns how the job and the rival ended.
    async fn under_faults(&mut self, job: &Job, plan: &faults::Schedule) -> Result<(JobEnd, Option<JobEnd>), Failure> {
        let safety_start = madsim::time::Instant::now();
        let wc = WorkloadConfig { ops_per_writer: self.opts.workload.ops_per_writer.min(80), ..self.opts.workload.clone() };
        let writers = spawn_writers(&mut self.world, &wc, self.opts.seed, &self.oracle, None);
        let started: Started = Arc::default();
        let mut driver = FaultDriver::new(plan, self.opts.safety).lasting(self.lasting);
        let backup_client = self.spawn_backup(job, &started, &driver.calm);
        let rival_go: Arc<Mutex<Option<model::NodeId>>> = Arc::default();
        let rival_client = plan.iter().any(|f| matches!(f.fault, faults::Fault::RivalBackup { .. })).then(|| self.spawn_rival(job, &rival_go, &driver.calm));
        let deadline = self.opts.safety + Duration::from_secs(600);
        let (trace, gateway, rival_kind) = (&self.trace, job.gateway, job.rival_kind);
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
        if !driver.run_until(&mut self.world, safety_start, deadline, all_done, before_fault).await {
            return Err(Failure {
                property: Property::Liveness,
                message: format!(
                    "the backup job or the writers did not finish within {:?} of simulated time after faults stopped",
                    deadline - self.opts.safety
                ),
            });
        }
        driver.end(&mut self.world);
        join_writers(writers, &mut self.report).await?;
        let end = backup_client.await.expect("backup client");
        sim::trace_event!(self.trace, "runner", sim::event::BACKUP_ENDED, "{end:?}");
        let rival_end = match rival_client {
            Some(r) => r.await.expect("rival client"),
            None => None,
        };
        Ok((end, rival_end))
    }

    /// The backup's client: at the seed's time it backs up as of a second ago, or (for half the
    /// seeds) as of exactly the newest commit the workload knows of, so that a write at the very
    /// end of the window must be in the backup; then it follows the job to its end.
    fn spawn_backup(&mut self, job: &Job, started: &Started, calm: &Arc<AtomicBool>) -> madsim::task::JoinHandle<JobEnd> {
        let client = self.world.add_client("backup-client");
        let (sql_template, started, o, calm) = (job.sql_template.clone(), started.clone(), self.oracle.clone(), calm.clone());
        let with = with_passphrase(&job.passphrase);
        let (backup_at, exact_time, gateway, nodes) = (job.backup_at, job.exact_time, job.gateway, job.nodes);
        client.spawn(move |kv| async move {
            madsim::time::sleep(backup_at).await;
            let newest = {
                let oracle = o.lock().expect("oracle");
                oracle.tables().iter().flat_map(|t| oracle.timestamps(t)).max()
            };
            let sql = match newest {
                Some(ts) if exact_time => {
                    kv.hlc().update(ts);
                    format!("{sql_template}'{ts}'{with}")
                }
                _ => format!("{sql_template}'-1s'{with}"),
            };
            *started.lock().expect("started") = Some((gateway, madsim::time::Instant::now()));
            run_and_follow(&kv, gateway, nodes, &sql, &calm).await
        })
    }

    /// The rival backup's client: it waits for the fault to name the node it goes through (or
    /// for the liveness phase, if the fault never came), then backs up other targets than the
    /// job's to the same destination.
    fn spawn_rival(&mut self, job: &Job, go: &Arc<Mutex<Option<model::NodeId>>>, calm: &Arc<AtomicBool>) -> madsim::task::JoinHandle<Option<JobEnd>> {
        let client = self.world.add_client("rival-client");
        let (go, calm, nodes) = (go.clone(), calm.clone(), job.nodes);
        let sql = format!("BACKUP {}TO {} AS OF SYSTEM TIME '-1s'{}", job.rival_kind.targets(&job.guest), job.to, with_passphrase(&job.passphrase));
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
    }

    /// The verdict on the destination, read straight from storage: a failed job must have failed
    /// as it must; a canceled one must have left nothing RESTORE takes; a finished manifest must
    /// restore to the oracle, unless storage damaged it and RESTORE refuses naming the damage.
    async fn verdict(&mut self, job: &Job, kind: Kind, end: &JobEnd, rng: &mut ChaCha8Rng) -> Result<Next, Failure> {
        let url =
            StorageUrl::parse(&job.dest).map_err(|e| Failure { property: Property::Workload, message: format!("scenario destination does not parse: {e}") })?;
        let storage = self.world.storage.clone();
        let tables = self.restored_tables(kind, &job.guest);
        let with = with_passphrase(&job.passphrase);
        let unencrypted_sql = format!("RESTORE {}FROM {}", kind.targets(&job.guest), job.to);
        let restore_sql = format!("{unencrypted_sql}{with}");
        let probe = RestoreProbe {
            opts: &self.opts,
            trace: &self.trace,
            storage: &storage,
            kind,
            guest: &job.guest,
            restore_sql: &restore_sql,
            tables: &tables,
            network_offset: self.restore_networks,
            aimed: &self.restore_faults,
        };
        let key_of = |path: &str| SimStorage::key(&url, job.gateway, path);
        let manifest = storage.get(&key_of(MANIFEST_NAME));
        let checkpoint_left = storage.get(&key_of(CHECKPOINT_NAME)).is_some();
        let (damaged, ever_damaged) = (storage.damaged(), storage.ever_damaged());
        let show_sql = format!("SHOW BACKUP {}{with}", job.to);
        let passphrase = job.passphrase.clone();
        let without_passphrase = passphrase.is_some().then_some(unencrypted_sql);
        let localities = job.localities.clone();
        let dest = Destination {
            probe,
            url,
            gateway: job.gateway,
            show_sql,
            manifest,
            checkpoint_left,
            damaged,
            ever_damaged,
            passphrase,
            without_passphrase,
            localities,
        };
        match (end, &dest.manifest) {
            (JobEnd::Failed(e), _) => {
                self.report.detail = dest.failed(e).await?;
                Ok(Next::Done)
            }
            (JobEnd::Canceled, _) if !job.cancel_planned => {
                Err(Failure { property: Property::BackupJobSucceeds, message: "the backup job ended canceled, and nobody canceled it".into() })
            }
            (JobEnd::Canceled, None) => {
                // Canceled before its manifest: whatever it left must be refused, nothing published.
                let e = dest.probe.refused(1, &[], None, "a canceled backup").await?;
                self.report.detail = format!("{kind:?} backup canceled; RESTORE refused what it left: {e}");
                Ok(Next::Retake)
            }
            (JobEnd::Succeeded, None) => {
                Err(Failure { property: Property::BackupComplete, message: "the job succeeded but the destination holds no BACKUP manifest".into() })
            }
            (JobEnd::Succeeded | JobEnd::Canceled, Some(bytes)) => {
                dest.finished(bytes, &self.oracle, rng, &mut self.report).await?;
                Ok(Next::Refusals)
            }
        }
    }

    /// After a canceled job: the same BACKUP again, to the same location, with faults off, as a
    /// user whose cancel was a mistake would. It must succeed at once, or be refused for what the
    /// canceled job left (its cleanup is best effort: a storage outage outlasts it) with advice
    /// that frees the location — the files it names deleted, the BACKUP must then succeed. The
    /// backup taken is then judged like any finished one (restored, compared with the oracle).
    async fn retake(&mut self, job: &Job, kind: Kind, rng: &mut ChaCha8Rng) -> Result<(), Failure> {
        let fail = |message: String| Failure { property: Property::BackupJobSucceeds, message };
        // The canceled backup's own targets: with a rival, the verdict may be judging the rival's.
        let sql = format!("BACKUP {}TO {} AS OF SYSTEM TIME '-1s'{}", kind.targets(&job.guest), job.to, with_passphrase(&job.passphrase));
        let (storage, gateway, dest) = (self.world.storage.clone(), job.gateway, job.dest.clone());
        // ENCRYPTION-INFO stays at a location once written (every backup there derives its key
        // from it); if storage damaged it, the BACKUP must refuse it naming the file, as RESTORE does.
        let info_damaged = StorageUrl::parse(&job.dest).is_ok_and(|url| storage.damaged().contains_key(&SimStorage::key(&url, gateway, ENCRYPTION_INFO_NAME)));
        let client = self.world.add_client("retake");
        let task = client.spawn(move |kv| async move {
            let run = |sql: String| {
                let kv = kv.clone();
                async move { kv.bulk(1, &sql, "root", "defaultdb", Duration::from_secs(300)).await.map(|_| ()) }
            };
            let refusal = match run(sql.clone()).await {
                Ok(()) => return Ok(Some("taken again at once".to_string())),
                Err(e) if info_damaged && is_damage(&e) && names_file(&e, ENCRYPTION_INFO_NAME) => return Ok(None),
                Err(e) => e,
            };
            let named = files_to_delete(&refusal).ok_or_else(|| format!("refused without advice that frees the location: {refusal}"))?;
            for file in &named {
                // The advice shows each file's URL redacted (it must never show a credential): an
                // operator deletes it with their own credentials, as this does, putting the
                // destination's query on the named path. (A redacted gs CREDENTIALS is no JSON key.)
                let own = match (file.split_once('?'), dest.split_once('?')) {
                    (Some((path, _)), Some((_, query))) => format!("{path}?{query}"),
                    _ => file.clone(),
                };
                let url = StorageUrl::parse(&own).map_err(|e| format!("the refusal names {file:?}, which is not a location ({e}): {refusal}"))?;
                let key = SimStorage::key(&url, gateway, "");
                let key = if file.split('?').next().is_some_and(|f| f.ends_with('/')) { key } else { key.trim_end_matches('/').to_string() };
                storage.operator_delete(&key);
            }
            // The first refusal may be for what the canceled job left, which the BACKUP checks
            // before it reads ENCRYPTION-INFO: a damaged one is then the second refusal's.
            match run(sql).await {
                Ok(()) => Ok(Some(format!("taken again after deleting the {} files the refusal named ({refusal})", named.len()))),
                Err(e) if info_damaged && is_damage(&e) && names_file(&e, ENCRYPTION_INFO_NAME) => Ok(None),
                Err(e) => Err(format!("refused again after deleting what the first refusal named ({refusal}): {e}")),
            }
        });
        let detail = drive(&mut self.world, task).await.map_err(|e| fail(format!("a BACKUP to the location a canceled backup left, with faults off: {e}")))?;
        let Some(detail) = detail else {
            self.report.detail.push_str("; taking it again was refused for the ENCRYPTION-INFO storage damaged, naming it");
            return Ok(());
        };
        sim::trace_event!(self.trace, "runner", sim::event::VERDICT, "canceled backup taken again: {detail}");
        self.restore_networks = 10;
        match self.verdict(job, kind, &JobEnd::Succeeded, rng).await? {
            Next::Refusals => Ok(()),
            Next::Done | Next::Retake => Err(fail("the backup taken again after a cancel was not judged finished".into())),
        }
    }

    /// The relations a restore of a `kind` backup must bring back, the view among them.
    fn restored_tables(&self, kind: Kind, guest: &workload::GuestNames) -> Vec<String> {
        let oracle = self.oracle.lock().expect("oracle");
        let mut t: Vec<String> = match kind {
            Kind::Cluster => oracle.tables().into_iter().filter(|t| t != VIEW_BIG_ACCOUNTS).collect(),
            Kind::Database | Kind::Tables => vec!["bank.customers".into(), "bank.accounts".into(), guest.oracle_table()],
        };
        if self.opts.workload.preload_rows > 0 && kind != Kind::Cluster {
            t.push(workload::LEDGER.into());
        }
        t.push(VIEW_BIG_ACCOUNTS.into());
        t
    }

    /// Refusals, in the source cluster with faults off: a backup missing a dependency, and one
    /// below a GC threshold, must be refused at planning, before any job exists; a SHOW BACKUP
    /// of the destination with a credential its bucket does not accept must be refused for its
    /// credentials, without showing them (the simulated cloud echoes what it was given); one of
    /// a location whose keys are too long for the service, with the service's permanent answer.
    async fn refusals(&mut self, job: &Job) -> Result<(), Failure> {
        let seed = self.opts.seed;
        let wrong = job.wrong_credentials.clone();
        // A location of a cloud destination's bucket whose object keys are too long for it.
        let too_long = (!job.dest.starts_with("nodelocal:")).then(|| match job.dest.split_once('?') {
            Some((base, query)) => format!("{}/{}?{query}", base.trim_end_matches('/'), "k".repeat(1100)),
            None => format!("{}/{}", job.dest.trim_end_matches('/'), "k".repeat(1100)),
        });
        if let Some((_, bad)) = &wrong {
            self.secrets.extend(bad.iter().cloned());
        }
        let malformed = job.malformed.clone();
        self.secrets.extend(malformed.iter().flat_map(|m| m.secrets.iter().cloned()));
        let refusals = self.world.add_client("refusals");
        // The table to garbage-collect (set by the client), and whether the GC ran (set here).
        let gc_table: Arc<Mutex<Option<u32>>> = Arc::default();
        let gc_done = Arc::new(AtomicBool::new(false));
        let (gc_t, gc_d) = (gc_table.clone(), gc_done.clone());
        let refusal_checks = refusals.spawn(move |kv| async move {
            let dep =
                kv.bulk(1, &format!("BACKUP bank.accounts TO 'nodelocal://1/refusals/{seed}/dependency'"), "root", "defaultdb", Duration::from_secs(300)).await;
            match &dep {
                Err(e) if e.contains("cannot back up") && e.contains("bank.customers") => {}
                other => return Err(format!("BACKUP of bank.accounts without bank.customers was not refused for its missing dependency: {other:?}")),
            }
            for m in &malformed {
                let outcome = kv.bulk(1, &m.sql, "root", "defaultdb", Duration::from_secs(300)).await;
                if let Some(why) = crate::malformed::judge(m, outcome.as_ref().map(|(_, rows)| rows.len()).map_err(String::as_str)) {
                    return Err(why);
                }
            }
            if let Some(long) = &too_long {
                // A permanent answer from the service (a key over its limit): refused at once as
                // a storage error, never retried as a transient one.
                let show = kv.bulk(1, &format!("SHOW BACKUP '{long}'"), "root", "defaultdb", Duration::from_secs(300)).await;
                match &show {
                    Err(e) if e.contains("KeyTooLongError") && e.contains("storage error") && !e.contains("transient") => {}
                    other => {
                        return Err(format!(
                        "SHOW BACKUP of a location whose keys exceed the service's 1024 bytes was not refused with the service's permanent answer: {other:?}"
                    ))
                    }
                }
            }
            if let Some((url, bad)) = &wrong {
                let hide = |text: String| bad.iter().fold(text, |t, b| t.replace(b.as_str(), "<the wrong credential>"));
                let show = kv.bulk(1, &format!("SHOW BACKUP '{url}'"), "root", "defaultdb", Duration::from_secs(300)).await;
                // A refused gs key fails its token exchange (401); s3 and azure refuse the request.
                let reason = if url.starts_with("gs:") { "authentication failed" } else { "permission denied" };
                match &show {
                    Err(e) if e.contains(reason) => {
                        if bad.iter().any(|b| e.contains(b.as_str())) {
                            return Err(format!("SHOW BACKUP with a wrong credential was refused showing the credential: {}", hide(e.clone())));
                        }
                    }
                    other => {
                        return Err(hide(format!(
                            "SHOW BACKUP with a credential the destination's bucket does not accept was not refused for its credentials ({reason}): {other:?}"
                        )))
                    }
                }
            }
            let catalog = model::catalog::Catalog::read(&kv, kv.now()).await.map_err(|e| format!("catalog: {e}"))?;
            let id = catalog.table_by_name("bank", "customers").map(|t| t.id).ok_or("bank.customers is gone")?;
            *gc_t.lock().expect("gc table") = Some(id);
            while !gc_d.load(Ordering::Relaxed) {
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
            self.world.tick();
            if !gc_done.load(Ordering::Relaxed) {
                let table = *gc_table.lock().expect("gc table");
                if let Some(id) = table {
                    // GC the table's range with a one-second TTL, as a zone config of 1 s would.
                    if let Some(desc) = self.world.directory.lookup(&model::encoding::table_span(id).start) {
                        if self.world.gc_now(desc.range_id, Duration::from_secs(1)) {
                            madsim::time::sleep(Duration::from_millis(300)).await;
                            gc_done.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        refusal_checks.await.expect("refusal task").map_err(|message| Failure { property: Property::Refusals, message })
    }
}

/// Every export was answered by the range's leaseholder of the moment.
fn exports_from_leaseholders(trace: &Trace) -> Result<(), Failure> {
    match trace.lines().into_iter().find(|l| l.contains(" export-served ") && l.ends_with("as-leaseholder=false")) {
        Some(line) => Err(Failure {
            property: Property::ExportsFromLeaseholders,
            message: format!("an export was answered by a node not holding the range's lease: {}", line.trim()),
        }),
        None => Ok(()),
    }
}

/// The destination as storage holds it once the job has ended, and the probe that restores
/// from it: what the verdict judges, never the system's own account of what it wrote.
struct Destination<'a> {
    probe: RestoreProbe<'a>,
    url: StorageUrl,
    gateway: model::NodeId,
    show_sql: String,
    /// The manifest's bytes, if there is one.
    manifest: Option<Vec<u8>>,
    checkpoint_left: bool,
    /// What storage damaged, by key, and how.
    damaged: BTreeMap<String, &'static str>,
    /// What storage damaged at some moment of the run, repaired since or not: a plan that read
    /// another plan's torn file before that plan wrote it again was right to refuse it.
    ever_damaged: BTreeMap<String, &'static str>,
    /// The backup's passphrase, if it is encrypted.
    passphrase: Option<String>,
    /// For an encrypted backup, its RESTORE without the passphrase (which must be refused).
    without_passphrase: Option<String>,
    /// With `localities=drawn`: where a file the manifest lists with a locality is.
    localities: Option<LocalityPlan>,
}

impl Destination<'_> {
    /// The storage key of `path` in the destination.
    fn key(&self, path: &str) -> String {
        SimStorage::key(&self.url, self.gateway, path)
    }

    /// The storage key of a file the manifest lists: at its locality's URL, if it has one.
    fn file_key(&self, path: &str, locality: Option<&str>) -> String {
        match (&self.localities, locality) {
            (Some(plan), Some(l)) => match StorageUrl::parse(plan.url_of(Some(l))) {
                Ok(url) => SimStorage::key(&url, self.gateway, path),
                Err(_) => self.key(path),
            },
            _ => self.key(path),
        }
    }

    /// A job that failed, as it may only where the run's faults left it no backup to make: the
    /// GC threshold passed the backup's time mid-job, storage damaged its ENCRYPTION-INFO (now,
    /// or when its plan read it), or storage damaged its claim on the manifest's path. Returns
    /// the report's detail.
    async fn failed(&self, e: &str) -> Result<String, Failure> {
        let kind = self.probe.kind;
        match &self.manifest {
            None if e.contains("GC threshold") => {
                // The GC threshold passed the backup's time mid-job: the job must fail, and did. If
                // storage rotted the manifest a dead coordinator had written, the run that adopted
                // the job found it damaged under its own claim, exported again (below the threshold
                // by now) and, failing, removed that manifest as its own: nothing is left to restore.
                let manifest_key = self.key(MANIFEST_NAME);
                let lines = self.probe.trace.lines();
                let rotted = lines.iter().any(|l| l.contains(&format!(" bit-rot {manifest_key} ")));
                let removed = lines.iter().any(|l| l.ends_with(&format!(" delete {manifest_key}")));
                Ok(if rotted && removed {
                    format!("backup of {kind:?} failed as it must after its manifest was damaged by bit rot, and removed that manifest as its own: {e}")
                } else {
                    format!("backup of {kind:?} failed as it must: {e}")
                })
            }
            Some(_) if e.contains("GC threshold") && self.damaged.contains_key(&self.key(MANIFEST_NAME)) => {
                // The coordinator wrote the manifest and died before recording success; storage then
                // damaged that manifest, so the node that adopted the job found no backup of its own
                // and exported again, by now below the GC threshold. The job must fail, and RESTORE
                // and SHOW BACKUP must refuse the damaged manifest naming it.
                let cause = self.damaged[&self.key(MANIFEST_NAME)];
                self.probe.manifest_refused(&self.show_sql, cause).await?;
                Ok(format!(
                    "backup of {kind:?} failed as it must after its manifest was damaged by a {cause}: {e}; RESTORE and SHOW BACKUP refused the manifest"
                ))
            }
            manifest if names_file(e, ENCRYPTION_INFO_NAME) && self.damaged.contains_key(&self.key(ENCRYPTION_INFO_NAME)) => {
                // Storage damaged the backup's ENCRYPTION-INFO (torn, lost, rotted) while the job
                // ran: no key could be derived again, so the job must fail rather than publish a
                // backup nobody can read, naming the file; whatever is there must not restore.
                let cause = self.damaged[&self.key(ENCRYPTION_INFO_NAME)];
                let names = if manifest.is_some() { vec![ENCRYPTION_INFO_NAME.to_string()] } else { Vec::new() };
                self.probe.refused(1, &names, None, cause).await?;
                Ok(format!("backup of {kind:?} failed as it must after storage damaged its {ENCRYPTION_INFO_NAME} ({cause}): {e}"))
            }
            None if is_damage(e) && names_file(e, ENCRYPTION_INFO_NAME) && self.ever_damaged.contains_key(&self.key(ENCRYPTION_INFO_NAME)) => {
                // Storage damaged the ENCRYPTION-INFO another plan (a rival's) was writing, this
                // job's plan read it then and refused it, and the other plan wrote it again intact
                // afterwards: the refusal was right when it was made, and no backup stands here.
                let cause = self.ever_damaged[&self.key(ENCRYPTION_INFO_NAME)];
                self.probe.refused(1, &[], None, cause).await?;
                Ok(format!("backup of {kind:?} refused as it must: storage had damaged {ENCRYPTION_INFO_NAME} ({cause}) when its plan read it: {e}"))
            }
            manifest if e.contains("cannot prove that the BACKUP is its own") && self.damaged.contains_key(&self.key(backup::lock::MANIFEST_CLAIM)) => {
                // Storage damaged the job's claim on its manifest path, and a run that adopted the
                // job found a manifest there it could not prove its own (its own, torn by a run that
                // died writing it): it must refuse rather than replace what might be another
                // backup's, and what is there must not restore.
                if manifest.is_some() {
                    self.probe.refused(1, &[MANIFEST_NAME.to_string()], None, "a damaged claim").await?;
                }
                Ok(format!(
                    "backup of {kind:?} refused as it must after storage damaged its claim ({}): {e}",
                    self.damaged[&self.key(backup::lock::MANIFEST_CLAIM)]
                ))
            }
            _ => Err(Failure { property: Property::BackupJobSucceeds, message: format!("the backup job failed: {e}") }),
        }
    }

    /// A finished manifest (a CANCEL that came too late finds one too): either it and every file
    /// it lists are intact and restore to the oracle, or storage damaged one of them and RESTORE
    /// (and SHOW BACKUP, for the manifest) must refuse naming it. Sets the report's detail, and
    /// the relations matched.
    async fn finished(&self, bytes: &[u8], oracle: &Arc<Mutex<Oracle>>, rng: &mut ChaCha8Rng, report: &mut RunReport) -> Result<(), Failure> {
        let kind = self.probe.kind;
        if let Some(cause) = self.damaged.get(&self.key(MANIFEST_NAME)) {
            self.probe.manifest_refused(&self.show_sql, cause).await?;
            report.detail = format!("{kind:?} backup's manifest damaged by a {cause}; RESTORE and SHOW BACKUP refused it");
            return Ok(());
        }
        if self.passphrase.is_some() {
            if let Some(cause) = self.damaged.get(&self.key(ENCRYPTION_INFO_NAME)) {
                // Without ENCRYPTION-INFO intact no key can be derived: both statements must say so.
                let e = self.probe.refused(1, &[ENCRYPTION_INFO_NAME.to_string()], Some(&self.show_sql), cause).await?;
                sim::trace_event!(self.probe.trace, "runner", sim::event::DAMAGE_DETECTED, "{ENCRYPTION_INFO_NAME} ({cause}): {e}");
                report.detail = format!("{kind:?} backup's {ENCRYPTION_INFO_NAME} damaged by a {cause}; RESTORE and SHOW BACKUP refused it");
                return Ok(());
            }
        }
        let plain = crate::restore_check::backup_key(self.probe.storage, &self.key(ENCRYPTION_INFO_NAME), self.passphrase.as_deref())
            .and_then(|key| crate::restore_check::plaintext(key.as_ref(), MANIFEST_NAME, bytes))
            .map_err(|message| Failure { property: Property::BackupComplete, message })?;
        let manifest = Manifest::decode(MANIFEST_NAME, &plain)
            .map_err(|e| Failure { property: Property::BackupComplete, message: format!("the manifest does not decode: {e}") })?;
        if self.checkpoint_left {
            return Err(Failure { property: Property::BackupComplete, message: "BACKUP-CHECKPOINT is still present next to the finished manifest".into() });
        }
        crate::manifest_check::dump_shows_every_list(&format!("the {kind:?} backup"), &manifest)?;
        // A locality-aware backup's partition descriptors, each at its locality's URL: storage
        // may tear one as it may a data file, and RESTORE must then refuse naming it.
        let descriptors: Vec<(String, String)> =
            manifest.partitions.iter().enumerate().map(|(i, l)| (backup::locality::partition_file_name(i + 1, l), l.clone())).collect();
        let key_of = |path: &str| {
            if let Some(f) = manifest.files.iter().find(|f| f.path == path) {
                return self.file_key(&f.path, f.locality.as_deref());
            }
            match descriptors.iter().find(|(name, _)| name == path) {
                Some((name, locality)) => self.file_key(name, Some(locality)),
                None => self.key(path),
            }
        };
        let listed = manifest.files.iter().map(|f| &f.path).chain(descriptors.iter().map(|(name, _)| name));
        let hurt: Vec<(String, &str)> = listed.filter_map(|path| self.damaged.get(&key_of(path)).map(|c| (path.clone(), *c))).collect();
        for f in &manifest.files {
            if self.probe.storage.get(&key_of(&f.path)).is_none() && !self.damaged.contains_key(&key_of(&f.path)) {
                return Err(Failure { property: Property::BackupComplete, message: format!("the manifest lists {} but storage has no such file", f.path) });
            }
        }
        if !hurt.is_empty() {
            let names: Vec<String> = hurt.iter().map(|(p, _)| p.clone()).collect();
            let e = self.probe.refused(1, &names, None, hurt[0].1).await?;
            sim::trace_event!(self.probe.trace, "runner", sim::event::DAMAGE_DETECTED, "{hurt:?}: {e}");
            report.detail = format!("{kind:?} backup with {} damaged file(s) ({}): RESTORE refused it", hurt.len(), hurt[0].1);
        } else {
            let (rows, relations) =
                verify_restore(&self.probe, &self.url, self.gateway, &key_of, &manifest, &self.show_sql, self.without_passphrase.as_deref(), oracle, rng)
                    .await?;
            report.reads_matched = relations;
            report.detail = format!(
                "{kind:?} backup at {} ({} files) restored: {rows} rows in {relations} relations match the oracle",
                manifest.end_time,
                manifest.files.len()
            );
        }
        Ok(())
    }
}

/// The locations a refusal for a location in use says are safe to delete ("it is safe to delete
/// A, B and C" or "... A and the directory B"; "its data/ files" is the location's `data/`),
/// or `None` if it says nothing is.
fn files_to_delete(refusal: &str) -> Option<Vec<String>> {
    let location = refusal.strip_prefix("job ").and_then(|r| r.split_once(" failed: ")).map_or(refusal, |(_, r)| r).split(" already contains a ").next()?;
    let list = refusal.split("it is safe to delete ").nth(1)?.split(';').next()?;
    let mut out = Vec::new();
    for part in list.split(", ").flat_map(|p| p.split(" and ")) {
        let part = part.trim().trim_start_matches("the directory ");
        if part == "its data/ files" {
            out.push(backup::storage::join_path(location, "data/"));
        } else if !part.is_empty() {
            out.push(part.to_string());
        }
    }
    (!out.is_empty()).then_some(out)
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

/// Lists the backup with SHOW BACKUP and restores it into a fresh cluster: the listing, the row
/// count RESTORE reports and every restored relation are compared with the oracle at the
/// manifest's end time. Then flips one bit of one of its files (the seed picks which) and checks
/// that a RESTORE into a third cluster refuses naming it (and SHOW BACKUP, for the manifest).
/// Returns (rows, relations) matched.
#[allow(clippy::too_many_arguments)]
async fn verify_restore(
    probe: &RestoreProbe<'_>,
    url: &StorageUrl,
    gateway: model::NodeId,
    key_of: &dyn Fn(&str) -> String,
    manifest: &Manifest,
    show_sql: &str,
    without_passphrase: Option<&str>,
    oracle: &Arc<Mutex<Oracle>>,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize), Failure> {
    let backup_time = manifest.end_time;
    let Attempt { restored, shown, observations, cluster, .. } = probe.attempt_under_faults(1, Some(show_sql)).await?;
    let shown = shown
        .unwrap_or_else(|| Err("SHOW BACKUP was not run".into()))
        .map_err(|e| Failure { property: Property::ShowMatchesOracle, message: format!("SHOW BACKUP of a finished backup failed: {e}") })?;
    let restored = restored.map_err(|e| Failure {
        property: Property::RestoreSucceeds,
        message: format!("{}: {e}", backup::statement::parse(probe.restore_sql).map(|s| s.redacted()).unwrap_or_else(|_| "RESTORE".into())),
    })?;
    let (rows, _) = {
        let oracle = oracle.lock().expect("oracle");
        let want = show_check::Expected { tables: probe.tables, oracle: &oracle, end: backup_time, whole_databases: probe.kind != Kind::Tables };
        show_check::show_and_restore_match(&shown, &restored, &want)?;
        let matched = compare_with_oracle(&observations, &oracle, backup_time, "the backup taken at")?;
        compare_cluster_state(&cluster, &oracle, backup_time, "the backup taken at")?;
        matched
    };

    // An encrypted backup opens only with its passphrase: RESTORE without one, or with another,
    // is refused at planning, publishing nothing.
    if let Some(plain) = without_passphrase {
        let wrong = format!("{plain} WITH encryption_passphrase = 'not-the-passphrase'");
        for (network, sql, why) in [(3, plain, "RESTORE without the passphrase"), (4, wrong.as_str(), "RESTORE with a wrong passphrase")] {
            RestoreProbe { restore_sql: sql, ..*probe }.refused(network, &[], None, why).await.map_err(|f| Failure { property: Property::Refusals, ..f })?;
        }
    }

    // Bit rot after the fact: one flipped bit in one file of the backup. (Not in the standard
    // scenario, whose unit of work is one backup and one restore: the backup scenario checks it.)
    // Or, one seed in four, a data file copied over the manifest (drawn from its own stream, so
    // the bit flip's draws stay where they were).
    let mut misplaced_rng = sim::SeedTree::new(probe.opts.seed).stream("backup/misplaced");
    let misplaced = !manifest.files.is_empty() && misplaced_rng.gen_ratio(1, 4);
    if probe.opts.workload.preload_rows == 0 && (!manifest.files.is_empty() || rng.gen_ratio(1, 4)) {
        let mut paths: Vec<String> = manifest.files.iter().map(|f| f.path.clone()).collect();
        paths.push(MANIFEST_NAME.to_string());
        // A locality-aware backup's partition descriptors (none for any other backup).
        paths.extend(manifest.partitions.iter().enumerate().map(|(i, l)| backup::locality::partition_file_name(i + 1, l)));
        if without_passphrase.is_some() {
            paths.push(ENCRYPTION_INFO_NAME.to_string());
        }
        let victim = paths[rng.gen_range(0..paths.len())].clone();
        let bit = rng.gen::<u64>();
        // The same backup listed rather than restored, for a damaged manifest or ENCRYPTION-INFO.
        let show_sql = probe.restore_sql.replacen(&format!("RESTORE {}FROM", probe.kind.targets(probe.guest)), "SHOW BACKUP", 1);
        if misplaced {
            // A slip of an operator's copy, or a store that serves the wrong object: the refusal
            // must say what the file it found is, and what it should have been.
            let source = &manifest.files[misplaced_rng.gen_range(0..manifest.files.len())].path;
            let bytes = probe.storage.get(&key_of(source)).unwrap_or_default();
            probe.storage.corrupt(&SimStorage::key(url, gateway, MANIFEST_NAME), |b| *b = bytes);
            let names = [MANIFEST_NAME.to_string()];
            let error = probe
                .refused(2, &names, Some(&show_sql), "data file copied over")
                .await
                .map_err(|f| Failure { property: Property::CorruptionDetected, ..f })?;
            if !(error.contains("data file") && error.contains("manifest")) {
                return Err(Failure {
                    property: Property::CorruptionDetected,
                    message: format!(
                        "a data file copied over {MANIFEST_NAME} was refused without saying it found a data file where a manifest belongs: {error}"
                    ),
                });
            }
            sim::trace_event!(probe.trace, "runner", sim::event::BIT_ROT_DETECTED, "{MANIFEST_NAME} {}", crate::probes::MISPLACED);
            return Ok((rows, observations.len()));
        }
        let flip = crate::restore_check::flip_bit(probe.storage, &key_of(&victim), bit);
        let show = (victim == MANIFEST_NAME || victim == ENCRYPTION_INFO_NAME).then_some(show_sql);
        let error = probe
            .refused(2, std::slice::from_ref(&victim), show.as_deref(), "flipped bit")
            .await
            .map_err(|f| Failure { property: Property::CorruptionDetected, ..f })?;
        if let Some(wrong) = flip.and_then(|f| crate::restore_check::damage_misplaced(&error, f)) {
            return Err(Failure { property: Property::CorruptionDetected, message: format!("{victim}: {wrong}") });
        }
        sim::trace_event!(probe.trace, "runner", sim::event::BIT_ROT_DETECTED, "{victim}");
    }
    Ok((rows, observations.len()))
}
