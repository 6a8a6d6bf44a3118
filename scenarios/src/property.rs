//! The properties a run checks, as a type: a failure names one, tests and the shrinker compare
//! them, and the reports print their names (`backup-sim` output, JSON lines, snapshots), which
//! are the same kebab-case words as before. A property that is not listed here cannot be failed.

use std::fmt;

/// One property of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    /// Every read the workload made (at its own time or a past one) equals the oracle.
    ReadsMatchOracle,
    /// Once faults stop, the workload and every job finish within the bound.
    Liveness,
    /// The workload itself ran as written (setup, preload, its statements' own errors).
    Workload,
    /// The simulator's own invariants hold (a panic inside the simulation).
    Invariant,
    /// A backup job the scenario expects to succeed does.
    BackupJobSucceeds,
    /// A finished backup's manifest decodes, lists only files that exist, and leaves no
    /// checkpoint; its text dump shows every list whole (`scenarios/src/manifest_check.rs`).
    BackupComplete,
    /// RESTORE of an intact backup succeeds.
    RestoreSucceeds,
    /// A RESTORE that does not finish (canceled, failed) publishes nothing and leaves no
    /// descriptor, offline or not, and no data behind.
    RestoreAllOrNothing,
    /// What RESTORE publishes equals the oracle at the backup's time, and so do the rows and
    /// index entries it reports.
    RestoreMatchesOracle,
    /// RESTORE (and SHOW BACKUP) refuse a backup that storage damaged, naming the file.
    DamageDetected,
    /// One flipped bit in a backup file makes RESTORE refuse, naming the file.
    CorruptionDetected,
    /// Of two backups to one location, never both succeed; the one that did restores.
    OneBackupPerLocation,
    /// Statements the seed page says must be refused are refused (below the GC threshold, ...).
    Refusals,
    /// Every export was answered by the range's leaseholder of the moment.
    ExportsFromLeaseholders,
    /// A restore to a time inside a revision-history window equals the oracle then.
    PointInTimeRestore,
    /// Each incremental holds exactly the changes of its time window, and a DATABASE or table
    /// backup's descriptor history only its targets' (`scenarios/src/manifest_check.rs`).
    IncrementalHoldsItsChanges,
    /// Each member of a chain starts where the one before ends.
    ChainContiguous,
    /// No secret of the run (a storage credential, an encryption passphrase) appears in its
    /// trace, its report or its failure message.
    SecretsHidden,
    /// SHOW BACKUP of a finished backup lists what the oracle says it holds: every relation of
    /// its targets, under its database and kind, each table with its row count then; and the
    /// shell's printing of an answer reads back as the answer (`scenarios/src/render_check.rs`).
    ShowMatchesOracle,
    /// No statement the cluster answers fails with a transient error the simulator injected
    /// (an unreachable node, a range without quorum, a storage 503): the backup code retries those.
    TransientErrorsRetried,
    /// What the cluster tells a user about a backup job is true: SHOW JOBS describes each by the
    /// statement that started it (secrets redacted), and a refusal for a location in use names
    /// the job that holds it, with a status and advice that fit, and an operator's PAUSE /
    /// RESUME / CANCEL JOB is refused only for what the job's status forbids
    /// ([`crate::jobs_check`]).
    JobAccountsTrue,
    /// No scheduled backup met a GC threshold: the protected timestamps of a backup schedule
    /// kept every revision its chains' next incrementals (and its running backups) read, however
    /// long the gap and however short the TTL (the schedule scenario).
    GcKeptWhatChainsNeed,
    /// Protected data does not grow without bound: at the end, the cluster's protected
    /// timestamp records are one per schedule pair, at its newest backup's end time (every
    /// superseded backup's record released), none left by an ended job, and none after
    /// DROP SCHEDULE (the schedule scenario).
    ProtectionBounded,
    /// Every data file of a locality-aware backup went to the URL CockroachDB's rule names for
    /// the node that exported it: its most specific locality tier with a URL, else the default
    /// (judged from the trace and the drawn localities: [`crate::locality_check`]).
    WritesInTheirLocality,
}

impl Property {
    /// Every property, in a fixed order.
    pub const ALL: [Property; 24] = [
        Property::ReadsMatchOracle,
        Property::Liveness,
        Property::Workload,
        Property::Invariant,
        Property::BackupJobSucceeds,
        Property::BackupComplete,
        Property::RestoreSucceeds,
        Property::RestoreAllOrNothing,
        Property::RestoreMatchesOracle,
        Property::DamageDetected,
        Property::CorruptionDetected,
        Property::OneBackupPerLocation,
        Property::Refusals,
        Property::ExportsFromLeaseholders,
        Property::PointInTimeRestore,
        Property::IncrementalHoldsItsChanges,
        Property::ChainContiguous,
        Property::SecretsHidden,
        Property::ShowMatchesOracle,
        Property::TransientErrorsRetried,
        Property::JobAccountsTrue,
        Property::GcKeptWhatChainsNeed,
        Property::ProtectionBounded,
        Property::WritesInTheirLocality,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Property::ReadsMatchOracle => "reads-match-oracle",
            Property::Liveness => "liveness",
            Property::Workload => "workload",
            Property::Invariant => "invariant",
            Property::BackupJobSucceeds => "backup-job-succeeds",
            Property::BackupComplete => "backup-complete",
            Property::RestoreSucceeds => "restore-succeeds",
            Property::RestoreAllOrNothing => "restore-all-or-nothing",
            Property::RestoreMatchesOracle => "restore-matches-oracle",
            Property::DamageDetected => "damage-detected",
            Property::CorruptionDetected => "corruption-detected",
            Property::OneBackupPerLocation => "one-backup-per-location",
            Property::Refusals => "refusals",
            Property::ExportsFromLeaseholders => "exports-from-leaseholders",
            Property::PointInTimeRestore => "point-in-time-restore",
            Property::IncrementalHoldsItsChanges => "incremental-holds-its-changes",
            Property::ChainContiguous => "chain-contiguous",
            Property::SecretsHidden => "secrets-hidden",
            Property::ShowMatchesOracle => "show-matches-oracle",
            Property::TransientErrorsRetried => "transient-errors-retried",
            Property::JobAccountsTrue => "job-accounts-true",
            Property::GcKeptWhatChainsNeed => "gc-kept-what-chains-need",
            Property::ProtectionBounded => "protection-bounded",
            Property::WritesInTheirLocality => "writes-in-their-locality",
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case() {
        let names: std::collections::BTreeSet<&str> = Property::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names.len(), Property::ALL.len());
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
    }
}
