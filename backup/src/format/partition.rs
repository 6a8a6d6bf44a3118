//! The partition descriptor, `BACKUP_PART_<n>_<locality>`: what a locality-aware backup writes
//! at each locality's destination beside the data files it sent there (CockroachDB's
//! `BackupPartitionDescriptor`). The manifest, at the default destination, lists the partitions;
//! RESTORE and SHOW BACKUP look for each one's descriptor among the URLs they were given, so
//! that they find a locality's files wherever its directory has been moved to, and refuse,
//! naming the locality, a list that lacks one.
//!
//! What this module must never do: perform I/O, hold a secret, or panic on any input.

use super::envelope::{self, FileKind, FormatError, LOCALITY_FORMAT_VERSION};
use serde::{Deserialize, Serialize};

/// One locality's part of a locality-aware backup. See the module doc.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionDescriptor {
    /// The backup it belongs to (its manifest's `backup_id`): a descriptor of another backup
    /// found at a URL is refused, not taken for this one's.
    pub backup_id: String,
    /// The locality tier whose nodes wrote here (`region=us-west`).
    pub locality: String,
    /// The data files written here, relative to this destination.
    pub files: Vec<String>,
}

impl PartitionDescriptor {
    /// The descriptor's bytes, in a [`FileKind::Partition`] envelope of version 2 (the kind
    /// exists from that version on).
    pub fn encode(&self) -> Vec<u8> {
        envelope::encode_sized(FileKind::Partition, LOCALITY_FORMAT_VERSION, self, 0)
    }

    /// Reads a descriptor: envelope checks, then a non-empty backup id and locality.
    pub fn decode(path: &str, bytes: &[u8]) -> Result<PartitionDescriptor, FormatError> {
        let d: PartitionDescriptor = envelope::decode(path, FileKind::Partition, bytes)?;
        if d.backup_id.is_empty() || d.locality.is_empty() {
            return Err(FormatError::Invalid { path: path.into(), kind: FileKind::Partition, reason: "empty backup id or locality".into() });
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_round_trips_and_damage_is_refused() {
        let d = PartitionDescriptor { backup_id: "b-1".into(), locality: "region=us-west".into(), files: vec!["data/1/a.sst".into()] };
        let bytes = d.encode();
        assert_eq!(PartitionDescriptor::decode("p", &bytes), Ok(d.clone()));
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(PartitionDescriptor::decode("p", &bad).is_err());
        let empty = PartitionDescriptor { locality: String::new(), ..d };
        assert!(PartitionDescriptor::decode("p", &empty.encode()).unwrap_err().to_string().contains("empty backup id or locality"));
    }
}
