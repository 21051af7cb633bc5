//! Rule `user-permissions`: users get their permissions through groups (CIS
//! 1.15), no user has admin-equivalent access, directly or through a group,
//! no user has a forbidden managed policy attached (CIS 2.21), and users
//! whose own policies allow a known privilege-escalation set are reported.
//!
//! A directly attached policy is detached and an inline one deleted (its
//! document is journaled first). Admin access through a group removes the
//! user from that group, as this rule never changes a group's policies,
//! which its other members share; unless rule `group-permissions` takes the
//! admin policy from the group itself, when the members stay. A user whose permissions
//! boundary is not admin-equivalent is not admin: its admin policies are
//! reported, not changed.

use serde::Serialize;

use super::permissions::{OwnPolicy, Parsed, Principal};
use super::{Change, Draft, Resource};
use crate::name::Name;
use crate::policy::{PermissionsAction, Rule, UserPermissionsRule};
use crate::quarantine::QuarantinePolicy;
use crate::state::{Caller, Group, Permissions, User};

pub(super) fn evaluate(
    rule: &UserPermissionsRule,
    user: &User,
    caller: &Caller,
    fixed_by_group_rule: &dyn Fn(&Name) -> bool,
    draft: &mut Draft,
) {
    let Some(permissions) = &user.permissions else { return };
    let own = Own::of(user, permissions, caller);
    let groups: Vec<(&Group, Vec<(&str, Parsed)>)> = permissions
        .groups
        .iter()
        .map(|g| {
            let attached = g.attached.iter().map(|p| (p.name.as_str(), Parsed::managed(p)));
            let inline = g.inline.iter().map(|p| (p.name.as_str(), Parsed::inline(p)));
            (g, attached.chain(inline).collect())
        })
        .collect();
    let boundary = permissions.boundary.as_ref().map(|b| (b, Parsed::managed(b)));
    let everything = own
        .policies
        .iter()
        .map(|p| &p.parsed)
        .chain(groups.iter().flat_map(|(_, parsed)| parsed.iter().map(|(_, p)| p)));
    let principal = Principal::new(everything, boundary.as_ref().map(|(policy, parsed)| (*policy, parsed)));
    let mut own_admin = false;
    for policy in &own.policies {
        own_admin |= judge(rule, user, &principal, policy, draft);
    }
    if rule.forbid_admin {
        for (group, parsed) in groups.iter().filter(|(g, _)| !fixed_by_group_rule(&g.name)) {
            through_group(rule, user, &principal, group, parsed, draft);
        }
    }
    // An admin's every escalation is moot: the admin finding says it all.
    if rule.report_escalation && !own_admin {
        escalation(user, permissions, &principal, &own, draft);
    }
}

/// Whether what `group` grants could change how the rule judges its
/// members: an admin-equivalent policy that `fixed_by_group_rule` leaves in
/// place, a Deny (which can narrow a member's own admin policy), or a policy
/// that cannot be read. A group that holds none of these changes no member's
/// findings: a member's escalation sets are its own policies'.
pub(super) fn judges_members(rule: &UserPermissionsRule, group: &Group, fixed_by_group_rule: bool) -> bool {
    let attached = group.attached.iter().map(Parsed::managed);
    let parsed: Vec<Parsed> = attached.chain(group.inline.iter().map(Parsed::inline)).collect();
    let principal = Principal::new(&parsed, None);
    let admin = |p: &Parsed| rule.forbid_admin && !fixed_by_group_rule && principal.admin(p).is_some();
    parsed.iter().any(|p| p.unreadable() || p.denies() || admin(p))
}

/// What a finding asks for under the rule's action.
fn fix(rule: &UserPermissionsRule, change: Change) -> Option<Change> {
    (rule.action == PermissionsAction::Detach).then_some(change)
}

/// The user's attached and inline policies, less iam-warden's own quarantine,
/// which takes access away and is not the user's to lose.
struct Own<'a> {
    policies: Vec<OwnPolicy<'a>>,
}

