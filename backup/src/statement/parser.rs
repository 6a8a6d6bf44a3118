//! The recursive-descent parser over the lexer's tokens. One method per grammar rule; each
//! error names the token it stopped at (see [`Parser::error_at`] for what is never shown).
//!
//! Grammar (keywords case-insensitive; `name` is an identifier, unquoted names folded to
//! lower case; `str` a string literal):
//! ```text
//! statement  := (backup | restore | show | job) ';'*
//! backup     := BACKUP targets? (TO locations as_of? (INCREMENTAL FROM str (',' str)*)?
//!                                | INTO ((LATEST | str) IN)? locations as_of?) with?
//! restore    := RESTORE targets? FROM ((LATEST | str) IN str | str (',' str)*) as_of? with?
//! show       := SHOW JOBS | SHOW BACKUPS IN str
//!             | SHOW BACKUP (SCHEMAS | FILES | RANGES)? ((LATEST | str) IN)? str with?
//! job        := (PAUSE | RESUME | CANCEL) JOB integer
//! targets    := DATABASE name (',' name)* | TABLE? pattern (',' pattern)*
//! pattern    := name | name '.' name | name '.' '*' | name '.' public '.' (name | '*')
//! locations  := str | '(' str (',' str)* ')'
//! as_of      := AS OF SYSTEM TIME (str | number | '-' number)
//! with       := WITH option (',' option)* | WITH OPTIONS '(' option (',' option)* ')'
//! option     := (name | str) ('=' str)?
//! ```

mod schedule;

use super::lexer::{Lexed, Tok};
use super::*;
use sqlparser::tokenizer::Token;
use std::collections::BTreeMap;

/// Words that end a list or start a clause, so they cannot be bare identifiers.
const RESERVED: [&str; 10] = ["TO", "FROM", "AS", "WITH", "INCREMENTAL", "DATABASE", "TABLE", "OPTIONS", "OF", "INTO"];

/// Option names whose value (and anything right after them) is secret.
const SECRET_OPTIONS: [&str; 1] = ["encryption_passphrase"];

/// Whether an option is a bare flag or takes `= 'string'`.
#[derive(Copy, Clone, PartialEq, Eq)]
enum OptKind {
    Flag,
    Value,
}

/// A parsed option's value.
enum OptValue {
    Flag,
    Str(String),
}

pub(super) struct Parser {
    toks: Vec<Tok>,
    end: (u64, u64),
    pos: usize,
}

type Result<T> = std::result::Result<T, ParseError>;

impl Parser {
    pub(super) fn new(lexed: Lexed) -> Self {
        Parser { toks: lexed.toks, end: lexed.end, pos: 0 }
    }

