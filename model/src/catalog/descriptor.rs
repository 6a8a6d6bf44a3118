//! Descriptors: the complete, self-contained description of every database, table, view and
//! sequence, as stored (JSON) in the descriptors system table and copied into BACKUP manifests.
//!
//! Everything a restore needs to recreate an object is in its descriptor: columns and their
//! types and defaults, the primary key and secondary indexes, foreign keys, view queries, the
//! interleave parent and the privileges. Nothing here reads or writes the KV store, and nothing
//! here may panic on a descriptor that came from outside (a manifest, a corrupted value).

use super::privilege::PrivilegeDescriptor;
use crate::datum::Datum;
use crate::encoding::{self, PRIMARY_INDEX_ID};
use crate::key::Span;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The column types of the SQL subset. One per [`Datum`] variant, so a value's type is checkable
/// without any context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ColumnType {
    /// 64-bit signed integer (INT, INT8, INTEGER, BIGINT, SERIAL).
    Int,
    /// 64-bit float (FLOAT, REAL, DOUBLE PRECISION).
    Float,
    /// BOOL / BOOLEAN.
    Bool,
    /// STRING / TEXT / VARCHAR.
    String,
    /// BYTES / BYTEA.
    Bytes,
}

impl ColumnType {
    /// True when `d` is a value of this type (NULL belongs to every type; nullability is the
    /// column's business).
    pub fn admits(&self, d: &Datum) -> bool {
        matches!(
            (self, d),
            (_, Datum::Null)
                | (ColumnType::Int, Datum::Int(_))
                | (ColumnType::Float, Datum::Float(_))
                | (ColumnType::Bool, Datum::Bool(_))
                | (ColumnType::String, Datum::String(_))
                | (ColumnType::Bytes, Datum::Bytes(_))
        )
    }

    /// The name CockroachDB prints for the type, so error texts read like CockroachDB's.
    pub fn sql_name(&self) -> &'static str {
        match self {
            ColumnType::Int => "int",
            ColumnType::Float => "float",
            ColumnType::Bool => "bool",
            ColumnType::String => "string",
            ColumnType::Bytes => "bytes",
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql_name())
    }
}

/// A column's default: kept as data, not SQL text, so BACKUP's planner sees which sequence a
/// column depends on without parsing anything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DefaultExpr {
    /// A constant value.
    Literal(Datum),
    /// `nextval` of the sequence with this descriptor id.
    Nextval(u32),
    /// `unique_rowid()`: the hidden `rowid` column and SERIAL columns.
    UniqueRowId,
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Stable id within the table; never reused, so row values stay decodable across
    /// ADD / DROP COLUMN (row values are keyed by column id).
    pub id: u32,
    /// The column name (case-folded unless it was quoted).
    pub name: String,
    /// The type every stored value must have.
    pub ty: ColumnType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Filled in when an INSERT does not name the column.
    pub default: Option<DefaultExpr>,
    /// Hidden from `SELECT *` (the implicit `rowid` primary key).
    pub hidden: bool,
}

/// An index. The primary index (id 1) holds the rows; secondary ones map their columns plus the
/// primary key to an empty value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDescriptor {
    /// Index id within the table: 1 is the primary index.
    pub id: u32,
    /// Index name (`primary` for the primary index).
    pub name: String,
    /// Indexed columns, in key order.
    pub column_ids: Vec<u32>,
    /// Whether two rows may share the indexed values (NULLs never conflict).
    pub unique: bool,
}

/// A foreign key from this table's columns to another (or the same) table's columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// Constraint name, used in violation errors.
    pub name: String,
    /// The referencing columns of this table.
    pub column_ids: Vec<u32>,
    /// The referenced table's descriptor id.
    pub referenced_table_id: u32,
    /// The referenced columns (its primary key or a unique index), matched positionally.
    pub referenced_column_ids: Vec<u32>,
}

/// What kind of relation a [`TableDescriptor`] describes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableKind {
    /// A table with rows.
    Table,
    /// A view: its query (names unqualified when they are in the view's own database) and the
    /// ids of the relations it selects from.
    View {
        /// The SELECT the view runs, as SQL text.
        query: String,
        /// Descriptor ids the query selects from.
        depends_on: Vec<u32>,
    },
    /// A sequence; its current value is stored at [`super::sequence_value_key`].
    Sequence {
        /// The first value `nextval` returns.
        start: i64,
        /// The step between values.
        increment: i64,
    },
}

/// Whether a descriptor is in use or dropped (kept until its data is garbage-collected, so that
/// BACKUP with revision history and `AS OF SYSTEM TIME` reads still see it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DescriptorState {
    /// Visible by name.
    Public,
    /// Dropped: invisible by name, its rows tombstoned.
    Dropped,
    /// Being restored: its name is taken, but nothing may read or write it until the RESTORE
    /// that created it publishes it (or removes it, if the restore fails or is canceled).
    Offline,
}

/// A database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatabaseDescriptor {
    /// Descriptor id (shares the id space with tables).
    pub id: u32,
    /// Database name.
    pub name: String,
    /// Who may do what in it.
    pub privileges: PrivilegeDescriptor,
    /// Being restored (see [`DescriptorState::Offline`]). Never serialized with the
    /// descriptor: a backup's manifest holds only public databases in a fixed binary layout
    /// that this flag must not change. The catalog stores it beside the descriptor instead
    /// ([`super::encode_descriptor`]).
    #[serde(skip)]
    pub offline: bool,
}

