//! BACKUP, SHOW BACKUP and RESTORE against real storage (`real-storage` feature), through the
//! in-process harness on tokio.
//!
//! - `nodelocal` runs on a temporary directory and always runs: a round trip, atomic writes,
//!   and the refusals (symlink escapes, a disabled directory, another node's directory).
//! - `s3`, `azure` and `http` run against the local servers `scripts/test-servers.sh` starts
//!   (moto, Azurite, wsgidav), found through `BACKUP_SIM_S3_URL`, `BACKUP_SIM_AZURE_URL` (+
//!   `BACKUP_SIM_AZURE_ENDPOINT`) and `BACKUP_SIM_HTTP_URL`. For each: a round trip; the server
//!   stopping mid-backup (the job fails cleanly with no manifest published, or, if the server
//!   comes back within the retry budget, finishes); and 503s, retried. Faults come from a small
//!   proxy in front of the real server (`common/proxy.rs`). Without the variables these tests
//!   print a `skipped:` line and pass, unless `BACKUP_SIM_REQUIRE_SERVERS=1`.
//! - `gs` has no emulator that accepts object_store's uploads: its URL-to-client mapping is
//!   covered by unit tests in `backup/src/storage/real/tests.rs` only.
//!
//!   scripts/test-servers.sh run cargo test -p backup --features real-storage --test real_backends

use crate::common::proxy::Proxy;
use crate::common::real::{quick_jobs, tokio_runtime, RealCluster};
use crate::common::{result_row, BANK_TABLES};
use backup::env::JobSettings;
use backup::storage::real::{RealStorageOptions, RequestRetry};
use backup::storage::url::ExternalIoSettings;
use backup::storage::{StorageError, StorageProvider};
use model::Datum;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A name no earlier run used (the servers keep their objects while they run).
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{name}-{}-{nanos}", std::process::id())
}

/// A fresh temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(unique(&format!("backup-sim-{name}")));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The relations of `bank` that hold rows.
const BANK: [&str; 3] = ["customers", "accounts", "transfers"];

fn expected_rows() -> i64 {
    BANK_TABLES.iter().map(|(_, n)| n).sum()
}

/// Every restored relation equals the source's.
fn same_tables(src: &RealCluster, src_db: &str, dst: &RealCluster, dst_db: &str, tables: &[&str]) {
    for t in tables {
        let want = src.read(src_db, t, src.now());
        let got = dst.read(dst_db, t, dst.now());
        assert_eq!(got.columns, want.columns, "{dst_db}.{t}");
        assert_eq!(got.rows, want.rows, "{dst_db}.{t}");
        assert!(!got.rows.is_empty(), "{dst_db}.{t} is empty");
    }
}

/// SHOW BACKUP's row for `table`: (rows, size_bytes).
fn show_row(r: &backup::show::QueryResult, table: &str) -> (i64, i64) {
    let obj = r.columns.iter().position(|c| c == "object_name").unwrap();
    let rows = r.columns.iter().position(|c| c == "rows").unwrap();
    let size = r.columns.iter().position(|c| c == "size_bytes").unwrap();
    let row = r.rows.iter().find(|row| row[obj] == Datum::String(table.into())).unwrap_or_else(|| panic!("{table} not in\n{}", r.render()));
    let int = |d: &Datum| match d {
        Datum::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    };
    (int(&row[rows]), int(&row[size]))
}

/// BACKUP DATABASE bank to `loc`, SHOW BACKUP, list, RESTORE (the database, and tables
/// `into_db`) into a second cluster, compare rows; then SHOW BACKUP WITH check_files, RESTORE
/// WITH new_db_name, and WITH schema_only, verify_backup_table_data (issue #17) over the same
/// backend. `secrets` must appear in no output.
fn round_trip(src: &RealCluster, dst: &mut RealCluster, loc: &str, secrets: &[&str]) {
    let (_, rows, _, bytes) = result_row(&src.ok(&format!("BACKUP DATABASE bank TO '{loc}'")));
    assert_eq!(rows, expected_rows());
    assert!(bytes > 0);
    let show = src.ok(&format!("SHOW BACKUP '{loc}'"));
    assert_eq!(show_row(&show, "customers").0, 4, "{}", show.render());
    assert_eq!(show_row(&show, "accounts").0, 5, "{}", show.render());
    let files = src.list(loc).unwrap_or_else(|e| panic!("list: {e}"));
    assert!(files.contains(&"BACKUP".to_string()), "{files:?}");
    assert!(!files.contains(&"BACKUP-CHECKPOINT".to_string()), "the checkpoint is removed: {files:?}");
    assert!(files.iter().any(|f| f.starts_with("data/") && f.ends_with(".sst")), "{files:?}");
    // Listing with a plain string prefix.
    let data = src.rt.block_on(src.open(loc).list("data/")).unwrap();
    assert_eq!(data, files.iter().filter(|f| f.starts_with("data/")).cloned().collect::<Vec<_>>());

    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM '{loc}'")));
    same_tables(src, "bank", dst, "bank", &BANK);
    dst.sql("CREATE DATABASE copy");
    result_row(&dst.ok(&format!("RESTORE bank.customers, bank.accounts FROM '{loc}' WITH into_db = 'copy'")));
    same_tables(src, "bank", dst, "copy", &["customers", "accounts"]);

    // Issue #17's options over the same backend: check_files reads every file back through it;
    // new_db_name restores beside the database restored above; schema_only with
    // verify_backup_table_data reads every file and restores no row.
    let checked = src.ok(&format!("SHOW BACKUP '{loc}' WITH check_files"));
    assert_eq!(checked.columns.last().map(String::as_str), Some("file_bytes"), "{}", checked.render());
    assert_eq!(checked.rows.len(), show.rows.len());
    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM '{loc}' WITH new_db_name = 'bank_copy'")));
    same_tables(src, "bank", dst, "bank_copy", &BANK);
    let (_, rows, _, _) =
        result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM '{loc}' WITH schema_only, verify_backup_table_data, new_db_name = 'bank_checked'")));
    assert_eq!(rows, 0, "a verifying restore restores no row");
    let now = dst.now();
    for t in ["customers", "accounts"] {
        assert!(dst.read("bank_checked", t, now).rows.is_empty(), "bank_checked.{t} is empty");
    }

    // No secret in what a user or a log sees.
    let mut seen = src.ok("SHOW JOBS").render() + &dst.ok("SHOW JOBS").render() + &show.render() + &checked.render();
    for c in [src, &*dst] {
        for (w, d) in c.log.events.lock().unwrap().iter() {
            seen.push_str(&format!("{w} {d}\n"));
        }
    }
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!seen.contains(s), "a secret leaked into SHOW JOBS / SHOW BACKUP / the job log");
    }
}

