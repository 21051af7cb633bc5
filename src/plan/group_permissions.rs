//! Rule `group-permissions` (CIS 2.15 for groups): a group's admin-equivalent
//! or forbidden policy is detached (managed) or deleted (inline, its document
//! journaled first), so every member loses it at once and stays in the
//! group. While this rule takes admin policies from groups, rule
//! `user-permissions` does not also remove their members.

use super::permissions::{OwnPolicy, Principal};
use super::{Change, Draft, Resource};
use crate::policy::{GroupPermissionsRule, PermissionsAction, Rule};
use crate::state::Group;

pub(super) fn evaluate(rule: &GroupPermissionsRule, groups: &[Group], draft: &mut Draft) {
    for group in groups {
        let attached = group.attached.iter().map(|policy| {
            let (group, arn) = (group.name.clone(), policy.arn.clone());
            let resource = Resource::GroupPolicy {
                group: group.clone(),
                arn: arn.clone(),
            };
            OwnPolicy::managed(policy, resource, Change::DetachGroupPolicy { group, arn })
        });
        let inline = group.inline.iter().map(|policy| {
            let resource = Resource::GroupInlinePolicy {
                group: group.name.clone(),
                name: policy.name.clone(),
            };
            let change = Change::DeleteGroupPolicy {
                group: group.name.clone(),
                name: policy.name.clone(),
                document: policy.document.clone(),
            };
            OwnPolicy::inline(policy, resource, change)
        });
        let policies: Vec<OwnPolicy> = attached.chain(inline).collect();
        let principal = Principal::new(policies.iter().map(|p| &p.parsed), None);
        for policy in &policies {
            let what = &policy.what;
            let forbidden = policy.arn.is_some_and(|arn| rule.forbidden_policies.forbids(arn));
            let reason = match principal.admin(&policy.parsed) {
                _ if forbidden => format!("{what} is forbidden by forbiddenPolicies"),
                Some(admin) if rule.forbid_admin => {
                    format!("{what} gives every member admin-equivalent access: it {admin}")
                }
                _ => continue,
            };
            let change = (rule.action == PermissionsAction::Detach).then(|| policy.change.clone());
            draft.violation(Rule::GroupPermissions, policy.resource.clone(), change, reason, group);
        }
    }
}
