//! Rows as keys and values, and their reads and writes inside a transaction.
//!
//! Layout: a row lives at `encode_index_key(table, 1, primary-key datums)`. Its value is
//! `encoding::encode_value` of a flat list of pairs `Int(column_id), datum` for every
//! non-primary-key column whose value is not NULL, in ascending column id. Keying values by
//! column id (never reused) is what keeps old rows readable after ADD COLUMN (missing id: NULL)
//! and DROP COLUMN (unknown id: ignored). A secondary index entry is
//! `encode_index_key(table, index, index datums ++ primary-key datums)` with an empty value;
//! every row write writes its index entries in the same transaction and removes stale ones.
//! Decoding never panics: a malformed row is [`SqlError::Corrupt`] naming the key.

use super::error::SqlError;
use super::txn::Txn;
use crate::catalog::{IndexDescriptor, TableDescriptor};
use crate::datum::Datum;
use crate::encoding::{self, PRIMARY_INDEX_ID};
use crate::key::{Key, Span};
use crate::kv::Kv;
use crate::timestamp::Timestamp;

/// A row: one datum per column, in the descriptor's column order.
pub(crate) type Row = Vec<Datum>;

/// The value of column `id` in `row` (NULL if the descriptor does not know the column).
pub(crate) fn col(desc: &TableDescriptor, row: &[Datum], id: u32) -> Datum {
    desc.column_position(id).and_then(|p| row.get(p)).cloned().unwrap_or(Datum::Null)
}

/// The values of several columns.
pub(crate) fn cols(desc: &TableDescriptor, row: &[Datum], ids: &[u32]) -> Vec<Datum> {
    ids.iter().map(|&id| col(desc, row, id)).collect()
}

/// The primary-key datums of a row.
pub(crate) fn pk_datums(desc: &TableDescriptor, row: &[Datum]) -> Vec<Datum> {
    cols(desc, row, &desc.primary_key)
}

/// The key of a row.
pub(crate) fn primary_key(desc: &TableDescriptor, row: &[Datum]) -> Key {
    encoding::encode_index_key(desc.id, PRIMARY_INDEX_ID, &pk_datums(desc, row))
}

/// The value of a row (see the module doc for the format).
pub(crate) fn encode_row_value(desc: &TableDescriptor, row: &[Datum]) -> Vec<u8> {
    let mut ids: Vec<u32> = desc.columns.iter().map(|c| c.id).filter(|id| !desc.primary_key.contains(id)).collect();
    ids.sort_unstable();
    let mut flat = Vec::new();
    for id in ids {
        let d = col(desc, row, id);
        if !d.is_null() {
            flat.push(Datum::Int(id as i64));
            flat.push(d);
        }
    }
    encoding::encode_value(&flat)
}

/// Every KV pair a row is stored as — its primary entry and one entry per secondary index —
/// for bulk loading (an IMPORT-style ingest) that bypasses INSERT's per-row checks.
pub fn row_entries(desc: &TableDescriptor, row: &[Datum]) -> Vec<(Key, Vec<u8>)> {
    let mut out = vec![(primary_key(desc, row), encode_row_value(desc, row))];
    out.extend(index_keys(desc, row).into_iter().map(|k| (k, Vec::new())));
    out
}

fn corrupt(key: &Key, reason: impl Into<String>) -> SqlError {
    SqlError::Corrupt { key: key.to_string(), reason: reason.into() }
}

/// Decodes a row of `desc` from its primary-index key and value.
pub(crate) fn decode_row(desc: &TableDescriptor, key: &Key, value: &[u8]) -> Result<Row, SqlError> {
    let (t, i, pk) = encoding::decode_index_key(key).map_err(|e| corrupt(key, e.to_string()))?;
    if t != desc.id || i != PRIMARY_INDEX_ID || pk.len() != desc.primary_key.len() {
        return Err(corrupt(key, format!("not a primary-index key of table {}", desc.id)));
    }
    let mut row = vec![Datum::Null; desc.columns.len()];
    for (id, d) in desc.primary_key.iter().zip(pk) {
        if let Some(p) = desc.column_position(*id) {
            row[p] = d;
        }
    }
    let flat = encoding::decode_value(value).map_err(|e| corrupt(key, e.to_string()))?;
    if flat.len() % 2 != 0 {
        return Err(corrupt(key, "row value is not a list of (column id, value) pairs"));
    }
    for pair in flat.chunks(2) {
        let id = match &pair[0] {
            Datum::Int(i) => u32::try_from(*i).map_err(|_| corrupt(key, format!("bad column id {i}")))?,
            other => return Err(corrupt(key, format!("expected a column id, found {other}"))),
        };
        // Unknown ids belong to dropped columns.
        if let (Some(p), Some(c)) = (desc.column_position(id), desc.column(id)) {
            if !c.ty.admits(&pair[1]) {
                return Err(corrupt(key, format!("value {} does not fit column {} of type {}", pair[1], c.name, c.ty)));
            }
            row[p] = pair[1].clone();
        }
    }
    Ok(row)
}

/// The key of a row's entry in a secondary index.
pub(crate) fn index_entry_key(desc: &TableDescriptor, idx: &IndexDescriptor, row: &[Datum]) -> Key {
    let mut ds = cols(desc, row, &idx.column_ids);
    ds.extend(pk_datums(desc, row));
    encoding::encode_index_key(desc.id, idx.id, &ds)
}

