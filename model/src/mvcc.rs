//! The multi-version key-value store: every write is a new version at a timestamp, deletes are
//! tombstones, and history is kept until garbage collection removes it.
//!
//! This is the engine of one replica (in the simulator) or of the whole in-process database. It
//! is deliberately plain: a `BTreeMap` of keys, each with a sorted vector of versions. It enforces the MVCC rules that
//! BACKUP depends on: no read or export at or below the GC threshold, no write under a newer
//! version, and no read past an unresolved write intent (a transaction's provisional write).
//! It knows nothing of replication, clocks or SQL.

use crate::key::{Key, Span};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;

/// A stored value; `None` in a version means a deletion tombstone.
pub type Value = Vec<u8>;

/// Identifies a transaction that owns write intents.
pub type TxnId = u64;

/// One version of a key as exported or ingested: `value: None` is a tombstone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    /// The key.
    pub key: Key,
    /// When the version was written.
    pub ts: Timestamp,
    /// The value, or `None` for a deletion. Serialized as bytes (see [`Key`]): a backup's
    /// data files are mostly these, and byte by byte their encoding and decoding was the
    /// largest part of BACKUP's and RESTORE's own time.
    #[serde(with = "serde_bytes")]
    pub value: Option<Value>,
}

/// Which versions an export returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MvccFilter {
    /// For each key, only the newest version in the window (a full backup omits deleted keys;
    /// an incremental keeps the tombstone so the deletion is restored).
    Latest,
    /// Every version in the window, tombstones included (revision history).
    AllRevisions,
}

/// A transaction's provisional write on a key, invisible until resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The owning transaction.
    pub txn: TxnId,
    /// The timestamp it will commit at.
    pub ts: Timestamp,
    /// The provisional value (`None` = delete).
    pub value: Option<Value>,
}

/// The result of an export.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// Versions in key order, newest first within a key.
    pub entries: Vec<Entry>,
    /// For a revision-history export from time zero: the earliest time the history really
    /// covers (the GC threshold). Zero otherwise.
    pub revision_start: Timestamp,
    /// Where the next page starts when the export stopped at its byte target; `None`: the
    /// span is done.
    #[serde(default)]
    pub resume: Option<Key>,
}

/// What a garbage collection pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Versions (values and tombstones) removed.
    pub versions_removed: usize,
}

/// Refusals of the MVCC rules. Texts follow CockroachDB's where it has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MvccError {
    /// A read, export or write at or below the GC threshold: the history it needs may be gone.
    #[error("batch timestamp {ts} must be after replica GC threshold {threshold}")]
    BelowGcThreshold { ts: Timestamp, threshold: Timestamp },
    /// An incremental or revision export starting at or below the GC threshold.
    #[error("start timestamp {ts} must be after replica GC threshold {threshold}")]
    StartBelowGcThreshold { ts: Timestamp, threshold: Timestamp },
    /// An unresolved intent at or below the read time: the reader must wait for its resolution.
    #[error("conflicting intent on {key} from txn {txn} at {ts}")]
    WriteIntent { key: Key, txn: TxnId, ts: Timestamp },
    /// A write below the newest existing version of its key.
    #[error("write at {ts} too old: {key} already has a version at {existing}")]
    WriteTooOld { key: Key, ts: Timestamp, existing: Timestamp },
    /// An export whose window is empty or inverted.
    #[error("invalid export window ({start}, {end}]")]
    BadWindow { start: Timestamp, end: Timestamp },
}

/// The versioned store. See the module doc for the rules it enforces.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MvccStore {
    /// Every key's versions, by timestamp.
    versions: BTreeMap<Key, Versions>,
    /// Unresolved intents, at most one per key.
    intents: BTreeMap<Key, Intent>,
    /// GC thresholds recorded per span: reads at or below the highest overlapping one fail.
    gc_thresholds: Vec<(Span, Timestamp)>,
}

