//! Scenarios as data: test files in CockroachDB's datadriven format (`scenarios/testdata/`), run
//! in the simulated cluster with a seed, so that a backup bug met in the field can be written down
//! without learning the runner.
//!
//! A file is a list of directives, each with its input and, after `----`, its expected output
//! (the `datadriven` crate reads the file and, with `REWRITE=1`, rewrites the expected outputs):
//!
//! ```text
//! exec-sql
//! CREATE DATABASE d; CREATE TABLE d.t (k INT PRIMARY KEY); INSERT INTO d.t VALUES (1)
//! ----
//!
//! query-sql
//! SELECT * FROM d.t
//! ----
//! k
//! ---
//! 1
//! (1 row)
//! ```
//!
//! The directives and their arguments are listed in [`directives`] and documented, each with an
//! example, in `scenarios/testdata/README.md`. A mismatch is reported with the file and line of
//! the directive, a line diff of the expected and actual output, and the command that replays
//! the file with its seed (`backup-sim run FILE --seed N`).

mod cluster;
pub mod directives;
mod session;

pub use cluster::file_faults;

use directives::Outcome;
use sim::faults::FaultMix;
use sim::{World, WorldConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What running one file gave: its trace, and the first directive whose output differed from
/// the file's, if any.
#[derive(Debug)]
pub struct FileRun {
    /// The file.
    pub path: PathBuf,
    /// The seed it ran with.
    pub seed: u64,
    /// The faults drawn in its background.
    pub faults: FaultMix,
    /// The simulated cluster's whole trace (byte-identical on every run of the same file and seed).
    pub trace: String,
    /// The first mismatch or broken directive; `None` when every output matched.
    pub failure: Option<FileFailure>,
}

/// A directive whose output was not the expected one (or that could not run: an unknown
/// directive, a bad argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    /// The directive's line in the file (from 1).
    pub line: usize,
    /// The directive line as written.
    pub directive: String,
    /// A line diff of expected (`-`) against actual (`+`), or why the directive could not run.
    pub diff: String,
}

impl FileRun {
    /// The command that runs this file again with its seed (and its background faults).
    pub fn replay_command(&self) -> String {
        let faults = match self.faults {
            FaultMix::None => "",
            FaultMix::Swarm => " --faults swarm",
            FaultMix::Everything => " --faults everything",
        };
        format!("cargo run --release -p scenarios -- run {} --seed {}{faults}", self.path.display(), self.seed)
    }

    /// The report a test prints for a failure: file:line, the directive, the diff, the replay
    /// command and, for an expected change, how to rewrite the file.
    pub fn failure_report(&self) -> Option<String> {
        let f = self.failure.as_ref()?;
        Some(format!(
            "{}:{}: {}\n{}\nreplay: {}\n{}",
            self.path.display(),
            f.line,
            f.directive,
            f.diff.trim_end(),
            self.replay_command(),
            match self.faults {
                // Under faults the file's output is the fault-free one: a difference is the
                // finding, never a reason to rewrite.
                FaultMix::None => format!("(if the new output is right: REWRITE=1 {})", self.replay_command()),
                _ => "(the expected output is the file's fault-free output: this seed's background faults changed what a statement gave, a finding to debug with the replay, not a reason to rewrite)".to_string(),
            }
        ))
    }
}

/// How to run one file.
#[derive(Clone, Copy, Debug)]
pub struct FileOptions {
    /// The seed: the cluster's clocks, latencies and job settings, and the background faults.
    pub seed: u64,
    /// The faults drawn in the background while the file's directives run
    /// ([`FaultMix::None`]: none; [`FaultMix::Swarm`]: the seed's swarm over [`file_faults`]).
    pub faults: FaultMix,
    /// How long the background faults go on (simulated time from the file's first directive);
    /// then every fault ends and the rest of the file runs on a healed cluster.
    pub safety: std::time::Duration,
}

impl FileOptions {
    /// Seed `seed`, no faults.
    pub fn new(seed: u64) -> FileOptions {
        FileOptions { seed, faults: FaultMix::None, safety: DEFAULT_SAFETY }
    }
}

/// How long background faults go on by default: a minute of simulated time.
pub const DEFAULT_SAFETY: std::time::Duration = std::time::Duration::from_secs(60);

