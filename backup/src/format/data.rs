//! Data files: the MVCC entries of one exported span, as BACKUP writes them and RESTORE
//! ingests them.
//!
//! A [`DataFile`] is the span it covers plus its entries, sorted by key and, within a key,
//! newest first (the order an export returns and the order ingest expects). The order and the
//! span are checked when a file is built and again when one is decoded, because a restore that
//! trusted an unsorted or out-of-span file could write a key twice or outside the table it
//! restores. [`EntryCounts`] summarises a file for the manifest and BACKUP's result row.
//!
//! What this module must never do: reorder, drop or invent entries (a file holds exactly what
//! the export returned), interpret values, or panic on any input.

use super::envelope::{self, FileKind, FormatError};
use super::manifest::FileInfo;
use model::encoding::{index_of, PRIMARY_INDEX_ID};
use model::{Entry, Export, Key, Span, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The entries of one exported span. See the module doc.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// The keys this file covers: every entry's key lies in it. A span with no data in the
    /// window gives a file with no entries (or, at the writer's choice, no file at all).
    pub span: Span,
    /// Versions sorted by key, then timestamp descending; no (key, timestamp) twice.
    pub entries: Vec<Entry>,
}

/// Totals over entries, as CockroachDB's BulkOpSummary counts them: `rows` are entries of a
/// primary index (index id 1), `index_entries` entries of any other index, `data_size` the
/// bytes of keys and values. Tombstones count like values: they are restored data too (an
/// incremental's deletions). Keys with no index id (shorter than a table and index prefix)
/// count in `data_size` only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntryCounts {
    /// Entries of primary indexes.
    pub rows: u64,
    /// Entries of secondary indexes.
    pub index_entries: u64,
    /// Key plus value bytes.
    pub data_size: u64,
}

impl EntryCounts {
    /// Adds `other` to `self`, saturating (a corrupt manifest may carry absurd numbers; adding
    /// them must not panic in debug builds).
    pub fn add(&mut self, other: &EntryCounts) {
        self.rows = self.rows.saturating_add(other.rows);
        self.index_entries = self.index_entries.saturating_add(other.index_entries);
        self.data_size = self.data_size.saturating_add(other.data_size);
    }
}

impl fmt::Display for EntryCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rows={} index_entries={} data_size={}", self.rows, self.index_entries, self.data_size)
    }
}

/// Why entries cannot form a data file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DataFileError {
    /// The file's span holds no key.
    #[error("span {0} is empty")]
    EmptySpan(Span),
    /// An entry's key lies outside the file's span.
    #[error("entry {index} ({key} at {ts}) lies outside the span {span}")]
    OutsideSpan {
        /// Position of the entry.
        index: usize,
        /// Its key.
        key: Key,
        /// Its timestamp.
        ts: Timestamp,
        /// The file's span.
        span: Span,
    },
    /// Two neighbouring entries are out of order (key ascending, then timestamp descending) or
    /// repeat a (key, timestamp).
    #[error("entries {index} and {} are out of order or repeated: {prev_key} at {prev_ts}, then {key} at {ts}", index + 1)]
    Unsorted {
        /// Position of the first of the two.
        index: usize,
        /// Its key.
        prev_key: Key,
        /// Its timestamp.
        prev_ts: Timestamp,
        /// The second's key.
        key: Key,
        /// The second's timestamp.
        ts: Timestamp,
    },
}

impl DataFile {
    /// A data file of `entries` covering `span`, checked (see [`DataFile::validate`]).
    pub fn new(span: Span, entries: Vec<Entry>) -> Result<DataFile, DataFileError> {
        let f = DataFile { span, entries };
        f.validate()?;
        Ok(f)
    }

    /// The data file of an export of `span`. The export's `revision_start` belongs in the
    /// manifest, not here. An export that is not sorted or strays outside its span is refused,
    /// not repaired: it means the KV layer is broken, and the backup must fail rather than
    /// record something it cannot vouch for.
    pub fn from_export(span: Span, export: Export) -> Result<DataFile, DataFileError> {
        DataFile::new(span, export.entries)
    }

