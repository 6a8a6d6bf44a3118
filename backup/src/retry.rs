//! Retrying transient storage failures: object stores answer 503s and time out, and one such
//! answer must not fail a BACKUP's planning or a RESTORE. Every read, listing, existence check
//! and lock-file operation of a backup goes through [`retrying`]. (A data file whose write
//! fails is not retried here: the job exports its span again into a new file.)

use crate::env::Env;
use crate::storage::{ExternalStorage, StorageError};

/// Runs a storage operation, retrying transient failures for a while with backoff (object
/// stores answer 503s): what every read, listing and existence check of a backup goes through.
pub async fn retrying<T, F, Fut>(env: &Env, mut op: F) -> Result<T, StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StorageError>>,
{
    let mut backoff = std::time::Duration::from_millis(50);
    let mut attempts = 0;
    loop {
        match op().await {
            Err(e) if e.is_retryable() && attempts < 20 => {
                attempts += 1;
                env.sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// Reads `path`, retrying transient failures for a while.
pub async fn read_retrying(env: &Env, storage: &dyn ExternalStorage, path: &str) -> Result<Vec<u8>, StorageError> {
    retrying(env, || storage.read(path)).await
}