/// SHOW BACKUPS IN's `path` column.
fn backup_paths(r: &backup::show::QueryResult) -> Vec<String> {
    r.rows.iter().map(|row| backup::show::render_datum(&row[0])).collect()
}

/// How many layers (distinct `end_time`s) a SHOW BACKUP of a chain lists.
fn layers(r: &backup::show::QueryResult) -> usize {
    let col = r.columns.iter().position(|c| c == "end_time").unwrap();
    r.rows.iter().map(|row| row[col].to_string()).collect::<std::collections::BTreeSet<_>>().len()
}

/// A backup collection (issue #17) over a real backend at `coll`: BACKUP INTO (a dated full
/// backup and a LATEST file), INTO LATEST IN (an incremental under `incrementals/`), SHOW
/// BACKUPS IN, SHOW BACKUP LATEST IN, RESTORE FROM LATEST IN and FROM '<subdir>' IN into a
/// second cluster; a second full backup moves LATEST and the first chain stays restorable by its
/// subdirectory; LATEST in an empty collection is refused. `secrets` appear in no output or
/// error.
fn collection_round_trip(src: &mut RealCluster, dst: &mut RealCluster, coll: &str, empty: &str, secrets: &[&str]) {
    src.ok(&format!("BACKUP DATABASE bank INTO '{coll}'"));
    let listed = backup_paths(&src.ok(&format!("SHOW BACKUPS IN '{coll}'")));
    assert_eq!(listed.len(), 1, "{listed:?}");
    let subdir = listed[0].clone();
    assert!(backup::collection::is_full_subdir(subdir.trim_start_matches('/')), "{subdir}");
    src.sql("UPDATE bank.accounts SET balance = balance + 7 WHERE id = 1; INSERT INTO bank.customers VALUES (9, 'ivy', NULL)");
    src.ok(&format!("BACKUP DATABASE bank INTO LATEST IN '{coll}'"));
    let files = src.list(coll).unwrap_or_else(|e| panic!("list: {e}"));
    let latest: Vec<&String> = files.iter().filter(|f| f.starts_with("metadata/latest/LATEST-")).collect();
    assert_eq!(latest.len(), 1, "{files:?}");
    assert_eq!(src.rt.block_on(src.open(coll).read(latest[0])).unwrap(), subdir.as_bytes());
    let incs = files.iter().filter(|f| f.starts_with(&format!("incrementals{subdir}/")) && f.ends_with("/BACKUP")).count();
    assert_eq!(incs, 1, "the incremental goes under incrementals/<subdir>/: {files:?}");
    assert_eq!(backup_paths(&src.ok(&format!("SHOW BACKUPS IN '{coll}'"))), vec![subdir.clone()]);
    let show = src.ok(&format!("SHOW BACKUP LATEST IN '{coll}'"));
    assert_eq!(layers(&show), 2, "{}", show.render());
    assert_eq!(show.rows, src.ok(&format!("SHOW BACKUP '{subdir}' IN '{coll}'")).rows);

    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM LATEST IN '{coll}'")));
    same_tables(src, "bank", dst, "bank", &BANK);
    let bare = subdir.trim_start_matches('/');
    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM '{bare}' IN '{coll}' WITH new_db_name = 'bank_sub'")));
    same_tables(src, "bank", dst, "bank_sub", &BANK);

    // A newer full backup moves LATEST; the first chain is still there by its name.
    src.sql("UPDATE bank.customers SET name = 'newer' WHERE id = 1");
    src.ok(&format!("BACKUP DATABASE bank INTO '{coll}'"));
    let listed = backup_paths(&src.ok(&format!("SHOW BACKUPS IN '{coll}'")));
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0], subdir, "oldest first");
    assert_eq!(layers(&src.ok(&format!("SHOW BACKUP LATEST IN '{coll}'"))), 1);
    assert_eq!(layers(&src.ok(&format!("SHOW BACKUP '{subdir}' IN '{coll}'"))), 2);
    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM LATEST IN '{coll}' WITH new_db_name = 'bank_newer'")));
    same_tables(src, "bank", dst, "bank_newer", &BANK);

    let refused = src.err(&format!("RESTORE DATABASE bank FROM LATEST IN '{empty}'"));
    assert!(refused.starts_with("path does not contain a completed latest backup"), "{refused}");

    // No secret in what a user or a log sees.
    let mut seen = src.ok("SHOW JOBS").render() + &dst.ok("SHOW JOBS").render() + &show.render() + &refused;
    seen += &src.ok(&format!("SHOW BACKUPS IN '{coll}'")).render();
    for c in [&*src, &*dst] {
        for (w, d) in c.log.events.lock().unwrap().iter() {
            seen.push_str(&format!("{w} {d}\n"));
        }
    }
    assert!(seen.contains("INTO LATEST IN"), "the jobs are listed: {seen}");
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!seen.contains(s), "a secret leaked into SHOW JOBS / SHOW BACKUP(S) / an error / the job log");
    }
}

