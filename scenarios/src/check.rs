//! Read checks: reads of every table at past timestamps, compared with the oracle.
//!
//! Reads are taken while faults happen and verified only once the run is over, against the
//! complete oracle: a write acknowledged after a read was taken may still have a timestamp below
//! it only if the database broke its timestamp-cache rule, and that is exactly what the check
//! should catch. A read refused because its time is below the GC threshold is legitimate only
//! when the refusal says so; any other refusal is a failure.

use crate::oracle::{diff, Oracle, TableState};
use crate::workload::VIEW_BIG_ACCOUNTS;
use model::sql::{read_table, SqlError};
use model::{Datum, Kv, KvError, MvccError, Timestamp};

/// One read of one table at one time, as the database answered it.
#[derive(Clone, Debug)]
pub struct Observation {
    /// `db.table`.
    pub table: String,
    /// Read time.
    pub ts: Timestamp,
    /// The answer: columns and rows, or the refusal.
    pub result: Result<(Vec<String>, Vec<Vec<Datum>>), SqlError>,
    /// What the catalog said of the table at that time, when the read was of a restore
    /// ([`observe_restored`]): the rest of what a backup carries of a table beside its rows.
    pub schema: Option<Schema>,
}

/// A table's secondary indexes and zone config, as a catalog holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    /// Secondary indexes' names, by index id (creation order).
    pub indexes: Vec<String>,
    /// The GC TTL of the table's own zone config, if it has one.
    pub zone_gc_ttl_seconds: Option<u64>,
}

/// Reads `table` (`db.name`) at `ts`.
pub async fn observe(kv: &dyn Kv, table: &str, ts: Timestamp) -> Observation {
    let (db, name) = table.split_once('.').unwrap_or(("defaultdb", table));
    let result = read_table(kv, db, name, ts).await.map(|t| (t.columns, t.rows));
    Observation { table: table.to_string(), ts, result, schema: None }
}

/// [`observe`], plus the table's [`Schema`] from the catalog at `ts` (`None` if the catalog
/// cannot be read or has no such table, which the read's own result then shows).
pub async fn observe_restored(kv: &dyn Kv, table: &str, ts: Timestamp) -> Observation {
    let mut ob = observe(kv, table, ts).await;
    let (db, name) = table.split_once('.').unwrap_or(("defaultdb", table));
    if let Ok(cat) = model::Catalog::read(kv, ts).await {
        ob.schema = cat.table_by_name(db, name).map(|t| {
            let mut secondary: Vec<&model::catalog::IndexDescriptor> = t.indexes.iter().filter(|i| i.id != model::encoding::PRIMARY_INDEX_ID).collect();
            secondary.sort_by_key(|i| i.id);
            Schema { indexes: secondary.into_iter().map(|i| i.name.clone()).collect(), zone_gc_ttl_seconds: cat.zone(t.id).map(|z| z.gc_ttl_seconds) }
        });
    }
    ob
}

/// How the verification of observations went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Reads that matched the oracle.
    pub matched: usize,
    /// Reads legitimately refused below the GC threshold.
    pub gc_refused: usize,
}

/// The oracle's expectation for `table` at `ts`, views included.
pub fn expected(oracle: &Oracle, table: &str, ts: Timestamp) -> Option<TableState> {
    if table == VIEW_BIG_ACCOUNTS {
        oracle.state_at(VIEW_BIG_ACCOUNTS, ts)?;
        let accounts = oracle.state_at("bank.accounts", ts)?;
        let rows = accounts
            .rows
            .into_iter()
            .filter(|(_, r)| matches!(r.get(2), Some(Datum::Int(b)) if *b > 1000))
            .map(|(k, r)| (k, vec![r[0].clone(), r[2].clone()]))
            .collect();
        return Some(TableState { columns: vec!["id".into(), "balance".into()], rows, ..TableState::default() });
    }
    oracle.state_at(table, ts)
}

/// True when `e` is a refusal because `ts` is at or below a GC threshold.
pub fn is_gc_refusal(e: &SqlError, ts: Timestamp) -> bool {
    let text = e.to_string();
    match e {
        SqlError::Kv(KvError::Mvcc(MvccError::BelowGcThreshold { ts: t, threshold })) => *t == ts && ts <= *threshold,
        // Catalog reads wrap the KV error in their own; the text is CockroachDB's.
        _ => text.contains("must be after replica GC threshold"),
    }
}

/// Verifies every observation against the oracle; the first disagreement is the error.
pub fn verify(oracle: &Oracle, observations: &[Observation]) -> Result<CheckStats, String> {
    let mut stats = CheckStats::default();
    for o in observations {
        let want = expected(oracle, &o.table, o.ts);
        match (&o.result, want) {
            (Ok((columns, rows)), Some(want)) => {
                if let Some(d) = diff(&o.table, o.ts, &want, columns, rows) {
                    return Err(d.to_string());
                }
                stats.matched += 1;
            }
            (Ok((_, rows)), None) => {
                return Err(format!("table {} read at {} returned {} rows, but the oracle says it did not exist then", o.table, o.ts, rows.len()))
            }
            (Err(SqlError::UndefinedRelation(_)) | Err(SqlError::UndefinedDatabase(_)), None) => stats.matched += 1,
            (Err(e), _) if is_gc_refusal(e, o.ts) => stats.gc_refused += 1,
            (Err(e), _) => return Err(format!("table {} read at {} failed: {e}", o.table, o.ts)),
        }
    }
    Ok(stats)
}

/// Timestamps worth reading `table` at: every `stride`-th commit time and the instant before it
/// (boundaries are where off-by-one bugs live).
pub fn boundary_times(oracle: &Oracle, table: &str, stride: usize) -> Vec<Timestamp> {
    let mut v = Vec::new();
    for t in oracle.timestamps(table).into_iter().step_by(stride.max(1)) {
        v.push(t.prev());
        v.push(t);
    }
    v
}
