//! A run's configuration, drawn in one place and printed at the top of its trace (as
//! TigerBeetle's VOPR prints its options): the world, the workload, the swarm (which fault kinds
//! are on), the storage's dice, the fault schedule, and the scenario's own knobs — each a name
//! with its unit. A reader of a failing seed's trace sees everything the seed chose before
//! reading what happened.
//!
//! Every draw comes from its own stream of the seed's tree ([`sim::seed_tree`]): the swarm and the
//! schedule from `swarm/<kind>` and `faults/<kind>`, a scenario's knobs from `<scenario>/<group>`.

use crate::run::RunOptions;
use sim::faults::{self, FaultKind, JobTarget, Swarm};
use sim::storage::StorageFaults;
use sim::{SeedTree, World};

/// Everything a seed decides about a run before it starts (the scenario's own choices come as
/// named values in [`RunKnobs::scenario`]; the scenario keeps their typed form itself).
#[derive(Clone, Debug)]
pub struct RunKnobs {
    /// The seed's tree of random streams.
    pub tree: SeedTree,
    /// Which fault kinds are on.
    pub swarm: Swarm,
    /// The storage backend's dice (none unless [`FaultKind::FlakyStorage`] is on).
    pub storage: StorageFaults,
    /// The seed's whole schedule: the cluster faults over the safety phase and the faults aimed
    /// at the scenario's job, in their derived order.
    pub schedule: faults::Schedule,
    /// The faults aimed at the scenario's RESTORE, timed from its statement, in the cluster it
    /// restores into ([`Swarm::aimed_at_restore`]; not part of [`RunKnobs::schedule`], which the
    /// shrinker reduces: these stay as the seed drew them).
    pub restore: faults::Schedule,
    /// What stays broken after the safety phase (the harder liveness variant), when
    /// [`FaultKind::LastingMinority`] is on; not shrunk either.
    pub lasting: Option<faults::Lasting>,
    /// The scenario's own knobs, named with their units, in the order it drew them.
    pub scenario: Vec<(String, String)>,
}

impl RunKnobs {
    /// Draws the swarm over the kinds of `menu` (the kinds the scenario offers, less any it
    /// cannot host this seed), the storage's dice, and the schedule: the cluster kinds over the
    /// safety phase, and — when the scenario runs a job — the job kinds aimed at `job`.
    pub fn draw(opts: &RunOptions, menu: &[FaultKind], job: Option<&JobTarget>) -> RunKnobs {
        let tree = SeedTree::new(opts.seed);
        let cfg = opts.world_config(0);
        let swarm = Swarm::draw(&tree, menu, opts.faults);
        let mut schedule = swarm.schedule(&tree, cfg.nodes, cfg.max_clock_offset, opts.safety);
        if let Some(job) = job {
            schedule.extend(swarm.aimed_at_job(&tree, job));
            schedule.sort();
        }
        let storage = swarm.storage_dice(&tree);
        let restore = swarm.aimed_at_restore(&tree);
        let lasting = swarm.lasting(&tree, cfg.nodes);
        RunKnobs { tree, swarm, storage, schedule, restore, lasting, scenario: Vec::new() }
    }

    /// Adds a scenario knob (`name` as `<scenario>.<knob>`, `value` with its unit).
    pub fn knob(&mut self, name: &str, value: impl ToString) {
        self.scenario.push((name.to_string(), value.to_string()));
    }

    /// Every knob of the run, named with its unit, in a fixed order: the world, the workload,
    /// the swarm, the storage's dice, the scenario's.
    pub fn all(&self, opts: &RunOptions) -> Vec<(String, String)> {
        let cfg = opts.world_config(0);
        let w = &opts.workload;
        let mut out: Vec<(String, String)> = vec![
            ("world.nodes".into(), cfg.nodes.to_string()),
            ("world.replication".into(), cfg.replication.to_string()),
            ("world.initial_ranges".into(), cfg.initial_ranges.to_string()),
            ("world.max_clock_offset".into(), format!("{}ms", cfg.max_clock_offset.as_millis())),
            ("world.file_target_bytes".into(), format!("{}B", cfg.jobs.file_target_bytes)),
            ("world.storage_retries".into(), cfg.jobs.storage_retries.to_string()),
            ("world.ingest_batch".into(), format!("{} entries", cfg.jobs.ingest_batch)),
            ("run.safety".into(), format!("{}s", opts.safety.as_secs_f64())),
            ("workload.writers".into(), w.writers.to_string()),
            ("workload.ops_per_writer".into(), w.ops_per_writer.to_string()),
            ("workload.think".into(), format!("{}..{}ms", w.think_ms.0, w.think_ms.1)),
            ("workload.preload_rows".into(), w.preload_rows.to_string()),
        ];
        out.extend(self.swarm.knobs());
        if self.storage != StorageFaults::default() {
            let s = &self.storage;
            out.push(("storage.transient".into(), format!("{}/1000 ops", s.transient_per_mille)));
            out.push(("storage.slow".into(), format!("{}/1000 ops", s.slow_per_mille)));
            out.push(("storage.lands_but_fails".into(), format!("{}/1000 writes", s.lands_but_fails_per_mille)));
            out.push(("storage.stale_list".into(), format!("{}/1000 listings", s.stale_list_per_mille)));
        }
        out.extend(self.scenario.iter().cloned());
        out
    }

    /// Writes every knob into the world's trace, one line each.
    pub fn print(&self, world: &World, opts: &RunOptions) {
        for (name, value) in self.all(opts) {
            sim::trace_event!(world.trace, "runner", sim::event::KNOB, "{name}={value}");
        }
    }
}

/// The schedule a run executes — `explicit` when given (a shrunk or edited one), else the
/// seed's — written into the trace after every knob the seed drew.
pub fn settle_schedule(world: &World, opts: &RunOptions, knobs: &RunKnobs) -> faults::Schedule {
    knobs.print(world, opts);
    sim::trace_event!(world.trace, "runner", sim::event::SWARM, "{}", knobs.swarm);
    let plan = match opts.schedule.as_ref() {
        Some(explicit) => {
            sim::trace_event!(world.trace, "runner", sim::event::EXPLICIT_SCHEDULE, "{} faults instead of the seed's {}", explicit.len(), knobs.schedule.len());
            explicit.clone()
        }
        None => knobs.schedule.clone(),
    };
    for f in &plan {
        sim::trace_event!(world.trace, "runner", sim::event::SCHEDULE, "at={:?} {}", f.at, f.fault);
    }
    plan
}
