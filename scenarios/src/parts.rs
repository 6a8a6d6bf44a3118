//! Scenarios as compositions of named parts, as FoundationDB composes its simulation tests from
//! workloads named in small spec files: a workload (what writes while the rest runs), a fault
//! menu (the kinds the seed's swarm draws from), an operation (what runs against the workload and
//! is judged) and the checks at the end. Each part is registered once, here, by name; a
//! registered scenario is a [`Composition`] (see [`crate::registry::compositions`]), and a
//! scenario file names the parts it wants in a `compose` stanza:
//!
//! ```text
//! compose workload=bank faults=cluster operation=past-reads checks=(reads-match-oracle,writers-finish)
//! ----
//! ok
//! ```
//!
//! That file *is* the cluster scenario: `backup-sim run FILE --seeds N` and `backup-sim sweep
//! --scenario cluster --seeds N` run the same seeds byte for byte (a test holds them to the same
//! traces), as the backup and chain scenarios' files run theirs. Each operation names the fault
//! menus and checks it can run ([`Operation::menus`], [`Operation::checks`]); the registered
//! scenario is the operation with its default workload, its own menu and every check, and a file
//! recombines them: another workload, a smaller menu or none, fewer checks.
//!
//! This module is data only (names, parsing, the fault menus); running a composition is the
//! registry's ([`crate::registry::run_composition`]), above the scenarios.

use sim::faults::FaultKind;
use std::fmt;

/// What writes to the cluster while the operation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// The bank workload ([`crate::workload`]): its schema, then writers with transfers, schema
    /// changes and deletes (the cluster, backup and chain scenarios' workload).
    Bank,
    /// The bank schema and a ledger table loaded once before the run, then no writers: the
    /// cluster idles under the faults for the safety phase while the observer reads.
    Idle,
}

/// The fault kinds the seed's swarm draws from (which are on, how often: the run's
/// [`sim::faults::FaultMix`] decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultMenu {
    /// Every cluster-level kind ([`FaultKind::CLUSTER`]).
    Cluster,
    /// The backup scenario's menu (cluster kinds and the kinds aimed at its job).
    Backup,
    /// The chain scenario's menu.
    Chain,
    /// No faults.
    None,
}

/// What runs against the workload and is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// An observer reading random tables (and a view) at random past times while the writers
    /// run, then every table at its commit boundaries: the cluster scenario.
    PastReads,
    /// The backup scenario's operation: a BACKUP of a seed-chosen target to a seed-chosen
    /// backend, as a job, while the workload writes (and, under its menu, faults aimed at the
    /// job); how the job ended is always judged.
    Backup,
    /// The chain scenario's operation: a full backup and up to five incrementals (automatic or
    /// `INCREMENTAL FROM`, with or without revision history), a restore during the chain, a
    /// rival incremental; how every job ended is always judged.
    Chain,
}

/// A property judged at the end of a run, each by the operations that can judge it
/// ([`Operation::checks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// past-reads: every read at a past time equals the oracle's rows as of that time.
    ReadsMatchOracle,
    /// past-reads: every writer finishes within four minutes of the faults' end.
    WritersFinish,
    /// backup, chain: the destination as storage holds it (read straight from it, never through
    /// the job's account) restores into a fresh cluster equal to the oracle at the backup's time;
    /// a failed or canceled job left nothing RESTORE takes; storage damage is refused naming the
    /// file. (For backup: then a canceled backup is taken again, and judged the same way.)
    RestoresMatchOracle,
    /// backup: every export was answered by the leaseholder of its moment (from the trace).
    ExportsFromLeaseholders,
    /// backup: with faults off, a backup missing a dependency, below a GC threshold, to a
    /// malformed or forbidden URL, with a wrong credential or a key too long for the service is
    /// refused at planning, each for its reason.
    PlanningRefusals,
    /// chain: each layer holds exactly the changes of its window, no more and no less.
    LayersHoldTheirWindows,
    /// chain: a restore `AS OF SYSTEM TIME` a random point inside the chain equals the oracle
    /// then (revision history), or is refused for lacking it.
    PointInTime,
    /// chain: a chain with a member dropped, two swapped, a bit flipped or a forked member is
    /// refused naming what is wrong.
    DamageRefused,
    /// backup, chain: SHOW JOBS tells what happened to every job, secrets redacted.
    JobsAudit,
    /// backup, chain: no secret (credential, passphrase) reaches the trace or any output.
    NoSecretsShown,
}

/// A scenario as the parts it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composition {
    /// The workload.
    pub workload: Workload,
    /// The fault menu.
    pub faults: FaultMenu,
    /// The operation.
    pub operation: Operation,
    /// The checks, in a fixed order.
    pub checks: Vec<Check>,
    /// Whether the nodes get localities and the backup operation's BACKUPs a locality-aware
    /// list of URLs (`localities=drawn`), judged by where each data file went.
    pub localities: Localities,
}

