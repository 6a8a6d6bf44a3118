//! The in-process implementation of [`Kv`] and [`ClusterKv`]: one [`MvccStore`] behind a mutex,
//! a hybrid-logical clock over a pluggable [`Clock`], one node (n1) holding the lease of one
//! range that covers the whole key space.
//!
//! Used by unit tests and the interactive shell. [`SystemClock`] is the only place in `model`
//! that reads the wall clock; tests use [`ManualClock`] and are deterministic. Nothing here
//! spawns threads or tasks: every future completes on first poll.

use crate::catalog::{self, Catalog, CatalogError};
use crate::encoding;
use crate::key::{Key, Span};
use crate::kv::{ClusterKv, ExportRequest, ExportResponse, Kv, KvError, NodeId, RangeId, RangeInfo, WriteOp};
use crate::mvcc::{Entry, GcStats, MvccError, MvccStore, Value};
use crate::timestamp::Timestamp;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A physical clock: nanoseconds since the Unix epoch. Abstract so that tests and the simulator
/// control time.
pub trait Clock: Send + Sync {
    /// The current physical time in nanoseconds since the Unix epoch.
    fn now_nanos(&self) -> u64;
}

/// The machine's wall clock. The only reader of real time in `model`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_nanos(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)).unwrap_or(0)
    }
}

/// A clock that only moves when told to, for deterministic tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock reading `nanos`.
    pub fn new(nanos: u64) -> Self {
        ManualClock { nanos: AtomicU64::new(nanos) }
    }

    /// Sets the reading (it may go backwards; the HLC above it stays monotonic).
    pub fn set(&self, nanos: u64) {
        self.nanos.store(nanos, Ordering::SeqCst);
    }

    /// Moves the reading forward by `d`.
    pub fn advance(&self, d: Duration) {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let _ = self.nanos.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_add(add)));
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

/// The one node of a [`LocalKv`].
pub const LOCAL_NODE_ID: NodeId = 1;
/// The one range of a [`LocalKv`].
pub const LOCAL_RANGE_ID: RangeId = 1;

/// The span of the whole key space as the local range reports it.
pub fn whole_keyspace() -> Span {
    Span::new(Key::MIN, vec![0xff; 16])
}

/// An in-process database: see the module doc.
pub struct LocalKv {
    store: Mutex<MvccStore>,
    clock: Arc<dyn Clock>,
    hlc: Mutex<Timestamp>,
    /// The node's locality tiers, reported with each export ([`LocalKv::set_locality`]).
    locality: Mutex<Vec<(String, String)>>,
}

impl std::fmt::Debug for LocalKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKv").field("hlc", &*self.hlc_guard()).finish_non_exhaustive()
    }
}

impl LocalKv {
    /// An empty store whose HLC runs over `clock`. Call [`catalog::bootstrap`] to get a usable
    /// cluster.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        LocalKv { store: Mutex::new(MvccStore::new()), clock, hlc: Mutex::new(Timestamp::ZERO), locality: Mutex::new(Vec::new()) }
    }

    /// Sets the node's locality tiers (`--locality`, the widest first), which its exports report
    /// ([`ExportResponse::locality`]).
    pub fn set_locality(&self, tiers: Vec<(String, String)>) {
        *self.locality.lock().unwrap_or_else(|e| e.into_inner()) = tiers;
    }

    /// An empty store over the machine's wall clock (for the shell).
    pub fn with_system_clock() -> Self {
        Self::new(Arc::new(SystemClock))
    }

    fn store(&self) -> MutexGuard<'_, MvccStore> {
        // A poisoned lock means a panic elsewhere already; the store itself is still consistent
        // because every mutation below validates before applying.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hlc_guard(&self) -> MutexGuard<'_, Timestamp> {
        self.hlc.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the HLC forward to at least `ts` (receiving a timestamp from elsewhere).
    pub fn update_clock(&self, ts: Timestamp) {
        let mut h = self.hlc_guard();
        if ts > *h {
            *h = ts;
        }
    }

    /// A copy of the whole store, for snapshots and fingerprints in tests.
    pub fn snapshot(&self) -> MvccStore {
        self.store().clone()
    }

    /// Garbage-collects `span` up to `threshold` directly (what a GC queue pass on one range
    /// does).
    pub fn gc(&self, span: &Span, threshold: Timestamp) -> GcStats {
        self.store().gc(span, threshold)
    }

    /// The "GC queue": collects every table's span (dropped tables included) up to
    /// `now - gc_ttl(table)` and system keyspace up to `now - default ttl`, using the zone
    /// configs of the catalog as of now. Nothing calls it on its own: tests call it when they
    /// mean to, and the shell from a background task every few seconds, as each leaseholder of
    /// the simulated cluster runs its GC queue. The store is locked one span at a time, so a
    /// pass over a large store does not hold up statements for its whole length. No threshold
    /// reaches the time of a protected timestamp record covering its span
    /// ([`crate::protected_ts`]); records that cannot be read stop the pass (collect nothing
    /// rather than what they may protect).
    pub async fn run_gc(&self) -> Result<GcStats, CatalogError> {
        let now = self.now();
        let cat = Catalog::read(self, now).await?;
        let protected = match crate::protected_ts::read_all(self, now).await {
            Ok(records) => records,
            Err(crate::protected_ts::ReadError::Corrupt(e)) => return Err(e),
            Err(crate::protected_ts::ReadError::Kv(e)) => return Err(e.into()),
        };
        let mut plan: BTreeMap<Span, Timestamp> = BTreeMap::new();
        plan.insert(catalog::system_span(), now.sub(cat.gc_ttl(catalog::DEFAULT_ZONE_ID)));
        for t in cat.all_tables() {
            plan.insert(encoding::table_span(t.id), now.sub(cat.gc_ttl(t.id)));
        }
        let mut total = GcStats::default();
        for (span, threshold) in plan {
            if threshold.is_zero() {
                continue;
            }
            let threshold = crate::protected_ts::clamp(threshold, &span, &protected);
            total.versions_removed += self.store().gc(&span, threshold).versions_removed;
        }
        Ok(total)
    }
}

