//! `GetAccountAuthorizationDetails`: every user's tags and attached policies
//! in a few paginated calls, read live, for the full scan.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::Client;
use aws_sdk_iam::types::EntityType;
use chrono::{DateTime, Utc};

use super::{tag_map, to_utc};
use crate::aws::Call;
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

pub(crate) async fn user_details(iam: &Client) -> Result<Vec<UserDetails>, Error> {
    let mut users = Vec::new();
    let mut pages = iam
        .get_account_authorization_details()
        .filter(EntityType::User)
        .max_items(PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.during("iam:GetAccountAuthorizationDetails")?;
        users.extend(page.user_detail_list().iter().filter_map(|user| {
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
    }
    Ok(users)
}
