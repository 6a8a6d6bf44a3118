//! The layout of the system keyspace: which system table holds what, the keys of each record,
//! and the (JSON) encoding of the values.
//!
//! System tables have ids below [`crate::encoding::FIRST_USER_TABLE_ID`] and use the same
//! `/table/index/key...` layout as user tables, so they are MVCC data like everything else and
//! their history is readable `AS OF SYSTEM TIME`. This module only builds keys and encodes or
//! decodes values; it never performs I/O, and decoding never panics.

use super::descriptor::Descriptor;
use super::error::CatalogError;
use super::privilege::{RoleMembership, UserRecord, ZoneConfig};
use crate::datum::Datum;
use crate::encoding::{self, encode_index_key, index_span, FIRST_USER_TABLE_ID, PRIMARY_INDEX_ID};
use crate::key::{Key, Span};
use crate::kv::WriteOp;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// System table holding the descriptor id generator (one key, JSON `u64`: the next free id).
pub const SYSTEM_DESCRIPTOR_ID_GEN_TABLE_ID: u32 = 1;
/// System table of descriptors: key `[Int(id)]`, value JSON [`Descriptor`].
pub const SYSTEM_DESCRIPTORS_TABLE_ID: u32 = 3;
/// System table of users and roles: key `[String(name)]`, value JSON [`UserRecord`].
pub const SYSTEM_USERS_TABLE_ID: u32 = 4;
/// System table of zone configs: key `[Int(descriptor id)]` (0 = default), value JSON
/// [`ZoneConfig`].
pub const SYSTEM_ZONES_TABLE_ID: u32 = 5;
/// System table of job records (written by `backup`).
pub const SYSTEM_JOBS_TABLE_ID: u32 = 15;
/// System table of role memberships: key `[String(role), String(member)]`, value JSON
/// [`RoleMembership`].
pub const SYSTEM_ROLE_MEMBERS_TABLE_ID: u32 = 23;
/// System table of protected timestamp records (CockroachDB's `system.protected_ts_records`):
/// key `[Int(record id)]`, value [`crate::protected_ts::ProtectedRecord`]. Written by `backup`'s
/// schedules, read by every GC queue.
pub const SYSTEM_PROTECTED_TS_TABLE_ID: u32 = 32;
/// System table of schedules (CockroachDB's `system.scheduled_jobs`), written by `backup`.
pub const SYSTEM_SCHEDULED_JOBS_TABLE_ID: u32 = 37;
/// Every system table id in use, ascending.
pub const SYSTEM_TABLE_IDS: [u32; 5] =
    [SYSTEM_DESCRIPTOR_ID_GEN_TABLE_ID, SYSTEM_DESCRIPTORS_TABLE_ID, SYSTEM_USERS_TABLE_ID, SYSTEM_ZONES_TABLE_ID, SYSTEM_ROLE_MEMBERS_TABLE_ID];
/// Same list plus the jobs table, for callers that back up all of system keyspace by table.
pub const SYSTEM_TABLE_IDS_WITH_JOBS: [u32; 6] = [
    SYSTEM_DESCRIPTOR_ID_GEN_TABLE_ID,
    SYSTEM_DESCRIPTORS_TABLE_ID,
    SYSTEM_USERS_TABLE_ID,
    SYSTEM_ZONES_TABLE_ID,
    SYSTEM_JOBS_TABLE_ID,
    SYSTEM_ROLE_MEMBERS_TABLE_ID,
];
/// The first id handed out to user descriptors (databases and relations share the id space),
/// so every user table's keys lie outside system keyspace.
pub const FIRST_USER_DESCRIPTOR_ID: u32 = FIRST_USER_TABLE_ID;
/// The zone id of the default zone config.
pub const DEFAULT_ZONE_ID: u32 = 0;
/// The default zone's GC TTL: 25 hours, as in CockroachDB.
pub const DEFAULT_GC_TTL_SECONDS: u64 = 90_000;
/// The built-in superuser.
pub const ROOT_USER: &str = "root";
/// The built-in role whose members may do everything.
pub const ADMIN_ROLE: &str = "admin";
/// The database sessions start in.
pub const DEFAULT_DATABASE: &str = "defaultdb";
/// The second database bootstrap creates, as CockroachDB does.
pub const POSTGRES_DATABASE: &str = "postgres";

