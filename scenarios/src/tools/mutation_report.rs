//! The mutation report (`backup-sim mutation-report`): what cargo-mutants' mutants of
//! `backup/src` tell about the test bed. A planted bug measures the test bed against a bug its
//! authors thought of; a generated mutant is a bug nobody chose, so the share of them some test
//! fails is the honest measure. The share the *simulation* fails, apart from the in-process tests
//! written next to the code, is the claim the project makes.
//!
//! Two steps, so that the report grows shard by shard across machines and sessions:
//! `collect` turns one cargo-mutants output directory into one JSON line per mutant (its file,
//! its outcome, and which test targets failed, read from cargo's `--no-fail-fast` summary in the
//! mutant's log); `render` folds every shard's lines and the hand-written triage of the missed
//! mutants into `MUTANTS.md`.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// The test target that is the simulation's half of a mutation run.
pub const SIMULATION_TARGET: &str = "-p scenarios --test mutation_sweep";

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// A file is not what it should be.
    #[error("{path}: {why}")]
    Malformed { path: String, why: String },
}

/// What cargo-mutants concluded about one mutant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Outcome {
    /// Some test failed.
    Caught,
    /// Every test passed: a bug the test bed does not see, or a change nobody could see.
    Missed,
    /// The tests ran past the time limit (counted apart: neither caught nor missed).
    Timeout,
    /// The mutant does not build (counted apart).
    Unviable,
}

/// One mutant's record, as a shard file holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutantRecord {
    /// cargo-mutants' name: file, line, column and the change.
    pub name: String,
    /// The mutated file, relative to the workspace.
    pub file: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The test targets that failed (`-p backup --test end_to_end`), for a caught mutant.
    pub failed: Vec<String>,
    /// For a retake (`scripts/mutants.sh retake`): the name of the earlier record this one tests
    /// again, at the line the mutated code had then; this record replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retakes: Option<String>,
}

/// Who caught a mutant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Catcher {
    /// Only `backup`'s own tests (or other unit tests): the bug was foreseen next to the code.
    InProcessOnly,
    /// Only the simulation's sweep: a bug nobody wrote a test for.
    SimulationOnly,
    /// Both.
    Both,
    /// Caught, but the log names no failed target (a crash of the test harness itself).
    Unknown,
}

impl MutantRecord {
    /// Who caught this mutant, if it was caught.
    pub fn catcher(&self) -> Option<Catcher> {
        if self.outcome != Outcome::Caught {
            return None;
        }
        let sim = self.failed.iter().any(|t| t == SIMULATION_TARGET);
        let other = self.failed.iter().any(|t| t != SIMULATION_TARGET);
        Some(match (sim, other) {
            (true, true) => Catcher::Both,
            (true, false) => Catcher::SimulationOnly,
            (false, true) => Catcher::InProcessOnly,
            (false, false) => Catcher::Unknown,
        })
    }
}

/// The failed test targets a cargo test log names: cargo's `--no-fail-fast` summary (`error: 2
/// targets failed:` then one backquoted `-p … --test …` per line) or its single-target hint
/// (`error: test failed, to rerun pass `-p … --lib``).
pub fn failed_targets(log: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    let mut in_summary = false;
    for line in log.lines() {
        let t = line.trim();
        if t.starts_with("error:") && t.contains("targets failed") {
            in_summary = true;
            continue;
        }
        if in_summary {
            match t.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
                Some(target) if target.starts_with("-p ") => {
                    out.insert(target.to_string());
                    continue;
                }
                _ => in_summary = false,
            }
        }
        if let Some(rest) = t.strip_prefix("error: test failed, to rerun pass `") {
            if let Some(target) = rest.strip_suffix('`') {
                out.insert(target.to_string());
            }
        }
    }
    out.into_iter().collect()
}

fn read(path: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|source| ReportError::Read { path: path.display().to_string(), source })
}

