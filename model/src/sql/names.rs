//! Name handling: identifier case folding and resolution of (database, relation) names against
//! the session's current database. Never touches storage.

use super::error::SqlError;
use sqlparser::ast::{Ident, ObjectName};

/// An identifier as CockroachDB stores it: lower-cased unless quoted.
pub(crate) fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// The parts of a dotted name, case-folded.
pub(crate) fn parts(n: &ObjectName) -> Result<Vec<String>, SqlError> {
    n.0.iter().map(|p| p.as_ident().map(ident).ok_or_else(|| SqlError::Unsupported(format!("name {n}")))).collect()
}

/// A relation name resolved to (database, relation): `t`, `db.t`, `public.t`, `db.public.t`.
pub(crate) fn relation(parts: &[String], current_db: &str) -> Result<(String, String), SqlError> {
    match parts {
        [t] => Ok((current_db.to_string(), t.clone())),
        [s, t] if s == "public" => Ok((current_db.to_string(), t.clone())),
        [d, t] => Ok((d.clone(), t.clone())),
        [d, s, t] if s == "public" => Ok((d.clone(), t.clone())),
        _ => Err(SqlError::Unsupported(format!("relation name {}", parts.join(".")))),
    }
}

/// [`relation`] on an AST name.
pub(crate) fn relation_of(n: &ObjectName, current_db: &str) -> Result<(String, String), SqlError> {
    relation(&parts(n)?, current_db)
}

/// A single-part name (database, user).
pub(crate) fn single(n: &ObjectName) -> Result<String, SqlError> {
    match parts(n)?.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(SqlError::Invalid(format!("invalid name {n}: expected a single identifier"))),
    }
}

/// A name given inside a string (`nextval('db.seq')`): split at dots, case-folded.
pub(crate) fn from_string(s: &str) -> Vec<String> {
    s.split('.').map(|p| p.trim().to_lowercase()).collect()
}
