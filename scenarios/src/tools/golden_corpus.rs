//! Golden backups: backups written by earlier builds, kept in the repository, that every later
//! build must still restore to the same contents (FoundationDB keeps "restarting tests" for the
//! same promise). A backup taken today may be restored years from now by a build that has
//! changed every module it was written with; the only proof that it still can is to try.
//!
//! The corpus lives in `scenarios/golden/v<format version>/<entry>/`: `extern/` is the
//! external-io directory the entry's backups were written to (so its `nodelocal://1/…` URLs
//! resolve there), and `check.txt` says how to restore them and what the restored cluster must
//! hold. [`write`] makes the entries of the current format version that are missing (it never
//! rewrites one: an entry is a record of what an old build wrote); [`check`] restores every entry
//! of every version in fresh clusters and compares.
//!
//! The expected contents are not what this code thinks a restore yields: the writer reads them
//! from the cluster the backup was taken of, with `AS OF SYSTEM TIME` at the backup's time where
//! the cluster moved on since, so the check compares a restore against an independent read of
//! the source. A format change bumps `backup::format::envelope::FORMAT_VERSION`; the check then
//! finds no `v<new>` directory and fails until `backup-sim golden-corpus write` adds it, so every
//! version a build ever wrote stays in the corpus. Each entry lives in the directory of the
//! newest version its files are written in: a locality-aware backup's manifest is version 2
//! while every other backup is still written as version 1 (byte for byte what older builds
//! read), so `v2/` holds the locality-aware entry and `v1/` the rest.
//!
//! `check.txt`'s language, one item per line group:
//! - `# …` comments (the entry's story, written by the writer);
//! - `fresh-cluster` starts a new empty one-node cluster (each check group restores into its own);
//! - `run: SQL` runs a statement that must succeed, output not compared (a RESTORE's job id and
//!   timings differ from run to run);
//! - `query: SQL` runs a statement; the lines after it, up to the next item, are its expected
//!   output exactly as the shell prints it.

use crate::tools::shell::{ClusterOptions, Shell};
use backup::format::envelope::{FORMAT_VERSION, LOCALITY_FORMAT_VERSION, MAGIC};
use backup::locality::Locality;
use backup::storage::real::RealStorageOptions;
use backup::storage::url::ExternalIoSettings;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The passphrase of the corpus's encrypted entries. A fixture, not a secret: it is in the
/// repository on purpose so that every later build can open those backups.
pub const PASSPHRASE: &str = "golden-corpus-fixture-passphrase";

/// The command that writes missing entries, for messages.
pub const WRITE_COMMAND: &str = "cargo run --release -p scenarios --bin backup-sim -- golden-corpus write";

/// `backup-sim golden-corpus`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct GoldenArgs {
    /// `write` adds this build's missing entries; `check` restores every entry and compares.
    #[arg(value_enum)]
    pub action: Action,
    /// The corpus directory.
    #[arg(long, default_value = default_dir_str())]
    pub dir: PathBuf,
}

/// What `golden-corpus` does.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write the current format version's entries that are not in the corpus yet.
    Write,
    /// Restore every entry of every version and compare with its recorded contents.
    Check,
}

const fn default_dir_str() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/golden")
}

/// The corpus in this source tree.
pub fn default_dir() -> PathBuf {
    PathBuf::from(default_dir_str())
}

/// One step of writing an entry.
enum Step {
    /// A statement on the source cluster.
    Sql(&'static str),
    /// Records the cluster's current time under a name, for `{as_of:NAME}` in checks.
    Mark(&'static str),
    /// Lets the (real) clock move on, so that marks and backups fall at distinct times.
    Pause,
}

/// One group of a check: restore into a fresh cluster, then compare queries.
struct CheckGroup {
    /// Restores (and other statements) whose output is not compared.
    run: &'static [&'static str],
    /// Queries compared with the source's answers. `{as_of}` is where the source's read puts its
    /// `AS OF SYSTEM TIME` (empty on the restored cluster).
    queries: &'static [&'static str],
    /// The mark the source is read at (`None`: its state after the last step).
    source_as_of: Option<&'static str>,
}