/// The records of one cargo-mutants output directory (`mutants.out`): one per mutant tested,
/// the baseline left out.
pub fn collect(out_dir: &Path) -> Result<Vec<MutantRecord>, ReportError> {
    let outcomes_path = out_dir.join("outcomes.json");
    let malformed = |why: String| ReportError::Malformed { path: outcomes_path.display().to_string(), why };
    let json: serde_json::Value = serde_json::from_str(&read(&outcomes_path)?).map_err(|e| malformed(e.to_string()))?;
    let outcomes = json.get("outcomes").and_then(|o| o.as_array()).ok_or_else(|| malformed("no `outcomes` array".into()))?;
    let mut records = Vec::new();
    for o in outcomes {
        let Some(mutant) = o.get("scenario").and_then(|s| s.get("Mutant")) else { continue };
        let field = |v: Option<&serde_json::Value>, what: &str| {
            v.and_then(|v| v.as_str()).map(str::to_string).ok_or_else(|| malformed(format!("a mutant without `{what}`")))
        };
        let name = field(mutant.get("name"), "name")?;
        let file = field(mutant.get("file"), "file")?;
        let summary = field(o.get("summary"), "summary")?;
        let outcome = match summary.as_str() {
            "CaughtMutant" => Outcome::Caught,
            "MissedMutant" => Outcome::Missed,
            "Timeout" => Outcome::Timeout,
            "Unviable" => Outcome::Unviable,
            other => return Err(malformed(format!("mutant {name}: unexpected summary {other:?}"))),
        };
        let failed = match (outcome, o.get("log_path").and_then(|p| p.as_str())) {
            (Outcome::Caught, Some(log)) => failed_targets(&read(&out_dir.join(log))?),
            _ => Vec::new(),
        };
        records.push(MutantRecord { name, file, outcome, failed, retakes: None });
    }
    Ok(records)
}

/// The triage of missed mutants, from a text file of blocks separated by blank lines: the
/// mutant's name on the first line, then `equivalent: why` or `blind spot: what would see it`.
pub fn parse_triage(text: &str, path: &str) -> Result<BTreeMap<String, String>, ReportError> {
    let mut out = BTreeMap::new();
    for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty() && !b.starts_with('#')) {
        let mut lines = block.lines();
        let name = lines.next().unwrap_or_default().trim().to_string();
        let verdict: Vec<&str> = lines.map(str::trim).collect();
        let verdict = verdict.join(" ");
        if !(verdict.starts_with("equivalent:") || verdict.starts_with("blind spot:")) {
            return Err(ReportError::Malformed { path: path.into(), why: format!("{name}: the verdict must start with `equivalent:` or `blind spot:`") });
        }
        out.insert(name, verdict);
    }
    Ok(out)
}

#[derive(Default)]
struct Tally {
    tried: usize,
    in_process_only: usize,
    simulation_only: usize,
    both: usize,
    unknown: usize,
    missed: usize,
    timeout: usize,
    unviable: usize,
}

impl Tally {
    fn add(&mut self, r: &MutantRecord) {
        self.tried += 1;
        let count = match (r.outcome, r.catcher()) {
            (_, Some(Catcher::InProcessOnly)) => &mut self.in_process_only,
            (_, Some(Catcher::SimulationOnly)) => &mut self.simulation_only,
            (_, Some(Catcher::Both)) => &mut self.both,
            // catcher() is Some for every caught mutant; a None here would be a bug in it.
            (_, Some(Catcher::Unknown)) | (Outcome::Caught, None) => &mut self.unknown,
            (Outcome::Missed, None) => &mut self.missed,
            (Outcome::Timeout, None) => &mut self.timeout,
            (Outcome::Unviable, None) => &mut self.unviable,
        };
        *count += 1;
    }
    fn caught(&self) -> usize {
        self.in_process_only + self.simulation_only + self.both + self.unknown
    }
    /// Caught and missed: the mutants that built and finished.
    fn decided(&self) -> usize {
        self.caught() + self.missed
    }
    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            self.tried, self.in_process_only, self.simulation_only, self.both, self.missed, self.timeout, self.unviable
        )
    }
}

fn percent(n: usize, d: usize) -> String {
    if d == 0 {
        "–".into()
    } else {
        format!("{:.0}%", 100.0 * n as f64 / d as f64)
    }
}

/// The headline: caught and caught-by-the-simulation shares of the mutants that built and
/// finished, with the counts behind them.
pub fn headline(records: &[MutantRecord]) -> String {
    let mut t = Tally::default();
    records.iter().for_each(|r| t.add(r));
    format!(
        "{} mutants of backup/src tried: {} caught ({} of {} that built and finished), {} by the simulation ({}), {} missed, {} timed out, {} unviable",
        t.tried,
        t.caught(),
        percent(t.caught(), t.decided()),
        t.decided(),
        t.simulation_only + t.both,
        percent(t.simulation_only + t.both, t.decided()),
        t.missed,
        t.timeout,
        t.unviable
    )
}

