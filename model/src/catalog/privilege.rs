//! Privileges, users and roles, and zone configs: the access-control and GC-policy records of
//! the catalog.
//!
//! Nothing here stores anything secret: a user record says whether a password is set, never
//! what it is (no hash either), so these records can go into backups, traces and snapshots as
//! they are.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One privilege, as CockroachDB names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Privilege {
    /// Every privilege.
    All,
    /// CREATE: on a database, create relations in it; on a table, create indexes / add columns.
    Create,
    /// DROP the object (also TRUNCATE).
    Drop,
    /// GRANT privileges on the object to others.
    Grant,
    /// SELECT rows.
    Select,
    /// INSERT rows.
    Insert,
    /// DELETE rows.
    Delete,
    /// UPDATE rows (and `nextval` on a sequence).
    Update,
    /// USAGE of a sequence.
    Usage,
}

impl Privilege {
    /// The SQL keyword.
    pub fn as_str(&self) -> &'static str {
        match self {
            Privilege::All => "ALL",
            Privilege::Create => "CREATE",
            Privilege::Drop => "DROP",
            Privilege::Grant => "GRANT",
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Delete => "DELETE",
            Privilege::Update => "UPDATE",
            Privilege::Usage => "USAGE",
        }
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The privileges of one user (or role) on one descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPrivileges {
    /// The grantee.
    pub user: String,
    /// Its privileges, sorted, without duplicates.
    pub privileges: Vec<Privilege>,
}

/// The grants on one descriptor: a list of (user, privileges), sorted by user so that equal
/// grant sets serialize identically.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivilegeDescriptor {
    /// Grants, sorted by user.
    pub users: Vec<UserPrivileges>,
}

impl PrivilegeDescriptor {
    /// The grants every new object starts with: `admin` and `root` hold ALL.
    pub fn default_for_new_object() -> Self {
        let mut p = PrivilegeDescriptor::default();
        p.grant(super::ADMIN_ROLE, &[Privilege::All]);
        p.grant(super::ROOT_USER, &[Privilege::All]);
        p
    }

    /// Adds privileges for `user`.
    pub fn grant(&mut self, user: &str, privileges: &[Privilege]) {
        let pos = match self.users.binary_search_by(|u| u.user.as_str().cmp(user)) {
            Ok(p) => p,
            Err(p) => {
                self.users.insert(p, UserPrivileges { user: user.to_string(), privileges: Vec::new() });
                p
            }
        };
        let entry = &mut self.users[pos];
        entry.privileges.extend_from_slice(privileges);
        entry.privileges.sort();
        entry.privileges.dedup();
    }

    /// Removes privileges from `user` (revoking ALL removes everything).
    pub fn revoke(&mut self, user: &str, privileges: &[Privilege]) {
        if let Some(entry) = self.users.iter_mut().find(|u| u.user == user) {
            if privileges.contains(&Privilege::All) {
                entry.privileges.clear();
            } else {
                entry.privileges.retain(|p| !privileges.contains(p));
            }
        }
        self.users.retain(|u| !u.privileges.is_empty());
    }

    /// The privileges held directly by `user`.
    pub fn of(&self, user: &str) -> &[Privilege] {
        self.users.iter().find(|u| u.user == user).map(|u| u.privileges.as_slice()).unwrap_or(&[])
    }

    /// True when `user` holds `privilege` directly (ALL implies every privilege).
    pub fn holds(&self, user: &str, privilege: Privilege) -> bool {
        let ps = self.of(user);
        ps.contains(&Privilege::All) || ps.contains(&privilege)
    }
}

/// A user or role. Stores no password material at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// User or role name.
    pub name: String,
    /// True for a role (cannot log in; has members).
    pub is_role: bool,
    /// Whether a password was set at creation (the password itself is never stored).
    pub has_password: bool,
}

/// `member` belongs to `role`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoleMembership {
    /// The role.
    pub role: String,
    /// The member (a user or another role).
    pub member: String,
    /// Whether the member may administer the role (WITH ADMIN OPTION).
    pub is_admin: bool,
}

/// The zone config of a descriptor (or of the default zone, id 0): only the GC TTL matters here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneConfig {
    /// `gc.ttlseconds`: how long overwritten and deleted versions are kept.
    pub gc_ttl_seconds: u64,
}