    /// Checks the invariants: a non-empty span, every key inside it, entries sorted by key then
    /// timestamp descending, no (key, timestamp) twice.
    pub fn validate(&self) -> Result<(), DataFileError> {
        if self.span.is_empty() {
            return Err(DataFileError::EmptySpan(self.span.clone()));
        }
        for (index, e) in self.entries.iter().enumerate() {
            if !self.span.contains_key(&e.key) {
                return Err(DataFileError::OutsideSpan { index, key: e.key.clone(), ts: e.ts, span: self.span.clone() });
            }
        }
        for (index, w) in self.entries.windows(2).enumerate() {
            let (a, b) = (&w[0], &w[1]);
            let ordered = a.key < b.key || (a.key == b.key && a.ts > b.ts);
            if !ordered {
                return Err(DataFileError::Unsorted { index, prev_key: a.key.clone(), prev_ts: a.ts, key: b.key.clone(), ts: b.ts });
            }
        }
        Ok(())
    }

    /// Totals over the entries (see [`EntryCounts`]).
    pub fn counts(&self) -> EntryCounts {
        let mut c = EntryCounts::default();
        for e in &self.entries {
            match index_of(&e.key) {
                Some((_, PRIMARY_INDEX_ID)) => c.rows += 1,
                Some(_) => c.index_entries += 1,
                None => {}
            }
            let size = e.key.0.len() + e.value.as_ref().map_or(0, Vec::len);
            c.data_size = c.data_size.saturating_add(size as u64);
        }
        c
    }

    /// The file's bytes, in a [`FileKind::Data`] envelope.
    pub fn encode(&self) -> Vec<u8> {
        let hint = self.entries.iter().map(|e| e.key.0.len() + e.value.as_ref().map_or(0, Vec::len) + 16).sum::<usize>() + 64;
        envelope::encode_sized(FileKind::Data, envelope::FORMAT_VERSION, self, hint)
    }

    /// Reads a data file: envelope checks, then the invariants of [`DataFile::validate`].
    pub fn decode(path: &str, bytes: &[u8]) -> Result<DataFile, FormatError> {
        let f: DataFile = envelope::decode(path, FileKind::Data, bytes)?;
        f.validate().map_err(|e| FormatError::Invalid { path: path.into(), kind: FileKind::Data, reason: e.to_string() })?;
        Ok(f)
    }

