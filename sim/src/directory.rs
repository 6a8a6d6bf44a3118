//! The range directory: which range holds which keys, where its replicas are, who holds its
//! lease.
//!
//! In CockroachDB this is the meta ranges plus node liveness, themselves replicated. The
//! simulator models them as always available and authoritative (a deliberate simplification:
//! the backup under test never touches meta ranges directly), with two consequences that keep
//! the model honest: clients route from their own possibly stale caches and learn of moves only
//! through errors, and a node serves a range only while this directory names it leaseholder for
//! the epoch it has itself initialised.

use model::{Key, NodeId, RangeId, RangeInfo, Span, Timestamp};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The largest key the cluster uses: every range lies below it.
pub fn key_max() -> Key {
    Key(vec![0xff; 8])
}

/// A lease: who serves a range, and the epoch that distinguishes successive leases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The leaseholder.
    pub holder: NodeId,
    /// Increases with every lease change; it is the Raft term of the range's log.
    pub epoch: u64,
}

/// One range as the directory knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeDesc {
    /// The range id.
    pub range_id: RangeId,
    /// Its keys.
    pub span: Span,
    /// Nodes with a replica.
    pub replicas: Vec<NodeId>,
    /// The current lease.
    pub lease: Lease,
}

impl RangeDesc {
    /// A majority of its replicas. Replica sets change one replica at a time (three to four and
    /// back to three when a replica moves), and a majority of the set before a change always
    /// shares a replica with a majority of the set after it: a new leaseholder, gathering a
    /// majority's logs, finds every committed entry (Raft's single-server membership changes).
    pub fn quorum(&self) -> usize {
        self.replicas.len() / 2 + 1
    }

    /// The public view handed to clients.
    pub fn info(&self) -> RangeInfo {
        RangeInfo { range_id: self.range_id, span: self.span.clone(), replicas: self.replicas.clone(), leaseholder: self.lease.holder }
    }
}

/// The shared, authoritative directory.
#[derive(Clone, Default)]
pub struct Directory {
    inner: Arc<Mutex<DirectoryInner>>,
}

#[derive(Default)]
struct DirectoryInner {
    by_start: BTreeMap<Key, RangeDesc>,
    next_range_id: RangeId,
    read_high_water: BTreeMap<RangeId, Timestamp>,
}

impl Directory {
    /// A directory holding `ranges` (span, replicas, first leaseholder), which must tile the key
    /// space from [`Key::MIN`] to [`key_max`]. Range ids are 1, 2, ... in key order; every lease
    /// starts at epoch 1.
    pub fn bootstrap(ranges: Vec<(Span, Vec<NodeId>, NodeId)>) -> Self {
        let d = Directory::default();
        {
            let mut inner = d.inner.lock().expect("directory lock");
            for (i, (span, replicas, holder)) in ranges.into_iter().enumerate() {
                let range_id = i as RangeId + 1;
                inner.by_start.insert(span.start.clone(), RangeDesc { range_id, span, replicas, lease: Lease { holder, epoch: 1 } });
            }
            inner.next_range_id = inner.by_start.len() as RangeId + 1;
        }
        d
    }

    /// The range containing `key`.
    pub fn lookup(&self, key: &Key) -> Option<RangeDesc> {
        let inner = self.inner.lock().expect("directory lock");
        inner.by_start.range(..=key.clone()).next_back().map(|(_, d)| d.clone()).filter(|d| d.span.contains_key(key))
    }

    /// The ranges overlapping `span`, in key order.
    pub fn overlapping(&self, span: &Span) -> Vec<RangeDesc> {
        let inner = self.inner.lock().expect("directory lock");
        let first = inner.by_start.range(..=span.start.clone()).next_back().map(|(k, _)| k.clone()).unwrap_or(Key::MIN);
        inner.by_start.range(first..).map(|(_, d)| d).take_while(|d| d.span.start < span.end).filter(|d| d.span.overlaps(span)).cloned().collect()
    }

