//! The Jobs page's server in-process, through plain HTTP: a shell with an encrypted backup and
//! its restore, a backup of a table called `<script>alert(1)</script>`, and a failed job whose
//! destination carried S3 credentials and whose error holds markup; every route read, every
//! other method refused, and no secret nor unescaped markup in any answer, the "could not
//! read" path of a destination that refuses included.

use super::*;
use crate::tools::shell::{ClusterOptions, Shell};
use backup::jobs::{self, JobRecord, JobStatus, JobType};
use backup::locality::Locality;
use backup::plan::BackupDetails;
use backup::storage::real::RealStorageOptions;
use backup::storage::url::ExternalIoSettings;

/// The temporary directory and the plain HTTP client the integration tests use too.
#[path = "../../../../tests/shell_support/basics.rs"]
mod basics;

use basics::{http, http_as, HttpAnswer, TempDir};

fn get(addr: SocketAddr, path: &str) -> HttpAnswer {
    http(addr, "GET", path, "")
}

const SECRET: &str = "ui-test-passphrase-9f3";
const AWS_SECRET: &str = "ui-test-aws-secret-7c1";
const ENDPOINT_PASSWORD: &str = "ui-test-endpoint-password-5d2";
const SCRIPT: &str = "<script>alert(1)</script>";

/// Records a failed BACKUP job as if `BACKUP ... TO` an S3 URL with credentials (and an
/// endpoint with a password, on a port that refuses) had been planned: the shell cannot plan
/// one without an S3 service, and the page must still keep the URL's secrets out of every
/// answer. Its payload is `like`'s (a real backup's plan) with the destination changed; its
/// description is what the statement's own redaction makes of it; its error holds markup.
fn record_s3_job(shell: &Shell, like: JobId) -> (JobId, String) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!(
        "s3://bucket/p?AWS_ACCESS_KEY_ID=ui-test-key-id&AWS_SECRET_ACCESS_KEY={AWS_SECRET}&AWS_ENDPOINT=http%3A%2F%2Fuser%3A{ENDPOINT_PASSWORD}%40127.0.0.1%3A{closed}"
    );
    let sql = format!("BACKUP DATABASE lab TO '{url}' WITH detached");
    let description = backup::statement::parse(&sql).unwrap().redacted();
    assert!(!description.contains(AWS_SECRET) && !description.contains(ENDPOINT_PASSWORD), "{description}");
    let kv = shell.env.kv.clone();
    shell.rt.block_on(async move {
        let mut details: BackupDetails = jobs::load(&*kv, like).await.unwrap().unwrap().payload;
        let shown = backup::storage::url::redact_location(&url);
        details.destination = url;
        details.destination_redacted = shown.clone();
        details.chain_root = None;
        let mut r = JobRecord::new(JobType::Backup, description, "root", details);
        r.status = JobStatus::Failed;
        r.error = Some(format!("the destination refused the file {SCRIPT} & more"));
        (jobs::create(&*kv, r).await.unwrap(), shown)
    })
}

/// Asserts `text` (one answer) holds no secret and no markup it did not make itself.
fn clean(what: &str, text: &str) {
    for secret in [SECRET, AWS_SECRET, ENDPOINT_PASSWORD] {
        assert!(!text.contains(secret), "{what}: {secret} was served:\n{text}");
    }
    assert!(!text.contains(SCRIPT) && !text.contains("<script>alert"), "{what}: unescaped markup was served:\n{text}");
}

