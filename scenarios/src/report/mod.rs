//! A sweep's outcome, seed by seed, and the reports made of it: the JSON line each seed
//! becomes (`sweep --json`, read back by `sweep-merge`), the text summary both print, and the
//! self-contained HTML page of `--html` ([`sweep_html`]).

pub mod sweep_html;

use crate::run::RunReport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One seed's outcome as a JSON line: what `sweep --json` prints and `sweep-merge` reads back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepLine {
    pub scenario: String,
    pub seed: u64,
    pub ok: bool,
    pub property: Option<String>,
    pub message: Option<String>,
    /// The command that replays this seed.
    pub replay: String,
    pub sim_seconds: f64,
    pub committed: usize,
    pub aborted: usize,
    pub reads_matched: usize,
    pub gc_refused: usize,
    pub faults: usize,
    pub swarm: String,
    pub detail: String,
    pub probes: BTreeMap<String, u64>,
    /// Wall-clock seconds the seed's run took on its worker thread: what the report's seeds per
    /// second and simulated-time ratio of merged shards are computed from. Absent from lines
    /// written before it existed, which still parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
}

impl SweepLine {
    /// The line of run `r`, with the command that replays it and the wall time its run took.
    pub fn new(r: &RunReport, replay: String, wall_seconds: Option<f64>) -> Self {
        SweepLine {
            scenario: r.scenario.to_string(),
            seed: r.seed,
            ok: r.failure.is_none(),
            property: r.failure.as_ref().map(|f| f.property.to_string()),
            message: r.failure.as_ref().map(|f| f.message.clone()),
            replay,
            sim_seconds: r.sim_seconds,
            committed: r.committed,
            aborted: r.aborted,
            reads_matched: r.reads_matched,
            gc_refused: r.gc_refused,
            faults: r.faults,
            swarm: r.swarm.clone(),
            detail: r.detail.clone(),
            probes: r.probes.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            wall_seconds,
        }
    }

    /// How often probe `name` fired in this seed.
    pub fn probe(&self, name: &str) -> u64 {
        self.probes.get(name).copied().unwrap_or(0)
    }
}

/// The lines of one file of `sweep --json` output (blank lines skipped); on a line that is not
/// a sweep line, its number (from 1) and why.
pub fn parse_lines(text: &str) -> Result<Vec<SweepLine>, (usize, serde_json::Error)> {
    text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(n, line)| serde_json::from_str::<SweepLine>(line).map_err(|e| (n + 1, e))).collect()
}

/// Sorts `lines` by scenario and seed and drops repeats of a seed (shards that overlapped);
/// returns how many were dropped.
pub fn sort_and_dedup(lines: &mut Vec<SweepLine>) -> usize {
    lines.sort_by(|a, b| (a.scenario.as_str(), a.seed).cmp(&(b.scenario.as_str(), b.seed)));
    let before = lines.len();
    lines.dedup_by(|a, b| a.scenario == b.scenario && a.seed == b.seed);
    before - lines.len()
}

/// Failing seeds per property, in property-name order (`?` for a failure without one).
pub fn failures_by_property(lines: &[SweepLine]) -> BTreeMap<&str, usize> {
    let mut by_property: BTreeMap<&str, usize> = BTreeMap::new();
    for l in lines.iter().filter(|l| !l.ok) {
        *by_property.entry(l.property.as_deref().unwrap_or("?")).or_default() += 1;
    }
    by_property
}

/// One coverage probe over a sweep: how many seeds reached it and how often it fired in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTally {
    pub name: &'static str,
    pub seeds: usize,
    pub hits: u64,
}

/// Every probe of [`crate::probes::PROBES`], in report order, over `lines`.
pub fn probe_tallies(lines: &[SweepLine]) -> Vec<ProbeTally> {
    crate::probes::PROBES
        .iter()
        .map(|p| ProbeTally { name: p.name, seeds: lines.iter().filter(|l| l.probe(p.name) > 0).count(), hits: lines.iter().map(|l| l.probe(p.name)).sum() })
        .collect()
}

/// The summary table of a sweep (or of merged shards), as `sweep` and `sweep-merge` print it:
/// failures by property, totals, probes, and the command that replays each failure.
pub fn summary_text(lines: &[SweepLine]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_summary(&mut out, lines);
    out
}

