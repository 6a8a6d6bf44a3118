//! The in-process harness of the end-to-end tests: a one-node `LocalKv` over a `ManualClock`,
//! bootstrapped, a SQL `Session` to create data, and an `Env` whose storage is a
//! `MemStorageProvider` shared with other clusters (so a RESTORE elsewhere reads what a BACKUP
//! wrote) and whose `Runtime` is [`TestRuntime`]:
//!
//! - `sleep(d)` advances the ManualClock by `d` and returns at once;
//! - `spawn(fut)` queues `fut`; nothing runs it until a test calls [`TestRuntime::run_spawned`]
//!   (outside any executor). Spawned work is the coordinator's heartbeat and the coordinator a
//!   RESUME JOB starts. A heartbeat run after its job ended returns after one sleep.
//!
//! The `Env`'s KV is a [`HookedKv`]: it forwards everything to the `LocalKv` and can run a test
//! hook before each export (to fail it, or to PAUSE the job mid-way) and records every export.

#![allow(dead_code)]

use async_trait::async_trait;
use backup::env::{Env, EventLog, JobSettings, Runtime};
use backup::error::BackupError;
use backup::exec;
use backup::format::Manifest;
use backup::show::QueryResult;
use backup::storage::url::{ExternalIoSettings, StorageUrl};
use backup::storage::{ExternalStorage, MemStorage, MemStorageProvider};
use backup::targets::SessionContext;
use futures::executor::block_on;
use futures::future::BoxFuture;
use model::catalog::{self, Catalog};
use model::kv::{ClusterKv, ExportRequest, ExportResponse, Kv, KvError, NodeId, RangeInfo, WriteOp};
use model::sql::{read_table, ExecResult, Session, TableRows};
use model::{Datum, Entry, Key, LocalKv, ManualClock, Span, Timestamp};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// 2020-09-13 12:26:40 UTC.
pub const T0: u64 = 1_600_000_000_000_000_000;

/// Sleep advances the manual clock; spawn queues.
pub struct TestRuntime {
    clock: Arc<ManualClock>,
    queue: Mutex<VecDeque<BoxFuture<'static, ()>>>,
    /// Every duration slept, in order.
    pub slept: Mutex<Vec<Duration>>,
    /// The state of `fill_random`'s deterministic generator (SplitMix64).
    random: Mutex<u64>,
    /// How many bytes `fill_random` produced.
    pub random_bytes: Mutex<usize>,
}

impl Runtime for TestRuntime {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.clock.advance(d);
        self.slept.lock().unwrap().push(d);
        Box::pin(async {})
    }

    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        self.queue.lock().unwrap().push_back(fut);
    }

    /// SplitMix64 from a fixed seed: the same bytes on every run of a test.
    fn fill_random(&self, buf: &mut [u8]) {
        let mut state = self.random.lock().unwrap();
        for chunk in buf.chunks_mut(8) {
            *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        *self.random_bytes.lock().unwrap() += buf.len();
    }
}

impl TestRuntime {
    /// Runs queued futures one at a time, each to completion, until none is left (including
    /// those they spawn). Returns how many ran. Must be called outside any executor.
    pub fn run_spawned(&self) -> usize {
        let mut n = 0;
        loop {
            let next = self.queue.lock().unwrap().pop_front();
            match next {
                Some(f) => {
                    block_on(f);
                    n += 1;
                }
                None => return n,
            }
        }
    }

    /// Drops every queued future without running it.
    pub fn drop_spawned(&self) -> usize {
        let mut q = self.queue.lock().unwrap();
        let n = q.len();
        q.clear();
        n
    }

    /// How many futures are queued.
    pub fn queued(&self) -> usize {
        self.queue.lock().unwrap().len()
    }
}

/// What an export hook decides, given how many exports it saw before this one.
pub type ExportHook = Box<dyn FnMut(usize, &ExportRequest) -> BoxFuture<'static, Option<KvError>> + Send>;

/// A `ClusterKv` forwarding to a `LocalKv`, with an optional hook before each export.
pub struct HookedKv {
    pub inner: Arc<LocalKv>,
    hook: Mutex<Option<(usize, ExportHook)>>,
    /// Every export asked for: its span and whether it succeeded.
    pub exports: Mutex<Vec<(Span, bool)>>,
    ingest_hook: Mutex<Option<(usize, IngestHook)>>,
    /// Every key ingested, in order (a restore's keys: counted to prove none went in twice).
    pub ingested: Mutex<Vec<Key>>,
    commit_hook: Mutex<Option<CommitHook>>,
}

