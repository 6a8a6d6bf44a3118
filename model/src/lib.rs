//! The database being backed up: keys, HLC timestamps, spans, the MVCC store, the catalog, a
//! SQL subset and the KV API that BACKUP uses.
//!
//! `model` is the bottom of the dependency chain (`model ← backup ← sim ← scenarios`). It
//! never knows whether it runs in a simulation: time comes from whoever implements the KV API.

pub mod catalog;
pub mod datum;
pub mod encoding;
pub mod key;
pub mod kv;
pub mod local;
pub mod mvcc;
pub mod protected_ts;
pub mod sql;
pub mod timestamp;

pub use catalog::{Catalog, CatalogError, Descriptor, TableDescriptor};
pub use datum::Datum;
pub use key::{Key, Span};
pub use kv::{ClusterKv, ExportRequest, ExportResponse, Kv, KvError, NodeId, RangeId, RangeInfo, WriteOp};
pub use local::{Clock, LocalKv, ManualClock, SystemClock};
pub use mvcc::{Entry, Export, GcStats, Intent, MvccError, MvccFilter, MvccStore, TxnId, Value};
pub use sql::{ExecResult, Session, SqlError, TableRows};
pub use timestamp::{Timestamp, TimestampError};
