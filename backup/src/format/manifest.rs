//! The manifest, the file named `BACKUP`: everything a finished backup holds except the data
//! itself (times, spans, descriptors, the list of data files with their checksums, the backups it
//! builds on, cluster-wide records for a full cluster backup).
//!
//! The manifest is written last, once every data file is durable, so its presence is what makes
//! a backup complete. Field names and meanings follow CockroachDB's `BackupManifest` (see
//! `REFERENCE.md`); where this differs it says why. [`Manifest::validate`] states the invariants
//! a restore relies on, and [`Manifest::decode`] refuses a manifest that breaks them, so a
//! restore never plans from a self-contradicting manifest. [`Manifest::dump`] is a stable,
//! human-readable rendering for snapshots and debugging.
//!
//! What this module must never do: hold a secret (locations in `depends_on` and the targets
//! description are stored already redacted by the caller; user records hold no password
//! material), depend on hash-map order or addresses in anything it writes or prints, or panic on
//! any input.

use super::data::{DataFile, EntryCounts};
use super::envelope::{self, FileKind, FormatError, FORMAT_VERSION, LOCALITY_FORMAT_VERSION, MAX_READ_VERSION, MIN_READ_VERSION};
use model::catalog::{Descriptor, RoleMembership, UserRecord, ZoneConfig};
use model::{Catalog, MvccFilter, Span, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The manifest's file name (CockroachDB 20.1's; later versions call it `BACKUP_MANIFEST`).
pub const MANIFEST_NAME: &str = "BACKUP";
/// The progress file of a running backup; present without a manifest: an incomplete backup.
pub const CHECKPOINT_NAME: &str = "BACKUP-CHECKPOINT";
/// The encryption salt and key check, in the full backup's directory only
/// ([`crate::crypto::EncryptionInfo`]).
pub const ENCRYPTION_INFO_NAME: &str = "ENCRYPTION-INFO";

/// A descriptor as of one time, for revision-history backups: replaying the changes up to `T`
/// gives the descriptors at `T`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DescriptorChange {
    /// When the descriptor took this state.
    pub time: Timestamp,
    /// The descriptor's id.
    pub id: u32,
    /// The descriptor from `time` on; `None`: gone (dropped and removed) from `time` on.
    pub desc: Option<Descriptor>,
}

/// One data file of the backup, as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// The keys the file covers (the span its export was for).
    pub span: Span,
    /// Its path relative to the backup's directory.
    pub path: String,
    /// The file's checksum as written ([`envelope::file_checksum`]: the CRC-32 its envelope
    /// stores): checked before the file is trusted, so a valid file swapped for another valid
    /// file is still caught.
    pub checksum: u32,
    /// Number of entries (versions) in the file.
    pub entries: u64,
    /// Entries of primary indexes.
    pub rows: u64,
    /// Entries of secondary indexes.
    pub index_entries: u64,
    /// Key plus value bytes.
    pub data_size: u64,
    /// The start of the file's time window when it differs from the manifest's (a span
    /// introduced by an incremental is exported from time zero).
    pub start_time: Option<Timestamp>,
    /// The end of the file's time window when it differs from the manifest's.
    pub end_time: Option<Timestamp>,
    /// The locality (`region=us-west`) of the destination a locality-aware backup wrote the file
    /// to, one of the manifest's [`Manifest::partitions`]; `None`: the default destination,
    /// beside the manifest. Not in version 1's encoding: it travels in [`LocalityExtension`].
    #[serde(skip)]
    pub locality: Option<String>,
}

impl FileInfo {
    /// The record of `data`, written as `bytes` to `path` (relative to the backup's directory).
    pub fn new(path: impl Into<String>, data: &DataFile, bytes: &[u8]) -> FileInfo {
        let c = data.counts();
        FileInfo {
            span: data.span.clone(),
            path: path.into(),
            checksum: envelope::file_checksum(bytes),
            entries: data.entries.len() as u64,
            rows: c.rows,
            index_entries: c.index_entries,
            data_size: c.data_size,
            start_time: None,
            end_time: None,
            locality: None,
        }
    }

    /// The file's totals.
    pub fn counts(&self) -> EntryCounts {
        EntryCounts { rows: self.rows, index_entries: self.index_entries, data_size: self.data_size }
    }
}

/// What a full cluster backup carries besides descriptors: users and roles, role memberships
/// and zone configs (grants travel inside the descriptors' privileges). Together with the
/// descriptors this is exactly what [`Catalog::from_parts`] takes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterData {
    /// Users and roles (no password material exists to copy).
    pub users: Vec<UserRecord>,
    /// Who belongs to which role.
    pub role_memberships: Vec<RoleMembership>,
    /// Zone configs by descriptor id (0: the default zone).
    pub zones: Vec<(u32, ZoneConfig)>,
}

