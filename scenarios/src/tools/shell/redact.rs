//! Statement text as the shell keeps or repeats it after the fact — the history file, the
//! "not run" notes after an error — with its secrets taken out, because both outlive the moment
//! and the first is a plain file in the user's home directory.
//!
//! A bulk statement that parses is stored exactly as SHOW JOBS describes it
//! ([`backup::statement::Statement::redacted`]: passphrases and secret URL parameters replaced,
//! the library's one URL redaction). Anything else is kept as typed except for its literals:
//! a quoted string that holds a URL goes through the library's [`redact_location`]; a quoted
//! string or bare value right after a secret-sounding word (`…passphrase`, `password`,
//! `…secret…`, `…key`, `…token`, `credentials`) becomes `'redacted'`; and in a BACKUP / RESTORE /
//! SHOW BACKUP that does not parse (a typo next to a passphrase) every quoted string does. An
//! unterminated quote hides everything after it.

use backup::storage::url::redact_location;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// What replaces a secret literal (the library's word for it).
const REDACTED_LITERAL: &str = "'redacted'";

/// Words after which a value is taken for a secret.
const SECRET_WORDS: [&str; 6] = ["passphrase", "password", "secret", "key", "token", "credential"];

/// `text` (one or more statements, as typed) with every secret taken out; see the module doc.
pub fn text(text: &str) -> String {
    let mut tokens = Vec::new();
    let complete = Tokenizer::new(&PostgreSqlDialect {}, text).tokenize_with_location_into_buf(&mut tokens).is_ok();
    let offsets = Offsets::new(text);
    let mut out = String::new();
    let mut copied = 0;
    // One statement at a time: the tokens up to each top-level semicolon.
    let mut start = 0;
    for i in 0..=tokens.len() {
        if i < tokens.len() && tokens[i].token != Token::SemiColon {
            continue;
        }
        // Without the whitespace and comments around it.
        let mut stmt = &tokens[start..i];
        while matches!(stmt.first().map(|t| &t.token), Some(Token::Whitespace(_))) {
            stmt = &stmt[1..];
        }
        while matches!(stmt.last().map(|t| &t.token), Some(Token::Whitespace(_))) {
            stmt = &stmt[..stmt.len() - 1];
        }
        if let (Some(first), Some(last)) = (stmt.first(), stmt.last()) {
            let (from, to) = (offsets.at(first.span.start), offsets.at(last.span.end));
            // The statement is whole only if its end is not where tokenizing stopped.
            let whole = complete || i < tokens.len();
            out.push_str(&text[copied..from]);
            out.push_str(&statement(&text[from..to], stmt, &offsets, from, whole));
            copied = to;
        }
        start = i + 1;
    }
    let end = tokens.last().map_or(0, |t| offsets.at(t.span.end));
    out.push_str(&text[copied..end]);
    if !complete && !text[end..].trim().is_empty() {
        // What the tokenizer could not read (an unterminated quote or comment) may be a secret.
        out.push_str(REDACTED_LITERAL);
    }
    out
}

/// One statement's text (`sql`, starting at byte `base` of the text `offsets` maps).
fn statement(sql: &str, tokens: &[TokenWithSpan], offsets: &Offsets, base: usize, whole: bool) -> String {
    let bulk = backup::exec::is_bulk_statement(sql);
    if bulk && whole {
        if let Ok(parsed) = backup::statement::parse(sql) {
            return parsed.redacted();
        }
    }
    // A bulk statement that does not parse hides every literal; others only the secret ones.
    let all = bulk;
    let mut out = String::new();
    let mut copied = 0;
    for (i, t) in tokens.iter().enumerate() {
        let replacement = match &t.token {
            token if literal(token).is_some() => {
                let value = literal(token).unwrap_or_default();
                if value.contains("://") {
                    Some(quote(&redact_location(value)))
                } else if all || after_secret_word(&tokens[..i]) {
                    Some(REDACTED_LITERAL.to_string())
                } else {
                    None
                }
            }
            Token::Word(w) if w.quote_style.is_none() && after_secret_word(&tokens[..i]) && previous(&tokens[..i]) == Some(&Token::Eq) => {
                Some(REDACTED_LITERAL.to_string())
            }
            Token::Number(..) if after_secret_word(&tokens[..i]) => Some(REDACTED_LITERAL.to_string()),
            _ => None,
        };
        if let Some(r) = replacement {
            let (from, to) = (offsets.at(t.span.start) - base, offsets.at(t.span.end) - base);
            out.push_str(&sql[copied..from]);
            out.push_str(&r);
            copied = to;
        }
    }
    out.push_str(&sql[copied..]);
    out
}

