//! From a trace to the timeline's lanes: what each node, range, job and the storage were doing
//! at every simulated instant, as bars (a state that lasts) and ticks (an event), each pointing
//! back at the trace line it came from.
//!
//! The trace is the only input, read through the event-name constants ([`sim::event`],
//! [`backup::event`]) as the summary and the probes read it: the picture cannot show anything the
//! trace does not say. A run can hold several simulated clusters one after another (the backup's,
//! then a fresh one per restore, each starting with `world config network=…`); node and range
//! state starts again at each, and the page draws a divider there.

use std::collections::BTreeMap;

/// One parsed trace line.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    /// Simulated seconds.
    pub t: f64,
    /// The actor (`n3`, `world`, `storage`, `nemesis`, `runner`, a writer).
    pub who: &'a str,
    /// The event name.
    pub what: &'a str,
    /// The rest of the line.
    pub detail: &'a str,
    /// Its index in the trace (0-based), what a click on its mark shows.
    pub index: usize,
}

/// Splits a trace line into time, actor, event and detail; `None` for a line that is not an event.
pub fn parse_line(index: usize, text: &str) -> Option<Line<'_>> {
    let text = text.trim_start();
    let (time, rest) = text.split_once(' ')?;
    let t: f64 = time.strip_suffix('s')?.parse().ok()?;
    let rest = rest.trim_start();
    let (who, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let (what, detail) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(Line { t, who, what, detail, index })
}

/// How a mark is drawn: a bar over `[a, b]` or a tick at `a`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A state that lasts from `a` to `b`.
    Bar,
    /// A thinner bar drawn over the lane's bars (a pause, a partition, an outage).
    Overlay,
    /// An instant.
    Tick,
}

/// One thing drawn on a lane.
#[derive(Clone, Debug)]
pub struct Mark {
    pub shape: Shape,
    /// Start, in simulated seconds.
    pub a: f64,
    /// End (equal to `a` for a tick).
    pub b: f64,
    /// CSS class: what colour it takes.
    pub class: String,
    /// Text drawn on or beside the mark (a leaseholder's name, a job segment's story); may be empty.
    pub label: String,
    /// Shown on hover, before the trace line itself.
    pub tip: String,
    /// The trace line it came from.
    pub line: usize,
}

impl Mark {
    fn tick(l: &Line, class: &str, tip: impl Into<String>) -> Mark {
        Mark { shape: Shape::Tick, a: l.t, b: l.t, class: class.into(), label: String::new(), tip: tip.into(), line: l.index }
    }
}

/// A row of the picture.
#[derive(Clone, Debug)]
pub struct Lane {
    /// The group it is drawn under (`nodes`, `ranges`, `jobs`, …).
    pub group: &'static str,
    /// Its name in the left column.
    pub label: String,
    /// Shown on hovering the name (a job's statement).
    pub tip: String,
    pub marks: Vec<Mark>,
    /// Taller lanes (jobs) carry their story as text under the bar.
    pub tall: bool,
}

/// A simulated cluster of the run: from its `world config` line to the next one's.
#[derive(Clone, Debug)]
pub struct World {
    pub start: f64,
    pub label: String,
    pub line: usize,
}

/// Commits per time bin: the writers' load as a density strip.
#[derive(Clone, Debug, Default)]
pub struct Density {
    /// Width of a bin in simulated seconds.
    pub bin: f64,
    pub commits: Vec<u32>,
    pub aborts: Vec<u32>,
}

/// Everything the page draws.
#[derive(Clone, Debug)]
pub struct Picture {
    /// The last line's time: the run's length.
    pub end: f64,
    pub worlds: Vec<World>,
    pub lanes: Vec<Lane>,
    pub density: Density,
    /// The last line's index (where the final checks run).
    pub last_line: usize,
    /// Every job's one-line story, in the order the jobs started: what the page lists under the verdict.
    pub job_stories: Vec<String>,
}

/// How many bins the commit strip has.
const DENSITY_BINS: usize = 400;

fn node_of(word: &str) -> Option<u32> {
    word.strip_prefix('n')?.trim_end_matches(':').parse().ok()
}

fn range_of(word: &str) -> Option<u32> {
    word.strip_prefix('r')?.parse().ok()
}

/// The job id a backup event's detail names (`job 1585303211259517 …`, `restore job 1585…`).
fn job_of(detail: &str) -> Option<u64> {
    let mut words = detail.split_whitespace();
    while let Some(w) = words.next() {
        if w == "job" || w == "JOB" {
            return words.next()?.trim_end_matches([':', ',']).parse().ok();
        }
    }
    None
}

/// A node's lane while it is being built: the state it is in since when.
#[derive(Default)]
struct NodeState {
    crashed: Option<(f64, usize, String)>,
    paused: Option<(f64, usize)>,
    partitioned: Option<(f64, usize, String)>,
    /// The nodes it cannot talk to since the last heal.
    cut: std::collections::BTreeSet<u32>,
    marks: Vec<Mark>,
}

#[derive(Default)]
struct RangeState {
    holder: Option<(u32, f64, usize)>,
    marks: Vec<Mark>,
}