#[test]
fn the_jobs_page_lists_and_details_jobs_read_only_without_secrets() {
    let dir = TempDir::new("server");
    let io = ExternalIoSettings { external_io_dir: Some(dir.0.join("extern")), disable_http: false, disable_implicit_credentials: false };
    let cluster = ClusterOptions { cluster_id: "ui-test".into(), gc_interval: None, locality: Locality::default(), scheduler_interval: None };
    let mut shell = Shell::start(io, RealStorageOptions::default(), cluster).unwrap();
    for sql in [
        "CREATE DATABASE shop",
        "CREATE TABLE shop.items (id INT PRIMARY KEY, name STRING)",
        "INSERT INTO shop.items VALUES (1, 'apple'), (2, 'pear')",
        "CREATE DATABASE lab",
        &format!("CREATE TABLE lab.\"{SCRIPT}\" (id INT PRIMARY KEY)"),
        &format!("BACKUP TABLE lab.\"{SCRIPT}\" TO 'nodelocal://1/xss'"),
        &format!("BACKUP DATABASE shop TO 'nodelocal://1/enc' WITH encryption_passphrase = '{SECRET}'"),
        "CREATE DATABASE copy",
        &format!("RESTORE shop.* FROM 'nodelocal://1/enc' WITH encryption_passphrase = '{SECRET}', into_db = 'copy'"),
    ] {
        shell.execute_one(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let addr = shell.serve_ui("127.0.0.1:0".parse().unwrap(), false).unwrap();
    let before: serde_json::Value = serde_json::from_str(&get(addr, "/api/jobs").body).unwrap();
    let xss_id = before["jobs"][2]["id"].as_i64().unwrap();
    let (s3_id, s3_shown) = record_s3_job(&shell, xss_id);

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
        // The table's name and the failed job's error are text; the S3 URL is redacted.
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || page.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{}",
            page.body
        );
        assert!(page.body.contains("AWS_SECRET_ACCESS_KEY=redacted") && page.body.contains("redacted%40127.0.0.1"), "{}", page.body);
        clean(path, &page.body);
    }
    let api = get(addr, "/api/jobs");
    assert_eq!(api.status, 200);
    assert!(api.header("content-type").is_some_and(|t| t.starts_with("application/json")));
    let list: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    let jobs = list["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 4, "{list}");
    assert_eq!(jobs.iter().map(|j| j["job_type"].as_str().unwrap()).collect::<Vec<_>>(), ["BACKUP", "RESTORE", "BACKUP", "BACKUP"]);
    assert_eq!((jobs[0]["id"].as_i64(), jobs[0]["status"].as_str(), jobs[0]["active"].as_bool()), (Some(s3_id), Some("failed"), Some(false)));
    assert_eq!(jobs[0]["error"].as_str().unwrap(), format!("the destination refused the file {SCRIPT} & more"), "markup in JSON is escaped, not lost");
    assert!(
        jobs[1..].iter().all(|j| j["status"] == "succeeded"
            && j["fraction"] == 1.0
            && j["permille"] == 1000
            && j["percent"] == "100.0%"
            && j["terminal"] == true),
        "{list}"
    );
    assert!(jobs[3]["description"].as_str().unwrap().contains(SCRIPT), "{list}");
    assert!(api.body.contains("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"), "{}", api.body);
    assert_eq!(list["cluster_id"], "ui-test");
    clean("/api/jobs", &api.body);
    let (restore_id, backup_id) = (jobs[1]["id"].as_i64().unwrap(), jobs[2]["id"].as_i64().unwrap());

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
    clean("the backup's /api page", &detail.body);
    let page = get(addr, &format!("/jobs/{backup_id}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("SHOW BACKUP") && page.body.contains(">items<") && page.body.contains("data/"), "{}", page.body);
    clean("the backup's page", &page.body);
    // The restore's: its spans from the job record, its source redacted.
    let page = get(addr, &format!("/jobs/{restore_id}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Backup 1 of 1 (full)") && page.body.contains("nodelocal://1/enc"), "{}", page.body);
    clean("the restore's page", &page.body);
    clean("the restore's /api page", &get(addr, &format!("/api/jobs/{restore_id}")).body);
    // The backup of the table named like markup: its name in SHOW BACKUP is text too.
    for path in [format!("/jobs/{xss_id}"), format!("/api/jobs/{xss_id}")] {
        let a = get(addr, &path);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        clean(&path, &a.body);
    }
    // The S3 job's: its destination does not answer, which the page says ("Could not read"),
    // naming it redacted; its error is text.
    let page = get(addr, &format!("/jobs/{s3_id}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"problems\"") && page.body.contains("class=\"error\""), "{}", page.body);
    clean("the S3 job's page", &page.body);
    let api = get(addr, &format!("/api/jobs/{s3_id}"));
    clean("the S3 job's /api page", &api.body);
    let d: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(d["locations"][0], serde_json::json!(["Destination", s3_shown]));
    assert_eq!(d["problems"].as_array().map(Vec::len), Some(1), "{d}");

    // Nothing else: no job, not a job id, not a page.
    for path in ["/jobs/12345", "/jobs/abc", "/api/jobs/12345", "/nothing", "/jobs/1/2"] {
        assert_eq!(get(addr, path).status, 404, "{path}");
    }
    // Read-only: every other method is refused, whatever the path.
    for (method, path) in [("POST", "/jobs"), ("POST", "/api/jobs"), ("DELETE", &*format!("/api/jobs/{backup_id}")), ("PUT", "/"), ("POST", "/nothing")] {
        let a = http(addr, method, path, "statement=DROP+DATABASE+shop");
        assert_eq!(a.status, 405, "{method} {path}: {}", a.body);
        assert_eq!(a.header("allow"), Some("GET, HEAD"), "{method} {path}");
    }
    assert_eq!(http(addr, "HEAD", "/jobs", "").status, 200);
    // A request addressed to another name (DNS rebinding) is refused; loopback names are not.
    assert_eq!(http_as(addr, "evil.example:80", "GET", "/api/jobs", "").status, 403);
    assert_eq!(http_as(addr, &format!("localhost:{}", addr.port()), "GET", "/api/jobs", "").status, 200);
    // The databases are untouched by all that.
    assert!(shell.execute_one("SELECT count(*) FROM shop.items").unwrap().contains('2'));
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
