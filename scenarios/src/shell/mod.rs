//! `backup-sim shell`: an interactive SQL prompt on an in-process, one-node cluster (a
//! `model::LocalKv` on the machine's clock, bootstrapped as a fresh cluster is) whose BACKUP and
//! RESTORE write to real storage: `nodelocal://` under the external-io directory (default
//! `./extern`) and the cloud / http URLs through `object_store`.
//!
//! CREATE / INSERT / SELECT and the rest of the SQL layer run through `model::sql::Session`;
//! BACKUP, RESTORE, SHOW BACKUP, SHOW JOBS and PAUSE / RESUME / CANCEL JOB through
//! `backup::exec`, exactly as a gateway node of the simulated cluster runs them. The cluster
//! lives in memory and is gone when the shell exits; the backups are files and stay, so a later
//! shell can RESTORE them.
//!
//! Input: `-e 'SQL'` and `-f FILE` (repeatable, run in command-line order; the first error
//! stops the run with exit status 1), standard input when it is not a terminal (likewise), or
//! else the prompt, with line editing and history (rustyline). At the prompt a statement ends
//! at `;`, an error is printed and the prompt continues, and Ctrl-D exits.
//!
//! What it must never do: run inside the simulator (it uses real tokio and real files), or print
//! a secret (job descriptions and errors carry redacted URLs only).

pub mod cluster_id;
pub mod history;
pub mod input;
pub mod interrupt;
pub mod progress;
pub mod redact;

use backup::env::{Env, JobSettings};
use backup::exec;
use backup::plan::SessionContext;
use backup::show::QueryResult;
use backup::storage::real::{RealStorageOptions, RealStorageProvider};
use backup::storage::url::ExternalIoSettings;
use backup::tokio_runtime::TokioRuntime;
use model::sql::{split_statements, Session};
use model::{catalog, LocalKv};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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
    /// Execute these statements (repeatable) and exit.
    #[arg(short = 'e', long = "execute", value_name = "SQL")]
    pub execute: Vec<String>,
    /// Execute the statements of this file (repeatable) and exit.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,
    /// The history file of the prompt (default ~/.backup-sim-history).
    #[arg(long)]
    pub history: Option<PathBuf>,
}

/// One piece of non-interactive input, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `-e SQL`.
    Execute(String),
    /// `-f FILE`.
    File(PathBuf),
}

/// Why the shell could not start or a script stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The tokio runtime or the cluster could not be set up.
    #[error("cannot start the shell: {0}")]
    Start(String),
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
    /// The line editor failed.
    #[error("line editor: {0}")]
    Editor(String),
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

/// An in-process cluster with real storage, and a SQL session on it.
pub struct Shell {
    rt: tokio::runtime::Runtime,
    env: Env,
    session: Session,
}