/// The nodes' localities in a composition: none (every registered scenario), or drawn from
/// the seed with a locality-aware BACKUP list to match ([`crate::locality_check`]); a run then
/// also judges [`crate::property::Property::WritesInTheirLocality`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Localities {
    /// No node has a locality; BACKUP has one URL.
    #[default]
    None,
    /// Each node in a drawn region (and zone), the BACKUP to a drawn list of URLs.
    Drawn,
}

impl Named for Localities {
    const KIND: &'static str = "localities value";
    const ALL: &'static [Self] = &[Localities::None, Localities::Drawn];
    fn name(self) -> &'static str {
        match self {
            Localities::None => "none",
            Localities::Drawn => "drawn",
        }
    }
}

/// A part by its name, for parsing and printing.
trait Named: Sized + Copy + 'static {
    const KIND: &'static str;
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn parse(text: &str) -> Result<Self, String> {
        Self::ALL.iter().copied().find(|p| p.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|p| p.name()).collect();
            format!("unknown {} {text:?}; the {}s are {}", Self::KIND, Self::KIND, names.join(", "))
        })
    }
}

impl Named for Workload {
    const KIND: &'static str = "workload";
    const ALL: &'static [Self] = &[Workload::Bank, Workload::Idle];
    fn name(self) -> &'static str {
        match self {
            Workload::Bank => "bank",
            Workload::Idle => "idle",
        }
    }
}

impl Named for FaultMenu {
    const KIND: &'static str = "fault menu";
    const ALL: &'static [Self] = &[FaultMenu::Cluster, FaultMenu::Backup, FaultMenu::Chain, FaultMenu::None];
    fn name(self) -> &'static str {
        match self {
            FaultMenu::Cluster => "cluster",
            FaultMenu::Backup => "backup",
            FaultMenu::Chain => "chain",
            FaultMenu::None => "none",
        }
    }
}

impl Named for Operation {
    const KIND: &'static str = "operation";
    const ALL: &'static [Self] = &[Operation::PastReads, Operation::Backup, Operation::Chain];
    fn name(self) -> &'static str {
        match self {
            Operation::PastReads => "past-reads",
            Operation::Backup => "backup",
            Operation::Chain => "chain",
        }
    }
}

impl Named for Check {
    const KIND: &'static str = "check";
    const ALL: &'static [Self] = &[
        Check::ReadsMatchOracle,
        Check::WritersFinish,
        Check::RestoresMatchOracle,
        Check::ExportsFromLeaseholders,
        Check::PlanningRefusals,
        Check::LayersHoldTheirWindows,
        Check::PointInTime,
        Check::DamageRefused,
        Check::JobsAudit,
        Check::NoSecretsShown,
    ];
    fn name(self) -> &'static str {
        match self {
            Check::ReadsMatchOracle => "reads-match-oracle",
            Check::WritersFinish => "writers-finish",
            Check::RestoresMatchOracle => "restores-match-oracle",
            Check::ExportsFromLeaseholders => "exports-from-leaseholders",
            Check::PlanningRefusals => "planning-refusals",
            Check::LayersHoldTheirWindows => "layers-hold-their-windows",
            Check::PointInTime => "point-in-time",
            Check::DamageRefused => "damage-refused",
            Check::JobsAudit => "jobs-audit",
            Check::NoSecretsShown => "no-secrets-shown",
        }
    }
}

impl Operation {
    /// The checks this operation can judge, in their fixed order; its registered scenario judges
    /// them all.
    pub fn checks(self) -> &'static [Check] {
        match self {
            Operation::PastReads => &[Check::ReadsMatchOracle, Check::WritersFinish],
            Operation::Backup => {
                &[Check::RestoresMatchOracle, Check::ExportsFromLeaseholders, Check::PlanningRefusals, Check::JobsAudit, Check::NoSecretsShown]
            }
            Operation::Chain => {
                &[Check::RestoresMatchOracle, Check::LayersHoldTheirWindows, Check::PointInTime, Check::DamageRefused, Check::JobsAudit, Check::NoSecretsShown]
            }
        }
    }

    /// The fault menus this operation can run under, its own first (a job's menu aims at a job
    /// the operation runs: the backup menu at one BACKUP, the chain menu at a chain's
    /// incrementals).
    pub fn menus(self) -> &'static [FaultMenu] {
        match self {
            Operation::PastReads => &[FaultMenu::Cluster, FaultMenu::None],
            Operation::Backup => &[FaultMenu::Backup, FaultMenu::Cluster, FaultMenu::None],
            Operation::Chain => &[FaultMenu::Chain, FaultMenu::Cluster, FaultMenu::None],
        }
    }

    /// Its registered scenario's parts: the bank workload, its own menu, every check.
    pub fn whole(self) -> Composition {
        Composition { workload: Workload::Bank, faults: self.menus()[0], operation: self, checks: self.checks().to_vec(), localities: Localities::None }
    }
}

