//! nodelocal on the real file system (issue #11 items 1 and 15): its create-only write never
//! replaces anything, even with threads racing for one name; two clusters (each with its own
//! `RealStorageProvider`) backing up to one directory at the same moment, on two threads,
//! never both succeed and the winner restores; a `BACKUP` that is a symlink or a directory is
//! an error naming it, for the full backup and for an incremental alike.

use crate::common::real::{tokio_runtime, RealCluster};
use backup::storage::StorageError;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};

/// A fresh temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let d = std::env::temp_dir().join(format!("backup-sim-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn nodelocal_create_only_writes_never_replace_anything() {
    let rt = tokio_runtime();
    let dir = TempDir::new("nodelocal-create-only");
    let c = RealCluster::at_dir(&rt, &dir.0);
    let s = c.open("nodelocal://1/loc");
    rt.block_on(async {
        s.write_new("BACKUP", b"first".to_vec()).await.unwrap();
        assert_eq!(s.write_new("BACKUP", b"second".to_vec()).await, Err(StorageError::AlreadyExists { path: "BACKUP".into() }));
        assert_eq!(s.read("BACKUP").await.unwrap(), b"first");
        // A large file (the O_DIRECT path) too.
        let big = vec![7u8; (1 << 20) + 5];
        s.write_new("data/big", big.clone()).await.unwrap();
        assert!(s.write_new("data/big", vec![1]).await.unwrap_err().is_already_exists());
        assert_eq!(s.read("data/big").await.unwrap(), big);
        // A symlink or a directory at the name is not replaced (nor written through).
        std::fs::write(dir.0.join("target"), b"untouched").unwrap();
        std::os::unix::fs::symlink(dir.0.join("target"), dir.0.join("loc/link")).unwrap();
        assert!(s.write_new("link", b"x".to_vec()).await.unwrap_err().is_already_exists());
        assert_eq!(std::fs::read(dir.0.join("target")).unwrap(), b"untouched");
        std::fs::create_dir_all(dir.0.join("loc/adir")).unwrap();
        assert!(s.write_new("adir", b"x".to_vec()).await.unwrap_err().is_already_exists());
        assert!(dir.0.join("loc/adir").is_dir());
        // No temporary file is left behind by a refused write.
        let names: Vec<String> = std::fs::read_dir(dir.0.join("loc")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(!names.iter().any(|n| n.contains("tmp")), "{names:?}");
    });
    // Threads racing for one name: exactly one wins, and its bytes are the file's.
    for round in 0..20 {
        let name = format!("race/{round}");
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8u8)
            .map(|t| {
                let (s, barrier, name, rt) = (s.clone(), barrier.clone(), name.clone(), rt.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    rt.block_on(s.write_new(&name, vec![t; 64])).map(|()| t)
                })
            })
            .collect();
        let won: Vec<u8> = handles.into_iter().filter_map(|h| h.join().unwrap().ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {won:?}");
        assert_eq!(rt.block_on(s.read(&name)).unwrap(), vec![won[0]; 64]);
    }
}

#[test]
fn two_clusters_backing_up_to_one_directory_at_once_never_both_succeed() {
    let rt = tokio_runtime();
    let dir = TempDir::new("nodelocal-two-clusters");
    let mk = |id: &str, name: &str| {
        let mut c = RealCluster::at_dir(&rt, &dir.0).with_bank();
        c.env.cluster_id = id.into();
        c.sql(&format!("UPDATE bank.customers SET name = '{name}' WHERE id = 1"));
        Arc::new(c)
    };
    let (a, b) = (mk("cluster-a", "from-a"), mk("cluster-b", "from-b"));
    let mut wins = [0usize; 2];
    for round in 0..20 {
        let loc = format!("nodelocal://1/r{round}");
        let barrier = Arc::new(Barrier::new(2));
        let run = |c: &Arc<RealCluster>| {
            let (c, barrier, sql) = (c.clone(), barrier.clone(), format!("BACKUP DATABASE bank TO '{loc}'"));
            std::thread::spawn(move || {
                barrier.wait();
                c.exec(&sql).map_err(|e| e.to_string())
            })
        };
        let (ha, hb) = (run(&a), run(&b));
        let (ra, rb) = (ha.join().unwrap(), hb.join().unwrap());
        assert!(!(ra.is_ok() && rb.is_ok()), "round {round}: both succeeded");
        let Some(w) = [&ra, &rb].iter().position(|r| r.is_ok()) else {
            // Both refused: allowed (each saw the other's lock and the larger id's cleanup
            // outlasted the smaller's wait), never both succeeding.
            continue;
        };
        wins[w] += 1;
        let loser = if w == 0 { &rb } else { &ra };
        let e = loser.as_ref().unwrap_err();
        assert!(e.contains("BACKUP-LOCK-") || e.contains("another backup"), "round {round}: {e}");
        // The location holds the winner's backup, whole.
        let mut dst = RealCluster::at_dir(&rt, &dir.0);
        dst.ok(&format!("RESTORE DATABASE bank FROM '{loc}'"));
        let rows = dst.sql("SELECT name FROM bank.customers WHERE id = 1");
        let shown = format!("{rows:?}");
        assert!(shown.contains(if w == 0 { "from-a" } else { "from-b" }), "round {round}: {shown}");
        let left: Vec<String> = dst.list(&loc).unwrap().into_iter().filter(|p| p.starts_with("BACKUP-LOCK-") || p == "BACKUP-CHECKPOINT").collect();
        assert!(left.is_empty(), "round {round}: {left:?}");
    }
    assert!(wins[0] + wins[1] >= 15, "mostly one of the two goes on: {wins:?}");
}

