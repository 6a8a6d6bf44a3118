//! The schedule scenario: weeks of simulated time under a backup schedule (`CREATE SCHEDULE …
//! FOR BACKUP … INTO 'coll' RECURRING … FULL BACKUP …`), with a GC TTL on the backed-up tables
//! shorter than the gap between two backups, the workload's writes and schema changes spread
//! over the weeks, and the seed's swarm faults while the backups run. Then:
//!
//! - **GC kept what the chains need** (checked from outside the scheduler): no backup the
//!   schedule started was refused for a GC threshold (every incremental starts where its chain's
//!   previous backup ended, however long ago), every chain in the collection is contiguous, and
//!   restores of random chains to random backups' end times (or, with revision history, to a time
//!   inside one) equal the oracle;
//! - **protection stays bounded**: the protected timestamp records the cluster's system table
//!   holds at the end are one per schedule pair, at the end time of the newest backup of the
//!   collection's newest chain (every superseded backup's record released), none left by a job;
//!   and `DROP SCHEDULE` releases them all.
//!
//! Weeks are cheap: the nodes' clocks are madsim's, which the scenario advances over the idle
//! stretches between backups (`madsim::time::advance`: every sleeping loop wakes once, late), and
//! runs at the simulator's pace only while something happens (a backup runs, a writer writes).
//! The faults are timed in that active time, so they land while backups run.

use crate::backup_scenario::{draw_passphrase, run_secrets, with_passphrase};
use crate::credentials::{destination, DestinationUrl};
use crate::job_client::Kind;
use crate::knobs::{settle_schedule, RunKnobs};
use crate::oracle::{Event, Oracle};
use crate::property::Property;
use crate::restore_check::{compare_cluster_state, compare_with_oracle, RestoreProbe};
use crate::run::{drive, join_writers, setup, simulate_within, spawn_writers, start_world_with, Failure, FaultDriver, RunOptions, RunReport};
use crate::workload::{GuestNames, WorkloadConfig, VIEW_BIG_ACCOUNTS};
use backup::format::manifest::{Manifest, ENCRYPTION_INFO_NAME, MANIFEST_NAME};
use backup::schedule::cron::Recurrence;
use backup::storage::url::StorageUrl;
use model::protected_ts::{Holder, ProtectedRecord};
use model::{Kv, Timestamp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sim::faults::{self, FaultKind, JobTarget};
use sim::storage::SimStorage;
use sim::{SeedTree, Trace};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The scenario's name.
pub const SCHEDULE: &str = "schedule";

/// How often each node's scheduler ticks (CockroachDB's `jobs.scheduler.pace`).
const PACE: Duration = Duration::from_secs(60);

/// The active time (simulated time outside the jumps) over which the seed's faults are drawn.
const ACTIVE_SAFETY: Duration = Duration::from_secs(90);

/// How long after the schedule's weeks the writers may still be writing.
const WRITERS_LATE: Duration = Duration::from_secs(3 * 86_400);

/// How long one stretch of active time may last before the run is called stuck.
const STRETCH_LIMIT: Duration = Duration::from_secs(900);

/// How far past a due time the scenario jumps: past every node's clock offset, so that the
/// first tick after the jump finds the run due on whichever node it runs.
const PAST_DUE: Duration = Duration::from_secs(2);

/// Runs the schedule scenario for one seed in a fresh simulator.
pub fn run_schedule(opts: &RunOptions) -> RunReport {
    let plan = choose_plan(opts);
    // The simulated weeks plus room for the liveness phase and the restores.
    let limit = plan.span + WRITERS_LATE + Duration::from_secs(86_400);
    simulate_within(opts, SCHEDULE, limit, move |o, t| body(o, t, plan))
}

/// The schedule scenario in the registry.
pub struct ScheduleScenario;

impl crate::run::Scenario for ScheduleScenario {
    fn name(&self) -> &'static str {
        SCHEDULE
    }
    fn description(&self) -> String {
        "weeks of a backup schedule (incrementals and fulls into a collection) under a GC TTL shorter than the gap between backups, the workload and faults; no backup may meet a GC threshold, restores of random chains to random times must equal the oracle, protected timestamp records must stay one per schedule and be released when superseded or dropped".into()
    }
    fn in_default_sweep(&self) -> bool {
        // Seeds 0..1000 pass with swarm faults (issue #17's bar), about three seeds a second.
        true
    }
    fn run(&self, opts: &RunOptions) -> RunReport {
        run_schedule(opts)
    }
    fn seed_schedule(&self, opts: &RunOptions) -> faults::Schedule {
        knobs(opts, &choose_plan(opts)).schedule
    }
}

/// The options the scenario runs with: `opts` with the faults drawn over [`ACTIVE_SAFETY`].
fn scenario_opts(opts: &RunOptions, plan: &Plan) -> RunOptions {
    // Writers that think for hours write once after each jump (to a due run), about an
    // operation per writer per run over the weeks, writer 0's schema changes among them.
    let gap = match plan.cadence.incremental {
        "@daily" => 86_400,
        _ => 6 * 3_600,
    };
    let ops = (plan.span.as_secs() / gap).max(8) as usize;
    let workload = WorkloadConfig { ops_per_writer: ops, think_ms: (1_800_000, 4 * 3_600_000), scratch_database: true, ..opts.workload.clone() };
    RunOptions { safety: ACTIVE_SAFETY, workload, ..opts.clone() }
}

