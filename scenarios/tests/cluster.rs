//! The cluster scenario over pinned seeds, every fault kind on: reads at past times, taken while
//! nodes crash and restart, leases move, ranges split, GC runs, clocks skew and the network
//! partitions, must equal the oracle. A failure names the seed and the command that replays it.

use scenarios::cluster_scenario::{run_cluster, CLUSTER};
use scenarios::run::{replay_command, FaultMix, RunOptions};

/// Runs `seeds` with every fault kind on; panics listing every failing seed with its replay
/// command.
fn pinned(seeds: std::ops::Range<u64>) {
    let mut failures = Vec::new();
    for seed in seeds {
        let opts = RunOptions::new(seed);
        let r = run_cluster(&opts);
        assert!(
            r.committed > 50,
            "seed {seed}: only {} commits; the workload did not run\nreplay: {}",
            r.committed,
            replay_command(CLUSTER, seed, FaultMix::Everything)
        );
        assert!(r.reads_matched > 20, "seed {seed}: only {} reads checked\nreplay: {}", r.reads_matched, replay_command(CLUSTER, seed, FaultMix::Everything));
        if let Some(f) = r.failure {
            failures.push(format!("seed {seed} failed {}: {}\n  replay: {}", f.property, f.message, replay_command(CLUSTER, seed, FaultMix::Everything)));
        }
    }
    assert!(failures.is_empty(), "{} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

// 60 pinned seeds, in four tests so the test harness spreads them over the cores.
#[test]
fn pinned_seeds_0_to_15() {
    pinned(0..15);
}

#[test]
fn pinned_seeds_15_to_30() {
    pinned(15..30);
}

#[test]
fn pinned_seeds_30_to_45() {
    pinned(30..45);
}

#[test]
fn pinned_seeds_45_to_60() {
    pinned(45..60);
}

/// Shows where two traces first differ.
fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  first run:  {x}\n  second run: {y}", i + 1);
        }
    }
    format!("one trace is a prefix of the other ({} vs {} lines)", a.lines().count(), b.lines().count())
}

#[test]
fn same_seed_gives_the_same_trace_byte_for_byte() {
    for seed in [3, 11] {
        let a = run_cluster(&RunOptions::new(seed));
        let b = run_cluster(&RunOptions::new(seed));
        assert!(a.trace.lines().count() > 1_000, "seed {seed}: trace suspiciously short");
        assert!(a.trace == b.trace, "seed {seed}: two runs differ at {}", first_difference(&a.trace, &b.trace));
    }
}

#[test]
fn different_seeds_give_different_traces() {
    let a = run_cluster(&RunOptions::new(5));
    let b = run_cluster(&RunOptions::new(6));
    assert_ne!(a.digest(), b.digest());
}

#[test]
fn swarm_seeds_draw_different_fault_mixes() {
    let mixes: std::collections::BTreeSet<String> = (0..6)
        .map(|seed| {
            let mut o = RunOptions::new(seed);
            o.faults = FaultMix::Swarm;
            o.workload.ops_per_writer = 10;
            run_cluster(&o).swarm
        })
        .collect();
    assert!(mixes.len() >= 4, "swarm testing drew only {mixes:?}");
}

/// Swarm seeds where a node moved off a range (rebalancing) crashed and replayed its log: the
/// ranges split off that range came back empty on it — their data lived in the dropped range's
/// split entry — until a node keeps every replica's applied state as its snapshot before it
/// drops a log (`sim/src/node.rs`, `pin_replicas`). With that step left out, these three seeds
/// fail (stale reads, a database that "does not exist").
#[test]
fn swarm_seeds_where_a_moved_off_range_took_its_split_children_with_it() {
    let mut failures = Vec::new();
    for seed in [133, 187, 204] {
        let opts = RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(seed) };
        let r = run_cluster(&opts);
        assert!(r.committed > 50, "seed {seed}: only {} commits", r.committed);
        if let Some(f) = r.failure {
            failures.push(format!("seed {seed} failed {}: {}\n  replay: {}", f.property, f.message, replay_command(CLUSTER, seed, FaultMix::Swarm)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Found by `sweep --scenario cluster --seeds 10000` (swarm faults), failing liveness: n2 came
/// back from a crash behind on r6, r16 (split off r6) moved its replica off n2 before n2 applied
/// that split — so the removal found nothing to drop — and n2 then applied it and kept r16
/// anyway: a replica nobody replicated to, which never applied r16's own splits and claimed their
/// keys for good. r18, split off r16 while n2 was still among its replicas, was told by n2 "the
/// split that makes this range is pending here" on every append instead of being asked for a
/// snapshot, so when n3 stayed down for good (the lasting minority) r18 had no quorum and the
/// writers never finished. A node now keeps a split-off range only while the directory lists it
/// among that range's replicas (`sim/src/node.rs`, `keeps_split_off`); n2 gets r18 from a
/// snapshot.
#[test]
fn swarm_seed_where_a_replica_taken_out_before_it_applied_the_split_kept_the_split_off_range() {
    let seed = 7420;
    let opts = RunOptions { faults: FaultMix::Swarm, ..RunOptions::new(seed) };
    let r = run_cluster(&opts);
    let replay = replay_command(CLUSTER, seed, FaultMix::Swarm);
    if let Some(f) = r.failure {
        panic!("seed {seed} failed {}: {}\n  replay: {replay}", f.property, f.message);
    }
    assert!(r.committed > 50, "seed {seed}: only {} commits", r.committed);
    let discarded = format!("{} r16 split off r6", sim::event::SPLIT_DISCARDED);
    assert!(r.trace.contains(&discarded), "seed {seed} no longer has n2 apply r6's split after leaving r16\n  replay: {replay}");
    assert!(r.trace.contains("stays down, for good"), "seed {seed} no longer keeps a node down for good\n  replay: {replay}");
    assert!(
        r.trace.lines().any(|l| l.contains("append-failed r18 -> n2: no replica there; sending a snapshot")),
        "seed {seed}: r18 no longer gives n2 a snapshot\n  replay: {replay}"
    );
}
