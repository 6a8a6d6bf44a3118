//! Users, roles and grants: CREATE USER / ROLE, DROP USER / ROLE, GRANT / REVOKE privileges on
//! databases and relations, GRANT / REVOKE role membership. Passwords are never stored (only
//! whether one was given) and never echoed. Nothing is committed here.

use super::access;
use super::context::{Ctx, ExecResult, Outcome};
use super::error::SqlError;
use super::names;
use super::schema;
use crate::catalog::{self, Catalog, Descriptor, Privilege, RoleMembership, UserRecord, ADMIN_ROLE, ROOT_USER};
use sqlparser::ast::{Action, GrantObjects, Grantee, GranteeName, ObjectName, Password, Privileges};

/// CREATE USER / CREATE ROLE (`is_role`), from sqlparser's CREATE ROLE.
pub(crate) async fn create_user(
    ctx: &mut Ctx<'_>,
    names_: &[ObjectName],
    if_not_exists: bool,
    password: Option<&Password>,
    is_role: bool,
) -> Result<Outcome, SqlError> {
    let cat = ctx.catalog().await?;
    access::require_admin(&cat, ctx.user, if is_role { "CREATE ROLE" } else { "CREATE USER" })?;
    let has_password = matches!(password, Some(Password::Password(_)));
    for n in names_ {
        let name = names::single(n)?;
        if cat.user(&name).is_some() {
            if if_not_exists {
                continue;
            }
            return Err(SqlError::DuplicateObject { kind: "role/user", name });
        }
        schema::apply(ctx.txn, catalog::user_write(&UserRecord { name, is_role, has_password }));
    }
    Ok(Outcome::write(ExecResult::tag(if is_role { "CREATE ROLE" } else { "CREATE USER" })))
}

/// DROP USER / ROLE: refused for root and admin, and while grants to the user remain.
pub(crate) async fn drop_users(ctx: &mut Ctx<'_>, cat: &Catalog, names_: &[ObjectName], if_exists: bool) -> Result<Outcome, SqlError> {
    access::require_admin(cat, ctx.user, "DROP USER")?;
    for n in names_ {
        let name = names::single(n)?;
        if name == ROOT_USER || name == ADMIN_ROLE {
            return Err(SqlError::Invalid(format!("cannot drop special role {name}")));
        }
        if cat.user(&name).is_none() {
            if if_exists {
                continue;
            }
            return Err(SqlError::UndefinedUser(name));
        }
        let held: Vec<String> = cat
            .descriptors()
            .filter(|d| !d.privileges().of(&name).is_empty() && d.as_table().is_none_or(|t| t.is_public()))
            .map(|d| d.name().to_string())
            .collect();
        if !held.is_empty() {
            return Err(SqlError::DependentObjects(format!("cannot drop role/user {name}: grants still exist on {}", held.join(", "))));
        }
        ctx.txn.delete(catalog::user_key(&name));
        for m in cat.role_memberships().filter(|m| m.member == name || m.role == name) {
            ctx.txn.delete(catalog::role_member_key(&m.role, &m.member));
        }
    }
    Ok(Outcome::write(ExecResult::tag("DROP ROLE")))
}

fn privileges(p: &Privileges) -> Result<Vec<Privilege>, SqlError> {
    match p {
        Privileges::All { .. } => Ok(vec![Privilege::All]),
        Privileges::Actions(actions) => actions
            .iter()
            .map(|a| match a {
                Action::Select { columns: None } => Ok(Privilege::Select),
                Action::Insert { columns: None } => Ok(Privilege::Insert),
                Action::Update { columns: None } => Ok(Privilege::Update),
                Action::Delete => Ok(Privilege::Delete),
                Action::Create { obj_type: None } => Ok(Privilege::Create),
                Action::Drop => Ok(Privilege::Drop),
                Action::Usage => Ok(Privilege::Usage),
                other => Err(SqlError::Unsupported(format!("privilege {other}"))),
            })
            .collect(),
    }
}