/// The fault kinds the schedule scenario offers: every cluster kind, a coordinator killed
/// mid-export (whichever scheduled backup exports then), the kinds aimed at its first restore.
fn menu() -> Vec<FaultKind> {
    let mut menu: Vec<FaultKind> = FaultKind::CLUSTER.to_vec();
    menu.push(FaultKind::CoordinatorKill);
    menu.extend(FaultKind::RESTORE);
    menu.extend([FaultKind::Rebalance, FaultKind::LastingMinority]);
    menu
}

/// A schedule's cadences, as the seed draws them.
#[derive(Clone, Copy, Debug)]
struct Cadence {
    incremental: &'static str,
    /// `None`: no FULL BACKUP clause (CockroachDB picks one from the incrementals' cadence).
    full: Option<&'static str>,
    /// How many days the run lasts (a range drawn in).
    days: (u64, u64),
}

const CADENCES: [Cadence; 3] = [
    Cadence { incremental: "@daily", full: Some("@weekly"), days: (8, 16) },
    Cadence { incremental: "0 */6 * * *", full: Some("@daily"), days: (2, 4) },
    Cadence { incremental: "@daily", full: None, days: (8, 12) },
];

/// What the seed chose for the run.
#[derive(Clone, Debug)]
struct Plan {
    kind: Kind,
    access: DestinationUrl,
    cadence: Cadence,
    /// How long the schedule runs (simulated).
    span: Duration,
    /// The GC TTL of the backed-up tables, shorter than the gap between two backups.
    ttl_seconds: u64,
    revision_history: bool,
    on_previous_running: &'static str,
    on_execution_failure: &'static str,
    /// One run in this many is stalled: time jumps to the next run's due time while its backup
    /// is still running (a backup longer than the gap, CockroachDB's motivating case).
    stall_one_in: u32,
    /// One run in this many has its backup canceled while it runs (CANCEL JOB, as an operator
    /// would): the schedule's on_execution_failure then applies.
    cancel_one_in: u32,
    passphrase: Option<String>,
    gateway: model::NodeId,
    guest: GuestNames,
}

fn choose_plan(opts: &RunOptions) -> Plan {
    let tree = SeedTree::new(opts.seed);
    let mut rng = tree.stream("schedule/plan");
    let kind = [Kind::Cluster, Kind::Database, Kind::Database, Kind::Tables][rng.gen_range(0..4)];
    let access = destination(&mut rng, &tree, opts.seed);
    let cadence = CADENCES[rng.gen_range(0..CADENCES.len())];
    let span = Duration::from_secs(86_400 * rng.gen_range(cadence.days.0..=cadence.days.1));
    let ttl_seconds = rng.gen_range(600..=4 * 3_600);
    let revision_history = rng.gen();
    let on_previous_running = ["wait", "skip"][rng.gen_range(0..2)];
    let on_execution_failure = ["reschedule", "retry"][rng.gen_range(0..2)];
    let stall_one_in = [0, 4, 8][rng.gen_range(0..3)];
    let gateway = rng.gen_range(1..=opts.world_config(0).nodes as u32);
    let passphrase = draw_passphrase(&tree, SCHEDULE, opts);
    // Its own stream: the plan's other draws stay what they were before it existed.
    let cancel_one_in = [0, 6, 12][tree.stream("schedule/cancel").gen_range(0..3)];
    Plan {
        kind,
        access,
        cadence,
        span,
        ttl_seconds,
        revision_history,
        on_previous_running,
        on_execution_failure,
        stall_one_in,
        cancel_one_in,
        passphrase,
        gateway,
        guest: GuestNames::draw(opts.seed),
    }
}

/// The run's knobs: the swarm and fault schedule over the active time, and the plan's.
fn knobs(opts: &RunOptions, plan: &Plan) -> RunKnobs {
    let sopts = scenario_opts(opts, plan);
    let cfg = sopts.world_config(0);
    // A coordinator kill is armed while backups run: any time of the active time.
    let job = JobTarget {
        start: Duration::from_secs(5),
        gateway: plan.gateway,
        nodes: cfg.nodes,
        kill_phases: &[faults::JobPhase::Exporting],
        kill_window: (Duration::from_secs(5), ACTIVE_SAFETY),
        rival_window: (Duration::ZERO, Duration::ZERO),
        kill_cleaning_up_after_cancel: false,
    };
    let mut k = RunKnobs::draw(&sopts, &menu(), Some(&job));
    k.knob("schedule.targets", format!("{:?}", plan.kind));
    k.knob("schedule.destination", plan.access.url.split(':').next().unwrap_or("?"));
    k.knob("schedule.recurring", plan.cadence.incremental);
    k.knob("schedule.full_backup", plan.cadence.full.unwrap_or("(picked)"));
    k.knob("schedule.span", format!("{}d", plan.span.as_secs() / 86_400));
    k.knob("schedule.gc_ttl", format!("{}s", plan.ttl_seconds));
    k.knob("schedule.revision_history", plan.revision_history);
    k.knob("schedule.on_previous_running", plan.on_previous_running);
    k.knob("schedule.on_execution_failure", plan.on_execution_failure);
    k.knob("schedule.stall_one_in", plan.stall_one_in);
    k.knob("schedule.cancel_one_in", plan.cancel_one_in);
    k.knob("schedule.gateway", format!("n{}", plan.gateway));
    k.knob("schedule.encrypted", plan.passphrase.is_some());
    k
}

impl Plan {
    fn backup_with(&self) -> String {
        let mut options: Vec<String> = Vec::new();
        if self.revision_history {
            options.push("revision_history".into());
        }
        if let Some(p) = &self.passphrase {
            options.push(format!("encryption_passphrase = '{p}'"));
        }
        if options.is_empty() {
            String::new()
        } else {
            format!("WITH {} ", options.join(", "))
        }
    }

