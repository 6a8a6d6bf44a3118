//! `backup-sim shell`: an interactive SQL prompt on an in-process, one-node cluster (a
//! `model::LocalKv` on the machine's clock, bootstrapped as a fresh cluster is) whose BACKUP and
//! RESTORE write to real storage: `nodelocal://` under the external-io directory (default
//! `./extern`) and the cloud / http URLs through `object_store`.
//!
//! CREATE / INSERT / SELECT and the rest of the SQL layer run through `model::sql::Session`;
//! BACKUP, RESTORE, SHOW BACKUP, SHOW JOBS and PAUSE / RESUME / CANCEL JOB through
//! `backup::exec`, exactly as a gateway node of the simulated cluster runs them. The cluster
//! lives in memory and is gone when the shell exits; the backups are files and stay, so a later
//! shell can RESTORE them, and — because the cluster id is kept beside them
//! ([`cluster_id`]) — add incrementals to them. The cluster runs its GC queue as the simulated
//! one does (every `--gc-interval`), so `gc.ttlseconds` takes effect.
//!
//! Input: `-e 'SQL'` and `-f FILE` (repeatable, run in command-line order), standard input when
//! it is not a terminal (run statement by statement as it arrives), or else the prompt, with line
//! editing and history ([`history`]). A batch stops at its first error and says which of its
//! statements were not run; a script then exits with status 1, the prompt goes on. Ctrl-C
//! cancels a running BACKUP / RESTORE / SHOW BACKUP ([`interrupt`]), which also print what they
//! wait for when storage is slow to answer ([`progress`]) and, on a terminal, draw their job's
//! progress bar ([`job_bar`]); at the prompt Ctrl-C clears the line and Ctrl-D exits (on a
//! half-typed statement it first warns). `--ui ADDR` serves a read-only Jobs page ([`ui`]).
//!
//! What it must never do: run inside the simulator (it uses real tokio and real files), or print
//! or store a secret (job descriptions and errors carry redacted URLs only; history entries and
//! "not run" notes are redacted by [`redact`]).

pub mod cluster_id;
pub mod history;
pub mod input;
pub mod interrupt;
pub mod job_bar;
pub mod progress;
pub mod redact;
pub mod ui;

use backup::env::{Env, JobSettings};
use backup::exec;
use backup::locality::Locality;
use backup::show::QueryResult;
use backup::storage::real::{RealStorageOptions, RealStorageProvider};
use backup::storage::url::ExternalIoSettings;
use backup::targets::SessionContext;
use backup::tokio_runtime::TokioRuntime;
use interrupt::{Attended, Between, Ended, Interrupts};
use model::sql::{split_statements, Session};
use model::{catalog, LocalKv};
use progress::{Activity, WatchedProvider};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The shell's command-line arguments (the `shell` subcommand of `backup-sim`).
#[derive(clap::Args, Debug, Clone)]
pub struct ShellArgs {
    /// The external-io directory `nodelocal://` URLs live under (created if missing), or
    /// `disabled` to refuse every nodelocal URL.
    #[arg(long, default_value = "extern")]
    pub external_io_dir: String,
    /// Refuse http(s) URLs and custom S3 endpoints (`--external-io-disable-http`).
    #[arg(long)]
    pub external_io_disable_http: bool,
    /// Refuse `AUTH=implicit` (`--external-io-disable-implicit-credentials`).
    #[arg(long)]
    pub external_io_disable_implicit_credentials: bool,
    /// Azure Blob endpoint instead of https://{account}.blob.core.windows.net (e.g. Azurite's
    /// http://127.0.0.1:10000).
    #[arg(long)]
    pub azure_endpoint: Option<String>,
    /// The cluster id this shell's backups record (letters, digits, '-', '_', '.'). Default: the
    /// one kept in the external-io directory's `.backup-sim-cluster-id`, created on first use,
    /// so that later shells can add incrementals to earlier shells' backups.
    #[arg(long, value_name = "ID")]
    pub cluster_id: Option<String>,
    /// How often the cluster's GC queue runs (e.g. `10s`, `500ms`; `0s` never runs it).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub gc_interval: Duration,
    /// How often the backup scheduler looks for due schedules and ended scheduled jobs (e.g.
    /// `1m`, CockroachDB's pace; `0s` never runs it: schedules are created but never fire).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = humantime::parse_duration)]
    pub scheduler_interval: Duration,
    /// The node's locality, as `cockroach start --locality` takes it (`region=us-east,zone=a`):
    /// what SHOW LOCALITY prints.
    #[arg(long, value_name = "KEY=VALUE,...", default_value = "", value_parser = parse_locality)]
    pub locality: Locality,
    /// Execute these statements (repeatable) and exit.
    #[arg(short = 'e', long = "execute", value_name = "SQL")]
    pub execute: Vec<String>,
    /// Execute the statements of this file (repeatable) and exit.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,
    /// The history file of the prompt (default ~/.backup-sim-history).
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Serve a read-only Jobs page (every job, its progress, spans, files and SHOW BACKUP) at
    /// this address while the shell runs, e.g. `127.0.0.1:8080` (port 0: any free port). Only
    /// loopback addresses, unless --ui-allow-remote.
    #[arg(long, value_name = "ADDR")]
    pub ui: Option<String>,
    /// Let --ui listen on an address other than loopback: the page has no login, so anyone who
    /// can reach it sees every job.
    #[arg(long, requires = "ui")]
    pub ui_allow_remote: bool,
}

