//! One simulated database node: its replicas, the leaseholder's request evaluation, a small
//! Raft-style replication of each range's log, and the per-node queues (heartbeat, GC, split).
//!
//! A node's memory is lost when madsim kills it; its [`NodeDisk`] is not, and [`start`] rebuilds
//! every replica from it. The node never trusts a client: every request is checked against the
//! range's lease (the [`Directory`] must name this node for the epoch this replica initialised)
//! and span, and answered with a typed [`NodeError`] otherwise.
//!
//! Replication: the leaseholder appends a command to its log, syncs, sends it to the followers,
//! and applies it once a quorum has synced it. A new leaseholder first collects the logs of a
//! quorum, adopts the most up-to-date one, and commits a `LeaseStart` entry of its own epoch
//! before serving — Raft's leader-completeness rule, with the lease epoch as the term.

use crate::addr::node_addr;
use crate::clock::{Hlc, PhysicalClock};
use crate::command::{Command, LogEntry, TxnStatus};
use crate::config::WorldConfig;
use crate::directory::Directory;
use crate::disk::{NodeDisk, RangeLog};
use crate::kv_client::SimKv;
use crate::messages::{Envelope, NodeError, NodeRequest, NodeResponse, Reply};
use crate::replica::{Applied, IntentRefusal, Replica, TxnRecord};
use crate::trace::Trace;
use crate::trace_event;
use futures::lock::Mutex as AsyncMutex;
use madsim::net::Endpoint;
use model::{encoding, Key, MvccError, NodeId, RangeId, Span, Timestamp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Reads the GC TTL that applies to a span, through the cluster (zone configs are MVCC data).
pub type TtlSource = Arc<dyn Fn(SimKv, Span) -> futures::future::BoxFuture<'static, Option<Duration>> + Send + Sync>;

/// Everything a node needs to (re)start; cloned into madsim's init closure.
#[derive(Clone)]
pub struct NodeContext {
    /// This node.
    pub id: NodeId,
    /// The world's configuration.
    pub cfg: WorldConfig,
    /// The durable state, shared with the world so it outlives a crash.
    pub disk: Arc<Mutex<NodeDisk>>,
    /// This node's physical clock (hardware: survives restarts).
    pub clock: PhysicalClock,
    /// The range directory.
    pub directory: Directory,
    /// The trace.
    pub trace: Trace,
    /// Where running servers register, so the world can reach them.
    pub registry: Arc<Mutex<BTreeMap<NodeId, Arc<NodeServer>>>>,
    /// Seed of this node's random stream (combined with the incarnation).
    pub seed: u64,
    /// How the GC queue learns TTLs.
    pub ttl_source: Option<TtlSource>,
    /// The storage backend every URL resolves to.
    pub storage: crate::storage::SimStorage,
    /// The cluster's id (written into manifests).
    pub cluster_id: String,
}

/// A running node.
pub struct NodeServer {
    /// This node.
    pub id: NodeId,
    name: String,
    cfg: WorldConfig,
    disk: Arc<Mutex<NodeDisk>>,
    replicas: Mutex<BTreeMap<RangeId, Replica>>,
    locks: Mutex<BTreeMap<RangeId, Arc<AsyncMutex<()>>>>,
    hlc: Hlc,
    directory: Directory,
    trace: Trace,
    ep: Endpoint,
    rng: Mutex<ChaCha8Rng>,
    kv: SimKv,
    ttl_source: Option<TtlSource>,
    env: backup::env::Env,
}

/// Starts (or restarts) a node: replays its disk, binds its address, serves, runs its queues.
pub async fn start(ctx: NodeContext) {
    let incarnation = {
        let mut disk = ctx.disk.lock().expect("disk lock");
        disk.incarnation += 1;
        disk.incarnation
    };
    let name = format!("n{}", ctx.id);
    let (replicas, replayed) = match replay(&ctx.disk.lock().expect("disk lock")) {
        Ok(r) => r,
        Err(e) => panic!("invariant violated: {name} cannot replay its log: {e}"),
    };
    let ep = Endpoint::bind(node_addr(ctx.cfg.network, ctx.id)).await.expect("bind node address");
    let hlc = Hlc::new(ctx.clock.clone());
    let kv = SimKv::new(
        name.clone(),
        ctx.id,
        ctx.id as u8,
        ep.clone(),
        hlc.clone(),
        ctx.directory.clone(),
        ctx.trace.clone(),
        ctx.cfg.clone(),
        crate::seed_tree::SeedTree::new(ctx.seed).subtree("kv").seed(),
        incarnation,
        crate::kv_client::StatementLog::default(),
    );
    // The real backup implementation, as this node runs it: this node's KV client, the shared
    // storage backend, simulated time.
    let env = crate::host::node_env(&kv, &ctx.storage, &ctx.cluster_id, &ctx.trace, &name, &ctx.cfg);
    let server = Arc::new(NodeServer {
        id: ctx.id,
        name: name.clone(),
        cfg: ctx.cfg.clone(),
        disk: ctx.disk.clone(),
        replicas: Mutex::new(replicas),
        locks: Mutex::new(BTreeMap::new()),
        hlc,
        directory: ctx.directory.clone(),
        trace: ctx.trace.clone(),
        ep: ep.clone(),
        rng: Mutex::new(crate::seed_tree::SeedTree::new(ctx.seed).indexed("incarnation", incarnation)),
        kv,
        ttl_source: ctx.ttl_source.clone(),
        env: env.clone(),
    });
    trace_event!(
        ctx.trace,
        name,
        crate::event::START,
        "incarnation={incarnation} replicas={} replayed={replayed}",
        server.replicas.lock().expect("replicas").len()
    );
    ctx.registry.lock().expect("registry").insert(ctx.id, server.clone());
    let s = server.clone();
    ep.add_rpc_handler(move |env: Envelope| {
        let s = s.clone();
        async move { s.handle(env).await }
    });
    // Ranges this node was taken out of while it was down: forgotten now, as the removal would
    // have had them forgotten (a stale parent kept would wait for ever for its split).
    for id in server.replica_ids() {
        if server.directory.get(id).is_some_and(|d| !d.replicas.contains(&server.id)) {
            madsim::task::spawn(server.clone().drop_replica(id));
        }
    }
    // Leases this node held before a restart must be re-initialised under a new epoch.
    for d in server.directory.all() {
        if d.lease.holder == server.id && server.has_replica(d.range_id) {
            if let Some(lease) = server.directory.next_lease(d.range_id, server.id) {
                madsim::task::spawn(server.clone().acquire_lease(d.range_id, lease.epoch));
            }
        }
    }
    madsim::task::spawn(server.clone().heartbeat_loop());
    madsim::task::spawn(server.clone().gc_loop());
    madsim::task::spawn(server.clone().split_loop());
    if let Some(pace) = server.cfg.scheduler {
        madsim::task::spawn(backup::schedule::executor::run_forever(env.clone(), pace));
    }
    madsim::task::spawn(backup::exec::adopt_forever(env));
    // madsim ends a node whose initial task returns: a node lives until it is killed.
    std::future::pending::<()>().await;
}

/// Rebuilds replicas from the synced logs: parents before the ranges split off them.
fn replay(disk: &NodeDisk) -> Result<(BTreeMap<RangeId, Replica>, u64), String> {
    let mut replicas: BTreeMap<RangeId, Replica> = BTreeMap::new();
    let mut replayed = 0;
    for (&range, log) in &disk.logs {
        // A replica added by rebalancing starts from its snapshot, not from a parent's split.
        let from_split = replicas.remove(&range);
        let mut replica = match &log.snapshot {
            Some(s) => s.clone(),
            None => from_split.unwrap_or_else(|| Replica::new(range, log.initial_span.clone())),
        };
        for entry in log.entries.iter().take(log.commit as usize) {
            if entry.index <= replica.applied {
                continue;
            }
            let applied = replica.apply(entry).map_err(|e| e.to_string())?;
            if let Some(right) = applied.new_replica {
                replicas.insert(right.range_id, right);
            }
            replayed += 1;
        }
        replica.serving_epoch = None;
        replicas.insert(range, replica);
    }
    // A split applied here whose right-hand log was never created has no data of its own yet.
    replicas.retain(|id, _| disk.logs.contains_key(id));
    Ok((replicas, replayed))
}

impl NodeServer {
    /// This node's KV client (what a job coordinator on this node uses).
    pub fn kv(&self) -> SimKv {
        self.kv.clone()
    }

    /// This node's clock.
    pub fn hlc(&self) -> &Hlc {
        &self.hlc
    }

    /// True when the node has a replica of `range`.
    pub fn has_replica(&self, range: RangeId) -> bool {
        self.replicas.lock().expect("replicas").contains_key(&range)
    }

    /// True when this node is serving `range` under the directory's current lease.
    pub fn is_serving(&self, range: RangeId) -> bool {
        self.serving_epoch(range).is_some()
    }

    /// A copy of a replica's state (for checks and snapshots).
    pub fn replica(&self, range: RangeId) -> Option<Replica> {
        self.replicas.lock().expect("replicas").get(&range).cloned()
    }

    /// Runs `f` on this node's replica of `range` without copying it (a replica holds its whole
    /// MVCC store: cloning one per request dominated the cost of large scenarios).
    pub fn with_replica<T>(&self, range: RangeId, f: impl FnOnce(&Replica) -> T) -> Option<T> {
        self.replicas.lock().expect("replicas").get(&range).map(f)
    }

    /// Ranges this node has a replica of.
    pub fn replica_ids(&self) -> Vec<RangeId> {
        self.replicas.lock().expect("replicas").keys().copied().collect()
    }

    fn lock_for(&self, range: RangeId) -> Arc<AsyncMutex<()>> {
        self.locks.lock().expect("locks").entry(range).or_insert_with(|| Arc::new(AsyncMutex::new(()))).clone()
    }

    /// The epoch under which this node serves `range` now, if it does.
    fn serving_epoch(&self, range: RangeId) -> Option<u64> {
        let desc = self.directory.get(range)?;
        if desc.lease.holder != self.id {
            return None;
        }
        let replicas = self.replicas.lock().expect("replicas");
        let r = replicas.get(&range)?;
        (r.serving_epoch == Some(desc.lease.epoch)).then_some(desc.lease.epoch)
    }

    fn not_leaseholder(&self, range: RangeId) -> NodeError {
        let leaseholder = self.directory.get(range).map(|d| d.lease.holder).filter(|h| *h != self.id);
        NodeError::NotLeaseholder { range, leaseholder }
    }

    async fn handle(self: Arc<Self>, env: Envelope) -> Reply {
        self.hlc.update(env.sent_at);
        let result = self.clone().dispatch(env.req).await;
        Reply { sent_at: self.hlc.now(), result }
    }

    async fn dispatch(self: Arc<Self>, req: NodeRequest) -> Result<NodeResponse, NodeError> {
        if let NodeRequest::Bulk { sql, user, database, in_transaction } = req {
            // Boxed: a bulk statement's future (a whole BACKUP or RESTORE) would otherwise size
            // every RPC's task, which madsim copies into place on each spawn.
            return Ok(NodeResponse::Bulk(Box::pin(self.bulk(&sql, user, database, in_transaction)).await));
        }
        let range = req.range();
        let lock = self.lock_for(range);
        let _guard = lock.lock().await;
        match req {
            NodeRequest::Append { range, epoch, prev_index, prev_epoch, entries, commit } => {
                self.on_append(range, epoch, prev_index, prev_epoch, entries, commit).await
            }
            NodeRequest::FetchLog { range, epoch } => self.on_fetch_log(range, epoch),
            NodeRequest::InstallSnapshot { range, epoch, replica, entries } => self.on_install_snapshot(range, epoch, *replica, entries).await,
            other => {
                if let NodeRequest::Export { range, req } = &other {
                    // Planted: answer an export from any replica, leaseholder or not.
                    if self.cfg.planted(crate::planted::SimBug::ExportFromStaleLeaseholder) && self.serving_epoch(*range).is_none() && self.has_replica(*range)
                    {
                        let export =
                            self.read(*range, &req.span, req.end, |r| r.engine.export_paged(&req.span, req.start, req.end, req.filter, req.target_bytes))?;
                        trace_event!(self.trace, self.name, crate::event::EXPORT_SERVED, "r{range} {} entries as-leaseholder=false", export.entries.len());
                        return Ok(NodeResponse::Export(model::ExportResponse { served_by: self.id, range_id: *range, export, locality: self.locality() }));
                    }
                }
                let epoch = self.serving_epoch(range).ok_or_else(|| self.not_leaseholder(range))?;
                self.serve(epoch, other).await
            }
        }
    }

    /// This node's `--locality` tiers, as its exports report them.
    fn locality(&self) -> Vec<(String, String)> {
        self.cfg.locality_of(self.id).tiers
    }

    /// Runs a bulk statement with this node as the gateway.
    async fn bulk(&self, sql: &str, user: String, database: String, in_transaction: bool) -> Result<(Vec<String>, Vec<Vec<model::Datum>>), String> {
        let ctx = backup::targets::SessionContext { user, database, in_transaction };
        trace_event!(
            self.trace,
            self.name,
            crate::event::BULK,
            "{}",
            backup::statement::parse(sql).map(|s| s.redacted()).unwrap_or_else(|_| "(unparsable statement)".into())
        );
        let result = backup::exec::execute(&self.env, &ctx, sql).await;
        match &result {
            Ok(r) => trace_event!(self.trace, self.name, crate::event::BULK_OK, "{} rows", r.rows.len()),
            Err(e) => trace_event!(self.trace, self.name, crate::event::BULK_ERR, "{e}"),
        }
        result.map(|r| (r.columns, r.rows)).map_err(|e| e.to_string())
    }

    /// Evaluates a leaseholder request. The range lock is held.
    async fn serve(&self, epoch: u64, req: NodeRequest) -> Result<NodeResponse, NodeError> {
        match req {
            NodeRequest::Scan { range, span, ts } => {
                let rows = self.read(range, &span, ts, |r| r.engine.scan(&span, ts))?;
                Ok(NodeResponse::Rows(rows))
            }
            NodeRequest::Export { range, req } => {
                let export = self.read(range, &req.span, req.end, |r| r.engine.export_paged(&req.span, req.start, req.end, req.filter, req.target_bytes))?;
                // The simulator's own record of who answered each export, checked by the
                // scenarios against the lease (it is the truth the directory holds, not the
                // backup's claim).
                let leaseholder = self.serving_epoch(range) == Some(epoch);
                trace_event!(self.trace, self.name, crate::event::EXPORT_SERVED, "r{range} {} entries as-leaseholder={leaseholder}", export.entries.len());
                Ok(NodeResponse::Export(model::ExportResponse { served_by: self.id, range_id: range, export, locality: self.locality() }))
            }
            NodeRequest::GcThreshold { range, span } => {
                let threshold = self
                    .with_replica(range, |r| (r.span.contains(&span) && !span.is_empty()).then(|| r.engine.gc_threshold(&r.span)))
                    .flatten()
                    .ok_or(NodeError::RangeKeyMismatch { range, span })?;
                Ok(NodeResponse::Timestamp(threshold))
            }
            NodeRequest::PutIntents { range, txn, anchor, ts, read_ts, writes } => {
                {
                    let replicas = self.replicas.lock().expect("replicas");
                    let r = replicas.get(&range).ok_or(NodeError::RangeKeyMismatch { range, span: Span::default() })?;
                    if r.txn_records.get(&txn).is_some_and(|t| t.status == TxnStatus::Aborted) {
                        return Err(NodeError::TxnAborted(txn));
                    }
                    r.evaluate_intents(txn, ts, read_ts, &writes).map_err(|refusal| match refusal {
                        IntentRefusal::Pushed { to } => NodeError::Pushed { to },
                        IntentRefusal::Conflict { key, other } => NodeError::Conflict { key, other },
                        IntentRefusal::Stale { key, newest } => NodeError::Stale { key, newest },
                        IntentRefusal::OutsideRange => NodeError::RangeKeyMismatch { range, span: r.span.clone() },
                    })?;
                }
                self.propose(range, epoch, Command::PutIntents { txn, anchor, ts, writes }).await?;
                Ok(NodeResponse::Ok)
            }
            NodeRequest::EndTxn { range, txn, anchor, commit } => {
                let wanted = if commit { TxnStatus::Committed } else { TxnStatus::Aborted };
                if let Some(existing) = self.txn_record(range, txn)? {
                    return Ok(NodeResponse::TxnStatus(Some(existing.status)));
                }
                self.check_anchor(range, &anchor)?;
                self.propose(range, epoch, Command::SetTxnStatus { txn, anchor, status: wanted }).await?;
                Ok(NodeResponse::TxnStatus(Some(wanted)))
            }
            NodeRequest::PushTxn { range, txn, anchor, txn_ts } => {
                if let Some(existing) = self.txn_record(range, txn)? {
                    return Ok(NodeResponse::TxnStatus(Some(existing.status)));
                }
                self.check_anchor(range, &anchor)?;
                let now = self.hlc.now();
                if now.wall.saturating_sub(txn_ts.wall) < self.cfg.txn_abandon_after.as_nanos() as u64 {
                    return Ok(NodeResponse::TxnStatus(None));
                }
                trace_event!(self.trace, self.name, crate::event::TXN_ABORT_ABANDONED, "r{range} txn={txn:x}");
                self.propose(range, epoch, Command::SetTxnStatus { txn, anchor, status: TxnStatus::Aborted }).await?;
                Ok(NodeResponse::TxnStatus(Some(TxnStatus::Aborted)))
            }
            NodeRequest::ResolveIntents { range, txn, commit } => {
                let has = self.with_replica(range, |r| r.engine.intents_in(&r.span).iter().any(|(_, i)| i.txn == txn)).unwrap_or(false);
                if has {
                    self.propose(range, epoch, Command::ResolveIntents { txn, commit }).await?;
                }
                Ok(NodeResponse::Ok)
            }
            NodeRequest::Ingest { range, entries } => {
                let span = self.with_replica(range, |r| r.span.clone()).ok_or(NodeError::RangeKeyMismatch { range, span: Span::default() })?;
                if let Some(e) = entries.iter().find(|e| !span.contains_key(&e.key)) {
                    return Err(NodeError::RangeKeyMismatch { range, span: Span::new(e.key.clone(), e.key.next()) });
                }
                self.propose(range, epoch, Command::Ingest { entries: std::sync::Arc::new(entries) }).await?;
                Ok(NodeResponse::Ok)
            }
            NodeRequest::Append { .. } | NodeRequest::FetchLog { .. } | NodeRequest::InstallSnapshot { .. } | NodeRequest::Bulk { .. } => {
                Err(NodeError::Invalid("request routed as a leaseholder request".into()))
            }
        }
    }

    fn txn_record(&self, range: RangeId, txn: model::TxnId) -> Result<Option<TxnRecord>, NodeError> {
        let replicas = self.replicas.lock().expect("replicas");
        let r = replicas.get(&range).ok_or(NodeError::RangeKeyMismatch { range, span: Span::default() })?;
        Ok(r.txn_records.get(&txn).cloned())
    }

    fn check_anchor(&self, range: RangeId, anchor: &Key) -> Result<(), NodeError> {
        let replicas = self.replicas.lock().expect("replicas");
        let r = replicas.get(&range).ok_or(NodeError::RangeKeyMismatch { range, span: Span::default() })?;
        if r.span.contains_key(anchor) {
            Ok(())
        } else {
            Err(NodeError::RangeKeyMismatch { range, span: Span::new(anchor.clone(), anchor.next()) })
        }
    }

    /// A read at `ts` under the range lock: checks the span, records `ts` in the timestamp cache,
    /// and turns an intent refusal into the error a reader can push with.
    fn read<T>(&self, range: RangeId, span: &Span, ts: Timestamp, f: impl FnOnce(&Replica) -> Result<T, MvccError>) -> Result<T, NodeError> {
        let mut replicas = self.replicas.lock().expect("replicas");
        let r = replicas.get_mut(&range).ok_or(NodeError::RangeKeyMismatch { range, span: span.clone() })?;
        if !r.span.contains(span) || span.is_empty() {
            return Err(NodeError::RangeKeyMismatch { range, span: span.clone() });
        }
        if ts > r.max_read {
            r.max_read = ts;
        }
        self.directory.note_read(range, ts);
        match f(r) {
            Ok(v) => Ok(v),
            Err(MvccError::WriteIntent { key, txn, ts }) => {
                let anchor = r.intent_anchors.get(&txn).cloned().unwrap_or(key);
                Err(NodeError::Intent { txn, ts, anchor })
            }
            Err(e) => Err(NodeError::Mvcc(e)),
        }
    }

    async fn sync_delay(&self) {
        let (lo, hi) = self.cfg.sync_latency;
        let d = {
            let mut rng = self.rng.lock().expect("rng");
            if hi > lo {
                rng.gen_range(lo..=hi)
            } else {
                lo
            }
        };
        madsim::time::sleep(d).await;
    }

    /// Marks the log of `range` synced up to `index`.
    fn mark_synced(&self, range: RangeId, index: u64) {
        let mut disk = self.disk.lock().expect("disk lock");
        if let Some(log) = disk.logs.get_mut(&range) {
            let upto = (index as usize).min(log.entries.len());
            log.synced = log.synced.max(upto);
        }
    }

    /// Appends `cmd` under `epoch`, replicates it to a quorum and applies it. The range lock
    /// must be held. Fails with `NotLeaseholder` once the lease has moved on.
    async fn propose(&self, range: RangeId, epoch: u64, cmd: Command) -> Result<Applied, NodeError> {
        trace_event!(self.trace, self.name, crate::event::PROPOSE, "r{range} {}", cmd.kind());
        let index = {
            let mut disk = self.disk.lock().expect("disk lock");
            let log = disk.logs.get_mut(&range).ok_or(NodeError::RangeKeyMismatch { range, span: Span::default() })?;
            let index = log.last_index() + 1;
            log.entries.push(LogEntry { index, epoch, cmd });
            index
        };
        self.sync_delay().await;
        self.mark_synced(range, index);
        let mut backoff = Duration::from_millis(20);
        loop {
            let lease = self.directory.get(range).map(|d| d.lease);
            if lease.map(|l| (l.holder, l.epoch)) != Some((self.id, epoch)) {
                return Err(self.not_leaseholder(range));
            }
            if self.replicate(range, epoch, index).await {
                break;
            }
            madsim::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
        self.commit_and_apply(range, index)
    }

    /// Sends the log up to `upto` to every follower and returns as soon as enough of them have
    /// it synced to make a quorum of the range's replicas with this node (true), as Raft commits on a quorum's
    /// acknowledgements: a dead or slow follower does not hold every write up for its RPC
    /// timeout. The calls still in flight are dropped; a follower left behind is caught up by
    /// the next proposal or the leaseholder's heartbeat, and a new leaseholder adopts the most
    /// up-to-date log of a quorum, which holds every committed entry.
    async fn replicate(&self, range: RangeId, epoch: u64, upto: u64) -> bool {
        use futures::StreamExt;
        let Some(desc) = self.directory.get(range) else { return false };
        let followers: Vec<NodeId> = desc.replicas.iter().copied().filter(|n| *n != self.id).collect();
        let needed = desc.quorum().saturating_sub(1);
        let mut calls: futures::stream::FuturesUnordered<_> = followers.into_iter().map(|f| self.replicate_to(range, epoch, f, upto)).collect();
        let mut acks = 0;
        while acks < needed {
            match calls.next().await {
                Some(ok) => acks += usize::from(ok),
                None => break,
            }
        }
        acks >= needed
    }

    async fn replicate_to(&self, range: RangeId, epoch: u64, follower: NodeId, upto: u64) -> bool {
        for _ in 0..4 {
            let (req, sent_upto) = {
                let disk = self.disk.lock().expect("disk lock");
                let Some(log) = disk.logs.get(&range) else { return false };
                let replicas = self.replicas.lock().expect("replicas");
                let next = replicas.get(&range).and_then(|r| r.next_index.get(&follower).copied()).unwrap_or(upto).clamp(1, upto.max(1));
                let prev_index = next - 1;
                let prev_epoch = log.epoch_at(prev_index).unwrap_or(0);
                let entries: Vec<LogEntry> = log.entries[prev_index as usize..(upto as usize).min(log.entries.len())].to_vec();
                let sent_upto = prev_index + entries.len() as u64;
                (NodeRequest::Append { range, epoch, prev_index, prev_epoch, entries, commit: log.commit.min(sent_upto) }, sent_upto)
            };
            let prev_index = match &req {
                NodeRequest::Append { prev_index, .. } => *prev_index,
                _ => 0,
            };
            match self.call(follower, req).await {
                Ok(NodeResponse::Appended { success: true, .. }) => {
                    self.set_next_index(range, follower, sent_upto + 1);
                    return sent_upto >= upto;
                }
                Ok(NodeResponse::Appended { success: false, last_index }) => {
                    trace_event!(self.trace, self.name, crate::event::APPEND_REJECTED, "r{range} -> n{follower} prev={prev_index} their_last={last_index}");
                    let next = prev_index.min(last_index + 1).max(1);
                    self.set_next_index(range, follower, next);
                }
                Err(NodeError::NoReplica { .. }) => {
                    // The follower has no replica of the range although the directory lists it:
                    // it was removed from the parent before it applied the split that made this
                    // range (so it never had it), or lost it. It catches up from a snapshot, as
                    // a Raft follower too far behind does.
                    trace_event!(self.trace, self.name, crate::event::APPEND_FAILED, "r{range} -> n{follower}: no replica there; sending a snapshot");
                    if let Some(index) = self.send_snapshot(range, epoch, follower).await {
                        self.set_next_index(range, follower, index + 1);
                    }
                    return false;
                }
                other => {
                    trace_event!(self.trace, self.name, crate::event::APPEND_FAILED, "r{range} -> n{follower} {other:?}");
                    return false;
                }
            }
        }
        false
    }

    fn set_next_index(&self, range: RangeId, follower: NodeId, next: u64) {
        if let Some(r) = self.replicas.lock().expect("replicas").get_mut(&range) {
            r.next_index.insert(follower, next);
        }
    }

    /// Records `index` as committed and applies everything up to it.
    fn commit_and_apply(&self, range: RangeId, index: u64) -> Result<Applied, NodeError> {
        {
            let mut disk = self.disk.lock().expect("disk lock");
            if let Some(log) = disk.logs.get_mut(&range) {
                log.commit = log.commit.max(index.min(log.synced as u64));
            }
        }
        self.apply_committed(range)
    }

    /// Applies committed but unapplied entries of `range`; returns what the last one produced.
    fn apply_committed(&self, range: RangeId) -> Result<Applied, NodeError> {
        let entries = {
            let disk = self.disk.lock().expect("disk lock");
            let Some(log) = disk.logs.get(&range) else { return Ok(Applied::default()) };
            let applied = self.replicas.lock().expect("replicas").get(&range).map(|r| r.applied).unwrap_or(0);
            log.entries[(applied as usize).min(log.commit as usize)..log.commit as usize].to_vec()
        };
        let mut last = Applied::default();
        for entry in entries {
            let result = {
                let mut replicas = self.replicas.lock().expect("replicas");
                let Some(r) = replicas.get_mut(&range) else { break };
                r.apply(&entry)
            };
            let mut applied = match result {
                Ok(a) => a,
                Err(e) => panic!("invariant violated on {}: {e}", self.name),
            };
            if let Some((epoch, holder)) = applied.lease_start {
                let mut replicas = self.replicas.lock().expect("replicas");
                if let Some(r) = replicas.get_mut(&range) {
                    if holder == self.id {
                        r.serving_epoch = Some(epoch);
                        // Never write at or below a read a previous leaseholder served.
                        r.low_water = self.directory.read_high_water(range).max(self.hlc.now());
                        r.next_index.clear();
                    } else {
                        r.serving_epoch = None;
                    }
                }
            }
            // The split-off half moves into the node's replicas (it holds half the range's data:
            // never copied).
            if let Some(mut right) = applied.new_replica.take() {
                // Whichever replica applies a split first records it: normally the leaseholder
                // that proposed it, but a new leaseholder may apply it while catching up.
                if let Command::Split { at, new_range } = &entry.cmd {
                    if self.directory.split(range, at, *new_range) {
                        trace_event!(self.trace, self.name, crate::event::SPLIT, "r{range} at {at} -> r{new_range}");
                    }
                }
                if self.keeps_split_off(range, &right) {
                    let mut disk = self.disk.lock().expect("disk lock");
                    // The new range's log starts in the epoch the split was proposed in, on every
                    // replica alike, which is also the epoch of the lease it inherits.
                    disk.logs.entry(right.range_id).or_insert_with(|| RangeLog {
                        initial_span: right.span.clone(),
                        max_epoch: entry.epoch,
                        ..Default::default()
                    });
                    drop(disk);
                    let leads = right.serving_epoch.is_some() && self.directory.get(range).map(|d| d.lease.holder) == Some(self.id);
                    if !leads {
                        right.serving_epoch = None;
                    }
                    self.replicas.lock().expect("replicas").insert(right.range_id, right);
                }
            }
            if applied.gc_removed > 0 || matches!(entry.cmd, Command::Gc { .. }) {
                if let Command::Gc { threshold } = &entry.cmd {
                    if self.serving_epoch(range).is_some() {
                        trace_event!(self.trace, self.name, crate::event::GC, "r{range} threshold={threshold} removed={}", applied.gc_removed);
                    }
                }
            }
            last = applied;
        }
        Ok(last)
    }

    /// Whether this node keeps the range split off `parent` as `right` when it applies the
    /// split: only while the directory lists it among that range's replicas. A replica that lags
    /// on the parent can be taken out of the new range before it applies the split (the
    /// replicate queue moves the new range's replica off it; its [`NodeServer::drop_replica`]
    /// then finds nothing to drop); keeping the half then would leave a replica nobody
    /// replicates to, which never applies the new range's own splits and claims their keys for
    /// good, so that a range split off it, which still lists this node, was told "its split is
    /// pending here" for ever instead of sending a snapshot, and lost its quorum with one other
    /// replica down (cluster seed 7420). CockroachDB's split trigger likewise throws away the
    /// right-hand data on a store the right-hand range was already removed from. A later
    /// addition brings the range back by snapshot; and since no log is made for it, a replay
    /// after a crash drops the half too.
    fn keeps_split_off(&self, parent: RangeId, right: &Replica) -> bool {
        let listed = self.directory.get(right.range_id).map(|d| d.replicas);
        if listed.as_ref().is_some_and(|r| r.contains(&self.id)) {
            return true;
        }
        trace_event!(
            self.trace,
            self.name,
            crate::event::SPLIT_DISCARDED,
            "r{} split off r{parent}: n{} was taken out of it before applying the split (replicas={:?})",
            right.range_id,
            self.id,
            listed.unwrap_or_default()
        );
        false
    }

    async fn on_append(
        &self,
        range: RangeId,
        epoch: u64,
        prev_index: u64,
        prev_epoch: u64,
        entries: Vec<LogEntry>,
        commit: u64,
    ) -> Result<NodeResponse, NodeError> {
        if !self.has_replica(range) {
            // A replica that will split into the range (its split entry not applied yet) holds
            // its keys: the range comes with that split. Without one, only a snapshot brings it.
            let start = self.directory.get(range).map(|d| d.span.start);
            let pending = start.is_some_and(|k| self.replicas.lock().expect("replicas").values().any(|r| r.span.contains_key(&k)));
            if pending {
                return Err(NodeError::RangeKeyMismatch { range, span: Span::default() });
            }
            return Err(NodeError::NoReplica { range, node: self.id });
        }
        let applied = self.with_replica(range, |r| r.applied).unwrap_or(0);
        let last_new = {
            let mut disk = self.disk.lock().expect("disk lock");
            let log = disk.logs.get_mut(&range).ok_or(NodeError::RangeKeyMismatch { range, span: Span::default() })?;
            if epoch < log.max_epoch {
                return Ok(NodeResponse::Appended { success: false, last_index: log.last_index() });
            }
            log.max_epoch = epoch;
            if log.epoch_at(prev_index) != Some(prev_epoch) {
                let last_index = log.last_index().min(prev_index.saturating_sub(1));
                return Ok(NodeResponse::Appended { success: false, last_index });
            }
            for e in entries.iter() {
                match log.epoch_at(e.index) {
                    Some(existing) if existing == e.epoch => {}
                    Some(_) => {
                        assert!(e.index > applied, "invariant violated: n{} r{range} would truncate applied entry {}", self.id, e.index);
                        log.truncate_after(e.index - 1);
                        log.entries.push(e.clone());
                    }
                    None => log.entries.push(e.clone()),
                }
            }
            prev_index + entries.len() as u64
        };
        self.sync_delay().await;
        self.mark_synced(range, last_new);
        {
            let mut disk = self.disk.lock().expect("disk lock");
            if let Some(log) = disk.logs.get_mut(&range) {
                log.commit = log.commit.max(commit.min(last_new).min(log.synced as u64));
            }
        }
        self.apply_committed(range)?;
        Ok(NodeResponse::Appended { success: true, last_index: last_new })
    }

    fn on_fetch_log(&self, range: RangeId, epoch: u64) -> Result<NodeResponse, NodeError> {
        let mut disk = self.disk.lock().expect("disk lock");
        // A replica the directory lists that has nothing of the range yet (a split it has not
        // applied, or a range it was listed for but never given) is Raft's uninitialized
        // replica: a member with an empty log. It never acknowledged an entry of the range, so
        // every committed entry is on the others, and a new leaseholder may count it: without
        // it, a range whose third replica cannot send stayed without a leaseholder for good
        // (chain seed 2101 of `--faults everything`, with the lasting minority).
        if !disk.logs.contains_key(&range) && !self.has_replica(range) {
            return Ok(NodeResponse::Log { entries: Vec::new(), max_epoch: epoch });
        }
        let log = disk.logs.get_mut(&range).ok_or(NodeError::RangeKeyMismatch { range, span: Span::default() })?;
        if epoch < log.max_epoch {
            return Err(NodeError::NotLeaseholder { range, leaseholder: None });
        }
        log.max_epoch = epoch;
        Ok(NodeResponse::Log { entries: log.entries[..log.synced].to_vec(), max_epoch: log.max_epoch })
    }

    /// Becomes a replica of `range` from the leaseholder's snapshot: its state as of
    /// `replica.applied` and the log up to there, synced before the answer (the leaseholder adds
    /// this node to the range's replicas only then). Whatever this node held of the range
    /// before (a replica removed while it was down) is replaced. An older leaseholder's snapshot
    /// is refused.
    async fn on_install_snapshot(&self, range: RangeId, epoch: u64, mut replica: Replica, entries: Vec<LogEntry>) -> Result<NodeResponse, NodeError> {
        let index = replica.applied;
        {
            let mut disk = self.disk.lock().expect("disk lock");
            if disk.logs.get(&range).is_some_and(|l| epoch < l.max_epoch) {
                return Ok(NodeResponse::Appended { success: false, last_index: 0 });
            }
            replica.serving_epoch = None;
            replica.next_index.clear();
            self.pin_replicas(&mut disk);
            let synced = entries.len();
            let log = RangeLog {
                initial_span: replica.span.clone(),
                synced,
                commit: index.min(synced as u64),
                max_epoch: epoch,
                entries,
                snapshot: Some(replica.clone()),
            };
            disk.logs.insert(range, log);
            self.replicas.lock().expect("replicas").insert(range, replica);
        }
        // Answered once synced (a crash before leaves a replica the directory never names).
        self.sync_delay().await;
        trace_event!(self.trace, self.name, crate::event::SNAPSHOT_INSTALLED, "r{range} at index {index}");
        Ok(NodeResponse::Appended { success: true, last_index: index })
    }

    /// Before a range's log is dropped or replaced: records every other replica's applied state
    /// as its snapshot, so that a replay never needs that log. A range split off another starts
    /// from the data its parent's split entry carried, which a replay finds only in the parent's
    /// log: dropped, the replay rebuilt the child empty (cluster seed 115 lost the descriptors'
    /// range that way, "database bank does not exist").
    fn pin_replicas(&self, disk: &mut crate::disk::NodeDisk) {
        let replicas = self.replicas.lock().expect("replicas");
        for (id, log) in disk.logs.iter_mut() {
            if let Some(r) = replicas.get(id) {
                let mut r = r.clone();
                r.serving_epoch = None;
                r.next_index.clear();
                log.snapshot = Some(r);
            }
        }
    }

    /// Adds `to` as a replica of `range`, which this node serves: under the range's lock (no
    /// proposal in between), sends it a snapshot, and once it has synced it records `to` among
    /// the range's replicas, replicating to it from the snapshot's index on.
    pub async fn add_replica(self: Arc<Self>, range: RangeId, to: NodeId) -> bool {
        let lock = self.lock_for(range);
        let _guard = lock.lock().await;
        let Some(epoch) = self.serving_epoch(range) else { return false };
        let Some(desc) = self.directory.get(range) else { return false };
        // A leaseholder the directory has moved on from (it has not applied its successor's
        // LeaseStart yet) must not hand out its state.
        if (desc.lease.holder, desc.lease.epoch) != (self.id, epoch) || desc.replicas.contains(&to) || desc.replicas.len() > self.cfg.replication {
            return false;
        }
        let Some(index) = self.send_snapshot(range, epoch, to).await else { return false };
        let still = self.directory.get(range).is_some_and(|d| (d.lease.holder, d.lease.epoch) == (self.id, epoch));
        if self.serving_epoch(range) != Some(epoch) || !still || !self.directory.add_replica(range, to) {
            return false;
        }
        self.set_next_index(range, to, index + 1);
        trace_event!(self.trace, self.name, crate::event::REPLICA_ADDED, "r{range} n{to} from index {index}");
        true
    }

    /// Sends `to` this node's state of `range` as of its applied index, with the log up to
    /// there; the index once `to` has installed it.
    async fn send_snapshot(&self, range: RangeId, epoch: u64, to: NodeId) -> Option<u64> {
        let (replica, entries) = {
            let disk = self.disk.lock().expect("disk lock");
            let log = disk.logs.get(&range)?;
            let replica = self.replica(range)?;
            let applied = (replica.applied as usize).min(log.entries.len());
            (replica, log.entries[..applied].to_vec())
        };
        let index = replica.applied;
        match self.call(to, NodeRequest::InstallSnapshot { range, epoch, replica: Box::new(replica), entries }).await {
            Ok(NodeResponse::Appended { success: true, .. }) => Some(index),
            _ => None,
        }
    }

    /// Drops this node's replica of `range` (its log too) if the directory no longer lists this
    /// node among its replicas: a removed replica stops serving and forgets the range.
    pub async fn drop_replica(self: Arc<Self>, range: RangeId) -> bool {
        let lock = self.lock_for(range);
        let _guard = lock.lock().await;
        if self.directory.get(range).is_some_and(|d| d.replicas.contains(&self.id)) {
            return false;
        }
        {
            let mut disk = self.disk.lock().expect("disk lock");
            self.pin_replicas(&mut disk);
            disk.logs.remove(&range);
        }
        let dropped = self.replicas.lock().expect("replicas").remove(&range).is_some();
        if dropped {
            trace_event!(self.trace, self.name, crate::event::REPLICA_DROPPED, "r{range}");
        }
        dropped
    }

    /// Takes up the lease of `range` under `epoch` (already recorded in the directory): gathers a
    /// quorum's logs, adopts the most up-to-date, and commits a `LeaseStart`. Gives up when the
    /// directory moves the lease elsewhere.
    pub async fn acquire_lease(self: Arc<Self>, range: RangeId, epoch: u64) {
        let mut backoff = Duration::from_millis(50);
        loop {
            let current = self.directory.get(range).map(|d| d.lease);
            if current.map(|l| (l.holder, l.epoch)) != Some((self.id, epoch)) || !self.has_replica(range) {
                return;
            }
            let lock = self.lock_for(range);
            let guard = lock.lock().await;
            match self.try_acquire(range, epoch).await {
                Ok(()) => {
                    trace_event!(self.trace, self.name, crate::event::LEASE_ACQUIRED, "r{range} epoch={epoch}");
                    return;
                }
                Err(reason) => trace_event!(self.trace, self.name, crate::event::LEASE_ACQUIRE_RETRY, "r{range} epoch={epoch} {reason}"),
            }
            drop(guard);
            madsim::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    async fn try_acquire(&self, range: RangeId, epoch: u64) -> Result<(), String> {
        let desc = self.directory.get(range).ok_or("range gone")?;
        {
            let mut disk = self.disk.lock().expect("disk lock");
            let log = disk.logs.get_mut(&range).ok_or("no log")?;
            log.max_epoch = log.max_epoch.max(epoch);
        }
        let others: Vec<NodeId> = desc.replicas.iter().copied().filter(|n| *n != self.id).collect();
        let answers = futures::future::join_all(others.iter().map(|n| self.call(*n, NodeRequest::FetchLog { range, epoch }))).await;
        let logs: Vec<Vec<LogEntry>> = answers
            .into_iter()
            .filter_map(|a| match a {
                Ok(NodeResponse::Log { entries, .. }) => Some(entries),
                _ => None,
            })
            .collect();
        if logs.len() + 1 < desc.quorum() {
            return Err(format!("heard from {} of {} replicas", logs.len() + 1, desc.replicas.len()));
        }
        let position = |entries: &[LogEntry]| (entries.last().map(|e| e.epoch).unwrap_or(0), entries.len() as u64);
        let mine = {
            let disk = self.disk.lock().expect("disk lock");
            disk.logs.get(&range).map(|l| l.entries[..l.synced].to_vec()).unwrap_or_default()
        };
        let best = logs.into_iter().filter(|l| position(l) > position(&mine)).max_by_key(|l| position(l));
        if let Some(best) = best {
            let applied = self.with_replica(range, |r| r.applied).unwrap_or(0);
            {
                let mut disk = self.disk.lock().expect("disk lock");
                let log = disk.logs.get_mut(&range).ok_or("no log")?;
                let common = log.entries.iter().zip(best.iter()).take_while(|(a, b)| a.epoch == b.epoch && a.index == b.index).count() as u64;
                assert!(common >= applied, "invariant violated: n{} r{range} adopting a log that drops applied entries", self.id);
                log.truncate_after(common);
                log.entries.extend(best[common as usize..].iter().cloned());
            }
            self.sync_delay().await;
            self.mark_synced(range, best.len() as u64);
        }
        self.propose(range, epoch, Command::LeaseStart { epoch, holder: self.id }).await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Splits `range` at `at` if this node serves it and `at` is strictly inside it.
    pub async fn split_range(self: Arc<Self>, range: RangeId, at: Key) -> bool {
        let lock = self.lock_for(range);
        let _guard = lock.lock().await;
        let Some(epoch) = self.serving_epoch(range) else { return false };
        let Some(span) = self.with_replica(range, |r| r.span.clone()) else { return false };
        if !span.contains_key(&at) || span.start == at {
            return false;
        }
        let new_range = self.directory.alloc_range_id();
        self.propose(range, epoch, Command::Split { at, new_range }).await.is_ok()
    }

    /// Garbage-collects `range` up to `threshold`, held below every protected timestamp record
    /// covering the range when the cluster runs backup schedules; records that cannot be read
    /// hold the whole request back (collect nothing rather than what they protect). Both the GC
    /// queue and an injected "GC now" fault come through here: a fault that skipped the records
    /// collected history a schedule's chain had protected, which no CockroachDB GC does
    /// (schedule scenario seed 5).
    pub async fn gc_protected(self: Arc<Self>, range: RangeId, threshold: Timestamp) -> bool {
        let mut threshold = threshold;
        if self.cfg.scheduler.is_some() {
            let Some(span) = self.with_replica(range, |r| r.span.clone()) else { return false };
            let Ok(records) = model::protected_ts::read_all(&self.kv, model::Kv::now(&self.kv)).await else { return false };
            threshold = model::protected_ts::clamp(threshold, &span, &records);
        }
        self.gc_range(range, threshold).await
    }

    /// Runs one GC pass over `range` up to `threshold` if this node serves it.
    pub async fn gc_range(self: Arc<Self>, range: RangeId, threshold: Timestamp) -> bool {
        let lock = self.lock_for(range);
        let _guard = lock.lock().await;
        let Some(epoch) = self.serving_epoch(range) else { return false };
        let Some(current) = self.with_replica(range, |r| r.engine.gc_threshold(&r.span)) else { return false };
        if threshold <= current {
            return false;
        }
        self.propose(range, epoch, Command::Gc { threshold }).await.is_ok()
    }

    async fn call(&self, to: NodeId, req: NodeRequest) -> Result<NodeResponse, NodeError> {
        let (kind, range) = (req.kind(), req.range());
        let env = Envelope { sent_at: self.hlc.now(), from: self.name.clone(), req };
        match self.ep.call_timeout(node_addr(self.cfg.network, to), env, self.cfg.rpc_timeout).await {
            Ok(reply) => {
                self.hlc.update(reply.sent_at);
                reply.result
            }
            Err(e) => {
                trace_event!(self.trace, self.name, crate::event::CALL_FAILED, "{kind} r{range} -> n{to}: {e}");
                Err(NodeError::Invalid(format!("n{to} unreachable: {e}")))
            }
        }
    }

    fn led_ranges(&self) -> Vec<(RangeId, u64)> {
        self.replica_ids().into_iter().filter_map(|r| self.serving_epoch(r).map(|e| (r, e))).collect()
    }

    async fn heartbeat_loop(self: Arc<Self>) {
        loop {
            madsim::time::sleep(Duration::from_millis(500)).await;
            for (range, epoch) in self.led_ranges() {
                let lock = self.lock_for(range);
                // A range busy with a proposal is replicating anyway; never wait for it, or a
                // proposal waiting on followers that need this heartbeat (to learn of the split
                // that created its range) would wait forever.
                let Some(_guard) = lock.try_lock() else { continue };
                if self.serving_epoch(range) != Some(epoch) {
                    continue;
                }
                let last = self.disk.lock().expect("disk lock").logs.get(&range).map(|l| l.last_index()).unwrap_or(0);
                if last > 0 {
                    self.replicate(range, epoch, last).await;
                }
            }
        }
    }

    async fn gc_loop(self: Arc<Self>) {
        loop {
            let jitter = self.rng.lock().expect("rng").gen_range(0..=self.cfg.gc_interval.as_millis() as u64 / 4);
            madsim::time::sleep(self.cfg.gc_interval + Duration::from_millis(jitter)).await;
            let Some(source) = self.ttl_source.clone() else { continue };
            for (range, _) in self.led_ranges() {
                let Some(span) = self.with_replica(range, |r| r.span.clone()) else { continue };
                let Some(ttl) = source(self.kv.clone(), span.clone()).await else { continue };
                let threshold = self.hlc.now().sub(ttl);
                self.clone().gc_protected(range, threshold).await;
            }
        }
    }

    async fn split_loop(self: Arc<Self>) {
        loop {
            madsim::time::sleep(self.cfg.split_interval).await;
            for (range, _) in self.led_ranges() {
                if let Some(Some(at)) = self.with_replica(range, |r| split_point(r, self.cfg.range_max_bytes)) {
                    self.clone().split_range(range, at).await;
                }
            }
        }
    }
}

/// Where the split queue would split a replica: at the first table boundary inside it, else at
/// its middle key when it is larger than `max_bytes`.
pub fn split_point(r: &Replica, max_bytes: usize) -> Option<Key> {
    let first = r.engine.keys().next()?;
    let first_table = encoding::table_of(first)?;
    let boundary = encoding::table_span(first_table).end;
    if r.span.contains_key(&boundary) && r.span.start != boundary && r.engine.keys().any(|k| *k >= boundary) {
        return Some(boundary);
    }
    if r.span.start < encoding::table_span(first_table).start && r.span.contains_key(&encoding::table_span(first_table).start) {
        return Some(encoding::table_span(first_table).start);
    }
    if r.engine.approx_bytes() <= max_bytes {
        return None;
    }
    let mid = r.engine.keys().nth(r.engine.key_count() / 2)?.clone();
    (mid != r.span.start).then_some(mid)
}

/// The GC queue's view of zone configs, as CockroachDB's GC queue has it: the smallest TTL of any
/// table (dropped ones included) the span overlaps, else the default zone's, read from the
/// catalog as of now through the cluster itself.
pub fn zone_config_ttls() -> TtlSource {
    Arc::new(|kv: SimKv, span: Span| {
        Box::pin(async move {
            let catalog = model::catalog::Catalog::read(&kv, model::Kv::now(&kv)).await.ok()?;
            let overlapping = catalog.all_tables().into_iter().filter(|t| encoding::table_span(t.id).overlaps(&span)).map(|t| catalog.gc_ttl(t.id)).min();
            Some(overlapping.unwrap_or_else(|| catalog.gc_ttl(0)))
        })
    })
}
