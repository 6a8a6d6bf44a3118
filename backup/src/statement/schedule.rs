//! The schedule statements of CockroachDB v21.1–v22.2 as typed values: `CREATE SCHEDULE … FOR
//! BACKUP … INTO …`, `SHOW SCHEDULES`, `SHOW SCHEDULE id` and `PAUSE / RESUME / DROP SCHEDULE
//! id`. Parsed by `parser/schedule.rs`, printed by `render/schedule.rs`, run by
//! [`crate::schedule`].
//!
//! Nothing is interpreted here: the cron expressions, `first_run` and the option values stay the
//! text written, and are checked when the statement runs, with CockroachDB's messages (as
//! CockroachDB evaluates them when it plans the statement).

use super::{BackupOptions, Locations, Targets};
use std::fmt;

/// A schedule statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScheduleStmt {
    /// `CREATE SCHEDULE … FOR BACKUP …` (boxed: it is many times the size of the others).
    Create(Box<CreateScheduleStmt>),
    /// `SHOW SCHEDULES` (`None`) or `SHOW SCHEDULE id`.
    Show(Option<i64>),
    /// `PAUSE / RESUME / DROP SCHEDULE id`.
    Control(ScheduleControl, i64),
}

/// What `PAUSE`, `RESUME` or `DROP SCHEDULE` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleControl {
    /// Stops the schedule from running until resumed (its next run is cleared).
    Pause,
    /// Runs the schedule again from its next cron time.
    Resume,
    /// Removes the schedule, unlinks its dependent schedule and releases its protected
    /// timestamp records.
    Drop,
}

impl ScheduleControl {
    /// The statement's verb.
    pub fn verb(self) -> &'static str {
        match self {
            ScheduleControl::Pause => "PAUSE",
            ScheduleControl::Resume => "RESUME",
            ScheduleControl::Drop => "DROP",
        }
    }
}

/// `RECURRING '<cron>' | NEVER`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recurring {
    /// A cron expression (five fields, or `@daily`, `@weekly`, `@hourly`, …), unparsed.
    Cron(String),
    /// `RECURRING NEVER`, which CockroachDB refuses for a backup schedule ("RECURRING clause
    /// required").
    Never,
}

/// `FULL BACKUP '<cron>' | ALWAYS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FullBackup {
    /// Full backups on their own cron expression, incrementals on `RECURRING`'s.
    Cron(String),
    /// Every run is a full backup.
    Always,
}

/// `WITH SCHEDULE OPTIONS …`, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleOptions {
    /// `first_run = '…'`: when the first full backup runs (a timestamp, or `now`).
    pub first_run: Option<String>,
    /// `on_execution_failure = 'retry' | 'reschedule' | 'pause'`.
    pub on_execution_failure: Option<String>,
    /// `on_previous_running = 'start' | 'skip' | 'wait'`.
    pub on_previous_running: Option<String>,
    /// `ignore_existing_backups`: create the schedule although the collection already holds
    /// backups.
    pub ignore_existing_backups: bool,
}

/// `CREATE SCHEDULE [IF NOT EXISTS] ['label'] FOR BACKUP [targets] INTO 'collection' [WITH …]
/// RECURRING … [FULL BACKUP …] [WITH SCHEDULE OPTIONS …]`.
#[derive(Clone, PartialEq, Eq)]
pub struct CreateScheduleStmt {
    /// `IF NOT EXISTS`: a schedule of the same label already there is not an error.
    pub if_not_exists: bool,
    /// The schedule's label (CockroachDB names it `BACKUP <unix seconds>` when absent).
    pub label: Option<String>,
    /// What each backup covers.
    pub targets: Targets,
    /// The collection's URL(s), unparsed (they may carry credentials: never printed raw).
    pub collection: Vec<String>,
    /// The backups' `WITH` options (`revision_history`, `encryption_passphrase`; `detached` is
    /// implied: a scheduled backup always runs detached).
    pub backup_options: BackupOptions,
    /// The incrementals' recurrence (every run's, with `FULL BACKUP ALWAYS`).
    pub recurring: Recurring,
    /// The full backups' recurrence; absent: picked from `recurring` as CockroachDB does.
    pub full_backup: Option<FullBackup>,
    /// The schedule options.
    pub options: ScheduleOptions,
}

impl fmt::Debug for CreateScheduleStmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateScheduleStmt")
            .field("if_not_exists", &self.if_not_exists)
            .field("label", &self.label)
            .field("targets", &self.targets)
            .field("collection", &Locations(&self.collection))
            .field("backup_options", &self.backup_options)
            .field("recurring", &self.recurring)
            .field("full_backup", &self.full_backup)
            .field("options", &self.options)
            .finish()
    }
}
