//! `undo`'s judgement: is what a change left still there, exactly, in a live
//! read? Only then does reversing it put back what iam-warden took, and not
//! something a person did since: an inline policy of the same name put
//! again, a key deactivated again by hand, a quarantine a responder attached.

use chrono::{DateTime, Utc};

use super::records::{self, PASSWORD_RESET_TAG};
use super::{Change, Resource};
use crate::document;
use crate::name::Name;
use crate::state::{Group, Observation, Observed, RolePermissions, User};

/// `Ok` when the resource `change` acted on is still as the change left it,
/// made at `made`; else what is different now.
pub fn still_as_left(change: &Change, observed: &Observed, made: DateTime<Utc>) -> Result<(), String> {
    use Change::*;
    if let Some(name) = change.user() {
        return user_left(change, user_named(observed, name)?, &records::stamp(made));
    }
    if let Some(judged) = policy_left(change, observed) {
        return judged;
    }
    match change {
        UpdatePasswordPolicy { desired, .. } => match &observed.password_policy {
            Some(Observation::Present(policy)) if policy == desired => Ok(()),
            _ => Err("the password policy was changed since".to_owned()),
        },
        DeletePasswordPolicy { .. } => match &observed.password_policy {
            Some(Observation::Absent) => Ok(()),
            _ => Err("the account has a password policy again".to_owned()),
        },
        QuarantineRole { role } => match role_quarantined(observed, role)? {
            true => Ok(()),
            false => Err("the quarantine was taken off since".to_owned()),
        },
        LiftQuarantine { role } => match role_quarantined(observed, role)? {
            false => Ok(()),
            true => Err("the role was quarantined again since".to_owned()),
        },
        DeleteOidcProvider { provider } => match provider_exists(observed, &provider.arn) {
            false => Ok(()),
            true => Err(format!("a provider for {} exists again", provider.url)),
        },
        CreateOidcProvider { provider } => match provider_exists(observed, &provider.arn) {
            true => Ok(()),
            false => Err("the provider was deleted since".to_owned()),
        },
        // Nothing reverses the rest (`Change::inverse` says why), so nothing is judged.
        _ => Ok(()),
    }
}

/// The same, for a change to a group's or a role's policies; `None` for any other change.
fn policy_left(change: &Change, observed: &Observed) -> Option<Result<(), String>> {
    use Change::*;
    let judge = || match change {
        DetachGroupPolicy { group, arn } => {
            match group_named(observed, group)?.attached.iter().any(|p| p.arn == *arn) {
                false => Ok(()),
                true => Err("the policy was attached to the group again since".to_owned()),
            }
        }
        AttachGroupPolicy { group, arn } => {
            match group_named(observed, group)?.attached.iter().any(|p| p.arn == *arn) {
                true => Ok(()),
                false => Err("the policy was detached from the group since".to_owned()),
            }
        }
        DeleteGroupPolicy { group, name, .. } => {
            match group_named(observed, group)?.inline.iter().any(|p| p.name == *name) {
                false => Ok(()),
                true => Err(format!("an inline policy named {name} was put on the group since")),
            }
        }
        PutGroupPolicy { group, name, document } => {
            match group_named(observed, group)?.inline.iter().find(|p| p.name == *name) {
                Some(p) if same_document(&p.document, document) => Ok(()),
                _ => Err(format!("the inline policy {name} was changed or deleted since")),
            }
        }
        DetachRolePolicy { role, arn } => {
            match role_permissions(observed, role)?.attached.iter().any(|p| p.arn == *arn) {
                false => Ok(()),
                true => Err("the policy was attached to the role again since".to_owned()),
            }
        }
        AttachRolePolicy { role, arn } => {
            match role_permissions(observed, role)?.attached.iter().any(|p| p.arn == *arn) {
                true => Ok(()),
                false => Err("the policy was detached from the role since".to_owned()),
            }
        }
        DeleteRolePolicy { role, name, .. } => {
            match role_permissions(observed, role)?.inline.iter().any(|p| p.name == *name) {
                false => Ok(()),
                true => Err(format!("an inline policy named {name} was put on the role since")),
            }
        }
        PutRolePolicy { role, name, document } => {
            match role_permissions(observed, role)?
                .inline
                .iter()
                .find(|p| p.name == *name)
            {
                Some(p) if same_document(&p.document, document) => Ok(()),
                _ => Err(format!("the inline policy {name} was changed or deleted since")),
            }
        }
        _ => Ok(()),
    };
    let judged = matches!(
        change,
        DetachGroupPolicy { .. }
            | AttachGroupPolicy { .. }
            | DeleteGroupPolicy { .. }
            | PutGroupPolicy { .. }
            | DetachRolePolicy { .. }
            | AttachRolePolicy { .. }
            | DeleteRolePolicy { .. }
            | PutRolePolicy { .. }
    );
    judged.then(judge)
}

