//! The simulated cluster's implementation of the KV API: what `backup` and the SQL layer talk to.
//!
//! A [`SimKv`] lives on one node (a database node, or a client machine) and sends every request
//! over madsim's network to the leaseholder it believes in, from a range cache that can be
//! stale. It retries what a real DistSender retries (not-leaseholder, range moved, timeouts,
//! unreachable nodes) until a deadline, pushes transactions whose intents block a read, and
//! runs transactions as two-phase commits: intents everywhere, then a transaction record on the
//! anchor key's range decides, then intents are resolved. A coordinator that dies leaves a
//! pending transaction that readers abort once it is old enough, so no crash blocks anyone
//! forever.

use crate::addr::node_addr;
use crate::clock::Hlc;
use crate::command::TxnStatus;
use crate::config::WorldConfig;
use crate::directory::{Directory, RangeDesc};
use crate::messages::{Envelope, NodeError, NodeRequest, NodeResponse};
use crate::trace::Trace;
use crate::trace_event;
use async_trait::async_trait;
use madsim::net::Endpoint;
use madsim::time::Instant;
use model::{ClusterKv, Entry, ExportRequest, ExportResponse, Key, Kv, KvError, NodeId, RangeInfo, Span, Timestamp, TxnId, Value, WriteOp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every statement text the run's clients sent, in the order sent, as written (secrets
/// included: it is kept in memory for the checks that compare what the cluster says about a
/// statement — a job's description in SHOW JOBS — with what was actually issued, and never
/// printed or traced). Shared by a world's client machines; a node's own client keeps none.
#[derive(Clone, Default)]
pub struct StatementLog(Arc<Mutex<Vec<String>>>);

impl StatementLog {
    fn record(&self, sql: &str) {
        self.0.lock().expect("statement log").push(sql.to_string());
    }

    /// Every statement sent so far, oldest first.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("statement log").clone()
    }
}

/// A KV client bound to one simulated machine.
#[derive(Clone)]
pub struct SimKv {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    node: NodeId,
    ep: Endpoint,
    hlc: Hlc,
    directory: Directory,
    trace: Trace,
    cfg: WorldConfig,
    cache: Mutex<BTreeMap<Key, RangeDesc>>,
    rng: Mutex<ChaCha8Rng>,
    /// The statement dress's draws ([`crate::dress`]): a stream of their own, so dressing a
    /// statement shifts no other choice of the client.
    dress: Mutex<ChaCha8Rng>,
    txn_seq: Mutex<u64>,
    machine: u8,
    statements: StatementLog,
    incarnation: u64,
}

/// Why a routed request finally failed.
enum SendError {
    /// The node answered with a refusal the caller must handle.
    Node(NodeId, NodeError),
    /// No answer before the deadline.
    Deadline(String),
}

impl SendError {
    fn into_kv(self) -> KvError {
        match self {
            SendError::Node(n, e) => e.into_kv(n),
            SendError::Deadline(reason) => KvError::Unavailable { node: 0, reason },
        }
    }
}