    /// The CREATE SCHEDULE statement, its first full backup at `first_run`.
    fn create_sql(&self, first_run: Timestamp) -> String {
        let full = self.cadence.full.map(|f| format!("FULL BACKUP '{f}' ")).unwrap_or_default();
        format!(
            "CREATE SCHEDULE 'sim' FOR BACKUP {}INTO '{}' {}RECURRING '{}' {full}WITH SCHEDULE OPTIONS first_run = '{first_run}', on_previous_running = '{}', on_execution_failure = '{}'",
            self.kind.targets(&self.guest),
            self.access.url,
            self.backup_with(),
            self.cadence.incremental,
            self.on_previous_running,
            self.on_execution_failure
        )
    }

    /// The schedule's next due time after `t`: its first run, or the cadences' next (the full's
    /// picked cadence is weekly under daily incrementals).
    fn next_due(&self, t: Timestamp, first_run: Timestamp) -> Option<Timestamp> {
        let full = self.cadence.full.unwrap_or("@weekly");
        let cron = [self.cadence.incremental, full].iter().filter_map(|c| Recurrence::parse(c).ok()?.next_after(t)).min();
        if first_run > t {
            return Some(cron.map_or(first_run, |c| c.min(first_run)));
        }
        cron
    }

    /// The tables whose GC TTL the run shortens: the targets' tables.
    fn ttl_tables(&self) -> Vec<(String, String)> {
        vec![
            ("bank.customers".into(), "bank.customers".into()),
            ("bank.accounts".into(), "bank.accounts".into()),
            (self.guest.oracle_table(), self.guest.sql_table()),
        ]
    }

    /// The relations a restore of the schedule's backups brings back.
    fn restored_tables(&self, oracle: &Oracle) -> Vec<String> {
        let mut t: Vec<String> = match self.kind {
            Kind::Cluster => oracle.tables().into_iter().filter(|t| t != VIEW_BIG_ACCOUNTS).collect(),
            Kind::Database | Kind::Tables => vec!["bank.customers".into(), "bank.accounts".into(), self.guest.oracle_table()],
        };
        t.push(VIEW_BIG_ACCOUNTS.into());
        t
    }
}

/// Simulated time as the cluster's clocks count it, without their offsets.
fn true_now(trace: &Trace) -> Timestamp {
    Timestamp::from_nanos(sim::clock::BASE_WALL_NANOS + trace.elapsed().as_nanos() as u64)
}

/// The run's simulated time split into jumps and active time.
struct Clock {
    start: madsim::time::Instant,
    jumped: Duration,
}

impl Clock {
    /// Active time so far: what the faults are timed in.
    fn active(&self) -> Duration {
        self.start.elapsed().saturating_sub(self.jumped)
    }
}

/// One seed's run.
struct Run {
    opts: RunOptions,
    plan: Plan,
    world: sim::World,
    trace: Trace,
    oracle: Arc<Mutex<Oracle>>,
    report: RunReport,
    clock: Clock,
    secrets: Vec<String>,
    restore_faults: faults::Schedule,
    lasting: Option<faults::Lasting>,
    /// The statuses of unprotected refusals already traced.
    unprotected_seen: std::collections::BTreeSet<String>,
    monitor: sim::world::ClientMachine,
}

async fn body(opts: RunOptions, trace_slot: Arc<Mutex<Option<Trace>>>, plan: Plan) -> RunReport {
    let opts = scenario_opts(&opts, &plan);
    let seed = opts.seed;
    let cfg = sim::WorldConfig { scheduler: Some(PACE), ..opts.world_config(0) };
    let (mut world, trace, mut rng) = start_world_with(&opts, cfg, "schedule/verify", &trace_slot);
    let knobs = knobs(&opts, &plan);
    let fault_plan = settle_schedule(&world, &opts, &knobs);
    plan.access.register(&world.storage);
    let mut report = RunReport::new(SCHEDULE, seed);
    report.faults = fault_plan.len();
    report.swarm = knobs.swarm.to_string();
    let oracle: Arc<Mutex<Oracle>> = Arc::default();
    let start = madsim::time::Instant::now();
    if let Err(f) = setup(&mut world, &oracle, seed).await {
        report.failure = Some(f);
        return report;
    }
    let monitor = world.add_client("monitor");
    let secrets = run_secrets(&plan.access, &plan.passphrase);
    let mut run = Run {
        opts,
        plan,
        world,
        trace,
        oracle,
        report,
        clock: Clock { start, jumped: Duration::ZERO },
        secrets,
        restore_faults: knobs.restore.clone(),
        lasting: knobs.lasting,
        unprotected_seen: Default::default(),
        monitor,
    };
    match run.steps(&fault_plan, &mut rng).await {
        Ok(()) => run.finish(),
        Err(f) => run.fail(f),
    }
}

impl Run {
    fn fail(mut self, f: Failure) -> RunReport {
        self.report.failure = Some(f);
        crate::secrets::check(&mut self.report, &self.trace, &self.secrets);
        self.report
    }

    fn finish(mut self) -> RunReport {
        self.report.sim_seconds = self.clock.start.elapsed().as_secs_f64();
        crate::secrets::check(&mut self.report, &self.trace, &self.secrets);
        self.report
    }

