//! The cluster workload: a small bank and shop written through SQL by concurrent clients,
//! every committed change recorded in the [`Oracle`].
//!
//! Setup → run → check, as FoundationDB's workloads do. The schema has what BACKUP's rules care
//! about: two databases, foreign keys, secondary indexes, a sequence used by a column default, a
//! view, a short GC TTL on one table, and schema changes (ADD COLUMN, CREATE INDEX, CREATE TABLE,
//! TRUNCATE) while clients write. Clients record only what the database acknowledged, with the
//! commit timestamp it reported; a statement that fails is known not to have committed.

use crate::oracle::{Event, Oracle, Row};
use model::sql::{Session, SqlError};
use model::{Datum, KvError, Timestamp};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Knobs of the workload.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// Concurrent writing clients.
    pub writers: usize,
    /// Operations per writer.
    pub ops_per_writer: usize,
    /// Pause between a writer's operations, in milliseconds (uniform in the range).
    pub think_ms: (u64, u64),
    /// Rows bulk-loaded into [`LEDGER`] before the writers start (0: no ledger table).
    pub preload_rows: usize,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig { writers: 2, ops_per_writer: 120, think_ms: (0, 250), preload_rows: 0 }
    }
}

/// Why the workload itself failed (not a refused transaction, which is normal).
#[derive(Debug, Clone, thiserror::Error)]
pub enum WorkloadError {
    /// A statement failed in a way a correct database never fails.
    #[error("statement {sql:?} failed: {error}")]
    Statement { sql: String, error: SqlError },
    /// A write statement returned no commit timestamp.
    #[error("statement {0:?} committed without reporting its timestamp")]
    NoCommitTs(String),
    /// The cluster stayed unavailable past the client's deadline.
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
}

/// What a writer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Statements (or transactions) committed.
    pub committed: usize,
    /// Refused as retryable (conflicts, pushes) after the SQL layer's own retries.
    pub aborted: usize,
}

/// State shared by the writers: which rows exist, for picking targets.
#[derive(Default)]
pub struct Shared {
    customers: Vec<(i64, Timestamp)>,
    accounts: Vec<(i64, Timestamp)>,
    orders: Vec<(i64, Timestamp)>,
    orders_have_note: bool,
    reviews_created: Option<Timestamp>,
}

thread_local! {
    /// Where statements are traced (set by the runner for the simulation's thread).
    pub static TRACE: std::cell::RefCell<Option<sim::Trace>> = const { std::cell::RefCell::new(None) };
}

/// The tables the oracle follows, and how a view maps to one of them.
pub const VIEW_BIG_ACCOUNTS: &str = "bank.big_accounts";

async fn exec(s: &mut Session, sql: &str) -> Result<Result<model::sql::ExecResult, SqlError>, WorkloadError> {
    let result = s.execute(sql).await;
    if let Some(trace) = TRACE.with(|t| t.borrow().clone()) {
        let who = s.user().to_string();
        let _ = who;
        match &result {
            Ok(r) => {
                sim::trace_event!(trace, "sql", sim::event::OK, "{sql} -> {} ts={}", r.tag, r.commit_ts.map(|t| t.to_string()).unwrap_or_else(|| "-".into()))
            }
            Err(e) => sim::trace_event!(trace, "sql", sim::event::ERR, "{sql} -> {e}"),
        }
    }
    match result {
        Ok(r) => Ok(Ok(r)),
        Err(e) if e.is_retryable() => Ok(Err(e)),
        // A statement whose read time fell below a (deliberately short) GC TTL is refused whole.
        Err(e) if e.to_string().contains("must be after replica GC threshold") => Ok(Err(e)),
        Err(SqlError::Kv(KvError::Unavailable { reason, .. })) => Err(WorkloadError::Unavailable(format!("{sql}: {reason}"))),
        Err(SqlError::Kv(KvError::RangeUnavailable { reason, .. })) => Err(WorkloadError::Unavailable(format!("{sql}: {reason}"))),
        Err(error) => Err(WorkloadError::Statement { sql: sql.to_string(), error }),
    }
}

/// Runs `sql`, which must commit; returns its commit timestamp (retrying refusals a few times).
async fn must_commit(s: &mut Session, sql: &str) -> Result<Timestamp, WorkloadError> {
    for _ in 0..20 {
        match exec(s, sql).await? {
            Ok(r) => return r.commit_ts.ok_or_else(|| WorkloadError::NoCommitTs(sql.to_string())),
            Err(_) => madsim::time::sleep(Duration::from_millis(50)).await,
        }
    }
    Err(WorkloadError::Unavailable(format!("{sql}: refused 20 times")))
}

