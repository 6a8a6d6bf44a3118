//! Which faults a seed turns on, and the schedule they expand to: swarm testing, so that
//! different seeds stress different mixes.
//!
//! Every fault kind is drawn through one path: [`Swarm::draw`] decides, kind by kind, whether it
//! is on (and at what rate), and [`Swarm::schedule`] and [`Swarm::aimed_at_job`] expand the kinds
//! that are on into explicit faults. Each kind draws from its own streams of the seed's tree
//! (`swarm/<kind>` and `faults/<kind>`, see [`crate::seed_tree`]), so adding a kind, or a scenario
//! offering a kind another does not, leaves every other kind's draws of a seed as they were.

use super::{Fault, JobAction, JobPhase, Schedule, ScheduledFault};
use crate::clock::ClockShape;
use crate::seed_tree::SeedTree;
use crate::storage::StorageFaults;
use model::NodeId;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// The kinds of fault a swarm can switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    /// Node crash, later restart.
    Crash,
    /// Node pause, later resume.
    Pause,
    /// Network partitions (one node, or a minority), later healed.
    Partition,
    /// Message latency and loss.
    Network,
    /// Clock skew and jumps within the maximum offset.
    Clock,
    /// Lease transfers.
    LeaseTransfer,
    /// Range splits.
    Split,
    /// GC runs with a short TTL, racing readers.
    Gc,
    /// The job's gateway crashed while its statement runs, later restarted.
    GatewayCrash,
    /// PAUSE JOB, then RESUME JOB, of the running job.
    PauseResume,
    /// CANCEL JOB of the running job.
    Cancel,
    /// The job's coordinator killed at a chosen phase of its job (see [`JobPhase`]).
    CoordinatorKill,
    /// A storage write that lands torn, or never lands, and reports success.
    TornOrLostWrite,
    /// One bit of a stored object flipped at rest.
    BitRot,
    /// The storage backend's dice for the whole run: transient errors, slow operations, writes
    /// that land but report failure, stale listings.
    FlakyStorage,
    /// A second BACKUP to the destination the running job writes to, started by another client
    /// while it runs.
    ConcurrentBackup,
    /// The storage service down for 15 to 60 s from early in the job: longer than every retry
    /// budget of a storage operation, so the job's planning, its lock, its checkpoints or its
    /// cleanup give up on it.
    StorageOutage,
    /// The coordinator of the scenario's RESTORE killed: after it recorded some spans done (with
    /// others in flight), or as it publishes.
    RestoreKill,
    /// PAUSE JOB, then RESUME JOB, of the scenario's running RESTORE.
    RestorePauseResume,
    /// CANCEL JOB of the scenario's running RESTORE (which must then leave no trace, and is run
    /// again without faults to judge the backup).
    RestoreCancel,
    /// Replica rebalancing: a range's replica moved to a node that has none, caught up from a
    /// snapshot.
    Rebalance,
    /// The harder liveness phase: one node stays down, cut off, or cut off one way for good
    /// after the safety phase ([`crate::faults::Lasting`]).
    LastingMinority,
}

impl FaultKind {
    /// Every cluster-level kind: on at a rate per simulated minute, timed over the safety phase.
    pub const CLUSTER: [FaultKind; 8] = [
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Network,
        FaultKind::Clock,
        FaultKind::LeaseTransfer,
        FaultKind::Split,
        FaultKind::Gc,
    ];
    /// Every kind aimed at a running job: on or off per seed, timed from the job's start.
    pub const JOB: [FaultKind; 9] = [
        FaultKind::GatewayCrash,
        FaultKind::PauseResume,
        FaultKind::Cancel,
        FaultKind::CoordinatorKill,
        FaultKind::TornOrLostWrite,
        FaultKind::BitRot,
        FaultKind::FlakyStorage,
        FaultKind::ConcurrentBackup,
        FaultKind::StorageOutage,
    ];

    /// Every kind aimed at the scenario's RESTORE: on or off per seed, timed from the restore's
    /// statement, in the cluster it restores into.
    pub const RESTORE: [FaultKind; 3] = [FaultKind::RestoreKill, FaultKind::RestorePauseResume, FaultKind::RestoreCancel];