    async fn steps(&mut self, fault_plan: &faults::Schedule, rng: &mut ChaCha8Rng) -> Result<(), Failure> {
        self.shorten_ttls().await?;
        // The first full backup a little later, when the scenario jumps to it: a first run of
        // 'now' would wait for the next tick of the scheduler, up to a pace later, and read as of
        // its due time, which a TTL shorter than the pace (shop.orders' 20 s) may have passed.
        let first_run = Timestamp::from_nanos(true_now(&self.trace).wall / 1_000_000_000 * 1_000_000_000).add(Duration::from_secs(120));
        let ids = self.create_schedule(first_run).await?;
        let writers = spawn_writers(&mut self.world, &self.opts.workload.clone(), self.opts.seed, &self.oracle, None);
        let mut driver = FaultDriver::new(fault_plan, self.opts.safety).lasting(self.lasting);
        let end = true_now(&self.trace).add(self.plan.span);
        let mut steps = SeedTree::new(self.opts.seed).stream("schedule/steps");
        let mut cancels = SeedTree::new(self.opts.seed).stream("schedule/cancel-steps");
        loop {
            let now = true_now(&self.trace);
            // The weeks are over once the writers have written all they were to (they write
            // after each jump, so the schedule runs on until they have).
            if now >= end && writers.iter().all(|w| w.is_finished()) {
                break;
            }
            if now >= end.add(WRITERS_LATE) {
                return Err(Failure {
                    property: Property::Liveness,
                    message: format!("the writers had not finished {WRITERS_LATE:?} after the schedule's weeks"),
                });
            }
            // From one due run to the next: nothing happens in between but GC, which the jump
            // runs once, late (the writers' next operations come with the run). The next run is
            // the cluster's (a retry or a wait comes a minute after a failure or a running
            // backup), else the cadences'.
            let next_run = self.query(|kv| async move { next_run(&kv).await }).await?;
            let cron = self.plan.next_due(now, first_run);
            let Some(due) = [next_run, cron].into_iter().flatten().min().map(|t| t.add(PAST_DUE)) else { break };
            let to = if now < end { due.min(end) } else { due };
            self.jump(to.wall.saturating_sub(now.wall));
            let stall = to == due && self.plan.stall_one_in > 0 && steps.gen_ratio(1, self.plan.stall_one_in);
            let cancel = self.plan.cancel_one_in > 0 && cancels.gen_ratio(1, self.plan.cancel_one_in);
            self.stretch(&mut driver, stall, cancel).await?;
            // A run refused at planning for a GC threshold: the planner's words, in the status
            // the scheduler gave the schedule (a retry policy would meet it every minute).
            match self.query(|kv| async move { gc_refusal(&kv).await }).await? {
                Some(Refusal::Chain(e)) => {
                    return Err(Failure { property: Property::GcKeptWhatChainsNeed, message: format!("a scheduled run was refused for a GC threshold: {e}") })
                }
                Some(Refusal::Unprotected { schedule, status }) => self.unprotected_refusal(schedule, status),
                None => {}
            }
        }
        // The liveness phase: faults stop; whatever runs must end, and the scheduler must handle
        // every end (a tick a pace apart).
        driver.finish(&mut self.world);
        for _ in 0..20 {
            self.stretch(&mut driver, false, false).await?;
            if self.query(|kv| async move { all_handled(&kv).await }).await? {
                break;
            }
            self.jump(PACE.as_nanos() as u64);
        }
        let mut report = std::mem::replace(&mut self.report, RunReport::new(SCHEDULE, self.opts.seed));
        let joined = join_writers(writers, &mut report).await;
        self.report = report;
        joined?;
        self.verdict(&ids, rng).await
    }

    /// Advances simulated time by `nanos` at once: every sleeping task wakes, late.
    fn jump(&mut self, nanos: u64) {
        if nanos == 0 {
            return;
        }
        let d = Duration::from_nanos(nanos);
        madsim::time::advance(d);
        self.clock.jumped += d;
        sim::trace_event!(self.trace, "runner", sim::event::TIME_JUMP, "{}s", d.as_secs());
    }

    /// Runs at the simulator's pace, injecting the faults due in active time, until the
    /// schedule's backups have all ended (at least a couple of seconds: the writers' turn).
    /// With `stall`, once a backup runs, time jumps to the next due run while it does; with
    /// `cancel`, the first backup seen running is canceled.
    async fn stretch(&mut self, driver: &mut FaultDriver<'_>, mut stall: bool, mut cancel: bool) -> Result<(), Failure> {
        let began = self.clock.active();
        let mut polled = began;
        let mut canceling = None;
        loop {
            madsim::time::sleep(Duration::from_millis(50)).await;
            if let Some((job, task)) = canceling.take_if(|(_, t): &mut (i64, madsim::task::JoinHandle<_>)| t.is_finished()) {
                // Refused when the job ended meanwhile: either way the run goes on, and the
                // trace says which.
                let outcome = match task.await.expect("client task") {
                    Ok(_) => "requested".to_string(),
                    Err(e) => format!("not done: {e}"),
                };
                sim::trace_event!(self.trace, "runner", sim::event::SCHEDULE_CANCEL, "job {job}: {outcome}");
            }
            let active = self.clock.active();
            driver.step(&mut self.world, active, |_| {});
            self.world.tick();
            let elapsed = active - began;
            if elapsed < Duration::from_secs(1) || active - polled < Duration::from_secs(1) {
                continue;
            }
            polled = active;
            let task = self.monitor.spawn(|kv| async move { busy(&kv).await });
            match drive(&mut self.world, task).await {
                // A stretch ends once nothing runs, the operator's CANCEL included: a time jump
                // over a statement still running on its gateway would time out every call it
                // waits on at once (seed 166).
                Some(Busy { due: false, running: None }) if canceling.is_none() => return Ok(()),
                Some(Busy { running: Some(job), .. }) if cancel => {
                    cancel = false;
                    let gateway = self.plan.gateway;
                    let sql = format!("CANCEL JOB {job}");
                    // Run beside the fault driver, which must go on stepping (healing what it
                    // broke) while the statement waits on the cluster.
                    canceling = Some((job, self.monitor.spawn(move |kv| async move { kv.bulk(gateway, &sql, "root", "defaultdb", STATEMENT_WAIT).await })));
                }
                // Only a backup that runs is stalled: jumping past a run the scheduler has not
                // started yet (a partition held it up) made it start hours late, as of its due
                // time, which GC had passed — a schedule left unfired for longer than the TTL,
                // not the overlap the stall is for (seed 370).
                Some(Busy { running: Some(_), .. }) if stall && canceling.is_none() => {
                    stall = false;
                    let now = true_now(&self.trace);
                    if let Some(next) = self.plan.next_due(now, Timestamp::ZERO) {
                        sim::trace_event!(self.trace, "runner", sim::event::SCHEDULE_STALL, "a backup still runs at the next due time {next}");
                        self.jump(next.add(PAST_DUE).wall.saturating_sub(now.wall));
                    }
                }
                _ => {}
            }
            if elapsed > STRETCH_LIMIT {
                return Err(Failure {
                    property: Property::Liveness,
                    message: format!("the schedule's backups did not end within {STRETCH_LIMIT:?} of simulated time"),
                });
            }
        }
    }

