//! The cluster-wide state a full cluster backup carries besides its tables' rows: users and
//! roles, role memberships, the zone configurations of the default range and of databases (the
//! bootstrap databases `defaultdb` and `postgres` included, which a cluster restore keeps as the
//! destination's own and must not lose the zones of), and grants. Read by name, never by
//! descriptor id: a restore renumbers descriptors, and the state must survive that.
//!
//! The workload declares what it sets ([`crate::workload::cluster_state`]); a cluster restore
//! must reproduce exactly that, read from the restored cluster's catalog. The declaration is the
//! oracle: it is written from the statements the workload sends, not read back from either
//! cluster, so neither the backup code nor the catalog it writes is its own witness.

use model::catalog::Catalog;
use std::collections::{BTreeMap, BTreeSet};

/// The zone name of the default range.
pub const DEFAULT_RANGE: &str = "RANGE default";

/// Cluster-wide state, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterState {
    /// Users and roles: name → is a role.
    pub users: BTreeMap<String, bool>,
    /// Role memberships: (role, member, with admin option).
    pub memberships: BTreeSet<(String, String, bool)>,
    /// Zone GC TTLs of the default range ([`DEFAULT_RANGE`]) and of databases (`DATABASE name`).
    /// Tables' zones are the oracle's, compared per table with the rows.
    pub zones: BTreeMap<String, u64>,
    /// Grants to the workload's own users and roles: (object, grantee, privilege), the object as
    /// `DATABASE name` or `TABLE db.name`. The bootstrap's grants to root and admin are on every
    /// object and left out. [`ClusterState::diff`] compares the grants on the objects `want`
    /// names: a table created later in a database inherits that database's grants, which the
    /// declaration does not follow.
    pub grants: BTreeSet<(String, String, String)>,
}

impl ClusterState {
    /// Reads the state from a catalog; grants only to `grantees`.
    pub fn read(cat: &Catalog, grantees: &BTreeSet<String>) -> Self {
        let mut s = ClusterState::default();
        for u in cat.users() {
            s.users.insert(u.name.clone(), u.is_role);
        }
        for m in cat.role_memberships() {
            s.memberships.insert((m.role.clone(), m.member.clone(), m.is_admin));
        }
        let name_of = |id: u32| -> Option<String> {
            if let Some(d) = cat.database(id) {
                return Some(format!("DATABASE {}", d.name));
            }
            let t = cat.table(id)?;
            let db = cat.database(t.parent_id).map_or("?", |d| d.name.as_str());
            Some(format!("TABLE {db}.{}", t.name))
        };
        for (id, z) in cat.zones() {
            if id == model::catalog::DEFAULT_ZONE_ID {
                s.zones.insert(DEFAULT_RANGE.to_string(), z.gc_ttl_seconds);
            } else if let Some(d) = cat.database(id) {
                s.zones.insert(format!("DATABASE {}", d.name), z.gc_ttl_seconds);
            }
        }
        for (id, grantee, privileges) in cat.grants() {
            if !grantees.contains(&grantee) {
                continue;
            }
            let object = name_of(id).unwrap_or_else(|| format!("descriptor {id}"));
            for p in privileges {
                s.grants.insert((object.clone(), grantee.clone(), p.to_string()));
            }
        }
        s
    }

    /// What differs from `want`, part by part; `None` when nothing does.
    pub fn diff(&self, want: &ClusterState) -> Option<String> {
        fn part<T: std::fmt::Debug + PartialEq>(out: &mut Vec<String>, what: &str, got: &T, want: &T) {
            if got != want {
                out.push(format!("{what} {got:?}, but the source had {want:?}"));
            }
        }
        let mut out = Vec::new();
        part(&mut out, "users and roles", &self.users, &want.users);
        part(&mut out, "role memberships", &self.memberships, &want.memberships);
        part(&mut out, "zone configurations", &self.zones, &want.zones);
        let objects: BTreeSet<&String> = want.grants.iter().map(|(o, _, _)| o).collect();
        let grants: BTreeSet<(String, String, String)> = self.grants.iter().filter(|(o, _, _)| objects.contains(o)).cloned().collect();
        part(&mut out, "grants", &grants, &want.grants);
        (!out.is_empty()).then(|| out.join("; "))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_difference_names_the_part_that_differs() {
        let want = crate::workload::cluster_state();
        assert_eq!(want.diff(&want), None);
        let mut got = want.clone();
        got.zones.remove("DATABASE defaultdb");
        let d = got.diff(&want).expect("a lost zone differs");
        assert!(d.starts_with("zone configurations") && !d.contains("grants"), "{d}");
    }
}
