//! `GetAccountAuthorizationDetails`: every user's and role's tags, attached
//! and inline policies, groups and trust policy, with the documents of the
//! account's own managed policies, in a few paginated calls, read live, for
//! the full scan.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_iam::Client;
use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
use aws_sdk_iam::types::{AttachedPolicy, EntityType, PolicyDetail, RoleDetail, UserDetail};
use chrono::{DateTime, Utc};

use super::documents::DefaultVersion;
use super::{tag_map, to_utc};
use crate::aws::Call;
use crate::document;
use crate::error::Error;
use crate::name::Name;
use crate::quarantine::QuarantinePolicy;
use crate::state::{Caller, Group, InlinePolicy, ManagedPolicy, Permissions, Role, RolePermissions};

/// The most AWS returns in one page.
const PAGE: i32 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct UserDetails {
    pub name: Name,
    pub created: DateTime<Utc>,
    pub tags: BTreeMap<String, String>,
    /// Filled when permissions were asked for.
    pub permissions: Permissions,
    /// iam-warden's MFA quarantine holds the user.
    pub quarantined: bool,
}

/// What the account-wide read found.
#[derive(Debug, Default)]
pub struct Details {
    pub users: Vec<UserDetails>,
    pub roles: Vec<Role>,
    /// Every group with its policies, when groups were read.
    pub groups: Vec<Group>,
    /// The default version of each of the account's own managed policies,
    /// when their documents were read.
    pub default_versions: HashMap<String, DefaultVersion>,
}

/// What the account-wide read judges besides who iam-warden's quarantines hold.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Judged {
    pub user_permissions: bool,
    pub group_permissions: bool,
    pub role_permissions: bool,
}

/// Reads every user and role in one paginated call; with permissions
/// judged, the groups' policies and the documents of the account's own
/// managed policies too. `caller`'s quarantine policies mark who they hold.
pub(crate) async fn authorization_details(iam: &Client, judged: Judged, caller: &Caller) -> Result<Details, Error> {
    let groups = judged.user_permissions || judged.group_permissions;
    let documents = groups || judged.role_permissions;
    let filters: Vec<EntityType> = [
        (true, EntityType::User),
        (groups, EntityType::Group),
        (documents, EntityType::LocalManagedPolicy),
        (true, EntityType::Role),
    ]
    .into_iter()
    .filter_map(|(on, filter)| on.then_some(filter))
    .collect();
    let mut pages = Pages {
        role_permissions: judged.role_permissions,
        ..Pages::default()
    };
    let mut paginator = iam
        .get_account_authorization_details()
        .set_filter(Some(filters))
        .max_items(PAGE)
        .into_paginator()
        .send();
    while let Some(page) = paginator.next().await {
        pages.add(page.during("iam:GetAccountAuthorizationDetails")?);
    }
    Ok(pages.assemble(caller))
}

/// What the pages held so far. Users may come before the groups and policies
/// they name: they are assembled at the end.
#[derive(Default)]
struct Pages {
    users: Vec<UserDetail>,
    groups: HashMap<String, (Vec<String>, Vec<InlinePolicy>)>,
    /// The default version of each of the account's own managed policies.
    documents: HashMap<String, DefaultVersion>,
    roles: Vec<RoleDetail>,
    /// Read each role's policies, boundary and use.
    role_permissions: bool,
}

impl Pages {
    fn add(&mut self, page: GetAccountAuthorizationDetailsOutput) {
        self.users.extend(page.user_detail_list().iter().cloned());
        for group in page.group_detail_list() {
            let Some(name) = group.group_name() else { continue };
            let attached = arns(group.attached_managed_policies());
            self.groups
                .insert(name.to_owned(), (attached, inline(group.group_policy_list())));
        }
        for policy in page.policies() {
            let default = policy.policy_version_list().iter().find(|v| v.is_default_version());
            let version = default.and_then(|v| Some((v.version_id()?, v.document()?)));
            if let (Some(arn), Some(policy_id), Some((id, document))) = (policy.arn(), policy.policy_id(), version) {
                let version = DefaultVersion {
                    policy_id: policy_id.to_owned(),
                    id: id.to_owned(),
                    document: document::decode(document),
                };
                self.documents.insert(arn.to_owned(), version);
            }
        }
        self.roles.extend(page.role_detail_list().iter().cloned());
    }