/// One coordinator's run of a job: from its claim to its end, its death or the next claim.
struct Segment {
    node: u32,
    start: f64,
    line: usize,
    files: u32,
    /// Of those files, how many the storage damaged after reporting them written, by how.
    damaged: BTreeMap<String, u32>,
    notes: Vec<String>,
    /// Where each phase began: `running` until the job's kind is known, then `exporting`,
    /// `finishing`, `cleaning up` (a backup) or `planning`, `ingesting`, `publishing` (a restore).
    phases: Vec<(f64, &'static str, usize)>,
}

/// A coordinator's run once it ended: drawn when the whole trace is read, because whether the job
/// is a RESTORE is only known from its later events (its claim does not say).
struct Closed {
    seg: Segment,
    end: f64,
    how: String,
    class: &'static str,
}

/// The last BACKUP and RESTORE statements sent in a cluster: a job's lane is labelled with the one
/// of its kind, and a job that never shows its kind is taken for the later one's.
#[derive(Clone, Default, PartialEq)]
struct Statements {
    backup: Option<String>,
    restore: Option<String>,
    /// Whether the later of the two was the RESTORE.
    restore_last: Option<bool>,
}

#[derive(Default)]
struct JobState {
    /// Seen a restore event: the job is a RESTORE.
    restore: bool,
    /// Wrote a data file or a lock: the job is a BACKUP.
    backup: bool,
    /// The statements sent in its cluster before its first claim.
    statements: Statements,
    prefix: Option<String>,
    first: f64,
    open: Option<Segment>,
    closed: Vec<Closed>,
    marks: Vec<Mark>,
    paused: Option<(f64, usize)>,
    ended: Option<String>,
    /// An operator's CANCEL JOB that was answered ok.
    canceled: bool,
    cleaned_up: bool,
}

impl JobState {
    /// Ends the open segment at `t` with `how` (`killed at Exporting`, `succeeded`, …).
    fn close(&mut self, t: f64, how: &str, class: &'static str) {
        if let Some(seg) = self.open.take() {
            self.closed.push(Closed { seg, end: t, how: how.to_string(), class });
        }
    }

    /// The job's kind from what it did, else from the statement sent last before it was claimed.
    fn kind(&self) -> Option<bool> {
        match (self.restore, self.backup) {
            (true, _) => Some(true),
            (false, true) => Some(false),
            (false, false) => self.statements.restore_last,
        }
    }

    /// Draws the ended segments (bars, phase strips, stories) now that the job's kind is known.
    fn draw(&mut self) -> Vec<String> {
        let restore = self.kind() == Some(true);
        let mut stories = Vec::new();
        for Closed { seg: s, end: t, how, class } in std::mem::take(&mut self.closed) {
            for (i, &(a, phase, line)) in s.phases.iter().enumerate() {
                let b = s.phases.get(i + 1).map(|p| p.0).unwrap_or(t).max(a);
                let phase = match (phase, self.kind()) {
                    ("running", Some(true)) => "planning",
                    ("running", Some(false)) => "exporting",
                    (p, _) => p,
                };
                let class = format!("phase ph-{}", phase.replace(' ', "-"));
                self.marks.push(Mark { shape: Shape::Overlay, a, b, class, label: String::new(), tip: format!("n{}: {phase}", s.node), line });
            }
            let mut story = vec![format!("n{}", s.node)];
            story.extend(s.notes.iter().cloned());
            if !restore {
                let damaged: Vec<String> = s.damaged.iter().map(|(how, n)| format!("{n} {how}")).collect();
                let damaged = if damaged.is_empty() { String::new() } else { format!(" ({})", damaged.join(", ")) };
                // Right after where it started from (a resume's spans to go), before the manifest.
                let at = if s.notes.first().is_some_and(|n| n.starts_with("resumed")) { 2 } else { 1 };
                story.insert(at, format!("{} data file{} written{damaged}", s.files, if s.files == 1 { "" } else { "s" }));
            }
            story.push(how.clone());
            let label = story.join(" · ");
            stories.push(label.clone());
            self.marks.push(Mark {
                shape: Shape::Bar,
                a: s.start,
                b: t.max(s.start),
                class: format!("job {class}"),
                label,
                tip: format!("coordinated by n{} from {:.3}s to {t:.3}s: {how}", s.node, s.start),
                line: s.line,
            });
        }
        stories
    }

    /// How the job ended, as far as the trace says.
    fn ending(&self) -> String {
        match (&self.ended, self.canceled, self.paused.is_some()) {
            (Some(e), _, _) => e.clone(),
            (None, true, _) => "canceled by the operator".into(),
            (None, false, true) => "paused".into(),
            (None, false, false) if self.cleaned_up => "cleaned up, no end recorded in the trace".into(),
            _ => "no end in the trace".into(),
        }
    }
}

/// Reads `trace` into the lanes the page draws.
pub fn build(trace: &str) -> Picture {
    let lines: Vec<Line> = trace.lines().enumerate().filter_map(|(i, l)| parse_line(i, l)).collect();
    let end = lines.last().map(|l| l.t).unwrap_or(0.0).max(1e-3);
    let last_line = trace.lines().count().saturating_sub(1);
    let mut worlds: Vec<World> = Vec::new();
    let mut nodes: BTreeMap<u32, NodeState> = BTreeMap::new();
    let mut ranges: BTreeMap<u32, RangeState> = BTreeMap::new();
    let mut jobs: BTreeMap<u64, JobState> = BTreeMap::new();
    let mut faults: Vec<Mark> = Vec::new();
    let mut storage: Vec<Mark> = Vec::new();
    let mut statements: Vec<Mark> = Vec::new();
    let mut scenario: Vec<Mark> = Vec::new();
    let mut last_statement = Statements::default();
    let bin = end / DENSITY_BINS as f64;
    let mut density = Density { bin, commits: vec![0; DENSITY_BINS], aborts: vec![0; DENSITY_BINS] };
    let bin_of = |t: f64| ((t / bin) as usize).min(DENSITY_BINS - 1);
    // Which node a "coordinator killed at PHASE" injection killed, and when (µs), to name the
    // phase on the crash: the injection's line can come just before or just after the crash's.
    let mut killed_at: BTreeMap<(u32, i64), String> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.who == "nemesis" && l.what == sim::event::INJECT) {
        if let Some((crash, phase)) = l.detail.split_once(": coordinator killed at ") {
            if let Some(n) = crash.strip_prefix("crash ").and_then(node_of) {
                killed_at.insert((n, (l.t * 1e6).round() as i64), phase.to_string());
            }
        }
    }