/// The same, for a change to one user; `stamp` is the record the change wrote.
fn user_left(change: &Change, user: &User, stamp: &str) -> Result<(), String> {
    use Change::*;
    match change {
        AttachDenyPolicy { .. } => match user_quarantined(user)? {
            true => Ok(()),
            false => Err("the MFA quarantine was taken off since".to_owned()),
        },
        DetachDenyPolicy { .. } => match user_quarantined(user)? {
            false => Ok(()),
            true => Err("the MFA quarantine was attached again since".to_owned()),
        },
        DeactivateAccessKey { id, .. } => match key_active(user, id)? {
            true => Err("the key is active again".to_owned()),
            false => match user.tags.as_ref().and_then(|t| t.get(&records::deactivation_tag(id))) {
                Some(value) if value == stamp => Ok(()),
                Some(value) => Err(format!("the key was deactivated again since, at {value}")),
                None => Err("the key's deactivation record is gone: it was changed since".to_owned()),
            },
        },
        ActivateAccessKey { id, .. } => match key_active(user, id)? {
            true => Ok(()),
            false => Err("the key is inactive again".to_owned()),
        },
        RequirePasswordReset { .. } => {
            let recorded = user.tags.as_ref().and_then(|t| t.get(PASSWORD_RESET_TAG));
            match reset_required(user)? {
                true if recorded.is_some_and(|r| r == stamp) => Ok(()),
                true => Err("a password reset was required again since".to_owned()),
                false => Err("the user has chosen a new password since".to_owned()),
            }
        }
        CancelPasswordReset { .. } => match reset_required(user)? {
            false => Ok(()),
            true => Err("a password reset is required again".to_owned()),
        },
        DetachUserPolicy { arn, .. } => match attached(user, arn)? {
            false => Ok(()),
            true => Err("the policy was attached again since".to_owned()),
        },
        AttachUserPolicy { arn, .. } => match attached(user, arn)? {
            true => Ok(()),
            false => Err("the policy was detached since".to_owned()),
        },
        DeleteUserPolicy { name, .. } => match inline(user, name)? {
            None => Ok(()),
            Some(_) => Err(format!("an inline policy named {name} was put since")),
        },
        PutUserPolicy { name, document, .. } => match inline(user, name)? {
            Some(now) if same_document(now, document) => Ok(()),
            Some(_) => Err(format!("the inline policy {name} was changed since")),
            None => Err(format!("the inline policy {name} was deleted since")),
        },
        RemoveUserFromGroup { group, .. } => match member(user, group)? {
            false => Ok(()),
            true => Err(format!("the user was added to {group} again since")),
        },
        AddUserToGroup { group, .. } => match member(user, group)? {
            true => Ok(()),
            false => Err(format!("the user was removed from {group} since")),
        },
        _ => Ok(()),
    }
}

