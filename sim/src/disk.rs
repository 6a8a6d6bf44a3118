//! What a node keeps across a crash: its replicas' logs.
//!
//! Durability rule (madsim's own file system loses nothing on a crash, so this model is ours):
//! a node appends log entries to its disk and then syncs; a sync takes a random time within
//! `sync_latency`. A replica acknowledges an append only after the sync completes, and a
//! leaseholder counts its own vote only after its own sync. A crash keeps exactly the synced
//! prefix of every log and drops the rest. The commit index is written with the entries it
//! covers, so it never exceeds the synced prefix. Everything else on a node (the MVCC engines,
//! the timestamp cache, leases it was serving) is memory, rebuilt on restart by replaying the
//! synced log up to the commit index.
//!
//! Since an entry is committed only once a quorum has synced it, one crash never loses a
//! committed write; what it can lose is an entry not yet acknowledged, which the client sees as
//! a failed (and safely retried or aborted) request.

use crate::command::LogEntry;
use model::RangeId;
use std::collections::BTreeMap;

/// The durable log of one replica.
#[derive(Clone, Debug, Default)]
pub struct RangeLog {
    /// The span the range had when this replica was created (bootstrap or split); replay
    /// starts from an empty replica of it unless the parent's split entry provides the data.
    pub initial_span: model::Span,
    /// Entries; entry `i` (1-based index) is at position `i - 1`.
    pub entries: Vec<LogEntry>,
    /// How many entries are synced (survive a crash).
    pub synced: usize,
    /// Highest index known committed (never above `synced`).
    pub commit: u64,
    /// Highest lease epoch this replica has seen; appends from older epochs are refused.
    pub max_epoch: u64,
    /// For a replica added by rebalancing: the state it was given, as of its `applied` index
    /// (the entries up to there are kept too, for their indexes and epochs, but never replayed:
    /// the parent range's data a split carried is not in this range's log).
    pub snapshot: Option<crate::replica::Replica>,
}

impl RangeLog {
    /// Index of the last entry (0 if empty).
    pub fn last_index(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Epoch of the entry at `index` (0 for index 0).
    pub fn epoch_at(&self, index: u64) -> Option<u64> {
        if index == 0 {
            return Some(0);
        }
        self.entries.get(index as usize - 1).map(|e| e.epoch)
    }

    /// Drops entries after `index` (only ever uncommitted ones).
    pub fn truncate_after(&mut self, index: u64) {
        self.entries.truncate(index as usize);
        self.synced = self.synced.min(self.entries.len());
    }
}

/// The durable state of one node.
#[derive(Clone, Debug, Default)]
pub struct NodeDisk {
    /// One log per replica the node holds.
    pub logs: BTreeMap<RangeId, RangeLog>,
    /// How many times the node has started; part of every transaction id it issues.
    pub incarnation: u64,
}

impl NodeDisk {
    /// Applies the crash rule: keep each log's synced prefix only. Returns entries lost.
    pub fn crash(&mut self) -> usize {
        let mut lost = 0;
        for log in self.logs.values_mut() {
            lost += log.entries.len() - log.synced;
            log.entries.truncate(log.synced);
            log.commit = log.commit.min(log.synced as u64);
        }
        lost
    }
}
