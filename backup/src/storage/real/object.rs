//! [`ObjectStorage`]: the [`ExternalStorage`] trait over any `object_store` client (S3, GCS,
//! Azure Blob, HTTP/WebDAV), and the mapping of `object_store`'s errors onto
//! [`StorageError`]'s three kinds: not found, transient (retry may cure it) and permanent.
//!
//! What it must never do: show a secret. Error text from `object_store` or a server is scrubbed
//! of the URL's secret values ([`Secrets::scrub`]) before it enters a [`StorageError`].

use super::Secrets;
use crate::storage::{check_path, check_prefix, write_new_checked, ExternalStorage, StorageError};
use async_trait::async_trait;
use futures::TryStreamExt;
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use percent_encoding::percent_decode_str;
use std::sync::Arc;

/// One location (bucket, container or server, plus the URL's path) seen through an
/// `object_store` client opened at the bucket's root.
#[derive(Clone)]
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    /// The URL's path: every object key starts with it (empty for the bucket's root).
    root: String,
    secrets: Secrets,
}

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectStorage({} at {:?})", self.store, self.root)
    }
}

impl ObjectStorage {
    /// `store` seen from `root` (a `/`-separated path, checked, empty for the top). `secrets`
    /// are scrubbed from every error message.
    pub fn new(store: Arc<dyn ObjectStore>, root: &str, secrets: Secrets) -> Result<ObjectStorage, StorageError> {
        let root = root.trim_matches('/');
        if !root.is_empty() {
            check_path(root)?;
        }
        Ok(ObjectStorage { store, root: root.to_string(), secrets })
    }

    /// The object key of `path` (already checked).
    fn key(&self, path: &str) -> ObjectPath {
        let full = if self.root.is_empty() { path.to_string() } else { format!("{}/{}", self.root, path) };
        ObjectPath::from_iter(full.split('/'))
    }

    /// `key` relative to the root, decoded back to our path form; `None` if outside.
    fn relative(&self, key: &ObjectPath) -> Option<String> {
        let parts: Vec<String> = key.parts().map(|p| percent_decode_str(p.as_ref()).decode_utf8_lossy().into_owned()).collect();
        let full = parts.join("/");
        if self.root.is_empty() {
            return Some(full);
        }
        full.strip_prefix(&self.root)?.strip_prefix('/').map(str::to_string)
    }

    fn error(&self, path: &str, e: object_store::Error) -> StorageError {
        map_error(path, e, &self.secrets)
    }
}

/// Maps an `object_store` error. `object_store` has already retried what it considers
/// retryable (5xx, throttling, connection failures, timeouts) with backoff; what reaches here
/// after that is still reported as transient so the job's own retry loop (with its budget) gets
/// its turn. Authentication and permission failures, bad requests and everything unknown are
/// permanent.
pub(crate) fn map_error(path: &str, e: object_store::Error, secrets: &Secrets) -> StorageError {
    let path = path.to_string();
    let reason = secrets.scrub(&e.to_string());
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound { path },
        object_store::Error::Unauthenticated { .. } => {
            StorageError::Permanent { path, reason: format!("authentication failed (check the URL's credentials): {reason}") }
        }
        object_store::Error::PermissionDenied { .. } => {
            StorageError::Permanent { path, reason: format!("permission denied (check the credentials' access to the bucket): {reason}") }
        }
        object_store::Error::JoinError { .. } => StorageError::Transient { path, reason },
        object_store::Error::Generic { ref source, .. } if is_transient(source.as_ref()) => StorageError::Transient { path, reason },
        _ => StorageError::Permanent { path, reason },
    }
}

/// True if an error chain shows a failure retrying may cure: a connection, request or timeout
/// failure of the HTTP client, or a 5xx / 429 / 408 status.
fn is_transient(top: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(top);
    while let Some(e) = cur {
        if let Some(h) = e.downcast_ref::<HttpError>() {
            return !matches!(h.kind(), HttpErrorKind::Unknown);
        }
        if let Some(code) = status_code(&e.to_string()) {
            return code >= 500 || code == 429 || code == 408;
        }
        cur = e.source();
    }
    false
}

/// The HTTP status in `object_store`'s "Server returned non-2xx status code: 503 ..." text
/// (its status-carrying error type is private).
fn status_code(text: &str) -> Option<u16> {
    let rest = &text[text.find("status code: ")? + "status code: ".len()..];
    rest.get(..3)?.parse().ok()
}

#[async_trait]
impl ExternalStorage for ObjectStorage {
    async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        check_path(path)?;
        self.store.put(&self.key(path), PutPayload::from(data)).await.map(|_| ()).map_err(|e| self.error(path, e))
    }

    /// A conditional PUT (`PutMode::Create`): S3 and S3-compatible stores send
    /// `If-None-Match: *` (AWS S3 honours it since 2024; moto, MinIO and R2 do too), GCS
    /// `ifGenerationMatch=0`, Azure Blob `If-None-Match: *` — each atomic on the server. The
    /// HTTP/WebDAV store has no conditional PUT in `object_store`, so it falls back to
    /// [`write_new_checked`], with the window that function's comment describes; an S3
    /// endpoint that ignores the header would replace the object, and the manifest's
    /// read-back compare is then what notices.
    async fn write_new(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        check_path(path)?;
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store.put_opts(&self.key(path), PutPayload::from(data.clone()), opts).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(StorageError::AlreadyExists { path: path.to_string() }),
            Err(object_store::Error::NotImplemented { .. }) => write_new_checked(self, path, data).await,
            Err(e) => Err(self.error(path, e)),
        }
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        check_path(path)?;
        let got = self.store.get(&self.key(path)).await.map_err(|e| self.error(path, e))?;
        let bytes = got.bytes().await.map_err(|e| self.error(path, e))?;
        Ok(bytes.to_vec())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        check_prefix(prefix)?;
        // object_store lists by whole path segments: list the directory of the prefix's
        // complete components, then filter by the plain string prefix.
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let dir_key = match (self.root.is_empty(), dir.is_empty()) {
            (true, true) => None,
            (true, false) => Some(ObjectPath::from_iter(dir.split('/'))),
            (false, true) => Some(ObjectPath::from_iter(self.root.split('/'))),
            (false, false) => Some(self.key(dir)),
        };
        let metas: Vec<object_store::ObjectMeta> = self.store.list(dir_key.as_ref()).try_collect().await.map_err(|e| self.error(prefix, e))?;
        let mut out: Vec<String> = metas.iter().filter_map(|m| self.relative(&m.location)).filter(|r| r.starts_with(prefix)).collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        match self.store.delete(&self.key(path)).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(path, e)),
        }
    }

    async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        check_path(path)?;
        match self.store.head(&self.key(path)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error(path, e)),
        }
    }
}

#[cfg(test)]
pub(crate) fn status_code_for_test(text: &str) -> Option<u16> {
    status_code(text)
}
