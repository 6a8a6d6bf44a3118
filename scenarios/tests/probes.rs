//! The default sweep (`backup-sim sweep`: every scenario, seeds 0..100, swarm faults) reaches
//! every coverage probe: the rare states it claims to test, it really reaches.

use scenarios::probes::PROBES;
use scenarios::registry::{default_names, sweep_seeds};
use scenarios::run::FaultMix;
use std::collections::BTreeMap;

#[test]
fn the_default_sweep_reaches_every_probe() {
    let mut seeds_reaching: BTreeMap<&str, usize> = PROBES.iter().map(|p| (p.name, 0)).collect();
    for scenario in default_names() {
        for r in sweep_seeds(scenario, 0..100, FaultMix::Swarm, 2, |_| {}) {
            assert!(r.failure.is_none(), "{scenario} seed {} failed: {:?}", r.seed, r.failure);
            for (name, hits) in &r.probes {
                if *hits > 0 {
                    *seeds_reaching.entry(name).or_default() += 1;
                }
            }
        }
    }
    let missing: Vec<&&str> = seeds_reaching.iter().filter(|(_, n)| **n == 0).map(|(p, _)| p).collect();
    assert!(missing.is_empty(), "the default sweep never reached: {missing:?}\n{seeds_reaching:#?}");
}