/// The records of mutants whose code is gone (`retired.txt`, one name per line, which a retake
/// writes): they describe code that no longer exists, so they leave the counts and are listed
/// apart. A mutant of code that was rewritten is neither caught nor missed by today's test bed.
/// (Keyed by the full name, line and column included: new code would have to produce the very
/// same change at the very same place to be hidden by a retirement.)
pub fn parse_retired(text: &str) -> BTreeSet<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
}

/// `MUTANTS.md`: the headline, a table per file of `backup/src`, and every missed mutant with its
/// triage (or `not yet triaged`). `shards` names the shard files the records came from; the
/// `retired` records are left out of the counts and listed apart.
pub fn render(records: &[MutantRecord], triage: &BTreeMap<String, String>, shards: &[String], retired: &BTreeSet<String>) -> String {
    let (gone, records): (Vec<&MutantRecord>, Vec<&MutantRecord>) = records.iter().partition(|r| retired.contains(&r.name));
    let records: Vec<MutantRecord> = records.into_iter().cloned().collect();
    let records = &records[..];
    let mut by_file: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    for r in records {
        by_file.entry(&r.file).or_default().add(r);
        total.add(r);
    }
    let mut s = String::new();
    let _ = writeln!(s, "# Mutation report: backup/src against the test bed\n");
    let _ = writeln!(s, "Generated by `backup-sim mutation-report render` from {}; do not edit by hand (edit `mutants/triage.txt`).\n", shards.join(", "));
    let _ = writeln!(s, "**{}**\n", headline(records));
    let _ = writeln!(
        s,
        "\"In-process\" is `backup`'s own tests (written next to the code, so they catch what their authors foresaw); \"simulation\" is \
         `scenarios/tests/mutation_sweep.rs` (a fixed swarm sweep of the backup and chain scenarios, checking only their properties). \
         Percentages are over the mutants that built and finished (caught + missed).\n"
    );
    let _ = writeln!(s, "| file | tried | in-process only | simulation only | both | missed | timed out | unviable |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for (file, t) in &by_file {
        let _ = writeln!(s, "{}", t.row(&format!("`{file}`")));
    }
    let _ = writeln!(s, "{}", total.row("**all**"));
    let missed: Vec<&MutantRecord> = records.iter().filter(|r| r.outcome == Outcome::Missed).collect();
    // A retake finds a mutant where its code is now; its triage was written where it was.
    let verdict = |r: &MutantRecord| {
        triage
            .get(&r.name)
            .or_else(|| triage.iter().find(|(name, _)| identity(name) == identity(&r.name)).map(|(_, v)| v))
            .map(String::as_str)
            .unwrap_or("not yet triaged")
    };
    // Counted as equivalent only on a verdict that is surely its own: written under its exact
    // name, or the only one for its change in its function (two mutants that differ only by
    // line could otherwise share one's verdict).
    let own_verdict = |r: &MutantRecord| match triage.get(&r.name) {
        Some(v) => Some(v.as_str()),
        None => {
            let mut same = triage.iter().filter(|(name, _)| identity(name) == identity(&r.name));
            match (same.next(), same.next()) {
                (Some((_, v)), None) => Some(v.as_str()),
                _ => None,
            }
        }
    };
    let equivalent = missed.iter().filter(|r| own_verdict(r).is_some_and(|v| v.starts_with("equivalent:"))).count();
    if equivalent > 0 {
        let (caught, sim, decided) = (total.caught(), total.simulation_only + total.both, total.decided() - equivalent);
        let _ = writeln!(
            s,
            "\nLeaving out the {equivalent} missed mutants triaged equivalent (no behaviour changes, so there is no bug to catch; each with its reason \
             below), as mutation scores usually do: {caught} of {decided} caught ({}), {sim} by the simulation ({}).",
            percent(caught, decided),
            percent(sim, decided)
        );
    }
    let _ = writeln!(s, "\n## Missed mutants ({})\n", missed.len());
    for r in missed {
        let _ = writeln!(s, "- `{}` — {}", r.name, verdict(r));
    }
    if !gone.is_empty() {
        let _ = writeln!(s, "\n## Retired: code gone since ({})\n", gone.len());
        let _ = writeln!(
            s,
            "A retake found no mutant of today's code that is these (the code was rewritten or removed); they are left out of every count above.\n"
        );
        for r in gone {
            let _ = writeln!(s, "- `{}` — was {:?}{}", r.name, r.outcome, r.catcher().map(|c| format!(" ({c:?})")).unwrap_or_default());
        }
    }
    s
}

