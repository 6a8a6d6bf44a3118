//! The harder liveness variant, as TigerBeetle's VOPR runs it: when the safety phase ends,
//! everything heals except one node, which stays down, cut off, or cut off in one direction for
//! the rest of the run. The jobs and the writers must still finish on the majority that remains.
//!
//! Why one node: each range has three replicas on five nodes, so any one node lost for good
//! leaves every range a quorum (and a node down for good has its replicas replaced after
//! [`crate::world::DEAD_AFTER`]); two lost at once could take a range's quorum with them before
//! anything is replaced. Why never n1: the checks after the run speak to n1 (they stand for
//! an operator's console on a node that stays up); the scenario's own statements, its gateway
//! and its writers may be anywhere, the lost node included.

use crate::world::World;
use model::NodeId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What stays broken after the safety phase, and on which node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lasting {
    /// The node crashes and never restarts.
    Down(NodeId),
    /// The node is cut off from every other node, both ways.
    Partitioned(NodeId),
    /// The node's messages to the others are lost; theirs reach it.
    CannotSend(NodeId),
    /// The others' messages to the node are lost; its own reach them.
    CannotReceive(NodeId),
}

impl Lasting {
    /// The node it breaks.
    pub fn node(self) -> NodeId {
        match self {
            Lasting::Down(n) | Lasting::Partitioned(n) | Lasting::CannotSend(n) | Lasting::CannotReceive(n) => n,
        }
    }

    /// Breaks it, after the world has been calmed for the liveness phase.
    pub fn apply(self, world: &mut World) {
        let others: Vec<NodeId> = world.node_ids().into_iter().filter(|n| *n != self.node()).collect();
        match self {
            Lasting::Down(n) => {
                world.crash(n);
            }
            Lasting::Partitioned(n) => world.partition_groups(&[n], &others),
            Lasting::CannotSend(n) => others.iter().for_each(|o| world.cut_one_way(n, *o)),
            Lasting::CannotReceive(n) => others.iter().for_each(|o| world.cut_one_way(*o, n)),
        }
    }
}

impl fmt::Display for Lasting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lasting::Down(n) => write!(f, "n{n} stays down"),
            Lasting::Partitioned(n) => write!(f, "n{n} stays cut off"),
            Lasting::CannotSend(n) => write!(f, "n{n} stays unable to send"),
            Lasting::CannotReceive(n) => write!(f, "n{n} stays unable to receive"),
        }
    }
}
