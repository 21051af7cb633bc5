//! One reconcile of one key: observe it live, plan, execute. A resync is the
//! full scan, which names the keys to reconcile; the CLI's `apply` is a
//! resync followed by a reconcile of each key it named.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::aws::Clients;
use crate::error::Error;
use crate::execute::{self, ChangeBudget, Executor, Outcome, Rejudge, Verdict};
use crate::key::Key;
use crate::observe::{self, Caller, Identity, Observed};
use crate::plan::{self, Finding, Plan, Resource};
use crate::policy::Policy;
use crate::runtime::queue::Trigger;
use crate::scan::{self, manages_users, when};

/// Keys the CLI's `apply` reconciles at once: enough to hide latency, few
/// enough to stay far below IAM's request rate limits.
const KEYS_IN_FLIGHT: usize = 8;

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

    /// When the change budget lets the changes it held back through.
    pub fn retry_at(&self) -> Option<Instant> {
        self.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::RateLimited(at) => *at,
                _ => None,
            })
            .min()
    }

    /// The moments something now compliant will violate, each with its key.
    pub fn deadlines(&self) -> impl Iterator<Item = (Key, DateTime<Utc>)> + '_ {
        self.plan
            .deadlines
            .iter()
            .filter_map(|(resource, at)| Some((key_for(resource)?, *at)))
    }
}

/// A resync's result: the keys to reconcile now, and later.
pub struct Resync {
    /// The findings only the scan judges (the root user), decided.
    pub pass: Pass,
    pub suspects: BTreeSet<Key>,
    /// Deadlines of the keys that are not suspects; a suspect's reconcile finds its own.
    pub deadlines: Vec<(Key, DateTime<Utc>)>,
}

pub struct Reconciler {
    clients: Clients,
    /// Read at start-up and again at every resync: a role's trust policy can change.
    caller: RwLock<Arc<Caller>>,
    executor: Executor,
}

impl Reconciler {
    /// Asks AWS who iam-warden runs as: that identity is never changed.
    pub async fn new(clients: Clients, dry_run: bool, budget: Arc<ChangeBudget>) -> Result<Reconciler, Error> {
        let caller = observe::caller(&clients).await?;
        let executor = Executor::new(clients.clone(), dry_run, budget);
        Ok(Reconciler {
            clients,
            caller: RwLock::new(Arc::new(caller)),
            executor,
        })
    }

    pub fn caller(&self) -> Arc<Caller> {
        self.caller.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_caller(&self, caller: Caller) {
        *self.caller.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(caller);
    }

    /// One key, read live and judged whole. Not [`Key::All`]: that is a [`Reconciler::resync`].
    pub async fn reconcile(&self, policy: &Policy, key: &Key, trigger: Option<&Trigger>) -> Result<Pass, Error> {
        let caller = self.caller();
        if *key == Key::QuarantinePolicies {
            self.executor.recheck_quarantine_policies();
        }
        let now = Utc::now();
        let observed = observe_key(&self.clients, &caller, policy, key).await?;
        let plan = plan::plan(policy, &observed, now);
        let event_id = trigger.and_then(|t| t.event_id.as_deref());
        let judge = Judge {
            reconciler: self,
            policy,
        };
        let outcomes = self.executor.execute(&plan, policy, &caller, event_id, &judge).await;
        Ok(Pass { plan, outcomes })
    }

    /// The full scan: reads the account-wide facts, decides what only it
    /// judges, and names the keys to reconcile.
    pub async fn resync(&self, policy: &Policy) -> Result<Resync, Error> {
        self.set_caller(observe::caller(&self.clients).await?);
        let caller = self.caller();
        let scan = scan::scan(&self.clients, &caller, policy, Utc::now()).await?;
        let Plan {
            mode,
            findings,
            deadlines,
            ..
        } = scan.plan;
        let own = Plan::new(
            mode,
            findings
                .into_iter()
                .filter(|f| key_for(&f.resource).is_none())
                .collect(),
            Vec::new(),
        );
        let judge = Judge {
            reconciler: self,
            policy,
        };
        let outcomes = self.executor.execute(&own, policy, &caller, None, &judge).await;
        let deadlines = deadlines
            .into_iter()
            .filter_map(|(resource, at)| Some((key_for(&resource)?, at)))
            .filter(|(key, _)| !scan.suspects.contains(key))
            .collect();
        Ok(Resync {
            pass: Pass { plan: own, outcomes },
            suspects: scan.suspects,
            deadlines,
        })
    }

    /// `iam-warden apply`: a resync, then every key it named, reconciled
    /// live, as one pass.
    pub async fn apply(&self, policy: &Policy) -> Result<Pass, Error> {
        let resync = self.resync(policy).await?;
        let passes: Vec<Result<Pass, Error>> = futures::stream::iter(&resync.suspects)
            .map(|key| self.reconcile(policy, key, None))
            .buffer_unordered(KEYS_IN_FLIGHT)
            .collect()
            .await;
        let mut findings = Vec::new();
        let mut outcomes = Vec::new();
        let mut deadlines: Vec<(Resource, DateTime<Utc>)> = Vec::new();
        for pass in std::iter::once(Ok(resync.pass)).chain(passes) {
            let pass = pass?;
            deadlines.extend(pass.plan.deadlines.iter().cloned());
            findings.extend(pass.plan.findings);
            outcomes.extend(pass.outcomes);
        }
        let mut pairs: Vec<(Finding, Outcome)> = findings.into_iter().zip(outcomes).collect();
        pairs.sort_by(|(a, _), (b, _)| a.order().cmp(&b.order()));
        let (findings, outcomes) = pairs.into_iter().unzip();
        let mut plan = Plan::new(policy.mode, findings, deadlines);
        plan.next_deadline = plan
            .next_deadline
            .into_iter()
            .chain(resync.deadlines.iter().map(|(_, at)| *at))
            .min();
        Ok(Pass { plan, outcomes })
    }
}

/// Reads the finding's resource again and judges it again, for the executor,
/// right before an irreversible action.
struct Judge<'a> {
    reconciler: &'a Reconciler,
    policy: &'a Policy,
}