/// One kind of backup the corpus keeps of each format version.
struct Entry {
    name: &'static str,
    /// The format version the entry's newest files are written in (a locality-aware backup's
    /// manifest is version 2 while every other backup is still written as version 1).
    version: u16,
    /// The writing node's `--locality`.
    locality: &'static str,
    about: &'static str,
    steps: &'static [Step],
    checks: &'static [CheckGroup],
}

const BANK_SCHEMA: Step = Step::Sql(
    "CREATE DATABASE bank; \
     CREATE TABLE bank.accounts (id INT PRIMARY KEY, owner STRING, balance INT); \
     CREATE INDEX by_owner ON bank.accounts (owner); \
     INSERT INTO bank.accounts VALUES (1, 'ada', 100), (2, 'brian', 250), (3, 'chloe', 0), (4, 'dmitri', -40);",
);

const ACCOUNTS: &str = "SELECT id, owner, balance FROM bank.accounts {as_of} ORDER BY id;";
const BY_OWNER: &str = "SELECT owner, id FROM bank.accounts {as_of} WHERE owner >= 'b' ORDER BY owner;";

/// The entries this build writes. A new kind of backup (a new statement form or option that
/// changes what is written) adds one here; existing versions' entries are never rewritten.
const ENTRIES: &[Entry] = &[
    Entry {
        name: "full",
        version: FORMAT_VERSION,
        locality: "",
        about: "A full backup of one database (a table with a secondary index), restored whole.",
        steps: &[BANK_SCHEMA, Step::Sql("BACKUP DATABASE bank TO 'nodelocal://1/full';")],
        checks: &[CheckGroup { run: &["RESTORE DATABASE bank FROM 'nodelocal://1/full';"], queries: &[ACCOUNTS, BY_OWNER], source_as_of: None }],
    },
    Entry {
        name: "incremental",
        version: FORMAT_VERSION,
        locality: "",
        about: "A full backup and two incrementals (updates, a delete, inserts into two tables); restored from the full alone, then from the whole chain.",
        steps: &[
            BANK_SCHEMA,
            Step::Sql("CREATE TABLE bank.audit (n INT PRIMARY KEY, note STRING);"),
            Step::Sql("BACKUP DATABASE bank TO 'nodelocal://1/chain/full';"),
            Step::Mark("full"),
            Step::Pause,
            Step::Sql("UPDATE bank.accounts SET balance = balance + 10 WHERE id <= 2; DELETE FROM bank.accounts WHERE id = 3;"),
            Step::Sql("BACKUP DATABASE bank TO 'nodelocal://1/chain/inc1' INCREMENTAL FROM 'nodelocal://1/chain/full';"),
            Step::Sql("INSERT INTO bank.accounts VALUES (5, 'eve', 7); INSERT INTO bank.audit VALUES (1, 'opened'), (2, 'closed 3');"),
            Step::Sql("BACKUP DATABASE bank TO 'nodelocal://1/chain/inc2' INCREMENTAL FROM 'nodelocal://1/chain/full', 'nodelocal://1/chain/inc1';"),
        ],
        checks: &[
            CheckGroup { run: &["RESTORE DATABASE bank FROM 'nodelocal://1/chain/full';"], queries: &[ACCOUNTS], source_as_of: Some("full") },
            CheckGroup {
                run: &["RESTORE DATABASE bank FROM 'nodelocal://1/chain/full', 'nodelocal://1/chain/inc1', 'nodelocal://1/chain/inc2';"],
                queries: &[ACCOUNTS, BY_OWNER, "SELECT n, note FROM bank.audit {as_of} ORDER BY n;"],
                source_as_of: None,
            },
        ],
    },
    Entry {
        name: "revision-history",
        version: FORMAT_VERSION,
        locality: "",
        about: "A full backup WITH revision_history over three states of a table; restored AS OF SYSTEM TIME the middle state, and at the end.",
        steps: &[
            BANK_SCHEMA,
            Step::Pause,
            Step::Sql("UPDATE bank.accounts SET balance = 1000 WHERE id = 1; DELETE FROM bank.accounts WHERE id = 4;"),
            Step::Mark("middle"),
            Step::Pause,
            Step::Sql("UPDATE bank.accounts SET owner = 'ada2' WHERE id = 1; INSERT INTO bank.accounts VALUES (6, 'fay', 66);"),
            Step::Sql("BACKUP DATABASE bank TO 'nodelocal://1/revs' WITH revision_history;"),
        ],
        checks: &[
            CheckGroup { run: &["RESTORE DATABASE bank FROM 'nodelocal://1/revs' AS OF SYSTEM TIME '{mark:middle}';"], queries: &[ACCOUNTS], source_as_of: Some("middle") },
            CheckGroup { run: &["RESTORE DATABASE bank FROM 'nodelocal://1/revs';"], queries: &[ACCOUNTS, BY_OWNER], source_as_of: None },
        ],
    },
    Entry {
        name: "encrypted",
        version: FORMAT_VERSION,
        locality: "",
        about: "An encrypted full backup and an encrypted incremental (the fixture passphrase in golden_corpus.rs), restored with the passphrase.",
        steps: &[
            BANK_SCHEMA,
            Step::Sql("BACKUP DATABASE bank TO 'nodelocal://1/sealed/full' WITH encryption_passphrase = 'golden-corpus-fixture-passphrase';"),
            Step::Sql("UPDATE bank.accounts SET balance = 0 WHERE id = 2; INSERT INTO bank.accounts VALUES (7, 'gus', 70);"),
            Step::Sql(
                "BACKUP DATABASE bank TO 'nodelocal://1/sealed/inc' INCREMENTAL FROM 'nodelocal://1/sealed/full' WITH encryption_passphrase = 'golden-corpus-fixture-passphrase';",
            ),
        ],
        checks: &[CheckGroup {
            run: &["RESTORE DATABASE bank FROM 'nodelocal://1/sealed/full', 'nodelocal://1/sealed/inc' WITH encryption_passphrase = 'golden-corpus-fixture-passphrase';"],
            queries: &[ACCOUNTS, BY_OWNER],
            source_as_of: None,
        }],
    },
    Entry {
        name: "cluster",
        version: FORMAT_VERSION,
        locality: "",
        about: "A cluster backup (two databases, a view, a sequence-backed default), restored into an empty cluster.",
        steps: &[
            BANK_SCHEMA,
            Step::Sql(
                "CREATE DATABASE shop; CREATE SEQUENCE shop.order_ids; \
                 CREATE TABLE shop.orders (id INT PRIMARY KEY DEFAULT nextval('shop.order_ids'), item STRING, qty INT); \
                 INSERT INTO shop.orders (item, qty) VALUES ('apple', 3), ('pear', 1); \
                 CREATE VIEW shop.big_orders AS SELECT id, item FROM shop.orders WHERE qty > 1;",
            ),
            Step::Sql("BACKUP TO 'nodelocal://1/cluster';"),
        ],
        checks: &[CheckGroup {
            run: &["RESTORE FROM 'nodelocal://1/cluster';"],
            queries: &[ACCOUNTS, "SELECT id, item, qty FROM shop.orders {as_of} ORDER BY id;", "SELECT id, item FROM shop.big_orders {as_of} ORDER BY id;"],
            source_as_of: None,
        }],
    },
    Entry {
        name: "collection",
        version: FORMAT_VERSION,
        locality: "",
        about: "A collection: a full backup INTO it (a dated subdirectory and LATEST) and two incrementals INTO LATEST IN it; restored FROM LATEST IN it.",
        steps: &[
            BANK_SCHEMA,
            Step::Sql("BACKUP DATABASE bank INTO 'nodelocal://1/coll';"),
            Step::Sql("UPDATE bank.accounts SET balance = balance * 2 WHERE id IN (1, 4); DELETE FROM bank.accounts WHERE id = 2;"),
            Step::Sql("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll';"),
            Step::Sql("INSERT INTO bank.accounts VALUES (8, 'hal', 8);"),
            Step::Sql("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/coll' WITH revision_history;"),
        ],
        checks: &[CheckGroup { run: &["RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/coll';"], queries: &[ACCOUNTS, BY_OWNER], source_as_of: None }],
    },
    Entry {
        name: "locality-aware",
        version: LOCALITY_FORMAT_VERSION,
        locality: "region=us-west,zone=us-west-2a",
        about: "A locality-aware full backup and incremental taken on a node in region=us-west (its data files in the west URL, the manifest in the default one); restored from the two lists (the default URL first in each, as CockroachDB's RESTORE reads the manifest there).",
        steps: &[
            BANK_SCHEMA,
            Step::Sql("BACKUP DATABASE bank TO ('nodelocal://1/geo/default?COCKROACH_LOCALITY=default', 'nodelocal://1/geo/west?COCKROACH_LOCALITY=region%3Dus-west');"),
            Step::Sql("UPDATE bank.accounts SET owner = 'brian2' WHERE id = 2; INSERT INTO bank.accounts VALUES (9, 'ida', 9);"),
            Step::Sql(
                "BACKUP DATABASE bank TO ('nodelocal://1/geo/inc/default?COCKROACH_LOCALITY=default', 'nodelocal://1/geo/inc/west?COCKROACH_LOCALITY=region%3Dus-west') \
                 INCREMENTAL FROM 'nodelocal://1/geo/default';",
            ),
        ],
        checks: &[CheckGroup {
            run: &["RESTORE DATABASE bank FROM ('nodelocal://1/geo/default', 'nodelocal://1/geo/west'), ('nodelocal://1/geo/inc/default', 'nodelocal://1/geo/inc/west');"],
            queries: &[ACCOUNTS, BY_OWNER],
            source_as_of: None,
        }],
    },
];