fn write_summary(out: &mut String, lines: &[SweepLine]) -> std::fmt::Result {
    let failed: Vec<&SweepLine> = lines.iter().filter(|l| !l.ok).collect();
    writeln!(out, "  passed            {}", lines.len() - failed.len())?;
    writeln!(out, "  failed            {}", failed.len())?;
    for (p, n) in failures_by_property(lines) {
        writeln!(out, "    {p:<22}{n}")?;
    }
    let sum = |f: fn(&SweepLine) -> usize| lines.iter().map(f).sum::<usize>();
    writeln!(out, "  commits           {}", sum(|l| l.committed))?;
    writeln!(out, "  reads checked     {}", sum(|l| l.reads_matched))?;
    writeln!(out, "  reads GC-refused  {}", sum(|l| l.gc_refused))?;
    writeln!(out, "  faults injected   {}", sum(|l| l.faults))?;
    writeln!(out, "  coverage probes   (seeds reaching it / total hits)")?;
    for p in probe_tallies(lines) {
        let seeds = p.seeds;
        let hits = p.hits;
        writeln!(out, "    {:<70} {seeds:>5} {hits:>7}{}", p.name, if seeds == 0 { "   NOT REACHED" } else { "" })?;
    }
    for l in &failed {
        writeln!(out, "  FAILED {} seed {}: {}", l.scenario, l.seed, l.replay)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A line of `scenario` and `seed`, failing `property` with `message` when given.
    pub(crate) fn line(scenario: &str, seed: u64, failure: Option<(&str, &str)>) -> SweepLine {
        SweepLine {
            scenario: scenario.to_string(),
            seed,
            ok: failure.is_none(),
            property: failure.map(|(p, _)| p.to_string()),
            message: failure.map(|(_, m)| m.to_string()),
            replay: format!("backup-sim replay {scenario} --seed {seed} --faults swarm"),
            sim_seconds: 100.0,
            committed: 10,
            aborted: 1,
            reads_matched: 5,
            gc_refused: 0,
            faults: 3,
            swarm: String::new(),
            detail: String::new(),
            probes: BTreeMap::new(),
            wall_seconds: Some(0.5),
        }
    }

    #[test]
    fn old_lines_without_wall_time_still_parse() {
        let old = r#"{"scenario":"cluster","seed":4,"ok":true,"property":null,"message":null,"replay":"r","sim_seconds":1.5,"committed":1,"aborted":0,"reads_matched":2,"gc_refused":0,"faults":0,"swarm":"","detail":"","probes":{}}"#;
        let lines = parse_lines(&format!("{old}\n\n{old}\n")).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].wall_seconds, None);
        let written = serde_json::to_string(&line("cluster", 1, None)).unwrap();
        assert!(written.contains("\"wall_seconds\":0.5"), "{written}");
        assert_eq!(parse_lines(&written).unwrap(), vec![line("cluster", 1, None)]);
        assert_eq!(parse_lines("{}\n").unwrap_err().0, 1);
    }

    #[test]
    fn the_summary_counts_failures_by_property_and_probes() {
        let mut lines = vec![line("cluster", 2, Some(("liveness", "stuck"))), line("cluster", 0, None), line("cluster", 1, Some(("liveness", "x")))];
        lines[1].probes.insert(crate::probes::PROBES[0].name.to_string(), 4);
        lines.push(lines[1].clone());
        assert_eq!(sort_and_dedup(&mut lines), 1);
        assert_eq!(lines.iter().map(|l| l.seed).collect::<Vec<_>>(), [0, 1, 2]);
        let text = summary_text(&lines);
        assert!(text.starts_with("  passed            1\n  failed            2\n    liveness              2\n  commits           30\n"), "{text}");
        assert!(text.contains(&format!("    {:<70}     1       4\n", crate::probes::PROBES[0].name)), "{text}");
        assert!(text.contains(&format!("    {:<70}     0       0   NOT REACHED\n", crate::probes::PROBES[1].name)), "{text}");
        assert!(text.ends_with("  FAILED cluster seed 2: backup-sim replay cluster --seed 2 --faults swarm\n"), "{text}");
    }
}
