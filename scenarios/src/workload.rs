//! The cluster workload: a small bank and shop written through SQL by concurrent clients,
//! every committed change recorded in the [`Oracle`].
//!
//! Setup → run → check, as FoundationDB's workloads do. The schema has what BACKUP's rules care
//! about: two databases, foreign keys, secondary indexes, a sequence used by a column default, a
//! view, a short GC TTL on one table, and schema changes (ADD COLUMN, CREATE INDEX, CREATE TABLE,
//! TRUNCATE) while clients write. A third database, the guest, has names the seed draws from
//! identifiers that only work quoted (quotes, backslashes, spaces, tabs, upper case, non-ASCII
//! letters, a keyword; see [`GuestNames`]), and rows whose strings carry the same characters. Clients record only what the database acknowledged, with the
//! commit timestamp it reported; a statement that fails is known not to have committed.

use crate::cluster_state::ClusterState;
use crate::oracle::{Event, Oracle, Row};
use model::sql::{Session, SqlError};
use model::{Datum, KvError, Timestamp};
use rand::seq::SliceRandom;
use rand::Rng;
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
    /// Whether writer 0 also creates a database mid-run ([`SCRATCH_TABLE`]'s, at a sixth of its
    /// operations), writes a table in it, and drops it with CASCADE (at half; a run too short to
    /// keep the steps apart, as a shrunk one may be, loses some of them): a database whose
    /// whole life lies inside the run, which a cluster backup's descriptor history must keep
    /// for a restore to a time inside that life and leave out after. On in the chain scenario,
    /// whose point-in-time restores turn on it.
    pub scratch_database: bool,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig { writers: 2, ops_per_writer: 120, think_ms: (0, 250), preload_rows: 0, scratch_database: false }
    }
}

/// The table of the database created and dropped mid-run ([`WorkloadConfig::scratch_database`]).
pub const SCRATCH_TABLE: &str = "scratch.notes";

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
    /// Where the scratch database's life is: 0 not created, 1 created, 2 its table created (rows
    /// follow), 3 dropped.
    scratch: u8,
}

thread_local! {
    /// Where statements are traced (set by the runner for the simulation's thread).
    pub static TRACE: std::cell::RefCell<Option<sim::Trace>> = const { std::cell::RefCell::new(None) };
}

/// The tables the oracle follows, and how a view maps to one of them.
pub const VIEW_BIG_ACCOUNTS: &str = "bank.big_accounts";

/// Identifiers a real schema may have and that every layer must carry through quoted: in
/// statements, in the manifest, in SHOW BACKUP's output, in RESTORE's renames, in errors. None
/// holds a dot: the oracle names a table `database.table`.
const GUEST_IDENTIFIERS: [&str; 9] = ["guest", "Guest Book", "o'brien", "say \"hi\"", "back\\slash", "straße", "日本語", "select", "tab\there"];

/// The guest database's names, drawn per seed from [`GUEST_IDENTIFIERS`] (stream
/// `workload/names`): the setup and every writer draw the same ones from the seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestNames {
    /// The database.
    pub database: String,
    /// Its one table (`id INT PRIMARY KEY` and [`GuestNames::column`]).
    pub table: String,
    /// The table's string column.
    pub column: String,
}

impl GuestNames {
    /// The names seed `seed` uses.
    pub fn draw(seed: u64) -> GuestNames {
        let mut rng = sim::SeedTree::new(seed).stream("workload/names");
        let mut pick = || GUEST_IDENTIFIERS[rng.gen_range(0..GUEST_IDENTIFIERS.len())].to_string();
        GuestNames { database: pick(), table: pick(), column: pick() }
    }

    /// The table as the oracle names it.
    pub fn oracle_table(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    /// The table as SQL names it: both parts quoted.
    pub fn sql_table(&self) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(&self.table))
    }
}