impl Rejudge for Judge<'_> {
    async fn rejudge(&self, finding: &Finding) -> Result<Verdict, Error> {
        let Some(key) = key_for(&finding.resource) else {
            return Ok(Verdict::Withdrawn(format!("{} cannot be read again", finding.resource)));
        };
        let clients = &self.reconciler.clients;
        let mut caller = (*self.reconciler.caller()).clone();
        // The role iam-warden runs as may have come to trust this provider since start-up.
        if let (Resource::OidcProvider { .. }, Identity::Role { name, trust }) =
            (&finding.resource, &mut caller.identity)
        {
            *trust = observe::role_trust(&clients.iam, name).await;
            self.reconciler.set_caller(caller.clone());
            if let Some(why) = execute::protection(&caller, &finding.resource) {
                return Ok(Verdict::Withdrawn(why));
            }
        }
        let observed = observe_key(clients, &caller, self.policy, &key).await?;
        let fresh = plan::plan(self.policy, &observed, Utc::now());
        Ok(
            match fresh
                .findings
                .into_iter()
                .find(|f| f.same_decision(finding) && f.is_actionable())
            {
                Some(confirmed) => Verdict::Confirmed(confirmed),
                None => Verdict::Withdrawn(format!(
                    "read again right before acting, {} no longer calls for {}",
                    finding.resource, finding.action
                )),
            },
        )
    }
}

/// `iam-warden plan`: the scan, with its suspect users read live, as one plan.
pub async fn plan_account(clients: &Clients, policy: &Policy) -> Result<Plan, Error> {
    let now = Utc::now();
    let caller = observe::caller(clients).await?;
    let scan = scan::scan(clients, &caller, policy, now).await?;
    let mut observed = scan.observed;
    let suspect_users: BTreeSet<String> = scan
        .suspects
        .iter()
        .filter_map(|key| match key {
            Key::User(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    // The account-wide facts were read live already; only users came from the report.
    observed.users.retain(|user| !suspect_users.contains(&user.name));
    let live = observe_users(clients, &caller, suspect_users).await?;
    observed.users.extend(live);
    observed.users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(plan::plan(policy, &observed, now))
}

/// The key whose reconcile re-judges `resource`; `None` for what only the full scan judges.
pub fn key_for(resource: &Resource) -> Option<Key> {
    Some(match resource {
        Resource::PasswordPolicy => Key::PasswordPolicy,
        Resource::User { name } | Resource::AccessKey { user: name, .. } => Key::User(name.clone()),
        Resource::Role { name } => Key::Role(name.clone()),
        Resource::OidcProvider { arn, .. } => Key::OidcProvider(arn.clone()),
        Resource::Trail { .. } | Resource::Account => Key::Trails,
        Resource::QuarantinePolicy { .. } => Key::QuarantinePolicies,
        Resource::Root => return None,
    })
}

/// Reads what `key` names and the policy manages, and nothing else.
async fn observe_key(clients: &Clients, caller: &Caller, policy: &Policy, key: &Key) -> Result<Observed, Error> {
    let iam = &clients.iam;
    let mut observed = Observed {
        caller: caller.clone(),
        ..Observed::default()
    };
    match key {
        Key::All => return Err(Error::Internal("a full scan is a resync, not a reconcile".to_owned())),
        Key::PasswordPolicy => {
            observed.password_policy = when(policy.password_policy.is_some(), observe::password_policy(iam)).await?
        }
        Key::User(name) if manages_users(policy) => {
            observed.users = observe_users(clients, caller, [name.clone()]).await?;
        }
        Key::User(_) => {}
        Key::Role(name) if policy.oidc_trust.is_some() => {
            let deny_all = caller.quarantine_arn(crate::quarantine::QuarantinePolicy::DenyAll);
            observed.roles = Some(observe::role(iam, name, &deny_all).await?.into_iter().collect());
        }
        Key::Role(_) => {}
        Key::OidcProvider(arn) => {
            let one = async { Ok(observe::oidc_provider(iam, arn).await?.into_iter().collect()) };
            observed.oidc_providers = when(policy.oidc_providers.is_some(), one).await?;
        }
        Key::OidcProviders => {
            observed.oidc_providers = when(policy.oidc_providers.is_some(), observe::oidc_providers(iam)).await?
        }
        Key::Trails => observed.trails = when(policy.cloudtrail.is_some(), observe::trails(clients)).await?,
        Key::QuarantinePolicies => {
            observed.quarantine_policies = Some(observe::quarantine_policies(iam, caller).await?);
        }
    }
    Ok(observed)
}

async fn observe_users(
    clients: &Clients,
    caller: &Caller,
    names: impl IntoIterator<Item = String>,
) -> Result<Vec<observe::User>, Error> {
    let deny_policy = caller.quarantine_arn(crate::quarantine::QuarantinePolicy::DenyWithoutMfa);
    observe::users(&clients.iam, names, &deny_policy).await
}