/// The resource as the live read shows it, for the before-state of its reversal.
pub fn current(resource: &Resource, observed: &Observed) -> serde_json::Value {
    let found = match (resource, resource.user()) {
        (_, Some(name)) => observed
            .users
            .iter()
            .find(|u| u.name == *name)
            .map(|u| serde_json::json!(u)),
        (Resource::Role { name }, _) => observed
            .roles
            .iter()
            .flatten()
            .find(|r| r.name == *name)
            .map(|r| serde_json::json!(r)),
        (Resource::OidcProvider { arn, .. }, _) => observed
            .oidc_providers
            .iter()
            .flatten()
            .find(|p| p.arn == *arn)
            .map(|p| serde_json::json!(p)),
        (Resource::PasswordPolicy, _) => observed.password_policy.as_ref().map(|p| serde_json::json!(p)),
        _ => None,
    };
    found.unwrap_or(serde_json::Value::Null)
}

fn group_named<'a>(observed: &'a Observed, name: &Name) -> Result<&'a Group, String> {
    let group = observed.groups.iter().flatten().find(|g| g.name == *name);
    group.ok_or_else(|| format!("group {name} no longer exists"))
}

fn role_permissions<'a>(observed: &'a Observed, name: &Name) -> Result<&'a RolePermissions, String> {
    let role = observed.roles.iter().flatten().find(|r| r.name == *name);
    let role = role.ok_or_else(|| format!("role {name} no longer exists"))?;
    role.permissions
        .as_ref()
        .ok_or_else(|| "the role's policies could not be read".to_owned())
}

fn user_named<'a>(observed: &'a Observed, name: &Name) -> Result<&'a User, String> {
    observed
        .users
        .iter()
        .find(|u| u.name == *name)
        .ok_or_else(|| format!("user {name} no longer exists"))
}

/// A facet the read did not cover cannot be judged: never reverse blind.
fn unread() -> String {
    "it could not be read".to_owned()
}

fn user_quarantined(user: &User) -> Result<bool, String> {
    user.console.as_ref().map(|c| c.quarantined).ok_or_else(unread)
}

fn key_active(user: &User, id: &str) -> Result<bool, String> {
    let keys = user.access_keys.as_ref().ok_or_else(unread)?;
    keys.iter()
        .find(|k| k.id.as_deref() == Some(id))
        .map(|k| k.active)
        .ok_or_else(|| "the key no longer exists".to_owned())
}

fn reset_required(user: &User) -> Result<bool, String> {
    let console = user.console.as_ref().ok_or_else(unread)?;
    console
        .login_profile
        .as_ref()
        .map(|p| p.reset_required)
        .ok_or_else(|| "the user no longer has a console password".to_owned())
}

fn attached(user: &User, arn: &str) -> Result<bool, String> {
    let permissions = user.permissions.as_ref().ok_or_else(unread)?;
    Ok(permissions.attached.iter().any(|p| p.arn == arn))
}

fn inline<'a>(user: &'a User, name: &str) -> Result<Option<&'a str>, String> {
    let permissions = user.permissions.as_ref().ok_or_else(unread)?;
    // IAM keeps inline policy names unique without regard to case.
    Ok(permissions
        .inline
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.document.as_str()))
}

fn member(user: &User, group: &Name) -> Result<bool, String> {
    let permissions = user.permissions.as_ref().ok_or_else(unread)?;
    Ok(permissions.groups.iter().any(|g| g.name == *group))
}

fn role_quarantined(observed: &Observed, name: &Name) -> Result<bool, String> {
    observed
        .roles
        .iter()
        .flatten()
        .find(|r| r.name == *name)
        .map(|r| r.quarantined)
        .ok_or_else(|| format!("role {name} no longer exists"))
}

fn provider_exists(observed: &Observed, arn: &str) -> bool {
    observed.oidc_providers.iter().flatten().any(|p| p.arn == arn)
}

/// The same document, whatever its whitespace or encoding.
fn same_document(a: &str, b: &str) -> bool {
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(&document::decode(text)).ok();
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}
