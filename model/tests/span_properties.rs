//! Property tests of the span algebra in `model::key` against an exact naive model.
//!
//! Keys are drawn from the alphabet {0x00, 0x61, 0xff} (so `Key::next`'s zero byte and the 0xff
//! carry of `prefix_end` both occur). Span endpoints have length at most 2; the model of a span
//! is the set of *all* keys of length at most 3 over the alphabet that it contains, as a bitmask.
//! For spans whose endpoints lie in that universe the bitmask determines the true (infinite) key
//! set exactly: if two such spans differ, some endpoint is a key in one and not the other. So
//! "same bitmask" is "same key set", and every set identity below is exact, not sampled.

use model::key::merge_spans;
use model::{Key, Span};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const ALPHABET: [u8; 3] = [0x00, 0x61, 0xff];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))), ..ProptestConfig::default() }
}

/// Every key of length `0..=max_len` over the alphabet, sorted.
fn keys_up_to(max_len: usize) -> Vec<Key> {
    let mut out = vec![Vec::new()];
    let mut frontier = vec![Vec::new()];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for k in &frontier {
            for &b in &ALPHABET {
                let mut k2: Vec<u8> = k.clone();
                k2.push(b);
                next.push(k2);
            }
        }
        out.extend(next.iter().cloned());
        frontier = next;
    }
    let mut keys: Vec<Key> = out.into_iter().map(Key).collect();
    keys.sort();
    keys
}

/// The model universe: 1 + 3 + 9 + 27 = 40 keys, so a key set fits in a u64.
fn universe() -> &'static [Key] {
    use std::sync::OnceLock;
    static U: OnceLock<Vec<Key>> = OnceLock::new();
    U.get_or_init(|| keys_up_to(3))
}

/// The exact model of a span: which universe keys it holds, decided without `Span`'s methods.
fn model(s: &Span) -> u64 {
    universe().iter().enumerate().filter(|(_, k)| s.start.0 <= k.0 && k.0 < s.end.0).fold(0, |m, (i, _)| m | 1 << i)
}

fn model_all(spans: &[Span]) -> u64 {
    spans.iter().fold(0, |m, s| m | model(s))
}

fn key() -> impl Strategy<Value = Key> {
    prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 0..=2).prop_map(Key)
}

fn long_key() -> impl Strategy<Value = Key> {
    prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 0..=3).prop_map(Key)
}

/// Spans with endpoints of length <= 2, empty and inverted ones included.
fn span() -> impl Strategy<Value = Span> {
    (key(), key()).prop_map(|(a, b)| Span { start: a, end: b })
}

fn spans() -> impl Strategy<Value = Vec<Span>> {
    prop::collection::vec(span(), 0..6)
}

