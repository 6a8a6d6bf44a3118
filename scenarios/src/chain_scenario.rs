//! The chain scenario: a full backup and up to five incrementals taken while the workload
//! writes, deletes and changes schemas under the seed's faults — automatic incrementals in the
//! destination's date-named subdirectories, or explicit `INCREMENTAL FROM` lists, with or
//! without revision history — then checked against the oracle:
//!
//! - consecutive layers line up (each incremental starts where the previous backup ended);
//! - each incremental holds exactly the window's changes: every row whose state differs between
//!   the window's ends is in it, and every row in it had a committed change in the window (so
//!   its size follows the change, not the table);
//! - the whole chain restored into a fresh cluster equals the oracle at the last end time;
//! - a point-in-time restore — any time a revision-history layer covers, or an earlier layer's
//!   end time — equals the oracle at that time;
//! - a chain with a member missing, out of order, forked from another chain or corrupted is
//!   refused, naming the problem, and publishes nothing.

use crate::backup_scenario::{draw_passphrase, run_secrets, with_passphrase};
use crate::check::{self, Observation};
use crate::credentials::{destination, DestinationUrl};
use crate::job_client::{is_conflict, run_and_follow, JobEnd, Kind};
use crate::knobs::{settle_schedule, RunKnobs};
use crate::oracle::{Event, Oracle};
use crate::parts::{Check, Composition, Workload};
use crate::property::Property;
use crate::restore_check::{compare_cluster_state, compare_with_oracle, names_file, Attempt, Flip, RestoreProbe};
use crate::run::{drive, join_writers, setup, simulate, spawn_writers, start_world, Failure, FaultDriver, RunOptions, RunReport};
use crate::workload::{GuestNames, WorkloadConfig, VIEW_BIG_ACCOUNTS};
use backup::format::data::DataFile;
use backup::format::manifest::{Manifest, ENCRYPTION_INFO_NAME, MANIFEST_NAME};
use backup::storage::url::StorageUrl;
use model::catalog::Descriptor;
use model::{Datum, Kv, Timestamp};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sim::faults::{self, FaultKind, JobTarget};
use sim::storage::SimStorage;
use sim::SeedTree;
use sim::Trace;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The scenario's name.
pub const CHAIN: &str = "chain";

/// Where the mid-chain restore puts its copy of `bank.customers`.
const RESTORED_TABLE: &str = "restored.customers";

/// Runs the chain scenario for one seed in a fresh simulator.
pub fn run_chain(opts: &RunOptions) -> RunReport {
    run_composed(&Composition::chain(), opts)
}

/// Runs a composition of the chain operation's parts for one seed in a fresh simulator (the
/// chain scenario is [`Composition::chain`]): another workload, a smaller fault menu, fewer
/// checks.
pub fn run_composed(parts: &Composition, opts: &RunOptions) -> RunReport {
    let parts = parts.clone();
    simulate(opts, CHAIN, move |o, t| body(o, t, parts))
}

/// The chain scenario in the registry.
pub struct ChainScenario;

impl crate::run::Scenario for ChainScenario {
    fn name(&self) -> &'static str {
        CHAIN
    }
    fn description(&self) -> String {
        "a full backup and up to five incrementals (automatic or INCREMENTAL FROM, with or without revision history) under the workload and faults; each layer must hold exactly its window's changes, the chain and point-in-time restores must equal the oracle, a broken chain must be refused".into()
    }
    fn in_default_sweep(&self) -> bool {
        true
    }
    fn run(&self, opts: &RunOptions) -> RunReport {
        run_chain(opts)
    }
    fn seed_schedule(&self, opts: &RunOptions) -> faults::Schedule {
        seed_schedule(opts)
    }
}

/// The fault kinds the chain scenario offers: every cluster kind, a coordinator killed
/// mid-export in one of the incrementals, and — in a chain of automatic incrementals — a rival
/// client taking an automatic incremental of the same chain at a moment of the chain's life
/// (racing one of its incrementals, or between two): never a fork. And every kind aimed at the
/// restore of the whole chain (its coordinator killed, PAUSE / RESUME / CANCEL).
fn menu(automatic: bool) -> Vec<FaultKind> {
    let mut menu: Vec<FaultKind> = FaultKind::CLUSTER.to_vec();
    menu.push(FaultKind::CoordinatorKill);
    menu.extend(FaultKind::RESTORE);
    menu.extend([FaultKind::Rebalance, FaultKind::LastingMinority]);
    if automatic {
        menu.push(FaultKind::ConcurrentBackup);
    }
    menu
}

/// What the seed decides before the run: the run's knobs (swarm, schedule) and the chain's own,
/// each from its stream of the seed's tree.
fn choose(opts: &RunOptions, cfg: &sim::WorldConfig, parts: &Composition) -> (RunKnobs, Chain) {
    let tree = SeedTree::new(opts.seed);
    let mut rng = tree.stream("chain/plan");
    // Cluster backups carry new and truncated tables as introduced spans; the table set of the
    // bank and guest databases (DATABASE and table targets) never changes, so their explicit
    // lists chain too.
    let kind = [Kind::Cluster, Kind::Cluster, Kind::Database, Kind::Tables][rng.gen_range(0..4)];
    let access = destination(&mut rng, &tree, opts.seed);
    let dest = access.url.clone();
    let first_at = Duration::from_millis(rng.gen_range(3_000..8_000));
    let gaps: Vec<Duration> = (0..rng.gen_range(1..=5)).map(|_| Duration::from_millis(rng.gen_range(1_500..5_000))).collect();
    let gateway = rng.gen_range(1..=cfg.nodes as u32);
    let automatic = rng.gen();
    let revision_history = rng.gen();
    let damage = rng.gen_range(0..4);
    // Half the swaps become a member of a forked chain instead, decided from a stream of its
    // own so that the later draws from `chain/plan` (restore_mid, ...) stay what they were.
    let damage = if damage == 2 && tree.stream("chain/fork").gen_ratio(1, 2) { 4 } else { damage };
    let restore_mid = kind == Kind::Cluster && rng.gen_ratio(3, 4);
    // Before an incremental that has another after it where there is one, so that a copy still
    // offline at the first one's end is introduced by the next.
    let mut rng = tree.stream("chain/restore-during");
    let restore_during =
        (restore_mid && !gaps.is_empty()).then(|| (rng.gen_range(1..=gaps.len().saturating_sub(1).max(1)), Duration::from_millis(rng.gen_range(0..1_500))));
    let job = JobTarget {
        start: first_at,
        gateway,
        nodes: cfg.nodes,
        kill_phases: &[faults::JobPhase::Exporting],
        kill_window: (first_at + Duration::from_secs(2), first_at + Duration::from_secs(10)),
        rival_window: (first_at + Duration::from_secs(1), first_at + Duration::from_secs(15)),
        kill_cleaning_up_after_cancel: false,
    };
    let mut knobs = RunKnobs::draw(opts, &parts.faults.kinds(&menu(automatic)), Some(&job));
    if *parts != Composition::chain() {
        knobs.knob("chain.parts", parts);
    }
    knobs.knob("chain.targets", format!("{kind:?}"));
    knobs.knob("chain.destination", dest.split(':').next().unwrap_or("?"));
    knobs.knob("chain.full_backup_at", format!("{}ms", first_at.as_millis()));
    let gaps_ms: Vec<String> = gaps.iter().map(|g| format!("{}ms", g.as_millis())).collect();
    knobs.knob("chain.incremental_gaps", gaps_ms.join(","));
    knobs.knob("chain.gateway", format!("n{gateway}"));
    knobs.knob("chain.automatic_incrementals", automatic);
    knobs.knob("chain.revision_history", revision_history);
    knobs.knob("chain.damage", ["none", "drop-member", "swap-two", "flip-bit", "fork-member"][damage as usize]);
    if let Some((i, delay)) = restore_during {
        knobs.knob("chain.restore_during", format!("incremental#{i}+{}ms", delay.as_millis()));
    }
    let passphrase = draw_passphrase(&tree, CHAIN, opts);
    knobs.knob("chain.encrypted", passphrase.is_some());
    (
        knobs,
        Chain {
            kind,
            dest,
            access,
            first_at,
            gaps,
            gateway,
            automatic,
            revision_history,
            damage,
            restore_during,
            nodes: cfg.nodes as u32,
            passphrase,
            guest: GuestNames::draw(opts.seed),
        },
    )
}

