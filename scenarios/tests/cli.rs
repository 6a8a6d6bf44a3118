//! The `backup-sim` command line as a user meets it: output into a pipe that is closed early
//! (`backup-sim list | head -1`) ends the program quietly, never with a panic; `list` names
//! every scenario the runner accepts; the replay commands a sweep prints match how the program
//! was started; a warning about the environment prints once, not once per seed.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_backup-sim");

#[allow(dead_code)] // the pseudo-terminal and HTTP helpers are tests/shell.rs's
mod shell_support;

use shell_support::TempDir;

/// The write end of a pipe whose read end is already closed: every write to it fails with
/// EPIPE (and raises SIGPIPE), as `| head -1` does once head has exited.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe(2) to fill.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe(2)");
    // SAFETY: pipe(2) succeeded, so both descriptors are open and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

/// Runs `backup-sim args` in `dir` with standard output into a closed pipe.
fn into_closed_pipe(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).current_dir(dir).args(args).stdin(Stdio::null()).stdout(closed_pipe()).stderr(Stdio::piped()).output().expect("backup-sim runs")
}

/// Runs `backup-sim args` with the environment cargo gives `cargo run` (`CARGO`,
/// `CARGO_MANIFEST_DIR`) present or removed, and `BACKUP_SIM_PLANTED` removed.
fn run(args: &[&str], under_cargo: bool) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("BACKUP_SIM_PLANTED");
    if under_cargo {
        cmd.env("CARGO", "cargo").env("CARGO_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR"));
    } else {
        cmd.env_remove("CARGO").env_remove("CARGO_MANIFEST_DIR");
    }
    cmd.stdin(Stdio::null()).output().expect("backup-sim runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One seed of the cluster scenario without faults, as JSON lines: quick, and its `replay`
/// field is the command a user would copy.
const ONE_SEED_JSON: [&str; 10] = ["sweep", "--scenario", "cluster", "--seeds", "1", "--faults", "none", "--jobs", "1", "--json"];

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = TempDir::new("pipe");
    let json = run(&ONE_SEED_JSON, true);
    assert!(json.status.success(), "{}", stderr(&json));
    std::fs::write(dir.0.join("shard.jsonl"), &json.stdout).unwrap();
    let cases: [&[&str]; 8] = [
        &["list"],
        &["replay", "cluster", "--seed", "3", "--print-schedule"],
        &["replay", "cluster", "--seed", "3", "--faults", "none"],
        &["sweep", "--scenario", "cluster", "--seeds", "1", "--faults", "none", "--jobs", "1"],
        &ONE_SEED_JSON,
        &["sweep-merge", "shard.jsonl"],
        &["bench-chain", "--rows", "100", "--row-bytes", "10", "--incrementals", "1"],
        // The shell keeps SIGPIPE ignored (it writes to sockets); its output is written without
        // panicking on errors.
        &["shell", "-e", "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY); INSERT INTO d.t VALUES (1); SELECT * FROM d.t"],
    ];
    let mut failures = Vec::new();
    for args in cases {
        let o = into_closed_pipe(&dir.0, args);
        let err = stderr(&o);
        if o.status.code() == Some(101) || err.contains("panicked") || err.contains("Broken pipe") {
            failures.push(format!("backup-sim {}: {:?}\n{err}", args.join(" "), o.status));
        }
    }
    assert!(failures.is_empty(), "not quiet on a closed pipe:\n{}", failures.join("\n"));
}

#[test]
fn list_names_every_scenario() {
    let o = run(&["list"], false);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let listed: Vec<&str> =
        out.lines().skip_while(|l| *l != "scenarios:").skip(1).take_while(|l| l.starts_with("  ")).filter_map(|l| l.split_whitespace().next()).collect();
    // Written out here, not read from the registry: the list must be what users were told.
    assert_eq!(listed, ["cluster", "backup", "chain", "standard", "schedule"], "{out}");
    assert_eq!(listed, scenarios::registry::all_names(), "{out}");
    for name in ["cluster", "backup", "chain"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(name) && l.contains("default sweep")), "{name} not marked as in the default sweep:\n{out}");
    }
}

/// The `replay` field of the one JSON line of [`ONE_SEED_JSON`].
fn replay_field(o: &Output) -> String {
    assert!(o.status.success(), "{}", stderr(o));
    let line: serde_json::Value = serde_json::from_str(stdout(o).trim()).expect("one JSON line");
    line["replay"].as_str().expect("a replay field").to_string()
}

