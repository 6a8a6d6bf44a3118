//! The oracle: the workload's own record of every committed change, kept apart from the
//! database so that a bug anywhere below SQL — the MVCC store, replication, the transaction
//! protocol, GC — shows up as a difference.
//!
//! It shares no code with `model::MvccStore`: history is a plain list of events per table,
//! replayed in timestamp order to answer "what did this table hold at time t". Events carry the
//! commit timestamp the database reported, so a read at any time can be compared exactly.

use model::{Datum, Timestamp};
use std::collections::BTreeMap;
use std::fmt;

/// A row keyed by its primary-key value.
pub type Row = Vec<Datum>;

/// A change to one table at one commit timestamp.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The table came into existence with these columns.
    Created { columns: Vec<String> },
    /// Insert or replace a row.
    Put { row: Row },
    /// Delete the row with this primary key (no-op if absent).
    Delete { pk: Datum },
    /// Add `delta` to integer column `column` of the row with this key (no-op if absent): how the
    /// oracle follows `SET x = x + d` without trusting the database's read.
    Add { pk: Datum, column: usize, delta: i64 },
    /// A column was appended, existing rows taking `default`.
    AddColumn { name: String, default: Datum },
    /// Every row was removed (TRUNCATE).
    Truncate,
    /// A secondary index was created (CREATE INDEX): from then on every row has one entry in
    /// it, as in CockroachDB, NULLs included. The oracle knows no index's contents, only that
    /// it exists, which is what a RESTORE's count of index entries needs.
    IndexCreated { name: String },
    /// The table's zone config was set (`CONFIGURE ZONE USING gc.ttlseconds = ...`): it travels
    /// with the table through a backup and its restore.
    ZoneConfigured { gc_ttl_seconds: u64 },
    /// The table was dropped.
    Dropped,
}

/// What a table held at a time, according to the oracle.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TableState {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows by primary key (the first column).
    pub rows: BTreeMap<Datum, Row>,
    /// Secondary indexes' names, in creation order.
    pub indexes: Vec<String>,
    /// The table's own zone config's GC TTL, if one was set on it.
    pub zone_gc_ttl_seconds: Option<u64>,
}

impl TableState {
    /// Index entries the table holds beside its rows: one per row per secondary index.
    pub fn index_entries(&self) -> usize {
        self.rows.len() * self.indexes.len()
    }
}

/// Every table's history.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    tables: BTreeMap<String, Vec<(Timestamp, u64, Event)>>,
    seq: u64,
    /// When the workload's cluster-wide state ([`crate::workload::cluster_state`]) was complete:
    /// a restore to an earlier time rightly lacks some of it.
    cluster_state_since: Option<Timestamp>,
    /// Users the run created after the setup, each a member of `analysts`: surely absent
    /// before the first time, surely present (with the membership) from the second on.
    late_users: Vec<(Timestamp, Timestamp, String)>,
}

impl Oracle {
    /// An empty oracle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the workload's cluster-wide state was complete at `ts`.
    pub fn record_cluster_state(&mut self, ts: Timestamp) {
        self.cluster_state_since = Some(ts);
    }

    /// Records a user created (and granted `analysts`) after the setup: absent before `lo`,
    /// present from `hi` on; in between, its commit time is not known.
    pub fn record_late_user(&mut self, lo: Timestamp, hi: Timestamp, name: &str) {
        self.late_users.push((lo, hi, name.to_string()));
    }

    /// The users created after the setup: (surely absent before, surely present from, name).
    pub fn late_users(&self) -> &[(Timestamp, Timestamp, String)] {
        &self.late_users
    }

    /// When the workload's cluster-wide state was complete (`None`: it was never set up).
    pub fn cluster_state_since(&self) -> Option<Timestamp> {
        self.cluster_state_since
    }

    /// Records a committed change of `table` (`db.name`) at `ts`. Events with one timestamp are
    /// applied in the order recorded.
    pub fn record(&mut self, table: &str, ts: Timestamp, event: Event) {
        self.seq += 1;
        self.tables.entry(table.to_string()).or_default().push((ts, self.seq, event));
    }