    use backup::event as b;
    use sim::event as s;
    for l in &lines {
        let words: Vec<&str> = l.detail.split_whitespace().collect();
        let first = words.first().copied().unwrap_or("");
        match (l.who, l.what) {
            ("world", s::CONFIG) if l.detail.starts_with("network=") => {
                // A new simulated cluster: every lane's state ends here.
                for st in nodes.values_mut() {
                    close_node(st, l.t);
                }
                for st in ranges.values_mut() {
                    close_lease(st, l.t);
                }
                for j in jobs.values_mut() {
                    j.close(l.t, "its cluster ended", "lost");
                }
                last_statement = Statements::default();
                let n = worlds.len() + 1;
                let label = if n == 1 { "cluster 1".to_string() } else { format!("cluster {n} (a fresh cluster for the restore)") };
                worlds.push(World { start: l.t, label, line: l.index });
                add_nodes(&mut nodes, &words);
            }
            ("world", s::CONFIG) => add_nodes(&mut nodes, &words),
            ("world", s::RANGE) => {
                if let (Some(r), Some(h)) = (range_of(first), words.iter().find_map(|w| w.strip_prefix("leaseholder=")).and_then(node_of)) {
                    let st = ranges.entry(r).or_default();
                    set_lease(st, h, l);
                }
            }
            ("world", s::CLOCK) => {
                if let Some(n) = node_of(first) {
                    let shape = l.detail.strip_prefix(first).unwrap_or("").trim();
                    let kind = shape.split_whitespace().next().unwrap_or("");
                    nodes.entry(n).or_default().marks.push(Mark { label: format!("clock {kind}"), ..Mark::tick(l, "clock", format!("clock offset: {shape}")) });
                }
            }
            ("world", s::CRASH) => {
                if let Some(n) = node_of(first) {
                    let why = killed_at.get(&(n, (l.t * 1e6).round() as i64)).map(|p| format!("coordinator killed at {p}")).unwrap_or_else(|| "crashed".into());
                    let st = nodes.entry(n).or_default();
                    close_node(st, l.t);
                    st.crashed = Some((l.t, l.index, why.clone()));
                    for j in jobs.values_mut() {
                        if j.open.as_ref().is_some_and(|s| s.node == n) {
                            j.close(l.t, &format!("✕ {why}"), "killed");
                        }
                    }
                }
            }
            ("world", s::RESTART) => {
                if let Some(n) = node_of(first) {
                    let st = nodes.entry(n).or_default();
                    end_crash(st, l.t);
                }
            }
            ("world", s::PAUSE) => {
                if let Some(n) = node_of(first) {
                    nodes.entry(n).or_default().paused = Some((l.t, l.index));
                }
            }
            ("world", s::RESUME) => {
                if let Some(n) = node_of(first) {
                    let st = nodes.entry(n).or_default();
                    end_pause(st, l.t);
                }
            }
            ("world", s::PARTITION) => {
                // `nA <-/-> nB` or `nA -/-> nB`: a node is drawn partitioned away once it is cut
                // from more than half of the others (the minority side of a partition).
                let cut: Vec<u32> = words.iter().filter_map(|w| node_of(w)).collect();
                if let [a, b] = cut[..] {
                    let others = nodes.len().saturating_sub(1).max(1);
                    for (n, m) in [(a, b), (b, a)] {
                        let st = nodes.entry(n).or_default();
                        st.cut.insert(m);
                        if st.partitioned.is_none() && st.cut.len() * 2 > others {
                            st.partitioned = Some((l.t, l.index, String::new()));
                        }
                        if let Some(p) = st.partitioned.as_mut() {
                            p.2 = st.cut.iter().map(|m| format!("n{m}")).collect::<Vec<_>>().join(", ");
                        }
                    }
                }
            }
            ("world", s::HEAL) => {
                for st in nodes.values_mut() {
                    end_partition(st, l.t);
                }
            }
            ("world", s::LEASE_TRANSFER) | ("world", s::LEASE_EXPIRED) => {
                if let (Some(r), Some(to)) = (range_of(first), words.get(3).and_then(|w| node_of(w))) {
                    let st = ranges.entry(r).or_default();
                    let class = if l.what == s::LEASE_EXPIRED { "lease-expired" } else { "lease-transfer" };
                    st.marks.push(Mark::tick(l, class, format!("{}: {}", l.what, l.detail)));
                    set_lease(st, to, l);
                }
            }
            (who, s::LEASE_ACQUIRED) => {
                if let (Some(r), Some(n)) = (range_of(first), node_of(who)) {
                    set_lease(ranges.entry(r).or_default(), n, l);
                }
            }
            (who, s::SPLIT) => {
                if let (Some(r), Some(new)) = (range_of(first), words.last().and_then(|w| range_of(w))) {
                    let parent = ranges.entry(r).or_default();
                    parent.marks.push(Mark::tick(l, "split", format!("split: {}", l.detail)));
                    // The right-hand range starts under the left's lease (the node applying the
                    // split may be a follower catching up).
                    let holder = parent.holder.map(|h| h.0).or_else(|| node_of(who));
                    let child = ranges.entry(new).or_default();
                    child.marks.push(Mark::tick(l, "split", format!("created by a split of r{r}")));
                    if let Some(n) = holder {
                        set_lease(child, n, l);
                    }
                }
            }
            (_, s::GC) => {
                if let Some(r) = range_of(first) {
                    let removed = words.iter().find_map(|w| w.strip_prefix("removed=")).unwrap_or("0");
                    let class = if removed == "0" { "gc" } else { "gc removed" };
                    ranges.entry(r).or_default().marks.push(Mark::tick(l, class, format!("GC threshold moved: {}", l.detail)));
                }
            }
            (_, s::GC_REQUEST) | (_, s::REBALANCE) | (_, s::SPLIT_REQUEST) => {
                if let Some(r) = range_of(first) {
                    ranges.entry(r).or_default().marks.push(Mark::tick(l, l.what, format!("{}: {}", l.what, l.detail)));
                }
            }
            ("nemesis", s::INJECT) => {
                let kind = first.trim_end_matches(':');
                faults.push(Mark::tick(l, &format!("fault f-{kind}"), format!("fault injected: {}", l.detail)));
            }
            ("runner", s::GATEWAY_CRASH)
            | ("runner", s::LIVENESS_PHASE)
            | ("runner", s::EXPLICIT_SCHEDULE)
            | ("runner", s::RIVAL_BACKUP)
            | ("runner", s::RIVAL_ENDED) => {
                faults.push(Mark::tick(l, &format!("fault f-{}", l.what), format!("{}: {}", l.what, l.detail)));
            }
            ("operator", s::JOB_CONTROL) => {
                if let Some(id) = job_of(l.detail) {
                    let j = jobs.entry(id).or_insert_with(|| JobState { first: l.t, ..JobState::default() });
                    if first == "CANCEL" && l.detail.ends_with(": ok") {
                        j.canceled = true;
                    }
                    if first == "PAUSE" && l.detail.ends_with(": ok") {
                        j.paused.get_or_insert((l.t, l.index));
                    } else if first == "RESUME" && l.detail.ends_with(": ok") {
                        if let Some((a, line)) = j.paused.take() {
                            j.marks.push(Mark { shape: Shape::Overlay, a, b: l.t, class: "paused".into(), label: String::new(), tip: "paused".into(), line });
                        }
                    }
                    j.marks.push(Mark::tick(l, "control", format!("operator: {}", l.detail)));
                }
            }
            ("storage", s::OUTAGE) => {
                // "every operation fails for N ms"
                let ms: f64 = words.get(4).and_then(|w| w.parse().ok()).unwrap_or(0.0);
                let (a, b, line) = (l.t, l.t + ms / 1000.0, l.index);
                storage.push(Mark {
                    shape: Shape::Overlay,
                    a,
                    b,
                    class: "outage".into(),
                    label: "outage".into(),
                    tip: format!("storage outage: {}", l.detail),
                    line,
                });
            }
            ("storage", s::WRITE) | ("storage", s::DELETE) => {
                let path = first;
                let kind = file_kind(path);
                storage.push(Mark::tick(l, &format!("st-{} {kind}", l.what), format!("{} {kind}: {}", l.what, l.detail)));
                if l.what == s::WRITE {
                    credit_write(&mut jobs, path, l, None);
                }
            }
            ("storage", what) if DAMAGE.contains(&what) => {
                storage.push(Mark::tick(l, "damage", format!("{what}: {}", l.detail)));
                if what == s::WRITE_TORN || what == s::WRITE_LOST {
                    // Reported written to the job, which goes on: its file, damaged.
                    credit_write(&mut jobs, first, l, Some(what));
                }
                if what == s::WRITER_DOOMED {
                    if let Some(path) = words.iter().find(|w| w.contains("://")) {
                        if let Some(j) = job_of_path(path).and_then(|id| jobs.get_mut(&id)) {
                            j.marks.push(Mark::tick(l, "doomed", format!("this write never lands: {}", l.detail)));
                        }
                    }
                }
            }
            ("runner", s::DAMAGE_DETECTED) | ("runner", s::BIT_ROT_DETECTED) => {
                storage.push(Mark::tick(l, "detected", format!("{}: {}", l.what, l.detail)));
            }
            (_, s::TXN_COMMIT) => density.commits[bin_of(l.t)] += 1,
            (_, s::TXN_ABORT) => density.aborts[bin_of(l.t)] += 1,
            (who, s::BULK) if node_of(who).is_some() => {
                let upper = l.detail.to_ascii_uppercase();
                if upper.starts_with("BACKUP") {
                    last_statement.backup = Some(l.detail.to_string());
                    last_statement.restore_last = Some(false);
                } else if upper.starts_with("RESTORE") {
                    last_statement.restore = Some(l.detail.to_string());
                    last_statement.restore_last = Some(true);
                }
                statements.push(Mark::tick(l, "stmt", format!("{who} runs: {}", l.detail)));
            }
            (who, s::BULK_ERR) => statements.push(Mark::tick(l, "stmt-err", format!("{who} answers an error: {}", l.detail))),
            (_, what) if JOB_EVENTS.contains(&what) => {
                let Some(id) = job_of(l.detail) else { continue };
                let j = jobs.entry(id).or_insert_with(|| JobState { first: l.t, ..JobState::default() });
                if what.starts_with("restore-") || l.detail.starts_with("restore job") {
                    j.restore = true;
                }
                let node = node_of(l.who);
                // A run that lost its claim can still report (its end, a note): such a line is
                // marked on the job, but it does not speak for the coordinator that holds it now.
                let current = j.open.as_ref().is_some_and(|seg| Some(seg.node) == node);
                match what {
                    b::JOB_CLAIMED => {
                        j.close(l.t, "handed to another coordinator", "handed");
                        if j.statements == Statements::default() {
                            j.statements = last_statement.clone();
                        }
                        j.open = node.map(|node| Segment {
                            node,
                            start: l.t,
                            line: l.index,
                            files: 0,
                            damaged: BTreeMap::new(),
                            notes: Vec::new(),
                            phases: vec![(l.t, "running", l.index)],
                        });
                        j.marks.push(Mark::tick(l, "claim", format!("claimed: {}", l.detail)));
                    }
                    _ if !current && what != b::JOB_CLEANUP => {
                        j.marks.push(Mark::tick(l, "stale", format!("from a run that no longer coordinates the job: {}", l.detail)));
                    }
                    b::JOB_RUN_ENDED => {
                        let outcome = l.detail.split(": ").nth(1).unwrap_or("");
                        let word = outcome.split(['(', ' ']).next().unwrap_or("").to_ascii_lowercase();
                        let class = match word.as_str() {
                            "succeeded" => "ok",
                            "failed" => "failed",
                            _ => "other",
                        };
                        j.ended = Some(word.clone());
                        j.close(l.t, &word, class);
                        j.marks.push(Mark::tick(l, &format!("end {class}"), format!("run ended: {}", l.detail)));
                    }
                    _ => {
                        let note = l.detail.split_once(": ").map(|(_, n)| n).unwrap_or("");
                        let tag = match what {
                            b::JOB_RESUMED_FROM_CHECKPOINT | b::RESTORE_RESUMED => Some(format!("resumed: {note}")),
                            b::JOB_MANIFEST_WRITTEN => Some(format!("manifest: {note}")),
                            b::JOB_FOUND_MANIFEST => Some("found its manifest written".to_string()),
                            b::RESTORE_OFFLINE => Some(note.to_string()),
                            b::RESTORE_PUBLISHED => Some(note.to_string()),
                            b::RESTORE_REMOVED => Some("removed what it restored".to_string()),
                            b::JOB_RETRYING => Some(format!("retrying: {note}")),
                            _ => None,
                        };
                        let phase = match what {
                            b::JOB_MANIFEST_WRITTEN | b::JOB_FOUND_MANIFEST => Some("finishing"),
                            b::JOB_CLEANUP => Some("cleaning up"),
                            b::RESTORE_OFFLINE | b::RESTORE_RESUMED => Some("ingesting"),
                            b::RESTORE_PUBLISHING => Some("publishing"),
                            _ => None,
                        };
                        if what == b::JOB_CLEANUP {
                            j.cleaned_up = true;
                        }
                        if let Some(seg) = j.open.as_mut().filter(|_| current) {
                            seg.notes.extend(tag);
                            if let Some(p) = phase.filter(|p| seg.phases.last().is_none_or(|last| last.1 != *p)) {
                                seg.phases.push((l.t, p, l.index));
                            }
                        }
                        j.marks.push(Mark::tick(l, what, format!("{what}: {}", l.detail)));
                    }
                }
            }
            ("runner", _) if RUNNER_EVENTS.contains(&l.what) => {
                scenario.push(Mark::tick(l, l.what, format!("{}: {}", l.what, l.detail)));
            }
            _ => {}
        }
    }
    // Everything still open ends with the run.
    for st in nodes.values_mut() {
        close_node(st, end);
    }
    for st in ranges.values_mut() {
        close_lease(st, end);
    }
    for j in jobs.values_mut() {
        j.close(end, "still running when the run ended", "open");
        if let Some((a, line)) = j.paused.take() {
            j.marks.push(Mark { shape: Shape::Overlay, a, b: end, class: "paused".into(), label: String::new(), tip: "paused".into(), line });
        }
    }

