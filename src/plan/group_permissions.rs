//! Rule `group-permissions` (CIS 2.15 for groups): a group's admin-equivalent
//! or forbidden policy is detached (managed) or deleted (inline, its document
//! journaled first), so every member loses it at once and stays in the
//! group. While this rule takes admin policies from groups, rule
//! `user-permissions` does not also remove their members.

use super::permissions::{Parsed, Principal};
use super::{Change, Draft, Resource};
use crate::policy::{GroupPermissionsRule, PermissionsAction, Rule};
use crate::state::Group;

pub(super) fn evaluate(rule: &GroupPermissionsRule, groups: &[Group], draft: &mut Draft) {
    for group in groups {
        let policies: Vec<(Parsed, Resource, String, Option<&str>, Change)> = group
            .attached
            .iter()
            .map(|p| {
                let resource = Resource::GroupPolicy {
                    group: group.name.clone(),
                    arn: p.arn.clone(),
                };
                let change = Change::DetachGroupPolicy {
                    group: group.name.clone(),
                    arn: p.arn.clone(),
                };
                (
                    Parsed::managed(p),
                    resource,
                    format!("attached policy {}", p.name),
                    Some(p.arn.as_str()),
                    change,
                )
            })
            .chain(group.inline.iter().map(|p| {
                let resource = Resource::GroupInlinePolicy {
                    group: group.name.clone(),
                    name: p.name.clone(),
                };
                let change = Change::DeleteGroupPolicy {
                    group: group.name.clone(),
                    name: p.name.clone(),
                    document: p.document.clone(),
                };
                (
                    Parsed::inline(p),
                    resource,
                    format!("inline policy {}", p.name),
                    None,
                    change,
                )
            }))
            .collect();
        let principal = Principal::new(policies.iter().map(|(parsed, ..)| parsed), None);
        for (parsed, resource, what, arn, change) in &policies {
            let forbidden = arn.is_some_and(|arn| rule.forbidden_policies.forbids(arn));
            let reason = match principal.admin(parsed) {
                _ if forbidden => format!("{what} is forbidden by forbiddenPolicies"),
                Some(admin) if rule.forbid_admin => {
                    format!("{what} gives every member admin-equivalent access: it {admin}")
                }
                _ => continue,
            };
            let change = (rule.action == PermissionsAction::Detach).then(|| change.clone());
            draft.violation(Rule::GroupPermissions, resource.clone(), change, reason, group);
        }
    }
}