// ---------------------------------------------------------------------------------------------
// nodelocal: always runs.

#[test]
fn nodelocal_collection_round_trip() {
    let rt = tokio_runtime();
    let dir = TempDir::new("nodelocal-coll");
    let mut src = RealCluster::at_dir(&rt, &dir.0).with_bank();
    let mut dst = RealCluster::at_dir(&rt, &dir.0);
    collection_round_trip(&mut src, &mut dst, "nodelocal://1/coll", "nodelocal://1/empty", &[]);
    assert!(dir.0.join("coll/metadata/latest").is_dir(), "the collection is where the URL says");
}

#[test]
fn nodelocal_backup_show_list_restore() {
    let rt = tokio_runtime();
    let dir = TempDir::new("nodelocal");
    let src = RealCluster::at_dir(&rt, &dir.0).with_bank();
    let mut dst = RealCluster::at_dir(&rt, &dir.0);
    round_trip(&src, &mut dst, "nodelocal://1/bank/full", &[]);
    // The files are where the URL says, under the external-io directory.
    assert!(dir.0.join("bank/full/BACKUP").is_file());
    // nodelocal://self is this node's directory too.
    let (_, rows, _, _) = result_row(&src.ok("BACKUP bank.customers TO 'nodelocal://self/customers'"));
    assert_eq!(rows, 4);
    assert!(dir.0.join("customers/BACKUP").is_file());
    // No temporary file is left behind by the atomic writes.
    let leftovers: Vec<_> = walk(&dir.0).into_iter().filter(|p| p.contains(".backup-sim-tmp.")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn nodelocal_refuses_symlink_escapes_disabled_dirs_and_other_nodes() {
    let rt = tokio_runtime();
    let dir = TempDir::new("nodelocal-refusals");
    let ext = dir.0.join("extern");
    let outside = dir.0.join("outside");
    std::fs::create_dir_all(&ext).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    // A directory symlink that leads out of the external-io directory.
    std::os::unix::fs::symlink(&outside, ext.join("escape")).unwrap();
    let c = RealCluster::at_dir(&rt, &ext).with_bank();
    let e = c.err("BACKUP DATABASE bank TO 'nodelocal://1/escape/b'");
    assert!(e.contains("outside of external-io-dir"), "{e}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing written outside");
    // A file symlink (a planted BACKUP) that leads out is not read either.
    std::fs::write(outside.join("secret"), b"not yours").unwrap();
    std::fs::create_dir_all(ext.join("planted")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), ext.join("planted/BACKUP")).unwrap();
    let e = c.err("SHOW BACKUP 'nodelocal://1/planted'");
    assert!(e.contains("outside of external-io-dir"), "{e}");
    // `..` never climbs out: dot segments are refused in every spelling, before the URL
    // standard could resolve them.
    for url in ["nodelocal://1/a/%2E%2E/%2E%2E/up", "nodelocal://1/../up"] {
        let e = c.err(&format!("BACKUP DATABASE bank TO '{url}'"));
        assert!(e.contains("\"..\" path component"), "{e}");
    }
    assert!(!ext.join("up").exists() && !dir.0.join("up").exists());
    // Another node's directory is not reachable from this one-node process.
    let e = c.err("BACKUP DATABASE bank TO 'nodelocal://2/b'");
    assert!(e.contains("node 1") && e.contains("nodelocal://self"), "{e}");
    // A disabled external-io directory refuses every nodelocal URL.
    let io = ExternalIoSettings { external_io_dir: None, ..ExternalIoSettings::default() };
    let off = RealCluster::new(&rt, io, RealStorageOptions::default(), JobSettings::default()).with_bank();
    for url in ["nodelocal://1/b", "nodelocal://self/b"] {
        let e = off.err(&format!("BACKUP DATABASE bank TO '{url}'"));
        assert!(e.contains("local file access is disabled"), "{e}");
    }
}

#[test]
fn nodelocal_writes_are_atomic_and_listings_skip_unfinished_ones() {
    let rt = tokio_runtime();
    let dir = TempDir::new("nodelocal-atomic");
    let c = RealCluster::at_dir(&rt, &dir.0);
    let s = c.open("nodelocal://1/loc");
    rt.block_on(async {
        s.write("a/b/file", b"one".to_vec()).await.unwrap();
        s.write("a/b/file", b"two".to_vec()).await.unwrap();
        assert_eq!(s.read("a/b/file").await.unwrap(), b"two");
        assert!(s.exists("a/b/file").await.unwrap());
        assert!(!s.exists("a/b/none").await.unwrap());
        assert!(s.read("a/b/none").await.unwrap_err().is_not_found());
        // What a crash mid-write leaves: a temporary file, never listed.
        std::fs::write(dir.0.join("loc/a/b/.file.backup-sim-tmp.1.1"), b"half").unwrap();
        s.write("a2", b"x".to_vec()).await.unwrap();
        assert_eq!(s.list("").await.unwrap(), vec!["a/b/file", "a2"]);
        assert_eq!(s.list("a").await.unwrap(), vec!["a/b/file", "a2"], "a plain string prefix");
        assert_eq!(s.list("a/").await.unwrap(), vec!["a/b/file"]);
        assert_eq!(s.list("zzz/").await.unwrap(), Vec::<String>::new());
        s.delete("a/b/file").await.unwrap();
        s.delete("a/b/file").await.unwrap();
        assert_eq!(s.list("").await.unwrap(), vec!["a2"]);
        for bad in ["", "../x", "a/../../x", "a//b", "./a"] {
            assert!(matches!(s.write(bad, vec![]).await, Err(StorageError::Permanent { .. })), "{bad:?}");
        }
    });
}

#[test]
fn nodelocal_large_files_written_past_the_page_cache_read_back_exactly() {
    // Files from 1 MiB on go through O_DIRECT in aligned 8 MiB chunks, the last one padded and
    // the file cut back to its length: every length around those boundaries must come back
    // byte for byte, at its exact size, and replace an older, longer file whole.
    let rt = tokio_runtime();
    let dir = TempDir::new("nodelocal-direct");
    let c = RealCluster::at_dir(&rt, &dir.0);
    let s = c.open("nodelocal://1/loc");
    const MIB: usize = 1 << 20;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    };
    rt.block_on(async {
        for len in [MIB - 1, MIB, MIB + 1, MIB + 4096, 8 * MIB, 8 * MIB + 4097, 16 * MIB + 1] {
            let data = bytes(len);
            let name = format!("f{len}");
            s.write(&name, data.clone()).await.unwrap();
            assert_eq!(std::fs::metadata(dir.0.join("loc").join(&name)).unwrap().len(), len as u64, "{len}");
            assert!(s.read(&name).await.unwrap() == data, "{len} bytes did not read back");
        }
        let shorter = bytes(2 * MIB + 3);
        s.write(&format!("f{}", 16 * MIB + 1), shorter.clone()).await.unwrap();
        assert!(s.read(&format!("f{}", 16 * MIB + 1)).await.unwrap() == shorter, "an overwrite must replace the whole file");
        assert_eq!(s.list("").await.unwrap().len(), 7, "no temporary file is left or listed");
    });
}