    /// True for the kinds aimed at a job (a backup's or a restore's).
    pub fn aimed_at_job(self) -> bool {
        FaultKind::JOB.contains(&self) || FaultKind::RESTORE.contains(&self)
    }

    /// True for the kinds a seed turns on or off as a whole, with no rate: those aimed at a job,
    /// and the lasting minority.
    pub fn once_per_run(self) -> bool {
        self.aimed_at_job() || self == FaultKind::LastingMinority
    }

    /// The chance, as (numerator, denominator), that a seed turns this kind on.
    pub fn odds(self) -> (u32, u32) {
        match self {
            FaultKind::GatewayCrash | FaultKind::PauseResume => (1, 2),
            FaultKind::Cancel => (1, 5),
            FaultKind::CoordinatorKill => (1, 3),
            FaultKind::TornOrLostWrite | FaultKind::BitRot | FaultKind::ConcurrentBackup => (1, 4),
            FaultKind::FlakyStorage => (1, 1),
            FaultKind::StorageOutage => (1, 6),
            FaultKind::RestoreKill => (1, 2),
            FaultKind::RestorePauseResume => (1, 3),
            FaultKind::RestoreCancel => (1, 8),
            FaultKind::LastingMinority => (1, 4),
            _ => (3, 4),
        }
    }

    /// The kind's streams' name in the seed tree.
    fn path(self, stem: &str) -> String {
        format!("{stem}/{self:?}")
    }
}

/// How a run's faults are chosen: all cluster kinds at a fixed rate (the pinned test seeds), drawn
/// by the seed (swarm testing), or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultMix {
    /// Every cluster kind at 6 per minute; the job kinds on by their odds.
    Everything,
    /// Each kind on by its odds; cluster kinds at a drawn rate.
    Swarm,
    /// No faults at all.
    None,
}

/// Which fault kinds a run has on: the cluster kinds with their rate per simulated minute, the
/// kinds aimed at a job once each.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Swarm {
    /// Rate per simulated minute of each cluster kind that is on.
    pub rates: BTreeMap<FaultKind, u32>,
    /// The kinds aimed at a job that are on.
    pub aimed: BTreeSet<FaultKind>,
}

impl Swarm {
    /// Every cluster kind on at 6 per minute, no job kinds: what tests that drive the world
    /// directly use.
    pub fn everything() -> Swarm {
        Swarm { rates: FaultKind::CLUSTER.iter().map(|k| (*k, 6)).collect(), aimed: BTreeSet::new() }
    }

    /// No faults.
    pub fn none() -> Swarm {
        Swarm::default()
    }

    /// The seed's swarm over the kinds of `menu` (the kinds a scenario offers), under `mix`.
    /// Each kind draws from its own stream `swarm/<kind>`: a cluster kind is on with probability
    /// 3/4 at a rate between 2 and 20 per minute (or always, at 6, under
    /// [`FaultMix::Everything`]); a job kind is on by its [`FaultKind::odds`].
    pub fn draw(tree: &SeedTree, menu: &[FaultKind], mix: FaultMix) -> Swarm {
        let mut swarm = Swarm::none();
        if mix == FaultMix::None {
            return swarm;
        }
        for &kind in menu {
            let mut rng = tree.stream(&kind.path("swarm"));
            let (num, den) = kind.odds();
            let on = rng.gen_ratio(num, den);
            if kind.once_per_run() {
                if on {
                    swarm.aimed.insert(kind);
                }
            } else if mix == FaultMix::Everything {
                swarm.rates.insert(kind, 6);
            } else if on {
                swarm.rates.insert(kind, rng.gen_range(2..=20));
            }
        }
        swarm
    }

    /// True when `kind` is on.
    pub fn has(&self, kind: FaultKind) -> bool {
        self.rates.contains_key(&kind) || self.aimed.contains(&kind)
    }

    /// Turns `kind` off (a scenario whose run cannot host it this seed, e.g. a rival automatic
    /// incremental in a chain of explicit ones), before the swarm is printed and expanded.
    pub fn without(mut self, kind: FaultKind) -> Swarm {
        self.rates.remove(&kind);
        self.aimed.remove(&kind);
        self
    }

    /// The swarm's knobs, named with their units, for the top of the trace.
    pub fn knobs(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self.rates.iter().map(|(k, r)| (format!("swarm.{k:?}"), format!("{r}/min"))).collect();
        out.extend(self.aimed.iter().map(|k| (format!("swarm.{k:?}"), "on".to_string())));
        out
    }

