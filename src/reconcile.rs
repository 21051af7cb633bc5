//! One reconcile of one key: observe it live, plan, execute. The CLI's
//! `apply` is a reconcile of [`Key::All`]; the daemon runs one per queued key.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::aws::Clients;
use crate::error::Error;
use crate::execute::{ChangeBudget, Executor, Outcome};
use crate::key::Key;
use crate::observe::{self, Caller, Observed};
use crate::plan::{self, Plan, Resource};
use crate::policy::Policy;
use crate::runtime::queue::Trigger;

/// What one reconcile decided and what became of each finding.
pub struct Pass {
    pub plan: Plan,
    pub outcomes: Vec<Outcome>,
}

impl Pass {
    /// Drift findings not fixed by this pass.
    pub fn remaining(&self) -> usize {
        let fixed = |outcome: &Outcome| matches!(outcome, Outcome::Applied);
        self.plan
            .findings
            .iter()
            .zip(&self.outcomes)
            .filter(|(f, o)| f.is_drift() && !fixed(o))
            .count()
    }

    pub fn failures(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Failed(_))).count()
    }
}

pub struct Reconciler {
    clients: Clients,
    caller: Caller,
    executor: Executor,
}

impl Reconciler {
    /// Asks AWS who iam-warden runs as, once: that identity is never changed.
    pub async fn new(clients: Clients, dry_run: bool, budget: Arc<ChangeBudget>) -> Result<Reconciler, Error> {
        let caller = observe::caller(&clients.sts).await?;
        let executor = Executor::new(clients.clone(), dry_run, budget);
        Ok(Reconciler {
            clients,
            caller,
            executor,
        })
    }

    pub async fn reconcile(&self, policy: &Policy, key: &Key, trigger: Option<&Trigger>) -> Result<Pass, Error> {
        let now = Utc::now();
        let observed = observe_key(&self.clients, &self.caller, policy, key, now).await?;
        let plan = plan::plan(policy, &observed, now);
        let event_id = trigger.and_then(|t| t.event_id.as_deref());
        let outcomes = self.executor.execute(&plan, policy, &self.caller, event_id).await;
        Ok(Pass { plan, outcomes })
    }
}

/// A plan of the whole account, for `iam-warden plan`.
pub async fn plan_all(clients: &Clients, policy: &Policy) -> Result<Plan, Error> {
    let now = Utc::now();
    let caller = observe::caller(&clients.sts).await?;
    let observed = observe_key(clients, &caller, policy, &Key::All, now).await?;
    Ok(plan::plan(policy, &observed, now))
}

/// The key whose reconcile re-judges `resource`.
pub fn key_for(resource: &Resource) -> Key {
    match resource {
        Resource::PasswordPolicy => Key::PasswordPolicy,
        Resource::User { name } | Resource::AccessKey { user: name, .. } => Key::User(name.clone()),
        Resource::OidcProvider { arn, .. } => Key::OidcProvider(arn.clone()),
        Resource::Trail { .. } => Key::Trails,
        Resource::Account => Key::All,
    }
}

/// Reads what `key` names and the policy manages, and nothing else.
async fn observe_key(
    clients: &Clients,
    caller: &Caller,
    policy: &Policy,
    key: &Key,
    now: DateTime<Utc>,
) -> Result<Observed, Error> {
    let iam = &clients.iam;
    let mut observed = Observed {
        caller: caller.clone(),
        ..Observed::default()
    };
    match key {
        Key::All => return full_scan(clients, caller, policy, now).await,
        Key::PasswordPolicy => {
            observed.password_policy = when(policy.password_policy.is_some(), observe::password_policy(iam)).await?
        }
        Key::User(name) if manages_users(policy) => {
            observed.users = observe::users(iam, [name.clone()], &caller.deny_policy_arn()).await?;
        }
        Key::User(_) => {}
        Key::OidcProvider(arn) => {
            let one = async { Ok(observe::oidc_provider(iam, arn).await?.into_iter().collect()) };
            observed.oidc_providers = when(policy.oidc_providers.is_some(), one).await?;
        }
        Key::OidcProviders => {
            observed.oidc_providers = when(policy.oidc_providers.is_some(), observe::oidc_providers(iam)).await?
        }
        Key::Trails => observed.trails = when(policy.cloudtrail.is_some(), observe::trails(clients)).await?,
    }
    Ok(observed)
}

fn manages_users(policy: &Policy) -> bool {
    policy.mfa.as_ref().is_some_and(|m| m.require_for_console_users) || policy.access_keys.is_some()
}

/// A full scan finds suspects through the credential report, one call for
/// every user, and reads only them live.
async fn full_scan(clients: &Clients, caller: &Caller, policy: &Policy, now: DateTime<Utc>) -> Result<Observed, Error> {
    let iam = &clients.iam;
    let deny_policy_arn = caller.deny_policy_arn();
    let (password_policy, root_mfa_enabled, oidc_providers, trails, users) = tokio::try_join!(
        when(policy.password_policy.is_some(), observe::password_policy(iam)),
        when(
            policy.mfa.as_ref().is_some_and(|m| m.require_for_root),
            observe::root_mfa(iam)
        ),
        when(policy.oidc_providers.is_some(), observe::oidc_providers(iam)),
        when(policy.cloudtrail.is_some(), observe::trails(clients)),
        when(manages_users(policy), async {
            let quarantined = match &policy.mfa {
                Some(_) => observe::deny_policy_users(iam, &deny_policy_arn).await?,
                None => Default::default(),
            };
            let report = observe::credential_report(iam, &quarantined).await?;
            let (suspects, report) = plan::suspects(policy, report, now);
            let mut users = observe::users(iam, suspects.iter().cloned(), &deny_policy_arn).await?;
            // The rest stay as the report saw them: in spec, and only a source of deadlines.
            users.extend(report.into_iter().filter(|user| !suspects.contains(&user.name)));
            tracing::info!(
                suspects = suspects.len(),
                users = users.len(),
                "credential report screened"
            );
            Ok(users)
        }),
    )?;
    Ok(Observed {
        caller: caller.clone(),
        password_policy,
        root_mfa_enabled,
        users: users.unwrap_or_default(),
        oidc_providers,
        trails,
    })
}

async fn when<T>(wanted: bool, read: impl Future<Output = Result<T, Error>>) -> Result<Option<T>, Error> {
    if wanted { read.await.map(Some) } else { Ok(None) }
}