impl FaultMenu {
    /// The kinds a swarm under this menu draws from, out of `own`, the operation's own menu (the
    /// backup and chain scenarios' menus depend on the seed's choices, so the operation passes
    /// them): all of them, only the cluster-level ones, or none.
    pub fn kinds(self, own: &[FaultKind]) -> Vec<FaultKind> {
        match self {
            FaultMenu::None => Vec::new(),
            FaultMenu::Cluster => {
                own.iter().copied().filter(|k| FaultKind::CLUSTER.contains(k) || matches!(k, FaultKind::Rebalance | FaultKind::LastingMinority)).collect()
            }
            FaultMenu::Backup | FaultMenu::Chain => own.to_vec(),
        }
    }

    /// The kinds a past-reads swarm draws from: the cluster-level ones and the lasting
    /// minority, or none.
    pub fn cluster_kinds(self) -> Vec<FaultKind> {
        let mut own = FaultKind::CLUSTER.to_vec();
        own.extend([FaultKind::Rebalance, FaultKind::LastingMinority]);
        self.kinds(&own)
    }
}

impl Composition {
    /// The cluster scenario's parts.
    pub fn cluster() -> Composition {
        Operation::PastReads.whole()
    }

    /// The backup scenario's parts.
    pub fn backup() -> Composition {
        Operation::Backup.whole()
    }

    /// The chain scenario's parts.
    pub fn chain() -> Composition {
        Operation::Chain.whole()
    }

    /// Whether the run judges `check`.
    pub fn judges(&self, check: Check) -> bool {
        self.checks.contains(&check)
    }

    /// Reads a `compose` stanza's arguments (`workload=`, `faults=`, `operation=`, `checks=` a
    /// name or a list `(a,b)`); a part left out is the operation's own ([`Operation::whole`]:
    /// the bank workload, its own menu, every check it can judge). Refuses an unknown name, a
    /// menu the operation cannot run under and a check it cannot judge, naming those it can.
    pub fn parse(args: &[(String, Vec<String>)]) -> Result<Composition, String> {
        let one = |k: &str, v: &[String]| match v {
            [one] => Ok(one.clone()),
            _ => Err(format!("compose: {k}= takes one name")),
        };
        let (mut workload, mut faults, mut operation, mut checks) = (None, None, None, None);
        let mut localities = Localities::None;
        for (k, v) in args {
            match k.as_str() {
                "workload" => workload = Some(Workload::parse(&one(k, v)?)?),
                "faults" => faults = Some(FaultMenu::parse(&one(k, v)?)?),
                "operation" => operation = Some(Operation::parse(&one(k, v)?)?),
                "checks" => {
                    let mut list = v.iter().map(|c| Check::parse(c)).collect::<Result<Vec<_>, _>>()?;
                    list.sort();
                    list.dedup();
                    checks = Some(list);
                }
                "localities" => localities = Localities::parse(&one(k, v)?)?,
                other => return Err(format!("compose: unknown argument {other:?}; the arguments are workload=, faults=, operation=, checks=, localities=")),
            }
        }
        let operation = operation.unwrap_or(Operation::PastReads);
        let base = operation.whole();
        let c = Composition {
            workload: workload.unwrap_or(base.workload),
            faults: faults.unwrap_or(base.faults),
            operation,
            checks: checks.unwrap_or(base.checks.clone()),
            localities,
        };
        let names = |list: &[&'static str]| list.join(", ");
        if !operation.menus().contains(&c.faults) {
            let menus: Vec<&str> = operation.menus().iter().map(|m| m.name()).collect();
            return Err(format!(
                "compose: operation={} cannot run under faults={} (it aims at another operation's job); its menus are {}",
                operation.name(),
                c.faults.name(),
                names(&menus)
            ));
        }
        if c.localities == Localities::Drawn {
            // Only the backup operation's statements take the drawn list; its planning
            // refusals are of single URLs, whose reasons a list would not change.
            if operation != Operation::Backup {
                return Err(format!("compose: localities=drawn is for operation=backup, not {}", operation.name()));
            }
            if c.judges(Check::PlanningRefusals) {
                return Err("compose: localities=drawn does not judge planning-refusals (they refuse single URLs); leave it out of checks=".into());
            }
        }
        if let Some(other) = c.checks.iter().find(|k| !operation.checks().contains(k)) {
            let checks: Vec<&str> = operation.checks().iter().map(|k| k.name()).collect();
            return Err(format!("compose: operation={} does not judge {}; its checks are {}", operation.name(), other.name(), names(&checks)));
        }
        Ok(c)
    }
}

impl fmt::Display for Composition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "workload={} faults={} operation={}", self.workload.name(), self.faults.name(), self.operation.name())?;
        if !self.checks.is_empty() {
            let names: Vec<&str> = self.checks.iter().map(|c| c.name()).collect();
            write!(f, " checks=({})", names.join(","))?;
        }
        if self.localities != Localities::None {
            write!(f, " localities={}", self.localities.name())?;
        }
        Ok(())
    }
}