    /// Runs `f` on the monitor client until it gives an answer (the cluster may be down for a
    /// while), at most a few minutes.
    async fn query<T, F, Fut>(&mut self, f: F) -> Result<T, Failure>
    where
        T: Send + 'static,
        F: Fn(sim::SimKv) -> Fut + Send + Sync + Clone + 'static,
        Fut: std::future::Future<Output = Result<T, String>> + Send + 'static,
    {
        let mut last = String::new();
        for _ in 0..60 {
            let g = f.clone();
            let task = self.monitor.spawn(move |kv| async move { g(kv).await });
            match drive(&mut self.world, task).await {
                Ok(t) => return Ok(t),
                Err(e) => last = e,
            }
            madsim::time::sleep(Duration::from_secs(1)).await;
            self.world.tick();
        }
        Err(Failure { property: Property::Liveness, message: format!("the cluster did not answer the scenario's reads: {last}") })
    }

    /// A first full backup refused for a GC threshold no record could hold back (see
    /// [`Refusal::Unprotected`]): traced once per status. The plan draws only `reschedule` and
    /// `retry`, so the schedule runs again by itself.
    fn unprotected_refusal(&mut self, schedule: i64, status: String) {
        if self.unprotected_seen.insert(status.clone()) {
            sim::trace_event!(self.trace, "runner", sim::event::SCHEDULE_UNPROTECTED_REFUSAL, "schedule {schedule}: {status}");
        }
    }

    /// Gives the backed-up tables a GC TTL shorter than the gap between two backups, recorded in
    /// the oracle as the workload records its own zone change where a restore brings it back.
    async fn shorten_ttls(&mut self) -> Result<(), Failure> {
        let ttl = self.plan.ttl_seconds;
        for (oracle_name, sql_name) in self.plan.ttl_tables() {
            let sql = format!("ALTER TABLE {sql_name} CONFIGURE ZONE USING gc.ttlseconds = {ttl}");
            let ts = self
                .query(move |kv| {
                    let sql = sql.clone();
                    async move {
                        let mut s = model::sql::Session::root(Arc::new(kv));
                        match s.execute(&sql).await {
                            Ok(r) => r.commit_ts.ok_or_else(|| format!("{sql}: no commit time")),
                            Err(e) => Err(format!("{sql}: {e}")),
                        }
                    }
                })
                .await?;
            // A table's zone lives in the cluster's zones, which only a cluster backup carries
            // (as CockroachDB's system.zones): a database or table restore has the default.
            if self.plan.kind == Kind::Cluster {
                self.oracle.lock().expect("oracle").record(&oracle_name, ts, Event::ZoneConfigured { gc_ttl_seconds: ttl });
            }
        }
        Ok(())
    }

    /// Creates the schedule; returns its ids (the full schedule's and the incremental's).
    async fn create_schedule(&mut self, first_run: Timestamp) -> Result<Vec<i64>, Failure> {
        let sql = self.plan.create_sql(first_run);
        let gateway = self.plan.gateway;
        let task = self.monitor.spawn(move |kv| async move { kv.bulk(gateway, &sql, "root", "defaultdb", Duration::from_secs(60)).await });
        let (columns, rows) = drive(&mut self.world, task)
            .await
            .map_err(|e| Failure { property: Property::BackupJobSucceeds, message: format!("CREATE SCHEDULE was refused: {e}") })?;
        let at = columns.iter().position(|c| c == "schedule_id").unwrap_or(0);
        let ids: Vec<i64> = rows
            .iter()
            .filter_map(|r| match r.get(at) {
                Some(model::Datum::Int(id)) => Some(*id),
                _ => None,
            })
            .collect();
        sim::trace_event!(self.trace, "runner", sim::event::SCHEDULE_CREATED, "{ids:?}");
        Ok(ids)
    }

