//! Live reads from IAM, one resource at a time.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{StatusType, SummaryKeyType};
use futures::{StreamExt, TryStreamExt};

use super::{AccessKey, LoginProfile, Observation, OidcProvider, Role, Source, User, tag_map, to_utc};
use crate::aws::Call;
use crate::document;
use crate::error::Error;
use crate::policy::PasswordPolicy;
use crate::quarantine;

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// Users read at once during a full scan: enough to hide latency, few enough
/// to stay far below IAM's request rate limits.
const USER_READS_IN_FLIGHT: usize = 8;

pub(crate) async fn password_policy(iam: &Client) -> Result<Observation<PasswordPolicy>, Error> {
    let output = iam
        .get_account_password_policy()
        .send()
        .await
        .or_absent("iam:GetAccountPasswordPolicy", NO_SUCH_ENTITY)?;
    let Some(current) = output.as_ref().and_then(|o| o.password_policy()) else {
        return Ok(Observation::Absent);
    };
    let positive = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0);
    Ok(Observation::Present(PasswordPolicy {
        minimum_length: positive(current.minimum_password_length()).unwrap_or(0),
        require_symbols: current.require_symbols(),
        require_numbers: current.require_numbers(),
        require_uppercase: current.require_uppercase_characters(),
        require_lowercase: current.require_lowercase_characters(),
        allow_users_to_change_password: current.allow_users_to_change_password(),
        max_age_days: positive(current.max_password_age()),
        reuse_prevention: positive(current.password_reuse_prevention()),
        hard_expiry: current.hard_expiry().unwrap_or(false),
    }))
}

pub(crate) async fn root_mfa(iam: &Client) -> Result<bool, Error> {
    let summary = iam.get_account_summary().send().await.during("iam:GetAccountSummary")?;
    let enabled = summary
        .summary_map()
        .and_then(|map| map.get(&SummaryKeyType::AccountMfaEnabled));
    Ok(enabled.is_some_and(|n| *n > 0))
}

/// Reads each named user live; users that no longer exist are left out.
pub(crate) async fn users(
    iam: &Client,
    names: impl IntoIterator<Item = String>,
    deny_policy_arn: &str,
) -> Result<Vec<User>, Error> {
    let mut users: Vec<User> = futures::stream::iter(names)
        .map(|name| user(iam, name, deny_policy_arn))
        .buffer_unordered(USER_READS_IN_FLIGHT)
        .try_filter_map(|user| async { Ok(user) })
        .try_collect()
        .await?;
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(users)
}

async fn user(iam: &Client, name: String, deny_policy_arn: &str) -> Result<Option<User>, Error> {
    let found = iam
        .get_user()
        .user_name(&name)
        .send()
        .await
        .or_absent("iam:GetUser", NO_SUCH_ENTITY)?;
    let Some(user) = found.as_ref().and_then(|output| output.user()) else {
        return Ok(None);
    };
    let ((login_profile, mfa_devices), access_keys, deny_policy_attached) = tokio::try_join!(
        console(iam, &name),
        access_keys(iam, &name),
        has_attached(iam, &name, deny_policy_arn),
    )?;
    Ok(Some(User {
        name: user.user_name().to_owned(),
        arn: user.arn().to_owned(),
        created: to_utc(user.create_date()),
        tags: tag_map(user.tags().iter().map(|t| (t.key(), t.value()))),
        login_profile,
        mfa_devices,
        access_keys,
        deny_policy_attached,
        source: Source::Live,
    }))
}

/// The login profile, and MFA devices only if there is one: the MFA rule is
/// about console users, and most event-driven reads are of key-only users.
async fn console(iam: &Client, user: &str) -> Result<(Option<LoginProfile>, usize), Error> {
    let Some(profile) = login_profile(iam, user).await? else {
        return Ok((None, 0));
    };
    Ok((Some(profile), mfa_device_count(iam, user).await?))
}

