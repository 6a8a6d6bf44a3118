//! `system.users` as a SQL table: the descriptor SQL and BACKUP name it by, and the row each
//! user record reads as. The records of [`super::system`] stay the one truth: `SELECT … FROM
//! system.users` reads them, `INSERT INTO system.users` writes them, and `BACKUP TABLE
//! system.users` exports their span as it is, so a restore reads the same records back.
//!
//! The columns are CockroachDB v20.x's, `username`, `"hashedPassword"`, `"isRole"`, so that its
//! documented procedure (restore the table into another database, then `INSERT INTO
//! system.users SELECT * FROM newdb.users`) and queries written for it run unchanged. What
//! differs is `"hashedPassword"`: the model keeps no password material at all, not even a hash
//! (so backups, traces and snapshots can never carry one), only whether a password was set. The
//! column says exactly that: BOOL, `true` when a password was set and NULL when none was (NULL
//! as in CockroachDB, where a user without a password has a NULL hash), never a value that
//! looks like a hash.
//!
//! The system database and this table are not in the catalog's descriptors (SHOW DATABASES, a
//! cluster backup and every descriptor scan stay as they were); the callers that resolve
//! `system.users` by name add them ([`super::Catalog::with_system_tables`]). Nothing here reads
//! or writes storage.

use super::descriptor::{Column, ColumnType, DatabaseDescriptor, DefaultExpr, DescriptorState, IndexDescriptor, TableDescriptor, TableKind};
use super::privilege::{PrivilegeDescriptor, UserRecord};
use super::system::SYSTEM_USERS_TABLE_ID;
use crate::datum::Datum;
use crate::encoding::PRIMARY_INDEX_ID;

/// The system database's descriptor id (CockroachDB's `keys.SystemDatabaseID`).
pub const SYSTEM_DATABASE_ID: u32 = 1;
/// The system database's name.
pub const SYSTEM_DATABASE: &str = "system";
/// The users table's name inside it.
pub const USERS_TABLE: &str = "users";
/// The users table's columns, in row order.
pub const USERS_COLUMNS: [&str; 3] = ["username", "hashedPassword", "isRole"];

/// The system database, as a backup of one of its tables records it.
pub fn system_database() -> DatabaseDescriptor {
    DatabaseDescriptor { id: SYSTEM_DATABASE_ID, name: SYSTEM_DATABASE.into(), privileges: PrivilegeDescriptor::default_for_new_object(), offline: false }
}

/// `system.users`: primary key `username`; its keys are exactly the user records' keys
/// ([`super::user_key`]), so its span is the records' span.
pub fn users_table() -> TableDescriptor {
    let column = |id: u32, ty: ColumnType, nullable: bool, default: Option<DefaultExpr>| Column {
        id,
        name: USERS_COLUMNS[id as usize - 1].to_string(),
        ty,
        nullable,
        default,
        hidden: false,
    };
    TableDescriptor {
        id: SYSTEM_USERS_TABLE_ID,
        name: USERS_TABLE.into(),
        parent_id: SYSTEM_DATABASE_ID,
        kind: TableKind::Table,
        columns: vec![
            column(1, ColumnType::String, false, None),
            column(2, ColumnType::Bool, true, None),
            column(3, ColumnType::Bool, false, Some(DefaultExpr::Literal(Datum::Bool(false)))),
        ],
        primary_key: vec![1],
        indexes: vec![IndexDescriptor { id: PRIMARY_INDEX_ID, name: "primary".into(), column_ids: vec![1], unique: true }],
        foreign_keys: Vec::new(),
        interleave_parent: None,
        state: DescriptorState::Public,
        privileges: PrivilegeDescriptor::default_for_new_object(),
        next_column_id: 4,
        next_index_id: 2,
    }
}

/// A user record as a row of [`users_table`].
pub fn user_row(u: &UserRecord) -> Vec<Datum> {
    let password = if u.has_password { Datum::Bool(true) } else { Datum::Null };
    vec![Datum::String(u.name.clone()), password, Datum::Bool(u.is_role)]
}

/// The user record a row of [`users_table`]'s shape stands for (a row already checked against
/// the column types: STRING, BOOL, BOOL). `Err` says why it names no user: an empty or missing
/// name, a missing `isRole`.
pub fn user_from_row(row: &[Datum]) -> Result<UserRecord, String> {
    let name = match row.first() {
        Some(Datum::String(s)) if !s.is_empty() => s.clone(),
        Some(Datum::String(_)) => return Err("username cannot be empty".into()),
        Some(Datum::Null) | None => return Err("null value in column \"username\" violates not-null constraint".into()),
        Some(other) => return Err(format!("username must be a string, not {other}")),
    };
    let has_password = match row.get(1) {
        Some(Datum::Bool(b)) => *b,
        Some(Datum::Null) | None => false,
        Some(other) => return Err(format!("hashedPassword must be a bool, not {other}")),
    };
    let is_role = match row.get(2) {
        Some(Datum::Bool(b)) => *b,
        Some(Datum::Null) | None => return Err("null value in column \"isRole\" violates not-null constraint".into()),
        Some(other) => return Err(format!("isRole must be a bool, not {other}")),
    };
    Ok(UserRecord { name, is_role, has_password })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_as_a_row_and_back_without_password_material() {
        for u in
            [UserRecord { name: "alice".into(), is_role: false, has_password: true }, UserRecord { name: "readers".into(), is_role: true, has_password: false }]
        {
            let row = user_row(&u);
            assert_eq!(row.len(), users_table().columns.len());
            for (c, d) in users_table().columns.iter().zip(&row) {
                assert!(c.ty.admits(d), "{} holds {d}", c.name);
            }
            assert_eq!(user_from_row(&row), Ok(u));
        }
        assert_eq!(user_row(&UserRecord { name: "a".into(), is_role: false, has_password: false })[1], Datum::Null);
    }

    #[test]
    fn rows_that_name_no_user_are_refused() {
        assert!(user_from_row(&[Datum::String(String::new()), Datum::Null, Datum::Bool(false)]).unwrap_err().contains("empty"));
        assert!(user_from_row(&[Datum::Null, Datum::Null, Datum::Bool(false)]).unwrap_err().contains("username"));
        assert!(user_from_row(&[Datum::String("a".into()), Datum::Null, Datum::Null]).unwrap_err().contains("isRole"));
        // `false` is no password, as NULL is.
        assert!(!user_from_row(&[Datum::String("a".into()), Datum::Bool(false), Datum::Bool(false)]).unwrap().has_password);
    }

    #[test]
    fn the_tables_keys_are_the_user_records_keys() {
        let t = users_table();
        assert_eq!(t.span(), crate::encoding::table_span(SYSTEM_USERS_TABLE_ID));
        assert!(t.span().contains_key(&super::super::user_key("alice")));
        assert_eq!(crate::encoding::encode_index_key(t.id, PRIMARY_INDEX_ID, &[Datum::String("alice".into())]), super::super::user_key("alice"));
    }
}
