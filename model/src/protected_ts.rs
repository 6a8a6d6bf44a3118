//! Protected timestamps: records that hold the GC queue back (CockroachDB's
//! `system.protected_ts_records`).
//!
//! A record says "the revisions of these spans needed to read them at `ts` must stay": no GC
//! threshold of a span a record covers may reach `ts`. Backup schedules write them, so that the
//! next incremental of a chain can still export from the previous backup's end time when the gap
//! between backups is longer than the GC TTL (CockroachDB's fix for incrementals failing at the
//! GC threshold). Every GC queue — [`crate::LocalKv::run_gc`], the simulated cluster's — reads
//! the records before it moves a threshold and clamps it with [`clamp`].
//!
//! The records live in the cluster as MVCC data like the jobs table; their value is versioned
//! JSON, and a record of a version this build does not know is refused, not guessed at (the GC
//! queue then holds back rather than collect what an unread record might protect).

use crate::catalog::{self, CatalogError, SYSTEM_PROTECTED_TS_TABLE_ID};
use crate::datum::Datum;
use crate::encoding;
use crate::key::{Key, Span};
use crate::kv::{Kv, KvError, WriteOp};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

/// The version of the record encoding this build writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// Who holds a record: it is released when its holder no longer needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Holder {
    /// A backup schedule's chain: the end time of the chain's newest backup, which the next
    /// incremental starts from.
    Schedule(i64),
    /// A running backup job: the time it reads at, for as long as it exports.
    Job(i64),
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Schedule(id) => write!(f, "schedule {id}"),
            Holder::Job(id) => write!(f, "job {id}"),
        }
    }
}

/// One protected timestamp record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedRecord {
    /// The encoding's version ([`RECORD_VERSION`]).
    pub version: u32,
    /// The record's id (its key).
    pub id: i64,
    /// Reads at this time must stay possible: every GC threshold of the spans stays below it.
    pub ts: Timestamp,
    /// The keys protected.
    pub spans: Vec<Span>,
    /// Who wrote it and releases it.
    pub holder: Holder,
}

impl ProtectedRecord {
    /// A record of the current version.
    pub fn new(id: i64, ts: Timestamp, spans: Vec<Span>, holder: Holder) -> Self {
        ProtectedRecord { version: RECORD_VERSION, id, ts, spans, holder }
    }

    /// True when the record covers any key of `span`.
    pub fn covers(&self, span: &Span) -> bool {
        self.spans.iter().any(|s| s.overlaps(span))
    }
}

/// The key of record `id`.
pub fn record_key(id: i64) -> Key {
    encoding::encode_index_key(SYSTEM_PROTECTED_TS_TABLE_ID, encoding::PRIMARY_INDEX_ID, &[Datum::Int(id)])
}

/// The write that stores `r`.
pub fn record_write(r: &ProtectedRecord) -> WriteOp {
    // A plain struct of integers, strings and byte vectors: serializing cannot fail; an empty
    // value would decode as corruption, never as "nothing protected".
    WriteOp::Put(record_key(r.id), serde_json::to_vec(r).unwrap_or_default())
}

/// The write that releases record `id`.
pub fn release_write(id: i64) -> WriteOp {
    WriteOp::Delete(record_key(id))
}

/// Decodes the record stored at `key`, refusing a version this build does not know and a record
/// that is not the one its key names.
pub fn decode(key: &Key, bytes: &[u8]) -> Result<ProtectedRecord, CatalogError> {
    let v: serde_json::Value = catalog::decode_json(key, bytes)?;
    let version = v.get("version").and_then(|v| v.as_u64());
    if version != Some(RECORD_VERSION as u64) {
        return Err(CatalogError::Corrupt {
            key: key.to_string(),
            reason: format!("protected timestamp record of version {version:?}; this build reads version {RECORD_VERSION}"),
        });
    }
    let r: ProtectedRecord = serde_json::from_value(v).map_err(|e| CatalogError::Corrupt { key: key.to_string(), reason: e.to_string() })?;
    if record_key(r.id) != *key {
        return Err(CatalogError::Corrupt { key: key.to_string(), reason: format!("protected timestamp record {} does not match its key", r.id) });
    }
    Ok(r)
}

/// Why the records could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// The cluster did not answer.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// A record does not decode.
    #[error(transparent)]
    Corrupt(#[from] CatalogError),
}

/// Every record as of `ts`, in id order.
pub async fn read_all(kv: &dyn Kv, ts: Timestamp) -> Result<Vec<ProtectedRecord>, ReadError> {
    let rows = kv.scan(&catalog::protected_ts_span(), ts).await?;
    Ok(rows.iter().map(|(k, v)| decode(k, v)).collect::<Result<_, _>>()?)
}

/// The GC threshold `span` may move to: `threshold`, held below the time of every record that
/// covers the span (a read at a record's time needs its threshold strictly below it).
pub fn clamp(threshold: Timestamp, span: &Span, records: &[ProtectedRecord]) -> Timestamp {
    records.iter().filter(|r| r.covers(span)).map(|r| r.ts.prev()).fold(threshold, Timestamp::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(a: &str, b: &str) -> Span {
        Span::new(a.as_bytes().to_vec(), b.as_bytes().to_vec())
    }

    #[test]
    fn a_record_holds_the_threshold_below_its_time_on_the_spans_it_covers_only() {
        let t = Timestamp::from_nanos;
        let records = vec![ProtectedRecord::new(1, t(50), vec![span("a", "c")], Holder::Schedule(7))];
        assert_eq!(clamp(t(100), &span("b", "d"), &records), t(50).prev());
        assert_eq!(clamp(t(40), &span("b", "d"), &records), t(40));
        assert_eq!(clamp(t(100), &span("c", "d"), &records), t(100));
    }

    #[test]
    fn records_round_trip_and_other_versions_are_refused() {
        let r = ProtectedRecord::new(3, Timestamp::from_nanos(9), vec![span("a", "b")], Holder::Job(4));
        let WriteOp::Put(key, bytes) = record_write(&r) else { panic!("a put") };
        assert_eq!(decode(&key, &bytes).unwrap(), r);
        let newer = String::from_utf8(bytes.clone()).unwrap().replace("\"version\":1", "\"version\":2");
        assert!(decode(&key, newer.as_bytes()).unwrap_err().to_string().contains("version Some(2)"));
        assert!(decode(&record_key(4), &bytes).is_err());
    }
}