    fn assemble(self, caller: &Caller) -> Details {
        let users = self.users.iter().filter_map(|user| self.user(user, caller)).collect();
        let roles = self.roles.iter().filter_map(|role| self.role(role, caller)).collect();
        let groups = self
            .groups
            .iter()
            .map(|(name, (attached, inline))| Group {
                name: Name::from(name.as_str()),
                attached: self.managed(attached),
                inline: inline.clone(),
            })
            .collect();
        Details {
            users,
            roles,
            groups,
            default_versions: self.documents,
        }
    }

    fn user(&self, user: &UserDetail, caller: &Caller) -> Option<UserDetails> {
        let attached = arns(user.attached_managed_policies());
        let inline = inline(user.user_policy_list());
        let quarantined = held(&attached, &inline, QuarantinePolicy::DenyWithoutMfa, caller);
        let groups = user
            .group_list()
            .iter()
            .map(|name| {
                let (attached, inline) = self.groups.get(name).cloned().unwrap_or_default();
                Group {
                    name: Name::from(name.as_str()),
                    attached: self.managed(&attached),
                    inline,
                }
            })
            .collect();
        let boundary = user
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .map(|arn| self.managed(&[arn.to_owned()]).remove(0));
        let permissions = Permissions {
            attached: self.managed(&attached),
            inline,
            groups,
            boundary,
        };
        Some(UserDetails {
            name: Name::from(user.user_name()?),
            created: user.create_date().map(to_utc).unwrap_or_default(),
            tags: tag_map(user.tags().iter().map(|t| (t.key(), t.value()))),
            permissions,
            quarantined,
        })
    }

    fn role(&self, role: &RoleDetail, caller: &Caller) -> Option<Role> {
        let attached = arns(role.attached_managed_policies());
        let inline = inline(role.role_policy_list());
        let quarantined = held(&attached, &inline, QuarantinePolicy::DenyAll, caller);
        let permissions = self.role_permissions.then(|| RolePermissions {
            attached: self.managed(&attached),
            inline,
            boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(|arn| self.managed(&[arn.to_owned()]).remove(0)),
            created: role.create_date().map(to_utc).unwrap_or_default(),
            last_used: role.role_last_used().and_then(|u| u.last_used_date()).map(to_utc),
        });
        Some(Role {
            name: Name::from(role.role_name()?),
            arn: role.arn().unwrap_or_default().to_owned(),
            tags: tag_map(role.tags().iter().map(|t| (t.key(), t.value()))),
            trust_policy: document::decode(role.assume_role_policy_document().unwrap_or_default()),
            quarantined,
            permissions,
        })
    }

    fn managed(&self, arns: &[String]) -> Vec<ManagedPolicy> {
        arns.iter()
            .map(|arn| ManagedPolicy {
                name: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                arn: arn.clone(),
                // AWS's own policies are not read: they are judged by name.
                document: (!arn.contains(":iam::aws:policy/"))
                    .then(|| self.documents.get(arn).map(|v| v.document.clone()).unwrap_or_default()),
            })
            .collect()
    }
}

/// Whether `quarantine` holds a principal with these policies: attached, or
/// inline under its name with the shipped document.
fn held(attached: &[String], inline: &[InlinePolicy], quarantine: QuarantinePolicy, caller: &Caller) -> bool {
    attached.contains(&caller.quarantine_arn(quarantine))
        || inline
            .iter()
            .any(|p| QuarantinePolicy::inline(&p.name, &p.document, caller.partition()) == Some(quarantine))
}

fn arns(attached: &[AttachedPolicy]) -> Vec<String> {
    attached
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect()
}

fn inline(policies: &[PolicyDetail]) -> Vec<InlinePolicy> {
    policies
        .iter()
        .filter_map(|p| {
            Some(InlinePolicy {
                name: p.policy_name()?.to_owned(),
                document: document::decode(p.policy_document().unwrap_or_default()),
            })
        })
        .collect()
}
