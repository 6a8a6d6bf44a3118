//! The directives a test file may use, following CockroachDB's names where it has them
//! (`pkg/ccl/backupccl/testdata/backup-restore`). Each is documented, with an example, in
//! `scenarios/testdata/README.md`.
//!
//! - `new-cluster name=NAME [nodes=N] [localities=(R1,R2.Z2,...)]`: starts another cluster (its
//!   own nodes, catalog and clocks) on the file's storage service, as a restore target:
//!   `exec-sql cluster=NAME` and `query-sql cluster=NAME` run there. With `localities`, a node
//!   for each, node 1 first, started with `--locality=region=R1` (`region=R2,zone=Z2`).
//! - `exec-sql [user=NAME] [node=N] [cluster=NAME] [aost=TAG] [expect-error-regex=RE]`: runs the input's statements (SQL,
//!   BACKUP, RESTORE, SHOW, job control) in order through node `N`'s gateway as `NAME` (root by
//!   default); prints nothing on success, `ERROR: <message>` for the first statement that fails.
//!   With `expect-error-regex`, a statement must fail with a message the regex matches (the output
//!   is the error), or the directive fails.
//!   With `aost=TAG`, `AS OF SYSTEM TIME TAG` in the input reads the time `save-cluster-ts` saved.
//! - `query-sql [user=NAME] [node=N] [aost=TAG] [columns=(A,B)] [stable]`: the same, printing
//!   each statement's rows as the shell does (only columns `A` and `B`, in that order, with
//!   `columns`: a summary that holds across seeds, e.g. SHOW BACKUP without its times). With
//!   `stable` (`exec-sql` too), times, job ids and cluster ids print as placeholders.
//! - `check restored=DB.TABLE original=DB.TABLE [aost=TAG]`: compares a restored table, row for
//!   row and column for column, with the original as of a saved time (the cluster's own MVCC
//!   history, which the backup code does not compute: an oracle independent of it). Prints
//!   `<restored> equals <original> ... (N rows)`, or the differing rows.
//! - `save-cluster-ts tag=TAG`: saves the cluster's current time under `TAG`.
//! - `corrupt-backup [file=NAME|random|data]`: flips a bit in the middle of file `NAME` (the
//!   `BACKUP` manifest by default; `random`: one of the location's files, the seed's pick;
//!   `data`: the first data file by name its manifest lists, whatever the seed called it)
//!   at the location the input names.
//! - `storage-outage d=DURATION`: every storage operation fails with a 503 for that long.
//! - `storage-faults [transient=N] [slow=N] [lands-but-fails=N] [stale-list=N]`: the storage
//!   service's dice, out of 1000 operations, until the next `storage-faults` (none: all off).
//! - `advance-time d=DURATION`: lets simulated time pass (`10s`, `2h`, `3days`), the cluster ticking:
//!   GC, leases and jobs go on.
//! - `crash node=N`, `restart node=N`: a node dies (its unsynced state lost) or comes back.
//! - `partition a=N b=M`, `heal`: cut the network between two nodes; restore every link.
//! - `backup tag=TAG [node=N] [aost=TAG]`: runs the input's BACKUP (with `WITH detached`, it returns at
//!   once and the job runs on) and saves its job's id under `TAG` (`restore tag=` the same for a
//!   RESTORE); `job tag=TAG
//!   pause|resume|cancel` runs PAUSE / RESUME / CANCEL JOB on it; `job tag=TAG
//!   wait-for-state=STATE` waits (up to ten simulated minutes) for SHOW JOBS to show it `STATE`.
//! - `split table=DB.T [at=K]`: splits the range holding the table's start (or its primary key
//!   `K`) there; `transfer-lease table=DB.T to=N|other`: moves the lease of the table's first
//!   range to node `N` (or to another of its replicas); `gc table=DB.T ttl=DURATION`: garbage-collects the table's ranges now, up to
//!   `now - ttl`, and waits for every range's threshold to move; `sleep d=DURATION`: as `advance-time`.
//! - `replace`: each input line `REGEX => REPLACEMENT` rewrites what matches in every later
//!   directive's output (each value of a table before it is laid out, so columns still line up;
//!   `$1` names a group), in order, after `stable`: the file's own summary of what varies by seed.
//!   With no lines, the file's replacements are dropped.
//! - `scheduler every=DURATION`: the file's cluster runs backup schedules, each node's scheduler
//!   looking for due runs every `DURATION` (CockroachDB's `jobs.scheduler.pace`), and its GC
//!   queues honour protected timestamps (read before the file runs: [`super::scheduler_declared`];
//!   without it the cluster has no scheduler, as every other file's).
//! - `schedule label=LABEL pause|resume|drop`: runs PAUSE / RESUME / DROP SCHEDULE on every
//!   schedule SHOW SCHEDULES lists under `LABEL` (a CREATE SCHEDULE's pair), whose ids vary by
//!   seed; prints nothing, or each refusal with the id as `<schedule>`.
//! - `sweep seeds=N [faults=swarm|none] [safety=DURATION]`: the file also runs across seeds with
//!   background faults (read before the file runs: [`super::sweep_declared`]).
//! - `compose workload= faults= operation= checks=`: the file is a scenario of named parts
//!   ([`crate::parts`]), run by [`super::run_file_with`] in a simulator of its own.

