//! Deliberately broken KV layers, for the negative tests that show each check can fail.
//!
//! A check that cannot fail proves nothing. Each [`Sabotage`] breaks one thing a check is meant
//! to catch, between the workload and the (correct) simulated cluster, and a test asserts that
//! the run then fails with the right property. Normal runs never use this module.

use async_trait::async_trait;
use model::{Key, Kv, KvError, Span, Timestamp, Value, WriteOp};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One way to break the database as the workload sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sabotage {
    /// Deletes are silently dropped from commits: a store that loses tombstones.
    DropTombstones,
    /// Reads are served two seconds in the past: a store that returns stale history.
    StaleReads,
    /// After 20 commits, every commit hangs: a cluster that stops making progress.
    HangCommits,
}

/// A [`Kv`] that misbehaves as its [`Sabotage`] says and otherwise forwards.
pub struct SabotagedKv {
    inner: Arc<dyn Kv>,
    kind: Sabotage,
    commits: AtomicUsize,
}

impl SabotagedKv {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Kv>, kind: Sabotage) -> Self {
        SabotagedKv { inner, kind, commits: AtomicUsize::new(0) }
    }

    fn read_ts(&self, ts: Timestamp) -> Timestamp {
        if self.kind == Sabotage::StaleReads {
            ts.sub(Duration::from_secs(2))
        } else {
            ts
        }
    }
}

#[async_trait]
impl Kv for SabotagedKv {
    fn now(&self) -> Timestamp {
        self.inner.now()
    }

    async fn scan(&self, span: &Span, ts: Timestamp) -> Result<Vec<(Key, Value)>, KvError> {
        self.inner.scan(span, self.read_ts(ts)).await
    }

    async fn get(&self, key: &Key, ts: Timestamp) -> Result<Option<Value>, KvError> {
        self.inner.get(key, self.read_ts(ts)).await
    }

    async fn commit(&self, writes: Vec<WriteOp>, read_ts: Option<Timestamp>) -> Result<Timestamp, KvError> {
        let n = self.commits.fetch_add(1, Ordering::Relaxed);
        match self.kind {
            Sabotage::DropTombstones => {
                let kept: Vec<WriteOp> = writes.into_iter().filter(|w| !matches!(w, WriteOp::Delete(_))).collect();
                self.inner.commit(kept, read_ts).await
            }
            Sabotage::HangCommits if n >= 20 => {
                madsim::time::sleep(Duration::from_secs(1_000_000)).await;
                Err(KvError::Invalid("unreachable: the sabotaged commit never returns".into()))
            }
            _ => self.inner.commit(writes, read_ts).await,
        }
    }
}
