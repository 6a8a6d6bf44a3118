//! How rows and index entries become keys and values.
//!
//! Every key of a table starts with `table_id` then `index_id` (4 bytes each, big-endian), so a
//! table with all its indexes is the single span [`table_span`], and an index is a sub-span.
//! Index columns follow in an order-preserving encoding, so byte order is SQL order. The primary
//! index (id 1) maps primary-key columns to the other columns' values; a secondary index maps its
//! columns plus the primary key to an empty value. System tables (ids below
//! [`FIRST_USER_TABLE_ID`]) use the same layout, which is why descriptors are MVCC data.
//!
//! Decoding never panics: malformed bytes give [`DecodeError`].

use crate::datum::Datum;
use crate::key::{Key, Span};

/// Table ids below this are system tables (descriptors, users, zones, jobs...).
pub const FIRST_USER_TABLE_ID: u32 = 50;
/// The primary index of every table.
pub const PRIMARY_INDEX_ID: u32 = 1;

const TAG_NULL: u8 = 0x00;
const TAG_FALSE: u8 = 0x01;
const TAG_TRUE: u8 = 0x02;
const TAG_INT: u8 = 0x03;
const TAG_FLOAT: u8 = 0x04;
const TAG_STRING: u8 = 0x05;
const TAG_BYTES: u8 = 0x06;
const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xff;
const TERMINATOR: u8 = 0x01;

/// A key or value that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes ended in the middle of an item.
    #[error("truncated encoding at byte {0}")]
    Truncated(usize),
    /// An unknown type tag.
    #[error("unknown datum tag 0x{tag:02x} at byte {at}")]
    BadTag { tag: u8, at: usize },
    /// A string that is not UTF-8.
    #[error("string datum is not valid UTF-8")]
    BadUtf8,
    /// An escape byte followed by something other than an escaped zero or the terminator.
    #[error("bad escape sequence at byte {0}")]
    BadEscape(usize),
}

/// The key prefix of an index of a table.
pub fn index_prefix(table_id: u32, index_id: u32) -> Key {
    let mut v = Vec::with_capacity(8);
    v.extend_from_slice(&table_id.to_be_bytes());
    v.extend_from_slice(&index_id.to_be_bytes());
    Key(v)
}

/// The span of a whole table, all indexes included.
pub fn table_span(table_id: u32) -> Span {
    Span::new(table_id.to_be_bytes().to_vec(), (table_id as u64 + 1).min(u32::MAX as u64).to_be_bytes()[4..].to_vec())
}

/// The span of one index of a table.
pub fn index_span(table_id: u32, index_id: u32) -> Span {
    Span::prefix(&index_prefix(table_id, index_id))
}

/// The table id a key belongs to, if it has one.
pub fn table_of(key: &Key) -> Option<u32> {
    key.0.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
}

/// The (table, index) a key belongs to, if it has both.
pub fn index_of(key: &Key) -> Option<(u32, u32)> {
    let t = table_of(key)?;
    let i = key.0.get(4..8).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))?;
    Some((t, i))
}

/// The key of an index entry: prefix, then each datum in order-preserving form.
pub fn encode_index_key(table_id: u32, index_id: u32, datums: &[Datum]) -> Key {
    let mut k = index_prefix(table_id, index_id).0;
    for d in datums {
        encode_datum(&mut k, d);
    }
    Key(k)
}

/// The datums after the (table, index) prefix of a key.
pub fn decode_index_key(key: &Key) -> Result<(u32, u32, Vec<Datum>), DecodeError> {
    let (t, i) = index_of(key).ok_or(DecodeError::Truncated(key.0.len()))?;
    let datums = decode_datums(&key.0[8..])?;
    Ok((t, i, datums))
}

/// A row value: the datums of the non-key columns, in column order.
pub fn encode_value(datums: &[Datum]) -> Vec<u8> {
    let mut v = Vec::new();
    for d in datums {
        encode_datum(&mut v, d);
    }
    v
}

/// The inverse of [`encode_value`].
pub fn decode_value(bytes: &[u8]) -> Result<Vec<Datum>, DecodeError> {
    decode_datums(bytes)
}

/// Appends the order-preserving encoding of one datum.
pub fn encode_datum(out: &mut Vec<u8>, d: &Datum) {
    match d {
        Datum::Null => out.push(TAG_NULL),
        Datum::Bool(false) => out.push(TAG_FALSE),
        Datum::Bool(true) => out.push(TAG_TRUE),
        Datum::Int(i) => {
            out.push(TAG_INT);
            out.extend_from_slice(&((*i as u64) ^ (1 << 63)).to_be_bytes());
        }
        Datum::Float(f) => {
            out.push(TAG_FLOAT);
            let bits = f.to_bits();
            let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Datum::String(s) => {
            out.push(TAG_STRING);
            escape_into(out, s.as_bytes());
        }
        Datum::Bytes(b) => {
            out.push(TAG_BYTES);
            escape_into(out, b);
        }
    }
}

fn escape_into(out: &mut Vec<u8>, b: &[u8]) {
    for &byte in b {
        out.push(byte);
        if byte == ESCAPE {
            out.push(ESCAPED_ZERO);
        }
    }
    out.push(ESCAPE);
    out.push(TERMINATOR);
}

/// Decodes a sequence of datums filling all of `b`.
pub fn decode_datums(b: &[u8]) -> Result<Vec<Datum>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let (d, next) = decode_datum(b, at)?;
        out.push(d);
        at = next;
    }
    Ok(out)
}