/// The `BACKUP` file. See the module doc; invariants in [`Manifest::validate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format version the manifest was written with; equal to its envelope's.
    pub format_version: u16,
    /// Unique id of this backup (CockroachDB's `ID`).
    pub backup_id: String,
    /// The cluster backed up: incrementals and restores refuse to mix clusters.
    pub cluster_id: String,
    /// Exclusive start of the time window: zero for a full backup, the previous backup's end
    /// time for an incremental.
    pub start_time: Timestamp,
    /// Inclusive end of the window: the time the backup is "as of".
    pub end_time: Timestamp,
    /// Latest values only, or every revision (`revision_history`).
    pub mvcc_filter: MvccFilter,
    /// The earliest time the revision history really covers (the GC threshold when it was
    /// taken); zero without revision history.
    pub revision_start_time: Timestamp,
    /// The key spans backed up, sorted and disjoint; each table whole.
    pub spans: Vec<Span>,
    /// Spans new since the previous backup, exported from time zero; empty for a full backup.
    pub introduced_spans: Vec<Span>,
    /// The descriptors as of `end_time`, ids unique.
    pub descriptors: Vec<Descriptor>,
    /// Databases backed up whole, so that tables created in them later belong to incrementals.
    pub complete_dbs: Vec<u32>,
    /// Revision history of descriptors, sorted by time then id; only with all revisions.
    pub descriptor_changes: Vec<DescriptorChange>,
    /// The data files, each within one span, pairwise disjoint.
    pub files: Vec<FileInfo>,
    /// Locations (redacted) of the backups this one builds on, oldest first; empty for a full
    /// backup. CockroachDB keeps the chain implicit (each start time equals the previous end
    /// time); recording it makes SHOW BACKUP and RESTORE able to say which backup is missing.
    pub depends_on: Vec<String>,
    /// Totals over all files.
    pub entry_counts: EntryCounts,
    /// A full cluster backup (`BACKUP TO ...` with no targets).
    pub is_full_cluster: bool,
    /// Users, role memberships and zones: present exactly when `is_full_cluster`.
    pub cluster_data: Option<ClusterData>,
    /// What was backed up, as the statement named it, secrets redacted.
    pub targets_description: String,
    /// A locality-aware backup's localities other than the default, in its statement's order:
    /// the `n`th (from 1) has its partition descriptor,
    /// [`crate::locality::partition_file_name`]`(n, locality)`, at the destination its files
    /// went to (CockroachDB's `PartitionDescriptorFilenames`). Empty for any other backup. Not in
    /// version 1's encoding: it travels in [`LocalityExtension`].
    #[serde(skip)]
    pub partitions: Vec<String>,
}

/// What format version 2 adds to a manifest or a checkpoint's plan: where a locality-aware
/// backup's files went. Encoded after version 1's payload (postcard concatenates a pair's
/// encodings), so version 1's schema is untouched and a backup with no localities is still
/// written, and read by older builds, as version 1.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LocalityExtension {
    /// [`Manifest::partitions`].
    pub partitions: Vec<String>,
    /// [`FileInfo::locality`] of each file, in the order of the files it goes with.
    pub file_localities: Vec<Option<String>>,
}

impl LocalityExtension {
    /// The extension of `partitions` and `files`, or `None` when they need none (version 1).
    pub(crate) fn of<'a>(partitions: &[String], files: impl Iterator<Item = &'a FileInfo>) -> Option<LocalityExtension> {
        let file_localities: Vec<Option<String>> = files.map(|f| f.locality.clone()).collect();
        if partitions.is_empty() && file_localities.iter().all(Option::is_none) {
            return None;
        }
        Some(LocalityExtension { partitions: partitions.to_vec(), file_localities })
    }

    /// Puts the localities back on `files`; refused when the counts disagree.
    pub(crate) fn apply<'a>(self, files: impl ExactSizeIterator<Item = &'a mut FileInfo>) -> Result<Vec<String>, ManifestError> {
        if files.len() != self.file_localities.len() {
            return Err(ManifestError::BadLocalities(format!("{} file localities for {} files", self.file_localities.len(), files.len())));
        }
        for (f, l) in files.zip(self.file_localities) {
            f.locality = l;
        }
        Ok(self.partitions)
    }
}

