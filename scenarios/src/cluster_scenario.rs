//! The cluster scenario: the SQL workload on a five-node simulated cluster under the seed's
//! faults, then liveness; every read the workload made at a past time must equal the oracle,
//! and every writer must finish. No backup runs: it is the test bed testing its own cluster,
//! which every other scenario stands on.
//!
//! It is a composition of named parts ([`crate::parts`]): the bank workload, the cluster fault
//! menu, the past-reads operation and two checks. [`run_composed`] runs any composition of those
//! parts (another workload, no faults, fewer checks), as a scenario file's `compose` stanza
//! names them.

use crate::check::{self, Observation};
use crate::knobs::{settle_schedule, RunKnobs};
use crate::oracle::Oracle;
use crate::parts::{Check, Composition, Workload};
use crate::property::Property;
use crate::run::{drive, join_writers, setup, simulate, spawn_writers, start_world, wrap, Failure, RunOptions, RunReport, Scenario};
use crate::sabotage::Sabotage;
use crate::workload::{WorkloadError, WriterStats, VIEW_BIG_ACCOUNTS};
use model::Timestamp;
use rand::seq::SliceRandom;
use rand::Rng;
use sim::faults;
use sim::{Trace, World};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Rows an `idle` workload loads before the run (the ledger table's preload).
const IDLE_ROWS: usize = 200;

/// The cluster scenario's name.
pub const CLUSTER: &str = "cluster";

/// Runs the cluster scenario for one seed in a fresh simulator. Never panics: a panic inside
/// the simulation (an invariant violation, a time limit) is reported as a failure.
pub fn run_cluster(opts: &RunOptions) -> RunReport {
    run_composed(&Composition::cluster(), opts)
}

/// Runs a composition of the cluster scenario's parts (operation `past-reads`) for one seed in a
/// fresh simulator; the cluster scenario is [`Composition::cluster`].
pub fn run_composed(parts: &Composition, opts: &RunOptions) -> RunReport {
    let parts = parts.clone();
    simulate(opts, CLUSTER, move |o, slot| cluster(parts, o, slot))
}

/// The cluster scenario in the registry.
pub struct ClusterScenario;

impl Scenario for ClusterScenario {
    fn name(&self) -> &'static str {
        CLUSTER
    }
    fn description(&self) -> String {
        "SQL workload on a 5-node cluster under faults; reads at past times must equal the oracle".into()
    }
    fn in_default_sweep(&self) -> bool {
        true
    }
    fn run(&self, opts: &RunOptions) -> RunReport {
        run_cluster(opts)
    }
    fn seed_schedule(&self, opts: &RunOptions) -> faults::Schedule {
        RunKnobs::draw(opts, &Composition::cluster().faults.cluster_kinds(), None).schedule
    }
}

