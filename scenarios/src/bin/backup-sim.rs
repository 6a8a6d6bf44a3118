//! `backup-sim`: run the simulation's scenarios over many seeds, or replay one seed.

use clap::{Parser, Subcommand, ValueEnum};
use scenarios::registry::{self, run_named};
use scenarios::report::sweep_html::{self, LowestFailures, SweepReport, Throughput, TimelineDir};
use scenarios::report::SweepLine;
use scenarios::run::{FaultMix, Invocation, RunOptions};

use indicatif::{ProgressBar, ProgressStyle};
use sim::faults::FaultKind;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Once, OnceLock};
use std::time::Instant;

#[derive(Parser)]
#[command(name = "backup-sim", version, about = "Deterministic simulation of a CockroachDB-style cluster and its BACKUP / RESTORE, seed by seed")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Faults {
    /// Every fault kind on at a moderate rate.
    Everything,
    /// Swarm testing: each seed draws which fault kinds are on and how often.
    Swarm,
    /// No faults.
    None,
}

impl From<Faults> for FaultMix {
    fn from(f: Faults) -> Self {
        match f {
            Faults::Everything => FaultMix::Everything,
            Faults::Swarm => FaultMix::Swarm,
            Faults::None => FaultMix::None,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// An interactive SQL prompt on an in-process cluster whose BACKUP / RESTORE use real
    /// storage (nodelocal under --external-io-dir, s3, gs, azure, http). `-e SQL` / `-f FILE`
    /// run statements and exit.
    Shell(scenarios::tools::shell::ShellArgs),
    /// Back up and restore a large table to a local directory with the real backends, against
    /// `cp` and restic on the same bytes, with peak memory (`scripts/bench-local.sh`).
    BenchLocal(scenarios::tools::bench_local::BenchLocalArgs),
    /// Measure an incremental chain against full backups on the real implementation: an
    /// incremental's bytes after changing 1% of the rows, and restoring a chain of five against
    /// restoring the equivalent full backup.
    BenchChain(scenarios::tools::bench_chain::BenchChainArgs),
    /// The report of a cargo-mutants run over backup/src (`scripts/mutants.sh`): `collect` one
    /// shard's outcomes, `render` every shard into MUTANTS.md.
    MutationReport(scenarios::tools::mutation_report::MutationReportArgs),
    /// The golden backups of every format version (scenarios/golden/): `write` adds this build's
    /// missing ones, `check` restores each and compares with its source's recorded contents.
    GoldenCorpus(scenarios::tools::golden_corpus::GoldenArgs),
    /// Run a scenario over a range of seeds on all cores and print a summary. Exits non-zero if
    /// any seed fails, printing the command that replays it.
    Sweep(SweepArgs),
    /// Combine the `--json` output of several shards into one report.
    SweepMerge {
        /// Files of JSON lines written by `sweep --json`.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Also write the report as one self-contained HTML page to this file.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Run a scenario file (`scenarios/testdata/`, datadriven format) in the simulated cluster
    /// with a seed; prints the first directive whose output differs, with a diff. `REWRITE=1`
    /// rewrites the file's expected outputs instead. With `--seeds N`, runs it across N seeds
    /// (from `--first`) with swarm faults in the background (or the file's `sweep` directive's),
    /// every seed held to the file's fault-free output.
    Run {
        /// The file.
        file: std::path::PathBuf,
        /// The seed (of a single run).
        #[arg(long, default_value_t = 0, conflicts_with = "seeds")]
        seed: u64,
        /// Run across this many seeds instead of one (with `--faults swarm` unless told).
        #[arg(long)]
        seeds: Option<u64>,
        /// The first seed of `--seeds`.
        #[arg(long, default_value_t = 0, requires = "seeds")]
        first: u64,
        /// Faults in the background: `none` for a single run, `swarm` for `--seeds`, unless told.
        #[arg(long, value_enum)]
        faults: Option<Faults>,
        /// How long background faults go on, in simulated time (then the cluster heals).
        #[arg(long, value_parser = humantime::parse_duration)]
        safety: Option<std::time::Duration>,
        /// Threads for `--seeds` (all cores by default).
        #[arg(long)]
        jobs: Option<usize>,
        /// Write the simulated cluster's trace to this file (a single run).
        #[arg(long, conflicts_with = "seeds")]
        trace: Option<std::path::PathBuf>,
        /// Write the run's timeline to this file: one self-contained HTML page (a single run).
        #[arg(long, conflicts_with = "seeds")]
        html: Option<std::path::PathBuf>,
    },
    /// Run one seed and print its whole trace (the same bytes on every run).
    Replay {
        /// The scenario (see `list`).
        scenario: String,
        /// The seed.
        #[arg(long)]
        seed: u64,
        /// Which faults (must match the run being replayed; sweeps use `swarm`).
        #[arg(long, value_enum, default_value_t = Faults::Swarm)]
        faults: Faults,
        /// Write the trace to this file instead of standard output.
        #[arg(long)]
        trace: Option<std::path::PathBuf>,
        /// Run this fault schedule (JSON, as `shrink` or `--print-schedule` writes it) instead of
        /// the one the seed draws.
        #[arg(long)]
        schedule: Option<std::path::PathBuf>,
        /// Print the run's fault schedule as JSON (to edit, or to replay with `--schedule`) and
        /// exit without running.
        #[arg(long)]
        print_schedule: bool,
        /// Write the run's timeline to this file: one self-contained HTML page that draws the
        /// trace (nodes, ranges, jobs, faults, storage) on a zoomable simulated-time axis. The
        /// trace is then not printed; give `--trace FILE` to keep it as well.
        #[arg(long, conflicts_with = "print_schedule")]
        html: Option<std::path::PathBuf>,
    },
    /// Reduce a failing seed's fault schedule to a minimal one that still fails the same
    /// property, write it to a file, and print the command that replays it.
    Shrink {
        /// The scenario (see `list`).
        scenario: String,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// Which faults the failing run had.
        #[arg(long, value_enum, default_value_t = Faults::Swarm)]
        faults: Faults,
        /// Where to write the shrunk schedule (default shrunk-<scenario>-<seed>.json).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// List scenarios, fault kinds and coverage probes.
    List,
    /// Measure seeds per second and simulated seconds per wall second of each scenario, against
    /// madsim's bare runtime start-up measured in the same run.
    Bench {
        /// Seeds per scenario.
        #[arg(long, default_value_t = 200)]
        seeds: u64,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Measure the test bed: switch on each planted bug in turn and sweep the backup scenario
    /// until a seed catches it (needs a build with `--features planted-bugs`).
    Mutants {
        /// Seeds to try per bug before calling it escaped.
        #[arg(long, default_value_t = 200)]
        budget: u64,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
    },
}

/// Lets a write to a closed pipe end the program as it ends `cat` or `ls`: by SIGPIPE, silently.
/// Rust starts every program with SIGPIPE ignored, so `backup-sim list | head -1` would make
/// `println!` fail with EPIPE and panic (exit status 101, a panic message on stderr). Not for
/// `shell`: it talks to storage servers over sockets, and a vectored socket write (`writev`,
/// which hyper uses) raises SIGPIPE when the server has closed the connection, which must stay
/// an I/O error the shell reports instead of killing it.
fn die_quietly_on_closed_pipe() {
    // SAFETY: signal(2) with SIG_DFL installs no handler code; it only resets the disposition
    // Rust's start-up set. Called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// How this process was started, for the replay commands it prints.
fn invocation() -> &'static Invocation {
    static INVOCATION: OnceLock<Invocation> = OnceLock::new();
    INVOCATION.get_or_init(Invocation::of_this_process)
}

fn main() -> ExitCode {
    // Parsed through ArgMatches so that `shell` can run its -e / -f inputs in command-line order.
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if !matches!(cli.command, Command::Shell(_)) {
        die_quietly_on_closed_pipe();
    }
    scenarios::no_transparent_huge_pages();
    if !matches!(cli.command, Command::Shell(_) | Command::BenchLocal(_) | Command::BenchChain(_) | Command::MutationReport(_) | Command::GoldenCorpus(_)) {
        // The simulation's subcommands: seed after seed of allocating and freeing whole clusters.
        scenarios::keep_freed_memory();
    }
    match cli.command {
        Command::Shell(args) => scenarios::tools::shell::main(&args, matches.subcommand_matches("shell")),
        Command::BenchLocal(args) => scenarios::tools::bench_local::main(&args),
        Command::BenchChain(args) => scenarios::tools::bench_chain::main(&args),
        Command::MutationReport(args) => scenarios::tools::mutation_report::main(&args),
        Command::GoldenCorpus(args) => scenarios::tools::golden_corpus::main(&args),
        Command::Mutants { budget, jobs } => mutants(budget, jobs),
        Command::Bench { seeds, jobs } => bench(seeds, jobs),
        Command::List => list(),
        Command::Replay { scenario, seed, faults, trace, schedule, print_schedule, html } => {
            replay(&scenario, seed, faults, trace.as_deref(), schedule.as_deref(), print_schedule, html.as_deref())
        }
        Command::SweepMerge { files, html } => merge(&files, html.as_deref()),
        Command::Run { file, seed, seeds: None, faults, safety, trace, html, .. } => {
            let faults = faults.map(FaultMix::from).unwrap_or(FaultMix::None);
            let opts = scenarios::testfile::FileOptions { seed, faults, safety: safety.unwrap_or(scenarios::testfile::DEFAULT_SAFETY) };
            run_file(&file, opts, trace.as_deref(), html.as_deref())
        }
        Command::Run { file, seeds: Some(seeds), first, faults, safety, jobs, .. } => {
            sweep_file(&file, first..first.saturating_add(seeds), faults.map(FaultMix::from), safety, jobs)
        }
        Command::Shrink { scenario, seed, faults, out } => shrink(&scenario, seed, faults, out),
        Command::Sweep(args) => sweep_named(&args),
    }
}

/// `run`: one scenario file with one seed.
fn run_file(file: &std::path::Path, opts: scenarios::testfile::FileOptions, trace: Option<&std::path::Path>, html: Option<&Path>) -> ExitCode {
    if !file.is_file() {
        eprintln!("error: {}: no such file", file.display());
        return ExitCode::from(2);
    }
    let run = scenarios::testfile::run_file_with(file, opts);
    if let Some(path) = trace {
        if let Err(e) = std::fs::write(path, &run.trace) {
            eprintln!("error: cannot write the trace to {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = html {
        let title = scenarios::timeline::Title {
            scenario: file.display().to_string(),
            seed: opts.seed,
            replay: run.replay_command(),
            failure: run.failure.as_ref().map(|f| (format!("line {}: {}", f.line, f.directive), f.diff.clone())),
            detail: "every directive's output matched".to_string(),
        };
        if let Err(code) = write_timeline(path, &run.trace, &title) {
            return code;
        }
    }
    match run.failure_report() {
        None => {
            println!(
                "{}: ok (seed {}, trace crc32 {:08x}, {} lines)",
                file.display(),
                opts.seed,
                crc32fast::hash(run.trace.as_bytes()),
                run.trace.lines().count()
            );
            ExitCode::SUCCESS
        }
        Some(report) => {
            eprintln!("{report}");
            ExitCode::FAILURE
        }
    }
}

/// `run --seeds N`: one scenario file across seeds, each held to the file's expected output
/// with faults in the background; prints every failing seed's report and a summary.
fn sweep_file(
    file: &std::path::Path,
    seeds: std::ops::Range<u64>,
    faults: Option<FaultMix>,
    safety: Option<std::time::Duration>,
    jobs: Option<usize>,
) -> ExitCode {
    if !file.is_file() {
        eprintln!("error: {}: no such file", file.display());
        return ExitCode::from(2);
    }
    if std::env::var_os("REWRITE").is_some() {
        eprintln!("error: REWRITE rewrites a file from one fault-free run: drop --seeds");
        return ExitCode::from(2);
    }
    let declared = match scenarios::testfile::sweep_declared(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let faults = faults.or(declared.as_ref().map(|d| d.faults)).unwrap_or(FaultMix::Swarm);
    let safety = safety.or(declared.as_ref().map(|d| d.safety)).unwrap_or(scenarios::testfile::DEFAULT_SAFETY);
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let started = std::time::Instant::now();
    let runs = scenarios::testfile::sweep_file(file, seeds.clone(), faults, safety, jobs, |r| {
        if let Some(report) = r.failure_report() {
            eprintln!("seed {} FAILED\n{report}\n", r.seed);
        }
    });
    let failed: Vec<u64> = runs.iter().filter(|r| r.failure.is_some()).map(|r| r.seed).collect();
    println!(
        "{}: {} seeds ({}..{}), {} passed, {} failed, {:.1}s on {jobs} threads",
        file.display(),
        runs.len(),
        seeds.start,
        seeds.end,
        runs.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failed seeds: {}", failed.iter().map(u64::to_string).collect::<Vec<_>>().join(" "));
        ExitCode::FAILURE
    }
}

/// The error for a scenario name the registry does not know (exit status 2, a usage error).
fn unknown_scenario(name: &str) -> ExitCode {
    eprintln!("error: unknown scenario {name:?}; `backup-sim list` shows them");
    ExitCode::from(2)
}

/// `list`: what the other subcommands accept by name (scenarios, fault kinds) and what a sweep's
/// summary reports (coverage probes), read from the registries so the list cannot go stale.
fn list() -> ExitCode {
    println!("scenarios:");
    for s in registry::REGISTRY {
        let default = if s.in_default_sweep() { "(default sweep) " } else { "" };
        println!("  {:<10} {default}{}", s.name(), s.description());
    }
    println!("scenarios as parts (a scenario file's `compose` stanza names them):");
    for (name, parts) in registry::compositions() {
        println!("  {name:<10} {parts}");
    }
    println!("parts:");
    for (kind, names) in scenarios::parts::catalogue() {
        println!("  {kind:<12} {}", names.join(", "));
    }
    println!("what each operation can run under and judge (a part left out is the first menu, every check):");
    for (operation, menus, checks) in scenarios::parts::operations() {
        println!("  {operation:<10} faults={} checks=({})", menus.join("|"), checks.join(","));
    }
    println!("fault kinds (cluster, drawn by the swarm):");
    for k in FaultKind::CLUSTER {
        println!("  {k:?}");
    }
    println!("fault kinds (aimed at a running job, on or off per seed, timed from its start):");
    for k in FaultKind::JOB {
        println!("  {k:?}");
    }
    println!("coverage probes:");
    for p in scenarios::probes::PROBES {
        println!("  {}", p.name);
    }
    ExitCode::SUCCESS
}

/// The options `replay` runs with: the seed's, the planted bug `BACKUP_SIM_PLANTED` names, and
/// the fault schedule of `schedule` in place of the drawn one. A schedule that cannot be read
/// is a usage error (exit status 2), before anything runs.
fn replay_options(seed: u64, faults: Faults, schedule: Option<&Path>) -> Result<RunOptions, ExitCode> {
    let mut opts = RunOptions { faults: faults.into(), ..RunOptions::new(seed) };
    plant(&mut opts);
    if let Some(path) = schedule {
        match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| scenarios::shrink::RunFile::parse(&t)) {
            Ok(f) => scenarios::shrink::apply(&f, &mut opts),
            Err(e) => {
                eprintln!("error: schedule {}: {e}", path.display());
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(opts)
}

/// `replay`: one seed, its whole trace to `trace` or standard output and its CRC and verdict
/// on stderr, so that two builds' runs of a seed can be compared byte for byte; with
/// `print_schedule`, only the fault schedule it would run.
fn replay(scenario: &str, seed: u64, faults: Faults, trace: Option<&Path>, schedule: Option<&Path>, print_schedule: bool, html: Option<&Path>) -> ExitCode {
    let opts = match replay_options(seed, faults, schedule) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if print_schedule {
        if registry::find(scenario).is_none() {
            return unknown_scenario(scenario);
        }
        println!("{}", serde_json::to_string_pretty(&registry::schedule_of(scenario, &opts)).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let Some(report) = run_named(scenario, &opts) else { return unknown_scenario(scenario) };
    let written = match (trace, html) {
        (Some(path), _) => std::fs::write(path, &report.trace).map_err(|e| format!("cannot write {}: {e}", path.display())),
        (None, None) => std::io::stdout().write_all(report.trace.as_bytes()).map_err(|e| e.to_string()),
        (None, Some(_)) => Ok(()),
    };
    if let Err(e) = written {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if let Some(path) = html {
        let mut replay = replay_line(scenario, seed, faults.into());
        if let Some(schedule) = schedule {
            replay.push_str(&format!(" --schedule {}", scenarios::run::shell_word(&schedule.display().to_string())));
        }
        if let Err(code) = write_timeline(path, &report.trace, &scenarios::timeline::Title::of(&report, replay)) {
            return code;
        }
    }
    eprintln!("seed {seed}: trace crc32 {:08x}, {} lines", report.digest(), report.trace.lines().count());
    match report.failure {
        None => {
            eprintln!("seed {seed}: ok");
            ExitCode::SUCCESS
        }
        Some(f) => {
            eprintln!("seed {seed}: FAILED {}: {}", f.property, f.message);
            ExitCode::FAILURE
        }
    }
}

/// Writes the timeline page of `trace` to `path` and says where on stderr.
fn write_timeline(path: &Path, trace: &str, title: &scenarios::timeline::Title) -> Result<(), ExitCode> {
    match std::fs::write(path, scenarios::timeline::render(trace, title)) {
        Ok(()) => {
            eprintln!("timeline written to {}", path.display());
            Ok(())
        }
        Err(e) => {
            eprintln!("error: cannot write the timeline to {}: {e}", path.display());
            Err(ExitCode::from(2))
        }
    }
}

/// `shrink`: reduces a failing seed's schedule and workload, writes the result where `replay
/// --schedule` reads it, and prints what shrank and the command that replays it.
fn shrink(scenario: &str, seed: u64, faults: Faults, out: Option<PathBuf>) -> ExitCode {
    let mut opts = RunOptions { faults: faults.into(), ..RunOptions::new(seed) };
    plant(&mut opts);
    // The shrinker runs failing seeds on purpose: their panics are its input, not news.
    std::panic::set_hook(Box::new(|_| {}));
    let result = scenarios::shrink::shrink(scenario, &opts);
    let _ = std::panic::take_hook();
    let s = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let path = out.unwrap_or_else(|| format!("shrunk-{scenario}-{seed}.json").into());
    if let Err(e) = std::fs::write(&path, serde_json::to_string_pretty(&s.run_file()).unwrap_or_default()) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    println!(
        "seed {seed} fails {}: its schedule of {} faults shrinks to {}, its workload from {} writers x {} ops to {} x {}, in {} runs:",
        s.property,
        s.original.len(),
        s.schedule.len(),
        s.original_workload.writers,
        s.original_workload.ops_per_writer,
        s.workload.writers,
        s.workload.ops_per_writer,
        s.runs
    );
    for f in &s.schedule {
        println!("  at {:>9.3}s  {}", f.at.as_secs_f64(), f.fault);
    }
    println!("written to {}; replay it with:", path.display());
    println!("  {} --schedule {}", replay_line(scenario, seed, faults.into()), path.display());
    ExitCode::SUCCESS
}

/// `sweep`'s arguments: which seeds of which scenarios, and how to report them.
#[derive(clap::Args)]
struct SweepArgs {
    /// The scenario (see `list`), or `all` for every scenario in turn.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Number of seeds.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Which faults each seed injects.
    #[arg(long, value_enum, default_value_t = Faults::Swarm)]
    faults: Faults,
    /// Worker threads (default: all cores). Each seed runs in its own simulator.
    #[arg(long)]
    jobs: Option<usize>,
    /// Print one JSON object per seed instead of the table (`sweep-merge` combines them).
    #[arg(long)]
    json: bool,
    /// Run only shard I of N (seeds whose offset from --first is I modulo N). `/N` reads I
    /// from JOB_COMPLETION_INDEX, as a Kubernetes Indexed Job or a CI matrix sets it.
    #[arg(long)]
    shard: Option<String>,
    /// Also list the seeds whose trace has a line matching this regular expression (`^` and
    /// `$` match at line ends): how to find a seed that reaches a state. A regression test
    /// pins one; a change to the workload or the schedule moves which seeds reach it, and
    /// this finds them again.
    #[arg(long)]
    reaching: Option<String>,
    /// Also write the report as one self-contained HTML page to this file, and the timeline of
    /// each failing seed (the lowest `--timelines` of them) beside it, in FILE minus `.html`
    /// plus `-timelines/`.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// How many failing seeds get a timeline with `--html` [default: 20].
    #[arg(long, value_name = "N", requires = "html")]
    timelines: Option<usize>,
}

/// `sweep`: checks the arguments (shard, `--reaching`, scenario names) before any seed runs, then sweeps each
/// scenario (`all`: the default sweep's) in turn; fails if any seed of any of them failed.
fn sweep_named(args: &SweepArgs) -> ExitCode {
    let shard = match args.shard.as_deref().map(parse_shard).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let reaching = match args.reaching.as_deref().map(|text| regex::RegexBuilder::new(text).multi_line(true).build()).transpose() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: --reaching: {e}");
            return ExitCode::from(2);
        }
    };
    let names: Vec<&str> = if args.scenario == "all" { registry::default_names() } else { vec![args.scenario.as_str()] };
    if let Some(bad) = names.iter().find(|n| registry::find(n).is_none()) {
        return unknown_scenario(bad);
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let mut timelines_left = if args.html.is_some() { args.timelines.unwrap_or(sweep_html::DEFAULT_TIMELINES) } else { 0 };
    let (mut lines, mut wall, mut traces) = (Vec::new(), 0.0, Vec::new());
    let mut code = ExitCode::SUCCESS;
    for name in names {
        let swept = sweep(name, args, jobs, shard, reaching.as_ref(), timelines_left);
        if swept.lines.iter().any(|l| !l.ok) {
            code = ExitCode::FAILURE;
        }
        timelines_left -= swept.traces.len();
        traces.extend(swept.traces.into_iter().map(|(seed, trace)| (name.to_string(), seed, trace)));
        wall += swept.wall_seconds;
        if args.html.is_some() {
            lines.extend(swept.lines);
        }
    }
    if let Some(path) = &args.html {
        let throughput = Throughput::Measured { wall_seconds: wall, threads: jobs };
        let no_timeline = format!("not written (--timelines {})", args.timelines.unwrap_or(sweep_html::DEFAULT_TIMELINES));
        if let Err(e) = write_report(path, "sweep", &lines, throughput, traces, &no_timeline) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    code
}

/// Writes the HTML report of `lines` to `path`, and beside it the timeline of each seed of
/// `traces` (scenario, seed, trace), linked from the report; says where on standard error.
fn write_report(
    path: &Path,
    title: &str,
    lines: &[SweepLine],
    throughput: Throughput,
    traces: Vec<(String, u64, String)>,
    no_timeline: &str,
) -> Result<(), String> {
    let command =
        std::iter::once(invocation().program(false)).chain(std::env::args().skip(1).map(|a| scenarios::run::shell_word(&a))).collect::<Vec<_>>().join(" ");
    let report = SweepReport { title, command: &command, lines, throughput, timelines: BTreeMap::new(), no_timeline };
    let written = report.write(path, traces, timeline_page)?;
    match written {
        0 => eprintln!("report written to {}", path.display()),
        1 => eprintln!("report written to {}, with 1 timeline in {}", path.display(), TimelineDir::for_report(path).dir.display()),
        n => eprintln!("report written to {}, with {n} timelines in {}", path.display(), TimelineDir::for_report(path).dir.display()),
    }
    Ok(())
}

/// The timeline page of a failing seed's trace.
fn timeline_page(trace: &str, l: &SweepLine) -> String {
    let title = scenarios::timeline::Title {
        scenario: l.scenario.clone(),
        seed: l.seed,
        replay: l.replay.clone(),
        failure: l.property.clone().map(|p| (p, l.message.clone().unwrap_or_default())),
        detail: l.detail.clone(),
    };
    scenarios::timeline::render(trace, &title)
}

/// Parses `--shard`: `I/N`, or `/N` (or `auto/N`) to read I from `JOB_COMPLETION_INDEX`, as a
/// Kubernetes Indexed Job sets it.
fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text.split_once('/').ok_or_else(|| format!("--shard {text:?}: expected I/N, e.g. 3/100, or /100 to read I from JOB_COMPLETION_INDEX"))?;
    let n: u64 = n.parse().map_err(|_| format!("--shard {text:?}: N must be a positive whole number"))?;
    let i: u64 = if i.is_empty() || i == "auto" {
        let env = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| format!("--shard {text:?}: JOB_COMPLETION_INDEX is not set"))?;
        env.trim().parse().map_err(|_| format!("JOB_COMPLETION_INDEX={env:?} is not a whole number"))?
    } else {
        i.parse().map_err(|_| format!("--shard {text:?}: I must be a whole number"))?
    };
    if n == 0 || i >= n {
        return Err(format!("--shard {i}/{n}: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// What one scenario's sweep leaves for the report: each seed's line, its wall time, and the
/// traces of its lowest failing seeds (as many as it was asked to keep).
struct Swept {
    lines: Vec<SweepLine>,
    wall_seconds: f64,
    traces: BTreeMap<u64, String>,
}

/// One scenario's sweep on `jobs` threads: `shard` and `reaching` as `sweep_named` parsed them
/// from `args`; keeps the traces of the lowest `keep_traces` failing seeds.
fn sweep(scenario: &str, args: &SweepArgs, jobs: usize, shard: Option<(u64, u64)>, reaching: Option<&regex::Regex>, keep_traces: usize) -> Swept {
    let SweepArgs { first, seeds, faults, json, .. } = *args;
    let (index, count) = shard.unwrap_or((0, 1));
    let mine: Vec<u64> = (first..first + seeds).filter(|s| (s - first) % count == index).collect();
    let started = Instant::now();
    let bar = ProgressBar::new(mine.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} seeds, {msg} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(scenario.to_string());
    let failures = std::sync::atomic::AtomicUsize::new(0);
    // Silence madsim's panic messages: failures are reported below, with their replay command.
    std::panic::set_hook(Box::new(|_| {}));
    // Each seed's wall time, from its options being made to its report (both on its thread).
    let started_at = std::sync::Mutex::new(HashMap::new());
    let took = std::sync::Mutex::new(HashMap::new());
    let options = |seed| {
        let mut o = RunOptions { faults: faults.into(), ..RunOptions::new(seed) };
        plant(&mut o);
        started_at.lock().expect("started_at").insert(seed, Instant::now());
        o
    };
    let reached = std::sync::Mutex::new(Vec::new());
    let kept = LowestFailures::new(keep_traces);
    let results = registry::sweep_with(scenario, mine, jobs, options, |r| {
        if let Some(t) = started_at.lock().expect("started_at").remove(&r.seed) {
            took.lock().expect("took").insert(r.seed, t.elapsed().as_secs_f64());
        }
        if reaching.is_some_and(|re| re.is_match(&r.trace)) {
            reached.lock().expect("reached").push(r.seed);
        }
        if let Some(f) = &r.failure {
            kept.offer(r.seed, &r.trace);
            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            bar.suspend(|| {
                eprintln!(
                    "seed {}: FAILED {}: {}\n  replay: {}",
                    r.seed,
                    f.property,
                    f.message.lines().next().unwrap_or(""),
                    replay_line(scenario, r.seed, faults.into())
                )
            });
        }
        bar.set_message(format!("{} failed", failures.load(std::sync::atomic::Ordering::Relaxed)));
        bar.inc(1);
    });
    let _ = std::panic::take_hook();
    bar.finish_and_clear();
    if let Some(re) = reaching {
        let mut seeds = reached.into_inner().expect("reached");
        seeds.sort_unstable();
        // On stderr: `--json` keeps standard output to its JSON lines.
        eprintln!("{scenario}: {} seeds with a trace line matching {:?}: {seeds:?}", seeds.len(), re.as_str());
    }
    let wall = started.elapsed().as_secs_f64();
    let took = took.into_inner().expect("took");
    let lines: Vec<SweepLine> = results.iter().map(|r| SweepLine::new(r, replay_line(r.scenario, r.seed, faults.into()), took.get(&r.seed).copied())).collect();
    if json {
        for l in &lines {
            println!("{}", serde_json::to_string(l).unwrap_or_default());
        }
    } else {
        let shard_note = shard.map(|(i, n)| format!(", shard {i}/{n}")).unwrap_or_default();
        println!("scenario {scenario}: {} seeds ({first}..{}{shard_note}), faults {}", lines.len(), first + seeds, fault_name(faults));
        print!("{}", scenarios::report::summary_text(&lines));
        println!("  wall time         {wall:.1}s on {jobs} threads ({:.1} seeds/s)", lines.len() as f64 / wall.max(1e-9));
        let sim: f64 = lines.iter().map(|l| l.sim_seconds).sum();
        println!("  simulated time    {sim:.0}s ({:.0}x wall)", sim / wall.max(1e-9));
    }
    Swept { lines, wall_seconds: wall, traces: kept.into_traces() }
}

/// `sweep-merge`: one report from the JSON lines of several shards; with `html`, also as a page.
fn merge(files: &[std::path::PathBuf], html: Option<&Path>) -> ExitCode {
    let mut lines: Vec<SweepLine> = Vec::new();
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        match scenarios::report::parse_lines(&text) {
            Ok(l) => lines.extend(l),
            Err((n, e)) => {
                eprintln!("error: {}:{n}: not a sweep JSON line: {e}", f.display());
                return ExitCode::from(2);
            }
        }
    }
    let dropped = scenarios::report::sort_and_dedup(&mut lines);
    let scenarios: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.scenario.as_str()).collect();
    println!(
        "merged {} files: {} seeds of {scenarios:?}{}",
        files.len(),
        lines.len(),
        if dropped != 0 { format!(" ({dropped} duplicates dropped)") } else { String::new() }
    );
    print!("{}", scenarios::report::summary_text(&lines));
    if let Some(path) = html {
        let title = format!("sweep-merge of {} file{}", files.len(), if files.len() == 1 { "" } else { "s" });
        if let Err(e) = write_report(path, &title, &lines, Throughput::FromLines, Vec::new(), "none: JSON lines carry no trace") {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    if lines.iter().all(|l| l.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fault_name(f: Faults) -> &'static str {
    match f {
        Faults::Everything => "everything",
        Faults::Swarm => "swarm",
        Faults::None => "none",
    }
}

#[cfg(feature = "planted-bugs")]
fn mutants(budget: u64, jobs: Option<usize>) -> ExitCode {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    println!("{:<32} {:>8} {:>12}  caught by", "planted bug", "seeds", "first seed");
    let mut escaped = 0;
    for bug in sim::planted::Planted::ALL {
        let r = scenarios::mutants::hunt(bug, budget, jobs);
        match r.caught {
            Some((seed, property)) => println!("{:<32} {:>8} {:>12}  {property}", bug.name(), r.seeds_run, seed),
            None => {
                escaped += 1;
                println!("{:<32} {:>8} {:>12}  ESCAPED", bug.name(), r.seeds_run, "-");
            }
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "{} of {} planted bugs caught in {:.1}s",
        sim::planted::Planted::ALL.len() - escaped,
        sim::planted::Planted::ALL.len(),
        started.elapsed().as_secs_f64()
    );
    if escaped == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(not(feature = "planted-bugs"))]
fn mutants(_budget: u64, _jobs: Option<usize>) -> ExitCode {
    eprintln!("error: this build has no planted bugs; run `cargo run --release -p scenarios --features planted-bugs -- mutants`");
    ExitCode::from(2)
}

/// The command that replays `seed`; in a build with planted bugs and one chosen, the command
/// chooses it too.
fn replay_line(scenario: &str, seed: u64, faults: FaultMix) -> String {
    match std::env::var("BACKUP_SIM_PLANTED") {
        Ok(bug) if cfg!(feature = "planted-bugs") => format!("BACKUP_SIM_PLANTED={bug} {}", invocation().replay_command(scenario, seed, faults, true)),
        _ => invocation().replay_command(scenario, seed, faults, false),
    }
}

/// A warning about the environment, printed once per process: `plant` runs once per seed, and
/// a sweep of a thousand seeds must not print it a thousand times.
fn warn_once(message: impl FnOnce() -> String) {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| eprintln!("warning: {}", message()));
}

/// With the `planted-bugs` feature, `BACKUP_SIM_PLANTED=<bug name>` makes `sweep`, `replay` and
/// `shrink` run with that planted bug, so a mutant can be found, replayed and shrunk.
#[cfg(feature = "planted-bugs")]
fn plant(opts: &mut RunOptions) {
    if let Ok(name) = std::env::var("BACKUP_SIM_PLANTED") {
        match sim::planted::Planted::by_name(&name) {
            Some(bug) => opts.planted = Some(bug),
            None => warn_once(|| format!("BACKUP_SIM_PLANTED={name:?} names no planted bug; running without one")),
        }
    }
}

#[cfg(not(feature = "planted-bugs"))]
fn plant(_opts: &mut RunOptions) {
    if let Ok(name) = std::env::var("BACKUP_SIM_PLANTED") {
        warn_once(|| format!("BACKUP_SIM_PLANTED={name:?} is ignored: this build has no planted bugs (build with --features planted-bugs)"));
    }
}

/// `bench`: the baseline is the cost of an empty seeded madsim runtime with five nodes (what a
/// seed costs before our code runs); each scenario's seed cost is reported as a multiple of it.
fn bench(seeds: u64, jobs: Option<usize>) -> ExitCode {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let n = 2_000;
    let started = Instant::now();
    for seed in 0..n {
        let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        rt.block_on(async {
            let handle = madsim::runtime::Handle::current();
            for i in 1..=5u8 {
                handle.create_node().name(format!("n{i}")).ip(std::net::IpAddr::from([10, 0, 0, i])).build();
            }
        });
    }
    let baseline = started.elapsed().as_secs_f64() / n as f64;
    println!("baseline: empty 5-node madsim runtime, {n} seeds on 1 thread: {:.1} µs per seed", baseline * 1e6);
    println!("{:<10} {:>7} {:>9} {:>10} {:>12} {:>14} {:>16}", "scenario", "seeds", "wall s", "seeds/s", "seeds/min", "sim s/wall s", "x baseline/seed");
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for scenario in registry::all_names() {
        let t = Instant::now();
        // The standard scenario costs ~10x a backup seed: a fifth of the seeds keeps runs short.
        let count = if scenario == scenarios::backup_scenario::STANDARD { (seeds / 5).max(1) } else { seeds };
        let results = registry::sweep_seeds(scenario, 0..count, FaultMix::Swarm, jobs, |_| {});
        let wall = t.elapsed().as_secs_f64();
        failed |= results.iter().any(|r| r.failure.is_some());
        let sim: f64 = results.iter().map(|r| r.sim_seconds).sum();
        let per_seed_cpu = wall * jobs as f64 / results.len().max(1) as f64;
        println!(
            "{scenario:<10} {:>7} {wall:>9.1} {:>10.1} {:>12.0} {:>14.0} {:>16.0}",
            results.len(),
            results.len() as f64 / wall,
            results.len() as f64 / wall * 60.0,
            sim / wall,
            per_seed_cpu / baseline
        );
    }
    let _ = std::panic::take_hook();
    println!("({jobs} worker threads; a seed's cost is wall time x threads / seeds)");
    if failed {
        eprintln!("some seeds failed: run `sweep` to see which");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
