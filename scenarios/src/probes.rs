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
    /// The trace event (the line's third word) that can show the state.
    pub event: &'static str,
    /// True for a line of that event that shows the state.
    pub hit: fn(&str) -> bool,
}

/// Probes the default sweep cannot reach, each with the run that does: the `localities=drawn`
/// composition of `scenarios/testdata/compositions/backup-localities.txt`.
/// `scenarios/tests/probes.rs` holds that run to them, and the default sweep to every other
/// probe.
pub const REACHED_ELSEWHERE: &[(&str, &str)] = &[
    ("a locality-aware backup wrote a data file to a locality's URL", "compositions/backup-localities.txt"),
    ("a node no URL matches wrote its data file to the default URL", "compositions/backup-localities.txt"),
];

/// Any line of the event.
fn any(_: &str) -> bool {
    true
}

/// A manifest-written line (`job 7: 12 files for 5 spans`) of a backup that split a span's export
/// into pages (the drawn `world.file_target_bytes` crossed).
fn more_files_than_spans(l: &str) -> bool {
    let mut nums = l.rsplit(": ").next().unwrap_or("").split(' ').filter_map(|w| w.parse::<u64>().ok());
    matches!((nums.next(), nums.next()), (Some(files), Some(spans)) if files > spans)
}

/// A statement error that is one of the node flags' refusals (`--external-io-disable-http`,
/// `--external-io-disable-implicit-credentials`), in CockroachDB's words.
fn refused_by_node_flags(l: &str) -> bool {
    crate::malformed::FLAG_REFUSALS.iter().any(|m| l.contains(m))
}