/// One piece of non-interactive input, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `-e SQL`.
    Execute(String),
    /// `-f FILE`.
    File(PathBuf),
}

/// Why the shell could not start or a statement stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The tokio runtime or the cluster could not be set up.
    #[error("cannot start the shell: {0}")]
    Start(String),
    /// No cluster id could be settled on.
    #[error(transparent)]
    ClusterId(#[from] cluster_id::ClusterIdError),
    /// A `-f` file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A statement failed (the message is the database's; it names no secret).
    #[error("{0}")]
    Statement(String),
    /// Ctrl-C canceled the statement; what became of it.
    #[error("{0}")]
    Canceled(String),
    /// A second Ctrl-C while a job was being canceled: the shell exits.
    #[error("exiting: {0}")]
    Abandoned(String),
    /// The line editor failed.
    #[error("line editor: {0}")]
    Editor(String),
}

/// A batch that stopped before its end: why, and its statements that were not run (redacted,
/// each ending in `;`).
#[derive(Debug)]
pub struct Stopped {
    /// The error (or cancel) that stopped it.
    pub error: ShellError,
    /// What it did not run.
    pub not_run: Vec<String>,
}

/// The `-e` and `-f` inputs in the order they were given, from clap's argument indices (the
/// derived struct keeps each kind in its own list).
pub fn ordered_inputs(args: &ShellArgs, matches: Option<&clap::ArgMatches>) -> Vec<Input> {
    let idx = |id: &str| -> Vec<usize> { matches.and_then(|m| m.indices_of(id)).map(|i| i.collect()).unwrap_or_default() };
    let (ei, fi) = (idx("execute"), idx("file"));
    let mut all: Vec<(usize, Input)> = Vec::new();
    for (n, e) in args.execute.iter().enumerate() {
        all.push((ei.get(n).copied().unwrap_or(n), Input::Execute(e.clone())));
    }
    for (n, f) in args.file.iter().enumerate() {
        // Without indices, files run after the -e statements.
        all.push((fi.get(n).copied().unwrap_or(usize::MAX / 2 + n), Input::File(f.clone())));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, i)| i).collect()
}

