//! The host the real backup code runs on inside the simulation: what a node hands `backup` as its
//! [`backup::env::Env`] — its KV client, the shared simulated storage, simulated time and tasks
//! ([`MadsimRuntime`]), the trace as its event log ([`TraceEventLog`]), and the planted backup bug
//! of the run, if any. The one place where `sim` wires `backup` in; `backup` sees none of it but
//! its traits.

use crate::config::WorldConfig;
use crate::kv_client::SimKv;
use crate::storage::SimStorage;
use crate::trace::Trace;
use std::sync::Arc;
use std::time::Duration;

/// The `Env` of node `who` (`n3`) of a cluster: its KV client, the shared storage backend,
/// simulated time.
pub fn node_env(kv: &SimKv, storage: &SimStorage, cluster_id: &str, trace: &Trace, who: &str, cfg: &WorldConfig) -> backup::env::Env {
    backup::env::Env {
        kv: Arc::new(kv.clone()),
        storage: Arc::new(storage.provider_for(cfg.nodes)),
        runtime: Arc::new(MadsimRuntime),
        io: cfg.io.clone(),
        locality: cfg.locality_of(model::kv::ClusterKv::node_id(kv)),
        cluster_id: cluster_id.to_string(),
        jobs: cfg.jobs.clone(),
        log: Arc::new(TraceEventLog { trace: trace.clone(), who: who.to_string(), node: model::kv::ClusterKv::node_id(kv), storage: storage.clone() }),
        planted: cfg.planted.and_then(crate::planted::Planted::in_backup),
    }
}

/// `backup`'s runtime on madsim: simulated sleeps, tasks on the current simulated node.
pub struct MadsimRuntime;

impl backup::env::Runtime for MadsimRuntime {
    fn sleep(&self, d: Duration) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(madsim::time::sleep(d))
    }

    fn spawn(&self, fut: futures::future::BoxFuture<'static, ()>) {
        madsim::task::spawn(fut);
    }

    /// A task of this node, started now: the simulation runs what a real process would run
    /// alongside (RESTORE's read-ahead) concurrently too, in an order the seed fixes.
    fn start(&self, fut: futures::future::BoxFuture<'static, ()>) -> futures::future::BoxFuture<'static, ()> {
        let task = madsim::task::spawn(fut);
        Box::pin(async move {
            let _ = task.await;
        })
    }

    /// From madsim's generator, seeded by the simulation seed: an encrypted backup's salt and
    /// IVs are the same on every replay of a seed.
    fn fill_random(&self, buf: &mut [u8]) {
        use madsim::rand::RngCore;
        madsim::rand::thread_rng().fill_bytes(buf);
    }
}

/// `backup`'s job events, written into the trace as the node that had them, and shown to the
/// storage's armed kills that are timed by a job's events ([`SimStorage::on_job_event`]).
pub struct TraceEventLog {
    /// The trace.
    pub trace: Trace,
    /// The node (`n3`).
    pub who: String,
    /// Its id.
    pub node: model::NodeId,
    /// The storage whose traps may doom the node.
    pub storage: SimStorage,
}

impl backup::env::EventLog for TraceEventLog {
    fn event(&self, what: &str, detail: String) {
        self.trace.event(&self.who, what, format_args!("{detail}"));
        self.storage.on_job_event(what, self.node);
    }
}
