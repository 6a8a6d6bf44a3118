//! The transient-errors-retried property: a statement the cluster answers never fails with a
//! transient error — one the simulator itself injected (a node that is not the leaseholder or
//! cannot be reached, a range without quorum, an aborted transaction, an intent in the way, a
//! storage call that failed with a 503) and that the backup code is meant to retry.
//!
//! Why it is a property of its own: the scenarios' clients behave like real ones and re-issue a
//! statement whose connection or answer failed, so a BACKUP whose planner gave up at the first
//! unavailable range and a planner that retried look alike from the job's end. The trace records
//! every statement's outcome on the node that ran it (`bulk-err`), whoever issued it (backup
//! clients, the fault driver's PAUSE/RESUME/CANCEL, SHOW BACKUP and RESTORE probes), so the check
//! reads the trace and is independent of which client saw the error.
//!
//! A statement that used up a retry budget legitimately would fail this property too. One
//! budget is known to run out on purpose: a storage outage (fault `StorageOutage`, 15 to 60 s)
//! outlasts a statement's storage retries (5 to 20 attempts, at most about 30 s of backoff), so
//! a BACKUP's planning may fail with the storage's 503 while one lasts. Such an error is excused
//! while the outage the trace records lasts (and for [`OUTAGE_SLACK`] after: the last attempt's
//! answer travels back); a KV error, or a storage error outside an outage, is not. A job is not a
//! statement's planning: it retries a transient failure for its whole retry budget (600 s),
//! which outlasts every outage, so a job that fails with one fails this property.
//!
//! The harder liveness phase leaves one node cut off (or able to talk one way only) for good: a
//! statement run on that node after it began cannot reach the cluster, however long it retries,
//! as a client on the wrong side of a partition finds. Such a statement is excused; one run on
//! another node is not, even if the error names the lost node (it should have gone elsewhere).
//!
//! The texts are the simulator's own: the errors its nodes and its storage return when a fault
//! strikes, not the backup code's classification of them (a test below holds each text to the
//! error value it comes from, so a rewording fails loudly instead of weakening the check).

/// What the simulator's transient failures say, as their `Display` renders them: KV errors
/// [`model::KvError::is_retryable`] calls retryable, and the simulated storage's 503.
const TRANSIENT: [&str; 7] = [
    "not leaseholder for r",
    "does not lie in one range of n",
    " unavailable: ",
    "transaction aborted: ",
    "conflicting intent on ",
    "transient storage error",
    "failure (503)",
];

/// How long after an outage ends a statement may still report the 503 its last attempt met.
const OUTAGE_SLACK: f64 = 3.0;

/// What a statement that ran out of storage retries during an outage fails with (the job
/// itself says `job N failed: ...` and is never excused).
pub(crate) const STORAGE_TRANSIENT: &str = "transient storage error";

/// The seconds of a trace line's time stamp (`12.345678s`).
fn seconds(word: &str) -> Option<f64> {
    word.strip_suffix('s')?.parse().ok()
}

/// The first statement outcome in `trace` (as [`sim::Trace::text`] renders it) that failed with a
/// transient error not excused by a storage outage: its line number (from 1) and the line.
fn first_transient(trace: &str) -> Option<(usize, &str)> {
    let mut outages: Vec<(f64, f64)> = Vec::new();
    let mut lost: Option<String> = None;
    trace.lines().enumerate().find_map(|(i, line)| {
        let mut words = line.split_whitespace();
        let (time, who, what) = (words.next().and_then(seconds), words.next(), words.next());
        if who == Some("runner") && what == Some(sim::event::LIVENESS_PHASE) {
            lost = line.split_once("except: ").and_then(|(_, rest)| rest.split_whitespace().next()).map(str::to_string);
            return None;
        }
        if what == Some(sim::event::BULK_ERR) && who.is_some() && who == lost.as_deref() {
            return None;
        }
        if who == Some("storage") && what == Some(sim::event::OUTAGE) {
            let ms: Option<f64> = line.split_whitespace().rev().nth(1).and_then(|w| w.parse().ok());
            if let (Some(t), Some(ms)) = (time, ms) {
                outages.push((t, t + ms / 1000.0 + OUTAGE_SLACK));
            }
            return None;
        }
        if what != Some(sim::event::BULK_ERR) || !TRANSIENT.iter().any(|t| line.contains(t)) {
            return None;
        }
        let rest = words.collect::<Vec<_>>().join(" ");
        let excused =
            !rest.starts_with("job ") && rest.contains(STORAGE_TRANSIENT) && time.is_some_and(|t| outages.iter().any(|(from, to)| (*from..=*to).contains(&t)));
        (!excused).then_some((i + 1, line))
    })
}