/// The cluster a shell starts.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// The id its backups record (see [`cluster_id`]).
    pub cluster_id: String,
    /// How often its GC queue runs; `None` never (the benchmarks: nothing they measure expires).
    pub gc_interval: Option<Duration>,
    /// Its one node's `--locality`.
    pub locality: Locality,
    /// How often its backup scheduler ticks; `None` never (schedules never fire).
    pub scheduler_interval: Option<Duration>,
}

/// `--locality`'s value, refused with the tier that is wrong.
fn parse_locality(text: &str) -> Result<Locality, String> {
    text.parse().map_err(|e: backup::locality::LocalityError| e.to_string())
}

/// An in-process cluster with real storage, and a SQL session on it.
pub struct Shell {
    rt: tokio::runtime::Runtime,
    env: Env,
    session: Session,
    activity: Arc<Activity>,
    /// The same node with storage calls that are not reported to `activity`: the Jobs page's
    /// reads ([`ui`]) are not what a statement waits for.
    ui_env: Env,
    interrupts: Option<Interrupts>,
    /// Draw a running BACKUP's or RESTORE's progress bar ([`job_bar`]): standard error is a
    /// terminal.
    progress_bar: bool,
    /// The lock on the external-io directory's cluster id file, held while the shell runs.
    id_lock: Option<cluster_id::IdLock>,
}

impl Shell {
    /// A fresh one-node cluster with a random id, no GC queue and no backup scheduler, whose
    /// backups go to real storage (what the benchmarks use).
    pub fn new(io: ExternalIoSettings, options: RealStorageOptions) -> Result<Shell, ShellError> {
        Shell::start(
            io,
            options,
            ClusterOptions { cluster_id: cluster_id::generate(os_random), gc_interval: None, locality: Locality::default(), scheduler_interval: None },
        )
    }