    let mut lanes = Vec::new();
    for (n, st) in nodes {
        lanes.push(Lane { group: "nodes", label: format!("n{n}"), marks: st.marks, tip: String::new(), tall: false });
    }
    let mut job_stories = Vec::new();
    let mut in_order: Vec<(u64, JobState)> = jobs.into_iter().collect();
    in_order.sort_by(|a, b| a.1.first.total_cmp(&b.1.first).then(a.0.cmp(&b.0)));
    for (id, mut j) in in_order {
        let (kind, statement) = match j.kind() {
            Some(true) => ("RESTORE", j.statements.restore.clone()),
            Some(false) => ("BACKUP", j.statements.backup.clone()),
            None => ("JOB", None),
        };
        let stories = j.draw();
        let ended = j.ending();
        let told = if stories.is_empty() { "never claimed in the trace".to_string() } else { stories.join("; then ") };
        job_stories.push(format!("{kind} job {id} ({ended}): {told}"));
        let label = format!("{kind} {id}");
        lanes.push(Lane { group: "jobs", label, tip: statement.unwrap_or_default(), marks: j.marks, tall: true });
    }
    lanes.push(Lane { group: "faults", label: "injected".into(), marks: faults, tip: String::new(), tall: false });
    lanes.push(Lane { group: "storage", label: "operations".into(), marks: storage, tip: String::new(), tall: false });
    lanes.push(Lane { group: "sql", label: "statements".into(), marks: statements, tip: String::new(), tall: false });
    if !scenario.is_empty() {
        lanes.push(Lane { group: "sql", label: "scenario".into(), marks: scenario, tip: String::new(), tall: false });
    }
    for (r, st) in ranges {
        lanes.push(Lane { group: "ranges", label: format!("r{r}"), marks: st.marks, tip: String::new(), tall: false });
    }
    Picture { end, worlds, lanes, density, last_line, job_stories }
}

