use super::*;
use futures::executor::block_on;

#[test]
fn mem_storage_round_trips() {
    block_on(async {
        let s = MemStorage::new();
        assert_eq!(s.read("BACKUP").await, Err(StorageError::NotFound { path: "BACKUP".into() }));
        assert!(!s.exists("BACKUP").await.unwrap());
        s.write("BACKUP-CHECKPOINT", b"cp".to_vec()).await.unwrap();
        s.write("data/1.sst", b"one".to_vec()).await.unwrap();
        s.write("data/2.sst", b"two".to_vec()).await.unwrap();
        s.write("BACKUP", b"m".to_vec()).await.unwrap();
        s.write("BACKUP", b"manifest".to_vec()).await.unwrap(); // replaces
        assert_eq!(s.read("BACKUP").await.unwrap(), b"manifest");
        assert!(s.exists("data/1.sst").await.unwrap());
        assert_eq!(s.list("").await.unwrap(), vec!["BACKUP", "BACKUP-CHECKPOINT", "data/1.sst", "data/2.sst"]);
        assert_eq!(s.list("data/").await.unwrap(), vec!["data/1.sst", "data/2.sst"]);
        assert_eq!(s.list("BACKUP-").await.unwrap(), vec!["BACKUP-CHECKPOINT"]);
        s.delete("BACKUP-CHECKPOINT").await.unwrap();
        s.delete("BACKUP-CHECKPOINT").await.unwrap(); // absent: fine
        assert_eq!(s.list("BACKUP").await.unwrap(), vec!["BACKUP"]);
        // The same objects seen from a subdirectory.
        let sub = s.at("data").unwrap();
        assert_eq!(sub.list("").await.unwrap(), vec!["1.sst", "2.sst"]);
        assert_eq!(sub.read("2.sst").await.unwrap(), b"two");
        assert_eq!(s.snapshot().len(), 3);
    });
}

#[test]
fn bad_paths_are_refused() {
    block_on(async {
        let s = MemStorage::new();
        for bad in ["", "..", "a/../b", "a//b", "/a", "a/", "./a", "a\0b"] {
            let e = s.write(bad, vec![]).await.unwrap_err();
            assert!(matches!(e, StorageError::Permanent { .. }), "{bad:?}: {e}");
            assert!(!e.is_retryable());
            assert!(s.read(bad).await.is_err() && s.delete(bad).await.is_err() && s.exists(bad).await.is_err(), "{bad:?}");
        }
        for bad in ["..", "a//", "../", "/"] {
            assert!(s.list(bad).await.is_err(), "{bad:?}");
        }
        assert!(s.at("../x").is_err());
        assert!(s.list("a/").await.unwrap().is_empty());
    });
}

#[test]
fn error_classification() {
    assert!(StorageError::Transient { path: "p".into(), reason: "timeout".into() }.is_retryable());
    assert!(!StorageError::Permanent { path: "p".into(), reason: "denied".into() }.is_retryable());
    assert!(!StorageError::NotFound { path: "p".into() }.is_retryable());
    assert!(StorageError::NotFound { path: "p".into() }.is_not_found());
    let refused = StorageError::from(UrlError::HttpDisabled);
    assert!(!refused.is_retryable());
    assert_eq!(refused.to_string(), "external http access disabled");
}

/// A backend that only implements the required methods, to exercise the default `exists`.
struct ReadOnly(MemStorage);

#[async_trait]
impl ExternalStorage for ReadOnly {
    async fn write(&self, _: &str, _: Vec<u8>) -> Result<(), StorageError> {
        Err(StorageError::Permanent { path: String::new(), reason: "read-only".into() })
    }
    async fn write_new(&self, _: &str, _: Vec<u8>) -> Result<(), StorageError> {
        Err(StorageError::Permanent { path: String::new(), reason: "read-only".into() })
    }
    async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.0.read(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.0.list(prefix).await
    }
    async fn delete(&self, _: &str) -> Result<(), StorageError> {
        Ok(())
    }
}

#[test]
fn default_exists_uses_read() {
    block_on(async {
        let m = MemStorage::new();
        m.write("x", vec![1]).await.unwrap();
        let r = ReadOnly(m);
        assert!(r.exists("x").await.unwrap());
        assert!(!r.exists("y").await.unwrap());
        assert!(r.exists("..").await.is_err());
    });
}