impl SimKv {
    /// A client on an existing endpoint. `node` is 0 for machines outside the cluster.
    /// `machine` (unique per simulated machine) and `incarnation` (unique per client on that
    /// machine, across restarts) make the client's transaction ids unique in the world.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        node: NodeId,
        machine: u8,
        ep: Endpoint,
        hlc: Hlc,
        directory: Directory,
        trace: Trace,
        cfg: WorldConfig,
        seed: u64,
        incarnation: u64,
        statements: StatementLog,
    ) -> Self {
        SimKv {
            inner: Arc::new(Inner {
                name,
                node,
                ep,
                hlc,
                directory,
                trace,
                cfg,
                cache: Mutex::new(BTreeMap::new()),
                rng: Mutex::new(crate::seed_tree::SeedTree::new(seed).indexed("incarnation", incarnation)),
                dress: Mutex::new(crate::seed_tree::SeedTree::new(seed).indexed("dress", incarnation)),
                txn_seq: Mutex::new(0),
                machine,
                statements,
                incarnation,
            }),
        }
    }

    /// Runs a BACKUP / RESTORE / SHOW BACKUP / job statement on `gateway`, waiting up to
    /// `timeout`. `Err` carries the statement's error, or says the gateway could not be reached
    /// or did not answer in time (the job may still be running elsewhere).
    pub async fn bulk(
        &self,
        gateway: NodeId,
        sql: &str,
        user: &str,
        database: &str,
        timeout: Duration,
    ) -> Result<(Vec<String>, Vec<Vec<model::Datum>>), String> {
        self.bulk_in_session(gateway, sql, user, database, false, timeout).await
    }

    /// [`SimKv::bulk`] for a session that may be inside an open transaction (BEGIN without
    /// COMMIT): the gateway refuses a BACKUP there, as CockroachDB does.
    pub async fn bulk_in_session(
        &self,
        gateway: NodeId,
        sql: &str,
        user: &str,
        database: &str,
        in_transaction: bool,
        timeout: Duration,
    ) -> Result<(Vec<String>, Vec<Vec<model::Datum>>), String> {
        let sql = crate::dress::dress(&mut self.inner.dress.lock().expect("dress"), sql);
        self.inner.statements.record(&sql);
        let req = NodeRequest::Bulk { sql, user: user.to_string(), database: database.to_string(), in_transaction };
        let env = Envelope { sent_at: self.inner.hlc.now(), from: self.inner.name.clone(), req };
        match self.inner.ep.call_timeout(node_addr(self.inner.cfg.network, gateway), env, timeout).await {
            Ok(reply) => {
                self.inner.hlc.update(reply.sent_at);
                match reply.result {
                    Ok(NodeResponse::Bulk(r)) => r,
                    Ok(other) => Err(format!("unexpected reply {other:?}")),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(format!("gateway n{gateway} unreachable: {e}")),
        }
    }

    /// The name used in the trace.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// This client's clock.
    pub fn hlc(&self) -> &Hlc {
        &self.inner.hlc
    }

    fn cached(&self, key: &Key) -> Option<RangeDesc> {
        {
            let cache = self.inner.cache.lock().expect("cache");
            if let Some((_, d)) = cache.range(..=key.clone()).next_back() {
                if d.span.contains_key(key) {
                    return Some(d.clone());
                }
            }
        }
        let d = self.inner.directory.lookup(key)?;
        let mut cache = self.inner.cache.lock().expect("cache");
        cache.retain(|_, c| !c.span.overlaps(&d.span));
        cache.insert(d.span.start.clone(), d.clone());
        Some(d)
    }

    fn evict(&self, desc: &RangeDesc) {
        self.inner.cache.lock().expect("cache").remove(&desc.span.start);
    }

    fn redirect(&self, desc: &RangeDesc, holder: NodeId) {
        let mut cache = self.inner.cache.lock().expect("cache");
        if let Some(d) = cache.get_mut(&desc.span.start) {
            d.lease.holder = holder;
        }
    }

    async fn backoff(&self, attempt: u32) {
        let base = 10u64 << attempt.min(6);
        let jitter = self.inner.rng.lock().expect("rng").gen_range(0..=base);
        madsim::time::sleep(Duration::from_millis(base + jitter)).await;
    }

    /// One request to one node, traced; transport failures become `Unavailable`-style errors.
    async fn call(&self, to: NodeId, req: NodeRequest) -> Result<NodeResponse, NodeError> {
        let kind = req.kind();
        let range = req.range();
        trace_event!(self.inner.trace, self.inner.name, crate::event::SEND, "{kind} r{range} -> n{to}");
        let env = Envelope { sent_at: self.inner.hlc.now(), from: self.inner.name.clone(), req };
        let result = match self.inner.ep.call_timeout(node_addr(self.inner.cfg.network, to), env, self.inner.cfg.rpc_timeout).await {
            Ok(reply) => {
                self.inner.hlc.update(reply.sent_at);
                reply.result
            }
            Err(e) => Err(NodeError::Invalid(format!("unreachable: {e}"))),
        };
        match &result {
            Ok(_) => trace_event!(self.inner.trace, self.inner.name, crate::event::RECV, "{kind} r{range} <- n{to} ok"),
            Err(e) => trace_event!(self.inner.trace, self.inner.name, crate::event::RECV, "{kind} r{range} <- n{to} err: {e}"),
        }
        result
    }

    /// Routes a request for the range containing `key` to its leaseholder, retrying routing
    /// failures until the deadline. Other refusals are returned.
    async fn send(&self, key: &Key, build: impl Fn(&RangeDesc) -> NodeRequest) -> Result<(RangeDesc, NodeResponse), SendError> {
        self.send_inner(key, true, build).await
    }

    /// As [`SimKv::send`]; with `retry_mismatch` false a `RangeKeyMismatch` (the range split, so
    /// the request's keys no longer fit one range) is returned for the caller to regroup.
    async fn send_inner(&self, key: &Key, retry_mismatch: bool, build: impl Fn(&RangeDesc) -> NodeRequest) -> Result<(RangeDesc, NodeResponse), SendError> {
        let deadline = Instant::now() + self.inner.cfg.request_deadline;
        let mut attempt = 0;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            let Some(desc) = self.cached(key) else { return Err(SendError::Deadline(format!("no range holds {key}"))) };
            match self.call(desc.lease.holder, build(&desc)).await {
                Ok(resp) => return Ok((desc, resp)),
                Err(NodeError::NotLeaseholder { leaseholder: Some(h), .. }) if h != desc.lease.holder => {
                    self.redirect(&desc, h);
                    last = format!("n{} is not leaseholder", desc.lease.holder);
                    attempt += 1;
                    continue;
                }
                Err(e @ NodeError::RangeKeyMismatch { .. }) if !retry_mismatch => {
                    self.evict(&desc);
                    return Err(SendError::Node(desc.lease.holder, e));
                }
                Err(e @ (NodeError::NotLeaseholder { .. } | NodeError::RangeKeyMismatch { .. } | NodeError::NoQuorum { .. })) => {
                    last = e.to_string();
                    self.evict(&desc);
                }
                Err(NodeError::Invalid(reason)) if reason.starts_with("unreachable") => {
                    last = format!("n{}: {reason}", desc.lease.holder);
                    self.evict(&desc);
                }
                Err(e) => return Err(SendError::Node(desc.lease.holder, e)),
            }
            self.backoff(attempt).await;
            attempt += 1;
        }
        Err(SendError::Deadline(last))
    }

    /// Learns the fate of the transaction owning a blocking intent, aborting it if abandoned,
    /// and resolves its intents in the range `at` lies in. Returns once the caller may retry.
    async fn push(&self, at: &Key, txn: TxnId, txn_ts: Timestamp, anchor: Key) -> Result<(), KvError> {
        let (_, resp) =
            self.send(&anchor, |d| NodeRequest::PushTxn { range: d.range_id, txn, anchor: anchor.clone(), txn_ts }).await.map_err(SendError::into_kv)?;
        match resp {
            NodeResponse::TxnStatus(Some(status)) => {
                let commit = status == TxnStatus::Committed;
                self.send(at, |d| NodeRequest::ResolveIntents { range: d.range_id, txn, commit }).await.map_err(SendError::into_kv)?;
                Ok(())
            }
            _ => {
                self.backoff(1).await;
                Ok(())
            }
        }
    }

    /// Sends a read-like request for the range containing `at`, pushing blocking intents.
    async fn read(&self, at: &Key, build: impl Fn(&RangeDesc) -> NodeRequest) -> Result<(RangeDesc, NodeResponse), KvError> {
        loop {
            match self.send(at, &build).await {
                Ok(r) => return Ok(r),
                Err(SendError::Node(_, NodeError::Intent { txn, ts, anchor })) => self.push(at, txn, ts, anchor).await?,
                Err(e) => return Err(e.into_kv()),
            }
        }
    }

    fn new_txn_id(&self) -> TxnId {
        let mut seq = self.inner.txn_seq.lock().expect("txn seq");
        *seq += 1;
        ((self.inner.machine as u64) << 56) | ((self.inner.incarnation & 0xffff) << 40) | (*seq & 0xff_ffff_ffff)
    }

    /// Resolves `txn`'s intents in every range touched, retrying until each is done.
    async fn resolve_all(&self, keys: &[Key], txn: TxnId, commit: bool) {
        for key in keys {
            let _ = self.send(key, |d| NodeRequest::ResolveIntents { range: d.range_id, txn, commit }).await;
        }
    }

    /// Groups writes by the range (as cached) holding each key; returns the first key of each
    /// group with the group's writes.
    fn group_by_range(&self, writes: &[WriteOp]) -> Result<Vec<(Key, Vec<WriteOp>)>, KvError> {
        let mut groups: BTreeMap<Key, (Key, Vec<WriteOp>)> = BTreeMap::new();
        for w in writes {
            let desc = self.cached(w.key()).ok_or_else(|| KvError::Invalid(format!("no range holds {}", w.key())))?;
            groups.entry(desc.span.start.clone()).or_insert_with(|| (w.key().clone(), Vec::new())).1.push(w.clone());
        }
        Ok(groups.into_values().collect())
    }

    /// One attempt at a two-phase commit. `Err((e, true))` means only the timestamp was too
    /// low: the attempt left nothing behind and may be repeated at a later timestamp.
    async fn try_commit(&self, writes: &[WriteOp], read_ts: Option<Timestamp>) -> Result<Timestamp, (KvError, bool)> {
        let txn = self.new_txn_id();
        let ts = self.inner.hlc.now();
        let anchor = writes[0].key().clone();
        let mut touched: Vec<Key> = Vec::new();
        let mut pending: Vec<(Key, Vec<WriteOp>)> = self.group_by_range(writes).map_err(|e| (e, false))?;
        let mut failure: Option<KvError> = None;
        let mut pushed = false;
        while let Some((first, group)) = pending.pop() {
            touched.push(first.clone());
            let result = self
                .send_inner(&first, false, |d| NodeRequest::PutIntents { range: d.range_id, txn, anchor: anchor.clone(), ts, read_ts, writes: group.clone() })
                .await;
            match result {
                Ok(_) => {}
                // The range split under us: regroup this group's writes.
                Err(SendError::Node(_, NodeError::RangeKeyMismatch { .. })) => match self.group_by_range(&group) {
                    Ok(g) => pending.extend(g),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                },
                Err(SendError::Node(_, NodeError::Pushed { to })) => {
                    self.inner.hlc.update(to);
                    pushed = true;
                    failure = Some(KvError::TxnAborted(format!("timestamp {ts} pushed to {to}")));
                    break;
                }
                Err(e) => {
                    failure = Some(e.into_kv());
                    break;
                }
            }
        }
        if failure.is_none() {
            loop {
                match self.send(&anchor, |d| NodeRequest::EndTxn { range: d.range_id, txn, anchor: anchor.clone(), commit: true }).await {
                    Ok((_, NodeResponse::TxnStatus(Some(TxnStatus::Committed)))) => {
                        trace_event!(self.inner.trace, self.inner.name, crate::event::TXN_COMMIT, "txn={txn:x} ts={ts} writes={}", writes.len());
                        self.resolve_all(&touched, txn, true).await;
                        return Ok(ts);
                    }
                    Ok(_) => {
                        failure = Some(KvError::TxnAborted(format!("transaction {txn:x} was aborted by a conflicting reader")));
                        break;
                    }
                    // The decision must be learnt: keep asking (the record is idempotent).
                    Err(SendError::Deadline(_)) => continue,
                    Err(SendError::Node(_, NodeError::RangeKeyMismatch { .. })) => continue,
                    Err(e) => {
                        failure = Some(e.into_kv());
                        break;
                    }
                }
            }
        }
        let failure = failure.expect("set on every path that gets here");
        trace_event!(self.inner.trace, self.inner.name, crate::event::TXN_ABORT, "txn={txn:x} ts={ts}: {failure}");
        // Record the abort so that late intents are refused, then clean up best-effort:
        // readers abort and clean anything left behind.
        let _ = self.send(&anchor, |d| NodeRequest::EndTxn { range: d.range_id, txn, anchor: anchor.clone(), commit: false }).await;
        self.resolve_all(&touched, txn, false).await;
        Err((failure, pushed))
    }
}