#[async_trait]
impl Kv for LocalKv {
    fn now(&self) -> Timestamp {
        let wall = self.clock.now_nanos();
        let mut h = self.hlc_guard();
        *h = if wall > h.wall { Timestamp::from_nanos(wall) } else { h.next() };
        *h
    }

    async fn scan(&self, span: &Span, ts: Timestamp) -> Result<Vec<(Key, Value)>, KvError> {
        Ok(self.store().scan(span, ts)?)
    }

    async fn get(&self, key: &Key, ts: Timestamp) -> Result<Option<Value>, KvError> {
        Ok(self.store().get(key, ts)?)
    }

    async fn commit(&self, writes: Vec<WriteOp>, read_ts: Option<Timestamp>) -> Result<Timestamp, KvError> {
        // Later writes of the same key win; one version per key per commit.
        let mut batch: BTreeMap<Key, Option<Value>> = BTreeMap::new();
        for w in writes {
            match w {
                WriteOp::Put(k, v) => batch.insert(k, Some(v)),
                WriteOp::Delete(k) => batch.insert(k, None),
            };
        }
        let mut store = self.store();
        if let Some(read_ts) = read_ts {
            for k in batch.keys() {
                if let Some(newest) = store.newest_ts(k) {
                    if newest > read_ts {
                        return Err(KvError::TxnAborted(format!(
                            "write-write conflict on {k}: written at {newest}, after the transaction's read timestamp {read_ts}"
                        )));
                    }
                }
            }
        }
        let mut ts = self.now();
        for k in batch.keys() {
            if let Some(newest) = store.newest_ts(k) {
                if newest >= ts {
                    ts = newest.next();
                }
            }
        }
        self.update_clock(ts);
        // Validate everything before applying anything, so a refused commit leaves no trace.
        for k in batch.keys() {
            let point = Span::new(k.clone(), k.next());
            let threshold = store.gc_threshold(&point);
            if !threshold.is_zero() && ts <= threshold {
                return Err(MvccError::BelowGcThreshold { ts, threshold }.into());
            }
            if let Some((key, intent)) = store.intents_in(&point).into_iter().next() {
                return Err(MvccError::WriteIntent { key, txn: intent.txn, ts: intent.ts }.into());
            }
        }
        for (k, v) in batch {
            store.put(k, ts, v)?;
        }
        Ok(ts)
    }
}

#[async_trait]
impl ClusterKv for LocalKv {
    fn node_id(&self) -> NodeId {
        LOCAL_NODE_ID
    }

    fn nodes(&self) -> Vec<NodeId> {
        vec![LOCAL_NODE_ID]
    }

    async fn ranges(&self, span: &Span) -> Result<Vec<RangeInfo>, KvError> {
        let whole = whole_keyspace();
        if span.is_empty() || !whole.overlaps(span) {
            return Ok(Vec::new());
        }
        Ok(vec![RangeInfo { range_id: LOCAL_RANGE_ID, span: whole, replicas: vec![LOCAL_NODE_ID], leaseholder: LOCAL_NODE_ID }])
    }

    async fn export(&self, node: NodeId, req: ExportRequest) -> Result<ExportResponse, KvError> {
        if node != LOCAL_NODE_ID {
            return Err(KvError::NotLeaseholder { range: LOCAL_RANGE_ID, leaseholder: Some(LOCAL_NODE_ID) });
        }
        if !whole_keyspace().contains(&req.span) {
            return Err(KvError::RangeKeyMismatch { node, span: req.span });
        }
        let export = self.store().export_paged(&req.span, req.start, req.end, req.filter, req.target_bytes)?;
        let locality = self.locality.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(ExportResponse { served_by: LOCAL_NODE_ID, range_id: LOCAL_RANGE_ID, export, locality })
    }

    async fn ingest(&self, entries: Vec<Entry>) -> Result<(), KvError> {
        if let Some(max) = entries.iter().map(|e| e.ts).max() {
            self.update_clock(max);
        }
        self.store().ingest(entries);
        Ok(())
    }