/// A table, view or sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableDescriptor {
    /// Descriptor id; also the table id of its keys (always >= `FIRST_USER_TABLE_ID`).
    pub id: u32,
    /// Relation name, unique among the public relations of its database.
    pub name: String,
    /// The database it belongs to.
    pub parent_id: u32,
    /// Table, view or sequence.
    pub kind: TableKind,
    /// Columns in declaration order (rows are this order too).
    pub columns: Vec<Column>,
    /// Column ids of the primary key, in key order.
    pub primary_key: Vec<u32>,
    /// All indexes, the primary index (id 1) first.
    pub indexes: Vec<IndexDescriptor>,
    /// Outgoing foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// `INTERLEAVE IN PARENT`: the parent table id (recorded; rows stay in the table's span).
    pub interleave_parent: Option<u32>,
    /// Public or dropped.
    pub state: DescriptorState,
    /// Who may do what with it.
    pub privileges: PrivilegeDescriptor,
    /// Next column id to hand out (ids are never reused).
    pub next_column_id: u32,
    /// Next index id to hand out (ids are never reused).
    pub next_index_id: u32,
}

impl TableDescriptor {
    /// A public relation with no columns or indexes yet (views and sequences keep it so).
    pub fn empty(id: u32, name: String, parent_id: u32, kind: TableKind, privileges: PrivilegeDescriptor) -> Self {
        TableDescriptor {
            id,
            name,
            parent_id,
            kind,
            columns: Vec::new(),
            primary_key: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            interleave_parent: None,
            state: DescriptorState::Public,
            privileges,
            next_column_id: 1,
            next_index_id: 1,
        }
    }

    /// The key span of the relation's data (all indexes; a sequence's value).
    pub fn span(&self) -> Span {
        encoding::table_span(self.id)
    }

    /// True for a plain table.
    pub fn is_table(&self) -> bool {
        matches!(self.kind, TableKind::Table)
    }

    /// True for a view.
    pub fn is_view(&self) -> bool {
        matches!(self.kind, TableKind::View { .. })
    }

    /// True for a sequence.
    pub fn is_sequence(&self) -> bool {
        matches!(self.kind, TableKind::Sequence { .. })
    }

    /// True unless dropped or offline.
    pub fn is_public(&self) -> bool {
        self.state == DescriptorState::Public
    }

    /// True while a RESTORE is creating it.
    pub fn is_offline(&self) -> bool {
        self.state == DescriptorState::Offline
    }

    /// The word CockroachDB uses for this kind in messages ("table", "view", "sequence").
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            TableKind::Table => "table",
            TableKind::View { .. } => "view",
            TableKind::Sequence { .. } => "sequence",
        }
    }

    /// The column with this id.
    pub fn column(&self, id: u32) -> Option<&Column> {
        self.columns.iter().find(|c| c.id == id)
    }

    /// The column with this (already case-folded) name.
    pub fn column_by_name(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Position of a column id in [`Self::columns`] (= position in a decoded row).
    pub fn column_position(&self, id: u32) -> Option<usize> {
        self.columns.iter().position(|c| c.id == id)
    }

    /// The primary index.
    pub fn primary_index(&self) -> Option<&IndexDescriptor> {
        self.indexes.iter().find(|i| i.id == PRIMARY_INDEX_ID)
    }

    /// Secondary indexes in id order.
    pub fn secondary_indexes(&self) -> impl Iterator<Item = &IndexDescriptor> {
        self.indexes.iter().filter(|i| i.id != PRIMARY_INDEX_ID)
    }

    /// The index with this name.
    pub fn index_by_name(&self, name: &str) -> Option<&IndexDescriptor> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// Sequence ids used by column defaults.
    pub fn sequences_used(&self) -> Vec<(u32, &str)> {
        self.columns
            .iter()
            .filter_map(|c| match c.default {
                Some(DefaultExpr::Nextval(id)) => Some((id, c.name.as_str())),
                _ => None,
            })
            .collect()
    }
}

/// Any descriptor, as stored under one id in the descriptors table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Descriptor {
    /// A database.
    Database(DatabaseDescriptor),
    /// A table, view or sequence.
    Table(TableDescriptor),
}

impl Descriptor {
    /// The descriptor id.
    pub fn id(&self) -> u32 {
        match self {
            Descriptor::Database(d) => d.id,
            Descriptor::Table(t) => t.id,
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        match self {
            Descriptor::Database(d) => &d.name,
            Descriptor::Table(t) => &t.name,
        }
    }

    /// The privileges granted on it.
    pub fn privileges(&self) -> &PrivilegeDescriptor {
        match self {
            Descriptor::Database(d) => &d.privileges,
            Descriptor::Table(t) => &t.privileges,
        }
    }

    /// The database descriptor, if this is one.
    pub fn as_database(&self) -> Option<&DatabaseDescriptor> {
        match self {
            Descriptor::Database(d) => Some(d),
            Descriptor::Table(_) => None,
        }
    }

    /// The table descriptor, if this is one.
    pub fn as_table(&self) -> Option<&TableDescriptor> {
        match self {
            Descriptor::Table(t) => Some(t),
            Descriptor::Database(_) => None,
        }
    }
}