    // ---- token helpers ----

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos).map(|t| &t.token)
    }

    /// The unquoted word at `pos`, upper-cased.
    fn kw(&self) -> Option<String> {
        match self.peek() {
            Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn is_kw(&self, k: &str) -> bool {
        self.kw().as_deref() == Some(k)
    }

    fn eat_kw(&mut self, k: &str) -> bool {
        let yes = self.is_kw(k);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_kw(&mut self, k: &str, message: &str) -> Result<()> {
        if self.eat_kw(k) {
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    fn eat(&mut self, t: &Token) -> bool {
        let yes = self.peek() == Some(t);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    /// An error at token `i`. The token is shown unless it is a string literal (it may be a
    /// URL with credentials or a passphrase) or is a word or number in a secret option's value
    /// (from the option's name to the next comma or parenthesis), where it shows as `redacted`.
    fn error_at(&self, i: usize, message: impl Into<String>) -> ParseError {
        let message = message.into();
        let Some(tok) = self.toks.get(i) else {
            return ParseError { kind: ParseErrorKind::Syntax, message, line: self.end.0, column: self.end.1, near: "EOF".into() };
        };
        let punctuation = matches!(tok.token, Token::Comma | Token::Eq | Token::LParen | Token::RParen | Token::SemiColon | Token::Period);
        let near = if self.sensitive(i) && !punctuation { "redacted".to_string() } else { near_text(&tok.token) };
        ParseError { kind: ParseErrorKind::Syntax, message, line: tok.line, column: tok.column, near }
    }

    /// An error about a `WITH` option at token `i` (shown as [`Parser::error_at`] shows it).
    fn option_error_at(&self, i: usize, message: impl Into<String>) -> ParseError {
        ParseError { kind: ParseErrorKind::Option, ..self.error_at(i, message) }
    }

    fn option_error(&self, message: impl Into<String>) -> ParseError {
        self.option_error_at(self.pos, message)
    }

    /// True if token `i` follows a secret option's name within the same option.
    fn sensitive(&self, i: usize) -> bool {
        for t in self.toks[..i.min(self.toks.len())].iter().rev() {
            match &t.token {
                Token::Comma | Token::LParen | Token::RParen => return false,
                Token::Word(w) if SECRET_OPTIONS.contains(&w.value.to_ascii_lowercase().as_str()) => return true,
                Token::SingleQuotedString(s) if SECRET_OPTIONS.contains(&s.to_ascii_lowercase().as_str()) => return true,
                _ => {}
            }
        }
        false
    }

    /// An identifier: an unquoted word that is not one of the grammar's keywords (folded to
    /// lower case, as CockroachDB does) or a double-quoted one (kept as written).
    fn ident(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) if w.quote_style.is_none() && !RESERVED.contains(&w.value.to_ascii_uppercase().as_str()) => {
                let v = w.value.to_lowercase();
                self.pos += 1;
                Ok(v)
            }
            Some(Token::Word(w)) if w.quote_style == Some('"') && !w.value.is_empty() => {
                let v = w.value.clone();
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.error(format!("expected {what}"))),
        }
    }

    /// A cluster setting's name: words joined by periods (`jobs.debug.pausepoints`), lower case.
    fn setting_name(&mut self) -> Result<String> {
        let mut parts = vec![self.setting_word()?];
        while self.eat(&Token::Period) {
            parts.push(self.setting_word()?);
        }
        Ok(parts.join("."))
    }

    /// One word of a setting's name: any unquoted word, keywords included (`debug`, `to`...).
    fn setting_word(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) if w.quote_style.is_none() => {
                let v = w.value.to_lowercase();
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.error("expected a cluster setting's name")),
        }
    }

    /// A string literal's contents.
    fn string(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Token::SingleQuotedString(s)) | Some(Token::EscapedStringLiteral(s)) => {
                let v = s.clone();
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.error(format!("expected {what} (a string literal)"))),
        }
    }

    /// `str (',' str)*`.
    fn string_list(&mut self, what: &str) -> Result<Vec<String>> {
        let mut out = vec![self.string(what)?];
        while self.eat(&Token::Comma) {
            out.push(self.string(what)?);
        }
        Ok(out)
    }

    // ---- statements ----

    pub(super) fn statement(mut self) -> Result<Statement> {
        let stmt = match self.kw().as_deref() {
            Some("BACKUP") => {
                self.pos += 1;
                Statement::Backup(self.backup()?)
            }
            Some("RESTORE") => {
                self.pos += 1;
                Statement::Restore(self.restore()?)
            }
            Some("SHOW") => {
                self.pos += 1;
                self.show()?
            }
            Some("CREATE") => {
                self.pos += 1;
                self.create_schedule()?
            }
            Some("DROP") => {
                self.pos += 1;
                self.control_schedule(ScheduleControl::Drop)?
            }
            Some(k @ ("PAUSE" | "RESUME")) if matches!(self.toks.get(self.pos + 1).map(|t| &t.token), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("SCHEDULE") || w.value.eq_ignore_ascii_case("SCHEDULES")) =>
            {
                let op = if k == "PAUSE" { ScheduleControl::Pause } else { ScheduleControl::Resume };
                self.pos += 1;
                self.control_schedule(op)?
            }
            Some(k @ ("PAUSE" | "RESUME" | "CANCEL")) => {
                let k = k.to_string();
                self.pos += 1;
                self.expect_kw("JOB", &format!("expected JOB after {k}"))?;
                let id = self.job_id()?;
                match k.as_str() {
                    "PAUSE" => Statement::PauseJob(id),
                    "RESUME" => Statement::ResumeJob(id),
                    _ => Statement::CancelJob(id),
                }
            }
            Some("SET") => {
                self.pos += 1;
                self.expect_kw("CLUSTER", "expected CLUSTER SETTING after SET")?;
                self.expect_kw("SETTING", "expected SETTING after SET CLUSTER")?;
                let name = self.setting_name()?;
                if !self.eat(&Token::Eq) {
                    self.expect_kw("TO", "expected = or TO and the setting's value")?;
                }
                let value = self.string("the setting's value")?;
                Statement::SetClusterSetting { name, value }
            }
            _ => return Err(self.error("expected BACKUP, RESTORE, SHOW BACKUP, SHOW JOBS, PAUSE JOB, RESUME JOB, CANCEL JOB or SET CLUSTER SETTING")),
        };
        while self.eat(&Token::SemiColon) {}
        if self.pos < self.toks.len() {
            return Err(self.error("unexpected text after the end of the statement"));
        }
        Ok(stmt)
    }

    fn backup(&mut self) -> Result<BackupStmt> {
        let targets = self.targets(&["TO", "INTO"])?;
        let into = if self.eat_kw("INTO") {
            Some(match self.in_collection()? {
                Some(which) => BackupInto::Chain(which),
                None => BackupInto::NewFull,
            })
        } else {
            self.expect_kw("TO", "expected TO or INTO and the backup's destination")?;
            None
        };
        let to = if self.eat(&Token::LParen) {
            let list = self.string_list("a destination URL")?;
            if !self.eat(&Token::RParen) {
                return Err(self.error("expected , or ) in the destination list"));
            }
            list
        } else {
            vec![self.string("a destination URL")?]
        };
        let as_of = self.as_of()?;
        let mut incremental_from = Vec::new();
        if into.is_some() && self.is_kw("INCREMENTAL") {
            return Err(self.error("INCREMENTAL FROM cannot be used with BACKUP INTO: name the chain with INTO LATEST IN or INTO 'subdir' IN"));
        }
        if self.eat_kw("INCREMENTAL") {
            self.expect_kw("FROM", "expected FROM after INCREMENTAL")?;
            incremental_from = self.string_list("a previous backup's URL")?;
        }
        let mut opts = self.with_options(&[("revision_history", OptKind::Flag), ("encryption_passphrase", OptKind::Value), ("detached", OptKind::Flag)])?;
        let options = BackupOptions {
            revision_history: opts.remove("revision_history").is_some(),
            encryption_passphrase: take_str(&mut opts, "encryption_passphrase").map(Secret),
            detached: opts.remove("detached").is_some(),
        };
        Ok(BackupStmt { targets, to, into, as_of, incremental_from, options })
    }

    fn restore(&mut self) -> Result<RestoreStmt> {
        let targets = self.targets(&["FROM"])?;
        self.expect_kw("FROM", "expected FROM and the backup's location")?;
        let in_collection = if self.peek() == Some(&Token::LParen) { None } else { self.in_collection()? };
        let (from, from_localities) = match in_collection {
            Some(_) => (vec![self.string("the collection's URL")?], Vec::new()),
            None => self.backup_lists()?,
        };
        let as_of = self.as_of()?;
        let mut opts = self.with_options(&[
            ("into_db", OptKind::Value),
            ("skip_missing_foreign_keys", OptKind::Flag),
            ("skip_missing_sequences", OptKind::Flag),
            ("skip_missing_views", OptKind::Flag),
            ("encryption_passphrase", OptKind::Value),
            ("detached", OptKind::Flag),
            ("new_db_name", OptKind::Value),
            ("schema_only", OptKind::Flag),
            ("verify_backup_table_data", OptKind::Flag),
        ])?;
        let options = RestoreOptions {
            into_db: take_str(&mut opts, "into_db"),
            skip_missing_foreign_keys: opts.remove("skip_missing_foreign_keys").is_some(),
            skip_missing_sequences: opts.remove("skip_missing_sequences").is_some(),
            skip_missing_views: opts.remove("skip_missing_views").is_some(),
            encryption_passphrase: take_str(&mut opts, "encryption_passphrase").map(Secret),
            detached: opts.remove("detached").is_some(),
            new_db_name: take_str(&mut opts, "new_db_name"),
            schema_only: opts.remove("schema_only").is_some(),
            verify_backup_table_data: opts.remove("verify_backup_table_data").is_some(),
        };
        Ok(RestoreStmt { targets, from, in_collection, from_localities, as_of, options })
    }

    /// RESTORE's backups: each a URL or a parenthesised locality-aware list of URLs (its first
    /// holding the manifest), comma-separated. Returns the first URL of each, and the others of
    /// each when some list had more than one URL (else none: `('a')` is `'a'`).
    fn backup_lists(&mut self) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let (mut from, mut others) = (Vec::new(), Vec::new());
        loop {
            if self.eat(&Token::LParen) {
                let list = self.string_list("a backup URL")?.into_iter();
                if !self.eat(&Token::RParen) {
                    return Err(self.error("expected , or ) in the locality-aware list of URLs"));
                }
                let mut list = default_first(list.collect()).into_iter();
                from.push(list.next().unwrap_or_default());
                others.push(list.collect::<Vec<_>>());
            } else {
                from.push(default_first(vec![self.string("a backup URL")?]).remove(0));
                others.push(Vec::new());
            }
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        if others.iter().all(Vec::is_empty) {
            others.clear();
        }
        Ok((from, others))
    }

    fn show(&mut self) -> Result<Statement> {
        if self.eat_kw("JOBS") {
            return Ok(Statement::ShowJobs);
        }
        if self.eat_kw("LOCALITY") {
            return Ok(Statement::ShowLocality);
        }
        if self.is_kw("SCHEDULES") || self.is_kw("SCHEDULE") {
            return self.show_schedules();
        }
        if self.eat_kw("CLUSTER") {
            self.expect_kw("SETTING", "expected SETTING after SHOW CLUSTER")?;
            return Ok(Statement::ShowClusterSetting(self.setting_name()?));
        }
        if self.eat_kw("BACKUPS") {
            self.expect_kw("IN", "expected IN and the collection's URL after SHOW BACKUPS")?;
            return Ok(Statement::ShowBackups(self.string("the collection's URL")?));
        }
        self.expect_kw("BACKUP", "expected BACKUP, JOBS, CLUSTER SETTING or LOCALITY after SHOW")?;
        let kind = match self.kw().as_deref() {
            Some("SCHEMAS") => ShowBackupKind::Schemas,
            Some("FILES") => ShowBackupKind::Files,
            Some("RANGES") => ShowBackupKind::Ranges,
            _ => ShowBackupKind::Objects,
        };
        if kind != ShowBackupKind::Objects {
            self.pos += 1;
        }
        let in_collection = if self.peek() == Some(&Token::LParen) { None } else { self.in_collection()? };
        let (location, location_localities) = match in_collection {
            None if self.eat(&Token::LParen) => {
                let list = self.string_list("the backup's location")?;
                if !self.eat(&Token::RParen) {
                    return Err(self.error("expected , or ) in the locality-aware list of URLs"));
                }
                let mut list = default_first(list).into_iter();
                (list.next().unwrap_or_default(), list.collect())
            }
            _ => (default_first(vec![self.string("the backup's location")?]).remove(0), Vec::new()),
        };
        let mut opts = self.with_options(&[("privileges", OptKind::Flag), ("check_files", OptKind::Flag), ("encryption_passphrase", OptKind::Value)])?;
        Ok(Statement::ShowBackup(ShowBackupStmt {
            kind,
            location,
            in_collection,
            location_localities,
            with_privileges: opts.remove("privileges").is_some(),
            check_files: opts.remove("check_files").is_some(),
            encryption_passphrase: take_str(&mut opts, "encryption_passphrase").map(Secret),
        }))
    }

    fn job_id(&mut self) -> Result<u64> {
        match self.peek() {
            // Job ids are INT8, as in CockroachDB: a larger number names no job (and would
            // wrap to a negative id).
            Some(Token::Number(n, _)) => match n.parse::<u64>().ok().filter(|id| i64::try_from(*id).is_ok()).ok_or(()) {
                Ok(id) => {
                    self.pos += 1;
                    Ok(id)
                }
                Err(()) => Err(self.error(format!("a job ID is a non-negative integer of at most {}", i64::MAX))),
            },
            _ => Err(self.error("expected a job ID")),
        }
    }

    /// `LATEST IN` or `'subdir' IN` before a collection's URL, if present (a string not followed
    /// by `IN` is left for the caller: it is the location itself). The string `'LATEST'` means
    /// LATEST, as in CockroachDB.
    fn in_collection(&mut self) -> Result<Option<InCollection>> {
        if self.eat_kw("LATEST") {
            self.expect_kw("IN", "expected IN and the collection's URL after LATEST")?;
            return Ok(Some(InCollection::Latest));
        }
        let subdir = match self.peek() {
            Some(Token::SingleQuotedString(s)) | Some(Token::EscapedStringLiteral(s)) => s.clone(),
            _ => return Ok(None),
        };
        if !matches!(self.toks.get(self.pos + 1).map(|t| &t.token), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("IN")) {
            return Ok(None);
        }
        if subdir.trim().is_empty() {
            return Err(self.error("the subdirectory before IN must not be empty: name a full backup as SHOW BACKUPS IN lists it, or use LATEST"));
        }
        self.pos += 2;
        Ok(Some(if subdir == "LATEST" { InCollection::Latest } else { InCollection::Subdir(subdir) }))
    }

    /// Targets up to one of `stop` (`TO`, `INTO` or `FROM`); none means the whole cluster.
    fn targets(&mut self, stop: &[&str]) -> Result<Targets> {
        if stop.iter().any(|k| self.is_kw(k)) {
            return Ok(Targets::Cluster);
        }
        if self.eat_kw("DATABASE") {
            let mut names = vec![self.ident("a database name")?];
            while self.eat(&Token::Comma) {
                names.push(self.ident("a database name")?);
            }
            return Ok(Targets::Databases(names));
        }
        self.eat_kw("TABLE");
        let mut patterns = vec![self.pattern()?];
        while self.eat(&Token::Comma) {
            patterns.push(self.pattern()?);
        }
        Ok(Targets::Tables(patterns))
    }

    /// `t`, `db.t`, `db.*`, `db.public.t`, `db.public.*`.
    fn pattern(&mut self) -> Result<TablePattern> {
        if self.peek() == Some(&Token::Mul) {
            return Err(self.error("a bare * is not supported: name the database, as in db.*"));
        }
        let first = self.ident("a table name")?;
        if !self.eat(&Token::Period) {
            return Ok(TablePattern::Table { database: None, table: first });
        }
        if self.eat(&Token::Mul) {
            return Ok(TablePattern::AllTablesIn(first));
        }
        let schema_at = self.pos;
        let second = self.ident("a table name or * after '.'")?;
        if !self.eat(&Token::Period) {
            return Ok(TablePattern::Table { database: Some(first), table: second });
        }
        if second != "public" {
            return Err(self.error_at(schema_at, "user-defined schemas are not supported: only db.public.table"));
        }
        if self.eat(&Token::Mul) {
            return Ok(TablePattern::AllTablesIn(first));
        }
        let table = self.ident("a table name or * after '.'")?;
        Ok(TablePattern::Table { database: Some(first), table })
    }

    /// `AS OF SYSTEM TIME (str | number | '-' number)`, if present.
    fn as_of(&mut self) -> Result<Option<AsOf>> {
        if !self.eat_kw("AS") {
            return Ok(None);
        }
        for k in ["OF", "SYSTEM", "TIME"] {
            self.expect_kw(k, "expected AS OF SYSTEM TIME")?;
        }
        let text = match self.peek() {
            Some(Token::SingleQuotedString(s)) | Some(Token::EscapedStringLiteral(s)) | Some(Token::Number(s, _)) => {
                let s = s.clone();
                self.pos += 1;
                s
            }
            Some(Token::Minus) => match self.toks.get(self.pos + 1).map(|t| &t.token) {
                Some(Token::Number(n, _)) => {
                    let s = format!("-{n}");
                    self.pos += 2;
                    s
                }
                _ => return Err(self.error_at(self.pos + 1, "expected a number after '-'")),
            },
            _ => return Err(self.error("AS OF SYSTEM TIME expects a string literal or a decimal timestamp")),
        };
        Ok(Some(AsOf(text)))
    }

    /// `WITH option, …` or `WITH OPTIONS (option, …)`, checked against `spec`: unknown,
    /// duplicate, missing value and unexpected value are errors at the offending token.
    fn with_options(&mut self, spec: &[(&'static str, OptKind)]) -> Result<BTreeMap<&'static str, OptValue>> {
        if !self.eat_kw("WITH") {
            return Ok(BTreeMap::new());
        }
        self.options_after_with(spec, false)
    }

    /// The options after `WITH` (or `WITH SCHEDULE`): `option, …` or `OPTIONS (option, …)`
    /// (or `OPTIONS option, …` where `bare_options`, as `WITH SCHEDULE OPTIONS` takes them).
    fn options_after_with(&mut self, spec: &[(&'static str, OptKind)], bare_options: bool) -> Result<BTreeMap<&'static str, OptValue>> {
        let mut out = BTreeMap::new();
        let parens = if self.eat_kw("OPTIONS") {
            let open = self.eat(&Token::LParen);
            if !open && !bare_options {
                return Err(self.error("expected ( after WITH OPTIONS"));
            }
            open
        } else {
            false
        };
        loop {
            let (name, quoted) = match self.peek() {
                Some(Token::Word(w)) if !w.value.is_empty() => (w.value.to_ascii_lowercase(), false),
                Some(Token::SingleQuotedString(s)) if !s.is_empty() => (s.to_ascii_lowercase(), true),
                _ => return Err(self.error("expected an option name")),
            };
            let Some(&(key, kind)) = spec.iter().find(|(k, _)| *k == name) else {
                let known: Vec<&str> = spec.iter().map(|(k, _)| *k).collect();
                // A string literal is never echoed: it might be a misplaced secret.
                let shown = if quoted { String::new() } else { format!(" {name:?}") };
                return Err(self.option_error(format!("unknown option{shown} (expected one of: {})", known.join(", "))));
            };
            if out.contains_key(key) {
                return Err(self.option_error(format!("option {key:?} specified more than once")));
            }
            self.pos += 1;
            let value = match kind {
                OptKind::Flag => {
                    if self.peek() == Some(&Token::Eq) {
                        return Err(self.option_error(format!("option {key:?} takes no value")));
                    }
                    OptValue::Flag
                }
                OptKind::Value => {
                    if !self.eat(&Token::Eq) {
                        return Err(self.option_error(format!("option {key:?} requires a value: {key} = '…'")));
                    }
                    match self.peek() {
                        Some(Token::SingleQuotedString(s)) | Some(Token::EscapedStringLiteral(s)) => {
                            let s = s.clone();
                            check_option_value(key, &s).map_err(|why| self.option_error(why))?;
                            self.pos += 1;
                            OptValue::Str(s)
                        }
                        _ => return Err(self.option_error(format!("option {key:?} requires a string value: {key} = '…'"))),
                    }
                }
            };
            out.insert(key, value);
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        if parens && !self.eat(&Token::RParen) {
            return Err(self.error("expected , or ) in WITH OPTIONS (…)"));
        }
        Ok(out)
    }
}

/// How a token is shown in an error: words, numbers and punctuation as written, every kind of
/// string literal as `'…'`.
fn near_text(t: &Token) -> String {
    match t {
        Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::TripleSingleQuotedByteStringLiteral(_)
        | Token::TripleDoubleQuotedByteStringLiteral(_)
        | Token::SingleQuotedRawStringLiteral(_)
        | Token::DoubleQuotedRawStringLiteral(_)
        | Token::TripleSingleQuotedRawStringLiteral(_)
        | Token::TripleDoubleQuotedRawStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_) => "'…'".to_string(),
        // sqlparser prints a quoted word without doubling its embedded quotes.
        Token::Word(w) if w.quote_style == Some('"') => format!("\"{}\"", w.value.replace('"', "\"\"")),
        other => other.to_string(),
    }
}

/// Refuses option values that are well-formed SQL but cannot be meant: an empty or blank
/// passphrase (it would "encrypt" with a key anyone can derive from `''`) and an empty
/// `into_db` or `new_db_name`. The message never contains the value.
fn check_option_value(key: &str, value: &str) -> std::result::Result<(), String> {
    if value.trim().is_empty() {
        return Err(match key {
            "encryption_passphrase" => {
                "option \"encryption_passphrase\" must not be empty or only whitespace: anyone could decrypt a backup encrypted with it".to_string()
            }
            _ => format!("option {key:?} must not be empty"),
        });
    }
    Ok(())
}

fn take_str(opts: &mut BTreeMap<&'static str, OptValue>, key: &str) -> Option<String> {
    match opts.remove(key) {
        Some(OptValue::Str(s)) => Some(s),
        _ => None,
    }
}

/// A backup's URLs as RESTORE and SHOW BACKUP are given them, each without its
/// `COCKROACH_LOCALITY` parameter, the one marked `default` first: CockroachDB's docs give
/// RESTORE the list exactly as BACKUP took it (`('…?COCKROACH_LOCALITY=default',
/// '…?COCKROACH_LOCALITY=region%3Dus-west')`), and its restore reads the manifest at the URL
/// marked default wherever it stands. The parameter names no storage, so opening a URL that
/// kept it would be refused; where each partition is, the descriptors say.
fn default_first(list: Vec<String>) -> Vec<String> {
    let split: Vec<(Option<String>, String)> = list.iter().map(|u| crate::storage::url::split_locality_param(u)).collect();
    let default = split.iter().position(|(l, _)| l.as_deref() == Some(crate::locality::DEFAULT_LOCALITY)).unwrap_or(0);
    let mut urls: Vec<String> = split.into_iter().map(|(_, u)| u).collect();
    if default < urls.len() {
        let d = urls.remove(default);
        urls.insert(0, d);
    }
    urls
}