impl<'a> Own<'a> {
    fn of(user: &'a User, permissions: &'a Permissions, caller: &Caller) -> Own<'a> {
        let ours = |arn: &str| QuarantinePolicy::ALL.iter().any(|q| caller.quarantine_arn(*q) == arn);
        let attached = permissions.attached.iter().filter(|p| !ours(&p.arn)).map(|policy| {
            let user = user.name.clone();
            let arn = policy.arn.clone();
            let resource = Resource::UserPolicy {
                user: user.clone(),
                arn: arn.clone(),
            };
            OwnPolicy::managed(policy, resource, Change::DetachUserPolicy { user, arn })
        });
        let inline = permissions
            .inline
            .iter()
            .filter(|p| QuarantinePolicy::inline(&p.name, &p.document, caller.partition()).is_none())
            .map(|policy| {
                let resource = Resource::InlinePolicy {
                    user: user.name.clone(),
                    name: policy.name.clone(),
                };
                let change = Change::DeleteUserPolicy {
                    user: user.name.clone(),
                    name: policy.name.clone(),
                    document: policy.document.clone(),
                };
                OwnPolicy::inline(policy, resource, change)
            });
        Own {
            policies: attached.chain(inline).collect(),
        }
    }
}

/// A finding for the policy if it must go, or one saying it cannot be
/// judged; `true` if it is admin-equivalent.
fn judge(
    rule: &UserPermissionsRule,
    user: &User,
    principal: &Principal,
    policy: &OwnPolicy,
    draft: &mut Draft,
) -> bool {
    let admin = principal.admin(&policy.parsed);
    let what = &policy.what;
    let forbidden = policy.arn.is_some_and(|arn| rule.forbidden_policies.forbids(arn));
    let found = match (
        &admin,
        rule.forbid_admin,
        rule.allow_direct_policies,
        &principal.bounded,
    ) {
        (Some(admin), true, true, Some(bounded)) if !forbidden => {
            Some((format!("{what} is admin-equivalent: it {admin}; {bounded}"), None))
        }
        (Some(admin), true, _, None) => Some((
            format!("{what} is admin-equivalent: it {admin}"),
            fix(rule, policy.change.clone()),
        )),
        _ if forbidden => Some((
            format!("{what} is forbidden by forbiddenPolicies"),
            fix(rule, policy.change.clone()),
        )),
        (_, _, false, _) => Some((
            format!(
                "{what} is given to the user directly; users get permissions through groups (allowDirectPolicies: false)"
            ),
            fix(rule, policy.change.clone()),
        )),
        _ => None,
    };
    match (found, &policy.parsed.document) {
        (Some((reason, change)), _) => {
            draft.violation(
                Rule::UserPermissions,
                policy.resource.clone(),
                change,
                reason,
                &policy.before,
            );
        }
        (None, Err(why)) => report_unreadable(draft, user, policy.name, why, &policy.before),
        (None, Ok(_)) => {}
    }
    admin.is_some()
}

/// Admin access through a group: the user leaves the group.
fn through_group(
    rule: &UserPermissionsRule,
    user: &User,
    principal: &Principal,
    group: &Group,
    parsed: &[(&str, Parsed)],
    draft: &mut Draft,
) {
    let Some(why) = parsed
        .iter()
        .find_map(|(name, parsed)| principal.admin(parsed).map(|why| format!("its policy {name} {why}")))
    else {
        return;
    };
    let resource = Resource::GroupMembership {
        user: user.name.clone(),
        group: group.name.clone(),
    };
    let leave = Change::RemoveUserFromGroup {
        user: user.name.clone(),
        group: group.name.clone(),
    };
    let (reason, change) = match &principal.bounded {
        Some(bounded) => (
            format!("admin-equivalent access through group {}: {why}; {bounded}", group.name),
            None,
        ),
        None => (
            format!(
                "admin-equivalent access through group {}: {why}; the user leaves the group, whose own policies other members share",
                group.name
            ),
            fix(rule, leave),
        ),
    };
    draft.violation(Rule::UserPermissions, resource, change, reason, group);
}

/// The known escalation sets the user's own policies allow together, reported.
fn escalation(user: &User, permissions: &Permissions, principal: &Principal, own: &Own, draft: &mut Draft) {
    let escalations = principal.escalations(own.policies.iter().map(|p| &p.parsed));
    if escalations.is_empty() {
        return;
    }
    let sets: Vec<String> = escalations
        .iter()
        .map(|s| format!("{} ({})", s.name, s.actions.join(" + ")))
        .collect();
    let reason = format!(
        "the user's own policies allow known privilege-escalation sets: {}",
        sets.join(", ")
    );
    let resource = Resource::User {
        name: user.name.clone(),
    };
    draft.violation(Rule::UserPermissions, resource, None, reason, permissions);
}

fn report_unreadable(draft: &mut Draft, user: &User, name: &str, why: &str, before: &impl Serialize) {
    let reason = format!("policy {name} cannot be judged, so it is reported: {why}");
    let resource = Resource::User {
        name: user.name.clone(),
    };
    draft.violation(Rule::UserPermissions, resource, None, reason, before);
}