    /// Expands the cluster kinds into a schedule over `duration` for a cluster of `nodes` nodes
    /// with clocks bounded by `max_offset`. At most one node is down or paused at a time and
    /// partitions cut off a minority, so a quorum of every range survives each fault on its own;
    /// every crash, pause and partition is undone before `duration` ends.
    pub fn schedule(&self, tree: &SeedTree, nodes: usize, max_offset: Duration, duration: Duration) -> Schedule {
        let mut out: Schedule = Vec::new();
        let ids: Vec<NodeId> = (1..=nodes as NodeId).collect();
        let minutes = duration.as_secs_f64() / 60.0;
        let mut busy_until = Duration::ZERO; // node-level faults do not overlap
        let mut cut_until = Duration::ZERO; // partitions do not overlap
        for (&kind, &rate) in &self.rates {
            let rng = &mut tree.stream(&kind.path("faults"));
            let count = (rate as f64 * minutes).round() as u32;
            for _ in 0..count {
                let at = Duration::from_millis(rng.gen_range(0..duration.as_millis().max(1) as u64));
                let lasting = Duration::from_millis(rng.gen_range(500..8_000));
                let end = (at + lasting).min(duration);
                match kind {
                    FaultKind::Crash | FaultKind::Pause => {
                        if at < busy_until {
                            continue;
                        }
                        busy_until = end + Duration::from_millis(500);
                        let node = *ids.choose(rng).expect("nodes");
                        let (on, off) = if kind == FaultKind::Crash {
                            (Fault::Crash { node }, Fault::Restart { node })
                        } else {
                            (Fault::Pause { node }, Fault::Resume { node })
                        };
                        out.push(ScheduledFault { at, fault: on });
                        out.push(ScheduledFault { at: end, fault: off });
                    }
                    FaultKind::Partition => {
                        if at < cut_until || nodes < 3 {
                            continue;
                        }
                        cut_until = end + Duration::from_millis(100);
                        let size = rng.gen_range(1..=(nodes - 1) / 2);
                        let mut group: Vec<NodeId> = ids.choose_multiple(rng, size).copied().collect();
                        group.sort();
                        out.push(ScheduledFault { at, fault: Fault::Partition { group } });
                        out.push(ScheduledFault { at: end, fault: Fault::Heal });
                    }
                    FaultKind::Network => {
                        let min_ms = rng.gen_range(0..20);
                        let max_ms = min_ms + rng.gen_range(1..200);
                        let loss_per_mille = if rng.gen_ratio(1, 2) { 0 } else { rng.gen_range(1..50) };
                        out.push(ScheduledFault { at, fault: Fault::Network { min_ms, max_ms, loss_per_mille } });
                        out.push(ScheduledFault { at: end, fault: Fault::Network { min_ms: 1, max_ms: 10, loss_per_mille: 0 } });
                    }
                    FaultKind::Clock => {
                        let node = *ids.choose(rng).expect("nodes");
                        let shape = ClockShape::random(rng, (max_offset.as_nanos() / 2) as i64);
                        out.push(ScheduledFault { at, fault: Fault::Clock { node, shape } });
                    }
                    FaultKind::LeaseTransfer => out.push(ScheduledFault { at, fault: Fault::TransferLease { range_pick: rng.gen(), to_pick: rng.gen() } }),
                    FaultKind::Split => out.push(ScheduledFault { at, fault: Fault::Split { range_pick: rng.gen(), key_pick: rng.gen() } }),
                    FaultKind::Gc => out.push(ScheduledFault { at, fault: Fault::Gc { range_pick: rng.gen(), ttl_ms: rng.gen_range(5_000..30_000) } }),
                    FaultKind::Rebalance => {
                        out.push(ScheduledFault { at, fault: Fault::Rebalance { range_pick: rng.gen(), from_pick: rng.gen(), to_pick: rng.gen() } })
                    }
                    _ => {}
                }
            }
        }
        out.sort();
        out
    }