/// Why the corpus could not be written or does not check.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// A file or directory of the corpus could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A statement failed while writing or checking an entry.
    #[error("{entry}: {sql}: {message}")]
    Statement {
        /// `v1/full`.
        entry: String,
        /// The statement (redacted as the shell redacts).
        sql: String,
        /// The error.
        message: String,
    },
    /// A restored cluster does not hold what the source held.
    #[error("{entry}: {query} gave\n{got}\nbut the backup's source gave\n{want}")]
    Mismatch {
        /// `v1/full`.
        entry: String,
        /// The query.
        query: String,
        /// The restored cluster's answer.
        got: String,
        /// The recorded answer.
        want: String,
    },
    /// A `check.txt` this build cannot read.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The corpus lacks an entry this build writes, at this build's format version.
    #[error("the golden corpus has no {0}: a format version or a kind of backup without golden backups; run `{WRITE_COMMAND}` and commit scenarios/golden/")]
    Missing(String),
    /// A file in a version's directory was written at another format version.
    #[error("{path}: written at format version {found}, but it is in the corpus of version {dir}")]
    WrongVersion {
        /// The file.
        path: PathBuf,
        /// Its envelope's version.
        found: u16,
        /// Its directory's.
        dir: u16,
    },
    /// The shell could not start.
    #[error("cannot start a cluster: {0}")]
    Start(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GoldenError + '_ {
    move |source| GoldenError::Io { path: path.to_path_buf(), source }
}