/// The schedule `opts.seed` draws for this scenario.
pub fn seed_schedule(opts: &RunOptions) -> faults::Schedule {
    choose(opts, &opts.world_config(0), &Composition::chain()).0.schedule
}

/// One backup of the chain as the client took it.
#[derive(Clone, Debug)]
struct Taken {
    /// Its location (credentials included).
    location: String,
    /// Where its files are relative to the destination (empty for the full backup).
    subdir: Option<String>,
}

/// One seed of the chain scenario, in its steps: setup, the chain taken under faults and run on
/// to liveness, every job's end judged, then the verdict on the chain as storage holds it.
async fn body(mut opts: RunOptions, trace_slot: Arc<Mutex<Option<Trace>>>, parts: Composition) -> RunReport {
    let seed = opts.seed;
    if parts.workload == Workload::Idle {
        // The rows the schema loads, then no writers: every incremental's window is empty.
        opts.workload.writers = 0;
    }
    let cfg = opts.world_config(0);
    let (mut world, trace, mut rng) = start_world(&opts, "chain/verify", &trace_slot);
    let (knobs, chain) = choose(&opts, &cfg, &parts);
    let plan = settle_schedule(&world, &opts, &knobs);
    chain.access.register(&world.storage);
    sim::trace_event!(
        trace,
        "runner",
        sim::event::CHAIN_PLAN,
        "kind={:?} incrementals={} automatic={} revision_history={} restore_during={:?} gateway=n{}",
        chain.kind,
        chain.gaps.len(),
        chain.automatic,
        chain.revision_history,
        chain.restore_during,
        chain.gateway
    );
    let mut report = RunReport::new(CHAIN, seed);
    report.faults = plan.len();
    report.swarm = knobs.swarm.to_string();
    let oracle: Arc<Mutex<Oracle>> = Arc::default();
    let start = madsim::time::Instant::now();
    if let Err(f) = setup(&mut world, &oracle, opts.seed).await {
        report.failure = Some(f);
        return report;
    }

    // The schema exists from here on: point-in-time restores aim after it.
    let schema_ready = {
        let o = oracle.lock().expect("oracle");
        o.tables().iter().flat_map(|t| o.timestamps(t)).max().unwrap_or_default()
    };
    let secrets = run_secrets(&chain.access, &chain.passphrase);
    let mut run = Run { opts, world, trace, oracle, report, start, secrets, parts, restore_faults: knobs.restore.clone(), lasting: knobs.lasting };
    let outcome = match run.under_faults(&chain, &plan).await {
        Ok(o) => o,
        Err(f) => return run.fail(f),
    };
    let rival_layers = match run.judge_ends(&outcome) {
        Ok(n) => n,
        Err(f) => return run.fail(f),
    };
    if outcome.taken.is_empty() {
        run.report.detail = format!("{:?} chain: the full backup failed as it must ({:?})", chain.kind, outcome.ends);
        return run.audit_and_finish().await;
    }
    match run.verdict(&chain, &outcome, rival_layers, schema_ready, &mut rng).await {
        Ok(()) => run.audit_and_finish().await,
        Err(f) => run.fail(f),
    }
}

/// One seed's run, as its steps share it.
struct Run {
    opts: RunOptions,
    world: sim::World,
    trace: Trace,
    oracle: Arc<Mutex<Oracle>>,
    report: RunReport,
    /// When the run began: the report gives its simulated length.
    start: madsim::time::Instant,
    /// What must never show ([`crate::secrets`]).
    secrets: Vec<String>,
    /// The parts the run is made of: which checks it judges.
    parts: Composition,
    /// The faults aimed at the restore of the whole chain ([`crate::knobs::RunKnobs::restore`]).
    restore_faults: faults::Schedule,
    /// What stays broken through the liveness phase.
    lasting: Option<faults::Lasting>,
}

/// What the seed chose for the chain (its knobs are printed from it at the top of the trace).
struct Chain {
    kind: Kind,
    dest: String,
    /// The destination's bucket: what it accepts, and the secrets its URL holds.
    access: DestinationUrl,
    first_at: Duration,
    /// Pause before each incremental.
    gaps: Vec<Duration>,
    gateway: model::NodeId,
    automatic: bool,
    revision_history: bool,
    /// Which damage to try on the finished chain: 0 none, 1 drop a member, 2 swap two, 3 flip a
    /// bit, 4 list after the last member an incremental forked from the member before it (taken
    /// once the chain is done: it starts inside the last member's window and ends after it).
    damage: u8,
    /// A cluster chain that restores a table into the cluster while one of its incrementals
    /// is taken: before incremental #.0, database `restored` is created and a RESTORE of
    /// `bank.customers` into it starts, and the incremental follows .1 later, with no `AS OF SYSTEM TIME`,
    /// so that its end time often falls between the restore's ingest and its publication. The
    /// next incremental then meets a table whose rows are older than its base: an introduced
    /// span, which must be exported from time zero (CockroachDB's restored and imported tables
    /// in incrementals).
    restore_during: Option<(usize, Duration)>,
    /// The cluster's size: a client whose gateway fails follows its job through the others.
    nodes: u32,
    /// The chain's encryption passphrase, when the seed encrypts it: every backup of the chain
    /// and every RESTORE from it gives it.
    passphrase: Option<String>,
    /// The guest database's names, which the DATABASE and table targets name too.
    guest: GuestNames,
}

impl Chain {
    /// The clause every backup of the chain (and the rival's) ends with.
    fn with(&self) -> String {
        let mut options: Vec<String> = Vec::new();
        if self.revision_history {
            options.push("revision_history".into());
        }
        if let Some(p) = &self.passphrase {
            options.push(format!("encryption_passphrase = '{p}'"));
        }
        if options.is_empty() {
            String::new()
        } else {
            format!(" WITH {}", options.join(", "))
        }
    }

    /// The clause every RESTORE from the chain ends with.
    fn restore_with(&self) -> String {
        with_passphrase(&self.passphrase)
    }
}

/// What the chain's client and the rival's came back with at the end of the liveness phase.
struct Outcome {
    /// The backups of the chain that succeeded, in order.
    taken: Vec<Taken>,
    /// Every job's end, the failed ones too.
    ends: Vec<JobEnd>,
    /// How the mid-chain restore went, if there was one.
    restore: Option<RestoreDuring>,
    /// How the rival incremental ended, if it ran.
    rival: Option<JobEnd>,
}

impl Run {
    /// Ends the run with a failure, its simulated length left unset as the scenario always left it.
    fn fail(mut self, f: Failure) -> RunReport {
        self.report.failure = Some(f);
        self.check_secrets();
        self.report
    }

