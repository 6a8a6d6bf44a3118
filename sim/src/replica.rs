//! The in-memory state of one replica: its MVCC engine, transaction records and the leaseholder's
//! bookkeeping. Everything here is rebuilt from the durable log after a crash (see
//! [`crate::disk`]); applying a command is the only way it changes.

use crate::command::{Command, LogEntry, TxnStatus};
use model::{Intent, Key, MvccStore, NodeId, RangeId, Span, Timestamp, TxnId, WriteOp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A transaction record kept on the range that holds the transaction's anchor key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRecord {
    /// The anchor key (decides which range keeps the record after splits).
    pub anchor: Key,
    /// The transaction's fate.
    pub status: TxnStatus,
}

/// One replica of a range on one node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Replica {
    /// The range.
    pub range_id: RangeId,
    /// The keys it holds now (shrinks when the range splits).
    pub span: Span,
    /// The data.
    pub engine: MvccStore,
    /// Records of transactions anchored here.
    pub txn_records: BTreeMap<TxnId, TxnRecord>,
    /// Anchor key of each transaction with intents here, so a blocked reader knows whom to push.
    pub intent_anchors: BTreeMap<TxnId, Key>,
    /// Highest applied log index.
    pub applied: u64,
    /// The epoch whose LeaseStart this replica applied as leaseholder; it serves only that epoch.
    pub serving_epoch: Option<u64>,
    /// Writes at or below this are refused: the timestamp cache's floor after a lease change.
    pub low_water: Timestamp,
    /// Highest timestamp read here (the timestamp cache, range-wide): later writes go above it.
    pub max_read: Timestamp,
    /// Leaseholder only: the next log index to send to each follower.
    pub next_index: BTreeMap<NodeId, u64>,
}

/// What applying a command produced beyond the state change.
#[derive(Debug, Default)]
pub struct Applied {
    /// A split created this right-hand replica.
    pub new_replica: Option<Replica>,
    /// A GC removed this many versions.
    pub gc_removed: usize,
    /// A lease start for this (epoch, holder).
    pub lease_start: Option<(u64, NodeId)>,
}

/// A command could not be applied: replicas have diverged.
#[derive(Debug, Clone, thiserror::Error)]
#[error("r{range} index {index}: cannot apply {kind}: {reason}")]
pub struct ApplyError {
    /// Range.
    pub range: RangeId,
    /// Log index.
    pub index: u64,
    /// Command kind.
    pub kind: &'static str,
    /// What went wrong.
    pub reason: String,
}

impl Replica {
    /// An empty replica of `span`.
    pub fn new(range_id: RangeId, span: Span) -> Self {
        Replica {
            range_id,
            span,
            engine: MvccStore::new(),
            txn_records: BTreeMap::new(),
            intent_anchors: BTreeMap::new(),
            applied: 0,
            serving_epoch: None,
            low_water: Timestamp::ZERO,
            max_read: Timestamp::ZERO,
            next_index: BTreeMap::new(),
        }
    }

