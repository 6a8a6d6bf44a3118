//! What BACKUP and RESTORE need from the process they run in: the cluster (through `model`'s KV
//! API), storage (through [`crate::storage::StorageProvider`]), and a [`Runtime`] to wait and to
//! run background work.
//!
//! Nothing here knows whether it is simulated: the simulator implements [`Runtime`] on madsim's
//! simulated time and hands in its own KV client and storage; a real process hands in tokio and
//! real backends. No wall clock is read here: time comes from the cluster's clock, `Kv::now`.

use crate::storage::url::ExternalIoSettings;
use crate::storage::StorageProvider;
use futures::future::BoxFuture;
use model::ClusterKv;
use std::sync::Arc;
use std::time::Duration;

/// Waiting and background tasks, supplied by the host process.
pub trait Runtime: Send + Sync {
    /// Completes after `d` of the host's time (simulated time in the simulator).
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
    /// Runs `fut` in the background on this node.
    fn spawn(&self, fut: BoxFuture<'static, ()>);
    /// Starts `fut` alongside the caller, which will await the returned future for its end:
    /// CPU work that may use another core (RESTORE reads and decodes the next data files while
    /// it ingests the current one). A runtime with threads runs it on one of them; the default
    /// runs it in place when the returned future is awaited, so a runtime that runs spawned
    /// tasks only when told (a test's) still finishes the caller's work.
    fn start(&self, fut: BoxFuture<'static, ()>) -> BoxFuture<'static, ()> {
        fut
    }
    /// Fills `buf` with random bytes: the salts and IVs of encrypted backups. A real process
    /// must use a cryptographically secure source (the OS's); the simulator draws from its
    /// seeded generator, so that a replayed seed writes the very same encrypted bytes. Only
    /// encrypted backups call it: an unencrypted run draws nothing.
    fn fill_random(&self, buf: &mut [u8]);
}

/// Work started with [`Runtime::start`] that answers with a value: RESTORE's read-ahead of a
/// data file, BACKUP's write of a page while it exports the next.
pub(crate) struct Started<T> {
    work: BoxFuture<'static, ()>,
    answer: futures::channel::oneshot::Receiver<T>,
}

impl<T: Send + 'static> Started<T> {
    /// Starts `fut` on `runtime`.
    pub(crate) fn start(runtime: &dyn Runtime, fut: impl std::future::Future<Output = T> + Send + 'static) -> Started<T> {
        let (tx, answer) = futures::channel::oneshot::channel();
        let work = runtime.start(Box::pin(async move {
            // The caller may have given up meanwhile and dropped the receiver: nothing to do.
            let _ = tx.send(fut.await);
        }));
        Started { work, answer }
    }

    /// Waits for the work's end; `None` if it ended without an answer (it panicked).
    pub(crate) async fn wait(self) -> Option<T> {
        self.work.await;
        self.answer.await.ok()
    }
}

/// Where a node reports what its jobs do (claimed, adopted, checkpointed, finished): the
/// simulator's trace, a real process's log. Never given a secret.
pub trait EventLog: Send + Sync {
    /// Records one event.
    fn event(&self, what: &str, detail: String);
}

/// An [`EventLog`] that drops everything.
pub struct NoEventLog;

impl EventLog for NoEventLog {
    fn event(&self, _what: &str, _detail: String) {}
}

/// The default of [`JobSettings::file_target_bytes`]: about how many bytes of keys
/// and values one data file holds (CockroachDB's
/// `bulkio.backup.file_size` is 128 MiB; smaller here keeps the coordinator's memory — a page,
/// its encoding and its sealed copy — well under a gigabyte whatever the range's size).
pub const TARGET_FILE_BYTES: u64 = 64 << 20;

/// Tunables of the job system. Serializable so that a simulated world's configuration can
/// carry the values its seed drew.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct JobSettings {
    /// How long a coordinator's claim on a job lasts without a heartbeat; after that any node
    /// may adopt the job and resume it from its checkpoint.
    pub lease: Duration,
    /// How often a node looks for jobs to adopt.
    pub adopt_interval: Duration,
    /// How long a job keeps retrying an export, ingest or storage operation that fails with a
    /// retryable error before it gives up and fails.
    pub retry_budget: Duration,
    /// About how many bytes of keys and values one data file holds: a range larger than this is
    /// exported in pages, one file each, resuming where the last page stopped. A setting rather
    /// than a constant so that a test (the simulation draws it per seed) can make it small
    /// enough for ranges to cross it often.
    pub file_target_bytes: u64,
    /// How many times one storage operation (a read, listing, existence check, lock-file
    /// operation) is retried after a transient failure before the failure is the statement's.
    pub storage_retries: u32,
    /// How many entries RESTORE hands the cluster in one ingest when it merges an incremental
    /// chain.
    pub ingest_batch: usize,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            lease: Duration::from_secs(10),
            adopt_interval: Duration::from_secs(3),
            retry_budget: Duration::from_secs(600),
            file_target_bytes: TARGET_FILE_BYTES,
            storage_retries: 20,
            ingest_batch: 1_000,
        }
    }
}

