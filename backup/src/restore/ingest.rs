//! RESTORE's ingest, span by span: the restored tables' keys are cut into spans at the
//! boundaries of the data files that hold them ([`units`]), and each span is restored on its own
//! ([`prepare_span`], then [`ingest_prepared`]) — every file overlapping it read, checked against its manifest, decrypted,
//! merged across the chain's layers, re-keyed to the new ids and ingested at the restore's
//! time. A span is the job's unit of progress: the job records each one done after its ingest
//! has landed, in whatever order they finish, and a resumed job restores exactly the spans not
//! recorded. Re-ingesting a span is harmless (the same keys, values and timestamp), so a span
//! ingested but not yet recorded is simply done again.
//!
//! Memory stays bounded by a span, never by the restore: a span holds at most what the files
//! overlapping it hold, and a chain's layers are merged key by key as the span is ingested
//! ([`super::merge`]), holding one ingest batch beyond the files.

use crate::chain::Layer;
use crate::crypto::FileCipher;
use crate::env::{Env, Started};
use crate::error::BackupError;
use crate::format::data::DataFile;
use crate::format::manifest::FileInfo;
use crate::jobs::JobTotals;
use crate::storage::ExternalStorage;
use model::{Entry, Key, MvccFilter, Span, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::merge::{Input, Merge};

use crate::retry::read_retrying;

/// How many spans a restore works on at once: each reads and decodes its files on the runtime
/// ([`Runtime::start`](crate::env::Runtime::start)) while the others ingest, so a real process
/// keeps two cores busy; in the simulator they are tasks of the same node, finishing in an
/// order the seed fixes — out of key order, as a real restore's spans do.
pub(super) const SPANS_AT_ONCE: usize = 3;

/// The restore's spans, in key order: the restored tables' key spans (`wanted`, in backup
/// ids), cut at every boundary of a file of the chain that overlaps them. Parts no file
/// overlaps hold nothing to restore and are left out.
pub(super) fn units(layers: &[Layer], wanted: &[Span]) -> Vec<Span> {
    let files: Vec<&FileInfo> = layers.iter().flat_map(|l| l.manifest.files.iter()).filter(|f| wanted.iter().any(|w| w.overlaps(&f.span))).collect();
    let spans: Vec<&Span> = files.iter().map(|f| &f.span).collect();
    let pieces = cut(&spans, wanted);
    // A file's bytes count in the piece it starts in.
    let mut starting: BTreeMap<&Key, u64> = BTreeMap::new();
    for f in &files {
        *starting.entry(&f.span.start).or_default() += f.data_size;
    }
    let bytes = |piece: &Span| starting.range::<Key, _>(&piece.start..&piece.end).map(|(_, b)| *b).sum::<u64>();
    group(pieces, bytes)
}

/// At most this many pieces make one span of a restore...
const PIECES_PER_SPAN: usize = 16;
/// ...holding about at most this many bytes of the files overlapping them (a data file's
/// default size: a span of full-size files is one file).
const BYTES_PER_SPAN: u64 = crate::env::TARGET_FILE_BYTES;

/// Adjacent pieces of one table joined into spans of at most [`PIECES_PER_SPAN`] pieces and
/// about [`BYTES_PER_SPAN`] bytes: each span costs the job a progress record, which a backup of
/// many small files (a small `file_target_bytes`) would otherwise pay per file. A span never
/// holds two tables.
fn group(pieces: Vec<Span>, bytes: impl Fn(&Span) -> u64) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let (mut count, mut size) = (0usize, 0u64);
    for piece in pieces {
        let b = bytes(&piece);
        match out.last_mut() {
            Some(last)
                if last.end == piece.start
                    && model::encoding::table_of(&last.start) == model::encoding::table_of(&piece.start)
                    && count < PIECES_PER_SPAN
                    && size + b <= BYTES_PER_SPAN =>
            {
                last.end = piece.end;
                count += 1;
                size += b;
            }
            _ => {
                out.push(piece);
                count = 1;
                size = b;
            }
        }
    }
    out
}