// ---------------------------------------------------------------------------------------------
// Servers started by scripts/test-servers.sh.

/// The server variable's value, or `None` after printing why the test is skipped (a failure
/// when BACKUP_SIM_REQUIRE_SERVERS=1).
fn server(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("BACKUP_SIM_REQUIRE_SERVERS").as_deref() == Ok("1") {
                panic!("{var} is not set but BACKUP_SIM_REQUIRE_SERVERS=1: start the servers with scripts/test-servers.sh");
            }
            println!("skipped: {var} is not set; start servers with scripts/test-servers.sh (scripts/test-servers.sh run cargo test -p backup --features real-storage --test real_backends)");
            None
        }
    }
}

/// A real server: its base URL, the options it needs, and its `host:port` (for the proxy).
#[derive(Clone)]
struct Target {
    url: url::Url,
    options: RealStorageOptions,
    upstream: String,
    secrets: Vec<String>,
}

fn host_port(u: &url::Url) -> String {
    format!("{}:{}", u.host_str().unwrap_or_default(), u.port_or_known_default().unwrap_or(80))
}

impl Target {
    fn s3() -> Option<Target> {
        let url = url::Url::parse(&server("BACKUP_SIM_S3_URL")?).expect("BACKUP_SIM_S3_URL");
        let endpoint = url.query_pairs().find(|(k, _)| k == "AWS_ENDPOINT").map(|(_, v)| v.into_owned()).expect("AWS_ENDPOINT in BACKUP_SIM_S3_URL");
        let secret = url.query_pairs().find(|(k, _)| k == "AWS_SECRET_ACCESS_KEY").map(|(_, v)| v.into_owned()).unwrap_or_default();
        Some(Target { upstream: host_port(&url::Url::parse(&endpoint).unwrap()), url, options: RealStorageOptions::default(), secrets: vec![secret] })
    }

    fn azure() -> Option<Target> {
        let url = url::Url::parse(&server("BACKUP_SIM_AZURE_URL")?).expect("BACKUP_SIM_AZURE_URL");
        let endpoint = server("BACKUP_SIM_AZURE_ENDPOINT")?;
        let key = url.query_pairs().find(|(k, _)| k == "AZURE_ACCOUNT_KEY").map(|(_, v)| v.into_owned()).unwrap_or_default();
        let options = RealStorageOptions { azure_endpoint: Some(endpoint.clone()), ..RealStorageOptions::default() };
        Some(Target { upstream: host_port(&url::Url::parse(&endpoint).unwrap()), url, options, secrets: vec![key] })
    }

    fn http() -> Option<Target> {
        let url = url::Url::parse(&server("BACKUP_SIM_HTTP_URL")?).expect("BACKUP_SIM_HTTP_URL");
        Some(Target { upstream: host_port(&url), url, options: RealStorageOptions::default(), secrets: vec![] })
    }

