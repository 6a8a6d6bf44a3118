//! When typed or piped input holds a whole statement to run: at a `;` that ends the input so far
//! outside any quote or comment (so `'a;b'` or `-- x;` does not end a statement, and a `;`
//! followed only by a comment does).

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// True when `text` ends a statement: its last token, comments and whitespace aside, is a `;`.
/// Text inside an unterminated quote or comment is never complete; text the tokenizer refuses
/// for another reason is complete if it ends with `;`, so that running it reports the error.
pub fn is_complete(text: &str) -> bool {
    match Tokenizer::new(&PostgreSqlDialect {}, text).tokenize() {
        Ok(tokens) => tokens.iter().rev().find(|t| !matches!(t, Token::Whitespace(_))) == Some(&Token::SemiColon),
        Err(e) if e.message.contains("Unterminated") || e.message.contains("EOF") => false,
        Err(_) => text.trim_end().ends_with(';'),
    }
}

#[cfg(test)]
mod tests {
    use super::is_complete;

    #[test]
    fn a_statement_ends_at_a_semicolon_outside_quotes_and_comments() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1;  -- done\n"));
        assert!(is_complete("SELECT 'a;b';"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT 'a;"));
        assert!(!is_complete("SELECT 1 -- not yet;"));
        assert!(!is_complete("SELECT 1 /* still ; open"));
        assert!(!is_complete(""));
        assert!(is_complete("SELECT 1; SELECT 2;"));
    }
}