/// A broken invariant of a manifest or checkpoint. Each message says what is wrong and with
/// which value, for the operator and for the tests of the writer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The `format_version` field is not one this build reads.
    #[error("format version {0} is not one this build reads ({MIN_READ_VERSION} to {MAX_READ_VERSION})")]
    UnsupportedVersion(u16),
    /// A locality-aware backup's localities that do not add up: a file in a locality that is not
    /// one of the partitions, a partition listed twice or malformed, or localities in a
    /// version 1 manifest.
    #[error("invalid localities: {0}")]
    BadLocalities(String),
    /// The payload's `format_version` differs from the envelope's version.
    #[error("format version {field} disagrees with its envelope's version {envelope}")]
    VersionMismatch {
        /// The payload's field.
        field: u16,
        /// The envelope's.
        envelope: u16,
    },
    /// A required identifier is empty.
    #[error("{0} is empty")]
    MissingId(&'static str),
    /// The time window is empty or inverted.
    #[error("end time {end} is not after start time {start}")]
    BadWindow {
        /// Start time.
        start: Timestamp,
        /// End time.
        end: Timestamp,
    },
    /// A revision start time where there is no revision history, or after the end time.
    #[error("revision start time {revision_start} is invalid ({reason})")]
    BadRevisionStart {
        /// The value.
        revision_start: Timestamp,
        /// Why.
        reason: &'static str,
    },
    /// An empty span in a span list.
    #[error("{list} contain an empty span {span}")]
    EmptySpan {
        /// Which list.
        list: &'static str,
        /// The span.
        span: Span,
    },
    /// A span list not sorted or overlapping.
    #[error("{list} are not sorted and disjoint: {prev} then {next}")]
    SpansUnsorted {
        /// Which list.
        list: &'static str,
        /// The earlier span.
        prev: Span,
        /// The later span.
        next: Span,
    },
    /// A span (introduced, or completed in a checkpoint) outside the backup's spans.
    #[error("{list} contain {span}, which is not covered by the backup's spans")]
    NotCovered {
        /// Which list.
        list: &'static str,
        /// The span.
        span: Span,
    },
    /// A full backup with introduced spans.
    #[error("a full backup cannot have introduced spans")]
    FullWithIntroducedSpans,
    /// A full backup that depends on others, or an incremental that depends on none.
    #[error("{0}")]
    BadChain(&'static str),
    /// An empty location in `depends_on`.
    #[error("depends_on contains an empty location")]
    EmptyLocation,
    /// Two descriptors with one id.
    #[error("descriptor id {0} appears twice")]
    DuplicateDescriptor(u32),
    /// A complete database that is not a database descriptor of the backup (or repeated).
    #[error("complete database {0} is not a database descriptor of the backup, or is listed twice")]
    BadCompleteDb(u32),
    /// Descriptor changes in a backup without revision history.
    #[error("descriptor changes are recorded only with revision history")]
    ChangesWithoutHistory,
    /// A descriptor change out of order, outside the window, or for another id.
    #[error("descriptor change of id {id} at {time} is invalid ({reason})")]
    BadDescriptorChange {
        /// The changed id.
        id: u32,
        /// When.
        time: Timestamp,
        /// Why.
        reason: &'static str,
    },
    /// A file path that is empty, absolute, climbs out, has control characters or is one of the
    /// backup's own file names.
    #[error("file path {path:?} is invalid ({reason})")]
    BadFilePath {
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// Two files with one path.
    #[error("file path {0:?} is listed twice")]
    DuplicateFilePath(String),
    /// A file whose span is empty or not within one of the backup's spans.
    #[error("file {path:?} covers {span}, which is not within one of the backup's spans")]
    FileOutsideSpans {
        /// The file.
        path: String,
        /// Its span.
        span: Span,
    },
    /// Two files covering overlapping spans: some keys would be restored twice.
    #[error("files {a:?} and {b:?} cover overlapping spans")]
    FilesOverlap {
        /// One file.
        a: String,
        /// The other.
        b: String,
    },
    /// A file's own time window is empty or ends after the backup's.
    #[error("file {path:?} has an invalid time window ({start}, {end}]")]
    BadFileWindow {
        /// The file.
        path: String,
        /// Its effective start.
        start: Timestamp,
        /// Its effective end.
        end: Timestamp,
    },
    /// A file claims more rows and index entries than entries.
    #[error("file {path:?} counts {rows} rows and {index_entries} index entries in {entries} entries")]
    BadFileCounts {
        /// The file.
        path: String,
        /// Its entries.
        entries: u64,
        /// Its rows.
        rows: u64,
        /// Its index entries.
        index_entries: u64,
    },
    /// Totals that are not the sum of the files'.
    #[error("entry counts ({recorded}) are not the sum of the files' ({sum})")]
    CountsMismatch {
        /// The recorded totals.
        recorded: EntryCounts,
        /// The files' sum.
        sum: EntryCounts,
    },
    /// Cluster data without a full cluster backup, or the reverse.
    #[error("{0}")]
    BadClusterData(&'static str),
    /// A user, or a zone id, listed twice in the cluster data.
    #[error("cluster data lists {0} twice")]
    DuplicateClusterRecord(String),
    /// A checkpoint's plan already lists files; they belong in `completed`.
    #[error("a checkpoint's plan must list no files and zero counts (completed files are listed separately)")]
    PlanHasFiles,
    /// A span reported complete twice, or overlapping a completed span.
    #[error("span {0} overlaps a span already completed")]
    AlreadyCompleted(Span),
    /// A completed file outside the span it was recorded with.
    #[error("file {path:?} covers {file_span}, outside the completed span {span}")]
    FileOutsideCompleted {
        /// The file.
        path: String,
        /// Its span.
        file_span: Span,
        /// The span it was recorded with.
        span: Span,
    },
    /// A checkpoint turned into a manifest before every span was exported.
    #[error("backup incomplete: {} spans not yet exported, the first {}", .0.len(), .0.first().map(|s| s.to_string()).unwrap_or_default())]
    Incomplete(Vec<Span>),
}

impl Manifest {
    /// An empty manifest for the window `(start_time, end_time]` (zero start: a full backup),
    /// at the current format version. The caller fills spans, descriptors and the rest, and adds
    /// files with [`Manifest::add_file`].
    pub fn new(backup_id: impl Into<String>, cluster_id: impl Into<String>, start_time: Timestamp, end_time: Timestamp, mvcc_filter: MvccFilter) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            backup_id: backup_id.into(),
            cluster_id: cluster_id.into(),
            start_time,
            end_time,
            mvcc_filter,
            revision_start_time: Timestamp::ZERO,
            spans: Vec::new(),
            introduced_spans: Vec::new(),
            descriptors: Vec::new(),
            complete_dbs: Vec::new(),
            descriptor_changes: Vec::new(),
            files: Vec::new(),
            depends_on: Vec::new(),
            entry_counts: EntryCounts::default(),
            is_full_cluster: false,
            cluster_data: None,
            targets_description: String::new(),
            partitions: Vec::new(),
        }
    }

    /// True for a full backup (start time zero).
    pub fn is_full(&self) -> bool {
        self.start_time.is_zero()
    }

    /// Records a data file and adds its counts to the totals.
    pub fn add_file(&mut self, file: FileInfo) {
        self.entry_counts.add(&file.counts());
        self.files.push(file);
    }

    /// The time window `(start, end]` of a file's data: the manifest's, unless the file says
    /// otherwise.
    pub fn file_window(&self, file: &FileInfo) -> (Timestamp, Timestamp) {
        (file.start_time.unwrap_or(self.start_time), file.end_time.unwrap_or(self.end_time))
    }

    /// The backup's catalog as of its end time: its descriptors, plus users, memberships and
    /// zones for a full cluster backup; RESTORE runs its lookups and dependency checks on it.
    pub fn catalog(&self) -> Catalog {
        let cd = self.cluster_data.clone().unwrap_or_default();
        Catalog::from_parts(self.end_time, self.descriptors.clone(), cd.users, cd.role_memberships, cd.zones)
    }

    /// The format version this manifest is written in: [`LOCALITY_FORMAT_VERSION`] when it
    /// records localities, else [`FORMAT_VERSION`].
    pub fn needed_version(&self) -> u16 {
        if LocalityExtension::of(&self.partitions, self.files.iter()).is_some() {
            LOCALITY_FORMAT_VERSION
        } else {
            FORMAT_VERSION
        }
    }

    /// The manifest's bytes, in a [`FileKind::Manifest`] envelope of the version it needs
    /// ([`Manifest::needed_version`]; its `format_version` field says the same).
    pub fn encode(&self) -> Vec<u8> {
        match LocalityExtension::of(&self.partitions, self.files.iter()) {
            None => envelope::encode(FileKind::Manifest, &Manifest { format_version: FORMAT_VERSION, ..self.clone() }),
            Some(ext) => {
                let m = Manifest { format_version: LOCALITY_FORMAT_VERSION, ..self.clone() };
                envelope::encode_sized(FileKind::Manifest, LOCALITY_FORMAT_VERSION, &(&m, &ext), 0)
            }
        }
    }

    /// Reads a manifest of any version this build reads: envelope checks, then
    /// [`Manifest::validate`].
    pub fn decode(path: &str, bytes: &[u8]) -> Result<Manifest, FormatError> {
        let invalid = |e: ManifestError| FormatError::Invalid { path: path.into(), kind: FileKind::Manifest, reason: e.to_string() };
        let version = envelope::version_of(path, FileKind::Manifest, bytes)?;
        let m = match version {
            LOCALITY_FORMAT_VERSION => {
                let (mut m, ext): (Manifest, LocalityExtension) = envelope::decode(path, FileKind::Manifest, bytes)?;
                m.partitions = ext.apply(m.files.iter_mut()).map_err(invalid)?;
                m
            }
            _ => envelope::decode(path, FileKind::Manifest, bytes)?,
        };
        // The envelope's version was checked; the payload must agree with it (a disagreement is
        // a foreign or buggy writer).
        if m.format_version != version {
            return Err(invalid(ManifestError::VersionMismatch { field: m.format_version, envelope: version }));
        }
        m.validate().map_err(invalid)?;
        Ok(m)
    }

    /// Checks every invariant a restore relies on; the first broken one is the error.
    ///
    /// - a readable format version, non-empty backup and cluster ids;
    /// - `end_time > start_time`; a revision start time only with revision history, not after
    ///   the end time;
    /// - spans non-empty, sorted, disjoint; introduced spans likewise and covered by the spans,
    ///   and none in a full backup;
    /// - a full backup depends on nothing, an incremental on at least one backup;
    /// - descriptor ids unique; complete databases are database descriptors of the backup;
    /// - descriptor changes only with revision history, sorted by time then id, within
    ///   `[start_time, end_time]`, each descriptor carrying the change's id;
    /// - files: relative clean paths, unique; each span within one manifest span; pairwise
    ///   disjoint; own time windows non-empty and ending by `end_time`; rows plus index entries
    ///   at most entries; the totals equal the files' sum;
    /// - cluster data present exactly for a full cluster backup, users and zone ids unique.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !(MIN_READ_VERSION..=MAX_READ_VERSION).contains(&self.format_version) {
            return Err(ManifestError::UnsupportedVersion(self.format_version));
        }
        self.validate_plan()?;
        check_files(&self.spans, self.start_time, self.end_time, self.files.iter())?;
        check_file_localities(&self.partitions, self.files.iter())?;
        let mut sum = EntryCounts::default();
        for f in &self.files {
            sum.add(&f.counts());
        }
        if sum != self.entry_counts {
            return Err(ManifestError::CountsMismatch { recorded: self.entry_counts, sum });
        }
        Ok(())
    }

    /// Every check of [`Manifest::validate`] except those on files and totals: what a
    /// checkpoint's plan must satisfy.
    pub(crate) fn validate_plan(&self) -> Result<(), ManifestError> {
        check_partitions(&self.partitions)?;
        if self.backup_id.is_empty() {
            return Err(ManifestError::MissingId("backup id"));
        }
        if self.cluster_id.is_empty() {
            return Err(ManifestError::MissingId("cluster id"));
        }
        if self.end_time <= self.start_time {
            return Err(ManifestError::BadWindow { start: self.start_time, end: self.end_time });
        }
        if !self.revision_start_time.is_zero() {
            if self.mvcc_filter == MvccFilter::Latest {
                return Err(ManifestError::BadRevisionStart { revision_start: self.revision_start_time, reason: "no revision history" });
            }
            if self.revision_start_time > self.end_time {
                return Err(ManifestError::BadRevisionStart { revision_start: self.revision_start_time, reason: "after the end time" });
            }
        }
        check_spans("spans", &self.spans)?;
        check_spans("introduced spans", &self.introduced_spans)?;
        check_covered("introduced spans", &self.introduced_spans, &self.spans)?;
        if self.is_full() {
            if !self.introduced_spans.is_empty() {
                return Err(ManifestError::FullWithIntroducedSpans);
            }
            if !self.depends_on.is_empty() {
                return Err(ManifestError::BadChain("a full backup (start time zero) cannot depend on other backups"));
            }
        } else if self.depends_on.is_empty() {
            return Err(ManifestError::BadChain("an incremental backup must name the backups it builds on"));
        }
        if self.depends_on.iter().any(String::is_empty) {
            return Err(ManifestError::EmptyLocation);
        }
        let mut ids = BTreeSet::new();
        for d in &self.descriptors {
            if !ids.insert(d.id()) {
                return Err(ManifestError::DuplicateDescriptor(d.id()));
            }
        }
        let mut dbs = BTreeSet::new();
        for &id in &self.complete_dbs {
            let is_db = self.descriptors.iter().any(|d| d.id() == id && d.as_database().is_some());
            if !is_db || !dbs.insert(id) {
                return Err(ManifestError::BadCompleteDb(id));
            }
        }
        if !self.descriptor_changes.is_empty() && self.mvcc_filter == MvccFilter::Latest {
            return Err(ManifestError::ChangesWithoutHistory);
        }
        for (i, c) in self.descriptor_changes.iter().enumerate() {
            let bad = |reason| ManifestError::BadDescriptorChange { id: c.id, time: c.time, reason };
            if c.time < self.start_time || c.time > self.end_time {
                return Err(bad("outside the backup's time window"));
            }
            if c.desc.as_ref().is_some_and(|d| d.id() != c.id) {
                return Err(bad("the descriptor has another id"));
            }
            if let Some(prev) = i.checked_sub(1).and_then(|p| self.descriptor_changes.get(p)) {
                if (prev.time, prev.id) >= (c.time, c.id) {
                    return Err(bad("not after the previous change in (time, id) order"));
                }
            }
        }
        match (&self.cluster_data, self.is_full_cluster) {
            (None, true) => return Err(ManifestError::BadClusterData("a full cluster backup must carry cluster data")),
            (Some(_), false) => return Err(ManifestError::BadClusterData("only a full cluster backup carries cluster data")),
            (Some(cd), true) => {
                let mut users = BTreeSet::new();
                for u in &cd.users {
                    if !users.insert(u.name.as_str()) {
                        return Err(ManifestError::DuplicateClusterRecord(format!("user {:?}", u.name)));
                    }
                }
                let mut zones = BTreeSet::new();
                for (id, _) in &cd.zones {
                    if !zones.insert(*id) {
                        return Err(ManifestError::DuplicateClusterRecord(format!("zone {id}")));
                    }
                }
            }
            (None, false) => {}
        }
        Ok(())
    }
}

