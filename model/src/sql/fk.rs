//! Foreign-key enforcement, run at the end of each writing statement against the transaction's
//! own view (so multi-row and self-referencing statements are judged on their final state).
//!
//! Outgoing: a written row's referencing values must exist in the referenced table. Incoming: a
//! removed or changed row's referenced values must not be used by any row of a referencing
//! table, unless another row still provides them. Reads only; never writes.

use super::error::SqlError;
use super::rows::{self, Row};
use super::txn::Txn;
use crate::catalog::{Catalog, TableDescriptor};
use crate::datum::Datum;
use std::collections::BTreeMap;

/// Checks the foreign keys of `desc` for rows it just wrote.
pub(crate) async fn check_outgoing(txn: &Txn, cat: &Catalog, desc: &TableDescriptor, written: &[Row], op: &str) -> Result<(), SqlError> {
    for fk in &desc.foreign_keys {
        let parent = if fk.referenced_table_id == desc.id {
            desc
        } else {
            match cat.table(fk.referenced_table_id).filter(|t| t.is_public()) {
                Some(p) => p,
                None => return Err(SqlError::ForeignKeyViolation(format!("foreign key \"{}\" references a table that no longer exists", fk.name))),
            }
        };
        for row in written {
            let vals = rows::cols(desc, row, &fk.column_ids);
            if vals.iter().any(Datum::is_null) {
                continue;
            }
            if !rows::exists_with(txn, parent, &fk.referenced_column_ids, &vals).await? {
                return Err(SqlError::ForeignKeyViolation(format!(
                    "{op} on table \"{}\" violates foreign key constraint \"{}\": key {} is not present in table \"{}\"",
                    desc.name,
                    fk.name,
                    rows::describe_key(desc, &fk.column_ids, &vals),
                    parent.name
                )));
            }
        }
    }
    Ok(())
}

/// Checks that rows of `desc` that were deleted or changed are no longer referenced.
pub(crate) async fn check_incoming(txn: &Txn, cat: &Catalog, desc: &TableDescriptor, removed: &[Row], op: &str) -> Result<(), SqlError> {
    if removed.is_empty() {
        return Ok(());
    }
    let mut child_rows: BTreeMap<u32, Vec<Row>> = BTreeMap::new();
    for child in cat.all_tables().into_iter().filter(|t| t.is_public()) {
        // The descriptor being written may be newer than the snapshot's copy of itself.
        let child = if child.id == desc.id { desc } else { child };
        for fk in child.foreign_keys.iter().filter(|fk| fk.referenced_table_id == desc.id) {
            for old in removed {
                let vals = rows::cols(desc, old, &fk.referenced_column_ids);
                if vals.iter().any(Datum::is_null) || rows::exists_with(txn, desc, &fk.referenced_column_ids, &vals).await? {
                    continue;
                }
                // The scan is awaited, so the entry API (which wants the value first, and would
                // scan every time) does not fit.
                #[allow(clippy::map_entry)]
                if !child_rows.contains_key(&child.id) {
                    child_rows.insert(child.id, rows::scan_txn(txn, child).await?);
                }
                let used = child_rows.get(&child.id).is_some_and(|rs| rs.iter().any(|r| rows::cols(child, r, &fk.column_ids) == vals));
                if used {
                    return Err(SqlError::ForeignKeyViolation(format!(
                        "{op} on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\": key {} is still referenced from table \"{}\"",
                        desc.name,
                        fk.name,
                        child.name,
                        rows::describe_key(desc, &fk.referenced_column_ids, &vals),
                        child.name
                    )));
                }
            }
        }
    }
    Ok(())
}
