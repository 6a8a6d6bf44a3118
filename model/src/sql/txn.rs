//! The write buffer of a SQL transaction and the read view that overlays it on the KV store.
//!
//! Every statement (implicit or inside BEGIN ... COMMIT) runs against a [`Txn`]: reads at the
//! transaction's read timestamp see the transaction's own buffered writes; nothing reaches the
//! store until [`Txn::commit`] sends the whole buffer in one `Kv::commit` carrying the read
//! timestamp, so a write-write conflict aborts it (first committer wins). The read view can
//! never commit.

use crate::key::{Key, Span};
use crate::kv::{Kv, KvError, WriteOp};
use crate::mvcc::Value;
use crate::timestamp::Timestamp;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

/// A transaction in progress: read timestamp plus buffered writes (`None` = delete).
pub(crate) struct Txn {
    pub kv: Arc<dyn Kv>,
    pub read_ts: Timestamp,
    pub writes: BTreeMap<Key, Option<Value>>,
}

impl Txn {
    /// A transaction reading at the KV layer's current time.
    pub fn begin(kv: Arc<dyn Kv>) -> Self {
        let read_ts = kv.now();
        Txn { kv, read_ts, writes: BTreeMap::new() }
    }

    /// A [`Kv`] that reads the store with this transaction's writes laid over it.
    pub fn view(&self) -> TxnView<'_> {
        TxnView { kv: &*self.kv, writes: &self.writes }
    }

    pub fn put(&mut self, key: Key, value: Value) {
        self.writes.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Key) {
        self.writes.insert(key, None);
    }

    /// Reads one key at the read timestamp, own writes included.
    pub async fn get(&self, key: &Key) -> Result<Option<Value>, KvError> {
        self.view().get(key, self.read_ts).await
    }

    /// Scans at the read timestamp, own writes included.
    pub async fn scan(&self, span: &Span) -> Result<Vec<(Key, Value)>, KvError> {
        self.view().scan(span, self.read_ts).await
    }

    /// Sends the buffer as one commit; returns the commit timestamp.
    pub async fn commit(self) -> Result<Timestamp, KvError> {
        let ops = self
            .writes
            .into_iter()
            .map(|(k, v)| match v {
                Some(v) => WriteOp::Put(k, v),
                None => WriteOp::Delete(k),
            })
            .collect();
        self.kv.commit(ops, Some(self.read_ts)).await
    }
}

/// The store as seen from inside a transaction.
pub(crate) struct TxnView<'a> {
    kv: &'a dyn Kv,
    writes: &'a BTreeMap<Key, Option<Value>>,
}

#[async_trait]
impl Kv for TxnView<'_> {
    fn now(&self) -> Timestamp {
        self.kv.now()
    }

    async fn scan(&self, span: &Span, ts: Timestamp) -> Result<Vec<(Key, Value)>, KvError> {
        let base = self.kv.scan(span, ts).await?;
        if span.is_empty() {
            return Ok(base);
        }
        let mut merged: BTreeMap<Key, Value> = base.into_iter().collect();
        for (k, v) in self.writes.range::<Key, _>((Bound::Included(&span.start), Bound::Excluded(&span.end))) {
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().collect())
    }

    async fn get(&self, key: &Key, ts: Timestamp) -> Result<Option<Value>, KvError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.kv.get(key, ts).await,
        }
    }

    async fn commit(&self, _writes: Vec<WriteOp>, _read_ts: Option<Timestamp>) -> Result<Timestamp, KvError> {
        Err(KvError::Invalid("a transaction's read view cannot commit".into()))
    }
}
