//! Clock faults.
//!
//! Fault model: a node's physical clock may be skewed, drift, oscillate, jump forwards or
//! backwards, or jitter — but never further than half the maximum clock offset from true time,
//! so any two nodes stay within the maximum offset CockroachDB assumes. Within that bound the
//! system must stay consistent: the hybrid-logical clocks order causally related events, and a
//! new leaseholder never writes below a read its predecessor served.

use crate::clock::ClockShape;
use crate::world::World;
use model::NodeId;

/// Gives `node` a new clock shape.
pub fn reshape(world: &mut World, node: NodeId, shape: ClockShape) -> bool {
    world.set_clock(node, shape);
    true
}