use super::cluster::Cluster;
use super::session::{Connection, Printed};
use crate::run::drive;
use model::kv::NodeId;
use sim::World;
use std::collections::BTreeMap;

/// What a directive gave: its output, or why it could not run (an unknown directive or argument,
/// a bad value).
pub enum Outcome {
    /// The output to compare with the file's.
    Output(String),
    /// The directive could not run.
    Broken(String),
}

/// The directives, for the error naming an unknown one.
pub const DIRECTIVES: [&str; 25] = [
    "new-cluster",
    "exec-sql",
    "query-sql",
    "check",
    "save-cluster-ts",
    "backup",
    "job",
    "corrupt-backup",
    "storage-outage",
    "storage-faults",
    "restore",
    "advance-time",
    "sleep",
    "crash",
    "restart",
    "partition",
    "heal",
    "split",
    "transfer-lease",
    "gc",
    "replace",
    "sweep",
    "compose",
    "scheduler",
    "schedule",
];

/// The cluster a file runs in and its open connections.
pub struct State {
    /// The simulated cluster.
    pub cluster: Cluster,
    connections: BTreeMap<String, Connection>,
    /// Timestamps saved by `save-cluster-ts`, by tag.
    tags: BTreeMap<String, String>,
    /// Job ids saved by `backup tag=`, by tag.
    jobs: BTreeMap<String, i64>,
    /// The file's seed (a `new-cluster`'s world draws from it).
    seed: u64,
    /// How many random picks (`corrupt-backup file=random`) the file has made: each draws from a
    /// stream of its own.
    picks: u64,
    /// Why the catalog could not be bootstrapped (every directive then fails saying so).
    bootstrap: Option<String>,
    /// The file's `replace` rules, in order.
    replacements: Replacements,
}

/// A file's `replace` rules: regexes it supplies for output that varies by seed, applied in order.
#[derive(Default)]
struct Replacements(Vec<(regex::Regex, String)>);

impl Replacements {
    /// Reads a `replace` stanza's lines (`REGEX => REPLACEMENT`; blank lines skipped), refusing a
    /// line without the arrow or with a regex that does not compile, naming it.
    fn parse(input: &str) -> Result<Replacements, String> {
        let mut rules = Vec::new();
        for (i, line) in input.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let (re, to) = line.split_once(" => ").ok_or_else(|| format!("replace: line {} ({line:?}) is not `REGEX => REPLACEMENT`", i + 1))?;
            let re = regex::Regex::new(re).map_err(|e| format!("replace: line {}: the regex {re:?} does not compile: {e}", i + 1))?;
            rules.push((re, to.to_string()));
        }
        Ok(Replacements(rules))
    }

    /// `text` with every rule applied, in order.
    fn apply(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |t, (re, to)| re.replace_all(&t, to.as_str()).into_owned())
    }
}

impl State {
    /// A started cluster with its catalog bootstrapped.
    pub async fn new(mut world: World, seed: u64) -> State {
        let setup = world.add_client("setup");
        let task = setup.spawn(move |kv| async move { model::catalog::bootstrap(&kv).await.map_err(|e| e.to_string()) });
        // A fresh cluster always bootstraps; if it did not, the first statement says why.
        let bootstrapped = drive(&mut world, task).await;
        // Another client's clock may lag the bootstrap's commit by up to the clocks' offset (the
        // simulated cluster has no uncertainty intervals): wait it out before the file's first
        // statement, so that every connection sees the bootstrapped catalog.
        let settle = world.cfg.max_clock_offset * 2;
        let until = madsim::time::Instant::now() + settle;
        while madsim::time::Instant::now() < until {
            madsim::time::sleep(std::time::Duration::from_millis(50)).await;
            world.tick();
        }
        State {
            cluster: Cluster::new(world),
            connections: BTreeMap::new(),
            tags: BTreeMap::new(),
            jobs: BTreeMap::new(),
            seed,
            picks: 0,
            bootstrap: bootstrapped.err(),
            replacements: Replacements::default(),
        }
    }

