//! Retrying transient storage failures: object stores answer 503s and time out, and one such
//! answer must not fail a BACKUP's planning or a RESTORE. Every read, listing, existence check
//! and lock-file operation of a backup goes through [`retrying`]. (A data file whose write
//! fails is not retried here: the job exports its span again into a new file.)

use crate::env::Env;
use crate::storage::{ExternalStorage, StorageError};
use std::time::Duration;

/// The one backoff policy of a backup's retry loops (storage, the job record, KV exports):
/// start short, double, cap at [`Backoff::MAX`] so that a long outage is polled every two
/// seconds rather than ever more rarely. Sleeps on the environment's clock (simulated time
/// inside the simulator).
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    next: Duration,
}

impl Backoff {
    /// The first wait of a storage or export retry.
    pub const FIRST: Duration = Duration::from_millis(50);
    /// The longest wait.
    pub const MAX: Duration = Duration::from_secs(2);

    /// Starts at [`Backoff::FIRST`].
    pub fn new() -> Backoff {
        Backoff::starting_at(Backoff::FIRST)
    }

    /// Starts at `first` (a poll of the job record waits longer than a storage retry).
    pub fn starting_at(first: Duration) -> Backoff {
        Backoff { first, next: first }
    }

    /// Sleeps the current wait, then doubles it (up to [`Backoff::MAX`]).
    pub async fn wait(&mut self, env: &Env) {
        env.sleep(self.next).await;
        self.next = (self.next * 2).min(Backoff::MAX);
    }

    /// Back to the first wait, after progress.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new()
    }
}

/// Runs a storage operation, retrying transient failures for a while with backoff (object
/// stores answer 503s): what every read, listing and existence check of a backup goes through.
pub async fn retrying<T, F, Fut>(env: &Env, mut op: F) -> Result<T, StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StorageError>>,
{
    let mut backoff = Backoff::new();
    let mut attempts = 0;
    loop {
        match op().await {
            Err(e) if e.is_retryable() && attempts < env.jobs.storage_retries => {
                attempts += 1;
                backoff.wait(env).await;
            }
            other => return other,
        }
    }
}

/// Reads `path`, retrying transient failures for a while.
pub async fn read_retrying(env: &Env, storage: &dyn ExternalStorage, path: &str) -> Result<Vec<u8>, StorageError> {
    retrying(env, || storage.read(path)).await
}
