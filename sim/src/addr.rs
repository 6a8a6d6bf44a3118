//! Where everything in a simulated world lives on madsim's network: nodes at `10.<net>.0.<id>`
//! on the SQL/KV port, client machines at `10.<net>.1.<n>`, each connection of a client on a
//! port of its own. One place, so that the node server, the KV client and the world that
//! builds both agree (a second world, such as a restore target cluster, takes another `net`).

use model::NodeId;
use std::net::{Ipv4Addr, SocketAddr};

/// The port every node serves on.
pub const NODE_PORT: u16 = 26257;

/// The simulated address of node `id` in world network `net`.
pub fn node_addr(net: u8, id: NodeId) -> SocketAddr {
    SocketAddr::from(([10, net, 0, id as u8], NODE_PORT))
}

/// The address of the `n`-th client machine of world network `net` (its first connection's
/// port; later connections take the ports after it).
pub fn client_addr(net: u8, n: u8) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, net, 1, n), 1))
}