    /// Runs one directive.
    pub async fn run(&mut self, mut case: datadriven::TestCase) -> Outcome {
        if let Some(e) = &self.bootstrap {
            return Outcome::Broken(format!("the simulated cluster could not bootstrap its catalog: {e}"));
        }
        let tidied = matches!(case.directive.as_str(), "exec-sql" | "query-sql");
        match self.dispatch(&mut case).await {
            // exec-sql and query-sql applied the rules value by value, before laying out tables.
            Ok(out) if !tidied => match case.expect_empty() {
                Ok(()) => Outcome::Output(self.replacements.apply(&out)),
                Err(e) => Outcome::Broken(format!("{}: {e}", case.directive)),
            },
            Ok(out) => match case.expect_empty() {
                Ok(()) => Outcome::Output(out),
                Err(e) => Outcome::Broken(format!("{}: {e}", case.directive)),
            },
            Err(why) => Outcome::Broken(why),
        }
    }

    async fn dispatch(&mut self, case: &mut datadriven::TestCase) -> Result<String, String> {
        let name = case.directive.clone();
        let arg = |e: datadriven::DataDrivenError| format!("{name}: {e}");
        match name.as_str() {
            "exec-sql" | "query-sql" => {
                let user: String = case.try_take_arg("user").map_err(arg)?.unwrap_or_else(|| "root".into());
                let node: NodeId = case.try_take_arg("node").map_err(arg)?.unwrap_or(1);
                let expect: Option<String> = case.try_take_arg("expect-error-regex").map_err(arg)?;
                let aost: Option<String> = case.try_take_arg("aost").map_err(arg)?;
                let columns: Option<Vec<String>> = case.try_take_args("columns").map_err(arg)?;
                let on: Option<String> = case.try_take_arg("cluster").map_err(arg)?;
                let stable = case.take_flag("stable").map_err(arg)?;
                if columns.is_some() && name != "query-sql" {
                    return Err(format!("{name}: columns= is for query-sql"));
                }
                let sql = self.with_aost(aost, &case.input)?;
                let expect = expect.map(|re| regex::Regex::new(&re).map_err(|e| format!("expect-error-regex: {e}"))).transpose()?;
                let world = self.cluster.named(on.as_deref())?;
                if !world.node_ids().contains(&node) {
                    return Err(format!("there is no node n{node}; the cluster has n1..n{}", world.cfg.nodes));
                }
                let conn = connection(&mut self.connections, world, on.as_deref(), &user);
                let results = conn.run(&mut self.cluster, &sql, node).await.ok_or("the connection's task ended")?;
                let tidy = |text: &str| {
                    let text = if stable { stable_text(text) } else { text.to_string() };
                    self.replacements.apply(&text)
                };
                print(name == "query-sql", &results, expect.as_ref(), columns.as_deref(), &tidy)
            }
            "replace" => {
                self.replacements = Replacements::parse(&case.input)?;
                Ok(String::new())
            }
            "advance-time" | "sleep" => {
                let d: String = case.take_arg("d").map_err(arg)?;
                let d = humantime::parse_duration(&d).map_err(|e| format!("advance-time: d={d}: {e}"))?;
                self.cluster.pass(d).await;
                Ok(String::new())
            }
            "crash" | "restart" => {
                let node: NodeId = case.take_arg("node").map_err(arg)?;
                self.check_node(node)?;
                let done = if name == "crash" { self.cluster.world.crash(node) } else { self.cluster.world.restart(node) };
                Ok(if done { String::new() } else { format!("n{node} was already {}\n", if name == "crash" { "down" } else { "up" }) })
            }
            "partition" => {
                let (a, b): (NodeId, NodeId) = (case.take_arg("a").map_err(arg)?, case.take_arg("b").map_err(arg)?);
                self.check_node(a)?;
                self.check_node(b)?;
                self.cluster.world.partition(a, b);
                Ok(String::new())
            }
            "check" => {
                let restored: String = case.take_arg("restored").map_err(arg)?;
                let original: String = case.take_arg("original").map_err(arg)?;
                let aost: Option<String> = case.try_take_arg("aost").map_err(arg)?;
                let as_of = match &aost {
                    None => String::new(),
                    Some(tag) => {
                        let ts = self.tags.get(tag).ok_or_else(|| format!("aost={tag}: no save-cluster-ts tag={tag} before this"))?;
                        format!(" AS OF SYSTEM TIME '{ts}'")
                    }
                };
                let conn = connection(&mut self.connections, &mut self.cluster.world, None, "root");
                let mut read = Vec::new();
                for sql in [format!("SELECT * FROM {original}{as_of}"), format!("SELECT * FROM {restored}")] {
                    let out = conn.run(&mut self.cluster, &sql, 1).await.ok_or("the connection's task ended")?;
                    match out.into_iter().next() {
                        Some(Ok(Some(table))) => read.push(table.render()),
                        Some(Ok(None)) => return Err(format!("check: {sql} returned no rows to compare")),
                        Some(Err(e)) => return Ok(format!("ERROR: {sql}: {e}\n")),
                        None => return Err(format!("check: {sql} gave no result")),
                    }
                }
                let when = aost.map(|t| format!(" as of {t}")).unwrap_or_default();
                if read[0] == read[1] {
                    let rows = read[0].lines().last().unwrap_or_default().to_string();
                    Ok(format!("{restored} equals {original}{when} {rows}\n"))
                } else {
                    Ok(format!(
                        "{restored} differs from {original}{when}:\n{}",
                        super::labelled_diff(&format!("{original}{when}"), &restored, &read[0], &read[1])
                    ))
                }
            }
            "save-cluster-ts" => {
                let tag: String = case.take_arg("tag").map_err(arg)?;
                let client = self.cluster.world.add_client("clock");
                let now = self.cluster.wait(client.spawn(|kv| async move { model::Kv::now(&kv) })).await;
                self.tags.insert(tag, now.to_string());
                Ok(String::new())
            }
            "corrupt-backup" => {
                let file: String = case.try_take_arg("file").map_err(arg)?.unwrap_or_else(|| backup::format::manifest::MANIFEST_NAME.to_string());
                let location = case.input.trim();
                let url =
                    backup::storage::url::StorageUrl::parse(location).map_err(|e| format!("corrupt-backup: the input must be a backup's location: {e}"))?;
                let file = if file == "random" {
                    // One of the location's files (its subdirectories' too), the seed's pick.
                    let root = sim::storage::SimStorage::key(&url, 1, "");
                    let files: Vec<String> =
                        self.cluster.world.storage.list_all().into_iter().filter_map(|(k, _)| k.strip_prefix(&root).map(str::to_string)).collect();
                    if files.is_empty() {
                        return Err(format!("corrupt-backup: {location} holds no file"));
                    }
                    self.picks += 1;
                    let mut rng = sim::SeedTree::new(self.seed).stream(&format!("file/corrupt-backup/{}", self.picks));
                    files[rand::Rng::gen_range(&mut rng, 0..files.len())].clone()
                } else if file == "data" {
                    // The first data file by name that the location's manifest lists: a file
                    // every restore of the location reads, whatever its name on this seed (an
                    // attempt the faults cut short may have left others, which nothing reads).
                    let manifest_key = sim::storage::SimStorage::key(&url, 1, backup::format::manifest::MANIFEST_NAME);
                    let bytes = self.cluster.world.storage.get(&manifest_key).ok_or_else(|| format!("corrupt-backup: {location} holds no manifest"))?;
                    let manifest = backup::format::manifest::Manifest::decode(location, &bytes)
                        .map_err(|e| format!("corrupt-backup file=data reads the manifest, unencrypted: {e}"))?;
                    manifest.files.iter().map(|f| f.path.clone()).min().ok_or_else(|| format!("corrupt-backup: {location} lists no data file"))?
                } else {
                    file
                };
                let key = sim::storage::SimStorage::key(&url, 1, &file);
                let mut at = 0;
                let flipped = self.cluster.world.storage.corrupt(&key, |bytes| {
                    at = bytes.len() / 2;
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= 1;
                    }
                });
                if !flipped {
                    return Err(format!("corrupt-backup: {location} holds no {file}"));
                }
                Ok(format!("flipped bit 0 of byte {at} of {file}\n"))
            }
            "storage-faults" => {
                let mut rate = |name: &str| -> Result<u32, String> {
                    let r: Option<u32> = case.try_take_arg(name).map_err(arg)?;
                    match r {
                        Some(r) if r > 1000 => Err(format!("storage-faults: {name}={r}: a rate out of 1000 operations, at most 1000")),
                        r => Ok(r.unwrap_or(0)),
                    }
                };
                let faults = sim::storage::StorageFaults {
                    transient_per_mille: rate("transient")?,
                    slow_per_mille: rate("slow")?,
                    lands_but_fails_per_mille: rate("lands-but-fails")?,
                    stale_list_per_mille: rate("stale-list")?,
                };
                self.cluster.world.storage.set_faults(faults);
                Ok(String::new())
            }
            "storage-outage" => {
                let d: String = case.take_arg("d").map_err(arg)?;
                let d = humantime::parse_duration(&d).map_err(|e| format!("storage-outage: d={d}: {e}"))?;
                self.cluster.world.storage.outage(d);
                Ok(String::new())
            }
            "scheduler" => {
                // Read before the file runs (see [`super::scheduler_declared`]): the default
                // cluster starts with it. Here only checked.
                let every: String = case.take_arg("every").map_err(arg)?;
                super::parse_scheduler_pace(&every)?;
                Ok(String::new())
            }
            "sweep" => {
                // Read by the harness and `backup-sim run` before the file runs (see
                // [`super::sweep_declared`]); here only checked.
                super::SweepSpec::from_case(&std::mem::take(&mut case.args))?;
                Ok(String::new())
            }
            "heal" => {
                self.cluster.world.heal();
                Ok(String::new())
            }
            "backup" | "restore" => {
                let tag: String = case.take_arg("tag").map_err(arg)?;
                let verb = name.to_uppercase();
                let first = case.input.split_whitespace().next().unwrap_or_default().to_uppercase();
                if first != verb {
                    return Err(format!("{name}: the input must be one {verb} statement, not {:?}", case.input.trim()));
                }
                let node: NodeId = case.try_take_arg("node").map_err(arg)?.unwrap_or(1);
                self.check_node(node)?;
                let aost: Option<String> = case.try_take_arg("aost").map_err(arg)?;
                let sql = self.with_aost(aost, &case.input)?;
                let conn = connection(&mut self.connections, &mut self.cluster.world, None, "root");
                let results = conn.run(&mut self.cluster, &sql, node).await.ok_or("the connection's task ended")?;
                match results.as_slice() {
                    [Ok(Some(table))] => match (table.columns.first().map(String::as_str), table.rows.first().and_then(|r| r.first())) {
                        (Some("job_id"), Some(model::Datum::Int(id))) => {
                            self.jobs.insert(tag, *id);
                            Ok(String::new())
                        }
                        _ => Err(format!("{name}: {:?} did not return a job id", case.input.trim())),
                    },
                    [Err(e)] => Ok(format!("ERROR: {e}\n")),
                    _ => Err(format!("{name}: the input must be one {verb} statement")),
                }
            }
            "schedule" => {
                let label: String = case.take_arg("label").map_err(arg)?;
                let mut ops = Vec::new();
                for op in ["pause", "resume", "drop"] {
                    if case.take_flag(op).map_err(arg)? {
                        ops.push(op);
                    }
                }
                let [op] = ops.as_slice() else { return Err("schedule: give one of pause, resume, drop".into()) };
                let conn = connection(&mut self.connections, &mut self.cluster.world, None, "root");
                // The ids the label names, as SHOW SCHEDULES lists them (they vary by seed).
                let out = conn.run(&mut self.cluster, "SHOW SCHEDULES", 1).await.ok_or("the connection's task ended")?;
                let ids: Vec<i64> = match out.into_iter().next() {
                    Some(Ok(Some(table))) => {
                        let at = |name: &str| table.columns.iter().position(|c| c == name).ok_or(format!("SHOW SCHEDULES has no {name} column"));
                        let (id_col, label_col) = (at("id")?, at("label")?);
                        table
                            .rows
                            .iter()
                            .filter(|r| r.get(label_col) == Some(&model::Datum::String(label.clone())))
                            .filter_map(|r| match r.get(id_col) {
                                Some(model::Datum::Int(id)) => Some(*id),
                                _ => None,
                            })
                            .collect()
                    }
                    Some(Err(e)) => return Ok(format!("ERROR: {e}\n")),
                    _ => Vec::new(),
                };
                if ids.is_empty() {
                    return Ok(format!("no schedule labeled {label:?}\n"));
                }
                let mut printed = String::new();
                for id in ids {
                    let sql = format!("{} SCHEDULE {id}", op.to_uppercase());
                    if let Some(Err(e)) = conn.run(&mut self.cluster, &sql, 1).await.ok_or("the connection's task ended")?.into_iter().next() {
                        printed.push_str(&format!("ERROR: {}\n", e.replace(&id.to_string(), "<schedule>")));
                    }
                }
                Ok(printed)
            }
            "job" => {
                let tag: String = case.take_arg("tag").map_err(arg)?;
                let id = *self.jobs.get(&tag).ok_or_else(|| format!("job: no backup or restore tag={tag} before this"))?;
                let wait: Option<String> = case.try_take_arg("wait-for-state").map_err(arg)?;
                let mut ops = Vec::new();
                for op in ["pause", "resume", "cancel"] {
                    if case.take_flag(op).map_err(arg)? {
                        ops.push(op);
                    }
                }
                let conn = connection(&mut self.connections, &mut self.cluster.world, None, "root");
                match (ops.as_slice(), wait) {
                    ([op], None) => {
                        let sql = format!("{} JOB {id}", op.to_uppercase());
                        match conn.run(&mut self.cluster, &sql, 1).await.ok_or("the connection's task ended")?.into_iter().next() {
                            Some(Err(e)) => Ok(format!("ERROR: {}\n", e.replace(&id.to_string(), &tag))),
                            _ => Ok(String::new()),
                        }
                    }
                    ([], Some(want)) => {
                        // SHOW JOBS every second of simulated time, for up to ten minutes.
                        let mut status = String::from("unknown");
                        for _ in 0..600 {
                            let out = conn.run(&mut self.cluster, "SHOW JOBS", 1).await.ok_or("the connection's task ended")?;
                            if let Some(Ok(Some(table))) = out.into_iter().next() {
                                let col = table.columns.iter().position(|c| c == "status").ok_or("SHOW JOBS has no status column")?;
                                if let Some(row) = table.rows.iter().find(|r| r.first() == Some(&model::Datum::Int(id))) {
                                    status = match &row[col] {
                                        model::Datum::String(s) => s.clone(),
                                        other => format!("{other:?}"),
                                    };
                                }
                            }
                            if status == want {
                                return Ok(String::new());
                            }
                            self.cluster.pass(std::time::Duration::from_secs(1)).await;
                        }
                        Ok(format!("job {tag} is {status} after 10 minutes, not {want}\n"))
                    }
                    _ => Err("job: give one of pause, resume, cancel, or wait-for-state=STATE".into()),
                }
            }
            "new-cluster" => {
                let cname: String = case.take_arg("name").map_err(arg)?;
                let nodes: Option<usize> = case.try_take_arg("nodes").map_err(arg)?;
                let localities: Vec<String> = case.try_take_args("localities").map_err(arg)?.unwrap_or_default();
                let localities = localities.iter().map(|l| node_locality(l)).collect::<Result<Vec<_>, _>>()?;
                // As CockroachDB's runner: a cluster of localities has a node for each.
                let nodes = match (nodes, localities.len()) {
                    (None, 0) => sim::WorldConfig::default().nodes,
                    (None, n) => n,
                    (Some(n), l) if l == 0 || l == n => n,
                    (Some(n), l) => return Err(format!("new-cluster: {l} localities for nodes={n}: give one locality per node")),
                };
                if cname == "default" || self.cluster.others.contains_key(&cname) {
                    return Err(format!("new-cluster: a cluster named {cname:?} exists already"));
                }
                if !(1..=9).contains(&nodes) {
                    return Err(format!("new-cluster: nodes={nodes}: from 1 to 9"));
                }
                let network = 1 + self.cluster.others.len() as u8;
                let cfg = sim::WorldConfig {
                    network,
                    nodes,
                    replication: sim::WorldConfig::default().replication.min(nodes),
                    localities,
                    ..sim::WorldConfig::default()
                };
                let main = &self.cluster.world;
                let mut world = World::start_with(cfg, self.seed ^ 0x6e65_7763 ^ network as u64, main.trace.clone(), main.storage.clone());
                let boot = world.add_client("setup").spawn(|kv| async move { model::catalog::bootstrap(&kv).await.map_err(|e| e.to_string()) });
                let settle = world.cfg.max_clock_offset * 2;
                self.cluster.others.insert(cname.clone(), world);
                self.cluster.wait(boot).await.map_err(|e| format!("new-cluster: {cname} could not bootstrap its catalog: {e}"))?;
                self.cluster.pass(settle).await;
                Ok(String::new())
            }
            "split" => {
                let table: String = case.take_arg("table").map_err(arg)?;
                let at: Option<i64> = case.try_take_arg("at").map_err(arg)?;
                let span = self.table_span(&table).await?;
                let key = match at {
                    Some(v) => model::encoding::encode_index_key(span.0, 1, &[model::Datum::Int(v)]),
                    None => span.1.start.clone(),
                };
                let desc = self.cluster.world.directory.lookup(&key).ok_or_else(|| format!("split: no range holds {key}"))?;
                if desc.span.start == key {
                    return Ok(format!("{table}: a range already starts at {key}\n"));
                }
                // Asked again every 10 s for up to a minute: a leaseholder that dies (or loses its
                // lease) with the request in hand drops it.
                for _ in 0..6 {
                    let Some(desc) = self.cluster.world.directory.lookup(&key) else { break };
                    self.cluster.world.split(desc.range_id, key.clone());
                    if self.wait_for(|w| w.directory.lookup(&key).is_some_and(|d| d.span.start == key)).await {
                        return Ok(String::new());
                    }
                }
                Ok(format!("{table}: the split at {key} did not apply within a minute\n"))
            }
            "transfer-lease" => {
                let table: String = case.take_arg("table").map_err(arg)?;
                let to: String = case.take_arg("to").map_err(arg)?;
                let named: Option<NodeId> = match to.as_str() {
                    "other" => None,
                    n => Some(n.parse().map_err(|_| format!("transfer-lease: to={n}: a node number or other"))?),
                };
                if let Some(n) = named {
                    self.check_node(n)?;
                }
                let (_, span) = self.table_span(&table).await?;
                let desc = self.cluster.world.directory.lookup(&span.start).ok_or_else(|| format!("transfer-lease: no range holds {table}"))?;
                // `to=other`: the lowest-numbered replica that does not hold the lease (which
                // nodes hold replicas follows the seed).
                let to: NodeId = match named {
                    Some(n) => n,
                    None => desc
                        .replicas
                        .iter()
                        .copied()
                        .filter(|&n| n != desc.lease.holder)
                        .min()
                        .ok_or_else(|| format!("transfer-lease: {table}'s first range has no other replica"))?,
                };
                if desc.lease.holder == to {
                    return Ok(format!("n{to} already holds the lease of {table}'s first range\n"));
                }
                if !desc.replicas.contains(&to) {
                    let on: Vec<String> = desc.replicas.iter().map(|n| format!("n{n}")).collect();
                    return Ok(format!("n{to} holds no replica of {table}'s first range (its replicas: {})\n", on.join(", ")));
                }
                if !self.cluster.world.transfer_lease(desc.range_id, to) {
                    return Ok(format!("n{to} cannot take the lease of {table}'s first range now (down, or cut off from a quorum)\n"));
                }
                let moved = self.wait_for(|w| w.directory.get(desc.range_id).is_some_and(|d| d.lease.holder == to)).await;
                Ok(if moved { String::new() } else { format!("the lease of {table}'s first range did not reach n{to} within 10s\n") })
            }
            "gc" => {
                let table: String = case.take_arg("table").map_err(arg)?;
                let ttl: String = case.take_arg("ttl").map_err(arg)?;
                let ttl = humantime::parse_duration(&ttl).map_err(|e| format!("gc: ttl={ttl}: {e}"))?;
                let (_, span) = self.table_span(&table).await?;
                // Every range of the table must end with its threshold at least this high (the
                // clocks may differ by up to their maximum offset).
                let client = self.cluster.world.add_client("gc");
                let slack = ttl + self.cluster.world.cfg.max_clock_offset;
                let floor = self.cluster.wait(client.spawn(move |kv| async move { model::Kv::now(&kv).sub(slack) })).await;
                // Asked again every few seconds for up to a minute: a leaseholder that dies (or
                // loses its lease) with the request in hand drops it.
                for _ in 0..12 {
                    let mut behind = Vec::new();
                    let mut cursor = span.start.clone();
                    while cursor < span.end {
                        let Some(desc) = self.cluster.world.directory.lookup(&cursor) else { break };
                        let piece = model::Span::new(cursor.clone(), desc.span.end.clone().min(span.end.clone()));
                        let read = client.spawn(move |kv| async move { model::ClusterKv::gc_threshold(&kv, &piece).await });
                        if !self.cluster.wait(read).await.is_ok_and(|t| t >= floor) {
                            behind.push(desc.range_id);
                        }
                        cursor = desc.span.end.clone();
                    }
                    if behind.is_empty() {
                        return Ok(String::new());
                    }
                    for range in behind {
                        self.cluster.world.gc_now(range, ttl);
                    }
                    self.cluster.pass(std::time::Duration::from_secs(5)).await;
                }
                Ok(format!("{table}: the GC threshold did not pass now - {} within a minute\n", humantime::format_duration(ttl)))
            }
            other => Err(format!("unknown directive {other:?}; the directives are {}", DIRECTIVES.join(", "))),
        }
    }

    /// `input` with `AS OF SYSTEM TIME TAG` reading the time `save-cluster-ts tag=TAG` saved
    /// (`aost` names the tag); `input` as it is without one.
    fn with_aost(&self, aost: Option<String>, input: &str) -> Result<String, String> {
        let Some(tag) = aost else { return Ok(input.to_string()) };
        let ts = self.tags.get(&tag).ok_or_else(|| format!("aost={tag}: no save-cluster-ts tag={tag} before this"))?;
        let re = regex::Regex::new(&format!(r"(?i)(AS\s+OF\s+SYSTEM\s+TIME\s+){}\b", regex::escape(&tag))).expect("a literal tag");
        if !re.is_match(input) {
            return Err(format!("aost={tag}: no AS OF SYSTEM TIME {tag} in the input"));
        }
        Ok(re.replace_all(input, format!("${{1}}'{ts}'")).into_owned())
    }

    /// The id and key span of the table named `DB.TABLE`, read from the catalog now.
    async fn table_span(&mut self, table: &str) -> Result<(u32, model::Span), String> {
        let (db, name) = table.split_once('.').ok_or_else(|| format!("{table:?}: name a table as DB.TABLE"))?;
        let (db, name) = (db.to_string(), name.to_string());
        let client = self.cluster.world.add_client("catalog");
        let read = client.spawn(move |kv| async move {
            let catalog = model::Catalog::read(&kv, model::Kv::now(&kv)).await.map_err(|e| e.to_string())?;
            catalog.table_by_name(&db, &name).map(|t| (t.id, t.span())).ok_or_else(|| format!("table {db}.{name} does not exist"))
        });
        self.cluster.wait(read).await
    }

    /// Ticks the cluster until `done` holds, for up to 10 s of simulated time; whether it did.
    async fn wait_for(&mut self, done: impl Fn(&World) -> bool) -> bool {
        let until = madsim::time::Instant::now() + std::time::Duration::from_secs(10);
        while madsim::time::Instant::now() < until {
            if done(&self.cluster.world) {
                return true;
            }
            self.cluster.pass(std::time::Duration::from_millis(50)).await;
        }
        done(&self.cluster.world)
    }

    fn check_node(&self, node: NodeId) -> Result<(), String> {
        if self.cluster.world.node_ids().contains(&node) {
            Ok(())
        } else {
            Err(format!("there is no node n{node}; the cluster has n1..n{}", self.cluster.world.cfg.nodes))
        }
    }
}