    /// The secrets check, last of all, if the run judges it.
    fn check_secrets(&mut self) {
        if self.parts.judges(Check::NoSecretsShown) {
            crate::secrets::check(&mut self.report, &self.trace, &self.secrets);
        }
    }

    /// Ends the run once its last property, what the cluster says of its jobs, is checked
    /// ([`crate::jobs_check`]): every job has ended by now.
    async fn audit_and_finish(mut self) -> RunReport {
        if !self.parts.judges(Check::JobsAudit) {
            return self.finish();
        }
        match crate::jobs_check::check_run(&mut self.world, &self.secrets).await {
            Ok(()) => self.finish(),
            Err(f) => self.fail(f),
        }
    }

    /// Ends the run with every property held (the secrets checked last), and its simulated length.
    fn finish(mut self) -> RunReport {
        self.report.sim_seconds = self.start.elapsed().as_secs_f64();
        self.check_secrets();
        self.report
    }

    /// The safety phase and the liveness phase after it: the writers, the chain's client and a
    /// rival incremental if the schedule starts one, under the fault schedule, then with faults
    /// off until all of them have finished.
    async fn under_faults(&mut self, chain: &Chain, plan: &faults::Schedule) -> Result<Outcome, Failure> {
        let safety_start = madsim::time::Instant::now();
        let wc = WorkloadConfig { ops_per_writer: self.opts.workload.ops_per_writer.min(100), scratch_database: true, ..self.opts.workload.clone() };
        let writers = spawn_writers(&mut self.world, &wc, self.opts.seed, &self.oracle, None);
        let mut driver = FaultDriver::new(plan, self.opts.safety).lasting(self.lasting);
        // Set once the chain's full backup exists: a rival incremental needs one to build on.
        let full_done = Arc::new(AtomicBool::new(false));
        let rival_go: Arc<Mutex<Option<model::NodeId>>> = Arc::default();
        let rival_client =
            plan.iter().any(|f| matches!(f.fault, faults::Fault::RivalBackup { .. })).then(|| self.spawn_rival(chain, &rival_go, &full_done, &driver.calm));
        let taker = self.spawn_taker(chain, &full_done, &driver.calm);
        let deadline = self.opts.safety + Duration::from_secs(900);
        let trace = &self.trace;
        let before_fault = |fault: &faults::Fault| {
            if let faults::Fault::RivalBackup { node } = fault {
                sim::trace_event!(trace, "runner", sim::event::RIVAL_BACKUP, "a second client takes an automatic incremental of the chain via n{node}");
                *rival_go.lock().expect("rival") = Some(*node);
            }
        };
        let all_done = || taker.is_finished() && rival_client.as_ref().is_none_or(|r| r.is_finished()) && writers.iter().all(|w| w.is_finished());
        if !driver.run_until(&mut self.world, safety_start, deadline, all_done, before_fault).await {
            return Err(Failure {
                property: Property::Liveness,
                message: format!("the backup chain or the writers did not finish within {:?} after faults stopped", deadline - self.opts.safety),
            });
        }
        driver.end(&mut self.world);
        join_writers(writers, &mut self.report).await?;
        let (taken, ends, restore) = taker.await.expect("backup client");
        if let Some(r) = &restore {
            sim::trace_event!(
                self.trace,
                "runner",
                sim::event::MID_CHAIN_RESTORE,
                "issued at {} returned at {:?}: {}",
                r.issued,
                r.returned,
                r.error.as_deref().unwrap_or("ok")
            );
        }
        sim::trace_event!(self.trace, "runner", sim::event::CHAIN_TAKEN, "{} of {} backups: {ends:?}", taken.len(), chain.gaps.len() + 1);
        let rival = match rival_client {
            Some(r) => r.await.expect("rival client"),
            None => None,
        };
        Ok(Outcome { taken, ends, restore, rival })
    }

    /// The rival's client: once the chain's full backup exists and the fault names the node it
    /// goes through (or not at all, if the liveness phase comes first), it takes an automatic
    /// incremental of the same chain.
    fn spawn_rival(
        &mut self,
        chain: &Chain,
        go: &Arc<Mutex<Option<model::NodeId>>>,
        full_done: &Arc<AtomicBool>,
        calm: &Arc<AtomicBool>,
    ) -> madsim::task::JoinHandle<Option<JobEnd>> {
        let client = self.world.add_client("rival-client");
        let (go, calm, full_done, nodes) = (go.clone(), calm.clone(), full_done.clone(), chain.nodes);
        // '-2s', not the chain's '-1s': its job's description tells it apart from the chain's.
        let sql = format!("BACKUP {}TO '{}' AS OF SYSTEM TIME '-2s'{}", chain.kind.targets(&chain.guest), chain.dest, chain.with());
        client.spawn(move |kv| async move {
            let node = loop {
                if let (Some(n), true) = (*go.lock().expect("rival"), full_done.load(Ordering::Relaxed)) {
                    break n;
                }
                if calm.load(Ordering::Relaxed) {
                    return None;
                }
                madsim::time::sleep(Duration::from_millis(50)).await;
            };
            Some(run_and_follow(&kv, node, nodes, &sql, &calm).await)
        })
    }

    /// The chain's client: the full backup at the seed's time, then each incremental after its
    /// gap — automatic, or `INCREMENTAL FROM` the backups taken so far — with the mid-chain
    /// restore started just before the incremental the seed picked. Returns the backups taken,
    /// every job's end, and how the mid-chain restore went.
    fn spawn_taker(
        &mut self,
        chain: &Chain,
        full_done: &Arc<AtomicBool>,
        calm: &Arc<AtomicBool>,
    ) -> madsim::task::JoinHandle<(Vec<Taken>, Vec<JobEnd>, Option<RestoreDuring>)> {
        let client = self.world.add_client("backup-client");
        let (calm, dest, gaps, full_done) = (calm.clone(), chain.dest.clone(), chain.gaps.clone(), full_done.clone());
        let (first_at, restore_during, gateway, nodes, automatic) = (chain.first_at, chain.restore_during, chain.gateway, chain.nodes, chain.automatic);
        let (targets, with, restore_with) = (chain.kind.targets(&chain.guest), chain.with(), chain.restore_with());
        // A revision-history cluster chain gets a user created between its full backup and its
        // first incremental: point-in-time restores on either side of it must differ.
        let late_user = (chain.kind == Kind::Cluster && chain.revision_history).then(|| self.oracle.clone());
        client.spawn(move |kv| async move {
            let mut taken: Vec<Taken> = Vec::new();
            let mut ends = Vec::new();
            let mut restore: Option<madsim::task::JoinHandle<RestoreDuring>> = None;
            madsim::time::sleep(first_at).await;
            for i in 0..=gaps.len() {
                if i > 0 {
                    if let Some(oracle) = late_user.as_ref().filter(|_| i == 1 && !taken.is_empty()) {
                        create_late_user(&kv, oracle).await;
                    }
                    madsim::time::sleep(gaps[i - 1]).await;
                }
                // The mid-chain restore starts, and this incremental follows it at once.
                let mut as_of = " AS OF SYSTEM TIME '-1s'";
                if let Some((_, delay)) = restore_during.filter(|(before, _)| *before == i && !taken.is_empty()) {
                    create_restored_database(&kv).await;
                    restore = Some(start_restore(&kv, gateway, &taken[0].location, &restore_with));
                    madsim::time::sleep(delay).await;
                    as_of = "";
                }
                let (location, subdir, sql) = if i == 0 {
                    (dest.clone(), None, format!("BACKUP {targets}TO '{dest}'{as_of}{with}"))
                } else if automatic {
                    (dest.clone(), Some(String::new()), format!("BACKUP {targets}TO '{dest}'{as_of}{with}"))
                } else {
                    let to = backup::location::join(&dest, &format!("inc{i}"));
                    let from: Vec<String> = taken.iter().map(|t| format!("'{}'", t.location)).collect();
                    (to.clone(), Some(format!("inc{i}")), format!("BACKUP {targets}TO '{to}'{as_of} INCREMENTAL FROM {}{with}", from.join(", ")))
                };
                let end = run_and_follow(&kv, gateway, nodes, &sql, &calm).await;
                ends.push(end.clone());
                match end {
                    JobEnd::Succeeded => {
                        taken.push(Taken { location, subdir });
                        full_done.store(true, Ordering::Relaxed);
                    }
                    // The rival incremental holds the destination: the next incremental builds
                    // on whatever it left.
                    JobEnd::Failed(e) if i > 0 && is_conflict(&e) => {}
                    // A GC threshold past the base (a new full backup is needed), a canceled
                    // job: the chain stops here, as it would for an operator.
                    _ => break,
                }
            }
            let restore = match restore {
                Some(r) => Some(r.await.expect("mid-chain restore")),
                None => None,
            };
            (taken, ends, restore)
        })
    }