    /// What stays broken after the safety phase when [`FaultKind::LastingMinority`] is on: a node
    /// other than n1 (see [`crate::faults::lasting`]) and how, from the kind's own stream.
    pub fn lasting(&self, tree: &SeedTree, nodes: usize) -> Option<crate::faults::Lasting> {
        use crate::faults::Lasting;
        if !self.has(FaultKind::LastingMinority) || nodes < 3 {
            return None;
        }
        let rng = &mut tree.stream(&FaultKind::LastingMinority.path("faults"));
        let node = rng.gen_range(2..=nodes as NodeId);
        Some([Lasting::Down(node), Lasting::Partitioned(node), Lasting::CannotSend(node), Lasting::CannotReceive(node)][rng.gen_range(0..4)])
    }

    /// Expands the job kinds that are on into faults aimed at the job `job` describes.
    /// [`FaultKind::FlakyStorage`] is not a timed fault: see [`Swarm::storage_dice`].
    pub fn aimed_at_job(&self, tree: &SeedTree, job: &JobTarget) -> Schedule {
        let ms = |rng: &mut ChaCha8Rng, lo: u64, hi: u64| Duration::from_millis(rng.gen_range(lo..hi.max(lo + 1)));
        let within = |rng: &mut ChaCha8Rng, (from, to): (Duration, Duration)| from + ms(rng, 0, (to.saturating_sub(from)).as_millis() as u64);
        let mut out = Vec::new();
        for &kind in &self.aimed {
            let rng = &mut tree.stream(&kind.path("faults"));
            let start = job.start;
            match kind {
                FaultKind::GatewayCrash => {
                    let at = start + ms(rng, 20, 1_500);
                    out.push(ScheduledFault { at, fault: Fault::Crash { node: job.gateway } });
                    out.push(ScheduledFault { at: at + ms(rng, 1_000, 8_000), fault: Fault::Restart { node: job.gateway } });
                }
                FaultKind::PauseResume => {
                    let at = start + ms(rng, 0, 2_000);
                    out.push(ScheduledFault { at, fault: Fault::Job { action: JobAction::Pause } });
                    out.push(ScheduledFault { at: at + ms(rng, 200, 5_000), fault: Fault::Job { action: JobAction::Resume } });
                }
                FaultKind::Cancel => {
                    let at = start + ms(rng, 0, 1_500);
                    out.push(ScheduledFault { at, fault: Fault::Job { action: JobAction::Cancel } });
                    // Drawn from a stream of its own, so that every other draw stays.
                    let kill = &mut tree.stream("faults/Cancel/cleaning-up");
                    if job.kill_cleaning_up_after_cancel && kill.gen_ratio(1, 2) {
                        let down_ms = kill.gen_range(1_000..6_000);
                        out.push(ScheduledFault { at, fault: Fault::KillCoordinator { phase: JobPhase::CleaningUp, skip: 0, down_ms } });
                    }
                }
                FaultKind::CoordinatorKill if !job.kill_phases.is_empty() => {
                    let at = within(rng, job.kill_window);
                    let phase = job.kill_phases[rng.gen_range(0..job.kill_phases.len())];
                    // While exporting, let it write a few files first, so that it dies with a checkpoint.
                    let skip = if phase == JobPhase::Exporting { rng.gen_range(0..4) } else { 0 };
                    let down_ms = rng.gen_range(1_000..6_000);
                    // Half the kills at the manifest write let it land whole first: the window
                    // between publishing and recording success, which a kill timed by the clock
                    // almost never hits. (Drawn last, so every other draw of the stream stays.)
                    let phase = if phase == JobPhase::WritingManifest && rng.gen_ratio(1, 2) { JobPhase::AfterManifest } else { phase };
                    out.push(ScheduledFault { at, fault: Fault::KillCoordinator { phase, skip, down_ms } });
                }
                FaultKind::TornOrLostWrite => {
                    let fault = if rng.gen() { Fault::TornWrite } else { Fault::LostWrite };
                    out.push(ScheduledFault { at: start + ms(rng, 0, 3_000), fault });
                }
                FaultKind::BitRot => out.push(ScheduledFault { at: start + ms(rng, 0, 15_000), fault: Fault::BitRot { pick: rng.gen(), bit: rng.gen() } }),
                FaultKind::StorageOutage => {
                    out.push(ScheduledFault { at: start + ms(rng, 100, 3_000), fault: Fault::StorageOutage { ms: rng.gen_range(15_000..60_000) } })
                }
                FaultKind::ConcurrentBackup => {
                    let at = within(rng, job.rival_window);
                    out.push(ScheduledFault { at, fault: Fault::RivalBackup { node: rng.gen_range(1..=job.nodes as NodeId) } });
                }
                _ => {}
            }
        }
        out.sort();
        out
    }