/// What a commit hook decides, given the commit's writes: `Some` refuses the commit with it.
pub type CommitHook = Box<dyn FnMut(&[WriteOp]) -> Option<KvError> + Send>;

/// What an ingest hook decides, given how many ingests it saw before this one: `None` lets the
/// ingest through; a future that never ends stands for the node dying mid-ingest.
pub type IngestHook = Box<dyn FnMut(usize) -> BoxFuture<'static, Option<KvError>> + Send>;

impl HookedKv {
    /// Runs `hook` before each export from now on; its first argument counts the exports it
    /// saw before (0 for the first).
    pub fn set_hook(&self, hook: ExportHook) {
        *self.hook.lock().unwrap() = Some((0, hook));
    }

    pub fn clear_hook(&self) {
        *self.hook.lock().unwrap() = None;
    }

    /// Runs `hook` before each ingest from now on (0 for the first).
    pub fn set_ingest_hook(&self, hook: IngestHook) {
        *self.ingest_hook.lock().unwrap() = Some((0, hook));
    }

    pub fn clear_ingest_hook(&self) {
        *self.ingest_hook.lock().unwrap() = None;
    }

    /// Runs `hook` before each commit from now on.
    pub fn set_commit_hook(&self, hook: CommitHook) {
        *self.commit_hook.lock().unwrap() = Some(hook);
    }

    pub fn clear_commit_hook(&self) {
        *self.commit_hook.lock().unwrap() = None;
    }
}

#[async_trait]
impl Kv for HookedKv {
    fn now(&self) -> Timestamp {
        self.inner.now()
    }
    async fn scan(&self, span: &Span, ts: Timestamp) -> Result<Vec<(Key, model::Value)>, KvError> {
        self.inner.scan(span, ts).await
    }
    async fn get(&self, key: &Key, ts: Timestamp) -> Result<Option<model::Value>, KvError> {
        self.inner.get(key, ts).await
    }
    async fn commit(&self, writes: Vec<WriteOp>, read_ts: Option<Timestamp>) -> Result<Timestamp, KvError> {
        if let Some(e) = self.commit_hook.lock().unwrap().as_mut().and_then(|h| h(&writes)) {
            return Err(e);
        }
        self.inner.commit(writes, read_ts).await
    }
}

#[async_trait]
impl ClusterKv for HookedKv {
    fn node_id(&self) -> NodeId {
        self.inner.node_id()
    }
    fn nodes(&self) -> Vec<NodeId> {
        self.inner.nodes()
    }
    async fn ranges(&self, span: &Span) -> Result<Vec<RangeInfo>, KvError> {
        self.inner.ranges(span).await
    }
    async fn export(&self, node: NodeId, req: ExportRequest) -> Result<ExportResponse, KvError> {
        let decided = {
            let mut hook = self.hook.lock().unwrap();
            hook.as_mut().map(|(n, h)| {
                *n += 1;
                h(*n - 1, &req)
            })
        };
        let injected = match decided {
            Some(f) => f.await,
            None => None,
        };
        let result = match injected {
            Some(e) => Err(e),
            None => self.inner.export(node, req.clone()).await,
        };
        self.exports.lock().unwrap().push((req.span.clone(), result.is_ok()));
        result
    }
    async fn ingest(&self, entries: Vec<Entry>) -> Result<(), KvError> {
        let decided = {
            let mut hook = self.ingest_hook.lock().unwrap();
            hook.as_mut().map(|(n, h)| {
                *n += 1;
                h(*n - 1)
            })
        };
        if let Some(f) = decided {
            if let Some(e) = f.await {
                return Err(e);
            }
        }
        self.ingested.lock().unwrap().extend(entries.iter().map(|e| e.key.clone()));
        self.inner.ingest(entries).await
    }
    async fn gc_threshold(&self, span: &Span) -> Result<Timestamp, KvError> {
        self.inner.gc_threshold(span).await
    }
}

/// Records job events.
#[derive(Default)]
pub struct TestLog {
    pub events: Mutex<Vec<(String, String)>>,
}

impl EventLog for TestLog {
    fn event(&self, what: &str, detail: String) {
        self.events.lock().unwrap().push((what.to_string(), detail));
    }
}

