//! Differential property test of `model::mvcc::MvccStore` against a naive reference model.
//!
//! The reference shares no code with `mvcc.rs` (nor with `Span`'s methods): it is a flat list of
//! committed writes `(key, ts, value)`, a flat list of intents, and a GC threshold *per key* of
//! a small key universe, and it answers every request by brute force from the rules in
//! `mvcc.rs`'s doc comments:
//!
//! * reads and exports at or below the GC threshold fail (`BelowGcThreshold`), then the first
//!   intent in key order at or below the read time fails them (`WriteIntent`);
//! * writes at or below the threshold fail, then a foreign intent, then a version at or above the
//!   write time (`WriteTooOld`);
//! * the export window is `(start, end]`; `Latest` keeps each key's newest version in the window
//!   but drops tombstones when `start` is zero; a nonzero `start` at or below the threshold fails
//!   with `StartBelowGcThreshold`; `AllRevisions` from zero reports the threshold as
//!   `revision_start`;
//! * GC of a span at `T` drops, per key, the versions at or below `T` except the newest, which is
//!   kept unless it is a tombstone, and raises every key's threshold to `T`; when every key of
//!   the span already has a threshold at or above `T` it changes nothing.
//!
//! The threshold of a span is the highest threshold of a key in it; of an empty span, that of
//! its start key. All keys and span endpoints come from the universe (every key of length <= 2
//! over {0x00, 0x61, 0xff}), and every recorded threshold span has endpoints in it too, so a
//! per-key model over the universe is exact: two such spans share a key iff they share a
//! universe key.
//!
//! Random sequences of puts, deletes, gets, scans, exports (Latest/AllRevisions, start zero or
//! not), GCs, `set_gc_threshold`s, intents, commits and aborts, and splits (continuing on either
//! half) run against both; every result must be equal, errors included, and the whole visible
//! state (all versions, every key's threshold, all intents) is compared after every step.
//! Timestamps drift forward along the sequence; writes are never at timestamp zero (an export
//! window `(0, end]` cannot return such a version; see the report).

use model::{Entry, Export, GcStats, Intent, Key, MvccError, MvccFilter, MvccStore, Span, Timestamp, TxnId, Value};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))), ..ProptestConfig::default() }
}

const ALPHABET: [u8; 3] = [0x00, 0x61, 0xff];

/// Every key of length <= 2 over the alphabet, sorted: 13 keys, the empty key included.
fn universe() -> Vec<Key> {
    let mut keys = vec![Key(vec![])];
    for &a in &ALPHABET {
        keys.push(Key(vec![a]));
        for &b in &ALPHABET {
            keys.push(Key(vec![a, b]));
        }
    }
    keys.sort();
    keys
}

// ---------------------------------------------------------------------------------------------
// The reference model.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Model {
    /// Committed versions, in no particular order; at most one per (key, ts).
    writes: Vec<(Key, Timestamp, Option<Value>)>,
    /// Unresolved intents: (key, txn, ts, value), at most one per key.
    intents: Vec<(Key, TxnId, Timestamp, Option<Value>)>,
    /// The GC threshold of every universe key.
    thresholds: Vec<(Key, Timestamp)>,
}

fn in_span(k: &Key, start: &Key, end: &Key) -> bool {
    start.0 <= k.0 && k.0 < end.0
}

impl Model {
    fn new() -> Self {
        Model { writes: vec![], intents: vec![], thresholds: universe().into_iter().map(|k| (k, Timestamp::ZERO)).collect() }
    }

    fn key_threshold(&self, k: &Key) -> Timestamp {
        self.thresholds.iter().find(|(u, _)| u == k).map(|(_, t)| *t).expect("keys come from the universe")
    }

    fn span_threshold(&self, start: &Key, end: &Key) -> Timestamp {
        if start.0 >= end.0 {
            return self.key_threshold(start);
        }
        self.thresholds.iter().filter(|(k, _)| in_span(k, start, end)).map(|(_, t)| *t).max().unwrap_or(Timestamp::ZERO)
    }