/// A mutant's identity across edits of its file: its name without the line and column
/// (`backup/src/a.rs: replace < with <= in f`), which code moving elsewhere in the file keeps.
pub fn identity(name: &str) -> String {
    let Some((file, rest)) = name.split_once(':') else { return name.to_string() };
    let mut parts = rest.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(line), Some(col), Some(change))
            if !line.is_empty() && !col.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) && col.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{file}:{change}")
        }
        _ => name.to_string(),
    }
}

/// Which kind of record file a name is, in the order they are read: round-robin shards, then
/// whole-file censuses, then retakes.
fn file_rank(name: &str) -> u8 {
    if name.starts_with("retake-") {
        2
    } else if name.starts_with("file-") {
        1
    } else {
        0
    }
}

/// Every record file (`*.jsonl`) of `dir` with its records, in the order [`read_shards`] folds
/// them.
fn read_record_files(dir: &Path) -> Result<Vec<(String, Vec<MutantRecord>)>, ReportError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ReportError::Read { path: dir.display().to_string(), source })?;
    let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).collect();
    files.sort_by_key(|p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy().to_string();
        (file_rank(&name), name)
    });
    let mut out = Vec::new();
    for f in files {
        let text = read(&f)?;
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let r: MutantRecord =
                serde_json::from_str(line).map_err(|e| ReportError::Malformed { path: f.display().to_string(), why: format!("line {}: {e}", i + 1) })?;
            records.push(r);
        }
        out.push((f.file_name().unwrap_or_default().to_string_lossy().to_string(), records));
    }
    Ok(out)
}

/// The records of `dir` as the report counts them, each with the record file it came from.
fn fold(files: Vec<(String, Vec<MutantRecord>)>) -> Vec<(String, MutantRecord)> {
    let mut records: Vec<(String, MutantRecord)> = Vec::new();
    for (file, these) in files {
        let retaken: BTreeSet<String> = these.iter().filter_map(|r| r.retakes.clone()).collect();
        records.retain(|(_, r)| !retaken.contains(&r.name));
        records.extend(these.into_iter().map(|r| (file.clone(), r)));
    }
    let mut seen = BTreeSet::new();
    let mut unique: Vec<(String, MutantRecord)> = records.into_iter().rev().filter(|(_, r)| seen.insert(r.name.clone())).collect();
    unique.reverse();
    unique
}

/// Reads every `*.jsonl` record file of `dir`: the round-robin shards in name order, then the
/// whole-file censuses (`file-*.jsonl`, `scripts/mutants.sh file`), then the retakes
/// (`retake-*.jsonl`, `scripts/mutants.sh retake`), each kind in name order. A mutant recorded
/// twice (shard k of 36 is half of shard k mod 18 of 18; a census retakes a file's mutants the
/// shards sampled) counts once, as the later file has it: a census is taken of a file the test
/// bed was just extended to reach, after the shards that sampled it. A retake's record replaces
/// the earlier record it names in `retakes`, whose line may differ.
pub fn read_shards(dir: &Path) -> Result<(Vec<MutantRecord>, Vec<String>), ReportError> {
    let files = read_record_files(dir)?;
    let names = files.iter().map(|(name, _)| format!("`{name}`")).collect();
    Ok((fold(files).into_iter().map(|(_, r)| r).collect(), names))
}

/// Whether a retake tests this record again: it built, finished, and the simulation did not
/// catch it (missed, or caught only by the in-process tests). Timed-out mutants are left out
/// (each costs the whole timeout again and decides nothing); the ones the simulation caught stay
/// caught by a test bed that only gains properties.
fn wants_retake(r: &MutantRecord) -> bool {
    match r.outcome {
        Outcome::Missed => true,
        Outcome::Caught => !matches!(r.catcher(), Some(Catcher::SimulationOnly | Catcher::Both)),
        Outcome::Timeout | Outcome::Unviable => false,
    }
}

/// The line of a cargo-mutants name (`file:LINE:COL: change`).
fn line_of(name: &str) -> Option<u64> {
    name.split(':').nth(1)?.parse().ok()
}

