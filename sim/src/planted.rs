//! The simulator's own planted bugs, and [`Planted`], the one list of every planted bug a run
//! can select by name: the backup code's (`backup::planted`) and the simulated node's (here).
//!
//! A bug planted in the simulated node is a mistake of the system around BACKUP (the KV layer
//! it exports through), not of BACKUP itself, so it lives with the node that acts on it. Like
//! the backup code's, it acts only in a build with this crate's `planted-bugs` feature (which
//! turns on `backup/planted-bugs` too): without it the method `WorldConfig::planted` is constant
//! `false` and the planted branch is dead code.

use backup::planted::PlantedBug;
use serde::{Deserialize, Serialize};

/// A planted bug in the simulated node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SimBug {
    /// A node answers an export for a range it holds a replica of but does not lease: a stale
    /// leaseholder, whose replica may lag the range.
    ExportFromStaleLeaseholder,
}

impl SimBug {
    /// The bug's name on the command line (`export-from-stale-leaseholder`).
    pub fn name(self) -> &'static str {
        match self {
            SimBug::ExportFromStaleLeaseholder => "export-from-stale-leaseholder",
        }
    }
}

/// Any planted bug a run can select: in the backup code or in the simulated node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Planted {
    /// A bug in the backup code, acted on through `backup::env::Env::planted`.
    Backup(PlantedBug),
    /// A bug in the simulated node, acted on where the node asks the method
    /// `WorldConfig::planted`.
    Sim(SimBug),
}

impl Planted {
    /// Every planted bug, in a fixed order (the order of `backup-sim mutants`' table).
    pub const ALL: [Planted; 13] = [
        Planted::Sim(SimBug::ExportFromStaleLeaseholder),
        Planted::Backup(PlantedBug::ResumeSkipsSpan),
        Planted::Backup(PlantedBug::ResumeRepeatsSpan),
        Planted::Backup(PlantedBug::ManifestBeforeLastFile),
        Planted::Backup(PlantedBug::GcCheckWrongTimestamp),
        Planted::Backup(PlantedBug::WindowEndExclusive),
        Planted::Backup(PlantedBug::DependencyNotChecked),
        Planted::Backup(PlantedBug::RestoreIgnoresAFile),
        Planted::Backup(PlantedBug::IncrementalStartFromFirstBase),
        Planted::Backup(PlantedBug::IntroducedSpanFromBaseTime),
        Planted::Backup(PlantedBug::RestoreResumeTrustsWatermark),
        Planted::Backup(PlantedBug::RestoreCheckpointBeforeIngest),
        Planted::Backup(PlantedBug::LocalityIgnored),
    ];

    /// The bug's name on the command line (`resume-skips-span`).
    pub fn name(self) -> &'static str {
        match self {
            Planted::Backup(bug) => bug.name(),
            Planted::Sim(bug) => bug.name(),
        }
    }

    /// The bug with this name.
    pub fn by_name(name: &str) -> Option<Planted> {
        Planted::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The backup code's bug, if this is one: what a node's `backup::env::Env` carries.
    pub fn in_backup(self) -> Option<PlantedBug> {
        match self {
            Planted::Backup(bug) => Some(bug),
            Planted::Sim(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_holds_every_bug_of_both_crates_once_under_its_own_name() {
        let backup: Vec<Planted> = PlantedBug::ALL.into_iter().map(Planted::Backup).collect();
        let sim = [Planted::Sim(SimBug::ExportFromStaleLeaseholder)];
        assert_eq!(Planted::ALL.len(), backup.len() + sim.len());
        for bug in backup.iter().chain(&sim) {
            assert_eq!(Planted::ALL.iter().filter(|b| *b == bug).count(), 1, "{bug:?}");
            assert_eq!(Planted::by_name(bug.name()), Some(*bug));
        }
        assert_eq!(Planted::by_name("no-such-bug"), None);
    }
}
