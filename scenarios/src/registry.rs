//! The scenario registry: every scenario the runner knows, in one list that `sweep`, `replay`,
//! `shrink`, `list`, `mutants`, `bench` and the tests all read. A new scenario is one file that
//! implements [`Scenario`] (copy `cluster_scenario.rs`) plus one line in [`REGISTRY`]. The trait
//! lives in [`crate::run`], below the scenarios, so that no scenario imports the registry.

use crate::parts::{Composition, Operation};
use crate::run::{FaultMix, RunOptions, RunReport, Scenario};
use sim::faults;

/// Every scenario, in the order `list` prints them and `sweep` runs them.
pub const REGISTRY: &[&dyn Scenario] = &[
    &crate::cluster_scenario::ClusterScenario,
    &crate::backup_scenario::BackupScenario,
    &crate::chain_scenario::ChainScenario,
    &crate::backup_scenario::StandardScenario,
    &crate::schedule_scenario::ScheduleScenario,
];

/// Each registered scenario as the parts it is made of ([`crate::parts`]): what a scenario
/// file's `compose` stanza names to run it (the standard scenario is the backup scenario's
/// preloaded variant, not a composition of its own).
pub fn compositions() -> Vec<(&'static str, Composition)> {
    vec![
        (crate::cluster_scenario::CLUSTER, Composition::cluster()),
        (crate::backup_scenario::BACKUP, Composition::backup()),
        (crate::chain_scenario::CHAIN, Composition::chain()),
    ]
}

/// Runs a composition for one seed in a fresh simulator, by its operation: the registered
/// scenario's parts run that scenario, seed for seed; other parts recombine it.
pub fn run_composition(parts: &Composition, opts: &RunOptions) -> RunReport {
    match parts.operation {
        Operation::PastReads => crate::cluster_scenario::run_composed(parts, opts),
        Operation::Backup => crate::backup_scenario::run_composed(parts, opts),
        Operation::Chain => crate::chain_scenario::run_composed(parts, opts),
    }
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static dyn Scenario> {
    REGISTRY.iter().copied().find(|s| s.name() == name)
}

/// The names of the scenarios a default sweep runs (`--scenario all`).
pub fn default_names() -> Vec<&'static str> {
    REGISTRY.iter().filter(|s| s.in_default_sweep()).map(|s| s.name()).collect()
}

/// Every scenario's name, in registry order.
pub fn all_names() -> Vec<&'static str> {
    REGISTRY.iter().map(|s| s.name()).collect()
}

/// Runs a scenario by name; `None` for an unknown name.
pub fn run_named(scenario: &str, opts: &RunOptions) -> Option<RunReport> {
    find(scenario).map(|s| s.run(opts))
}

/// The schedule a run uses: the explicit one, or the one its seed draws. An unknown name draws
/// the cluster scenario's.
pub fn schedule_of(scenario: &str, opts: &RunOptions) -> faults::Schedule {
    if let Some(s) = &opts.schedule {
        return s.clone();
    }
    find(scenario).unwrap_or(&crate::cluster_scenario::ClusterScenario).seed_schedule(opts)
}

/// Runs `scenario` over `seeds` on `jobs` threads, each seed in its own simulator (threads run
/// whole simulations, never inside one), calling `each` as seeds finish; returns the reports in
/// seed order, traces dropped.
pub fn sweep_seeds(scenario: &str, seeds: std::ops::Range<u64>, faults: FaultMix, jobs: usize, each: impl Fn(&RunReport) + Sync) -> Vec<RunReport> {
    sweep_with(scenario, seeds, jobs, |seed| RunOptions { faults, ..RunOptions::new(seed) }, each)
}

/// As [`sweep_seeds`], over any seeds, with the options of each seed made by `options`.
pub fn sweep_with(
    scenario: &str,
    seeds: impl IntoIterator<Item = u64>,
    jobs: usize,
    options: impl Fn(u64) -> RunOptions + Sync,
    each: impl Fn(&RunReport) + Sync,
) -> Vec<RunReport> {
    // `each` sees the whole trace (`sweep --reaching` searches it); the results keep none, or a
    // long sweep would hold every seed's trace at once.
    crate::run::on_threads(
        seeds.into_iter().collect(),
        jobs,
        |seed| run_named(scenario, &options(seed)),
        |r| {
            each(r);
            r.trace = String::new();
        },
    )
}
