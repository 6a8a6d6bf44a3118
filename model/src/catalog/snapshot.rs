//! [`Catalog`]: an immutable snapshot of every descriptor, user, role membership, grant and zone
//! config as of one timestamp, with the lookups SQL and BACKUP's planner need.
//!
//! A snapshot is read through any [`Kv`] (the in-process store, the simulator, or a
//! transaction's view with its own uncommitted writes) and never changes afterwards; it never
//! writes anything. Corrupted system values are errors naming their key.

use super::descriptor::{DatabaseDescriptor, DefaultExpr, Descriptor, TableDescriptor, TableKind};
use super::error::CatalogError;
use super::privilege::{Privilege, RoleMembership, UserRecord, ZoneConfig};
use super::system::{self, ADMIN_ROLE, DEFAULT_GC_TTL_SECONDS, DEFAULT_ZONE_ID};
use crate::kv::Kv;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Why one relation depends on another: BACKUP refuses to back up a table without what it
/// depends on (unless told to skip), RESTORE checks the same, DROP refuses to break them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DependencyReason {
    /// A foreign key of the dependent table references the other table.
    ForeignKey {
        /// The constraint name.
        constraint: String,
    },
    /// A column default of the dependent table calls `nextval` on the sequence.
    SequenceDefault {
        /// The column whose default uses it.
        column: String,
    },
    /// The dependent view selects from the other relation.
    View,
    /// The dependent table is interleaved in the other table.
    InterleaveParent,
}

impl std::fmt::Display for DependencyReason {
    /// The seed page's words for each kind of dependency.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DependencyReason::ForeignKey { constraint } => write!(f, "foreign key constraint \"{constraint}\" references it"),
            DependencyReason::SequenceDefault { column } => write!(f, "column \"{column}\" uses the sequence"),
            DependencyReason::View => write!(f, "the view selects from it"),
            DependencyReason::InterleaveParent => write!(f, "it is the parent in the interleaved hierarchy"),
        }
    }
}

/// `from` depends on `on` because of `reason`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Dependency {
    /// The dependent relation.
    pub from: u32,
    /// The relation it needs.
    pub on: u32,
    /// Why.
    pub reason: DependencyReason,
}

/// The catalog as of one timestamp. See the module doc.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    ts: Timestamp,
    descriptors: BTreeMap<u32, Descriptor>,
    users: BTreeMap<String, UserRecord>,
    memberships: BTreeSet<RoleMembership>,
    zones: BTreeMap<u32, ZoneConfig>,
    next_id: Option<u32>,
}

impl Catalog {
    /// Reads the whole catalog as of `ts`.
    pub async fn read(kv: &dyn Kv, ts: Timestamp) -> Result<Catalog, CatalogError> {
        let mut cat = Catalog { ts, ..Catalog::default() };
        for (k, v) in kv.scan(&system::descriptors_span(), ts).await? {
            let d = system::decode_descriptor(&k, &v)?;
            cat.descriptors.insert(d.id(), d);
        }
        for (k, v) in kv.scan(&system::users_span(), ts).await? {
            let u = system::decode_user(&k, &v)?;
            cat.users.insert(u.name.clone(), u);
        }
        for (k, v) in kv.scan(&system::role_members_span(), ts).await? {
            cat.memberships.insert(system::decode_role_member(&k, &v)?);
        }
        for (k, v) in kv.scan(&system::zones_span(), ts).await? {
            let (id, z) = system::decode_zone(&k, &v)?;
            cat.zones.insert(id, z);
        }
        let gen_key = system::descriptor_id_gen_key();
        if let Some(v) = kv.get(&gen_key, ts).await? {
            cat.next_id = Some(system::decode_descriptor_id_gen(&gen_key, &v)?);
        }
        Ok(cat)
    }

    /// A snapshot assembled from records that did not come from a cluster (a backup manifest),
    /// so that BACKUP / RESTORE can run the same lookups and dependency checks on them.
    pub fn from_parts(
        ts: Timestamp,
        descriptors: impl IntoIterator<Item = Descriptor>,
        users: impl IntoIterator<Item = UserRecord>,
        memberships: impl IntoIterator<Item = RoleMembership>,
        zones: impl IntoIterator<Item = (u32, ZoneConfig)>,
    ) -> Catalog {
        let descriptors: BTreeMap<u32, Descriptor> = descriptors.into_iter().map(|d| (d.id(), d)).collect();
        let next_id = descriptors.keys().next_back().map(|id| id + 1);
        Catalog {
            ts,
            descriptors,
            users: users.into_iter().map(|u| (u.name.clone(), u)).collect(),
            memberships: memberships.into_iter().collect(),
            zones: zones.into_iter().collect(),
            next_id,
        }
    }