/// Every secondary index entry of a row.
fn index_keys(desc: &TableDescriptor, row: &[Datum]) -> Vec<Key> {
    desc.secondary_indexes().map(|i| index_entry_key(desc, i, row)).collect()
}

/// All rows of `desc` as of `ts`, in primary-key order.
pub(crate) async fn scan_rows(kv: &dyn Kv, desc: &TableDescriptor, ts: Timestamp) -> Result<Vec<Row>, SqlError> {
    kv.scan(&encoding::index_span(desc.id, PRIMARY_INDEX_ID), ts).await?.iter().map(|(k, v)| decode_row(desc, k, v)).collect()
}

/// All rows of `desc` as the transaction sees them.
pub(crate) async fn scan_txn(txn: &Txn, desc: &TableDescriptor) -> Result<Vec<Row>, SqlError> {
    scan_rows(&txn.view(), desc, txn.read_ts).await
}

/// The row with primary key `key`, as the transaction sees it.
pub(crate) async fn get_row(txn: &Txn, desc: &TableDescriptor, key: &Key) -> Result<Option<Row>, SqlError> {
    match txn.get(key).await? {
        Some(v) => Ok(Some(decode_row(desc, key, &v)?)),
        None => Ok(None),
    }
}

/// Writes `new`, replacing `old` (same primary key) if given: stale index entries are deleted.
pub(crate) fn write_row(txn: &mut Txn, desc: &TableDescriptor, old: Option<&[Datum]>, new: &[Datum]) {
    let new_keys = index_keys(desc, new);
    if let Some(old) = old {
        for k in index_keys(desc, old) {
            if !new_keys.contains(&k) {
                txn.delete(k);
            }
        }
    }
    txn.put(primary_key(desc, new), encode_row_value(desc, new));
    for k in new_keys {
        txn.put(k, Vec::new());
    }
}

/// Deletes a row and its index entries.
pub(crate) fn delete_row(txn: &mut Txn, desc: &TableDescriptor, row: &[Datum]) {
    txn.delete(primary_key(desc, row));
    for k in index_keys(desc, row) {
        txn.delete(k);
    }
}

/// Writes tombstones over every live key of a span (DROP, TRUNCATE, DROP INDEX).
pub(crate) async fn tombstone_span(txn: &mut Txn, span: &Span) -> Result<usize, SqlError> {
    let keys: Vec<Key> = txn.scan(span).await?.into_iter().map(|(k, _)| k).collect();
    let n = keys.len();
    for k in keys {
        txn.delete(k);
    }
    Ok(n)
}

/// `(a, b)=(1, 'x')`, for constraint violation messages.
pub(crate) fn describe_key(desc: &TableDescriptor, ids: &[u32], vals: &[Datum]) -> String {
    let names: Vec<&str> = ids.iter().map(|id| desc.column(*id).map(|c| c.name.as_str()).unwrap_or("?")).collect();
    let vals: Vec<String> = vals.iter().map(|d| d.to_string()).collect();
    format!("({})=({})", names.join(", "), vals.join(", "))
}

/// Checks the unique secondary indexes of `desc` for another row with the same values as `row`.
pub(crate) async fn check_unique(txn: &Txn, desc: &TableDescriptor, row: &[Datum]) -> Result<(), SqlError> {
    let pk = pk_datums(desc, row);
    for idx in desc.secondary_indexes().filter(|i| i.unique) {
        let vals = cols(desc, row, &idx.column_ids);
        if vals.iter().any(Datum::is_null) {
            continue;
        }
        let prefix = encoding::encode_index_key(desc.id, idx.id, &vals);
        for (k, _) in txn.scan(&Span::prefix(&prefix)).await? {
            let (_, _, ds) = encoding::decode_index_key(&k).map_err(|e| corrupt(&k, e.to_string()))?;
            if ds.get(vals.len()..) != Some(pk.as_slice()) {
                return Err(SqlError::UniqueViolation {
                    constraint: idx.name.clone(),
                    detail: format!("key {} already exists", describe_key(desc, &idx.column_ids, &vals)),
                });
            }
        }
    }
    Ok(())
}

/// Whether a row of `desc` with columns `ids` equal to `vals` exists (primary key lookup, unique
/// index prefix scan, or a full scan).
pub(crate) async fn exists_with(txn: &Txn, desc: &TableDescriptor, ids: &[u32], vals: &[Datum]) -> Result<bool, SqlError> {
    if ids == desc.primary_key.as_slice() {
        let key = encoding::encode_index_key(desc.id, PRIMARY_INDEX_ID, vals);
        return Ok(txn.get(&key).await?.is_some());
    }
    if let Some(idx) = desc.secondary_indexes().find(|i| i.column_ids == ids) {
        let prefix = encoding::encode_index_key(desc.id, idx.id, vals);
        return Ok(!txn.scan(&Span::prefix(&prefix)).await?.is_empty());
    }
    Ok(scan_txn(txn, desc).await?.iter().any(|r| cols(desc, r, ids) == vals))
}

/// Generates `unique_rowid()` values: 10-microsecond wall time shifted left 15 bits plus the HLC
/// logical counter, forced to increase within a session (as CockroachDB's, minus the node id).
#[derive(Debug, Default)]
pub(crate) struct RowIdGen {
    last: i64,
}

impl RowIdGen {
    pub fn next(&mut self, now: Timestamp) -> i64 {
        let candidate = (((now.wall / 10_000) << 15) | (now.logical as u64 & 0x7fff)) as i64 & i64::MAX;
        self.last = candidate.max(self.last.saturating_add(1));
        self.last
    }
}
