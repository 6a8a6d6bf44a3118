//! Keys and spans: the byte-ordered key space every other layer talks in.
//!
//! A [`Span`] is half-open, `[start, end)`, as in CockroachDB. Tables and their indexes are laid
//! out so that one table is one span (see [`crate::encoding`]), which is what makes "back up a
//! table" a span operation. Nothing here knows about SQL or time.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A key: an ordered byte string. Ordering is plain lexicographic byte order.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key(
    /// Serialized as bytes, not as a sequence of numbers: the same encoding in postcard (a
    /// length, then the bytes) and in JSON (an array of numbers), copied in one piece.
    #[serde(with = "serde_bytes")]
    pub Vec<u8>,
);

impl Key {
    /// The smallest key.
    pub const MIN: Key = Key(Vec::new());

    /// The immediate successor of `self` in byte order: `self` followed by a zero byte.
    pub fn next(&self) -> Key {
        let mut v = self.0.clone();
        v.push(0);
        Key(v)
    }

    /// The first key that does not have `self` as a prefix; `None` if there is none (all 0xff).
    pub fn prefix_end(&self) -> Option<Key> {
        let mut v = self.0.clone();
        while let Some(last) = v.pop() {
            if last < 0xff {
                v.push(last + 1);
                return Some(Key(v));
            }
        }
        None
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Key {
    fn from(b: &[u8]) -> Self {
        Key(b.to_vec())
    }
}

impl From<Vec<u8>> for Key {
    fn from(b: Vec<u8>) -> Self {
        Key(b)
    }
}

/// A half-open key range `[start, end)`. A span with `start >= end` is empty.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    /// First key in the span.
    pub start: Key,
    /// First key after the span.
    pub end: Key,
}

impl Span {
    /// A span from `start` (inclusive) to `end` (exclusive).
    pub fn new(start: impl Into<Key>, end: impl Into<Key>) -> Self {
        Span { start: start.into(), end: end.into() }
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &Key) -> Self {
        let end = prefix.prefix_end().unwrap_or(Key(vec![0xff; prefix.0.len() + 1]));
        Span { start: prefix.clone(), end }
    }

    /// True when the span holds no key.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// True when `key` lies in the span.
    pub fn contains_key(&self, key: &Key) -> bool {
        self.start <= *key && *key < self.end
    }

    /// True when every key of `other` lies in `self` (an empty `other` is contained anywhere).
    pub fn contains(&self, other: &Span) -> bool {
        other.is_empty() || (self.start <= other.start && other.end <= self.end)
    }

    /// True when some key lies in both spans.
    pub fn overlaps(&self, other: &Span) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }

    /// The keys in both spans, or `None` if there are none.
    pub fn intersect(&self, other: &Span) -> Option<Span> {
        if !self.overlaps(other) {
            return None;
        }
        Some(Span { start: self.start.clone().max(other.start.clone()), end: self.end.clone().min(other.end.clone()) })
    }

    /// Splits at `key`: the part below `key` and the part from `key` on; either may be `None`
    /// when empty.
    pub fn split_at(&self, key: &Key) -> (Option<Span>, Option<Span>) {
        if self.is_empty() {
            return (None, None);
        }
        let left = Span { start: self.start.clone(), end: key.clone().min(self.end.clone()) };
        let right = Span { start: key.clone().max(self.start.clone()), end: self.end.clone() };
        ((!left.is_empty()).then_some(left), (!right.is_empty()).then_some(right))
    }

    /// The parts of `self` not covered by any span in `covered` (which may overlap each other).
    pub fn subtract(&self, covered: &[Span]) -> Vec<Span> {
        let mut sorted: Vec<&Span> = covered.iter().filter(|c| c.overlaps(self)).collect();
        sorted.sort();
        let mut out = Vec::new();
        let mut cursor = self.start.clone();
        for c in sorted {
            if c.start > cursor {
                out.push(Span { start: cursor.clone(), end: c.start.clone().min(self.end.clone()) });
            }
            if c.end > cursor {
                cursor = c.end.clone();
            }
            if cursor >= self.end {
                break;
            }
        }
        if cursor < self.end {
            out.push(Span { start: cursor, end: self.end.clone() });
        }
        out.retain(|s| !s.is_empty());
        out
    }
}

/// Sorts spans and merges those that overlap or touch, giving the smallest equivalent set.
pub fn merge_spans(spans: &[Span]) -> Vec<Span> {
    let mut v: Vec<Span> = spans.iter().filter(|s| !s.is_empty()).cloned().collect();
    v.sort();
    let mut out: Vec<Span> = Vec::with_capacity(v.len());
    for s in v {
        match out.last_mut() {
            Some(last) if s.start <= last.end => {
                if s.end > last.end {
                    last.end = s.end;
                }
            }
            _ => out.push(s),
        }
    }
    out
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &[u8], b: &[u8]) -> Span {
        Span::new(a, b)
    }

    #[test]
    fn algebra_on_examples() {
        let a = s(b"b", b"f");
        assert!(a.contains_key(&Key(b"b".to_vec())) && !a.contains_key(&Key(b"f".to_vec())));
        assert!(a.overlaps(&s(b"e", b"z")) && !a.overlaps(&s(b"f", b"z")));
        assert_eq!(a.intersect(&s(b"d", b"z")), Some(s(b"d", b"f")));
        assert_eq!(a.split_at(&Key(b"c".to_vec())), (Some(s(b"b", b"c")), Some(s(b"c", b"f"))));
        assert_eq!(a.split_at(&Key(b"a".to_vec())), (None, Some(a.clone())));
        assert_eq!(a.subtract(&[s(b"c", b"d")]), vec![s(b"b", b"c"), s(b"d", b"f")]);
        assert_eq!(merge_spans(&[s(b"c", b"d"), s(b"a", b"c"), s(b"x", b"y")]), vec![s(b"a", b"d"), s(b"x", b"y")]);
    }

    #[test]
    fn prefix_end_carries() {
        assert_eq!(Key(vec![1, 0xff]).prefix_end(), Some(Key(vec![2])));
        assert_eq!(Key(vec![0xff]).prefix_end(), None);
    }
}
