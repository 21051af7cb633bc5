//! `GetAccountAuthorizationDetails`: every user's and role's tags, attached
//! policies and trust policy, in a few paginated calls, read live, for the
//! full scan.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::Client;
use aws_sdk_iam::types::EntityType;
use chrono::{DateTime, Utc};

use super::{Role, tag_map, to_utc};
use crate::aws::Call;
use crate::document;
use crate::error::Error;

/// The most AWS returns in one page.
const PAGE: i32 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct UserDetails {
    pub name: String,
    pub arn: String,
    pub created: DateTime<Utc>,
    pub tags: BTreeMap<String, String>,
    pub attached_policies: BTreeSet<String>,
}

/// What the account-wide read found.
#[derive(Debug, Default)]
pub struct Details {
    pub users: Vec<UserDetails>,
    pub roles: Vec<Role>,
}

/// Reads the users, the roles, or both, in one paginated call.
/// `deny_all` is the quarantine policy whose attachment marks a role quarantined.
pub(crate) async fn authorization_details(
    iam: &Client,
    users: bool,
    roles: bool,
    deny_all: &str,
) -> Result<Details, Error> {
    let mut details = Details::default();
    if !users && !roles {
        return Ok(details);
    }
    let filters = [(users, EntityType::User), (roles, EntityType::Role)]
        .into_iter()
        .filter_map(|(wanted, filter)| wanted.then_some(filter))
        .collect();
    let mut pages = iam
        .get_account_authorization_details()
        .set_filter(Some(filters))
        .max_items(PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.during("iam:GetAccountAuthorizationDetails")?;
        details.users.extend(page.user_detail_list().iter().filter_map(|user| {
            Some(UserDetails {
                name: user.user_name()?.to_owned(),
                arn: user.arn().unwrap_or_default().to_owned(),
                created: user.create_date().map(to_utc).unwrap_or_default(),
                tags: tag_map(user.tags().iter().map(|t| (t.key(), t.value()))),
                attached_policies: user
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned))
                    .collect(),
            })
        }));
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
    Ok(details)
}
