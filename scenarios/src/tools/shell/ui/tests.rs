//! The Jobs page's server in-process, through plain HTTP: a shell with an encrypted backup and
//! its restore, every route read, every other method refused, and the passphrase nowhere.

use super::*;
use crate::tools::shell::{ClusterOptions, Shell};
use backup::locality::Locality;
use backup::storage::real::RealStorageOptions;
use backup::storage::url::ExternalIoSettings;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let d = std::env::temp_dir().join(format!("backup-sim-ui-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One answer: status, headers (names lowercased) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` with `host` as its Host header over HTTP/1.0 (no chunking, closed at the
/// end) and reads the whole answer.
fn request(addr: SocketAddr, method: &str, path: &str, host: &str) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = if method == "POST" { "statement=DROP+DATABASE+shop" } else { "" };
    write!(s, "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    Answer { status, headers, body: body.to_string() }
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, &addr.to_string())
}

const SECRET: &str = "ui-test-passphrase-9f3";

#[test]
fn the_jobs_page_lists_and_details_jobs_read_only_without_secrets() {
    let dir = TempDir::new("server");
    let io = ExternalIoSettings { external_io_dir: Some(dir.0.join("extern")), disable_http: false, disable_implicit_credentials: false };
    let cluster = ClusterOptions { cluster_id: "ui-test".into(), gc_interval: None, locality: Locality::default() };
    let mut shell = Shell::start(io, RealStorageOptions::default(), cluster).unwrap();
    for sql in [
        "CREATE DATABASE shop",
        "CREATE TABLE shop.items (id INT PRIMARY KEY, name STRING)",
        "INSERT INTO shop.items VALUES (1, 'apple'), (2, 'pear')",
        &format!("BACKUP DATABASE shop TO 'nodelocal://1/enc' WITH encryption_passphrase = '{SECRET}'"),
        "CREATE DATABASE copy",
        &format!("RESTORE shop.* FROM 'nodelocal://1/enc' WITH encryption_passphrase = '{SECRET}', into_db = 'copy'"),
    ] {
        shell.execute_one(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let addr = shell.serve_ui("127.0.0.1:0".parse().unwrap(), false).unwrap();
    let mut seen = String::new();

    // The list, as HTML and JSON: newest first, SHOW JOBS's words.
    for path in ["/", "/jobs"] {
        let page = get(addr, path);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{:?}", page.headers);
        assert!(page.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")), "{:?}", page.headers);
        assert!(
            page.body.contains("encryption_passphrase = &#x27;redacted&#x27;") || page.body.contains("encryption_passphrase = &#39;redacted&#39;"),
            "{}",
            page.body
        );
        assert!(page.body.contains(r#"<progress max="1000" value="1000""#), "{}", page.body);
        seen.push_str(&page.body);
    }
    let api = get(addr, "/api/jobs");
    assert_eq!(api.status, 200);
    assert!(api.header("content-type").is_some_and(|t| t.starts_with("application/json")));
    let list: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    let jobs = list["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{list}");
    assert_eq!((jobs[0]["job_type"].as_str(), jobs[1]["job_type"].as_str()), (Some("RESTORE"), Some("BACKUP")));
    assert!(jobs.iter().all(|j| j["status"] == "succeeded" && j["fraction"] == 1.0 && j["terminal"] == true), "{list}");
    assert_eq!(list["cluster_id"], "ui-test");
    seen.push_str(&api.body);
    let (restore_id, backup_id) = (jobs[0]["id"].as_i64().unwrap(), jobs[1]["id"].as_i64().unwrap());

    // A finished backup's page: its manifest's spans and files, and SHOW BACKUP's rows.
    let detail = get(addr, &format!("/api/jobs/{backup_id}"));
    assert_eq!(detail.status, 200, "{}", detail.body);
    let d: serde_json::Value = serde_json::from_str(&detail.body).unwrap();
    assert_eq!(d["encrypted"], true);
    assert_eq!(d["locations"][0], serde_json::json!(["Destination", "nodelocal://1/enc"]));
    assert!(d["spans_done"]["total"].as_u64().unwrap() >= 1 && d["spans_todo"]["total"] == 0, "{d}");
    assert!(d["files"]["total"].as_u64().unwrap() >= 1, "{d}");
    let show = &d["show_backup"];
    assert_eq!(show["columns"][0], "database_name");
    assert!(show["rows"].as_array().unwrap().iter().any(|r| r[2] == "items" && r[7] == "2"), "{show}");
    seen.push_str(&detail.body);
    let page = get(addr, &format!("/jobs/{backup_id}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("SHOW BACKUP") && page.body.contains(">items<") && page.body.contains("data/"), "{}", page.body);
    seen.push_str(&page.body);
    // The restore's: its spans from the job record, its source redacted.
    let page = get(addr, &format!("/jobs/{restore_id}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Backup 1 of 1 (full)") && page.body.contains("nodelocal://1/enc"), "{}", page.body);
    seen.push_str(&page.body);
    seen.push_str(&get(addr, &format!("/api/jobs/{restore_id}")).body);

    // Nothing else: no job, not a job id, not a page.
    for path in ["/jobs/12345", "/jobs/abc", "/api/jobs/12345", "/nothing", "/jobs/1/2"] {
        assert_eq!(get(addr, path).status, 404, "{path}");
    }
    // Read-only: every other method is refused, whatever the path.
    for (method, path) in [("POST", "/jobs"), ("POST", "/api/jobs"), ("DELETE", &*format!("/api/jobs/{backup_id}")), ("PUT", "/"), ("POST", "/nothing")] {
        let a = request(addr, method, path, &addr.to_string());
        assert_eq!(a.status, 405, "{method} {path}: {}", a.body);
        assert_eq!(a.header("allow"), Some("GET, HEAD"), "{method} {path}");
    }
    assert_eq!(request(addr, "HEAD", "/jobs", &addr.to_string()).status, 200);
    // A request addressed to another name (DNS rebinding) is refused; loopback names are not.
    assert_eq!(request(addr, "GET", "/api/jobs", "evil.example:80").status, 403);
    assert_eq!(request(addr, "GET", "/api/jobs", &format!("localhost:{}", addr.port())).status, 200);
    // The databases are untouched by all that.
    assert!(shell.execute_one("SELECT count(*) FROM shop.items").unwrap().contains('2'));

    assert!(!seen.contains(SECRET), "the passphrase was served");
}

#[test]
fn addresses_are_checked_before_anything_is_served() {
    let e = |r: Result<SocketAddr, UiError>| r.unwrap_err().to_string();
    assert_eq!(parse_address("127.0.0.1:8080").unwrap(), "127.0.0.1:8080".parse().unwrap());
    assert_eq!(parse_address("localhost:9").unwrap(), "127.0.0.1:9".parse().unwrap());
    assert_eq!(parse_address("[::1]:80").unwrap(), "[::1]:80".parse().unwrap());
    assert!(e(parse_address("127.0.0.1")).contains("it has no port"), "{}", e(parse_address("127.0.0.1")));
    assert!(e(parse_address("127.0.0.1:99999")).contains("\"99999\" is not a port"));
    assert!(e(parse_address("nonsense")).contains("--ui \"nonsense\" is not an address to listen on: it has no port; give IP:PORT"));
    assert!(e(parse_address("example.com:80")).contains("\"example.com\" is not an IP address"));
    assert!(e(parse_address("")).contains("it is empty"));

    let remote: SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let refused = check_reach(remote, false).unwrap_err().to_string();
    assert!(refused.contains("0.0.0.0 is not a loopback address") && refused.contains("--ui-allow-remote"), "{refused}");
    check_reach(remote, true).unwrap();
    check_reach("[::1]:1".parse().unwrap(), false).unwrap();

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let in_use = bind(addr).unwrap_err().to_string();
    assert!(in_use.contains("already in use") && in_use.contains(&addr.to_string()), "{in_use}");

    assert!(local_host(b"127.0.0.1:8080") && local_host(b"localhost") && local_host(b"[::1]:80") && local_host(b"127.1.2.3"));
    assert!(!local_host(b"evil.example") && !local_host(b"10.0.0.1:80") && !local_host(b"[::2]:80") && !local_host(b"\xff"));
}