    /// The verdict: every scheduled backup's end, the chains as storage holds them, the
    /// protected timestamp records, DROP SCHEDULE's release, and restores of random chains.
    async fn verdict(&mut self, ids: &[i64], rng: &mut ChaCha8Rng) -> Result<(), Failure> {
        let jobs = self.query(|kv| async move { backup::jobs::list(&kv).await.map_err(|e| e.to_string()) }).await?;
        let (mut fulls, mut incs, mut failed) = (0, 0, 0);
        for j in &jobs {
            let incremental = j.description.contains("INTO LATEST IN");
            match j.status {
                backup::jobs::JobStatus::Succeeded if incremental => incs += 1,
                backup::jobs::JobStatus::Succeeded => fulls += 1,
                _ => {
                    failed += 1;
                    let e = j.error.clone().unwrap_or_default();
                    // A first full whose record came too late (GC passed its time between its
                    // planning and its record's commit) protected nothing yet and was canceled
                    // before it could start a dead chain: no record existed that could have held
                    // GC back. Once any backup has succeeded, a chain record holds every
                    // threshold below the next run's time, and a record too late is a failure.
                    let first_full = !incremental
                        && e.contains("came too late")
                        && !jobs.iter().any(|o| o.status == backup::jobs::JobStatus::Succeeded && o.finished.is_some_and(|f| f <= j.created));
                    if first_full {
                        sim::trace_event!(self.trace, "runner", sim::event::SCHEDULE_UNPROTECTED_REFUSAL, "job {}: {e}", j.id);
                    } else if e.contains("GC threshold") || e.contains("new full backup is needed") {
                        return Err(Failure {
                            property: Property::GcKeptWhatChainsNeed,
                            message: format!("scheduled backup job {} met a GC threshold: {e}", j.id),
                        });
                    }
                    if !j.status.is_terminal() {
                        return Err(Failure {
                            property: Property::Liveness,
                            message: format!("scheduled backup job {} still {:?} at the end", j.id, j.status),
                        });
                    }
                }
            }
        }
        let chains = self.read_chains()?;
        let newest_end = chains.last().and_then(|c| c.layers.last()).map(|m| m.end_time);
        self.check_protection(ids, newest_end).await?;
        self.drop_and_check_released(ids).await?;
        self.gc_probe(&chains).await;
        let restored = self.restores(&chains, rng).await?;
        self.report.detail = format!(
            "{:?} schedule over {}d: {fulls} fulls, {incs} incrementals, {failed} failed; {} chains; {restored} restores match the oracle",
            self.plan.kind,
            self.plan.span.as_secs() / 86_400,
            chains.len()
        );
        Ok(())
    }