/// Why `trace` breaks the property, if it does: the first statement that failed with a
/// transient error, quoted with its line number. (The runner turns it into the run's failure,
/// unless the run had already failed: that failure is what the run is about, and a transient
/// error after it may be its consequence.)
pub(crate) fn violation(trace: &str) -> Option<String> {
    first_transient(trace)
        .map(|(n, line)| format!("a statement failed with a transient error the backup code should have retried (trace line {n}): {}", line.trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{KvError, MvccError, Span, Timestamp};

    #[test]
    fn every_text_is_what_the_simulator_says() {
        let ts = Timestamp::from_nanos(5);
        let kv = [
            KvError::NotLeaseholder { range: 7, leaseholder: Some(2) },
            KvError::RangeKeyMismatch { node: 3, span: Span::new(b"a".to_vec(), b"b".to_vec()) },
            KvError::Unavailable { node: 3, reason: "partitioned".into() },
            KvError::RangeUnavailable { range: 4, reason: "no quorum".into() },
            KvError::TxnAborted("pushed".into()),
            KvError::Mvcc(MvccError::WriteIntent { key: b"k".to_vec().into(), txn: 9, ts }),
        ];
        // Retryable, every one, by the cluster model's own word.
        for e in &kv {
            assert!(e.is_retryable(), "{e:?}");
        }
        let storage = backup::storage::StorageError::Transient { path: "b/p".into(), reason: "simulated write failure (503)".into() };
        let errors: Vec<String> = kv.iter().map(|e| e.to_string()).chain([storage.to_string()]).collect();
        for e in &errors {
            assert!(TRANSIENT.iter().any(|t| e.contains(t)), "no pattern matches the simulator's error {e:?}");
        }
        // Each pattern matches some error above (the storage 503 has two: its kind and its
        // reason, either of which a rewording could drop).
        for t in TRANSIENT {
            assert!(errors.iter().any(|e| e.contains(t)), "pattern {t:?} matches none of the simulator's errors");
        }
    }

    #[test]
    fn a_transient_statement_error_is_a_violation_and_a_verdict_is_not() {
        let verdict = "   52.238463s n1 bulk-err nodelocal://1/b: no BACKUP manifest found: not a backup location\n  53.9s n1 bulk-err batch timestamp 5 must be after replica GC threshold 6";
        assert_eq!(violation(verdict), None);

        let broken = format!("{verdict}\n  60.000001s n4 bulk-err r12 unavailable: lost quorum\n  61.0s n4 bulk-ok 0 rows");
        let v = violation(&broken).expect("a transient error is a violation");
        assert!(v.contains("trace line 3") && v.contains("60.000001s n4 bulk-err r12 unavailable"), "{v}");

        // The same text outside a statement's outcome (a node's own retry, logged) is not.
        assert_eq!(violation("  60.0s n4 export-retry r12 unavailable: lost quorum"), None);
    }

    #[test]
    fn a_storage_error_is_excused_only_while_an_outage_lasts_and_never_for_a_job() {
        let outage = "  20.000000s storage outage every operation fails for 15000 ms";
        let planning = |t: &str| format!("{outage}\n  {t}s n2 bulk-err s3://b/BACKUP: transient storage error: simulated read failure (503)");
        assert_eq!(violation(&planning("21.500000")), None);
        assert_eq!(violation(&planning("37.900000")), None, "within the slack after the outage");
        assert!(violation(&planning("38.100000")).is_some(), "after the outage and its slack");
        assert!(violation(planning("19.900000").replace(outage, "").as_str()).is_some(), "no outage at all");
        let job = format!("{outage}\n  25.0s n2 bulk-err job 7 failed: s3://b/BACKUP: transient storage error: simulated read failure (503)");
        assert!(violation(&job).is_some(), "a job outlasts an outage");
        let kv = format!("{outage}\n  25.0s n2 bulk-err r12 unavailable: lost quorum");
        assert!(violation(&kv).is_some(), "an outage of storage excuses no KV error");
    }

    #[test]
    fn a_statement_on_the_node_lost_for_good_is_excused_and_one_elsewhere_is_not() {
        let liveness = "  33.5s runner liveness-phase faults stop; nodes restart; network heals; storage behaves; except: n2 stays cut off, for good";
        let on = |node: &str, t: &str| format!("{liveness}\n  {t}s {node} bulk-err n0 unavailable: n3: unreachable: RPC timeout");
        assert_eq!(violation(&on("n2", "152.1")), None);
        assert!(violation(&on("n4", "152.1")).is_some(), "another node must route around the lost one");
        let before = format!("  20.0s n2 bulk-err n0 unavailable: n3: unreachable: RPC timeout\n{liveness}");
        assert!(violation(&before).is_some(), "before the liveness phase the node was not lost");
        let healed = on("n2", "152.1").replace("; except: n2 stays cut off, for good", "");
        assert!(violation(&healed).is_some(), "a liveness phase that heals everything excuses nothing");
    }
}
