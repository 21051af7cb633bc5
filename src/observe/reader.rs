//! One account's reader: what a reconcile needs to read a key live and
//! judge it, written once for reconciles, re-judgements and `plan`.
//!
//! A user is read in the facets a reconcile is about (the ones an event can
//! change, or a resync's findings are about), and its tags only when a
//! decision needs them: when there is something to act on, which an
//! exemption by tag could stop.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use super::documents::{PolicyDocuments, Reading};
use super::live::{Live, LivePlan};
use super::passwords::PasswordChanges;
use super::scan::{self, Seen, Suspects};
use super::user::{self, UserRead};
use super::{access_analyzer, caller, cloudtrail, iam, permissions, quarantine, when};
use crate::aws::Clients;
use crate::error::Error;
use crate::name::Name;
use crate::plan;
use crate::policy::Policy;
use crate::state::{Caller, Identity, Observed};
use crate::work::{Facets, Key, Trigger};
use crate::written::Fact;

pub struct Reader {
    clients: Clients,
    /// Read at start-up and again at every scan: a role's trust policy can change.
    caller: RwLock<Arc<Caller>>,
    documents: PolicyDocuments,
    passwords: PasswordChanges,
}

impl Reader {
    /// Asks AWS who iam-warden runs as: that identity is never changed.
    pub async fn new(clients: Clients) -> Result<Reader, Error> {
        let caller = caller::caller(&clients).await?;
        Ok(Reader {
            clients,
            caller: RwLock::new(Arc::new(caller)),
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

    /// A password change seen in an event, or a reset iam-warden required.
    pub fn note_password_set(&self, user: &str, at: DateTime<Utc>) {
        self.passwords.note(user, at);
    }

    /// The full scan: who iam-warden runs as, read again, and the keys to reconcile.
    pub async fn scan(&self, policy: &Policy) -> Result<Suspects, Error> {
        self.set_caller(caller::caller(&self.clients).await?);
        scan::scan(
            &self.clients,
            &self.caller(),
            policy,
            &self.passwords,
            &self.documents,
            Utc::now(),
        )
        .await
    }

    /// An event said the default version of the policy `arn` changed, or
    /// that the policy was deleted.
    pub fn policy_changed(&self, arn: &str) {
        self.documents.changed(arn);
    }

    /// Reads `key` live in `facets` and judges it, reading the tags too when
    /// a decision turns on them. `seen`: what a scan seconds ago showed of
    /// the user; `triggers`: the events behind the reconcile, if any.
    ///
    /// Policies' default versions as the last scan read them stand in for
    /// live reads only in a judgement that finds nothing: one that finds
    /// anything is made again from live reads alone.
    pub async fn judge(
        &self,
        policy: &Policy,
        key: &Key,
        facets: Facets,
        seen: Option<&Seen>,
        triggers: &[Trigger],
    ) -> Result<LivePlan, Error> {
        let now = Utc::now();
        let remembering = Reading::remembering(&self.documents, attached_by(triggers));
        let mut live = self.read(policy, key, facets, seen, &remembering).await?;
        let mut plan = live.plan(policy, now, triggers);
        if remembering.remembered() && !plan.findings.is_empty() {
            live = self
                .read(policy, key, facets, seen, &Reading::live(&self.documents))
                .await?;
            plan = live.plan(policy, now, triggers);
        }
        match self.read_tags_if_needed(policy, &plan, &mut live, now).await? {
            true => Ok(live.plan(policy, now, triggers)),
            false => Ok(plan),
        }
    }

    /// Everything `key` names, whatever the policy manages: what `undo`
    /// judges a reversal on.
    pub async fn current(&self, key: &Key) -> Result<Live, Error> {
        let caller = self.caller();
        let iam = &self.clients.iam;
        let documents = Reading::live(&self.documents);
        let mut observed = Observed {
            caller: (*caller).clone(),
            ..Observed::default()
        };
        match key {
            Key::User(name) => {
                let read = UserRead {
                    facets: Facets::ALL,
                    caller: &caller,
                    skip_last_used: &|_, _| false,
                    password_last_used: false,
                    documents: &documents,
                    seen: None,
                };
                observed.users = user::user(iam, name, &read).await?.into_iter().collect();
            }
            Key::Role(name) => {
                let role = iam::role(iam, name, &caller, Some(&documents)).await?;
                observed.roles = Some(role.into_iter().collect());
            }
            Key::OidcProvider(arn) => {
                observed.oidc_providers = Some(iam::oidc_provider(iam, arn).await?.into_iter().collect());
            }
            Key::PasswordPolicy => observed.password_policy = Some(iam::password_policy(iam).await?),
            Key::ServerCertificates => observed.server_certificates = Some(iam::server_certificates(iam).await?),
            Key::Group(name) => {
                let group = permissions::group(iam, name.to_string(), &documents).await?;
                observed.groups = Some(group.into_iter().collect());
            }
            Key::Root | Key::OidcProviders | Key::Trails | Key::QuarantinePolicies => {}
        }
        Ok(Live::new(observed))
    }

    /// The role iam-warden runs as may have come to trust a provider since
    /// start-up: read its trust again, right before a provider is deleted.
    pub async fn refresh_trust(&self) -> Arc<Caller> {
        let mut caller = (*self.caller()).clone();
        if let Identity::Role { name, trust } = &mut caller.identity {
            *trust = caller::role_trust(&self.clients.iam, name).await;
            self.set_caller(caller);
        }
        self.caller()
    }

    /// Reads what `key` names and the policy manages, and nothing else.
    async fn read(
        &self,
        policy: &Policy,
        key: &Key,
        facets: Facets,
        seen: Option<&Seen>,
        documents: &Reading<'_>,
    ) -> Result<Live, Error> {
        let caller = self.caller();
        let iam = &self.clients.iam;
        let mut observed = Observed {
            caller: (*caller).clone(),
            ..Observed::default()
        };
        match key {
            Key::PasswordPolicy => {
                observed.password_policy = when(policy.password_policy.is_some(), iam::password_policy(iam)).await?
            }
            Key::Root => {
                (observed.root, observed.support_roles, observed.access_analyzers) = tokio::try_join!(
                    iam::root(iam, policy),
                    iam::support_roles(iam, &caller, policy),
                    access_analyzer::analyzers(&self.clients, policy),
                )?;
            }
            Key::User(name) => {
                // Unmanaged, a user is read only for what iam-warden may hold it in.
                let facets = match scan::manages_users(policy) {
                    true => facets,
                    false => Facets::CONSOLE,
                };
                observed.users = self.user(policy, &caller, name, facets, seen, documents).await?;
            }
            // Unmanaged, a role is read for the quarantine iam-warden may hold it in.
            Key::Role(name) => {
                let documents = policy.role_permissions.is_some().then_some(documents);
                observed.roles = Some(iam::role(iam, name, &caller, documents).await?.into_iter().collect());
            }
            Key::OidcProvider(arn) => {
                let one = async { Ok(iam::oidc_provider(iam, arn).await?.into_iter().collect()) };
                observed.oidc_providers = when(policy.oidc_providers.is_some(), one).await?;
            }
            Key::OidcProviders => {
                observed.oidc_providers = when(policy.oidc_providers.is_some(), iam::oidc_providers(iam)).await?
            }
            Key::Trails => {
                observed.trails = when(policy.cloudtrail.is_some(), cloudtrail::trails(&self.clients)).await?
            }
            Key::QuarantinePolicies => {
                observed.quarantine_policies = Some(quarantine::quarantine_policies(iam, &caller).await?);
            }
            Key::Group(name) => {
                let group = async {
                    Ok(permissions::group(iam, name.to_string(), documents)
                        .await?
                        .into_iter()
                        .collect())
                };
                // Rule user-permissions judges the members by what the group grants.
                let judged = policy.group_permissions.is_some() || policy.user_permissions.is_some();
                observed.groups = when(judged, group).await?;
            }
            Key::ServerCertificates => {
                let wanted = policy.server_certificates.is_some();
                observed.server_certificates = when(wanted, iam::server_certificates(iam)).await?;
            }
        }
        Ok(Live::new(observed))
    }

    /// The user in `facets`, with what is known of its password; none if it is gone.
    async fn user(
        &self,
        policy: &Policy,
        caller: &Caller,
        name: &Name,
        facets: Facets,
        seen: Option<&Seen>,
        documents: &Reading<'_>,
    ) -> Result<Vec<crate::state::User>, Error> {
        let now = Utc::now();
        let max_age = policy.access_keys.as_ref().and_then(|k| k.max_age);
        // An active key past maxAge is deactivated whatever its last use.
        let past_max_age =
            move |active: bool, created: DateTime<Utc>| active && max_age.is_some_and(|limit| now - created >= limit);
        let read = UserRead {
            facets,
            caller,
            skip_last_used: &past_max_age,
            password_last_used: policy.console_access.is_some(),
            documents,
            seen,
        };
        let mut users: Vec<_> = user::user(&self.clients.iam, name, &read).await?.into_iter().collect();
        self.passwords.complete(&mut users);
        Ok(users)
    }

    /// A finding to act on about a user whose tags were not read, when an
    /// exemption by tag or a deactivation record could change it. Reads the
    /// tags; `true` if the plan must be made again.
    async fn read_tags_if_needed(
        &self,
        policy: &Policy,
        plan: &LivePlan,
        live: &mut Live,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let mut read = false;
        for user in live.observed_mut().users.iter_mut().filter(|u| u.tags.is_none()) {
            let acts_on = plan.findings.iter().any(|f| {
                f.is_actionable()
                    && f.resource.user() == Some(&user.name)
                    && plan::tags_could_change(&policy.exemptions, f, now)
            });
            if acts_on {
                user.tags = Some(user::tags(&self.clients.iam, &user.name).await?.unwrap_or_default());
                read = true;
            }
        }
        Ok(read)
    }
}

/// The policies the events behind a reconcile attached.
fn attached_by(triggers: &[Trigger]) -> Vec<String> {
    let attached = |t: &Trigger| match &t.written.as_ref()?.fact {
        Fact::Attached(arn) => Some(arn.clone()),
        _ => None,
    };
    triggers.iter().filter_map(attached).collect()
}
