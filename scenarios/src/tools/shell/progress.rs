//! What a slow statement is waiting for. An unreachable endpoint used to look like a hung shell:
//! each storage call retries inside `object_store`, then the backup's own retry loop retries the
//! call, for tens of seconds in all, and nothing was printed. The shell wraps its storage
//! provider in [`WatchedProvider`], which notes every call in flight and every transient failure
//! per location in an [`Activity`]; while a statement runs, the shell prints
//! [`Activity::describe`] now and then. Locations are shown redacted and errors are the storage
//! layer's, which name no secret.

use async_trait::async_trait;
use backup::storage::{ExternalStorage, StorageError, StorageProvider, StorageUrl};
use model::NodeId;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The storage calls in flight and the locations failing right now.
#[derive(Default)]
pub struct Activity {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next: u64,
    in_flight: BTreeMap<u64, Call>,
    failing: BTreeMap<String, Failing>,
}

struct Call {
    location: String,
    op: &'static str,
    path: String,
    since: Instant,
}

struct Failing {
    failures: u64,
    since: Instant,
    last_error: String,
}

/// Longest error text repeated in a progress line.
const MAX_ERROR_CHARS: usize = 240;

impl Activity {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets earlier failures: a new statement reports only its own.
    pub fn forget_failures(&self) {
        self.lock().failing.clear();
    }

    fn begin(self: &Arc<Self>, location: &str, op: &'static str, path: &str) -> CallGuard {
        let mut s = self.lock();
        let id = s.next;
        s.next += 1;
        s.in_flight.insert(id, Call { location: location.to_string(), op, path: path.to_string(), since: Instant::now() });
        CallGuard { activity: self.clone(), id }
    }

    fn ended<T>(&self, location: &str, result: &Result<T, StorageError>) {
        let mut s = self.lock();
        match result {
            Err(e) if e.is_retryable() => {
                let mut text: String = e.to_string();
                if text.chars().count() > MAX_ERROR_CHARS {
                    text = text.chars().take(MAX_ERROR_CHARS).chain("…".chars()).collect();
                }
                let f = s.failing.entry(location.to_string()).or_insert(Failing { failures: 0, since: Instant::now(), last_error: String::new() });
                f.failures += 1;
                f.last_error = text;
            }
            // An answer, even "not found", means the location is reachable again.
            _ => {
                s.failing.remove(location);
            }
        }
    }

    /// One line on what is being waited for at `now`, if anything: a location whose calls keep
    /// failing (with the last error and for how long), else the oldest call in flight for at
    /// least `patience`.
    pub fn describe(&self, now: Instant, patience: Duration) -> Option<String> {
        let s = self.lock();
        if let Some((location, f)) = s.failing.iter().max_by_key(|(_, f)| f.failures) {
            let secs = now.saturating_duration_since(f.since).as_secs();
            let times = if f.failures == 1 { "once".to_string() } else { format!("{} times", f.failures) };
            return Some(format!("still retrying {location}: failed {times} in {secs} s, last: {}", f.last_error));
        }
        let oldest = s.in_flight.values().min_by_key(|c| c.since)?;
        let waited = now.saturating_duration_since(oldest.since);
        if waited < patience {
            return None;
        }
        Some(format!("waiting for {}: {} {} has had no answer for {} s", oldest.location, oldest.op, oldest.path, waited.as_secs()))
    }
}

/// Removes a call from the in-flight set however it ends (a statement canceled mid-call drops
/// its future).
struct CallGuard {
    activity: Arc<Activity>,
    id: u64,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.activity.lock().in_flight.remove(&self.id);
    }
}

/// A [`StorageProvider`] whose storages report to an [`Activity`].
pub struct WatchedProvider {
    inner: Arc<dyn StorageProvider>,
    activity: Arc<Activity>,
}

impl WatchedProvider {
    /// Watches what `inner` opens.
    pub fn new(inner: Arc<dyn StorageProvider>, activity: Arc<Activity>) -> Self {
        WatchedProvider { inner, activity }
    }
}

