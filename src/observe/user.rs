//! A user read live, facet by facet: a reconcile reads only the facets it
//! judges, and the tags only when a decision needs them. The user's name is
//! the one IAM gives it, whatever case the reconcile asked in.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_iam::Client;

use super::documents::Reading;
use super::scan::Seen;
use super::{console, keys, permissions};
use crate::aws::Call;
use crate::error::Error;
use crate::name::Name;
use crate::quarantine::QuarantinePolicy;
use crate::state::{Caller, Permissions, User};
use crate::work::Facets;

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// What to read of a user.
pub(super) struct UserRead<'a> {
    pub facets: Facets,
    /// Who iam-warden runs as: its quarantine policies are its own.
    pub caller: &'a Caller,
    /// Keys no decision needs the last use of (they are past `maxAge`): it is not read.
    pub skip_last_used: &'a (dyn Fn(bool, chrono::DateTime<chrono::Utc>) -> bool + Sync),
    /// Read when the console password was last used (rule `console-access`).
    pub password_last_used: bool,
    pub documents: &'a Reading<'a>,
    /// What the full scan that named the user read of it, seconds ago, live:
    /// its tags and whether the quarantine holds it need no second read.
    pub seen: Option<&'a Seen>,
}

/// `None` when a read that names the user finds it gone.
pub(super) async fn user(iam: &Client, name: &Name, read: &UserRead<'_>) -> Result<Option<User>, Error> {
    let wants = |facet| read.facets.contains(facet);
    // With the permissions, the quarantine shows in the full lists of policies.
    let check = (!wants(Facets::PERMISSIONS) && read.seen.is_none()).then_some(read.caller);
    let (console, keys, permissions) = tokio::try_join!(
        facet(
            wants(Facets::CONSOLE),
            console::read(iam, name, check, read.password_last_used)
        ),
        facet(wants(Facets::KEYS), keys::read(iam, name, read.skip_last_used)),
        facet(wants(Facets::PERMISSIONS), permissions::read(iam, name, read.documents)),
    )?;
    let (Some(console), Some(keys), Some(permissions)) = (console, keys, permissions) else {
        return Ok(None);
    };
    let canonical = permissions
        .as_ref()
        .map(|p| p.name.clone())
        .or_else(|| keys.as_ref().and_then(|(_, n)| n.clone()))
        .or_else(|| console.as_ref().and_then(|(_, n)| n.clone()))
        .unwrap_or_else(|| name.clone());
    let mut console = console.map(|(console, _)| console);
    if let Some(console) = &mut console {
        let held = match (&permissions, read.seen) {
            (Some(found), _) => Some(holds(&found.permissions, read.caller)),
            (None, Some(seen)) => Some(seen.quarantined),
            (None, None) => None,
        };
        console.quarantined = held.unwrap_or(console.quarantined);
    }
    let tags = match &permissions {
        Some(found) => Some(found.tags.clone()),
        None => read.seen.map(|seen| seen.tags.clone()),
    };
    Ok(Some(User {
        name: canonical,
        created: None,
        tags,
        console,
        access_keys: keys.map(|(keys, _)| keys),
        permissions: permissions.map(|found| found.permissions),
    }))
}

/// A facet's read: `Some(None)` when not wanted, `None` when it found the user gone.
async fn facet<T>(
    wanted: bool,
    read: impl Future<Output = Result<Option<T>, Error>>,
) -> Result<Option<Option<T>>, Error> {
    match wanted {
        true => read.await.map(|found| found.map(Some)),
        false => Ok(Some(None)),
    }
}

/// Whether the MFA quarantine holds a user whose policies these are.
fn holds(permissions: &Permissions, caller: &Caller) -> bool {
    let quarantine = QuarantinePolicy::DenyWithoutMfa;
    let arn = caller.quarantine_arn(quarantine);
    permissions.attached.iter().any(|p| p.arn == arn)
        || permissions
            .inline
            .iter()
            .any(|p| QuarantinePolicy::inline(&p.name, &p.document, caller.partition()) == Some(quarantine))
}

/// The user's tags; `None` if the user is gone.
pub(super) async fn tags(iam: &Client, name: &Name) -> Result<Option<BTreeMap<String, String>>, Error> {
    let mut tags = BTreeMap::new();
    let mut pages = iam.list_user_tags().user_name(name.as_str()).into_paginator().send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListUserTags", NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        tags.extend(page.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())));
    }
    Ok(Some(tags))
}

/// The users in `group`; none if the group is gone.
/// Whom a managed policy is attached to; nobody, once it is gone.
#[derive(Debug, Default)]
pub struct Holders {
    pub users: Vec<Name>,
    pub groups: Vec<Name>,
    pub roles: Vec<Name>,
}

pub(crate) async fn policy_holders(iam: &Client, arn: &str) -> Result<Holders, Error> {
    let mut holders = Holders::default();
    let mut pages = iam
        .list_entities_for_policy()
        .policy_arn(arn)
        .max_items(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListEntitiesForPolicy", NO_SUCH_ENTITY)? else {
            break;
        };
        let names = page.policy_users().iter().filter_map(|u| u.user_name());
        holders.users.extend(names.map(Name::from));
        let names = page.policy_groups().iter().filter_map(|g| g.group_name());
        holders.groups.extend(names.map(Name::from));
        let names = page.policy_roles().iter().filter_map(|r| r.role_name());
        holders.roles.extend(names.map(Name::from));
    }
    Ok(holders)
}

pub(crate) async fn group_members(iam: &Client, group: &str) -> Result<Vec<Name>, Error> {
    let mut members = Vec::new();
    let mut pages = iam.get_group().group_name(group).into_paginator().send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:GetGroup", NO_SUCH_ENTITY)? else {
            break;
        };
        members.extend(page.users().iter().map(|u| Name::from(u.user_name())));
    }
    Ok(members)
}
