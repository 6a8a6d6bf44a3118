//! One seed, one tree of random streams: every random choice of a run — the world's layout, each
//! fault kind's switch and schedule, the storage's dice, each writer's operations, a scenario's
//! own knobs, each node's and client's choices per incarnation — is drawn from a stream named by
//! its path in this tree, never from a stream another part of the run also draws from.
//!
//! Why a tree and not one stream: with one stream (or a dozen ad hoc `seed ^ salt` streams) a
//! new draw anywhere reshuffles every draw after it, so adding a fault kind or a knob silently
//! changes what every existing seed means, and the pinned seeds of every test with it. A named
//! stream changes only when its own consumer changes.
//!
//! The tree (each path a [`SeedTree::stream`]; `<…>` an index or a name):
//!
//! ```text
//! seed
//! ├── world/<network>                   a world's layout: replicas, first leaseholders, clock shapes,
//! │                                     node seeds, client seeds, the liveness phase's lease moves
//! ├── storage                           the simulated storage's dice (transient errors, torn writes…)
//! ├── swarm/<kind>                      whether fault kind <kind> is on in this run, and its rate
//! ├── faults/<kind>                     the kind's schedule: times, targets, durations
//! ├── workload/writer/<w>               writer w's operations
//! ├── workload/preload                  the standard scenario's bulk rows
//! ├── workload/observer                 the cluster scenario's reads at past times
//! └── <scenario>/<group>                a scenario's own knobs (targets, destination, start time,
//!                                       gateway, …; e.g. backup/job, chain/rival, chain/restore-during)
//! node seed (drawn from world/<network>)
//! ├── incarnation/<n>                   the node's own choices in its n-th life
//! └── kv/incarnation/<n>                the node's internal KV client's choices in its n-th life
//! client seed (drawn from world/<network>)
//! ├── incarnation/<n>                   a client's KV choices in its n-th life
//! └── dress/<n>                         the surface form of its statements in its n-th life (crate::dress)
//! clock noise seed (drawn with the clock's shape)
//! └── bucket/<b>                        the offset of time bucket b
//! ```
//!
//! A stream is ChaCha8 keyed by the seed with a 64-bit stream id: the FNV-1a hash of the path
//! (ChaCha's streams are independent keystreams, so sibling streams never overlap). The madsim
//! runtime's own generator (message latency, task wake order) is seeded by the same seed and sits
//! outside the tree.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A node of the tree of random streams: a seed from which named streams are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedTree {
    seed: u64,
}

impl SeedTree {
    /// The root of a run's tree (or of a node's or client's own subtree, from the seed drawn for it).
    pub fn new(seed: u64) -> SeedTree {
        SeedTree { seed }
    }

    /// The seed this tree is rooted at.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The stream at `path` (see the module's tree for the paths in use).
    pub fn stream(&self, path: &str) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream_id(path));
        rng
    }

    /// The stream at `path/<index>`, without formatting the path (for streams opened on a hot
    /// path, such as a clock's noise per time bucket).
    pub fn indexed(&self, path: &str, index: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream_id(path) ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng
    }

    /// The root of the subtree at `path`: a seed drawn from that stream, for a part of the run
    /// that opens streams of its own.
    pub fn subtree(&self, path: &str) -> SeedTree {
        SeedTree::new(self.stream(path).gen())
    }
}

/// FNV-1a, 64 bits: a fixed, platform-independent hash, so that a path names the same stream on
/// every machine and in every build.
fn stream_id(path: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_the_same_stream_every_time_and_siblings_differ() {
        let tree = SeedTree::new(42);
        let draw = |path: &str| -> Vec<u64> {
            let mut r = tree.stream(path);
            (0..4).map(|_| r.gen()).collect()
        };
        let (a, again, sibling) = (draw("swarm/Crash"), draw("swarm/Crash"), draw("swarm/Pause"));
        assert_eq!(a, again);
        assert_ne!(a, sibling);
        assert_ne!(tree.stream("x").gen::<u64>(), SeedTree::new(43).stream("x").gen::<u64>(), "the seed matters");
        assert_ne!(tree.indexed("bucket", 0).gen::<u64>(), tree.indexed("bucket", 1).gen::<u64>());
    }

    #[test]
    fn the_hash_is_fixed() {
        // FNV-1a test vectors: a stream's id must not change between builds or machines.
        assert_eq!(stream_id(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stream_id("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stream_id("foobar"), 0x8594_4171_f739_67e8);
    }
}
