//! The checkpoint, the file named `BACKUP-CHECKPOINT`: the progress of a running backup job,
//! so that a job resumed elsewhere (another node adopting it after its coordinator died) knows
//! exactly which spans are done and exports only the rest.
//!
//! A [`Checkpoint`] is the planned manifest (times, spans, descriptors, everything but files)
//! plus the files written so far and the spans whose export finished. Spans are recorded
//! explicitly, not derived from files, because a span with no data in the window completes
//! without a file; deriving would re-export it, and worse, could not tell "done, empty" from
//! "not started". Its envelope kind differs from the manifest's, so a destination holding only
//! a checkpoint reads as an incomplete backup, never as a finished one.
//!
//! What this module must never do: turn into a manifest before every planned span is
//! complete, accept a span completed twice (it would put keys into the backup twice), do any
//! I/O, or panic on any input.

use super::data::EntryCounts;
use super::envelope::{self, FileKind, FormatError, LOCALITY_FORMAT_VERSION, MAX_READ_VERSION};
use super::manifest::{self, check_covered, check_file_localities, check_files, check_spans, FileInfo, LocalityExtension, Manifest, ManifestError};
use model::key::merge_spans;
use model::Span;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Progress of a running backup. See the module doc.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The backup as planned: every field of the final manifest except `files` (empty) and
    /// `entry_counts` (zero). `revision_start_time` may still be raised as exports report it.
    pub plan: Manifest,
    /// Files written so far, in completion order.
    pub completed: Vec<FileInfo>,
    /// Spans whose export finished (with or without files), merged, sorted and disjoint.
    pub completed_spans: Vec<Span>,
}

impl Checkpoint {
    /// A checkpoint with nothing done yet. Files and counts already in `plan` are dropped:
    /// completed files are tracked here, not in the plan.
    pub fn new(mut plan: Manifest) -> Checkpoint {
        plan.files.clear();
        plan.entry_counts = EntryCounts::default();
        Checkpoint { plan, completed: Vec::new(), completed_spans: Vec::new() }
    }

    /// Records that the export of `span` finished and wrote `files` (possibly none). Refused,
    /// leaving the checkpoint unchanged, if the span is outside the plan, overlaps a span
    /// already completed, or a file lies outside it.
    pub fn record(&mut self, span: Span, files: Vec<FileInfo>) -> Result<(), ManifestError> {
        if span.is_empty() {
            return Err(ManifestError::EmptySpan { list: "completed spans", span });
        }
        check_covered("completed spans", std::slice::from_ref(&span), &self.plan.spans)?;
        if self.completed_spans.iter().any(|s| s.overlaps(&span)) {
            return Err(ManifestError::AlreadyCompleted(span));
        }
        if let Some(f) = files.iter().find(|f| !span.contains(&f.span) || f.span.is_empty()) {
            return Err(ManifestError::FileOutsideCompleted { path: f.path.clone(), file_span: f.span.clone(), span });
        }
        // The new files only: they lie in `span`, which overlaps no completed span, so they
        // cannot overlap earlier files; only their paths must differ from earlier ones. This
        // keeps recording linear in the files so far rather than re-checking them all.
        check_files(&self.plan.spans, self.plan.start_time, self.plan.end_time, files.iter())?;
        if let Some(f) = files.iter().find(|f| self.completed.iter().any(|c| c.path == f.path)) {
            return Err(ManifestError::DuplicateFilePath(f.path.clone()));
        }
        let mut spans = std::mem::take(&mut self.completed_spans);
        spans.push(span);
        self.completed_spans = merge_spans(&spans);
        self.completed.extend(files);
        Ok(())
    }

    /// The parts of the planned spans not yet completed, in key order: what a resumed job
    /// still has to export.
    pub fn remaining_spans(&self) -> Vec<Span> {
        self.plan.spans.iter().flat_map(|s| s.subtract(&self.completed_spans)).collect()
    }