/// `wanted` cut at every start and end of `files` inside it, keeping the pieces some file
/// overlaps.
fn cut(files: &[&Span], wanted: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    // Where some file lies: a piece (between two boundaries) overlaps a file exactly when it
    // lies inside this cover.
    let cover = model::key::merge_spans(&files.iter().map(|s| (*s).clone()).collect::<Vec<_>>());
    let covered = |piece: &Span| {
        let i = cover.partition_point(|c| c.end <= piece.start);
        cover.get(i).is_some_and(|c| c.overlaps(piece))
    };
    for w in model::key::merge_spans(wanted) {
        let mut cuts: BTreeSet<Key> = BTreeSet::new();
        for s in files {
            for k in [&s.start, &s.end] {
                if *k > w.start && *k < w.end {
                    cuts.insert(k.clone());
                }
            }
        }
        let mut start = w.start.clone();
        for end in cuts.into_iter().chain(std::iter::once(w.end.clone())) {
            let piece = Span::new(start, end.clone());
            if covered(&piece) {
                out.push(piece);
            }
            start = end;
        }
    }
    out
}

/// What [`prepare_span`] restores from: the chain's layers up to the restored time.
pub(super) struct Source<'a> {
    /// The layers, oldest first.
    pub(super) layers: &'a [Layer],
    /// Their cipher.
    pub(super) cipher: &'a FileCipher,
    /// The restored time: the newest version at or below it wins.
    pub(super) ts: Timestamp,
    /// The timestamp the restored data is written at.
    pub(super) restore_ts: Timestamp,
    /// Backup id → new id of every restored relation.
    pub(super) ids: Arc<BTreeMap<u32, u32>>,
    /// `verify_backup_table_data`: the spans are read and checked, never ingested.
    pub(super) verify_only: bool,
}

impl Source<'_> {
    /// The restored chain's newest layer, redacted: where an error about its merged data points.
    pub(super) fn shown(&self) -> &str {
        self.layers.last().map(|l| l.shown.as_str()).unwrap_or("the backup")
    }

    /// True when the restore is of one backup's latest state (the common case): each key is in
    /// one file once, and a span's entries are its files' live entries as they are.
    fn latest_only(&self) -> bool {
        matches!(self.layers, [only] if only.manifest.mvcc_filter == MvccFilter::Latest && only.manifest.end_time == self.ts)
    }
}

/// One span's entries, ready to ingest, re-keyed to the new ids and stamped with the restore's
/// time as they go to the cluster.
pub(super) struct Prepared {
    rows: Rows,
    /// How many entries go to the cluster in one ingest: all of them for one backup's latest
    /// state (a file's worth, as its export made it), the settings' `ingest_batch` for a
    /// chain's merge.
    batch: usize,
    ids: Arc<BTreeMap<u32, u32>>,
    restore_ts: Timestamp,
}

/// Where a prepared span's entries come from.
enum Rows {
    /// One backup's latest state: the files' live entries as they are, in memory already.
    Listed(Vec<Entry>),
    /// A chain, or a point in time: the key-by-key merge of the files, run as it is ingested.
    Merged(Merge),
}

impl Rows {
    /// The backup's entries, in key order.
    fn into_iter(self) -> Box<dyn Iterator<Item = Entry> + Send> {
        match self {
            Rows::Listed(entries) => Box::new(entries.into_iter()),
            Rows::Merged(merge) => Box::new(merge),
        }
    }
}

impl Prepared {
    /// The entries, re-keyed and stamped, for a caller that reads them rather than ingests them.
    pub(super) fn into_entries(self) -> Vec<Entry> {
        let (ids, ts) = (self.ids, self.restore_ts);
        self.rows.into_iter().filter_map(|e| restored(e, &ids, ts, &mut JobTotals::default())).collect()
    }

    /// What `verify_backup_table_data` does with a span it checks but does not restore: runs
    /// the chain's merge to its end and decodes every live entry's key and value as a row or
    /// index entry (the files' checksums and framing were checked when they were read), then
    /// drops it. `Err` names the first key that does not decode: data the restore would have
    /// written but no SQL read could use.
    pub(super) fn verify(self) -> Result<(), String> {
        for e in self.rows.into_iter() {
            let Some(value) = &e.value else { continue };
            let decoded = model::encoding::decode_index_key(&e.key).and_then(|_| model::encoding::decode_value(value));
            if let Err(why) = decoded {
                return Err(format!("the backup's entry at {} does not decode: {why}", e.key));
            }
        }
        Ok(())
    }

