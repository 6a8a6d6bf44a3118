//! Coverage probes: named rare states a run can reach, counted from its trace, so that a sweep
//! shows which states it actually exercised (TigerBeetle's marks, FoundationDB's coverage).
//!
//! A probe is a predicate over one trace line; the implementation and the simulator name their
//! rare branches in the trace (`job-resumed-from-checkpoint`, `append-rejected`, ...), and this
//! table turns those names into the states users care about. A probe never changes a run.

use std::collections::BTreeMap;

/// One named state and how to recognise it in a trace line.
pub struct Probe {
    /// What state was reached, in words.
    pub name: &'static str,
    /// True for a trace line that shows the state.
    pub hit: fn(&str) -> bool,
}

fn event(line: &str, what: &str) -> bool {
    line.split_whitespace().nth(2) == Some(what)
}

/// Every probe, in report order.
pub const PROBES: &[Probe] = &[
    Probe { name: "lease moved off a failed leaseholder", hit: |l| event(l, "lease-expired") },
    Probe { name: "lease acquisition had to retry", hit: |l| event(l, "lease-acquire-retry") },
    Probe { name: "replica log diverged and was repaired", hit: |l| event(l, "append-rejected") },
    Probe { name: "crash lost unsynced log entries", hit: |l| event(l, "crash") && !l.ends_with("unsynced_entries_lost=0") },
    Probe { name: "abandoned transaction aborted by a reader", hit: |l| event(l, "txn-abort-abandoned") },
    Probe { name: "range split under traffic", hit: |l| event(l, "split") },
    Probe { name: "GC removed versions", hit: |l| event(l, "gc") && !l.ends_with("removed=0") },
    Probe { name: "storage write landed but reported failure", hit: |l| event(l, "write-landed-reported-failed") },
    Probe { name: "backup export retried after a routing or node failure", hit: |l| event(l, "export-retried") },
    Probe { name: "backup job paused mid-run", hit: |l| event(l, "job-run-ended") && l.ends_with(": Paused") },
    Probe { name: "backup job adopted and resumed from its checkpoint", hit: |l| event(l, "job-resumed-from-checkpoint") },
    Probe { name: "coordinator died between writing the manifest and recording success", hit: |l| event(l, "job-found-manifest") },
    Probe { name: "backup gateway crashed mid-statement", hit: |l| event(l, "gateway-crash") },
    Probe { name: "coordinator killed while exporting", hit: |l| event(l, "inject") && l.ends_with("coordinator killed at Exporting") },
    Probe { name: "coordinator killed between last checkpoint and manifest", hit: |l| event(l, "inject") && l.ends_with("coordinator killed at BeforeManifest") },
    Probe { name: "coordinator killed while writing the manifest", hit: |l| event(l, "inject") && l.ends_with("coordinator killed at WritingManifest") },
    Probe { name: "backup job canceled mid-run", hit: |l| event(l, "job-run-ended") && l.ends_with(": Canceled") },
    Probe { name: "torn write reported as success", hit: |l| event(l, "write-torn") },
    Probe { name: "lost write reported as success", hit: |l| event(l, "write-lost") },
    Probe { name: "bit rot at rest during the job", hit: |l| event(l, "bit-rot") },
    Probe { name: "storage damage to a finished backup refused by RESTORE", hit: |l| event(l, "damage-detected") },
    Probe { name: "a flipped bit in a backup file refused by RESTORE", hit: |l| event(l, "bit-rot-detected") },
    Probe { name: "an incremental introduced a table, exported from time zero", hit: |l| event(l, "chain-layer") && !l.ends_with("introduced=0") },
    Probe { name: "an automatic incremental in a date-named subdirectory", hit: |l| event(l, "chain-layer") && l.contains("\"2020") },
    Probe { name: "a point-in-time restore matched the oracle", hit: |l| event(l, "point-in-time-restored") },
    Probe { name: "a chain with a missing, reordered or corrupted member refused", hit: |l| event(l, "damaged-chain-refused") },
];

/// How often each probe fired in `trace`.
pub fn count(trace: &str) -> BTreeMap<&'static str, u64> {
    let mut hits: BTreeMap<&'static str, u64> = PROBES.iter().map(|p| (p.name, 0)).collect();
    for line in trace.lines() {
        for p in PROBES {
            if (p.hit)(line) {
                *hits.entry(p.name).or_default() += 1;
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_match_their_lines_only() {
        let trace = "   1.000000s world crash n2 unsynced_entries_lost=3\n   2.000000s world crash n1 unsynced_entries_lost=0\n   3.000000s n4 job-resumed-from-checkpoint job 7: 1 spans done, 1 to go\n   4.000000s n1 gc r3 threshold=5.0000000000 removed=0\n";
        let c = count(trace);
        assert_eq!(c["crash lost unsynced log entries"], 1);
        assert_eq!(c["backup job adopted and resumed from its checkpoint"], 1);
        assert_eq!(c["GC removed versions"], 0);
        assert_eq!(c["lease moved off a failed leaseholder"], 0);
    }
}
