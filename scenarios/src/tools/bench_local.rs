//! `backup-sim bench-local`: how fast the real BACKUP and RESTORE move a large table to and from
//! a local directory (`nodelocal`, fsynced atomic writes), against `cp` of the very same files
//! and against restic (if installed; `scripts/bench-local.sh` installs it), in one run, with the
//! process's peak memory.
//!
//! It builds the table through SQL on the shell's in-process cluster (the load is timed
//! separately and is not part of any figure), so what it measures is this project's export,
//! file encoding, storage writes, reads, checks and ingest. Everything stays under one
//! directory, removed at the end unless `--keep`.

use crate::tools::shell::Shell;
use backup::storage::real::RealStorageOptions;
use backup::storage::url::ExternalIoSettings;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// The arguments of `bench-local`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchLocalArgs {
    /// Size of the table's payload in MiB.
    #[arg(long, default_value_t = 1024)]
    pub mib: u64,
    /// Payload bytes per row.
    #[arg(long, default_value_t = 1000)]
    pub row_bytes: usize,
    /// Working directory (default: a new directory under the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the working directory.
    #[arg(long)]
    pub keep: bool,
}

/// One measured step.
struct Step {
    what: String,
    bytes: u64,
    secs: f64,
}

pub(crate) fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            n += dir_bytes(&path);
        } else if let Ok(m) = e.metadata() {
            n += m.len();
        }
    }
    n
}

/// Reads every file under `p` (into the page cache) and throws the bytes away.
fn read_all(p: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(p)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            read_all(&entry.path())?;
        } else {
            std::io::copy(&mut std::fs::File::open(entry.path())?, &mut std::io::sink())?;
        }
    }
    Ok(())
}

