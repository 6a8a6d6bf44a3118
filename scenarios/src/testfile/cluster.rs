//! The simulated cluster a file runs in, and the swarm faults drawn in its background when the
//! file is swept across seeds (`sweep seeds=N faults=swarm`, `backup-sim run FILE --seeds N`):
//! every wait of a directive ticks the cluster through here, so the faults land while the file's
//! statements run, at the times the seed drew.

use crate::knobs::RunKnobs;
use crate::run::RunOptions;
use model::kv::NodeId;
use sim::faults::{Fault, FaultKind, FaultMix};
use sim::World;
use std::collections::BTreeSet;
use std::time::Duration;

/// The fault kinds a file is swept under: every cluster kind whose effect the cluster must hide
/// from its clients. Left out: GC with a short TTL ([`FaultKind::Gc`]), which legitimately
/// refuses a read or a backup below its threshold (a file shows that with `advance-time`), and
/// the kinds aimed at one job (a file aims those itself, with `crash`, `job` and the storage
/// directives) — except a flaky storage service, which it must ride out too.
pub fn file_faults() -> Vec<FaultKind> {
    FaultKind::CLUSTER.iter().copied().filter(|k| *k != FaultKind::Gc).chain([FaultKind::FlakyStorage]).collect()
}

/// The cluster and, in a sweep, the faults in its background; and the other clusters a file
/// made with `new-cluster`, which share its storage service (and tick with it, fault-free).
pub struct Cluster {
    /// The simulated cluster.
    pub world: World,
    background: Option<Background>,
    /// Clusters made by `new-cluster`, by name.
    pub others: std::collections::BTreeMap<String, World>,
}

struct Background {
    plan: sim::faults::Schedule,
    next: usize,
    start: madsim::time::Instant,
    safety: Duration,
    spared: BTreeSet<NodeId>,
    ended: bool,
}

impl Background {
    /// Injects the faults due; at the end of the safety phase, undoes what the background did —
    /// only that: a node the file crashed stays down, a partition the file made stays (a file
    /// that does either gets no node faults in its background: see [`Cluster::start_faults`]).
    fn step(&mut self, world: &mut World) {
        if self.ended {
            return;
        }
        let elapsed = self.start.elapsed();
        while self.next < self.plan.len() && self.plan[self.next].at <= elapsed {
            sim::faults::inject(world, &self.plan[self.next].fault);
            self.next += 1;
        }
        if elapsed >= self.safety {
            self.ended = true;
            sim::trace_event!(
                world.trace,
                "runner",
                sim::event::LIVENESS_PHASE,
                "background faults stop: their nodes restart, their partitions heal, storage behaves"
            );
            for id in world.node_ids().into_iter().filter(|n| !self.spared.contains(n)) {
                match world.life(id) {
                    Some(sim::NodeLife::Paused) => {
                        world.resume(id);
                    }
                    Some(sim::NodeLife::Down) => {
                        world.restart(id);
                    }
                    _ => {}
                }
            }
            if self.plan.iter().any(|f| matches!(f.fault, Fault::Partition { .. })) {
                world.heal();
            }
            world.set_network(Duration::from_millis(1)..Duration::from_millis(10), 0.0);
            world.storage.set_faults(sim::storage::StorageFaults::default());
        }
    }
}

impl Cluster {
    /// A cluster with no faults.
    pub fn new(world: World) -> Cluster {
        Cluster { world, background: None, others: std::collections::BTreeMap::new() }
    }

