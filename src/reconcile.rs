//! One reconcile of one key: observe it live, plan, execute. A resync is the
//! full scan, which names the keys to reconcile; the CLI's `apply` is a
//! resync followed by a reconcile of each key it named.
//!
//! A user is read in the facets a reconcile is about (the ones an event can
//! change, or a resync's findings are about), and its tags only when a
//! decision needs them: when there is something to act on, which an
//! exemption by tag could stop.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::aws::Clients;
use crate::error::Error;
use crate::execute::{self, ChangeBudget, Executor, Outcome, Rejudge, Verdict};
use crate::key::{Facets, Key};
use crate::observe::{self, Caller, Identity, Observed, PolicyDocuments, User, UserRead};
use crate::plan::{self, Action, Finding, Plan, Resource};
use crate::policy::{Policy, Rule};
use crate::quarantine::QuarantinePolicy;
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

    /// The moments something now compliant will violate, each with its key
    /// and the facets of it the rule judges.
    pub fn deadlines(&self) -> impl Iterator<Item = (Key, Facets, DateTime<Utc>)> + '_ {
        self.plan
            .deadlines
            .iter()
            .filter_map(|(rule, resource, at)| Some((key_for(resource)?, facets_of(*rule), *at)))
    }
}

/// A resync's result: the keys to reconcile now, and later.
pub struct Resync {
    /// The findings only the scan judges (the root user), decided.
    pub pass: Pass,
    pub suspects: BTreeMap<Key, Facets>,
    /// Deadlines of the keys that are not suspects; a suspect's reconcile finds its own.
    pub deadlines: Vec<(Key, Facets, DateTime<Utc>)>,
}

pub struct Reconciler {
    clients: Clients,
    /// Read at start-up and again at every resync: a role's trust policy can change.
    caller: RwLock<Arc<Caller>>,
    executor: Executor,
    documents: PolicyDocuments,
    passwords: PasswordChanges,
}

/// When each user's password was last set, as best known. IAM says it only
/// in the credential report, which may be four hours old; a password change
/// seen in an event since is newer.
#[derive(Default)]
struct PasswordChanges(Mutex<HashMap<String, DateTime<Utc>>>);

impl PasswordChanges {
    fn note(&self, user: &str, at: DateTime<Utc>) {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = known.entry(user.to_owned()).or_insert(at);
        *entry = (*entry).max(at);
    }

