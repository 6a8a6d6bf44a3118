//! [`RealStorageProvider`]: the [`StorageProvider`] of a real process. It checks every URL
//! against the node's [`ExternalIoSettings`], then opens `nodelocal` on the file system and
//! everything else through `object_store`, reusing one client per bucket and credentials.

use super::builders;
use super::{NodelocalStorage, ObjectStorage, RealStorageOptions, Secrets};
use crate::storage::url::{ExternalIoSettings, NodelocalTarget, Scheme, StorageUrl};
use crate::storage::{ExternalStorage, StorageError, StorageProvider};
use model::NodeId;
use object_store::ObjectStore;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Opens real storage for URLs; one per process (or per in-process test cluster).
pub struct RealStorageProvider {
    settings: ExternalIoSettings,
    options: RealStorageOptions,
    /// Clients by the URL's root with credentials (never printed): a reqwest client per bucket
    /// keeps its connections across the many files of one backup.
    clients: Mutex<BTreeMap<String, Arc<dyn ObjectStore>>>,
}

impl std::fmt::Debug for RealStorageProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealStorageProvider").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl RealStorageProvider {
    /// A provider refusing what `settings` refuse, with `options` for what URLs do not say.
    pub fn new(settings: ExternalIoSettings, options: RealStorageOptions) -> Self {
        RealStorageProvider { settings, options, clients: Mutex::default() }
    }

    /// The settings URLs are checked against.
    pub fn settings(&self) -> &ExternalIoSettings {
        &self.settings
    }

    fn client(&self, url: &StorageUrl) -> Result<Arc<dyn ObjectStore>, StorageError> {
        let key = url.root().expose();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let c = builders::open(url, &self.options, &self.settings)?;
        clients.insert(key, c.clone());
        Ok(c)
    }
}

impl StorageProvider for RealStorageProvider {
    fn open(&self, url: &StorageUrl, node: NodeId) -> Result<Arc<dyn ExternalStorage>, StorageError> {
        self.settings.check(url)?;
        match url.scheme() {
            Scheme::Nodelocal => {
                // A real process is one node: it reaches its own external-io directory only
                // (CockroachDB forwards nodelocal://N to node N; there is no other node here).
                if let Some(NodelocalTarget::Node(n)) = url.nodelocal_target() {
                    if n != node {
                        return Err(StorageError::Permanent {
                            path: url.redacted(),
                            reason: format!(
                                "this process is node {node} and can reach only its own external-io directory; use nodelocal://{node}/… or nodelocal://self/…"
                            ),
                        });
                    }
                }
                let Some(dir) = &self.settings.external_io_dir else {
                    return Err(crate::storage::url::UrlError::LocalFileAccessDisabled.into());
                };
                Ok(Arc::new(NodelocalStorage::open(dir, url)?))
            }
            _ => {
                let client = self.client(url)?;
                let secrets = Secrets::of(url, &[self.options.gs_default_key.as_deref().unwrap_or_default()]);
                Ok(Arc::new(ObjectStorage::new(client, url.path(), secrets)?))
            }
        }
    }
}
