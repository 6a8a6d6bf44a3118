//! The simulated deployment: nodes, their disks and clocks, the directory, the network's
//! partitions, the lease manager — and the verbs a scenario or fault injector uses to disturb it.
//!
//! One stream of the seed's tree feeds the world ([`World::rng`], `world/<network>`, see
//! [`crate::seed_tree`]); every decision the world makes (topology, clock shapes, replica
//! placement, lease targets) is drawn from it, in a fixed order, so one seed is one world.

use crate::addr::{client_addr, node_addr};
use crate::clock::{ClockShape, Hlc, PhysicalClock};
use crate::command::{Command, LogEntry};
use crate::config::WorldConfig;
use crate::directory::{key_max, Directory};
use crate::disk::{NodeDisk, RangeLog};
use crate::kv_client::{SimKv, StatementLog};
use crate::node::{self, NodeContext, NodeServer};
use crate::seed_tree::SeedTree;
use crate::storage::SimStorage;
use crate::trace::Trace;
use crate::trace_event;
use madsim::net::{Endpoint, NetSim};
use madsim::runtime::{Handle, NodeHandle};
use madsim::time::Instant;
use model::{encoding, Key, NodeId, RangeId, Span};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Whether a node is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeLife {
    /// Running.
    Up,
    /// Killed; its disk keeps only what was synced.
    Down,
    /// Frozen: alive but executing nothing (a long GC pause, a stopped VM).
    Paused,
}

struct NodeSlot {
    handle: NodeHandle,
    disk: Arc<Mutex<NodeDisk>>,
    clock: PhysicalClock,
    life: NodeLife,
}

/// The whole simulated deployment. Lives in the simulation's main task; create it inside
/// `Runtime::block_on`.
pub struct World {
    /// The configuration.
    pub cfg: WorldConfig,
    /// The seed everything derives from.
    pub seed: u64,
    /// The event trace.
    pub trace: Trace,
    /// The range directory.
    pub directory: Directory,
    /// Random number generator used for all of the world's decisions. To make execution
    /// deterministic, reuse the same seed.
    pub rng: ChaCha8Rng,
    handle: Handle,
    nodes: BTreeMap<NodeId, NodeSlot>,
    registry: Arc<Mutex<BTreeMap<NodeId, Arc<NodeServer>>>>,
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Links cut in one direction only: (from, to).
    one_way: BTreeSet<(NodeId, NodeId)>,
    unhealthy_since: BTreeMap<RangeId, Instant>,
    clients: u8,
    /// The madsim nodes of the client machines, killed with the world.
    client_nodes: Vec<madsim::task::NodeId>,
    /// The storage backend every URL of this world resolves to.
    pub storage: SimStorage,
    /// The machine job-control faults send their statements from (made on first use).
    operator: Option<ClientMachine>,
    /// Every statement the client machines sent, as written.
    pub statements: StatementLog,
    /// How long a node killed by a storage trap stays down.
    doomed_downtime: Duration,
    /// Nodes killed by a storage trap, and when to restart them.
    restart_due: BTreeMap<NodeId, Instant>,
    /// When each node that is down went down (its replicas are replaced after
    /// [`DEAD_AFTER`]).
    down_since: BTreeMap<NodeId, Instant>,
    /// Ranges with a replica being added, and since when (one addition at a time per range).
    adding: BTreeMap<RangeId, Instant>,
    /// Ranges with a replica moving away: the one to take out once its replacement is in.
    moving: BTreeMap<RangeId, NodeId>,
}

/// How long a node stays down before its replicas are replaced elsewhere (CockroachDB's
/// `server.time_until_store_dead`, scaled to the simulation: longer than any crash the safety
/// phase injects, 0.5 to 8 s).
pub const DEAD_AFTER: Duration = Duration::from_secs(15);

/// The first keys of the initial ranges: system keyspace, then user tables from id 50.
fn initial_splits(extra: usize) -> Vec<Key> {
    let mut v = vec![Key::MIN, encoding::table_span(encoding::FIRST_USER_TABLE_ID).start];
    for i in 1..=extra as u32 {
        v.push(encoding::table_span(encoding::FIRST_USER_TABLE_ID + i * 2).start);
    }
    v
}