    /// The same server reached through a proxy at `addr`.
    fn via(&self, addr: &str) -> Target {
        let mut t = self.clone();
        let proxied = format!("http://{addr}");
        match self.url.scheme() {
            "s3" => {
                let pairs: Vec<(String, String)> = self
                    .url
                    .query_pairs()
                    .map(|(k, v)| if k == "AWS_ENDPOINT" { (k.into_owned(), proxied.clone()) } else { (k.into_owned(), v.into_owned()) })
                    .collect();
                t.url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            "azure" => t.options.azure_endpoint = Some(proxied),
            _ => {
                let (h, p) = addr.split_once(':').unwrap();
                t.url.set_host(Some(h)).unwrap();
                t.url.set_port(Some(p.parse().unwrap())).unwrap();
            }
        }
        t
    }

    /// A fresh location under the base URL.
    fn location(&self, name: &str) -> String {
        let mut u = self.url.clone();
        let path = format!("{}/{}", u.path().trim_end_matches('/'), unique(name));
        u.set_path(&path);
        u.to_string()
    }

    fn cluster(&self, rt: &Arc<tokio::runtime::Runtime>, jobs: JobSettings) -> RealCluster {
        RealCluster::new(rt, ExternalIoSettings::default(), self.options.clone(), jobs)
    }

    fn secrets(&self) -> Vec<&str> {
        self.secrets.iter().map(String::as_str).collect()
    }
}

/// Quick request retries for fault tests, so a stopped server is noticed in about a second.
fn quick_requests(max_retries: usize) -> RequestRetry {
    RequestRetry {
        max_retries,
        retry_timeout: Duration::from_secs(2),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
    }
}

fn server_round_trip(t: Option<Target>) {
    let Some(t) = t else { return };
    let rt = tokio_runtime();
    let src = t.cluster(&rt, JobSettings::default()).with_bank();
    let mut dst = t.cluster(&rt, JobSettings::default());
    let started = Instant::now();
    round_trip(&src, &mut dst, &t.location("bank"), &t.secrets());
    println!("{} round trip took {:?}", t.url.scheme(), started.elapsed());
}

/// The server stops after a few uploads and stays down: the job fails within its retry budget,
/// no manifest is published, and SHOW BACKUP / RESTORE refuse the location once it is back.
fn server_stops_mid_backup(t: Option<Target>) {
    let Some(t) = t else { return };
    let rt = tokio_runtime();
    let proxy = Proxy::start(rt.handle(), &t.upstream);
    let mut via = t.via(&proxy.addr());
    via.options.retry = quick_requests(1);
    let src = via.cluster(&rt, quick_jobs(Duration::from_secs(3))).with_bank();
    let loc = via.location("stopped");
    proxy.state.stop_after_puts.store(3, Ordering::SeqCst);
    let started = Instant::now();
    let e = src.err(&format!("BACKUP DATABASE bank TO '{loc}'"));
    assert!(e.contains("failed") || e.contains("giving up"), "{e}");
    assert!(proxy.state.stopped.load(Ordering::SeqCst), "the proxy stopped mid-backup");
    assert_eq!(proxy.state.puts.load(Ordering::SeqCst), 3, "three uploads reached the server");
    assert!(started.elapsed() < Duration::from_secs(90), "failed cleanly within the budget, took {:?}", started.elapsed());
    for s in t.secrets() {
        assert!(s.is_empty() || !e.contains(s), "a secret leaked into the error");
    }
    let jobs = src.ok("SHOW JOBS").render();
    assert!(jobs.contains("failed"), "{jobs}");
    // The server is back: nothing was published.
    proxy.state.stop_after_puts.store(0, Ordering::SeqCst);
    proxy.restart();
    let files = src.list(&loc).unwrap();
    assert!(!files.contains(&"BACKUP".to_string()), "no manifest: {files:?}");
    let e = src.err(&format!("SHOW BACKUP '{loc}'"));
    assert!(e.contains("incomplete") || e.contains("does not exist") || e.contains("not a backup") || e.contains("BACKUP"), "{e}");
    let dst = via.cluster(&rt, quick_jobs(Duration::from_secs(3)));
    let e = dst.err(&format!("RESTORE DATABASE bank FROM '{loc}'"));
    assert!(!e.is_empty());
    assert!(block_on_catalog_has_no_bank(&dst), "RESTORE published nothing");
}

fn block_on_catalog_has_no_bank(c: &RealCluster) -> bool {
    let cat = futures::executor::block_on(model::Catalog::read(&*c.local, c.now())).unwrap();
    cat.table_by_name("bank", "customers").is_none()
}

/// The server stops after a few uploads and comes back 1.5 s later, within the retry budget:
/// the job carries on from where it was and the backup restores exactly.
fn server_comes_back_within_budget(t: Option<Target>) {
    let Some(t) = t else { return };
    let rt = tokio_runtime();
    let proxy = Proxy::start(rt.handle(), &t.upstream);
    let mut via = t.via(&proxy.addr());
    via.options.retry = quick_requests(1);
    let src = via.cluster(&rt, quick_jobs(Duration::from_secs(60))).with_bank();
    let dst = via.cluster(&rt, quick_jobs(Duration::from_secs(60)));
    let loc = via.location("comeback");
    proxy.state.stop_after_puts.store(3, Ordering::SeqCst);
    let p2 = proxy.clone();
    let restarter = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !p2.state.stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(1500));
        p2.state.stop_after_puts.store(0, Ordering::SeqCst);
        p2.restart();
    });
    let (_, rows, _, _) = result_row(&src.ok(&format!("BACKUP DATABASE bank TO '{loc}'")));
    restarter.join().unwrap();
    assert_eq!(rows, expected_rows());
    assert!(proxy.state.puts.load(Ordering::SeqCst) > 3);
    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM '{loc}'")));
    same_tables(&src, "bank", &dst, "bank", &BANK);
}

