//! Users, role memberships and zone configs as of a restore's time. A manifest records them as
//! of its end time only; a revision-history cluster backup also exports their system tables'
//! spans with every revision in its window (`plan`), so a restore `AS OF SYSTEM TIME` inside the
//! window reads them as of that time from the data files, exactly as it reads a table's rows.
//! A chain that lacks that history (taken without revision history, or by an earlier build)
//! falls back to the manifest's end-time records.

use super::ingest::{prepare_span, Source};
use crate::chain::Layer;
use crate::crypto::FileCipher;
use crate::env::Env;
use crate::error::BackupError;
use crate::format::manifest::ClusterData;
use model::catalog::{self, SYSTEM_ROLE_MEMBERS_TABLE_ID, SYSTEM_USERS_TABLE_ID, SYSTEM_ZONES_TABLE_ID};
use model::{MvccFilter, Span, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The cluster data as of `ts` from the history the chain's layers (the last one holding `ts`)
/// carry; `None` when they do not carry all of it, or when `ts` is the last layer's end time
/// (its manifest's records are that time's already).
pub(super) async fn as_of(env: &Env, layers: &[Layer], cipher: &FileCipher, ts: Timestamp) -> Result<Option<ClusterData>, BackupError> {
    let Some(top) = layers.last() else { return Ok(None) };
    if !top.manifest.is_full_cluster || top.manifest.mvcc_filter != MvccFilter::AllRevisions || ts == top.manifest.end_time {
        return Ok(None);
    }
    let spans = catalog::cluster_data_spans();
    if !spans.iter().all(|s| history_complete(layers, s)) {
        return Ok(None);
    }
    let ids: BTreeMap<u32, u32> = [SYSTEM_USERS_TABLE_ID, SYSTEM_ZONES_TABLE_ID, SYSTEM_ROLE_MEMBERS_TABLE_ID].into_iter().map(|id| (id, id)).collect();
    let source = Source { layers, cipher, ts, restore_ts: ts, ids: Arc::new(ids), verify_only: false };
    let corrupt =
        |e: catalog::CatalogError| BackupError::NotABackup { url: top.shown.clone(), reason: format!("its users, roles or zone configs do not decode: {e}") };
    let mut data = ClusterData::default();
    let [users, zones, members] = spans;
    for e in prepare_span(env, &source, &users).await?.into_entries() {
        data.users.push(catalog::decode_user(&e.key, e.value.as_deref().unwrap_or_default()).map_err(corrupt)?);
    }
    for e in prepare_span(env, &source, &zones).await?.into_entries() {
        data.zones.push(catalog::decode_zone(&e.key, e.value.as_deref().unwrap_or_default()).map_err(corrupt)?);
    }
    for e in prepare_span(env, &source, &members).await?.into_entries() {
        data.role_memberships.push(catalog::decode_role_member(&e.key, e.value.as_deref().unwrap_or_default()).map_err(corrupt)?);
    }
    Ok(Some(data))
}

/// True when the layers hold `span`'s whole history up to the last one's end: every layer from
/// the last that lacks it onwards has it, and the first of those has it from time zero (a full
/// backup, or an incremental that introduced it).
fn history_complete(layers: &[Layer], span: &Span) -> bool {
    let has = |l: &Layer| l.manifest.spans.iter().any(|s| s.contains(span));
    let from_zero = |l: &Layer| l.manifest.start_time.is_zero() || l.manifest.introduced_spans.iter().any(|s| s.contains(span));
    let first = layers.iter().rposition(|l| !has(l)).map_or(0, |i| i + 1);
    layers.get(first).is_some_and(from_zero)
}
