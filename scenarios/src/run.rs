//! The runner: one seed of one scenario in a fresh simulator, from world creation to verdict.
//!
//! A run has a safety phase (the workload writes and reads are observed while the seed's fault
//! schedule is injected) and then a liveness phase (faults stop, nodes restart, partitions heal,
//! and the workload must finish within a bound). Everything it decides comes from the seed, so a
//! failing seed replays exactly with [`replay_command`].

use crate::oracle::Oracle;
use crate::property::Property;
use crate::sabotage::{Sabotage, SabotagedKv};
use crate::workload::{self, Shared, WorkloadConfig, WorkloadError, WriterStats};
use model::sql::Session;
use model::Kv;
use rand_chacha::ChaCha8Rng;
use sim::faults;
use sim::{SeedTree, Trace, World, WorldConfig};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A scenario: a named, seeded run from world creation to verdict.
pub trait Scenario: Sync {
    /// Its name on the command line and in reports.
    fn name(&self) -> &'static str;
    /// What `backup-sim list` says of it.
    fn description(&self) -> String;
    /// True if `sweep` (`--scenario all`) runs it; the others run by name.
    fn in_default_sweep(&self) -> bool;
    /// One seed, in a fresh simulator; never panics (a panic inside is reported as a failure).
    fn run(&self, opts: &RunOptions) -> RunReport;
    /// The fault schedule the seed draws, drawn from the same stream the run uses, so the two
    /// agree (`replay --print-schedule`, `shrink`).
    fn seed_schedule(&self, opts: &RunOptions) -> faults::Schedule;
}

pub use sim::faults::FaultMix;

/// How to run one seed.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The seed.
    pub seed: u64,
    /// Which faults.
    pub faults: FaultMix,
    /// Length of the safety phase (simulated).
    pub safety: Duration,
    /// The workload.
    pub workload: WorkloadConfig,
    /// Print every trace line as it happens.
    pub echo_trace: bool,
    /// Break the database as the workload sees it (negative tests only).
    pub sabotage: Option<Sabotage>,
    /// Run this fault schedule instead of the one the seed draws (a shrunk or edited schedule;
    /// everything else still comes from the seed).
    pub schedule: Option<faults::Schedule>,
    /// The planted bug to run with (an effect only with the `planted-bugs` feature; `backup-sim
    /// mutants`).
    pub planted: Option<sim::planted::Planted>,
}

impl RunOptions {
    /// The simulated world's configuration for this run, on network `10.<network>.0.0/16`.
    pub fn world_config(&self, network: u8) -> WorldConfig {
        let jobs = sim::config::draw_job_settings(&mut sim::SeedTree::new(self.seed).stream("world/backup"));
        WorldConfig { network, planted: self.planted, jobs, ..WorldConfig::default() }
    }

    /// The defaults for `seed`.
    pub fn new(seed: u64) -> Self {
        RunOptions {
            seed,
            faults: FaultMix::Everything,
            safety: Duration::from_secs(30),
            workload: WorkloadConfig::default(),
            echo_trace: false,
            sabotage: None,
            schedule: None,
            planted: None,
        }
    }
}

/// A property that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Which property.
    pub property: Property,
    /// What happened, readable on its own.
    pub message: String,
}

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: &'static str,
    /// The seed.
    pub seed: u64,
    /// `None` when every property held.
    pub failure: Option<Failure>,
    /// The whole trace.
    pub trace: String,
    /// Simulated seconds the run took.
    pub sim_seconds: f64,
    /// Statements and transactions committed by the writers.
    pub committed: usize,
    /// Refused as retryable.
    pub aborted: usize,
    /// Reads that matched the oracle.
    pub reads_matched: usize,
    /// Reads refused below the GC threshold.
    pub gc_refused: usize,
    /// Faults injected.
    pub faults: usize,
    /// The swarm (which fault kinds were on).
    pub swarm: String,
    /// A scenario-specific one-line summary (what was backed up and restored).
    pub detail: String,
    /// How often each coverage probe fired ([`crate::probes`]).
    pub probes: std::collections::BTreeMap<&'static str, u64>,
}

impl RunReport {
    /// CRC-32 of the trace, for one-line comparisons.
    pub fn digest(&self) -> u32 {
        crc32fast::hash(self.trace.as_bytes())
    }
}

/// The single command that replays `seed` of `scenario` with `faults` and prints its trace,
/// through `cargo run` (what the test harnesses print: they run under cargo). `backup-sim`
/// prints [`Invocation::replay_command`] instead, in the form the user started it with.
pub fn replay_command(scenario: &str, seed: u64, faults: FaultMix) -> String {
    Invocation::Cargo.replay_command(scenario, seed, faults, false)
}

