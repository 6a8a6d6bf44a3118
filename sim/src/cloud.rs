//! The simulated cloud object service: what the `s3`, `gs`, `azure`, `http` and `https` URLs
//! reach in the simulation. It sits where the network sits for a real process — below
//! `object_store`'s [`ObjectStore`] trait — so the backup code above it is the production code
//! path, unchanged: `backup::storage::real::ObjectStorage` (its keys, listings, error mapping
//! and secret scrubbing) and `backup::storage::real::builders` (how a URL's parameters become
//! the credentials a client presents). Only `nodelocal` reaches [`SimStorage`] directly, since
//! its real backend is the node's file system.
//!
//! What the service does, as a cloud service would:
//! - It authenticates. A bucket the run registered credentials for ([`SimStorage::grant`])
//!   serves only clients presenting one of them; everything else is answered `403` on every
//!   request. The credentials a URL presents are read back from the client configuration the
//!   real builders make of it (access key pair and session token for s3, the decoded JSON key
//!   for gs, account name and key for azure), so a fault in decoding a URL's credentials is a
//!   backup that cannot reach its bucket. A denial echoes the credentials it was given, as a
//!   careless server or proxy would: the backup code must scrub them from what it reports.
//! - It answers with `object_store`'s own error shapes: a `404` is `NotFound`, a lost
//!   conditional write `AlreadyExists`; a transient failure arrives as the client's "Server
//!   returned non-2xx status code" text with 503, 500, 429 or 408 in turn, or as a connection
//!   reset (`HttpError`), so every way the client reports a retryable failure reaches the
//!   backup's classification; a key over 1024 bytes gets a permanent `400 KeyTooLongError`.
//! - `http` and `https` servers (WebDAV) have no conditional PUT, as in `object_store`: a
//!   create-only write is `NotImplemented`, and the backup must fall back.
//!
//! Every operation draws its latency and fate from [`SimStorage`], traps and outages included:
//! the objects, their keys and the fault model are the same for every scheme.
//!
//! The service needs the backup's real-storage code and `object_store` (the `cloud` feature, on
//! by default). A build without it (the fuzz crate's, which only parses run files) opens every
//! URL directly on the store, as `nodelocal` is.

use crate::storage::{SimBucket, SimStorage};
use backup::storage::url::{Scheme, StorageUrl};
use backup::storage::{ExternalStorage, StorageError, StorageProvider};
use model::NodeId;
use std::sync::Arc;

#[cfg(feature = "cloud")]
mod service;
#[cfg(feature = "cloud")]
pub use service::presented;

/// Opens URLs on the shared store for the nodes.
#[derive(Clone)]
pub struct SimStorageProvider {
    storage: SimStorage,
    /// The cluster's node count: `nodelocal://N` names node N's external-io directory, and a
    /// node the cluster does not have cannot be reached (CockroachDB fails to dial it). `None`
    /// accepts every node number.
    nodes: Option<usize>,
}

impl SimStorage {
    /// The provider nodes open URLs through, for a cluster of any size.
    pub fn provider(&self) -> SimStorageProvider {
        SimStorageProvider { storage: self.clone(), nodes: None }
    }

    /// The provider the nodes of a cluster of `nodes` nodes open URLs through.
    pub fn provider_for(&self, nodes: usize) -> SimStorageProvider {
        SimStorageProvider { storage: self.clone(), nodes: Some(nodes) }
    }
}

impl StorageProvider for SimStorageProvider {
    /// `nodelocal` straight onto the store (its real backend is a file system); every cloud
    /// scheme through the backup's own object-store adapter onto the simulated cloud service.
    fn open(&self, url: &StorageUrl, node: NodeId) -> Result<Arc<dyn ExternalStorage>, StorageError> {
        if let (Some(nodes), Some(backup::storage::url::NodelocalTarget::Node(n))) = (self.nodes, url.nodelocal_target()) {
            if n as usize > nodes {
                return Err(StorageError::Permanent {
                    path: url.redacted(),
                    reason: format!(
                        "there is no node n{n} in this cluster (its nodes are n1..n{nodes}): nodelocal://{n} names that node's external-io directory"
                    ),
                });
            }
        }
        match url.scheme() {
            Scheme::Nodelocal => Ok(Arc::new(SimBucket::new(self.storage.clone(), url, node))),
            #[cfg(feature = "cloud")]
            _ => service::open(&self.storage, url, node),
            #[cfg(not(feature = "cloud"))]
            _ => Ok(Arc::new(SimBucket::new(self.storage.clone(), url, node))),
        }
    }
}