    /// Bootstraps a fresh one-node cluster whose backups go to real storage, and starts its job
    /// adoption loop (which resumes a backup after RESUME JOB) and its GC queue.
    pub fn start(io: ExternalIoSettings, options: RealStorageOptions, cluster: ClusterOptions) -> Result<Shell, ShellError> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| ShellError::Start(e.to_string()))?;
        let local = Arc::new(LocalKv::with_system_clock());
        // The node reports its locality with each export: a locality-aware BACKUP picks its
        // files' destination by it.
        local.set_locality(cluster.locality.tiers.clone());
        futures::executor::block_on(catalog::bootstrap(&*local)).map_err(|e| ShellError::Start(format!("bootstrap: {e}")))?;
        let activity = Arc::new(Activity::default());
        let real: Arc<dyn backup::storage::StorageProvider> = Arc::new(RealStorageProvider::new(io.clone(), options));
        let storage = WatchedProvider::new(real.clone(), activity.clone());
        let env = Env {
            kv: local.clone(),
            storage: Arc::new(storage),
            runtime: Arc::new(TokioRuntime::new(rt.handle().clone())),
            io,
            locality: cluster.locality,
            cluster_id: cluster.cluster_id,
            jobs: JobSettings::default(),
            log: Arc::new(backup::env::NoEventLog),
            planted: None,
        };
        rt.spawn(exec::adopt_forever(env.clone()));
        // Backup schedules fire on this process's clock, checked every `--scheduler-interval`
        // (CockroachDB's pace by default).
        if let Some(every) = cluster.scheduler_interval.filter(|d| !d.is_zero()) {
            rt.spawn(backup::schedule::executor::run_forever(env.clone(), every));
        }
        if let Some(every) = cluster.gc_interval.filter(|d| !d.is_zero()) {
            rt.spawn(gc_queue(local.clone(), every));
        }
        let ui_env = Env { storage: real, ..env.clone() };
        Ok(Shell { rt, env, session: Session::root(local), activity, ui_env, interrupts: None, progress_bar: std::io::stderr().is_terminal(), id_lock: None })
    }

    /// The settings of `args`, and where the cluster id came from.
    pub fn from_args(args: &ShellArgs) -> Result<(Shell, cluster_id::Origin), ShellError> {
        let dir = match args.external_io_dir.as_str() {
            "disabled" => None,
            d => Some(PathBuf::from(d)),
        };
        let (id, origin, id_lock) = match cluster_id::resolve(args.cluster_id.as_deref(), dir.as_deref(), os_random) {
            Ok(r) => r,
            // Backups still work; only continuing this session's chains from another needs the id.
            Err(e @ cluster_id::ClusterIdError::Write { .. }) => {
                eprintln!("warning: {e}; this session uses a cluster id of its own (pass --cluster-id to continue another session's backups)");
                (cluster_id::generate(os_random), cluster_id::Origin::SessionOnly, None)
            }
            Err(e) => return Err(e.into()),
        };
        if let cluster_id::Origin::Busy(path) = &origin {
            eprintln!(
                "note: another running shell holds the cluster id in {}: this session is a cluster of its own, id {id}, and cannot add incrementals to that shell's backups (nor it to this one's)",
                path.display()
            );
        }
        let io = ExternalIoSettings {
            external_io_dir: dir,
            disable_http: args.external_io_disable_http,
            disable_implicit_credentials: args.external_io_disable_implicit_credentials,
        };
        let options = RealStorageOptions { azure_endpoint: args.azure_endpoint.clone(), ..RealStorageOptions::default() };
        let mut shell = Shell::start(
            io,
            options,
            ClusterOptions {
                cluster_id: id,
                gc_interval: Some(args.gc_interval),
                locality: args.locality.clone(),
                scheduler_interval: Some(args.scheduler_interval),
            },
        )?;
        shell.id_lock = id_lock;
        Ok((shell, origin))
    }

    /// Lets Ctrl-C cancel bulk statements from now on; `between` says what it does between them.
    pub fn catch_interrupts(&mut self, between: Between) -> Result<(), ShellError> {
        self.interrupts = Some(Interrupts::install(self.rt.handle(), between).map_err(|e| ShellError::Start(format!("cannot catch Ctrl-C: {e}")))?);
        Ok(())
    }

    /// Serves the read-only Jobs page ([`ui`]) on `addr` for as long as the shell runs; returns
    /// the address it listens on (the port chosen when `addr`'s is 0). Refused for an address
    /// that is not loopback unless `allow_remote`, and when the address cannot be bound.
    pub fn serve_ui(&self, addr: std::net::SocketAddr, allow_remote: bool) -> Result<std::net::SocketAddr, ui::UiError> {
        ui::check_reach(addr, allow_remote)?;
        let listener = ui::bind(addr)?;
        ui::serve(self.rt.handle(), self.ui_env.clone(), listener, allow_remote)
    }

    /// The cluster's id.
    pub fn cluster_id(&self) -> &str {
        &self.env.cluster_id
    }

    /// The cluster's current time, for an `AS OF SYSTEM TIME` that names a moment already
    /// passed (the golden corpus marks the states it restores to).
    pub fn now(&self) -> model::Timestamp {
        self.env.kv.now()
    }

    /// The session's current database (for the prompt).
    pub fn database(&self) -> &str {
        self.session.database()
    }

    /// Runs one statement and renders its result as the prompt prints it: a table for rows,
    /// the command tag otherwise.
    pub fn execute_one(&mut self, sql: &str) -> Result<String, ShellError> {
        if exec::is_bulk_statement(sql) {
            let ctx = SessionContext {
                user: self.session.user().to_string(),
                database: self.session.database().to_string(),
                in_transaction: self.session.in_transaction(),
            };
            let r = match self.interrupts.as_mut() {
                None => self.rt.block_on(exec::execute(&self.env, &ctx, sql)),
                Some(interrupts) => {
                    match self.rt.block_on(Attended { env: &self.env, ctx: &ctx, interrupts, activity: &self.activity, bar: self.progress_bar }.run(sql)) {
                        Ended::Finished(r) => r,
                        Ended::Canceled(why) => return Err(ShellError::Canceled(why)),
                        Ended::Abandoned(why) => return Err(ShellError::Abandoned(why)),
                    }
                }
            };
            let r = r.map_err(|e| ShellError::Statement(e.to_string()))?;
            if r.columns.is_empty() {
                return Ok(format!("{}\n", leading_words(sql)));
            }
            return Ok(r.render());
        }
        let r = futures::executor::block_on(self.session.execute(sql)).map_err(|e| ShellError::Statement(e.to_string()))?;
        if r.columns.is_empty() {
            return Ok(format!("{}\n", r.tag));
        }
        Ok(QueryResult { columns: r.columns, rows: r.rows }.render())
    }

    /// Runs every statement of `text` in order, writing each result to `out`; stops at the first
    /// error or cancel and returns it with the statements not run.
    pub fn run_batch(&mut self, text: &str, out: &mut dyn Write) -> Result<(), Stopped> {
        let stmts = match split_statements(text) {
            Ok(s) => s,
            Err(e) => return Err(Stopped { error: ShellError::Statement(e.to_string()), not_run: statements_of(text) }),
        };
        let stmts: Vec<&String> = stmts.iter().filter(|s| !s.trim().is_empty()).collect();
        for (i, s) in stmts.iter().enumerate() {
            match self.execute_one(s) {
                Ok(shown) => {
                    let _ = out.write_all(shown.as_bytes());
                    let _ = out.flush();
                }
                Err(error) => return Err(Stopped { error, not_run: stmts[i + 1..].iter().map(|s| shown_statement(s)).collect() }),
            }
        }
        Ok(())
    }

    /// Runs every statement of `text` in order, writing each result to `out`; stops at the
    /// first error.
    pub fn execute_script(&mut self, text: &str, out: &mut dyn Write) -> Result<(), ShellError> {
        self.run_batch(text, out).map_err(|s| s.error)
    }

    /// The prompt: reads statements (ending at `;`) with line editing and history until Ctrl-D.
    pub fn interactive(&mut self, history: Option<&Path>, origin: &cluster_id::Origin) -> Result<(), ShellError> {
        let mut rl = rustyline::DefaultEditor::new().map_err(|e| ShellError::Editor(e.to_string()))?;
        let mut history = history::History::load(&mut rl, history);
        println!("# backup-sim shell: an in-process cluster (in memory) with real storage.");
        println!("# Statements end with ';'. BACKUP / RESTORE / SHOW BACKUP / SHOW JOBS / PAUSE / RESUME / CANCEL JOB work;");
        println!("# Ctrl-C cancels a running statement or clears the line; Ctrl-D exits.");
        println!("# Cluster id {}: {}", self.cluster_id(), origin_note(origin));
        let mut buf = String::new();
        let mut warned_unfinished = false;
        loop {
            let prompt = if buf.is_empty() { format!("root@backup-sim/{}> ", self.database()) } else { "  -> ".to_string() };
            match rl.readline(&prompt) {
                Ok(line) => {
                    warned_unfinished = false;
                    if buf.is_empty() && matches!(line.trim(), "\\q" | "quit" | "exit") {
                        break;
                    }
                    if !buf.is_empty() {
                        buf.push('\n');
                    }
                    buf.push_str(&line);
                    if !input::is_complete(&buf) {
                        if buf.trim().is_empty() {
                            buf.clear();
                        }
                        continue;
                    }
                    let text = std::mem::take(&mut buf);
                    history.add(&mut rl, &text);
                    if let Err(stopped) = self.run_batch(&text, &mut std::io::stdout()) {
                        report(&stopped, &[]);
                        if matches!(stopped.error, ShellError::Abandoned(_)) {
                            return Err(stopped.error);
                        }
                    }
                }
                Err(rustyline::error::ReadlineError::Interrupted) => {
                    // Ctrl-C drops the statement being typed, as psql does.
                    buf.clear();
                    warned_unfinished = false;
                }
                Err(rustyline::error::ReadlineError::Eof) => {
                    if buf.trim().is_empty() {
                        break;
                    }
                    if warned_unfinished {
                        // Kept in the history (redacted), so Up brings it back next time.
                        history.add(&mut rl, &buf);
                        eprintln!("note: the unfinished statement was not run: {}", redact::text(buf.trim()));
                        break;
                    }
                    eprintln!(
                        "note: the statement has no ';' yet and was not run: end it with ';' to run it, or press Ctrl-D again to exit without running it"
                    );
                    warned_unfinished = true;
                }
                Err(e) => return Err(ShellError::Editor(e.to_string())),
            }
        }
        Ok(())
    }
}

