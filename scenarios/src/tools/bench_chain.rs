//! `backup-sim bench-chain`: what an incremental chain costs against full backups, measured on
//! the real implementation in process (the shell's cluster, the real `nodelocal` backend):
//!
//! - bytes: after changing 1% of a table's rows, the incremental's stored bytes as a share of the
//!   full backup's (goal: at most 2%);
//! - restore: restoring a chain of a full backup and four incrementals, against restoring one
//!   full backup of the same final state (goal: at most 1.5x);
//! - memory: each of the two restores again, alone in a fresh process of this binary (a
//!   process's peak resident size is its own, and an allocator keeps what an earlier restore
//!   freed), its peak against the other's (goal: the chain's at most 1.25x the full backup's,
//!   both ending with the same restored table in memory).
//!
//! Both sides of each ratio are measured in the same run, on the same data.

use crate::tools::bench_local::{dir_bytes, payload, peak_kib, rss_kib};
use crate::tools::shell::Shell;
use backup::storage::real::RealStorageOptions;
use backup::storage::url::ExternalIoSettings;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Options of `bench-chain`.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchChainArgs {
    /// Rows in the table.
    #[arg(long, default_value_t = 100_000)]
    pub rows: u64,
    /// Payload bytes per row.
    #[arg(long, default_value_t = 100)]
    pub row_bytes: usize,
    /// Incrementals in the chain (each after changing 1% of the rows).
    #[arg(long, default_value_t = 4)]
    pub incrementals: u64,
    /// The child's part of the memory measurement: restore `bench.t` from this URL (under
    /// `--external-io-dir`) into a fresh cluster and print this process's memory.
    #[arg(long, hide = true, requires = "external_io_dir")]
    pub restore_only: Option<String>,
    /// The nodelocal directory of `--restore-only`.
    #[arg(long, hide = true)]
    pub external_io_dir: Option<std::path::PathBuf>,
}

/// What one restore, alone in its process, took of memory, in KiB.
#[derive(Clone, Copy, Debug)]
struct RestoreMemory {
    /// Resident size before the RESTORE (an empty cluster).
    before: u64,
    /// The process's peak resident size.
    peak: u64,
    /// Resident size after it (the restored table stays in the in-process cluster).
    after: u64,
}

/// The child's side: `RESTORE TABLE bench.t FROM url` into a fresh in-process cluster, then one
/// line on standard output, `memory <before> <peak> <after>` (KiB).
fn restore_alone(url: &str, ext: &Path) -> Result<(), String> {
    let io = ExternalIoSettings { external_io_dir: Some(ext.to_path_buf()), ..ExternalIoSettings::default() };
    let mut shell = Shell::new(io, RealStorageOptions::default()).map_err(|e| e.to_string())?;
    exec(&mut shell, "CREATE DATABASE bench")?;
    let before = rss_kib().ok_or("no /proc/self/status")?;
    exec(&mut shell, &format!("RESTORE TABLE bench.t FROM '{url}'"))?;
    let (peak, after) = (peak_kib().ok_or("no /proc/self/status")?, rss_kib().ok_or("no /proc/self/status")?);
    println!("memory {before} {peak} {after}");
    Ok(())
}