/// A retake's plan: (today's name, the record's name) for each mutant it tests, and the names
/// of the records whose code is gone.
pub type RetakePlan = (Vec<(String, String)>, Vec<String>);

/// What a retake tests: for each recorded mutant it [wants](wants_retake), the mutant of today's
/// list (`now`, cargo-mutants `--list` at HEAD) that is the same change to the same code. The
/// names of the commit the record was taken at (`then`, by record file: `commits.txt` names the
/// commit of each file) give its rank among the mutants of its [`identity`]; the one of the same
/// rank today is it, when the count is unchanged; otherwise the one nearest its old line. A
/// mutant whose code is gone is listed apart (its record stays as taken). Returns (today's
/// name, the record's name) pairs and the gone records' names.
pub fn retake_plan(
    records: &[(String, MutantRecord)],
    commits: &BTreeMap<String, String>,
    then: &BTreeMap<String, Vec<String>>,
    now: &[String],
) -> Result<RetakePlan, ReportError> {
    let same = |list: &[String], id: &str| -> Vec<String> { list.iter().filter(|n| identity(n) == id).cloned().collect() };
    let mut plan = Vec::new();
    let mut gone = Vec::new();
    for (file, r) in records.iter().filter(|(_, r)| wants_retake(r)) {
        let commit = commits.get(file).ok_or_else(|| ReportError::Malformed {
            path: "mutants/commits.txt".into(),
            why: format!("no commit recorded for {file}, whose mutant {} is to be retaken", r.name),
        })?;
        let list = then.get(commit).ok_or_else(|| ReportError::Malformed { path: commit.clone(), why: "no mutant list of that commit".into() })?;
        let id = identity(&r.name);
        let old = same(list, &id);
        let new = same(now, &id);
        let rank = old.iter().position(|n| *n == r.name);
        let chosen = match rank {
            Some(k) if old.len() == new.len() => new.get(k).cloned(),
            _ => {
                let at = line_of(&r.name).unwrap_or(0);
                new.iter().min_by_key(|n| line_of(n).unwrap_or(0).abs_diff(at)).cloned()
            }
        };
        match chosen {
            Some(n) => plan.push((n, r.name.clone())),
            None => gone.push(r.name.clone()),
        }
    }
    Ok((plan, gone))
}