impl MvccStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The GC threshold in force for `span`: the highest threshold recorded for any overlapping
    /// span (zero if none).
    pub fn gc_threshold(&self, span: &Span) -> Timestamp {
        self.gc_thresholds
            .iter()
            .filter(|(s, _)| s.overlaps(span) || (span.is_empty() && s.contains_key(&span.start)))
            .map(|(_, t)| *t)
            .max()
            .unwrap_or(Timestamp::ZERO)
    }

    fn check_read(&self, span: &Span, ts: Timestamp) -> Result<(), MvccError> {
        let threshold = self.gc_threshold(span);
        if !threshold.is_zero() && ts <= threshold {
            return Err(MvccError::BelowGcThreshold { ts, threshold });
        }
        if let Some((key, intent)) = self.intents_in(span).into_iter().find(|(_, i)| i.ts <= ts) {
            return Err(MvccError::WriteIntent { key, txn: intent.txn, ts: intent.ts });
        }
        Ok(())
    }

    fn check_write(&self, key: &Key, ts: Timestamp, txn: Option<TxnId>) -> Result<(), MvccError> {
        let point = Span::new(key.clone(), key.next());
        let threshold = self.gc_threshold(&point);
        if !threshold.is_zero() && ts <= threshold {
            return Err(MvccError::BelowGcThreshold { ts, threshold });
        }
        if let Some(intent) = self.intents.get(key) {
            if Some(intent.txn) != txn {
                return Err(MvccError::WriteIntent { key: key.clone(), txn: intent.txn, ts: intent.ts });
            }
        }
        if let Some(existing) = self.newest_ts(key) {
            if existing >= ts {
                return Err(MvccError::WriteTooOld { key: key.clone(), ts, existing });
            }
        }
        Ok(())
    }

    /// The timestamp of the newest committed version of `key` (tombstones included).
    pub fn newest_ts(&self, key: &Key) -> Option<Timestamp> {
        self.versions.get(key).and_then(Versions::newest_ts)
    }

    /// Writes a committed version (or a tombstone when `value` is `None`) at `ts`.
    pub fn put(&mut self, key: Key, ts: Timestamp, value: Option<Value>) -> Result<(), MvccError> {
        self.check_write(&key, ts, None)?;
        self.versions.entry(key).or_default().insert(ts, value);
        Ok(())
    }

    /// Lays down a provisional write for `txn`; replaces that transaction's earlier intent.
    pub fn put_intent(&mut self, key: Key, intent: Intent) -> Result<(), MvccError> {
        self.check_write(&key, intent.ts, Some(intent.txn))?;
        self.intents.insert(key, intent);
        Ok(())
    }

    /// Resolves `txn`'s intent on `key`: committed intents become versions, aborted ones vanish.
    /// Returns false if there was no such intent (already resolved, or never laid down).
    pub fn resolve_intent(&mut self, key: &Key, txn: TxnId, commit: bool) -> bool {
        match self.intents.get(key) {
            Some(i) if i.txn == txn => {}
            _ => return false,
        }
        let intent = self.intents.remove(key).expect("checked above");
        if commit {
            self.versions.entry(key.clone()).or_default().insert(intent.ts, intent.value);
        }
        true
    }

    /// Unresolved intents in `span`, in key order.
    pub fn intents_in(&self, span: &Span) -> Vec<(Key, Intent)> {
        if span.is_empty() {
            return Vec::new();
        }
        self.intents.range((Bound::Included(&span.start), Bound::Excluded(&span.end))).map(|(k, i)| (k.clone(), i.clone())).collect()
    }

    /// The value of `key` as of `ts` (`None` if absent or deleted).
    pub fn get(&self, key: &Key, ts: Timestamp) -> Result<Option<Value>, MvccError> {
        self.check_read(&Span::new(key.clone(), key.next()), ts)?;
        Ok(self.visible(key, ts))
    }

    fn visible(&self, key: &Key, ts: Timestamp) -> Option<Value> {
        self.versions.get(key)?.at_or_below(ts).and_then(|(_, v)| v.clone())
    }

    /// Every live key in `span` with its value as of `ts`, in key order.
    pub fn scan(&self, span: &Span, ts: Timestamp) -> Result<Vec<(Key, Value)>, MvccError> {
        self.check_read(span, ts)?;
        Ok(self.keys_in(span).filter_map(|(k, vs)| vs.at_or_below(ts).and_then(|(_, v)| v.clone()).map(|v| (k.clone(), v))).collect())
    }

    fn keys_in<'a>(&'a self, span: &Span) -> impl Iterator<Item = (&'a Key, &'a Versions)> + 'a {
        let range = if span.is_empty() { None } else { Some(self.versions.range((Bound::Included(span.start.clone()), Bound::Excluded(span.end.clone())))) };
        range.into_iter().flatten()
    }

    /// The versions of `span` in the window `(start, end]`, filtered as `filter` says.
    ///
    /// With `start` zero and [`MvccFilter::Latest`] this is a full backup's export: the newest
    /// live value of each key at `end`, tombstones omitted. With `start` above zero the window's
    /// tombstones are kept, since an incremental must restore deletions. A window that starts
    /// above zero must start after the GC threshold, or deletions in it may already be gone.
    pub fn export(&self, span: &Span, start: Timestamp, end: Timestamp, filter: MvccFilter) -> Result<Export, MvccError> {
        self.export_paged(span, start, end, filter, 0)
    }

    /// As [`MvccStore::export`], stopping once the entries reach `target_bytes` of keys and
    /// values (0: no limit) — always after a whole key, so a key's revisions stay together —
    /// with [`Export::resume`] set to the next key.
    pub fn export_paged(&self, span: &Span, start: Timestamp, end: Timestamp, filter: MvccFilter, target_bytes: u64) -> Result<Export, MvccError> {
        if start >= end {
            return Err(MvccError::BadWindow { start, end });
        }
        self.check_read(span, end)?;
        let threshold = self.gc_threshold(span);
        if !start.is_zero() && !threshold.is_zero() && start <= threshold {
            return Err(MvccError::StartBelowGcThreshold { ts: start, threshold });
        }
        let mut entries = Vec::new();
        let mut bytes = 0u64;
        let mut resume = None;
        for (k, vs) in self.keys_in(span) {
            if target_bytes > 0 && bytes >= target_bytes {
                resume = Some(k.clone());
                break;
            }
            let before = entries.len();
            let window = vs.window(start, end).iter();
            match filter {
                MvccFilter::Latest => {
                    if let Some((ts, v)) = window.last() {
                        if v.is_some() || !start.is_zero() {
                            entries.push(Entry { key: k.clone(), ts: *ts, value: v.clone() });
                        }
                    }
                }
                MvccFilter::AllRevisions => {
                    for (ts, v) in window.rev() {
                        entries.push(Entry { key: k.clone(), ts: *ts, value: v.clone() });
                    }
                }
            }
            bytes += entries[before..].iter().map(|e| (e.key.0.len() + e.value.as_ref().map_or(0, |v| v.len())) as u64).sum::<u64>();
        }
        let revision_start = if filter == MvccFilter::AllRevisions && start.is_zero() { threshold } else { Timestamp::ZERO };
        Ok(Export { entries, revision_start, resume })
    }

    /// Writes versions exactly as given (the AddSSTable of restore and of replica snapshots).
    /// An existing version at the same key and timestamp is replaced.
    pub fn ingest(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for e in entries {
            self.versions.entry(e.key).or_default().insert(e.ts, e.value);
        }
    }

    /// Garbage-collects `span` up to `threshold`: for each key, versions at or below it are
    /// dropped except the newest one, which is kept unless it is a tombstone. Reads at or below
    /// `threshold` fail afterwards. A threshold at or below the one every key of the span already
    /// has changes nothing.
    pub fn gc(&mut self, span: &Span, threshold: Timestamp) -> GcStats {
        let mut stats = GcStats::default();
        // Nothing to do only if every key of the span already has a threshold at or above this
        // one, i.e. spans recorded with such thresholds cover it.
        let done: Vec<Span> = self.gc_thresholds.iter().filter(|(_, t)| *t >= threshold).map(|(s, _)| s.clone()).collect();
        if span.is_empty() || span.subtract(&done).is_empty() {
            return stats;
        }
        // One pass, in place: most keys have a single version at or below the threshold and
        // are left untouched without copying anything.
        let mut emptied: Vec<Key> = Vec::new();
        for (k, vs) in self.versions.range_mut((Bound::Included(span.start.clone()), Bound::Excluded(span.end.clone()))) {
            stats.versions_removed += vs.gc(threshold);
            if vs.is_empty() {
                emptied.push(k.clone());
            }
        }
        for k in emptied {
            self.versions.remove(&k);
        }
        self.record_threshold(span.clone(), threshold);
        stats
    }

    fn record_threshold(&mut self, span: Span, threshold: Timestamp) {
        if let Some(entry) = self.gc_thresholds.iter_mut().find(|(s, _)| *s == span) {
            entry.1 = entry.1.max(threshold);
        } else {
            self.gc_thresholds.push((span, threshold));
            self.gc_thresholds.sort();
        }
    }

    /// Moves every key at or after `at` (versions, intents, thresholds) into a new store: the
    /// data half of a range split.
    pub fn split_off(&mut self, at: &Key) -> MvccStore {
        let versions = self.versions.split_off(at);
        let intents = self.intents.split_off(at);
        let gc_thresholds = self.gc_thresholds.iter().filter_map(|(s, t)| s.split_at(at).1.map(|r| (r, *t))).collect();
        for entry in &mut self.gc_thresholds {
            if let (Some(left), _) = entry.0.split_at(at) {
                entry.0 = left;
            }
        }
        self.gc_thresholds.retain(|(s, _)| s.start < *at);
        MvccStore { versions, intents, gc_thresholds }
    }

    /// Every version in the store, key order then newest first: for snapshots and fingerprints.
    pub fn all_versions(&self) -> impl Iterator<Item = Entry> + '_ {
        self.versions.iter().flat_map(|(k, vs)| vs.iter().rev().map(move |(t, v)| Entry { key: k.clone(), ts: *t, value: v.clone() }))
    }

    /// All recorded GC thresholds (span, threshold), for snapshots.
    pub fn gc_thresholds(&self) -> &[(Span, Timestamp)] {
        &self.gc_thresholds
    }

    /// Records a GC threshold without collecting (used when rebuilding a replica from a snapshot).
    pub fn set_gc_threshold(&mut self, span: Span, threshold: Timestamp) {
        self.record_threshold(span, threshold);
    }

    /// The distinct keys stored, in order, borrowed: what a split queue needs without copying
    /// every version.
    pub fn keys(&self) -> impl Iterator<Item = &Key> + '_ {
        self.versions.keys()
    }

    /// Number of distinct keys stored.
    pub fn key_count(&self) -> usize {
        self.versions.len()
    }

    /// Approximate size in bytes of every version (key, value and 12 bytes of timestamp each),
    /// the measure a split queue compares with its range size limit.
    pub fn approx_bytes(&self) -> usize {
        self.versions.iter().map(|(k, vs)| vs.iter().map(|(_, v)| k.0.len() + v.as_ref().map_or(0, |v| v.len()) + 12).sum::<usize>()).sum()
    }

    /// Number of versions stored.
    pub fn version_count(&self) -> usize {
        self.versions.values().map(|v| v.len()).sum()
    }
}