impl StorageProvider for WatchedProvider {
    fn open(&self, url: &StorageUrl, node: NodeId) -> Result<Arc<dyn ExternalStorage>, StorageError> {
        let inner = self.inner.open(url, node)?;
        Ok(Arc::new(Watched { inner, location: url.redacted(), activity: self.activity.clone() }))
    }
}

struct Watched {
    inner: Arc<dyn ExternalStorage>,
    /// The redacted URL.
    location: String,
    activity: Arc<Activity>,
}

impl Watched {
    async fn watch<T>(&self, op: &'static str, path: &str, call: impl std::future::Future<Output = Result<T, StorageError>>) -> Result<T, StorageError> {
        let _guard = self.activity.begin(&self.location, op, path);
        let r = call.await;
        self.activity.ended(&self.location, &r);
        r
    }
}

#[async_trait]
impl ExternalStorage for Watched {
    async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.watch("write of", path, self.inner.write(path, data)).await
    }

    async fn write_new(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.watch("write of", path, self.inner.write_new(path, data)).await
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.watch("read of", path, self.inner.read(path)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.watch("listing of", if prefix.is_empty() { "/" } else { prefix }, self.inner.list(prefix)).await
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.watch("delete of", path, self.inner.delete(path)).await
    }

    async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        self.watch("check of", path, self.inner.exists(path)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backup::storage::MemStorage;

    /// Fails every call with a transient error until told otherwise.
    struct Flaky {
        failing: Mutex<bool>,
        mem: MemStorage,
    }

    #[async_trait]
    impl ExternalStorage for Flaky {
        async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
            if *self.failing.lock().unwrap() {
                return Err(StorageError::Transient { path: path.into(), reason: "connection refused".into() });
            }
            self.mem.write(path, data).await
        }
        async fn write_new(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
            self.mem.write_new(path, data).await
        }
        async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
            self.mem.read(path).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
            self.mem.list(prefix).await
        }
        async fn delete(&self, path: &str) -> Result<(), StorageError> {
            self.mem.delete(path).await
        }
    }

    #[test]
    fn failures_are_described_per_location_until_an_answer_comes() {
        let activity = Arc::new(Activity::default());
        let flaky = Arc::new(Flaky { failing: Mutex::new(true), mem: MemStorage::new() });
        let w = Watched { inner: flaky.clone(), location: "s3://b/p?AWS_SECRET_ACCESS_KEY=redacted".into(), activity: activity.clone() };
        let now = Instant::now();
        assert_eq!(activity.describe(now, Duration::ZERO), None);
        for _ in 0..3 {
            assert!(futures::executor::block_on(w.write("BACKUP", vec![1])).is_err());
        }
        let d = activity.describe(Instant::now(), Duration::from_secs(60)).unwrap();
        assert!(
            d.starts_with(
                "still retrying s3://b/p?AWS_SECRET_ACCESS_KEY=redacted: failed 3 times in 0 s, last: BACKUP: transient storage error: connection refused"
            ),
            "{d}"
        );
        // Not-found is an answer: the location is reachable.
        assert!(futures::executor::block_on(w.read("nope")).is_err());
        assert_eq!(activity.describe(Instant::now(), Duration::from_secs(60)), None);
        *flaky.failing.lock().unwrap() = false;
        futures::executor::block_on(w.write("BACKUP", vec![1])).unwrap();
        activity.forget_failures();
        assert_eq!(activity.describe(Instant::now(), Duration::ZERO), None, "nothing in flight");
    }

    #[test]
    fn a_call_without_an_answer_is_described_after_the_patience() {
        let activity = Arc::new(Activity::default());
        let guard = activity.begin("https://h/p", "read of", "BACKUP");
        let start = Instant::now();
        assert_eq!(activity.describe(start, Duration::from_secs(2)), None);
        let d = activity.describe(start + Duration::from_secs(5), Duration::from_secs(2)).unwrap();
        assert!(d.starts_with("waiting for https://h/p: read of BACKUP has had no answer for "), "{d}");
        drop(guard);
        assert_eq!(activity.describe(start + Duration::from_secs(5), Duration::ZERO), None, "a dropped call is no longer in flight");
    }
}