/// How the user started `backup-sim`, so that a command it prints to run it again (a failing
/// seed's replay) can be pasted as it is: `cargo run ...` in a checkout, the binary's own path
/// or name where it was installed or built and run directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Through `cargo run`.
    Cargo,
    /// As a program, by this name or path (`argv[0]` as typed, quoted for a POSIX shell when
    /// it needs to be).
    Binary(String),
}

impl Invocation {
    /// The invocation of the running process: [`Invocation::Cargo`] when cargo started it
    /// (`cargo run` sets `CARGO` and `CARGO_MANIFEST_DIR` in the program's environment, which a
    /// shell never has of itself), else the program as `argv[0]` names it.
    pub fn of_this_process() -> Invocation {
        let under_cargo = std::env::var_os("CARGO").is_some() && std::env::var_os("CARGO_MANIFEST_DIR").is_some();
        match std::env::args_os().next() {
            Some(argv0) if !under_cargo => Invocation::Binary(shell_word(&argv0.to_string_lossy())),
            _ => Invocation::Cargo,
        }
    }

    /// The command that starts the program again; with `planted`, in a build with the
    /// planted bugs (the binary running one already is such a build).
    pub fn program(&self, planted: bool) -> String {
        match self {
            Invocation::Cargo if planted => "cargo run --release -p scenarios --features planted-bugs --".to_string(),
            Invocation::Cargo => "cargo run --release -p scenarios --".to_string(),
            Invocation::Binary(argv0) => argv0.clone(),
        }
    }

    /// The command that replays `seed` of `scenario` with `faults` and prints its trace.
    pub fn replay_command(&self, scenario: &str, seed: u64, faults: FaultMix, planted: bool) -> String {
        let mix = match faults {
            FaultMix::Everything => "everything",
            FaultMix::Swarm => "swarm",
            FaultMix::None => "none",
        };
        format!("{} replay {scenario} --seed {seed} --faults {mix}", self.program(planted))
    }
}

/// `word` as one word of a POSIX shell command: as it is if it holds only characters no shell
/// treats specially, else in single quotes (an embedded quote as `'\''`).
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_-./+=:,@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

pub(crate) fn wrap(kv: sim::SimKv, sabotage: Option<Sabotage>, applies: bool) -> Arc<dyn Kv> {
    let kv: Arc<dyn Kv> = Arc::new(kv);
    match sabotage {
        Some(kind) if applies => Arc::new(SabotagedKv::new(kv, kind)),
        _ => kv,
    }
}

/// Runs `body` for one seed in a fresh madsim runtime seeded with it, turning a panic inside
/// the simulation into a failure report that still carries the trace up to that point.
pub fn simulate<F, Fut>(opts: &RunOptions, scenario: &'static str, body: F) -> RunReport
where
    F: FnOnce(RunOptions, Arc<Mutex<Option<Trace>>>) -> Fut,
    Fut: std::future::Future<Output = RunReport>,
{
    simulate_within(opts, scenario, opts.safety + Duration::from_secs(900), body)
}

/// [`simulate`] with the run's simulated time bounded by `limit` rather than the safety phase
/// plus 15 minutes: a scenario that advances the clock over days (the schedule scenario).
pub fn simulate_within<F, Fut>(opts: &RunOptions, scenario: &'static str, limit: Duration, body: F) -> RunReport
where
    F: FnOnce(RunOptions, Arc<Mutex<Option<Trace>>>) -> Fut,
    Fut: std::future::Future<Output = RunReport>,
{
    let trace_slot: Arc<Mutex<Option<Trace>>> = Arc::default();
    let slot = trace_slot.clone();
    let o = opts.clone();
    let mut rt = madsim::runtime::Runtime::with_seed_and_config(opts.seed, madsim::Config::default());
    rt.set_time_limit(limit);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(move || rt.block_on(body(o, slot))));
    let trace = trace_slot.lock().expect("trace slot").as_ref().map(|t| t.text()).unwrap_or_default();
    let probes = crate::probes::count(&trace);
    match outcome {
        Ok(mut report) => {
            report.trace = trace;
            report.probes = probes;
            if report.failure.is_none() {
                if let Some(message) = crate::transient::violation(&report.trace) {
                    report.failure = Some(Failure { property: Property::TransientErrorsRetried, message });
                }
            }
            report
        }
        Err(panic) => {
            let message =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "panic".into());
            let property = if message.contains("time limit exceeded") { Property::Liveness } else { Property::Invariant };
            let mut r = RunReport::new(scenario, opts.seed);
            r.failure = Some(Failure { property, message });
            r.trace = trace;
            r.probes = probes;
            r
        }
    }
}