/// 503s, from both layers of retries. With object_store's own retries off, every third upload
/// answers 503: the error maps to transient and the backup job's retry loop writes the file
/// again, so BACKUP succeeds. With object_store's retries on (the default), every third request
/// of any kind answers 503 and RESTORE succeeds on object_store's retries.
fn server_503s_are_retried(t: Option<Target>) {
    let Some(t) = t else { return };
    let rt = tokio_runtime();
    let proxy = Proxy::start(rt.handle(), &t.upstream);
    let mut via = t.via(&proxy.addr());
    via.options.retry = quick_requests(0);
    let src = via.cluster(&rt, quick_jobs(Duration::from_secs(60))).with_bank();
    let loc = via.location("503");
    // One storage call straight into a 503: transient, and no secret in the message.
    proxy.state.fail_every.store(1, Ordering::SeqCst);
    let e = rt.block_on(src.open(&loc).write("probe", b"x".to_vec())).unwrap_err();
    assert!(e.is_retryable(), "a 503 is transient: {e}");
    assert!(e.to_string().contains("503"), "{e}");
    for s in t.secrets() {
        assert!(s.is_empty() || !e.to_string().contains(s), "a secret leaked into a storage error");
    }
    proxy.state.fail_only_puts.store(true, Ordering::SeqCst);
    proxy.state.fail_every.store(3, Ordering::SeqCst);
    let (_, rows, _, _) = result_row(&src.ok(&format!("BACKUP DATABASE bank TO '{loc}'")));
    assert_eq!(rows, expected_rows());
    let on_uploads = proxy.state.injected.load(Ordering::SeqCst) - 1;
    assert!(on_uploads >= 2, "503s were injected on uploads: {on_uploads}");
    proxy.state.fail_only_puts.store(false, Ordering::SeqCst);
    let mut with_retries = via.clone();
    with_retries.options.retry = RequestRetry { max_retries: 3, ..quick_requests(3) };
    let dst = with_retries.cluster(&rt, quick_jobs(Duration::from_secs(60)));
    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM '{loc}'")));
    same_tables(&src, "bank", &dst, "bank", &BANK);
    assert!(proxy.state.injected.load(Ordering::SeqCst) > on_uploads + 1, "503s were injected on reads");
}

#[test]
fn s3_backup_show_list_restore() {
    server_round_trip(Target::s3());
}

#[test]
fn s3_server_stopped_mid_backup_fails_cleanly() {
    server_stops_mid_backup(Target::s3());
}

#[test]
fn s3_server_back_within_the_retry_budget() {
    server_comes_back_within_budget(Target::s3());
}

#[test]
fn s3_503s_are_retried() {
    server_503s_are_retried(Target::s3());
}

fn server_collection_round_trip(t: Option<Target>) {
    let Some(t) = t else { return };
    let rt = tokio_runtime();
    let mut src = t.cluster(&rt, JobSettings::default()).with_bank();
    let mut dst = t.cluster(&rt, JobSettings::default());
    let started = Instant::now();
    collection_round_trip(&mut src, &mut dst, &t.location("coll"), &t.location("empty"), &t.secrets());
    println!("{} collection round trip took {:?}", t.url.scheme(), started.elapsed());
}

#[test]
fn s3_collection_round_trip() {
    server_collection_round_trip(Target::s3());
}

#[test]
fn azure_collection_round_trip() {
    server_collection_round_trip(Target::azure());
}

#[test]
fn azure_backup_show_list_restore() {
    server_round_trip(Target::azure());
}

#[test]
fn azure_server_stopped_mid_backup_fails_cleanly() {
    server_stops_mid_backup(Target::azure());
}

#[test]
fn azure_server_back_within_the_retry_budget() {
    server_comes_back_within_budget(Target::azure());
}

#[test]
fn azure_503s_are_retried() {
    server_503s_are_retried(Target::azure());
}

#[test]
fn azure_wrong_key_is_permanent_and_not_shown() {
    let Some(t) = Target::azure() else { return };
    let rt = tokio_runtime();
    let c = t.cluster(&rt, JobSettings::default());
    // Another valid base64 key of the same length.
    let wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
    let mut u = url::Url::parse(&t.location("wrong-key")).unwrap();
    let pairs: Vec<(String, String)> =
        u.query_pairs().map(|(k, v)| if k == "AZURE_ACCOUNT_KEY" { (k.into_owned(), wrong.to_string()) } else { (k.into_owned(), v.into_owned()) }).collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    let url = backup::storage::url::StorageUrl::parse(u.as_str()).unwrap();
    let s = c.storage.open(&url, 1).unwrap();
    let e = rt.block_on(s.write("x", b"x".to_vec())).unwrap_err();
    assert!(!e.is_retryable() && !e.is_not_found(), "{e}");
    assert!(!e.to_string().contains(wrong) && !e.to_string().contains("AAAAAAAAAAAA"), "{e}");
}

#[test]
fn http_backup_show_list_restore() {
    server_round_trip(Target::http());
}

#[test]
fn http_server_stopped_mid_backup_fails_cleanly() {
    server_stops_mid_backup(Target::http());
}

#[test]
fn http_server_back_within_the_retry_budget() {
    server_comes_back_within_budget(Target::http());
}

#[test]
fn http_503s_are_retried() {
    server_503s_are_retried(Target::http());
}