/// `mutants/commits.txt`: `record-file commit` per line, the commit each record file was taken
/// at (written by `scripts/mutants.sh`).
pub fn parse_commits(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

/// `backup-sim mutation-report`: what `scripts/mutants.sh` calls after each shard.
#[derive(clap::Args)]
pub struct MutationReportArgs {
    #[command(subcommand)]
    action: ReportAction,
}

#[derive(clap::Subcommand)]
enum ReportAction {
    /// Turn a cargo-mutants output directory into one JSON line per mutant (standard output).
    Collect {
        /// cargo-mutants' output directory.
        #[arg(default_value = "mutants.out")]
        out_dir: std::path::PathBuf,
        /// A retake's plan (`retake-plan`'s output): each record names the record it retakes.
        #[arg(long)]
        retakes: Option<std::path::PathBuf>,
    },
    /// Fold every shard file (`*.jsonl`) of a directory and its `triage.txt` into the report
    /// (standard output; `scripts/mutants.sh` writes it to MUTANTS.md).
    Render {
        /// The directory of shard files.
        #[arg(default_value = "mutants")]
        dir: std::path::PathBuf,
    },
    /// What a retake tests (`scripts/mutants.sh retake`): one line per mutant, tab-separated: a
    /// cargo-mutants `--re` pattern naming it today, its name today, the record it retakes.
    RetakePlan {
        /// The directory of shard files (and `commits.txt`).
        #[arg(default_value = "mutants")]
        dir: std::path::PathBuf,
        /// A directory of cargo-mutants `--list` outputs: `HEAD.txt`, and `COMMIT.txt` for each
        /// commit `commits.txt` names.
        #[arg(long)]
        lists: std::path::PathBuf,
    },
}

/// Runs `mutation-report`; a failure names the file at fault.
pub fn main(args: &MutationReportArgs) -> std::process::ExitCode {
    let result = match &args.action {
        ReportAction::Collect { out_dir, retakes } => collect(out_dir).and_then(|mut records| {
            if let Some(plan) = retakes {
                let plan: BTreeMap<String, String> =
                    read(plan)?.lines().filter_map(|l| l.split('\t').nth(1).zip(l.split('\t').nth(2))).map(|(n, o)| (n.to_string(), o.to_string())).collect();
                for r in &mut records {
                    r.retakes = plan.get(&r.name).cloned();
                }
            }
            Ok(records.iter().map(|r| serde_json::to_string(r).expect("a record serializes") + "\n").collect::<String>())
        }),
        ReportAction::Render { dir } => read_shards(dir).and_then(|(records, shards)| {
            let path = dir.join("triage.txt");
            let triage = match std::fs::read_to_string(&path) {
                Ok(text) => parse_triage(&text, &path.display().to_string())?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(source) => return Err(ReportError::Read { path: path.display().to_string(), source }),
            };
            let retired = match std::fs::read_to_string(dir.join("retired.txt")) {
                Ok(text) => parse_retired(&text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
                Err(source) => return Err(ReportError::Read { path: dir.join("retired.txt").display().to_string(), source }),
            };
            Ok(render(&records, &triage, &shards, &retired))
        }),
        ReportAction::RetakePlan { dir, lists } => (|| {
            let commits = parse_commits(&read(&dir.join("commits.txt"))?);
            let list = |name: &str| -> Result<Vec<String>, ReportError> { Ok(read(&lists.join(format!("{name}.txt")))?.lines().map(str::to_string).collect()) };
            let mut then = BTreeMap::new();
            for commit in commits.values() {
                if !then.contains_key(commit) {
                    then.insert(commit.clone(), list(commit)?);
                }
            }
            // Records already retired are not looked for again.
            let retired_path = dir.join("retired.txt");
            let retired = match std::fs::read_to_string(&retired_path) {
                Ok(text) => parse_retired(&text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
                // Unreadable: stop rather than rewrite it with only today's names.
                Err(source) => return Err(ReportError::Read { path: retired_path.display().to_string(), source }),
            };
            let records: Vec<(String, MutantRecord)> = fold(read_record_files(dir)?).into_iter().filter(|(_, r)| !retired.contains(&r.name)).collect();
            let (plan, gone) = retake_plan(&records, &commits, &then, &list("HEAD")?)?;
            if !gone.is_empty() {
                // Retired: the report leaves them out of its counts from now on.
                let path = dir.join("retired.txt");
                let mut retired = retired;
                for g in &gone {
                    eprintln!("mutation-report: {g}: its code is gone; retired (mutants/retired.txt)");
                }
                retired.extend(gone.iter().cloned());
                let text: String = retired.iter().map(|n| format!("{n}\n")).collect();
                std::fs::write(
                    &path,
                    format!("# Records of mutants whose code is gone (written by `mutation-report retake-plan`); MUTANTS.md lists them apart.\n{text}"),
                )
                .map_err(|source| ReportError::Read { path: path.display().to_string(), source })?;
            }
            Ok(plan.iter().map(|(now, was)| format!("^{}$\t{now}\t{was}\n", regex::escape(now))).collect())
        })(),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mutation-report: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(file: &str, outcome: Outcome, failed: &[&str]) -> MutantRecord {
        MutantRecord {
            name: format!("{file}:1:1: replace x"),
            file: file.into(),
            outcome,
            failed: failed.iter().map(|s| s.to_string()).collect(),
            retakes: None,
        }
    }

    #[test]
    fn the_no_fail_fast_summary_names_every_failed_target() {
        let log = "test result: FAILED. 0 passed\nerror: 2 targets failed:\n    `-p backup --test end_to_end`\n    `-p scenarios --test mutation_sweep`\nsomething else `-p nope`\n";
        assert_eq!(failed_targets(log), vec!["-p backup --test end_to_end".to_string(), SIMULATION_TARGET.to_string()]);
        let one = "error: test failed, to rerun pass `-p backup --lib`\n";
        assert_eq!(failed_targets(one), vec!["-p backup --lib".to_string()]);
        assert!(failed_targets("test result: ok. 3 passed\n").is_empty());
    }

    #[test]
    fn catchers_tell_the_simulation_from_the_unit_tests() {
        assert_eq!(rec("a", Outcome::Caught, &[SIMULATION_TARGET]).catcher(), Some(Catcher::SimulationOnly));
        assert_eq!(rec("a", Outcome::Caught, &["-p backup --lib"]).catcher(), Some(Catcher::InProcessOnly));
        assert_eq!(rec("a", Outcome::Caught, &["-p backup --lib", SIMULATION_TARGET]).catcher(), Some(Catcher::Both));
        assert_eq!(rec("a", Outcome::Caught, &[]).catcher(), Some(Catcher::Unknown));
        assert_eq!(rec("a", Outcome::Missed, &[]).catcher(), None);
    }

    #[test]
    fn the_report_counts_per_file_and_lists_missed_mutants_with_their_triage() {
        let records = vec![
            rec("backup/src/a.rs", Outcome::Caught, &[SIMULATION_TARGET]),
            rec("backup/src/a.rs", Outcome::Caught, &["-p backup --test end_to_end"]),
            rec("backup/src/a.rs", Outcome::Missed, &[]),
            rec("backup/src/b.rs", Outcome::Unviable, &[]),
            rec("backup/src/b.rs", Outcome::Timeout, &[]),
        ];
        let triage = parse_triage("backup/src/a.rs:1:1: replace x\n  equivalent: the value is never read\n", "triage.txt").unwrap();
        let md = render(&records, &triage, &["`s.jsonl`".into()], &BTreeSet::new());
        assert!(md.contains("| `backup/src/a.rs` | 3 | 1 | 1 | 0 | 1 | 0 | 0 |"), "{md}");
        assert!(md.contains("| `backup/src/b.rs` | 2 | 0 | 0 | 0 | 0 | 1 | 1 |"), "{md}");
        assert!(md.contains("5 mutants of backup/src tried: 2 caught (67% of 3 that built and finished), 1 by the simulation (33%)"), "{md}");
        assert!(md.contains("`backup/src/a.rs:1:1: replace x` — equivalent: the value is never read"), "{md}");
        assert!(md.contains("Leaving out the 1 missed mutants triaged equivalent") && md.contains("2 of 2 caught (100%), 1 by the simulation (50%)"), "{md}");
        let md = render(&records, &BTreeMap::new(), &["`s.jsonl`".into()], &BTreeSet::new());
        assert!(!md.contains("Leaving out"), "{md}");
    }

    #[test]
    fn retired_records_leave_the_counts_and_are_listed_apart() {
        let mut gone = rec("backup/src/c.rs", Outcome::Caught, &["-p backup --lib"]);
        gone.name = "backup/src/c.rs:9:9: replace - with + in old_decoder".into();
        let records = vec![rec("backup/src/a.rs", Outcome::Caught, &[SIMULATION_TARGET]), gone.clone()];
        let retired = parse_retired(&format!("# a comment\n{}\n\n", gone.name));
        let md = render(&records, &BTreeMap::new(), &["`s.jsonl`".into()], &retired);
        assert!(md.contains("1 mutants of backup/src tried: 1 caught (100% of 1 that built and finished), 1 by the simulation (100%)"), "{md}");
        assert!(!md.contains("`backup/src/c.rs` |"), "{md}");
        assert!(
            md.contains("## Retired: code gone since (1)")
                && md.contains("`backup/src/c.rs:9:9: replace - with + in old_decoder` — was Caught (InProcessOnly)"),
            "{md}"
        );
    }

    #[test]
    fn a_triage_without_a_verdict_is_refused_by_name() {
        let e = parse_triage("backup/src/a.rs:1:1: replace x\n  maybe fine\n", "triage.txt").unwrap_err();
        assert!(e.to_string().contains("backup/src/a.rs:1:1: replace x"), "{e}");
    }

    #[test]
    fn a_census_overrides_the_shards_record_of_the_same_mutant() {
        let dir = std::env::temp_dir().join(format!("mutation-report-census-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let line = |failed: &[&str]| serde_json::to_string(&rec("backup/src/a.rs", Outcome::Caught, failed)).unwrap() + "\n";
        std::fs::write(dir.join("shard-00-of-36.jsonl"), line(&["-p backup --lib"])).unwrap();
        std::fs::write(dir.join("file-src-a.jsonl"), line(&[SIMULATION_TARGET])).unwrap();
        let (records, names) = read_shards(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, vec!["`shard-00-of-36.jsonl`".to_string(), "`file-src-a.jsonl`".to_string()]);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].catcher(), Some(Catcher::SimulationOnly));
    }

    fn named(name: &str, outcome: Outcome, failed: &[&str]) -> MutantRecord {
        let file = name.split(':').next().unwrap().to_string();
        MutantRecord { name: name.into(), file, outcome, failed: failed.iter().map(|s| s.to_string()).collect(), retakes: None }
    }

    #[test]
    fn a_retake_replaces_the_record_it_names_wherever_its_line_moved() {
        let dir = std::env::temp_dir().join(format!("mutation-report-retake-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let line = |r: &MutantRecord| serde_json::to_string(r).unwrap() + "\n";
        let old = named("backup/src/a.rs:10:7: replace < with <= in f", Outcome::Missed, &[]);
        let twin = named("backup/src/a.rs:30:7: replace < with <= in f", Outcome::Missed, &[]);
        let mut new = named("backup/src/a.rs:14:7: replace < with <= in f", Outcome::Caught, &[SIMULATION_TARGET]);
        new.retakes = Some(old.name.clone());
        std::fs::write(dir.join("shard-00-of-36.jsonl"), line(&old) + &line(&twin)).unwrap();
        std::fs::write(dir.join("retake-202612040000-abc.jsonl"), line(&new)).unwrap();
        let (records, names) = read_shards(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, vec!["`shard-00-of-36.jsonl`".to_string(), "`retake-202612040000-abc.jsonl`".to_string()]);
        assert_eq!(records, vec![twin, new]);
    }

    #[test]
    fn a_retake_finds_each_mutant_by_its_rank_among_the_same_change_or_else_by_nearest_line() {
        let f = |line: u32, change: &str| format!("backup/src/a.rs:{line}:5: {change}");
        let records = vec![
            ("shard-00-of-36.jsonl".to_string(), named(&f(20, "replace == with != in g"), Outcome::Missed, &[])),
            ("shard-00-of-36.jsonl".to_string(), named(&f(40, "replace + with * in h"), Outcome::Caught, &["-p backup --lib"])),
            ("shard-00-of-36.jsonl".to_string(), named(&f(50, "delete ! in k"), Outcome::Caught, &["-p backup --lib", SIMULATION_TARGET])),
            ("shard-00-of-36.jsonl".to_string(), named(&f(60, "replace x with y in gone"), Outcome::Missed, &[])),
            ("shard-00-of-36.jsonl".to_string(), named(&f(70, "replace z in slow"), Outcome::Timeout, &[])),
        ];
        let commits = parse_commits("shard-00-of-36.jsonl abc123\n");
        let then = BTreeMap::from([(
            "abc123".to_string(),
            vec![f(10, "replace == with != in g"), f(20, "replace == with != in g"), f(40, "replace + with * in h"), f(60, "replace x with y in gone")],
        )]);
        // The change at line 20 was the second of its kind in g; today's second is at 120 (a
        // new line pushed it down), though 25 is nearer.
        let now = vec![f(25, "replace == with != in g"), f(120, "replace == with != in g"), f(38, "replace + with * in h"), f(39, "replace + with * in h")];
        let (plan, gone) = retake_plan(&records, &commits, &then, &now).unwrap();
        assert_eq!(plan[0], (f(120, "replace == with != in g"), f(20, "replace == with != in g")));
        assert_eq!(plan[1], (f(39, "replace + with * in h"), f(40, "replace + with * in h")), "one became two: the nearest line");
        assert_eq!(plan.len(), 2, "sim-caught and timed-out records are not retaken: {plan:?}");
        assert_eq!(gone, vec![f(60, "replace x with y in gone")]);
    }

    #[test]
    fn collect_reads_outcomes_and_logs() {
        let dir = std::env::temp_dir().join(format!("mutation-report-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("log")).unwrap();
        std::fs::write(dir.join("log/m1.log"), "error: test failed, to rerun pass `-p scenarios --test mutation_sweep`\n").unwrap();
        let outcomes = r#"{"outcomes":[
            {"scenario":"Baseline","summary":"Success","log_path":"log/baseline.log"},
            {"scenario":{"Mutant":{"name":"backup/src/a.rs:3:5: replace f -> bool with true","file":"backup/src/a.rs"}},"summary":"CaughtMutant","log_path":"log/m1.log"},
            {"scenario":{"Mutant":{"name":"backup/src/a.rs:9:5: replace g with ()","file":"backup/src/a.rs"}},"summary":"MissedMutant","log_path":"log/m2.log"}]}"#;
        std::fs::write(dir.join("outcomes.json"), outcomes).unwrap();
        let records = collect(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].catcher(), Some(Catcher::SimulationOnly));
        assert_eq!(records[1].outcome, Outcome::Missed);
    }
}
