//! A user's access keys, each with its last use where a decision needs it.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::StatusType;

use super::to_utc;
use crate::aws::Call;
use crate::error::Error;
use crate::name::Name;
use crate::state::{AccessKey, LastUse};

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// The user's keys, and its name as IAM spells it when it has any; `None`
/// when the user is gone.
pub(super) async fn read(
    iam: &Client,
    user: &Name,
    skip_last_used: &(dyn Fn(bool, chrono::DateTime<chrono::Utc>) -> bool + Sync),
) -> Result<Option<(Vec<AccessKey>, Option<Name>)>, Error> {
    let mut listed = Vec::new();
    let mut pages = iam.list_access_keys().user_name(user.as_str()).into_paginator().send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListAccessKeys", NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        listed.extend(page.access_key_metadata().iter().cloned());
    }
    let canonical = listed.iter().find_map(|k| k.user_name()).map(Name::from);
    let reads = listed.into_iter().filter_map(|key| {
        let id = key.access_key_id()?.to_owned();
        let active = key.status() == Some(&StatusType::Active);
        let created = key.create_date().map(to_utc).unwrap_or_default();
        Some(async move {
            let last_used = if skip_last_used(active, created) {
                LastUse::NotRead
            } else {
                let read = iam
                    .get_access_key_last_used()
                    .access_key_id(&id)
                    .send()
                    .await
                    .during("iam:GetAccessKeyLastUsed")?;
                match read.access_key_last_used().and_then(|used| used.last_used_date()) {
                    Some(at) => LastUse::At(to_utc(at)),
                    None => LastUse::Never,
                }
            };
            Ok::<_, Error>(AccessKey {
                id: Some(id),
                active,
                created,
                last_used,
            })
        })
    });
    let mut keys = futures::future::try_join_all(reads).await?;
    keys.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    Ok(Some((keys, canonical)))
}