/// Spans non-empty, sorted, disjoint (touching is fine).
pub(crate) fn check_spans(list: &'static str, spans: &[Span]) -> Result<(), ManifestError> {
    if let Some(s) = spans.iter().find(|s| s.is_empty()) {
        return Err(ManifestError::EmptySpan { list, span: s.clone() });
    }
    for w in spans.windows(2) {
        if w[1].start < w[0].end {
            return Err(ManifestError::SpansUnsorted { list, prev: w[0].clone(), next: w[1].clone() });
        }
    }
    Ok(())
}

/// Every span of `inner` covered by the union of `outer`.
pub(crate) fn check_covered(list: &'static str, inner: &[Span], outer: &[Span]) -> Result<(), ManifestError> {
    match inner.iter().find(|s| !s.subtract(outer).is_empty()) {
        Some(s) => Err(ManifestError::NotCovered { list, span: s.clone() }),
        None => Ok(()),
    }
}

/// The manifest span (of sorted, disjoint `spans`) that wholly contains `span`, if any.
pub(crate) fn containing<'a>(spans: &'a [Span], span: &Span) -> Option<&'a Span> {
    let i = spans.partition_point(|s| s.start <= span.start);
    i.checked_sub(1).and_then(|i| spans.get(i)).filter(|s| !span.is_empty() && s.contains(span))
}