/// All of system keyspace: every key below table [`FIRST_USER_TABLE_ID`].
pub fn system_span() -> Span {
    Span::new(Key::MIN, encoding::table_span(FIRST_USER_TABLE_ID).start)
}

/// The key of the descriptor id generator.
pub fn descriptor_id_gen_key() -> Key {
    encode_index_key(SYSTEM_DESCRIPTOR_ID_GEN_TABLE_ID, PRIMARY_INDEX_ID, &[Datum::String("desc_idgen".into())])
}

/// The key of a descriptor.
pub fn descriptor_key(id: u32) -> Key {
    encode_index_key(SYSTEM_DESCRIPTORS_TABLE_ID, PRIMARY_INDEX_ID, &[Datum::Int(id as i64)])
}

/// The span of all descriptors.
pub fn descriptors_span() -> Span {
    index_span(SYSTEM_DESCRIPTORS_TABLE_ID, PRIMARY_INDEX_ID)
}

/// The key of a user or role.
pub fn user_key(name: &str) -> Key {
    encode_index_key(SYSTEM_USERS_TABLE_ID, PRIMARY_INDEX_ID, &[Datum::String(name.to_string())])
}

/// The span of all users and roles.
pub fn users_span() -> Span {
    index_span(SYSTEM_USERS_TABLE_ID, PRIMARY_INDEX_ID)
}

/// The key of the zone config of a descriptor (0: the default zone).
pub fn zone_key(id: u32) -> Key {
    encode_index_key(SYSTEM_ZONES_TABLE_ID, PRIMARY_INDEX_ID, &[Datum::Int(id as i64)])
}

/// The span of all zone configs.
pub fn zones_span() -> Span {
    index_span(SYSTEM_ZONES_TABLE_ID, PRIMARY_INDEX_ID)
}

/// The key of one role membership.
pub fn role_member_key(role: &str, member: &str) -> Key {
    encode_index_key(SYSTEM_ROLE_MEMBERS_TABLE_ID, PRIMARY_INDEX_ID, &[Datum::String(role.to_string()), Datum::String(member.to_string())])
}

/// The span of all role memberships.
pub fn role_members_span() -> Span {
    index_span(SYSTEM_ROLE_MEMBERS_TABLE_ID, PRIMARY_INDEX_ID)
}

/// The spans of what a cluster backup carries besides descriptors: users and roles, zone
/// configs, role memberships (ascending). A revision-history cluster backup exports them with
/// their history, so a restore to a time inside its window restores them as of that time.
pub fn cluster_data_spans() -> [Span; 3] {
    [users_span(), zones_span(), role_members_span()]
}

/// Decodes a user record, checking it is the one its key names.
pub fn decode_user(key: &Key, bytes: &[u8]) -> Result<UserRecord, CatalogError> {
    let u: UserRecord = decode_json(key, bytes)?;
    if user_key(&u.name) != *key {
        return Err(CatalogError::Corrupt { key: key.to_string(), reason: format!("user {:?} does not match its key", u.name) });
    }
    Ok(u)
}

/// Decodes a role membership, checking it is the one its key names.
pub fn decode_role_member(key: &Key, bytes: &[u8]) -> Result<RoleMembership, CatalogError> {
    let m: RoleMembership = decode_json(key, bytes)?;
    if role_member_key(&m.role, &m.member) != *key {
        return Err(CatalogError::Corrupt { key: key.to_string(), reason: "role membership does not match its key".into() });
    }
    Ok(m)
}

/// Decodes a zone config with the descriptor id its key names.
pub fn decode_zone(key: &Key, bytes: &[u8]) -> Result<(u32, ZoneConfig), CatalogError> {
    let z: ZoneConfig = decode_json(key, bytes)?;
    let id = match encoding::decode_index_key(key) {
        Ok((SYSTEM_ZONES_TABLE_ID, _, ds)) => match ds.as_slice() {
            [Datum::Int(i)] => u32::try_from(*i).ok(),
            _ => None,
        },
        _ => None,
    };
    let id = id.ok_or_else(|| CatalogError::Corrupt { key: key.to_string(), reason: "zone key is not a descriptor id".into() })?;
    Ok((id, z))
}

/// The span of the jobs table.
pub fn jobs_span() -> Span {
    encoding::table_span(SYSTEM_JOBS_TABLE_ID)
}