/// A file's `sweep` directive: run it across `seeds` seeds with `faults` in the background.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepSpec {
    /// How many seeds (0..seeds).
    pub seeds: u64,
    /// Which faults.
    pub faults: FaultMix,
    /// How long the faults go on.
    pub safety: std::time::Duration,
}

impl SweepSpec {
    /// Reads a `sweep` stanza's arguments as the `datadriven` crate gives them (a value list
    /// per name), in name order.
    pub fn from_case(args: &std::collections::HashMap<String, Vec<String>>) -> Result<SweepSpec, String> {
        let mut flat: Vec<(String, String)> = args.iter().map(|(k, v)| (k.clone(), v.join(","))).collect();
        flat.sort();
        SweepSpec::parse(&flat)
    }

    /// Reads a `sweep` directive's arguments (`seeds=N`, `faults=swarm|none`, `safety=DURATION`).
    pub fn parse(args: &[(String, String)]) -> Result<SweepSpec, String> {
        let mut spec = SweepSpec { seeds: 0, faults: FaultMix::Swarm, safety: DEFAULT_SAFETY };
        let mut seeds = None;
        for (k, v) in args {
            match k.as_str() {
                "seeds" => seeds = Some(v.parse::<u64>().map_err(|e| format!("sweep: seeds={v}: {e}"))?),
                "faults" => {
                    spec.faults = match v.as_str() {
                        "swarm" => FaultMix::Swarm,
                        "none" => FaultMix::None,
                        other => return Err(format!("sweep: faults={other}: expected swarm or none")),
                    }
                }
                "safety" => spec.safety = humantime::parse_duration(v).map_err(|e| format!("sweep: safety={v}: {e}"))?,
                other => return Err(format!("sweep: unknown argument {other:?}; the arguments are seeds=N, faults=swarm|none, safety=DURATION")),
            }
        }
        spec.seeds = seeds.ok_or("sweep: seeds=N is required")?;
        Ok(spec)
    }
}

/// The file's `sweep` directive, if it has one (read from its text: a line `sweep ...` followed
/// by the `----` line), or why its arguments are wrong.
pub fn sweep_declared(path: &Path) -> Result<Option<SweepSpec>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let Some((line, words)) = declared(&text, "sweep") else { return Ok(None) };
    let args = words
        .iter()
        .map(|w| w.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("sweep: {w:?} is not key=value")))
        .collect::<Result<Vec<_>, _>>()?;
    SweepSpec::parse(&args).map(Some).map_err(|e| format!("{}:{line}: {e}", path.display()))
}

/// The first stanza of `directive` in a file's text (a line `directive ...` followed by the
/// `----` line): its line number (from 1) and its arguments' words. What the harness reads
/// before the file runs.
fn declared<'a>(text: &'a str, directive: &str) -> Option<(usize, Vec<&'a str>)> {
    let lines: Vec<&str> = text.lines().collect();
    lines.iter().enumerate().find_map(|(i, line)| {
        let mut words = line.split_whitespace();
        (words.next() == Some(directive) && lines.get(i + 1).map(|l| l.trim_end()) == Some("----")).then(|| (i + 1, words.collect()))
    })
}

/// The file's `scheduler every=DURATION` directive, if it has one (read from its text like
/// [`sweep_declared`]): the default cluster is started with its nodes' backup schedulers on, at
/// that pace. A file without one runs as before — no scheduler, no protected timestamps read —
/// so that its traces, and every other file's, stay what they were.
pub fn scheduler_declared(text: &str) -> Result<Option<std::time::Duration>, String> {
    let Some((line, words)) = declared(text, "scheduler") else { return Ok(None) };
    let every = words.iter().find_map(|w| w.strip_prefix("every=")).ok_or_else(|| format!("line {line}: scheduler: every=DURATION is required"))?;
    parse_scheduler_pace(every).map(Some).map_err(|e| format!("line {line}: {e}"))
}

/// `scheduler every=`'s value: a duration from 1 s to 1 h.
pub fn parse_scheduler_pace(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("scheduler: every={text}: {e}"))?;
    if d < std::time::Duration::from_secs(1) || d > std::time::Duration::from_secs(3600) {
        return Err(format!("scheduler: every={text}: give a pace from 1s to 1h"));
    }
    Ok(d)
}