/// The GC queue: every `every`, collects each table's old versions up to `now - gc.ttlseconds`
/// of its zone (`LocalKv::run_gc`), as each leaseholder of the simulated cluster does.
async fn gc_queue(local: Arc<LocalKv>, every: Duration) {
    let mut warned = false;
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = local.run_gc().await {
            if !warned {
                eprintln!("warning: the GC queue could not read the zone configs: {e}");
                warned = true;
            }
        }
    }
}

/// Fills `buf` from the operating system's generator (fresh cluster ids).
fn os_random(buf: &mut [u8]) {
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, buf);
}

/// The banner's words on where the cluster id came from.
fn origin_note(origin: &cluster_id::Origin) -> String {
    match origin {
        cluster_id::Origin::Flag => "given with --cluster-id".into(),
        cluster_id::Origin::File(p) => format!("from {}, shared by every shell using this external-io directory", p.display()),
        cluster_id::Origin::Created(p) => format!("new, kept in {} for later shells using this external-io directory", p.display()),
        cluster_id::Origin::SessionOnly => {
            "this session's own (no external-io directory to keep it in): pass --cluster-id to add incrementals to another session's backups".into()
        }
        cluster_id::Origin::Busy(p) => format!("this session's own: another running shell holds the id in {}", p.display()),
    }
}