    /// Tables the oracle knows, in name order.
    pub fn tables(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    /// The table's state at `ts`, or `None` if it did not exist then (not yet created, or
    /// dropped).
    pub fn state_at(&self, table: &str, ts: Timestamp) -> Option<TableState> {
        let mut events: Vec<&(Timestamp, u64, Event)> = self.tables.get(table)?.iter().filter(|(t, _, _)| *t <= ts).collect();
        events.sort_by_key(|(t, seq, _)| (*t, *seq));
        let mut state: Option<TableState> = None;
        for (_, _, event) in events {
            match event {
                Event::Created { columns } => state = Some(TableState { columns: columns.clone(), ..TableState::default() }),
                Event::Dropped => state = None,
                other => {
                    if let Some(s) = state.as_mut() {
                        apply(s, other);
                    }
                }
            }
        }
        state
    }

    /// The events of `table` committed in the window `(start, end]`, in commit order; `None`
    /// for a table the oracle never saw.
    pub fn events_between(&self, table: &str, start: Timestamp, end: Timestamp) -> Option<Vec<&Event>> {
        let mut events: Vec<&(Timestamp, u64, Event)> = self.tables.get(table)?.iter().filter(|(t, _, _)| start < *t && *t <= end).collect();
        events.sort_by_key(|(t, seq, _)| (*t, *seq));
        Some(events.into_iter().map(|(_, _, e)| e).collect())
    }

    /// The commit time of every change to a table's descriptor (creation, a column or an index
    /// added, TRUNCATE, a zone config, a drop), over every table, sorted: the times a
    /// point-in-time restore's descriptor history turns on.
    pub fn schema_change_times(&self) -> Vec<Timestamp> {
        let mut v: Vec<Timestamp> = self
            .tables
            .values()
            .flatten()
            .filter(|(_, _, e)| !matches!(e, Event::Put { .. } | Event::Delete { .. } | Event::Add { .. }))
            .map(|(t, _, _)| *t)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every commit timestamp recorded for `table`, sorted.
    pub fn timestamps(&self, table: &str) -> Vec<Timestamp> {
        let mut v: Vec<Timestamp> = self.tables.get(table).map(|e| e.iter().map(|(t, _, _)| *t).collect()).unwrap_or_default();
        v.sort();
        v.dedup();
        v
    }

    /// Number of events recorded.
    pub fn len(&self) -> usize {
        self.tables.values().map(|v| v.len()).sum()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn apply(s: &mut TableState, event: &Event) {
    match event {
        Event::Put { row } => {
            if let Some(pk) = row.first() {
                s.rows.insert(pk.clone(), row.clone());
            }
        }
        Event::Delete { pk } => {
            s.rows.remove(pk);
        }
        Event::Add { pk, column, delta } => {
            if let Some(Datum::Int(v)) = s.rows.get_mut(pk).and_then(|r| r.get_mut(*column)) {
                *v += delta;
            }
        }
        Event::AddColumn { name, default } => {
            s.columns.push(name.clone());
            for row in s.rows.values_mut() {
                row.push(default.clone());
            }
        }
        Event::Truncate => s.rows.clear(),
        Event::IndexCreated { name } => s.indexes.push(name.clone()),
        Event::ZoneConfigured { gc_ttl_seconds } => s.zone_gc_ttl_seconds = Some(*gc_ttl_seconds),
        Event::Created { .. } | Event::Dropped => {}
    }
}

/// A difference between what the database returned and what the oracle expects, readable on
/// its own: which table, which time, which keys, expected and found.
#[derive(Clone, Debug, PartialEq)]
pub struct Diff {
    /// `db.table`.
    pub table: String,
    /// The read timestamp.
    pub ts: Timestamp,
    /// Column names expected and found, when they differ.
    pub columns: Option<(Vec<String>, Vec<String>)>,
    /// (key, expected row, found row) for every key that differs; `None` means absent.
    pub rows: Vec<(Datum, Option<Row>, Option<Row>)>,
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "table {} read at {} differs from the oracle:", self.table, self.ts)?;
        if let Some((want, got)) = &self.columns {
            writeln!(f, "  columns: expected {want:?}, found {got:?}")?;
        }
        let show = |r: &Option<Row>| match r {
            None => "(absent)".to_string(),
            Some(r) => format!("({})", r.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
        };
        for (k, want, got) in self.rows.iter().take(20) {
            writeln!(f, "  key {k}: expected {}, found {}", show(want), show(got))?;
        }
        if self.rows.len() > 20 {
            writeln!(f, "  ... and {} more keys", self.rows.len() - 20)?;
        }
        Ok(())
    }
}

/// Compares a table read (`columns`, `rows` with the primary key first) with the oracle's
/// expectation; `None` when they agree.
pub fn diff(table: &str, ts: Timestamp, want: &TableState, columns: &[String], rows: &[Row]) -> Option<Diff> {
    let got: BTreeMap<Datum, Row> = rows.iter().filter_map(|r| r.first().map(|k| (k.clone(), r.clone()))).collect();
    let mut d = Diff { table: table.to_string(), ts, columns: None, rows: Vec::new() };
    if want.columns != columns {
        d.columns = Some((want.columns.clone(), columns.to_vec()));
    }
    if got.len() != rows.len() {
        d.rows.push((Datum::Null, None, Some(vec![Datum::String(format!("{} rows share a primary key", rows.len() - got.len()))])));
    }
    let keys: std::collections::BTreeSet<&Datum> = want.rows.keys().chain(got.keys()).collect();
    for k in keys {
        let (w, g) = (want.rows.get(k), got.get(k));
        if w != g {
            d.rows.push((k.clone(), w.cloned(), g.cloned()));
        }
    }
    (d.columns.is_some() || !d.rows.is_empty()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u64) -> Timestamp {
        Timestamp::from_nanos(n)
    }

    #[test]
    fn replays_history_in_timestamp_order() {
        let mut o = Oracle::new();
        o.record("d.t", t(1), Event::Created { columns: vec!["id".into(), "v".into()] });
        o.record("d.t", t(5), Event::Add { pk: Datum::Int(1), column: 1, delta: 3 });
        o.record("d.t", t(2), Event::Put { row: vec![Datum::Int(1), Datum::Int(10)] });
        o.record("d.t", t(7), Event::AddColumn { name: "n".into(), default: Datum::Null });
        o.record("d.t", t(9), Event::Delete { pk: Datum::Int(1) });
        assert!(o.state_at("d.t", t(0)).is_none());
        assert!(o.state_at("d.t", t(1)).unwrap().rows.is_empty());
        assert_eq!(o.state_at("d.t", t(4)).unwrap().rows[&Datum::Int(1)], vec![Datum::Int(1), Datum::Int(10)]);
        assert_eq!(o.state_at("d.t", t(6)).unwrap().rows[&Datum::Int(1)], vec![Datum::Int(1), Datum::Int(13)]);
        let s8 = o.state_at("d.t", t(8)).unwrap();
        assert_eq!(s8.columns.len(), 3);
        assert_eq!(s8.rows[&Datum::Int(1)], vec![Datum::Int(1), Datum::Int(13), Datum::Null]);
        assert!(o.state_at("d.t", t(9)).unwrap().rows.is_empty());
    }

    #[test]
    fn diff_names_table_keys_expected_and_found() {
        let want = TableState { columns: vec!["id".into()], rows: [(Datum::Int(1), vec![Datum::Int(1)])].into_iter().collect(), ..TableState::default() };
        assert!(diff("d.t", t(3), &want, &["id".into()], &[vec![Datum::Int(1)]]).is_none());
        let d = diff("d.t", t(3), &want, &["id".into()], &[vec![Datum::Int(2)]]).expect("differs");
        let text = d.to_string();
        assert!(text.contains("table d.t read at 3.0000000000"), "{text}");
        assert!(text.contains("key 1: expected (1), found (absent)"), "{text}");
        assert!(text.contains("key 2: expected (absent), found (2)"), "{text}");
    }
}