    /// Every job ended as the run allows: the rival refused only for the chain's own incremental
    /// holding the destination (or a GC threshold), the chain's refused for a conflict only
    /// where the rival's backup is there now, none failed for another reason or canceled with
    /// nobody canceling it. Returns the layers the rival added (none or one).
    // A conflict refusal is judged by its own arm and must not fall through to the next one, which
    // collapsing its `if` into the match guard would do.
    #[allow(clippy::collapsible_match)]
    fn judge_ends(&self, outcome: &Outcome) -> Result<usize, Failure> {
        let rival_end = &outcome.rival;
        let rival_layers = usize::from(*rival_end == Some(JobEnd::Succeeded));
        if let Some(r) = rival_end {
            sim::trace_event!(self.trace, "runner", sim::event::RIVAL_ENDED, "{r:?}");
            if let JobEnd::Failed(e) = r {
                if !(is_conflict(e) || e.contains("GC threshold") || e.contains("new full backup is needed")) {
                    return Err(Failure {
                        property: Property::OneBackupPerLocation,
                        message: format!("the rival incremental failed for another reason than the chain's own incremental holding the destination: {e}"),
                    });
                }
            }
        }
        for (i, end) in outcome.ends.iter().enumerate() {
            match end {
                // Refused because the rival held the destination: only if the rival's backup is
                // there now (one refused, the other intact).
                JobEnd::Failed(e) if is_conflict(e) => {
                    // (A rival that then failed for its own reason — a GC threshold — or was
                    // canceled leaves nothing to lose; two refusing each other leave nothing
                    // either. A rival that lost its race to an earlier incremental of the chain,
                    // one that succeeded, and held the destination while it found out, blocked
                    // this one rightly: chain seeds 615 and 1599 of `--faults everything`.)
                    let lost_to_earlier = matches!(rival_end, Some(JobEnd::Failed(r)) if r.contains("was appended to the chain"))
                        && outcome.ends[1..i.max(1)].contains(&JobEnd::Succeeded);
                    if !lost_to_earlier && (matches!(rival_end, Some(JobEnd::Failed(r)) if is_conflict(r)) || rival_end.is_none()) {
                        return Err(Failure {
                            property: Property::OneBackupPerLocation,
                            message: format!(
                                "an incremental of the chain was refused for a conflict, and the rival incremental did not succeed either ({rival_end:?}): {e}"
                            ),
                        });
                    }
                }
                JobEnd::Failed(e) if !(e.contains("GC threshold") || e.contains("new full backup is needed")) => {
                    return Err(Failure { property: Property::BackupJobSucceeds, message: format!("a backup of the chain failed: {e}") });
                }
                JobEnd::Canceled => {
                    return Err(Failure {
                        property: Property::BackupJobSucceeds,
                        message: "a backup of the chain ended canceled, and nobody canceled it".into(),
                    });
                }
                _ => {}
            }
        }
        Ok(rival_layers)
    }

    /// The verdict on the chain, read straight from storage: its layers line up and each holds
    /// exactly its window's changes; the whole chain and a point in time restore to the oracle,
    /// the mid-chain restore's copy with them; a damaged chain is refused. Sets the report's
    /// detail and the relations matched.
    async fn verdict(&mut self, chain: &Chain, outcome: &Outcome, rival_layers: usize, schema_ready: Timestamp, rng: &mut ChaCha8Rng) -> Result<(), Failure> {
        let layers = self.read_layers(chain, &outcome.taken, rival_layers)?;
        let oracle_now = self.oracle.lock().expect("oracle").clone();
        if self.parts.judges(Check::LayersHoldTheirWindows) {
            layers.check_windows(&oracle_now)?;
        }

        // The mid-chain restore's copy, as the source cluster holds it now: what the restored chain
        // must hold wherever the copy was published by then. It must be bank.customers as the
        // oracle has it at the end of one of the chain's backups (the restore read the chain).
        let copy = match &outcome.restore {
            None => None,
            Some(during) => Some(restored_copy(&mut self.world, during, &oracle_now, &layers.manifests).await?),
        };

        let judges = |c: Check| self.parts.judges(c);
        let (whole, pit, damage) = (judges(Check::RestoresMatchOracle), judges(Check::PointInTime), judges(Check::DamageRefused));
        let fork = if damage { self.take_fork(chain, &outcome.taken, rng).await } else { None };

        // Restores: the whole chain, a point in time, and a damaged chain that must be refused.
        let tables = restored_tables(chain.kind, &chain.guest, &oracle_now, copy.is_some());
        let from_list: Vec<String> = if chain.automatic { vec![chain.dest.clone()] } else { outcome.taken.iter().map(|t| t.location.clone()).collect() };
        let last_end = layers.manifests.last().map(|m| m.end_time).unwrap_or_default();
        let restore_sql = format!("RESTORE {}FROM {}{}", chain.kind.targets(&chain.guest), quoted(&from_list), chain.restore_with());
        let probe = RestoreProbe {
            opts: &self.opts,
            trace: &self.trace,
            storage: &layers.storage,
            kind: chain.kind,
            guest: &chain.guest,
            restore_sql: &restore_sql,
            tables: &tables,
            network_offset: 0,
            aimed: &self.restore_faults,
        };
        let restores = Restores { probe, chain, layers: &layers, oracle: &oracle_now, copy: copy.as_ref(), from_list, fork };
        let (rows, relations) =
            if whole { restore_and_compare(&restores.probe, &oracle_now, copy.as_ref(), last_end, 1, "the chain up to", true).await? } else { (0, 0) };
        let pit = if pit { restores.point_in_time(schema_ready, rng).await? } else { None };
        if damage {
            restores.damaged_refused(rng).await?;
        }
        self.report.reads_matched = relations;
        self.report.detail = format!(
            "{:?} chain of {} ({}{}) {}{}",
            chain.kind,
            layers.manifests.len(),
            if chain.automatic { "automatic" } else { "INCREMENTAL FROM" },
            if chain.revision_history { ", revision history" } else { "" },
            if whole { format!("restored: {rows} rows in {relations} relations match the oracle") } else { "taken (its restore not judged)".into() },
            pit.map(|t| format!("; restored as of {t} too")).unwrap_or_default()
        );
        Ok(())
    }