    /// Expands the restore kinds that are on into faults aimed at the scenario's RESTORE, timed
    /// from its statement: the coordinator killed after 0 to 3 spans recorded done or as it
    /// publishes (down 1 to 6 s), PAUSE within 1.5 s and RESUME 0.2 to 4 s later, CANCEL within
    /// 1.5 s.
    pub fn aimed_at_restore(&self, tree: &SeedTree) -> Schedule {
        let ms = |rng: &mut ChaCha8Rng, lo: u64, hi: u64| Duration::from_millis(rng.gen_range(lo..hi));
        let mut out = Vec::new();
        for &kind in self.aimed.iter().filter(|k| FaultKind::RESTORE.contains(k)) {
            let rng = &mut tree.stream(&kind.path("faults"));
            match kind {
                FaultKind::RestoreKill => {
                    let phase = if rng.gen_ratio(3, 4) { JobPhase::Restoring } else { JobPhase::Publishing };
                    let skip = if phase == JobPhase::Restoring { rng.gen_range(0..4) } else { 0 };
                    let down_ms = rng.gen_range(1_000..6_000);
                    out.push(ScheduledFault { at: Duration::ZERO, fault: Fault::KillCoordinator { phase, skip, down_ms } });
                }
                FaultKind::RestorePauseResume => {
                    let at = ms(rng, 0, 1_500);
                    out.push(ScheduledFault { at, fault: Fault::RestoreJob { action: JobAction::Pause } });
                    out.push(ScheduledFault { at: at + ms(rng, 200, 4_000), fault: Fault::RestoreJob { action: JobAction::Resume } });
                }
                FaultKind::RestoreCancel => out.push(ScheduledFault { at: ms(rng, 0, 1_500), fault: Fault::RestoreJob { action: JobAction::Cancel } }),
                _ => {}
            }
        }
        out.sort();
        out
    }

    /// The storage backend's dice for the run: drawn from `faults/FlakyStorage` when that kind
    /// is on, else none.
    pub fn storage_dice(&self, tree: &SeedTree) -> StorageFaults {
        if !self.has(FaultKind::FlakyStorage) {
            return StorageFaults::default();
        }
        let mut rng = tree.stream(&FaultKind::FlakyStorage.path("faults"));
        StorageFaults {
            transient_per_mille: rng.gen_range(0..80),
            slow_per_mille: rng.gen_range(0..40),
            lands_but_fails_per_mille: rng.gen_range(0..40),
            stale_list_per_mille: rng.gen_range(0..200),
        }
    }
}

/// What the faults aimed at a job aim at: when it starts, through which gateway, and the windows
/// of the faults whose timing depends on the scenario.
#[derive(Clone, Debug)]
pub struct JobTarget {
    /// When the job's statement is sent (since the start of the safety phase).
    pub start: Duration,
    /// The node the statement goes through.
    pub gateway: NodeId,
    /// The cluster's node count (a rival picks its gateway among them).
    pub nodes: usize,
    /// The phases a coordinator kill may be armed for (none: the kind does not apply).
    pub kill_phases: &'static [JobPhase],
    /// When the kill is armed: between these two times.
    pub kill_window: (Duration, Duration),
    /// When a rival backup starts: between these two times.
    pub rival_window: (Duration, Duration),
    /// Whether half the CANCELs also kill the coordinator at its next delete of its own files
    /// ([`JobPhase::CleaningUp`]): the job has recorded its end and dies removing what it wrote,
    /// so whoever comes next meets the leftovers of a job that has ended. A kill timed by the
    /// clock almost never lands in that window.
    pub kill_cleaning_up_after_cancel: bool,
}

impl fmt::Display for Swarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let knobs = self.knobs();
        if knobs.is_empty() {
            return write!(f, "no faults");
        }
        let parts: Vec<String> = knobs.iter().map(|(k, v)| format!("{}={v}", k.trim_start_matches("swarm."))).collect();
        write!(f, "{}", parts.join(" "))
    }
}