/// `user`'s connection to the file's first cluster (`cluster` `None`) or to the cluster named,
/// opened on first use and kept for the rest of the file (its session settings with it).
fn connection<'a>(connections: &'a mut BTreeMap<String, Connection>, world: &mut World, cluster: Option<&str>, user: &str) -> &'a mut Connection {
    let key = match cluster {
        None => user.to_string(),
        Some(c) => format!("{c}/{user}"),
    };
    connections.entry(key).or_insert_with(|| Connection::open(world, user))
}

/// A node's locality as `new-cluster localities=` names it: `REGION` (`region=REGION`) or
/// `REGION.ZONE` (`region=REGION,zone=ZONE`), since a datadriven argument cannot hold `=`.
fn node_locality(name: &str) -> Result<backup::locality::Locality, String> {
    let tiers = match name.split_once('.') {
        None => format!("region={name}"),
        Some((region, zone)) => format!("region={region},zone={zone}"),
    };
    tiers.parse().map_err(|e| format!("new-cluster: localities: {name:?}: {e}"))
}

/// The output of `exec-sql` (`rows` false) or `query-sql`: each statement's rows for a query
/// (only the `columns` named, in their order, when given: a summary that holds across seeds),
/// and the first error as `ERROR: <message>`, each value and the error passed through `tidy`
/// (`stable` and the file's `replace` rules). With `expect`, the error (as the database gave it)
/// must exist and match.
fn print(rows: bool, results: &[Printed], expect: Option<&regex::Regex>, columns: Option<&[String]>, tidy: &dyn Fn(&str) -> String) -> Result<String, String> {
    let mut out = String::new();
    let mut error = None;
    for r in results {
        match r {
            Ok(Some(table)) if rows => out.push_str(&tidy_table(&project(table, columns)?, tidy).render()),
            Ok(_) => {}
            Err(e) => error = Some(e.clone()),
        }
    }
    if let (Some(e), Some(re)) = (&error, expect) {
        if !re.is_match(e) {
            return Err(format!("expected an error matching {:?}, got: {e}", re.as_str()));
        }
    }
    match (error.map(|e| tidy(&e)), expect) {
        (Some(e), _) => Ok(format!("{out}ERROR: {e}\n")),
        (None, Some(re)) => Err(format!("expected an error matching {:?}, and every statement succeeded", re.as_str())),
        (None, None) => Ok(out),
    }
}

