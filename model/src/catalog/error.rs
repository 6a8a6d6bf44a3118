//! Errors of the catalog layer. Decoding errors always name the key they came from; no error
//! ever carries a password or any other secret.

use crate::kv::KvError;

/// Why reading, decoding or bootstrapping the catalog failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// The KV layer refused a read or commit (GC threshold, conflicts, unavailability).
    #[error(transparent)]
    Kv(#[from] KvError),
    /// A system-table value could not be decoded: corruption or a foreign format.
    #[error("corrupt catalog entry at {key}: {reason}")]
    Corrupt {
        /// The pretty-printed key.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// `bootstrap` was asked to run on a cluster that already has its system data.
    #[error("cluster already bootstrapped (descriptor id generator exists at {key})")]
    AlreadyBootstrapped {
        /// The pretty-printed key that proves it.
        key: String,
    },
}