#[test]
fn the_model_is_exact_on_empty_spans() {
    // Sanity check of the model itself: a span is empty exactly when its bitmask is.
    for a in keys_up_to(2) {
        for b in keys_up_to(2) {
            let s = Span { start: a.clone(), end: b.clone() };
            assert_eq!(model(&s) == 0, a >= b, "{s:?}");
        }
    }
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn is_empty_and_contains_key_match_the_model(s in span(), k in long_key()) {
        prop_assert_eq!(s.is_empty(), model(&s) == 0);
        let i = universe().iter().position(|u| *u == k).unwrap();
        prop_assert_eq!(s.contains_key(&k), model(&s) >> i & 1 == 1);
    }

    #[test]
    fn contains_is_subset(a in span(), b in span()) {
        prop_assert_eq!(a.contains(&b), model(&b) & !model(&a) == 0, "{:?} contains {:?}", a, b);
    }

    #[test]
    fn overlaps_is_nonempty_intersection(a in span(), b in span()) {
        prop_assert_eq!(a.overlaps(&b), model(&a) & model(&b) != 0);
        prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
    }

    #[test]
    fn intersect_is_set_intersection(a in span(), b in span()) {
        let want = model(&a) & model(&b);
        match a.intersect(&b) {
            None => prop_assert_eq!(want, 0),
            Some(i) => {
                prop_assert!(!i.is_empty());
                prop_assert_eq!(model(&i), want);
            }
        }
    }

    #[test]
    fn split_at_partitions_the_span(s in span(), at in long_key()) {
        let (left, right) = s.split_at(&at);
        let l = left.as_ref().map_or(0, model);
        let r = right.as_ref().map_or(0, model);
        prop_assert!(left.as_ref().is_none_or(|x| !x.is_empty()));
        prop_assert!(right.as_ref().is_none_or(|x| !x.is_empty()));
        prop_assert_eq!(l & r, 0);
        prop_assert_eq!(l | r, model(&s));
        // Everything left is below `at`, everything right at or above it.
        let below = model(&Span { start: Key::MIN, end: at.clone() });
        prop_assert_eq!(l & !below, 0);
        prop_assert_eq!(r & below, 0);
    }

    #[test]
    fn subtract_leaves_exactly_the_uncovered_part(s in span(), covered in spans()) {
        let out = s.subtract(&covered);
        let whole = model(&s);
        let cov = model_all(&covered);
        let mut seen = 0u64;
        for p in &out {
            let m = model(p);
            prop_assert!(!p.is_empty(), "empty piece {:?}", p);
            prop_assert!(s.start <= p.start && p.end <= s.end, "{:?} outside {:?}", p, s);
            prop_assert_eq!(m & seen, 0, "pieces overlap");
            prop_assert_eq!(m & cov, 0, "piece {:?} is covered", p);
            seen |= m;
        }
        prop_assert_eq!(seen | (whole & cov), whole);
        prop_assert_eq!(seen, whole & !cov);
        // Pieces come out sorted.
        prop_assert!(out.windows(2).all(|w| w[0].end <= w[1].start), "{:?}", out);
    }

    #[test]
    fn merge_spans_is_a_canonical_cover(input in spans()) {
        let out = merge_spans(&input);
        prop_assert_eq!(model_all(&out), model_all(&input));
        for p in &out {
            prop_assert!(!p.is_empty());
        }
        // Sorted, disjoint and not touching: each span ends strictly before the next starts.
        prop_assert!(out.windows(2).all(|w| w[0].end < w[1].start), "{:?}", out);
        // Idempotent and order-insensitive.
        prop_assert_eq!(merge_spans(&out), out.clone());
        let mut rev = input.clone();
        rev.reverse();
        prop_assert_eq!(merge_spans(&rev), out);
    }

    #[test]
    fn next_is_the_immediate_successor(k in long_key()) {
        let n = k.next();
        prop_assert!(k < n);
        prop_assert!(!universe().iter().any(|u| k < *u && *u < n));
        // The point span [k, k.next()) holds exactly k.
        let i = universe().iter().position(|u| *u == k).unwrap();
        prop_assert_eq!(model(&Span { start: k.clone(), end: n }), 1u64 << i);
    }

    #[test]
    fn prefix_end_bounds_the_prefix(p in key()) {
        match p.prefix_end() {
            None => prop_assert!(p.0.iter().all(|&b| b == 0xff)),
            Some(e) => {
                prop_assert!(p < e);
                for u in universe() {
                    prop_assert_eq!(u.0.starts_with(&p.0), p <= *u && *u < e, "{:?} in prefix {:?}", u, p);
                }
            }
        }
    }

    /// The same over arbitrary bytes (0xfe and other carries included), with keys that extend
    /// the prefix, keys near it, and random keys.
    #[test]
    fn prefix_end_bounds_arbitrary_prefixes(
        p in prop::collection::vec(prop_oneof![any::<u8>(), Just(0xfe), Just(0xff)], 0..5),
        suffix in prop::collection::vec(any::<u8>(), 0..4),
        other in prop::collection::vec(prop_oneof![any::<u8>(), Just(0xfe), Just(0xff), Just(0)], 0..6),
    ) {
        let p = Key(p);
        let extended = Key([p.0.clone(), suffix].concat());
        match p.prefix_end() {
            None => prop_assert!(p.0.iter().all(|&b| b == 0xff)),
            Some(e) => {
                prop_assert!(p < e && extended < e);
                prop_assert!(!e.0.starts_with(&p.0));
                let k = Key(other);
                prop_assert_eq!(k.0.starts_with(&p.0), p <= k && k < e, "{:?} vs prefix {:?} (end {:?})", k, p, e);
                // e is tight: `below` (e with its last byte lowered, then as many 0xff bytes as p
                // is long) extends p, and so does every key between it and e; so no smaller end
                // would do.
                let mut below = e.0.clone();
                *below.last_mut().unwrap() -= 1;
                below.extend(std::iter::repeat_n(0xff, p.0.len()));
                prop_assert!(below.starts_with(&p.0), "{:?} does not extend {:?}", below, p);
            }
        }
    }
}

/// `Span::prefix` holds exactly the keys with the prefix, checked exhaustively over every prefix
/// of length <= 2 and every universe key. Prefixes made only of 0xff bytes (the empty prefix
/// included) are left out: no finite end key bounds every extension of them, and `Span::prefix`
/// approximates with `[0xff; len + 1]`, which misses e.g. `ff ff 00` for the prefix `ff` (see
/// the report).
#[test]
fn span_prefix_holds_the_prefixed_keys() {
    for p in keys_up_to(2) {
        if p.0.iter().all(|&b| b == 0xff) {
            continue;
        }
        let s = Span::prefix(&p);
        for u in universe() {
            assert_eq!(s.contains_key(u), u.0.starts_with(&p.0), "{u:?} in Span::prefix({p:?})");
        }
    }
}
