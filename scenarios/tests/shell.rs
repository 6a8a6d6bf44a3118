//! `backup-sim shell` driven as a user would, with `-e`, `-f`, standard input and its prompt in a
//! pseudo-terminal, in a temporary directory: create and fill a database, back it up to
//! nodelocal, restore it under another name (`into_db`) and compare; then a second shell process
//! (a fresh in-memory cluster) restores the same files from disk and, sharing the cluster id kept
//! beside them, adds an incremental; errors stop a script with exit status 1 and say what was not
//! run; `gc.ttlseconds` takes effect; the history file keeps no secret and is written as
//! statements are entered; Ctrl-C clears a half-typed line, cancels a running BACKUP (its job
//! ends `canceled`) and stops a statement stuck on an unreachable endpoint, which says what it
//! retries meanwhile; a running BACKUP draws its progress bar on a terminal, never in piped
//! output; a bad `--ui` address stops the shell before it starts; issue #17's RESTORE and SHOW
//! BACKUP options work on nodelocal files and a damaged one is named; a collection (`BACKUP …
//! INTO`, `INTO LATEST IN`, `SHOW BACKUPS IN`, `RESTORE … FROM LATEST IN`) spans three shells; a backup
//! schedule fires at the scheduler's tick and its backup restores.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `backup-sim shell` in `dir` (so the default `./extern` lands there) with `args`.
fn shell(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-sim"));
    cmd.current_dir(dir)
        .arg("shell")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("backup-sim runs");
    if let Some(text) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The table printed for `SELECT` number `n` (0-based) in the output: the lines from the header
/// to the `(k rows)` line.
fn nth_table(out: &str, header: &str, n: usize) -> String {
    let lines: Vec<&str> = out.lines().collect();
    let starts: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.trim_end() == header).map(|(i, _)| i).collect();
    let start = *starts.get(n).unwrap_or_else(|| panic!("table {n} with header {header:?} not in:\n{out}"));
    let end = (start..lines.len()).find(|&i| lines[i].starts_with('(') && lines[i].contains("row")).unwrap();
    lines[start..=end].join("\n")
}

const SETUP: &str = "
CREATE DATABASE shop;
CREATE TABLE shop.items (id INT PRIMARY KEY, name STRING NOT NULL, price FLOAT);
CREATE INDEX items_by_name ON shop.items (name);
INSERT INTO shop.items VALUES (1, 'apple', 0.5), (2, 'pear', 0.75), (3, 'fig', 2.0);
UPDATE shop.items SET price = price * 2 WHERE id = 3;
INSERT INTO shop.items VALUES (4, 'it''s a ; semicolon', NULL);
";

#[test]
fn backup_to_nodelocal_and_restore_into_another_database() {
    let dir = TempDir::new("roundtrip");
    std::fs::write(dir.0.join("setup.sql"), SETUP).unwrap();
    let o = shell(
        &dir.0,
        &[
            "-f",
            "setup.sql",
            "-e",
            "BACKUP DATABASE shop TO 'nodelocal://1/shop-backup'",
            "-e",
            "SHOW BACKUP 'nodelocal://self/shop-backup'",
            "-e",
            "CREATE DATABASE shop_copy; RESTORE shop.* FROM 'nodelocal://1/shop-backup' WITH into_db = 'shop_copy'",
            "-e",
            "SELECT * FROM shop.items",
            "-e",
            "SELECT * FROM shop_copy.items",
            "-e",
            "SHOW JOBS",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("INSERT 3") && out.contains("UPDATE 1"), "{out}");
    // BACKUP's row, SHOW BACKUP's rows.
    assert!(out.contains("| succeeded | 1.0                | 4    |"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("shop ") && l.contains("| items ") && l.contains("| table ")), "{out}");
    // The restored table equals the original, row for row.
    let header = "id | name               | price";
    let original = nth_table(&out, header, 0);
    let copy = nth_table(&out, header, 1);
    assert_eq!(original, copy);
    assert!(original.contains("fig") && original.contains("4.0") && original.contains("(4 rows)"), "{original}");
    // The files are under ./extern.
    assert!(dir.0.join("extern/shop-backup/BACKUP").is_file());
    assert!(out.contains("BACKUP") && out.contains("RESTORE") && out.contains("succeeded"), "SHOW JOBS: {out}");

    // A new shell is a new, empty cluster: the backup on disk restores into it.
    let o = shell(&dir.0, &["-e", "RESTORE DATABASE shop FROM 'nodelocal://1/shop-backup'", "-e", "SELECT * FROM shop.items"], None);
    let (out2, err2) = text(&o);
    assert!(o.status.success(), "stdout:\n{out2}\nstderr:\n{err2}");
    assert_eq!(nth_table(&out2, header, 0), original);

    // Standard input works as a script too.
    let o = shell(&dir.0, &[], Some("RESTORE DATABASE shop FROM 'nodelocal://1/shop-backup';\nSELECT count(*) FROM shop.items;\n"));
    let (out3, err3) = text(&o);
    assert!(o.status.success(), "stdout:\n{out3}\nstderr:\n{err3}");
    assert!(out3.contains("count\n-----\n4\n(1 row)"), "{out3}");
}

/// Issue #17's options on real files: `new_db_name`, `SHOW BACKUP … WITH check_files`,
/// `schema_only` and `verify_backup_table_data` on a nodelocal backup under `./extern`; then a
/// data file damaged on disk is named by check_files and fails the verifying restore (exit
/// status 1, nothing restored), while schema_only, which reads no data file, still restores.
#[test]
fn restore_options_on_nodelocal_files() {
    let dir = TempDir::new("options");
    std::fs::write(dir.0.join("setup.sql"), SETUP).unwrap();
    let o = shell(
        &dir.0,
        &[
            "-f",
            "setup.sql",
            "-e",
            "BACKUP DATABASE shop TO 'nodelocal://1/opts'",
            "-e",
            "RESTORE DATABASE shop FROM 'nodelocal://1/opts' WITH new_db_name = 'shop_copy'",
            "-e",
            "SELECT * FROM shop.items",
            "-e",
            "SELECT * FROM shop_copy.items",
            "-e",
            "SHOW BACKUP 'nodelocal://1/opts' WITH check_files",
            "-e",
            "RESTORE DATABASE shop FROM 'nodelocal://1/opts' WITH schema_only, new_db_name = 'shop_schema'",
            "-e",
            "SELECT count(*) FROM shop_schema.items",
            "-e",
            "RESTORE DATABASE shop FROM 'nodelocal://1/opts' WITH schema_only, verify_backup_table_data, new_db_name = 'shop_verified'",
            "-e",
            "SELECT count(*) FROM shop_verified.items",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let header = "id | name               | price";
    assert_eq!(nth_table(&out, header, 0), nth_table(&out, header, 1), "shop_copy equals shop");
    assert!(out.lines().any(|l| l.starts_with("database_name ") && l.trim_end().ends_with("| file_bytes")), "{out}");
    assert_eq!(out.matches("count\n-----\n0\n(1 row)").count(), 2, "the schema-only copies are empty:\n{out}");

    // Damage the data file on disk (its name is the backup's own: find it).
    let data = dir.0.join("extern/opts/data");
    let mut files = Vec::new();
    let mut dirs = vec![data];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "sst") {
                files.push(p);
            }
        }
    }
    assert_eq!(files.len(), 1, "one data file: {files:?}");
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&files[0], bytes).unwrap();
    let name = format!("nodelocal://1/opts/{}", files[0].strip_prefix(dir.0.join("extern/opts")).unwrap().to_string_lossy());

    let o = shell(&dir.0, &["-e", "SHOW BACKUP 'nodelocal://1/opts' WITH check_files"], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains(&format!("The following files do not match the backup's manifest:\n\t{name} (checksum 0x")), "{err}");
    let o = shell(&dir.0, &["-e", "RESTORE DATABASE shop FROM 'nodelocal://1/opts' WITH schema_only, verify_backup_table_data", "-e", "SELECT 1"], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains(&format!("{name}: checksum mismatch")), "{err}");
    let o = shell(&dir.0, &["-e", "RESTORE DATABASE shop FROM 'nodelocal://1/opts' WITH schema_only", "-e", "SELECT count(*) FROM shop.items"], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("count\n-----\n0\n(1 row)"), "{out}");
}

