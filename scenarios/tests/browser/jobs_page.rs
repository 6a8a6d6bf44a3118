//! `backup-sim shell --ui`: the Jobs page in a real browser, on the real shell binary.
//!
//! A shell with its Jobs page on a free loopback port runs an encrypted BACKUP and its RESTORE
//! to nodelocal, then a detached encrypted BACKUP to an http server that refuses every data file
//! after the first, so the job keeps running with one span done and its checkpoint written. The
//! page lists the three jobs with SHOW JOBS's words, a progress bar per job and the
//! passphrases redacted; the running job's page shows its spans done and to do, its file and
//! its checkpoint. Then the server recovers: the list page updates the row in place (no reload)
//! as the job succeeds, and the job's page reloads itself and shows SHOW BACKUP's rows. No
//! passphrase appears in any page's source nor in any /api answer. Last, a backup of a table
//! named `<script>alert(1)</script>`: its description is text on both pages, whose only script
//! is their own, and no answer holds the markup unescaped. Then a backup to S3 (the same
//! server answering as an S3 endpoint) whose URL carries a secret key and an endpoint password:
//! redacted on the list and on its page, which reads its manifest through that URL for SHOW
//! BACKUP; neither secret is in any page's source or /api answer. The test saves screenshots
//! (target/browser-screenshots/jobs.png, jobs-running.png, jobs-detail.png). The shell is given
//! `--ui 127.0.0.1:0` and the test reads the address it bound from its note.

use crate::shell_support::http::Server;
use crate::shell_support::wait_for;
use crate::support::{http, save_screenshot, Browser, TempDir};
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, ChildStdin};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET_1: &str = "jobs-page-passphrase-a91";
const SECRET_2: &str = "jobs-page-passphrase-b72";
/// Credentials in an S3 URL (the key, and the password of its endpoint's user-info).
const AWS_SECRET: &str = "jobs-page-aws-secret-c3d";
const ENDPOINT_PASSWORD: &str = "jobs-page-endpoint-password-e4f";
/// A table's name that a page which forgot to escape would run.
const SCRIPT: &str = "<script>alert(1)</script>";

/// `backup-sim shell` reading statements from a pipe (so it lives until the pipe closes), its
/// output collected as it comes.
struct ShellProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

impl ShellProcess {
    fn start(dir: &std::path::Path, args: &[&str]) -> ShellProcess {
        let crate::shell_support::Piped { child, out, err, stdin } = crate::shell_support::spawn_piped(dir, args);
        ShellProcess { stdin: Some(stdin), child, out, err }
    }

    /// Sends `sql` and waits until the shell has printed `marker` (a `SELECT 'marker'` sent
    /// after it): every statement before it has run.
    fn run(&mut self, sql: &str, marker: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{sql}\nSELECT '{marker}' AS step;").unwrap();
        stdin.flush().unwrap();
        self.wait_out(marker, Duration::from_secs(60));
    }

    fn wait_out(&self, needle: &str, within: Duration) {
        wait_for(&self.out, needle, within)
    }

    /// Waits for `prefix` on standard error and returns the rest of its line.
    fn wait_err_line(&self, prefix: &str, within: Duration) -> String {
        wait_for(&self.err, prefix, within);
        let err = self.err.lock().unwrap();
        let at = err.find(prefix).unwrap() + prefix.len();
        err[at..].lines().next().unwrap_or("").to_string()
    }

    /// Closes standard input and waits for the shell to exit; returns its status, stdout and
    /// stderr.
    fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let (out, err) = (self.out.lock().unwrap().clone(), self.err.lock().unwrap().clone());
        (status, out, err)
    }
}