/// Runs the file across `seeds` on `jobs` threads (each seed its own simulator), in seed order;
/// calls `each` as seeds finish.
pub fn sweep_file(
    path: &Path,
    seeds: std::ops::Range<u64>,
    faults: FaultMix,
    safety: std::time::Duration,
    jobs: usize,
    each: impl Fn(&FileRun) + Sync,
) -> Vec<FileRun> {
    crate::run::on_threads(
        seeds.collect(),
        jobs,
        |seed| Some(run_file_with(path, FileOptions { seed, faults, safety })),
        |run| {
            each(run);
            run.trace = String::new();
        },
    )
}

/// Runs the file at `path` in a fresh simulated cluster with seed `seed`. With the `REWRITE`
/// environment variable set, the file's expected outputs are replaced by the actual ones (the
/// `datadriven` crate's rewrite); a directive that cannot run still fails the file.
pub fn run_file(path: &Path, seed: u64) -> FileRun {
    run_file_with(path, FileOptions::new(seed))
}

/// [`run_file`] with background faults. Under faults the expected outputs are still the file's
/// (the fault-free ones): the cluster must hide its faults from the file's statements.
pub fn run_file_with(path: &Path, opts: FileOptions) -> FileRun {
    let FileOptions { seed, faults, safety } = opts;
    if faults != FaultMix::None && std::env::var_os("REWRITE").is_some() {
        // A rewrite takes the fault-free output; never one a fault changed.
        let diff = "REWRITE rewrites a file from its fault-free run: run it without background faults".to_string();
        return FileRun {
            path: path.to_path_buf(),
            seed,
            faults,
            trace: String::new(),
            failure: Some(FileFailure { line: 0, directive: String::new(), diff }),
        };
    }
    quiet_file_failures();
    if is_composition(path) {
        return run_composition_file(path, opts);
    }
    let broken: Arc<Mutex<Option<FileFailure>>> = Arc::new(Mutex::new(None));
    // The input and output of the case run last: the crate stops at the first mismatch, so the
    // case its report names is this one.
    let last: Arc<Mutex<(String, String)>> = Arc::default();
    // The trace is kept out here, so that a failing file (the crate reports a mismatch with a
    // panic, which ends the simulation) still has its trace.
    let trace_slot: Arc<Mutex<Option<sim::Trace>>> = Arc::default();
    let file = path.to_string_lossy().to_string();
    let (broken_in, last_in, trace_in, file_in) = (broken.clone(), last.clone(), trace_slot.clone(), file.clone());
    // Where each stanza's directive is (the crate gives no line to a rewrite's callback), and
    // how many have run.
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let stanzas = stanza_lines(&text);
    let scheduler = match scheduler_declared(&text) {
        Ok(s) => s,
        Err(diff) => {
            return FileRun {
                path: path.to_path_buf(),
                seed,
                faults,
                trace: String::new(),
                failure: Some(FileFailure { line: 0, directive: "scheduler".into(), diff }),
            };
        }
    };
    let ran = Arc::new(Mutex::new(0usize));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        rt.block_on(async move {
            let world = World::start(WorldConfig { scheduler, ..WorldConfig::default() }, seed, false);
            let mut first = directives::State::new(world, seed).await;
            *trace_in.lock().expect("trace") = Some(first.cluster.world.trace.clone());
            let (spared, owns_nodes) = spared_by(&file_in);
            first.cluster.start_faults(seed, faults, safety, &spared, owns_nodes);
            let state = Arc::new(futures::lock::Mutex::new(first));
            let st = state.clone();
            let walked = async move {
                datadriven::walk_async(&file_in, move |mut f| {
                    let (st, broken, last, stanzas, ran) = (st.clone(), broken_in.clone(), last_in.clone(), stanzas.clone(), ran.clone());
                    async move {
                        f.run_async(move |case| {
                            let (st, broken, last, stanzas, ran) = (st.clone(), broken.clone(), last.clone(), stanzas.clone(), ran.clone());
                            async move {
                                if broken.lock().expect("broken").is_some() {
                                    return String::new();
                                }
                                let index = {
                                    let mut n = ran.lock().expect("ran");
                                    *n += 1;
                                    *n - 1
                                };
                                let input = case.input.clone();
                                let directive = directive_line(&case);
                                let actual = match st.lock().await.run(case).await {
                                    Outcome::Output(text) => text,
                                    Outcome::Broken(why) => {
                                        let line = stanzas.get(index).copied().unwrap_or(0);
                                        *broken.lock().expect("broken") = Some(FileFailure { line, directive, diff: why.clone() });
                                        // Never written into the file: a rewrite stops here,
                                        // before the crate writes anything.
                                        if std::env::var_os("REWRITE").is_some() {
                                            panic!("cannot run: {why}");
                                        }
                                        format!("cannot run: {why}\n")
                                    }
                                };
                                *last.lock().expect("last") = (input, actual.clone());
                                actual
                            }
                        })
                        .await;
                        f
                    }
                })
                .await;
            };
            // The crate's mismatch panic is caught here, inside the simulation, rather than
            // by madsim's task runner (which prints its own context line for every panic).
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(walked)).await
        })
    }))
    .and_then(|inner| inner);
    let trace = trace_slot.lock().expect("trace").take().map(|t| t.text()).unwrap_or_default();
    let failure = file_failure(path, outcome, broken.lock().expect("broken").take(), &last.lock().expect("last"));
    FileRun { path: path.to_path_buf(), seed, faults, trace, failure }
}

