//! Range faults: lease transfers, splits and GC at awkward moments.
//!
//! Fault model: the lease of any range may move to another healthy replica at any moment
//! (including mid-request: the old holder stops serving at once, its in-flight proposals fail or
//! are adopted by the new holder), a range may split at any of its keys (clients with stale
//! range caches are redirected), and the GC queue may run with a short TTL (seconds) so that it
//! races reads and exports. A replica may move to another node (rebalancing): it leaves the
//! range at once and the new one catches up from the leaseholder's snapshot. The system must
//! keep answering correctly; reads below the new GC threshold must fail with the GC threshold
//! error, never return partial history; an export is answered by the leaseholder of its moment
//! wherever the replicas went.

use crate::world::World;
use model::{Key, NodeId};
use std::time::Duration;

fn pick_range(world: &World, pick: u32) -> Option<crate::directory::RangeDesc> {
    let all = world.directory.all();
    if all.is_empty() {
        return None;
    }
    Some(all[pick as usize % all.len()].clone())
}

/// Moves the lease of the picked range to one of its other replicas.
pub fn transfer_lease(world: &mut World, range_pick: u32, to_pick: u32) -> bool {
    let Some(desc) = pick_range(world, range_pick) else { return false };
    let others: Vec<NodeId> = desc.replicas.iter().copied().filter(|n| *n != desc.lease.holder).collect();
    if others.is_empty() {
        return false;
    }
    world.transfer_lease(desc.range_id, others[to_pick as usize % others.len()])
}

/// Splits the picked range at one of the keys it holds.
pub fn split(world: &mut World, range_pick: u32, key_pick: u32) -> bool {
    let Some(desc) = pick_range(world, range_pick) else { return false };
    let Some(server) = world.server(desc.lease.holder) else { return false };
    let Some(replica) = server.replica(desc.range_id) else { return false };
    let mut keys: Vec<Key> = replica.engine.all_versions().map(|e| e.key).collect();
    keys.dedup();
    keys.retain(|k| *k != desc.span.start);
    if keys.is_empty() {
        return false;
    }
    let at = keys[key_pick as usize % keys.len()].clone();
    world.split(desc.range_id, at)
}

/// Moves one of the picked range's non-leaseholder replicas to a node that has none.
pub fn rebalance(world: &mut World, range_pick: u32, from_pick: u32, to_pick: u32) -> bool {
    let Some(desc) = pick_range(world, range_pick) else { return false };
    let from: Vec<NodeId> = desc.replicas.iter().copied().filter(|n| *n != desc.lease.holder).collect();
    let to: Vec<NodeId> = world.node_ids().into_iter().filter(|n| !desc.replicas.contains(n)).collect();
    if from.is_empty() || to.is_empty() {
        return false;
    }
    world.rebalance(desc.range_id, from[from_pick as usize % from.len()], to[to_pick as usize % to.len()])
}

/// Runs GC on the picked range with a short TTL.
pub fn gc(world: &mut World, range_pick: u32, ttl: Duration) -> bool {
    let Some(desc) = pick_range(world, range_pick) else { return false };
    world.gc_now(desc.range_id, ttl)
}