impl TestLog {
    /// The events named `what`, their details in order.
    pub fn named(&self, what: &str) -> Vec<String> {
        self.events.lock().unwrap().iter().filter(|(w, _)| w == what).map(|(_, d)| d.clone()).collect()
    }
}

/// One in-process cluster.
pub struct Cluster {
    pub clock: Arc<ManualClock>,
    pub local: Arc<LocalKv>,
    pub kv: Arc<HookedKv>,
    pub runtime: Arc<TestRuntime>,
    pub storage: Arc<MemStorageProvider>,
    pub log: Arc<TestLog>,
    pub env: Env,
    pub session: Session,
}

impl Cluster {
    /// A bootstrapped cluster whose backups go to `storage`.
    pub fn new(storage: Arc<MemStorageProvider>) -> Cluster {
        let clock = Arc::new(ManualClock::new(T0));
        let local = Arc::new(LocalKv::new(clock.clone()));
        block_on(catalog::bootstrap(&*local)).unwrap();
        let kv = Arc::new(HookedKv {
            inner: local.clone(),
            hook: Mutex::new(None),
            exports: Mutex::new(Vec::new()),
            ingest_hook: Mutex::new(None),
            ingested: Mutex::new(Vec::new()),
            commit_hook: Mutex::new(None),
        });
        let runtime = Arc::new(TestRuntime {
            clock: clock.clone(),
            queue: Mutex::new(VecDeque::new()),
            slept: Mutex::new(Vec::new()),
            random: Mutex::new(0),
            random_bytes: Mutex::new(0),
        });
        let log = Arc::new(TestLog::default());
        let env = Env {
            kv: kv.clone(),
            storage: storage.clone(),
            runtime: runtime.clone(),
            io: ExternalIoSettings::default(),
            locality: Default::default(),
            cluster_id: "test-cluster-id".into(),
            jobs: JobSettings::default(),
            log: log.clone(),
            planted: None,
        };
        let session = Session::root(local.clone());
        clock.advance(Duration::from_secs(1));
        Cluster { clock, local, kv, runtime, storage, log, env, session }
    }

    /// A cluster with its own, fresh storage.
    pub fn alone() -> Cluster {
        Cluster::new(Arc::new(MemStorageProvider::new()))
    }