#[test]
fn replay_commands_match_how_the_program_was_started() {
    let tail = "replay cluster --seed 0 --faults none";
    assert_eq!(replay_field(&run(&ONE_SEED_JSON, true)), format!("cargo run --release -p scenarios -- {tail}"));
    assert_eq!(replay_field(&run(&ONE_SEED_JSON, false)), format!("{BIN} {tail}"));
    // A program name a shell would split or expand is quoted.
    let quoted = Command::new(BIN)
        .arg0("my backup-sim's")
        .args(ONE_SEED_JSON)
        .env_remove("BACKUP_SIM_PLANTED")
        .env_remove("CARGO")
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .unwrap();
    assert_eq!(replay_field(&quoted), format!("'my backup-sim'\\''s' {tail}"));
    // The library's own form, which the test harnesses print, stays the cargo one.
    assert_eq!(scenarios::run::replay_command("cluster", 0, scenarios::run::FaultMix::None), format!("cargo run --release -p scenarios -- {tail}"));
}

#[test]
fn the_planted_bug_warning_prints_once() {
    let o = Command::new(BIN)
        .args(["sweep", "--scenario", "cluster", "--seeds", "3", "--faults", "none", "--jobs", "2"])
        .env("BACKUP_SIM_PLANTED", "no-such-bug")
        .stdin(Stdio::null())
        .output()
        .expect("backup-sim runs");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("warning: BACKUP_SIM_PLANTED=\"no-such-bug\"").count(), 1, "{err}");
}

/// `sweep --reaching` lists exactly the seeds whose trace has a matching line, and refuses an
/// expression that does not parse before any seed runs.
#[test]
fn sweep_reaching_lists_the_seeds_whose_trace_matches() {
    let sweep = |pattern: &str| {
        run(&["sweep", "--scenario", "cluster", "--first", "3", "--seeds", "2", "--faults", "none", "--jobs", "1", "--json", "--reaching", pattern], false)
    };
    // Every trace begins with the world's knobs; `^` and `$` match at line ends.
    let all = sweep(r"^\s+0\.000000s runner knob world\.nodes=\d+$");
    assert!(all.status.success(), "{}", stderr(&all));
    assert!(stderr(&all).contains("cluster: 2 seeds with a trace line matching") && stderr(&all).contains("[3, 4]"), "{}", stderr(&all));
    assert_eq!(stdout(&all).lines().count(), 2, "--json keeps standard output to its lines: {}", stdout(&all));
    let none = sweep("no trace has this line");
    assert!(stderr(&none).contains("cluster: 0 seeds with a trace line matching") && stderr(&none).contains("[]"), "{}", stderr(&none));
    let bad = sweep("(unclosed");
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--reaching") && stdout(&bad).is_empty(), "{}", stderr(&bad));
}

/// The text of the element of `html` that starts with `open`, up to its `close`.
fn element<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
    let start = html.find(open).unwrap_or_else(|| panic!("no {open} in the page"));
    let end = html[start..].find(close).map(|e| start + e).unwrap_or(html.len());
    &html[start..end]
}

/// Standard output without the lines that hold wall-clock times (they differ run to run).
fn timeless(o: &Output) -> String {
    stdout(o).lines().filter(|l| !l.contains("wall time") && !l.contains("simulated time")).map(|l| format!("{l}\n")).collect()
}

/// `sweep --html FILE` writes one self-contained page with the sweep's counts and every probe,
/// and prints the same text as without it; `--timelines` needs `--html`.
#[test]
fn sweep_html_writes_a_self_contained_report() {
    let dir = TempDir::new("sweep-html");
    let page = dir.0.join("report.html");
    let args = ["sweep", "--scenario", "cluster", "--seeds", "3", "--jobs", "2"];
    let with = run(&[&args[..], &["--html", page.to_str().unwrap()]].concat(), false);
    assert!(with.status.success(), "{}", stderr(&with));
    assert!(stderr(&with).contains(&format!("report written to {}", page.display())), "{}", stderr(&with));
    let without = run(&args, false);
    assert_eq!(timeless(&with), timeless(&without), "--html changes nothing on standard output");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(element(&html, "<div class=\"tile\" id=\"seeds\"", "</div>").contains(">3<"), "{html}");
    assert!(element(&html, "<div class=\"tile good\" id=\"passed\"", "</div>").contains(">3<"), "{html}");
    assert!(element(&html, "<div class=\"tile\" id=\"speed\"", "</div>").contains("seeds per second"));
    assert_eq!(element(&html, "<table id=\"probes\"", "</table>").matches("<tr class=\"probe").count(), scenarios::probes::PROBES.len());
    assert!(html.contains(&format!("{BIN} sweep --scenario cluster --seeds 3 --jobs 2 --html {}", page.display())), "the command that made it");
    // Self-contained: nothing to fetch.
    for outside in ["src=", "<link", "@import", "url(", "http://", "https://"] {
        assert!(!html.contains(outside), "the page refers outside itself ({outside})");
    }
    assert!(!dir.0.join("report-timelines").exists(), "no failure, no timelines");
    let lone = run(&[&args[..], &["--timelines", "5"]].concat(), false);
    assert_eq!(lone.status.code(), Some(2), "{}", stderr(&lone));
}

