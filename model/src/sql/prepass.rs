//! The token-level pre-pass: splits a script into statements and handles the CockroachDB
//! extensions sqlparser does not know, working on sqlparser's own [`Tokenizer`] output.
//!
//! Handled here: `AS OF SYSTEM TIME <literal>` (removed and recorded), `UPSERT INTO` (rewritten
//! to INSERT and flagged), `CREATE USER` (rewritten to PostgreSQL's CREATE ROLE, which knows
//! `WITH PASSWORD`, and flagged), `INTERLEAVE IN PARENT p (cols)` (removed and recorded),
//! `ALTER TABLE|DATABASE|RANGE ... CONFIGURE ZONE USING gc.ttlseconds = N` and role grants
//! `GRANT role TO user` (recognised whole), and the statements that belong to the `backup`
//! crate (refused with [`SqlError::NotSqlLayer`]). Everything else is parsed by sqlparser. This
//! module never slices SQL strings and never echoes a statement that carries a password.

use super::error::SqlError;
use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// The dialect used throughout: PostgreSQL's is the closest to CockroachDB's syntax.
pub(crate) const DIALECT: PostgreSqlDialect = PostgreSqlDialect {};

/// `INTERLEAVE IN PARENT parent (columns)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Interleave {
    pub parent: Vec<String>,
    pub columns: Vec<String>,
}

/// CockroachDB extensions found in one statement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Extensions {
    /// The `AS OF SYSTEM TIME` argument, unparsed.
    pub as_of: Option<String>,
    /// The statement was `UPSERT INTO`.
    pub upsert: bool,
    /// The statement was `CREATE USER` (parsed as CREATE ROLE).
    pub create_user: bool,
    /// `INTERLEAVE IN PARENT`.
    pub interleave: Option<Interleave>,
}

/// What `CONFIGURE ZONE` applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ZoneTarget {
    Table(Vec<String>),
    Database(String),
    Default,
}

/// One statement ready to execute.
#[derive(Clone, Debug)]
pub(crate) enum Prepared {
    Statement { stmt: Box<Statement>, ext: Extensions, head: String },
    ConfigureZone { target: ZoneTarget, ttl_seconds: u64 },
    RoleGrant { roles: Vec<String>, members: Vec<String>, revoke: bool },
}

fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>, SqlError> {
    Tokenizer::new(&DIALECT, sql).tokenize_with_location().map_err(|e| SqlError::parse(e.message, Some(e.location)))
}

/// Splits tokens at top-level semicolons, dropping empty statements.
fn split(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for t in tokens {
        if t.token == Token::SemiColon {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(t);
        }
    }
    out.push(cur);
    out.retain(|s: &Vec<TokenWithSpan>| s.iter().any(|t| significant(&t.token)));
    out
}

fn significant(t: &Token) -> bool {
    !matches!(t, Token::Whitespace(_) | Token::EOF)
}

/// Splits a script into its statements' texts: each statement exactly as typed (the script's
/// own text from its first token to its last), cut at the semicolons the tokenizer finds at
/// top level, so comments and semicolons inside literals are handled as SQL does. (Texts used to
/// be re-rendered from tokens, which changed statements wherever sqlparser prints a token other
/// than it reads it: fuzzing found quoted identifiers and prefixed literals holding a quote, and
/// characters the tokenizer swallows after `?` and `&>`.)
pub fn split_statements(sql: &str) -> Result<Vec<String>, SqlError> {
    let lines = LineStarts::new(sql);
    Ok(split(tokenize(sql)?).into_iter().map(|s| lines.slice(sql, &s).unwrap_or_else(|| render(&s))).collect())
}

/// Byte offsets of the starts of a text's lines, to turn sqlparser's 1-based line and column
/// (counted in characters) into byte offsets.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> LineStarts {
        LineStarts(std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    fn offset(&self, text: &str, at: Location) -> Option<usize> {
        let start = *self.0.get(usize::try_from(at.line).ok()?.checked_sub(1)?)?;
        let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
        let line = &text[start..];
        match line.char_indices().nth(column) {
            Some((i, _)) => Some(start + i),
            None if line.chars().count() == column => Some(text.len()),
            None => None,
        }
    }

    /// The text from the first token's start to the last token's end, trimmed; `None` if a
    /// token has no usable location.
    fn slice(&self, text: &str, tokens: &[TokenWithSpan]) -> Option<String> {
        let tokens: Vec<&TokenWithSpan> = tokens.iter().filter(|t| t.token != Token::EOF).collect();
        let from = self.offset(text, tokens.first()?.span.start)?;
        let to = self.offset(text, tokens.last()?.span.end)?;
        (from <= to).then(|| text.get(from..to).map(|s| s.trim().to_string())).flatten()
    }
}