/// Everything a node needs to run bulk statements and jobs.
#[derive(Clone)]
pub struct Env {
    /// The cluster, as seen from this node.
    pub kv: Arc<dyn ClusterKv>,
    /// Opens the storage a URL names.
    pub storage: Arc<dyn StorageProvider>,
    /// Sleep and spawn.
    pub runtime: Arc<dyn Runtime>,
    /// Which URLs this node refuses (`--external-io-dir`, `--external-io-disable-http`, ...).
    pub io: ExternalIoSettings,
    /// This node's `--locality` (none by default).
    pub locality: crate::locality::Locality,
    /// Identifies the cluster in manifests (a chain from another cluster is refused).
    pub cluster_id: String,
    /// Job system tunables.
    pub jobs: JobSettings,
    /// Where job events go.
    pub log: Arc<dyn EventLog>,
    /// The planted bug this run selected, if any. It has an effect only in a build with the
    /// `planted-bugs` feature ([`Env::planted`]).
    pub planted: Option<crate::planted::PlantedBug>,
}

impl Env {
    /// This node's id.
    pub fn node(&self) -> model::NodeId {
        self.kv.node_id()
    }

    /// True when this run planted `bug`. Constant `false` without the `planted-bugs` feature,
    /// so a default build's planted branches are dead code the compiler removes, and call sites
    /// need no `cfg` of their own.
    #[inline]
    pub fn planted(&self, bug: crate::planted::PlantedBug) -> bool {
        cfg!(feature = "planted-bugs") && self.planted == Some(bug)
    }

    /// Records a job event.
    pub fn event(&self, what: &str, detail: String) {
        self.log.event(what, detail)
    }

    /// Sleeps on the host's clock.
    pub async fn sleep(&self, d: Duration) {
        self.runtime.sleep(d).await
    }
}

/// Test helpers shared by the unit tests of several modules.
#[cfg(test)]
pub(crate) mod test_support {
    use super::Runtime;

    /// A runtime whose randomness is a counter (1, 2, 3, ...), that never sleeps for real and
    /// drops what is spawned: what the cipher's and `ENCRYPTION-INFO`'s tests draw from.
    pub(crate) struct CountingRuntime(pub(crate) std::sync::Mutex<u8>);

    impl Runtime for CountingRuntime {
        fn sleep(&self, _d: std::time::Duration) -> futures::future::BoxFuture<'static, ()> {
            Box::pin(async {})
        }
        fn spawn(&self, _fut: futures::future::BoxFuture<'static, ()>) {}
        fn fill_random(&self, buf: &mut [u8]) {
            let mut n = self.0.lock().unwrap();
            for b in buf.iter_mut() {
                *n = n.wrapping_add(1);
                *b = *n;
            }
        }
    }
}
