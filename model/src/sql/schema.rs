//! Helpers shared by the schema-changing statements: descriptor id allocation and descriptor
//! writes into the statement's transaction. Never commits.

use super::txn::Txn;
use crate::catalog::{self, Catalog, DatabaseDescriptor, Descriptor, TableDescriptor};
use crate::kv::WriteOp;

/// Hands out descriptor ids for one statement and records the generator's new value.
pub(crate) struct IdAlloc {
    next: u32,
    used: bool,
}

impl IdAlloc {
    pub fn new(cat: &Catalog) -> Self {
        IdAlloc { next: cat.next_descriptor_id(), used: false }
    }

    pub fn next(&mut self) -> u32 {
        let id = self.next;
        self.next = self.next.saturating_add(1);
        self.used = true;
        id
    }

    /// Writes the generator (only if an id was handed out).
    pub fn finish(self, txn: &mut Txn) {
        if self.used {
            apply(txn, catalog::descriptor_id_gen_write(self.next));
        }
    }
}

/// Buffers a `WriteOp` in the transaction.
pub(crate) fn apply(txn: &mut Txn, w: WriteOp) {
    match w {
        WriteOp::Put(k, v) => txn.put(k, v),
        WriteOp::Delete(k) => txn.delete(k),
    }
}

pub(crate) fn put_table(txn: &mut Txn, t: &TableDescriptor) {
    apply(txn, catalog::descriptor_write(&Descriptor::Table(t.clone())));
}

pub(crate) fn put_database(txn: &mut Txn, d: &DatabaseDescriptor) {
    apply(txn, catalog::descriptor_write(&Descriptor::Database(d.clone())));
}