#[test]
fn errors_stop_a_script_with_a_message_and_exit_status_1() {
    let dir = TempDir::new("errors");
    let o = shell(&dir.0, &["-e", "CREATE DATABASE a", "-e", "SELECT * FROM a.nope", "-e", "CREATE DATABASE never"], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("ERROR:") && err.contains("nope"), "{err}");
    assert!(out.contains("CREATE DATABASE") && !out.contains("never"), "{out}");
    // A bulk statement's error, and a missing file.
    let o = shell(&dir.0, &["-e", "RESTORE DATABASE x FROM 'nodelocal://1/none'"], None);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("ERROR:"), "{err}");
    let o = shell(&dir.0, &["-f", "missing.sql"], None);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("cannot read missing.sql"), "{err}");
    // A disabled external-io directory refuses nodelocal.
    let o = shell(&dir.0, &["--external-io-dir", "disabled", "-e", "CREATE DATABASE d", "-e", "BACKUP DATABASE d TO 'nodelocal://1/x'"], None);
    let (_, err) = text(&o);
    assert!(err.contains("local file access is disabled"), "{err}");
    // A secret in a refused URL is not printed.
    let o = shell(&dir.0, &["-e", "BACKUP TO 's3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=hunter2&AWS_ENDPOINT=ftp%3A%2F%2Fx'"], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.contains("hunter2") && !err.contains("hunter2"), "{err}");
}

#[test]
fn the_node_reports_the_locality_it_was_started_with() {
    let dir = TempDir::new("locality");
    let o = shell(&dir.0, &["--locality", "region=us-east,zone=us-east-1a", "-e", "SHOW LOCALITY"], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("region=us-east,zone=us-east-1a"), "{out}");
    // A malformed one is refused before the shell starts, naming the tier.
    let o = shell(&dir.0, &["--locality", "region=us-east,zone", "-e", "SHOW LOCALITY"], None);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("invalid locality tier \"zone\""), "{err}");
}

