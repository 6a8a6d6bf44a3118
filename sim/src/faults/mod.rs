//! Fault injection: what can go wrong, how a seed chooses which things do, and when.
//!
//! A seed draws a [`Swarm`] (which fault kinds are on and how often: swarm testing, so that
//! different seeds stress different mixes), and the swarm is expanded into an explicit
//! [`Schedule`]: a plain list of faults with their simulated times. The runner only ever executes
//! a schedule, which is what makes a run printable, shrinkable and replayable.
//!
//! Targets that change over a run (ranges split, leases move) are named by *picks*, resolved
//! against the world at injection time, so a schedule stays meaningful when faults are removed
//! from it. Each fault kind's model — what it breaks and what the system must survive — is
//! documented in its own module.

pub mod clock;
pub mod jobs;
pub mod network;
pub mod node;
pub mod ranges;
pub mod storage;

use crate::clock::ClockShape;
pub use crate::storage::JobPhase;
use crate::world::World;
pub use jobs::JobAction;
use model::NodeId;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// The backup job's coordinator killed at a chosen phase of its job (backup scenario).
    CoordinatorKill,
    /// Torn and lost writes reported as success, bit rot at rest (backup scenario).
    StorageDamage,
    /// PAUSE, RESUME and CANCEL of the running backup job (backup scenario).
    JobControl,
    /// A second BACKUP to the destination the running job writes to, started by another client
    /// while it runs (backup and chain scenarios).
    ConcurrentBackup,
}

impl FaultKind {
    /// Every cluster-level kind, in a fixed order: what [`Swarm`] draws from.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Network,
        FaultKind::Clock,
        FaultKind::LeaseTransfer,
        FaultKind::Split,
        FaultKind::Gc,
    ];
    /// The kinds aimed at a running backup job; a scenario with a job draws these itself,
    /// timed against the job's start.
    pub const JOB: [FaultKind; 4] = [FaultKind::CoordinatorKill, FaultKind::StorageDamage, FaultKind::JobControl, FaultKind::ConcurrentBackup];
}

/// One fault, ready to inject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// Kill a node (unsynced log entries are lost).
    Crash { node: NodeId },
    /// Restart a killed node.
    Restart { node: NodeId },
    /// Freeze a node.
    Pause { node: NodeId },
    /// Unfreeze a node.
    Resume { node: NodeId },
    /// Cut these nodes off from all others.
    Partition { group: Vec<NodeId> },
    /// Restore every link.
    Heal,
    /// Set latency (ms range) and loss (per mille) for the whole network.
    Network { min_ms: u64, max_ms: u64, loss_per_mille: u32 },
    /// Change a node's clock shape.
    Clock { node: NodeId, shape: ClockShape },
    /// Move the lease of the `range_pick`-th range (modulo the count) to its `to_pick`-th
    /// healthy replica.
    TransferLease { range_pick: u32, to_pick: u32 },
    /// Split the `range_pick`-th range at its `key_pick`-th key.
    Split { range_pick: u32, key_pick: u32 },
    /// Run GC on the `range_pick`-th range with a TTL of `ttl_ms`.
    Gc { range_pick: u32, ttl_ms: u64 },
    /// Kill whichever node makes the storage write of `phase` after the next `skip` such writes
    /// (the job's coordinator), and restart it `down_ms` later.
    KillCoordinator {
        phase: JobPhase,
        #[serde(default)]
        skip: u32,
        down_ms: u64,
    },
    /// The next storage write lands torn and reports success.
    TornWrite,
    /// The next storage write reports success and never lands.
    LostWrite,
    /// Flip bit `bit` of the `pick`-th stored object.
    BitRot { pick: u32, bit: u64 },
    /// PAUSE, RESUME or CANCEL the newest backup job, through SQL on any live node.
    Job { action: JobAction },
    /// Another client starts a second BACKUP to the running job's destination through node
    /// `node`. The scenario that scheduled it runs the statement (it alone knows the destination
    /// and the targets, and follows the job to judge the outcome); the world only records it.
    RivalBackup { node: NodeId },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Crash { node } => write!(f, "crash n{node}"),
            Fault::Restart { node } => write!(f, "restart n{node}"),
            Fault::Pause { node } => write!(f, "pause n{node}"),
            Fault::Resume { node } => write!(f, "resume n{node}"),
            Fault::Partition { group } => write!(f, "partition {group:?} from the rest"),
            Fault::Heal => write!(f, "heal"),
            Fault::Network { min_ms, max_ms, loss_per_mille } => write!(f, "network latency={min_ms}..{max_ms}ms loss={loss_per_mille}/1000"),
            Fault::Clock { node, shape } => write!(f, "clock n{node} {shape:?}"),
            Fault::TransferLease { range_pick, to_pick } => write!(f, "lease-transfer range#{range_pick} to#{to_pick}"),
            Fault::Split { range_pick, key_pick } => write!(f, "split range#{range_pick} key#{key_pick}"),
            Fault::Gc { range_pick, ttl_ms } => write!(f, "gc range#{range_pick} ttl={ttl_ms}ms"),
            Fault::KillCoordinator { phase, skip, down_ms } => write!(f, "kill-coordinator at={phase:?} skip={skip} down={down_ms}ms"),
            Fault::TornWrite => write!(f, "torn-write"),
            Fault::LostWrite => write!(f, "lost-write"),
            Fault::BitRot { pick, bit } => write!(f, "bit-rot object#{pick} bit#{bit}"),
            Fault::Job { action } => write!(f, "job {action:?}"),
            Fault::RivalBackup { node } => write!(f, "rival-backup via n{node}"),
        }
    }
}

