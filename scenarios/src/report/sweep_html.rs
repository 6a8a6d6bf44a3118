//! The sweep report (`sweep --html FILE`, `sweep-merge --html FILE`): one self-contained HTML
//! page (inline CSS and a few lines of script, nothing fetched) with what was run, how fast,
//! what failed by property, every coverage probe as a bar, and each failure with its replay
//! command and its timeline when one was written.
//!
//! It stays quick to open at any sweep size: everything per seed is aggregated (totals,
//! per-property counts, probe bars), the detailed failure rows stop at [`FAILURE_ROWS`], and
//! every failing seed is listed as plain text, one line per scenario. A 10,000-seed report
//! renders in well under a second (README, "The sweep report").

use super::{failures_by_property, probe_tallies, SweepLine};
use askama::Template;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How many failures get a row of their own (property, message, replay, timeline); the rest are
/// counted and listed by seed only.
pub const FAILURE_ROWS: usize = 200;

/// How many timelines `sweep --html` writes unless `--timelines` says otherwise.
pub const DEFAULT_TIMELINES: usize = 20;

/// A message's first line is cut to this many characters in its row (the replay has the rest).
const MESSAGE_CHARS: usize = 1000;

/// How many ranges of seeds a scenario's row names before it counts the rest.
const RANGES_SHOWN: usize = 12;

/// How fast the sweep ran, and where that is known from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Throughput {
    /// Measured around the sweep itself: its wall time on its threads.
    Measured { wall_seconds: f64, threads: usize },
    /// Not measured here (merged shards): from the wall time each line carries, if any.
    FromLines,
}

/// Everything the page needs, gathered by the caller: `sweep` and `sweep-merge` know different
/// things (a measured wall time, or only the lines' own), and the page must not care which.
pub struct SweepReport<'a> {
    /// What was run, e.g. `sweep` or `sweep-merge of 3 files`.
    pub title: &'a str,
    /// The command that made the report, as the user could type it again.
    pub command: &'a str,
    /// Each seed, in the order the failures are listed.
    pub lines: &'a [SweepLine],
    /// Where seeds per second comes from: merged shards ran on other machines, so only their
    /// lines' own wall times can say.
    pub throughput: Throughput,
    /// The link to each failing seed's timeline that was written, by scenario and seed,
    /// relative to the report ([`SweepReport::write`] fills it in).
    pub timelines: BTreeMap<(String, u64), String>,
    /// Shown in place of a failure's timeline link when it has none (why not).
    pub no_timeline: &'a str,
}

impl SweepReport<'_> {
    /// The whole page as one string: the report is a single self-contained file, written once,
    /// so nothing is gained by streaming it.
    pub fn render(&self) -> String {
        let page = Page::of(self);
        // The template only writes to a String; its values' Display cannot fail.
        page.render().unwrap_or_else(|e| format!("<!doctype html><title>sweep report</title><p>cannot render the report: {e}</p>"))
    }

    /// Writes the page to `path` and, beside it ([`TimelineDir`]), the timeline of each of
    /// `traces` (scenario, seed, trace) as `timeline(trace, its line)` renders it, linked from
    /// its failure's row (a trace of a seed without a line is left out). Returns the number of
    /// timelines written; an error says which file could not be written.
    pub fn write(
        mut self,
        path: &Path,
        traces: impl IntoIterator<Item = (String, u64, String)>,
        timeline: impl Fn(&str, &SweepLine) -> String,
    ) -> Result<usize, String> {
        let dir = TimelineDir::for_report(path);
        for (scenario, seed, trace) in traces {
            let Some(line) = self.lines.iter().find(|l| l.scenario == scenario && l.seed == seed) else { continue };
            if self.timelines.is_empty() {
                std::fs::create_dir_all(&dir.dir).map_err(|e| format!("cannot create {}: {e}", dir.dir.display()))?;
            }
            let file = dir.file(&scenario, seed);
            std::fs::write(&file, timeline(&trace, line)).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            let href = dir.href(&scenario, seed);
            self.timelines.insert((scenario, seed), href);
        }
        std::fs::write(path, self.render()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(self.timelines.len())
    }
}

/// Path-segment characters left as they are in a link (RFC 3986's unreserved ones).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Where the timelines of the report at `report` are written, and how the report links them:
/// `FILE` minus `.html`, plus `-timelines/`, one `<scenario>-<seed>.html` each.
#[derive(Clone, Debug)]
pub struct TimelineDir {
    pub dir: PathBuf,
    href_prefix: String,
}

