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
//! A statement that used up a retry budget legitimately (a partition longer than the backup
//! code's patience) would fail this property too; none of the sweeps has met one, and one that
//! does should say which budget ran out before the check is loosened.
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

/// The first statement outcome in `trace` (as [`sim::Trace::text`] renders it) that failed with a
/// transient error: its line number (from 1) and the line.
fn first_transient(trace: &str) -> Option<(usize, &str)> {
    trace.lines().enumerate().find_map(|(i, line)| {
        let mut words = line.split_whitespace();
        let (_time, _who, what) = (words.next(), words.next(), words.next());
        (what == Some(sim::event::BULK_ERR) && TRANSIENT.iter().any(|t| line.contains(t))).then_some((i + 1, line))
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
}