/// A statement as a "not run" note shows it: redacted, ending in `;`.
fn shown_statement(sql: &str) -> String {
    format!("{};", redact::text(sql.trim().trim_end_matches(';').trim_end()))
}

/// The statements of `text` as "not run" notes show them (the whole text, redacted, if it does
/// not split).
fn statements_of(text: &str) -> Vec<String> {
    match split_statements(text) {
        Ok(s) => s.iter().filter(|s| !s.trim().is_empty()).map(|s| shown_statement(s)).collect(),
        Err(_) if text.trim().is_empty() => Vec::new(),
        Err(_) => vec![format!("(all of: {})", redact::text(text.trim()))],
    }
}

/// Prints why a batch stopped and everything not run: its own remaining statements, then
/// `later` (what a script had still to come).
fn report(stopped: &Stopped, later: &[String]) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "ERROR: {}", stopped.error);
    let all: Vec<&String> = stopped.not_run.iter().chain(later).collect();
    if !all.is_empty() {
        let what = if matches!(stopped.error, ShellError::Canceled(_) | ShellError::Abandoned(_)) { "the cancel" } else { "the error" };
        let n = all.len();
        let _ = writeln!(err, "note: {n} statement{} not run after {what}:", if n == 1 { "" } else { "s" });
        const SHOWN: usize = 10;
        for s in all.iter().take(SHOWN) {
            let _ = writeln!(err, "  {s}");
        }
        if n > SHOWN {
            let _ = writeln!(err, "  … and {} more", n - SHOWN);
        }
    }
    let _ = err.flush();
}