#[test]
fn http_is_refused_when_disabled() {
    let Some(t) = Target::http() else { return };
    let rt = tokio_runtime();
    let io = ExternalIoSettings { disable_http: true, ..ExternalIoSettings::default() };
    let c = RealCluster::new(&rt, io, t.options.clone(), JobSettings::default()).with_bank();
    let e = c.err(&format!("BACKUP DATABASE bank TO '{}'", t.location("off")));
    assert!(e.contains("external http access disabled"), "{e}");
}

/// The seed's procedure for restoring users, with the backup of `system.users` on a server:
/// back the table up, restore it into an ordinary database of another cluster, copy the rows
/// the other cluster lacks back with INSERT … SELECT; the users and roles are then the source's.
fn server_system_users_procedure(t: Option<Target>) {
    let Some(t) = t else { return };
    let rt = tokio_runtime();
    let mut src = t.cluster(&rt, JobSettings::default());
    let mut dst = t.cluster(&rt, JobSettings::default());
    src.sql("CREATE USER maxroach WITH PASSWORD 'not-kept'; CREATE USER ana; CREATE ROLE tellers;");
    let loc = t.location("system_users");
    src.ok(&format!("BACKUP TABLE system.users TO '{loc}'"));
    let users = |c: &mut RealCluster| -> Vec<Vec<model::Datum>> {
        c.sql("SELECT username, \"hashedPassword\", \"isRole\" FROM system.users ORDER BY username").pop().unwrap().rows
    };
    let want = users(&mut src);
    assert_eq!(want.len(), 5, "root, admin and the three made here: {want:?}");
    assert_ne!(users(&mut dst), want);
    dst.sql("CREATE DATABASE newdb");
    let r = dst.ok(&format!("RESTORE system.users FROM '{loc}' WITH into_db = 'newdb'"));
    for secret in t.secrets() {
        assert!(secret.is_empty() || !r.render().contains(secret), "a secret in RESTORE's output");
    }
    dst.sql("INSERT INTO system.users SELECT * FROM newdb.users WHERE username NOT IN (SELECT username FROM system.users)");
    assert_eq!(users(&mut dst), want);
}

#[test]
fn s3_system_users_procedure() {
    server_system_users_procedure(Target::s3());
}

#[test]
fn azure_system_users_procedure() {
    server_system_users_procedure(Target::azure());
}

/// `location` with CockroachDB's `COCKROACH_LOCALITY` parameter, its value escaped as the docs
/// write it (`region%3Dus-west`).
fn with_locality(location: &str, locality: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}COCKROACH_LOCALITY={}", locality.replace('=', "%3D"))
}

/// A locality-aware backup on a server (issue #17): a node in us-west backs up to a default
/// location and a `region=us-west` one; its data files land at the west location (with the
/// `BACKUP_PART` descriptor), the manifest alone at the default; RESTORE and SHOW BACKUP take
/// the list with the `COCKROACH_LOCALITY` parameters as CockroachDB's docs write them, without
/// them, reordered, and with the west partition moved to a third location; the default alone is
/// refused naming the partition. No credential shows in any output.
fn server_locality_round_trip(t: Option<Target>) {
    let Some(t) = t else { return };
    let rt = tokio_runtime();
    let mut src = t.cluster(&rt, JobSettings::default()).with_bank();
    let locality: backup::locality::Locality = "region=us-west,zone=us-west-2a".parse().unwrap();
    src.env.locality = locality.clone();
    src.local.set_locality(locality.tiers);
    let dst = t.cluster(&rt, JobSettings::default());
    let (east, west) = (t.location("loc-east"), t.location("loc-west"));
    let list = format!("('{}', '{}')", with_locality(&east, "default"), with_locality(&west, "region=us-west"));
    let (_, rows, _, _) = result_row(&src.ok(&format!("BACKUP DATABASE bank TO {list}")));
    assert_eq!(rows, expected_rows());
    let (east_files, west_files) = (src.list(&east).unwrap(), src.list(&west).unwrap());
    assert!(east_files.contains(&"BACKUP".to_string()), "{east_files:?}");
    assert!(!east_files.iter().any(|f| f.ends_with(".sst")), "no data file at the default: {east_files:?}");
    assert!(west_files.iter().any(|f| f.starts_with("data/") && f.ends_with(".sst")), "{west_files:?}");
    assert!(west_files.contains(&"BACKUP_PART_1_region=us-west".to_string()), "{west_files:?}");
    assert!(!west_files.contains(&"BACKUP".to_string()), "the manifest only at the default: {west_files:?}");

    // RESTORE from the list as the docs write it, then without the parameters, in another order.
    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM {list}")));
    same_tables(&src, "bank", &dst, "bank", &BANK);
    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM ('{east}', '{west}') WITH new_db_name = 'bank_plain'")));
    same_tables(&src, "bank", &dst, "bank_plain", &BANK);
    // The list reordered, its default last: the URL marked default holds the manifest.
    let reordered = format!("('{}', '{}')", with_locality(&west, "region=us-west"), with_locality(&east, "default"));
    let show = dst.ok(&format!("SHOW BACKUP FILES {reordered} WITH check_files"));
    assert_eq!(show.columns.last().map(String::as_str), Some("locality"), "{}", show.render());
    assert!(show.render().contains("region=us-west"), "{}", show.render());
    let e = dst.err(&format!("RESTORE DATABASE bank FROM '{east}' WITH new_db_name = 'bank_short'"));
    assert!(e.contains("BACKUP_PART_1_region=us-west") && e.contains("locality region=us-west"), "{e}");

    // The west partition moved elsewhere: found there, the list in any order after the default.
    let moved = t.location("loc-moved");
    let (from, to) = (src.open(&west), src.open(&moved));
    for f in &west_files {
        let bytes = rt.block_on(from.read(f)).unwrap();
        rt.block_on(to.write(f, bytes)).unwrap();
        rt.block_on(from.delete(f)).unwrap();
    }
    let other = t.location("loc-empty");
    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM ('{east}', '{other}', '{moved}') WITH new_db_name = 'bank_moved'")));
    same_tables(&src, "bank", &dst, "bank_moved", &BANK);
    let shown = dst.ok(&format!("SHOW BACKUP ('{east}', '{moved}') WITH check_files"));
    assert!(shown.render().contains("customers"), "{}", shown.render());

    let mut seen = src.ok("SHOW JOBS").render() + &dst.ok("SHOW JOBS").render() + &show.render() + &shown.render() + &e;
    for c in [&src, &dst] {
        for (w, d) in c.log.events.lock().unwrap().iter() {
            seen.push_str(&format!("{w} {d}\n"));
        }
    }
    for s in t.secrets().into_iter().filter(|s| !s.is_empty()) {
        assert!(!seen.contains(s), "a secret leaked into SHOW JOBS / SHOW BACKUP / an error / the job log");
    }
}

