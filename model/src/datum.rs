//! SQL values as stored in rows and index entries.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// One SQL value. The variants are the column types the SQL subset supports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Datum {
    /// SQL NULL.
    Null,
    /// BOOL.
    Bool(bool),
    /// INT (64-bit).
    Int(i64),
    /// FLOAT (64-bit).
    Float(f64),
    /// STRING / TEXT.
    String(String),
    /// BYTES.
    Bytes(Vec<u8>),
}

impl Datum {
    /// Ordering rank of the variant, so values of different types still sort deterministically.
    fn rank(&self) -> u8 {
        match self {
            Datum::Null => 0,
            Datum::Bool(_) => 1,
            Datum::Int(_) => 2,
            Datum::Float(_) => 3,
            Datum::String(_) => 4,
            Datum::Bytes(_) => 5,
        }
    }

    /// True for NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }
}

impl PartialEq for Datum {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Datum {}
impl PartialOrd for Datum {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Datum {
    /// The same order as the key encoding: NULL first, then by value (floats by total order).
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Datum::Bool(a), Datum::Bool(b)) => a.cmp(b),
            (Datum::Int(a), Datum::Int(b)) => a.cmp(b),
            (Datum::Float(a), Datum::Float(b)) => a.total_cmp(b),
            (Datum::String(a), Datum::String(b)) => a.cmp(b),
            (Datum::Bytes(a), Datum::Bytes(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl fmt::Display for Datum {
    /// SQL literal syntax, as the shell and diffs print values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Null => write!(f, "NULL"),
            Datum::Bool(b) => write!(f, "{b}"),
            Datum::Int(i) => write!(f, "{i}"),
            Datum::Float(x) => write!(f, "{x:?}"),
            Datum::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Datum::Bytes(b) => {
                write!(f, "b'")?;
                for byte in b {
                    write!(f, "\\x{byte:02x}")?;
                }
                write!(f, "'")
            }
        }
    }
}