/// One key's versions, oldest first. Most keys hold one to three versions, and a `BTreeMap` per
/// key cost a whole B-tree node allocation each (the bulk ingest of a 10,000-row table into six
/// replicas was dominated by it); a sorted vector holds them in one small allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions(Vec<(Timestamp, Option<Value>)>);

impl Versions {
    /// Adds the version at `ts`, replacing one already there.
    fn insert(&mut self, ts: Timestamp, value: Option<Value>) {
        match self.0.last() {
            Some((last, _)) if *last < ts => self.0.push((ts, value)),
            None => self.0.push((ts, value)),
            _ => match self.0.binary_search_by(|(t, _)| t.cmp(&ts)) {
                Ok(i) => self.0[i].1 = value,
                Err(i) => self.0.insert(i, (ts, value)),
            },
        }
    }

    /// The newest version's timestamp.
    fn newest_ts(&self) -> Option<Timestamp> {
        self.0.last().map(|(t, _)| *t)
    }

    /// The newest version at or below `ts`.
    fn at_or_below(&self, ts: Timestamp) -> Option<&(Timestamp, Option<Value>)> {
        let end = self.0.partition_point(|(t, _)| *t <= ts);
        end.checked_sub(1).map(|i| &self.0[i])
    }

    /// The versions in `(start, end]`, oldest first.
    fn window(&self, start: Timestamp, end: Timestamp) -> &[(Timestamp, Option<Value>)] {
        let lo = self.0.partition_point(|(t, _)| *t <= start);
        let hi = self.0.partition_point(|(t, _)| *t <= end).max(lo);
        &self.0[lo..hi]
    }