/// Storage events that damage or lose what was written.
const DAMAGE: &[&str] = &[
    sim::event::WRITER_DOOMED,
    sim::event::WRITE_TORN,
    sim::event::WRITE_LOST,
    sim::event::BIT_ROT,
    sim::event::CORRUPT,
    sim::event::WRITE_LANDED_REPORTED_FAILED,
    sim::event::WRITE_FAILED,
];

/// The backup code's job events (each names its job).
const JOB_EVENTS: &[&str] = &[
    backup::event::JOB_CLAIMED,
    backup::event::JOB_CLEANUP,
    backup::event::JOB_FOUND_MANIFEST,
    backup::event::JOB_MANIFEST_WRITTEN,
    backup::event::JOB_PAUSEPOINT,
    backup::event::JOB_RESUMED_FROM_CHECKPOINT,
    backup::event::JOB_RETRYING,
    backup::event::JOB_RUN_ENDED,
    backup::event::RESTORE_OFFLINE,
    backup::event::RESTORE_SPAN_INGESTED,
    backup::event::RESTORE_RESUMED,
    backup::event::RESTORE_PUBLISHING,
    backup::event::RESTORE_PUBLISHED,
    backup::event::RESTORE_REMOVED,
    backup::event::RESTORE_REMOVAL_UNFINISHED,
];