/// The value of a string literal token.
fn literal(t: &Token) -> Option<&str> {
    match t {
        Token::SingleQuotedString(v)
        | Token::EscapedStringLiteral(v)
        | Token::NationalStringLiteral(v)
        | Token::UnicodeStringLiteral(v)
        | Token::SingleQuotedByteStringLiteral(v)
        | Token::DoubleQuotedByteStringLiteral(v)
        | Token::TripleSingleQuotedString(v)
        | Token::TripleDoubleQuotedString(v)
        | Token::SingleQuotedRawStringLiteral(v)
        | Token::DoubleQuotedRawStringLiteral(v)
        | Token::HexStringLiteral(v) => Some(v),
        Token::DollarQuotedString(d) => Some(&d.value),
        _ => None,
    }
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// The last token before this one that is not whitespace or a comment.
fn previous(before: &[TokenWithSpan]) -> Option<&Token> {
    before.iter().rev().map(|t| &t.token).find(|t| !matches!(t, Token::Whitespace(_)))
}

/// True when the value that follows `before` is named by a secret-sounding word: `word 'v'`,
/// `word = 'v'`, `word = v`.
fn after_secret_word(before: &[TokenWithSpan]) -> bool {
    let mut sig = before.iter().rev().map(|t| &t.token).filter(|t| !matches!(t, Token::Whitespace(_)));
    let mut t = sig.next();
    if t == Some(&Token::Eq) {
        t = sig.next();
    }
    match t {
        Some(Token::Word(w)) => {
            let w = w.value.to_ascii_lowercase();
            SECRET_WORDS.iter().any(|s| w.contains(s))
        }
        _ => false,
    }
}

/// Byte offsets of the tokenizer's line and column locations (columns count characters).
struct Offsets<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Offsets { text, line_starts }
    }

    fn at(&self, loc: Location) -> usize {
        let Some(&start) = self.line_starts.get((loc.line.max(1) - 1) as usize) else { return self.text.len() };
        let col = loc.column.max(1) as usize - 1;
        self.text[start..].char_indices().nth(col).map_or(self.text.len(), |(i, _)| start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn parsed_bulk_statements_read_as_show_jobs_describes_them() {
        let r = text("BACKUP DATABASE shop TO 's3://b/p?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=hunter2' WITH encryption_passphrase = 'pw1';");
        assert!(!r.contains("hunter2") && !r.contains("pw1"), "{r}");
        assert!(r.starts_with("BACKUP DATABASE shop TO 's3://b/p?AWS_ACCESS_KEY_ID=id&AWS_SECRET_ACCESS_KEY=redacted'") && r.ends_with(';'), "{r}");
        let r = text("RESTORE DATABASE shop FROM 'azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=k3y' WITH encryption_passphrase = 'wrong'");
        assert!(!r.contains("k3y") && !r.contains("wrong"), "{r}");
    }

    #[test]
    fn other_statements_keep_their_text_but_not_their_secrets() {
        let plain = "SELECT 'it''s', name FROM shop.items -- a comment\n WHERE id = 1;\nSELECT 2;";
        assert_eq!(text(plain), plain);
        assert_eq!(text("CREATE USER u WITH PASSWORD 'pw'"), "CREATE USER u WITH PASSWORD 'redacted'");
        assert_eq!(
            text("SELECT 1; BAKUP INTO 'gs://b/p?AUTH=specified&CREDENTIALS=c2VjcmV0'"),
            "SELECT 1; BAKUP INTO 'gs://b/p?AUTH=specified&CREDENTIALS=redacted'"
        );
        // A BACKUP that does not parse hides every literal and secret-named bare values.
        let r = text("BACKUP DATABASE shop TO 'nodelocal://1/x' WITH encryption_passphrase = 'pw2', into_db = 'other', bogus; SELECT 'kept';");
        assert!(!r.contains("pw2") && !r.contains("other") && r.contains("'nodelocal://1/x'") && r.ends_with("SELECT 'kept';"), "{r}");
        let r = text("BACKUP DATABASE shop TO 'nodelocal://1/x' WITH encryption_passphrase = hunter2");
        assert!(!r.contains("hunter2"), "{r}");
        let r = text("BACKUP DATABASE shop TO 'http://user:pa55@host/p' WITH oops");
        assert!(!r.contains("pa55"), "{r}");
    }

    #[test]
    fn an_unterminated_quote_hides_the_rest() {
        let r = text("BACKUP DATABASE shop TO 'nodelocal://1/x' WITH encryption_passphrase = 'half typed secr");
        assert!(!r.contains("secr") && r.starts_with("BACKUP DATABASE shop TO 'nodelocal://1/x'") && r.ends_with("'redacted'"), "{r}");
        let r = text("SELECT 1; SELECT 'x /* unterminated");
        assert!(r.starts_with("SELECT 1;") && !r.contains("unterminated"), "{r}");
    }
}