impl Shell {
    /// Bootstraps a fresh one-node cluster whose backups go to real storage, and starts its job
    /// adoption loop (which resumes a backup after RESUME JOB).
    pub fn new(io: ExternalIoSettings, options: RealStorageOptions) -> Result<Shell, ShellError> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| ShellError::Start(e.to_string()))?;
        let local = Arc::new(LocalKv::with_system_clock());
        futures::executor::block_on(catalog::bootstrap(&*local)).map_err(|e| ShellError::Start(format!("bootstrap: {e}")))?;
        let env = Env {
            kv: local.clone(),
            storage: Arc::new(RealStorageProvider::new(io.clone(), options)),
            runtime: Arc::new(TokioRuntime::new(rt.handle().clone())),
            io,
            cluster_id: format!("backup-sim-shell-{}", std::process::id()),
            jobs: JobSettings::default(),
            log: Arc::new(backup::env::NoEventLog),
            #[cfg(feature = "planted-bugs")]
            planted: None,
        };
        rt.spawn(exec::adopt_forever(env.clone()));
        Ok(Shell { rt, env, session: Session::root(local) })
    }

    /// The settings of `args`.
    pub fn from_args(args: &ShellArgs) -> Result<Shell, ShellError> {
        let dir = match args.external_io_dir.as_str() {
            "disabled" => None,
            d => Some(PathBuf::from(d)),
        };
        let io = ExternalIoSettings {
            external_io_dir: dir,
            disable_http: args.external_io_disable_http,
            disable_implicit_credentials: args.external_io_disable_implicit_credentials,
        };
        let options = RealStorageOptions { azure_endpoint: args.azure_endpoint.clone(), ..RealStorageOptions::default() };
        Shell::new(io, options)
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
            let r = self.rt.block_on(exec::execute(&self.env, &ctx, sql)).map_err(|e| ShellError::Statement(e.to_string()))?;
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

    /// Runs every statement of `text` in order, writing each result to `out`; stops at the
    /// first error.
    pub fn execute_script(&mut self, text: &str, out: &mut dyn Write) -> Result<(), ShellError> {
        let stmts = split_statements(text).map_err(|e| ShellError::Statement(e.to_string()))?;
        for s in stmts.iter().filter(|s| !s.trim().is_empty()) {
            let shown = self.execute_one(s)?;
            let _ = out.write_all(shown.as_bytes());
            let _ = out.flush();
        }
        Ok(())
    }

    /// The prompt: reads statements (ending at `;`) with line editing and history until Ctrl-D.
    pub fn interactive(&mut self, history: Option<&Path>) -> Result<(), ShellError> {
        let mut rl = rustyline::DefaultEditor::new().map_err(|e| ShellError::Editor(e.to_string()))?;
        if let Some(h) = history {
            let _ = rl.load_history(h);
        }
        println!("# backup-sim shell: an in-process cluster (in memory) with real storage.");
        println!("# Statements end with ';'. BACKUP / RESTORE / SHOW BACKUP / SHOW JOBS / PAUSE / RESUME / CANCEL JOB work; Ctrl-D exits.");
        let mut buf = String::new();
        loop {
            let prompt = if buf.is_empty() { format!("root@backup-sim/{}> ", self.database()) } else { "  -> ".to_string() };
            match rl.readline(&prompt) {
                Ok(line) => {
                    if buf.is_empty() && matches!(line.trim(), "\\q" | "quit" | "exit") {
                        break;
                    }
                    if !buf.is_empty() {
                        buf.push('\n');
                    }
                    buf.push_str(&line);
                    if !buf.trim_end().ends_with(';') {
                        if buf.trim().is_empty() {
                            buf.clear();
                        }
                        continue;
                    }
                    let text = std::mem::take(&mut buf);
                    let _ = rl.add_history_entry(text.as_str());
                    let mut out = std::io::stdout();
                    if let Err(e) = self.execute_script(&text, &mut out) {
                        eprintln!("ERROR: {e}");
                    }
                }
                Err(rustyline::error::ReadlineError::Interrupted) => {
                    // Ctrl-C drops the statement being typed, as psql does.
                    buf.clear();
                }
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(e) => return Err(ShellError::Editor(e.to_string())),
            }
        }
        if let Some(h) = history {
            let _ = rl.save_history(h);
        }
        Ok(())
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

/// `backup-sim shell`: runs the inputs (or the prompt) and returns the exit status.
pub fn main(args: &ShellArgs, matches: Option<&clap::ArgMatches>) -> ExitCode {
    let mut shell = match Shell::from_args(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let inputs = ordered_inputs(args, matches);
    let mut out = std::io::stdout();
    if !inputs.is_empty() {
        for input in inputs {
            let text = match &input {
                Input::Execute(sql) => sql.clone(),
                Input::File(path) => match std::fs::read_to_string(path) {
                    Ok(t) => t,
                    Err(source) => {
                        eprintln!("ERROR: {}", ShellError::ReadFile { path: path.clone(), source });
                        return ExitCode::FAILURE;
                    }
                },
            };
            if let Err(e) = shell.execute_script(&text, &mut out) {
                eprintln!("ERROR: {e}");
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::SUCCESS;
    }
    if !std::io::stdin().is_terminal() {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("ERROR: cannot read standard input: {e}");
            return ExitCode::FAILURE;
        }
        return match shell.execute_script(&text, &mut out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ERROR: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let history = args.history.clone().or_else(default_history);
    match shell.interactive(history.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