    /// For a chain whose damage is a forked member (an explicit chain of three or more): an
    /// incremental `INCREMENTAL FROM` the chain's first members (all but the last, or fewer; the
    /// seed picks), taken now (faults are off) to `<destination>/fork`. Returns its location and
    /// the damage it makes, or `None` when the chain cannot take one or the BACKUP was refused
    /// (its window may have fallen below a GC threshold by now).
    async fn take_fork(&mut self, chain: &Chain, taken: &[Taken], rng: &mut ChaCha8Rng) -> Option<(String, &'static str)> {
        if chain.damage != 4 || chain.automatic || taken.len() < 3 {
            return None;
        }
        let location = backup::location::join(&chain.dest, "fork");
        // Forked from all but the last member, it starts where the last one starts: a gap
        // between chains. Forked earlier, it starts before the last one started: listed after
        // it, out of order. Each kind half the time (a uniform cut would make the gap rarer the
        // longer the chain, and it is the subtler of the two: nothing is out of order).
        let cut = if rng.gen_ratio(1, 2) { taken.len() - 1 } else { rng.gen_range(1..taken.len() - 1) };
        let why = if cut == taken.len() - 1 { FORKED } else { FORKED_EARLIER };
        let base: Vec<String> = taken[..cut].iter().map(|t| t.location.clone()).collect();
        let sql =
            format!("BACKUP {}TO '{location}' AS OF SYSTEM TIME '-1s' INCREMENTAL FROM {}{}", chain.kind.targets(&chain.guest), quoted(&base), chain.with());
        let gateway = chain.gateway;
        let client = self.world.add_client("fork-client");
        let task = client.spawn(move |kv| async move { kv.bulk(gateway, &sql, "root", "defaultdb", Duration::from_secs(300)).await });
        drive(&mut self.world, task).await.ok().map(|_| (location, why))
    }

    /// The layers, straight from storage (the client's account aside): a manifest for every
    /// backup that succeeded, the rival's too, each decoding and starting where the one before
    /// it ended.
    fn read_layers(&self, chain: &Chain, taken: &[Taken], rival_layers: usize) -> Result<Layers, Failure> {
        let url = StorageUrl::parse(&chain.dest)
            .map_err(|e| Failure { property: Property::Workload, message: format!("scenario destination does not parse: {e}") })?;
        let storage = self.world.storage.clone();
        let subdirs = layer_dirs(&storage, &url, chain, taken);
        if subdirs.len() != taken.len() + rival_layers {
            return Err(Failure {
                property: Property::BackupComplete,
                message: format!("{} backups succeeded but storage holds {} manifests ({subdirs:?})", taken.len() + rival_layers, subdirs.len()),
            });
        }
        let mut layers = Layers { url, gateway: chain.gateway, storage, subdirs, manifests: Vec::new(), key: None };
        if let Some(base) = layers.subdirs.first() {
            let info_key = layers.key(base, ENCRYPTION_INFO_NAME);
            layers.key = crate::restore_check::backup_key(&layers.storage, &info_key, chain.passphrase.as_deref())
                .map_err(|message| Failure { property: Property::BackupComplete, message })?;
        }
        for sub in &layers.subdirs {
            let Some(bytes) = layers.storage.get(&layers.key(sub, MANIFEST_NAME)) else {
                return Err(Failure { property: Property::BackupComplete, message: format!("no manifest in {sub:?}") });
            };
            let bytes = layers
                .plaintext(MANIFEST_NAME, &bytes)
                .map_err(|message| Failure { property: Property::BackupComplete, message: format!("{sub:?}: {message}") })?;
            let m = Manifest::decode(MANIFEST_NAME, &bytes)
                .map_err(|e| Failure { property: Property::BackupComplete, message: format!("the manifest in {sub:?} does not decode: {e}") })?;
            if chain.automatic && !sub.is_empty() && *sub != expected_subdir(m.end_time) {
                return Err(Failure {
                    property: Property::BackupComplete,
                    message: format!(
                        "the automatic incremental ending at {} is in {sub:?}, but its end time names {:?}",
                        m.end_time,
                        expected_subdir(m.end_time)
                    ),
                });
            }
            sim::trace_event!(
                self.trace,
                "runner",
                sim::event::CHAIN_LAYER,
                "{sub:?} ({}, {}] {:?} files={} rows={} descriptor_changes={} revision_start={} introduced={}",
                m.start_time,
                m.end_time,
                m.mvcc_filter,
                m.files.len(),
                m.entry_counts.rows,
                m.descriptor_changes.len(),
                m.revision_start_time,
                m.introduced_spans.len()
            );
            let what = format!("the chain's backup in {sub:?}");
            crate::manifest_check::dump_shows_every_list(&what, &m)?;
            let databases = ["bank".to_string(), chain.guest.database.clone()];
            if chain.kind != Kind::Cluster {
                crate::manifest_check::history_within_targets(&what, &m, &databases, chain.kind == Kind::Database)?;
            }
            layers.manifests.push(m);
        }
        for w in layers.manifests.windows(2) {
            if w[1].start_time != w[0].end_time {
                return Err(Failure {
                    property: Property::ChainContiguous,
                    message: format!("an incremental starts at {} but the backup before it ends at {}", w[1].start_time, w[0].end_time),
                });
            }
        }
        Ok(layers)
    }
}

/// The date-named subdirectory an automatic incremental ending at `end` belongs in — worked out
/// here with chrono, not with the backup code's own calendar arithmetic: the UTC date and time of
/// the end's wall clock, `YYYYMMDD/HHMMSS.nnnnnnnnn`, then `_<logical>` when it has a logical part.
fn expected_subdir(end: Timestamp) -> String {
    let nanos = end.wall % 1_000_000_000;
    let logical = if end.logical == 0 { String::new() } else { format!("_{}", end.logical) };
    match chrono::DateTime::from_timestamp((end.wall / 1_000_000_000) as i64, nanos as u32) {
        Some(t) => format!("{}.{nanos:09}{logical}", t.format("%Y%m%d/%H%M%S")),
        None => format!("(no date for {end})"),
    }
}

/// Each backup's directory under the destination, the full backup's (empty) first: automatic
/// incrementals' from storage (the client does not learn them), the others' as the client chose
/// them.
fn layer_dirs(storage: &SimStorage, url: &StorageUrl, chain: &Chain, taken: &[Taken]) -> Vec<String> {
    let auto_dirs: Vec<String> = {
        let prefix = SimStorage::key(url, chain.gateway, "");
        let mut d: Vec<String> = storage
            .list_all()
            .into_iter()
            .filter_map(|(k, _)| k.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix("/BACKUP")).map(str::to_string))
            .filter(|d| backup::chain::subdir_time(d).is_some())
            .collect();
        d.sort_by_key(|d| backup::chain::subdir_time(d));
        d
    };
    std::iter::once(String::new()).chain(if chain.automatic { auto_dirs } else { taken.iter().skip(1).filter_map(|t| t.subdir.clone()).collect() }).collect()
}

/// The relations a restore of a `kind` chain must bring back: the view among them, and the
/// mid-chain restore's copy where there is one.
fn restored_tables(kind: Kind, guest: &GuestNames, oracle: &Oracle, copy: bool) -> Vec<String> {
    let mut t: Vec<String> = match kind {
        Kind::Cluster => oracle.tables().into_iter().filter(|t| t != VIEW_BIG_ACCOUNTS).collect(),
        Kind::Database | Kind::Tables => vec!["bank.customers".into(), "bank.accounts".into(), guest.oracle_table()],
    };
    t.push(VIEW_BIG_ACCOUNTS.into());
    if copy {
        t.push(RESTORED_TABLE.into());
    }
    t
}