/// The checks on files shared by manifests and checkpoints: paths, spans, windows, counts.
pub(crate) fn check_files<'a>(spans: &[Span], start: Timestamp, end: Timestamp, files: impl Iterator<Item = &'a FileInfo>) -> Result<(), ManifestError> {
    let mut paths = BTreeSet::new();
    let mut by_span: Vec<&FileInfo> = Vec::new();
    for f in files {
        check_path(&f.path)?;
        if !paths.insert(f.path.as_str()) {
            return Err(ManifestError::DuplicateFilePath(f.path.clone()));
        }
        if containing(spans, &f.span).is_none() {
            return Err(ManifestError::FileOutsideSpans { path: f.path.clone(), span: f.span.clone() });
        }
        let (s, e) = (f.start_time.unwrap_or(start), f.end_time.unwrap_or(end));
        if e <= s || e > end {
            return Err(ManifestError::BadFileWindow { path: f.path.clone(), start: s, end: e });
        }
        if f.rows.saturating_add(f.index_entries) > f.entries {
            return Err(ManifestError::BadFileCounts { path: f.path.clone(), entries: f.entries, rows: f.rows, index_entries: f.index_entries });
        }
        by_span.push(f);
    }
    by_span.sort_by(|a, b| a.span.cmp(&b.span));
    for w in by_span.windows(2) {
        if w[0].span.overlaps(&w[1].span) {
            return Err(ManifestError::FilesOverlap { a: w[0].path.clone(), b: w[1].path.clone() });
        }
    }
    Ok(())
}

/// A locality-aware backup's partitions: distinct `key=value` tiers.
fn check_partitions(partitions: &[String]) -> Result<(), ManifestError> {
    let mut seen = BTreeSet::new();
    for p in partitions {
        let well_formed = p.split_once('=').is_some_and(|(k, v)| !k.is_empty() && !v.is_empty() && !v.contains('='));
        if !well_formed || !seen.insert(p.as_str()) {
            return Err(ManifestError::BadLocalities(format!("partition {p:?} is malformed or listed twice")));
        }
    }
    Ok(())
}

/// Each file's locality is one of the backup's partitions (or none: the default destination).
pub(crate) fn check_file_localities<'a>(partitions: &[String], files: impl Iterator<Item = &'a FileInfo>) -> Result<(), ManifestError> {
    for f in files {
        if let Some(l) = &f.locality {
            if !partitions.contains(l) {
                return Err(ManifestError::BadLocalities(format!("file {:?} is in locality {l:?}, which is not one of the backup's partitions", f.path)));
            }
        }
    }
    Ok(())
}

