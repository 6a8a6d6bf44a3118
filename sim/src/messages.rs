//! Messages between simulated nodes and clients. Each travels over madsim's network, so it can
//! be delayed, lost or cut by a partition; each carries the sender's clock for the HLC.

use crate::command::{LogEntry, TxnStatus};
use model::{Entry, ExportRequest, ExportResponse, Key, KvError, MvccError, NodeId, RangeId, Span, Timestamp, TxnId, Value, WriteOp};
use serde::{Deserialize, Serialize};

/// A request to a node, stamped with the sender's clock.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// Sender's HLC reading.
    pub sent_at: Timestamp,
    /// Who sent it, for the trace (`n3`, `client`).
    pub from: String,
    /// The request.
    pub req: NodeRequest,
}

impl madsim::net::rpc::Request for Envelope {
    type Response = Reply;
    const ID: u64 = 0x6261_636b_7570; // "backup"
}

/// The reply, stamped with the node's clock.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reply {
    /// Replier's HLC reading.
    pub sent_at: Timestamp,
    /// The outcome.
    pub result: Result<NodeResponse, NodeError>,
}

/// What a node can be asked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum NodeRequest {
    /// Live values of `span` at `ts` (leaseholder only).
    Scan { range: RangeId, span: Span, ts: Timestamp },
    /// Provisional writes of a transaction (leaseholder only).
    PutIntents { range: RangeId, txn: TxnId, anchor: Key, ts: Timestamp, read_ts: Option<Timestamp>, writes: Vec<WriteOp> },
    /// Commit or abort a transaction at its anchor's range; idempotent.
    EndTxn { range: RangeId, txn: TxnId, anchor: Key, commit: bool },
    /// Ask the anchor's range for a transaction's fate, aborting it if it looks abandoned.
    PushTxn { range: RangeId, txn: TxnId, anchor: Key, txn_ts: Timestamp },
    /// Resolve a transaction's intents in a range; idempotent.
    ResolveIntents { range: RangeId, txn: TxnId, commit: bool },
    /// Export a span (backup).
    Export { range: RangeId, req: ExportRequest },
    /// Bulk-write versions (restore).
    Ingest { range: RangeId, entries: Vec<Entry> },
    /// The range's GC threshold, asked for the part of a span the sender's cache says the range
    /// holds: a range that no longer holds all of it (it split) refuses, so no part of the span
    /// goes unchecked.
    GcThreshold { range: RangeId, span: Span },
    /// Raft-style append from the leaseholder to a follower.
    Append { range: RangeId, epoch: u64, prev_index: u64, prev_epoch: u64, entries: Vec<LogEntry>, commit: u64 },
    /// A new leaseholder asks a replica for its log.
    FetchLog { range: RangeId, epoch: u64 },
    /// The leaseholder gives a new replica the range's state as of `replica.applied` and the
    /// log up to there (rebalancing: a snapshot, as Raft's InstallSnapshot).
    InstallSnapshot { range: RangeId, epoch: u64, replica: Box<crate::replica::Replica>, entries: Vec<LogEntry> },
    /// Run a BACKUP / RESTORE / SHOW BACKUP / job statement on this node as its SQL gateway,
    /// for a session of `user` in `database`, inside an open transaction or not (BACKUP is
    /// refused in one).
    Bulk { sql: String, user: String, database: String, in_transaction: bool },
}

impl NodeRequest {
    /// A short name for traces.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeRequest::Scan { .. } => "scan",
            NodeRequest::PutIntents { .. } => "put-intents",
            NodeRequest::EndTxn { .. } => "end-txn",
            NodeRequest::PushTxn { .. } => "push-txn",
            NodeRequest::ResolveIntents { .. } => "resolve-intents",
            NodeRequest::Export { .. } => "export",
            NodeRequest::Ingest { .. } => "ingest",
            NodeRequest::GcThreshold { .. } => "gc-threshold",
            NodeRequest::Append { .. } => "append",
            NodeRequest::FetchLog { .. } => "fetch-log",
            NodeRequest::InstallSnapshot { .. } => "install-snapshot",
            NodeRequest::Bulk { .. } => "bulk",
        }
    }

    /// The range addressed.
    pub fn range(&self) -> RangeId {
        match self {
            NodeRequest::Scan { range, .. }
            | NodeRequest::PutIntents { range, .. }
            | NodeRequest::EndTxn { range, .. }
            | NodeRequest::PushTxn { range, .. }
            | NodeRequest::ResolveIntents { range, .. }
            | NodeRequest::Export { range, .. }
            | NodeRequest::Ingest { range, .. }
            | NodeRequest::GcThreshold { range, .. }
            | NodeRequest::Append { range, .. }
            | NodeRequest::FetchLog { range, .. }
            | NodeRequest::InstallSnapshot { range, .. } => *range,
            NodeRequest::Bulk { .. } => 0,
        }
    }
}