/// The directory of one format version's entries.
fn version_dir(dir: &Path, version: u16) -> PathBuf {
    dir.join(format!("v{version}"))
}

/// A fresh one-node cluster whose `nodelocal://1/` is `extern_dir`.
fn cluster(extern_dir: &Path, id: &str, locality: &str) -> Result<Shell, GoldenError> {
    let io = ExternalIoSettings { external_io_dir: Some(extern_dir.to_path_buf()), disable_http: true, disable_implicit_credentials: true };
    let locality: Locality = locality.parse().map_err(|e: backup::locality::LocalityError| GoldenError::Start(e.to_string()))?;
    let options = ClusterOptions { cluster_id: id.to_string(), gc_interval: None, locality, scheduler_interval: None };
    Shell::start(io, RealStorageOptions::default(), options).map_err(|e| GoldenError::Start(e.to_string()))
}

fn run_sql(shell: &mut Shell, entry: &str, sql: &str) -> Result<String, GoldenError> {
    let mut out = String::new();
    for stmt in model::sql::split_statements(sql).map_err(|e| GoldenError::Statement { entry: entry.into(), sql: sql.into(), message: e.to_string() })? {
        let got = shell.execute_one(&stmt).map_err(|e| GoldenError::Statement { entry: entry.into(), sql: stmt.clone(), message: e.to_string() })?;
        out.push_str(&got);
    }
    Ok(out)
}

