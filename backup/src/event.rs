//! The names of the job events the backup code records through [`crate::env::Env::event`]
//! (the simulator writes them into its trace; the probes and the trace summary read them), as
//! constants shared by emitter and reader.

/// `export-retried`
pub const EXPORT_RETRIED: &str = "export-retried";
/// `job-claimed`
pub const JOB_CLAIMED: &str = "job-claimed";
/// `job-cleanup`
pub const JOB_CLEANUP: &str = "job-cleanup";
/// `job-found-manifest`
pub const JOB_FOUND_MANIFEST: &str = "job-found-manifest";
/// `job-manifest-written`
pub const JOB_MANIFEST_WRITTEN: &str = "job-manifest-written";
/// `job-pausepoint`
pub const JOB_PAUSEPOINT: &str = "job-pausepoint";
/// `job-resumed-from-checkpoint`
pub const JOB_RESUMED_FROM_CHECKPOINT: &str = "job-resumed-from-checkpoint";
/// `job-retrying`
pub const JOB_RETRYING: &str = "job-retrying";
/// `job-run-ended`
pub const JOB_RUN_ENDED: &str = "job-run-ended";
/// `restore-offline`: a RESTORE's descriptors are written, offline.
pub const RESTORE_OFFLINE: &str = "restore-offline";
/// `restore-span-ingested`: a RESTORE recorded a span as done.
pub const RESTORE_SPAN_INGESTED: &str = "restore-span-ingested";
/// `restore-resumed`: a RESTORE run starts with spans already done.
pub const RESTORE_RESUMED: &str = "restore-resumed";
/// `restore-published`: a RESTORE's descriptors are public and the job succeeded, in one commit.
pub const RESTORE_PUBLISHED: &str = "restore-published";
/// `restore-removed`: a failed or canceled RESTORE's descriptors and data are gone.
pub const RESTORE_REMOVED: &str = "restore-removed";
/// `restore-removal-unfinished`: a failed or canceled RESTORE's removal gave up (the cluster did
/// not answer, or the run lost the job); the job stays asking to be canceled until one finishes.
pub const RESTORE_REMOVAL_UNFINISHED: &str = "restore-removal-unfinished";
/// `restore-publishing`: every span is recorded done; the restore publishes next.
pub const RESTORE_PUBLISHING: &str = "restore-publishing";
/// `schedule-job-started`: a due schedule started its backup (one commit: the schedule's next
/// run, the job, the job's protected timestamp record).
pub const SCHEDULE_JOB_STARTED: &str = "schedule-job-started";
/// `schedule-job-ended`: the scheduler handled the end of a backup a schedule started.
pub const SCHEDULE_JOB_ENDED: &str = "schedule-job-ended";
/// `schedule-run-failed`: a due schedule's backup could not be planned; its
/// `on_execution_failure` applied.
pub const SCHEDULE_RUN_FAILED: &str = "schedule-run-failed";
/// `schedule-run-delayed`: a due schedule found a backup it started still running and waited
/// (`on_previous_running = 'wait'`) or skipped the run (`'skip'`).
pub const SCHEDULE_RUN_DELAYED: &str = "schedule-run-delayed";
/// `schedule-protection-moved`: a chain's protected timestamp record moved to a newer backup's
/// end time, the superseded record released.
pub const SCHEDULE_PROTECTION_MOVED: &str = "schedule-protection-moved";
