//! Planted bugs: deliberate, realistic mistakes that measure the test bed's power. Active only
//! in a build with the `planted-bugs` feature (off by default), and there only when a run
//! selects one by name: without the feature [`crate::env::Env::planted`] is constant `false`,
//! so every planted branch is dead code and a default build runs none of them.
//!
//! Each is modelled on a real class of backup bug. The simulated node has a planted bug of its
//! own (`sim::planted`), where `sim::planted::Planted` lists all of them for `backup-sim
//! mutants`, which sweeps the scenarios with each one in turn and reports how many seeds it took
//! to catch it.

use serde::{Deserialize, Serialize};

/// One planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PlantedBug {
    /// A resumed job treats the first span still to do as done: a span is skipped.
    ResumeSkipsSpan,
    /// A resumed job exports a span it already finished again: a span repeated.
    ResumeRepeatsSpan,
    /// The manifest is written without the last data file finished: its rows are lost.
    ManifestBeforeLastFile,
    /// The GC-threshold check at planning compares the threshold with now instead of the
    /// backup's time: a backup below the threshold is planned (and fails later, or worse).
    GcCheckWrongTimestamp,
    /// The export window is taken as (start, end) instead of (start, end]: writes at exactly
    /// the backup's time are lost.
    WindowEndExclusive,
    /// A table's dependencies are not checked: a backup without the table it references.
    DependencyNotChecked,
    /// RESTORE skips the last data file of the backup.
    RestoreIgnoresAFile,
    /// An incremental takes its start time from the first backup of its base chain instead of
    /// the newest: it overlaps its base (and its chain no longer lines up).
    IncrementalStartFromFirstBase,
    /// A span an incremental introduces (a table new since the base) is exported from the
    /// base's end time instead of from time zero: the new table's older rows are lost.
    IntroducedSpanFromBaseTime,
    /// A resumed RESTORE trusts a low-watermark: every span below the end of the highest span
    /// it finished counts as done, though spans finish out of order (CockroachDB's restore lost
    /// rows this way when it resumed after a pause or a node death).
    RestoreResumeTrustsWatermark,
    /// A RESTORE records a span as done before the ingest it describes has landed: a
    /// coordinator that dies in between leaves a span its successor never ingests.
    RestoreCheckpointBeforeIngest,
    /// A locality-aware backup sends every data file to the default URL, whatever the locality
    /// of the node that exported it (a backup processor that never looks at its node's
    /// locality): the backup still restores, but the data left the locality it was to stay in.
    LocalityIgnored,
}

impl PlantedBug {
    /// Every planted bug, in a fixed order.
    pub const ALL: [PlantedBug; 12] = [
        PlantedBug::ResumeSkipsSpan,
        PlantedBug::ResumeRepeatsSpan,
        PlantedBug::ManifestBeforeLastFile,
        PlantedBug::GcCheckWrongTimestamp,
        PlantedBug::WindowEndExclusive,
        PlantedBug::DependencyNotChecked,
        PlantedBug::RestoreIgnoresAFile,
        PlantedBug::IncrementalStartFromFirstBase,
        PlantedBug::IntroducedSpanFromBaseTime,
        PlantedBug::RestoreResumeTrustsWatermark,
        PlantedBug::RestoreCheckpointBeforeIngest,
        PlantedBug::LocalityIgnored,
    ];

    /// The bug's name on the command line (`resume-skips-span`).
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::ResumeSkipsSpan => "resume-skips-span",
            PlantedBug::ResumeRepeatsSpan => "resume-repeats-span",
            PlantedBug::ManifestBeforeLastFile => "manifest-before-last-file",
            PlantedBug::GcCheckWrongTimestamp => "gc-check-wrong-timestamp",
            PlantedBug::WindowEndExclusive => "window-end-exclusive",
            PlantedBug::DependencyNotChecked => "dependency-not-checked",
            PlantedBug::RestoreIgnoresAFile => "restore-ignores-a-file",
            PlantedBug::IncrementalStartFromFirstBase => "incremental-start-from-first-base",
            PlantedBug::IntroducedSpanFromBaseTime => "introduced-span-from-base-time",
            PlantedBug::RestoreResumeTrustsWatermark => "restore-resume-trusts-watermark",
            PlantedBug::RestoreCheckpointBeforeIngest => "restore-checkpoint-before-ingest",
            PlantedBug::LocalityIgnored => "locality-ignored",
        }
    }
}