/// Every probe, in report order.
pub const PROBES: &[Probe] = &[
    Probe { name: "lease moved off a failed leaseholder", event: sim::event::LEASE_EXPIRED, hit: any },
    Probe { name: "lease acquisition had to retry", event: sim::event::LEASE_ACQUIRE_RETRY, hit: any },
    Probe { name: "replica log diverged and was repaired", event: sim::event::APPEND_REJECTED, hit: any },
    Probe { name: "crash lost unsynced log entries", event: sim::event::CRASH, hit: |l| !l.ends_with("unsynced_entries_lost=0") },
    Probe { name: "abandoned transaction aborted by a reader", event: sim::event::TXN_ABORT_ABANDONED, hit: any },
    Probe { name: "range split under traffic", event: sim::event::SPLIT, hit: any },
    Probe { name: "GC removed versions", event: sim::event::GC, hit: |l| !l.ends_with("removed=0") },
    Probe { name: "storage write landed but reported failure", event: sim::event::WRITE_LANDED_REPORTED_FAILED, hit: any },
    Probe { name: "backup export retried after a routing or node failure", event: backup::event::EXPORT_RETRIED, hit: any },
    Probe { name: "a backup exported some span in several data files", event: backup::event::JOB_MANIFEST_WRITTEN, hit: more_files_than_spans },
    Probe { name: "backup job paused mid-run", event: backup::event::JOB_RUN_ENDED, hit: |l| l.ends_with(": Paused") && !l.contains("restore job") },
    Probe { name: "backup job adopted and resumed from its checkpoint", event: backup::event::JOB_RESUMED_FROM_CHECKPOINT, hit: any },
    Probe { name: "coordinator died between writing the manifest and recording success", event: backup::event::JOB_FOUND_MANIFEST, hit: any },
    Probe { name: "backup gateway crashed mid-statement", event: sim::event::GATEWAY_CRASH, hit: any },
    Probe { name: "coordinator killed while exporting", event: sim::event::INJECT, hit: |l| l.ends_with("coordinator killed at Exporting") },
    Probe {
        name: "coordinator killed between last checkpoint and manifest",
        event: sim::event::INJECT,
        hit: |l| l.ends_with("coordinator killed at BeforeManifest"),
    },
    Probe { name: "coordinator killed while writing the manifest", event: sim::event::INJECT, hit: |l| l.ends_with("coordinator killed at WritingManifest") },
    Probe { name: "coordinator killed removing its files after its end", event: sim::event::INJECT, hit: |l| l.ends_with("coordinator killed at CleaningUp") },
    Probe { name: "restore coordinator killed while ingesting", event: sim::event::INJECT, hit: |l| l.ends_with("coordinator killed at Restoring") },
    Probe { name: "restore coordinator killed as it published", event: sim::event::INJECT, hit: |l| l.ends_with("coordinator killed at Publishing") },
    Probe {
        name: "restore paused with its descriptors offline",
        event: backup::event::JOB_RUN_ENDED,
        hit: |l| l.contains("restore job") && l.ends_with(": Paused"),
    },
    Probe { name: "restore resumed with spans already done", event: backup::event::RESTORE_RESUMED, hit: any },
    Probe { name: "restore canceled, leaving nothing behind", event: sim::event::RESTORE_CANCELED_CLEANLY, hit: any },
    Probe { name: "storage outage longer than a statement's retries", event: sim::event::OUTAGE, hit: any },
    Probe { name: "backup job ran again after a transient failure outlasted its retries", event: backup::event::JOB_RETRYING, hit: any },
    Probe { name: "backup job canceled mid-run", event: backup::event::JOB_RUN_ENDED, hit: |l| l.ends_with(": Canceled") },
    Probe { name: "torn write reported as success", event: sim::event::WRITE_TORN, hit: any },
    Probe { name: "lost write reported as success", event: sim::event::WRITE_LOST, hit: any },
    Probe { name: "bit rot at rest during the job", event: sim::event::BIT_ROT, hit: any },
    Probe { name: "storage damage to a finished backup refused by RESTORE", event: sim::event::DAMAGE_DETECTED, hit: any },
    Probe { name: "a flipped bit in a backup file refused by RESTORE", event: sim::event::BIT_ROT_DETECTED, hit: |l| !l.ends_with(MISPLACED) },
    Probe { name: "a data file copied over the manifest refused", event: sim::event::BIT_ROT_DETECTED, hit: |l| l.ends_with(MISPLACED) },
    Probe { name: "a URL the nodes' external-io flags forbid refused", event: sim::event::BULK_ERR, hit: refused_by_node_flags },
    Probe { name: "an incremental introduced a table, exported from time zero", event: sim::event::CHAIN_LAYER, hit: |l| !l.ends_with("introduced=0") },
    Probe { name: "an automatic incremental in a date-named subdirectory", event: sim::event::CHAIN_LAYER, hit: |l| l.contains("\"2020") },
    Probe { name: "a replica moved to another node, caught up from a snapshot", event: sim::event::REPLICA_ADDED, hit: any },
    Probe {
        name: "a follower that never had its range caught up from a snapshot",
        event: sim::event::APPEND_FAILED,
        hit: |l| l.contains("sending a snapshot"),
    },
    Probe { name: "a lagging replica dropped a split-off range it was taken out of", event: sim::event::SPLIT_DISCARDED, hit: any },
    Probe { name: "a dead node's replicas replaced on the others", event: sim::event::REBALANCE, hit: |l| l.ends_with("down for 15s)") },
    Probe { name: "liveness phase with a node down for good", event: sim::event::LIVENESS_PHASE, hit: |l| l.contains("stays down") },
    Probe { name: "liveness phase with a node cut off for good", event: sim::event::LIVENESS_PHASE, hit: |l| l.contains("stays cut off") },
    Probe { name: "liveness phase with a node unable to send, for good", event: sim::event::LIVENESS_PHASE, hit: |l| l.contains("unable to send") },
    Probe { name: "liveness phase with a node unable to receive, for good", event: sim::event::LIVENESS_PHASE, hit: |l| l.contains("unable to receive") },
    Probe { name: "a point-in-time restore matched the oracle", event: sim::event::POINT_IN_TIME_RESTORED, hit: any },
    Probe {
        name: "a point-in-time cluster restore left out a user created later",
        event: sim::event::POINT_IN_TIME_RESTORED,
        hit: |l| l.ends_with("(created after)"),
    },
    Probe {
        name: "a point-in-time cluster restore kept a user created earlier",
        event: sim::event::POINT_IN_TIME_RESTORED,
        hit: |l| l.ends_with("(created before)"),
    },
    Probe { name: "a chain with a missing, reordered or corrupted member refused", event: sim::event::DAMAGED_CHAIN_REFUSED, hit: any },
    Probe { name: "a schedule started a full backup", event: backup::event::SCHEDULE_JOB_STARTED, hit: |l| l.contains(" Full as of ") },
    Probe { name: "a schedule started an incremental backup", event: backup::event::SCHEDULE_JOB_STARTED, hit: |l| l.contains(" Incremental as of ") },
    Probe { name: "a scheduled run waited or was skipped: its previous backup still ran", event: backup::event::SCHEDULE_RUN_DELAYED, hit: any },
    Probe {
        name: "a scheduled run was rescheduled or retried after its backup failed",
        event: backup::event::SCHEDULE_JOB_ENDED,
        hit: |l| !l.ends_with(" succeeded"),
    },
    Probe {
        name: "a schedule's protected timestamp moved on, the superseded record released",
        event: backup::event::SCHEDULE_PROTECTION_MOVED,
        hit: |l| l.contains(" released"),
    },
    Probe { name: "GC passed the end of a superseded chain, its protection released", event: sim::event::GC_PAST_RELEASED, hit: any },
    Probe {
        name: "a locality-aware backup wrote a data file to a locality's URL",
        event: sim::event::LOCALITY_FILE_PLACED,
        hit: |l| !l.contains(" to default by "),
    },
    Probe {
        name: "a node no URL matches wrote its data file to the default URL",
        event: sim::event::LOCALITY_FILE_PLACED,
        hit: |l| l.ends_with("a node no URL matches"),
    },
];

/// How the bit-rot-detected event marks a data file found in the manifest's place.
pub(crate) const MISPLACED: &str = "(a data file in its place)";

/// How often each probe fired in `trace`.
pub fn count(trace: &str) -> BTreeMap<&'static str, u64> {
    let mut hits: BTreeMap<&'static str, u64> = PROBES.iter().map(|p| (p.name, 0)).collect();
    for line in trace.lines() {
        let Some(event) = line.split_whitespace().nth(2) else { continue };
        for p in PROBES {
            if p.event == event && (p.hit)(line) {
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