    /// The span's entries taken out of the merge into memory, with what ingesting them
    /// restores: for a caller that must know it before the ingest. (Re-keying keeps a key's
    /// length and index id, so the backup's keys count as the restored ones will.)
    pub(super) fn counted(self) -> (Prepared, JobTotals) {
        let mut totals = JobTotals::default();
        let entries: Vec<Entry> = self.rows.into_iter().collect();
        let restored_table = |k: &Key| model::encoding::table_of(k).is_some_and(|t| self.ids.contains_key(&t));
        for e in entries.iter().filter(|e| restored_table(&e.key)) {
            if let Some(value) = &e.value {
                count_entry(&mut totals, &e.key, value);
            }
        }
        (Prepared { rows: Rows::Listed(entries), ..self }, totals)
    }
}

/// A backup's entry as the restore writes it: its table id rewritten, stamped with the
/// restore's time, counted in `totals`; `None` for a deletion or a table not restored.
fn restored(e: Entry, ids: &BTreeMap<u32, u32>, ts: Timestamp, totals: &mut JobTotals) -> Option<Entry> {
    let value = e.value?;
    let key = rewrite_key(e.key, ids)?;
    count_entry(totals, &key, &value);
    Some(Entry { key, ts, value: Some(value) })
}

/// Ingests a prepared span, in batches of its size; what it restored.
pub(super) async fn ingest_prepared(env: &Env, prepared: Prepared) -> Result<JobTotals, BackupError> {
    let batch = prepared.batch.max(1);
    let (ids, ts) = (prepared.ids, prepared.restore_ts);
    let mut totals = JobTotals::default();
    let mut rows = prepared.rows.into_iter();
    loop {
        let chunk: Vec<Entry> = rows.by_ref().filter_map(|e| restored(e, &ids, ts, &mut totals)).take(batch).collect();
        if chunk.is_empty() {
            return Ok(totals);
        }
        env.kv.ingest(chunk).await?;
    }
}

/// Prepares one span: starts reading every file of the chain overlapping it (on the runtime,
/// so that decoding overlaps other spans' ingests) and waits for them; the span's entries are
/// each key's newest version at or below the restored time (none for a deleted key), merged
/// key by key across the files as they are ingested ([`Merge`]).
pub(super) async fn prepare_span(env: &Env, source: &Source<'_>, span: &Span) -> Result<Prepared, BackupError> {
    let skip_last = env.planted(crate::planted::PlantedBug::RestoreIgnoresAFile);
    let mut reads = Vec::new();
    for (l, layer) in source.layers.iter().enumerate() {
        let last = layer.manifest.files.len().saturating_sub(1);
        for (i, file) in layer.manifest.files.iter().enumerate() {
            if !file.span.overlaps(span) || (skip_last && l + 1 == source.layers.len() && i == last) {
                continue;
            }
            reads.push((l, start_read(env, layer, source.cipher, file, span)));
        }
    }
    let latest_only = source.latest_only();
    let mut listed: Vec<Entry> = Vec::new();
    let mut inputs = Vec::new();
    for (layer, read) in reads {
        let data = read.wait().await.ok_or_else(|| BackupError::Internal("a data file's read task ended without an answer".into()))??;
        if latest_only {
            // Already cut to the span by its read.
            listed.extend(data.entries.into_iter().filter(|e| e.value.is_some()));
        } else {
            inputs.push(Input { layer, entries: data.entries.into_iter() });
        }
    }
    let (ids, restore_ts) = (source.ids.clone(), source.restore_ts);
    if latest_only {
        let batch = listed.len();
        return Ok(Prepared { rows: Rows::Listed(listed), batch, ids, restore_ts });
    }
    let introduced: Vec<&[Span]> = source.layers.iter().map(|l| l.manifest.introduced_spans.as_slice()).collect();
    let merge = Merge::new(inputs, span.clone(), source.ts, &introduced);
    Ok(Prepared { rows: Rows::Merged(merge), batch: env.jobs.ingest_batch, ids, restore_ts })
}