    fn intents_in(&self, start: &Key, end: &Key) -> Vec<(Key, Intent)> {
        let mut v: Vec<(Key, Intent)> = self
            .intents
            .iter()
            .filter(|(k, ..)| in_span(k, start, end))
            .map(|(k, txn, ts, value)| (k.clone(), Intent { txn: *txn, ts: *ts, value: value.clone() }))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// `threshold` is the span's threshold; `intents` the intents the read covers, in key order.
    fn check_read(&self, threshold: Timestamp, intents: Vec<(Key, Intent)>, ts: Timestamp) -> Result<(), MvccError> {
        if threshold != Timestamp::ZERO && ts <= threshold {
            return Err(MvccError::BelowGcThreshold { ts, threshold });
        }
        for (key, i) in intents {
            if i.ts <= ts {
                return Err(MvccError::WriteIntent { key, txn: i.txn, ts: i.ts });
            }
        }
        Ok(())
    }

    fn check_write(&self, key: &Key, ts: Timestamp, txn: Option<TxnId>) -> Result<(), MvccError> {
        let threshold = self.key_threshold(key);
        if threshold != Timestamp::ZERO && ts <= threshold {
            return Err(MvccError::BelowGcThreshold { ts, threshold });
        }
        if let Some((_, itxn, its, _)) = self.intents.iter().find(|(k, ..)| k == key) {
            if Some(*itxn) != txn {
                return Err(MvccError::WriteIntent { key: key.clone(), txn: *itxn, ts: *its });
            }
        }
        if let Some(existing) = self.writes.iter().filter(|(k, ..)| k == key).map(|(_, t, _)| *t).max() {
            if existing >= ts {
                return Err(MvccError::WriteTooOld { key: key.clone(), ts, existing });
            }
        }
        Ok(())
    }

    fn insert(&mut self, key: Key, ts: Timestamp, value: Option<Value>) {
        self.writes.retain(|(k, t, _)| !(*k == key && *t == ts));
        self.writes.push((key, ts, value));
    }

    fn put(&mut self, key: Key, ts: Timestamp, value: Option<Value>) -> Result<(), MvccError> {
        self.check_write(&key, ts, None)?;
        self.insert(key, ts, value);
        Ok(())
    }

    fn put_intent(&mut self, key: Key, txn: TxnId, ts: Timestamp, value: Option<Value>) -> Result<(), MvccError> {
        self.check_write(&key, ts, Some(txn))?;
        self.intents.retain(|(k, ..)| *k != key);
        self.intents.push((key, txn, ts, value));
        Ok(())
    }

    fn resolve(&mut self, key: &Key, txn: TxnId, commit: bool) -> bool {
        let Some(pos) = self.intents.iter().position(|(k, t, ..)| k == key && *t == txn) else {
            return false;
        };
        let (k, _, ts, value) = self.intents.remove(pos);
        if commit {
            self.insert(k, ts, value);
        }
        true
    }

    /// The value of `key` as of `ts`, without checks.
    fn visible(&self, key: &Key, ts: Timestamp) -> Option<Value> {
        self.writes.iter().filter(|(k, t, _)| k == key && *t <= ts).max_by_key(|(_, t, _)| *t).and_then(|(_, _, v)| v.clone())
    }

    fn keys_in(&self, start: &Key, end: &Key) -> Vec<Key> {
        let mut keys: Vec<Key> = self.writes.iter().filter(|(k, ..)| in_span(k, start, end)).map(|(k, ..)| k.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn get(&self, key: &Key, ts: Timestamp) -> Result<Option<Value>, MvccError> {
        let intents = self.intents_in(key, &key.next()).into_iter().filter(|(k, _)| k == key).collect();
        self.check_read(self.key_threshold(key), intents, ts)?;
        Ok(self.visible(key, ts))
    }

    fn scan(&self, start: &Key, end: &Key, ts: Timestamp) -> Result<Vec<(Key, Value)>, MvccError> {
        self.check_read(self.span_threshold(start, end), self.intents_in(start, end), ts)?;
        Ok(self.keys_in(start, end).into_iter().filter_map(|k| self.visible(&k, ts).map(|v| (k, v))).collect())
    }

    fn export(&self, start_key: &Key, end_key: &Key, start: Timestamp, end: Timestamp, filter: MvccFilter) -> Result<Export, MvccError> {
        if start >= end {
            return Err(MvccError::BadWindow { start, end });
        }
        let threshold = self.span_threshold(start_key, end_key);
        self.check_read(threshold, self.intents_in(start_key, end_key), end)?;
        if start != Timestamp::ZERO && threshold != Timestamp::ZERO && start <= threshold {
            return Err(MvccError::StartBelowGcThreshold { ts: start, threshold });
        }
        let mut entries = vec![];
        for k in self.keys_in(start_key, end_key) {
            let mut window: Vec<Entry> = self
                .writes
                .iter()
                .filter(|(wk, t, _)| *wk == k && start < *t && *t <= end)
                .map(|(wk, t, v)| Entry { key: wk.clone(), ts: *t, value: v.clone() })
                .collect();
            window.sort_by_key(|e| std::cmp::Reverse(e.ts));
            match filter {
                MvccFilter::AllRevisions => entries.extend(window),
                MvccFilter::Latest => {
                    if let Some(newest) = window.into_iter().next() {
                        if newest.value.is_some() || start != Timestamp::ZERO {
                            entries.push(newest);
                        }
                    }
                }
            }
        }
        let revision_start = if filter == MvccFilter::AllRevisions && start == Timestamp::ZERO { threshold } else { Timestamp::ZERO };
        Ok(Export { entries, revision_start, resume: None })
    }

    fn gc(&mut self, start: &Key, end: &Key, threshold: Timestamp) -> GcStats {
        let mut stats = GcStats::default();
        let span_keys: Vec<Key> = self.thresholds.iter().filter(|(k, _)| in_span(k, start, end)).map(|(k, _)| k.clone()).collect();
        if span_keys.iter().all(|k| self.key_threshold(k) >= threshold) {
            return stats; // also the empty span: nothing to collect.
        }
        for k in &span_keys {
            let newest_old = self.writes.iter().filter(|(wk, t, _)| wk == k && *t <= threshold).map(|(_, t, _)| *t).max();
            let Some(newest_old) = newest_old else { continue };
            let before = self.writes.len();
            self.writes.retain(|(wk, t, v)| !(wk == k && *t <= threshold && (*t < newest_old || v.is_none())));
            stats.versions_removed += before - self.writes.len();
        }
        for (k, t) in &mut self.thresholds {
            if in_span(k, start, end) && *t < threshold {
                *t = threshold;
            }
        }
        stats
    }

    fn set_threshold(&mut self, start: &Key, end: &Key, threshold: Timestamp) {
        for (k, t) in &mut self.thresholds {
            if in_span(k, start, end) && *t < threshold {
                *t = threshold;
            }
        }
    }

    /// Splits at `at`, returning the right half; `self` keeps the left half.
    fn split_off(&mut self, at: &Key) -> Model {
        let mut right = Model::new();
        right.writes = self.writes.iter().filter(|(k, ..)| k.0 >= at.0).cloned().collect();
        self.writes.retain(|(k, ..)| k.0 < at.0);
        right.intents = self.intents.iter().filter(|(k, ..)| k.0 >= at.0).cloned().collect();
        self.intents.retain(|(k, ..)| k.0 < at.0);
        for ((k, left_t), (_, right_t)) in self.thresholds.iter_mut().zip(right.thresholds.iter_mut()) {
            if k.0 >= at.0 {
                *right_t = *left_t;
                *left_t = Timestamp::ZERO;
            }
        }
        right
    }

    /// All versions, key order then newest first (as `MvccStore::all_versions`).
    fn all_versions(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.writes.iter().map(|(k, t, val)| Entry { key: k.clone(), ts: *t, value: val.clone() }).collect();
        v.sort_by(|a, b| a.key.cmp(&b.key).then(b.ts.cmp(&a.ts)));
        v
    }
}

// ---------------------------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Put(Key, Timestamp, Option<Value>),
    Get(Key, Timestamp),
    Scan(Key, Key, Timestamp),
    Export(Key, Key, Timestamp, Timestamp, MvccFilter),
    Gc(Key, Key, Timestamp),
    PutIntent(Key, TxnId, Timestamp, Option<Value>),
    Resolve(Key, TxnId, bool),
    /// Resolves (commit or abort) the n-th outstanding intent, if any, by its key and txn.
    ResolveNth(prop::sample::Index, bool),
    Split(Key, bool),
    /// `set_gc_threshold`: records a threshold without collecting.
    SetThreshold(Key, Key, Timestamp),
    Query(Key, Key),
}

/// A data key: mostly one of a few hot keys, so that keys collect histories.
fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        3 => prop::sample::select(vec![Key(vec![0x61]), Key(vec![0x61, 0x00]), Key(vec![0x61, 0x61]), Key(vec![0xff])]),
        1 => prop::sample::select(universe()),
    ]
}