/// The scenario runner's own milestones.
const RUNNER_EVENTS: &[&str] = &[
    sim::event::BACKUP_PLAN,
    sim::event::BACKUP_ENDED,
    sim::event::CHAIN_PLAN,
    sim::event::CHAIN_LAYER,
    sim::event::CHAIN_TAKEN,
    sim::event::MID_CHAIN_RESTORE,
    sim::event::POINT_IN_TIME_RESTORED,
    sim::event::RESTORE_CANCELED_CLEANLY,
    sim::event::DAMAGED_CHAIN_REFUSED,
    sim::event::VERDICT,
    sim::event::INGESTED,
];

/// What a stored file is, from its name: the backup code's own file names.
fn file_kind(path: &str) -> &'static str {
    use backup::format::manifest::{CHECKPOINT_NAME, MANIFEST_NAME};
    use backup::lock::{APPEND_PREFIX, LOCK_PREFIX, MANIFEST_CLAIM};
    let name = path.rsplit('/').next().unwrap_or(path);
    if path.contains("/data/") || name.ends_with(".sst") {
        "data"
    } else if name == CHECKPOINT_NAME || name.starts_with(&format!("{CHECKPOINT_NAME}.")) {
        "checkpoint"
    } else if name.starts_with(LOCK_PREFIX) || name == MANIFEST_CLAIM {
        "lock"
    } else if name.starts_with(APPEND_PREFIX) {
        "appended"
    } else if name == MANIFEST_NAME || name.starts_with(&format!("{MANIFEST_NAME}.")) {
        "manifest"
    } else {
        "other"
    }
}

/// The job a data file or lock file belongs to, from its path (`…/data/<job>/…`, `BACKUP-LOCK-<job>`).
fn job_of_path(path: &str) -> Option<u64> {
    if let Some((_, rest)) = path.split_once("/data/") {
        return rest.split('/').next()?.parse().ok();
    }
    path.rsplit_once(backup::lock::LOCK_PREFIX)?.1.parse().ok()
}

/// Counts a data file to the job segment that wrote it, and learns a job's destination from its lock.
/// `damage` names what the storage did to a write reported as done (`write-torn`, `write-lost`).
fn credit_write(jobs: &mut BTreeMap<u64, JobState>, path: &str, l: &Line, damage: Option<&str>) {
    if let Some(id) = job_of_path(path) {
        if let Some(j) = jobs.get_mut(&id) {
            j.backup = true;
            if path.contains(backup::lock::LOCK_PREFIX) {
                j.prefix = path.rsplit_once('/').map(|(p, _)| p.to_string());
            } else if let Some(seg) = j.open.as_mut().filter(|seg| writer_of(path) == Some(seg.node)) {
                seg.files += 1;
                if let Some(d) = damage {
                    *seg.damaged.entry(d.trim_start_matches("write-").to_string()).or_default() += 1;
                }
            }
            j.marks.push(Mark::tick(l, &format!("file {}", file_kind(path)), format!("wrote {}", l.detail)));
        }
        return;
    }
    // A checkpoint or manifest: the open backup job writing under that prefix.
    if let Some((prefix, _)) = path.rsplit_once('/') {
        if let Some(j) = jobs.values_mut().find(|j| j.open.is_some() && j.prefix.as_deref() == Some(prefix)) {
            j.marks.push(Mark::tick(l, &format!("file {}", file_kind(path)), format!("wrote {}", l.detail)));
        }
    }
}