fn cols(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Creates the schema and records the tables' creation.
pub async fn setup(s: &mut Session, oracle: &Mutex<Oracle>) -> Result<(), WorkloadError> {
    let created = |o: &Mutex<Oracle>, t: &str, ts, c: &[&str]| o.lock().expect("oracle").record(t, ts, Event::Created { columns: cols(c) });
    must_commit(s, "CREATE DATABASE bank").await?;
    let ts = must_commit(s, "CREATE TABLE bank.customers (id INT PRIMARY KEY, name STRING NOT NULL, region STRING)").await?;
    created(oracle, "bank.customers", ts, &["id", "name", "region"]);
    must_commit(s, "CREATE INDEX customers_by_region ON bank.customers (region)").await?;
    let ts = must_commit(s, "CREATE TABLE bank.accounts (id INT PRIMARY KEY, customer_id INT NOT NULL REFERENCES bank.customers (id), balance INT NOT NULL)")
        .await?;
    created(oracle, "bank.accounts", ts, &["id", "customer_id", "balance"]);
    must_commit(s, "CREATE INDEX accounts_by_customer ON bank.accounts (customer_id)").await?;
    let ts = must_commit(s, "CREATE VIEW bank.big_accounts AS SELECT id, balance FROM bank.accounts WHERE balance > 1000").await?;
    created(oracle, VIEW_BIG_ACCOUNTS, ts, &["id", "balance"]);
    must_commit(s, "CREATE DATABASE shop").await?;
    must_commit(s, "CREATE SEQUENCE shop.order_ids").await?;
    let ts = must_commit(s, "CREATE TABLE shop.orders (id INT PRIMARY KEY DEFAULT nextval('shop.order_ids'), item STRING NOT NULL, qty INT NOT NULL)").await?;
    created(oracle, "shop.orders", ts, &["id", "item", "qty"]);
    must_commit(s, "ALTER TABLE shop.orders CONFIGURE ZONE USING gc.ttlseconds = 20").await?;
    Ok(())
}

/// One writer's loop. Writer `w` inserts ids `w, w + writers, ...`, so inserts never collide,
/// while updates, transfers and deletes pick any known row and do contend.
pub async fn writer(
    s: &mut Session,
    clock: &sim::clock::Hlc,
    w: usize,
    cfg: &WorkloadConfig,
    seed: u64,
    oracle: &Mutex<Oracle>,
    shared: &Arc<Mutex<Shared>>,
) -> Result<WriterStats, WorkloadError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (0xa11ce + w as u64));
    let mut stats = WriterStats::default();
    let mut next_id = 1 + w as i64;
    let stride = cfg.writers as i64;
    for op in 0..cfg.ops_per_writer {
        let think = rng.gen_range(cfg.think_ms.0..=cfg.think_ms.1.max(cfg.think_ms.0));
        madsim::time::sleep(Duration::from_millis(think)).await;
        let committed = step(s, clock, w, op, cfg, &mut rng, &mut next_id, stride, oracle, shared).await?;
        if committed {
            stats.committed += 1;
        } else {
            stats.aborted += 1;
        }
    }
    Ok(stats)
}

/// Picks a known row and returns its id with the commit time that made it known: a causality
/// token. The simulated cluster has no uncertainty intervals, so a client that learns of a row
/// out of band must move its clock past the row's commit before relying on it (see README).
fn pick(rng: &mut ChaCha8Rng, v: &[(i64, Timestamp)]) -> Option<(i64, Timestamp)> {
    v.choose(rng).copied()
}

