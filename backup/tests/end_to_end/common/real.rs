//! The in-process harness over real storage (`real-storage` feature): a one-node `LocalKv` on
//! the machine's clock, bootstrapped as [`super::Cluster`] is, whose `Env` opens real storage
//! through a [`RealStorageProvider`] and runs on a [`TokioRuntime`] (real sleeps, jobs spawned
//! on tokio). Statements run with `block_on` on a tokio runtime shared by the clusters of a
//! test, so a RESTORE in a second cluster reads what a BACKUP in the first one wrote.

use super::{TestLog, DATA, SCHEMA};
use backup::env::{Env, JobSettings};
use backup::error::BackupError;
use backup::exec;
use backup::show::QueryResult;
use backup::storage::real::{RealStorageOptions, RealStorageProvider};
use backup::storage::url::{ExternalIoSettings, StorageUrl};
use backup::storage::{ExternalStorage, StorageError, StorageProvider};
use backup::targets::SessionContext;
use backup::tokio_runtime::TokioRuntime;
use futures::executor::block_on;
use model::catalog;
use model::sql::{read_table, ExecResult, Session, TableRows};
use model::{Kv, LocalKv, Timestamp};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A tokio runtime for a test's clusters (2 workers: the machine has 2 cores).
pub fn tokio_runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime"))
}

/// Job settings for tests against real servers: a short retry budget so that a storage that
/// stays down fails the job in seconds, not in ten minutes.
pub fn quick_jobs(retry_budget: Duration) -> JobSettings {
    JobSettings { lease: Duration::from_secs(10), adopt_interval: Duration::from_secs(3), retry_budget, ..JobSettings::default() }
}

/// One in-process cluster writing to real storage.
pub struct RealCluster {
    pub rt: Arc<tokio::runtime::Runtime>,
    pub local: Arc<LocalKv>,
    pub storage: Arc<RealStorageProvider>,
    pub log: Arc<TestLog>,
    pub env: Env,
    pub session: Session,
}

impl RealCluster {
    /// A bootstrapped cluster on the system clock.
    pub fn new(rt: &Arc<tokio::runtime::Runtime>, io: ExternalIoSettings, options: RealStorageOptions, jobs: JobSettings) -> RealCluster {
        let local = Arc::new(LocalKv::with_system_clock());
        block_on(catalog::bootstrap(&*local)).expect("bootstrap");
        let storage = Arc::new(RealStorageProvider::new(io.clone(), options));
        let log = Arc::new(TestLog::default());
        let env = Env {
            kv: local.clone(),
            storage: storage.clone(),
            runtime: Arc::new(TokioRuntime::new(rt.handle().clone())),
            io,
            locality: Default::default(),
            cluster_id: "real-test-cluster".into(),
            jobs,
            log: log.clone(),
            planted: None,
        };
        let session = Session::root(local.clone());
        RealCluster { rt: rt.clone(), local, storage, log, env, session }
    }

    /// A cluster whose nodelocal directory is `dir`, with default options.
    pub fn at_dir(rt: &Arc<tokio::runtime::Runtime>, dir: &Path) -> RealCluster {
        let io = ExternalIoSettings { external_io_dir: Some(dir.to_path_buf()), ..ExternalIoSettings::default() };
        RealCluster::new(rt, io, RealStorageOptions::default(), JobSettings::default())
    }

    /// The bank schema and data of [`super::SCHEMA`] and [`super::DATA`].
    pub fn with_bank(mut self) -> RealCluster {
        self.sql(SCHEMA);
        self.sql(DATA);
        self.sql("USE defaultdb");
        self
    }

    /// Runs SQL (a script) as root; panics on error.
    pub fn sql(&mut self, sql: &str) -> Vec<ExecResult> {
        block_on(self.session.execute_script(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a bulk statement as root on the tokio runtime.
    pub fn exec(&self, sql: &str) -> Result<QueryResult, BackupError> {
        self.rt.block_on(exec::execute(&self.env, &SessionContext::root(), sql))
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

    pub fn now(&self) -> Timestamp {
        self.local.now()
    }

    /// Every row of `db.table` as of `ts`.
    pub fn read(&self, db: &str, table: &str, ts: Timestamp) -> TableRows {
        block_on(read_table(&*self.local, db, table, ts)).unwrap_or_else(|e| panic!("read {db}.{table}: {e}"))
    }

    /// The storage at `location`, opened as the backup opens it.
    pub fn open(&self, location: &str) -> Arc<dyn ExternalStorage> {
        let url = StorageUrl::parse(location).unwrap_or_else(|e| panic!("{e}"));
        self.storage.open(&url, 1).unwrap_or_else(|e| panic!("open {}: {e}", url.redacted()))
    }

    /// Lists a location's objects.
    pub fn list(&self, location: &str) -> Result<Vec<String>, StorageError> {
        let s = self.open(location);
        self.rt.block_on(s.list(""))
    }
}
