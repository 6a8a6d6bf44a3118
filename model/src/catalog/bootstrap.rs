//! Bootstrap: the system data a new cluster starts with, written in one commit.
//!
//! Bootstrap never overwrites an existing cluster: it refuses when the descriptor id generator
//! already exists, and its commit carries a read timestamp so a concurrent bootstrap conflicts.

use super::descriptor::{DatabaseDescriptor, Descriptor};
use super::error::CatalogError;
use super::privilege::{PrivilegeDescriptor, RoleMembership, UserRecord, ZoneConfig};
use super::system::{self, ADMIN_ROLE, DEFAULT_DATABASE, DEFAULT_GC_TTL_SECONDS, DEFAULT_ZONE_ID, FIRST_USER_DESCRIPTOR_ID, POSTGRES_DATABASE, ROOT_USER};
use crate::kv::{Kv, WriteOp};
use crate::timestamp::Timestamp;

/// The writes of a fresh cluster's system data: user `root`, role `admin` with `root` as a
/// member, databases `defaultdb` (id 50) and `postgres` (id 51), the default zone (90000 s) and
/// the descriptor id generator (next id 52). Exposed so a full-cluster RESTORE can tell
/// bootstrap data from restored data.
pub fn bootstrap_writes() -> Vec<WriteOp> {
    let mut w = vec![
        system::user_write(&UserRecord { name: ROOT_USER.into(), is_role: false, has_password: false }),
        system::user_write(&UserRecord { name: ADMIN_ROLE.into(), is_role: true, has_password: false }),
        system::role_member_write(&RoleMembership { role: ADMIN_ROLE.into(), member: ROOT_USER.into(), is_admin: true }),
        system::zone_write(DEFAULT_ZONE_ID, &ZoneConfig { gc_ttl_seconds: DEFAULT_GC_TTL_SECONDS }),
    ];
    let mut id = FIRST_USER_DESCRIPTOR_ID;
    for name in [DEFAULT_DATABASE, POSTGRES_DATABASE] {
        let db = DatabaseDescriptor { id, name: name.into(), privileges: PrivilegeDescriptor::default_for_new_object(), offline: false };
        w.push(system::descriptor_write(&Descriptor::Database(db)));
        id += 1;
    }
    w.push(system::descriptor_id_gen_write(id));
    w
}

/// Writes the initial system data in one commit and returns its timestamp. Refuses with
/// [`CatalogError::AlreadyBootstrapped`] if the cluster already has it.
pub async fn bootstrap(kv: &dyn Kv) -> Result<Timestamp, CatalogError> {
    let now = kv.now();
    let key = system::descriptor_id_gen_key();
    if kv.get(&key, now).await?.is_some() {
        return Err(CatalogError::AlreadyBootstrapped { key: key.to_string() });
    }
    Ok(kv.commit(bootstrap_writes(), Some(now)).await?)
}