#[allow(clippy::too_many_arguments)]
async fn step(
    s: &mut Session,
    clock: &sim::clock::Hlc,
    w: usize,
    op: usize,
    cfg: &WorkloadConfig,
    rng: &mut ChaCha8Rng,
    next_id: &mut i64,
    stride: i64,
    oracle: &Mutex<Oracle>,
    shared: &Arc<Mutex<Shared>>,
) -> Result<bool, WorkloadError> {
    let record = |t: &str, ts: Timestamp, e: Event| oracle.lock().expect("oracle").record(t, ts, e);
    let (customer, account, account2, order, has_note, reviews) = {
        let sh = shared.lock().expect("shared");
        (pick(rng, &sh.customers), pick(rng, &sh.accounts), pick(rng, &sh.accounts), pick(rng, &sh.orders), sh.orders_have_note, sh.reviews_created)
    };
    for token in [customer, account, account2, order].into_iter().flatten() {
        clock.update(token.1);
    }
    if let Some(ts) = reviews {
        clock.update(ts);
    }
    let reviews = reviews.is_some();
    let (customer, account, account2, order) = (customer.map(|c| c.0), account.map(|c| c.0), account2.map(|c| c.0), order.map(|c| c.0));
    // Writer 0 owns the shop's schema changes, at fixed points of its run.
    if w == 0 {
        let third = cfg.ops_per_writer / 3;
        if op == third {
            let ts = ok_ts(s, "ALTER TABLE shop.orders ADD COLUMN note STRING DEFAULT 'none'").await?;
            if let Some(ts) = ts {
                record("shop.orders", ts, Event::AddColumn { name: "note".into(), default: Datum::String("none".into()) });
                shared.lock().expect("shared").orders_have_note = true;
            }
            return Ok(ts.is_some());
        }
        if op == third + 1 {
            return Ok(ok_ts(s, "CREATE INDEX orders_by_item ON shop.orders (item)").await?.is_some());
        }
        if op == 2 * third {
            let ts = ok_ts(s, "CREATE TABLE shop.reviews (id INT PRIMARY KEY, stars INT NOT NULL)").await?;
            if let Some(ts) = ts {
                record("shop.reviews", ts, Event::Created { columns: cols(&["id", "stars"]) });
                shared.lock().expect("shared").reviews_created = Some(ts);
            }
            return Ok(ts.is_some());
        }
        if op + 5 == cfg.ops_per_writer {
            let ts = ok_ts(s, "TRUNCATE shop.orders").await?;
            if let Some(ts) = ts {
                record("shop.orders", ts, Event::Truncate);
                shared.lock().expect("shared").orders.clear();
            }
            return Ok(ts.is_some());
        }
    }
    let roll = rng.gen_range(0..100);
    match roll {
        0..=14 => {
            let id = *next_id;
            *next_id += stride;
            let region = format!("region-{}", rng.gen_range(0..4));
            let sql = format!("INSERT INTO bank.customers VALUES ({id}, 'c{id}', '{region}')");
            let ts = ok_ts(s, &sql).await?;
            if let Some(ts) = ts {
                record("bank.customers", ts, Event::Put { row: vec![Datum::Int(id), Datum::String(format!("c{id}")), Datum::String(region)] });
                shared.lock().expect("shared").customers.push((id, ts));
            }
            Ok(ts.is_some())
        }
        15..=24 => {
            let Some(c) = customer else { return Ok(false) };
            let region = format!("region-{}", rng.gen_range(0..4));
            let done = ok_rows(s, &format!("UPDATE bank.customers SET region = '{region}' WHERE id = {c}")).await?;
            if let Some((ts, 1)) = done {
                record("bank.customers", ts, Event::Put { row: vec![Datum::Int(c), Datum::String(format!("c{c}")), Datum::String(region)] });
            }
            Ok(done.is_some())
        }
        25..=44 => {
            let Some(c) = customer else { return Ok(false) };
            let id = *next_id;
            *next_id += stride;
            let balance = rng.gen_range(0..2_000);
            let ts = ok_ts(s, &format!("INSERT INTO bank.accounts VALUES ({id}, {c}, {balance})")).await?;
            if let Some(ts) = ts {
                record("bank.accounts", ts, Event::Put { row: vec![Datum::Int(id), Datum::Int(c), Datum::Int(balance)] });
                shared.lock().expect("shared").accounts.push((id, ts));
            }
            Ok(ts.is_some())
        }
        45..=64 => {
            let Some(a) = account else { return Ok(false) };
            let delta = rng.gen_range(-300..=300);
            let done = ok_rows(s, &format!("UPDATE bank.accounts SET balance = balance + {delta} WHERE id = {a}")).await?;
            if let Some((ts, 1)) = done {
                record("bank.accounts", ts, Event::Add { pk: Datum::Int(a), column: 2, delta });
            }
            Ok(done.is_some())
        }
        65..=74 => {
            let (Some(a), Some(b)) = (account, account2) else { return Ok(false) };
            if a == b {
                return Ok(false);
            }
            let x = rng.gen_range(1..=200);
            let stmts = [
                format!("UPDATE bank.accounts SET balance = balance - {x} WHERE id = {a}"),
                format!("UPDATE bank.accounts SET balance = balance + {x} WHERE id = {b}"),
            ];
            let done = transaction(s, &stmts).await?;
            if let Some((ts, affected)) = &done {
                if affected[0] == 1 {
                    record("bank.accounts", *ts, Event::Add { pk: Datum::Int(a), column: 2, delta: -x });
                }
                if affected[1] == 1 {
                    record("bank.accounts", *ts, Event::Add { pk: Datum::Int(b), column: 2, delta: x });
                }
            }
            Ok(done.is_some())
        }
        75..=81 => {
            let Some(a) = account else { return Ok(false) };
            let done = ok_rows(s, &format!("DELETE FROM bank.accounts WHERE id = {a}")).await?;
            if let Some((ts, 1)) = done {
                record("bank.accounts", ts, Event::Delete { pk: Datum::Int(a) });
                shared.lock().expect("shared").accounts.retain(|(x, _)| *x != a);
            }
            Ok(done.is_some())
        }
        82..=93 if w == 0 => {
            let qty = rng.gen_range(1..10);
            let item = format!("item-{}", rng.gen_range(0..50));
            let id = match order.filter(|_| rng.gen_ratio(1, 3)) {
                Some(existing) => existing,
                None => match exec(s, "SELECT nextval('shop.order_ids')").await? {
                    Ok(r) => match r.rows.first().and_then(|row| row.first()) {
                        Some(Datum::Int(v)) => *v,
                        other => {
                            return Err(WorkloadError::Statement {
                                sql: "SELECT nextval('shop.order_ids')".into(),
                                error: SqlError::Type(format!("returned {other:?}")),
                            })
                        }
                    },
                    Err(_) => return Ok(false),
                },
            };
            let (sql, mut row) =
                (format!("UPSERT INTO shop.orders (id, item, qty) VALUES ({id}, '{item}', {qty})"), vec![Datum::Int(id), Datum::String(item), Datum::Int(qty)]);
            if has_note {
                row.push(Datum::String("none".into()));
            }
            let ts = ok_ts(s, &sql).await?;
            if let Some(ts) = ts {
                // UPSERT of an existing row keeps the columns it does not name.
                let prior_note = oracle
                    .lock()
                    .expect("oracle")
                    .state_at("shop.orders", ts.prev())
                    .and_then(|st| st.rows.get(&Datum::Int(id)).and_then(|r| r.get(3).cloned()));
                if let (Some(note), true) = (prior_note, has_note) {
                    row[3] = note;
                }
                record("shop.orders", ts, Event::Put { row });
                let mut sh = shared.lock().expect("shared");
                if !sh.orders.iter().any(|(o, _)| *o == id) {
                    sh.orders.push((id, ts));
                }
            }
            Ok(ts.is_some())
        }
        94..=96 if w == 0 => {
            let Some(o) = order else { return Ok(false) };
            let done = ok_rows(s, &format!("DELETE FROM shop.orders WHERE id = {o}")).await?;
            if let Some((ts, 1)) = done {
                record("shop.orders", ts, Event::Delete { pk: Datum::Int(o) });
                shared.lock().expect("shared").orders.retain(|(x, _)| *x != o);
            }
            Ok(done.is_some())
        }
        _ if reviews => {
            let id = *next_id;
            *next_id += stride;
            let stars = rng.gen_range(1..=5);
            let ts = ok_ts(s, &format!("INSERT INTO shop.reviews VALUES ({id}, {stars})")).await?;
            if let Some(ts) = ts {
                record("shop.reviews", ts, Event::Put { row: vec![Datum::Int(id), Datum::Int(stars)] });
            }
            Ok(ts.is_some())
        }
        _ => Ok(false),
    }
}