#[async_trait]
impl Kv for SimKv {
    fn now(&self) -> Timestamp {
        self.inner.hlc.now()
    }

    async fn scan(&self, span: &Span, ts: Timestamp) -> Result<Vec<(Key, Value)>, KvError> {
        let mut out = Vec::new();
        let mut cursor = span.start.clone();
        while cursor < span.end {
            let end = span.end.clone();
            let c = cursor.clone();
            let (desc, resp) = self
                .read(&cursor, move |d| NodeRequest::Scan { range: d.range_id, span: Span::new(c.clone(), end.clone().min(d.span.end.clone())), ts })
                .await?;
            match resp {
                NodeResponse::Rows(rows) => out.extend(rows),
                other => return Err(KvError::Invalid(format!("unexpected scan response {other:?}"))),
            }
            cursor = desc.span.end.clone();
        }
        Ok(out)
    }

    async fn get(&self, key: &Key, ts: Timestamp) -> Result<Option<Value>, KvError> {
        let rows = self.scan(&Span::new(key.clone(), key.next()), ts).await?;
        Ok(rows.into_iter().next().map(|(_, v)| v))
    }

    async fn commit(&self, writes: Vec<WriteOp>, read_ts: Option<Timestamp>) -> Result<Timestamp, KvError> {
        if writes.is_empty() {
            return Ok(self.inner.hlc.now());
        }
        // A transaction refused only because its timestamp was too low is retried above it, as
        // CockroachDB retries server-side: first-committer-wins still compares with `read_ts`.
        let mut attempts = 0;
        loop {
            match self.try_commit(&writes, read_ts).await {
                Ok(ts) => return Ok(ts),
                Err((_, true)) if attempts < 8 => attempts += 1,
                Err((e, _)) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl ClusterKv for SimKv {
    fn node_id(&self) -> NodeId {
        self.inner.node
    }

    fn nodes(&self) -> Vec<NodeId> {
        (1..=self.inner.cfg.nodes as NodeId).collect()
    }

    async fn ranges(&self, span: &Span) -> Result<Vec<RangeInfo>, KvError> {
        let mut out = Vec::new();
        let mut cursor = span.start.clone();
        while cursor < span.end {
            let d = self.cached(&cursor).ok_or_else(|| KvError::Invalid(format!("no range holds {cursor}")))?;
            cursor = d.span.end.clone();
            out.push(d.info());
        }
        Ok(out)
    }

    async fn export(&self, node: NodeId, req: ExportRequest) -> Result<ExportResponse, KvError> {
        let Some(desc) = self.cached(&req.span.start) else { return Err(KvError::Invalid(format!("no range holds {}", req.span.start))) };
        loop {
            match self.call(node, NodeRequest::Export { range: desc.range_id, req: req.clone() }).await {
                Ok(NodeResponse::Export(resp)) => return Ok(resp),
                Ok(other) => return Err(KvError::Invalid(format!("unexpected export response {other:?}"))),
                Err(NodeError::Intent { txn, ts, anchor }) => self.push(&req.span.start, txn, ts, anchor).await?,
                Err(NodeError::Invalid(reason)) if reason.starts_with("unreachable") => {
                    self.evict(&desc);
                    return Err(KvError::Unavailable { node, reason });
                }
                Err(e) => {
                    self.evict(&desc);
                    return Err(e.into_kv(node));
                }
            }
        }
    }

    async fn ingest(&self, entries: Vec<Entry>) -> Result<(), KvError> {
        let mut pending: Vec<Entry> = entries;
        while !pending.is_empty() {
            let first = pending[0].key.clone();
            let desc = self.cached(&first).ok_or_else(|| KvError::Invalid(format!("no range holds {first}")))?;
            let (batch, rest): (Vec<Entry>, Vec<Entry>) = pending.into_iter().partition(|e| desc.span.contains_key(&e.key));
            pending = rest;
            match self
                .send(&first, |d| NodeRequest::Ingest { range: d.range_id, entries: batch.iter().filter(|e| d.span.contains_key(&e.key)).cloned().collect() })
                .await
            {
                Ok((d, _)) => {
                    // Anything the range no longer held (it split) goes round again.
                    pending.extend(batch.into_iter().filter(|e| !d.span.contains_key(&e.key)));
                }
                Err(e) => return Err(e.into_kv()),
            }
        }
        Ok(())
    }

    async fn gc_threshold(&self, span: &Span) -> Result<Timestamp, KvError> {
        let mut max = Timestamp::ZERO;
        let mut cursor = span.start.clone();
        while cursor < span.end {
            let end = span.end.clone();
            let c = cursor.clone();
            let (d, resp) = self
                .read(&cursor, move |d| NodeRequest::GcThreshold { range: d.range_id, span: Span::new(c.clone(), end.clone().min(d.span.end.clone())) })
                .await?;
            if let NodeResponse::Timestamp(t) = resp {
                max = max.max(t);
            }
            cursor = d.span.end.clone();
        }
        Ok(max)
    }
}