/// The damage of a list that ends with a member of another chain: the one broken list a
/// RESTORE must call a gap ("different chains"), not a wrong order, although its member ends
/// after the one listed before it.
const FORKED: &str = "member of a forked chain";

/// The damage of a list that ends with a member forked from an earlier member: it starts before
/// the last listed member started, so it is listed out of order.
const FORKED_EARLIER: &str = "member of a chain forked earlier";

/// Backup locations as a RESTORE or an `INCREMENTAL FROM` lists them.
fn quoted(list: &[String]) -> String {
    list.iter().map(|l| format!("'{l}'")).collect::<Vec<_>>().join(", ")
}

/// The chain as storage holds it: each backup's directory under the destination (the full
/// backup's is empty) and its manifest, in the chain's order.
struct Layers {
    url: StorageUrl,
    gateway: model::NodeId,
    storage: SimStorage,
    subdirs: Vec<String>,
    manifests: Vec<Manifest>,
    /// The chain's key, if it is encrypted (from the passphrase and the full backup's
    /// ENCRYPTION-INFO).
    key: Option<backup::crypto::EncryptionKey>,
}

impl Layers {
    /// The storage key of `path` in the layer whose directory is `sub`.
    fn key(&self, sub: &str, path: &str) -> String {
        if sub.is_empty() {
            SimStorage::key(&self.url, self.gateway, path)
        } else {
            SimStorage::key(&self.url, self.gateway, &format!("{sub}/{path}"))
        }
    }

    /// The plaintext of the stored bytes of a layer's file `path`.
    fn plaintext(&self, path: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
        crate::restore_check::plaintext(self.key.as_ref(), path, bytes)
    }

    /// Each incremental holds exactly its window's changes.
    fn check_windows(&self, oracle: &Oracle) -> Result<(), Failure> {
        for (l, (m, sub)) in self.manifests.iter().zip(&self.subdirs).enumerate().skip(1) {
            let read = |path: &str| {
                let bytes = self.storage.get(&self.key(sub, path)).ok_or_else(|| format!("{path} is missing"))?;
                self.plaintext(path, &bytes)
            };
            if let Err(f) = check_window(oracle, m, read) {
                return Err(Failure {
                    property: Property::IncrementalHoldsItsChanges,
                    message: format!("incremental #{l} ({} to {}): {}", m.start_time, m.end_time, f),
                });
            }
        }
        Ok(())
    }
}

/// The restores of the chain, each into a fresh cluster on its storage, and what they must
/// match.
struct Restores<'a> {
    /// The whole chain's RESTORE (the others change its statement).
    probe: RestoreProbe<'a>,
    chain: &'a Chain,
    layers: &'a Layers,
    /// The oracle at the end of the run.
    oracle: &'a Oracle,
    copy: Option<&'a RestoredCopy>,
    /// The chain's backups, as a RESTORE lists them.
    from_list: Vec<String>,
    /// An incremental forked from all but the chain's last member, when that is the damage:
    /// taken by the verdict, since a fork made while the chain runs would be part of it.
    fork: Option<(String, &'static str)>,
}