    /// A fresh cluster sharing this one's storage (a restore destination).
    pub fn fresh_destination(&self) -> Cluster {
        Cluster::new(self.storage.clone())
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    pub fn now(&self) -> Timestamp {
        self.local.now()
    }

    /// Runs SQL (a script) as root; panics on error.
    pub fn sql(&mut self, sql: &str) -> Vec<ExecResult> {
        block_on(self.session.execute_script(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs one SQL statement as root; panics on error.
    pub fn sql1(&mut self, sql: &str) -> ExecResult {
        block_on(self.session.execute(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs one SQL statement as root; the error text.
    pub fn sql_err(&mut self, sql: &str) -> String {
        match block_on(self.session.execute(sql)) {
            Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// Rows of a query as root.
    pub fn rows(&mut self, sql: &str) -> Vec<Vec<Datum>> {
        self.sql1(sql).rows
    }

    /// Runs a bulk statement as root.
    pub fn exec(&self, sql: &str) -> Result<QueryResult, BackupError> {
        block_on(exec::execute(&self.env, &SessionContext::root(), sql))
    }

    /// Runs a bulk statement as root; panics on error.
    pub fn ok(&self, sql: &str) -> QueryResult {
        self.exec(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a bulk statement as root; its error text.
    pub fn err(&self, sql: &str) -> String {
        match self.exec(sql) {
            Ok(r) => panic!("{sql}: expected an error, got\n{}", r.render()),
            Err(e) => e.to_string(),
        }
    }

    /// Runs a bulk statement in `ctx`.
    pub fn exec_in(&self, ctx: &SessionContext, sql: &str) -> Result<QueryResult, BackupError> {
        block_on(exec::execute(&self.env, ctx, sql))
    }

    pub fn catalog(&self) -> Catalog {
        block_on(Catalog::read(&*self.local, self.local.now())).unwrap()
    }

    pub fn catalog_at(&self, ts: Timestamp) -> Catalog {
        block_on(Catalog::read(&*self.local, ts)).unwrap()
    }

    /// Every row (hidden columns included) of `db.table` as of `ts`.
    pub fn read(&self, db: &str, table: &str, ts: Timestamp) -> TableRows {
        block_on(read_table(&*self.local, db, table, ts)).unwrap_or_else(|e| panic!("read {db}.{table}: {e}"))
    }

    /// Every row of `db.table` now.
    pub fn read_now(&self, db: &str, table: &str) -> TableRows {
        self.read(db, table, self.now())
    }

    /// Every live KV pair of table `id` as of `ts`.
    pub fn table_kvs(&self, id: u32, ts: Timestamp) -> Vec<(Key, Vec<u8>)> {
        block_on(self.local.scan(&model::encoding::table_span(id), ts)).unwrap()
    }

    pub fn table_id(&self, db: &str, table: &str) -> u32 {
        self.catalog().table_by_name(db, table).unwrap_or_else(|| panic!("{db}.{table} missing")).id
    }

    /// The storage at a location (the URL's path), as the backup sees it.
    pub fn store(&self, location: &str) -> MemStorage {
        let url = StorageUrl::parse(location).unwrap();
        // Opening registers the store if nothing opened it yet.
        let _ = backup::storage::StorageProvider::open(&*self.storage, &url, 1).unwrap();
        self.storage.store(&url, 1).unwrap().at(url.path()).unwrap()
    }

    /// The manifest at a location.
    pub fn manifest(&self, location: &str) -> Manifest {
        let bytes = block_on(self.store(location).read("BACKUP")).unwrap();
        Manifest::decode("BACKUP", &bytes).unwrap()
    }
}

/// Reads an object of a MemStorage.
pub fn read_obj(s: &MemStorage, path: &str) -> Vec<u8> {
    block_on(s.read(path)).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes an object of a MemStorage.
pub fn write_obj(s: &MemStorage, path: &str, bytes: Vec<u8>) {
    block_on(s.write(path, bytes)).unwrap()
}

/// Deletes an object of a MemStorage.
pub fn delete_obj(s: &MemStorage, path: &str) {
    block_on(s.delete(path)).unwrap()
}

/// The schema every test starts from (the seed's `bank` and `employees`). Ids in a fresh
/// cluster: bank 52, customers 53, accounts 54, transfer_ids 55, transfers 56, rich_accounts 57,
/// employees 58, staff 59. The sequence is used by `transfers`, so that the seed's table
/// examples (`bank.customers`, `bank.customers, bank.accounts`) satisfy the dependency rule.
pub const SCHEMA: &str = "
    CREATE DATABASE bank;
    USE bank;
    CREATE TABLE customers (id INT PRIMARY KEY, name STRING NOT NULL, email STRING UNIQUE);
    CREATE TABLE accounts (
        id INT PRIMARY KEY,
        customer_id INT NOT NULL REFERENCES customers (id),
        balance FLOAT DEFAULT 0.0,
        kind STRING
    );
    CREATE INDEX accounts_by_customer ON accounts (customer_id);
    CREATE SEQUENCE transfer_ids;
    CREATE TABLE transfers (
        id INT PRIMARY KEY DEFAULT nextval('transfer_ids'),
        account_id INT NOT NULL REFERENCES accounts (id),
        amount FLOAT
    );
    CREATE VIEW rich_accounts AS SELECT id, balance FROM accounts WHERE balance > 1000;
    CREATE DATABASE employees;
    CREATE TABLE employees.staff (id INT PRIMARY KEY, name STRING NOT NULL, dept STRING);
";

/// Inserts, updates and deletes; leaves:
/// customers: 4 rows (ids 1, 2, 3, 5; email NULL for 3);
/// accounts: 5 rows (ids 1, 2, 3, 5, 6), balances 100, 5000, 1250.5, 1200, 0;
/// transfers: 3 rows (ids 1, 2, 4), sequence last_value 4;
/// staff: 3 rows.
pub const DATA: &str = "
    USE bank;
    INSERT INTO customers VALUES (1, 'ann', 'ann@bank'), (2, 'bob', 'bob@bank'), (3, 'cid', NULL), (4, 'dee', 'dee@bank'), (5, 'eve', 'eve@bank');
    INSERT INTO accounts VALUES (1, 1, 100.0, 'checking'), (2, 1, 5000.0, 'savings'), (3, 2, 250.5, 'checking'), (4, 4, 10.0, 'checking'), (5, 3, 1200.0, 'savings'), (6, 5, 0.0, 'checking');
    UPDATE accounts SET balance = balance + 1000 WHERE customer_id = 2;
    UPDATE customers SET name = 'robert' WHERE id = 2;
    DELETE FROM accounts WHERE customer_id = 4;
    DELETE FROM customers WHERE id = 4;
    INSERT INTO transfers (account_id, amount) VALUES (1, 10.0), (2, 20.0), (3, 30.0), (5, 50.0);
    DELETE FROM transfers WHERE id = 3;
    INSERT INTO employees.staff VALUES (1, 'alice', 'it'), (2, 'bert', 'ops'), (3, 'carl', NULL);
";

/// The relations of `bank` holding data, with the rows each holds after [`DATA`] (the
/// sequence's one row is its value).
pub const BANK_TABLES: [(&str, i64); 4] = [("customers", 4), ("accounts", 5), ("transfer_ids", 1), ("transfers", 3)];

/// A cluster with [`SCHEMA`] and [`DATA`], its clock then moved 11 s on so that
/// `AS OF SYSTEM TIME '-10s'` sees all of it.
pub fn bank_cluster(storage: Arc<MemStorageProvider>) -> Cluster {
    let mut c = Cluster::new(storage);
    c.sql(SCHEMA);
    c.advance(Duration::from_secs(1));
    c.sql(DATA);
    c.sql1("USE defaultdb");
    c.advance(Duration::from_secs(11));
    c
}

/// The result row of a successful BACKUP or RESTORE: (job_id, rows, index_entries, bytes),
/// after checking the columns, status and fraction.
pub fn result_row(r: &QueryResult) -> (i64, i64, i64, i64) {
    assert_eq!(r.columns, vec!["job_id", "status", "fraction_completed", "rows", "index_entries", "bytes"]);
    assert_eq!(r.rows.len(), 1, "{}", r.render());
    let row = &r.rows[0];
    assert_eq!(row[1], Datum::String("succeeded".into()));
    assert_eq!(row[2], Datum::Float(1.0));
    let int = |d: &Datum| match d {
        Datum::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    };
    (int(&row[0]), int(&row[3]), int(&row[4]), int(&row[5]))
}

/// (rows, index_entries, bytes) of the live KV data of `tables` at `ts`, counted straight
/// from the store: primary index entries are rows, the rest index entries.
pub fn expected_totals(c: &Cluster, tables: &[u32], ts: Timestamp) -> (i64, i64, i64) {
    let (mut rows, mut idx, mut bytes) = (0, 0, 0);
    for id in tables {
        for (k, v) in c.table_kvs(*id, ts) {
            let (_, index) = model::encoding::index_of(&k).unwrap();
            if index == model::encoding::PRIMARY_INDEX_ID {
                rows += 1;
            } else {
                idx += 1;
            }
            bytes += (k.0.len() + v.len()) as i64;
        }
    }
    (rows, idx, bytes)
}

pub fn s(v: &str) -> Datum {
    Datum::String(v.into())
}

pub fn i(v: i64) -> Datum {
    Datum::Int(v)
}

pub fn f(v: f64) -> Datum {
    Datum::Float(v)
}

/// The root context inside BEGIN ... COMMIT.
pub fn in_txn() -> SessionContext {
    SessionContext { in_transaction: true, ..SessionContext::root() }
}

/// A non-admin user's context.
pub fn as_user(user: &str) -> SessionContext {
    SessionContext { user: user.into(), ..SessionContext::root() }
}

#[cfg(feature = "real-storage")]
pub mod proxy;
#[cfg(feature = "real-storage")]
pub mod real;

/// Before export number `at` (counting from 0) of the next backup, runs `statements` (with
/// `{id}` replaced by the running backup's job id) and fails that export and every later one
/// retryably, so their spans stay to do.
pub fn control_mid_backup(c: &Cluster, at: usize, statements: &'static [&'static str]) {
    let env = c.env.clone();
    c.kv.set_hook(Box::new(move |n, _req| {
        let env = env.clone();
        Box::pin(async move {
            if n < at {
                return None;
            }
            if n == at {
                let running: Vec<_> =
                    backup::jobs::list(&*env.kv).await.unwrap().into_iter().filter(|j| j.status == backup::jobs::JobStatus::Running).collect();
                assert_eq!(running.len(), 1, "{running:?}");
                for sql in statements {
                    let sql = sql.replace("{id}", &running[0].id.to_string());
                    backup::exec::execute(&env, &SessionContext::root(), &sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
                }
            }
            Some(KvError::Unavailable { node: 1, reason: "injected after the control statement".into() })
        })
    }));
}