    /// True when every planned span is complete.
    pub fn is_complete(&self) -> bool {
        self.remaining_spans().is_empty()
    }

    /// Totals over the completed files (BACKUP's progress and result row).
    pub fn counts(&self) -> EntryCounts {
        let mut c = EntryCounts::default();
        for f in &self.completed {
            c.add(&f.counts());
        }
        c
    }

    /// The finished backup's manifest: the plan with the completed files (sorted by span) and
    /// their totals. Refused while spans remain, and if the result is not a valid manifest.
    pub fn into_manifest(self) -> Result<Manifest, ManifestError> {
        let remaining = self.remaining_spans();
        if !remaining.is_empty() {
            return Err(ManifestError::Incomplete(remaining));
        }
        let mut m = self.plan;
        let mut files = self.completed;
        files.sort_by(|a, b| a.span.cmp(&b.span));
        m.files.clear();
        m.entry_counts = EntryCounts::default();
        for f in files {
            m.add_file(f);
        }
        m.validate()?;
        Ok(m)
    }

    /// Checks the invariants: a valid plan with no files and zero counts; completed spans
    /// non-empty, sorted, disjoint and within the plan's spans; completed files valid as
    /// manifest files (paths, windows, counts, disjoint) and each within a completed span.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !(envelope::MIN_READ_VERSION..=MAX_READ_VERSION).contains(&self.plan.format_version) {
            return Err(ManifestError::UnsupportedVersion(self.plan.format_version));
        }
        if !self.plan.files.is_empty() || self.plan.entry_counts != EntryCounts::default() {
            return Err(ManifestError::PlanHasFiles);
        }
        self.plan.validate_plan()?;
        check_spans("completed spans", &self.completed_spans)?;
        check_covered("completed spans", &self.completed_spans, &self.plan.spans)?;
        check_files(&self.plan.spans, self.plan.start_time, self.plan.end_time, self.completed.iter())?;
        check_file_localities(&self.plan.partitions, self.completed.iter())?;
        if let Some(f) = self.completed.iter().find(|f| manifest::containing(&self.completed_spans, &f.span).is_none()) {
            let span = self.completed_spans.iter().find(|s| s.overlaps(&f.span)).cloned().unwrap_or_default();
            return Err(ManifestError::FileOutsideCompleted { path: f.path.clone(), file_span: f.span.clone(), span });
        }
        Ok(())
    }

    /// The checkpoint's bytes, in a [`FileKind::Checkpoint`] envelope: version 1, or for a
    /// locality-aware backup version 2, whose extension after version 1's payload says where
    /// each completed file went (as the manifest's does, [`LocalityExtension`]).
    pub fn encode(&self) -> Vec<u8> {
        match LocalityExtension::of(&self.plan.partitions, self.completed.iter()) {
            None => {
                let plan = Manifest { format_version: envelope::FORMAT_VERSION, ..self.plan.clone() };
                envelope::encode(FileKind::Checkpoint, &Checkpoint { plan, ..self.clone() })
            }
            Some(ext) => {
                let plan = Manifest { format_version: LOCALITY_FORMAT_VERSION, ..self.plan.clone() };
                envelope::encode_sized(FileKind::Checkpoint, LOCALITY_FORMAT_VERSION, &(&Checkpoint { plan, ..self.clone() }, &ext), 0)
            }
        }
    }

    /// Reads a checkpoint of any version this build reads: envelope checks (a manifest is
    /// refused as the wrong kind), then [`Checkpoint::validate`].
    pub fn decode(path: &str, bytes: &[u8]) -> Result<Checkpoint, FormatError> {
        let invalid = |e: ManifestError| FormatError::Invalid { path: path.into(), kind: FileKind::Checkpoint, reason: e.to_string() };
        let version = envelope::version_of(path, FileKind::Checkpoint, bytes)?;
        let c = match version {
            LOCALITY_FORMAT_VERSION => {
                let (mut c, ext): (Checkpoint, LocalityExtension) = envelope::decode(path, FileKind::Checkpoint, bytes)?;
                c.plan.partitions = ext.apply(c.completed.iter_mut()).map_err(invalid)?;
                c
            }
            _ => envelope::decode::<Checkpoint>(path, FileKind::Checkpoint, bytes)?,
        };
        if c.plan.format_version != version {
            return Err(invalid(ManifestError::VersionMismatch { field: c.plan.format_version, envelope: version }));
        }
        c.validate().map_err(invalid)?;
        Ok(c)
    }

    /// A stable, human-readable rendering: the plan as [`Manifest::dump`] prints it (without
    /// files), then completed spans, completed files, remaining spans and totals.
    pub fn dump(&self) -> String {
        let mut out = String::from("checkpoint of:\n");
        self.plan.dump_into(&mut out, false);
        super::manifest_dump::list(&mut out, "completed spans", &self.completed_spans, |o, s| {
            let _ = write!(o, "{s}");
        });
        super::manifest_dump::list(&mut out, "completed files", &self.completed, super::manifest_dump::dump_file_line);
        super::manifest_dump::list(&mut out, "remaining spans", &self.remaining_spans(), |o, s| {
            let _ = write!(o, "{s}");
        });
        let _ = writeln!(out, "entry counts so far: {}", self.counts());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::data::tests::{row, sample, ts};
    use crate::format::data::DataFile;
    use crate::format::manifest::tests::sample_manifest;
    use model::encoding::table_span;
    use model::Entry;
    use proptest::prelude::*;

    /// A plan over tables 52 and 54, nothing done.
    fn plan() -> Manifest {
        let mut m = sample_manifest();
        m.spans = vec![table_span(52), table_span(54)];
        m
    }

    fn half_done() -> Checkpoint {
        let mut c = Checkpoint::new(plan());
        let data = sample();
        let bytes = data.encode();
        c.record(table_span(52), vec![FileInfo::new("data/n1-1.sst", &data, &bytes)]).unwrap();
        c
    }

    #[test]
    fn progress_and_completion() {
        let mut c = Checkpoint::new(plan());
        assert_eq!(c.remaining_spans(), vec![table_span(52), table_span(54)]);
        c = half_done();
        assert_eq!(c.remaining_spans(), vec![table_span(54)]);
        assert!(!c.is_complete());
        assert!(matches!(c.clone().into_manifest(), Err(ManifestError::Incomplete(_))));
        // Table 54 holds nothing in the window: completes without a file.
        c.record(table_span(54), vec![]).unwrap();
        assert!(c.is_complete());
        let m = c.into_manifest().unwrap();
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.entry_counts, sample().counts());
        assert_eq!(m.validate(), Ok(()));
    }

    #[test]
    fn record_refuses_double_and_stray_work() {
        let mut c = half_done();
        let before = c.clone();
        assert_eq!(c.record(table_span(52), vec![]), Err(ManifestError::AlreadyCompleted(table_span(52))));
        let sub = Span::new(row(52, 1, 0), row(52, 1, 5));
        assert!(matches!(c.record(sub, vec![]), Err(ManifestError::AlreadyCompleted(_))));
        assert!(matches!(c.record(table_span(53), vec![]), Err(ManifestError::NotCovered { .. })));
        let data = DataFile::new(table_span(54), vec![Entry { key: row(54, 1, 1), ts: ts(3), value: None }]).unwrap();
        let info = FileInfo::new("data/x.sst", &data, &data.encode());
        let half = Span::new(row(54, 1, 5), table_span(54).end);
        assert!(matches!(c.record(half, vec![info.clone()]), Err(ManifestError::FileOutsideCompleted { .. })));
        let mut dup = info;
        dup.path = "data/n1-1.sst".into();
        assert!(matches!(c.record(table_span(54), vec![dup]), Err(ManifestError::DuplicateFilePath(_))));
        assert_eq!(c, before, "refusals leave the checkpoint unchanged");
    }

    #[test]
    fn round_trip_and_kind() {
        let c = half_done();
        let bytes = c.encode();
        assert_eq!(Checkpoint::decode("b/BACKUP-CHECKPOINT", &bytes), Ok(c.clone()));
        assert_eq!(envelope::peek_kind("b/BACKUP-CHECKPOINT", &bytes), Ok(FileKind::Checkpoint));
        let e = Manifest::decode("b/BACKUP", &bytes).unwrap_err();
        assert_eq!(e.to_string(), "b/BACKUP: is a checkpoint, expected a manifest");
        let e = Checkpoint::decode("b/BACKUP-CHECKPOINT", &sample_manifest().encode()).unwrap_err();
        assert_eq!(e.to_string(), "b/BACKUP-CHECKPOINT: is a manifest, expected a checkpoint");
        let e = Checkpoint::decode("b/c", &envelope::encode_version(FileKind::Checkpoint, MAX_READ_VERSION + 1, &c)).unwrap_err();
        assert!(matches!(e, FormatError::UnsupportedVersion { .. }));
    }

    #[test]
    fn decode_refuses_an_inconsistent_checkpoint() {
        let mut c = half_done();
        c.completed_spans.clear();
        let e = Checkpoint::decode("b/c", &envelope::encode(FileKind::Checkpoint, &c)).unwrap_err();
        assert!(e.to_string().starts_with("b/c: invalid checkpoint: file \"data/n1-1.sst\" covers "), "{e}");
        let mut c = half_done();
        c.plan.files = c.completed.clone();
        assert_eq!(c.validate(), Err(ManifestError::PlanHasFiles));
    }

    #[test]
    fn every_flipped_bit_and_truncation_is_detected() {
        let bytes = half_done().encode();
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(Checkpoint::decode("b/c", &b).is_err(), "bit {bit}");
        }
        for len in 0..bytes.len() {
            assert!(matches!(Checkpoint::decode("b/c", &bytes[..len]), Err(FormatError::Truncated { .. })), "len {len}");
        }
    }

    #[test]
    fn dump_lists_progress() {
        let d = half_done().dump();
        assert!(d.starts_with("checkpoint of:\nformat version: 1\n"), "{d}");
        assert!(d.contains("completed spans: 1\n  [/Table/52, /Table/53)\n"), "{d}");
        assert!(d.contains("completed files: 1\n  data/n1-1.sst [/Table/52, /Table/53) checksum="), "{d}");
        assert!(d.contains("remaining spans: 1\n  [/Table/54, /Table/55)\n"), "{d}");
        assert!(!d.contains("\nfiles:"), "{d}");
    }

    proptest! {
        #[test]
        fn any_flip_is_detected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let bytes = half_done().encode();
            let mut b = bytes.clone();
            b[pos.index(bytes.len())] ^= 1 << bit;
            prop_assert!(Checkpoint::decode("b/c", &b).is_err());
        }

        #[test]
        fn recording_pieces_in_any_order_completes(order in Just((0i64..8).collect::<Vec<_>>()).prop_shuffle()) {
            // Table 52 cut into 8 pieces at primary keys 10, 20, ...; recorded in random order.
            let span = table_span(52);
            let cut = |i: i64| if i == 0 { span.start.clone() } else if i == 8 { span.end.clone() } else { row(52, 1, 10 * i) };
            let mut m = plan();
            m.spans = vec![span.clone()];
            let mut c = Checkpoint::new(m);
            for i in order {
                prop_assert!(!c.is_complete());
                c.record(Span::new(cut(i), cut(i + 1)), vec![]).unwrap();
            }
            prop_assert!(c.is_complete());
            prop_assert_eq!(c.completed_spans.clone(), vec![table_span(52)]);
            prop_assert!(c.into_manifest().is_ok());
        }
    }
}
