//! `backup-sim shell` driven as a user would, with `-e`, `-f` and standard input, in a
//! temporary directory: create and fill a database, back it up to nodelocal, restore it under
//! another name (`into_db`) and compare; then a second shell process (a fresh in-memory
//! cluster) restores the same files from disk; errors stop a script with exit status 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let d = std::env::temp_dir().join(format!("backup-sim-shell-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `backup-sim shell` in `dir` (so the default `./extern` lands there) with `args`.
fn shell(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-sim"));
    cmd.current_dir(dir).arg("shell").args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
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
