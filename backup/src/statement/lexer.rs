//! Turns statement text into significant tokens with positions, using sqlparser's
//! `Tokenizer` (PostgreSQL dialect, the closest to CockroachDB's). Whitespace and comments are
//! dropped, and so is a backslash that ends a line: the reference page shows statements with
//! shell-style `\` line continuations, and they must parse as printed.
//!
//! Never builds tokens by slicing text, and never copies tokenizer messages that could carry
//! a piece of the input into an error.

use super::{ParseError, ParseErrorKind};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

/// One significant token and where it starts.
#[derive(Clone, Debug)]
pub(super) struct Tok {
    pub token: Token,
    pub line: u64,
    pub column: u64,
}

/// A statement's significant tokens and the position just after the last one.
#[derive(Clone, Debug)]
pub(super) struct Lexed {
    pub toks: Vec<Tok>,
    pub end: (u64, u64),
}

fn is_ws(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_) | Token::EOF)
}

fn is_newline(t: &Token) -> bool {
    matches!(t, Token::Whitespace(Whitespace::Newline))
}

fn is_blank(t: &Token) -> bool {
    matches!(t, Token::Whitespace(Whitespace::Space | Whitespace::Tab))
}

/// Tokenizes `sql` into significant tokens.
pub(super) fn lex(sql: &str) -> Result<Lexed, ParseError> {
    let raw = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location().map_err(|e| ParseError {
        kind: ParseErrorKind::Syntax,
        // sqlparser's messages sometimes quote a character of the input after a colon; keep
        // only the fixed part.
        message: e.message.split(':').next().unwrap_or("invalid token").trim().to_string(),
        line: e.location.line.max(1),
        column: e.location.column.max(1),
        near: String::new(),
    })?;
    let end = raw.iter().rev().find(|t| !matches!(t.token, Token::EOF)).map(|t| (t.span.end.line.max(1), t.span.end.column.max(1))).unwrap_or((1, 1));
    let mut toks = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let t: &TokenWithSpan = &raw[i];
        if is_ws(&t.token) {
            i += 1;
            continue;
        }
        if t.token == Token::Backslash {
            let mut j = i + 1;
            while j < raw.len() && is_blank(&raw[j].token) {
                j += 1;
            }
            if j < raw.len() && is_newline(&raw[j].token) {
                i = j + 1;
                continue;
            }
            return Err(ParseError {
                kind: ParseErrorKind::Syntax,
                message: "a backslash is accepted only at the end of a line, as a line continuation".into(),
                line: t.span.start.line,
                column: t.span.start.column,
                near: "\\".into(),
            });
        }
        toks.push(Tok { token: t.token.clone(), line: t.span.start.line, column: t.span.start.column });
        i += 1;
    }
    Ok(Lexed { toks, end })
}

/// The first `n` significant tokens of `sql` that are unquoted words, upper-cased, stopping
/// at the first other token. Tolerates a tokenizer error later in the text.
pub(super) fn leading_words(sql: &str, n: usize) -> Vec<String> {
    let mut buf = Vec::new();
    // An error only truncates `buf`: the leading tokens are what matter here.
    let _ = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location_into_buf(&mut buf);
    let mut out = Vec::new();
    for t in buf.iter().filter(|t| !is_ws(&t.token) && t.token != Token::Backslash) {
        if out.len() == n {
            break;
        }
        match &t.token {
            Token::Word(w) if w.quote_style.is_none() => out.push(w.value.to_ascii_uppercase()),
            _ => break,
        }
    }
    out
}