    /// This snapshot with the system database and `system.users` among its descriptors, for a
    /// planner that resolves a statement's names as CockroachDB does (`BACKUP TABLE
    /// system.users`). A plain snapshot leaves them out, so SHOW DATABASES, cluster backups and
    /// every scan of descriptors see only what the descriptors table holds.
    pub fn with_system_tables(mut self) -> Catalog {
        for d in [Descriptor::Database(super::system_database()), Descriptor::Table(super::users_table())] {
            self.descriptors.entry(d.id()).or_insert(d);
        }
        self
    }

    /// The timestamp this snapshot was read at.
    pub fn ts(&self) -> Timestamp {
        self.ts
    }

    /// True when bootstrap data is present (the descriptor id generator exists).
    pub fn is_bootstrapped(&self) -> bool {
        self.next_id.is_some()
    }

    /// The next free descriptor id, as the id generator says (at least the first user id).
    pub fn next_descriptor_id(&self) -> u32 {
        let from_descs = self.descriptors.keys().next_back().map(|id| id + 1).unwrap_or(0);
        self.next_id.unwrap_or(0).max(from_descs).max(system::FIRST_USER_DESCRIPTOR_ID)
    }

    /// Every descriptor (public and dropped), by id.
    pub fn descriptors(&self) -> impl Iterator<Item = &Descriptor> {
        self.descriptors.values()
    }

    /// The descriptor with this id.
    pub fn descriptor(&self, id: u32) -> Option<&Descriptor> {
        self.descriptors.get(&id)
    }

    /// The database with this id.
    pub fn database(&self, id: u32) -> Option<&DatabaseDescriptor> {
        self.descriptor(id).and_then(Descriptor::as_database)
    }

    /// The database with this name.
    pub fn database_by_name(&self, name: &str) -> Option<&DatabaseDescriptor> {
        self.databases().into_iter().find(|d| d.name == name)
    }

    /// All databases, by id.
    pub fn databases(&self) -> Vec<&DatabaseDescriptor> {
        self.descriptors.values().filter_map(Descriptor::as_database).collect()
    }

    /// The table, view or sequence with this id (public or dropped).
    pub fn table(&self, id: u32) -> Option<&TableDescriptor> {
        self.descriptor(id).and_then(Descriptor::as_table)
    }

    /// Every table, view and sequence (public and dropped), by id.
    pub fn all_tables(&self) -> Vec<&TableDescriptor> {
        self.descriptors.values().filter_map(Descriptor::as_table).collect()
    }

    /// The public relation named `name` in the database named `database`.
    pub fn table_by_name(&self, database: &str, name: &str) -> Option<&TableDescriptor> {
        let db = self.database_by_name(database)?;
        self.tables_in(db.id).into_iter().find(|t| t.name == name)
    }

    /// The relation named `name` in the database named `database` that a RESTORE is still
    /// creating: its name is taken, but it may not be read yet.
    pub fn offline_table_by_name(&self, database: &str, name: &str) -> Option<&TableDescriptor> {
        let db = self.database_by_name(database)?;
        self.descriptors.values().filter_map(Descriptor::as_table).find(|t| t.parent_id == db.id && t.is_offline() && t.name == name)
    }

    /// The public relations of a database, by id.
    pub fn tables_in(&self, database_id: u32) -> Vec<&TableDescriptor> {
        self.descriptors.values().filter_map(Descriptor::as_table).filter(|t| t.parent_id == database_id && t.is_public()).collect()
    }

    /// The user or role with this name.
    pub fn user(&self, name: &str) -> Option<&UserRecord> {
        self.users.get(name)
    }

    /// All users and roles, by name.
    pub fn users(&self) -> impl Iterator<Item = &UserRecord> {
        self.users.values()
    }