#[test]
fn a_backup_manifest_that_is_a_symlink_or_a_directory_is_an_error_naming_it() {
    let rt = tokio_runtime();
    let dir = TempDir::new("nodelocal-odd-manifests");
    let mut c = RealCluster::at_dir(&rt, &dir.0).with_bank();
    // The full backup's BACKUP.
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/full'");
    let manifest = dir.0.join("full/BACKUP");
    std::fs::rename(&manifest, dir.0.join("full/real-manifest")).unwrap();
    std::os::unix::fs::symlink(dir.0.join("full/real-manifest"), &manifest).unwrap();
    let e = c.err("SHOW BACKUP 'nodelocal://1/full'");
    assert!(e.starts_with("nodelocal://1/full: its BACKUP manifest cannot be read: BACKUP: storage error: is a symbolic link"), "{e}");
    let e = c.err("RESTORE DATABASE bank FROM 'nodelocal://1/full'");
    assert!(e.starts_with("nodelocal://1/full: its BACKUP manifest cannot be read: BACKUP: storage error: is a symbolic link"), "{e}");
    let e = c.err("BACKUP DATABASE bank TO 'nodelocal://1/full'");
    assert!(e.contains("BACKUP: storage error: is a symbolic link"), "{e}");
    std::fs::remove_file(&manifest).unwrap();
    std::fs::create_dir(&manifest).unwrap();
    let e = c.err("SHOW BACKUP 'nodelocal://1/full'");
    assert!(e.starts_with("nodelocal://1/full: its BACKUP manifest cannot be read: BACKUP: storage error: is a directory"), "{e}");
    let e = c.err("BACKUP DATABASE bank TO 'nodelocal://1/full'");
    assert!(e.contains("BACKUP: storage error: is a directory"), "{e}");
    // An incremental's BACKUP, the same.
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/chain'");
    c.sql("UPDATE bank.customers SET name = 'later' WHERE id = 1");
    c.ok("BACKUP DATABASE bank TO 'nodelocal://1/chain'");
    let listed = c.list("nodelocal://1/chain").unwrap();
    let sub = listed.iter().find_map(|p| p.strip_suffix("/BACKUP").filter(|d| backup::chain::subdir_time(d).is_some())).unwrap().to_string();
    let inc = dir.0.join("chain").join(&sub).join("BACKUP");
    std::fs::rename(&inc, dir.0.join("chain/inc-manifest")).unwrap();
    std::os::unix::fs::symlink(dir.0.join("chain/inc-manifest"), &inc).unwrap();
    let e = c.err("SHOW BACKUP 'nodelocal://1/chain'");
    assert!(e.starts_with(&format!("nodelocal://1/chain/{sub}: its BACKUP manifest cannot be read: BACKUP: storage error: is a symbolic link")), "{e}");
    std::fs::remove_file(&inc).unwrap();
    // An empty directory, and one holding a file.
    std::fs::create_dir(&inc).unwrap();
    let e = c.err("RESTORE DATABASE bank FROM 'nodelocal://1/chain'");
    assert!(e.starts_with(&format!("nodelocal://1/chain/{sub}: its BACKUP manifest cannot be read: BACKUP: storage error: is a directory")), "{e}");
    std::fs::write(inc.join("x"), b"planted").unwrap();
    let e = c.err("RESTORE DATABASE bank FROM 'nodelocal://1/chain'");
    assert!(e.starts_with(&format!("nodelocal://1/chain/{sub}: its BACKUP manifest cannot be read: BACKUP: storage error: is a directory")), "{e}");
}

/// The object stores' create-only write (`PutMode::Create`) against the test servers of
/// scripts/test-servers.sh when they run (skipped otherwise, as in real_backends.rs): a second
/// create of one key is `AlreadyExists` and leaves the first object; http (WebDAV) takes the
/// checked fallback.
#[test]
fn object_store_create_only_writes_refuse_an_existing_object() {
    let rt = tokio_runtime();
    let mut ran = 0;
    for (var, extra) in [("BACKUP_SIM_S3_URL", None), ("BACKUP_SIM_AZURE_URL", Some("BACKUP_SIM_AZURE_ENDPOINT")), ("BACKUP_SIM_HTTP_URL", None)] {
        let Some(base) = std::env::var(var).ok().filter(|v| !v.is_empty()) else {
            println!("skipped {var}: not set (scripts/test-servers.sh starts the servers)");
            continue;
        };
        let options = backup::storage::real::RealStorageOptions { azure_endpoint: extra.and_then(|e| std::env::var(e).ok()), ..Default::default() };
        let c = RealCluster::new(&rt, backup::storage::url::ExternalIoSettings::default(), options, backup::env::JobSettings::default());
        let mut url = url::Url::parse(&base).unwrap();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        url.set_path(&format!("{}/create-only-{nanos}", url.path().trim_end_matches('/')));
        let s = c.open(url.as_str());
        rt.block_on(async {
            s.write_new("BACKUP-LOCK-1", b"first".to_vec()).await.unwrap_or_else(|e| panic!("{var}: {e}"));
            let e = s.write_new("BACKUP-LOCK-1", b"second".to_vec()).await.unwrap_err();
            assert!(e.is_already_exists(), "{var}: {e}");
            assert_eq!(s.read("BACKUP-LOCK-1").await.unwrap(), b"first", "{var}");
            s.delete("BACKUP-LOCK-1").await.unwrap();
        });
        ran += 1;
    }
    println!("{ran} object stores checked");
}
