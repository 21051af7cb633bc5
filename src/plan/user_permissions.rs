//! Rule `user-permissions`: users get their permissions through groups (CIS
//! 1.15), no user has admin-equivalent access, directly or through a group,
//! and users whose own policies allow a known privilege-escalation set are
//! reported.
//!
//! A directly attached policy is detached and an inline one deleted (its
//! document goes to the audit log first). Admin access through a group
//! removes the user from that group: the group's own policies are shared by
//! its other members and are never changed.

use serde::Serialize;

use super::escalation::Grants;
use super::{Change, Draft, Resource};
use crate::document::{self, Document};
use crate::policy::{PermissionsAction, Rule, UserPermissionsRule};
use crate::quarantine;
use crate::state::{Group, ManagedPolicy, Permissions, User};

/// AWS's own policies, which iam-warden judges by name rather than read.
const ADMIN_POLICIES: [&str; 2] = ["AdministratorAccess", "IAMFullAccess"];

pub(super) fn evaluate(rule: &UserPermissionsRule, user: &User, draft: &mut Draft) {
    let Some(permissions) = &user.permissions else { return };
    let own = own_policies(rule, user, permissions, draft);
    if rule.forbid_admin {
        groups(rule, user, permissions, draft);
    }
    // An admin's every escalation is moot: the admin finding says it all.
    if rule.report_escalation && !own.admin {
        escalation(user, permissions, &own.documents, draft);
    }
}

/// What a finding asks for under the rule's action.
fn fix(rule: &UserPermissionsRule, change: Change) -> Option<Change> {
    (rule.action == PermissionsAction::Detach).then_some(change)
}

/// The user's attached and inline policies, each judged.
fn own_policies<'a>(
    rule: &'a UserPermissionsRule,
    user: &'a User,
    permissions: &Permissions,
    draft: &mut Draft,
) -> Own<'a> {
    let mut own = Own {
        rule,
        user,
        documents: Vec::new(),
        admin: false,
    };
    // iam-warden's own quarantine policies take access away; they are not the user's to lose.
    for policy in permissions
        .attached
        .iter()
        .filter(|p| !p.arn.contains(&format!(":policy{}", quarantine::PATH)))
    {
        let resource = Resource::UserPolicy {
            user: user.name.clone(),
            arn: policy.arn.clone(),
        };
        let what = format!("attached policy {}", policy.name);
        let detach = Change::DetachUserPolicy {
            user: user.name.clone(),
            arn: policy.arn.clone(),
        };
        let judged = judge_managed(policy);
        own.judge(
            draft,
            judged,
            resource,
            fix(rule, detach),
            (&what, &policy.name),
            policy,
        );
    }
    for policy in &permissions.inline {
        let resource = Resource::InlinePolicy {
            user: user.name.clone(),
            name: policy.name.clone(),
        };
        let what = format!("inline policy {}", policy.name);
        let delete = Change::DeleteUserPolicy {
            user: user.name.clone(),
            name: policy.name.clone(),
        };
        let judged = judge_document(&policy.document);
        own.judge(
            draft,
            judged,
            resource,
            fix(rule, delete),
            (&what, &policy.name),
            policy,
        );
    }
    own
}

/// Admin access through a group: the user leaves the group.
fn groups(rule: &UserPermissionsRule, user: &User, permissions: &Permissions, draft: &mut Draft) {
    for group in &permissions.groups {
        let Some(why) = group_admin(group) else { continue };
        let resource = Resource::GroupMembership {
            user: user.name.clone(),
            group: group.name.clone(),
        };
        let reason = format!(
            "admin-equivalent access through group {}: {why}; the user leaves the group, whose own policies other members share",
            group.name
        );
        let leave = Change::RemoveUserFromGroup {
            user: user.name.clone(),
            group: group.name.clone(),
        };
        draft.violation(Rule::UserPermissions, resource, fix(rule, leave), reason, group);
    }
}

/// The known escalation sets the user's own policies allow together, reported.
fn escalation(user: &User, permissions: &Permissions, documents: &[Document], draft: &mut Draft) {
    let escalations = Grants::of(documents).escalations();
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

/// The user's own policies, judged one by one: what they grant together, for
/// the escalation sets, and whether any is admin-equivalent.
struct Own<'a> {
    rule: &'a UserPermissionsRule,
    user: &'a User,
    documents: Vec<Document>,
    admin: bool,
}

impl Own<'_> {
    /// A finding for the policy if it must go (`fix`), or one saying it
    /// cannot be judged; `what` is how a reason calls it.
    fn judge(
        &mut self,
        draft: &mut Draft,
        judged: Judged,
        resource: Resource,
        fix: Option<Change>,
        (what, name): (&str, &str),
        before: &impl Serialize,
    ) {
        if let Some(reason) = verdict(self.rule, what, &judged) {
            draft.violation(Rule::UserPermissions, resource, fix, reason, before);
        } else if let Err(why) = &judged.document {
            report_unreadable(draft, self.user, name, why, before);
        }
        self.admin |= judged.admin.is_some();
        self.documents.extend(judged.document.ok().flatten());
    }
}

/// What one policy amounts to.
struct Judged {
    /// The parsed document; `Ok(None)` for a policy of AWS's, judged by name.
    document: Result<Option<Document>, String>,
    admin: Option<String>,
}

fn judge_managed(policy: &ManagedPolicy) -> Judged {
    match &policy.document {
        None if ADMIN_POLICIES.contains(&policy.name.as_str()) => Judged {
            document: Ok(None),
            admin: Some("is AWS's own admin-equivalent policy".to_owned()),
        },
        None => Judged {
            document: Ok(None),
            admin: None,
        },
        Some(text) => judge_document(text),
    }
}

fn judge_document(text: &str) -> Judged {
    match document::parse(text) {
        Ok(document) => Judged {
            admin: Grants::of([&document]).admin(),
            document: Ok(Some(document)),
        },
        Err(why) => Judged {
            document: Err(why),
            admin: None,
        },
    }
}

/// Why a policy of the user's own must go, if it must.
fn verdict(rule: &UserPermissionsRule, what: &str, judged: &Judged) -> Option<String> {
    match (&judged.admin, rule.forbid_admin, rule.allow_direct_policies) {
        (Some(admin), true, _) => Some(format!("{what} is admin-equivalent: it {admin}")),
        (_, _, false) => Some(format!(
            "{what} is given to the user directly; users get permissions through groups (allowDirectPolicies: false)"
        )),
        _ => None,
    }
}

fn group_admin(group: &Group) -> Option<String> {
    group
        .attached
        .iter()
        .map(|p| (&p.name, judge_managed(p)))
        .chain(group.inline.iter().map(|p| (&p.name, judge_document(&p.document))))
        .find_map(|(name, judged)| judged.admin.map(|why| format!("its policy {name} {why}")))
}

fn report_unreadable(draft: &mut Draft, user: &User, name: &str, why: &str, before: &impl Serialize) {
    let reason = format!("policy {name} cannot be judged, so it is reported: {why}");
    let resource = Resource::User {
        name: user.name.clone(),
    };
    draft.violation(Rule::UserPermissions, resource, None, reason, before);
}
