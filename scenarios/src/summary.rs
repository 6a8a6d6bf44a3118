//! A readable summary of a run's trace: what a reviewer wants to see change (or not) when the
//! implementation or the simulator changes — the faults injected, the backup job's life, storage
//! damage and the verdict, in time order, and how often everything else happened.
//!
//! The full trace is tens of thousands of lines of messages and commits; a snapshot of it would
//! change with any tweak and be unreviewable. The summary keeps the story and counts the rest,
//! so `cargo insta review` shows a behaviour change as a few readable lines.

use std::collections::BTreeMap;

/// Events told one by one in the summary's timeline (everything else is counted).
const TIMELINE: &[&str] = &[
    sim::event::SWARM,
    sim::event::EXPLICIT_SCHEDULE,
    sim::event::BACKUP_PLAN,
    sim::event::INJECT,
    sim::event::JOB_CONTROL,
    sim::event::GATEWAY_CRASH,
    sim::event::LIVENESS_PHASE,
    backup::event::JOB_CLAIMED,
    backup::event::JOB_RESUMED_FROM_CHECKPOINT,
    backup::event::JOB_FOUND_MANIFEST,
    backup::event::JOB_MANIFEST_WRITTEN,
    backup::event::JOB_RUN_ENDED,
    backup::event::RESTORE_OFFLINE,
    backup::event::RESTORE_RESUMED,
    backup::event::RESTORE_PUBLISHED,
    backup::event::RESTORE_REMOVED,
    sim::event::RESTORE_CANCELED_CLEANLY,
    sim::event::WRITER_DOOMED,
    sim::event::WRITE_TORN,
    sim::event::WRITE_LOST,
    sim::event::BIT_ROT,
    sim::event::CORRUPT,
    sim::event::BACKUP_ENDED,
    sim::event::DAMAGE_DETECTED,
    sim::event::BIT_ROT_DETECTED,
    sim::event::VERDICT,
    sim::event::INGESTED,
];

/// Summarises `trace`: a timeline of the events in [`TIMELINE`] (time, actor, event, detail
/// cut to 120 characters) and a count of every other event kind.
pub fn summarize(trace: &str) -> String {
    let mut timeline = Vec::new();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut lines = 0;
    for line in trace.lines() {
        lines += 1;
        let mut parts = line.split_whitespace();
        let (Some(time), Some(who), Some(what)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if TIMELINE.contains(&what) {
            let detail: String = parts.collect::<Vec<_>>().join(" ");
            let detail = if detail.chars().count() > 120 { format!("{}…", detail.chars().take(120).collect::<String>()) } else { detail };
            timeline.push(format!("{time:>12} {who:<14} {what:<28} {detail}"));
        } else {
            *counts.entry(what).or_default() += 1;
        }
    }
    let mut out = format!("{lines} trace lines\n\ntimeline:\n");
    for t in timeline {
        out.push_str(&t);
        out.push('\n');
    }
    out.push_str("\ncounted:\n");
    for (what, n) in counts {
        out.push_str(&format!("  {what:<28} {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_story_and_counts_the_rest() {
        let trace = "   0.000000s runner swarm Crash=4/min\n   0.100000s n1 send x\n   0.200000s n2 send y\n   1.000000s nemesis inject crash n3\n";
        let s = summarize(trace);
        assert!(s.contains("nemesis        inject                       crash n3"), "{s}");
        assert!(s.contains("  send                         2"), "{s}");
        assert!(!s.contains("send x"), "{s}");
    }
}
