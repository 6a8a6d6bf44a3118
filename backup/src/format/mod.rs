//! Every file BACKUP writes, as bytes: data files, the `BACKUP` manifest and the
//! `BACKUP-CHECKPOINT` progress file, each wrapped in one versioned, checksummed envelope.
//!
//! - [`envelope`]: the frame shared by all files (magic, kind, version, length, payload,
//!   CRC-32) and the one error type, [`FormatError`], whose every message names the file.
//! - [`data`]: [`DataFile`], the sorted MVCC entries of one exported span.
//! - [`manifest`]: [`Manifest`], what a finished backup holds, its invariants and its
//!   human-readable [`Manifest::dump`].
//! - [`checkpoint`]: [`Checkpoint`], the progress of a running backup job.
//! - [`partition`]: [`partition::PartitionDescriptor`], which files of a locality-aware backup
//!   one locality's destination holds.
//!
//! What this module must never do: perform I/O (callers read and write bytes through
//! `ExternalStorage`), encrypt (encryption, [`crate::crypto`], wraps these bytes from
//! outside), hold or print a secret, panic on any input, or hand back a value from a file that failed any check: a
//! corrupted, truncated, foreign or too-new file is always a [`FormatError`], never a silent
//! wrong restore.

pub mod checkpoint;
pub mod data;
pub mod envelope;
pub mod manifest;
mod manifest_dump;
pub mod partition;

pub use checkpoint::Checkpoint;
pub use data::{DataFile, DataFileError, EntryCounts};
pub use envelope::{
    decode, encode, file_checksum, peek_kind, FileKind, FormatError, FORMAT_VERSION, LOCALITY_FORMAT_VERSION, MAGIC, MAX_READ_VERSION, MIN_READ_VERSION,
};
pub use manifest::{ClusterData, DescriptorChange, FileInfo, Manifest, ManifestError, CHECKPOINT_NAME, ENCRYPTION_INFO_NAME, MANIFEST_NAME};