    /// Draws the seed's swarm over [`file_faults`] (nothing for [`FaultMix::None`]) and starts its
    /// schedule now, over a safety phase of `safety`, after which every fault ends (the liveness
    /// phase: the rest of the file runs on a healed cluster). Writes the draw into the trace.
    ///
    /// The file's gateways (`spared`) are left out of the node faults: a client whose own
    /// connection dies sees an error whatever the backup does (a load balancer's business, not
    /// the backup's), so a crash, pause or partition touching one is dropped from the schedule.
    /// A file that crashes nodes or cuts the network itself (`file_owns_nodes`) gets no node
    /// faults or partitions in its background at all: it decides what is down, and a second
    /// node down beside its own may leave a range without a quorum, which no client is spared.
    /// Every other node may crash or be cut off while the file's jobs run on it. Network faults
    /// bring latency but no message loss: a client's statement travels on one TCP connection,
    /// where loss is latency, and the simulated client's call is not retried.
    pub fn start_faults(&mut self, seed: u64, mix: FaultMix, safety: Duration, spared: &BTreeSet<NodeId>, file_owns_nodes: bool) {
        if mix == FaultMix::None {
            return;
        }
        let opts = RunOptions { faults: mix, safety, ..RunOptions::new(seed) };
        let mut knobs = RunKnobs::draw(&opts, &file_faults(), None);
        knobs.schedule.retain(|f| match &f.fault {
            Fault::Crash { node } | Fault::Restart { node } | Fault::Pause { node } | Fault::Resume { node } => !file_owns_nodes && !spared.contains(node),
            Fault::Partition { group } => !file_owns_nodes && group.iter().all(|n| !spared.contains(n)),
            _ => true,
        });
        for f in &mut knobs.schedule {
            if let Fault::Network { loss_per_mille, .. } = &mut f.fault {
                *loss_per_mille = 0;
            }
        }
        let trace = &self.world.trace;
        // The world's and the swarm's knobs (a file has no workload of the swarm scenarios).
        for (name, value) in knobs.all(&opts).into_iter().filter(|(name, _)| !name.starts_with("workload.")) {
            sim::trace_event!(trace, "runner", sim::event::KNOB, "{name}={value}");
        }
        let gateways: Vec<String> = spared.iter().map(|n| format!("n{n}")).collect();
        sim::trace_event!(trace, "runner", sim::event::KNOB, "file.spared_gateways={}", gateways.join(","));
        sim::trace_event!(trace, "runner", sim::event::SWARM, "{}", knobs.swarm);
        for f in &knobs.schedule {
            sim::trace_event!(trace, "runner", sim::event::SCHEDULE, "at={:?} {}", f.at, f.fault);
        }
        self.world.storage.set_faults(knobs.storage.clone());
        let spared = spared.clone();
        self.background = Some(Background { plan: knobs.schedule, next: 0, start: madsim::time::Instant::now(), safety, spared, ended: false });
    }

    /// One step of the cluster: the background faults due, then the world's own tick (leases, GC,
    /// job adoption).
    pub fn tick(&mut self) {
        if let Some(b) = &mut self.background {
            b.step(&mut self.world);
        }
        self.world.tick();
        for w in self.others.values_mut() {
            w.tick();
        }
    }

    /// The cluster named `name` (`None`: the file's first one).
    pub fn named(&mut self, name: Option<&str>) -> Result<&mut World, String> {
        match name {
            None => Ok(&mut self.world),
            Some(n) => {
                let known: Vec<String> = self.others.keys().cloned().collect();
                self.others.get_mut(n).ok_or_else(|| {
                    format!("there is no cluster {n:?}; new-cluster made {}", if known.is_empty() { "none".to_string() } else { known.join(", ") })
                })
            }
        }
    }

    /// Waits for a client task, ticking every 50 ms of simulated time; returns its output.
    pub async fn wait<T>(&mut self, task: madsim::task::JoinHandle<T>) -> T {
        while !task.is_finished() {
            madsim::time::sleep(Duration::from_millis(50)).await;
            self.tick();
        }
        task.await.expect("client task")
    }

    /// Lets `d` of simulated time pass, ticking every 50 ms (the last step shorter, so that
    /// exactly `d` passes).
    pub async fn pass(&mut self, d: Duration) {
        let until = madsim::time::Instant::now() + d;
        while madsim::time::Instant::now() < until {
            madsim::time::sleep(Duration::from_millis(50).min(until - madsim::time::Instant::now())).await;
            self.tick();
        }
    }
}