fn decode_datum(b: &[u8], at: usize) -> Result<(Datum, usize), DecodeError> {
    let tag = b[at];
    let body = at + 1;
    let fixed8 = |b: &[u8]| -> Result<u64, DecodeError> {
        b.get(body..body + 8).map(|s| u64::from_be_bytes(s.try_into().expect("8 bytes"))).ok_or(DecodeError::Truncated(b.len()))
    };
    match tag {
        TAG_NULL => Ok((Datum::Null, body)),
        TAG_FALSE => Ok((Datum::Bool(false), body)),
        TAG_TRUE => Ok((Datum::Bool(true), body)),
        TAG_INT => Ok((Datum::Int((fixed8(b)? ^ (1 << 63)) as i64), body + 8)),
        TAG_FLOAT => {
            let o = fixed8(b)?;
            let bits = if o >> 63 == 1 { o & !(1 << 63) } else { !o };
            Ok((Datum::Float(f64::from_bits(bits)), body + 8))
        }
        TAG_STRING | TAG_BYTES => {
            let (raw, next) = unescape(b, body)?;
            if tag == TAG_STRING {
                Ok((Datum::String(String::from_utf8(raw).map_err(|_| DecodeError::BadUtf8)?), next))
            } else {
                Ok((Datum::Bytes(raw), next))
            }
        }
        other => Err(DecodeError::BadTag { tag: other, at }),
    }
}

fn unescape(b: &[u8], mut at: usize) -> Result<(Vec<u8>, usize), DecodeError> {
    let mut out = Vec::new();
    loop {
        let byte = *b.get(at).ok_or(DecodeError::Truncated(b.len()))?;
        if byte != ESCAPE {
            out.push(byte);
            at += 1;
            continue;
        }
        match b.get(at + 1) {
            Some(&ESCAPED_ZERO) => {
                out.push(0);
                at += 2;
            }
            Some(&TERMINATOR) => return Ok((out, at + 2)),
            Some(_) => return Err(DecodeError::BadEscape(at)),
            None => return Err(DecodeError::Truncated(b.len())),
        }
    }
}

/// A readable form of a key (`/Table/53/1/5/'abc'`), falling back to hex for foreign bytes.
pub fn pretty_key(key: &Key) -> String {
    if key.0.is_empty() {
        return "/Min".to_string();
    }
    if key.0.len() < 4 || (key.0.len() > 4 && key.0.len() < 8) {
        return hex(&key.0);
    }
    let t = table_of(key).expect("length checked");
    if key.0.len() == 4 {
        return format!("/Table/{t}");
    }
    let (_, i) = index_of(key).expect("length checked");
    match decode_datums(&key.0[8..]) {
        Ok(ds) => {
            let mut s = format!("/Table/{t}/{i}");
            for d in ds {
                s.push('/');
                s.push_str(&d.to_string());
            }
            s
        }
        Err(_) => format!("/Table/{t}/{i}/{}", hex(&key.0[8..])),
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for byte in b {
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

// A key prints decoded (`/Table/53/1/7`): how to decode it is this module's knowledge, so its
// `Debug` and `Display` live here rather than in `key` (which would then import this module).
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", pretty_key(self))
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", pretty_key(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_datums() {
        let vals = [
            Datum::Null,
            Datum::Int(i64::MIN),
            Datum::Int(-1),
            Datum::Int(0),
            Datum::Int(7),
            Datum::String(String::new()),
            Datum::String("a\0b".into()),
            Datum::String("ab".into()),
        ];
        let keys: Vec<Key> = vals.iter().map(|d| encode_index_key(53, 1, std::slice::from_ref(d))).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        for (k, d) in keys.iter().zip(&vals) {
            assert_eq!(decode_index_key(k).unwrap(), (53, 1, vec![d.clone()]));
        }
    }

    #[test]
    fn table_span_holds_its_indexes_only() {
        let span = table_span(53);
        assert!(span.contains_key(&encode_index_key(53, 2, &[Datum::Int(1)])));
        assert!(!span.contains_key(&encode_index_key(54, 1, &[])));
        assert!(!span.contains_key(&encode_index_key(52, 9, &[])));
        assert_eq!(pretty_key(&encode_index_key(53, 1, &[Datum::Int(5), Datum::String("x".into())])), "/Table/53/1/5/'x'");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_datums(&[TAG_INT, 1, 2]).is_err());
        assert!(decode_datums(&[0x77]).is_err());
        assert!(decode_datums(&[TAG_STRING, b'a', 0, 7]).is_err());
        assert!(decode_datums(&[TAG_STRING, b'a']).is_err());
    }
}