/// A world's nodes and client machines die with it. madsim does not cancel a runtime's pending
/// tasks when the runtime ends (madsim issue #242), and ours hold `Arc`s to one another's state
/// through wakers, so without this every seed's whole cluster (its MVCC data included) stayed
/// allocated: a sweep grew by ~4 MB per seed, ~50 MB per standard seed. Killing a node makes
/// the executor drop its futures; a world dropped mid-seed (a restore's source after the
/// restore) also stops spending simulated work on nodes nobody can reach any more.
impl Drop for World {
    fn drop(&mut self) {
        for slot in self.nodes.values() {
            if slot.life == NodeLife::Paused {
                self.handle.resume(slot.handle.id());
            }
            self.handle.kill(slot.handle.id());
        }
        for id in self.client_nodes.drain(..) {
            self.handle.kill(id);
        }
        self.registry.lock().map(|mut r| r.clear()).ok();
    }
}

impl World {
    /// Builds and starts a world with its own trace and storage backend; with `echo_trace`
    /// every trace line is also printed to stderr as it happens.
    pub fn start(cfg: WorldConfig, seed: u64, echo_trace: bool) -> World {
        let trace = Trace::new(echo_trace);
        let storage = SimStorage::new(SeedTree::new(seed).subtree("storage").seed(), trace.clone());
        World::start_with(cfg, seed, trace, storage)
    }

    /// Builds and starts a world that shares `trace` and `storage` with others (a restore target
    /// reads the source cluster's backups; one trace tells the whole story). Give each world its
    /// own `cfg.network`.
    pub fn start_with(cfg: WorldConfig, seed: u64, trace: Trace, storage: SimStorage) -> World {
        let ttl_source = Some(node::zone_config_ttls());
        assert!((1..=9).contains(&cfg.nodes), "a world has 1 to 9 nodes");
        let mut rng = SeedTree::new(seed).stream(&format!("world/{}", cfg.network));
        let cluster_id = format!("sim-{seed:x}-{}", cfg.network);
        let node_ids: Vec<NodeId> = (1..=cfg.nodes as NodeId).collect();
        let rf = cfg.replication.min(cfg.nodes).max(1);

        // Ranges, replicas and first leaseholders.
        let starts = initial_splits(cfg.initial_ranges);
        let mut layout = Vec::new();
        for (i, start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).cloned().unwrap_or_else(key_max);
            let mut replicas: Vec<NodeId> = node_ids.choose_multiple(&mut rng, rf).copied().collect();
            replicas.sort();
            let holder = *replicas.choose(&mut rng).expect("at least one replica");
            layout.push((Span::new(start.clone(), end), replicas, holder));
        }
        let directory = Directory::bootstrap(layout.clone());

        // Disks: every replica starts with the range's first lease committed.
        let mut disks: BTreeMap<NodeId, NodeDisk> = node_ids.iter().map(|n| (*n, NodeDisk::default())).collect();
        for (i, (span, replicas, holder)) in layout.iter().enumerate() {
            let range = i as RangeId + 1;
            for n in replicas {
                let log = RangeLog {
                    initial_span: span.clone(),
                    entries: vec![LogEntry { index: 1, epoch: 1, cmd: Command::LeaseStart { epoch: 1, holder: *holder } }],
                    synced: 1,
                    commit: 1,
                    max_epoch: 1,
                    snapshot: None,
                };
                disks.get_mut(n).expect("node exists").logs.insert(range, log);
            }
        }
        trace_event!(trace, "world", crate::event::CONFIG, "network=10.{}.0.0/16 seed={seed} nodes={}", cfg.network, cfg.nodes);
        trace_event!(
            trace,
            "world",
            crate::event::CONFIG,
            "seed={seed} nodes={} replication={rf} ranges={} max_offset={:?}",
            cfg.nodes,
            layout.len(),
            cfg.max_clock_offset
        );
        for (i, (span, replicas, holder)) in layout.iter().enumerate() {
            trace_event!(trace, "world", crate::event::RANGE, "r{} {span} replicas={replicas:?} leaseholder=n{holder}", i + 1);
        }