    async fn gc_threshold(&self, span: &Span) -> Result<Timestamp, KvError> {
        Ok(self.store().gc_threshold(span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::WriteOp;
    use crate::mvcc::MvccFilter;
    use futures::executor::block_on;

    const T0: u64 = 1_600_000_000_000_000_000;

    fn kv() -> (Arc<ManualClock>, LocalKv) {
        let clock = Arc::new(ManualClock::new(T0));
        (clock.clone(), LocalKv::new(clock))
    }

    fn k(s: &str) -> Key {
        Key(s.as_bytes().to_vec())
    }

    #[test]
    fn hlc_is_monotonic_when_the_wall_clock_stalls_or_goes_back() {
        let (clock, kv) = kv();
        let a = kv.now();
        let b = kv.now();
        assert_eq!((a.wall, b.wall, b.logical), (T0, T0, a.logical + 1));
        clock.set(T0 - 1_000);
        assert!(kv.now() > b);
        clock.advance(Duration::from_secs(1));
        assert_eq!(kv.now(), Timestamp::from_nanos(T0 - 1_000 + 1_000_000_000));
    }

    #[test]
    fn commit_is_atomic_and_first_committer_wins() {
        let (_, kv) = kv();
        let read_ts = kv.now();
        let ts = block_on(kv.commit(vec![WriteOp::Put(k("a"), b"1".to_vec()), WriteOp::Put(k("b"), b"1".to_vec())], None)).unwrap();
        assert!(ts > read_ts);
        let e = block_on(kv.commit(vec![WriteOp::Put(k("c"), b"2".to_vec()), WriteOp::Put(k("a"), b"2".to_vec())], Some(read_ts))).unwrap_err();
        assert!(matches!(e, KvError::TxnAborted(_)) && e.is_retryable());
        assert_eq!(block_on(kv.get(&k("c"), kv.now())).unwrap(), None, "nothing of the refused commit applied");
        let ts2 = block_on(kv.commit(vec![WriteOp::Delete(k("a"))], Some(ts))).unwrap();
        assert_eq!(block_on(kv.get(&k("a"), ts2)).unwrap(), None);
        assert_eq!(block_on(kv.get(&k("a"), ts)).unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn cluster_api_has_one_range_led_by_node_one() {
        let (_, kv) = kv();
        block_on(kv.commit(vec![WriteOp::Put(k("a"), b"1".to_vec())], None)).unwrap();
        let ranges = block_on(kv.ranges(&Span::new(k("a"), k("b")))).unwrap();
        assert_eq!(ranges.len(), 1);
        assert_eq!((ranges[0].leaseholder, kv.node_id(), kv.nodes()), (1, 1, vec![1]));
        let req = ExportRequest { span: Span::new(k("a"), k("b")), start: Timestamp::ZERO, end: kv.now(), filter: MvccFilter::Latest, target_bytes: 0 };
        assert!(matches!(block_on(kv.export(2, req.clone())), Err(KvError::NotLeaseholder { leaseholder: Some(1), .. })));
        let resp = block_on(kv.export(1, req)).unwrap();
        assert_eq!((resp.served_by, resp.export.entries.len()), (1, 1));
        let future = Timestamp::from_nanos(T0 * 2);
        block_on(kv.ingest(vec![Entry { key: k("z"), ts: future, value: Some(b"r".to_vec()) }])).unwrap();
        assert!(kv.now() > future, "ingest forwards the clock so the data is readable now");
        kv.gc(&Span::new(k("a"), k("b")), Timestamp::from_nanos(T0 + 5));
        assert_eq!(block_on(kv.gc_threshold(&Span::new(k("a"), k("b")))).unwrap(), Timestamp::from_nanos(T0 + 5));
    }

    #[test]
    fn bootstrap_once() {
        let (_, kv) = kv();
        let ts = block_on(catalog::bootstrap(&kv)).unwrap();
        assert!(matches!(block_on(catalog::bootstrap(&kv)), Err(CatalogError::AlreadyBootstrapped { .. })));
        let cat = block_on(Catalog::read(&kv, ts)).unwrap();
        assert!(cat.is_bootstrapped() && cat.is_admin("root") && cat.user("admin").is_some_and(|u| u.is_role));
        assert_eq!(cat.database_by_name("defaultdb").map(|d| d.id), Some(catalog::FIRST_USER_DESCRIPTOR_ID));
        assert_eq!(cat.next_descriptor_id(), 52);
        assert!(catalog::system_span().contains(&catalog::jobs_span()));
        assert!(!catalog::system_span().overlaps(&encoding::table_span(catalog::FIRST_USER_DESCRIPTOR_ID)));
        let copy = Catalog::from_parts(
            ts,
            cat.descriptors().cloned(),
            cat.users().cloned(),
            cat.role_memberships().cloned(),
            cat.zones().map(|(i, z)| (i, z.clone())),
        );
        assert_eq!(copy, cat);
    }
}
