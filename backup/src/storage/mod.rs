//! Where backups are written: the [`ExternalStorage`] trait every backend implements (the
//! simulator's, the real ones, and [`MemStorage`] for unit tests), the [`StorageProvider`] that
//! opens one for a [`StorageUrl`], and the storage URLs themselves ([`url`]).
//!
//! What this module must never do: let a path climb out of the location its URL names (paths
//! are `/`-separated, relative to the URL's path, with no empty, `.` or `..` components), or
//! put a credential in an error ([`StorageError`] shows paths and redacted URLs only). Backends
//! behind the trait may fail at any call; callers decide on retries with
//! [`StorageError::is_retryable`].

#[cfg(feature = "real-storage")]
pub mod real;
pub mod url;

pub use self::url::{confine, Auth, ExternalIoSettings, NodelocalTarget, Scheme, StorageUrl, UrlError};

use async_trait::async_trait;
use model::NodeId;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a storage operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The object does not exist.
    #[error("{}: file does not exist", shown(path))]
    NotFound {
        /// The path asked for, relative to the storage root.
        path: String,
    },
    /// A failure that retrying may cure (timeouts, throttling, a connection reset).
    #[error("{}: transient storage error: {reason}", shown(path))]
    Transient {
        /// The path involved.
        path: String,
        /// What happened.
        reason: String,
    },
    /// A failure retrying will not cure (bad path, permission denied, malformed response).
    #[error("{}: storage error: {reason}", shown(path))]
    Permanent {
        /// The path involved.
        path: String,
        /// What happened.
        reason: String,
    },
    /// A create-only write ([`ExternalStorage::write_new`]) found an object already at the
    /// path: nothing was written.
    #[error("{path}: already exists")]
    AlreadyExists {
        /// The path written, relative to the storage root.
        path: String,
    },
    /// The URL itself is refused (invalid, or forbidden by [`ExternalIoSettings`]).
    #[error(transparent)]
    Refused(#[from] UrlError),
}

/// A path in a message: an operation on the location itself (a listing of its top, say) has
/// the empty path, which would print as a message starting with ": ".
fn shown(path: &str) -> &str {
    if path.is_empty() {
        "the storage location's own directory"
    } else {
        path
    }
}

impl StorageError {
    /// True if the same call may succeed when retried.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Transient { .. })
    }

    /// True for [`StorageError::NotFound`]: how callers tell "absent" from "broken".
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }

    /// True for [`StorageError::AlreadyExists`]: a create-only write lost to an object already
    /// there (possibly its own earlier attempt, whose success report was lost).
    pub fn is_already_exists(&self) -> bool {
        matches!(self, StorageError::AlreadyExists { .. })
    }
}

/// One storage location (the URL's bucket and path): whole objects written, read, listed and
/// deleted by `/`-separated paths relative to it. The methods are async because real and
/// simulated backends wait on the network.
#[async_trait]
pub trait ExternalStorage: Send + Sync {
    /// Writes a whole object (replacing it).
    async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError>;