/// Runs a write statement; its commit timestamp, or `None` if it was refused as retryable.
async fn ok_ts(s: &mut Session, sql: &str) -> Result<Option<Timestamp>, WorkloadError> {
    Ok(ok_rows(s, sql).await?.map(|(ts, _)| ts))
}

/// Runs a write statement; its commit timestamp and rows affected, or `None` if refused.
///
/// A statement that affected no row is recorded as nothing: under snapshot reads it found no
/// row at its read time, which may be earlier than a concurrent insert that commits below its
/// own commit time, so "nothing happened" is the only effect the oracle can attribute to it.
async fn ok_rows(s: &mut Session, sql: &str) -> Result<Option<(Timestamp, u64)>, WorkloadError> {
    match exec(s, sql).await? {
        Ok(r) => r.commit_ts.map(|ts| Some((ts, r.rows_affected))).ok_or_else(|| WorkloadError::NoCommitTs(sql.to_string())),
        Err(_) => Ok(None),
    }
}

/// BEGIN; statements; COMMIT. The commit timestamp and each statement's rows affected, or
/// `None` if any step was refused (then the transaction is rolled back and nothing of it
/// committed).
async fn transaction(s: &mut Session, stmts: &[String]) -> Result<Option<(Timestamp, Vec<u64>)>, WorkloadError> {
    if exec(s, "BEGIN").await?.is_err() {
        return Ok(None);
    }
    let mut affected = Vec::new();
    for sql in stmts {
        match exec(s, sql).await? {
            Ok(r) => affected.push(r.rows_affected),
            Err(_) => {
                if s.in_transaction() {
                    let _ = s.execute("ROLLBACK").await;
                }
                return Ok(None);
            }
        }
    }
    match exec(s, "COMMIT").await? {
        Ok(r) => r.commit_ts.map(|ts| Some((ts, affected))).ok_or_else(|| WorkloadError::NoCommitTs("COMMIT".into())),
        Err(_) => {
            if s.in_transaction() {
                let _ = s.execute("ROLLBACK").await;
            }
            Ok(None)
        }
    }
}