/// `sweep-merge --html` reports merged shards: the failures of each with their escaped message
/// and replay command, and seeds per second from the lines that carry their wall time.
#[test]
fn sweep_merge_html_reports_the_merged_shards() {
    let dir = TempDir::new("merge-html");
    let json = run(&["sweep", "--scenario", "cluster", "--seeds", "2", "--faults", "none", "--jobs", "1", "--json"], false);
    assert!(json.status.success(), "{}", stderr(&json));
    let (a, b, page) = (dir.0.join("a.jsonl"), dir.0.join("b.jsonl"), dir.0.join("merged.html"));
    std::fs::write(&a, &json.stdout).unwrap();
    // A failing seed as a backup-sim from before `wall_seconds` wrote it, with a hostile message.
    let old = r#"{"scenario":"backup","seed":7,"ok":false,"property":"liveness","message":"<script>alert(1)</script> stuck\nmore","replay":"backup-sim replay backup --seed 7 --faults swarm","sim_seconds":30.0,"committed":1,"aborted":0,"reads_matched":0,"gc_refused":0,"faults":2,"swarm":"","detail":"","probes":{}}"#;
    std::fs::write(&b, format!("{old}\n")).unwrap();
    let merged = run(&["sweep-merge", a.to_str().unwrap(), b.to_str().unwrap(), "--html", page.to_str().unwrap()], false);
    assert_eq!(merged.status.code(), Some(1), "a failing seed fails the merge: {}", stderr(&merged));
    assert!(stdout(&merged).starts_with("merged 2 files: 3 seeds of {\"backup\", \"cluster\"}\n"), "{}", stdout(&merged));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(element(&html, "<div class=\"tile\" id=\"seeds\"", "</div>").contains(">3<"), "{html}");
    assert!(element(&html, "<div class=\"tile bad\" id=\"failed\"", "</div>").contains(">1<"), "{html}");
    let failures = element(&html, "<table id=\"failures\"", "</table>");
    assert!(failures.contains("&#60;script&#62;alert(1)&#60;/script&#62; stuck") && !failures.contains("more"), "{failures}");
    assert!(failures.contains("backup-sim replay backup --seed 7 --faults swarm") && failures.contains("JSON lines carry no trace"), "{failures}");
    assert!(element(&html, "<div class=\"muted\" id=\"speed-note\"", "</div>").contains("only 2 of 3 seeds carry a wall time"), "{html}");
    // Only old lines: the speed is unknown.
    let only_old = run(&["sweep-merge", b.to_str().unwrap(), "--html", page.to_str().unwrap()], false);
    assert_eq!(only_old.status.code(), Some(1), "{}", stderr(&only_old));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(element(&html, "<div class=\"tile\" id=\"speed\"", "</div>").contains(">unknown<"), "{html}");
}

/// `replay --html` and `run FILE --html` write a run's timeline from the same trace `--trace`
/// writes (nothing on standard output then), say where, and refuse an unwritable path with exit
/// status 2 and the path named.
#[test]
fn replay_and_run_html_write_the_runs_timeline() {
    let dir = TempDir::new("timeline-cli");
    let page = dir.0.join("seed-3.html");
    let trace = dir.0.join("seed-3.txt");
    let args = ["replay", "cluster", "--seed", "3", "--faults", "none", "--html", page.to_str().unwrap(), "--trace", trace.to_str().unwrap()];
    let o = run(&args, false);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "the trace went to its file, not standard output");
    assert!(stderr(&o).contains(&format!("timeline written to {}", page.display())), "{}", stderr(&o));
    let html = std::fs::read_to_string(&page).expect("the page");
    let trace = std::fs::read_to_string(&trace).expect("the trace");
    assert!(html.starts_with("<!doctype html>") && html.contains("id=\"verdict\""), "a page with a verdict");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing is fetched");
    // Every trace line is in the page, for the hover and click panels.
    let last = trace.lines().last().expect("a trace").trim();
    let last_json = serde_json::to_string(last).expect("json").replace('<', "\\u003c");
    assert!(html.contains(&last_json[1..last_json.len() - 1]), "the trace's last line is in the page");
    assert!(html.contains(&format!("{} trace lines", trace.lines().count())));

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basics/full-backup-and-restore.txt");
    let out = dir.0.join("file.html");
    let o = run(&["run", file.to_str().unwrap(), "--html", out.to_str().unwrap()], false);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(&out).expect("the file's page");
    assert!(html.contains("every directive&#39;s output matched") || html.contains("every directive's output matched"), "the verdict of a file run");
    assert!(html.contains(">jobs</text>") && html.contains(">BACKUP "), "the file's jobs are drawn");

    let o = run(&["replay", "cluster", "--seed", "3", "--faults", "none", "--html", "/nonexistent-dir/x.html"], false);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot write the timeline to /nonexistent-dir/x.html"), "{}", stderr(&o));
}