    /// A range by id.
    pub fn get(&self, range_id: RangeId) -> Option<RangeDesc> {
        let inner = self.inner.lock().expect("directory lock");
        inner.by_start.values().find(|d| d.range_id == range_id).cloned()
    }

    /// Every range in key order.
    pub fn all(&self) -> Vec<RangeDesc> {
        self.inner.lock().expect("directory lock").by_start.values().cloned().collect()
    }

    /// Hands out a fresh range id.
    pub fn alloc_range_id(&self) -> RangeId {
        let mut inner = self.inner.lock().expect("directory lock");
        let id = inner.next_range_id;
        inner.next_range_id += 1;
        id
    }

    /// Installs a new lease for `range_id` with the next epoch; returns it.
    pub fn next_lease(&self, range_id: RangeId, holder: NodeId) -> Option<Lease> {
        let mut inner = self.inner.lock().expect("directory lock");
        let d = inner.by_start.values_mut().find(|d| d.range_id == range_id)?;
        d.lease = Lease { holder, epoch: d.lease.epoch + 1 };
        Some(d.lease)
    }

    /// Records a committed split: `range_id` keeps keys below `at`, `new_range` gets the rest
    /// with the same replicas and the lease as it is now. Idempotent: returns false when the
    /// split was already recorded.
    pub fn split(&self, range_id: RangeId, at: &Key, new_range: RangeId) -> bool {
        let mut inner = self.inner.lock().expect("directory lock");
        let Some(d) = inner.by_start.values_mut().find(|d| d.range_id == range_id) else { return false };
        if !d.span.contains_key(at) || d.span.start == *at {
            return false;
        }
        let right = RangeDesc { range_id: new_range, span: Span::new(at.clone(), d.span.end.clone()), replicas: d.replicas.clone(), lease: d.lease };
        d.span.end = at.clone();
        inner.by_start.insert(at.clone(), right);
        let high = inner.read_high_water.get(&range_id).copied().unwrap_or_default();
        inner.read_high_water.insert(new_range, high);
        true
    }

    /// Adds `node` to the replicas of `range_id` (after it installed a snapshot); false if it
    /// is already one or the range is gone.
    pub fn add_replica(&self, range_id: RangeId, node: NodeId) -> bool {
        let mut inner = self.inner.lock().expect("directory lock");
        let Some(d) = inner.by_start.values_mut().find(|d| d.range_id == range_id) else { return false };
        if d.replicas.contains(&node) {
            return false;
        }
        d.replicas.push(node);
        d.replicas.sort();
        true
    }

    /// Takes `node` out of the replicas of `range_id`; never the leaseholder, never down to
    /// fewer than `keep` replicas (a replica moves by an addition, then this removal, so that a
    /// range never runs on fewer replicas than it should while one is on its way).
    pub fn remove_replica(&self, range_id: RangeId, node: NodeId, keep: usize) -> bool {
        let mut inner = self.inner.lock().expect("directory lock");
        let Some(d) = inner.by_start.values_mut().find(|d| d.range_id == range_id) else { return false };
        if d.lease.holder == node || !d.replicas.contains(&node) || d.replicas.len() <= keep {
            return false;
        }
        d.replicas.retain(|n| *n != node);
        true
    }

    /// Records that `range` served a read at `ts`. The lease record carries the highest such
    /// time to the next leaseholder, which never writes at or below it — what CockroachDB gets
    /// from starting a new lease above every read the previous one could have served.
    pub fn note_read(&self, range: RangeId, ts: Timestamp) {
        let mut inner = self.inner.lock().expect("directory lock");
        let e = inner.read_high_water.entry(range).or_default();
        if ts > *e {
            *e = ts;
        }
    }

    /// The highest read `range` has served under any lease.
    pub fn read_high_water(&self, range: RangeId) -> Timestamp {
        self.inner.lock().expect("directory lock").read_high_water.get(&range).copied().unwrap_or_default()
    }
}