/// A span over the universe: mostly well-formed, sometimes empty or inverted.
fn span() -> impl Strategy<Value = (Key, Key)> {
    let end = || prop::sample::select(universe());
    prop_oneof![
        1 => (end(), end()),
        4 => (end(), end()).prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) }),
        1 => Just((Key::MIN, Key(vec![0xff, 0xff]))),
    ]
}

// Timestamps are generated small and then shifted forward by the op's position in the sequence
// (see `ops`), so that time mostly moves on as in a real store while writes can still come in
// too old, reads can look into the past and GC thresholds can lag behind or run ahead.

/// A nonzero timestamp: the write times. (Versions at timestamp zero are left out: see the
/// report; an export window `(0, end]` can never return them.)
fn write_ts() -> impl Strategy<Value = Timestamp> {
    (1u64..=4, 0u32..=1).prop_map(|(wall, logical)| Timestamp { wall, logical })
}

/// Read and export times: zero too.
fn ts() -> impl Strategy<Value = Timestamp> {
    prop_oneof![6 => (0u64..=5, 0u32..=1).prop_map(|(wall, logical)| Timestamp { wall, logical }), 1 => Just(Timestamp::ZERO)]
}

/// GC thresholds: zero too, and mostly behind the writes.
fn gc_ts() -> impl Strategy<Value = Timestamp> {
    prop_oneof![6 => (0u64..=2, 0u32..=1).prop_map(|(wall, logical)| Timestamp { wall, logical }), 1 => Just(Timestamp::ZERO)]
}

