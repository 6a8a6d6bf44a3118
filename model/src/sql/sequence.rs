//! Sequences during one statement: their values are loaded before evaluation, handed out by
//! `nextval`, and written back into the statement's transaction at the end.
//!
//! Deviation from CockroachDB, on purpose: `nextval` is transactional here (its increment
//! commits or aborts with the statement), so every write of a statement shares one commit
//! timestamp that the test bed's oracle can record. A sequence is never written outside the
//! statement's own transaction.

use super::access;
use super::error::SqlError;
use super::expr::NextVal;
use super::names;
use super::txn::Txn;
use crate::catalog::{sequence_value_key, Catalog, Privilege, TableKind};
use crate::datum::Datum;
use crate::encoding;
use std::collections::BTreeMap;

#[derive(Debug)]
struct SeqState {
    start: i64,
    increment: i64,
    last: Option<i64>,
    dirty: bool,
}

/// The sequences one statement may call `nextval` on.
#[derive(Debug, Default)]
pub(crate) struct Sequences {
    by_name: BTreeMap<Vec<String>, u32>,
    state: BTreeMap<u32, SeqState>,
}

impl Sequences {
    /// Loads the sequences named in `nextval('...')` calls, resolved against `db`.
    pub async fn load_names(&mut self, txn: &Txn, cat: &Catalog, user: &str, db: &str, names: &[Vec<String>]) -> Result<(), SqlError> {
        for n in names {
            let (d, s) = names::relation(n, db)?;
            let t = access::relation(cat, &d, &s)?;
            if !t.is_sequence() {
                return Err(SqlError::Invalid(format!("\"{s}\" is not a sequence")));
            }
            self.by_name.insert(n.clone(), t.id);
            self.load_id(txn, cat, user, t.id).await?;
        }
        Ok(())
    }

    /// Loads the sequence with this descriptor id (a column default's).
    pub async fn load_id(&mut self, txn: &Txn, cat: &Catalog, user: &str, id: u32) -> Result<(), SqlError> {
        if self.state.contains_key(&id) {
            return Ok(());
        }
        let t = cat.table(id).filter(|t| t.is_public()).ok_or_else(|| SqlError::UndefinedRelation(format!("[{id}]")))?;
        let TableKind::Sequence { start, increment } = t.kind else {
            return Err(SqlError::Invalid(format!("\"{}\" is not a sequence", t.name)));
        };
        access::require_on_table(cat, user, t, Privilege::Update)?;
        let key = sequence_value_key(id);
        let last = match txn.get(&key).await? {
            None => None,
            Some(v) => match encoding::decode_value(&v).map_err(|e| SqlError::Corrupt { key: key.to_string(), reason: e.to_string() })?.as_slice() {
                [Datum::Int(i)] => Some(*i),
                _ => return Err(SqlError::Corrupt { key: key.to_string(), reason: "sequence value is not one integer".into() }),
            },
        };
        self.state.insert(id, SeqState { start, increment, last, dirty: false });
        Ok(())
    }

    /// The next value of sequence `id` (which must have been loaded).
    pub fn next(&mut self, id: u32) -> Result<i64, SqlError> {
        let s = self.state.get_mut(&id).ok_or_else(|| SqlError::Invalid(format!("sequence [{id}] was not loaded")))?;
        let v = match s.last {
            None => s.start,
            Some(l) => l.checked_add(s.increment).ok_or_else(|| SqlError::Invalid("nextval: reached maximum value of sequence".into()))?,
        };
        s.last = Some(v);
        s.dirty = true;
        Ok(v)
    }

    /// Writes every advanced sequence's value into the transaction.
    pub fn flush(self, txn: &mut Txn) {
        for (id, s) in self.state {
            if let (true, Some(v)) = (s.dirty, s.last) {
                txn.put(sequence_value_key(id), encoding::encode_value(&[Datum::Int(v)]));
            }
        }
    }
}

impl NextVal for Sequences {
    fn nextval(&mut self, name: &[String]) -> Result<i64, SqlError> {
        let id = *self.by_name.get(name).ok_or_else(|| SqlError::Invalid(format!("sequence {} was not loaded", name.join("."))))?;
        self.next(id)
    }
}
