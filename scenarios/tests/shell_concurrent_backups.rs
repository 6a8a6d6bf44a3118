//! Issue #11 item 1 as it was reported: two `backup-sim shell` processes (two clusters) run
//! `BACKUP DATABASE ... TO 'nodelocal://1/r'` on one external-io directory at the same moment.
//! Before lock files and create-only manifests both often printed success and one backup
//! overwrote the other. Now, over 20 trials, never both succeed, and a third process restores
//! the winner's rows from what is left. Each shell is given a cluster id of its own: the two are
//! two clusters whatever their timing (two shells sharing the directory's id file cannot run at
//! once: the second gets an id of its own, `cluster_id::resolve`; one that starts after the
//! other has ended is the same cluster continuing, which may append).

#[allow(dead_code)] // the pseudo-terminal and HTTP helpers are tests/shell.rs's
mod shell_support;

use shell_support::TempDir;
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn shell(dir: &Path, cluster: &str, statements: &[String]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backup-sim"));
    cmd.current_dir(dir).arg("shell").arg("--external-io-dir").arg(dir.join("extern")).arg("--cluster-id").arg(cluster);
    for s in statements {
        cmd.arg("-e").arg(s);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("backup-sim runs")
}

fn setup(tag: &str) -> String {
    let rows: Vec<String> = (1..=200).map(|i| format!("({i}, 'item-{i}-{tag}')")).collect();
    format!("CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name STRING); INSERT INTO shop.items VALUES {}", rows.join(", "))
}

#[test]
fn two_shell_processes_backing_up_to_one_location_never_both_succeed() {
    let dir = TempDir::new("concurrent");
    let (mut raced, mut sequential) = (0, 0);
    for trial in 0..20 {
        let loc = format!("nodelocal://1/r{trial}");
        let backup = format!("BACKUP DATABASE shop TO '{loc}'");
        let (a, b) = (shell(&dir.0, "cluster-a", &[setup("a"), backup.clone()]), shell(&dir.0, "cluster-b", &[setup("b"), backup.clone()]));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let ok = [a.status.success(), b.status.success()];
        let err = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!(ok[0] && ok[1]), "trial {trial}: both succeeded\n{}\n{}", String::from_utf8_lossy(&a.stdout), String::from_utf8_lossy(&b.stdout));
        let Some(w) = ok.iter().position(|s| *s) else {
            // Both refused (each saw the other's lock in time) is allowed; both succeeding is not.
            continue;
        };
        let loser = err(if w == 0 { &b } else { &a });
        // Started after the other finished: it found a full backup there and was refused as an
        // incremental of another cluster's chain, or as a second full backup.
        if loser.contains("already contains a BACKUP file") || loser.contains("belongs to cluster") {
            sequential += 1;
        } else {
            assert!(loser.contains("BACKUP-LOCK-") || loser.contains("another backup"), "trial {trial}: {loser}");
            raced += 1;
        }
        let tag = if w == 0 { "a" } else { "b" };
        let restore = shell(
            &dir.0,
            "cluster-c",
            &[format!("RESTORE DATABASE shop FROM '{loc}'"), "SELECT count(*) FROM shop.items".into(), "SELECT name FROM shop.items WHERE id = 7".into()],
        )
        .wait_with_output()
        .unwrap();
        let out = String::from_utf8_lossy(&restore.stdout);
        assert!(restore.status.success(), "trial {trial}: {}", err(&restore));
        assert!(out.contains("200") && out.contains(&format!("item-7-{tag}")), "trial {trial}: the winner ({tag}) restores whole:\n{out}");
        let left: Vec<String> =
            std::fs::read_dir(dir.0.join("extern").join(format!("r{trial}"))).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(!left.iter().any(|n| n.starts_with("BACKUP-LOCK-") || n == "BACKUP-CHECKPOINT"), "trial {trial}: {left:?}");
    }
    println!("{raced} trials raced (both past planning), {sequential} found the other's manifest at planning");
}