fn shift(t: Timestamp, by: u64) -> Timestamp {
    if t.is_zero() {
        t
    } else {
        Timestamp { wall: t.wall + by, logical: t.logical }
    }
}

impl Op {
    fn shifted(self, by: u64) -> Op {
        match self {
            Op::Put(k, t, v) => Op::Put(k, shift(t, by), v),
            Op::Get(k, t) => Op::Get(k, shift(t, by)),
            Op::Scan(a, b, t) => Op::Scan(a, b, shift(t, by)),
            Op::Export(a, b, s, e, f) => Op::Export(a, b, shift(s, by), shift(e, by), f),
            Op::Gc(a, b, t) => Op::Gc(a, b, shift(t, by)),
            Op::SetThreshold(a, b, t) => Op::SetThreshold(a, b, shift(t, by)),
            Op::PutIntent(k, x, t, v) => Op::PutIntent(k, x, shift(t, by), v),
            op @ (Op::Resolve(..) | Op::ResolveNth(..) | Op::Split(..) | Op::Query(..)) => op,
        }
    }
}

/// A sequence of operations; the i-th one's timestamps are moved forward by i / 4.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..64).prop_map(|ops| ops.into_iter().enumerate().map(|(i, op)| op.shifted(i as u64 / 4)).collect())
}