    fn get(&self, user: &str) -> Option<DateTime<Utc>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(user).copied()
    }

    /// Fills in what is known of each console user's password.
    fn complete(&self, users: &mut [User]) {
        for user in users {
            let name = user.name.clone();
            if let Some(profile) = user.console.as_mut().and_then(|c| c.login_profile.as_mut()) {
                let known = self.get(&name);
                profile.password_last_changed = profile.password_last_changed.max(known);
            }
        }
    }

    /// Learns from users as the credential report describes them.
    fn learn(&self, users: &[User]) {
        for user in users {
            let changed = user
                .console
                .as_ref()
                .and_then(|c| c.login_profile.as_ref())
                .and_then(|p| p.password_last_changed);
            if let Some(changed) = changed {
                self.note(&user.name, changed);
            }
        }
    }
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
            documents: PolicyDocuments::default(),
            passwords: PasswordChanges::default(),
        })
    }

    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    pub fn caller(&self) -> Arc<Caller> {
        self.caller.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_caller(&self, caller: Caller) {
        *self.caller.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(caller);
    }

    /// One key, read live in `facets` and judged whole. Not [`Key::All`]:
    /// that is a [`Reconciler::resync`].
    pub async fn reconcile(
        &self,
        policy: &Policy,
        key: &Key,
        facets: Facets,
        triggers: &[Trigger],
    ) -> Result<Pass, Error> {
        self.reconcile_seen(policy, key, facets, triggers, None).await
    }

    /// A reconcile that takes what the full scan, seconds ago, read live of
    /// the user as read: `apply` reconciles right after its scan.
    async fn reconcile_seen(
        &self,
        policy: &Policy,
        key: &Key,
        facets: Facets,
        triggers: &[Trigger],
        seen: Option<&User>,
    ) -> Result<Pass, Error> {
        let caller = self.caller();
        match key {
            Key::QuarantinePolicies => self.executor.recheck_quarantine_policies(),
            Key::User(name) => {
                for trigger in triggers.iter().filter(|t| t.sets_password) {
                    self.passwords.note(name, trigger.event_time.unwrap_or_else(Utc::now));
                }
            }
            _ => {}
        }
        let now = Utc::now();
        let mut observed = self.observe(&caller, policy, key, facets, seen).await?;
        let mut plan = plan::plan(policy, &observed, now);
        if self.read_tags_if_needed(policy, &plan, &mut observed, now).await? {
            plan = plan::plan(policy, &observed, now);
        }
        let event_id = triggers.first().and_then(|t| t.event_id.as_deref());
        let judge = Judge {
            reconciler: self,
            policy,
        };
        let outcomes = self.executor.execute(&plan, policy, &caller, event_id, &judge).await;
        for (finding, outcome) in plan.findings.iter().zip(&outcomes) {
            // The user must choose a new password: once it no longer must, it has, after now.
            if let (Action::RequirePasswordReset, Outcome::Applied, Some(user)) =
                (finding.action, outcome, finding.resource.user())
            {
                self.passwords.note(user, now);
            }
        }
        Ok(Pass { plan, outcomes })
    }

    /// The full scan: reads the account-wide facts, decides what only it
    /// judges, and names the keys to reconcile.
    pub async fn resync(&self, policy: &Policy) -> Result<Resync, Error> {
        Ok(self.resync_seen(policy).await?.0)
    }

    /// The resync, and the users as its scan read them.
    async fn resync_seen(&self, policy: &Policy) -> Result<(Resync, Vec<User>), Error> {
        self.set_caller(observe::caller(&self.clients).await?);
        let caller = self.caller();
        let scan = scan::scan(&self.clients, &caller, policy, Utc::now()).await?;
        self.passwords.learn(&scan.observed.users);
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
            .filter_map(|(rule, resource, at)| Some((key_for(&resource)?, facets_of(rule), at)))
            .filter(|(key, _, _)| !scan.suspects.contains_key(key))
            .collect();
        let resync = Resync {
            pass: Pass { plan: own, outcomes },
            suspects: scan.suspects,
            deadlines,
        };
        Ok((resync, scan.observed.users))
    }

    /// `iam-warden apply`: a resync, then every key it named, reconciled
    /// live, as one pass.
    pub async fn apply(&self, policy: &Policy) -> Result<Pass, Error> {
        let (resync, users) = self.resync_seen(policy).await?;
        let seen: HashMap<&str, &User> = users.iter().map(|u| (u.name.as_str(), u)).collect();
        // A tampered quarantine policy is restored before any user is
        // reconciled: else a quarantine's own check restores it first, and the
        // policy's reconcile, planned from the earlier read, finds nothing left.
        let (first, rest): (Vec<_>, Vec<_>) = resync
            .suspects
            .iter()
            .partition(|(key, _)| **key == Key::QuarantinePolicies);
        let mut passes = Vec::new();
        for (key, facets) in first {
            passes.push(self.reconcile(policy, key, *facets, &[]).await);
        }
        let others: Vec<Result<Pass, Error>> = futures::stream::iter(rest)
            .map(|(key, facets)| {
                let user = match key {
                    Key::User(name) => seen.get(name.as_str()).copied(),
                    _ => None,
                };
                self.reconcile_seen(policy, key, *facets, &[], user)
            })
            .buffer_unordered(KEYS_IN_FLIGHT)
            .collect()
            .await;
        passes.extend(others);
        let mut findings = Vec::new();
        let mut outcomes = Vec::new();
        let mut deadlines = Vec::new();
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
            .chain(resync.deadlines.iter().map(|(_, _, at)| *at))
            .min();
        Ok(Pass { plan, outcomes })
    }

    /// `iam-warden plan`: the scan, with the facets of its suspect users read
    /// live over what the scan saw of them, as one plan.
    pub async fn plan(&self, policy: &Policy) -> Result<Plan, Error> {
        let now = Utc::now();
        let caller = self.caller();
        let scan = scan::scan(&self.clients, &caller, policy, now).await?;
        self.passwords.learn(&scan.observed.users);
        let mut observed = scan.observed;
        let suspects: HashMap<String, Facets> = scan
            .suspects
            .into_iter()
            .filter_map(|(key, facets)| match key {
                Key::User(name) => Some((name, facets)),
                _ => None,
            })
            .collect();
        let seen: HashMap<&str, &User> = observed.users.iter().map(|u| (u.name.as_str(), u)).collect();
        let reads = suspects.iter().map(|(name, facets)| async {
            let user = seen.get(name.as_str()).copied();
            let live = self
                .observe(&caller, policy, &Key::User(name.clone()), *facets, user)
                .await?;
            Ok::<_, Error>((name.clone(), live.users.into_iter().next()))
        });
        let live: HashMap<String, Option<User>> = futures::future::try_join_all(reads).await?.into_iter().collect();
        // The account-wide facts were read live already; for users, the live facets replace the report's.
        observed.users.retain_mut(|user| match live.get(&user.name) {
            Some(Some(fresh)) => {
                user.refresh(fresh.clone());
                true
            }
            Some(None) => false,
            None => true,
        });
        let known: Vec<String> = observed.users.iter().map(|u| u.name.clone()).collect();
        observed
            .users
            .extend(live.into_values().flatten().filter(|u| !known.contains(&u.name)));
        observed.users.sort_by(|a, b| a.name.cmp(&b.name));
        let mut plan = plan::plan(policy, &observed, now);
        if self.read_tags_if_needed(policy, &plan, &mut observed, now).await? {
            plan = plan::plan(policy, &observed, now);
        }
        Ok(plan)
    }

    /// Reads what `key` names and the policy manages, and nothing else.
    async fn observe(
        &self,
        caller: &Caller,
        policy: &Policy,
        key: &Key,
        facets: Facets,
        seen: Option<&User>,
    ) -> Result<Observed, Error> {
        let iam = &self.clients.iam;
        let mut observed = Observed {
            caller: caller.clone(),
            ..Observed::default()
        };
        match key {
            Key::All | Key::Group(_) => {
                return Err(Error::Internal(format!("{key} is not reconciled on its own")));
            }
            Key::PasswordPolicy => {
                observed.password_policy = when(policy.password_policy.is_some(), observe::password_policy(iam)).await?
            }
            Key::User(name) if manages_users(policy) => {
                let now = Utc::now();
                let max_age = policy.access_keys.as_ref().and_then(|k| k.max_age);
                // An active key past maxAge is deactivated whatever its last use.
                let past_max_age = move |active: bool, created: DateTime<Utc>| {
                    active && max_age.is_some_and(|limit| now - created >= limit)
                };
                let read = UserRead {
                    facets,
                    deny_policy: &caller.quarantine_arn(QuarantinePolicy::DenyWithoutMfa),
                    skip_last_used: &past_max_age,
                    documents: &self.documents,
                    seen,
                };
                observed.users = observe::users(iam, [name.clone()], &read).await?;
                self.passwords.complete(&mut observed.users);
            }
            Key::User(_) => {}
            Key::Role(name) if policy.oidc_trust.is_some() => {
                let deny_all = caller.quarantine_arn(QuarantinePolicy::DenyAll);
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
            Key::Trails => observed.trails = when(policy.cloudtrail.is_some(), observe::trails(&self.clients)).await?,
            Key::QuarantinePolicies => {
                observed.quarantine_policies = Some(observe::quarantine_policies(iam, caller).await?);
            }
        }
        Ok(observed)
    }

    /// A finding to act on about a user whose tags were not read, when an
    /// exemption by tag or a deactivation record could change it. Reads the
    /// tags; `true` if the plan must be made again.
    async fn read_tags_if_needed(
        &self,
        policy: &Policy,
        plan: &Plan,
        observed: &mut Observed,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let mut read = false;
        for user in observed.users.iter_mut().filter(|u| u.tags.is_none()) {
            let acts_on = plan.findings.iter().any(|f| {
                f.is_actionable()
                    && f.resource.user() == Some(user.name.as_str())
                    && plan::tags_could_change(&policy.exemptions, f, now)
            });
            if acts_on {
                user.tags = Some(
                    observe::user_tags(&self.clients.iam, &user.name)
                        .await?
                        .unwrap_or_default(),
                );
                read = true;
            }
        }
        Ok(read)
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
        let reconciler = self.reconciler;
        let mut caller = (*reconciler.caller()).clone();
        // The role iam-warden runs as may have come to trust this provider since start-up.
        if let (Resource::OidcProvider { .. }, Identity::Role { name, trust }) =
            (&finding.resource, &mut caller.identity)
        {
            *trust = observe::role_trust(&reconciler.clients.iam, name).await;
            reconciler.set_caller(caller.clone());
            if let Some(why) = execute::protection(&caller, &finding.resource) {
                return Ok(Verdict::Withdrawn(why));
            }
        }
        let now = Utc::now();
        let mut observed = reconciler
            .observe(&caller, self.policy, &key, facets_of(finding.rule), None)
            .await?;
        let mut fresh = plan::plan(self.policy, &observed, now);
        if reconciler
            .read_tags_if_needed(self.policy, &fresh, &mut observed, now)
            .await?
        {
            fresh = plan::plan(self.policy, &observed, now);
        }
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

/// The key whose reconcile re-judges `resource`; `None` for what only the full scan judges.
pub fn key_for(resource: &Resource) -> Option<Key> {
    Some(match resource {
        Resource::PasswordPolicy => Key::PasswordPolicy,
        Resource::User { name }
        | Resource::AccessKey { user: name, .. }
        | Resource::UserPolicy { user: name, .. }
        | Resource::InlinePolicy { user: name, .. }
        | Resource::GroupMembership { user: name, .. } => Key::User(name.clone()),
        Resource::Role { name } => Key::Role(name.clone()),
        Resource::OidcProvider { arn, .. } => Key::OidcProvider(arn.clone()),
        Resource::Trail { .. } | Resource::Account => Key::Trails,
        Resource::QuarantinePolicy { .. } => Key::QuarantinePolicies,
        Resource::Root => return None,
    })
}

/// The facets of a user that a rule judges.
pub fn facets_of(rule: Rule) -> Facets {
    match rule {
        Rule::AccessKeys => Facets::KEYS,
        Rule::Mfa | Rule::PasswordReset => Facets::CONSOLE,
        Rule::UserPermissions => Facets::PERMISSIONS,
        _ => Facets::ALL,
    }
}