/// A data file path: relative to the backup's directory, `/`-separated, no empty, `.` or `..`
/// component (storage confines paths too; this refuses a manifest that even tries), no control
/// characters or backslashes, and not one of the backup's own file names.
fn check_path(path: &str) -> Result<(), ManifestError> {
    let bad = |reason| Err(ManifestError::BadFilePath { path: path.to_string(), reason });
    if path.is_empty() {
        return bad("empty");
    }
    if path.starts_with('/') {
        return bad("absolute");
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return bad("control character or backslash");
    }
    if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return bad("empty, '.' or '..' component");
    }
    if [MANIFEST_NAME, CHECKPOINT_NAME, ENCRYPTION_INFO_NAME].contains(&path) {
        return bad("reserved name");
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::format::data::tests::{row, sample, ts};
    use model::catalog::{
        Column, ColumnType, DatabaseDescriptor, DefaultExpr, DescriptorState, IndexDescriptor, Privilege, PrivilegeDescriptor, TableDescriptor, TableKind,
    };
    use model::encoding::table_span;
    use model::{Datum, Entry};
    use proptest::prelude::*;

    fn grants() -> PrivilegeDescriptor {
        let mut p = PrivilegeDescriptor::default();
        p.grant("admin", &[Privilege::All]);
        p.grant("maxroach", &[Privilege::Select, Privilege::Insert]);
        p
    }

    fn accounts() -> TableDescriptor {
        TableDescriptor {
            id: 52,
            name: "accounts".into(),
            parent_id: 50,
            kind: TableKind::Table,
            columns: vec![
                Column { id: 1, name: "id".into(), ty: ColumnType::Int, nullable: false, default: None, hidden: false },
                Column {
                    id: 2,
                    name: "balance".into(),
                    ty: ColumnType::Int,
                    nullable: true,
                    default: Some(DefaultExpr::Literal(Datum::Int(0))),
                    hidden: false,
                },
            ],
            primary_key: vec![1],
            indexes: vec![
                IndexDescriptor { id: 1, name: "primary".into(), column_ids: vec![1], unique: true },
                IndexDescriptor { id: 2, name: "accounts_balance_idx".into(), column_ids: vec![2], unique: false },
            ],
            foreign_keys: vec![],
            interleave_parent: None,
            state: DescriptorState::Public,
            privileges: grants(),
            next_column_id: 3,
            next_index_id: 3,
        }
    }

    /// A small, valid full backup of one table with one data file.
    pub(crate) fn sample_manifest() -> Manifest {
        let mut m = Manifest::new("b-1", "c-1", Timestamp::ZERO, Timestamp { wall: 1_585_000_000_000_000_000, logical: 2 }, MvccFilter::Latest);
        m.spans = vec![table_span(52)];
        m.descriptors =
            vec![Descriptor::Database(DatabaseDescriptor { id: 50, name: "bank".into(), privileges: grants(), offline: false }), Descriptor::Table(accounts())];
        m.complete_dbs = vec![50];
        m.targets_description = "DATABASE bank".into();
        let data = sample();
        let bytes = data.encode();
        m.add_file(FileInfo::new("data/n1-1.sst", &data, &bytes));
        m
    }

    fn sample_cluster_manifest() -> Manifest {
        let mut m = sample_manifest();
        m.is_full_cluster = true;
        m.targets_description = String::new();
        m.cluster_data = Some(ClusterData {
            users: vec![
                UserRecord { name: "admin".into(), is_role: true, has_password: false },
                UserRecord { name: "maxroach".into(), is_role: false, has_password: true },
            ],
            role_memberships: vec![RoleMembership { role: "admin".into(), member: "root".into(), is_admin: true }],
            zones: vec![(0, ZoneConfig { gc_ttl_seconds: 90_000 })],
        });
        m
    }

    #[test]
    fn round_trip() {
        for m in [sample_manifest(), sample_cluster_manifest()] {
            assert_eq!(m.validate(), Ok(()));
            assert_eq!(Manifest::decode("b/BACKUP", &m.encode()), Ok(m.clone()));
        }
    }

    #[test]
    fn dump_is_stable() {
        let expected = r#"format version: 1
backup id: b-1
cluster id: c-1
kind: full
start time: 0.0000000000
end time: 1585000000000000000.0000000002 (2020-03-23 21:46:40.000000 UTC)
mvcc filter: latest
revision start time: 0.0000000000
full cluster: no
targets: DATABASE bank
depends on: none
spans: 1
  [/Table/52, /Table/53)
introduced spans: none
descriptors: 2
  50 database bank
      grants: admin ALL; maxroach SELECT,INSERT
  52 table bank.accounts (public)
      column 1 id int NOT NULL
      column 2 balance int NULL DEFAULT 0
      primary key (id)
      unique index 1 primary (id)
      index 2 accounts_balance_idx (balance)
      next column id 3 next index id 3
      grants: admin ALL; maxroach SELECT,INSERT
complete databases: 1
  50 bank
descriptor changes: none
files: 1
  data/n1-1.sst [/Table/52, /Table/53) checksum=0x403cb0c1 entries=4 rows=3 index_entries=1 data_size=70
entry counts: rows=3 index_entries=1 data_size=70
cluster data: none
"#;
        let m = sample_manifest();
        assert_eq!(m.dump(), expected);
        // Identical after a round trip through bytes.
        assert_eq!(Manifest::decode("b", &m.encode()).unwrap().dump(), expected);
    }

    #[test]
    fn dump_of_cluster_data_and_hostile_strings() {
        let mut m = sample_cluster_manifest();
        m.targets_description = "evil\nfiles: 0".into();
        let d = m.dump();
        assert!(d.contains("targets: evil\\nfiles: 0\n"), "{d}");
        assert!(d.ends_with(
            "cluster data:\n  users: 2\n    role admin\n    user maxroach (password set)\n  role memberships: 1\n    root in admin with admin option\n  zones: 1\n    0: gc.ttlseconds=90000\n"
        ), "{d}");
    }

    #[test]
    fn encoding_is_pinned() {
        // The bytes are the file format. If a checksum here changes, the encoding of a data file
        // or manifest changed (a field added to `model`'s descriptors, say): old backups would
        // no longer decode, so FORMAT_VERSION must be bumped and the old decoder kept.
        let data = sample().encode();
        let manifest = sample_manifest().encode();
        assert_eq!((data.len(), envelope::file_checksum(&data)), (123, 0x403c_b0c1));
        assert_eq!((manifest.len(), envelope::file_checksum(&manifest)), (251, 0x5c79_199d));
    }

    fn refused(m: &Manifest) -> ManifestError {
        m.validate().expect_err("must be refused")
    }

    #[test]
    fn validate_refuses_broken_invariants() {
        let mut m = sample_manifest();
        m.end_time = Timestamp::ZERO;
        assert!(matches!(refused(&m), ManifestError::BadWindow { .. }));

        let mut m = sample_manifest();
        m.backup_id.clear();
        assert_eq!(refused(&m).to_string(), "backup id is empty");

        let mut m = sample_manifest();
        m.revision_start_time = ts(5);
        assert!(matches!(refused(&m), ManifestError::BadRevisionStart { .. }));

        let mut m = sample_manifest();
        m.spans = vec![table_span(53), table_span(52)];
        assert!(matches!(refused(&m), ManifestError::SpansUnsorted { .. }));

        let mut m = sample_manifest();
        m.spans = vec![table_span(52), Span::new(table_span(52).start, table_span(54).start)];
        assert!(matches!(refused(&m), ManifestError::SpansUnsorted { .. }));

        let mut m = sample_manifest();
        m.spans.push(Span::new(vec![9], vec![9]));
        assert!(matches!(refused(&m), ManifestError::EmptySpan { .. }));

        let mut m = sample_manifest();
        m.introduced_spans = vec![table_span(52)];
        assert_eq!(refused(&m), ManifestError::FullWithIntroducedSpans);

        let mut m = sample_manifest();
        m.start_time = ts(10);
        assert!(matches!(refused(&m), ManifestError::BadChain(_)));
        m.depends_on = vec!["nodelocal://1/b".into()];
        m.introduced_spans = vec![table_span(60)];
        assert!(matches!(refused(&m), ManifestError::NotCovered { .. }));
        m.introduced_spans = vec![table_span(52)];
        assert_eq!(m.validate(), Ok(()));

        let mut m = sample_manifest();
        m.depends_on = vec!["x".into()];
        assert!(matches!(refused(&m), ManifestError::BadChain(_)));

        let mut m = sample_manifest();
        m.descriptors.push(m.descriptors[0].clone());
        assert_eq!(refused(&m), ManifestError::DuplicateDescriptor(50));

        let mut m = sample_manifest();
        m.complete_dbs = vec![52];
        assert_eq!(refused(&m), ManifestError::BadCompleteDb(52));

        let mut m = sample_manifest();
        m.descriptor_changes = vec![DescriptorChange { time: ts(1), id: 50, desc: None }];
        assert_eq!(refused(&m), ManifestError::ChangesWithoutHistory);
        m.mvcc_filter = MvccFilter::AllRevisions;
        assert_eq!(m.validate(), Ok(()));
        m.descriptor_changes.push(DescriptorChange { time: ts(1), id: 50, desc: None });
        assert!(matches!(refused(&m), ManifestError::BadDescriptorChange { .. }));
        m.descriptor_changes[1] = DescriptorChange { time: ts(2), id: 52, desc: Some(m.descriptors[0].clone()) };
        assert!(matches!(refused(&m), ManifestError::BadDescriptorChange { .. }));

        let mut m = sample_manifest();
        m.files[0].span = table_span(53);
        assert!(matches!(refused(&m), ManifestError::FileOutsideSpans { .. }));

        let mut m = sample_manifest();
        let mut f = m.files[0].clone();
        f.path = "data/other.sst".into();
        m.add_file(f);
        assert!(matches!(refused(&m), ManifestError::FilesOverlap { .. }));

        let mut m = sample_manifest();
        let f = m.files[0].clone();
        m.add_file(f);
        assert!(matches!(refused(&m), ManifestError::DuplicateFilePath(_)));

        for p in ["", "/abs", "a/../b", "a//b", "BACKUP", "a\nb", "./a"] {
            let mut m = sample_manifest();
            m.files[0].path = p.into();
            assert!(matches!(refused(&m), ManifestError::BadFilePath { .. }), "{p:?}");
        }

        let mut m = sample_manifest();
        m.files[0].end_time = Some(m.end_time.next());
        assert!(matches!(refused(&m), ManifestError::BadFileWindow { .. }));

        let mut m = sample_manifest();
        m.files[0].rows = 100;
        assert!(matches!(refused(&m), ManifestError::BadFileCounts { .. }));

        let mut m = sample_manifest();
        m.entry_counts.rows += 1;
        assert!(matches!(refused(&m), ManifestError::CountsMismatch { .. }));

        let mut m = sample_manifest();
        m.is_full_cluster = true;
        assert!(matches!(refused(&m), ManifestError::BadClusterData(_)));

        let mut m = sample_cluster_manifest();
        m.cluster_data.as_mut().unwrap().zones.push((0, ZoneConfig { gc_ttl_seconds: 1 }));
        assert_eq!(refused(&m).to_string(), "cluster data lists zone 0 twice");

        let mut m = sample_manifest();
        m.format_version = MAX_READ_VERSION + 1;
        assert!(matches!(refused(&m), ManifestError::UnsupportedVersion(_)));
    }

    #[test]
    fn decode_refuses_an_invalid_manifest_naming_the_file() {
        let mut m = sample_manifest();
        m.files[0].span = table_span(53);
        let e = Manifest::decode("b/BACKUP", &envelope::encode(FileKind::Manifest, &m)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "b/BACKUP: invalid manifest: file \"data/n1-1.sst\" covers [/Table/53, /Table/54), which is not within one of the backup's spans"
        );
        let mut m = sample_manifest();
        m.format_version = 2;
        let e = Manifest::decode("b/BACKUP", &envelope::encode(FileKind::Manifest, &m)).unwrap_err();
        assert_eq!(e.to_string(), "b/BACKUP: invalid manifest: format version 2 disagrees with its envelope's version 1");
    }

    /// A locality-aware manifest is written as version 2 and reads back with every file's
    /// locality; the same manifest without localities is still version 1, byte for byte what
    /// version 1's schema gives; a version 2 payload whose extension does not match its files is
    /// refused.
    #[test]
    fn a_locality_aware_manifest_is_version_2_and_round_trips() {
        let plain = sample_manifest();
        assert_eq!(plain.needed_version(), 1);
        assert_eq!(plain.encode(), envelope::encode(FileKind::Manifest, &plain), "no localities: version 1 as before");
        let mut m = sample_manifest();
        m.partitions = vec!["region=us-west".into(), "zone=b".into()];
        m.files[0].locality = Some("region=us-west".into());
        assert_eq!(m.needed_version(), LOCALITY_FORMAT_VERSION);
        let bytes = m.encode();
        assert_eq!(u16::from_le_bytes([bytes[9], bytes[10]]), LOCALITY_FORMAT_VERSION);
        let back = Manifest::decode("b/BACKUP", &bytes).unwrap();
        assert_eq!(back.partitions, m.partitions);
        assert_eq!(back.files[0].locality.as_deref(), Some("region=us-west"));
        assert!(back.dump().contains("locality=region=us-west"), "{}", back.dump());
        let mut stray = m.clone();
        stray.files[0].locality = Some("region=elsewhere".into());
        let e = Manifest::decode("b/BACKUP", &stray.encode()).unwrap_err();
        assert!(e.to_string().contains("not one of the backup's partitions"), "{e}");
        let short = LocalityExtension { partitions: m.partitions.clone(), file_localities: Vec::new() };
        let v2 = Manifest { format_version: LOCALITY_FORMAT_VERSION, ..m.clone() };
        let e = Manifest::decode("b/BACKUP", &envelope::encode_version(FileKind::Manifest, LOCALITY_FORMAT_VERSION, &(&v2, &short))).unwrap_err();
        assert!(e.to_string().contains("0 file localities for 1 files"), "{e}");
        // A version 1 envelope around a payload that claims version 2 is refused as before.
        let e = Manifest::decode("b/BACKUP", &envelope::encode(FileKind::Manifest, &v2)).unwrap_err();
        assert!(e.to_string().contains("format version 2 disagrees with its envelope's version 1"), "{e}");
    }

    #[test]
    fn newer_version_and_wrong_kind_are_refused() {
        let m = sample_manifest();
        let e = Manifest::decode("b/BACKUP", &envelope::encode_version(FileKind::Manifest, MAX_READ_VERSION + 1, &m)).unwrap_err();
        assert!(matches!(e, FormatError::UnsupportedVersion { .. }), "{e}");
        let e = Manifest::decode("b/BACKUP", &sample().encode()).unwrap_err();
        assert_eq!(e.to_string(), "b/BACKUP: is a data file, expected a manifest");
        let e = DataFile::decode("b/1.sst", &m.encode()).unwrap_err();
        assert_eq!(e.to_string(), "b/1.sst: is a manifest, expected a data file");
    }

    #[test]
    fn foreign_files_are_refused_naming_the_path() {
        for bytes in [&b""[..], b"{\"backup_id\": \"x\"}", b"BACKUP", &[0x89, b'B'], &[7u8; 64]] {
            let e = Manifest::decode("s3/bucket/BACKUP", bytes).unwrap_err();
            assert!(e.to_string().starts_with("s3/bucket/BACKUP: "), "{e}");
            assert!(matches!(e, FormatError::NotBackupFile { .. } | FormatError::Truncated { .. }), "{e}");
        }
    }

    #[test]
    fn every_flipped_bit_and_truncation_is_detected() {
        let bytes = sample_cluster_manifest().encode();
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(Manifest::decode("b/BACKUP", &b).is_err(), "bit {bit}");
        }
        for len in 0..bytes.len() {
            assert!(matches!(Manifest::decode("b/BACKUP", &bytes[..len]), Err(FormatError::Truncated { .. })), "len {len}");
        }
    }

    #[test]
    fn catalog_carries_cluster_data() {
        let c = sample_cluster_manifest().catalog();
        assert_eq!(c.table(52).map(|t| t.name.as_str()), Some("accounts"));
        assert!(c.user("maxroach").is_some());
        assert!(c.is_admin("root"));
        assert_eq!(c.zone(0), Some(&ZoneConfig { gc_ttl_seconds: 90_000 }));
    }

    proptest! {
        #[test]
        fn any_flip_of_a_larger_manifest_is_detected(pos in any::<prop::sample::Index>(), bit in 0u8..8, n in 1usize..20) {
            let mut m = sample_manifest();
            m.files.clear();
            m.entry_counts = EntryCounts::default();
            for i in 0..n {
                let k0 = row(52, 1, 10 * i as i64);
                let span = Span::new(k0.clone(), row(52, 1, 10 * i as i64 + 10));
                let data = DataFile::new(span, vec![Entry { key: k0, ts: ts(1), value: Some(vec![i as u8]) }]).unwrap();
                m.add_file(FileInfo::new(format!("data/{i}.sst"), &data, &data.encode()));
            }
            let bytes = m.encode();
            prop_assert_eq!(Manifest::decode("b", &bytes), Ok(m));
            let mut b = bytes.clone();
            b[pos.index(bytes.len())] ^= 1 << bit;
            prop_assert!(Manifest::decode("b", &b).is_err());
        }
    }
}
