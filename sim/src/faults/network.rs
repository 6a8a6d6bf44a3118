//! Network faults.
//!
//! Fault model: links between nodes can be cut (a group of nodes, never a majority, separated
//! from the rest, in both directions), and the whole network can slow down (latency up to a few
//! hundred milliseconds) and drop messages (up to 5%). A cut or dropped request looks to its
//! sender exactly like a slow one: a timeout, after which the outcome is unknown. The system must
//! keep every committed write and serve consistent reads on the majority side, and make progress
//! once the network heals. Client machines are never cut off (they stand for the test driver).

use crate::world::World;
use model::NodeId;
use std::time::Duration;

/// Separates `group` from every other node.
pub fn partition(world: &mut World, group: &[NodeId]) -> bool {
    let rest: Vec<NodeId> = world.node_ids().into_iter().filter(|n| !group.contains(n)).collect();
    if group.is_empty() || rest.is_empty() {
        return false;
    }
    world.partition_groups(group, &rest);
    true
}

/// Restores every link.
pub fn heal(world: &mut World) -> bool {
    world.heal();
    true
}

/// Sets latency and loss for the whole network.
pub fn degrade(world: &mut World, min_ms: u64, max_ms: u64, loss_per_mille: u32) -> bool {
    let lo = Duration::from_millis(min_ms);
    let hi = Duration::from_millis(max_ms.max(min_ms + 1));
    world.set_network(lo..hi, (loss_per_mille.min(1000) as f64) / 1000.0);
    true
}