/// `text` with what follows the seed's clocks and ids replaced by placeholders (`stable`): HLC
/// timestamps as `<hlc>`, dates as `<time>`, job ids (microseconds of cluster time, 16 digits)
/// as `<job>`, cluster ids as `<cluster>`. Regexes over shapes no other value of a file's
/// output takes.
fn stable_text(text: &str) -> String {
    static PATTERNS: std::sync::OnceLock<Vec<(regex::Regex, &'static str)>> = std::sync::OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [
            (r"\b\d{19}\.\d{10}\b", "<hlc>"),
            (r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?", "<time>"),
            (r"\b\d{16}\b", "<job>"),
            (r"\bsim-[0-9a-f]+-[0-9a-f]+\b", "<cluster>"),
        ]
        .into_iter()
        .map(|(re, to)| (regex::Regex::new(re).expect("a literal regex"), to))
        .collect()
    });
    patterns.iter().fold(text.to_string(), |t, (re, to)| re.replace_all(&t, *to).into_owned())
}

/// `table` with `tidy` applied to every value as it prints (before it is laid out, so that the
/// columns line up whatever the seed); a value `tidy` leaves alone keeps its type.
fn tidy_table(table: &backup::show::QueryResult, tidy: &dyn Fn(&str) -> String) -> backup::show::QueryResult {
    let tidied = |d: &model::Datum| {
        let shown = backup::show::render_datum(d);
        let t = tidy(&shown);
        if t == shown {
            d.clone()
        } else {
            model::Datum::String(t)
        }
    };
    backup::show::QueryResult { columns: table.columns.clone(), rows: table.rows.iter().map(|r| r.iter().map(tidied).collect()).collect() }
}

/// `table` with only the columns named (all of them for `None`); a name the table does not have
/// is an error naming the ones it has.
fn project(table: &backup::show::QueryResult, columns: Option<&[String]>) -> Result<backup::show::QueryResult, String> {
    let Some(names) = columns else { return Ok(table.clone()) };
    let at = names
        .iter()
        .map(|n| table.columns.iter().position(|c| c == n).ok_or_else(|| format!("columns: no column {n:?}; the columns are {}", table.columns.join(", "))))
        .collect::<Result<Vec<usize>, String>>()?;
    Ok(backup::show::QueryResult {
        columns: at.iter().map(|&i| table.columns[i].clone()).collect(),
        rows: table.rows.iter().map(|r| at.iter().map(|&i| r[i].clone()).collect()).collect(),
    })
}