    /// Reads the data file a manifest lists as `info`, with `path` the full path it was read
    /// from: the bytes must have the checksum the manifest recorded (so a valid file swapped for
    /// another valid file is caught), and the file must cover the recorded span with the
    /// recorded number of entries.
    pub fn decode_listed(path: &str, info: &FileInfo, bytes: &[u8]) -> Result<DataFile, FormatError> {
        let found = envelope::file_checksum(bytes);
        if found != info.checksum {
            return Err(FormatError::ChecksumMismatch { path: path.into(), expected: info.checksum, found });
        }
        let f = DataFile::decode(path, bytes)?;
        let invalid = |reason: String| FormatError::Invalid { path: path.into(), kind: FileKind::Data, reason };
        if f.span != info.span {
            return Err(invalid(format!("covers {}, the manifest lists it for {}", f.span, info.span)));
        }
        if f.entries.len() as u64 != info.entries {
            return Err(invalid(format!("holds {} entries, the manifest lists {}", f.entries.len(), info.entries)));
        }
        Ok(f)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use model::encoding::{encode_index_key, table_span};
    use model::Datum;
    use proptest::prelude::*;

    pub(crate) fn ts(w: u64) -> Timestamp {
        Timestamp::from_nanos(w)
    }

    pub(crate) fn row(table: u32, index: u32, k: i64) -> Key {
        encode_index_key(table, index, &[Datum::Int(k)])
    }

    /// A small file: two rows (one with two revisions), a tombstone, an index entry.
    pub(crate) fn sample() -> DataFile {
        DataFile::new(
            table_span(52),
            vec![
                Entry { key: row(52, 1, 1), ts: ts(20), value: Some(b"b".to_vec()) },
                Entry { key: row(52, 1, 1), ts: ts(10), value: Some(b"a".to_vec()) },
                Entry { key: row(52, 1, 2), ts: ts(15), value: None },
                Entry { key: row(52, 2, 7), ts: ts(10), value: Some(Vec::new()) },
            ],
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let f = sample();
        assert_eq!(DataFile::decode("d/1.sst", &f.encode()), Ok(f.clone()));
        let empty = DataFile::new(table_span(60), Vec::new()).unwrap();
        assert_eq!(DataFile::decode("d/2.sst", &empty.encode()), Ok(empty));
    }

    #[test]
    fn counts() {
        let keys = 4 * row(52, 1, 1).0.len() as u64;
        assert_eq!(sample().counts(), EntryCounts { rows: 3, index_entries: 1, data_size: keys + 2 });
    }

    #[test]
    fn from_export_keeps_the_entries() {
        let f = sample();
        let got = DataFile::from_export(f.span.clone(), Export { entries: f.entries.clone(), revision_start: ts(3), resume: None }).unwrap();
        assert_eq!(got, f);
    }

    #[test]
    fn unsorted_duplicate_and_outside_are_refused() {
        let mut f = sample();
        f.entries.swap(0, 1);
        assert!(matches!(f.validate(), Err(DataFileError::Unsorted { index: 0, .. })));
        let e = DataFile::decode("d/1.sst", &envelope::encode(FileKind::Data, &f)).unwrap_err();
        assert!(e.to_string().starts_with("d/1.sst: invalid data file: entries 0 and 1 are out of order or repeated: /Table/52/1/1 at "), "{e}");

        let mut f = sample();
        f.entries[1].ts = f.entries[0].ts;
        assert!(matches!(f.validate(), Err(DataFileError::Unsorted { .. })));

        let mut f = sample();
        f.entries.push(Entry { key: row(53, 1, 1), ts: ts(1), value: None });
        assert!(matches!(f.validate(), Err(DataFileError::OutsideSpan { index: 4, .. })));
        assert!(matches!(DataFile::decode("p", &envelope::encode(FileKind::Data, &f)), Err(FormatError::Invalid { .. })));

        assert!(matches!(DataFile::new(Span::new(vec![2], vec![1]), vec![]), Err(DataFileError::EmptySpan(_))));
    }

    #[test]
    fn decode_listed_checks_the_manifest_record() {
        let f = sample();
        let bytes = f.encode();
        let info = FileInfo::new("1.sst", &f, &bytes);
        assert_eq!(DataFile::decode_listed("b/1.sst", &info, &bytes), Ok(f.clone()));

        let other = DataFile::new(f.span.clone(), f.entries[..1].to_vec()).unwrap();
        let e = DataFile::decode_listed("b/1.sst", &info, &other.encode()).unwrap_err();
        assert!(e.to_string().starts_with("b/1.sst: checksum mismatch (expected "), "{e}");

        let mut lying = info.clone();
        lying.span = table_span(53);
        let e = DataFile::decode_listed("b/1.sst", &lying, &bytes).unwrap_err();
        assert_eq!(e.to_string(), "b/1.sst: invalid data file: covers [/Table/52, /Table/53), the manifest lists it for [/Table/53, /Table/54)");
        let mut lying = info;
        lying.entries = 9;
        assert!(matches!(DataFile::decode_listed("b/1.sst", &lying, &bytes), Err(FormatError::Invalid { .. })));
    }

    #[test]
    fn every_flipped_bit_and_truncation_is_detected() {
        let bytes = sample().encode();
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let e = DataFile::decode("d/1.sst", &b).expect_err("flip detected");
            assert!(e.to_string().starts_with("d/1.sst: "));
        }
        for len in 0..bytes.len() {
            assert!(matches!(DataFile::decode("d/1.sst", &bytes[..len]), Err(FormatError::Truncated { .. })));
        }
    }

    fn arb_file() -> impl Strategy<Value = DataFile> {
        proptest::collection::btree_map((0i64..50, 1u64..100), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)), 0..30).prop_map(|m| {
            let mut entries: Vec<Entry> = m.into_iter().map(|((k, t), value)| Entry { key: row(52, 1 + (k % 2) as u32, k), ts: ts(t), value }).collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key).then(b.ts.cmp(&a.ts)));
            DataFile::new(table_span(52), entries).unwrap()
        })
    }

    proptest! {
        #[test]
        fn round_trips_and_any_flip_is_detected(f in arb_file(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let bytes = f.encode();
            prop_assert_eq!(DataFile::decode("d", &bytes), Ok(f));
            let mut b = bytes.clone();
            b[pos.index(bytes.len())] ^= 1 << bit;
            prop_assert!(DataFile::decode("d", &b).is_err());
        }
    }
}