    /// All role memberships, sorted.
    pub fn role_memberships(&self) -> impl Iterator<Item = &RoleMembership> {
        self.memberships.iter()
    }

    /// Every role `user` belongs to, directly or through other roles, sorted.
    pub fn roles_of(&self, user: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo = vec![user.to_string()];
        while let Some(u) = todo.pop() {
            for m in self.memberships.iter().filter(|m| m.member == u) {
                if out.insert(m.role.clone()) {
                    todo.push(m.role.clone());
                }
            }
        }
        out
    }

    /// True when `user` is the admin role or a (transitive) member of it.
    pub fn is_admin(&self, user: &str) -> bool {
        user == ADMIN_ROLE || self.roles_of(user).contains(ADMIN_ROLE)
    }

    /// True when `user` may exercise `privilege` on descriptor `id`: admins always; others
    /// when they or one of their roles hold it (or ALL).
    pub fn has_privilege(&self, user: &str, id: u32, privilege: Privilege) -> bool {
        if self.is_admin(user) {
            return true;
        }
        let Some(d) = self.descriptor(id) else { return false };
        let p = d.privileges();
        p.holds(user, privilege) || self.roles_of(user).iter().any(|r| p.holds(r, privilege))
    }

    /// Grants on every descriptor: (descriptor id, user, privileges), sorted.
    pub fn grants(&self) -> Vec<(u32, String, Vec<Privilege>)> {
        self.descriptors.values().flat_map(|d| d.privileges().users.iter().map(move |u| (d.id(), u.user.clone(), u.privileges.clone()))).collect()
    }

    /// The zone config recorded for exactly this id (0: default zone).
    pub fn zone(&self, id: u32) -> Option<&ZoneConfig> {
        self.zones.get(&id)
    }

    /// All zone configs, by id.
    pub fn zones(&self) -> impl Iterator<Item = (u32, &ZoneConfig)> {
        self.zones.iter().map(|(id, z)| (*id, z))
    }

    /// The GC TTL in force for a descriptor: its own zone, else its database's, else the
    /// default zone's, else 25 h.
    pub fn gc_ttl(&self, id: u32) -> Duration {
        let parent = self.table(id).map(|t| t.parent_id);
        let secs = self
            .zones
            .get(&id)
            .or_else(|| parent.and_then(|p| self.zones.get(&p)))
            .or_else(|| self.zones.get(&DEFAULT_ZONE_ID))
            .map(|z| z.gc_ttl_seconds)
            .unwrap_or(DEFAULT_GC_TTL_SECONDS);
        Duration::from_secs(secs)
    }

    /// What relation `id` depends on (referenced tables via foreign keys, sequences via column
    /// defaults, a view's relations, the interleave parent), sorted. Self-references are left
    /// out: they are satisfied by the table itself.
    pub fn dependencies(&self, id: u32) -> Vec<Dependency> {
        let Some(t) = self.table(id) else { return Vec::new() };
        let mut out = Vec::new();
        for fk in &t.foreign_keys {
            if fk.referenced_table_id != id {
                out.push(Dependency { from: id, on: fk.referenced_table_id, reason: DependencyReason::ForeignKey { constraint: fk.name.clone() } });
            }
        }
        for c in &t.columns {
            if let Some(DefaultExpr::Nextval(seq)) = c.default {
                out.push(Dependency { from: id, on: seq, reason: DependencyReason::SequenceDefault { column: c.name.clone() } });
            }
        }
        if let TableKind::View { depends_on, .. } = &t.kind {
            for on in depends_on {
                out.push(Dependency { from: id, on: *on, reason: DependencyReason::View });
            }
        }
        if let Some(p) = t.interleave_parent {
            out.push(Dependency { from: id, on: p, reason: DependencyReason::InterleaveParent });
        }
        out.sort();
        out.dedup();
        out
    }

    /// The public relations that depend on relation `id` (the reverse of
    /// [`Catalog::dependencies`]), sorted.
    pub fn dependents(&self, id: u32) -> Vec<Dependency> {
        let mut out: Vec<Dependency> = self
            .descriptors
            .values()
            .filter_map(Descriptor::as_table)
            .filter(|t| t.is_public() && t.id != id)
            .flat_map(|t| self.dependencies(t.id))
            .filter(|d| d.on == id)
            .collect();
        out.sort();
        out
    }
}