    /// Writes a whole object only if nothing is at `path` yet, else fails with
    /// [`StorageError::AlreadyExists`] and leaves the object there untouched. This is what makes
    /// two backups to one location exclusive (their lock files, their manifests): it must be
    /// atomic wherever the backend allows it (a conditional PUT, `link(2)`, a check under the
    /// store's own lock). A backend that cannot do it atomically uses [`write_new_checked`] and
    /// says so. A write that lands but reports a failure is retried by callers, which then get
    /// `AlreadyExists` for their own bytes: they compare what is there with what they wrote.
    async fn write_new(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError>;

    /// Reads a whole object; [`StorageError::NotFound`] if it is absent.
    async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError>;

    /// Every object path starting with `prefix` (a plain string prefix, so `2020` matches
    /// `20200327/…`), relative to the storage root, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;

    /// Deletes an object; deleting an absent object is not an error (as on S3 and GCS).
    async fn delete(&self, path: &str) -> Result<(), StorageError>;

    /// True if the object exists. The default reads it; backends with a cheaper check
    /// (HEAD, stat) override it.
    async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        match self.read(path).await {
            Ok(_) => Ok(true),
            Err(StorageError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The create-only write of a backend that has no atomic one: an existence check, a plain
/// write, and a read-back compare. What it does NOT guarantee: two writers that both pass the
/// existence check before either writes both write, and the later write replaces the earlier
/// one; the read-back then tells the earlier writer (if its read comes after the later write)
/// that its object was replaced ([`StorageError::AlreadyExists`]), but a writer whose read-back
/// ran between the two writes believes it won. The window is the time between one writer's
/// check and the other's write. Used only where the backend refuses conditional writes
/// (HTTP/WebDAV through `object_store`).
pub async fn write_new_checked(storage: &dyn ExternalStorage, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
    if storage.exists(path).await? {
        return Err(StorageError::AlreadyExists { path: path.to_string() });
    }
    storage.write(path, data.clone()).await?;
    match storage.read(path).await {
        Ok(back) if back == data => Ok(()),
        Ok(_) => Err(StorageError::AlreadyExists { path: path.to_string() }),
        Err(e) => Err(e),
    }
}

/// How a backup opens the storage a URL names (the simulator and the real backends implement
/// it). `node` is the node doing the I/O: it resolves `nodelocal://self` and lets a simulated
/// backend fail per node.
pub trait StorageProvider: Send + Sync {
    /// Opens the location `url` names, or refuses it.
    fn open(&self, url: &StorageUrl, node: NodeId) -> Result<Arc<dyn ExternalStorage>, StorageError>;
}

/// `location` (a URL, redacted or not) with `path` appended to its path, before any query
/// string: how a file or subdirectory of a location is named in messages and opened.
pub fn join_path(location: &str, path: &str) -> String {
    match location.split_once('?') {
        Some((base, query)) => format!("{}/{path}?{query}", base.trim_end_matches('/')),
        None => format!("{}/{path}", location.trim_end_matches('/')),
    }
}

/// Checks an object path: non-empty, `/`-separated, no empty, `.` or `..` components, no NUL.
/// Every backend calls it first so a path can never leave its root.
pub fn check_path(path: &str) -> Result<(), StorageError> {
    if path.is_empty() {
        return Err(StorageError::Permanent { path: String::new(), reason: "an object path must not be empty".into() });
    }
    url::check_components(path).map_err(|reason| StorageError::Permanent { path: path.to_string(), reason })
}

/// Checks a list prefix: empty (everything) or a path that may end in `/`.
pub fn check_prefix(prefix: &str) -> Result<(), StorageError> {
    match prefix.strip_suffix('/').unwrap_or(prefix) {
        "" if prefix.is_empty() => Ok(()),
        "" => Err(StorageError::Permanent { path: prefix.to_string(), reason: "empty path component".into() }),
        p => url::check_components(p).map_err(|reason| StorageError::Permanent { path: prefix.to_string(), reason }),
    }
}

type Objects = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

fn lock(objects: &Objects) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
    // A poisoned lock only means another test thread panicked; the map itself is intact.
    objects.lock().unwrap_or_else(|e| e.into_inner())
}

/// An in-memory [`ExternalStorage`] for unit tests: a sorted map of full object keys, shared by
/// every clone, seen through a root prefix (so a store opened at `dest/20200327` sees the same
/// objects as one at `dest`).
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    objects: Objects,
    root: String,
}

impl MemStorage {
    /// An empty store with its root at the top.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same objects seen from `root` (a `/`-separated path, empty for the top).
    pub fn at(&self, root: &str) -> Result<MemStorage, StorageError> {
        let root = root.trim_matches('/');
        if !root.is_empty() {
            check_path(root)?;
        }
        Ok(MemStorage { objects: Arc::clone(&self.objects), root: self.full(root) })
    }

    fn full(&self, path: &str) -> String {
        match (self.root.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.root.clone(),
            (false, false) => format!("{}/{}", self.root, path),
        }
    }

    /// Every object under this root with its size, sorted: for test assertions.
    pub fn snapshot(&self) -> BTreeMap<String, usize> {
        let dir = self.full("");
        lock(&self.objects).iter().filter_map(|(k, v)| relative(&dir, k).map(|r| (r.to_string(), v.len()))).collect()
    }
}

/// `key` relative to `dir` if it lies under it.
fn relative<'a>(dir: &str, key: &'a str) -> Option<&'a str> {
    if dir.is_empty() {
        return Some(key);
    }
    key.strip_prefix(dir)?.strip_prefix('/')
}