#[test]
fn provider_shares_locations_and_ignores_credentials() {
    block_on(async {
        let p = MemStorageProvider::new();
        let full = StorageUrl::parse("s3://bucket/dest?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=one").unwrap();
        let other_keys = StorageUrl::parse("s3://bucket/dest?AWS_ACCESS_KEY_ID=b&AWS_SECRET_ACCESS_KEY=two").unwrap();
        let s = p.open(&full, 1).unwrap();
        s.write("BACKUP", b"m".to_vec()).await.unwrap();
        assert_eq!(p.open(&other_keys, 2).unwrap().read("BACKUP").await.unwrap(), b"m");
        // An incremental subdirectory sees its own objects, the parent lists them too.
        let inc = p.open(&full.join("20200327/100000.00").unwrap(), 1).unwrap();
        inc.write("BACKUP", b"i".to_vec()).await.unwrap();
        assert_eq!(s.list("").await.unwrap(), vec!["20200327/100000.00/BACKUP", "BACKUP"]);
        // Another bucket or endpoint is another store.
        let other = StorageUrl::parse("s3://other/dest?AUTH=implicit").unwrap();
        assert!(p.open(&other, 1).unwrap().list("").await.unwrap().is_empty());
        let minio = StorageUrl::parse("s3://bucket/dest?AUTH=implicit&AWS_ENDPOINT=http://minio:9000").unwrap();
        assert!(p.open(&minio, 1).unwrap().list("").await.unwrap().is_empty());
        assert_eq!(p.store(&full, 1).unwrap().snapshot().len(), 2);
    });
}

#[test]
fn provider_resolves_nodelocal_self_and_applies_settings() {
    block_on(async {
        let p = MemStorageProvider::new();
        let on3 = StorageUrl::parse("nodelocal://3/x").unwrap();
        let me = StorageUrl::parse("nodelocal://self/x").unwrap();
        p.open(&on3, 1).unwrap().write("f", vec![]).await.unwrap();
        assert!(p.open(&me, 3).unwrap().exists("f").await.unwrap());
        assert!(!p.open(&me, 2).unwrap().exists("f").await.unwrap());

        let strict = MemStorageProvider::with_settings(ExternalIoSettings { external_io_dir: None, disable_http: true, disable_implicit_credentials: false });
        let e = strict.open(&on3, 1).err().unwrap();
        assert_eq!(e, StorageError::Refused(UrlError::LocalFileAccessDisabled));
        assert_eq!(e.to_string(), "local file access is disabled");
        let http = StorageUrl::parse("http://h/p").unwrap();
        assert_eq!(strict.open(&http, 1).err().unwrap().to_string(), "external http access disabled");
    });
}

#[test]
fn mem_storage_create_only_writes_never_replace() {
    block_on(async {
        let s = MemStorage::new();
        s.write_new("BACKUP-LOCK-1", b"one".to_vec()).await.unwrap();
        let e = s.write_new("BACKUP-LOCK-1", b"two".to_vec()).await.unwrap_err();
        assert_eq!(e, StorageError::AlreadyExists { path: "BACKUP-LOCK-1".into() });
        assert!(e.is_already_exists() && !e.is_retryable());
        assert_eq!(e.to_string(), "BACKUP-LOCK-1: already exists");
        assert_eq!(s.read("BACKUP-LOCK-1").await.unwrap(), b"one", "the first object stays");
        // Seen through a subdirectory, the same object.
        let sub = s.at("d").unwrap();
        sub.write_new("x", b"a".to_vec()).await.unwrap();
        assert!(s.write_new("d/x", b"b".to_vec()).await.unwrap_err().is_already_exists());
        assert!(s.write_new("..", vec![]).await.is_err());
    });
}

/// A backend without an atomic create-only write: the checked fallback over its plain writes.
struct Plain(MemStorage);

#[async_trait]
impl ExternalStorage for Plain {
    async fn write(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.0.write(path, data).await
    }
    async fn write_new(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        write_new_checked(self, path, data).await
    }
    async fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.0.read(path).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.0.list(prefix).await
    }
    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.0.delete(path).await
    }
}

#[test]
fn checked_create_only_fallback_refuses_an_existing_object() {
    block_on(async {
        let p = Plain(MemStorage::new());
        p.write_new("BACKUP", b"mine".to_vec()).await.unwrap();
        assert!(p.write_new("BACKUP", b"theirs".to_vec()).await.unwrap_err().is_already_exists());
        assert_eq!(p.read("BACKUP").await.unwrap(), b"mine");
    });
}
