//! The scenario-file runner itself: a wrong expected output fails with the directive's line, a
//! readable diff and the replay command; a directive that cannot run says why; a file run twice
//! with one seed gives the same trace.

use scenarios::testfile::run_file;
use std::path::PathBuf;

fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backup-sim-testfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const SESSION: &str = "exec-sql
CREATE DATABASE d;
CREATE TABLE d.t (k INT PRIMARY KEY, v STRING);
INSERT INTO d.t VALUES (1, 'one'), (2, 'two');
----

query-sql
SELECT * FROM d.t;
----
k | v
--+----
1 | one
2 | three
(2 rows)
";

#[test]
fn a_wrong_expected_output_fails_with_its_line_a_diff_and_the_replay_command() {
    let path = file("wrong.txt", SESSION);
    let run = run_file(&path, 7);
    let failure = run.failure.as_ref().expect("the wrong row must fail the file");
    assert_eq!(failure.line, 7, "{failure:?}");
    assert!(failure.diff.contains("- 2 | three\n") && failure.diff.contains("+ 2 | two\n"), "{}", failure.diff);
    let report = run.failure_report().unwrap();
    assert!(report.starts_with(&format!("{}:7: query-sql", path.display())), "{report}");
    assert!(report.contains(&format!("replay: cargo run --release -p scenarios -- run {} --seed 7", path.display())), "{report}");
    // Fixed, it passes; the file is the same on every run with a seed.
    let fixed = file("fixed.txt", &SESSION.replace("2 | three", "2 | two"));
    let (a, b) = (run_file(&fixed, 7), run_file(&fixed, 7));
    assert!(a.failure.is_none(), "{:?}", a.failure_report());
    assert!(!a.trace.is_empty());
    assert_eq!(a.trace, b.trace, "the same file and seed must give the same trace");
}

#[test]
fn a_directive_that_cannot_run_says_why() {
    for (text, why) in [
        ("explode\n----\n", "unknown directive \"explode\""),
        ("crash node=12\n----\n", "there is no node n12"),
        ("advance-time d=soon\n----\n", "advance-time: d=soon"),
        ("heal bogus=1\n----\n", "heal"),
        ("exec-sql expect-error-regex=nothing\nCREATE DATABASE e;\n----\n", "every statement succeeded"),
        ("query-sql columns=(nope)\nSHOW JOBS;\n----\n", "no column \"nope\"; the columns are job_id"),
        ("exec-sql columns=(job_id)\nSHOW JOBS;\n----\n", "columns= is for query-sql"),
        ("split table=nodb.t\n----\n", "table nodb.t does not exist"),
        ("gc table=orders ttl=1s\n----\n", "name a table as DB.TABLE"),
        ("transfer-lease table=d.t to=9\n----\n", "there is no node n9"),
        ("transfer-lease table=d.t to=somewhere\n----\n", "to=somewhere: a node number or other"),
        ("job tag=x pause\n----\n", "no backup or restore tag=x before this"),
        ("exec-sql cluster=dr\nSHOW JOBS;\n----\n", "there is no cluster \"dr\"; new-cluster made none"),
        ("new-cluster name=dr nodes=12\n----\n", "nodes=12: from 1 to 9"),
        ("storage-faults transient=2000\n----\n", "transient=2000: a rate out of 1000 operations"),
        ("storage-faults flaky=3\n----\n", "storage-faults"),
        ("restore tag=r\nBACKUP TO 'nodelocal://1/x';\n----\n", "restore: the input must be one RESTORE statement"),
        ("corrupt-backup file=random\nnodelocal://1/empty\n----\n", "nodelocal://1/empty holds no file"),
        ("new-cluster name=dr nodes=2 localities=(a,b,c)\n----\n", "3 localities for nodes=2: give one locality per node"),
        ("new-cluster name=dr localities=(east.)\n----\n", "localities: \"east.\": invalid locality tier \"zone=\""),
        ("exec-sql expect-error-regex=a|b\nSHOW JOBS;\n----\n", "the file does not parse here: expected argument name, got |"),
        ("replace\nno arrow here\n----\n", "replace: line 1 (\"no arrow here\") is not `REGEX => REPLACEMENT`"),
        ("replace\n\nx( => y\n----\n", "replace: line 2: the regex \"x(\" does not compile"),
    ] {
        let run = run_file(&file("broken.txt", text), 0);
        let failure = run.failure.unwrap_or_else(|| panic!("{text:?} must fail"));
        assert!(failure.diff.contains(why), "{text:?}: {}", failure.diff);
    }
}

