//! The key-by-key merge of a chain's layers: for every key of a span, the newest version at or
//! below the restored time, read off the data files overlapping the span as they lie (each
//! sorted by key, then timestamp descending). It holds one entry per file at a time and hands
//! out its result as it goes, so a chain restore keeps the files it reads and one ingest batch,
//! never a second copy of the span's newest versions.
//!
//! A span a later layer *introduces* (a table the earlier layers did not back up, exported with
//! its whole history) hides what the earlier layers hold in it: that is another table that had
//! the id (`introduced_spans` in the manifest).

use model::{Entry, Key, Span, Timestamp};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// One data file's entries, in the order the file lists them, from the chain's layer `layer`.
pub(super) struct Input {
    /// The file's layer, oldest first.
    pub(super) layer: usize,
    /// Its entries, sorted by key then timestamp descending.
    pub(super) entries: std::vec::IntoIter<Entry>,
}

/// The head of one input, ordered by key then input (the smallest first, out of a max-heap).
struct Head {
    entry: Entry,
    input: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.entry.key.cmp(&other.entry.key).then(self.input.cmp(&other.input))
    }
}

/// The merge: an iterator of each key's winning version (live values only: a key whose newest
/// version is a deletion gives nothing), in key order.
pub(super) struct Merge {
    inputs: Vec<Input>,
    heads: BinaryHeap<Reverse<Head>>,
    span: Span,
    ts: Timestamp,
    /// Parts of the span introduced by a layer, with that layer: a key in one reads only that
    /// layer and the later ones.
    introduced: Vec<(Span, usize)>,
}

impl Merge {
    /// Merges `inputs` over the keys of `span`, as of `ts`; `introduced` lists the spans each
    /// layer introduced (index = layer).
    pub(super) fn new(inputs: Vec<Input>, span: Span, ts: Timestamp, introduced: &[&[Span]]) -> Merge {
        let introduced = introduced.iter().enumerate().flat_map(|(l, spans)| spans.iter().filter_map(|s| s.intersect(&span)).map(move |s| (s, l))).collect();
        let mut merge = Merge { inputs, heads: BinaryHeap::new(), span, ts, introduced };
        for i in 0..merge.inputs.len() {
            merge.advance(i);
        }
        merge
    }

    /// Puts input `i`'s next entry that may count (in the span, at or below the restored time)
    /// on the heap.
    fn advance(&mut self, i: usize) {
        let input = &mut self.inputs[i];
        for entry in input.entries.by_ref() {
            if entry.ts <= self.ts && self.span.contains_key(&entry.key) {
                self.heads.push(Reverse(Head { entry, input: i }));
                return;
            }
        }
    }

    /// The oldest layer whose versions of `key` count.
    fn first_layer(&self, key: &Key) -> usize {
        self.introduced.iter().filter(|(s, _)| s.contains_key(key)).map(|(_, l)| *l).max().unwrap_or(0)
    }
}

impl Iterator for Merge {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            let Reverse(first) = self.heads.pop()?;
            let key = first.entry.key.clone();
            let from = self.first_layer(&key);
            // Every version of `key` at the heads, newest first; on equal timestamps the older
            // layer's (the same version, exported twice) — as a map filled oldest layer first.
            let mut best: Option<(Entry, usize)> = None;
            let mut consider = |head: Head, inputs: &[Input]| {
                let layer = inputs[head.input].layer;
                if layer < from {
                    return;
                }
                let better = match &best {
                    None => true,
                    Some((b, bl)) => head.entry.ts > b.ts || (head.entry.ts == b.ts && layer < *bl),
                };
                if better {
                    best = Some((head.entry, layer));
                }
            };
            let mut taken = vec![first.input];
            consider(first, &self.inputs);
            while self.heads.peek().is_some_and(|Reverse(h)| h.entry.key == key) {
                let Reverse(h) = self.heads.pop().expect("peeked");
                taken.push(h.input);
                consider(h, &self.inputs);
            }
            // A file lists several versions of a key (revision history): all of them go.
            for i in taken {
                self.advance_past(i, &key);
            }
            if let Some((e, _)) = best {
                if e.value.is_some() {
                    return Some(e);
                }
            }
        }
    }
}