/// The span of the protected timestamp records table.
pub fn protected_ts_span() -> Span {
    encoding::table_span(SYSTEM_PROTECTED_TS_TABLE_ID)
}

/// The span of the schedules table.
pub fn scheduled_jobs_span() -> Span {
    encoding::table_span(SYSTEM_SCHEDULED_JOBS_TABLE_ID)
}

/// Where a sequence keeps its current value: inside the sequence's own table span (so a backup
/// of the sequence carries its value), `encode_index_key(seq_id, 1, [Int(0)])`, value
/// `encode_value([Int(last_value)])`. Absent until the first `nextval`.
pub fn sequence_value_key(sequence_id: u32) -> Key {
    encode_index_key(sequence_id, PRIMARY_INDEX_ID, &[Datum::Int(0)])
}

/// JSON-encodes a system record.
fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail (no maps with non-string keys, no foreign
    // Serialize impls); fall back to an empty value that decodes as corruption, never panic.
    serde_json::to_vec(v).unwrap_or_default()
}

/// Decodes a JSON system record, naming `key` on failure.
pub fn decode_json<T: DeserializeOwned>(key: &Key, bytes: &[u8]) -> Result<T, CatalogError> {
    serde_json::from_slice(bytes).map_err(|e| CatalogError::Corrupt { key: key.to_string(), reason: e.to_string() })
}

/// The field of a stored database descriptor that marks it offline (being restored): absent
/// for a public one, so every database stored before restores could be offline reads as it was.
const OFFLINE_FIELD: &str = "offline";

/// The encoded value of a descriptor.
pub fn encode_descriptor(d: &Descriptor) -> Vec<u8> {
    match d {
        Descriptor::Database(db) if db.offline => {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            if let Some(inner) = v.get_mut("Database").and_then(|i| i.as_object_mut()) {
                inner.insert(OFFLINE_FIELD.into(), serde_json::Value::Bool(true));
            }
            serde_json::to_vec(&v).unwrap_or_default()
        }
        _ => to_json(d),
    }
}

/// Decodes a descriptor stored at `key`, checking that its id matches the key.
pub fn decode_descriptor(key: &Key, bytes: &[u8]) -> Result<Descriptor, CatalogError> {
    let v: serde_json::Value = decode_json(key, bytes)?;
    let offline = v.get("Database").and_then(|i| i.get(OFFLINE_FIELD)).and_then(|o| o.as_bool()).unwrap_or(false);
    let mut d: Descriptor = serde_json::from_value(v).map_err(|e| CatalogError::Corrupt { key: key.to_string(), reason: e.to_string() })?;
    if let Descriptor::Database(db) = &mut d {
        db.offline = offline;
    }
    if descriptor_key(d.id()) != *key {
        return Err(CatalogError::Corrupt { key: key.to_string(), reason: format!("descriptor id {} does not match its key", d.id()) });
    }
    Ok(d)
}

/// The write that stores a descriptor.
pub fn descriptor_write(d: &Descriptor) -> WriteOp {
    WriteOp::Put(descriptor_key(d.id()), encode_descriptor(d))
}

/// The write that stores a user or role.
pub fn user_write(u: &UserRecord) -> WriteOp {
    WriteOp::Put(user_key(&u.name), to_json(u))
}

/// The write that stores a role membership.
pub fn role_member_write(m: &RoleMembership) -> WriteOp {
    WriteOp::Put(role_member_key(&m.role, &m.member), to_json(m))
}

/// The write that stores a zone config for descriptor `id` (0: default zone).
pub fn zone_write(id: u32, z: &ZoneConfig) -> WriteOp {
    WriteOp::Put(zone_key(id), to_json(z))
}

/// The write that sets the descriptor id generator to `next` (the next free id).
pub fn descriptor_id_gen_write(next: u32) -> WriteOp {
    WriteOp::Put(descriptor_id_gen_key(), to_json(&(next as u64)))
}

/// Decodes the descriptor id generator's value.
pub fn decode_descriptor_id_gen(key: &Key, bytes: &[u8]) -> Result<u32, CatalogError> {
    let v: u64 = decode_json(key, bytes)?;
    u32::try_from(v).map_err(|_| CatalogError::Corrupt { key: key.to_string(), reason: format!("descriptor id {v} out of range") })
}