impl RunReport {
    /// An empty report for `seed` of `scenario`.
    pub fn new(scenario: &'static str, seed: u64) -> Self {
        RunReport {
            scenario,
            seed,
            failure: None,
            trace: String::new(),
            sim_seconds: 0.0,
            committed: 0,
            aborted: 0,
            reads_matched: 0,
            gc_refused: 0,
            faults: 0,
            swarm: String::new(),
            detail: String::new(),
            probes: Default::default(),
        }
    }
}

/// Runs `one` for each seed on `jobs` threads, each seed in its own simulator (threads run whole
/// simulations, never inside one), calling `each` on every output as its seed finishes; returns
/// the outputs in seed order (a seed whose `one` gives `None` is left out).
pub fn on_threads<T: Send>(seeds: Vec<u64>, jobs: usize, one: impl Fn(u64) -> Option<T> + Sync, each: impl Fn(&mut T) + Sync) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: Mutex<Vec<(u64, T)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                if let Some(mut t) = one(seed) {
                    each(&mut t);
                    out.lock().expect("outputs").push((seed, t));
                }
            });
        }
    });
    let mut out = out.into_inner().expect("outputs");
    out.sort_by_key(|(seed, _)| *seed);
    out.into_iter().map(|(_, t)| t).collect()
}

/// Waits for a client task while keeping the world's lease manager ticking; returns its output.
pub async fn drive<T>(world: &mut World, task: madsim::task::JoinHandle<T>) -> T {
    while !task.is_finished() {
        madsim::time::sleep(Duration::from_millis(50)).await;
        world.tick();
    }
    task.await.expect("client task")
}

/// Bootstraps the catalog and creates the workload's schema (seed `seed`'s) through a client,
/// before any fault.
pub async fn setup(world: &mut World, oracle: &Arc<Mutex<Oracle>>, seed: u64) -> Result<(), Failure> {
    let setup_client = world.add_client("setup");
    let o = oracle.clone();
    let setup = setup_client.spawn(move |kv| async move {
        let kv: Arc<dyn Kv> = Arc::new(kv);
        model::catalog::bootstrap(&*kv).await.map_err(|e| WorkloadError::Unavailable(format!("bootstrap: {e}")))?;
        let mut s = Session::root(kv);
        workload::setup(&mut s, &o, seed).await
    });
    drive(world, setup).await.map_err(|e| Failure { property: Property::Workload, message: format!("setup: {e}") })
}

/// Starts the workload's writers, each on its own client machine (through a sabotaged KV layer
/// when a negative test asks for one).
pub fn spawn_writers(
    world: &mut World,
    wc: &WorkloadConfig,
    seed: u64,
    oracle: &Arc<Mutex<Oracle>>,
    sabotage: Option<Sabotage>,
) -> Vec<madsim::task::JoinHandle<Result<WriterStats, WorkloadError>>> {
    let shared: Arc<Mutex<Shared>> = Arc::default();
    (0..wc.writers)
        .map(|w| {
            let client = world.add_client(&format!("writer{w}"));
            let (o, sh, wc) = (oracle.clone(), shared.clone(), wc.clone());
            client.spawn(move |kv| async move {
                let clock = kv.hlc().clone();
                let writes_broken = matches!(sabotage, Some(Sabotage::DropTombstones | Sabotage::HangCommits));
                let mut s = Session::root(wrap(kv, sabotage, writes_broken));
                workload::writer(&mut s, &clock, w, &wc, seed, &o, &sh).await
            })
        })
        .collect()
}

/// The start every scenario shares: the source world on network 0 (its trace handed to the
/// runner through `trace_slot` and to the workload's statement log), and the stream `stream` of
/// the seed's tree for what the scenario draws while it runs.
pub fn start_world(opts: &RunOptions, stream: &str, trace_slot: &Mutex<Option<Trace>>) -> (World, Trace, ChaCha8Rng) {
    start_world_with(opts, opts.world_config(0), stream, trace_slot)
}

/// [`start_world`] with a world configuration of the scenario's own (drawn from `opts`'s).
pub fn start_world_with(opts: &RunOptions, cfg: WorldConfig, stream: &str, trace_slot: &Mutex<Option<Trace>>) -> (World, Trace, ChaCha8Rng) {
    let world = World::start(cfg, opts.seed, opts.echo_trace);
    let trace = world.trace.clone();
    *trace_slot.lock().expect("trace slot") = Some(trace.clone());
    workload::TRACE.with(|t| *t.borrow_mut() = Some(trace.clone()));
    (world, trace, SeedTree::new(opts.seed).stream(stream))
}

