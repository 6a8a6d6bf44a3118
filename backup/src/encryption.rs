//! `ENCRYPTION-INFO` at a backup location: where an encrypted backup chain keeps the salt and
//! key check that let RESTORE derive its key again. Planning a BACKUP reads it (or writes it,
//! once, for a new chain); a job checks it is still there before publishing; RESTORE and SHOW
//! BACKUP read it to get the cipher. The cipher itself, the key and the file formats are
//! [`crate::crypto`], which does no I/O; this module is the I/O around it.
//!
//! What this module must never do: overwrite an existing `ENCRYPTION-INFO` (another chain's salt
//! would be lost, and every backup under it with it), draw randomness when there is no
//! passphrase, or name a secret in an error.

use crate::crypto::{appears_encrypted, EncryptionError, EncryptionInfo, FileCipher, JobEncryption, SALT_LEN};
use crate::env::Env;
use crate::error::BackupError;
use crate::format::manifest::{ENCRYPTION_INFO_NAME, MANIFEST_NAME};
use crate::location;
use crate::retry::read_retrying;
use crate::statement::Secret;
use crate::storage::ExternalStorage;

/// Planning a BACKUP: with a passphrase, reads the chain's `ENCRYPTION-INFO` at `info_location`
/// (the full backup's directory) and derives its key — refusing a passphrase that is not the
/// chain's — or, if there is none yet, draws a salt from the host's randomness and writes it
/// there. An existing `ENCRYPTION-INFO` is never overwritten. Without a passphrase: nothing,
/// no I/O, no randomness.
pub async fn plan_backup_encryption(env: &Env, passphrase: Option<&Secret>, info_location: &str) -> Result<Option<JobEncryption>, BackupError> {
    let Some(passphrase) = passphrase else { return Ok(None) };
    let (url, storage) = location::open(env, info_location)?;
    let path = location::join(&url.redacted(), ENCRYPTION_INFO_NAME);
    let info = ensure_info(env, &*storage, &path, passphrase).await?;
    let key = info.key(&path, passphrase)?;
    Ok(Some(JobEncryption { key, info_location: info_location.to_string() }))
}

/// The chain's `ENCRYPTION-INFO` in `storage`, written first if absent. Written create-only
/// ([`ExternalStorage::write_new`]): a file that is there is never replaced, unless this call
/// wrote it and it landed torn; one that is there but damaged from before is an error. Read
/// back until it is intact. Two plans racing to create it end with one file, the first
/// writer's, and both take their key from it: a plain write here let the second replace the
/// first's salt, so that the first's job (already running under its lock) found another salt
/// before its manifest and failed, and the second was refused by that job's lock — neither
/// backup was made (found by the simulation's rival backups once its scenarios encrypted).
/// A job whose key is not the surviving one's still fails before writing its manifest
/// ([`check_before_manifest`]).
async fn ensure_info(env: &Env, storage: &dyn ExternalStorage, path: &str, passphrase: &Secret) -> Result<EncryptionInfo, BackupError> {
    let mut ours: Option<Vec<u8>> = None;
    let mut backoff = crate::retry::Backoff::new();
    for _ in 0..30 {
        let torn = match read_retrying(env, storage, ENCRYPTION_INFO_NAME).await {
            Ok(bytes) => match EncryptionInfo::decode(path, &bytes) {
                Ok(info) => return Ok(info),
                // Not ours: an existing chain's file is damaged. Never overwrite it.
                Err(e) if ours.is_none() => return Err(e.into()),
                // Ours, landed torn: write it again.
                Err(_) => true,
            },
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(e.into()),
        };
        let bytes = ours
            .get_or_insert_with(|| {
                let mut salt = [0u8; SALT_LEN];
                env.runtime.fill_random(&mut salt);
                EncryptionInfo::new(passphrase, salt).0.encode()
            })
            .clone();
        let written = if torn { storage.write(ENCRYPTION_INFO_NAME, bytes).await } else { storage.write_new(ENCRYPTION_INFO_NAME, bytes).await };
        match written {
            // Written, or another plan's (or this one's, landed but reported failed) is there:
            // read what stands.
            Ok(()) => continue,
            Err(e) if e.is_already_exists() => continue,
            Err(e) if !e.is_retryable() => return Err(e.into()),
            Err(_) => backoff.wait(env).await,
        }
    }
    Err(BackupError::Job(format!("could not write {path}: storage kept failing")))
}

/// Before a backup job writes its manifest: for an encrypted job, checks that the chain's
/// `ENCRYPTION-INFO` is still there and still the salt of the job's key, so that a backup is
/// never reported done while its key can no longer be derived. Nothing for an unencrypted job.
pub async fn check_before_manifest(env: &Env, encryption: Option<&JobEncryption>) -> Result<(), BackupError> {
    let Some(enc) = encryption else { return Ok(()) };
    let (url, storage) = location::open(env, &enc.info_location)?;
    let path = location::join(&url.redacted(), ENCRYPTION_INFO_NAME);
    let bytes = read_retrying(env, &*storage, ENCRYPTION_INFO_NAME).await.map_err(|e| match e {
        e if e.is_not_found() => BackupError::Encryption(EncryptionError::InfoMissing { path: path.clone() }),
        e => e.into(),
    })?;
    let info = EncryptionInfo::decode(&path, &bytes)?;
    if !enc.key.matches_check(&info.key_check) {
        return Err(EncryptionError::InfoMismatch { path }.into());
    }
    Ok(())
}