/// Runs [`restore_alone`] in a fresh process of this binary.
fn measure_alone(url: &str, ext: &Path) -> Result<RestoreMemory, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this binary's path: {e}"))?;
    let out = std::process::Command::new(exe)
        .args(["bench-chain", "--restore-only", url, "--external-io-dir"])
        .arg(ext)
        .output()
        .map_err(|e| format!("starting the restore's process: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("memory ")).filter(|_| out.status.success());
    let numbers: Vec<u64> = line.map(|l| l.split_whitespace().filter_map(|n| n.parse().ok()).collect()).unwrap_or_default();
    match numbers[..] {
        [before, peak, after] => Ok(RestoreMemory { before, peak, after }),
        _ => Err(format!("the restore of {url} in its own process failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
    }
}

/// Runs the benchmark and prints its table; non-zero exit on error or on a missed goal.
pub fn main(args: &BenchChainArgs) -> ExitCode {
    let result = match (&args.restore_only, &args.external_io_dir) {
        (Some(url), Some(ext)) => restore_alone(url, ext).map(|()| true),
        _ => bench(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The benchmark: a full backup and `--incrementals` incrementals into one chain, then the
/// equivalent full backup of the final state, both restored and compared; whether both goals
/// were met.
fn bench(args: &BenchChainArgs) -> Result<bool, String> {
    if args.rows < 100 || args.row_bytes == 0 {
        return Err("--rows must be at least 100 and --row-bytes positive".into());
    }
    let dir = std::env::temp_dir().join(format!("backup-sim-bench-chain-{}", std::process::id()));
    let ext = dir.join("extern");
    std::fs::create_dir_all(&ext).map_err(|e| format!("{}: {e}", ext.display()))?;
    let io = ExternalIoSettings { external_io_dir: Some(ext.clone()), ..ExternalIoSettings::default() };
    let mut shell = Shell::new(io, RealStorageOptions::default()).map_err(|e| e.to_string())?;
    exec(&mut shell, "CREATE DATABASE bench; CREATE TABLE bench.t (id INT PRIMARY KEY, payload STRING NOT NULL)")?;
    let chain = build_chain(&mut shell, args, &ext.join("chain"))?;
    // The equivalent full backup of the final state.
    exec(&mut shell, "BACKUP TABLE bench.t TO 'nodelocal://1/final-full'")?;
    let (chain_restore, full_restore) = restore_both(&mut shell)?;
    drop(shell);
    let memory = (measure_alone("nodelocal://1/chain", &ext), measure_alone("nodelocal://1/final-full", &ext));
    let _ = std::fs::remove_dir_all(&dir);
    let memory = (memory.0?, memory.1?);
    Ok(report(args, &chain, chain_restore, full_restore, memory))
}

/// Runs `sql` on the shell, its output discarded; an error names the statement's start.
fn exec(shell: &mut Shell, sql: &str) -> Result<(), String> {
    shell.execute_script(sql, &mut std::io::sink()).map_err(|e| format!("{}: {e}", &sql[..sql.len().min(80)]))
}

/// UPSERTs rows `ids` of `bench.t` with fresh payloads from `state`, a thousand per statement.
fn upsert(shell: &mut Shell, ids: &[u64], row_bytes: usize, state: &mut u64) -> Result<(), String> {
    for chunk in ids.chunks(1000) {
        let values: Vec<String> = chunk.iter().map(|id| format!("({id}, '{}')", payload(state, row_bytes))).collect();
        exec(shell, &format!("UPSERT INTO bench.t VALUES {}", values.join(",")))?;
    }
    Ok(())
}

/// What the chain's backups cost: the full backup's bytes and seconds, and each incremental's.
struct Chain {
    full_bytes: u64,
    full_secs: f64,
    /// Bytes and seconds of each incremental, in order.
    incrementals: Vec<(u64, f64)>,
    /// Rows each incremental's changes touched (1% of the table).
    one_percent: u64,
}

/// Loads the table, backs it up in full to `nodelocal://1/chain` (`chain` on disk), then adds
/// each incremental after changing 1% of the rows, spread over the table; an incremental's
/// bytes are what its backup added to the directory.
fn build_chain(shell: &mut Shell, args: &BenchChainArgs, chain: &Path) -> Result<Chain, String> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    eprintln!("loading {} rows of {} bytes…", args.rows, args.row_bytes);
    let all: Vec<u64> = (0..args.rows).collect();
    upsert(shell, &all, args.row_bytes, &mut state)?;
    let t = Instant::now();
    exec(shell, "BACKUP TABLE bench.t TO 'nodelocal://1/chain'")?;
    let full_secs = t.elapsed().as_secs_f64();
    let full_bytes = dir_bytes(chain);
    let mut incrementals = Vec::new();
    let one_percent = (args.rows / 100).max(1);
    for i in 0..args.incrementals {
        // 1% of the rows, spread over the table.
        let ids: Vec<u64> = (0..one_percent).map(|k| (k * 100 + i * 7 + 3) % args.rows).collect();
        upsert(shell, &ids, args.row_bytes, &mut state)?;
        std::thread::sleep(std::time::Duration::from_millis(20));
        let before = dir_bytes(chain);
        let t = Instant::now();
        exec(shell, "BACKUP TABLE bench.t TO 'nodelocal://1/chain'")?;
        incrementals.push((dir_bytes(chain) - before, t.elapsed().as_secs_f64()));
    }
    Ok(Chain { full_bytes, full_secs, incrementals, one_percent })
}

/// Restores the chain and the equivalent full backup into two databases and checks that both
/// equal the source table row for row; the seconds each restore took.
fn restore_both(shell: &mut Shell) -> Result<(f64, f64), String> {
    let count = |shell: &mut Shell, db: &str| shell.execute_one(&format!("SELECT count(*) FROM {db}.t")).map_err(|e| e.to_string());
    let want = count(shell, "bench")?;
    exec(shell, "CREATE DATABASE from_chain; CREATE DATABASE from_full")?;
    let t = Instant::now();
    exec(shell, "RESTORE TABLE bench.t FROM 'nodelocal://1/chain' WITH into_db = 'from_chain'")?;
    let chain_restore = t.elapsed().as_secs_f64();
    let t = Instant::now();
    exec(shell, "RESTORE TABLE bench.t FROM 'nodelocal://1/final-full' WITH into_db = 'from_full'")?;
    let full_restore = t.elapsed().as_secs_f64();
    let (a, b) = (count(shell, "from_chain")?, count(shell, "from_full")?);
    if a != want || b != want {
        return Err(format!("restored row counts differ: source {want:?}, chain {a:?}, full {b:?}"));
    }
    let same = shell.execute_one("SELECT id, payload FROM from_chain.t ORDER BY id").map_err(|e| e.to_string())?
        == shell.execute_one("SELECT id, payload FROM from_full.t ORDER BY id").map_err(|e| e.to_string())?;
    if !same {
        return Err("the chain's restore and the full backup's restore differ".into());
    }
    Ok((chain_restore, full_restore))
}

/// Prints the table and the goals; whether both were met (an incremental at most 2% of the
/// full, the chain's restore at most 1.5x the full's).
fn report(args: &BenchChainArgs, chain: &Chain, chain_restore: f64, full_restore: f64, (chain_mem, full_mem): (RestoreMemory, RestoreMemory)) -> bool {
    println!(
        "table: {} rows x {} payload bytes; {} incrementals, each after changing 1% ({} rows)",
        args.rows, args.row_bytes, args.incrementals, chain.one_percent
    );
    println!("{:<44} {:>12} {:>9}", "backup", "bytes", "seconds");
    println!("{:<44} {:>12} {:>9.2}", "full", chain.full_bytes, chain.full_secs);
    let mut worst = 0.0f64;
    for (i, (bytes, secs)) in chain.incrementals.iter().enumerate() {
        let ratio = *bytes as f64 / chain.full_bytes.max(1) as f64;
        worst = worst.max(ratio);
        println!("{:<44} {:>12} {:>9.2}   {:.2}% of the full", format!("incremental #{}", i + 1), bytes, secs, ratio * 100.0);
    }
    let restore_ratio = chain_restore / full_restore.max(1e-9);
    println!(
        "restore of the chain (1 full + {}): {chain_restore:.2} s; of the equivalent full backup: {full_restore:.2} s; ratio {restore_ratio:.2}x",
        args.incrementals
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("{:<44} {:>10} {:>10} {:>10} {:>10}", "restore alone in a process (MiB)", "before", "peak", "after", "peak-before");
    for (what, m) in [("chain (1 full + incrementals)", chain_mem), ("equivalent full backup", full_mem)] {
        println!("{:<44} {:>10.0} {:>10.0} {:>10.0} {:>10.0}", what, mib(m.before), mib(m.peak), mib(m.after), mib(m.peak.saturating_sub(m.before)));
    }
    let memory_ratio = chain_mem.peak as f64 / full_mem.peak.max(1) as f64;
    println!("peak memory of the chain's restore: {memory_ratio:.2}x the full backup's");
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    let ok = worst <= 0.02 && restore_ratio <= 1.5 && memory_ratio <= 1.25;
    println!(
        "goals: incremental <= 2% of the full ({}), chain restore <= 1.5x the full's ({}), its peak memory <= 1.25x the full's ({})",
        met(worst <= 0.02),
        met(restore_ratio <= 1.5),
        met(memory_ratio <= 1.25)
    );
    ok
}