    /// Every version, oldest first.
    fn iter(&self) -> impl DoubleEndedIterator<Item = &(Timestamp, Option<Value>)> + '_ {
        self.0.iter()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Drops the versions at or below `threshold` except the newest of them, and that one too
    /// if it is a tombstone; returns how many were dropped.
    fn gc(&mut self, threshold: Timestamp) -> usize {
        let below = self.0.partition_point(|(t, _)| *t <= threshold);
        if below == 0 {
            return 0;
        }
        let newest = below - 1;
        let drop_newest = self.0[newest].1.is_none();
        let removed = if drop_newest { below } else { newest };
        self.0.drain(..removed);
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key(s.as_bytes().to_vec())
    }
    fn t(w: u64) -> Timestamp {
        Timestamp::from_nanos(w)
    }
    fn all() -> Span {
        Span::new(k(""), k("~"))
    }

    #[test]
    fn reads_see_history() {
        let mut s = MvccStore::new();
        s.put(k("a"), t(10), Some(b"1".to_vec())).unwrap();
        s.put(k("a"), t(20), None).unwrap();
        s.put(k("a"), t(30), Some(b"3".to_vec())).unwrap();
        assert_eq!(s.get(&k("a"), t(5)).unwrap(), None);
        assert_eq!(s.get(&k("a"), t(15)).unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.get(&k("a"), t(25)).unwrap(), None);
        assert_eq!(s.scan(&all(), t(30)).unwrap(), vec![(k("a"), b"3".to_vec())]);
        assert!(matches!(s.put(k("a"), t(30), None), Err(MvccError::WriteTooOld { .. })));
    }

