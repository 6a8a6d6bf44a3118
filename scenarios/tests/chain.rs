//! The chain scenario over pinned seeds with every cluster fault kind on: a full backup and its
//! incrementals (automatic or INCREMENTAL FROM, with or without revision history) taken under
//! faults must line up, hold exactly their windows' changes, restore — whole and at a point in
//! time — to the oracle, and a damaged chain must be refused. Plus determinism: one seed, one
//! trace.

use scenarios::chain_scenario::{run_chain, CHAIN};
use scenarios::run::{replay_command, FaultMix, RunOptions};

#[test]
fn chain_pinned_seeds_0_to_40() {
    let mut failures = Vec::new();
    let mut chains = 0;
    for seed in 0..40 {
        let r = run_chain(&RunOptions::new(seed));
        match r.failure {
            Some(f) => failures.push(format!("seed {seed} failed {}: {}\n  replay: {}", f.property, f.message, replay_command(CHAIN, seed, FaultMix::Everything))),
            None => chains += r.detail.contains("match the oracle") as usize,
        }
    }
    assert!(failures.is_empty(), "{} seeds failed:\n{}", failures.len(), failures.join("\n"));
    assert!(chains >= 30, "only {chains} of 40 seeds restored a chain");
}

#[test]
fn chain_scenario_is_deterministic() {
    let a = run_chain(&RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(5) });
    let b = run_chain(&RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(5) });
    assert!(a.trace.contains("chain-layer"), "no chain was taken");
    assert!(a.trace == b.trace, "two runs of seed 5 differ");
}

/// Found by a swarm sweep (seeds 10000..10500): a widened chain's first cluster incremental
/// exported the tables new to it from time zero, so its revision history starts at the GC
/// threshold those exports met, later than its window's start. RESTORE rightly refused a time
/// below it; the scenario now draws point-in-time targets from where each layer's history starts.
#[test]
fn point_in_time_targets_start_where_a_layers_history_starts() {
    let seed = 10155;
    let r = run_chain(&RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(seed) });
    if let Some(f) = r.failure {
        panic!("seed {seed} failed {}: {}\n  replay: {}", f.property, f.message, replay_command(CHAIN, seed, FaultMix::Swarm));
    }
    assert!(r.trace.contains("point-in-time-restored"), "seed {seed} no longer restores to a point in time:\n{}", r.detail);
}
