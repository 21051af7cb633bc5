//! `GetAccountAuthorizationDetails`: every user's and role's tags, attached
//! and inline policies, groups and trust policy, with the documents of the
//! account's own managed policies, in a few paginated calls, read live, for
//! the full scan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_iam::Client;
use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
use aws_sdk_iam::types::{AttachedPolicy, EntityType, PolicyDetail, RoleDetail, UserDetail};
use chrono::{DateTime, Utc};

use super::{tag_map, to_utc};
use crate::aws::Call;
use crate::document;
use crate::error::Error;
use crate::state::{Group, InlinePolicy, ManagedPolicy, Permissions, Role};

/// The most AWS returns in one page.
const PAGE: i32 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct UserDetails {
    pub name: String,
    pub created: DateTime<Utc>,
    pub tags: BTreeMap<String, String>,
    /// Filled when permissions were asked for; the attached policies' ARNs are always there.
    pub permissions: Permissions,
    pub attached: BTreeSet<String>,
}

/// What the account-wide read found.
#[derive(Debug, Default)]
pub struct Details {
    pub users: Vec<UserDetails>,
    pub roles: Vec<Role>,
}

/// What to read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted {
    pub users: bool,
    /// Users' inline and group policies, and the account's managed policy documents.
    pub permissions: bool,
    pub roles: bool,
}

/// Reads what is wanted in one paginated call. `deny_all` is the quarantine
/// policy whose attachment marks a role quarantined.
pub(crate) async fn authorization_details(iam: &Client, wanted: Wanted, deny_all: &str) -> Result<Details, Error> {
    let filters: Vec<EntityType> = [
        (wanted.users, EntityType::User),
        (wanted.users && wanted.permissions, EntityType::Group),
        (wanted.users && wanted.permissions, EntityType::LocalManagedPolicy),
        (wanted.roles, EntityType::Role),
    ]
    .into_iter()
    .filter_map(|(on, filter)| on.then_some(filter))
    .collect();
    let mut pages = Pages::default();
    if filters.is_empty() {
        return Ok(Details::default());
    }
    let mut paginator = iam
        .get_account_authorization_details()
        .set_filter(Some(filters))
        .max_items(PAGE)
        .into_paginator()
        .send();
    while let Some(page) = paginator.next().await {
        pages.add(page.during("iam:GetAccountAuthorizationDetails")?, deny_all);
    }
    Ok(pages.assemble())
}

/// What the pages held so far. Users may come before the groups and policies
/// they name: they are assembled at the end.
#[derive(Default)]
struct Pages {
    users: Vec<UserDetail>,
    groups: HashMap<String, (Vec<String>, Vec<InlinePolicy>)>,
    /// The default version's document of each of the account's own managed policies.
    documents: HashMap<String, String>,
    roles: Vec<Role>,
}

impl Pages {
    fn add(&mut self, page: GetAccountAuthorizationDetailsOutput, deny_all: &str) {
        self.users.extend(page.user_detail_list().iter().cloned());
        for group in page.group_detail_list() {
            let Some(name) = group.group_name() else { continue };
            let attached = arns(group.attached_managed_policies());
            self.groups
                .insert(name.to_owned(), (attached, inline(group.group_policy_list())));
        }
        for policy in page.policies() {
            let default = policy
                .policy_version_list()
                .iter()
                .find(|v| v.is_default_version())
                .and_then(|v| v.document());
            if let (Some(arn), Some(document)) = (policy.arn(), default) {
                self.documents.insert(arn.to_owned(), document::decode(document));
            }
        }
        self.roles.extend(
            page.role_detail_list()
                .iter()
                .filter_map(|role| self::role(role, deny_all)),
        );
    }

    fn assemble(self) -> Details {
        let users = self.users.iter().filter_map(|user| self.user(user)).collect();
        Details {
            users,
            roles: self.roles,
        }
    }

    fn user(&self, user: &UserDetail) -> Option<UserDetails> {
        let attached = arns(user.attached_managed_policies());
        let groups = user
            .group_list()
            .iter()
            .map(|name| {
                let (attached, inline) = self.groups.get(name).cloned().unwrap_or_default();
                Group {
                    name: name.clone(),
                    attached: self.managed(&attached),
                    inline,
                }
            })
            .collect();
        let permissions = Permissions {
            attached: self.managed(&attached),
            inline: inline(user.user_policy_list()),
            groups,
        };
        Some(UserDetails {
            name: user.user_name()?.to_owned(),
            created: user.create_date().map(to_utc).unwrap_or_default(),
            tags: tag_map(user.tags().iter().map(|t| (t.key(), t.value()))),
            attached: attached.into_iter().collect(),
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
                    .then(|| self.documents.get(arn).cloned().unwrap_or_default()),
            })
            .collect()
    }
}

fn role(role: &RoleDetail, deny_all: &str) -> Option<Role> {
    Some(Role {
        name: role.role_name()?.to_owned(),
        arn: role.arn().unwrap_or_default().to_owned(),
        tags: tag_map(role.tags().iter().map(|t| (t.key(), t.value()))),
        trust_policy: document::decode(role.assume_role_policy_document().unwrap_or_default()),
        quarantined: arns(role.attached_managed_policies()).iter().any(|arn| arn == deny_all),
    })
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
