//! The catalog: descriptors of databases, tables, views and sequences, users and roles, grants
//! and zone configs, all stored as MVCC data in system keyspace.
//!
//! Holds the descriptor types (complete and self-contained, so BACKUP can put them into
//! manifests), the system keyspace layout, the [`Catalog`] snapshot reader with the dependency
//! rules BACKUP checks, and [`bootstrap`]. It never interprets SQL and never writes except in
//! [`bootstrap`]; callers build writes with the `*_write` functions and commit them themselves.

mod bootstrap;
mod descriptor;
mod error;
mod privilege;
mod snapshot;
mod system;
mod users_table;

pub use bootstrap::{bootstrap, bootstrap_writes};
pub use descriptor::{
    Column, ColumnType, DatabaseDescriptor, DefaultExpr, Descriptor, DescriptorState, ForeignKey, IndexDescriptor, TableDescriptor, TableKind,
};
pub use error::CatalogError;
pub use privilege::{Privilege, PrivilegeDescriptor, RoleMembership, UserPrivileges, UserRecord, ZoneConfig};
pub use snapshot::{Catalog, Dependency, DependencyReason};
pub use system::*;
pub use users_table::{system_database, user_from_row, user_row, users_table, SYSTEM_DATABASE, SYSTEM_DATABASE_ID, USERS_COLUMNS, USERS_TABLE};
