//! A backup location: the place a BACKUP writes and a RESTORE or SHOW BACKUP reads, named by a
//! storage URL. Opening one (parse the URL, apply this node's external-io settings, open the
//! backend), naming a file in it for a message (the redacted URL with the path joined on), and
//! reading its manifest (telling an incomplete backup from no backup) are done here and nowhere
//! else, so that every statement opens, names and reads a location the same way.
//!
//! What this module must never do: name a location with its credentials (every name it makes
//! starts from the redacted URL), or retry in a way of its own ([`crate::retry`] does).

use crate::crypto::FileCipher;
use crate::env::Env;
use crate::error::BackupError;
use crate::format::manifest::{Manifest, CHECKPOINT_NAME, MANIFEST_NAME};
use crate::retry::{read_retrying, retrying};
use crate::storage::url::StorageUrl;
use crate::storage::ExternalStorage;
use std::sync::Arc;

/// Parses a location, applies this node's external-io settings, and opens it.
pub fn open(env: &Env, location: &str) -> Result<(StorageUrl, Arc<dyn ExternalStorage>), BackupError> {
    let url = StorageUrl::parse(location)?;
    env.io.check(&url)?;
    let storage = env.storage.open(&url, env.node())?;
    Ok((url, storage))
}

/// `path` inside `location`: a subdirectory's location (credentials kept, for opening), or a
/// file's name in a message when `location` is redacted. The path is joined to the URL's path,
/// before any query string, so that the result reads as one URL.
pub fn join(location: &str, path: &str) -> String {
    crate::storage::join_path(location, path)
}

/// Reads and checks the manifest at a location (decrypted by `cipher`), telling an incomplete
/// backup from no backup.
pub async fn read_manifest(env: &Env, location_redacted: &str, storage: &dyn ExternalStorage, cipher: &FileCipher) -> Result<Manifest, BackupError> {
    match read_retrying(env, storage, MANIFEST_NAME).await {
        Ok(bytes) => {
            let path = join(location_redacted, MANIFEST_NAME);
            Ok(Manifest::decode(&path, &cipher.open(&path, bytes)?)?)
        }
        Err(e) if e.is_not_found() => {
            let reason = if retrying(env, || storage.exists(CHECKPOINT_NAME)).await? {
                format!("the backup is incomplete: {CHECKPOINT_NAME} is present but no {MANIFEST_NAME} manifest (the backup job did not finish)")
            } else {
                format!("no {MANIFEST_NAME} manifest found: not a backup location")
            };
            Err(BackupError::NotABackup { url: location_redacted.to_string(), reason })
        }
        // A manifest that is there but cannot be read (a directory or a symlink on nodelocal,
        // a permission problem) is named with its location.
        Err(e @ crate::storage::StorageError::Permanent { .. }) => {
            Err(BackupError::NotABackup { url: location_redacted.to_string(), reason: format!("its {MANIFEST_NAME} manifest cannot be read: {e}") })
        }
        Err(e) => Err(e.into()),
    }
}
