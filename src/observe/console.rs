//! A user's console access: its login profile, its MFA devices, and whether
//! iam-warden's MFA quarantine holds it.

use aws_sdk_iam::Client;

use super::held::{self, Holder};
use super::to_utc;
use crate::aws::Call;
use crate::error::Error;
use crate::name::Name;
use crate::quarantine::QuarantinePolicy;
use crate::state::{Caller, Console, LastUse, LoginProfile};

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// The console facet, and the user's name as IAM spells it when it has a
/// login profile. `check`: read whether the quarantine holds the user (else
/// it is taken as not). `last_used`: read when the password was last used.
/// `None` when the user is gone.
pub(super) async fn read(
    iam: &Client,
    user: &Name,
    check: Option<&Caller>,
    last_used: bool,
) -> Result<Option<(Console, Option<Name>)>, Error> {
    let (profile, quarantined) = tokio::try_join!(login_profile(iam, user), async {
        match check {
            Some(caller) => held::by(iam, Holder::User(user), QuarantinePolicy::DenyWithoutMfa, caller).await,
            None => Ok(Some(false)),
        }
    })?;
    let Some(quarantined) = quarantined else {
        return Ok(None);
    };
    let (mut profile, canonical) = match profile {
        Some((profile, name)) => (Some(profile), Some(name)),
        None => (None, None),
    };
    if let (Some(profile), true) = (&mut profile, last_used) {
        profile.password_last_used = password_last_used(iam, user).await?;
    }
    let mfa_devices = match &profile {
        Some(_) => mfa_device_count(iam, user).await?,
        None => 0,
    };
    let console = Console {
        login_profile: profile,
        mfa_devices,
        quarantined,
    };
    Ok(Some((console, canonical)))
}

/// The profile, with the user's name as IAM spells it; `None` when there is
/// none (or no user: which one, the other reads of the user tell).
async fn login_profile(iam: &Client, user: &Name) -> Result<Option<(LoginProfile, Name)>, Error> {
    let output = iam.get_login_profile().user_name(user.as_str()).send().await;
    let output = output.or_absent("iam:GetLoginProfile", NO_SUCH_ENTITY)?;
    Ok(output.as_ref().and_then(|o| o.login_profile()).map(|profile| {
        let found = LoginProfile {
            created: to_utc(profile.create_date()),
            reset_required: profile.password_reset_required(),
            password_last_changed: None,
            password_last_used: LastUse::NotRead,
        };
        (found, Name::from(profile.user_name()))
    }))
}

/// Only GetUser says when a password was last used; absent: never.
async fn password_last_used(iam: &Client, user: &Name) -> Result<LastUse, Error> {
    let output = iam.get_user().user_name(user.as_str()).send().await;
    let output = output.or_absent("iam:GetUser", NO_SUCH_ENTITY)?;
    let used = output
        .as_ref()
        .and_then(|o| o.user())
        .and_then(|u| u.password_last_used());
    Ok(used.map_or(LastUse::Never, |at| LastUse::At(to_utc(at))))
}

async fn mfa_device_count(iam: &Client, user: &Name) -> Result<usize, Error> {
    let devices: Vec<_> = iam
        .list_mfa_devices()
        .user_name(user.as_str())
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .during("iam:ListMFADevices")?;
    Ok(devices.len())
}