#[async_trait]
impl ExternalStorage for MemStorage {
    async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        check_path(path)?;
        lock(&self.objects).insert(self.full(path), data);
        Ok(())
    }

    async fn write_new(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        check_path(path)?;
        // Checked and inserted under one lock: atomic.
        match lock(&self.objects).entry(self.full(path)) {
            std::collections::btree_map::Entry::Occupied(_) => Err(StorageError::AlreadyExists { path: path.to_string() }),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(data);
                Ok(())
            }
        }
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        check_path(path)?;
        lock(&self.objects).get(&self.full(path)).cloned().ok_or_else(|| StorageError::NotFound { path: path.to_string() })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        check_prefix(prefix)?;
        let dir = self.full("");
        Ok(lock(&self.objects).keys().filter_map(|k| relative(&dir, k)).filter(|r| r.starts_with(prefix)).map(str::to_string).collect())
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        lock(&self.objects).remove(&self.full(path));
        Ok(())
    }

    async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        check_path(path)?;
        Ok(lock(&self.objects).contains_key(&self.full(path)))
    }
}

/// A [`StorageProvider`] of [`MemStorage`]s for unit tests: one store per location (the URL
/// without credentials and without its path, `nodelocal://self` resolved to the opening
/// node), opened at the URL's path, and every URL first checked against its
/// [`ExternalIoSettings`].
#[derive(Debug, Default)]
pub struct MemStorageProvider {
    settings: ExternalIoSettings,
    stores: Mutex<BTreeMap<String, MemStorage>>,
}

impl MemStorageProvider {
    /// A provider with CockroachDB's default settings (everything allowed).
    pub fn new() -> Self {
        Self::default()
    }

    /// A provider that refuses what `settings` refuse.
    pub fn with_settings(settings: ExternalIoSettings) -> Self {
        MemStorageProvider { settings, stores: Mutex::default() }
    }

    /// The whole store a URL's location lives in (its root, not the URL's path), for test
    /// assertions; `None` if nothing opened it yet.
    pub fn store(&self, url: &StorageUrl, node: NodeId) -> Option<MemStorage> {
        self.stores.lock().unwrap_or_else(|e| e.into_inner()).get(&store_key(url, node)).cloned()
    }
}

/// The location identity: the URL without credentials, with its path removed, and
/// `nodelocal://self` resolved to `node`.
fn store_key(url: &StorageUrl, node: NodeId) -> String {
    match url.nodelocal_target() {
        Some(NodelocalTarget::SelfNode) => format!("nodelocal://{node}"),
        // Non-credential parameters (endpoint, region, account name) identify the store too.
        _ => url.root().without_credentials(),
    }
}

impl StorageProvider for MemStorageProvider {
    fn open(&self, url: &StorageUrl, node: NodeId) -> Result<Arc<dyn ExternalStorage>, StorageError> {
        self.settings.check(url)?;
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        let store = stores.entry(store_key(url, node)).or_default();
        Ok(Arc::new(store.at(url.path())?))
    }
}

#[cfg(test)]
mod tests;
