//! The default sweep (`backup-sim sweep`: every scenario, seeds 0..100, swarm faults) reaches
//! every coverage probe: the rare states it claims to test, it really reaches. The probes only
//! other runs can reach ([`REACHED_ELSEWHERE`]) are held to those runs.

use scenarios::probes::{count, PROBES, REACHED_ELSEWHERE};
use scenarios::registry::{default_names, sweep_seeds};
use scenarios::run::FaultMix;
use std::collections::BTreeMap;

fn elsewhere(run: &str) -> Vec<&'static str> {
    REACHED_ELSEWHERE.iter().filter(|(_, r)| *r == run).map(|(p, _)| *p).collect()
}

#[test]
fn the_default_sweep_reaches_every_probe() {
    let mut seeds_reaching: BTreeMap<&str, usize> =
        PROBES.iter().filter(|p| !REACHED_ELSEWHERE.iter().any(|(name, _)| *name == p.name)).map(|p| (p.name, 0)).collect();
    for scenario in default_names() {
        for r in sweep_seeds(scenario, 0..100, FaultMix::Swarm, 2, |_| {}) {
            assert!(r.failure.is_none(), "{scenario} seed {} failed: {:?}", r.seed, r.failure);
            for (name, hits) in &r.probes {
                if *hits > 0 {
                    if let Some(n) = seeds_reaching.get_mut(name) {
                        *n += 1;
                    }
                }
            }
        }
    }
    let missing: Vec<&&str> = seeds_reaching.iter().filter(|(_, n)| **n == 0).map(|(p, _)| p).collect();
    assert!(missing.is_empty(), "the default sweep never reached: {missing:?}\n{seeds_reaching:#?}");
}

#[test]
fn every_probe_left_out_of_the_default_sweep_names_a_run_that_reaches_it() {
    for (name, run) in REACHED_ELSEWHERE {
        assert!(PROBES.iter().any(|p| p.name == *name), "{name:?} is not a probe");
        assert!(["compositions/backup-localities.txt"].contains(run), "{name:?}: unknown run {run:?}");
    }
}

#[test]
fn the_localities_composition_reaches_its_probes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/compositions/backup-localities.txt");
    let reached = std::sync::Mutex::new(BTreeMap::<&str, usize>::new());
    scenarios::testfile::sweep_file(&path, 0..40, FaultMix::Swarm, scenarios::testfile::DEFAULT_SAFETY, 2, |run| {
        assert!(run.failure.is_none(), "{}", run.failure_report().unwrap_or_default());
        for (name, hits) in count(&run.trace) {
            if hits > 0 {
                *reached.lock().unwrap().entry(name).or_default() += 1;
            }
        }
    });
    let reached = reached.into_inner().unwrap();
    for name in elsewhere("compositions/backup-localities.txt") {
        assert!(reached.get(name).copied().unwrap_or(0) > 0, "seeds 0..40 of backup-localities.txt never reached {name:?}: {reached:#?}");
    }
}