fn render(tokens: &[TokenWithSpan]) -> String {
    tokens
        .iter()
        .map(|t| match &t.token {
            // sqlparser prints a string token's (already unescaped) value between quotes without
            // escaping it again: double embedded quotes so that the text means what was typed
            // ('it''s'). National and Unicode-escape literals hold plain text once read too.
            Token::SingleQuotedString(v) | Token::EscapedStringLiteral(v) | Token::NationalStringLiteral(v) | Token::UnicodeStringLiteral(v) => {
                format!("'{}'", v.replace('\'', "''"))
            }
            // The same for quoted identifiers: "bank""quote" is the name bank"quote.
            Token::Word(w) if w.quote_style == Some('"') => format!("\"{}\"", w.value.replace('"', "\"\"")),
            other => other.to_string(),
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// If `sql` is a statement the `backup` crate handles (BACKUP, RESTORE, SHOW BACKUP, SHOW JOBS,
/// PAUSE / RESUME / CANCEL JOB), its leading keywords; `None` otherwise (or if it does not
/// tokenize).
pub fn bulk_statement_kind(sql: &str) -> Option<String> {
    let tokens = tokenize(sql).ok()?;
    let stmts = split(tokens);
    let first = stmts.first()?;
    let v = View::new(first);
    v.not_sql_layer()
}

/// Parses a script into prepared statements.
pub(crate) fn prepare_script(sql: &str) -> Result<Vec<Prepared>, SqlError> {
    split(tokenize(sql)?).into_iter().map(prepare_one).collect()
}

/// Significant-token view of one statement's tokens.
struct View<'a> {
    tokens: &'a [TokenWithSpan],
    sig: Vec<usize>,
}

impl<'a> View<'a> {
    fn new(tokens: &'a [TokenWithSpan]) -> Self {
        let sig = tokens.iter().enumerate().filter(|(_, t)| significant(&t.token)).map(|(i, _)| i).collect();
        View { tokens, sig }
    }

    fn tok(&self, i: usize) -> Option<&Token> {
        self.sig.get(i).map(|&j| &self.tokens[j].token)
    }

    fn loc(&self, i: usize) -> Option<Location> {
        self.sig.get(i).map(|&j| self.tokens[j].span.start)
    }

    /// The unquoted word at significant position `i`, upper-cased.
    fn word(&self, i: usize) -> Option<String> {
        match self.tok(i) {
            Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn is_word(&self, i: usize, w: &str) -> bool {
        self.word(i).as_deref() == Some(w)
    }

    /// An identifier (quoted or not) at `i`, case-folded unless quoted.
    fn ident(&self, i: usize) -> Option<String> {
        match self.tok(i) {
            Some(Token::Word(w)) => Some(if w.quote_style.is_some() { w.value.clone() } else { w.value.to_lowercase() }),
            _ => None,
        }
    }

    fn head(&self) -> String {
        (0..2).filter_map(|i| self.word(i)).collect::<Vec<_>>().join(" ")
    }

    fn has_word(&self, w: &str) -> bool {
        (0..self.sig.len()).any(|i| self.is_word(i, w))
    }

    fn not_sql_layer(&self) -> Option<String> {
        let first = self.word(0)?;
        let second = self.word(1).unwrap_or_default();
        match first.as_str() {
            "BACKUP" | "RESTORE" => Some(first),
            "SHOW" if matches!(second.as_str(), "BACKUP" | "BACKUPS" | "JOB" | "JOBS") => Some(format!("SHOW {second}")),
            "PAUSE" | "RESUME" | "CANCEL" if matches!(second.as_str(), "JOB" | "JOBS") => Some(format!("{first} {second}")),
            _ => None,
        }
    }

    fn err(&self, i: usize, msg: impl Into<String>) -> SqlError {
        SqlError::parse(msg, self.loc(i).or_else(|| self.loc(self.sig.len().saturating_sub(1))))
    }

    /// A dotted name starting at `i`; returns the parts and the position after it.
    fn dotted_name(&self, mut i: usize) -> Result<(Vec<String>, usize), SqlError> {
        let mut parts = vec![self.ident(i).ok_or_else(|| self.err(i, "expected a name"))?];
        i += 1;
        while self.tok(i) == Some(&Token::Period) {
            parts.push(self.ident(i + 1).ok_or_else(|| self.err(i + 1, "expected a name after '.'"))?);
            i += 2;
        }
        Ok((parts, i))
    }

    /// Comma-separated identifiers from `i` up to (not including) a stop word or the end.
    fn ident_list(&self, mut i: usize, stop: &[&str]) -> Result<(Vec<String>, usize), SqlError> {
        let mut out = Vec::new();
        loop {
            if self.word(i).is_some_and(|w| stop.contains(&w.as_str())) || i >= self.sig.len() {
                if out.is_empty() {
                    return Err(self.err(i, "expected a name"));
                }
                return Ok((out, i));
            }
            out.push(self.ident(i).ok_or_else(|| self.err(i, "expected a name"))?);
            i += 1;
            if self.tok(i) == Some(&Token::Comma) {
                i += 1;
            } else {
                return Ok((out, i));
            }
        }
    }
}

fn mentions_password(v: &View<'_>) -> bool {
    v.has_word("PASSWORD")
}

fn prepare_one(mut tokens: Vec<TokenWithSpan>) -> Result<Prepared, SqlError> {
    let v = View::new(&tokens);
    if let Some(statement) = v.not_sql_layer() {
        return Err(SqlError::NotSqlLayer { statement });
    }
    let head = v.head();
    if v.is_word(0, "ALTER") && v.has_word("CONFIGURE") {
        return configure_zone(&v);
    }
    if (v.is_word(0, "GRANT") || v.is_word(0, "REVOKE")) && !v.has_word("ON") {
        return role_grant(&v);
    }
    let secret = mentions_password(&v);
    let mut ext = Extensions::default();
    // Rewrites in place (same number of tokens), then removals from the back.
    let mut replace: Vec<(usize, Token)> = Vec::new();
    if v.is_word(0, "UPSERT") {
        ext.upsert = true;
        replace.push((v.sig[0], Token::make_keyword("INSERT")));
    }
    if v.is_word(0, "CREATE") && v.is_word(1, "USER") {
        ext.create_user = true;
        replace.push((v.sig[1], Token::make_keyword("ROLE")));
    }
    let mut remove: Vec<(usize, usize)> = Vec::new();
    for i in 0..v.sig.len() {
        if v.is_word(i, "AS") && v.is_word(i + 1, "OF") && v.is_word(i + 2, "SYSTEM") && v.is_word(i + 3, "TIME") {
            if ext.as_of.is_some() {
                return Err(v.err(i, "AS OF SYSTEM TIME given twice"));
            }
            let (text, last) = match (v.tok(i + 4), v.tok(i + 5)) {
                (Some(Token::SingleQuotedString(s)), _) => (s.clone(), i + 4),
                (Some(Token::Number(n, _)), _) => (n.clone(), i + 4),
                (Some(Token::Minus), Some(Token::Number(n, _))) => (format!("-{n}"), i + 5),
                _ => return Err(v.err(i + 4, "AS OF SYSTEM TIME expects a string literal or a decimal timestamp")),
            };
            ext.as_of = Some(text);
            remove.push((v.sig[i], v.sig[last]));
        }
        if v.is_word(0, "CREATE") && v.is_word(i, "INTERLEAVE") {
            if !(v.is_word(i + 1, "IN") && v.is_word(i + 2, "PARENT")) {
                return Err(v.err(i + 1, "expected IN PARENT after INTERLEAVE"));
            }
            let (parent, mut j) = v.dotted_name(i + 3)?;
            if v.tok(j) != Some(&Token::LParen) {
                return Err(v.err(j, "expected ( after the interleave parent"));
            }
            let mut columns = Vec::new();
            j += 1;
            loop {
                columns.push(v.ident(j).ok_or_else(|| v.err(j, "expected a column name"))?);
                j += 1;
                match v.tok(j) {
                    Some(Token::Comma) => j += 1,
                    Some(Token::RParen) => break,
                    _ => return Err(v.err(j, "expected , or ) in the interleave column list")),
                }
            }
            ext.interleave = Some(Interleave { parent, columns });
            remove.push((v.sig[i], v.sig[j]));
        }
    }
    for (at, tok) in replace {
        tokens[at].token = tok;
    }
    for (from, to) in remove.into_iter().rev() {
        tokens.drain(from..=to);
    }
    let mut parser = Parser::new(&DIALECT).with_tokens_with_locations(tokens);
    let parsed = parser.parse_statements().map_err(|e| {
        if secret {
            SqlError::parse("invalid statement (text withheld: it contains a password)", None)
        } else {
            SqlError::parse(e.to_string().trim_start_matches("sql parser error: ").to_string(), None)
        }
    })?;
    let mut parsed = parsed.into_iter();
    match (parsed.next(), parsed.next()) {
        (Some(stmt), None) => Ok(Prepared::Statement { stmt: Box::new(stmt), ext, head }),
        _ => Err(SqlError::parse("expected exactly one statement", None)),
    }
}

fn configure_zone(v: &View<'_>) -> Result<Prepared, SqlError> {
    let (target, mut i) = match v.word(1).as_deref() {
        Some("TABLE") => {
            let (name, i) = v.dotted_name(2)?;
            (ZoneTarget::Table(name), i)
        }
        Some("DATABASE") => (ZoneTarget::Database(v.ident(2).ok_or_else(|| v.err(2, "expected a database name"))?), 3),
        Some("RANGE") if v.is_word(2, "DEFAULT") => (ZoneTarget::Default, 3),
        _ => return Err(SqlError::Unsupported("CONFIGURE ZONE on anything but TABLE, DATABASE or RANGE default".into())),
    };
    if !(v.is_word(i, "CONFIGURE") && v.is_word(i + 1, "ZONE") && v.is_word(i + 2, "USING")) {
        return Err(v.err(i, "expected CONFIGURE ZONE USING"));
    }
    i += 3;
    let mut ttl: Vec<u64> = Vec::new();
    loop {
        let (name, j) = v.dotted_name(i)?;
        let name = name.join(".");
        if v.tok(j) != Some(&Token::Eq) {
            return Err(v.err(j, "expected = in CONFIGURE ZONE USING"));
        }
        let value = match v.tok(j + 1) {
            Some(Token::Number(n, _)) => n.clone(),
            _ => return Err(v.err(j + 1, "expected a number")),
        };
        if name != "gc.ttlseconds" {
            return Err(SqlError::Unsupported(format!("zone config field {name}")));
        }
        ttl.push(value.parse::<u64>().map_err(|_| SqlError::Invalid(format!("gc.ttlseconds must be a non-negative integer, not {value}")))?);
        i = j + 2;
        match v.tok(i) {
            Some(Token::Comma) => i += 1,
            None => break,
            Some(_) => return Err(v.err(i, "expected , or end of statement")),
        }
    }
    let ttl_seconds = ttl.last().copied().ok_or_else(|| v.err(i, "expected gc.ttlseconds"))?;
    Ok(Prepared::ConfigureZone { target, ttl_seconds })
}

fn role_grant(v: &View<'_>) -> Result<Prepared, SqlError> {
    let revoke = v.is_word(0, "REVOKE");
    let mut i = 1;
    if revoke && v.is_word(1, "ADMIN") && v.is_word(2, "OPTION") && v.is_word(3, "FOR") {
        i = 4;
    }
    let sep = if revoke { "FROM" } else { "TO" };
    let (roles, j) = v.ident_list(i, &[sep])?;
    if !v.is_word(j, sep) {
        return Err(v.err(j, format!("expected {sep}")));
    }
    let (members, k) = v.ident_list(j + 1, &["WITH"])?;
    let rest_ok = k >= v.sig.len() || (!revoke && v.is_word(k, "WITH") && v.is_word(k + 1, "ADMIN") && v.is_word(k + 2, "OPTION") && k + 3 >= v.sig.len());
    if !rest_ok {
        return Err(v.err(k, "expected end of statement"));
    }
    Ok(Prepared::RoleGrant { roles, members, revoke })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Prepared {
        let mut v = prepare_script(sql).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn extensions_are_recognised() {
        match one("SELECT * FROM t AS OF SYSTEM TIME '-10s' WHERE a = 1") {
            Prepared::Statement { ext, stmt, .. } => {
                assert_eq!(ext.as_of.as_deref(), Some("-10s"));
                assert_eq!(stmt.to_string(), "SELECT * FROM t WHERE a = 1");
            }
            other => panic!("{other:?}"),
        }
        match one("CREATE TABLE c (p INT, id INT, PRIMARY KEY (p, id)) INTERLEAVE IN PARENT db.p (p)") {
            Prepared::Statement { ext, .. } => {
                assert_eq!(ext.interleave, Some(Interleave { parent: vec!["db".into(), "p".into()], columns: vec!["p".into()] }))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(one("UPSERT INTO t VALUES (1)"), Prepared::Statement { ext: Extensions { upsert: true, .. }, .. }));
        assert!(matches!(one("CREATE USER alice WITH PASSWORD 'x'"), Prepared::Statement { ext: Extensions { create_user: true, .. }, .. }));
        assert!(matches!(
            one("ALTER TABLE db.t CONFIGURE ZONE USING gc.ttlseconds = 600"),
            Prepared::ConfigureZone { ttl_seconds: 600, target: ZoneTarget::Table(_) }
        ));
        assert!(matches!(one("GRANT admin TO alice, bob"), Prepared::RoleGrant { revoke: false, .. }));
        assert!(matches!(one("GRANT SELECT ON TABLE t TO alice"), Prepared::Statement { .. }));
    }

    #[test]
    fn scripts_split_on_top_level_semicolons_only() {
        assert_eq!(split_statements("SELECT ';'; ; SELECT 2 -- c;\n").unwrap(), vec!["SELECT ';'", "SELECT 2 -- c;"]);
        assert_eq!(split_statements("SELECT 'it''s'; SELECT E'a\\'b'").unwrap(), vec!["SELECT 'it''s'", "SELECT E'a\\'b'"]);
        // Each statement is the script's own text: doubled quotes inside a quoted name or a
        // literal stay doubled, prefixed literals keep their prefix.
        assert_eq!(
            split_statements("CREATE DATABASE \"bank\"\"quote\"; BACKUP DATABASE \"bank\"\"quote\" TO 'nodelocal://1/q'").unwrap(),
            vec!["CREATE DATABASE \"bank\"\"quote\"", "BACKUP DATABASE \"bank\"\"quote\" TO 'nodelocal://1/q'"]
        );
        assert_eq!(split_statements("SELECT N'it''s', U&'d\\0061t''a'").unwrap(), vec!["SELECT N'it''s', U&'d\\0061t''a'"]);
        // Found by fuzzing (fuzz/regressions/sql): re-rendering from tokens changed these.
        assert_eq!(
            split_statements("SELECT N'it''s', B'0''1';\n  SELECT ?abc1 ;SELECT a &>b").unwrap(),
            vec!["SELECT N'it''s', B'0''1'", "SELECT ?abc1", "SELECT a &>b"]
        );
        assert_eq!(split_statements("SELECT 'é'; /* ü */ SELECT 'ß'\r\n; SELECT 1").unwrap(), vec!["SELECT 'é'", "/* ü */ SELECT 'ß'", "SELECT 1"]);
        for text in ["SELECT \"a\"\"b\" FROM t", "SELECT 'x''y'", "CREATE TABLE \"it\"\"s\" (a INT PRIMARY KEY)", "SELECT B'0''1'"] {
            let again = split_statements(text).unwrap();
            assert_eq!(split_statements(&again[0]).unwrap(), again, "{text}: splitting is idempotent");
        }
        assert_eq!(bulk_statement_kind("BACKUP TO 'x'").as_deref(), Some("BACKUP"));
        assert_eq!(bulk_statement_kind("show jobs").as_deref(), Some("SHOW JOBS"));
        assert_eq!(bulk_statement_kind("SELECT 1"), None);
    }

    #[test]
    fn password_never_echoed() {
        let e = prepare_script("CREATE USER alice WITH PASSWORD 'hunter2' garbage").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