#[test]
fn check_reports_the_rows_that_differ() {
    // d.t now is not d.t as of t1: the check must say so, row by row, and fail the file.
    let text = "exec-sql
CREATE DATABASE d;
CREATE TABLE d.t (k INT PRIMARY KEY, v STRING);
INSERT INTO d.t VALUES (1, 'one');
----

advance-time d=1s
----

save-cluster-ts tag=t1
----

exec-sql
UPDATE d.t SET v = 'uno';
----

check restored=d.t original=d.t aost=t1
----
d.t equals d.t as of t1 (1 row)
";
    let run = run_file(&file("check.txt", text), 0);
    let failure = run.failure.expect("a table that changed is not equal to its past");
    assert_eq!(failure.line, 17, "{failure:?}");
    assert!(failure.diff.contains("+ d.t differs from d.t as of t1:"), "{}", failure.diff);
    assert!(failure.diff.contains("+ --- d.t as of t1\n+ +++ d.t\n"), "{}", failure.diff);
    assert!(failure.diff.contains("+ - 1 | one\n") && failure.diff.contains("+ + 1 | uno\n"), "{}", failure.diff);
}

#[test]
fn a_swept_file_runs_under_background_faults_and_a_failing_seed_names_its_replay_with_faults() {
    use scenarios::testfile::{run_file_with, sweep_declared, sweep_file, FileOptions, SweepSpec};
    use sim::faults::FaultMix;
    let swept = format!("sweep seeds=3 faults=swarm safety=20s\n----\n\n{}", SESSION.replace("2 | three", "2 | two"));
    let path = file("swept.txt", &swept);
    let spec = sweep_declared(&path).unwrap().expect("the file declares a sweep");
    assert_eq!(spec, SweepSpec { seeds: 3, faults: FaultMix::Swarm, safety: std::time::Duration::from_secs(20) });
    // Every seed holds the file's output with faults in the background, and the faults are
    // really there: the trace records the seed's swarm and schedule.
    let runs = sweep_file(&path, 0..spec.seeds, spec.faults, spec.safety, 1, |_| {});
    assert_eq!(runs.len(), 3);
    for r in &runs {
        assert!(r.failure.is_none(), "{:?}", r.failure_report());
    }
    let one = run_file_with(&path, FileOptions { seed: 1, faults: FaultMix::Swarm, safety: spec.safety });
    assert!(one.trace.contains("runner swarm ") && one.trace.contains("file.spared_gateways=n1"), "no background faults in the trace");
    assert_eq!(
        one.trace,
        run_file_with(&path, FileOptions { seed: 1, faults: FaultMix::Swarm, safety: spec.safety }).trace,
        "a seed with faults replays byte for byte"
    );
    // A wrong expectation fails every seed, each with the command that replays it with its faults,
    // and no advice to rewrite (the expected output is the fault-free one).
    let wrong = file("swept-wrong.txt", &format!("sweep seeds=2 faults=swarm\n----\n\n{SESSION}"));
    for r in sweep_file(&wrong, 0..2, FaultMix::Swarm, spec.safety, 1, |_| {}) {
        let report = r.failure_report().expect("a wrong row fails under faults too");
        assert!(report.contains(&format!("run {} --seed {} --faults swarm", wrong.display(), r.seed)), "{report}");
        assert!(!report.contains("REWRITE=1"), "{report}");
    }
    // A bad sweep line is an error naming it.
    let bad = file("swept-bad.txt", "sweep seeds=many\n----\n");
    assert!(sweep_declared(&bad).unwrap_err().contains("seeds=many"));
    assert!(run_file(&bad, 0).failure.unwrap().diff.contains("seeds=many"));
}

#[test]
fn replace_rewrites_later_output_value_by_value_until_dropped() {
    // A file's own regexes for what varies by seed: applied to each value before the table is
    // laid out (the columns still line up), to errors and to other directives' output, in
    // order; an empty `replace` drops them.
    let text = "exec-sql
CREATE DATABASE d;
CREATE TABLE d.t (k INT PRIMARY KEY, v STRING);
INSERT INTO d.t VALUES (1, 'one'), (22, 'twenty-two');
----

replace
twenty-(\\w+) => 20+$1
^(\\d)\\d$ => ${1}x
----

query-sql
SELECT * FROM d.t;
----
k  | v
---+-------
1  | one
2x | 20+two
(2 rows)

exec-sql
SELECT * FROM d.nothing;
----
ERROR: relation \"nothing\" does not exist

check restored=d.t original=d.t
----
d.t equals d.t (2 rows)

replace
----

query-sql
SELECT v FROM d.t WHERE k = 22;
----
v
----------
twenty-two
(1 row)
";
    let run = run_file(&file("replace.txt", text), 0);
    assert!(run.failure.is_none(), "{}", run.failure_report().unwrap_or_default());
    // The rules apply to the errors too: a rule that rewrites one is seen in the output.
    let wrong = text.replace("^(\\d)\\d$ => ${1}x", "^(\\d)\\d$ => ${1}x\nnothing => NOTHING");
    let run = run_file(&file("replace-error.txt", &wrong), 0);
    let failure = run.failure.expect("the error now reads NOTHING");
    assert!(failure.diff.contains("+ ERROR: relation \"NOTHING\" does not exist"), "{}", failure.diff);
}