/// `name` as a quoted SQL identifier (`"` doubled inside), which keeps its case and characters.
/// Always quoted, even a plain name (unlike `model::sql::quote_ident`, which quotes only what
/// needs it): the workload drives the quoted path on every seed, and writes its SQL itself.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a SQL string literal (`'` doubled inside).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn exec(s: &mut Session, sql: &str) -> Result<Result<model::sql::ExecResult, SqlError>, WorkloadError> {
    let result = s.execute(sql).await;
    if let Some(trace) = TRACE.with(|t| t.borrow().clone()) {
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

/// Creates the schema (the guest database's names are seed `seed`'s) and records the tables'
/// creation.
pub async fn setup(s: &mut Session, oracle: &Mutex<Oracle>, seed: u64) -> Result<(), WorkloadError> {
    let created = |o: &Mutex<Oracle>, t: &str, ts, c: &[&str]| o.lock().expect("oracle").record(t, ts, Event::Created { columns: cols(c) });
    must_commit(s, "CREATE DATABASE bank").await?;
    let ts = must_commit(s, "CREATE TABLE bank.customers (id INT PRIMARY KEY, name STRING NOT NULL, region STRING)").await?;
    created(oracle, "bank.customers", ts, &["id", "name", "region"]);
    let ts = must_commit(s, "CREATE INDEX customers_by_region ON bank.customers (region)").await?;
    oracle.lock().expect("oracle").record("bank.customers", ts, Event::IndexCreated { name: "customers_by_region".into() });
    let ts = must_commit(s, "CREATE TABLE bank.accounts (id INT PRIMARY KEY, customer_id INT NOT NULL REFERENCES bank.customers (id), balance INT NOT NULL)")
        .await?;
    created(oracle, "bank.accounts", ts, &["id", "customer_id", "balance"]);
    let ts = must_commit(s, "CREATE INDEX accounts_by_customer ON bank.accounts (customer_id)").await?;
    oracle.lock().expect("oracle").record("bank.accounts", ts, Event::IndexCreated { name: "accounts_by_customer".into() });
    let ts = must_commit(s, "CREATE VIEW bank.big_accounts AS SELECT id, balance FROM bank.accounts WHERE balance > 1000").await?;
    created(oracle, VIEW_BIG_ACCOUNTS, ts, &["id", "balance"]);
    must_commit(s, "CREATE DATABASE shop").await?;
    must_commit(s, "CREATE SEQUENCE shop.order_ids").await?;
    let ts = must_commit(s, "CREATE TABLE shop.orders (id INT PRIMARY KEY DEFAULT nextval('shop.order_ids'), item STRING NOT NULL, qty INT NOT NULL)").await?;
    created(oracle, "shop.orders", ts, &["id", "item", "qty"]);
    let ts = must_commit(s, "ALTER TABLE shop.orders CONFIGURE ZONE USING gc.ttlseconds = 20").await?;
    oracle.lock().expect("oracle").record("shop.orders", ts, Event::ZoneConfigured { gc_ttl_seconds: 20 });
    let guest = GuestNames::draw(seed);
    must_commit(s, &format!("CREATE DATABASE {}", quote_ident(&guest.database))).await?;
    let ts = must_commit(s, &format!("CREATE TABLE {} (id INT PRIMARY KEY, {} STRING NOT NULL)", guest.sql_table(), quote_ident(&guest.column))).await?;
    created(oracle, &guest.oracle_table(), ts, &["id", &guest.column]);
    let mut last = ts;
    for sql in CLUSTER_STATEMENTS {
        last = must_commit(s, sql).await?;
    }
    oracle.lock().expect("oracle").record_cluster_state(last);
    Ok(())
}

/// Cluster-wide state the setup creates, which only a full cluster backup carries: a user and a
/// role it belongs to, grants to both, and zone configurations of the two bootstrap databases
/// (a cluster restore keeps the destination's own `defaultdb` and `postgres` and must carry
/// their zones over to them). The bootstrap databases hold no workload table, so their zones
/// change no GC the scenarios depend on.
pub const CLUSTER_STATEMENTS: &[&str] = &[
    "CREATE USER auditor",
    "CREATE ROLE analysts",
    "GRANT analysts TO auditor",
    "GRANT SELECT ON TABLE bank.accounts TO analysts",
    "GRANT CREATE ON DATABASE shop TO auditor",
    "ALTER DATABASE defaultdb CONFIGURE ZONE USING gc.ttlseconds = 7200",
    "ALTER DATABASE postgres CONFIGURE ZONE USING gc.ttlseconds = 5400",
];

/// The workload's own users and roles: the grants [`cluster_state`] follows.
pub const CLUSTER_GRANTEES: &[&str] = &["auditor", "analysts"];

/// What a cluster holds cluster-wide after [`setup`] (its bootstrap and
/// [`CLUSTER_STATEMENTS`]), written out by hand from those statements: the oracle a restored
/// cluster's [`ClusterState`] is held to.
pub fn cluster_state() -> ClusterState {
    let owned = |v: &[(&str, bool)]| v.iter().map(|(n, r)| (n.to_string(), *r)).collect();
    ClusterState {
        users: owned(&[("root", false), ("admin", true), ("auditor", false), ("analysts", true)]),
        memberships: [("admin", "root", true), ("analysts", "auditor", false)].iter().map(|(r, m, a)| (r.to_string(), m.to_string(), *a)).collect(),
        zones: [
            (crate::cluster_state::DEFAULT_RANGE.to_string(), model::catalog::DEFAULT_GC_TTL_SECONDS),
            ("DATABASE defaultdb".to_string(), 7200),
            ("DATABASE postgres".to_string(), 5400),
        ]
        .into_iter()
        .collect(),
        grants: [("TABLE bank.accounts", "analysts", "SELECT"), ("DATABASE shop", "auditor", "CREATE")]
            .iter()
            .map(|(o, g, p)| (o.to_string(), g.to_string(), p.to_string()))
            .collect(),
    }
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
    let rng = sim::SeedTree::new(seed).stream(&format!("workload/writer/{w}"));
    let guest = GuestNames::draw(seed);
    // A writer starts once setup has finished, which it learns out of band: a causality token
    // for every table setup created (the simulated cluster has no uncertainty intervals, so a
    // clock a little behind the setup client's would not see its newest table yet: found by
    // swarm seed 52228, whose first write went to the guest table created just before).
    let newest = {
        let o = oracle.lock().expect("oracle");
        o.tables().iter().flat_map(|t| o.timestamps(t)).max()
    };
    if let Some(ts) = newest {
        clock.update(ts);
    }
    let mut writer = Writer { s, clock, w, cfg, rng, next_id: 1 + w as i64, stride: cfg.writers as i64, oracle, shared, guest };
    let mut stats = WriterStats::default();
    for op in 0..cfg.ops_per_writer {
        let think = writer.rng.gen_range(cfg.think_ms.0..=cfg.think_ms.1.max(cfg.think_ms.0));
        madsim::time::sleep(Duration::from_millis(think)).await;
        if writer.step(op).await? {
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

/// One writer between operations: its session, its random stream and the next id it inserts.
/// Every operation draws from `rng` in a fixed order (targets, then the operation, then its
/// values), which is what makes a seed's workload, and so its trace, the same on every run.
struct Writer<'a> {
    s: &'a mut Session,
    clock: &'a sim::clock::Hlc,
    w: usize,
    cfg: &'a WorkloadConfig,
    rng: ChaCha8Rng,
    next_id: i64,
    stride: i64,
    oracle: &'a Mutex<Oracle>,
    shared: &'a Arc<Mutex<Shared>>,
    guest: GuestNames,
}

/// The known rows an operation may act on. They are drawn before the operation is chosen, and
/// all of them every time, so that which operation comes up never shifts the draws after it.
struct Targets {
    customer: Option<i64>,
    account: Option<i64>,
    account2: Option<i64>,
    order: Option<i64>,
    has_note: bool,
    reviews: bool,
}

/// A schema change writer 0 makes at a fixed point of its run, so every seed changes the
/// schema while the other writers are writing.
#[derive(Clone, Copy)]
enum SchemaChange {
    AddOrderNote,
    IndexOrdersByItem,
    CreateReviews,
    TruncateOrders,
    CreateScratch,
    FillScratch,
    DropScratch,
}

impl SchemaChange {
    /// The change due at operation `op` of `ops`: ADD COLUMN at a third of the run, CREATE INDEX
    /// right after, CREATE TABLE at two thirds, TRUNCATE five operations before the end; with a
    /// scratch database, CREATE DATABASE at a sixth, its table and rows in the two operations
    /// after, DROP DATABASE ... CASCADE at half. When a short run makes two coincide, the earlier
    /// in that list wins.
    fn at(op: usize, ops: usize, scratch: bool) -> Option<SchemaChange> {
        let third = ops / 3;
        let sixth = ops / 6;
        if op == third {
            Some(SchemaChange::AddOrderNote)
        } else if op == third + 1 {
            Some(SchemaChange::IndexOrdersByItem)
        } else if op == 2 * third {
            Some(SchemaChange::CreateReviews)
        } else if op + 5 == ops {
            Some(SchemaChange::TruncateOrders)
        } else if scratch && op == sixth {
            Some(SchemaChange::CreateScratch)
        } else if scratch && (op == sixth + 1 || op == sixth + 2) {
            Some(SchemaChange::FillScratch)
        } else if scratch && op == ops / 2 {
            Some(SchemaChange::DropScratch)
        } else {
            None
        }
    }
}

impl Writer<'_> {
    /// One operation; whether it committed. Writer 0 makes its schema change when one is due;
    /// otherwise an operation is drawn by weight (writer 0 alone writes the shop's orders).
    async fn step(&mut self, op: usize) -> Result<bool, WorkloadError> {
        let t = self.draw_targets();
        if self.w == 0 {
            if let Some(change) = SchemaChange::at(op, self.cfg.ops_per_writer, self.cfg.scratch_database) {
                return self.schema_change(change).await;
            }
        }
        let roll = self.rng.gen_range(0..100);
        match roll {
            0..=14 => self.insert_customer().await,
            15..=24 => self.move_customer(t.customer).await,
            25..=44 => self.open_account(t.customer).await,
            45..=64 => self.adjust_balance(t.account).await,
            65..=74 => self.transfer(t.account, t.account2).await,
            75..=81 => self.close_account(t.account).await,
            82..=93 if self.w == 0 => self.upsert_order(t.order, t.has_note).await,
            94..=96 if self.w == 0 => self.delete_order(t.order).await,
            97..=99 => self.write_guest().await,
            _ if t.reviews => self.insert_review().await,
            _ => Ok(false),
        }
    }

    /// Draws the operation's candidate rows from what the writers have committed so far, and
    /// moves this writer's clock past each one's commit (their causality tokens, see [`pick`]).
    fn draw_targets(&mut self) -> Targets {
        let rng = &mut self.rng;
        let (customer, account, account2, order, has_note, reviews) = {
            let sh = self.shared.lock().expect("shared");
            (pick(rng, &sh.customers), pick(rng, &sh.accounts), pick(rng, &sh.accounts), pick(rng, &sh.orders), sh.orders_have_note, sh.reviews_created)
        };
        for token in [customer, account, account2, order].into_iter().flatten() {
            self.clock.update(token.1);
        }
        if let Some(ts) = reviews {
            self.clock.update(ts);
        }
        Targets {
            customer: customer.map(|c| c.0),
            account: account.map(|c| c.0),
            account2: account2.map(|c| c.0),
            order: order.map(|c| c.0),
            has_note,
            reviews: reviews.is_some(),
        }
    }

    /// Records a committed change in the oracle.
    fn record(&self, table: &str, ts: Timestamp, event: Event) {
        self.oracle.lock().expect("oracle").record(table, ts, event);
    }

    /// This writer's next row id: its own residue class, so no two writers insert the same id.
    fn new_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += self.stride;
        id
    }

    /// Writer 0's schema change, recorded in the oracle (and in the shared state the other
    /// writers read) only if it committed.
    async fn schema_change(&mut self, change: SchemaChange) -> Result<bool, WorkloadError> {
        let scratch = self.shared.lock().expect("shared").scratch;
        let notes = if matches!(change, SchemaChange::FillScratch) && scratch == 2 { Some((self.new_id(), self.new_id())) } else { None };
        let fill;
        let sql = match change {
            SchemaChange::AddOrderNote => "ALTER TABLE shop.orders ADD COLUMN note STRING DEFAULT 'none'",
            SchemaChange::IndexOrdersByItem => "CREATE INDEX orders_by_item ON shop.orders (item)",
            SchemaChange::CreateReviews => "CREATE TABLE shop.reviews (id INT PRIMARY KEY, stars INT NOT NULL)",
            SchemaChange::TruncateOrders => "TRUNCATE shop.orders",
            SchemaChange::CreateScratch => "CREATE DATABASE scratch",
            // Its table first (once the database is there), then rows.
            SchemaChange::FillScratch if scratch == 1 => "CREATE TABLE scratch.notes (id INT PRIMARY KEY, body STRING NOT NULL)",
            SchemaChange::FillScratch if scratch == 2 => {
                let (a, b) = notes.unwrap_or_default();
                fill = format!("INSERT INTO scratch.notes VALUES ({a}, 'note {a}'), ({b}, 'note {b}')");
                fill.as_str()
            }
            SchemaChange::FillScratch => return Ok(false),
            // Nothing to drop if the CREATE was refused (a refusal is final for the workload:
            // the database does not exist, and DROP would fail as no refusal may).
            SchemaChange::DropScratch if scratch == 0 => return Ok(false),
            SchemaChange::DropScratch => "DROP DATABASE scratch CASCADE",
        };
        let Some(ts) = ok_rows(self.s, sql).await? else { return Ok(false) };
        let (ts, rows) = ts;
        match change {
            SchemaChange::AddOrderNote => {
                self.record("shop.orders", ts, Event::AddColumn { name: "note".into(), default: Datum::String("none".into()) });
                self.shared.lock().expect("shared").orders_have_note = true;
            }
            SchemaChange::IndexOrdersByItem => self.record("shop.orders", ts, Event::IndexCreated { name: "orders_by_item".into() }),
            SchemaChange::CreateReviews => {
                self.record("shop.reviews", ts, Event::Created { columns: cols(&["id", "stars"]) });
                self.shared.lock().expect("shared").reviews_created = Some(ts);
            }
            SchemaChange::TruncateOrders => {
                self.record("shop.orders", ts, Event::Truncate);
                self.shared.lock().expect("shared").orders.clear();
            }
            SchemaChange::CreateScratch => self.shared.lock().expect("shared").scratch = 1,
            SchemaChange::FillScratch if scratch == 1 => {
                self.record(SCRATCH_TABLE, ts, Event::Created { columns: cols(&["id", "body"]) });
                self.shared.lock().expect("shared").scratch = 2;
            }
            SchemaChange::FillScratch => {
                let (a, b) = notes.unwrap_or_default();
                for id in [a, b].into_iter().take(rows as usize) {
                    self.record(SCRATCH_TABLE, ts, Event::Put { row: vec![Datum::Int(id), Datum::String(format!("note {id}"))] });
                }
            }
            SchemaChange::DropScratch => {
                if scratch == 2 {
                    self.record(SCRATCH_TABLE, ts, Event::Dropped);
                }
                self.shared.lock().expect("shared").scratch = 3;
            }
        }
        Ok(true)
    }

    /// INSERT a customer with a new id, in a random region.
    async fn insert_customer(&mut self) -> Result<bool, WorkloadError> {
        let id = self.new_id();
        let region = format!("region-{}", self.rng.gen_range(0..4));
        let sql = format!("INSERT INTO bank.customers VALUES ({id}, 'c{id}', '{region}')");
        let ts = ok_ts(self.s, &sql).await?;
        if let Some(ts) = ts {
            self.record("bank.customers", ts, Event::Put { row: vec![Datum::Int(id), Datum::String(format!("c{id}")), Datum::String(region)] });
            self.shared.lock().expect("shared").customers.push((id, ts));
        }
        Ok(ts.is_some())
    }

    /// UPDATE a known customer's region (an update that contends with the other writers).
    async fn move_customer(&mut self, customer: Option<i64>) -> Result<bool, WorkloadError> {
        let Some(c) = customer else { return Ok(false) };
        let region = format!("region-{}", self.rng.gen_range(0..4));
        let done = ok_rows(self.s, &format!("UPDATE bank.customers SET region = '{region}' WHERE id = {c}")).await?;
        if let Some((ts, 1)) = done {
            self.record("bank.customers", ts, Event::Put { row: vec![Datum::Int(c), Datum::String(format!("c{c}")), Datum::String(region)] });
        }
        Ok(done.is_some())
    }

    /// INSERT an account for a known customer (a foreign key that must hold after RESTORE).
    async fn open_account(&mut self, customer: Option<i64>) -> Result<bool, WorkloadError> {
        let Some(c) = customer else { return Ok(false) };
        let id = self.new_id();
        let balance = self.rng.gen_range(0..2_000);
        let ts = ok_ts(self.s, &format!("INSERT INTO bank.accounts VALUES ({id}, {c}, {balance})")).await?;
        if let Some(ts) = ts {
            self.record("bank.accounts", ts, Event::Put { row: vec![Datum::Int(id), Datum::Int(c), Datum::Int(balance)] });
            self.shared.lock().expect("shared").accounts.push((id, ts));
        }
        Ok(ts.is_some())
    }

    /// UPDATE a known account's balance by a random amount, recorded as a delta so concurrent
    /// updates of one row add up in the oracle.
    async fn adjust_balance(&mut self, account: Option<i64>) -> Result<bool, WorkloadError> {
        let Some(a) = account else { return Ok(false) };
        let delta = self.rng.gen_range(-300..=300);
        let done = ok_rows(self.s, &format!("UPDATE bank.accounts SET balance = balance + {delta} WHERE id = {a}")).await?;
        if let Some((ts, 1)) = done {
            self.record("bank.accounts", ts, Event::Add { pk: Datum::Int(a), column: 2, delta });
        }
        Ok(done.is_some())
    }

    /// Moves money between two known accounts in one transaction: both updates commit at one
    /// timestamp or neither does, which a restore must not tear apart.
    async fn transfer(&mut self, from: Option<i64>, to: Option<i64>) -> Result<bool, WorkloadError> {
        let (Some(a), Some(b)) = (from, to) else { return Ok(false) };
        if a == b {
            return Ok(false);
        }
        let x = self.rng.gen_range(1..=200);
        let stmts = [
            format!("UPDATE bank.accounts SET balance = balance - {x} WHERE id = {a}"),
            format!("UPDATE bank.accounts SET balance = balance + {x} WHERE id = {b}"),
        ];
        let done = transaction(self.s, &stmts).await?;
        if let Some((ts, affected)) = &done {
            if affected[0] == 1 {
                self.record("bank.accounts", *ts, Event::Add { pk: Datum::Int(a), column: 2, delta: -x });
            }
            if affected[1] == 1 {
                self.record("bank.accounts", *ts, Event::Add { pk: Datum::Int(b), column: 2, delta: x });
            }
        }
        Ok(done.is_some())
    }

    /// DELETE a known account.
    async fn close_account(&mut self, account: Option<i64>) -> Result<bool, WorkloadError> {
        let Some(a) = account else { return Ok(false) };
        let done = ok_rows(self.s, &format!("DELETE FROM bank.accounts WHERE id = {a}")).await?;
        if let Some((ts, 1)) = done {
            self.record("bank.accounts", ts, Event::Delete { pk: Datum::Int(a) });
            self.shared.lock().expect("shared").accounts.retain(|(x, _)| *x != a);
        }
        Ok(done.is_some())
    }

    /// UPSERT an order (writer 0): a third of the time over a known order, else under a new id
    /// from the sequence, so the sequence and the orders table both change under the backup.
    async fn upsert_order(&mut self, order: Option<i64>, has_note: bool) -> Result<bool, WorkloadError> {
        let qty = self.rng.gen_range(1..10);
        let item = format!("item-{}", self.rng.gen_range(0..50));
        let id = match order.filter(|_| self.rng.gen_ratio(1, 3)) {
            Some(existing) => existing,
            None => match self.next_order_id().await? {
                Some(id) => id,
                None => return Ok(false),
            },
        };
        let (sql, mut row) =
            (format!("UPSERT INTO shop.orders (id, item, qty) VALUES ({id}, '{item}', {qty})"), vec![Datum::Int(id), Datum::String(item), Datum::Int(qty)]);
        if has_note {
            row.push(Datum::String("none".into()));
        }
        let ts = ok_ts(self.s, &sql).await?;
        if let Some(ts) = ts {
            // UPSERT of an existing row keeps the columns it does not name.
            if let (Some(note), true) = (self.prior_note(id, ts), has_note) {
                row[3] = note;
            }
            self.record("shop.orders", ts, Event::Put { row });
            let mut sh = self.shared.lock().expect("shared");
            if !sh.orders.iter().any(|(o, _)| *o == id) {
                sh.orders.push((id, ts));
            }
        }
        Ok(ts.is_some())
    }

    /// A new order id from `shop.order_ids`, or `None` if the statement was refused as retryable.
    async fn next_order_id(&mut self) -> Result<Option<i64>, WorkloadError> {
        const NEXTVAL: &str = "SELECT nextval('shop.order_ids')";
        match exec(self.s, NEXTVAL).await? {
            Ok(r) => match r.rows.first().and_then(|row| row.first()) {
                Some(Datum::Int(v)) => Ok(Some(*v)),
                other => Err(WorkloadError::Statement { sql: NEXTVAL.into(), error: SqlError::Type(format!("returned {other:?}")) }),
            },
            Err(_) => Ok(None),
        }
    }

    /// The note order `id` had just before `ts`, as the oracle knows it (an UPSERT keeps it).
    fn prior_note(&self, id: i64, ts: Timestamp) -> Option<Datum> {
        self.oracle.lock().expect("oracle").state_at("shop.orders", ts.prev()).and_then(|st| st.rows.get(&Datum::Int(id)).and_then(|r| r.get(3).cloned()))
    }

    /// DELETE a known order (writer 0).
    async fn delete_order(&mut self, order: Option<i64>) -> Result<bool, WorkloadError> {
        let Some(o) = order else { return Ok(false) };
        let done = ok_rows(self.s, &format!("DELETE FROM shop.orders WHERE id = {o}")).await?;
        if let Some((ts, 1)) = done {
            self.record("shop.orders", ts, Event::Delete { pk: Datum::Int(o) });
            self.shared.lock().expect("shared").orders.retain(|(x, _)| *x != o);
        }
        Ok(done.is_some())
    }

    /// UPSERT (three times in four) or DELETE one of the guest table's eight rows, which every
    /// writer contends for; the string written carries the characters names are drawn from.
    async fn write_guest(&mut self) -> Result<bool, WorkloadError> {
        let id = self.rng.gen_range(0..8);
        let table = self.guest.oracle_table();
        if self.rng.gen_ratio(3, 4) {
            let text = format!("{} #{}", GUEST_IDENTIFIERS[self.rng.gen_range(0..GUEST_IDENTIFIERS.len())], self.rng.gen_range(0..1000));
            let sql = format!("UPSERT INTO {} (id, {}) VALUES ({id}, {})", self.guest.sql_table(), quote_ident(&self.guest.column), quote_literal(&text));
            let ts = ok_ts(self.s, &sql).await?;
            if let Some(ts) = ts {
                self.record(&table, ts, Event::Put { row: vec![Datum::Int(id), Datum::String(text)] });
            }
            Ok(ts.is_some())
        } else {
            let done = ok_rows(self.s, &format!("DELETE FROM {} WHERE id = {id}", self.guest.sql_table())).await?;
            if let Some((ts, 1)) = done {
                self.record(&table, ts, Event::Delete { pk: Datum::Int(id) });
            }
            Ok(done.is_some())
        }
    }

    /// INSERT a review, once writer 0 has created `shop.reviews` (a table new during the run).
    async fn insert_review(&mut self) -> Result<bool, WorkloadError> {
        let id = self.new_id();
        let stars = self.rng.gen_range(1..=5);
        let ts = ok_ts(self.s, &format!("INSERT INTO shop.reviews VALUES ({id}, {stars})")).await?;
        if let Some(ts) = ts {
            self.record("shop.reviews", ts, Event::Put { row: vec![Datum::Int(id), Datum::Int(stars)] });
        }
        Ok(ts.is_some())
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
    let mut rng = sim::SeedTree::new(seed).stream("workload/preload");
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
