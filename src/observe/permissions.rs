//! What a user may do: its attached and inline policies, its groups' and
//! its permissions boundary, with every document read.

use std::collections::BTreeMap;

use aws_sdk_iam::Client;

use super::documents::Reading;
use super::tag_map;
use crate::aws::Call;
use crate::document;
use crate::error::Error;
use crate::name::Name;
use crate::state::{Group, InlinePolicy, ManagedPolicy, Permissions};

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// The ARNs of the user's attached policies; `None` when the user is gone.
async fn attached(iam: &Client, user: &Name) -> Result<Option<Vec<String>>, Error> {
    let mut arns = Vec::new();
    let mut pages = iam
        .list_attached_user_policies()
        .user_name(user.as_str())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListAttachedUserPolicies", NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        arns.extend(
            page.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned)),
        );
    }
    Ok(Some(arns))
}

/// The permissions facet: the user's policies, its groups' and its
/// boundary; with what `GetUser` says of it (its name as IAM spells it, its
/// tags). `None` when the user is gone.
pub(super) async fn read(iam: &Client, user: &Name, documents: &Reading<'_>) -> Result<Option<Read>, Error> {
    let (found, attached, inline, groups) = tokio::try_join!(
        get_user(iam, user),
        attached(iam, user),
        user_inline_policies(iam, user),
        groups_of(iam, user),
    )?;
    let (Some(found), Some(attached), Some(inline), Some(groups)) = (found, attached, inline, groups) else {
        return Ok(None);
    };
    let boundary = found.boundary.map(|arn| vec![arn]).unwrap_or_default();
    let (attached, boundary, groups) = tokio::try_join!(
        managed_policies(iam, attached, documents),
        managed_policies(iam, boundary, documents),
        futures::future::try_join_all(groups.into_iter().map(|name| group(iam, name, documents))),
    )?;
    let permissions = Permissions {
        attached,
        inline,
        // A group deleted since the list is no group of the user's any more.
        groups: groups.into_iter().flatten().collect(),
        boundary: boundary.into_iter().next(),
    };
    Ok(Some(Read {
        name: found.name,
        tags: found.tags,
        permissions,
    }))
}

/// What the permissions facet read.
pub(super) struct Read {
    pub name: Name,
    pub tags: BTreeMap<String, String>,
    pub permissions: Permissions,
}

/// What `GetUser` says of a user.
struct Found {
    name: Name,
    tags: BTreeMap<String, String>,
    boundary: Option<String>,
}

async fn get_user(iam: &Client, user: &Name) -> Result<Option<Found>, Error> {
    let got = iam.get_user().user_name(user.as_str()).send().await;
    let Some(user) = got.or_absent("iam:GetUser", NO_SUCH_ENTITY)?.and_then(|g| g.user) else {
        return Ok(None);
    };
    Ok(Some(Found {
        name: Name::from(user.user_name()),
        tags: tag_map(user.tags().iter().map(|t| (t.key(), t.value()))),
        boundary: user
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .map(str::to_owned),
    }))
}

pub(super) async fn managed_policies(
    iam: &Client,
    arns: Vec<String>,
    documents: &Reading<'_>,
) -> Result<Vec<ManagedPolicy>, Error> {
    futures::future::try_join_all(arns.into_iter().map(|arn| async move {
        let document = documents.default_document(iam, &arn).await?;
        Ok::<_, Error>(ManagedPolicy {
            name: arn.rsplit('/').next().unwrap_or(&arn).to_owned(),
            arn,
            document,
        })
    }))
    .await
}

/// `None` when the user is gone.
async fn user_inline_policies(iam: &Client, user: &Name) -> Result<Option<Vec<InlinePolicy>>, Error> {
    let mut names = Vec::new();
    let mut pages = iam
        .list_user_policies()
        .user_name(user.as_str())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListUserPolicies", NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        names.extend(page.policy_names().iter().cloned());
    }
    let reads = names.into_iter().map(|name| async move {
        let got = iam
            .get_user_policy()
            .user_name(user.as_str())
            .policy_name(&name)
            .send()
            .await
            .or_absent("iam:GetUserPolicy", NO_SUCH_ENTITY)?;
        Ok::<_, Error>(got.map(|g| InlinePolicy {
            name,
            document: document::decode(g.policy_document()),
        }))
    });
    Ok(Some(
        futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect(),
    ))
}

/// `None` when the user is gone.
async fn groups_of(iam: &Client, user: &Name) -> Result<Option<Vec<String>>, Error> {
    let mut groups = Vec::new();
    let mut pages = iam
        .list_groups_for_user()
        .user_name(user.as_str())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListGroupsForUser", NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        groups.extend(page.groups().iter().map(|g| g.group_name().to_owned()));
    }
    Ok(Some(groups))
}

/// A group's policies, every document read; `None` when the group is gone.
pub(super) async fn group(iam: &Client, name: String, documents: &Reading<'_>) -> Result<Option<Group>, Error> {
    let (attached, names) = tokio::try_join!(
        async {
            let pages = iam
                .list_attached_group_policies()
                .group_name(&name)
                .into_paginator()
                .items()
                .send();
            let listed: Result<Vec<_>, _> = pages.try_collect().await;
            listed.or_absent("iam:ListAttachedGroupPolicies", NO_SUCH_ENTITY)
        },
        async {
            let pages = iam
                .list_group_policies()
                .group_name(&name)
                .into_paginator()
                .items()
                .send();
            let listed: Result<Vec<String>, _> = pages.try_collect().await;
            listed.or_absent("iam:ListGroupPolicies", NO_SUCH_ENTITY)
        },
    )?;
    let (Some(attached), Some(names)) = (attached, names) else {
        return Ok(None);
    };
    let inline = names.into_iter().map(|policy| {
        let group = name.as_str();
        async move {
            let got = iam
                .get_group_policy()
                .group_name(group)
                .policy_name(&policy)
                .send()
                .await;
            let got = got.or_absent("iam:GetGroupPolicy", NO_SUCH_ENTITY)?;
            Ok::<_, Error>(got.map(|got| InlinePolicy {
                name: policy,
                document: document::decode(got.policy_document()),
            }))
        }
    });
    let arns = attached
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    let (attached, inline) = tokio::try_join!(
        managed_policies(iam, arns, documents),
        futures::future::try_join_all(inline),
    )?;
    Ok(Some(Group {
        attached,
        inline: inline.into_iter().flatten().collect(),
        name: Name::from(name),
    }))
}
