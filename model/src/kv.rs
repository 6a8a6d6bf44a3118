//! The KV API: everything SQL and BACKUP ask of the database, as traits.
//!
//! This is the seam of the whole design. `backup` reaches the cluster only through
//! [`ClusterKv`]; the simulator implements it for a simulated deployment (requests travel over
//! the simulated network to leaseholders) and [`crate::local::LocalKv`] implements it in-process
//! for unit tests and the shell. Nothing behind these traits may be assumed by a caller: a
//! request can fail with any [`KvError`] and the caller decides whether to retry.

use crate::key::{Key, Span};
use crate::mvcc::{Entry, Export, MvccError, MvccFilter, Value};
use crate::timestamp::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A node of the cluster. Node ids start at 1, as in CockroachDB.
pub type NodeId = u32;
/// A range of the key space, replicated and served by its leaseholder.
pub type RangeId = u64;

/// One write of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOp {
    /// Set `key` to a value.
    Put(Key, Value),
    /// Delete `key` (writes a tombstone).
    Delete(Key),
}

impl WriteOp {
    /// The key written.
    pub fn key(&self) -> &Key {
        match self {
            WriteOp::Put(k, _) | WriteOp::Delete(k) => k,
        }
    }

    /// The value written, `None` for a delete.
    pub fn value(&self) -> Option<&Value> {
        match self {
            WriteOp::Put(_, v) => Some(v),
            WriteOp::Delete(_) => None,
        }
    }
}

/// Where a range lives: its span, its replicas and (as far as the asker knows) its leaseholder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeInfo {
    /// The range's id.
    pub range_id: RangeId,
    /// The keys it holds.
    pub span: Span,
    /// Nodes holding a replica.
    pub replicas: Vec<NodeId>,
    /// The replica serving reads, writes and exports.
    pub leaseholder: NodeId,
}

/// An export of one span between two timestamps, sent to a range's leaseholder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRequest {
    /// The keys to export; must lie within one range.
    pub span: Span,
    /// Exclusive start of the window (zero: from the beginning of time).
    pub start: Timestamp,
    /// Inclusive end of the window.
    pub end: Timestamp,
    /// Latest values only, or every revision.
    pub filter: MvccFilter,
    /// Stop after about this many bytes of keys and values, at a key boundary, and say where
    /// to resume ([`Export::resume`]); 0: no limit. Bounds the memory one export takes (as
    /// CockroachDB's `TargetFileSize` does).
    #[serde(default)]
    pub target_bytes: u64,
}

/// What a leaseholder returns for an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportResponse {
    /// The node that served it (the leaseholder at that moment).
    pub served_by: NodeId,
    /// The range it was served from.
    pub range_id: RangeId,
    /// The versions.
    pub export: Export,
    /// The serving node's locality tiers (its `--locality`, `(key, value)`, the widest first;
    /// empty for none), as the node itself knows them: a locality-aware BACKUP writes what the
    /// node exported to the destination matching them, as each CockroachDB node's backup
    /// processor picks by its own locality.
    #[serde(default)]
    pub locality: Vec<(String, String)>,
}

/// Every way a KV request can fail. Callers match on these to decide on a retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// An MVCC rule refused the request (GC threshold, intents, write too old).
    #[error(transparent)]
    Mvcc(#[from] MvccError),
    /// The node does not hold the lease for the range; it names the one it knows of.
    #[error("not leaseholder for r{range}; current leaseholder: {}", leaseholder.map(|n| format!("n{n}")).unwrap_or_else(|| "unknown".into()))]
    NotLeaseholder { range: RangeId, leaseholder: Option<NodeId> },
    /// The request's span is not (or no longer) inside one range on that node.
    #[error("key range {span} does not lie in one range of n{node}")]
    RangeKeyMismatch { node: NodeId, span: Span },
    /// The node could not be reached or did not answer in time.
    #[error("n{node} unavailable: {reason}")]
    Unavailable { node: NodeId, reason: String },
    /// The range could not reach a quorum of its replicas.
    #[error("r{range} unavailable: {reason}")]
    RangeUnavailable { range: RangeId, reason: String },
    /// The transaction was aborted (conflict, timestamp pushed); retrying it is safe.
    #[error("transaction aborted: {0}")]
    TxnAborted(String),
    /// The request is not valid (names the problem); retrying will not help.
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl KvError {
    /// True when the same request may succeed if sent again (possibly elsewhere).
    pub fn is_retryable(&self) -> bool {
        match self {
            KvError::Mvcc(MvccError::WriteIntent { .. }) => true,
            KvError::Mvcc(_) | KvError::Invalid(_) => false,
            _ => true,
        }
    }
}

/// What SQL needs: reads at a time, and atomic commits.
#[async_trait]
pub trait Kv: Send + Sync {
    /// The current time on this node's hybrid-logical clock.
    fn now(&self) -> Timestamp;

    /// Every live key in `span` as of `ts`, in key order.
    async fn scan(&self, span: &Span, ts: Timestamp) -> Result<Vec<(Key, Value)>, KvError>;

    /// One key as of `ts`.
    async fn get(&self, key: &Key, ts: Timestamp) -> Result<Option<Value>, KvError>;

    /// Commits `writes` atomically at a fresh timestamp and returns it. With `read_ts`, the
    /// commit fails with [`KvError::TxnAborted`] if any written key has a version newer than
    /// `read_ts` (first committer wins), which makes read-modify-write transactions safe.
    async fn commit(&self, writes: Vec<WriteOp>, read_ts: Option<Timestamp>) -> Result<Timestamp, KvError>;
}

/// What BACKUP and RESTORE need on top of [`Kv`]: the cluster's layout and bulk operations.
#[async_trait]
pub trait ClusterKv: Kv {
    /// The node this handle runs on (a job's coordinator).
    fn node_id(&self) -> NodeId;

    /// Nodes currently members of the cluster, live or not, in id order.
    fn nodes(&self) -> Vec<NodeId>;

    /// The ranges overlapping `span`, in key order, with their leaseholders as this node knows
    /// them (possibly stale: an export sent there may answer [`KvError::NotLeaseholder`]).
    async fn ranges(&self, span: &Span) -> Result<Vec<RangeInfo>, KvError>;

    /// Sends an export to `node`, which must hold the lease of the one range containing
    /// `req.span`.
    async fn export(&self, node: NodeId, req: ExportRequest) -> Result<ExportResponse, KvError>;

    /// Writes `entries` (restore's bulk ingest) as committed versions at their timestamps.
    async fn ingest(&self, entries: Vec<Entry>) -> Result<(), KvError>;

    /// The highest GC threshold of any range overlapping `span`.
    async fn gc_threshold(&self, span: &Span) -> Result<Timestamp, KvError>;
}