/// RESTORE and SHOW BACKUP: the cipher to read the backup at a location with.
///
/// Without a passphrase: [`FileCipher::plaintext`], which refuses an encrypted manifest with
/// "file appears encrypted". With one: the key from the location's `ENCRYPTION-INFO` (a wrong
/// passphrase fails there, before any other file is read). No `ENCRYPTION-INFO` and an
/// unencrypted manifest: "file does not appear to be encrypted", naming the manifest; an
/// encrypted manifest: the missing file is named. No manifest at all: the plaintext cipher, so
/// that reading the manifest reports the location as no (or an incomplete) backup.
pub async fn cipher_for_reading(
    env: &Env,
    location_redacted: &str,
    storage: &dyn ExternalStorage,
    passphrase: Option<&Secret>,
) -> Result<FileCipher, BackupError> {
    let Some(passphrase) = passphrase else { return Ok(FileCipher::plaintext()) };
    let info_path = location::join(location_redacted, ENCRYPTION_INFO_NAME);
    match read_retrying(env, storage, ENCRYPTION_INFO_NAME).await {
        Ok(bytes) => {
            let info = EncryptionInfo::decode(&info_path, &bytes)?;
            Ok(FileCipher::with_checked_key(info.key(&info_path, passphrase)?))
        }
        Err(e) if e.is_not_found() => match read_retrying(env, storage, MANIFEST_NAME).await {
            Ok(manifest) if appears_encrypted(&manifest) => Err(EncryptionError::InfoMissing { path: info_path }.into()),
            Ok(_) => Err(EncryptionError::NotEncrypted { path: location::join(location_redacted, MANIFEST_NAME) }.into()),
            Err(e) if e.is_not_found() => Ok(FileCipher::plaintext()),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::test_support::CountingRuntime;
    use crate::storage::MemStorage;

    #[test]
    fn encryption_info_is_written_once_and_never_overwritten() {
        use crate::storage::ExternalStorage as _;
        use futures::executor::block_on;
        let store = MemStorage::new();
        let rt = std::sync::Arc::new(CountingRuntime(std::sync::Mutex::new(0)));
        let env = test_env(rt.clone());
        let pw = Secret::new("pw");
        let first = block_on(ensure_info(&env, &store, "d/ENCRYPTION-INFO", &pw)).unwrap();
        let stored = block_on(store.read(ENCRYPTION_INFO_NAME)).unwrap();
        assert_eq!(first.salt, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        // Again: the existing salt is kept, nothing written, no randomness drawn.
        let again = block_on(ensure_info(&env, &store, "d/ENCRYPTION-INFO", &pw)).unwrap();
        assert_eq!(again, first);
        assert_eq!(block_on(store.read(ENCRYPTION_INFO_NAME)).unwrap(), stored);
        assert_eq!(*rt.0.lock().unwrap(), 16);
        // Another passphrase gets the existing info too (its key check then refuses it).
        let other = block_on(ensure_info(&env, &store, "d/ENCRYPTION-INFO", &Secret::new("other"))).unwrap();
        assert!(other.key("d/ENCRYPTION-INFO", &Secret::new("other")).is_err());
        assert_eq!(block_on(store.read(ENCRYPTION_INFO_NAME)).unwrap(), stored);
        // A damaged file is an error, and stays as it is.
        let mut bad = stored.clone();
        bad[20] ^= 1;
        block_on(store.write(ENCRYPTION_INFO_NAME, bad.clone())).unwrap();
        let e = block_on(ensure_info(&env, &store, "d/ENCRYPTION-INFO", &pw)).unwrap_err();
        assert!(e.to_string().starts_with("d/ENCRYPTION-INFO: checksum mismatch"), "{e}");
        assert_eq!(block_on(store.read(ENCRYPTION_INFO_NAME)).unwrap(), bad);
    }

    /// A bare in-process `Env` whose runtime is `rt` (only the runtime is used here).
    fn test_env(rt: std::sync::Arc<CountingRuntime>) -> Env {
        let clock = std::sync::Arc::new(model::ManualClock::new(1));
        Env {
            kv: std::sync::Arc::new(model::LocalKv::new(clock)),
            storage: std::sync::Arc::new(crate::storage::MemStorageProvider::new()),
            runtime: rt,
            io: Default::default(),
            locality: Default::default(),
            cluster_id: "c".into(),
            jobs: Default::default(),
            log: std::sync::Arc::new(crate::env::NoEventLog),
            planted: None,
        }
    }
}