/// Substitutes `{mark:NAME}` with the recorded times.
fn with_marks(sql: &str, marks: &[(&str, String)]) -> String {
    let mut s = sql.to_string();
    for (name, ts) in marks {
        s = s.replace(&format!("{{mark:{name}}}"), ts);
    }
    s
}

/// Writes the current format version's entries that are missing from `dir`; returns the names
/// written.
pub fn write(dir: &Path) -> Result<Vec<String>, GoldenError> {
    let mut written = Vec::new();
    for entry in ENTRIES {
        let vdir = version_dir(dir, entry.version);
        let edir = vdir.join(entry.name);
        if edir.exists() {
            continue;
        }
        // Written beside, then renamed: a failed write leaves no half entry to be taken as golden.
        let tmp = vdir.join(format!(".{}.writing", entry.name));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        let ext = tmp.join("extern");
        std::fs::create_dir_all(&ext).map_err(io_err(&ext))?;
        let check = write_entry(entry, &ext)?;
        let path = tmp.join("check.txt");
        std::fs::write(&path, check).map_err(io_err(&path))?;
        std::fs::rename(&tmp, &edir).map_err(io_err(&edir))?;
        written.push(format!("v{}/{}", entry.version, entry.name));
    }
    Ok(written)
}

/// Takes an entry's backups into `ext` and returns its `check.txt`.
fn write_entry(entry: &Entry, ext: &Path) -> Result<String, GoldenError> {
    let label = format!("v{}/{}", entry.version, entry.name);
    let mut source = cluster(ext, &format!("golden-{}", entry.name), entry.locality)?;
    let mut marks: Vec<(&str, String)> = Vec::new();
    for step in entry.steps {
        match step {
            Step::Sql(sql) => {
                run_sql(&mut source, &label, sql)?;
            }
            Step::Mark(name) => marks.push((name, source.now().to_string())),
            Step::Pause => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut text = String::new();
    let _ = writeln!(text, "# Golden backup {label}: {}", entry.about);
    let _ = writeln!(text, "# Written by `backup-sim golden-corpus write` (backup-sim {}); never edit or rewrite it.", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(text, "# The expected outputs are the source cluster's own answers at the restored time.");
    for group in entry.checks {
        let _ = writeln!(text, "\nfresh-cluster");
        for r in group.run {
            let _ = writeln!(text, "run: {}", with_marks(r, &marks));
        }
        let as_of = match group.source_as_of {
            Some(m) => {
                let ts = marks.iter().find(|(n, _)| *n == m).map(|(_, t)| t.clone()).unwrap_or_default();
                format!("AS OF SYSTEM TIME '{ts}'")
            }
            None => String::new(),
        };
        for q in group.queries {
            let want = run_sql(&mut source, &label, &q.replace("{as_of}", &as_of))?;
            let _ = writeln!(text, "query: {}", tidy(&q.replace("{as_of}", "")));
            text.push_str(&want);
            if !want.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    Ok(text)
}

/// A query with the placeholder's double space closed up.
fn tidy(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One item of a `check.txt`.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Fresh,
    Run(String),
    Query { sql: String, want: String },
}

fn parse_check(path: &Path, text: &str) -> Result<Vec<Item>, GoldenError> {
    let mut items: Vec<Item> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |message: &str| GoldenError::Malformed { path: path.to_path_buf(), line: n + 1, message: message.to_string() };
        if let Some(Item::Query { want, .. }) = items.last_mut() {
            let item_start = line == "fresh-cluster" || line.starts_with("run: ") || line.starts_with("query: ") || line.starts_with('#');
            // A blank line before any output is the gap after the query, not output.
            let leading_blank = line.is_empty() && want.is_empty();
            if !(item_start || leading_blank) {
                want.push_str(line);
                want.push('\n');
                continue;
            }
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line == "fresh-cluster" {
            items.push(Item::Fresh);
        } else if let Some(sql) = line.strip_prefix("run: ") {
            items.push(Item::Run(sql.to_string()));
        } else if let Some(sql) = line.strip_prefix("query: ") {
            items.push(Item::Query { sql: sql.to_string(), want: String::new() });
        } else {
            return Err(bad("expected `fresh-cluster`, `run: SQL` or `query: SQL`"));
        }
        if !matches!(items.first(), Some(Item::Fresh)) {
            return Err(bad("a check starts with `fresh-cluster`"));
        }
    }
    // A blank line separates groups; it is not part of the output before it.
    for item in &mut items {
        if let Item::Query { want, .. } = item {
            while want.ends_with("\n\n") {
                want.pop();
            }
        }
    }
    Ok(items)
}

/// The entries in the corpus: `(version, name, directory)`, in version then name order.
fn entries_in(dir: &Path) -> Result<Vec<(u16, String, PathBuf)>, GoldenError> {
    let mut out = Vec::new();
    for v in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let v = v.map_err(io_err(dir))?;
        let Some(version) = v.file_name().to_str().and_then(|n| n.strip_prefix('v')).and_then(|n| n.parse::<u16>().ok()) else { continue };
        for e in std::fs::read_dir(v.path()).map_err(io_err(&v.path()))? {
            let e = e.map_err(io_err(&v.path()))?;
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with('.') && e.path().is_dir() {
                out.push((version, name, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// No envelope file under `ext` carries a version newer than its directory's (a build writes
/// what an older version can hold in the older version, so older files sit in a newer entry),
/// and the newest one found is the directory's: the entry holds what its label says. Returns
/// the newest version found (encrypted files carry the cipher's header, not the envelope's, and
/// are skipped).
fn check_versions(ext: &Path, version: u16) -> Result<u16, GoldenError> {
    let mut seen = 0;
    let mut stack = vec![ext.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(io_err(&d))? {
            let path = e.map_err(io_err(&d))?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            if bytes.len() >= 11 && bytes[..8] == MAGIC {
                let found = u16::from_le_bytes([bytes[9], bytes[10]]);
                if found > version {
                    return Err(GoldenError::WrongVersion { path, found, dir: version });
                }
                seen = seen.max(found);
            }
        }
    }
    Ok(seen)
}

/// Copies a directory tree (the entry's backups, so that restoring never touches the corpus;
/// the corpus test's damaged copies).
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), GoldenError> {
    std::fs::create_dir_all(to).map_err(io_err(to))?;
    for e in std::fs::read_dir(from).map_err(io_err(from))? {
        let path = e.map_err(io_err(from))?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// What [`check`] did: each entry checked, with its query count.
#[derive(Debug, Default)]
pub struct Checked {
    /// `(v1/full, queries compared)`.
    pub entries: Vec<(String, usize)>,
}

/// Restores every entry of every version in `dir` and compares; also requires every entry this
/// build writes at its own format version to be there.
pub fn check(dir: &Path) -> Result<Checked, GoldenError> {
    let all = entries_in(dir)?;
    for entry in ENTRIES {
        if !all.iter().any(|(v, n, _)| *v == entry.version && n == entry.name) {
            return Err(GoldenError::Missing(format!("v{}/{}", entry.version, entry.name)));
        }
    }
    let scratch = tempdir()?;
    let mut checked = Checked::default();
    for (version, name, edir) in all {
        let label = format!("v{version}/{name}");
        let ext = edir.join("extern");
        let newest = check_versions(&ext, version)?;
        if newest != version {
            return Err(GoldenError::Malformed {
                path: ext,
                line: 0,
                message: format!("no file of format version {version} in this entry (newest: {newest})"),
            });
        }
        let path = edir.join("check.txt");
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        let items = parse_check(&path, &text)?;
        let mut queries = 0;
        let mut shell: Option<Shell> = None;
        for (n, item) in items.iter().enumerate() {
            match item {
                Item::Fresh => {
                    drop(shell.take());
                    let copy = scratch.join(format!("{version}-{name}-{n}"));
                    copy_tree(&ext, &copy)?;
                    shell = Some(cluster(&copy, &format!("golden-check-{name}"), "")?);
                }
                Item::Run(sql) => {
                    let s = shell.as_mut().ok_or_else(|| GoldenError::Malformed {
                        path: path.clone(),
                        line: 0,
                        message: "statement before fresh-cluster".into(),
                    })?;
                    run_sql(s, &label, sql)?;
                }
                Item::Query { sql, want } => {
                    let s =
                        shell.as_mut().ok_or_else(|| GoldenError::Malformed { path: path.clone(), line: 0, message: "query before fresh-cluster".into() })?;
                    let got = run_sql(s, &label, sql)?;
                    if got.trim_end() != want.trim_end() {
                        return Err(GoldenError::Mismatch { entry: label, query: sql.clone(), got, want: want.clone() });
                    }
                    queries += 1;
                }
            }
        }
        if queries == 0 {
            return Err(GoldenError::Malformed { path, line: 0, message: "no query: the entry checks nothing".into() });
        }
        checked.entries.push((label, queries));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(checked)
}

/// A scratch directory under the system's temporary directory, unique to this process.
fn tempdir() -> Result<PathBuf, GoldenError> {
    let base = std::env::temp_dir();
    for n in 0..1000u32 {
        let d = base.join(format!("backup-sim-golden-{}-{n}", std::process::id()));
        if std::fs::create_dir(&d).is_ok() {
            return Ok(d);
        }
    }
    Err(GoldenError::Io { path: base, source: std::io::Error::other("cannot make a scratch directory") })
}

/// `backup-sim golden-corpus write|check`.
pub fn main(args: &GoldenArgs) -> std::process::ExitCode {
    match args.action {
        Action::Write => match write(&args.dir) {
            Ok(w) if w.is_empty() => {
                println!("the corpus already has every entry this build writes; nothing written");
                std::process::ExitCode::SUCCESS
            }
            Ok(w) => {
                for e in &w {
                    println!("wrote {}", args.dir.join(e).display());
                }
                println!("now run `backup-sim golden-corpus check` and commit {}", args.dir.display());
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Action::Check => match check(&args.dir) {
            Ok(c) => {
                for (e, q) in &c.entries {
                    println!("ok {e} ({q} queries match the source)");
                }
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_file_reads_into_groups_runs_and_queries() {
        let text = "# about\n\nfresh-cluster\nrun: RESTORE x;\nquery: SELECT 1;\na\n-\n1\n\nfresh-cluster\nquery: SELECT 2;\nb\n";
        let items = parse_check(Path::new("c"), text).unwrap();
        assert_eq!(
            items,
            vec![
                Item::Fresh,
                Item::Run("RESTORE x;".into()),
                Item::Query { sql: "SELECT 1;".into(), want: "a\n-\n1\n".into() },
                Item::Fresh,
                Item::Query { sql: "SELECT 2;".into(), want: "b\n".into() },
            ]
        );
    }

    #[test]
    fn a_malformed_check_file_is_refused_with_its_line() {
        let e = parse_check(Path::new("c.txt"), "fresh-cluster\nbogus\n").unwrap_err().to_string();
        assert_eq!(e, "c.txt:2: expected `fresh-cluster`, `run: SQL` or `query: SQL`");
        let e = parse_check(Path::new("c.txt"), "run: RESTORE x;\n").unwrap_err().to_string();
        assert!(e.contains("starts with `fresh-cluster`"), "{e}");
    }

    #[test]
    fn entry_names_are_distinct() {
        let mut names: Vec<&str> = ENTRIES.iter().map(|e| e.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ENTRIES.len());
    }
}