impl Drop for ShellProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/api/jobs` as JSON.
fn api_jobs(addr: SocketAddr) -> serde_json::Value {
    let a = http(addr, "GET", "/api/jobs", "");
    assert_eq!(a.status, 200, "{}", a.body);
    serde_json::from_str(&a.body).unwrap()
}

/// Waits until `/api/jobs/ID` satisfies `ok`, and returns it.
fn wait_detail(addr: SocketAddr, id: i64, what: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let a = http(addr, "GET", &format!("/api/jobs/{id}"), "");
        let d: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
        if a.status == 200 && ok(&d) {
            return d;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "job {id} never {what}: {}", a.body);
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_jobs_page_shows_jobs_redacted_with_progress_spans_files_and_show_backup() {
    let Some(browser) = Browser::start_or_skip("jobs_page") else { return };
    let dir = TempDir::new("jobs-page");
    let server = Server::start();
    // Port 0: the shell binds any free port and says which (no port picked here and lost to
    // another program before the shell binds it).
    let mut shell = ShellProcess::start(&dir.0, &["--ui", "127.0.0.1:0", "--external-io-dir", "extern", "--history", "hist"]);
    let rest = shell.wait_err_line("note: the Jobs page is at http://", Duration::from_secs(30));
    let ui = rest.split_once("/jobs").unwrap_or_else(|| panic!("no address in {rest:?}")).0.to_string();
    let addr: SocketAddr = ui.parse().unwrap_or_else(|e| panic!("{ui:?}: {e}"));
    assert_ne!(addr.port(), 0, "{rest}");

    // Two finished jobs: an encrypted backup and its restore.
    shell.run(
        &format!(
            "CREATE DATABASE shop;
             CREATE TABLE shop.items (id INT PRIMARY KEY, name STRING NOT NULL, price FLOAT);
             CREATE INDEX items_by_name ON shop.items (name);
             CREATE TABLE shop.orders (id INT PRIMARY KEY, item INT);
             INSERT INTO shop.items VALUES (1, 'apple', 0.5), (2, 'pear', 0.75), (3, 'fig', 2.0);
             INSERT INTO shop.orders VALUES (1, 1), (2, 3);
             BACKUP DATABASE shop TO 'nodelocal://1/shop' WITH encryption_passphrase = '{SECRET_1}';
             CREATE DATABASE copy;
             RESTORE shop.* FROM 'nodelocal://1/shop' WITH encryption_passphrase = '{SECRET_1}', into_db = 'copy';"
        ),
        "step-1",
    );
    // A running one: the server takes its first data file and checkpoint, then answers 503.
    server.fail_data_uploads_after_the_first(true);
    let url = format!("http://127.0.0.1:{}/running", server.port);
    shell.run(&format!("BACKUP DATABASE shop TO '{url}' WITH detached, encryption_passphrase = '{SECRET_2}';"), "step-2");
    let list = api_jobs(addr);
    let jobs = list["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3, "{list}");
    let ids: Vec<i64> = jobs.iter().map(|j| j["id"].as_i64().unwrap()).collect();
    let (running_id, restore_id, backup_id) = (ids[0], ids[1], ids[2]);
    // Its first round of exports ends with one of its two spans done: half way, by its record.
    wait_detail(addr, running_id, "wrote its first file", |d| d["files"]["total"] == 1 && d["spans_todo"]["total"] == 1 && d["job"]["fraction"] == 0.5);

    // The list: newest first, SHOW JOBS's words, a bar per job, no passphrase.
    browser.goto(&format!("http://{ui}/jobs"));
    assert_eq!(browser.count("#jobs tbody tr.job"), 3);
    assert_eq!(browser.texts("#jobs tbody tr.job td.type"), ["BACKUP", "RESTORE", "BACKUP"]);
    assert_eq!(browser.texts("#jobs tbody tr.job .badge"), ["running", "succeeded", "succeeded"]);
    assert_eq!(browser.texts("#jobs tbody tr.job td.id"), ids.iter().map(|i| i.to_string()).collect::<Vec<_>>());
    for id in [restore_id, backup_id] {
        let row = format!("#job-{id}");
        assert_eq!(browser.attr(&format!("{row} progress"), "value").as_deref(), Some("1000"), "{row}");
        assert_eq!(browser.attr(&format!("{row} progress"), "data-fraction").as_deref(), Some("1"), "{row}");
        assert_eq!(browser.text(&format!("{row} .pct")), "100.0%");
        assert!(!browser.text(&format!("{row} td.finished")).is_empty(), "{row} has finished");
    }
    let running_row = format!("#job-{running_id}");
    assert_eq!(browser.attr(&format!("{running_row} progress"), "value").as_deref(), Some("500"));
    assert_eq!(browser.attr(&format!("{running_row} progress"), "data-fraction").as_deref(), Some("0.5"));
    assert_eq!(browser.text(&format!("{running_row} .pct")), "50.0%");
    assert_eq!(browser.text(&format!("{running_row} td.finished")), "");
    // The bar is drawn: a visible element as wide as its column gives it.
    let bar_width = browser.js(&format!("return document.querySelector('{running_row} progress').getBoundingClientRect().width;"), vec![]);
    assert!(bar_width.as_f64().unwrap_or(0.0) > 50.0, "{bar_width}");
    let descriptions = browser.texts("#jobs tbody tr.job td.description");
    assert_eq!(descriptions[0], format!("BACKUP DATABASE shop TO '{url}' WITH encryption_passphrase = 'redacted', detached"));
    assert_eq!(descriptions[1], "RESTORE TABLE shop.* FROM 'nodelocal://1/shop' WITH into_db = 'copy', encryption_passphrase = 'redacted'");
    assert_eq!(descriptions[2], "BACKUP DATABASE shop TO 'nodelocal://1/shop' WITH encryption_passphrase = 'redacted'");
    assert_eq!(browser.texts("#jobs tbody tr.job td.user"), ["root", "root", "root"]);
    let mut served = browser.source();
    // The page's script has polled /api/jobs and found nothing new to reload for.
    browser.wait_js("the page's first poll", "return document.getElementById('live').textContent.indexOf('live') === 0;", Duration::from_secs(10));
    assert_eq!(browser.count("#jobs tbody tr.job"), 3);
    save_screenshot(&browser, "jobs.png", 1200);

    // The running job's page: one span done and its file, the rest to do, the checkpoint.
    browser.click(&format!("{running_row} td.id a"));
    assert!(browser.url().ends_with(&format!("/jobs/{running_id}")), "{}", browser.url());
    assert_eq!(browser.text("#spans-done .count"), "1");
    let todo: usize = browser.text("#spans-todo .count").parse().unwrap();
    assert!(todo >= 1, "{todo}");
    assert_eq!(browser.text("#files .count"), "1");
    assert!(browser.text("#files td.path").starts_with(&format!("data/{running_id}/")));
    let checkpoint = browser.text("#checkpoint");
    assert!(checkpoint.contains("BACKUP-CHECKPOINT lists 1 file and 1 of 2 planned spans done"), "{checkpoint}");
    assert!(browser.text(".facts").contains("Encrypted\nyes"), "{}", browser.text(".facts"));
    assert_eq!(browser.count("#show-backup"), 0, "no SHOW BACKUP before the backup finished");
    assert_eq!(browser.text("#job .pct"), "50.0%");
    served.push_str(&browser.source());
    browser.wait_js("the page's first poll", "return document.getElementById('live').textContent.indexOf('live') === 0;", Duration::from_secs(10));
    // The page stays put while only its coordinator's lease heartbeat rewrites the record (it
    // reloaded on `modified`, every 3.3 s or so, reading the checkpoint again each time).
    browser.js("window.stillThisPage = true; return null;", vec![]);
    let modified = |list: serde_json::Value| list["jobs"][0]["modified"].as_str().unwrap_or("").to_string();
    let before = modified(api_jobs(addr));
    let start = Instant::now();
    while modified(api_jobs(addr)) == before {
        assert!(start.elapsed() < Duration::from_secs(20), "the running job's record was not rewritten in 20 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(browser.js("return window.stillThisPage === true;", vec![]), serde_json::Value::Bool(true), "the running job's page reloaded on a heartbeat");
    save_screenshot(&browser, "jobs-running.png", 1400);

    // The list follows the job to its end in place: a marker set on the page survives.
    browser.goto(&format!("http://{ui}/jobs"));
    browser.js("window.stillThisPage = true; return null;", vec![]);
    server.fail_data_uploads_after_the_first(false);
    browser.wait_js(
        "the running job's row to say succeeded",
        &format!(
            "var r = document.querySelector('{running_row}'); return !!r && r.dataset.status === 'succeeded' && r.querySelector('progress').value === 1000;"
        ),
        Duration::from_secs(90),
    );
    assert_eq!(browser.js("return window.stillThisPage === true;", vec![]), serde_json::Value::Bool(true), "the page was reloaded");
    assert_eq!(browser.text(&format!("{running_row} .pct")), "100.0%");
    assert!(!browser.text(&format!("{running_row} td.finished")).is_empty());

    // The finished backup's page: its manifest's spans and files, and SHOW BACKUP's rows.
    browser.click(&format!("{running_row} td.id a"));
    assert_eq!(browser.text("#spans-done .count"), "2");
    assert_eq!(browser.text("#spans-todo .count"), "0");
    assert_eq!(browser.text("#files .count"), "2");
    assert!(browser.text("#checkpoint").contains("the manifest replaced BACKUP-CHECKPOINT"));
    let show: Vec<String> = browser.texts("#show-backup tbody tr");
    assert_eq!(show.len(), 3, "{show:?}");
    assert!(show[0].starts_with("NULL NULL shop database"), "{show:?}");
    assert!(show.iter().any(|r| r.starts_with("shop public items table")) && show.iter().any(|r| r.starts_with("shop public orders table")), "{show:?}");
    assert_eq!(browser.texts("#show-backup thead th")[..4], ["database_name", "parent_schema_name", "object_name", "object_type"]);
    served.push_str(&browser.source());
    save_screenshot(&browser, "jobs-detail.png", 1600);

    // The restore's page: every span done, from its job record; its source named.
    browser.goto(&format!("http://{ui}/jobs/{restore_id}"));
    assert_eq!(browser.text("#spans-todo .count"), "0");
    assert!(browser.text("#spans-done .count").parse::<usize>().unwrap() >= 1);
    assert!(browser.text(".facts").contains("Backup 1 of 1 (full)\nnodelocal://1/shop"), "{}", browser.text(".facts"));
    served.push_str(&browser.source());
    browser.goto(&format!("http://{ui}/jobs/{backup_id}"));
    assert_eq!(browser.count("#show-backup tbody tr"), 3);
    served.push_str(&browser.source());

    // A table named like markup: its backup's description is text on the list and on its page,
    // whose only script is their own.
    shell.run(
        &format!("CREATE DATABASE lab; CREATE TABLE lab.\"{SCRIPT}\" (id INT PRIMARY KEY); BACKUP TABLE lab.\"{SCRIPT}\" TO 'nodelocal://1/xss';"),
        "step-3",
    );
    browser.goto(&format!("http://{ui}/jobs"));
    assert_eq!(browser.count("#jobs tbody tr.job"), 4);
    assert!(browser.texts("#jobs tbody tr.job td.description")[0].contains(SCRIPT), "{:?}", browser.texts("#jobs tbody tr.job td.description"));
    assert_eq!(browser.count("script"), 1, "the list's own script only");
    served.push_str(&browser.source());
    browser.click("#jobs tbody tr.job td.id a");
    assert!(browser.text(".facts").contains(SCRIPT), "{}", browser.text(".facts"));
    assert_eq!(browser.count("script"), 1, "the job page's own script only");
    served.push_str(&browser.source());

    // A backup to S3 (the same server, answering as an S3 endpoint) whose URL carries a secret
    // key and an endpoint with a password: redacted in the list and on its page, which reads
    // its manifest through that URL and shows SHOW BACKUP.
    let s3 = format!(
        "s3://bucket/creds?AWS_ACCESS_KEY_ID=jobs-page-key-id&AWS_SECRET_ACCESS_KEY={AWS_SECRET}&AWS_ENDPOINT=http%3A%2F%2Fuser%3A{ENDPOINT_PASSWORD}%40127.0.0.1%3A{}",
        server.port
    );
    shell.run(&format!("BACKUP DATABASE lab TO '{s3}';"), "step-4");
    browser.goto(&format!("http://{ui}/jobs"));
    assert_eq!(browser.texts("#jobs tbody tr.job .badge")[0], "succeeded");
    let description = browser.texts("#jobs tbody tr.job td.description").remove(0);
    assert!(description.contains("AWS_SECRET_ACCESS_KEY=redacted") && description.contains("redacted%40127.0.0.1"), "{description}");
    served.push_str(&browser.source());
    browser.click("#jobs tbody tr.job td.id a");
    assert_eq!(browser.count("#show-backup tbody tr"), 2, "SHOW BACKUP through the URL's credentials");
    assert_eq!(browser.count("#problems"), 0);
    served.push_str(&browser.source());

    // Every JSON answer too; and the page is read-only.
    let list = api_jobs(addr);
    let ids: Vec<i64> = list["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_i64().unwrap()).collect();
    served.push_str(&http(addr, "GET", "/api/jobs", "").body);
    for id in &ids {
        served.push_str(&http(addr, "GET", &format!("/api/jobs/{id}"), "").body);
    }
    assert_eq!(http(addr, "POST", "/api/jobs", "CANCEL JOB 1").status, 405);
    assert_eq!(http(addr, "POST", &format!("/jobs/{running_id}"), "").status, 405);
    for secret in [SECRET_1, SECRET_2, AWS_SECRET, ENDPOINT_PASSWORD] {
        assert!(!served.contains(secret), "{secret} was served");
    }
    assert!(!served.contains(SCRIPT) && !served.contains("<script>alert"), "unescaped markup was served");
    browser.shutdown();

    let (status, out, err) = shell.finish();
    assert!(status.success(), "stdout:\n{out}\nstderr:\n{err}");
    // The bar is a terminal's only: none in piped output.
    assert!(!err.contains("BACKUP job") && !err.contains('\r'), "{err}");
}