/// Every part's name, by kind, for `backup-sim list`.
pub fn catalogue() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("workloads", Workload::ALL.iter().map(|p| p.name()).collect()),
        ("fault menus", FaultMenu::ALL.iter().map(|p| p.name()).collect()),
        ("operations", Operation::ALL.iter().map(|p| p.name()).collect()),
        ("checks", Check::ALL.iter().map(|p| p.name()).collect()),
        ("localities", Localities::ALL.iter().map(|p| p.name()).collect()),
    ]
}

/// Each operation's name with the names of the fault menus it can run under and the checks it
/// can judge, for `backup-sim list`.
pub fn operations() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
    Operation::ALL.iter().map(|o| (o.name(), o.menus().iter().map(|m| m.name()).collect(), o.checks().iter().map(|c| c.name()).collect())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        text.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn a_stanza_names_parts_and_the_rest_are_the_operations_own() {
        assert_eq!(Composition::parse(&args(&[])).unwrap(), Composition::cluster());
        let idle = Composition::parse(&args(&[("workload", &["idle"]), ("checks", &["writers-finish", "reads-match-oracle"])])).unwrap();
        assert_eq!(idle, Composition { workload: Workload::Idle, ..Composition::cluster() });
        assert_eq!(Composition::parse(&args(&[("operation", &["backup"])])).unwrap(), Composition::backup());
        assert_eq!(Composition::cluster().to_string(), "workload=bank faults=cluster operation=past-reads checks=(reads-match-oracle,writers-finish)");
        // The backup scenario's parts recombine: no faults aimed at the job, fewer checks.
        let lean =
            Composition::parse(&args(&[("operation", &["backup"]), ("faults", &["cluster"]), ("checks", &["jobs-audit", "restores-match-oracle"])])).unwrap();
        assert_eq!(lean.to_string(), "workload=bank faults=cluster operation=backup checks=(restores-match-oracle,jobs-audit)");
        assert!(lean.judges(Check::RestoresMatchOracle) && !lean.judges(Check::PlanningRefusals));
        assert_eq!(Composition::parse(&args(&[("operation", &["chain"])])).unwrap().checks.len(), 6);
        // Drawn localities, for the backup operation without its planning refusals.
        let geo = Composition::parse(&args(&[("operation", &["backup"]), ("checks", &["restores-match-oracle"]), ("localities", &["drawn"])])).unwrap();
        assert_eq!(geo.to_string(), "workload=bank faults=backup operation=backup checks=(restores-match-oracle) localities=drawn");
        let e = Composition::parse(&args(&[("operation", &["backup"]), ("localities", &["drawn"])])).unwrap_err();
        assert!(e.contains("does not judge planning-refusals"), "{e}");
        let e = Composition::parse(&args(&[("localities", &["drawn"])])).unwrap_err();
        assert!(e.contains("is for operation=backup"), "{e}");
    }

    #[test]
    fn unknown_names_and_impossible_combinations_are_refused_naming_them() {
        let e = Composition::parse(&args(&[("workload", &["tpcc"])])).unwrap_err();
        assert!(e.contains("unknown workload \"tpcc\"") && e.contains("bank, idle"), "{e}");
        let e = Composition::parse(&args(&[("operation", &["backup"]), ("faults", &["chain"])])).unwrap_err();
        assert!(e.contains("cannot run under faults=chain") && e.contains("backup, cluster, none"), "{e}");
        let e = Composition::parse(&args(&[("faults", &["chain"])])).unwrap_err();
        assert!(e.contains("operation=past-reads cannot run under faults=chain"), "{e}");
        let e = Composition::parse(&args(&[("operation", &["chain"]), ("checks", &["planning-refusals"])])).unwrap_err();
        assert!(e.contains("does not judge planning-refusals") && e.contains("layers-hold-their-windows"), "{e}");
        let e = Composition::parse(&args(&[("seeds", &["3"])])).unwrap_err();
        assert!(e.contains("unknown argument \"seeds\""), "{e}");
    }
}