/// Gives each node of a `world config … nodes=N` line its lane.
fn add_nodes(nodes: &mut BTreeMap<u32, NodeState>, words: &[&str]) {
    if let Some(count) = words.iter().find_map(|w| w.strip_prefix("nodes=")).and_then(|n| n.parse::<u32>().ok()) {
        for n in 1..=count {
            nodes.entry(n).or_default();
        }
    }
}

/// The coordinator a data file's name says wrote it (`data/<job>/n<coordinator>-<attempt>-n<server>-<n>.sst`).
fn writer_of(path: &str) -> Option<u32> {
    let name = path.rsplit('/').next()?;
    node_of(name.split('-').next()?)
}

fn set_lease(st: &mut RangeState, node: u32, l: &Line) {
    if st.holder.is_some_and(|(h, _, _)| h == node) {
        return;
    }
    close_lease(st, l.t);
    st.holder = Some((node, l.t, l.index));
}

fn close_lease(st: &mut RangeState, t: f64) {
    if let Some((h, a, line)) = st.holder.take() {
        st.marks.push(Mark { shape: Shape::Bar, a, b: t, class: format!("lease h{}", h % 8), label: format!("n{h}"), tip: format!("leaseholder n{h}"), line });
    }
}

fn end_crash(st: &mut NodeState, t: f64) {
    if let Some((a, line, why)) = st.crashed.take() {
        st.marks.push(Mark { shape: Shape::Bar, a, b: t, class: "down".into(), label: why.clone(), tip: format!("down: {why}"), line });
    }
}

fn end_pause(st: &mut NodeState, t: f64) {
    if let Some((a, line)) = st.paused.take() {
        st.marks.push(Mark {
            shape: Shape::Bar,
            a,
            b: t,
            class: "paused".into(),
            label: "paused".into(),
            tip: "paused (its process stopped, state kept)".into(),
            line,
        });
    }
}

fn end_partition(st: &mut NodeState, t: f64) {
    st.cut.clear();
    if let Some((a, line, what)) = st.partitioned.take() {
        st.marks.push(Mark {
            shape: Shape::Overlay,
            a,
            b: t,
            class: "partitioned".into(),
            label: String::new(),
            tip: format!("partitioned away: cannot talk to {what}"),
            line,
        });
    }
}

