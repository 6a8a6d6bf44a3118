//! The knobs of a simulated world. One value of [`WorldConfig`] plus one seed is one run.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Shape and timing of a simulated cluster. Every duration is simulated time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldConfig {
    /// Number of database nodes (3 to 9).
    pub nodes: usize,
    /// Replicas per range (3, or fewer when there are fewer nodes).
    pub replication: usize,
    /// Extra ranges created at start-up by splitting user keyspace at table boundaries.
    pub initial_ranges: usize,
    /// Largest clock offset between any two nodes; each node's offset stays within half of it.
    pub max_clock_offset: Duration,
    /// How often each leaseholder runs the GC queue over its ranges.
    pub gc_interval: Duration,
    /// How often each leaseholder runs the split queue over its ranges.
    pub split_interval: Duration,
    /// A range whose versions exceed this many bytes is split at its middle key.
    pub range_max_bytes: usize,
    /// How long a lease survives its holder being dead or cut off from a quorum.
    pub lease_duration: Duration,
    /// How long a client waits for one node to answer one request.
    pub rpc_timeout: Duration,
    /// Fastest and slowest fsync of a node's log.
    pub sync_latency: (Duration, Duration),
    /// A pending transaction older than this may be aborted by a reader blocked on its intents.
    pub txn_abandon_after: Duration,
    /// How long a client keeps retrying one request through lease moves and outages.
    pub request_deadline: Duration,
    /// Second octet of every address in this world (`10.<network>.0.<node>`), so that two
    /// worlds — a source cluster and a restore target — can share one simulation.
    pub network: u8,
    /// The job settings of every node's backup code: the sizes and counts it decides on drawn
    /// per seed ([`draw_job_settings`]), small enough that runs cross them.
    #[serde(default)]
    pub jobs: backup::env::JobSettings,
    /// The planted bug this world runs with (an effect only with the `planted-bugs` feature):
    /// a backup bug goes to every node's `Env`, and the node asks for a simulator bug with the
    /// method [`WorldConfig::planted()`].
    #[serde(default)]
    pub planted: Option<crate::planted::Planted>,
    /// The node flags that refuse some storage URLs (`--external-io-disable-http`,
    /// `--external-io-disable-implicit-credentials`), the same on every node: a scenario draws
    /// them so that the refusals they make are exercised, and kept clear of its own
    /// destination.
    #[serde(default)]
    pub io: backup::storage::url::ExternalIoSettings,
    /// Each node's `--locality`, node 1's first; a node past the list's end has none. Empty for
    /// the scenarios' clusters; a scenario file's `new-cluster localities=` sets it.
    #[serde(default)]
    pub localities: Vec<backup::locality::Locality>,
    /// How often each node's job scheduler looks for due backup schedules
    /// ([`backup::schedule::executor`], CockroachDB's `jobs.scheduler.pace`); `None`: the nodes
    /// run no scheduler, and their GC queues read no protected timestamp records, which only
    /// schedules write. A world of a scenario from before schedules sends not one request more,
    /// so its seeds replay as they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<Duration>,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            nodes: 5,
            replication: 3,
            initial_ranges: 4,
            max_clock_offset: Duration::from_millis(500),
            gc_interval: Duration::from_secs(10),
            split_interval: Duration::from_secs(2),
            range_max_bytes: 64 * 1024,
            lease_duration: Duration::from_secs(3),
            rpc_timeout: Duration::from_millis(500),
            sync_latency: (Duration::from_micros(100), Duration::from_millis(2)),
            txn_abandon_after: Duration::from_secs(2),
            request_deadline: Duration::from_secs(120),
            network: 0,
            jobs: backup::env::JobSettings::default(),
            planted: None,
            io: backup::storage::url::ExternalIoSettings::default(),
            localities: Vec::new(),
            scheduler: None,
        }
    }
}

impl WorldConfig {
    /// Node `node`'s locality (none if the list does not reach it).
    pub fn locality_of(&self, node: model::NodeId) -> backup::locality::Locality {
        self.localities.get((node as usize).wrapping_sub(1)).cloned().unwrap_or_default()
    }

    /// True when this world planted `bug` in the simulated node. Constant `false` without the
    /// `planted-bugs` feature, so a default build's planted branches in the node are dead code
    /// the compiler removes.
    pub fn planted(&self, bug: crate::planted::SimBug) -> bool {
        cfg!(feature = "planted-bugs") && self.planted == Some(crate::planted::Planted::Sim(bug))
    }

    /// Quorum size of a range.
    pub fn quorum(&self) -> usize {
        self.replication.min(self.nodes) / 2 + 1
    }
}

/// One seed's thresholds of `backup`'s [`backup::env::JobSettings`], each from a few values
/// between tiny and the production value (a quarter of the runs keep each production value). A
/// threshold fixed at its production value is one no simulated run crosses (a 64 MiB data file
/// against 64 KiB ranges): the code on its far side would be guarded by unit tests alone. The
/// swarm draws them instead, as FoundationDB's simulator randomises its knobs (`BUGGIFY`'s knob
/// half). Storage retries stay at five or more: with the flaky backend's worst dice (8%
/// transient) six failures of one operation in a row happen about once in four million
/// operations, so a statement still fails only for a reason worth reporting.
pub fn draw_job_settings(rng: &mut impl rand::Rng) -> backup::env::JobSettings {
    let d = backup::env::JobSettings::default();
    backup::env::JobSettings {
        file_target_bytes: [1 << 10, 8 << 10, 32 << 10, d.file_target_bytes][rng.gen_range(0..4)],
        storage_retries: [5, 8, 12, d.storage_retries][rng.gen_range(0..4)],
        ingest_batch: [1, 7, 64, d.ingest_batch][rng.gen_range(0..4)],
        ..d
    }
}