/// A fault at a simulated time (since the start of the run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledFault {
    /// When to inject it.
    pub at: Duration,
    /// What to inject.
    pub fault: Fault,
}

/// Which fault kinds a run has on, and how many of each per simulated minute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Swarm {
    /// Rate per simulated minute of each enabled kind.
    pub rates: BTreeMap<FaultKind, u32>,
}

impl Swarm {
    /// Every kind on at a moderate rate: what the pinned test seeds use.
    pub fn everything() -> Swarm {
        Swarm { rates: FaultKind::ALL.iter().map(|k| (*k, 6)).collect() }
    }

    /// No faults.
    pub fn none() -> Swarm {
        Swarm { rates: BTreeMap::new() }
    }

    /// Swarm testing: each kind is on with probability 3/4, at a rate between 2 and 20 per
    /// minute.
    pub fn draw(rng: &mut impl Rng) -> Swarm {
        let mut rates = BTreeMap::new();
        for k in FaultKind::ALL {
            if rng.gen_ratio(3, 4) {
                rates.insert(k, rng.gen_range(2..=20));
            }
        }
        Swarm { rates }
    }

    /// True when `kind` is on.
    pub fn has(&self, kind: FaultKind) -> bool {
        self.rates.contains_key(&kind)
    }
}

impl fmt::Display for Swarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.rates.iter().map(|(k, r)| format!("{k:?}={r}/min")).collect();
        if parts.is_empty() {
            write!(f, "no faults")
        } else {
            write!(f, "{}", parts.join(" "))
        }
    }
}

/// A run's faults, in time order.
pub type Schedule = Vec<ScheduledFault>;

/// Expands a swarm into a schedule over `duration` for a cluster of `nodes` nodes with clocks
/// bounded by `max_offset`. At most one node is down or paused at a time and partitions cut off
/// a minority, so a quorum of every range survives each fault on its own; every crash, pause and
/// partition is undone before `duration` ends.
pub fn schedule(swarm: &Swarm, nodes: usize, max_offset: Duration, duration: Duration, rng: &mut impl Rng) -> Schedule {
    let mut out: Schedule = Vec::new();
    let ids: Vec<NodeId> = (1..=nodes as NodeId).collect();
    let minutes = duration.as_secs_f64() / 60.0;
    let mut busy_until = Duration::ZERO; // node-level faults do not overlap
    let mut cut_until = Duration::ZERO; // partitions do not overlap
    for (&kind, &rate) in &swarm.rates {
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
                // Job faults are timed against a job by the scenario that runs one.
                FaultKind::CoordinatorKill | FaultKind::StorageDamage | FaultKind::JobControl | FaultKind::ConcurrentBackup => {}
            }
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| format!("{:?}", a.fault).cmp(&format!("{:?}", b.fault))));
    out
}

/// Injects one fault into the world; returns false when it did not apply (target gone, already
/// in that state). Every injection is traced.
pub fn inject(world: &mut World, fault: &Fault) -> bool {
    crate::trace_event!(world.trace, "nemesis", crate::event::INJECT, "{fault}");
    match fault {
        Fault::Crash { node: n } => node::crash(world, *n),
        Fault::Restart { node: n } => node::restart(world, *n),
        Fault::Pause { node: n } => node::pause(world, *n),
        Fault::Resume { node: n } => node::resume(world, *n),
        Fault::Partition { group } => network::partition(world, group),
        Fault::Heal => network::heal(world),
        Fault::Network { min_ms, max_ms, loss_per_mille } => network::degrade(world, *min_ms, *max_ms, *loss_per_mille),
        Fault::Clock { node: n, shape } => clock::reshape(world, *n, shape.clone()),
        Fault::TransferLease { range_pick, to_pick } => ranges::transfer_lease(world, *range_pick, *to_pick),
        Fault::Split { range_pick, key_pick } => ranges::split(world, *range_pick, *key_pick),
        Fault::Gc { range_pick, ttl_ms } => ranges::gc(world, *range_pick, Duration::from_millis(*ttl_ms)),
        Fault::KillCoordinator { phase, skip, down_ms } => storage::kill_coordinator(world, *phase, *skip, Duration::from_millis(*down_ms)),
        Fault::TornWrite => storage::torn_write(world),
        Fault::LostWrite => storage::lost_write(world),
        Fault::BitRot { pick, bit } => storage::bit_rot(world, *pick, *bit),
        Fault::Job { action } => jobs::control(world, *action),
        // The scenario runs the statement from its own client; see the variant's comment.
        Fault::RivalBackup { .. } => true,
    }
}