async fn login_profile(iam: &Client, user: &str) -> Result<Option<LoginProfile>, Error> {
    let output = iam
        .get_login_profile()
        .user_name(user)
        .send()
        .await
        .or_absent("iam:GetLoginProfile", NO_SUCH_ENTITY)?;
    Ok(output
        .as_ref()
        .and_then(|o| o.login_profile())
        .map(|profile| LoginProfile {
            created: to_utc(profile.create_date()),
        }))
}

async fn mfa_device_count(iam: &Client, user: &str) -> Result<usize, Error> {
    let devices: Vec<_> = iam
        .list_mfa_devices()
        .user_name(user)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .during("iam:ListMFADevices")?;
    Ok(devices.len())
}

async fn access_keys(iam: &Client, user: &str) -> Result<Vec<AccessKey>, Error> {
    let listed = iam
        .list_access_keys()
        .user_name(user)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .during("iam:ListAccessKeys")?;
    let reads = listed.into_iter().filter_map(|key| {
        let id = key.access_key_id()?.to_owned();
        let active = key.status() == Some(&StatusType::Active);
        let created = key.create_date().map(to_utc).unwrap_or_default();
        Some(async move {
            let last_used = iam
                .get_access_key_last_used()
                .access_key_id(&id)
                .send()
                .await
                .during("iam:GetAccessKeyLastUsed")?
                .access_key_last_used()
                .and_then(|used| used.last_used_date())
                .map(to_utc);
            Ok::<_, Error>(AccessKey {
                id,
                active,
                created,
                last_used,
            })
        })
    });
    let mut keys = futures::future::try_join_all(reads).await?;
    keys.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    Ok(keys)
}

async fn has_attached(iam: &Client, user: &str, policy_arn: &str) -> Result<bool, Error> {
    let attached: Vec<_> = iam
        .list_attached_user_policies()
        .user_name(user)
        .path_prefix(quarantine::PATH)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .during("iam:ListAttachedUserPolicies")?;
    Ok(attached.iter().any(|policy| policy.policy_arn() == Some(policy_arn)))
}

/// One role, read live: its trust policy and tags, and whether `deny_all` is attached.
pub(crate) async fn role(iam: &Client, name: &str, deny_all: &str) -> Result<Option<Role>, Error> {
    let found = iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .or_absent("iam:GetRole", NO_SUCH_ENTITY)?;
    let Some(role) = found.as_ref().and_then(|f| f.role()) else {
        return Ok(None);
    };
    let attached: Vec<_> = iam
        .list_attached_role_policies()
        .role_name(name)
        .path_prefix(quarantine::PATH)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .during("iam:ListAttachedRolePolicies")?;
    Ok(Some(Role {
        name: role.role_name().to_owned(),
        arn: role.arn().to_owned(),
        tags: tag_map(role.tags().iter().map(|t| (t.key(), t.value()))),
        trust_policy: document::decode(role.assume_role_policy_document().unwrap_or_default()),
        quarantined: attached.iter().any(|p| p.policy_arn() == Some(deny_all)),
    }))
}

pub(crate) async fn oidc_providers(iam: &Client) -> Result<Vec<OidcProvider>, Error> {
    let listed = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .during("iam:ListOpenIDConnectProviders")?;
    let reads = listed
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .map(|arn| oidc_provider(iam, arn));
    let found = futures::future::try_join_all(reads).await?;
    Ok(found.into_iter().flatten().collect())
}

pub(crate) async fn oidc_provider(iam: &Client, arn: &str) -> Result<Option<OidcProvider>, Error> {
    let output = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .or_absent("iam:GetOpenIDConnectProvider", NO_SUCH_ENTITY)?;
    Ok(output.map(|p| OidcProvider {
        arn: arn.to_owned(),
        url: p.url().unwrap_or_default().to_owned(),
        client_ids: p.client_id_list().to_vec(),
        thumbprints: p.thumbprint_list().to_vec(),
        tags: tag_map(p.tags().iter().map(|t| (t.key(), t.value()))),
        created: p.create_date().map(to_utc),
    }))
}
