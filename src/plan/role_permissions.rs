//! Rule `role-permissions`: least privilege for roles (CIS 2.15 for roles).
//! A role's admin-equivalent or forbidden policy is detached (managed) or
//! deleted (inline, its document journaled first); the escalation sets its
//! own policies allow, and a role unused for `maxUnused`, are reported.
//!
//! Roles AWS owns (`/aws-service-role/`, `/aws-reserved/`) are never judged:
//! AWS refuses changes to them. A role whose permissions boundary is not
//! admin-equivalent is not admin: its admin policies are reported, not
//! changed. iam-warden's own quarantine policy is not the role's to lose, and
//! the role iam-warden runs as is `protected` by the executor.

use super::permissions::{OwnPolicy, Parsed, Principal};
use super::{Change, Draft, Resource};
use crate::policy::{PermissionsAction, RolePermissionsRule, Rule, display_duration};
use crate::quarantine::QuarantinePolicy;
use crate::state::{Caller, Role, RolePermissions};

pub(super) fn evaluate(rule: &RolePermissionsRule, roles: &[Role], caller: &Caller, draft: &mut Draft) {
    for role in roles.iter().filter(|r| !r.owned_by_aws()) {
        let Some(permissions) = &role.permissions else { continue };
        let own = own_policies(role, permissions, caller);
        let boundary = permissions.boundary.as_ref().map(|b| (b, Parsed::managed(b)));
        let principal = Principal::new(
            own.iter().map(|p| &p.parsed),
            boundary.as_ref().map(|(policy, parsed)| (*policy, parsed)),
        );
        let mut admin = false;
        for policy in &own {
            admin |= judge(rule, &principal, policy, draft);
        }
        if rule.report_escalation && !admin {
            escalation(role, &principal, &own, draft);
        }
        unused(rule, role, permissions, draft);
    }
}

/// The role's attached and inline policies, less iam-warden's quarantine.
fn own_policies<'a>(role: &Role, permissions: &'a RolePermissions, caller: &Caller) -> Vec<OwnPolicy<'a>> {
    let quarantine = caller.quarantine_arn(QuarantinePolicy::DenyAll);
    let attached = permissions
        .attached
        .iter()
        .filter(|p| p.arn != quarantine)
        .map(|policy| {
            let (role, arn) = (role.name.clone(), policy.arn.clone());
            let resource = Resource::RolePolicy {
                role: role.clone(),
                arn: arn.clone(),
            };
            OwnPolicy::managed(policy, resource, Change::DetachRolePolicy { role, arn })
        });
    let inline = permissions
        .inline
        .iter()
        .filter(|p| QuarantinePolicy::inline(&p.name, &p.document, caller.partition()).is_none())
        .map(|policy| {
            let resource = Resource::RoleInlinePolicy {
                role: role.name.clone(),
                name: policy.name.clone(),
            };
            let change = Change::DeleteRolePolicy {
                role: role.name.clone(),
                name: policy.name.clone(),
                document: policy.document.clone(),
            };
            OwnPolicy::inline(policy, resource, change)
        });
    attached.chain(inline).collect()
}

/// A finding for the policy if it must go; `true` if it is admin-equivalent.
fn judge(rule: &RolePermissionsRule, principal: &Principal, policy: &OwnPolicy, draft: &mut Draft) -> bool {
    let admin = principal.admin(&policy.parsed);
    let forbidden = policy.arn.is_some_and(|arn| rule.forbidden_policies.forbids(arn));
    let fix = || (rule.action == PermissionsAction::Detach).then(|| policy.change.clone());
    let what = &policy.what;
    let found = match (&admin, &principal.bounded) {
        _ if forbidden => Some((format!("{what} is forbidden by forbiddenPolicies"), fix())),
        (Some(admin), Some(bounded)) if rule.forbid_admin => {
            Some((format!("{what} is admin-equivalent: it {admin}; {bounded}"), None))
        }
        (Some(admin), None) if rule.forbid_admin => Some((format!("{what} is admin-equivalent: it {admin}"), fix())),
        _ => None,
    };
    if let Some((reason, change)) = found {
        draft.violation(
            Rule::RolePermissions,
            policy.resource.clone(),
            change,
            reason,
            &policy.before,
        );
    } else if let Err(why) = &policy.parsed.document {
        let reason = format!("{what} cannot be judged, so it is reported: {why}");
        draft.violation(
            Rule::RolePermissions,
            policy.resource.clone(),
            None,
            reason,
            &policy.before,
        );
    }
    admin.is_some()
}

/// The known escalation sets the role's own policies allow together, reported.
fn escalation(role: &Role, principal: &Principal, own: &[OwnPolicy], draft: &mut Draft) {
    let sets = principal.escalations(own.iter().map(|p| &p.parsed));
    if sets.is_empty() {
        return;
    }
    let sets: Vec<String> = sets
        .iter()
        .map(|s| format!("{} ({})", s.name, s.actions.join(" + ")))
        .collect();
    let reason = format!(
        "the role's own policies allow known privilege-escalation sets: {}",
        sets.join(", ")
    );
    let resource = Resource::Role {
        name: role.name.clone(),
    };
    draft.violation(Rule::RolePermissions, resource, None, reason, role);
}

/// A role unused for `maxUnused`, reported: whether it is still needed is
/// for its owner to say.
fn unused(rule: &RolePermissionsRule, role: &Role, permissions: &RolePermissions, draft: &mut Draft) {
    let Some(max_unused) = rule.max_unused else { return };
    let since = permissions
        .last_used
        .unwrap_or(permissions.created)
        .max(permissions.created);
    if draft.now - since < max_unused {
        return;
    }
    let used = match permissions.last_used {
        Some(at) => format!("last used {}", at.format("%Y-%m-%d")),
        None => format!(
            "never used since its creation {}",
            permissions.created.format("%Y-%m-%d")
        ),
    };
    let reason = format!(
        "role {used}: {}d unused, over maxUnused {}",
        (draft.now - since).num_days(),
        display_duration(max_unused)
    );
    let resource = Resource::Role {
        name: role.name.clone(),
    };
    draft.violation(Rule::RolePermissions, resource, None, reason, permissions);
}