impl Merge {
    /// Like [`Merge::advance`], skipping input `i`'s further (older) versions of `key`: the
    /// first version a file lists of a key is its newest, which was considered.
    fn advance_past(&mut self, i: usize, key: &Key) {
        let input = &mut self.inputs[i];
        for entry in input.entries.by_ref() {
            if entry.key == *key || entry.ts > self.ts || !self.span.contains_key(&entry.key) {
                continue;
            }
            self.heads.push(Reverse(Head { entry, input: i }));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn k(b: u8) -> Key {
        Key(vec![b])
    }

    fn e(key: u8, ts: u64, value: Option<u8>) -> Entry {
        Entry { key: k(key), ts: Timestamp { wall: ts, logical: 0 }, value: value.map(|v| vec![v]) }
    }

    fn merged(files: Vec<(usize, Vec<Entry>)>, ts: u64, introduced: &[&[Span]]) -> Vec<(u8, u8)> {
        let inputs = files.into_iter().map(|(layer, entries)| Input { layer, entries: entries.into_iter() }).collect();
        Merge::new(inputs, Span::new(k(1), k(200)), Timestamp { wall: ts, logical: 0 }, introduced).map(|e| (e.key.0[0], e.value.unwrap()[0])).collect()
    }

    #[test]
    fn each_key_gets_its_newest_version_at_or_below_the_time_and_deletions_drop_it() {
        let full = vec![e(1, 10, Some(1)), e(2, 10, Some(2)), e(3, 10, Some(3)), e(250, 10, Some(9))];
        let inc1 = vec![e(2, 20, Some(22)), e(3, 20, None), e(4, 20, Some(4))];
        // Revision history: newest first within a key.
        let inc2 = vec![e(2, 40, Some(24)), e(2, 30, Some(23)), e(3, 30, Some(33))];
        let files = || vec![(0, full.clone()), (1, inc1.clone()), (2, inc2.clone())];
        assert_eq!(merged(files(), 100, &[]), vec![(1, 1), (2, 24), (3, 33), (4, 4)]);
        assert_eq!(merged(files(), 35, &[]), vec![(1, 1), (2, 23), (3, 33), (4, 4)]);
        // Key 3 deleted at 20; key 250 is outside the span.
        assert_eq!(merged(files(), 25, &[]), vec![(1, 1), (2, 22), (4, 4)]);
        assert_eq!(merged(files(), 10, &[]), vec![(1, 1), (2, 2), (3, 3)]);
    }

    #[test]
    fn a_span_a_later_layer_introduced_hides_the_earlier_layers_there() {
        let full = vec![e(1, 10, Some(1)), e(5, 10, Some(5)), e(6, 10, Some(6))];
        let inc = vec![e(5, 5, Some(55))];
        let introduced: [&[Span]; 2] = [&[], &[Span::new(k(5), k(7))]];
        assert_eq!(merged(vec![(0, full), (1, inc)], 100, &introduced), vec![(1, 1), (5, 55)]);
    }

    /// Against the map the merge replaced, on many small random chains.
    #[test]
    fn the_merge_equals_a_newest_version_map() {
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..500 {
            let layers = 1 + next(4) as usize;
            let mut files = Vec::new();
            for layer in 0..layers {
                // Each layer: up to three disjoint files, in key order.
                let mut versions: BTreeMap<(u8, Reverse<u64>), Option<u8>> = BTreeMap::new();
                for _ in 0..next(12) {
                    let v = (next(3) > 0).then(|| next(250) as u8);
                    versions.insert((1 + next(20) as u8, Reverse(1 + next(50))), v);
                }
                let all: Vec<Entry> = versions.into_iter().map(|((key, Reverse(ts)), v)| e(key, ts, v)).collect();
                let cut = next(all.len() as u64 + 1) as usize;
                let (a, b) = all.split_at(cut);
                files.push((layer, a.to_vec()));
                files.push((layer, b.to_vec()));
            }
            let ts = 1 + next(55);
            let mut map: BTreeMap<u8, (u64, Option<u8>)> = BTreeMap::new();
            for (_, entries) in &files {
                for en in entries {
                    if en.ts.wall > ts {
                        continue;
                    }
                    match map.get(&en.key.0[0]) {
                        Some((seen, _)) if *seen >= en.ts.wall => {}
                        _ => {
                            map.insert(en.key.0[0], (en.ts.wall, en.value.as_ref().map(|v| v[0])));
                        }
                    }
                }
            }
            let want: Vec<(u8, u8)> = map.into_iter().filter_map(|(k, (_, v))| v.map(|v| (k, v))).collect();
            assert_eq!(merged(files, ts, &[]), want);
        }
    }
}
