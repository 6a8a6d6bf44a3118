//! Fault injection: what can go wrong, how a seed chooses which things do, and when.
//!
//! A seed draws a [`Swarm`] (which fault kinds are on and how often: swarm testing, so that
//! different seeds stress different mixes; see [`swarm`]), and the swarm is expanded into an
//! explicit [`Schedule`]: a plain list of faults with their simulated times, in one derived order. The runner only ever executes
//! a schedule, which is what makes a run printable, shrinkable and replayable.
//!
//! Targets that change over a run (ranges split, leases move) are named by *picks*, resolved
//! against the world at injection time, so a schedule stays meaningful when faults are removed
//! from it. Each fault kind's model — what it breaks and what the system must survive — is
//! documented in its own module.

pub mod clock;
pub mod jobs;
pub mod lasting;
pub mod network;
pub mod node;
pub mod ranges;
pub mod storage;
pub mod swarm;

use crate::clock::ClockShape;
pub use crate::storage::JobPhase;
use crate::world::World;
pub use jobs::JobAction;
pub use lasting::Lasting;
use model::NodeId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
pub use swarm::{FaultKind, FaultMix, JobTarget, Swarm};

/// One fault, ready to inject. Ordered (variant, then fields) so that faults due at the same
/// moment run in one order that does not depend on how they are printed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Move the `from_pick`-th non-leaseholder replica of the `range_pick`-th range to the
    /// `to_pick`-th up node that lacks one (rebalancing).
    Rebalance { range_pick: u32, from_pick: u32, to_pick: u32 },
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
    /// The storage service fails every operation for `ms` milliseconds.
    StorageOutage { ms: u64 },
    /// PAUSE, RESUME or CANCEL the newest backup job, through SQL on any live node.
    Job { action: JobAction },
    /// PAUSE, RESUME or CANCEL the newest restore job, through SQL on any live node.
    RestoreJob { action: JobAction },
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
            Fault::Rebalance { range_pick, from_pick, to_pick } => write!(f, "rebalance range#{range_pick} from#{from_pick} to#{to_pick}"),
            Fault::KillCoordinator { phase, skip, down_ms } => write!(f, "kill-coordinator at={phase:?} skip={skip} down={down_ms}ms"),
            Fault::TornWrite => write!(f, "torn-write"),
            Fault::LostWrite => write!(f, "lost-write"),
            Fault::BitRot { pick, bit } => write!(f, "bit-rot object#{pick} bit#{bit}"),
            Fault::StorageOutage { ms } => write!(f, "storage-outage {ms}ms"),
            Fault::Job { action } => write!(f, "job {action:?}"),
            Fault::RestoreJob { action } => write!(f, "restore-job {action:?}"),
            Fault::RivalBackup { node } => write!(f, "rival-backup via n{node}"),
        }
    }
}

/// A fault at a simulated time (since the start of the run). Ordered by time, then fault.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ScheduledFault {
    /// When to inject it.
    pub at: Duration,
    /// What to inject.
    pub fault: Fault,
}

/// A run's faults, in time order (faults at the same time in [`Fault`]'s derived order).
pub type Schedule = Vec<ScheduledFault>;

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
        Fault::Rebalance { range_pick, from_pick, to_pick } => ranges::rebalance(world, *range_pick, *from_pick, *to_pick),
        Fault::KillCoordinator { phase, skip, down_ms } => storage::kill_coordinator(world, *phase, *skip, Duration::from_millis(*down_ms)),
        Fault::TornWrite => storage::torn_write(world),
        Fault::LostWrite => storage::lost_write(world),
        Fault::BitRot { pick, bit } => storage::bit_rot(world, *pick, *bit),
        Fault::StorageOutage { ms } => storage::outage(world, Duration::from_millis(*ms)),
        Fault::Job { action } => jobs::control(world, *action),
        Fault::RestoreJob { action } => jobs::control_restore(world, *action),
        // The scenario runs the statement from its own client; see the variant's comment.
        Fault::RivalBackup { .. } => true,
    }
}
