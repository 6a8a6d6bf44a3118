//! The test bed catches every planted bug: with each one switched on, the backup scenario's
//! sweep (seeds from 0, swarm faults) fails within its budget. Needs the `planted-bugs` feature
//! (`cargo test -p scenarios --features planted-bugs --test mutants`, part of the README's test
//! command); a plain build has no planted bugs and this file compiles to nothing.
#![cfg(feature = "planted-bugs")]

use scenarios::mutants::hunt;
use sim::planted::Planted;

/// Seeds each planted bug may take before the test bed counts as too weak. The slowest are the
/// stale-leaseholder export, caught at backup seed 75 (45 before issue #11 added the rival
/// backup to the backup scenario's draws, which moved every seed's schedule), and the introduced
/// span exported from the base's end, caught at chain seed 52 by the mid-chain restore.
const BUDGET: u64 = 96;

#[test]
fn every_planted_bug_is_caught_within_its_budget() {
    let mut table = Vec::new();
    let mut escaped = Vec::new();
    for bug in Planted::ALL {
        let r = hunt(bug, BUDGET, 2);
        match r.caught {
            Some((seed, property)) => table.push(format!("{:<32} caught at seed {seed:>3} by {property}", bug.name())),
            None => escaped.push(bug.name()),
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(escaped.is_empty(), "escaped within {BUDGET} seeds: {escaped:?}\n{}", table.join("\n"));
}