/// An export window: start zero half the time, mostly start < end, sometimes inverted or empty.
fn window() -> impl Strategy<Value = (Timestamp, Timestamp)> {
    prop_oneof![
        2 => ts().prop_map(|e| (Timestamp::ZERO, e)),
        2 => (ts(), ts()).prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) }),
        1 => (ts(), ts()),
    ]
}

fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![3 => (0u8..3).prop_map(|b| Some(vec![b])), 1 => Just(None)]
}

fn filter() -> impl Strategy<Value = MvccFilter> {
    prop::sample::select(vec![MvccFilter::Latest, MvccFilter::AllRevisions])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (key(), write_ts(), value()).prop_map(|(k, t, v)| Op::Put(k, t, v)),
        4 => (key(), ts()).prop_map(|(k, t)| Op::Get(k, t)),
        2 => (span(), ts()).prop_map(|((a, b), t)| Op::Scan(a, b, t)),
        6 => (span(), window(), filter()).prop_map(|((a, b), (s, e), f)| Op::Export(a, b, s, e, f)),
        2 => (span(), gc_ts()).prop_map(|((a, b), t)| Op::Gc(a, b, t)),
        3 => (key(), 1u64..=3, write_ts(), value()).prop_map(|(k, x, t, v)| Op::PutIntent(k, x, t, v)),
        1 => (key(), 1u64..=3, any::<bool>()).prop_map(|(k, x, c)| Op::Resolve(k, x, c)),
        3 => (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(i, c)| Op::ResolveNth(i, c)),
        1 => (key(), any::<bool>()).prop_map(|(k, r)| Op::Split(k, r)),
        1 => (span(), gc_ts()).prop_map(|((a, b), t)| Op::SetThreshold(a, b, t)),
        1 => span().prop_map(|(a, b)| Op::Query(a, b)),
    ]
}

/// Runs `ops` against both, checking every answer and the whole state after each step.
fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut store = MvccStore::new();
    let mut model = Model::new();
    let keys = universe();
    for (step, op) in ops.iter().enumerate() {
        match op.clone() {
            Op::Put(k, t, v) => {
                prop_assert_eq!(store.put(k.clone(), t, v.clone()), model.put(k, t, v), "step {}: {:?}", step, op);
            }
            Op::Get(k, t) => {
                prop_assert_eq!(store.get(&k, t), model.get(&k, t), "step {}: {:?}", step, op);
            }
            Op::Scan(a, b, t) => {
                let span = Span { start: a.clone(), end: b.clone() };
                prop_assert_eq!(store.scan(&span, t), model.scan(&a, &b, t), "step {}: {:?}", step, op);
            }
            Op::Export(a, b, s, e, f) => {
                let span = Span { start: a.clone(), end: b.clone() };
                prop_assert_eq!(store.export(&span, s, e, f), model.export(&a, &b, s, e, f), "step {}: {:?}", step, op);
            }
            Op::Gc(a, b, t) => {
                let span = Span { start: a.clone(), end: b.clone() };
                prop_assert_eq!(store.gc(&span, t), model.gc(&a, &b, t), "step {}: {:?}", step, op);
            }
            Op::PutIntent(k, txn, t, v) => {
                let got = store.put_intent(k.clone(), Intent { txn, ts: t, value: v.clone() });
                prop_assert_eq!(got, model.put_intent(k, txn, t, v), "step {}: {:?}", step, op);
            }
            Op::Resolve(k, txn, commit) => {
                prop_assert_eq!(store.resolve_intent(&k, txn, commit), model.resolve(&k, txn, commit), "step {}: {:?}", step, op);
            }
            Op::ResolveNth(i, commit) => {
                let outstanding = model.intents_in(&Key::MIN, &Key(vec![0xff, 0xff, 0xff]));
                if !outstanding.is_empty() {
                    let (k, intent) = &outstanding[i.index(outstanding.len())];
                    let got = store.resolve_intent(k, intent.txn, commit);
                    prop_assert!(got, "step {}: {:?} on {:?}", step, op, k);
                    prop_assert!(model.resolve(k, intent.txn, commit));
                }
            }
            Op::SetThreshold(a, b, t) => {
                store.set_gc_threshold(Span { start: a.clone(), end: b.clone() }, t);
                model.set_threshold(&a, &b, t);
            }
            Op::Split(at, keep_right) => {
                let right_store = store.split_off(&at);
                let right_model = model.split_off(&at);
                if keep_right {
                    store = right_store;
                    model = right_model;
                }
            }
            Op::Query(a, b) => {
                let span = Span { start: a.clone(), end: b.clone() };
                prop_assert_eq!(store.gc_threshold(&span), model.span_threshold(&a, &b), "step {}: {:?}", step, op);
                prop_assert_eq!(store.intents_in(&span), model.intents_in(&a, &b), "step {}: {:?}", step, op);
                prop_assert_eq!(store.newest_ts(&a), model.writes.iter().filter(|(k, ..)| *k == a).map(|(_, t, _)| *t).max());
            }
        }
        // The whole state, after every step.
        prop_assert_eq!(store.all_versions().collect::<Vec<_>>(), model.all_versions(), "versions after step {}: {:?}", step, op);
        prop_assert_eq!(store.version_count(), model.writes.len());
        for k in &keys {
            let point = Span { start: k.clone(), end: k.next() };
            prop_assert_eq!(store.gc_threshold(&point), model.key_threshold(k), "threshold of {:?} after step {}: {:?}", k, step, op);
        }
        let everything = Span { start: Key::MIN, end: Key(vec![0xff, 0xff, 0xff]) };
        prop_assert_eq!(store.intents_in(&everything), model.intents_in(&everything.start, &everything.end), "intents after step {}: {:?}", step, op);
    }
    Ok(())
}