/// One seed of the cluster scenario (or another composition of its parts), in its four steps:
/// setup, the safety phase (writers and an observer under the fault schedule) run until the
/// writers finish, the final reads with faults off, and the verdict of the composition's checks.
async fn cluster(parts: Composition, mut opts: RunOptions, trace_slot: Arc<Mutex<Option<Trace>>>) -> RunReport {
    let seed = opts.seed;
    if parts.workload == Workload::Idle {
        // Rows loaded once before the run (something to read at past times), then no writers.
        opts.workload.writers = 0;
        opts.workload.preload_rows = opts.workload.preload_rows.max(IDLE_ROWS);
    }
    let (mut world, trace, _) = start_world(&opts, "cluster/run", &trace_slot);
    let knobs = RunKnobs::draw(&opts, &parts.faults.cluster_kinds(), None);
    let plan = settle_schedule(&world, &opts, &knobs);
    let swarm = &knobs.swarm;
    let mut report = RunReport::new(CLUSTER, seed);
    report.faults = plan.len();
    report.swarm = swarm.to_string();
    let oracle: Arc<Mutex<Oracle>> = Arc::default();
    let start = madsim::time::Instant::now();

    if let Err(f) = setup(&mut world, &oracle, opts.seed).await {
        report.failure = Some(f);
        return report;
    }
    if opts.workload.preload_rows > 0 {
        let (rows, o) = (opts.workload.preload_rows, oracle.clone());
        let load = world.add_client("loader").spawn(move |kv| async move {
            let mut s = model::sql::Session::root(Arc::new(kv.clone()));
            crate::workload::preload(&mut s, &kv, &o, rows, seed).await
        });
        if let Err(e) = drive(&mut world, load).await {
            report.failure = Some(Failure { property: Property::Workload, message: format!("preload: {e}") });
            return report;
        }
    }

    // Safety phase: writers, an observer, and the fault schedule (its times count from here).
    let safety_start = madsim::time::Instant::now();
    let writers = spawn_writers(&mut world, &opts.workload, seed, &oracle, opts.sabotage);
    let stop = Arc::new(AtomicBool::new(false));
    let observations: Arc<Mutex<Vec<Observation>>> = Arc::default();
    let observer = spawn_observer(&mut world, &oracle, &stop, &observations, seed, opts.sabotage);
    let idle = parts.workload == Workload::Idle;
    let finished = match run_until_writers_finish(&mut world, &trace, (&plan, knobs.lasting), &opts, safety_start, &writers, idle).await {
        Ok(()) => true,
        Err(f) if parts.checks.contains(&Check::WritersFinish) => {
            report.failure = Some(f);
            return report;
        }
        // Not judged: the reads are, without the writers that did not finish.
        Err(_) => {
            world.calm();
            false
        }
    };
    stop.store(true, Ordering::Relaxed);
    let _ = observer.await;
    if finished {
        if let Err(f) = join_writers(writers, &mut report).await {
            report.failure = Some(f);
            return report;
        }
    }

    final_reads(&mut world, &oracle, &observations, opts.sabotage).await;
    report.sim_seconds = start.elapsed().as_secs_f64();
    let observations = observations.lock().expect("observations").clone();
    if parts.checks.contains(&Check::ReadsMatchOracle) {
        match check::verify(&oracle.lock().expect("oracle"), &observations) {
            // A check that read nothing proved nothing: a run whose observer never read fails.
            Ok(stats) if stats.matched == 0 => {
                report.failure = Some(Failure { property: Property::ReadsMatchOracle, message: "no read at a past time was checked".into() })
            }
            Ok(stats) => {
                report.reads_matched = stats.matched;
                report.gc_refused = stats.gc_refused;
            }
            Err(message) => report.failure = Some(Failure { property: Property::ReadsMatchOracle, message }),
        }
    }
    sim::trace_event!(
        trace,
        "runner",
        sim::event::VERDICT,
        "{}",
        report.failure.as_ref().map(|f| format!("FAIL {}: {}", f.property, f.message.lines().next().unwrap_or(""))).unwrap_or_else(|| "ok".into())
    );
    report
}