        let handle = Handle::current();
        let registry = Arc::new(Mutex::new(BTreeMap::new()));
        let mut nodes = BTreeMap::new();
        for id in node_ids {
            let shape = ClockShape::random(&mut rng, (cfg.max_clock_offset.as_nanos() / 2) as i64);
            trace_event!(trace, "world", crate::event::CLOCK, "n{id} {shape:?}");
            let clock = PhysicalClock::new(shape, cfg.max_clock_offset, trace.clone());
            let disk = Arc::new(Mutex::new(disks.remove(&id).expect("disk made above")));
            let ctx = NodeContext {
                id,
                cfg: cfg.clone(),
                disk: disk.clone(),
                clock: clock.clone(),
                directory: directory.clone(),
                trace: trace.clone(),
                registry: registry.clone(),
                seed: rng.gen(),
                ttl_source: ttl_source.clone(),
                storage: storage.clone(),
                cluster_id: cluster_id.clone(),
            };
            let node_handle = handle.create_node().name(format!("n{id}")).ip(node_addr(cfg.network, id).ip()).init(move || node::start(ctx.clone())).build();
            nodes.insert(id, NodeSlot { handle: node_handle, disk, clock, life: NodeLife::Up });
        }
        World {
            cfg,
            seed,
            trace,
            directory,
            rng,
            handle,
            nodes,
            registry,
            cut: BTreeSet::new(),
            one_way: BTreeSet::new(),
            unhealthy_since: BTreeMap::new(),
            clients: 0,
            client_nodes: Vec::new(),
            storage,
            operator: None,
            statements: StatementLog::default(),
            doomed_downtime: Duration::from_secs(3),
            restart_due: BTreeMap::new(),
            down_since: BTreeMap::new(),
            adding: BTreeMap::new(),
            moving: BTreeMap::new(),
        }
    }

    /// Runs `fut` on `node`'s current incarnation. (A madsim node handle taken before a restart
    /// points at the killed incarnation, where spawned tasks never run.)
    fn spawn_on<F>(&self, node: NodeId, fut: F)
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Some(slot) = self.nodes.get(&node) else { return };
        if let Some(current) = self.handle.get_node(slot.handle.id()) {
            current.spawn(fut);
        }
    }

    /// Ids of all database nodes.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// Whether `node` is up, down or paused.
    pub fn life(&self, node: NodeId) -> Option<NodeLife> {
        self.nodes.get(&node).map(|s| s.life)
    }

    /// The running server of `node`, if it is up.
    pub fn server(&self, node: NodeId) -> Option<Arc<NodeServer>> {
        self.registry.lock().expect("registry").get(&node).cloned()
    }

    /// A new machine outside the cluster (a SQL client, a test driver) with its own clock.
    /// Returns the madsim handle to spawn on, and a function that connects a [`SimKv`] from
    /// inside it.
    pub fn add_client(&mut self, name: &str) -> ClientMachine {
        self.clients += 1;
        let addr = client_addr(self.cfg.network, self.clients);
        let handle = self.handle.create_node().name(name).ip(addr.ip()).build();
        self.client_nodes.push(handle.id());
        let clock = PhysicalClock::new(ClockShape::Constant { offset_ns: 0 }, self.cfg.max_clock_offset, self.trace.clone());
        ClientMachine {
            handle,
            name: name.to_string(),
            addr,
            clock,
            directory: self.directory.clone(),
            trace: self.trace.clone(),
            cfg: self.cfg.clone(),
            seed: self.rng.gen(),
            machine: 100 + self.clients,
            connections: Arc::default(),
            statements: self.statements.clone(),
        }
    }

    /// The operator's machine (job-control statements), made on first use.
    pub fn operator(&mut self) -> ClientMachine {
        if let Some(m) = &self.operator {
            return m.clone();
        }
        let m = self.add_client("operator");
        self.operator = Some(m.clone());
        m
    }

    /// How long the next node a storage trap kills stays down.
    pub fn set_doomed_downtime(&mut self, down: Duration) {
        self.doomed_downtime = down;
    }

    /// Kills `node`: its tasks stop, and its disk keeps only synced log entries.
    pub fn crash(&mut self, node: NodeId) -> bool {
        let Some(slot) = self.nodes.get_mut(&node) else { return false };
        if slot.life == NodeLife::Down {
            return false;
        }
        if slot.life == NodeLife::Paused {
            self.handle.resume(slot.handle.id());
        }
        self.handle.kill(slot.handle.id());
        let lost = slot.disk.lock().expect("disk lock").crash();
        slot.life = NodeLife::Down;
        self.down_since.insert(node, Instant::now());
        self.registry.lock().expect("registry").remove(&node);
        trace_event!(self.trace, "world", crate::event::CRASH, "n{node} unsynced_entries_lost={lost}");
        true
    }

    /// Restarts a crashed node, which replays its disk.
    pub fn restart(&mut self, node: NodeId) -> bool {
        let Some(slot) = self.nodes.get_mut(&node) else { return false };
        if slot.life != NodeLife::Down {
            return false;
        }
        slot.life = NodeLife::Up;
        self.down_since.remove(&node);
        trace_event!(self.trace, "world", crate::event::RESTART, "n{node}");
        self.handle.restart(slot.handle.id());
        true
    }

    /// Freezes a node without losing anything.
    pub fn pause(&mut self, node: NodeId) -> bool {
        let Some(slot) = self.nodes.get_mut(&node) else { return false };
        if slot.life != NodeLife::Up {
            return false;
        }
        self.handle.pause(slot.handle.id());
        slot.life = NodeLife::Paused;
        trace_event!(self.trace, "world", crate::event::PAUSE, "n{node}");
        true
    }

    /// Unfreezes a paused node.
    pub fn resume(&mut self, node: NodeId) -> bool {
        let Some(slot) = self.nodes.get_mut(&node) else { return false };
        if slot.life != NodeLife::Paused {
            return false;
        }
        self.handle.resume(slot.handle.id());
        slot.life = NodeLife::Up;
        trace_event!(self.trace, "world", crate::event::RESUME, "n{node}");
        true
    }

    /// Cuts the links between `a` and `b` in both directions.
    pub fn partition(&mut self, a: NodeId, b: NodeId) {
        let (Some(sa), Some(sb)) = (self.nodes.get(&a), self.nodes.get(&b)) else { return };
        let net = NetSim::current();
        net.clog_link(sa.handle.id(), sb.handle.id());
        net.clog_link(sb.handle.id(), sa.handle.id());
        self.cut.insert((a.min(b), a.max(b)));
        trace_event!(self.trace, "world", crate::event::PARTITION, "n{a} <-/-> n{b}");
    }

    /// Cuts the link from `from` to `to` only: `from`'s messages to `to` are lost, `to`'s reach
    /// `from` (an asymmetric partition: a bad NIC queue, a one-way firewall rule).
    pub fn cut_one_way(&mut self, from: NodeId, to: NodeId) {
        let (Some(sa), Some(sb)) = (self.nodes.get(&from), self.nodes.get(&to)) else { return };
        NetSim::current().clog_link(sa.handle.id(), sb.handle.id());
        self.one_way.insert((from, to));
        trace_event!(self.trace, "world", crate::event::PARTITION, "n{from} -/-> n{to}");
    }

    /// Cuts every link between the two groups.
    pub fn partition_groups(&mut self, left: &[NodeId], right: &[NodeId]) {
        for a in left {
            for b in right {
                if a != b {
                    self.partition(*a, *b);
                }
            }
        }
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        if self.cut.is_empty() && self.one_way.is_empty() {
            return;
        }
        let net = NetSim::current();
        for (a, b) in std::mem::take(&mut self.cut) {
            let (ia, ib) = (self.nodes[&a].handle.id(), self.nodes[&b].handle.id());
            net.unclog_link(ia, ib);
            net.unclog_link(ib, ia);
        }
        for (a, b) in std::mem::take(&mut self.one_way) {
            net.unclog_link(self.nodes[&a].handle.id(), self.nodes[&b].handle.id());
        }
        trace_event!(self.trace, "world", crate::event::HEAL, "all links restored");
    }

    /// True when `a` and `b` can exchange messages.
    pub fn connected(&self, a: NodeId, b: NodeId) -> bool {
        // A link cut one way is no link: neither side's requests get answers.
        a == b || !(self.cut.contains(&(a.min(b), a.max(b))) || self.one_way.contains(&(a, b)) || self.one_way.contains(&(b, a)))
    }

    /// Sets message latency and loss for the whole network.
    pub fn set_network(&mut self, latency: std::ops::Range<Duration>, loss: f64) {
        NetSim::current().update_config(|c| {
            c.send_latency = latency.clone();
            c.packet_loss_rate = loss;
        });
        trace_event!(self.trace, "world", crate::event::NETWORK, "latency={:?}..{:?} loss={loss:.3}", latency.start, latency.end);
    }

    /// Changes how `node`'s clock deviates (skew, jumps), within the maximum offset.
    pub fn set_clock(&mut self, node: NodeId, shape: ClockShape) {
        if let Some(slot) = self.nodes.get(&node) {
            trace_event!(self.trace, "world", crate::event::CLOCK, "n{node} {shape:?}");
            slot.clock.set_shape(shape);
        }
    }

    /// True when `node` is up and reaches a quorum of `replicas` (itself included).
    fn reaches_quorum(&self, node: NodeId, replicas: &[NodeId]) -> bool {
        if self.life(node) != Some(NodeLife::Up) {
            return false;
        }
        let reachable = replicas.iter().filter(|r| **r == node || (self.life(**r) == Some(NodeLife::Up) && self.connected(node, **r))).count();
        reachable > replicas.len() / 2
    }

    /// Moves the lease of `range` to `to` (a replica that is up and reaches a quorum).
    pub fn transfer_lease(&mut self, range: RangeId, to: NodeId) -> bool {
        let Some(desc) = self.directory.get(range) else { return false };
        if desc.lease.holder == to || !desc.replicas.contains(&to) || !self.reaches_quorum(to, &desc.replicas) {
            return false;
        }
        let Some(server) = self.server(to).filter(|s| s.has_replica(range)) else { return false };
        let Some(lease) = self.directory.next_lease(range, to) else { return false };
        trace_event!(self.trace, "world", crate::event::LEASE_TRANSFER, "r{range} n{} -> n{to} epoch={}", desc.lease.holder, lease.epoch);
        self.spawn_on(to, server.acquire_lease(range, lease.epoch));
        true
    }

    /// Moves a replica of `range` from `from` to `to` (rebalancing), as CockroachDB's
    /// replicate queue does: the leaseholder sends `to` a snapshot and adds it (four replicas,
    /// a majority of three), then [`World::tick`] takes `from` out (three again) and `from`
    /// forgets the range. Only a range with its full replica set, whose leaseholder serves and
    /// reaches a quorum, from a replica that is not the leaseholder's, to an up node that has
    /// none.
    pub fn rebalance(&mut self, range: RangeId, from: NodeId, to: NodeId) -> bool {
        let Some(desc) = self.directory.get(range) else { return false };
        let holder = desc.lease.holder;
        let serving = self.server(holder).is_some_and(|s| s.is_serving(range));
        if desc.replicas.len() != self.cfg.replication.min(self.nodes.len())
            || from == holder
            || !desc.replicas.contains(&from)
            || desc.replicas.contains(&to)
            || self.life(to) != Some(NodeLife::Up)
            || !serving
            || !self.reaches_quorum(holder, &desc.replicas)
            || self.adding.contains_key(&range)
        {
            return false;
        }
        trace_event!(self.trace, "world", crate::event::REBALANCE, "r{range} n{from} -> n{to}");
        self.moving.insert(range, from);
        self.add_replica(range, to);
        true
    }

    /// Has the leaseholder of `range` add a replica on `to`.
    fn add_replica(&mut self, range: RangeId, to: NodeId) {
        let Some(desc) = self.directory.get(range) else { return };
        let Some(server) = self.server(desc.lease.holder) else { return };
        self.adding.insert(range, Instant::now());
        self.spawn_on(desc.lease.holder, server.add_replica(range, to));
    }

    /// The replicate queue, as CockroachDB's, one change per range at a time: a range with a
    /// replica too many (a move's addition landed) loses the replica that was moving, or one on
    /// a dead node; a range with a replica on a node down for [`DEAD_AFTER`], or short of
    /// replicas, gets one on an up node that lacks it (one addition at a time per range, given
    /// 5 s before another is tried); the dead one goes once the new one is in.
    fn replicate_queue(&mut self, now: Instant) {
        let want = self.cfg.replication.min(self.nodes.len());
        let dead: BTreeSet<NodeId> = self.down_since.iter().filter(|(_, t)| now.duration_since(**t) >= DEAD_AFTER).map(|(n, _)| *n).collect();
        for desc in self.directory.all() {
            let range = desc.range_id;
            let holder = desc.lease.holder;
            if desc.replicas.len() > want {
                let victim = self
                    .moving
                    .get(&range)
                    .copied()
                    .filter(|n| desc.replicas.contains(n) && *n != holder)
                    .or_else(|| desc.replicas.iter().copied().find(|n| dead.contains(n) && *n != holder))
                    // (An addition that landed after its move was called off.)
                    .or_else(|| desc.replicas.iter().copied().rev().find(|n| *n != holder));
                if let Some(victim) = victim {
                    if self.directory.remove_replica(range, victim, want) {
                        self.moving.remove(&range);
                        self.adding.remove(&range);
                        trace_event!(self.trace, "world", crate::event::REPLICA_REMOVED, "r{range} n{victim}");
                        if let Some(server) = self.server(victim) {
                            self.spawn_on(victim, server.drop_replica(range));
                        }
                    }
                }
                continue;
            }
            if let Some(t) = self.adding.get(&range) {
                if now.duration_since(*t) < Duration::from_secs(5) {
                    continue;
                }
                // The addition did not land: a move is called off; a short range tries again.
                self.adding.remove(&range);
                self.moving.remove(&range);
            }
            if !self.server(holder).is_some_and(|s| s.is_serving(range)) || !self.reaches_quorum(holder, &desc.replicas) {
                continue;
            }
            if desc.replicas.len() < want || desc.replicas.iter().any(|n| dead.contains(n)) {
                let candidates: Vec<NodeId> = self
                    .node_ids()
                    .into_iter()
                    .filter(|n| !desc.replicas.contains(n) && self.life(*n) == Some(NodeLife::Up) && self.connected(holder, *n))
                    .collect();
                if let Some(&to) = candidates.choose(&mut self.rng) {
                    if let Some(&gone) = desc.replicas.iter().find(|n| dead.contains(n) && **n != holder) {
                        trace_event!(self.trace, "world", crate::event::REBALANCE, "r{range} n{gone} -> n{to} (n{gone} down for {DEAD_AFTER:?})");
                        self.moving.insert(range, gone);
                    }
                    self.add_replica(range, to);
                }
            }
        }
    }

    /// Asks the leaseholder of `range` to split it at `at`.
    pub fn split(&mut self, range: RangeId, at: Key) -> bool {
        let Some(desc) = self.directory.get(range) else { return false };
        let Some(server) = self.server(desc.lease.holder) else { return false };
        trace_event!(self.trace, "world", crate::event::SPLIT_REQUEST, "r{range} at {at}");
        self.spawn_on(desc.lease.holder, server.split_range(range, at));
        true
    }

    /// Asks the leaseholder of `range` to garbage-collect up to `now - ttl` immediately.
    pub fn gc_now(&mut self, range: RangeId, ttl: Duration) -> bool {
        let Some(desc) = self.directory.get(range) else { return false };
        let Some(server) = self.server(desc.lease.holder) else { return false };
        let threshold = server.hlc().now().sub(ttl);
        trace_event!(self.trace, "world", crate::event::GC_REQUEST, "r{range} threshold={threshold}");
        self.spawn_on(desc.lease.holder, server.gc_protected(range, threshold));
        true
    }

    /// The lease manager (node liveness): moves leases away from holders that are down, paused
    /// or cut off from a quorum for longer than the lease duration, and re-initialises leases
    /// whose holder restarted. Call it regularly from the scenario's control loop.
    pub fn tick(&mut self) {
        let now = Instant::now();
        if let Some((node, phase)) = self.storage.take_doomed() {
            trace_event!(self.trace, "nemesis", crate::event::INJECT, "crash n{node}: coordinator killed at {phase:?}");
            if self.crash(node) {
                self.restart_due.insert(node, now + self.doomed_downtime);
            }
        }
        let due: Vec<NodeId> = self.restart_due.iter().filter(|(_, t)| **t <= now).map(|(n, _)| *n).collect();
        for node in due {
            self.restart_due.remove(&node);
            self.restart(node);
        }
        self.replicate_queue(now);
        for desc in self.directory.all() {
            let holder = desc.lease.holder;
            let serving = self.server(holder).is_some_and(|s| s.is_serving(desc.range_id));
            if self.reaches_quorum(holder, &desc.replicas) && serving {
                self.unhealthy_since.remove(&desc.range_id);
                continue;
            }
            let since = *self.unhealthy_since.entry(desc.range_id).or_insert(now);
            if now.duration_since(since) < self.cfg.lease_duration {
                continue;
            }
            let mut candidates: Vec<NodeId> = desc
                .replicas
                .iter()
                .copied()
                .filter(|n| self.reaches_quorum(*n, &desc.replicas) && self.server(*n).is_some_and(|s| s.has_replica(desc.range_id)))
                .collect();
            candidates.sort();
            let Some(&to) = candidates.choose(&mut self.rng) else { continue };
            let Some(server) = self.server(to) else { continue };
            let Some(lease) = self.directory.next_lease(desc.range_id, to) else { continue };
            trace_event!(self.trace, "world", crate::event::LEASE_EXPIRED, "r{} n{holder} -> n{to} epoch={}", desc.range_id, lease.epoch);
            self.unhealthy_since.insert(desc.range_id, now);
            self.spawn_on(to, server.acquire_lease(desc.range_id, lease.epoch));
        }
    }

    /// Ends every fault: resumes paused nodes, restarts crashed ones, heals the network and
    /// restores clean latency. The liveness phase starts from here.
    pub fn calm(&mut self) {
        // A node caught by a kill trap is stuck in its write: it dies now, and restarts below.
        if let Some((node, phase)) = self.storage.take_doomed() {
            trace_event!(self.trace, "nemesis", crate::event::INJECT, "crash n{node}: coordinator killed at {phase:?}");
            self.crash(node);
        }
        self.restart_due.clear();
        for id in self.node_ids() {
            match self.life(id) {
                Some(NodeLife::Paused) => {
                    self.resume(id);
                }
                Some(NodeLife::Down) => {
                    self.restart(id);
                }
                _ => {}
            }
        }
        self.heal();
        self.set_network(Duration::from_millis(1)..Duration::from_millis(10), 0.0);
    }
}