    /// Applies one committed entry. Must be called with `entry.index == self.applied + 1`.
    pub fn apply(&mut self, entry: &LogEntry) -> Result<Applied, ApplyError> {
        let fail = |reason: String| ApplyError { range: self.range_id, index: entry.index, kind: entry.cmd.kind(), reason };
        if entry.index != self.applied + 1 {
            return Err(fail(format!("applied index is {}", self.applied)));
        }
        let mut out = Applied::default();
        match &entry.cmd {
            Command::LeaseStart { epoch, holder } => out.lease_start = Some((*epoch, *holder)),
            Command::PutIntents { txn, anchor, ts, writes } => {
                for w in writes {
                    let intent = Intent { txn: *txn, ts: *ts, value: w.value().cloned() };
                    self.engine.put_intent(w.key().clone(), intent).map_err(|e| fail(e.to_string()))?;
                }
                self.intent_anchors.insert(*txn, anchor.clone());
            }
            Command::ResolveIntents { txn, commit } => {
                for (key, intent) in self.engine.intents_in(&self.span.clone()) {
                    if intent.txn == *txn {
                        self.engine.resolve_intent(&key, *txn, *commit);
                    }
                }
                self.intent_anchors.remove(txn);
            }
            Command::SetTxnStatus { txn, anchor, status } => {
                if let Some(existing) = self.txn_records.get(txn) {
                    if existing.status != *status {
                        return Err(fail(format!("txn {txn} already {:?}", existing.status)));
                    }
                }
                self.txn_records.insert(*txn, TxnRecord { anchor: anchor.clone(), status: *status });
            }
            Command::Gc { threshold } => {
                out.gc_removed = self.engine.gc(&self.span.clone(), *threshold).versions_removed;
            }
            Command::Split { at, new_range } => {
                if !self.span.contains_key(at) || self.span.start == *at {
                    return Err(fail(format!("split key {at} outside {}", self.span)));
                }
                let mut right = Replica::new(*new_range, Span::new(at.clone(), self.span.end.clone()));
                right.engine = self.engine.split_off(at);
                right.txn_records = split_map(&mut self.txn_records, |r| r.anchor >= *at);
                // Intents on either side may belong to a transaction anchored on the other.
                right.intent_anchors = self.intent_anchors.clone();
                right.low_water = self.low_water;
                right.max_read = self.max_read;
                right.serving_epoch = self.serving_epoch;
                self.span.end = at.clone();
                out.new_replica = Some(right);
            }
            Command::Ingest { entries } => {
                if let Some(e) = entries.iter().find(|e| !self.span.contains_key(&e.key)) {
                    return Err(fail(format!("ingested key {} outside {}", e.key, self.span)));
                }
                self.engine.ingest(entries.iter().cloned());
            }
        }
        self.applied = entry.index;
        Ok(out)
    }

    /// Checks, without changing anything, that `writes` at `ts` could be laid down as intents of
    /// `txn`; returns why not. `read_ts` asks for first-committer-wins against newer versions.
    pub fn evaluate_intents(&self, txn: TxnId, ts: Timestamp, read_ts: Option<Timestamp>, writes: &[WriteOp]) -> Result<(), IntentRefusal> {
        let floor = self.low_water.max(self.max_read);
        if ts <= floor {
            return Err(IntentRefusal::Pushed { to: floor.next() });
        }
        for w in writes {
            let key = w.key();
            if !self.span.contains_key(key) {
                return Err(IntentRefusal::OutsideRange);
            }
            let point = Span::new(key.clone(), key.next());
            let threshold = self.engine.gc_threshold(&point);
            if !threshold.is_zero() && ts <= threshold {
                return Err(IntentRefusal::Pushed { to: threshold.next() });
            }
            if let Some((_, other)) = self.engine.intents_in(&point).into_iter().next() {
                if other.txn != txn {
                    return Err(IntentRefusal::Conflict { key: key.clone(), other: other.txn });
                }
            }
            if let Some(newest) = self.engine.newest_ts(key) {
                if newest >= ts {
                    return Err(IntentRefusal::Pushed { to: newest.next() });
                }
                if read_ts.is_some_and(|r| newest > r) {
                    return Err(IntentRefusal::Stale { key: key.clone(), newest });
                }
            }
        }
        Ok(())
    }
}

/// Why a leaseholder refused to lay down intents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentRefusal {
    /// The timestamp is too low (timestamp cache, newer write, GC); retry above `to`.
    Pushed { to: Timestamp },
    /// Another transaction's intent is on `key`.
    Conflict { key: Key, other: TxnId },
    /// A key changed after the transaction read it.
    Stale { key: Key, newest: Timestamp },
    /// A key is not in this range (the range split).
    OutsideRange,
}

fn split_map<K: Ord + Clone, V>(map: &mut BTreeMap<K, V>, goes_right: impl Fn(&V) -> bool) -> BTreeMap<K, V> {
    let keys: Vec<K> = map.iter().filter(|(_, v)| goes_right(v)).map(|(k, _)| k.clone()).collect();
    keys.into_iter().filter_map(|k| map.remove(&k).map(|v| (k, v))).collect()
}