/// The file's failure, from the `datadriven` crate's outcome (a mismatch is its panic) and the
/// directive that could not run, if one could not; `last` is the input and output of the case
/// run last (the crate stops at the first mismatch, so its report names that case).
fn file_failure(path: &Path, outcome: std::thread::Result<()>, broken: Option<FileFailure>, last: &(String, String)) -> Option<FileFailure> {
    let file = path.to_string_lossy().to_string();
    let mut failure = broken;
    if let Err(panic) = outcome {
        let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        let (input, actual) = last.clone();
        let parsed = parse_crate_failure(&message, &file, &input, &actual);
        failure = Some(match (failure, parsed) {
            // A directive that could not run: its line, as written, from the crate's report.
            (Some(b), Some((line, _))) => FileFailure { line, directive: directive_at(path, line), ..b },
            (None, Some((line, expected))) => FileFailure { line, directive: directive_at(path, line), diff: line_diff(&expected, &actual) },
            (b, None) => b.unwrap_or_else(|| match parse_error(&message) {
                // The file itself does not parse (the crate's syntax): its line and why.
                Some((line, why)) => FileFailure { line, directive: directive_at(path, line), diff: format!("the file does not parse here: {why}") },
                None => FileFailure { line: 0, directive: String::new(), diff: message },
            }),
        });
    }
    failure
}