/// Starts reading, checking and decoding one file on the runtime; the answer is its entries
/// inside `span`. An incremental's file often reaches over many spans: only the part of it a
/// span restores stays in memory while the span waits for its other files.
fn start_read(env: &Env, layer: &Layer, cipher: &FileCipher, file: &FileInfo, span: &Span) -> Started<Result<DataFile, BackupError>> {
    // A locality-aware backup's file is read from its locality's partition.
    let store = layer.file_store(file);
    let (env2, cipher, file, span) = (env.clone(), cipher.clone(), file.clone(), span.clone());
    Started::start(&*env.runtime, async move {
        let (location, storage) = store?;
        read_data_file(&env2, &location, &*storage, &cipher, &file).await.map(|mut data| {
            let all = data.entries.len();
            data.entries.retain(|e| span.contains_key(&e.key));
            if data.entries.len() < all / 2 {
                data.entries.shrink_to_fit();
            }
            data
        })
    })
}

/// Reads one listed data file, decrypts it and checks it against the manifest's record.
async fn read_data_file(env: &Env, location: &str, storage: &dyn ExternalStorage, cipher: &FileCipher, file: &FileInfo) -> Result<DataFile, BackupError> {
    let path = crate::location::join(location, &file.path);
    let bytes = read_retrying(env, storage, &file.path).await.map_err(|e| match e {
        e if e.is_not_found() => {
            BackupError::NotABackup { url: location.to_string(), reason: format!("data file {} listed in the manifest is missing", file.path) }
        }
        e => e.into(),
    })?;
    let bytes = cipher.open(&path, bytes)?;
    Ok(DataFile::decode_listed(&path, file, &bytes)?)
}

fn count_entry(totals: &mut JobTotals, key: &Key, value: &[u8]) {
    let (_, index) = model::encoding::index_of(key).unwrap_or((0, 0));
    if index == model::encoding::PRIMARY_INDEX_ID {
        totals.rows += 1;
    } else {
        totals.index_entries += 1;
    }
    totals.bytes += (key.0.len() + value.len()) as u64;
}

/// Rewrites a key's table id; `None` for keys of tables not restored.
fn rewrite_key(mut key: Key, ids: &BTreeMap<u32, u32>) -> Option<Key> {
    let old = model::encoding::table_of(&key)?;
    let new = *ids.get(&old)?;
    key.0[..4].copy_from_slice(&new.to_be_bytes());
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(b: u8) -> Key {
        Key(vec![b])
    }

    fn span(a: u8, b: u8) -> Span {
        Span::new(k(a), k(b))
    }

    #[test]
    fn spans_are_cut_at_every_file_boundary_and_empty_parts_left_out() {
        let files = [span(1, 4), span(4, 6), span(2, 5)];
        let files: Vec<&Span> = files.iter().collect();
        assert_eq!(cut(&files, &[span(0, 9)]), vec![span(1, 2), span(2, 4), span(4, 5), span(5, 6)]);
        // Two wanted spans are cut on their own; a wanted span no file touches has no piece.
        assert_eq!(cut(&files, &[span(3, 5), span(7, 9)]), vec![span(3, 4), span(4, 5)]);
    }

    #[test]
    fn adjacent_pieces_are_grouped_up_to_a_count_and_a_size() {
        // Seventeen adjacent small pieces: sixteen in one span, the last in another.
        let pieces: Vec<Span> = (0..17).map(|i| span(i, i + 1)).collect();
        assert_eq!(group(pieces, |_| 1), vec![span(0, 16), span(16, 17)]);
        // A gap is never bridged; a piece as large as the limit stands alone.
        assert_eq!(group(vec![span(0, 1), span(2, 3)], |_| 1), vec![span(0, 1), span(2, 3)]);
        assert_eq!(
            group(vec![span(0, 1), span(1, 2), span(2, 3)], |s| if s.start == k(1) { BYTES_PER_SPAN } else { 1 }),
            vec![span(0, 1), span(1, 2), span(2, 3)]
        );
        // Two tables' adjacent pieces stay apart.
        let t = model::encoding::table_span;
        assert_eq!(group(vec![t(53), t(54)], |_| 1), vec![t(53), t(54)]);
    }
}