    #[test]
    fn export_windows() {
        let mut s = MvccStore::new();
        s.put(k("a"), t(10), Some(b"1".to_vec())).unwrap();
        s.put(k("b"), t(10), Some(b"1".to_vec())).unwrap();
        s.put(k("b"), t(20), None).unwrap();
        s.put(k("a"), t(30), Some(b"2".to_vec())).unwrap();
        let full = s.export(&all(), t(0), t(25), MvccFilter::Latest).unwrap();
        assert_eq!(full.entries, vec![Entry { key: k("a"), ts: t(10), value: Some(b"1".to_vec()) }]);
        let inc = s.export(&all(), t(15), t(30), MvccFilter::Latest).unwrap();
        assert_eq!(inc.entries.len(), 2, "incremental keeps the tombstone of b: {inc:?}");
        let revs = s.export(&all(), t(0), t(30), MvccFilter::AllRevisions).unwrap();
        assert_eq!(revs.entries.len(), 4);
    }

    #[test]
    fn gc_keeps_newest_and_refuses_old_reads() {
        let mut s = MvccStore::new();
        s.put(k("a"), t(10), Some(b"1".to_vec())).unwrap();
        s.put(k("a"), t(20), Some(b"2".to_vec())).unwrap();
        s.put(k("b"), t(10), Some(b"1".to_vec())).unwrap();
        s.put(k("b"), t(20), None).unwrap();
        let stats = s.gc(&all(), t(25));
        assert_eq!(stats.versions_removed, 3);
        assert_eq!(s.get(&k("a"), t(26)).unwrap(), Some(b"2".to_vec()));
        let err = s.get(&k("a"), t(25)).unwrap_err();
        assert_eq!(err.to_string(), "batch timestamp 25.0000000000 must be after replica GC threshold 25.0000000000");
        assert!(matches!(s.export(&all(), t(20), t(30), MvccFilter::Latest), Err(MvccError::StartBelowGcThreshold { .. })));
    }

