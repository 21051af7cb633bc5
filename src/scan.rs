//! Observation for a reconcile. A full scan finds suspects through the
//! credential report, one call for every user, then reads only them live.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::aws::Clients;
use crate::error::Error;
use crate::observe::{self, Observed};
use crate::plan;
use crate::policy::Policy;

/// Reads everything the policy manages, and nothing it does not.
pub async fn full_scan(
    clients: &Clients,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Observed, Error> {
    let iam = &clients.iam;
    let caller = observe::caller(&clients.sts).await?;
    let manages_users = policy
        .mfa
        .as_ref()
        .is_some_and(|m| m.require_for_console_users)
        || policy.access_keys.is_some();
    let deny_policy_arn = caller.deny_policy_arn();
    let (password_policy, root_mfa_enabled, oidc_providers, trails, users) = tokio::try_join!(
        when(
            policy.password_policy.is_some(),
            observe::password_policy(iam)
        ),
        when(
            policy.mfa.as_ref().is_some_and(|m| m.require_for_root),
            observe::root_mfa(iam)
        ),
        when(
            policy.oidc_providers.is_some(),
            observe::oidc_providers(iam)
        ),
        when(policy.cloudtrail.is_some(), observe::trails(clients)),
        when(manages_users, async {
            let quarantined = match &policy.mfa {
                Some(_) => observe::deny_policy_users(iam, &deny_policy_arn).await?,
                None => Default::default(),
            };
            let report = observe::credential_report(iam, &quarantined).await?;
            let (suspects, report) = plan::suspects(policy, report, now);
            let mut users = observe::users(iam, suspects.iter().cloned(), &deny_policy_arn).await?;
            // The rest stay as the report saw them: in spec, and only a source of deadlines.
            users.extend(
                report
                    .into_iter()
                    .filter(|user| !suspects.contains(&user.name)),
            );
            tracing::info!(
                suspects = suspects.len(),
                users = users.len(),
                "credential report screened"
            );
            Ok(users)
        }),
    )?;
    Ok(Observed {
        caller,
        password_policy,
        root_mfa_enabled,
        users: users.unwrap_or_default(),
        oidc_providers,
        trails,
    })
}

async fn when<T>(
    wanted: bool,
    read: impl Future<Output = Result<T, Error>>,
) -> Result<Option<T>, Error> {
    if wanted {
        read.await.map(Some)
    } else {
        Ok(None)
    }
}