/// A machine outside the cluster that runs clients.
#[derive(Clone)]
pub struct ClientMachine {
    /// The madsim node to spawn client tasks on.
    pub handle: NodeHandle,
    name: String,
    addr: SocketAddr,
    clock: PhysicalClock,
    directory: Directory,
    trace: Trace,
    cfg: WorldConfig,
    seed: u64,
    machine: u8,
    connections: Arc<std::sync::atomic::AtomicU64>,
    statements: StatementLog,
}

impl ClientMachine {
    /// Runs `f` with a connected KV client on this machine.
    pub fn spawn<F, Fut>(&self, f: F) -> madsim::task::JoinHandle<Fut::Output>
    where
        F: FnOnce(SimKv) -> Fut + Send + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let me = self.clone();
        self.handle.spawn(async move { f(me.connect().await).await })
    }

    /// Connects a KV client; call from a task running on [`ClientMachine::handle`].
    pub async fn connect(&self) -> SimKv {
        // Take this connection's number before awaiting, so concurrent connects never share a port.
        let incarnation = self.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let port = self.addr.port() + (incarnation - 1) as u16;
        let ep = Endpoint::bind(SocketAddr::new(self.addr.ip(), port)).await.expect("bind client address");
        let hlc = Hlc::new(self.clock.clone());
        SimKv::new(
            self.name.clone(),
            0,
            self.machine,
            ep,
            hlc,
            self.directory.clone(),
            self.trace.clone(),
            self.cfg.clone(),
            self.seed,
            incarnation,
            self.statements.clone(),
        )
    }
}