fn grantee_names(cat: &Catalog, grantees: &[Grantee]) -> Result<Vec<String>, SqlError> {
    grantees
        .iter()
        .map(|g| match &g.name {
            Some(GranteeName::ObjectName(n)) => {
                let name = names::single(n)?;
                cat.user(&name).map(|_| name.clone()).ok_or(SqlError::UndefinedUser(name))
            }
            _ => Err(SqlError::Unsupported(format!("grantee {g}"))),
        })
        .collect()
}

/// GRANT / REVOKE privileges ON DATABASE d | TABLE t TO / FROM users.
pub(crate) async fn grant(ctx: &mut Ctx<'_>, p: &Privileges, objects: Option<&GrantObjects>, grantees: &[Grantee], revoke: bool) -> Result<Outcome, SqlError> {
    let cat = ctx.catalog().await?;
    let privs = privileges(p)?;
    let users = grantee_names(&cat, grantees)?;
    let mut targets: Vec<Descriptor> = Vec::new();
    match objects {
        Some(GrantObjects::Databases(ns)) => {
            for n in ns {
                let d = access::database(&cat, &names::single(n)?)?;
                access::require_on_database(&cat, ctx.user, d, Privilege::Grant)?;
                targets.push(Descriptor::Database(d.clone()));
            }
        }
        Some(GrantObjects::Tables(ns) | GrantObjects::Sequences(ns) | GrantObjects::Views(ns)) => {
            for n in ns {
                let (db, t) = names::relation_of(n, ctx.database)?;
                let t = access::relation(&cat, &db, &t)?;
                access::require_on_table(&cat, ctx.user, t, Privilege::Grant)?;
                targets.push(Descriptor::Table(t.clone()));
            }
        }
        _ => return Err(SqlError::Unsupported("GRANT on anything but databases and relations".into())),
    }
    for mut d in targets {
        let pd = match &mut d {
            Descriptor::Database(x) => &mut x.privileges,
            Descriptor::Table(x) => &mut x.privileges,
        };
        for u in &users {
            if revoke {
                pd.revoke(u, &privs);
            } else {
                pd.grant(u, &privs);
            }
        }
        schema::apply(ctx.txn, catalog::descriptor_write(&d));
    }
    Ok(Outcome::write(ExecResult::tag(if revoke { "REVOKE" } else { "GRANT" })))
}

/// GRANT role TO member / REVOKE role FROM member.
pub(crate) async fn role_grant(ctx: &mut Ctx<'_>, roles: &[String], members: &[String], revoke: bool) -> Result<Outcome, SqlError> {
    let cat = ctx.catalog().await?;
    access::require_admin(&cat, ctx.user, if revoke { "REVOKE a role" } else { "GRANT a role" })?;
    for r in roles {
        let rec = cat.user(r).ok_or_else(|| SqlError::UndefinedUser(r.clone()))?;
        if !rec.is_role {
            return Err(SqlError::Invalid(format!("{r} is a user, not a role")));
        }
        for m in members {
            if cat.user(m).is_none() {
                return Err(SqlError::UndefinedUser(m.clone()));
            }
            if revoke {
                if r == ADMIN_ROLE && m == ROOT_USER {
                    return Err(SqlError::Invalid("user root cannot be removed from role admin".into()));
                }
                ctx.txn.delete(catalog::role_member_key(r, m));
            } else {
                if m == r || cat.roles_of(r).contains(m) {
                    return Err(SqlError::Invalid(format!("making {m} a member of {r} would create a cycle")));
                }
                schema::apply(ctx.txn, catalog::role_member_write(&RoleMembership { role: r.clone(), member: m.clone(), is_admin: false }));
            }
        }
    }
    Ok(Outcome::write(ExecResult::tag(if revoke { "REVOKE" } else { "GRANT" })))
}