/// The observer: reads a random table (or the view) at a random past time, now and then, until
/// `stop`, recording what it saw for the verdict.
fn spawn_observer(
    world: &mut World,
    oracle: &Arc<Mutex<Oracle>>,
    stop: &Arc<AtomicBool>,
    observations: &Arc<Mutex<Vec<Observation>>>,
    seed: u64,
    sabotage: Option<Sabotage>,
) -> madsim::task::JoinHandle<()> {
    let client = world.add_client("observer");
    let (o, stop, obs) = (oracle.clone(), stop.clone(), observations.clone());
    client.spawn(move |kv| async move {
        let kv = wrap(kv, sabotage, sabotage == Some(Sabotage::StaleReads));
        let mut rng = sim::SeedTree::new(seed).stream("workload/observer");
        while !stop.load(Ordering::Relaxed) {
            madsim::time::sleep(Duration::from_millis(rng.gen_range(200..1_000))).await;
            let (table, ts) = {
                let oracle = o.lock().expect("oracle");
                let mut tables = oracle.tables();
                tables.push(VIEW_BIG_ACCOUNTS.into());
                let Some(table) = tables.choose(&mut rng).cloned() else { continue };
                let source = if table == VIEW_BIG_ACCOUNTS { "bank.accounts" } else { table.as_str() };
                let stamps = oracle.timestamps(source);
                let Some(first) = stamps.first().copied() else { continue };
                let now = kv.now();
                let ts = if rng.gen_ratio(1, 2) && !stamps.is_empty() {
                    let t = stamps[rng.gen_range(0..stamps.len())];
                    if rng.gen() {
                        t
                    } else {
                        t.prev()
                    }
                } else {
                    Timestamp::from_nanos(rng.gen_range(first.wall..=now.wall.max(first.wall)))
                };
                (table, ts)
            };
            let ob = check::observe(&*kv, &table, ts).await;
            obs.lock().expect("observations").push(ob);
        }
    })
}

/// Injects the schedule while the writers run, switches to the liveness phase when the safety
/// time is up, and returns when every writer has finished (and, for an `idle` workload, the
/// safety phase is over) — or a liveness failure if they have not within the bound after
/// faults stopped. `lasting` stays broken through the liveness phase (the harder variant).
async fn run_until_writers_finish(
    world: &mut World,
    trace: &Trace,
    (plan, lasting): (&faults::Schedule, Option<faults::Lasting>),
    opts: &RunOptions,
    safety_start: madsim::time::Instant,
    writers: &[madsim::task::JoinHandle<Result<WriterStats, WorkloadError>>],
    idle: bool,
) -> Result<(), Failure> {
    let mut next = 0;
    let liveness_deadline = opts.safety + Duration::from_secs(240);
    let mut calmed = false;
    loop {
        madsim::time::sleep(Duration::from_millis(50)).await;
        let elapsed = safety_start.elapsed();
        while next < plan.len() && plan[next].at <= elapsed {
            faults::inject(world, &plan[next].fault);
            next += 1;
        }
        if !calmed && elapsed >= opts.safety {
            let except = crate::run::lasting_exception(lasting);
            sim::trace_event!(trace, "runner", sim::event::LIVENESS_PHASE, "faults stop; nodes restart; network heals{except}");
            world.calm();
            if let Some(l) = lasting {
                l.apply(world);
            }
            calmed = true;
        }
        world.tick();
        if writers.iter().all(|w| w.is_finished()) && (!idle || calmed) {
            break;
        }
        if elapsed > liveness_deadline {
            return Err(Failure {
                property: Property::Liveness,
                message: format!("writers did not finish within {:?} of simulated time after faults stopped", liveness_deadline - opts.safety),
            });
        }
    }
    if !calmed {
        world.calm();
    }
    Ok(())
}

/// Reads every table (and the view) at its commit boundaries with faults off, recording what it
/// saw for the verdict.
async fn final_reads(world: &mut World, oracle: &Arc<Mutex<Oracle>>, observations: &Arc<Mutex<Vec<Observation>>>, sabotage: Option<Sabotage>) {
    let checker = world.add_client("checker");
    let (o, obs) = (oracle.clone(), observations.clone());
    let reads = checker.spawn(move |kv| async move {
        let kv = wrap(kv, sabotage, sabotage == Some(Sabotage::StaleReads));
        let tables = {
            let mut t = o.lock().expect("oracle").tables();
            t.push(VIEW_BIG_ACCOUNTS.into());
            t
        };
        for table in tables {
            let source = if table == VIEW_BIG_ACCOUNTS { "bank.accounts".to_string() } else { table.clone() };
            let times = check::boundary_times(&o.lock().expect("oracle"), &source, 9);
            for ts in times {
                let ob = check::observe(&*kv, &table, ts).await;
                obs.lock().expect("observations").push(ob);
            }
        }
    });
    drive(world, reads).await;
}