#[test]
fn s3_locality_round_trip() {
    server_locality_round_trip(Target::s3());
}

#[test]
fn azure_locality_round_trip() {
    server_locality_round_trip(Target::azure());
}

/// A backup schedule into a collection on a server: `CREATE SCHEDULE … first_run = 'now'` (with a
/// passphrase), the scheduler's tick starts the full backup into the server's collection, the
/// next tick handles its end (the incremental schedule released, the chain's protected
/// timestamp at the full's time); SHOW BACKUPS IN lists it, RESTORE … FROM LATEST IN another
/// cluster equals the source, and neither SHOW SCHEDULES, SHOW JOBS nor the job log shows a
/// secret. DROP SCHEDULE releases the record. (The incrementals the schedule runs later are
/// `BACKUP … INTO LATEST IN`, which `*_collection_round_trip` runs on the same servers.)
fn server_schedule_round_trip(t: Option<Target>) {
    use backup::schedule::executor;
    use model::protected_ts::{self, Holder};
    let Some(t) = t else { return };
    let rt = tokio_runtime();
    let src = t.cluster(&rt, JobSettings::default()).with_bank();
    let dst = t.cluster(&rt, JobSettings::default());
    let started = Instant::now();
    let coll = t.location("sched");
    let created = src.ok(&format!(
        "CREATE SCHEDULE nightly FOR BACKUP DATABASE bank INTO '{coll}' WITH encryption_passphrase = 'sched-pass' RECURRING '@daily' WITH SCHEDULE OPTIONS first_run = 'now'"
    ));
    let ids: Vec<i64> = created
        .rows
        .iter()
        .map(|r| match &r[0] {
            Datum::Int(i) => *i,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids.len(), 2, "{}", created.render());
    let tick = rt.block_on(executor::tick(&src.env)).unwrap();
    assert_eq!(tick.started.len(), 1, "the full backup starts at the first tick: {tick:?}");
    let job = tick.started[0].1;
    // The tick spawned the job on the runtime; wait for it to end.
    let status = loop {
        let r = rt.block_on(backup::jobs::load::<serde_json::Value>(&*src.env.kv, job)).unwrap().unwrap();
        if r.status.is_terminal() {
            break r.status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the scheduled backup did not end: {:?}", r.status);
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, backup::jobs::JobStatus::Succeeded);
    let ended = rt.block_on(executor::tick(&src.env)).unwrap();
    assert_eq!(ended.ended.len(), 1, "the next tick handles the end: {ended:?}");
    let records = rt.block_on(protected_ts::read_all(&*src.local, src.now())).unwrap();
    assert_eq!(records.len(), 1, "one record, the chain's: {records:?}");
    assert!(matches!(records[0].holder, Holder::Schedule(id) if id == ids[0]), "{records:?}");
    let schedules = src.ok("SHOW SCHEDULES");
    assert!(!schedules.render().contains("PAUSED"), "the incremental schedule is released:\n{}", schedules.render());

    assert_eq!(backup_paths(&src.ok(&format!("SHOW BACKUPS IN '{coll}'"))).len(), 1);
    result_row(&dst.ok(&format!("RESTORE DATABASE bank FROM LATEST IN '{coll}' WITH encryption_passphrase = 'sched-pass'")));
    same_tables(&src, "bank", &dst, "bank", &BANK);

    for id in &ids {
        src.ok(&format!("DROP SCHEDULE {id}"));
    }
    assert!(rt.block_on(protected_ts::read_all(&*src.local, src.now())).unwrap().is_empty(), "DROP SCHEDULE releases the record");
    let mut seen = schedules.render() + &src.ok("SHOW JOBS").render() + &dst.ok("SHOW JOBS").render();
    for c in [&src, &dst] {
        for (w, d) in c.log.events.lock().unwrap().iter() {
            seen.push_str(&format!("{w} {d}\n"));
        }
    }
    for s in t.secrets().into_iter().chain(["sched-pass"]).filter(|s| !s.is_empty()) {
        assert!(!seen.contains(s), "a secret leaked into SHOW SCHEDULES / SHOW JOBS / the job log");
    }
    println!("{} schedule round trip took {:?}", t.url.scheme(), started.elapsed());
}

#[test]
fn s3_schedule_round_trip() {
    server_schedule_round_trip(Target::s3());
}

#[test]
fn azure_schedule_round_trip() {
    server_schedule_round_trip(Target::azure());
}
