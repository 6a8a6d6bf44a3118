//! Property tests of the BACKUP planner (`backup::plan::plan_backup`) against an independent
//! model of the schema.
//!
//! Each case builds a fresh in-process cluster and a random schema through the SQL session: a
//! few databases (plus `defaultdb` and `postgres`); tables with foreign keys to earlier tables
//! (possibly in other databases, possibly to themselves), columns defaulting to `nextval` of a
//! sequence, tables interleaved in a parent; views selecting from any relation (views over
//! views, over sequences); `ALTER TABLE ... ADD COLUMN ... DEFAULT nextval(...)`; `DROP ...
//! CASCADE` of relations and databases; `TRUNCATE ... CASCADE` (new descriptor ids). While
//! building it the test keeps its own model of the schema — relation names, kinds, databases and
//! dependency edges — updated by the test's own reading of each statement, and a snapshot of that
//! model with the HLC time after every statement. Then it plans random BACKUP statements
//! (cluster, `DATABASE a, b`, or lists of `db.t` / `db.public.t` / `t` / `db.*`, some closed under
//! dependencies by the model, some `AS OF SYSTEM TIME` an earlier snapshot) and checks:
//!
//! 1. acceptance: the planner refuses a target that does not exist (naming the first one, in
//!    list order), and otherwise accepts exactly when every dependency of every selected relation
//!    is selected too (the seed's "Object dependencies" table: a table needs the tables its
//!    foreign keys reference and the sequences its defaults use, a view the relation it selects
//!    from, an interleaved table its parent; never the reverse, and a self-reference is no
//!    dependency); a refusal names one missing dependency of the model, with its reason;
//! 2. coverage: accepted, the spans are non-empty, sorted, pairwise disjoint, each within one
//!    selected relation's `table_span`, and their union is exactly the union of the selected
//!    non-view relations' `table_span`s; the descriptors are exactly the selected relations (as
//!    of the backup's time: same kind, name, database and dependency edges as the model) and
//!    their databases plus the databases named whole; `complete_dbs`, `is_full_cluster` and
//!    `cluster_data` match the target kind;
//! 3. determinism: planning the same statement twice gives the same details but for
//!    `backup_id` (unique per statement, so it must differ) and, without `AS OF SYSTEM TIME`,
//!    `end_time`; a refusal gives the same error twice;
//! 4. no side effects: planning leaves the KV store (every version, intent and GC threshold,
//!    hence the jobs table) and the destination untouched; a refused BACKUP run through the
//!    front door (`exec::execute`) fails with the planner's error and records no job.
//!
//! Ids are never guessed: the model maps a relation to its descriptor id by name in the catalog
//! as of the backup's time. Dependencies are never taken from `Catalog::dependencies` (what the
//! planner uses): the model's edges come from the statements the test generated.
//!
//! Before judging the planner each statement also checks the model itself against the catalog
//! (same databases, relations, kinds and edges), so a wrong model fails as such. 256 cases of up
//! to 13 schema statements and 5 BACKUPs each run in under a second in a debug build
//! (`PROPTEST_CASES` overrides the count); the run then asserts that every kind of verdict
//! occurred, so that a generator gone vacuous fails too. Failures are persisted in
//! `plan_props.proptest-regressions` next to this file.

use crate::common::*;
use backup::error::BackupError;
use backup::plan::{plan_backup, BackupDetails};
use backup::statement::{parse, Statement};
use backup::targets::SessionContext;
use futures::executor::block_on;
use model::catalog::{Catalog, DefaultExpr, TableDescriptor, TableKind};
use model::encoding::table_span;
use model::{Descriptor, Entry, Key, MvccFilter, Span, Timestamp};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use proptest::test_runner::TestRunner;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The schema model.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Table,
    View,
    Sequence,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::View => "view",
            Kind::Sequence => "sequence",
        }
    }
}

/// Why a relation depends on another, with the detail the planner's message gives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Why {
    /// A foreign key, by constraint name.
    ForeignKey(String),
    /// A column default calling nextval, by column name.
    SequenceDefault(String),
    /// A view's FROM.
    View,
    /// INTERLEAVE IN PARENT.
    Interleave,
}

impl Why {
    fn text(&self) -> String {
        match self {
            Why::ForeignKey(c) => format!("foreign key constraint \"{c}\" references it"),
            Why::SequenceDefault(c) => format!("column \"{c}\" uses the sequence"),
            Why::View => "the view selects from it".into(),
            Why::Interleave => "it is the parent in the interleaved hierarchy".into(),
        }
    }
}

#[derive(Clone, Debug)]
struct Edge {
    /// Index of the relation depended on, in `Schema::rels`.
    on: usize,
    why: Why,
}

#[derive(Clone, Debug)]
struct Rel {
    name: String,
    db: String,
    kind: Kind,
    /// Primary key length (tables).
    pk_len: usize,
    /// What this relation depends on (never itself).
    deps: Vec<Edge>,
    dropped: bool,
}