    #[test]
    fn intents_block_reads_below_them_only() {
        let mut s = MvccStore::new();
        s.put(k("a"), t(10), Some(b"1".to_vec())).unwrap();
        s.put_intent(k("a"), Intent { txn: 7, ts: t(20), value: Some(b"2".to_vec()) }).unwrap();
        assert_eq!(s.get(&k("a"), t(15)).unwrap(), Some(b"1".to_vec()));
        assert!(matches!(s.get(&k("a"), t(20)), Err(MvccError::WriteIntent { txn: 7, .. })));
        assert!(matches!(s.put_intent(k("a"), Intent { txn: 8, ts: t(30), value: None }), Err(MvccError::WriteIntent { .. })));
        assert!(s.resolve_intent(&k("a"), 7, true));
        assert_eq!(s.get(&k("a"), t(20)).unwrap(), Some(b"2".to_vec()));
        assert!(!s.resolve_intent(&k("a"), 7, true));
    }

    #[test]
    fn split_moves_the_right_half() {
        let mut s = MvccStore::new();
        s.put(k("a"), t(10), Some(b"1".to_vec())).unwrap();
        s.put(k("m"), t(10), Some(b"1".to_vec())).unwrap();
        s.gc(&all(), t(5));
        let right = s.split_off(&k("h"));
        assert_eq!(s.version_count(), 1);
        assert_eq!(right.version_count(), 1);
        assert_eq!(right.gc_threshold(&Span::new(k("h"), k("z"))), t(5));
        assert_eq!(s.gc_threshold(&Span::new(k("a"), k("b"))), t(5));
    }

    #[test]
    fn paged_exports_stop_at_key_boundaries_and_together_equal_the_whole() {
        let mut s = MvccStore::new();
        for i in 0..50u32 {
            for v in 0..3u64 {
                s.put(k(&format!("k{i:03}")), t(10 + v), Some(vec![b'x'; 10])).unwrap();
            }
        }
        for filter in [MvccFilter::Latest, MvccFilter::AllRevisions] {
            let whole = s.export(&all(), t(0), t(30), filter).unwrap();
            assert!(whole.resume.is_none());
            let mut pages = Vec::new();
            let mut span = all();
            loop {
                let page = s.export_paged(&span, t(0), t(30), filter, 100).unwrap();
                assert!(!page.entries.is_empty(), "a page is never empty while keys remain");
                // A key's revisions never straddle two pages.
                if let Some(next) = &page.resume {
                    assert!(page.entries.iter().all(|e| e.key < *next));
                }
                pages.extend(page.entries);
                match page.resume {
                    Some(next) => span = Span::new(next, span.end.clone()),
                    None => break,
                }
            }
            assert_eq!(pages, whole.entries, "{filter:?}");
        }
    }
}