/// Peak resident memory of this process (VmHWM), in KiB.
pub(crate) fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the kernel's peak-memory mark to the current resident size (`/proc/self/clear_refs`,
/// value 5), so the next [`peak_kib`] reports the peak of what ran since.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Resident memory now, in KiB.
pub(crate) fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run(cmd: &mut Command) -> Result<f64, String> {
    let t = Instant::now();
    let out = cmd.output().map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!("{:?} failed: {}", cmd.get_program(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Pseudo-random printable payload (xorshift), so that neither restic's compression nor its
/// deduplication gets an unfair edge.
pub(crate) fn payload(state: &mut u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut s = String::with_capacity(len);
    for _ in 0..len {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        s.push(ALPHABET[(*state % ALPHABET.len() as u64) as usize] as char);
    }
    s
}

/// Runs the benchmark and prints its table.
pub fn main(args: &BenchLocalArgs) -> ExitCode {
    match bench(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The benchmark: the table is loaded (timed apart), then BACKUP and RESTORE, then `cp` and
/// restic on the backup's own files, so every figure of the table moves the same bytes.
fn bench(args: &BenchLocalArgs) -> Result<(), String> {
    if args.row_bytes == 0 || args.mib == 0 {
        return Err("--mib and --row-bytes must be positive".into());
    }
    let dir = args.dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("backup-sim-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ext = dir.join("extern");
    let io = ExternalIoSettings { external_io_dir: Some(ext.clone()), ..ExternalIoSettings::default() };
    let mut shell = Shell::new(io, RealStorageOptions::default()).map_err(|e| e.to_string())?;
    exec(&mut shell, "CREATE DATABASE bench; CREATE TABLE bench.t (id INT PRIMARY KEY, payload STRING NOT NULL); CREATE DATABASE restored")?;
    let (rows, load_secs) = load(&mut shell, args)?;
    let after_load = peak_kib();
    let backup_dir = ext.join("bench");
    let (mut steps, memory) = backup_and_restore(&mut shell, &backup_dir, rows)?;
    let stored = steps[0].bytes; // what BACKUP stored: the bytes every other tool copies
    steps.extend(copy_with_other_tools(&dir, &backup_dir, stored)?);

    println!("table: {rows} rows x {} payload bytes = {} MiB; loaded through SQL in {load_secs:.1} s (not counted)", args.row_bytes, args.mib);
    println!("{:<40} {:>10} {:>9} {:>9}", "step", "MiB", "seconds", "MiB/s");
    for s in &steps {
        let mib = s.bytes as f64 / (1024.0 * 1024.0);
        println!("{:<40} {:>10.1} {:>9.2} {:>9.1}", s.what, mib, s.secs, mib / s.secs.max(1e-9));
    }
    memory.print(after_load);
    if args.keep {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// Runs `sql` on the shell, its output discarded; an error names the statement's start.
fn exec(shell: &mut Shell, sql: &str) -> Result<(), String> {
    shell.execute_script(sql, &mut std::io::sink()).map_err(|e| format!("{}: {e}", &sql[..sql.len().min(80)]))
}

/// Fills `bench.t` with `--mib` of payload through SQL INSERTs of about 1 MB each; the rows
/// loaded and the seconds it took (reported, never counted in a figure).
fn load(shell: &mut Shell, args: &BenchLocalArgs) -> Result<(u64, f64), String> {
    let rows = (args.mib * 1024 * 1024) / args.row_bytes as u64;
    let batch = (1_000_000 / args.row_bytes).clamp(1, 1000) as u64;
    eprintln!("loading {rows} rows of {} bytes ({} MiB) through SQL…", args.row_bytes, args.mib);
    let load = Instant::now();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut id = 0u64;
    while id < rows {
        let n = batch.min(rows - id);
        let mut sql = String::with_capacity((args.row_bytes + 16) * n as usize + 40);
        sql.push_str("INSERT INTO bench.t VALUES ");
        for i in 0..n {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("({}, '{}')", id + i, payload(&mut state, args.row_bytes)));
        }
        shell.execute_script(&sql, &mut std::io::sink()).map_err(|e| format!("insert: {e}"))?;
        id += n;
    }
    Ok((rows, load.elapsed().as_secs_f64()))
}

/// Resident memory around BACKUP and RESTORE, in KiB (`None` where /proc does not say).
struct Memory {
    before_backup: Option<u64>,
    backup_peak: Option<u64>,
    before_restore: Option<u64>,
    restore_peak: Option<u64>,
    after_restore: Option<u64>,
}

impl Memory {
    /// Prints the process's peaks, and what BACKUP and RESTORE themselves take above the
    /// in-memory database they read or fill (the restored table is itself data: the rise in
    /// resident memory it leaves is not overhead).
    fn print(&self, after_load: Option<u64>) {
        let kib = |k: Option<u64>| k.map(|k| format!("{:.0} MiB", k as f64 / 1024.0)).unwrap_or_else(|| "unknown".into());
        println!("peak memory (VmHWM): {} after the load, {} at the end", kib(after_load), kib(peak_kib()));
        let over = |peak: Option<u64>, base: Option<u64>| match (peak, base) {
            (Some(p), Some(b)) => format!("{:.0} MiB", p.saturating_sub(b) as f64 / 1024.0),
            _ => "unknown".into(),
        };
        println!(
            "memory above the database: BACKUP peak +{} over the resident size before it; RESTORE peak +{} over the size before it, of which +{} stays as the restored table",
            over(self.backup_peak, self.before_backup),
            over(self.restore_peak, self.before_restore),
            over(self.after_restore, self.before_restore)
        );
    }
}

/// BACKUP of `bench.t` to `nodelocal://1/bench` (`backup_dir` on disk) and RESTORE of it into
/// `restored`, each timed and with its own memory peak; the restored row count must be `rows`.
fn backup_and_restore(shell: &mut Shell, backup_dir: &Path, rows: u64) -> Result<(Vec<Step>, Memory), String> {
    let mut steps = Vec::new();
    let before_backup = rss_kib();
    reset_peak();
    let t = Instant::now();
    exec(shell, "BACKUP TABLE bench.t TO 'nodelocal://1/bench'")?;
    let backup_peak = peak_kib();
    let stored = dir_bytes(backup_dir);
    steps.push(Step { what: "BACKUP to nodelocal (fsynced)".into(), bytes: stored, secs: t.elapsed().as_secs_f64() });
    // BACKUP writes its data files past the page cache (O_DIRECT); read them once, untimed, so
    // that RESTORE, cp and restic all start from the page cache, as restic's restore does from
    // the repository its backup has just written.
    read_all(backup_dir).map_err(|e| format!("reading {}: {e}", backup_dir.display()))?;
    let before_restore = rss_kib();
    reset_peak();
    let t = Instant::now();
    exec(shell, "RESTORE TABLE bench.t FROM 'nodelocal://1/bench' WITH into_db = 'restored'")?;
    let restore_peak = peak_kib();
    let after_restore = rss_kib();
    steps.push(Step { what: "RESTORE from nodelocal".into(), bytes: stored, secs: t.elapsed().as_secs_f64() });
    let check = shell.execute_one("SELECT count(*) FROM restored.t").map_err(|e| e.to_string())?;
    if !check.contains(&format!("\n{rows}\n")) {
        return Err(format!("restored row count differs: {check}"));
    }
    Ok((steps, Memory { before_backup, backup_peak, before_restore, restore_peak, after_restore }))
}

/// The yardsticks on the backup's own files (`stored` bytes) under `dir`: `cp -r` (with and without a sync, as
/// BACKUP fsyncs every file), then restic's backup and restore if restic is installed.
fn copy_with_other_tools(dir: &Path, backup_dir: &Path, stored: u64) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let copy = dir.join("cp-copy");
    let secs = run(Command::new("cp").arg("-r").arg(backup_dir).arg(&copy))? + run(&mut Command::new("sync"))?;
    steps.push(Step { what: "cp -r of the backup's files + sync".into(), bytes: stored, secs });
    let secs = run(Command::new("cp").arg("-r").arg(&copy).arg(dir.join("cp-copy-2")))?;
    steps.push(Step { what: "cp -r (no sync, page cache)".into(), bytes: stored, secs });

    let repo = dir.join("restic-repo");
    let restic = |sub: &[&str]| {
        let mut c = Command::new("restic");
        c.env("RESTIC_PASSWORD", "bench").arg("--repo").arg(&repo).arg("--quiet").args(sub);
        c
    };
    match run(&mut restic(&["init"])) {
        Ok(_) => {
            let secs = run(restic(&["backup"]).arg(&copy))?;
            steps.push(Step { what: "restic backup of the same files".into(), bytes: stored, secs });
            let target = dir.join("restic-restore");
            let secs = run(restic(&["restore", "latest", "--target"]).arg(&target))?;
            steps.push(Step { what: "restic restore".into(), bytes: stored, secs });
        }
        Err(e) => eprintln!("restic skipped ({e}); scripts/bench-local.sh installs it"),
    }
    Ok(steps)
}
