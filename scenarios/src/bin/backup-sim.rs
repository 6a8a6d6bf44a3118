//! `backup-sim`: run the simulation's scenarios over many seeds, or replay one seed.

use clap::{Parser, Subcommand, ValueEnum};
use scenarios::run::{replay_command, run_named, FaultMix, RunOptions, RunReport, CLUSTER, SCENARIOS};

use sim::faults::FaultKind;
use std::io::Write;
use std::process::ExitCode;
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
    /// Run a scenario over a range of seeds on all cores and print a summary. Exits non-zero if
    /// any seed fails, printing the command that replays it.
    Sweep {
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
        /// Print one JSON object per seed instead of the table.
        #[arg(long)]
        json: bool,
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
    },
    /// List scenarios, fault kinds and coverage probes.
    List,
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

fn run_one(scenario: &str, seed: u64, faults: Faults) -> Result<RunReport, String> {
    let mut opts = RunOptions::new(seed);
    opts.faults = faults.into();
    run_named(scenario, &opts).ok_or_else(|| format!("unknown scenario {scenario:?}; `backup-sim list` shows them"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Mutants { budget, jobs } => mutants(budget, jobs),
        Command::List => {
            println!("scenarios:");
            println!("  {CLUSTER:<10} SQL workload on a 5-node cluster under faults; reads at past times must equal the oracle");
            println!("  {:<10} the same, plus a BACKUP under faults (coordinator crashes, PAUSE/RESUME) restored into a fresh cluster; restored data must equal the oracle at the backup's time", scenarios::backup_scenario::BACKUP);
            println!("fault kinds:");
            for k in FaultKind::ALL {
                println!("  {k:?}");
            }
            println!("coverage probes:");
            for p in scenarios::probes::PROBES {
                println!("  {}", p.name);
            }
            ExitCode::SUCCESS
        }
        Command::Replay { scenario, seed, faults, trace } => {
            let report = match run_one(&scenario, seed, faults) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let written = match &trace {
                Some(path) => std::fs::write(path, &report.trace).map_err(|e| format!("cannot write {}: {e}", path.display())),
                None => std::io::stdout().write_all(report.trace.as_bytes()).map_err(|e| e.to_string()),
            };
            if let Err(e) = written {
                eprintln!("error: {e}");
                return ExitCode::from(2);
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
        Command::Sweep { scenario, first, seeds, faults, jobs, json } => {
            let names: Vec<&str> = if scenario == "all" { SCENARIOS.to_vec() } else { vec![scenario.as_str()] };
            if let Some(bad) = names.iter().find(|n| !SCENARIOS.contains(n)) {
                eprintln!("error: unknown scenario {bad:?}; `backup-sim list` shows them");
                return ExitCode::from(2);
            }
            let mut code = ExitCode::SUCCESS;
            for name in names {
                if sweep(name, first, seeds, faults, jobs, json) != ExitCode::SUCCESS {
                    code = ExitCode::FAILURE;
                }
            }
            code
        }
    }
}

fn sweep(scenario: &str, first: u64, seeds: u64, faults: Faults, jobs: Option<usize>, json: bool) -> ExitCode {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let started = Instant::now();
    // Silence madsim's panic messages: failures are reported below, with their replay command.
    std::panic::set_hook(Box::new(|_| {}));
    let results = scenarios::run::sweep_seeds(scenario, first..first + seeds, faults.into(), jobs, |r| {
        if let Some(f) = &r.failure {
            eprintln!("seed {}: FAILED {}: {}\n  replay: {}", r.seed, f.property, f.message.lines().next().unwrap_or(""), replay_command(scenario, r.seed, faults.into()));
        }
    });
    let _ = std::panic::take_hook();
    let wall = started.elapsed().as_secs_f64();
    let failed: Vec<&RunReport> = results.iter().filter(|r| r.failure.is_some()).collect();
    if json {
        for r in &results {
            println!(
                "{}",
                serde_json::json!({
                    "scenario": r.scenario, "seed": r.seed, "ok": r.failure.is_none(),
                    "property": r.failure.as_ref().map(|f| f.property), "message": r.failure.as_ref().map(|f| f.message.clone()),
                    "sim_seconds": r.sim_seconds, "committed": r.committed, "aborted": r.aborted,
                    "reads_matched": r.reads_matched, "gc_refused": r.gc_refused, "faults": r.faults, "swarm": r.swarm, "detail": r.detail, "probes": r.probes,
                })
            );
        }
    } else {
        let sim: f64 = results.iter().map(|r| r.sim_seconds).sum();
        let sum = |f: fn(&RunReport) -> usize| results.iter().map(f).sum::<usize>();
        println!("scenario {scenario}: {} seeds ({first}..{}), faults {}", results.len(), first + seeds, fault_name(faults));
        println!("  passed            {}", results.len() - failed.len());
        println!("  failed            {}", failed.len());
        let mut by_property: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for r in &failed {
            *by_property.entry(r.failure.as_ref().expect("failed").property).or_default() += 1;
        }
        for (p, n) in by_property {
            println!("    {p:<22}{n}");
        }
        println!("  commits           {}", sum(|r| r.committed));
        println!("  reads checked     {}", sum(|r| r.reads_matched));
        println!("  reads GC-refused  {}", sum(|r| r.gc_refused));
        println!("  faults injected   {}", sum(|r| r.faults));
        println!("  wall time         {wall:.1}s on {jobs} threads ({:.1} seeds/s)", results.len() as f64 / wall.max(1e-9));
        println!("  simulated time    {sim:.0}s ({:.0}x wall)", sim / wall.max(1e-9));
        println!("  coverage probes   (seeds reaching it / total hits)");
        for p in scenarios::probes::PROBES {
            let seeds = results.iter().filter(|r| r.probes.get(p.name).copied().unwrap_or(0) > 0).count();
            let hits: u64 = results.iter().map(|r| r.probes.get(p.name).copied().unwrap_or(0)).sum();
            println!("    {:<70} {seeds:>5} {hits:>7}{}", p.name, if seeds == 0 { "   NOT REACHED" } else { "" });
        }
        for r in &failed {
            println!("  FAILED seed {}: {}", r.seed, replay_command(scenario, r.seed, faults.into()));
        }
    }
    if failed.is_empty() {
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
    for bug in backup::planted::PlantedBug::ALL {
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
    println!("{} of {} planted bugs caught in {:.1}s", backup::planted::PlantedBug::ALL.len() - escaped, backup::planted::PlantedBug::ALL.len(), started.elapsed().as_secs_f64());
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
