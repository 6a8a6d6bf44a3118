//! Node faults.
//!
//! Fault model: a node may crash at any instant — between any two steps of any request,
//! replication or sync — losing its memory and every log entry it had not yet synced (see
//! `crate::disk`), and later restart and replay its disk. A node may also pause: it stays up
//! but runs nothing, so its peers see timeouts, not a dead node. The system must survive one
//! such node at a time with no committed write lost and no stale read: a quorum of every range
//! stays available, leases move to live replicas once the lease duration passes, and a restarted
//! node catches up from its peers.

use crate::world::World;
use model::NodeId;

/// Kills a node.
pub fn crash(world: &mut World, node: NodeId) -> bool {
    world.crash(node)
}

/// Restarts a killed node.
pub fn restart(world: &mut World, node: NodeId) -> bool {
    world.restart(node)
}

/// Freezes a node.
pub fn pause(world: &mut World, node: NodeId) -> bool {
    world.pause(node)
}

/// Unfreezes a node.
pub fn resume(world: &mut World, node: NodeId) -> bool {
    world.resume(node)
}