/// The bulk table of the standard benchmark scenario.
pub const LEDGER: &str = "bank.ledger";

/// Entries per bulk ingest request while preloading.
const PRELOAD_BATCH: usize = 1_000;

/// Creates [`LEDGER`] and bulk-loads `rows` rows into it (the standard scenario's data; the
/// split queue then spreads it over a dozen or more ranges), recording every row in the oracle
/// at the load's timestamp. The rows go in as CockroachDB's IMPORT puts them in: encoded by the
/// SQL layer's own row encoding and ingested as committed versions at one timestamp, not through
/// 10,000 INSERT round trips. Values come from `seed`.
pub async fn preload(s: &mut Session, kv: &dyn model::ClusterKv, oracle: &Mutex<Oracle>, rows: usize, seed: u64) -> Result<(), WorkloadError> {
    let created = must_commit(s, "CREATE TABLE bank.ledger (id INT PRIMARY KEY, account INT NOT NULL, amount INT NOT NULL, memo STRING)").await?;
    oracle.lock().expect("oracle").record(LEDGER, created, Event::Created { columns: cols(&["id", "account", "amount", "memo"]) });
    let catalog = model::catalog::Catalog::read(kv, kv.now()).await.map_err(|e| WorkloadError::Unavailable(format!("catalog: {e}")))?;
    let desc = catalog.table_by_name("bank", "ledger").cloned().ok_or_else(|| WorkloadError::Unavailable("bank.ledger vanished after CREATE".into()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1ed9e5);
    let all: Vec<Row> = (1..=rows as i64)
        .map(|id| vec![Datum::Int(id), Datum::Int(rng.gen_range(1..500)), Datum::Int(rng.gen_range(-10_000..10_000)), Datum::String(format!("entry {id}"))])
        .collect();
    let ts = kv.now();
    let entries: Vec<model::Entry> =
        all.iter().flat_map(|r| model::sql::row_entries(&desc, r)).map(|(key, value)| model::Entry { key, ts, value: Some(value) }).collect();
    for chunk in entries.chunks(PRELOAD_BATCH) {
        let mut tries = 0;
        while let Err(e) = kv.ingest(chunk.to_vec()).await {
            tries += 1;
            if !e.is_retryable() || tries > 20 {
                return Err(WorkloadError::Unavailable(format!("preload ingest into {LEDGER}: {e}")));
            }
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if let Some(trace) = TRACE.with(|t| t.borrow().clone()) {
        sim::trace_event!(trace, "loader", sim::event::INGESTED, "{LEDGER}: {rows} rows ({} entries) at {ts}", entries.len());
    }
    let mut o = oracle.lock().expect("oracle");
    for row in all {
        o.record(LEDGER, ts, Event::Put { row });
    }
    Ok(())
}
