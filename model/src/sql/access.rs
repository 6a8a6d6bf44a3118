//! Privilege checks and name lookups shared by every statement: the error texts here are the
//! ones users see (`user alice does not have SELECT privilege on relation t`). Pure functions of
//! a [`Catalog`] snapshot; nothing here reads or writes storage.

use super::error::SqlError;
use crate::catalog::{Catalog, DatabaseDescriptor, Privilege, TableDescriptor};

/// Fails unless `user` is an admin.
pub(crate) fn require_admin(cat: &Catalog, user: &str, action: &str) -> Result<(), SqlError> {
    if cat.is_admin(user) {
        Ok(())
    } else {
        Err(SqlError::AdminRequired { user: user.to_string(), action: action.to_string() })
    }
}

/// Fails unless `user` holds `privilege` on the relation.
pub(crate) fn require_on_table(cat: &Catalog, user: &str, t: &TableDescriptor, privilege: Privilege) -> Result<(), SqlError> {
    if cat.has_privilege(user, t.id, privilege) {
        Ok(())
    } else {
        Err(SqlError::PrivilegeDenied { user: user.to_string(), privilege, object_kind: "relation", object: t.name.clone() })
    }
}

/// Fails unless `user` holds `privilege` on the database.
pub(crate) fn require_on_database(cat: &Catalog, user: &str, d: &DatabaseDescriptor, privilege: Privilege) -> Result<(), SqlError> {
    if cat.has_privilege(user, d.id, privilege) {
        Ok(())
    } else {
        Err(SqlError::PrivilegeDenied { user: user.to_string(), privilege, object_kind: "database", object: d.name.clone() })
    }
}

/// True when `db.name` is `system.users`, the one system table SQL names ([`crate::catalog::users_table`]).
pub(crate) fn is_system_users(db: &str, name: &str) -> bool {
    db == crate::catalog::SYSTEM_DATABASE && name == crate::catalog::USERS_TABLE
}

/// Fails unless `user` may use `privilege` on `system.users`: admins only, as CockroachDB grants
/// the system tables to `admin` and `root` alone (the table lists every user and role).
pub(crate) fn require_on_system_users(cat: &Catalog, user: &str, privilege: Privilege) -> Result<(), SqlError> {
    if cat.is_admin(user) {
        Ok(())
    } else {
        Err(SqlError::PrivilegeDenied { user: user.to_string(), privilege, object_kind: "relation", object: crate::catalog::USERS_TABLE.to_string() })
    }
}

/// The database named `name`.
pub(crate) fn database<'c>(cat: &'c Catalog, name: &str) -> Result<&'c DatabaseDescriptor, SqlError> {
    match cat.database_by_name(name) {
        Some(d) if d.offline => Err(SqlError::Offline { kind: "database", name: name.to_string() }),
        Some(d) => Ok(d),
        None => Err(SqlError::UndefinedDatabase(name.to_string())),
    }
}

/// The public relation `db.name` (the database must exist).
pub(crate) fn relation<'c>(cat: &'c Catalog, db: &str, name: &str) -> Result<&'c TableDescriptor, SqlError> {
    database(cat, db)?;
    match cat.table_by_name(db, name) {
        Some(t) => Ok(t),
        None if cat.offline_table_by_name(db, name).is_some() => Err(SqlError::Offline { kind: "relation", name: name.to_string() }),
        None => Err(SqlError::UndefinedRelation(name.to_string())),
    }
}

/// The public plain table `db.name` (not a view or sequence).
pub(crate) fn table<'c>(cat: &'c Catalog, db: &str, name: &str) -> Result<&'c TableDescriptor, SqlError> {
    let t = relation(cat, db, name)?;
    if !t.is_table() {
        return Err(SqlError::Invalid(format!("\"{name}\" is not a table")));
    }
    Ok(t)
}
