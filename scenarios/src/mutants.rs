//! `backup-sim mutants`: how strong is the test bed? Each planted bug (`sim::planted::Planted`:
//! the backup code's and the simulated node's, built only with the `planted-bugs` feature) is
//! switched on in turn and the backup and chain
//! scenarios are swept, seed by seed, until one fails; the report gives, per bug, the seeds it
//! took and the scenario and property that caught it. A bug the budget does not catch is
//! reported as escaped.

use crate::backup_scenario::BACKUP;
use crate::chain_scenario::CHAIN;
use crate::registry::sweep_with;
use crate::run::{FaultMix, RunOptions};
use sim::planted::Planted;

/// How one planted bug fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutantResult {
    /// The bug.
    pub bug: Planted,
    /// The first failing seed and the property that failed (`scenario/property`), or `None`
    /// if it escaped.
    pub caught: Option<(u64, String)>,
    /// Seeds run before it was caught (or the whole budget).
    pub seeds_run: u64,
}

/// Sweeps the backup and chain scenarios with `bug` planted, `jobs` seeds at a time, until a
/// seed of either fails or `budget` seeds of each have run.
pub fn hunt(bug: Planted, budget: u64, jobs: usize) -> MutantResult {
    if bug == Planted::Backup(backup::planted::PlantedBug::LocalityIgnored) {
        return hunt_localities(bug, budget);
    }
    let mut first = 0;
    let step = (jobs.max(1) * 2) as u64;
    while first < budget {
        let end = (first + step).min(budget);
        for scenario in [BACKUP, CHAIN] {
            let reports =
                sweep_with(scenario, first..end, jobs, |seed| RunOptions { faults: FaultMix::Swarm, planted: Some(bug), ..RunOptions::new(seed) }, |_| {});
            if let Some(r) = reports.iter().find(|r| r.failure.is_some()) {
                let property = r.failure.as_ref().map(|f| f.property.name()).unwrap_or("?");
                return MutantResult { bug, caught: Some((r.seed, format!("{scenario}/{property}"))), seeds_run: r.seed + 1 };
            }
        }
        first = end;
    }
    MutantResult { bug, caught: None, seeds_run: budget }
}

/// A bug only a locality-aware backup can show: swept over the composition of
/// `testdata/compositions/backup-localities.txt` (the backup operation with drawn localities),
/// seed by seed.
fn hunt_localities(bug: Planted, budget: u64) -> MutantResult {
    use crate::parts::{Check, Composition, Localities};
    let checks = vec![Check::RestoresMatchOracle, Check::ExportsFromLeaseholders, Check::JobsAudit, Check::NoSecretsShown];
    let parts = Composition { checks, localities: Localities::Drawn, ..Composition::backup() };
    for seed in 0..budget {
        let r = crate::backup_scenario::run_composed(&parts, &RunOptions { faults: FaultMix::Swarm, planted: Some(bug), ..RunOptions::new(seed) });
        if let Some(f) = &r.failure {
            return MutantResult { bug, caught: Some((seed, format!("backup-localities/{}", f.property.name()))), seeds_run: seed + 1 };
        }
    }
    MutantResult { bug, caught: None, seeds_run: budget }
}
