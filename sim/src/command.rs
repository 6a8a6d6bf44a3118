//! Replicated commands: the only way a range's state changes.
//!
//! A leaseholder evaluates a request against its current state, and only if it would succeed
//! proposes the resulting command; every replica then applies the same commands in the same
//! order, so applying is deterministic and infallible. A command that fails to apply on a
//! replica means replicas diverged: that is an invariant violation, reported loudly.

use model::{Entry, Key, NodeId, RangeId, Timestamp, TxnId, WriteOp};
use serde::{Deserialize, Serialize};

/// The fate of a transaction, recorded on the range holding its anchor key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnStatus {
    /// Committed: its intents become versions.
    Committed,
    /// Aborted: its intents vanish.
    Aborted,
}

/// A state change of one range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A new leaseholder's first entry: once committed, every earlier entry is committed too.
    LeaseStart { epoch: u64, holder: NodeId },
    /// A transaction's provisional writes, all at `ts`.
    PutIntents { txn: TxnId, anchor: Key, ts: Timestamp, writes: Vec<WriteOp> },
    /// Resolves every intent of `txn` in the range.
    ResolveIntents { txn: TxnId, commit: bool },
    /// Records a transaction's fate (on its anchor's range).
    SetTxnStatus { txn: TxnId, anchor: Key, status: TxnStatus },
    /// Garbage-collects the range up to `threshold`.
    Gc { threshold: Timestamp },
    /// Splits the range at `at`; keys from `at` on move to the new range `new_range`.
    Split { at: Key, new_range: RangeId },
    /// Bulk-writes versions (restore). Shared, not copied, as the entry moves through the log,
    /// the followers' appends and the apply loop: an ingest batch can hold thousands of rows.
    Ingest { entries: std::sync::Arc<Vec<Entry>> },
}

impl Command {
    /// A short name for traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::LeaseStart { .. } => "lease-start",
            Command::PutIntents { .. } => "put-intents",
            Command::ResolveIntents { .. } => "resolve-intents",
            Command::SetTxnStatus { .. } => "set-txn-status",
            Command::Gc { .. } => "gc",
            Command::Split { .. } => "split",
            Command::Ingest { .. } => "ingest",
        }
    }
}

/// One entry of a range's replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Position in the log, from 1.
    pub index: u64,
    /// Lease epoch of the leaseholder that proposed it (Raft's term).
    pub epoch: u64,
    /// The change.
    pub cmd: Command,
}