/// The line and reason of the `datadriven` crate's parse error, from its panic message
/// (`... WithContext { line: 34, filename: "...", inner: Parse("expected argument name, got |") }`).
fn parse_error(message: &str) -> Option<(usize, String)> {
    let re = regex::Regex::new(r#"WithContext \{ line: (\d+), filename: "[^"]*", inner: Parse\("(.*)"\) \}"#).expect("a literal regex");
    let c = re.captures(message)?;
    Some((c[1].parse().ok()?, c[2].replace("\\\"", "\"")))
}

/// True for a file that composes a scenario from named parts (a `compose` stanza): it runs the
/// composition, in a simulator of its own, instead of a session of statements.
pub fn is_composition(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines.iter().enumerate().any(|(i, l)| l.split_whitespace().next() == Some("compose") && lines.get(i + 1).map(|l| l.trim_end()) == Some("----"))
}

/// A file of a `compose` stanza (and, if it likes, a `sweep` one): the composition runs for the
/// seed with the file's background faults as a registered scenario runs in a sweep
/// (`RunOptions` with the seed and the faults, everything else the scenarios' defaults), so the
/// file and the scenario it names give the same run, trace for trace. Its output is `ok`, or
/// `FAIL <property>: <message's first line>`.
fn run_composition_file(path: &Path, opts: FileOptions) -> FileRun {
    let FileOptions { seed, faults, .. } = opts;
    let trace = Arc::new(Mutex::new(String::new()));
    let broken: Arc<Mutex<Option<FileFailure>>> = Arc::default();
    let last: Arc<Mutex<(String, String)>> = Arc::default();
    let (trace_in, broken_in, last_in) = (trace.clone(), broken.clone(), last.clone());
    let file = path.to_string_lossy().to_string();
    let stanzas = stanza_lines(&std::fs::read_to_string(path).unwrap_or_default());
    let mut ran = 0usize;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        datadriven::walk(&file, |f| {
            f.run(|case| {
                if broken_in.lock().expect("broken").is_some() {
                    return String::new();
                }
                ran += 1;
                let line = stanzas.get(ran - 1).copied().unwrap_or(0);
                let mut args: Vec<(String, Vec<String>)> = case.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                args.sort();
                let out = match case.directive.as_str() {
                    "compose" => crate::parts::Composition::parse(&args).map(|parts| {
                        let report = crate::registry::run_composition(&parts, &crate::run::RunOptions { faults, ..crate::run::RunOptions::new(seed) });
                        *trace_in.lock().expect("trace") = report.trace.clone();
                        match &report.failure {
                            None => "ok\n".to_string(),
                            Some(f) => format!("FAIL {}: {}\n", f.property, f.message.lines().next().unwrap_or_default()),
                        }
                    }),
                    "sweep" => SweepSpec::from_case(&case.args).map(|_| String::new()),
                    other => Err(format!("a compose file holds compose and sweep stanzas only, not {other:?}")),
                };
                let out = match out {
                    Ok(text) => text,
                    Err(why) => {
                        *broken_in.lock().expect("broken") = Some(FileFailure { line, directive: directive_line(case), diff: why.clone() });
                        if std::env::var_os("REWRITE").is_some() {
                            panic!("cannot run: {why}");
                        }
                        format!("cannot run: {why}\n")
                    }
                };
                *last_in.lock().expect("last") = (case.input.clone(), out.clone());
                out
            })
        })
    }));
    let failure = file_failure(path, outcome, broken.lock().expect("broken").take(), &last.lock().expect("last"));
    let trace = std::mem::take(&mut *trace.lock().expect("trace"));
    FileRun { path: path.to_path_buf(), seed, faults, trace, failure }
}

/// The nodes background faults leave alone, as the file's text names them: n1 (the default
/// gateway) and every node a directive names (`node=N` of a statement's gateway or of `crash`,
/// `a=` and `b=` of `partition`); and whether the file crashes, pauses or cuts off nodes itself.
fn spared_by(file: &str) -> (std::collections::BTreeSet<model::kv::NodeId>, bool) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let named = regex::Regex::new(r"\b(?:node|a|b)=(\d+)").expect("a literal regex");
    let mut spared: std::collections::BTreeSet<model::kv::NodeId> = [1].into();
    // Directive lines only (a directive starts with a lowercase letter; comments with `#`).
    for line in text.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase())) {
        for c in named.captures_iter(line) {
            if let Ok(n) = c[1].parse() {
                spared.insert(n);
            }
        }
    }
    let owns = text.lines().any(|l| matches!(l.split_whitespace().next(), Some("partition" | "crash" | "restart")));
    (spared, owns)
}

/// The `datadriven` crate reports a mismatch by panicking, and [`run_file`] turns that panic
/// into its own report (a diff, the replay command): keep the default hook's copy of the crate's
/// report, with its backtrace, off standard error. Every other panic is printed as before.
fn quiet_file_failures() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied()).unwrap_or("");
            let crate_parse_error = message.contains("WithContext {") && message.contains("inner: Parse(");
            if !(message.starts_with("failure:\n") || message.starts_with("cannot run: ") || crate_parse_error) {
                default(info);
            }
        }));
    });
}

/// A directive as a file shows it (the crate keeps its own line private).
fn directive_line(case: &datadriven::TestCase) -> String {
    let mut args: Vec<String> = case
        .args
        .iter()
        .map(|(k, v)| match v.len() {
            0 => k.clone(),
            1 => format!("{k}={}", v[0]),
            _ => format!("{k}=({})", v.join(",")),
        })
        .collect();
    args.sort();
    std::iter::once(case.directive.clone()).chain(args).collect::<Vec<_>>().join(" ")
}