/// What the liveness-phase trace line adds for a fault left in place (`; except: n4 stays
/// down, for good`): the transient-errors property reads the node from it.
pub fn lasting_exception(lasting: Option<faults::Lasting>) -> String {
    lasting.map(|l| format!("; except: {l}, for good")).unwrap_or_default()
}

/// The safety phase's fault injection and the switch to the liveness phase, shared by the
/// scenarios that run a job: call [`FaultDriver::step`] from the control loop.
pub struct FaultDriver<'a> {
    plan: &'a faults::Schedule,
    next: usize,
    safety: Duration,
    /// What stays broken in the liveness phase (none: everything heals).
    lasting: Option<faults::Lasting>,
    /// Set when the liveness phase starts (clients that wait for it read it).
    pub calm: Arc<AtomicBool>,
}

impl<'a> FaultDriver<'a> {
    /// Drives `plan` over a safety phase of `safety`.
    pub fn new(plan: &'a faults::Schedule, safety: Duration) -> Self {
        FaultDriver { plan, next: 0, safety, lasting: None, calm: Arc::default() }
    }

    /// Leaves `lasting` broken through the liveness phase (TigerBeetle's harder variant): the
    /// run must finish on the majority that remains.
    pub fn lasting(mut self, lasting: Option<faults::Lasting>) -> Self {
        self.lasting = lasting;
        self
    }

    /// True once the liveness phase has started.
    pub fn calmed(&self) -> bool {
        self.calm.load(Ordering::Relaxed)
    }

    /// Injects every fault due by `elapsed` (calling `before` with each first), and at the end
    /// of the safety phase ends every fault — nodes, network, storage — for the liveness phase.
    pub fn step(&mut self, world: &mut World, elapsed: Duration, mut before: impl FnMut(&faults::Fault)) {
        while !self.calmed() && self.next < self.plan.len() && self.plan[self.next].at <= elapsed {
            before(&self.plan[self.next].fault);
            faults::inject(world, &self.plan[self.next].fault);
            self.next += 1;
        }
        if !self.calmed() && elapsed >= self.safety {
            self.finish(world);
        }
    }

    /// Starts the liveness phase now (idempotent).
    pub fn finish(&mut self, world: &mut World) {
        if self.calmed() {
            return;
        }
        let except = lasting_exception(self.lasting);
        sim::trace_event!(world.trace, "runner", sim::event::LIVENESS_PHASE, "faults stop; nodes restart; network heals; storage behaves{except}");
        self.end(world);
        if let Some(l) = self.lasting {
            l.apply(world);
        }
    }

    /// The control loop of a scenario that runs jobs: every 50 ms of simulated time since
    /// `safety_start`, injects the faults due (calling `before` with each) and ticks the world,
    /// until `done` (true) — or, past `deadline`, gives up (false: the liveness property fails).
    pub async fn run_until(
        &mut self,
        world: &mut World,
        safety_start: madsim::time::Instant,
        deadline: Duration,
        done: impl Fn() -> bool,
        mut before: impl FnMut(&faults::Fault),
    ) -> bool {
        loop {
            madsim::time::sleep(Duration::from_millis(50)).await;
            let elapsed = safety_start.elapsed();
            self.step(world, elapsed, &mut before);
            world.tick();
            if done() {
                return true;
            }
            if elapsed > deadline {
                return false;
            }
        }
    }

    /// After a run that finished inside its safety phase: ends every fault before the checks
    /// (the lasting one never began: it belongs to the liveness phase).
    pub fn end(&mut self, world: &mut World) {
        if self.calmed() {
            return;
        }
        world.calm();
        world.storage.set_faults(sim::storage::StorageFaults::default());
        self.calm.store(true, Ordering::Relaxed);
    }
}

/// Awaits the writers, adding what they committed to `report`; a writer's error is the
/// `workload` property failing.
pub async fn join_writers(writers: Vec<madsim::task::JoinHandle<Result<WriterStats, WorkloadError>>>, report: &mut RunReport) -> Result<(), Failure> {
    for w in writers {
        match w.await.expect("writer task") {
            Ok(WriterStats { committed, aborted }) => {
                report.committed += committed;
                report.aborted += aborted;
            }
            Err(e) => return Err(Failure { property: Property::Workload, message: e.to_string() }),
        }
    }
    Ok(())
}
