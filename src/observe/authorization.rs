//! `GetAccountAuthorizationDetails`: every user's and role's tags, attached
//! and inline policies, groups and trust policy, with the documents of the
//! account's own managed policies, in a few paginated calls, read live, for
//! the full scan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{EntityType, PolicyDetail};
use chrono::{DateTime, Utc};

use super::{Group, InlinePolicy, ManagedPolicy, Permissions, Role, tag_map, to_utc};
use crate::aws::Call;
use crate::document;
use crate::error::Error;

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
    let mut details = Details::default();
    if filters.is_empty() {
        return Ok(details);
    }
    let mut pages = iam
        .get_account_authorization_details()
        .set_filter(Some(filters))
        .max_items(PAGE)
        .into_paginator()
        .send();
    // Users may come before the groups and policies they name: assemble at the end.
    let mut users = Vec::new();
    let mut groups: HashMap<String, (Vec<String>, Vec<InlinePolicy>)> = HashMap::new();
    let mut documents: HashMap<String, String> = HashMap::new();
    while let Some(page) = pages.next().await {
        let page = page.during("iam:GetAccountAuthorizationDetails")?;
        users.extend(page.user_detail_list().iter().cloned());
        for group in page.group_detail_list() {
            let Some(name) = group.group_name() else { continue };
            let attached = group
                .attached_managed_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned))
                .collect();
            groups.insert(name.to_owned(), (attached, inline(group.group_policy_list())));
        }
        for policy in page.policies() {
            let default = policy
                .policy_version_list()
                .iter()
                .find(|v| v.is_default_version())
                .and_then(|v| v.document());
            if let (Some(arn), Some(document)) = (policy.arn(), default) {
                documents.insert(arn.to_owned(), document::decode(document));
            }
        }
        details.roles.extend(page.role_detail_list().iter().filter_map(|role| {
            Some(Role {
                name: role.role_name()?.to_owned(),
                arn: role.arn().unwrap_or_default().to_owned(),
                tags: tag_map(role.tags().iter().map(|t| (t.key(), t.value()))),
                trust_policy: document::decode(role.assume_role_policy_document().unwrap_or_default()),
                quarantined: role
                    .attached_managed_policies()
                    .iter()
                    .any(|p| p.policy_arn() == Some(deny_all)),
            })
        }));
    }
    let managed = |arns: &[String]| -> Vec<ManagedPolicy> {
        arns.iter()
            .map(|arn| ManagedPolicy {
                name: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                arn: arn.clone(),
                // AWS's own policies are not read: they are judged by name.
                document: (!arn.contains(":iam::aws:policy/")).then(|| documents.get(arn).cloned().unwrap_or_default()),
            })
            .collect()
    };
    details.users = users
        .iter()
        .filter_map(|user| {
            let attached: Vec<String> = user
                .attached_managed_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned))
                .collect();
            let permissions = Permissions {
                attached: managed(&attached),
                inline: inline(user.user_policy_list()),
                groups: user
                    .group_list()
                    .iter()
                    .map(|name| {
                        let (attached, inline) = groups.get(name).cloned().unwrap_or_default();
                        Group {
                            name: name.clone(),
                            attached: managed(&attached),
                            inline,
                        }
                    })
                    .collect(),
            };
            Some(UserDetails {
                name: user.user_name()?.to_owned(),
                created: user.create_date().map(to_utc).unwrap_or_default(),
                tags: tag_map(user.tags().iter().map(|t| (t.key(), t.value()))),
                attached: attached.into_iter().collect(),
                permissions,
            })
        })
        .collect();
    Ok(details)
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