impl TimelineDir {
    pub fn for_report(report: &Path) -> TimelineDir {
        let name = report.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sweep".to_string());
        let stem = name.strip_suffix(".html").or_else(|| name.strip_suffix(".htm")).unwrap_or(&name);
        let dir_name = format!("{stem}-timelines");
        let href_prefix = format!("{}/", utf8_percent_encode(&dir_name, SEGMENT));
        TimelineDir { dir: report.with_file_name(dir_name), href_prefix }
    }

    fn file_name(scenario: &str, seed: u64) -> String {
        format!("{scenario}-{seed}.html")
    }

    /// The file of seed `seed`'s timeline.
    pub fn file(&self, scenario: &str, seed: u64) -> PathBuf {
        self.dir.join(Self::file_name(scenario, seed))
    }

    /// The link to it from the report.
    pub fn href(&self, scenario: &str, seed: u64) -> String {
        format!("{}{}", self.href_prefix, utf8_percent_encode(&Self::file_name(scenario, seed), SEGMENT))
    }
}

/// Keeps the traces of the `cap` lowest failing seeds a sweep's threads offer, whatever order
/// they finish in, so the timelines written are the same on every run; a trace is copied only
/// while it is among the lowest.
pub struct LowestFailures {
    cap: usize,
    kept: Mutex<BTreeMap<u64, String>>,
}

impl LowestFailures {
    pub fn new(cap: usize) -> LowestFailures {
        LowestFailures { cap, kept: Mutex::new(BTreeMap::new()) }
    }