/// The line (1-based) of each stanza's directive in a datadriven file, in order: outside a
/// stanza, blank lines and `#` comments are skipped and the next line is a directive; its input
/// runs to `----`; its expected output to a blank line, or — after a second `----` — to a
/// closing `----` pair (output that holds blank lines).
fn stanza_lines(text: &str) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        if l.is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        out.push(i + 1);
        while i < lines.len() && lines[i].trim_end() != "----" {
            i += 1;
        }
        i += 1;
        if lines.get(i).map(|l| l.trim_end()) == Some("----") {
            i += 1;
            while i < lines.len() && !(lines[i].trim_end() == "----" && lines.get(i + 1).map(|l| l.trim_end()) == Some("----")) {
                i += 1;
            }
            i += 2;
        } else {
            while i < lines.len() && !lines[i].trim().is_empty() {
                i += 1;
            }
        }
    }
    out
}

/// Line `line` of the file at `path` (the directive the crate's report points at).
fn directive_at(path: &Path, line: usize) -> String {
    std::fs::read_to_string(path).ok().and_then(|t| t.lines().nth(line.saturating_sub(1)).map(str::to_string)).unwrap_or_default()
}

/// The line and expected output of the `datadriven` crate's failure report
/// (`failure:\n<file>:<line>:\n<input>\nexpected:\n<expected>\nactual:\n<actual>`), given
/// the file, the input and the actual output of the case that failed (all known here, so the
/// expected output is what lies between them, whatever it holds).
fn parse_crate_failure(message: &str, file: &str, input: &str, actual: &str) -> Option<(usize, String)> {
    let body = message.strip_suffix('\n').unwrap_or(message);
    let body = body.strip_suffix(actual)?.strip_suffix("\nactual:\n")?;
    let rest = body.strip_prefix("failure:\n")?.strip_prefix(file)?.strip_prefix(':')?;
    let (line, rest) = rest.split_once(":\n")?;
    let expected = rest.strip_prefix(input)?.strip_prefix("\nexpected:\n")?;
    Some((line.parse().ok()?, expected.to_string()))
}

/// Every `.txt` file under `dir`, recursively, in path order (the order `cargo test` lists them).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "txt") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A line diff of `expected` against `actual`: `-` lines only expected, `+` lines only actual,
/// two spaces for lines both have (the `similar` crate's, as insta's snapshots show theirs).
pub fn line_diff(expected: &str, actual: &str) -> String {
    labelled_diff("expected", "actual", expected, actual)
}

/// [`line_diff`] with its two sides named (`---` for `old`, `+++` for `new`).
pub fn labelled_diff(old_label: &str, new_label: &str, old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        out.push(sign);
        out.push(' ');
        out.push_str(change.value());
        if !change.value().ends_with('\n') {
            out.push_str("\n\\ no newline\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanza_lines_finds_each_directive_past_comments_and_blank_outputs() {
        let text = "# header\n\nexec-sql\nCREATE DATABASE d;\n----\n\n# a comment\nquery-sql\nSHOW LOCALITY;\n----\n----\nlocality\n\n(1 row)\n----\n----\n\nheal\n----\nok\n";
        assert_eq!(stanza_lines(text), vec![3, 8, 18]);
    }

    #[test]
    fn every_stanza_of_every_file_starts_with_a_directive() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let mut files = 0;
        for dir in std::fs::read_dir(&root).unwrap().flatten().filter(|d| d.path().is_dir()) {
            for f in std::fs::read_dir(dir.path()).unwrap().flatten().filter(|f| f.path().extension().is_some_and(|e| e == "txt")) {
                let text = std::fs::read_to_string(f.path()).unwrap();
                let lines: Vec<&str> = text.lines().collect();
                for n in stanza_lines(&text) {
                    let word = lines[n - 1].split_whitespace().next().unwrap_or_default();
                    assert!(directives::DIRECTIVES.contains(&word), "{}:{n}: {:?} is not a directive", f.path().display(), lines[n - 1]);
                }
                files += 1;
            }
        }
        assert!(files >= 40, "{files} files");
    }
}