    /// The collection's chains as storage holds them, oldest first, each contiguous.
    fn read_chains(&self) -> Result<Vec<StoredChain>, Failure> {
        let url = StorageUrl::parse(&self.plan.access.url)
            .map_err(|e| Failure { property: Property::Workload, message: format!("scenario destination does not parse: {e}") })?;
        let storage = self.world.storage.clone();
        let prefix = SimStorage::key(&url, self.plan.gateway, "");
        let suffix = format!("/{MANIFEST_NAME}");
        let mut dirs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, _) in storage.list_all() {
            let Some(dir) = k.strip_prefix(&prefix).and_then(|r| r.strip_suffix(&suffix)) else { continue };
            if backup::collection::is_full_subdir(dir) {
                dirs.entry(dir.to_string()).or_default();
            }
        }
        for (k, _) in storage.list_all() {
            let Some(dir) = k.strip_prefix(&prefix).and_then(|r| r.strip_suffix(&suffix)) else { continue };
            let Some(rest) = dir.strip_prefix(&format!("{}/", backup::collection::INCREMENTALS_DIR)) else { continue };
            if let Some((_, incs)) = dirs.iter_mut().find(|(full, _)| rest.starts_with(&format!("{full}/"))) {
                incs.push(dir.to_string());
            }
        }
        let fail = |message: String| Failure { property: Property::BackupComplete, message };
        let mut chains = Vec::new();
        for (full, incs) in dirs {
            let key = |dir: &str, name: &str| SimStorage::key(&url, self.plan.gateway, &format!("{dir}/{name}"));
            let cipher = crate::restore_check::backup_key(&storage, &key(&full, ENCRYPTION_INFO_NAME), self.plan.passphrase.as_deref()).map_err(fail)?;
            let mut layers = Vec::new();
            for dir in std::iter::once(&full).chain(incs.iter()) {
                let bytes = storage.get(&key(dir, MANIFEST_NAME)).ok_or_else(|| fail(format!("no manifest in {dir}")))?;
                let bytes = crate::restore_check::plaintext(cipher.as_ref(), MANIFEST_NAME, &bytes).map_err(|e| fail(format!("{dir}: {e}")))?;
                let m = Manifest::decode(MANIFEST_NAME, &bytes).map_err(|e| fail(format!("the manifest in {dir} does not decode: {e}")))?;
                layers.push(m);
            }
            layers[1..].sort_by_key(|m| m.end_time);
            for w in layers.windows(2) {
                if w[1].start_time != w[0].end_time {
                    return Err(Failure {
                        property: Property::ChainContiguous,
                        message: format!(
                            "in the chain of {full}, an incremental starts at {} but the backup before it ends at {}",
                            w[1].start_time, w[0].end_time
                        ),
                    });
                }
            }
            sim::trace_event!(
                self.trace,
                "runner",
                sim::event::SCHEDULE_CHAIN,
                "{full}: {} backups, ({}, {}]",
                layers.len(),
                layers[0].start_time,
                layers[layers.len() - 1].end_time
            );
            chains.push(StoredChain { full, layers });
        }
        chains.sort_by_key(|c| c.layers[0].end_time);
        Ok(chains)
    }

    /// The protected timestamp records, read from the cluster's system table: one per schedule
    /// pair (held by one of its schedules), at the end time of the collection's newest backup;
    /// none held by a job (every job has ended and its end has been handled).
    async fn check_protection(&mut self, ids: &[i64], newest_end: Option<Timestamp>) -> Result<(), Failure> {
        let records = self.query(|kv| async move { read_records(&kv).await }).await?;
        sim::trace_event!(
            self.trace,
            "runner",
            sim::event::PROTECTED_RECORDS,
            "{} records: {:?}",
            records.len(),
            records.iter().map(|r| (r.holder, r.ts)).collect::<Vec<_>>()
        );
        let fail = |message: String| Failure { property: Property::ProtectionBounded, message };
        if let Some(r) = records.iter().find(|r| matches!(r.holder, Holder::Job(_))) {
            return Err(fail(format!("record {} of {} is still there after its job ended", r.id, r.holder)));
        }
        if let Some(r) = records.iter().find(|r| !matches!(r.holder, Holder::Schedule(s) if ids.contains(&s))) {
            return Err(fail(format!("record {} is held by {}, which is no schedule of the run", r.id, r.holder)));
        }
        if records.len() > 1 {
            return Err(fail(format!("{} records for one schedule: superseded backups' records were not released", records.len())));
        }
        match (records.first(), newest_end) {
            (Some(r), Some(end)) if r.ts != end => Err(fail(format!(
                "the schedule's record protects {} but the collection's newest backup ends at {end}: a superseded backup's time is still protected",
                r.ts
            ))),
            (Some(r), None) => Err(fail(format!("record {} protects {} but the collection holds no backup", r.id, r.ts))),
            _ => Ok(()),
        }
    }

    /// DROP SCHEDULE releases what the schedule protected: no record is left.
    async fn drop_and_check_released(&mut self, ids: &[i64]) -> Result<(), Failure> {
        // The gateway stays down, cut off or mute for good when it is the liveness phase's
        // lasting node: n1 then (never the lasting one), as a user would reconnect elsewhere.
        let gateway = match self.lasting {
            Some(l) if l.node() == self.plan.gateway => 1,
            _ => self.plan.gateway,
        };
        for &id in ids {
            self.query(
                move |kv| async move { kv.bulk(gateway, &format!("DROP SCHEDULE {id}"), "root", "defaultdb", Duration::from_secs(30)).await.map(|_| ()) },
            )
            .await?;
        }
        let records = self.query(|kv| async move { read_records(&kv).await }).await?;
        if let Some(r) = records.first() {
            return Err(Failure { property: Property::ProtectionBounded, message: format!("DROP SCHEDULE left record {} of {} behind", r.id, r.holder) });
        }
        sim::trace_event!(self.trace, "runner", sim::event::PROTECTION_RELEASED, "DROP SCHEDULE released every record");
        Ok(())
    }

    /// Traces whether GC has passed the end time of a chain that is no longer the newest (once
    /// protected, since released): the coverage probe that release lets GC move on.
    async fn gc_probe(&mut self, chains: &[StoredChain]) {
        let Some(old_end) = chains.iter().rev().nth(1).and_then(|c| c.layers.last()).map(|m| m.end_time) else { return };
        let span = self.table_span("bank.customers").await;
        let Some(span) = span else { return };
        let threshold = self
            .query(move |kv| {
                let span = span.clone();
                async move { model::ClusterKv::gc_threshold(&kv, &span).await.map_err(|e| e.to_string()) }
            })
            .await;
        if let Ok(t) = threshold {
            if t > old_end {
                sim::trace_event!(self.trace, "runner", sim::event::GC_PAST_RELEASED, "bank.customers threshold {t} past a superseded chain's end {old_end}");
            }
        }
    }

    /// The span of `table` (`db.table`) as the catalog has it now.
    async fn table_span(&mut self, table: &str) -> Option<model::Span> {
        let (db, name) = table.split_once('.')?;
        let (db, name) = (db.to_string(), name.to_string());
        self.query(move |kv| {
            let (db, name) = (db.clone(), name.clone());
            async move {
                let c = model::Catalog::read(&kv, kv.now()).await.map_err(|e| e.to_string())?;
                Ok(c.table_by_name(&db, &name).map(|t| t.span()))
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Restores random chains to random backups' end times (or, with revision history, a time
    /// inside one) in fresh clusters, each equal to the oracle then.
    async fn restores(&mut self, chains: &[StoredChain], rng: &mut ChaCha8Rng) -> Result<usize, Failure> {
        if chains.is_empty() {
            return Err(Failure { property: Property::BackupJobSucceeds, message: "the schedule took no backup in the whole run".into() });
        }
        let oracle = self.oracle.lock().expect("oracle").clone();
        let tables = self.plan.restored_tables(&oracle);
        let mut done = 0;
        for (i, network) in [1u8, 2].into_iter().enumerate() {
            let chain = &chains[rng.gen_range(0..chains.len())];
            let l = rng.gen_range(0..chain.layers.len());
            let m = &chain.layers[l];
            let inside = self.plan.revision_history && i == 1;
            let t = if inside {
                let lo =
                    if l == 0 { m.revision_start_time.wall.max(m.end_time.wall.saturating_sub(1)) } else { m.start_time.wall.max(m.revision_start_time.wall) };
                Timestamp::from_nanos(rng.gen_range(lo + 1..=m.end_time.wall.max(lo + 1)))
            } else {
                m.end_time
            };
            let t = t.min(m.end_time);
            let as_of = if t == chain.layers[chain.layers.len() - 1].end_time && !inside { String::new() } else { format!(" AS OF SYSTEM TIME '{t}'") };
            let sql = format!(
                "RESTORE {}FROM '{}' IN '{}'{as_of}{}",
                self.plan.kind.targets(&self.plan.guest),
                chain.full,
                self.plan.access.url,
                with_passphrase(&self.plan.passphrase)
            );
            let probe = RestoreProbe {
                opts: &self.opts,
                trace: &self.trace,
                storage: &self.world.storage,
                kind: self.plan.kind,
                guest: &self.plan.guest,
                restore_sql: &sql,
                tables: &tables,
                network_offset: 0,
                aimed: &self.restore_faults,
            };
            let attempt = if i == 0 {
                probe.attempt_under_faults(network, None).await?
            } else {
                probe.attempt(network, None).await.map_err(|message| Failure { property: Property::RestoreSucceeds, message })?
            };
            let what = format!("the chain {} as of", chain.full);
            attempt.restored.map_err(|e| Failure { property: Property::RestoreSucceeds, message: format!("restoring {what} {t}: {e}") })?;
            let restored_fail = |f: Failure| Failure { property: if inside { Property::PointInTimeRestore } else { f.property }, ..f };
            compare_cluster_state(&attempt.cluster, &oracle, t, &what).map_err(restored_fail)?;
            compare_with_oracle(&attempt.observations, &oracle, t, &what).map_err(restored_fail)?;
            sim::trace_event!(
                self.trace,
                "runner",
                sim::event::SCHEDULE_RESTORED,
                "{} layer {l} of {} as of {t}{}",
                chain.full,
                chain.layers.len(),
                if inside { " (inside its window)" } else { "" }
            );
            done += 1;
        }
        Ok(done)
    }
}

/// One chain of the collection: its full backup's subdirectory and its layers in order.
struct StoredChain {
    full: String,
    layers: Vec<Manifest>,
}

/// True while a backup job has not ended or a schedule is due and not yet started (its tick
/// failed, or comes within a pace); `None` when the cluster did not answer.
async fn busy(kv: &sim::SimKv) -> Option<Busy> {
    let jobs = backup::jobs::list(kv).await.ok()?;
    let now = kv.now();
    let due = backup::schedule::list_at(kv, now).await.ok()?.iter().any(|s| !s.paused && s.next_run.is_some_and(|t| t <= now));
    Some(Busy { due, running: jobs.iter().find(|j| !j.status.is_terminal()).map(|j| j.id) })
}

/// How long the scenario's own statements (the operator's CANCEL JOB) may take: past the
/// faults of the active time, which heal within it.
const STATEMENT_WAIT: Duration = Duration::from_secs(300);

/// What keeps a stretch of active time going.
#[derive(Clone, Copy, Debug)]
struct Busy {
    /// A schedule's run is due and the scheduler has not started it yet.
    due: bool,
    /// A job that has not ended.
    running: Option<i64>,
}

/// A scheduled run refused at planning for a GC threshold.
enum Refusal {
    /// A run the schedule's chain protects: an incremental, or a full while the chain holds a
    /// record (whose time, before the full's due time, holds every threshold below it).
    Chain(String),
    /// A full before any chain record exists: it reads as of its due time, which nothing could
    /// protect before its job was made (CockroachDB's executor does the same), so a GC fault
    /// with a TTL shorter than the scheduler's lag refuses it.
    Unprotected { schedule: i64, status: String },
}

/// The status of a schedule whose last run was refused for a GC threshold, if one was.
async fn gc_refusal(kv: &sim::SimKv) -> Result<Option<Refusal>, String> {
    let schedules = backup::schedule::list_at(kv, kv.now()).await.map_err(|e| e.to_string())?;
    let Some(s) = schedules.iter().find(|s| s.status.contains("GC threshold") || s.status.contains("new full backup is needed")) else { return Ok(None) };
    // An incremental always has the chain's record; a full has it once its pair's first full
    // succeeded (the incremental schedule holds it).
    let chain = match s.kind {
        backup::schedule::BackupKind::Incremental => true,
        backup::schedule::BackupKind::Full => s.dependent.and_then(|d| schedules.iter().find(|x| x.id == d)).is_some_and(|h| h.chain_protection.is_some()),
    };
    Ok(Some(if chain { Refusal::Chain(s.status.clone()) } else { Refusal::Unprotected { schedule: s.id, status: s.status.clone() } }))
}

/// The earliest next run of a schedule that is not paused.
async fn next_run(kv: &sim::SimKv) -> Result<Option<Timestamp>, String> {
    let schedules = backup::schedule::list_at(kv, kv.now()).await.map_err(|e| e.to_string())?;
    Ok(schedules.iter().filter(|s| !s.paused).filter_map(|s| s.next_run).min())
}

/// True when every job has ended and the scheduler has handled every end (no schedule lists a
/// started job).
async fn all_handled(kv: &sim::SimKv) -> Result<bool, String> {
    let jobs = backup::jobs::list(kv).await.map_err(|e| e.to_string())?;
    let schedules = backup::schedule::list_at(kv, kv.now()).await.map_err(|e| e.to_string())?;
    Ok(jobs.iter().all(|j| j.status.is_terminal()) && schedules.iter().all(|s| s.started.is_empty()))
}

/// Every protected timestamp record in the cluster's system table.
async fn read_records(kv: &sim::SimKv) -> Result<Vec<ProtectedRecord>, String> {
    model::protected_ts::read_all(kv, kv.now()).await.map_err(|e| e.to_string())
}