/// A node started with `--locality=region=us-west,…` writes a locality-aware backup's data
/// files to the `region=us-west` URL (on disk, under `./extern`) and the manifest to the default
/// one; a later shell (another node, no locality) restores from the list, and is refused,
/// naming the partition, from the default URL alone.
#[test]
fn a_locality_aware_backup_puts_the_nodes_files_in_its_localitys_directory() {
    let dir = TempDir::new("locality-backup");
    std::fs::write(dir.0.join("setup.sql"), SETUP).unwrap();
    let to = "('nodelocal://1/east?COCKROACH_LOCALITY=default', 'nodelocal://1/west?COCKROACH_LOCALITY=region%3Dus-west')";
    let o = shell(&dir.0, &["--locality", "region=us-west,zone=us-west-2a", "-f", "setup.sql", "-e", &format!("BACKUP DATABASE shop TO {to}")], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let ext = dir.0.join("extern");
    assert!(ext.join("east/BACKUP").is_file() && !ext.join("east/data").exists(), "the manifest only at the default URL");
    assert!(ext.join("west/BACKUP_PART_1_region=us-west").is_file() && ext.join("west/data").is_dir());
    assert!(!ext.join("west/BACKUP").exists());
    let o = shell(&dir.0, &["-e", "RESTORE DATABASE shop FROM 'nodelocal://1/east'"], None);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("expected manifest BACKUP_PART_1_region=us-west not found"), "{err}");
    let o = shell(
        &dir.0,
        &[
            "-e",
            "RESTORE DATABASE shop FROM ('nodelocal://1/east', 'nodelocal://1/west')",
            "-e",
            "SELECT id FROM shop.items ORDER BY id",
            "-e",
            "SHOW BACKUP FILES ('nodelocal://1/east', 'nodelocal://1/west') WITH check_files",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("(4 rows)") && out.contains("region=us-west"), "{out}");
}

mod shell_support;

use shell_support::http::Server;
use shell_support::{collect, prompt, run, spawn_piped, wait_for, wait_prompt, Piped, TempDir};
use std::io::Write;
use std::time::{Duration, Instant};

#[test]
fn a_later_shell_adds_an_incremental_to_an_earlier_shells_backup() {
    let dir = TempDir::new("chain");
    std::fs::write(dir.0.join("setup.sql"), SETUP).unwrap();
    let o = shell(&dir.0, &["-f", "setup.sql", "-e", "BACKUP DATABASE shop TO 'nodelocal://1/chain'"], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let id = std::fs::read_to_string(dir.0.join("extern/.backup-sim-cluster-id")).expect("the cluster id is kept in the external-io directory");

    // A second process (a new in-memory cluster, the same cluster id) restores the backup, adds a
    // row and backs up to the same location: an incremental on the first shell's full backup.
    let o = shell(
        &dir.0,
        &[
            "-e",
            "RESTORE DATABASE shop FROM 'nodelocal://1/chain'",
            "-e",
            "INSERT INTO shop.items VALUES (5, 'kiwi', 1.25)",
            "-e",
            "BACKUP DATABASE shop TO 'nodelocal://1/chain'",
            "-e",
            "SHOW BACKUP 'nodelocal://1/chain'",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("shop ") && l.contains("| items ")).count(), 2, "a full backup and an incremental:\n{out}");
    assert_eq!(std::fs::read_to_string(dir.0.join("extern/.backup-sim-cluster-id")).unwrap(), id, "the id file is not rewritten");

    // A third restores the chain: the second shell's row is there.
    let o = shell(&dir.0, &["-e", "RESTORE DATABASE shop FROM 'nodelocal://1/chain'", "-e", "SELECT id, name FROM shop.items ORDER BY id"], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("5  | kiwi") && out.contains("(5 rows)"), "{out}");

    // Another cluster id (the flag) is another cluster: its incremental is refused.
    let o = shell(
        &dir.0,
        &["--cluster-id", "someone-else", "-e", "RESTORE DATABASE shop FROM 'nodelocal://1/chain'", "-e", "BACKUP DATABASE shop TO 'nodelocal://1/chain'"],
        None,
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("belongs to cluster {}", id.trim())), "{err}");
    // A bad id is refused before anything runs; so is a corrupt id file.
    let o = shell(&dir.0, &["--cluster-id", "has space", "-e", "SELECT 1"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("invalid --cluster-id \"has space\""), "{}", text(&o).1);
    std::fs::write(dir.0.join("extern/.backup-sim-cluster-id"), "\u{1b}[31m\n").unwrap();
    let o = shell(&dir.0, &["-e", "SELECT 1"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains(".backup-sim-cluster-id does not hold a valid id"), "{}", text(&o).1);
}

/// Issue #17's collections on nodelocal files: a shell backs up INTO a collection; a later shell
/// (the same cluster id, kept beside the backups) adds an incremental INTO LATEST, which SHOW
/// BACKUPS IN does not list as a chain and SHOW BACKUP LATEST IN shows as a second layer; a third
/// restores FROM LATEST IN and FROM the subdirectory IN, with the second shell's row.
#[test]
fn collections_on_nodelocal_files_across_shells() {
    let dir = TempDir::new("collection");
    std::fs::write(dir.0.join("setup.sql"), SETUP).unwrap();
    let o = shell(&dir.0, &["-f", "setup.sql", "-e", "BACKUP DATABASE shop INTO 'nodelocal://1/coll'", "-e", "SHOW BACKUPS IN 'nodelocal://1/coll'"], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let listed = |out: &str| -> Vec<String> { out.lines().filter(|l| l.starts_with('/') && l.contains('-')).map(|l| l.trim_end().to_string()).collect() };
    let subdirs = listed(&out);
    assert_eq!(subdirs.len(), 1, "one full backup listed:\n{out}");
    let subdir = subdirs[0].clone();
    assert!(dir.0.join(format!("extern/coll{subdir}/BACKUP")).is_file(), "the full backup is in its dated subdirectory");
    assert!(dir.0.join("extern/coll/metadata/latest").is_dir(), "LATEST is written");

    let o = shell(
        &dir.0,
        &[
            "-e",
            "RESTORE DATABASE shop FROM LATEST IN 'nodelocal://1/coll'",
            "-e",
            "INSERT INTO shop.items VALUES (5, 'kiwi', 1.25)",
            "-e",
            "BACKUP DATABASE shop INTO LATEST IN 'nodelocal://1/coll'",
            "-e",
            "SHOW BACKUPS IN 'nodelocal://1/coll'",
            "-e",
            "SHOW BACKUP LATEST IN 'nodelocal://1/coll'",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(listed(&out), vec![subdir.clone()], "the incremental is not a chain of its own:\n{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("shop ") && l.contains("| items ")).count(), 2, "a full backup and an incremental:\n{out}");
    assert!(dir.0.join(format!("extern/coll/incrementals{subdir}")).is_dir(), "the incremental is under incrementals/<subdir>/");

    let o = shell(
        &dir.0,
        &[
            "-e",
            "RESTORE DATABASE shop FROM LATEST IN 'nodelocal://1/coll'",
            "-e",
            &format!("RESTORE DATABASE shop FROM '{subdir}' IN 'nodelocal://1/coll' WITH new_db_name = 'shop_sub'"),
            "-e",
            "SELECT id, name FROM shop.items ORDER BY id",
            "-e",
            "SELECT id, name FROM shop_sub.items ORDER BY id",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let header = "id | name";
    assert!(nth_table(&out, header, 0).contains("5  | kiwi") && nth_table(&out, header, 0).contains("(5 rows)"), "{out}");
    assert_eq!(nth_table(&out, header, 0), nth_table(&out, header, 1), "the subdirectory's chain is LATEST's");

    // LATEST in a directory with no backup is refused with CockroachDB's words.
    let o = shell(&dir.0, &["-e", "RESTORE DATABASE shop FROM LATEST IN 'nodelocal://1/nothing'"], None);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("path does not contain a completed latest backup"), "{err}");
}

#[test]
fn standard_input_runs_as_it_arrives_and_gc_ttl_takes_effect() {
    let dir = TempDir::new("gc");
    // Two scripts, each ending with a statement the GC threshold refuses (a script stops at its
    // first error): an AS OF SYSTEM TIME read, and a BACKUP as of the same old time.
    for last in ["SELECT v FROM g.t AS OF SYSTEM TIME '-2s';", "BACKUP DATABASE g TO 'nodelocal://1/g' AS OF SYSTEM TIME '-2s';"] {
        let Piped { mut child, out, err, mut stdin } = spawn_piped(&dir.0, &["--gc-interval", "200ms"]);
        stdin
            .write_all(
                b"CREATE DATABASE g;\nCREATE TABLE g.t (id INT PRIMARY KEY, v STRING);\nINSERT INTO g.t VALUES (1, 'old');\n\
                  ALTER TABLE g.t CONFIGURE ZONE USING gc.ttlseconds = 1;\nUPDATE g.t SET v = 'new' WHERE id = 1;\n",
            )
            .unwrap();
        stdin.flush().unwrap();
        // Each statement ran as soon as it arrived: the input is still open.
        wait_for(&out, "UPDATE 1", Duration::from_secs(20));
        // Past the TTL and a few GC passes, the version from 2 s ago is gone.
        std::thread::sleep(Duration::from_secs(3));
        stdin.write_all(last.as_bytes()).unwrap();
        drop(stdin);
        let status = child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let (out, err) = (out.lock().unwrap().clone(), err.lock().unwrap().clone());
        assert_eq!(status.code(), Some(1), "{last}\nstdout:\n{out}\nstderr:\n{err}");
        assert!(err.contains("must be after replica GC threshold"), "{last}\nstderr:\n{err}");
        assert!(!out.contains("old"), "{out}");
    }
}

#[test]
fn the_history_file_holds_no_secret() {
    let dir = TempDir::new("history");
    let hist = dir.0.join("hist");
    // A history file an older shell wrote, with a secret in clear.
    std::fs::write(&hist, "#V2\nBACKUP DATABASE d TO 'nodelocal://1/old' WITH encryption_passphrase = 'old-secret-0'\n").unwrap();
    let secrets = [
        "old-secret-0",
        "right-pass-1",
        "wrong-pass-2",
        "aws-secret-3",
        "session-token-4",
        "azure-key-5",
        "Z3Mtc2VjcmV0LTY",
        "typo-pass-7",
        "userinfo-pass-8",
        "unfinished-9",
    ];
    let mut s = prompt(&dir.0, &["--history", "hist"], 30_000);
    run(&mut s, "CREATE DATABASE d;", "CREATE DATABASE");
    wait_prompt(&mut s);
    run(&mut s, "CREATE TABLE d.t (id INT PRIMARY KEY);", "CREATE TABLE");
    wait_prompt(&mut s);
    run(&mut s, "BACKUP DATABASE d TO 'nodelocal://1/enc' WITH encryption_passphrase = 'right-pass-1';", "succeeded");
    wait_prompt(&mut s);
    for failing in [
        "RESTORE DATABASE d FROM 'nodelocal://1/enc' WITH encryption_passphrase = 'wrong-pass-2';",
        "BACKUP DATABASE nosuch TO 's3://bucket/p?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=aws-secret-3&AWS_SESSION_TOKEN=session-token-4';",
        "BACKUP DATABASE nosuch TO 'azure://container/p?AZURE_ACCOUNT_NAME=acct&AZURE_ACCOUNT_KEY=azure-key-5';",
        "BACKUP DATABASE nosuch TO 'gs://bucket/p?AUTH=specified&CREDENTIALS=Z3Mtc2VjcmV0LTY=';",
        "BACKUP DATABASE d TO 'nodelocal://1/x' WITH encryption_passphrase = 'typo-pass-7', no_such_option;",
        "BACKUP DATABASE nosuch TO 'http://user:userinfo-pass-8@127.0.0.1:1/p';",
    ] {
        run(&mut s, failing, "ERROR");
        wait_prompt(&mut s);
    }
    // A statement left unfinished at Ctrl-D (twice: the first only warns).
    s.send_line("BACKUP DATABASE d TO 'nodelocal://1/y' WITH encryption_passphrase = 'unfinished-9").unwrap();
    s.exp_string("  -> ").unwrap();
    s.send_control('d').unwrap();
    s.exp_string("Ctrl-D again").unwrap();
    s.send_control('d').unwrap();
    s.exp_eof().unwrap();
    let saved = std::fs::read_to_string(&hist).unwrap();
    for secret in secrets {
        assert!(!saved.contains(secret), "{secret} in the history file:\n{saved}");
    }
    assert!(saved.contains("CREATE TABLE d.t (id INT PRIMARY KEY);"), "{saved}");
    assert!(saved.contains("encryption_passphrase = 'redacted'"), "{saved}");
    assert!(saved.contains("AWS_SECRET_ACCESS_KEY=redacted"), "{saved}");
    assert!(saved.contains("nodelocal://1/y"), "the unfinished statement is kept, redacted:\n{saved}");
}

#[test]
fn history_is_written_as_each_statement_is_entered() {
    let dir = TempDir::new("history-kill");
    let mut s = prompt(&dir.0, &["--history", "hist"], 30_000);
    run(&mut s, "SELECT 40 + 2 AS kept_after_kill;", "42");
    wait_prompt(&mut s);
    // Killed, not exited: nothing runs at exit.
    s.process_mut().kill(nix::sys::signal::Signal::SIGKILL).unwrap();
    let saved = std::fs::read_to_string(dir.0.join("hist")).unwrap_or_default();
    assert!(saved.contains("SELECT 40 + 2 AS kept_after_kill;"), "{saved:?}");
}

#[test]
fn ctrl_c_clears_a_half_typed_line_and_cancels_a_running_backup() {
    let dir = TempDir::new("ctrl-c");
    let server = Server::start();
    let url = format!("http://127.0.0.1:{}/bk", server.port);
    let mut s = prompt(&dir.0, &["--history", "hist"], 60_000);
    run(&mut s, "CREATE DATABASE big; CREATE TABLE big.a (id INT PRIMARY KEY); CREATE TABLE big.b (id INT PRIMARY KEY);", "CREATE TABLE");
    wait_prompt(&mut s);
    run(&mut s, "INSERT INTO big.a VALUES (1), (2); INSERT INTO big.b VALUES (3);", "INSERT 1");
    wait_prompt(&mut s);

    // Ctrl-C on a half-typed line drops it.
    s.send("SELECT 'half typed").unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.send_control('c').unwrap();
    // (Typed only once the new prompt is up: the line editor drops what arrives together with
    // the Ctrl-C byte.)
    wait_prompt(&mut s);
    let before = run(&mut s, "SELECT 41 + 1 AS answer;", "42");
    assert!(!before.contains("ERROR"), "{before}");
    wait_prompt(&mut s);

    // A BACKUP whose second data file the server refuses keeps retrying; the shell says so.
    server.fail_data_uploads_after_the_first(true);
    run(&mut s, &format!("BACKUP DATABASE big TO '{url}';"), &format!("still retrying {url}"));
    assert!(server.paths().iter().any(|p| p.ends_with("/BACKUP-CHECKPOINT")), "{:?}", server.paths());
    let pressed = Instant::now();
    s.send_control('c').unwrap();
    s.exp_string("canceling job").unwrap();
    let said = s.exp_string("root@backup-sim/").unwrap();
    assert!(said.contains("ERROR: query canceled: job") && said.contains("was canceled"), "{said}");
    assert!(pressed.elapsed() < Duration::from_secs(20), "cancel took {:?}", pressed.elapsed());
    // The shell is alive, the job is canceled.
    let jobs = run(&mut s, "SHOW JOBS;", "(1 row)");
    assert!(jobs.contains("| canceled "), "{jobs}");
    wait_prompt(&mut s);

    // A new BACKUP to the same location works once the server does (CANCEL's cleanup left no
    // checkpoint to refuse it).
    server.fail_data_uploads_after_the_first(false);
    let again = run(&mut s, &format!("BACKUP DATABASE big TO '{url}';"), "root@backup-sim/");
    assert!(again.contains("| succeeded |"), "{again}");
    s.send_line("\\q").unwrap();
    s.exp_eof().unwrap();
}

#[test]
fn an_unreachable_endpoint_says_what_it_retries_and_ctrl_c_stops_it() {
    let dir = TempDir::new("unreachable");
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("s3://bucket/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=hunter2&AWS_ENDPOINT=http%3A%2F%2F127.0.0.1%3A{closed}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_backup-sim"))
        .current_dir(&dir.0)
        .args(["shell", "-e", "CREATE DATABASE d", "-e", &format!("BACKUP DATABASE d TO '{url}'"), "-e", "SELECT 'never'"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    wait_for(&err, "note: still retrying s3://bucket/p?", Duration::from_secs(20));
    let pressed = Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert!(pressed.elapsed() < Duration::from_secs(5), "Ctrl-C took {:?}", pressed.elapsed());
    std::thread::sleep(Duration::from_millis(100));
    let (out, err) = (out.lock().unwrap().clone(), err.lock().unwrap().clone());
    assert_eq!(status.code(), Some(130), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("AWS_SECRET_ACCESS_KEY=redacted") && err.contains("(Ctrl-C cancels)"), "{err}");
    assert!(err.contains("ERROR: query canceled before it started a job"), "{err}");
    assert!(err.contains("1 statement not run after the cancel:\n  SELECT 'never';"), "{err}");
    assert!(!err.contains("hunter2") && !out.contains("hunter2"), "{err}");
}

#[test]
fn an_error_says_which_statements_were_not_run() {
    let dir = TempDir::new("not-run");
    // Scripts: the first error stops everything after it, and says what.
    let o = shell(
        &dir.0,
        &[
            "-e",
            "SELECT 1; SELECT * FROM nope; SELECT 2",
            "-e",
            "BACKUP DATABASE d TO 'nodelocal://1/x' WITH encryption_passphrase = 'np-secret'",
            "-f",
            "later.sql",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("3 statements not run after the error:\n  SELECT 2;\n  BACKUP DATABASE d TO 'nodelocal://1/x' WITH encryption_passphrase = 'redacted';\n  (every statement of -f later.sql)"),
        "{err}"
    );
    assert!(!err.contains("np-secret"), "{err}");
    let o = shell(&dir.0, &[], Some("SELECT 1;\nSELECT * FROM nope;\nSELECT 2;\n"));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("not run after the error:\n  (the rest of standard input, not read)") && !out.contains("\n2\n"), "{out}\n{err}");

    // The prompt: the rest of the line is not run either, it says so, and the prompt goes on.
    let mut s = prompt(&dir.0, &["--history", "hist"], 30_000);
    let said = run(&mut s, "SELECT 1; SELECT * FROM nope; SELECT 'after-error';", "root@backup-sim/");
    assert!(said.contains("1 statement not run after the error:") && said.contains("  SELECT 'after-error';"), "{said}");
    run(&mut s, "SELECT 6 * 7 AS alive;", "42");
    wait_prompt(&mut s);

    // Ctrl-D on a half-typed statement warns and keeps it; `;` then runs it.
    s.send_line("SELECT 6 * 7").unwrap();
    s.exp_string("  -> ").unwrap();
    s.send_control('d').unwrap();
    s.exp_string("has no ';' yet and was not run").unwrap();
    run(&mut s, " + 1 AS finished;", "43");
    wait_prompt(&mut s);
    s.send_control('d').unwrap();
    s.exp_eof().unwrap();
}

#[test]
fn ctrl_c_cancels_a_running_restore() {
    let dir = TempDir::new("ctrl-c-restore");
    let server = Server::start();
    let url = format!("http://127.0.0.1:{}/rs", server.port);
    let mut s = prompt(&dir.0, &["--history", "hist"], 60_000);
    run(
        &mut s,
        "CREATE DATABASE src; CREATE TABLE src.t (id INT PRIMARY KEY); INSERT INTO src.t VALUES (1), (2); CREATE DATABASE copy;",
        "CREATE DATABASE\r\n",
    );
    wait_prompt(&mut s);
    run(&mut s, &format!("BACKUP DATABASE src TO '{url}';"), "| succeeded |");
    wait_prompt(&mut s);

    // The server stops serving data files: the RESTORE retries, and says so.
    server.fail_data_reads(true);
    run(&mut s, &format!("RESTORE src.* FROM '{url}' WITH into_db = 'copy';"), &format!("still retrying {url}"));
    s.send_control('c').unwrap();
    let said = s.exp_string("root@backup-sim/").unwrap();
    assert!(said.contains("ERROR: query canceled: job") && said.contains("was canceled; nothing was restored"), "{said}");
    let jobs = run(&mut s, "SHOW JOBS;", "(2 rows)");
    assert!(jobs.lines().any(|l| l.contains("| RESTORE ") && l.contains("| canceled ")), "{jobs}");
    wait_prompt(&mut s);
    let missing = run(&mut s, "SELECT * FROM copy.t;", "root@backup-sim/");
    assert!(missing.contains("ERROR"), "nothing of the canceled restore is visible: {missing}");

    // It runs to the end once the server answers again.
    server.fail_data_reads(false);
    run(&mut s, &format!("RESTORE src.* FROM '{url}' WITH into_db = 'copy';"), "| succeeded |");
    wait_prompt(&mut s);
    run(&mut s, "SELECT count(*) FROM copy.t;", "2\r\n(1 row)");
    s.send_line("\\q").unwrap();
    s.exp_eof().unwrap();
}

#[test]
fn a_second_ctrl_c_exits_while_a_cancel_waits_on_storage() {
    let dir = TempDir::new("ctrl-c-twice");
    let server = Server::start();
    let url = format!("http://127.0.0.1:{}/hang", server.port);
    let mut s = prompt(&dir.0, &["--history", "hist"], 60_000);
    run(&mut s, "CREATE DATABASE big; CREATE TABLE big.a (id INT PRIMARY KEY); CREATE TABLE big.b (id INT PRIMARY KEY);", "CREATE TABLE");
    wait_prompt(&mut s);
    run(&mut s, "INSERT INTO big.a VALUES (1); INSERT INTO big.b VALUES (2);", "INSERT 1");
    wait_prompt(&mut s);
    // The second data file's upload gets no answer: the job's coordinator is stuck in it and
    // cannot see a cancel until the request times out. The shell says what it waits for.
    server.hang_data_uploads_after_the_first();
    run(&mut s, &format!("BACKUP DATABASE big TO '{url}';"), &format!("waiting for {url}: write of data/"));
    s.send_control('c').unwrap();
    s.exp_string("canceling job").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pressed = Instant::now();
    s.send_control('c').unwrap();
    let said = s.exp_eof().unwrap();
    assert!(pressed.elapsed() < Duration::from_secs(5), "exit took {:?}", pressed.elapsed());
    assert!(said.contains("ERROR: exiting: job") && said.contains("was still being canceled"), "{said}");
    match s.process().wait().unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, code) => assert_eq!(code, 130),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ctrl_c_between_statements_still_ends_a_script() {
    use std::os::unix::process::ExitStatusExt;
    let dir = TempDir::new("ctrl-c-idle");
    let Piped { mut child, out, mut stdin, .. } = spawn_piped(&dir.0, &[]);
    stdin.write_all(b"SELECT 20 + 1 AS waiting;\n").unwrap();
    stdin.flush().unwrap();
    // The script now waits for more input, with the shell's SIGINT handling installed.
    wait_for(&out, "21", Duration::from_secs(20));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the shell ignored Ctrl-C while waiting for input");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    drop(stdin);
}

#[test]
fn a_running_backup_draws_its_progress_bar_on_a_terminal_only() {
    let dir = TempDir::new("progress-bar");
    let server = Server::start();
    let url = format!("http://127.0.0.1:{}/bar", server.port);
    let mut s = prompt(&dir.0, &["--history", "hist"], 60_000);
    run(&mut s, "CREATE DATABASE big; CREATE TABLE big.a (id INT PRIMARY KEY); CREATE TABLE big.b (id INT PRIMARY KEY);", "CREATE TABLE");
    wait_prompt(&mut s);
    run(&mut s, "INSERT INTO big.a VALUES (1), (2); INSERT INTO big.b VALUES (3);", "INSERT 1");
    wait_prompt(&mut s);
    // The server takes the first data file and refuses the second: after its first round the
    // job's record says half done, and the job keeps retrying.
    server.fail_data_uploads_after_the_first(true);
    run(&mut s, &format!("BACKUP DATABASE big TO '{url}';"), "BACKUP job ");
    s.exp_string("50.0% running").unwrap();
    // The retry note is printed above the bar, and the bar goes on.
    s.exp_string(&format!("note: still retrying {url}")).unwrap();
    s.exp_string("50.0% running").unwrap();
    s.send_control('c').unwrap();
    s.exp_string("canceling job").unwrap();
    let said = s.exp_string("root@backup-sim/").unwrap();
    assert!(said.contains("ERROR: query canceled: job"), "{said}");
    s.send_line("\\q").unwrap();
    s.exp_eof().unwrap();

    // Piped, the same backup draws nothing: standard error has the notes only.
    let mut child = Command::new(env!("CARGO_BIN_EXE_backup-sim"))
        .current_dir(&dir.0)
        .args(["shell", "-e", "CREATE DATABASE big; CREATE TABLE big.a (id INT PRIMARY KEY); CREATE TABLE big.b (id INT PRIMARY KEY)"])
        .args(["-e", "INSERT INTO big.a VALUES (1), (2); INSERT INTO big.b VALUES (3)", "-e", &format!("BACKUP DATABASE big TO '{url}/piped'")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    wait_for(&err, &format!("note: still retrying {url}/piped"), Duration::from_secs(30));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (out, err) = (out.lock().unwrap().clone(), err.lock().unwrap().clone());
    assert_eq!(status.code(), Some(130), "stdout:\n{out}\nstderr:\n{err}");
    assert!(!err.contains("BACKUP job") && !err.contains('\r') && !err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn a_bad_ui_address_stops_the_shell_before_it_starts() {
    let dir = TempDir::new("ui-flags");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    for (args, says) in [
        (
            vec!["--ui", "nonsense"],
            "error: --ui \"nonsense\" is not an address to listen on: it has no port; give IP:PORT, e.g. --ui 127.0.0.1:8080".to_string(),
        ),
        (vec!["--ui", "127.0.0.1:http"], "\"http\" is not a port".to_string()),
        (vec!["--ui", "0.0.0.0:0"], "error: --ui 0.0.0.0:0: 0.0.0.0 is not a loopback address, and the Jobs page has no login".to_string()),
        (vec!["--ui", &format!("127.0.0.1:{port}")], format!("error: cannot serve the Jobs page on 127.0.0.1:{port}: the address is already in use")),
    ] {
        let mut all = args.clone();
        all.extend(["-e", "SELECT 'ran' AS never"]);
        let o = shell(&dir.0, &all, None);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: stdout:\n{out}\nstderr:\n{err}");
        assert!(err.contains(&says), "{args:?}: {err}");
        assert!(!out.contains("ran") && !err.contains("panicked"), "{args:?}: {out}{err}");
    }
    // Served elsewhere only when asked to, and the flag means nothing without --ui.
    let o = shell(&dir.0, &["--ui", "0.0.0.0:0", "--ui-allow-remote", "-e", "SELECT 'ran' AS served"], None);
    let (out, err) = text(&o);
    assert!(o.status.success() && out.contains("ran") && err.contains("note: the Jobs page is at http://0.0.0.0:"), "{out}{err}");
    let o = shell(&dir.0, &["--ui-allow-remote", "-e", "SELECT 1"], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
    assert!(text(&o).1.contains("--ui <ADDR>"), "{}", text(&o).1);
}

/// Issue #17's users procedure on nodelocal files: one shell creates users and a role and backs
/// up system.users; a later shell (a fresh cluster) restores it into a user database, refused
/// without `into_db`, and copies the users back with INSERT … SELECT filtered on the names it
/// has already: the restored user has its password flag, the role is a role, and the copy's
/// temporary table goes.
#[test]
fn users_restored_from_a_system_users_backup_on_nodelocal_files() {
    let dir = TempDir::new("users");
    let o = shell(
        &dir.0,
        &["-e", "CREATE USER maxroach WITH PASSWORD 'hunter2'; CREATE ROLE tellers", "-e", "BACKUP TABLE system.users TO 'nodelocal://1/system_users'"],
        None,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let o = shell(&dir.0, &["-e", "RESTORE system.users FROM 'nodelocal://1/system_users'"], None);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("relation \"system.users\" already exists: a system table cannot be restored into the system database"), "{err}");
    let o = shell(
        &dir.0,
        &[
            "-e",
            "CREATE DATABASE newdb",
            "-e",
            "RESTORE system.users FROM 'nodelocal://1/system_users' WITH into_db = 'newdb'",
            "-e",
            "INSERT INTO system.users SELECT * FROM newdb.users WHERE username NOT IN (SELECT username FROM system.users)",
            "-e",
            "DROP TABLE newdb.users",
            "-e",
            "SELECT * FROM system.users ORDER BY username",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let users = nth_table(&out, "username | hashedPassword | isRole", 0);
    let rows: Vec<Vec<&str>> = users.lines().skip(2).filter(|l| !l.starts_with('(')).map(|l| l.split('|').map(str::trim).collect()).collect();
    assert_eq!(
        rows,
        vec![vec!["admin", "NULL", "true"], vec!["maxroach", "true", "false"], vec!["root", "NULL", "false"], vec!["tellers", "NULL", "true"]],
        "{out}"
    );
    assert!(!out.contains("hunter2") && !err.contains("hunter2"));
    // No file of the backup holds the password: the cluster never kept it.
    let mut dirs = vec![dir.0.join("extern/system_users")];
    let mut files = 0;
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files += 1;
                assert!(!std::fs::read(&path).unwrap().windows(7).any(|w| w == b"hunter2"), "{}", path.display());
            }
        }
    }
    assert!(files >= 2, "a manifest and a data file at least");
}

/// A backup schedule fires in the shell as it would in a cluster: `CREATE SCHEDULE nightly …
/// first_run = 'now'` (the label written as a name, as CockroachDB's docs do) makes its full
/// backup at the scheduler's next tick (every 200 ms here, `--scheduler-interval`), the job
/// succeeds, the incremental schedule it was holding back turns ACTIVE, SHOW BACKUPS IN lists the
/// dated full, RESTORE … FROM LATEST IN brings the rows back, and DROP SCHEDULE removes both.
#[test]
fn a_schedule_fires_and_its_backup_restores() {
    let dir = TempDir::new("schedule");
    let Piped { mut child, out, err, mut stdin } = spawn_piped(&dir.0, &["--scheduler-interval", "200ms"]);
    let mut send = |sql: &str| {
        stdin.write_all(sql.as_bytes()).unwrap();
        stdin.flush().unwrap();
    };
    send(SETUP);
    send("CREATE SCHEDULE nightly FOR BACKUP DATABASE shop INTO 'nodelocal://1/sched' RECURRING '@daily' WITH SCHEDULE OPTIONS first_run = 'now';\n");
    wait_for(&out, "(2 rows)", Duration::from_secs(20));
    let created = out.lock().unwrap().clone();
    let ids: Vec<String> = created.lines().filter(|l| l.contains("| nightly |")).map(|l| l.split('|').next().unwrap().trim().to_string()).collect();
    assert_eq!(ids.len(), 2, "CREATE SCHEDULE makes the full and the incremental schedule:\n{created}");
    assert!(created.contains("PAUSED: Waiting for initial backup to complete"), "{created}");
    // Nothing was run by hand: the job SHOW JOBS finds is the schedule's.
    let start = Instant::now();
    loop {
        send("SHOW JOBS;\n");
        std::thread::sleep(Duration::from_millis(300));
        let now = out.lock().unwrap().clone();
        if now.contains("| succeeded |") {
            assert!(now.contains("BACKUP DATABASE shop INTO 'nodelocal://1/sched' AS OF SYSTEM TIME"), "{now}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the scheduled backup did not succeed:\n{now}\nstderr:\n{}", err.lock().unwrap());
    }
    // The scheduler handles the end at its next tick: the incremental schedule is released.
    let start = Instant::now();
    loop {
        let before = out.lock().unwrap().len();
        send("SHOW SCHEDULES;\n");
        std::thread::sleep(Duration::from_millis(300));
        let shown = out.lock().unwrap()[before..].to_string();
        if shown.contains("(2 rows)") && !shown.contains("PAUSED") {
            assert_eq!(shown.matches("| ACTIVE ").count(), 2, "{shown}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the incremental schedule stayed paused:\n{shown}");
    }
    send("SHOW BACKUPS IN 'nodelocal://1/sched';\n");
    send("RESTORE DATABASE shop FROM LATEST IN 'nodelocal://1/sched' WITH new_db_name = 'shop2';\n");
    send("SELECT * FROM shop.items;\nSELECT * FROM shop2.items;\n");
    for id in &ids {
        send(&format!("DROP SCHEDULE {id};\n"));
    }
    send("SHOW SCHEDULES;\n");
    drop(stdin);
    let status = child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (out, err) = (out.lock().unwrap().clone(), err.lock().unwrap().clone());
    assert!(status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let listed: Vec<&str> = out.lines().filter(|l| l.starts_with("/20") && l.contains('-')).collect();
    assert_eq!(listed.len(), 1, "one dated full backup:\n{out}");
    assert!(dir.0.join(format!("extern/sched{}/BACKUP", listed[0].trim_end())).is_file(), "the full is on disk under its dated directory");
    let header = "id | name               | price";
    let (original, copy) = (nth_table(&out, header, 0), nth_table(&out, header, 1));
    assert_eq!(original, copy, "the restored table equals the original");
    assert!(original.contains("(4 rows)"), "{original}");
    assert_eq!(out.matches("DROP SCHEDULE").count(), 2, "{out}");
    assert!(out.trim_end().ends_with("(0 rows)"), "SHOW SCHEDULES after both drops:\n{out}");
}
