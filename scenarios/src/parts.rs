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
//! traces). The cluster scenario's parts combine freely (another workload, no faults, fewer
//! checks). The backup and chain operations are whole parts today: their job, fault aim and
//! verdict come as one, with their own workload and menu, so a file names them whole
//! (`compose operation=backup`).
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
    /// The backup scenario whole: a BACKUP under faults aimed at its job, its verdict, restores
    /// and refusals.
    Backup,
    /// The chain scenario whole: a full backup and incrementals, their restores and damage.
    Chain,
}

/// A property judged at the end of a [`Operation::PastReads`] run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// Every read at a past time equals the oracle's rows as of that time.
    ReadsMatchOracle,
    /// Every writer finishes within four minutes of the faults' end.
    WritersFinish,
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
    const ALL: &'static [Self] = &[Check::ReadsMatchOracle, Check::WritersFinish];
    fn name(self) -> &'static str {
        match self {
            Check::ReadsMatchOracle => "reads-match-oracle",
            Check::WritersFinish => "writers-finish",
        }
    }
}

impl FaultMenu {
    /// The kinds a [`FaultMenu::Cluster`] or [`FaultMenu::None`] swarm draws from (the backup and
    /// chain menus are their scenarios' own, drawn by them).
    pub fn cluster_kinds(self) -> &'static [FaultKind] {
        match self {
            FaultMenu::None => &[],
            _ => &FaultKind::CLUSTER,
        }
    }
}

impl Composition {
    /// The cluster scenario's parts.
    pub fn cluster() -> Composition {
        Composition {
            workload: Workload::Bank,
            faults: FaultMenu::Cluster,
            operation: Operation::PastReads,
            checks: vec![Check::ReadsMatchOracle, Check::WritersFinish],
        }
    }

    /// The backup scenario, a whole part.
    pub fn backup() -> Composition {
        Composition { workload: Workload::Bank, faults: FaultMenu::Backup, operation: Operation::Backup, checks: Vec::new() }
    }

    /// The chain scenario, a whole part.
    pub fn chain() -> Composition {
        Composition { workload: Workload::Bank, faults: FaultMenu::Chain, operation: Operation::Chain, checks: Vec::new() }
    }

    /// Reads a `compose` stanza's arguments (`workload=`, `faults=`, `operation=`, `checks=` a
    /// name or a list `(a,b)`); a part left out is the operation's own (for `past-reads`: the
    /// bank workload, the cluster menu, both checks). Refuses an unknown name, and a whole part
    /// (`backup`, `chain`) given other parts than its own.
    pub fn parse(args: &[(String, Vec<String>)]) -> Result<Composition, String> {
        let one = |k: &str, v: &[String]| match v {
            [one] => Ok(one.clone()),
            _ => Err(format!("compose: {k}= takes one name")),
        };
        let (mut workload, mut faults, mut operation, mut checks) = (None, None, None, None);
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
                other => return Err(format!("compose: unknown argument {other:?}; the arguments are workload=, faults=, operation=, checks=")),
            }
        }
        let operation = operation.unwrap_or(Operation::PastReads);
        let base = match operation {
            Operation::PastReads => Composition::cluster(),
            Operation::Backup => Composition::backup(),
            Operation::Chain => Composition::chain(),
        };
        let c = Composition {
            workload: workload.unwrap_or(base.workload),
            faults: faults.unwrap_or(base.faults),
            operation,
            checks: checks.unwrap_or(base.checks.clone()),
        };
        if operation != Operation::PastReads && c != base {
            return Err(format!("compose: operation={} is a whole part with its own workload, faults and checks ({}); name it alone", operation.name(), base));
        }
        if operation == Operation::PastReads && matches!(c.faults, FaultMenu::Backup | FaultMenu::Chain) {
            return Err(format!("compose: faults={} aims at a backup job, which operation=past-reads does not run", c.faults.name()));
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
    ]
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
    }

    #[test]
    fn unknown_names_and_impossible_combinations_are_refused_naming_them() {
        let e = Composition::parse(&args(&[("workload", &["tpcc"])])).unwrap_err();
        assert!(e.contains("unknown workload \"tpcc\"") && e.contains("bank, idle"), "{e}");
        let e = Composition::parse(&args(&[("operation", &["backup"]), ("faults", &["none"])])).unwrap_err();
        assert!(e.contains("whole part"), "{e}");
        let e = Composition::parse(&args(&[("faults", &["chain"])])).unwrap_err();
        assert!(e.contains("does not run"), "{e}");
        let e = Composition::parse(&args(&[("seeds", &["3"])])).unwrap_err();
        assert!(e.contains("unknown argument \"seeds\""), "{e}");
    }
}