#[test]
fn gc_under_a_wider_lower_threshold_still_collects() {
    // Regression: `gc` returned early when the new threshold was at or below the *highest*
    // threshold of any overlapping recorded span and *some* recorded span contained the span,
    // even when that containing span's own threshold was lower. Here [a, z) is at 5 and [c, d) at
    // 20; GC of [b, e) at 10 did nothing, so `b` kept its version at 3 and reads of `b` at 8
    // still succeeded, although GC at 10 must make them fail.
    let k = |s: &str| Key(s.as_bytes().to_vec());
    let t = Timestamp::from_nanos;
    let mut s = MvccStore::new();
    s.put(k("b"), t(3), Some(b"x".to_vec())).unwrap();
    s.put(k("b"), t(7), Some(b"y".to_vec())).unwrap();
    s.gc(&Span::new(k("a"), k("z")), t(5));
    s.gc(&Span::new(k("c"), k("d")), t(20));
    assert_eq!(s.gc(&Span::new(k("b"), k("e")), t(10)), GcStats { versions_removed: 1 });
    assert_eq!(s.get(&k("b"), t(8)), Err(MvccError::BelowGcThreshold { ts: t(8), threshold: t(10) }));
    assert_eq!(s.get(&k("b"), t(11)), Ok(Some(b"y".to_vec())));
    assert_eq!(s.gc_threshold(&Span::new(k("b"), k("b\0"))), t(10));
    // The same from the proptest run that found it (spans [/Min, a) at 2, [/Min, aa) at 0).
    let mut s = MvccStore::new();
    s.gc(&Span::new(k(""), k("a")), t(2));
    s.gc(&Span::new(k(""), k("aa")), t(0));
    s.gc(&Span::new(k(""), k("a\0")), t(1));
    assert_eq!(s.gc_threshold(&Span::new(k("a"), k("a\0"))), t(1));
    // A GC at or below what every key of the span already has still changes nothing.
    assert_eq!(s.gc(&Span::new(k(""), k("a")), t(1)), GcStats::default());
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn mvcc_store_matches_the_reference_model(ops in ops()) {
        run(&ops)?;
    }
}