/// What a node answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum NodeResponse {
    /// Rows of a scan.
    Rows(Vec<(Key, Value)>),
    /// Done.
    Ok,
    /// A transaction's fate: `None` while it is still pending.
    TxnStatus(Option<TxnStatus>),
    /// An export.
    Export(ExportResponse),
    /// A timestamp (GC threshold).
    Timestamp(Timestamp),
    /// A follower's answer to an append: whether it matched, and its last index.
    Appended { success: bool, last_index: u64 },
    /// A replica's log: its entries and the highest epoch it has seen.
    Log { entries: Vec<LogEntry>, max_epoch: u64 },
    /// A bulk statement's result (columns, rows), or its error as text.
    Bulk(Result<(Vec<String>, Vec<Vec<model::Datum>>), String>),
}

/// Why a node refused a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum NodeError {
    /// The node is not (or not yet) serving the range's lease.
    #[error("not leaseholder for r{range}")]
    NotLeaseholder { range: RangeId, leaseholder: Option<NodeId> },
    /// The node has no replica of the range, or the keys are outside it.
    #[error("r{range} does not hold {span}")]
    RangeKeyMismatch { range: RangeId, span: Span },
    /// A read hit an unresolved intent at or below its timestamp.
    #[error("intent of txn {txn} at {ts} blocks the read")]
    Intent { txn: TxnId, ts: Timestamp, anchor: Key },
    /// The write's timestamp must move above `to`.
    #[error("transaction timestamp pushed to {to}")]
    Pushed { to: Timestamp },
    /// Another transaction's intent is in the way.
    #[error("conflict with txn {other} on {key}")]
    Conflict { key: Key, other: TxnId },
    /// First committer wins: a written key changed after the transaction read it.
    #[error("{key} changed at {newest}, after the transaction's read")]
    Stale { key: Key, newest: Timestamp },
    /// The transaction was already aborted.
    #[error("transaction {0} is aborted")]
    TxnAborted(TxnId),
    /// An MVCC rule (GC threshold) refused the read.
    #[error(transparent)]
    Mvcc(#[from] MvccError),
    /// A follower the directory lists for the range has no replica of it, and none that will
    /// split into it: the leaseholder must send it a snapshot (it was moved off the range's
    /// parent before it applied the split, or lost the range).
    #[error("n{node} has no replica of r{range}")]
    NoReplica { range: RangeId, node: NodeId },
    /// The leaseholder could not reach a quorum in time.
    #[error("r{range} could not reach a quorum")]
    NoQuorum { range: RangeId },
    /// The request is malformed.
    #[error("invalid: {0}")]
    Invalid(String),
}

impl NodeError {
    /// The client-facing error for a request that finally failed with this.
    pub fn into_kv(self, node: NodeId) -> KvError {
        match self {
            NodeError::NotLeaseholder { range, leaseholder } => KvError::NotLeaseholder { range, leaseholder },
            NodeError::RangeKeyMismatch { span, .. } => KvError::RangeKeyMismatch { node, span },
            NodeError::Intent { txn, ts, .. } => KvError::Mvcc(MvccError::WriteIntent { key: Key::MIN, txn, ts }),
            NodeError::Pushed { to } => KvError::TxnAborted(format!("timestamp pushed to {to}")),
            NodeError::Conflict { key, other } => KvError::TxnAborted(format!("conflict with txn {other} on {key}")),
            NodeError::Stale { key, newest } => KvError::TxnAborted(format!("{key} was written at {newest}, after this transaction read it")),
            NodeError::TxnAborted(t) => KvError::TxnAborted(format!("transaction {t} was aborted")),
            NodeError::Mvcc(m) => KvError::Mvcc(m),
            NodeError::NoQuorum { range } => KvError::RangeUnavailable { range, reason: "no quorum".into() },
            NodeError::NoReplica { range, node } => KvError::RangeUnavailable { range, reason: format!("n{node} has no replica") },
            NodeError::Invalid(s) => KvError::Invalid(s),
        }
    }
}