#[derive(Clone, Debug)]
struct Schema {
    /// Every database name ever created, and whether it exists now. The first two are
    /// `defaultdb` and `postgres`; `system` is left out (never a target here).
    dbs: Vec<(String, bool)>,
    /// Every relation ever created, in creation order; names are never reused.
    rels: Vec<Rel>,
    /// For fresh names.
    counter: usize,
}

impl Schema {
    fn new() -> Schema {
        Schema { dbs: vec![("defaultdb".into(), true), ("postgres".into(), true)], rels: Vec::new(), counter: 0 }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    fn db_exists(&self, name: &str) -> bool {
        self.dbs.iter().any(|(n, e)| n == name && *e)
    }

    fn live_dbs(&self) -> Vec<String> {
        self.dbs.iter().filter(|(_, e)| *e).map(|(n, _)| n.clone()).collect()
    }

    fn public(&self, i: usize) -> bool {
        i < self.rels.len() && !self.rels[i].dropped
    }

    fn live(&self, kind: Option<Kind>) -> Vec<usize> {
        (0..self.rels.len()).filter(|&i| self.public(i) && kind.is_none_or(|k| self.rels[i].kind == k)).collect()
    }

    fn qname(&self, i: usize) -> String {
        format!("{}.{}", self.rels[i].db, self.rels[i].name)
    }

    /// `DROP ... CASCADE` of `initial`, as CockroachDB (and the SQL layer) do it: views over and
    /// tables interleaved in a dropped relation are dropped too; foreign keys and sequence
    /// defaults pointing at a dropped relation are removed from the survivors.
    fn drop_cascade(&mut self, initial: &[usize]) {
        let mut set: BTreeSet<usize> = initial.iter().copied().collect();
        let mut work: Vec<usize> = initial.to_vec();
        while let Some(x) = work.pop() {
            for i in 0..self.rels.len() {
                if !self.public(i) || set.contains(&i) {
                    continue;
                }
                if self.rels[i].deps.iter().any(|e| e.on == x && matches!(e.why, Why::View | Why::Interleave)) {
                    set.insert(i);
                    work.push(i);
                }
            }
        }
        for i in 0..self.rels.len() {
            if self.public(i) && !set.contains(&i) {
                self.rels[i].deps.retain(|e| !set.contains(&e.on));
            }
        }
        for i in set {
            self.rels[i].dropped = true;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schema generation: abstract operations whose indices are resolved against the model's state
// when applied (so shrinking never produces an invalid statement).

#[derive(Clone, Debug)]
enum OpSeed {
    CreateDb,
    CreateTable { db: Index, fks: Vec<Index>, self_fk: bool, seqs: Vec<Index>, interleave: Option<Index> },
    CreateSequence { db: Index },
    CreateView { db: Index, src: Index },
    AddSeqColumn { table: Index, seq: Index },
    Drop { rel: Index },
    DropDb { db: Index },
    Truncate { table: Index },
}

fn op_seed() -> impl Strategy<Value = OpSeed> {
    prop_oneof![
        3 => Just(OpSeed::CreateDb),
        8 => (
            any::<Index>(),
            prop::collection::vec(any::<Index>(), 0..3),
            prop::bool::weighted(0.2),
            prop::collection::vec(any::<Index>(), 0..2),
            prop::option::weighted(0.3, any::<Index>()),
        )
            .prop_map(|(db, fks, self_fk, seqs, interleave)| OpSeed::CreateTable { db, fks, self_fk, seqs, interleave }),
        3 => any::<Index>().prop_map(|db| OpSeed::CreateSequence { db }),
        4 => (any::<Index>(), any::<Index>()).prop_map(|(db, src)| OpSeed::CreateView { db, src }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(table, seq)| OpSeed::AddSeqColumn { table, seq }),
        1 => any::<Index>().prop_map(|rel| OpSeed::Drop { rel }),
        1 => any::<Index>().prop_map(|db| OpSeed::DropDb { db }),
        1 => any::<Index>().prop_map(|table| OpSeed::Truncate { table }),
    ]
}

/// Applies one operation to the model; the SQL that does the same, or `None` when the
/// operation has nothing to act on.
fn apply(s: &mut Schema, op: &OpSeed) -> Option<String> {
    match op {
        OpSeed::CreateDb => {
            let name = s.fresh("d");
            s.dbs.push((name.clone(), true));
            Some(format!("CREATE DATABASE {name}"))
        }
        OpSeed::CreateTable { db, fks, self_fk, seqs, interleave } => {
            let db = db.get(&s.live_dbs()).clone();
            let name = s.fresh("t");
            let tables = s.live(Some(Kind::Table));
            let sequences = s.live(Some(Kind::Sequence));
            let mut cols: Vec<String> = Vec::new();
            let mut constraints: Vec<String> = Vec::new();
            let mut deps: Vec<Edge> = Vec::new();
            let mut pk: Vec<String> = Vec::new();
            let mut suffix = String::new();
            if let (Some(p), false) = (interleave, tables.is_empty()) {
                let parent = *p.get(&tables);
                let n = s.rels[parent].pk_len;
                let pcols: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
                for c in &pcols {
                    cols.push(format!("{c} INT"));
                }
                pk.extend(pcols.iter().cloned());
                suffix = format!(" INTERLEAVE IN PARENT {} ({})", s.qname(parent), pcols.join(", "));
                deps.push(Edge { on: parent, why: Why::Interleave });
            }
            cols.push("id INT".into());
            pk.push("id".into());
            let pk_len = pk.len();
            if !tables.is_empty() {
                let mut seen = BTreeSet::new();
                for (j, f) in fks.iter().enumerate() {
                    let parent = *f.get(&tables);
                    if !seen.insert(parent) {
                        continue;
                    }
                    let n = s.rels[parent].pk_len;
                    let fcols: Vec<String> = (0..n).map(|i| format!("f{j}_{i}")).collect();
                    for c in &fcols {
                        cols.push(format!("{c} INT"));
                    }
                    let cname = format!("fk_{name}_{j}");
                    constraints.push(format!("CONSTRAINT {cname} FOREIGN KEY ({}) REFERENCES {}", fcols.join(", "), s.qname(parent)));
                    deps.push(Edge { on: parent, why: Why::ForeignKey(cname) });
                }
            }
            if *self_fk {
                let rcols: Vec<String> = (0..pk_len).map(|i| format!("r{i}")).collect();
                for c in &rcols {
                    cols.push(format!("{c} INT"));
                }
                constraints.push(format!("CONSTRAINT self_{name} FOREIGN KEY ({}) REFERENCES {db}.{name}", rcols.join(", ")));
            }
            if !sequences.is_empty() {
                let mut seen = BTreeSet::new();
                for (j, q) in seqs.iter().enumerate() {
                    let seq = *q.get(&sequences);
                    if !seen.insert(seq) {
                        continue;
                    }
                    let col = format!("s{j}");
                    cols.push(format!("{col} INT DEFAULT nextval('{}')", s.qname(seq)));
                    deps.push(Edge { on: seq, why: Why::SequenceDefault(col) });
                }
            }
            let mut body = cols;
            body.push(format!("PRIMARY KEY ({})", pk.join(", ")));
            body.extend(constraints);
            let sql = format!("CREATE TABLE {db}.{name} ({}){suffix}", body.join(", "));
            s.rels.push(Rel { name, db, kind: Kind::Table, pk_len, deps, dropped: false });
            Some(sql)
        }
        OpSeed::CreateSequence { db } => {
            let db = db.get(&s.live_dbs()).clone();
            let name = s.fresh("s");
            let sql = format!("CREATE SEQUENCE {db}.{name}");
            s.rels.push(Rel { name, db, kind: Kind::Sequence, pk_len: 0, deps: Vec::new(), dropped: false });
            Some(sql)
        }
        OpSeed::CreateView { db, src } => {
            let all = s.live(None);
            if all.is_empty() {
                return None;
            }
            let src = *src.get(&all);
            let db = db.get(&s.live_dbs()).clone();
            let name = s.fresh("v");
            let sql = format!("CREATE VIEW {db}.{name} AS SELECT * FROM {}", s.qname(src));
            s.rels.push(Rel { name, db, kind: Kind::View, pk_len: 0, deps: vec![Edge { on: src, why: Why::View }], dropped: false });
            Some(sql)
        }
        OpSeed::AddSeqColumn { table, seq } => {
            let (tables, sequences) = (s.live(Some(Kind::Table)), s.live(Some(Kind::Sequence)));
            if tables.is_empty() || sequences.is_empty() {
                return None;
            }
            let (t, q) = (*table.get(&tables), *seq.get(&sequences));
            let col = s.fresh("c");
            let sql = format!("ALTER TABLE {} ADD COLUMN {col} INT DEFAULT nextval('{}')", s.qname(t), s.qname(q));
            s.rels[t].deps.push(Edge { on: q, why: Why::SequenceDefault(col) });
            Some(sql)
        }
        OpSeed::Drop { rel } => {
            let all = s.live(None);
            if all.is_empty() {
                return None;
            }
            let r = *rel.get(&all);
            let sql = format!("DROP {} {} CASCADE", s.rels[r].kind.word().to_uppercase(), s.qname(r));
            s.drop_cascade(&[r]);
            Some(sql)
        }
        OpSeed::DropDb { db } => {
            // Only databases the test created; defaultdb and postgres stay.
            let user: Vec<String> = s.live_dbs().into_iter().skip(2).collect();
            if user.is_empty() {
                return None;
            }
            let name = db.get(&user).clone();
            let members: Vec<usize> = s.live(None).into_iter().filter(|&i| s.rels[i].db == name).collect();
            s.drop_cascade(&members);
            for d in &mut s.dbs {
                if d.0 == name {
                    d.1 = false;
                }
            }
            Some(format!("DROP DATABASE {name} CASCADE"))
        }
        OpSeed::Truncate { table } => {
            // New descriptor ids for the table and everything referencing or interleaved in
            // it; names and dependencies stay, so the model does not change.
            let tables = s.live(Some(Kind::Table));
            if tables.is_empty() {
                return None;
            }
            Some(format!("TRUNCATE {} CASCADE", s.qname(*table.get(&tables))))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// BACKUP statements.

#[derive(Clone, Debug)]
enum PatSeed {
    /// A relation, written `db.t` (form 0), `db.public.t` (1) or, in defaultdb, `t` (2): one
    /// public at the backup's time, or with `anywhere` any ever created (so possibly dropped,
    /// or not yet created at the backup's time).
    Rel { rel: Index, form: u8, anywhere: bool },
    /// `db.*` of a database existing at the backup's time, or with `anywhere` of any ever
    /// created.
    AllIn(Index, bool),
}

#[derive(Clone, Debug)]
enum TargetSeed {
    Cluster,
    /// Databases existing at the backup's time, or with `anywhere` any ever created.
    Databases(Vec<Index>, bool),
    /// Patterns; with `close`, the model adds every missing dependency (transitively).
    Tables {
        pats: Vec<PatSeed>,
        close: bool,
    },
}

#[derive(Clone, Debug)]
struct BackupSeed {
    targets: TargetSeed,
    /// `AS OF SYSTEM TIME` one of the snapshots (None: now).
    as_of: Option<Index>,
    table_keyword: bool,
}

fn backup_seed() -> impl Strategy<Value = BackupSeed> {
    let pat = prop_oneof![
        5 => (any::<Index>(), 0u8..3, prop::bool::weighted(0.1)).prop_map(|(rel, form, anywhere)| PatSeed::Rel { rel, form, anywhere }),
        1 => (any::<Index>(), prop::bool::weighted(0.1)).prop_map(|(db, anywhere)| PatSeed::AllIn(db, anywhere)),
    ];
    let targets = prop_oneof![
        1 => Just(TargetSeed::Cluster),
        3 => (prop::collection::vec(any::<Index>(), 1..4), prop::bool::weighted(0.1)).prop_map(|(dbs, anywhere)| TargetSeed::Databases(dbs, anywhere)),
        6 => (prop::collection::vec(pat, 1..6), any::<bool>()).prop_map(|(pats, close)| TargetSeed::Tables { pats, close }),
    ];
    (targets, prop::option::weighted(0.3, any::<Index>()), any::<bool>()).prop_map(|(targets, as_of, table_keyword)| BackupSeed {
        targets,
        as_of,
        table_keyword,
    })
}

/// A resolved table pattern.
#[derive(Clone, Debug)]
enum Pat {
    /// (relation index, how it is written)
    Rel(usize, u8),
    AllIn(String),
}

/// What the model says the planner must do.
#[derive(Debug)]
enum Expect {
    /// A refusal with exactly this message (a target that does not exist).
    NotFound(String),
    /// A refusal naming one of these missing dependencies (exact messages).
    MissingDependency(BTreeSet<String>),
    /// Acceptance: these relations, the databases named whole, and the databases to describe.
    Accept { rels: BTreeSet<usize>, complete: BTreeSet<String>, dbs: BTreeSet<String> },
}

/// The model's verdict on `targets` against the schema `s` (the snapshot at the backup's time;
/// `fin`, the final schema, names relations that do not exist yet).
fn expect(fin: &Schema, s: &Schema, targets: &ResolvedTargets) -> Expect {
    let mut rels: BTreeSet<usize> = BTreeSet::new();
    let mut complete: BTreeSet<String> = BTreeSet::new();
    let in_db = |db: &str| -> Vec<usize> { s.live(None).into_iter().filter(|&i| s.rels[i].db == db).collect() };
    match targets {
        ResolvedTargets::Cluster => {
            for db in s.live_dbs() {
                rels.extend(in_db(&db));
                complete.insert(db);
            }
        }
        ResolvedTargets::Databases(names) => {
            for n in names {
                if !s.db_exists(n) {
                    return Expect::NotFound(format!("database \"{n}\" does not exist"));
                }
                rels.extend(in_db(n));
                complete.insert(n.clone());
            }
        }
        ResolvedTargets::Tables(pats) => {
            for p in pats {
                match p {
                    Pat::Rel(i, _) => {
                        if !s.public(*i) {
                            return Expect::NotFound(format!("table \"{}\" does not exist", fin.qname(*i)));
                        }
                        rels.insert(*i);
                    }
                    Pat::AllIn(db) => {
                        if !s.db_exists(db) {
                            return Expect::NotFound(format!("database \"{db}\" does not exist"));
                        }
                        let members = in_db(db);
                        if members.is_empty() {
                            return Expect::NotFound(format!("no tables match \"{db}.*\""));
                        }
                        rels.extend(members);
                    }
                }
            }
        }
    }
    let mut missing = BTreeSet::new();
    for &i in &rels {
        let r = &s.rels[i];
        for e in &r.deps {
            if !rels.contains(&e.on) {
                let d = &s.rels[e.on];
                missing.insert(format!("cannot back up {} {} without {} {} ({})", r.kind.word(), s.qname(i), d.kind.word(), s.qname(e.on), e.why.text()));
            }
        }
    }
    if !missing.is_empty() {
        return Expect::MissingDependency(missing);
    }
    let mut dbs: BTreeSet<String> = rels.iter().map(|&i| s.rels[i].db.clone()).collect();
    dbs.extend(complete.iter().cloned());
    Expect::Accept { rels, complete, dbs }
}

#[derive(Clone, Debug)]
enum ResolvedTargets {
    Cluster,
    Databases(Vec<String>),
    Tables(Vec<Pat>),
}

/// Resolves a seed against the final schema (names of everything ever created), closing it
/// under the dependencies of the snapshot `at` if asked.
fn resolve_seed(fin: &Schema, at: &Schema, seed: &TargetSeed) -> ResolvedTargets {
    let all_dbs: Vec<String> = fin.dbs.iter().map(|(n, _)| n.clone()).collect();
    let live_dbs = at.live_dbs();
    let dbs = |anywhere: bool| if anywhere { &all_dbs } else { &live_dbs };
    let live_rels = at.live(None);
    match seed {
        TargetSeed::Cluster => ResolvedTargets::Cluster,
        TargetSeed::Databases(ix, anywhere) => ResolvedTargets::Databases(ix.iter().map(|i| i.get(dbs(*anywhere)).clone()).collect()),
        TargetSeed::Tables { pats, close } => {
            let mut out: Vec<Pat> = pats
                .iter()
                .map(|p| match p {
                    PatSeed::Rel { rel, form, anywhere: false } if !live_rels.is_empty() => Pat::Rel(*rel.get(&live_rels), *form),
                    PatSeed::Rel { rel, form, .. } if !fin.rels.is_empty() => Pat::Rel(rel.index(fin.rels.len()), *form),
                    PatSeed::Rel { rel, .. } => Pat::AllIn(rel.get(&all_dbs).clone()),
                    PatSeed::AllIn(d, anywhere) => Pat::AllIn(d.get(dbs(*anywhere)).clone()),
                })
                .collect();
            if *close {
                let mut have: BTreeSet<usize> = BTreeSet::new();
                for p in &out {
                    match p {
                        Pat::Rel(i, _) => {
                            have.insert(*i);
                        }
                        Pat::AllIn(db) => have.extend(at.live(None).into_iter().filter(|&i| at.rels[i].db == *db)),
                    }
                }
                let mut work: Vec<usize> = have.iter().copied().filter(|&i| at.public(i)).collect();
                while let Some(i) = work.pop() {
                    for e in &at.rels[i].deps {
                        if have.insert(e.on) {
                            out.push(Pat::Rel(e.on, 0));
                            work.push(e.on);
                        }
                    }
                }
            }
            ResolvedTargets::Tables(out)
        }
    }
}

fn render_targets(fin: &Schema, t: &ResolvedTargets, table_keyword: bool) -> String {
    match t {
        ResolvedTargets::Cluster => String::new(),
        ResolvedTargets::Databases(names) => format!("DATABASE {} ", names.join(", ")),
        ResolvedTargets::Tables(pats) => {
            let items: Vec<String> = pats
                .iter()
                .map(|p| match p {
                    Pat::Rel(i, form) => {
                        let r = &fin.rels[*i];
                        match form {
                            1 => format!("{}.public.{}", r.db, r.name),
                            2 if r.db == "defaultdb" => r.name.clone(),
                            _ => format!("{}.{}", r.db, r.name),
                        }
                    }
                    Pat::AllIn(db) => format!("{db}.*"),
                })
                .collect();
            format!("{}{} ", if table_keyword { "TABLE " } else { "" }, items.join(", "))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks.

fn plan(c: &Cluster, sql: &str) -> Result<BackupDetails, BackupError> {
    let Statement::Backup(stmt) = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}")) else { panic!("{sql}: not a BACKUP") };
    block_on(plan_backup(&c.env, &SessionContext::root(), &stmt))
}

/// Everything in the KV store: versions (the jobs table included), intents, GC thresholds.
fn fingerprint(c: &Cluster) -> (Vec<Entry>, String, String) {
    let s = c.local.snapshot();
    let everything = Span::new(Key::MIN, vec![0xff; 16]);
    (s.all_versions().collect(), format!("{:?}", s.intents_in(&everything)), format!("{:?}", s.gc_thresholds()))
}

fn job_count(c: &Cluster) -> usize {
    block_on(backup::jobs::list(&*c.local)).unwrap().len()
}

/// Sorted, adjacent spans coalesced (the union as a canonical list). Not `model::merge_spans`: that one drops empty spans,
/// and a planner that emitted an empty span must fail the coverage check, not pass it.
fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut out: Vec<Span> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => {
                if s.end > last.end {
                    last.end = s.end;
                }
            }
            _ => out.push(s),
        }
    }
    out
}

/// A descriptor's dependency edges, read from its fields: (id depended on, why).
fn descriptor_edges(t: &TableDescriptor) -> Vec<(u32, Why)> {
    let mut out = Vec::new();
    for fk in &t.foreign_keys {
        if fk.referenced_table_id != t.id {
            out.push((fk.referenced_table_id, Why::ForeignKey(fk.name.clone())));
        }
    }
    for c in &t.columns {
        if let Some(DefaultExpr::Nextval(seq)) = c.default {
            out.push((seq, Why::SequenceDefault(c.name.clone())));
        }
    }
    if let TableKind::View { depends_on, .. } = &t.kind {
        out.extend(depends_on.iter().map(|d| (*d, Why::View)));
    }
    if let Some(p) = t.interleave_parent {
        out.push((p, Why::Interleave));
    }
    out.sort();
    out
}

fn kind_of(t: &TableDescriptor) -> Kind {
    match t.kind {
        TableKind::Table => Kind::Table,
        TableKind::View { .. } => Kind::View,
        TableKind::Sequence { .. } => Kind::Sequence,
    }
}

/// The id of relation `i` of the model in `cat` (which must hold it, public).
fn id_of(cat: &Catalog, s: &Schema, i: usize) -> u32 {
    let r = &s.rels[i];
    cat.table_by_name(&r.db, &r.name).unwrap_or_else(|| panic!("model/catalog mismatch: {} not public at {}", s.qname(i), cat.ts())).id
}

/// Checks the model against the catalog (a check of the test itself): the public relations of
/// the snapshot are exactly the catalog's user relations, with the model's kinds and edges.
fn check_model(cat: &Catalog, s: &Schema) -> Result<(), TestCaseError> {
    let user_dbs: BTreeSet<String> = cat.databases().into_iter().map(|d| d.name.clone()).filter(|n| n != "system").collect();
    let model_dbs: BTreeSet<String> = s.live_dbs().into_iter().collect();
    prop_assert_eq!(&user_dbs, &model_dbs, "databases at {}", cat.ts());
    let mut catalog_rels: BTreeSet<(String, String)> = BTreeSet::new();
    for db in &user_dbs {
        let d = cat.database_by_name(db).unwrap();
        for t in cat.tables_in(d.id) {
            catalog_rels.insert((db.clone(), t.name.clone()));
        }
    }
    let model_rels: BTreeSet<(String, String)> = s.live(None).into_iter().map(|i| (s.rels[i].db.clone(), s.rels[i].name.clone())).collect();
    prop_assert_eq!(&catalog_rels, &model_rels, "relations at {}", cat.ts());
    for i in s.live(None) {
        let t = cat.table(id_of(cat, s, i)).unwrap();
        prop_assert_eq!(kind_of(t), s.rels[i].kind);
        let mut want: Vec<(u32, Why)> = s.rels[i].deps.iter().map(|e| (id_of(cat, s, e.on), e.why.clone())).collect();
        want.sort();
        prop_assert_eq!(descriptor_edges(t), want, "edges of {}", s.qname(i));
    }
    Ok(())
}

/// Property 2 for an accepted plan.
#[allow(clippy::too_many_arguments)]
fn check_accepted(
    d: &BackupDetails,
    cat: &Catalog,
    s: &Schema,
    rels: &BTreeSet<usize>,
    complete: &BTreeSet<String>,
    dbs: &BTreeSet<String>,
    cluster: bool,
    sql: &str,
) -> Result<(), TestCaseError> {
    // Spans: non-empty, sorted, pairwise disjoint, each inside one selected relation's span,
    // their union that of the selected non-view relations.
    let data_ids: BTreeSet<u32> = rels.iter().filter(|&&i| s.rels[i].kind != Kind::View).map(|&i| id_of(cat, s, i)).collect();
    for sp in &d.spans {
        prop_assert!(sp.start < sp.end, "{sql}: empty span {:?}", sp);
        prop_assert!(
            data_ids.iter().any(|id| {
                let t = table_span(*id);
                t.start <= sp.start && sp.end <= t.end
            }),
            "{sql}: span {:?} is not inside one selected table",
            sp
        );
    }
    for w in d.spans.windows(2) {
        prop_assert!(w[0].end <= w[1].start, "{sql}: spans not sorted and disjoint: {:?} then {:?}", w[0], w[1]);
    }
    let want = union(data_ids.iter().map(|id| table_span(*id)).collect());
    prop_assert_eq!(union(d.spans.clone()), want, "{}: span coverage", sql);
    // Descriptors: exactly the selected relations and the databases.
    let want_ids: BTreeSet<u32> = rels.iter().map(|&i| id_of(cat, s, i)).collect();
    let got_tables: Vec<&TableDescriptor> = d.descriptors.iter().filter_map(|x| if let Descriptor::Table(t) = x { Some(t) } else { None }).collect();
    let got_ids: BTreeSet<u32> = got_tables.iter().map(|t| t.id).collect();
    prop_assert_eq!(got_tables.len(), got_ids.len(), "{}: a relation described twice", sql);
    prop_assert_eq!(&got_ids, &want_ids, "{}: relation descriptors", sql);
    let by_id: BTreeMap<u32, usize> = rels.iter().map(|&i| (id_of(cat, s, i), i)).collect();
    let db_names: BTreeMap<u32, String> =
        d.descriptors.iter().filter_map(|x| if let Descriptor::Database(db) = x { Some((db.id, db.name.clone())) } else { None }).collect();
    let got_dbs: BTreeSet<String> = db_names.values().cloned().collect();
    prop_assert_eq!(db_names.len(), d.descriptors.len() - got_tables.len(), "{}: a database described twice", sql);
    prop_assert_eq!(&got_dbs, dbs, "{}: database descriptors", sql);
    for t in &got_tables {
        let i = by_id[&t.id];
        let r = &s.rels[i];
        prop_assert!(t.is_public(), "{sql}: {} not public", t.name);
        prop_assert_eq!(&t.name, &r.name);
        prop_assert_eq!(kind_of(t), r.kind);
        prop_assert_eq!(db_names.get(&t.parent_id), Some(&r.db), "{}: database of {}", sql, t.name);
        let mut want: Vec<(u32, Why)> = r.deps.iter().map(|e| (id_of(cat, s, e.on), e.why.clone())).collect();
        want.sort();
        prop_assert_eq!(descriptor_edges(t), want, "{}: dependencies of {} as of the backup's time", sql, t.name);
        // And exactly the catalog's descriptor as of the backup's time.
        prop_assert_eq!(Some(*t), cat.table(t.id), "{}: descriptor of {}", sql, t.name);
    }
    let want_complete: BTreeSet<u32> = complete.iter().map(|n| cat.database_by_name(n).unwrap().id).collect();
    prop_assert_eq!(d.complete_dbs.iter().copied().collect::<BTreeSet<u32>>(), want_complete, "{}: complete databases", sql);
    prop_assert_eq!(d.is_full_cluster, cluster, "{}", sql);
    prop_assert_eq!(d.cluster_data.is_some(), cluster, "{}", sql);
    prop_assert_eq!(d.start_time, Timestamp::ZERO);
    prop_assert_eq!(d.mvcc_filter, MvccFilter::Latest);
    prop_assert!(d.depends_on.is_empty());
    Ok(())
}

/// One case: build the schema, then plan each statement and check the four properties.
fn run_case(ops: &[OpSeed], backups: &[BackupSeed], seen: &mut Seen) -> Result<(), TestCaseError> {
    let mut c = Cluster::alone();
    let mut model = Schema::new();
    let mut snapshots: Vec<(Timestamp, Schema)> = vec![(c.now(), model.clone())];
    c.advance(Duration::from_secs(1));
    let mut script = Vec::new();
    for op in ops {
        if let Some(sql) = apply(&mut model, op) {
            c.sql1(&sql);
            let head: Vec<&str> = sql.split(' ').take(if sql.starts_with("TRUNCATE") { 1 } else { 2 }).collect();
            *seen.schema_ops.entry(head.join(" ")).or_default() += 1;
            for feature in ["INTERLEAVE", "FOREIGN KEY", "nextval", "self_"] {
                if sql.contains(feature) {
                    *seen.schema_ops.entry(feature.to_string()).or_default() += 1;
                }
            }
            script.push(sql);
            snapshots.push((c.now(), model.clone()));
            c.advance(Duration::from_secs(1));
        }
    }
    let schema_text = script.join(";\n");
    for (n, b) in backups.iter().enumerate() {
        let (at_ts, at) = match &b.as_of {
            Some(ix) => {
                let (ts, s) = ix.get(&snapshots);
                (Some(*ts), s)
            }
            None => (None, &snapshots.last().unwrap().1),
        };
        let targets = resolve_seed(&model, at, &b.targets);
        let location = format!("nodelocal://1/b{n}");
        let as_of = at_ts.map(|t| format!(" AS OF SYSTEM TIME '{t}'")).unwrap_or_default();
        let sql = format!("BACKUP {}TO '{location}'{as_of}", render_targets(&model, &targets, b.table_keyword));
        let verdict = expect(&model, at, &targets);
        seen.statements += 1;
        match &verdict {
            Expect::Accept { rels, .. } => {
                seen.accepted += 1;
                if rels.iter().any(|&i| !at.rels[i].deps.is_empty()) {
                    seen.accepted_with_edges += 1;
                }
            }
            Expect::NotFound(_) => seen.not_found += 1,
            Expect::MissingDependency(_) => seen.missing_dependency += 1,
        }
        match &targets {
            ResolvedTargets::Cluster => seen.cluster += 1,
            ResolvedTargets::Databases(_) => seen.databases += 1,
            ResolvedTargets::Tables(_) => {}
        }
        if at_ts.is_some_and(|t| t < snapshots.last().unwrap().0) {
            seen.as_of_past += 1;
        }
        let ctx = format!("{sql}\n-- schema:\n{schema_text}\n-- model verdict: {verdict:?}");

        let before = fingerprint(&c);
        let jobs_before = job_count(&c);
        let t_before = c.now();
        let first = plan(&c, &sql);
        let second = plan(&c, &sql);
        let t_after = c.now();
        // 4. Planning changed nothing.
        prop_assert!(fingerprint(&c) == before, "planning changed the KV store: {ctx}");
        prop_assert!(c.store(&location).snapshot().is_empty(), "planning wrote to the destination: {ctx}");

        let cat = block_on(Catalog::read(&*c.local, at_ts.unwrap_or_else(|| snapshots.last().unwrap().0))).unwrap();
        check_model(&cat, at).map_err(|e| TestCaseError::fail(format!("the test's schema model is wrong: {e}\n{ctx}")))?;
        match (&verdict, &first) {
            (Expect::Accept { rels, complete, dbs }, Ok(d)) => {
                // 2. Coverage and descriptors.
                let cluster = matches!(targets, ResolvedTargets::Cluster);
                check_accepted(d, &cat, at, rels, complete, dbs, cluster, &ctx)?;
                match at_ts {
                    Some(ts) => prop_assert_eq!(d.end_time, ts, "{}", ctx),
                    None => prop_assert!(t_before < d.end_time && d.end_time < t_after, "end time {} not within the statement: {ctx}", d.end_time),
                }
                prop_assert_eq!(&d.destination, &location);
                // 3. Determinism.
                let e = second.as_ref().map_err(|e| TestCaseError::fail(format!("second planning failed: {e}\n{ctx}")))?;
                prop_assert_ne!(&d.backup_id, &e.backup_id, "backup ids must be unique per statement: {}", ctx);
                let normalise = |x: &BackupDetails| BackupDetails {
                    backup_id: String::new(),
                    end_time: if at_ts.is_some() { x.end_time } else { Timestamp::ZERO },
                    ..x.clone()
                };
                prop_assert!(normalise(d) == normalise(e), "planning twice differed:\n{:?}\n{:?}\n{ctx}", d, e);
            }
            (Expect::NotFound(want), Err(e)) => {
                prop_assert_eq!(&e.to_string(), want, "{}", ctx);
            }
            (Expect::MissingDependency(allowed), Err(e)) => {
                prop_assert!(allowed.contains(&e.to_string()), "refusal {:?} names no missing dependency of the model: {ctx}", e.to_string());
            }
            (_, got) => {
                return Err(TestCaseError::fail(format!(
                    "planner disagrees with the model: got {:?}\n{ctx}",
                    got.as_ref().map(|d| (&d.spans, d.descriptors.len())).map_err(|e| e.to_string())
                )));
            }
        }
        if let Err(e) = &first {
            // 3. The same refusal twice; 4. through the front door too, with no job recorded.
            let e2 = second.as_ref().err().map(|e| e.to_string());
            prop_assert_eq!(Some(e.to_string()), e2, "{}", ctx);
            let via_exec = c.exec(&sql).err().map(|e| e.to_string());
            prop_assert_eq!(via_exec, Some(e.to_string()), "{}", ctx);
            prop_assert_eq!(job_count(&c), jobs_before, "a refused BACKUP recorded a job: {}", ctx);
            prop_assert!(fingerprint(&c) == before, "a refused BACKUP changed the KV store: {ctx}");
            prop_assert!(c.store(&location).snapshot().is_empty(), "a refused BACKUP wrote to the destination: {ctx}");
        }
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // PROPTEST_CASES overrides, as for proptest's default configuration.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    }
}

/// What the statements of a run exercised, so that a generator gone vacuous fails loudly.
#[derive(Debug, Default)]
struct Seen {
    statements: usize,
    accepted: usize,
    not_found: usize,
    missing_dependency: usize,
    cluster: usize,
    databases: usize,
    as_of_past: usize,
    accepted_with_edges: usize,
    /// Statements run to build schemas, by their first two words, and features used.
    schema_ops: BTreeMap<String, usize>,
}

#[test]
fn planner_matches_the_dependency_model() {
    let config = ProptestConfig { source_file: Some(file!()), ..config() };
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let seen = RefCell::new(Seen::default());
    let strategy = (prop::collection::vec(op_seed(), 1..14), prop::collection::vec(backup_seed(), 1..6));
    let result = runner.run(&strategy, |(ops, backups)| run_case(&ops, &backups, &mut seen.borrow_mut()));
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
    let seen = seen.into_inner();
    eprintln!("{seen:#?}");
    // The generator must keep producing every kind of verdict (expected counts over 256 cases
    // are in the hundreds; these floors fail only if a change makes one kind vanish).
    if cases < 64 {
        return;
    }
    assert!(seen.accepted >= 5 && seen.not_found >= 3 && seen.missing_dependency >= 5, "{seen:#?}");
    assert!(seen.accepted_with_edges >= 3 && seen.cluster >= 2 && seen.databases >= 3 && seen.as_of_past >= 3, "{seen:#?}");
    for feature in ["FOREIGN KEY", "self_", "nextval", "INTERLEAVE", "CREATE VIEW", "ALTER TABLE", "DROP DATABASE", "TRUNCATE"] {
        assert!(seen.schema_ops.get(feature).is_some_and(|n| *n > 0), "no {feature} generated: {seen:#?}");
    }
}