impl Restores<'_> {
    /// A point in time — inside a revision-history layer's window, or an earlier layer's end —
    /// restored must equal the oracle at that time. Returns the time, if the chain has one.
    async fn point_in_time(&self, schema_ready: Timestamp, rng: &mut ChaCha8Rng) -> Result<Option<Timestamp>, Failure> {
        let layers = &self.layers.manifests;
        let pit = if self.chain.revision_history {
            let l = rng.gen_range(0..layers.len());
            let m = &layers[l];
            // A layer's history starts at its window's start, or later where it exported a span
            // from time zero (a full backup; an incremental's introduced tables): from the GC
            // threshold such an export met, which RESTORE rightly refuses to go below.
            let lo = |l: usize| {
                let m = &layers[l];
                if l == 0 {
                    m.revision_start_time.wall.max(schema_ready.wall)
                } else {
                    m.start_time.wall.max(m.revision_start_time.wall)
                }
            };
            let drawn = Timestamp::from_nanos(rng.gen_range(lo(l) + 1..=m.end_time.wall));
            // Half the time (its own stream, so the draws above stay where they were), a schema
            // change's commit time inside some layer's history, the instant before it or the
            // instant after: the boundaries a descriptor history is decided on, which a time
            // drawn to the nanosecond almost never meets. The times are the oracle's, not the
            // manifests'.
            let mut edge = sim::SeedTree::new(self.probe.opts.seed).stream("chain/pit-edge");
            let inside = |t: &Timestamp| (0..layers.len()).any(|l| *t >= Timestamp::from_nanos(lo(l) + 1) && *t <= layers[l].end_time);
            let changes: Vec<Timestamp> = self.oracle.schema_change_times().into_iter().flat_map(|t| [t.prev(), t, t.next()]).filter(inside).collect();
            Some(if !changes.is_empty() && edge.gen_ratio(1, 2) { changes[edge.gen_range(0..changes.len())] } else { drawn })
        } else if layers.len() > 1 {
            Some(layers[rng.gen_range(0..layers.len() - 1)].end_time)
        } else {
            None
        };
        if let Some(t) = pit {
            let sql = format!(
                "RESTORE {}FROM {} AS OF SYSTEM TIME '{t}'{}",
                self.chain.kind.targets(&self.chain.guest),
                quoted(&self.from_list),
                self.chain.restore_with()
            );
            let probe = RestoreProbe { restore_sql: &sql, ..self.probe };
            match restore_and_compare(&probe, self.oracle, self.copy, t, 2, "the chain as of", false).await {
                Ok(_) => {
                    // Which side of the mid-chain user's creation the restore landed on.
                    let user = match self.oracle.late_users().first() {
                        Some((_, hi, u)) if t >= *hi => format!(" with {u} (created before)"),
                        Some((lo, _, u)) if t < *lo => format!(" without {u} (created after)"),
                        Some((_, _, u)) => format!(" with or without {u} (created about then)"),
                        None => String::new(),
                    };
                    sim::trace_event!(self.probe.trace, "runner", sim::event::POINT_IN_TIME_RESTORED, "{t}{user}")
                }
                Err(f) => return Err(Failure { property: Property::PointInTimeRestore, ..f }),
            }
        }
        Ok(pit)
    }

    /// Damages the chain as the seed picks: a member left out of the list or two listed out of
    /// order, a member of a forked chain listed after the last, an automatic incremental lost
    /// from the destination, or one bit flipped in a file the restore reads. Returns the RESTORE
    /// to try, the file its refusal must name (none for a broken list), the damage, and where a
    /// bit was flipped; `None` if the seed picked none this chain can take.
    fn inflict_damage(&self, rng: &mut ChaCha8Rng) -> Option<(String, Vec<String>, &'static str, Option<Flip>)> {
        if let (4, Some((fork, why))) = (self.chain.damage, &self.fork) {
            let mut list = self.from_list.clone();
            list.push(fork.clone());
            return Some((
                format!("RESTORE {}FROM {}{}", self.chain.kind.targets(&self.chain.guest), quoted(&list), self.chain.restore_with()),
                Vec::new(),
                why,
                None,
            ));
        }
        let (layers, kind) = (&self.layers.manifests, self.chain.kind);
        match self.chain.damage {
            1 | 2 if layers.len() >= 3 && !self.chain.automatic => {
                // A member left out, or two listed out of order.
                let mut list = self.from_list.clone();
                if self.chain.damage == 1 {
                    list.remove(rng.gen_range(1..list.len() - 1));
                } else {
                    let i = rng.gen_range(1..list.len() - 1);
                    list.swap(i, i + 1);
                }
                let why = if self.chain.damage == 1 { "missing member" } else { "reordered members" };
                Some((format!("RESTORE {}FROM {}{}", kind.targets(&self.chain.guest), quoted(&list), self.chain.restore_with()), Vec::new(), why, None))
            }
            1 if layers.len() >= 3 => {
                // An automatic incremental lost from the destination.
                let gone = &self.layers.subdirs[rng.gen_range(1..self.layers.subdirs.len() - 1)];
                self.layers.storage.lose(&self.layers.key(gone, MANIFEST_NAME));
                Some((self.probe.restore_sql.to_string(), Vec::new(), "missing member", None))
            }
            3 => {
                let l = rng.gen_range(0..layers.len());
                // Only files the restore reads: those of tables that exist at the chain's end (a
                // dropped table's history is kept for point-in-time restores, not read by this one).
                let live: Vec<model::Span> = layers
                    .last()
                    .map(|m| {
                        m.descriptors
                            .iter()
                            .filter_map(|d| match d {
                                Descriptor::Table(t) if t.is_public() && !t.is_view() => Some(t.span()),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut paths: Vec<String> = layers[l].files.iter().filter(|f| live.iter().any(|s| s.contains(&f.span))).map(|f| f.path.clone()).collect();
                paths.push(MANIFEST_NAME.to_string());
                if l == 0 && self.chain.passphrase.is_some() {
                    paths.push(ENCRYPTION_INFO_NAME.to_string());
                }
                let victim = paths[rng.gen_range(0..paths.len())].clone();
                let bit: u64 = rng.gen();
                let flip = crate::restore_check::flip_bit(&self.layers.storage, &self.layers.key(&self.layers.subdirs[l], &victim), bit);
                Some((self.probe.restore_sql.to_string(), vec![victim], "flipped bit", flip))
            }
            _ => None,
        }
    }

    /// A damaged chain is refused, naming the problem, and publishes nothing.
    async fn damaged_refused(&self, rng: &mut ChaCha8Rng) -> Result<(), Failure> {
        let Some((sql, names, why, flip)) = self.inflict_damage(rng) else { return Ok(()) };
        let probe = RestoreProbe { restore_sql: &sql, ..self.probe };
        let e = probe.refused(3, &names, None, why).await?;
        if let Some(wrong) = flip.and_then(|f| crate::restore_check::damage_misplaced(&e, f)) {
            return Err(Failure { property: Property::DamageDetected, message: format!("{names:?}: {wrong}") });
        }
        // A left-out member, or one forked from the member before the last, is a gap ("invalid
        // previous backups": the backup code has one message for both), never a wrong order; a
        // swap, or a member forked from an earlier one (it starts before the last member
        // started), is a wrong order. A user told the wrong one looks for the wrong problem.
        let explicit = !self.chain.automatic;
        let reason_fits = match why {
            "missing member" if explicit => e.contains("invalid previous backups") && e.contains("a backup between them is missing"),
            "reordered members" => e.contains("out of order"),
            FORKED => e.contains("invalid previous backups") && e.contains("different chains"),
            FORKED_EARLIER => e.contains("out of order"),
            _ => {
                e.contains("out of order")
                    || e.contains("invalid previous backups")
                    || e.contains("is missing")
                    || e.contains("an incomplete incremental backup")
            }
        };
        if names.is_empty() && !reason_fits {
            return Err(Failure { property: Property::DamageDetected, message: format!("a chain with a {why} was refused for another reason: {e}") });
        }
        if let Some(n) = names.first() {
            if !names_file(&e, n) {
                return Err(Failure { property: Property::DamageDetected, message: format!("the refusal does not name {n}: {e}") });
            }
        }
        sim::trace_event!(self.probe.trace, "runner", sim::event::DAMAGED_CHAIN_REFUSED, "{why}: {e}");
        Ok(())
    }
}

/// Restores in a fresh cluster on `network` (under the faults aimed at the restore, when
/// `under_faults`) and compares with the oracle at `ts`; the copy a mid-chain restore made,
/// with what the source cluster holds of it.
async fn restore_and_compare(
    probe: &RestoreProbe<'_>,
    oracle: &Oracle,
    copy: Option<&RestoredCopy>,
    ts: Timestamp,
    network: u8,
    what: &str,
    under_faults: bool,
) -> Result<(usize, usize), Failure> {
    let attempt = if under_faults {
        probe.attempt_under_faults(network, None).await?
    } else {
        probe.attempt(network, None).await.map_err(|message| Failure { property: Property::RestoreSucceeds, message })?
    };
    let Attempt { restored, observations, cluster, .. } = attempt;
    restored.map_err(|e| Failure {
        property: Property::RestoreSucceeds,
        message: format!("{}: {e}", backup::statement::parse(probe.restore_sql).map(|s| s.redacted()).unwrap_or_else(|_| "RESTORE".into())),
    })?;
    let (copies, observations): (Vec<Observation>, Vec<Observation>) = observations.into_iter().partition(|o| o.table == RESTORED_TABLE);
    if let (Some(copy), Some(seen)) = (copy, copies.first()) {
        copy.check(seen, ts, what)?;
    }
    compare_cluster_state(&cluster, oracle, ts, what)?;
    compare_with_oracle(&observations, oracle, ts, what)
}

/// How the mid-chain RESTORE went, as its client saw it.
#[derive(Clone, Debug)]
struct RestoreDuring {
    /// The client's clock when it sent the statement.
    issued: Timestamp,
    /// The client's clock when the statement succeeded (at or after its publication, since the
    /// reply carries the gateway's clock); `None` if it failed or its gateway never answered.
    returned: Option<Timestamp>,
    /// The error, if any.
    error: Option<String>,
}

/// Creates the database the mid-chain restore goes into (retrying a few times under faults;
/// if it never succeeds, the RESTORE fails and publishes nothing, which the checks allow).
/// The user [`create_late_user`] creates.
const LATE_USER: &str = "chain_user";

/// Creates [`LATE_USER`], a member of `analysts`, retrying through faults, and records in the
/// oracle when it was surely absent (before the first attempt, less the clocks' maximum offset)
/// and surely present (after the success, plus that offset); an ambiguous attempt may have
/// committed anywhere in between. Never confirmed, it is uncertain for good.
async fn create_late_user(kv: &sim::SimKv, oracle: &Mutex<Oracle>) {
    let offset = Duration::from_secs(1);
    let lo = kv.now().sub(offset);
    let mut session = model::sql::Session::root(Arc::new(kv.clone()));
    let mut hi = model::Timestamp::MAX;
    for _ in 0..50 {
        let created = session.execute(&format!("CREATE USER IF NOT EXISTS {LATE_USER}")).await.is_ok();
        if created && session.execute(&format!("GRANT analysts TO {LATE_USER}")).await.is_ok() {
            hi = kv.now().add(offset);
            break;
        }
        madsim::time::sleep(Duration::from_millis(200)).await;
    }
    oracle.lock().expect("oracle").record_late_user(lo, hi, LATE_USER);
}

async fn create_restored_database(kv: &sim::SimKv) {
    let mut session = model::sql::Session::root(Arc::new(kv.clone()));
    for _ in 0..20 {
        match session.execute("CREATE DATABASE IF NOT EXISTS restored").await {
            Ok(_) => break,
            Err(_) => madsim::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Starts restoring `bank.customers` from the chain's full
/// backup location into it, on `gateway`, in a task of the calling client.
fn start_restore(kv: &sim::SimKv, gateway: model::NodeId, location: &str, with: &str) -> madsim::task::JoinHandle<RestoreDuring> {
    let kv = kv.clone();
    // `with` is the chain's own clause (` WITH encryption_passphrase = ...`) or empty.
    let more = with.strip_prefix(" WITH ").map(|o| format!(", {o}")).unwrap_or_default();
    let sql = format!("RESTORE TABLE bank.customers FROM '{location}' WITH into_db = 'restored'{more}");
    madsim::task::spawn(async move {
        let issued = kv.now();
        match kv.bulk(gateway, &sql, "root", "defaultdb", Duration::from_secs(120)).await {
            Ok(_) => RestoreDuring { issued, returned: Some(kv.now()), error: None },
            Err(e) => RestoreDuring { issued, returned: None, error: Some(e) },
        }
    })
}

/// The copy a mid-chain restore made, as the source cluster holds it at the end of the run.
struct RestoredCopy {
    /// Its columns and rows, if the restore published it.
    rows: Option<(Vec<String>, Vec<Vec<Datum>>)>,
    during: RestoreDuring,
}

impl RestoredCopy {
    /// A restored chain's view of the copy at `ts`: exactly the source's copy if it was published
    /// by `ts` (for certain when the statement had returned by then), absent if it was issued
    /// after `ts`, either in between.
    fn check(&self, seen: &Observation, ts: Timestamp, what: &str) -> Result<(), Failure> {
        let fail = |message: String| Failure {
            property: Property::RestoreMatchesOracle,
            message: format!("after restoring {what} {ts}: {RESTORED_TABLE} (restored into the source mid-chain) {message}"),
        };
        match (&seen.result, &self.rows) {
            (Ok((columns, rows)), Some((want_columns, want_rows))) => {
                if (columns, rows) != (want_columns, want_rows) {
                    return Err(fail(format!("differs from the source's copy: {} rows, the source has {}", rows.len(), want_rows.len())));
                }
                if ts < self.during.issued {
                    return Err(fail(format!("is there although its RESTORE was issued at {}, after this time", self.during.issued)));
                }
                Ok(())
            }
            (Ok(_), None) => Err(fail("is there, but the source never published it".into())),
            // (The database it goes into is created just before the RESTORE: a time before that
            // has neither.)
            (Err(model::sql::SqlError::UndefinedRelation(_) | model::sql::SqlError::UndefinedDatabase(_)), _) => match self.during.returned {
                Some(r) if r < ts && self.rows.is_some() => Err(fail(format!("is missing, though its RESTORE had returned at {r}, before this time"))),
                _ => Ok(()),
            },
            (Err(e), _) => Err(fail(format!("cannot be read: {e}"))),
        }
    }
}

/// Reads the mid-chain restore's copy in the source cluster and checks it against the oracle:
/// bank.customers as of the end of one of the chain's backups.
async fn restored_copy(world: &mut sim::World, during: &RestoreDuring, oracle: &Oracle, layers: &[Manifest]) -> Result<RestoredCopy, Failure> {
    let reader = world.add_client("copy-reader");
    let task = reader.spawn(|kv| async move { check::observe(&kv, RESTORED_TABLE, kv.now()).await });
    let seen = crate::run::drive(world, task).await;
    let rows = match seen.result {
        Ok(r) => Some(r),
        Err(model::sql::SqlError::UndefinedRelation(_)) if during.returned.is_none() => None,
        Err(e) => {
            return Err(Failure {
                property: Property::RestoreSucceeds,
                message: format!("the mid-chain RESTORE ({during:?}): reading {RESTORED_TABLE} in the source: {e}"),
            })
        }
    };
    if let Some((columns, got)) = &rows {
        let matches_a_backup = layers.iter().any(|m| {
            check::expected(oracle, "bank.customers", m.end_time)
                .is_some_and(|want| crate::oracle::diff(RESTORED_TABLE, m.end_time, &want, columns, got).is_none())
        });
        if !matches_a_backup {
            return Err(Failure {
                property: Property::RestoreMatchesOracle,
                message: format!("{RESTORED_TABLE}, restored into the source mid-chain, is bank.customers as of no backup of the chain ({} rows)", got.len()),
            });
        }
    }
    Ok(RestoredCopy { rows, during: during.clone() })
}

/// Checks that an incremental's rows are exactly its window's changes: every primary key whose
/// row differs between the window's two ends is in the layer, and every key in it had a change
/// recorded in the window. Tables with a table-wide change in the window (created, truncated, a
/// column added) and spans the layer introduces (exported from time zero) are not judged.
fn check_window(oracle: &Oracle, m: &Manifest, read: impl Fn(&str) -> Result<Vec<u8>, String>) -> Result<(), String> {
    let names: BTreeMap<u32, String> = {
        let dbs: BTreeMap<u32, String> = m.descriptors.iter().filter_map(|d| d.as_database().map(|db| (db.id, db.name.clone()))).collect();
        m.descriptors
            .iter()
            .filter_map(|d| match d {
                Descriptor::Table(t) => Some((t.id, format!("{}.{}", dbs.get(&t.parent_id).cloned().unwrap_or_default(), t.name))),
                Descriptor::Database(_) => None,
            })
            .collect()
    };
    let mut found: BTreeMap<String, BTreeSet<Datum>> = BTreeMap::new();
    for f in &m.files {
        if f.start_time.is_some() {
            continue;
        }
        let bytes = read(&f.path)?;
        let data = DataFile::decode_listed(&f.path, f, &bytes).map_err(|e| e.to_string())?;
        for e in data.entries {
            let Ok((table, index, datums)) = model::encoding::decode_index_key(&e.key) else { continue };
            if index != model::encoding::PRIMARY_INDEX_ID {
                continue;
            }
            if let (Some(name), Some(pk)) = (names.get(&table), datums.first()) {
                found.entry(name.clone()).or_default().insert(pk.clone());
            }
        }
    }
    for table in names.values() {
        if table == VIEW_BIG_ACCOUNTS
            || m.introduced_spans.iter().any(|s| names.iter().any(|(id, n)| n == table && s.contains_key(&model::encoding::table_span(*id).start)))
        {
            continue;
        }
        let Some(events) = oracle.events_between(table, m.start_time, m.end_time) else { continue };
        if events.iter().any(|e| !matches!(e, Event::Put { .. } | Event::Delete { .. } | Event::Add { .. })) {
            continue;
        }
        let touched: BTreeSet<Datum> = events
            .iter()
            .filter_map(|e| match e {
                Event::Put { row } => row.first().cloned(),
                Event::Delete { pk } | Event::Add { pk, .. } => Some(pk.clone()),
                _ => None,
            })
            .collect();
        let before = oracle.state_at(table, m.start_time).map(|s| s.rows).unwrap_or_default();
        let after = oracle.state_at(table, m.end_time).map(|s| s.rows).unwrap_or_default();
        let changed: BTreeSet<Datum> = before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).cloned().collect();
        let got = found.remove(table).unwrap_or_default();
        if let Some(k) = changed.iter().find(|k| !got.contains(*k)) {
            return Err(format!("{table}: key {k} changed in the window but is not in the incremental"));
        }
        if let Some(k) = got.iter().find(|k| !touched.contains(*k)) {
            return Err(format!("{table}: key {k} is in the incremental but had no committed change in the window"));
        }
    }
    Ok(())
}