    /// Keeps `trace` if `seed` is among the `cap` lowest failing seeds offered so far, so the
    /// timelines written are the same whatever order the worker threads finish in.
    pub fn offer(&self, seed: u64, trace: &str) {
        if self.cap == 0 {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= self.cap && kept.last_key_value().is_some_and(|(&highest, _)| highest < seed) {
            return;
        }
        kept.insert(seed, trace.to_string());
        if kept.len() > self.cap {
            kept.pop_last();
        }
    }

    /// The kept traces by seed, lowest first.
    pub fn into_traces(self) -> BTreeMap<u64, String> {
        self.kept.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// One scenario's row: its seeds and verdicts.
struct ScenarioRow {
    name: String,
    seeds: String,
    ranges: String,
    passed: String,
    failed: usize,
}

struct PropertyRow {
    name: String,
    count: String,
    width: String,
}

struct ProbeRow {
    name: &'static str,
    seeds: String,
    percent: String,
    hits: String,
    width: String,
    reached: bool,
}

struct FailureRow {
    scenario: String,
    seed: u64,
    property: String,
    message: String,
    replay: String,
    timeline: Option<String>,
}

/// A scenario's failing seeds, as text.
struct FailingSeeds {
    scenario: String,
    count: usize,
    seeds: String,
}

#[derive(Template)]
#[template(path = "sweep_report.html")]
struct Page<'a> {
    title: &'a str,
    command: &'a str,
    scenario_names: String,
    scenarios: Vec<ScenarioRow>,
    seeds: String,
    passed: String,
    failed: usize,
    failed_percent: String,
    seeds_per_second: String,
    sim_ratio: String,
    speed_note: String,
    totals: Vec<(&'static str, String)>,
    properties: Vec<PropertyRow>,
    probes: Vec<ProbeRow>,
    unreached: usize,
    failures: Vec<FailureRow>,
    more_failures: usize,
    failing_seeds: Vec<FailingSeeds>,
    timelines_written: usize,
    no_timeline: &'a str,
}

impl<'a> Page<'a> {
    fn of(r: &SweepReport<'a>) -> Page<'a> {
        let lines = r.lines;
        let n = lines.len();
        let failed = lines.iter().filter(|l| !l.ok).count();
        let mut by_scenario: BTreeMap<&str, Vec<&SweepLine>> = BTreeMap::new();
        for l in lines {
            by_scenario.entry(l.scenario.as_str()).or_default().push(l);
        }
        // Scenarios in the order the lines first name them (registry order for a sweep).
        let mut order: Vec<&str> = Vec::new();
        let mut seen = BTreeSet::new();
        for l in lines {
            if seen.insert(l.scenario.as_str()) {
                order.push(l.scenario.as_str());
            }
        }
        let scenarios: Vec<ScenarioRow> = order
            .iter()
            .map(|name| {
                let ls = &by_scenario[name];
                let f = ls.iter().filter(|l| !l.ok).count();
                ScenarioRow {
                    name: name.to_string(),
                    seeds: thousands(ls.len() as u64),
                    ranges: seed_ranges(ls.iter().map(|l| l.seed)),
                    passed: thousands((ls.len() - f) as u64),
                    failed: f,
                }
            })
            .collect();
        let (seeds_per_second, sim_ratio, speed_note) = speed(lines, r.throughput);
        let sum = |f: fn(&SweepLine) -> usize| thousands(lines.iter().map(f).sum::<usize>() as u64);
        let sim: f64 = lines.iter().map(|l| l.sim_seconds).sum();
        let totals = vec![
            ("simulated time", format!("{} s", thousands(sim.round() as u64))),
            ("commits", sum(|l| l.committed)),
            ("aborted as retryable", sum(|l| l.aborted)),
            ("reads checked", sum(|l| l.reads_matched)),
            ("reads GC-refused", sum(|l| l.gc_refused)),
            ("faults injected", sum(|l| l.faults)),
        ];
        let by_property = failures_by_property(lines);
        let most = by_property.values().copied().max().unwrap_or(1).max(1);
        let properties = by_property
            .into_iter()
            .map(|(name, count)| PropertyRow { name: name.to_string(), count: thousands(count as u64), width: width(count as f64 / most as f64) })
            .collect();
        let tallies = probe_tallies(lines);
        let unreached = tallies.iter().filter(|p| p.seeds == 0).count();
        let probes = tallies
            .into_iter()
            .map(|p| {
                let share = p.seeds as f64 / n.max(1) as f64;
                ProbeRow {
                    name: p.name,
                    seeds: thousands(p.seeds as u64),
                    percent: percent(share),
                    hits: thousands(p.hits),
                    width: width(share),
                    reached: p.seeds > 0,
                }
            })
            .collect();
        let failing: Vec<&SweepLine> = lines.iter().filter(|l| !l.ok).collect();
        let failures = failing
            .iter()
            .take(FAILURE_ROWS)
            .map(|l| FailureRow {
                scenario: l.scenario.clone(),
                seed: l.seed,
                property: l.property.clone().unwrap_or_else(|| "?".to_string()),
                message: first_line(l.message.as_deref().unwrap_or("")),
                replay: l.replay.clone(),
                timeline: r.timelines.get(&(l.scenario.clone(), l.seed)).cloned(),
            })
            .collect();
        let failing_seeds = order
            .iter()
            .filter_map(|name| {
                let seeds: Vec<String> = by_scenario[name].iter().filter(|l| !l.ok).map(|l| l.seed.to_string()).collect();
                (!seeds.is_empty()).then(|| FailingSeeds { scenario: name.to_string(), count: seeds.len(), seeds: seeds.join(" ") })
            })
            .collect();
        Page {
            title: r.title,
            command: r.command,
            scenario_names: if order.is_empty() { "no seeds".to_string() } else { order.join(", ") },
            scenarios,
            seeds: thousands(n as u64),
            passed: thousands((n - failed) as u64),
            failed,
            failed_percent: percent(failed as f64 / n.max(1) as f64),
            seeds_per_second,
            sim_ratio,
            speed_note,
            totals,
            properties,
            probes,
            unreached,
            more_failures: failing.len().saturating_sub(FAILURE_ROWS),
            failures,
            failing_seeds,
            timelines_written: r.timelines.len(),
            no_timeline: r.no_timeline,
        }
    }
}

/// Seeds per second, simulated seconds per wall second, and where they come from.
fn speed(lines: &[SweepLine], throughput: Throughput) -> (String, String, String) {
    let sim: f64 = lines.iter().map(|l| l.sim_seconds).sum();
    match throughput {
        Throughput::Measured { wall_seconds, threads } => {
            let wall = wall_seconds.max(1e-9);
            (
                format!("{:.1}", lines.len() as f64 / wall),
                format!("{}x", thousands((sim / wall).round() as u64)),
                format!("{} seeds in {wall_seconds:.1} s of wall time on {threads} threads", thousands(lines.len() as u64)),
            )
        }
        Throughput::FromLines => {
            let timed: Vec<&SweepLine> = lines.iter().filter(|l| l.wall_seconds.is_some()).collect();
            let wall: f64 = timed.iter().filter_map(|l| l.wall_seconds).sum();
            if timed.is_empty() || wall <= 0.0 {
                let why = "unknown: the JSON lines carry no wall time (written by a backup-sim from before `wall_seconds`)";
                return ("unknown".to_string(), "unknown".to_string(), why.to_string());
            }
            let sim_timed: f64 = timed.iter().map(|l| l.sim_seconds).sum();
            let of = if timed.len() == lines.len() {
                String::new()
            } else {
                format!(
                    " (only {} of {} seeds carry a wall time; the others count for nothing here)",
                    thousands(timed.len() as u64),
                    thousands(lines.len() as u64)
                )
            };
            (
                format!("{:.1} per thread", timed.len() as f64 / wall),
                format!("{}x per thread", thousands((sim_timed / wall).round() as u64)),
                format!(
                    "per worker thread, from each seed's own run time ({wall:.1} s in all){of}: shards run side by side, so the merged sweep's wall time is not known"
                ),
            )
        }
    }
}

/// The first line of `message`, cut to [`MESSAGE_CHARS`] characters.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("");
    match line.char_indices().nth(MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// `n` with thousands separated by commas.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share as a percentage for people: one decimal, and never 0% or 100% for a share that is
/// neither.
fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 0.1 {
        "<0.1%".to_string()
    } else if p < 100.0 && p > 99.9 {
        ">99.9%".to_string()
    } else {
        format!("{p:.1}%")
    }
}

/// A bar's CSS width for a share (a percentage; a share above nothing shows at least a sliver).
fn width(share: f64) -> String {
    let p = (share * 100.0).clamp(0.0, 100.0);
    if p > 0.0 {
        format!("{:.2}", p.max(0.5))
    } else {
        "0".to_string()
    }
}

/// Seeds as half-open ranges, `0..100 250 300..310`, the first [`RANGES_SHOWN`] of them.
fn seed_ranges(seeds: impl IntoIterator<Item = u64>) -> String {
    let mut seeds: Vec<u64> = seeds.into_iter().collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for s in seeds {
        match ranges.last_mut() {
            Some((_, end)) if *end == s => *end = s + 1,
            _ => ranges.push((s, s + 1)),
        }
    }
    let shown: Vec<String> = ranges.iter().take(RANGES_SHOWN).map(|&(a, b)| if b == a + 1 { a.to_string() } else { format!("{a}..{b}") }).collect();
    let mut text = shown.join(" ");
    if ranges.len() > RANGES_SHOWN {
        text.push_str(&format!(" … ({} ranges in all)", thousands(ranges.len() as u64)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::tests::line;
    use super::*;
    use crate::probes::PROBES;

    fn report(lines: &[SweepLine]) -> SweepReport<'_> {
        SweepReport {
            title: "sweep",
            command: "backup-sim sweep --scenario cluster --html r.html",
            lines,
            throughput: Throughput::Measured { wall_seconds: 2.0, threads: 2 },
            timelines: BTreeMap::new(),
            no_timeline: "not written",
        }
    }

    fn render(lines: &[SweepLine]) -> String {
        report(lines).render()
    }

    /// The text of the element whose tag starts with `open` (up to its closing `close`).
    fn element<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
        let start = html.find(open).unwrap_or_else(|| panic!("no {open} in the page"));
        let end = html[start..].find(close).map(|e| start + e).unwrap_or(html.len());
        &html[start..end]
    }

    #[test]
    fn counts_speed_and_failures_by_property() {
        let lines = vec![
            line("cluster", 0, None),
            line("cluster", 1, Some(("liveness", "stuck"))),
            line("cluster", 2, None),
            line("cluster", 3, Some(("liveness", "stuck again"))),
            line("cluster", 4, Some(("reads-match-oracle", "wrong value"))),
        ];
        let html = render(&lines);
        assert!(element(&html, "<div class=\"tile\" id=\"seeds\"", "</div>").contains(">5<"), "{html}");
        assert!(element(&html, "<div class=\"tile\" id=\"passed\"", "</div>").contains(">2<"));
        assert!(element(&html, "<div class=\"tile bad\" id=\"failed\"", "</div>").contains(">3<"));
        // 5 seeds in 2 s; 500 simulated seconds in 2 s.
        assert!(element(&html, "<div class=\"tile\" id=\"speed\"", "</div>").contains(">2.5<"));
        assert!(element(&html, "<div class=\"tile\" id=\"ratio\"", "</div>").contains(">250x<"));
        let props = element(&html, "<table id=\"properties\"", "</table>");
        assert!(props.contains("<td>liveness</td>") && props.contains("<td class=\"num\">2</td>"), "{props}");
        assert!(props.contains("<td>reads-match-oracle</td>") && props.contains("<td class=\"num\">1</td>"), "{props}");
        assert!(element(&html, "<table id=\"scenarios\"", "</table>").contains("<td>0..5</td>"));
    }

    #[test]
    fn merged_lines_without_wall_time_say_unknown() {
        let mut lines = vec![line("cluster", 0, None), line("backup", 0, None)];
        let speed_of = |lines: &[SweepLine]| {
            let html = SweepReport { title: "m", command: "c", lines, throughput: Throughput::FromLines, timelines: BTreeMap::new(), no_timeline: "" }.render();
            element(&html, "<div class=\"tile\" id=\"speed\"", "</div>").to_string()
        };
        // Each line took 0.5 s: two seeds in one thread-second.
        assert!(speed_of(&lines).contains(">2.0 per thread<"), "{}", speed_of(&lines));
        for l in &mut lines {
            l.wall_seconds = None;
        }
        assert!(speed_of(&lines).contains(">unknown<"));
    }

    #[test]
    fn every_probe_is_a_bar_and_the_unreached_are_red() {
        let mut lines = vec![line("cluster", 0, None), line("cluster", 1, None)];
        lines[0].probes.insert(PROBES[0].name.to_string(), 7);
        lines[1].probes.insert(PROBES[0].name.to_string(), 2);
        lines[1].probes.insert(PROBES[1].name.to_string(), 1);
        let html = render(&lines);
        let table = element(&html, "<table id=\"probes\"", "</table>");
        assert_eq!(table.matches("<tr class=\"probe").count(), PROBES.len());
        assert_eq!(table.matches("<tr class=\"probe unreached\"").count(), PROBES.len() - 2);
        let first = element(table, "<tr class=\"probe\"", "</tr>");
        assert!(first.contains(PROBES[0].name) && first.contains("width:100.00%"), "{first}");
        assert!(first.contains("<td class=\"num\">2</td>") && first.contains("<td class=\"num\">9</td>"), "{first}");
        let second = table.split("<tr class=\"probe").nth(2).unwrap();
        assert!(second.contains(PROBES[1].name), "{second}");
        assert!(second.contains("width:50.00%") && second.contains("50.0%"), "{second}");
        // Red: the unreached rows' class is styled red, and says so in words too.
        assert!(html.contains(".unreached"), "the style names the unreached rows");
        assert!(element(table, "<tr class=\"probe unreached\"", "</tr>").contains("not reached"));
        assert!(html.contains(&format!("{} of {} probes not reached", PROBES.len() - 2, PROBES.len())));
    }

    #[test]
    fn hostile_text_is_escaped() {
        let hostile = "<script>alert(1)</script> & \"quoted\" 'single'\nsecond line <b>";
        let mut lines = vec![line("cluster", 9, Some(("liveness", hostile)))];
        lines[0].replay = "backup-sim replay cluster --seed 9 <img src=x onerror=alert(2)>".to_string();
        let html = render(&lines);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#34;quoted&#34; &#39;single&#39;"), "{html}");
        assert!(!html.contains("second line"), "only the first line of a message");
        // The page's own script is the only one.
        assert_eq!(html.matches("<script").count(), 1);
    }

    #[test]
    fn failure_rows_stop_at_the_cap_and_every_failing_seed_is_listed() {
        let lines: Vec<SweepLine> = (0..FAILURE_ROWS as u64 + 50).map(|s| line("cluster", s, (s % 2 == 0).then_some(("liveness", "x")))).collect();
        let more: Vec<SweepLine> = (0..300).map(|s| line("backup", s, Some(("workload", "y")))).collect();
        let all: Vec<SweepLine> = lines.into_iter().chain(more).collect();
        let html = render(&all);
        let failures = element(&html, "<table id=\"failures\"", "</table>");
        assert_eq!(failures.matches("<tr class=\"failure\"").count(), FAILURE_ROWS);
        let failing = 125 + 300;
        assert!(html.contains(&format!("and {} more", failing - FAILURE_ROWS)), "{html}");
        let list = element(&html, "<div id=\"failing-seeds\"", "</div>");
        assert!(list.contains("cluster (125)") && list.contains("backup (300)"), "{list}");
        assert!(list.contains(" 248<") && list.contains(" 299<"), "{list}");
        // Small: the 425 failures take no more than a few hundred bytes each.
        assert!(html.len() < 120_000, "{} bytes", html.len());
    }

    #[test]
    fn failures_link_their_timelines() {
        let lines = vec![line("cluster", 1, Some(("liveness", "x"))), line("cluster", 2, Some(("liveness", "y")))];
        let dir = TimelineDir::for_report(Path::new("/tmp/out/my report.html"));
        assert_eq!(dir.dir, Path::new("/tmp/out/my report-timelines"));
        assert_eq!(dir.file("cluster", 1), Path::new("/tmp/out/my report-timelines/cluster-1.html"));
        assert_eq!(dir.href("cluster", 1), "my%20report-timelines/cluster-1.html");
        assert_eq!(TimelineDir::for_report(Path::new("r")).href("chain", 3), "r-timelines/chain-3.html");
        let timelines = BTreeMap::from([(("cluster".to_string(), 1), dir.href("cluster", 1))]);
        let html = SweepReport { timelines, ..report(&lines) }.render();
        let rows = element(&html, "<table id=\"failures\"", "</table>");
        assert!(rows.contains("<a href=\"my%20report-timelines/cluster-1.html\">timeline</a>"), "{rows}");
        let second = &rows[rows.find("<td class=\"num\">2</td>").unwrap()..];
        assert!(!second.contains("<a href") && second.contains("not written"), "{second}");
    }

    #[test]
    fn write_puts_the_timelines_beside_the_report() {
        let out = std::env::temp_dir().join(format!("sweep-report-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let lines = vec![line("cluster", 1, Some(("liveness", "x"))), line("cluster", 2, Some(("liveness", "y")))];
        let path = out.join("r.html");
        let traces = vec![("cluster".to_string(), 1, "the trace <1>".to_string()), ("chain".to_string(), 1, "no such line".to_string())];
        let written = report(&lines).write(&path, traces, |trace, l| format!("{}/{}: {trace} ({})", l.scenario, l.seed, l.replay)).unwrap();
        assert_eq!(written, 1);
        let timeline = std::fs::read_to_string(out.join("r-timelines/cluster-1.html")).unwrap();
        assert_eq!(timeline, "cluster/1: the trace <1> (backup-sim replay cluster --seed 1 --faults swarm)");
        let page = std::fs::read_to_string(&path).unwrap();
        assert!(page.contains("<a href=\"r-timelines/cluster-1.html\">timeline</a>"), "{page}");
        assert!(!out.join("r-timelines/cluster-2.html").exists());
        let bad = report(&lines).write(&out.join("no/such/dir/r.html"), Vec::new(), |_, _| String::new());
        assert!(bad.unwrap_err().contains("no/such/dir/r.html"));
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn the_lowest_failures_are_kept_whatever_order_they_come_in() {
        let keep = LowestFailures::new(3);
        for s in [9, 4, 7, 1, 8, 2, 3] {
            keep.offer(s, &format!("trace {s}"));
        }
        let kept = keep.into_traces();
        assert_eq!(kept.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(kept[&2], "trace 2");
        let none = LowestFailures::new(0);
        none.offer(1, "t");
        assert!(none.into_traces().is_empty());
    }

    #[test]
    fn numbers_and_ranges_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(seed_ranges([3, 0, 1, 2, 7, 9, 10]), "0..4 7 9..11");
        assert!(seed_ranges((0..100).map(|s| s * 2)).ends_with("… (100 ranges in all)"));
        assert_eq!(percent(0.0), "0.0%");
        assert_eq!(percent(0.0001), "<0.1%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(width(0.0001), "0.50");
        assert_eq!(first_line("a\nb"), "a");
        assert_eq!(first_line(&"é".repeat(MESSAGE_CHARS + 5)).chars().count(), MESSAGE_CHARS + 1);
    }
}