fn close_node(st: &mut NodeState, t: f64) {
    end_crash(st, t);
    end_pause(st, t);
    end_partition(st, t);
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "\
   0.000000s world config network=10.0.0.0/16 seed=0 nodes=3
   0.000000s world config seed=0 nodes=3 replication=3 ranges=1 max_offset=500ms
   0.000000s world range r1 [/Min, /Max) replicas=[1, 2, 3] leaseholder=n1
   0.100000s n1 lease-acquired r1 epoch=2
   1.000000s n2 bulk BACKUP TO 'nodelocal://1/b' AS OF SYSTEM TIME '-1s'
   1.100000s n2 job-claimed job 77 by n2
   1.200000s storage write nodelocal://1/b/BACKUP-LOCK-77 191 bytes
   1.300000s storage write nodelocal://1/b/data/77/n2-1-n1-0.sst 100 bytes
   1.400000s storage write nodelocal://1/b/BACKUP-CHECKPOINT 100 bytes
   1.500000s nemesis inject crash n2: coordinator killed at Exporting
   1.500000s world crash n2 unsynced_entries_lost=0
   2.000000s world lease-expired r1 n1 -> n3 epoch=3
   2.100000s n3 lease-acquired r1 epoch=3
   3.000000s world restart n2
   4.000000s n3 job-claimed job 77 by n3
   4.100000s n3 job-resumed-from-checkpoint job 77: 1 spans done, 1 to go
   4.200000s storage write nodelocal://1/b/BACKUP 500 bytes
   4.300000s n3 job-manifest-written job 77: 1 files for 2 spans
   4.400000s n3 job-run-ended job 77 on n3: Succeeded(JobTotals { rows: 1, index_entries: 0, bytes: 9 })
   5.000000s n1 txn-commit txn=1 ts=1 writes=1
";

    #[test]
    fn a_killed_coordinator_and_its_resumed_successor_tell_their_story() {
        let p = build(TRACE);
        assert_eq!(p.worlds.len(), 1);
        assert_eq!(p.job_stories.len(), 1, "{:?}", p.job_stories);
        let story = &p.job_stories[0];
        assert!(story.starts_with("BACKUP job 77 (succeeded): n2 · 1 data file written · ✕ coordinator killed at Exporting; then n3"), "{story}");
        assert!(story.contains("resumed: 1 spans done, 1 to go · 0 data files written · manifest: 1 files for 2 spans · succeeded"), "{story}");
        let node2 = p.lanes.iter().find(|l| l.label == "n2").expect("n2 lane");
        let down = node2.marks.iter().find(|m| m.class == "down").expect("a down bar");
        assert_eq!((down.a, down.b), (1.5, 3.0));
        assert_eq!(down.label, "coordinator killed at Exporting");
        let r1 = p.lanes.iter().find(|l| l.label == "r1").expect("r1 lane");
        let holders: Vec<&str> = r1.marks.iter().filter(|m| m.shape == Shape::Bar).map(|m| m.label.as_str()).collect();
        assert_eq!(holders, ["n1", "n3"]);
        let job = p.lanes.iter().find(|l| l.group == "jobs").expect("job lane");
        assert_eq!(job.label, "BACKUP 77");
        assert!(job.tip.contains("BACKUP TO 'nodelocal://1/b'"), "{}", job.tip);
        // The checkpoint (no job id in its name) is credited through the job's lock's directory.
        assert!(job.marks.iter().any(|m| m.class == "file checkpoint"), "{:?}", job.marks);
        assert_eq!(p.density.commits.iter().sum::<u32>(), 1);
        let phases: Vec<(f64, &str)> = job.marks.iter().filter(|m| m.class.starts_with("phase")).map(|m| (m.a, m.class.as_str())).collect();
        assert_eq!(phases, [(1.1, "phase ph-exporting"), (4.0, "phase ph-exporting"), (4.3, "phase ph-finishing")]);
    }

    #[test]
    fn each_fresh_cluster_starts_its_lanes_again() {
        let trace = format!(
            "{TRACE}   6.000000s world config network=10.1.0.0/16 seed=9 nodes=3\n   6.000000s world range r1 [/Min, /Max) replicas=[1, 2, 3] leaseholder=n2\n   7.000000s n1 bulk x\n"
        );
        let p = build(&trace);
        assert_eq!(p.worlds.len(), 2);
        let r1 = p.lanes.iter().find(|l| l.label == "r1").expect("r1 lane");
        let bars: Vec<(f64, f64, &str)> = r1.marks.iter().filter(|m| m.shape == Shape::Bar).map(|m| (m.a, m.b, m.label.as_str())).collect();
        assert_eq!(bars, [(0.0, 2.0, "n1"), (2.0, 6.0, "n3"), (6.0, 7.0, "n2")]);
    }

    #[test]
    fn a_restore_is_told_as_a_restore_and_a_stale_run_does_not_speak_for_the_current_one() {
        let trace = "\
   0.000000s world config network=10.0.0.0/16 seed=0 nodes=3
   1.000000s n1 bulk BACKUP TO 'nodelocal://1/b'
   2.000000s n1 bulk RESTORE FROM 'nodelocal://1/b'
   2.100000s n1 job-claimed job 9 by n1
   3.000000s n2 job-claimed job 9 by n2
   3.100000s n1 job-run-ended restore job 9 on n1: Failed(\"lost its claim\")
   3.200000s n2 restore-offline job 9: 2 descriptors offline
   4.000000s n2 job-run-ended restore job 9 on n2: Succeeded(JobTotals { rows: 1, index_entries: 0, bytes: 9 })
   5.000000s n3 bulk BACKUP TO 'nodelocal://1/c'
   5.100000s n3 job-claimed job 10 by n3
   5.200000s operator job-control CANCEL JOB 10 via n3: ok
";
        let p = build(trace);
        let lanes: Vec<(&str, &str)> = p.lanes.iter().filter(|l| l.group == "jobs").map(|l| (l.label.as_str(), l.tip.as_str())).collect();
        assert_eq!(lanes, [("RESTORE 9", "RESTORE FROM 'nodelocal://1/b'"), ("BACKUP 10", "BACKUP TO 'nodelocal://1/c'")]);
        assert_eq!(
            p.job_stories[0], "RESTORE job 9 (succeeded): n1 · handed to another coordinator; then n2 · 2 descriptors offline · succeeded",
            "n1's late end does not end n2's run"
        );
        assert!(p.job_stories[1].starts_with("BACKUP job 10 (canceled by the operator): n3 · 0 data files written"), "{}", p.job_stories[1]);
        let job9 = p.lanes.iter().find(|l| l.label == "RESTORE 9").expect("lane");
        assert!(job9.marks.iter().any(|m| m.class == "stale"), "the stale end is still marked");
        assert!(job9.marks.iter().all(|m| m.class != "phase ph-exporting"), "a restore has no exporting phase");
    }

    #[test]
    fn a_data_file_counts_for_the_coordinator_its_name_names() {
        let trace = "\
   0.000000s world config network=10.0.0.0/16 seed=0 nodes=3
   1.000000s n1 job-claimed job 5 by n1
   2.000000s n2 job-claimed job 5 by n2
   2.100000s storage write nodelocal://1/b/data/5/n1-7-n3-0.sst 10 bytes
   2.200000s storage write nodelocal://1/b/data/5/n2-8-n3-0.sst 10 bytes
   3.000000s n2 job-run-ended job 5 on n2: Succeeded(x)
";
        let p = build(trace);
        assert_eq!(
            p.job_stories[0],
            "BACKUP job 5 (succeeded): n1 · 0 data files written · handed to another coordinator; then n2 · 1 data file written · succeeded"
        );
    }

    #[test]
    fn file_kinds_follow_the_backup_codes_names() {
        assert_eq!(file_kind("s3://b/p/BACKUP"), "manifest");
        assert_eq!(file_kind("s3://b/p/BACKUP-CHECKPOINT"), "checkpoint");
        assert_eq!(file_kind("s3://b/p/BACKUP-LOCK-12"), "lock");
        assert_eq!(file_kind("s3://b/p/BACKUP-CLAIM"), "lock");
        assert_eq!(file_kind("s3://b/p/BACKUP-APPENDED-12"), "appended");
        assert_eq!(file_kind("s3://b/p/data/12/n1-2-n3-0.sst"), "data");
    }

    #[test]
    fn lines_that_are_not_events_are_skipped() {
        assert!(parse_line(0, "not a trace line").is_none());
        assert!(build("").lanes.iter().all(|l| l.marks.is_empty()));
    }
}