/// The exit status of a script stopped by `error`: 130 after Ctrl-C, as a shell reports SIGINT.
fn script_status(error: &ShellError) -> ExitCode {
    match error {
        ShellError::Canceled(_) | ShellError::Abandoned(_) => ExitCode::from(130),
        _ => ExitCode::FAILURE,
    }
}

/// The statement's first two words (`PAUSE JOB`), the tag of a bulk statement without rows.
fn leading_words(sql: &str) -> String {
    sql.split_whitespace().take(2).map(str::to_ascii_uppercase).collect::<Vec<_>>().join(" ")
}

/// The default history file.
fn default_history() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".backup-sim-history"))
}

/// Runs the `-e` / `-f` inputs in order; the first error stops them all.
fn run_inputs(shell: &mut Shell, inputs: &[Input]) -> ExitCode {
    let mut out = std::io::stdout();
    for (i, input) in inputs.iter().enumerate() {
        let text = match input {
            Input::Execute(sql) => sql.clone(),
            Input::File(path) => match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(source) => {
                    let stopped = Stopped { error: ShellError::ReadFile { path: path.clone(), source }, not_run: Vec::new() };
                    report(&stopped, &later_inputs(&inputs[i + 1..]));
                    return ExitCode::FAILURE;
                }
            },
        };
        if let Err(stopped) = shell.run_batch(&text, &mut out) {
            report(&stopped, &later_inputs(&inputs[i + 1..]));
            return script_status(&stopped.error);
        }
    }
    ExitCode::SUCCESS
}

/// How "not run" notes list inputs a script never reached.
fn later_inputs(inputs: &[Input]) -> Vec<String> {
    inputs
        .iter()
        .flat_map(|input| match input {
            Input::Execute(sql) => statements_of(sql),
            Input::File(path) => vec![format!("(every statement of -f {})", path.display())],
        })
        .collect()
}

/// Runs standard input statement by statement as it arrives (so a slow producer sees each
/// result in turn); a final statement without `;` runs at the end of input.
fn run_stdin(shell: &mut Shell) -> ExitCode {
    let mut out = std::io::stdout();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut buf = String::new();
    loop {
        let line = match lines.next() {
            None => break,
            Some(Ok(l)) => l,
            Some(Err(e)) => {
                eprintln!("ERROR: cannot read standard input: {e}");
                return ExitCode::FAILURE;
            }
        };
        buf.push_str(&line);
        buf.push('\n');
        if !input::is_complete(&buf) {
            continue;
        }
        if let Err(stopped) = shell.run_batch(&std::mem::take(&mut buf), &mut out) {
            report(&stopped, &["(the rest of standard input, not read)".to_string()]);
            return script_status(&stopped.error);
        }
    }
    if let Err(stopped) = shell.run_batch(&buf, &mut out) {
        report(&stopped, &[]);
        return script_status(&stopped.error);
    }
    ExitCode::SUCCESS
}

/// `backup-sim shell`: runs the inputs (or the prompt) and returns the exit status.
pub fn main(args: &ShellArgs, matches: Option<&clap::ArgMatches>) -> ExitCode {
    let (mut shell, origin) = match Shell::from_args(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(addr) = &args.ui {
        match ui::parse_address(addr).and_then(|a| shell.serve_ui(a, args.ui_allow_remote)) {
            Ok(bound) => eprintln!("note: the Jobs page is at http://{bound}/jobs (read-only; it closes when the shell exits)"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let inputs = ordered_inputs(args, matches);
    let interactive = inputs.is_empty() && std::io::stdin().is_terminal();
    if let Err(e) = shell.catch_interrupts(if interactive { Between::Ignore } else { Between::Terminate }) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if !inputs.is_empty() {
        return run_inputs(&mut shell, &inputs);
    }
    if !interactive {
        return run_stdin(&mut shell);
    }
    let history = args.history.clone().or_else(default_history);
    match shell.interactive(history.as_deref(), &origin) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ ShellError::Abandoned(_)) => {
            // Already reported.
            drop(e);
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
