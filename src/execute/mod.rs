//! The only place that changes AWS. Exemptions, self-protection, dry-run and
//! audit mode, the change budget, and the fresh read before an irreversible
//! action are all decided here, once, for every rule.

mod audit;
mod budget;
mod quarantine;
pub mod undo;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_iam::types::{StatusType, Tag};
use chrono::{SecondsFormat, Utc};

pub use budget::ChangeBudget;

use crate::aws::{Call, Clients};
use crate::error::Error;
use crate::observe::{Caller, Identity, Trust};
use crate::plan::{self, Action, Finding, Plan, Resource};
use crate::policy::{Mode, Policy};
use crate::quarantine::QuarantinePolicy;

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// What became of one finding.
#[derive(Debug)]
pub enum Outcome {
    Applied,
    DryRun,
    Failed(Error),
    Exempt,
    /// iam-warden never does this: it is itself, what it runs on, or what a
    /// fresh read no longer supports. The reason says which.
    Protected(String),
    /// Held back by the change budget until the given time (`None`: this
    /// pass's cap, which never refills).
    RateLimited(Option<Instant>),
    /// Nothing to do: the finding is report-only or a warning.
    Reported,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::DryRun => "dry_run",
            Outcome::Failed(_) => "failed",
            Outcome::Exempt => "exempt",
            Outcome::Protected(_) => "protected",
            Outcome::RateLimited(_) => "rate_limited",
            Outcome::Reported => "reported",
        }
    }

    pub fn detail(&self, finding: &Finding) -> Option<String> {
        match self {
            Outcome::Failed(error) => Some(error.to_string()),
            Outcome::Exempt => finding.exempt.clone(),
            Outcome::Protected(why) => Some(why.clone()),
            Outcome::RateLimited(Some(at)) => Some(format!(
                "held back by the change budget; tried again in {}s",
                at.saturating_duration_since(Instant::now()).as_secs()
            )),
            Outcome::RateLimited(None) => Some("over this pass's change cap".to_owned()),
            _ => None,
        }
    }
}

/// What a fresh read says of a finding about to be acted on irreversibly.
pub enum Verdict {
    /// Still called for; the finding as read now, whose before-state is logged.
    Confirmed(Finding),
    /// No longer called for, and why.
    Withdrawn(String),
}

/// Reads one finding's resource again and judges it again.
pub trait Rejudge {
    fn rejudge(&self, finding: &Finding) -> impl Future<Output = Result<Verdict, Error>> + Send;
}

pub struct Executor {
    clients: Clients,
    dry_run: bool,
    budget: Arc<ChangeBudget>,
    checked: quarantine::Checked,
    /// One restore of a quarantine policy at a time, from the read to the
    /// audit line: a resync's reconcile of the policies and a user's attach
    /// may both find it tampered, and only one may delete a version.
    restoring: tokio::sync::Mutex<()>,
}

impl Executor {
    pub fn new(clients: Clients, dry_run: bool, budget: Arc<ChangeBudget>) -> Executor {
        Executor {
            clients,
            dry_run,
            budget,
            checked: quarantine::Checked::default(),
            restoring: tokio::sync::Mutex::new(()),
        }
    }

    /// Forgets that the quarantine policies were checked: someone changed one.
    pub fn recheck_quarantine_policies(&self) {
        self.checked.forget();
    }

    /// Decides and carries out every finding, in order, one audit line each.
    /// The outcomes line up with `plan.findings`.
    pub async fn execute(
        &self,
        plan: &Plan,
        policy: &Policy,
        caller: &Caller,
        event_id: Option<&str>,
        rejudge: &impl Rejudge,
    ) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(plan.findings.len());
        for finding in &plan.findings {
            let _restoring = match finding.action {
                Action::RestoreQuarantinePolicy => Some(self.restoring.lock().await),
                _ => None,
            };
            let (outcome, logged) = if finding.exempt.is_some() {
                (Outcome::Exempt, None)
            } else if !finding.is_actionable() {
                (Outcome::Reported, None)
            } else if let Some(why) = protection(caller, &finding.resource) {
                (Outcome::Protected(why), None)
            } else if self.dry_run || plan.mode == Mode::Audit {
                (Outcome::DryRun, None)
            } else {
                self.change(finding, policy, caller, event_id, rejudge).await
            };
            audit::record(
                &caller.account_id,
                logged.as_ref().unwrap_or(finding),
                &outcome,
                event_id,
            );
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Spends the budget, reads again before an irreversible action, and
    /// changes AWS. Returns the finding as freshly read, when it was.
    async fn change(
        &self,
        finding: &Finding,
        policy: &Policy,
        caller: &Caller,
        event_id: Option<&str>,
        rejudge: &impl Rejudge,
    ) -> (Outcome, Option<Finding>) {
        if finding.action.budgeted()
            && let Err(retry_at) = self.budget.try_spend()
        {
            return (Outcome::RateLimited(retry_at), None);
        }
        let mut fresh = None;
        if finding.action.irreversible() {
            match rejudge.rejudge(finding).await {
                Ok(Verdict::Confirmed(now)) => fresh = Some(now),
                Ok(Verdict::Withdrawn(why)) => {
                    self.budget.refund();
                    return (Outcome::Protected(why), None);
                }
                Err(error) => {
                    self.budget.refund();
                    return (Outcome::Failed(error), None);
                }
            }
        }
        let acting_on = fresh.as_ref().unwrap_or(finding);
        let outcome = match self.apply(acting_on, policy, caller, event_id).await {
            Ok(()) => Outcome::Applied,
            Err(error) => Outcome::Failed(error),
        };
        (outcome, fresh)
    }

    /// Each change is idempotent: a resource already gone counts as done.
    async fn apply(
        &self,
        finding: &Finding,
        policy: &Policy,
        caller: &Caller,
        event_id: Option<&str>,
    ) -> Result<(), Error> {
        let iam = &self.clients.iam;
        match (finding.action, &finding.resource) {
            (Action::UpdatePasswordPolicy, _) => {
                let Some(desired) = &policy.password_policy else {
                    return Err(mismatch(finding));
                };
                let number = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
                iam.update_account_password_policy()
                    .minimum_password_length(number(desired.minimum_length))
                    .require_symbols(desired.require_symbols)
                    .require_numbers(desired.require_numbers)
                    .require_uppercase_characters(desired.require_uppercase)
                    .require_lowercase_characters(desired.require_lowercase)
                    .allow_users_to_change_password(desired.allow_users_to_change_password)
                    .set_max_password_age(desired.max_age_days.map(number))
                    .set_password_reuse_prevention(desired.reuse_prevention.map(number))
                    .hard_expiry(desired.hard_expiry)
                    .send()
                    .await
                    .during("iam:UpdateAccountPasswordPolicy")?;
            }
            (Action::AttachDenyPolicy, Resource::User { name }) => {
                let quarantine = QuarantinePolicy::DenyWithoutMfa;
                self.ensure(quarantine, policy, caller, event_id).await?;
                let attach = iam
                    .attach_user_policy()
                    .user_name(name)
                    .policy_arn(caller.quarantine_arn(quarantine))
                    .send()
                    .await;
                if let Err(error) = attach.during("iam:AttachUserPolicy") {
                    // Perhaps the policy was deleted since the check: check again next time.
                    self.checked.forget();
                    return Err(error);
                }
            }
            (Action::DetachDenyPolicy, Resource::User { name }) => {
                let arn = caller.quarantine_arn(QuarantinePolicy::DenyWithoutMfa);
                let detach = iam.detach_user_policy().user_name(name).policy_arn(arn).send().await;
                detach.or_absent("iam:DetachUserPolicy", NO_SUCH_ENTITY)?;
            }
            (Action::DeleteLoginProfile, Resource::User { name }) => {
                let delete = iam.delete_login_profile().user_name(name).send().await;
                delete.or_absent("iam:DeleteLoginProfile", NO_SUCH_ENTITY)?;
            }
            (Action::DeactivateAccessKey, Resource::AccessKey { user, id }) => {
                let update = iam
                    .update_access_key()
                    .user_name(user)
                    .access_key_id(id)
                    .status(StatusType::Inactive);
                if update
                    .send()
                    .await
                    .or_absent("iam:UpdateAccessKey", NO_SUCH_ENTITY)?
                    .is_some()
                {
                    self.record_deactivation(user, id).await?;
                }
            }
            (Action::DeleteAccessKey, Resource::AccessKey { user, id }) => {
                let delete = iam.delete_access_key().user_name(user).access_key_id(id).send().await;
                delete.or_absent("iam:DeleteAccessKey", NO_SUCH_ENTITY)?;
                self.clear_deactivation_record(user, id).await?;
            }
            (Action::RecordDeactivation, Resource::AccessKey { user, id }) => {
                self.record_deactivation(user, id).await?
            }
            (Action::ClearDeactivationRecord, Resource::AccessKey { user, id }) => {
                self.clear_deactivation_record(user, id).await?
            }
            (Action::DeleteOidcProvider, Resource::OidcProvider { arn, .. }) => {
                let delete = iam
                    .delete_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .send()
                    .await;
                delete.or_absent("iam:DeleteOpenIDConnectProvider", NO_SUCH_ENTITY)?;
            }
            (
                Action::StartLogging,
                Resource::Trail {
                    arn: Some(arn),
                    region: Some(region),
                    ..
                },
            ) => {
                let client = self.clients.cloudtrail_in(region);
                client
                    .start_logging()
                    .name(arn)
                    .send()
                    .await
                    .during("cloudtrail:StartLogging")?;
            }
            (Action::RequirePasswordReset, Resource::User { name }) => {
                // No new password: the user chooses one at the next sign-in.
                let update = iam
                    .update_login_profile()
                    .user_name(name)
                    .password_reset_required(true)
                    .send()
                    .await;
                update.or_absent("iam:UpdateLoginProfile", NO_SUCH_ENTITY)?;
            }
            (Action::DetachUserPolicy, Resource::UserPolicy { user, arn }) => {
                let detach = iam.detach_user_policy().user_name(user).policy_arn(arn).send().await;
                detach.or_absent("iam:DetachUserPolicy", NO_SUCH_ENTITY)?;
            }
            (Action::DeleteUserPolicy, Resource::InlinePolicy { user, name }) => {
                let delete = iam.delete_user_policy().user_name(user).policy_name(name).send().await;
                delete.or_absent("iam:DeleteUserPolicy", NO_SUCH_ENTITY)?;
            }
            (Action::RemoveUserFromGroup, Resource::GroupMembership { user, group }) => {
                let remove = iam
                    .remove_user_from_group()
                    .user_name(user)
                    .group_name(group)
                    .send()
                    .await;
                remove.or_absent("iam:RemoveUserFromGroup", NO_SUCH_ENTITY)?;
            }
            (Action::QuarantineRole, Resource::Role { name }) => {
                let quarantine = QuarantinePolicy::DenyAll;
                self.ensure(quarantine, policy, caller, event_id).await?;
                let attach = iam
                    .attach_role_policy()
                    .role_name(name)
                    .policy_arn(caller.quarantine_arn(quarantine))
                    .send()
                    .await;
                if let Err(error) = attach.during("iam:AttachRolePolicy") {
                    // Perhaps the policy was deleted since the check: check again next time.
                    self.checked.forget();
                    return Err(error);
                }
            }
            (Action::LiftQuarantine, Resource::Role { name }) => {
                let arn = caller.quarantine_arn(QuarantinePolicy::DenyAll);
                let detach = iam.detach_role_policy().role_name(name).policy_arn(arn).send().await;
                detach.or_absent("iam:DetachRolePolicy", NO_SUCH_ENTITY)?;
            }
            (Action::RestoreQuarantinePolicy, Resource::QuarantinePolicy { .. }) => {
                self.restore(finding, caller, event_id).await?
            }
            _ => return Err(mismatch(finding)),
        }
        Ok(())
    }

    /// Before attaching a quarantine policy: it exists, and its default
    /// version is the shipped document. A tampered one is restored first,
    /// through the same decision and audit line as any finding.
    async fn ensure(
        &self,
        quarantine: QuarantinePolicy,
        policy: &Policy,
        caller: &Caller,
        event_id: Option<&str>,
    ) -> Result<(), Error> {
        if self.checked.recently(quarantine) {
            return Ok(());
        }
        let _restoring = self.restoring.lock().await;
        if let Some(tampered) = quarantine::create_or_read(&self.clients.iam, caller, quarantine).await? {
            let observed = crate::observe::Observed {
                caller: caller.clone(),
                quarantine_policies: Some(vec![tampered]),
                ..Default::default()
            };
            for finding in plan::plan(policy, &observed, Utc::now()).findings {
                let restored = self.restore(&finding, caller, event_id).await;
                let outcome = restored.map_or_else(Outcome::Failed, |()| Outcome::Applied);
                audit::record(&caller.account_id, &finding, &outcome, event_id);
                if let Outcome::Failed(error) = outcome {
                    return Err(error);
                }
            }
        }
        self.checked.mark(quarantine);
        Ok(())
    }

    /// Makes the shipped document the policy's default version again; the
    /// replaced document is the finding's before-state, and a version deleted
    /// to make room gets an audit line of its own.
    async fn restore(&self, finding: &Finding, caller: &Caller, event_id: Option<&str>) -> Result<(), Error> {
        let Resource::QuarantinePolicy { policy, arn } = &finding.resource else {
            return Err(mismatch(finding));
        };
        let deleted = quarantine::restore(&self.clients.iam, caller, *policy, arn).await?;
        for (version, document) in deleted {
            audit::deleted_version(&caller.account_id, finding, &version, &document, event_id);
        }
        self.checked.mark(*policy);
        Ok(())
    }

    async fn record_deactivation(&self, user: &str, id: &str) -> Result<(), Error> {
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let tag = Tag::builder()
            .key(plan::deactivation_tag(id))
            .value(now)
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let tag_user = self.clients.iam.tag_user().user_name(user).tags(tag).send().await;
        tag_user.or_absent("iam:TagUser", NO_SUCH_ENTITY)?;
        Ok(())
    }

    async fn clear_deactivation_record(&self, user: &str, id: &str) -> Result<(), Error> {
        let untag = self
            .clients
            .iam
            .untag_user()
            .user_name(user)
            .tag_keys(plan::deactivation_tag(id))
            .send()
            .await;
        untag.or_absent("iam:UntagUser", NO_SUCH_ENTITY)?;
        Ok(())
    }
}

/// Why iam-warden must never act on `resource`: it is the identity iam-warden
/// runs as, or something that identity depends on.
pub fn protection(caller: &Caller, resource: &Resource) -> Option<String> {
    match (&caller.identity, resource) {
        (Identity::User { name }, resource) if resource.user() == Some(name.as_str()) => {
            Some("the identity iam-warden runs as is never changed".to_owned())
        }
        (Identity::Role { name, .. }, resource) if resource.role() == Some(name.as_str()) => {
            Some("the role iam-warden runs as is never changed".to_owned())
        }
        (Identity::Role { name, trust }, Resource::OidcProvider { arn, .. }) => match trust {
            Trust::Providers(trusted) if trusted.contains(arn) => Some(format!(
                "the role iam-warden runs as ({name}) trusts this provider; deleting it would cut iam-warden, and every workload using it, off"
            )),
            Trust::Providers(_) => None,
            Trust::Unknown(why) => Some(format!(
                "the trust policy of the role iam-warden runs as ({name}) could not be read, so no provider is deleted: {why}"
            )),
        },
        _ => None,
    }
}

/// The planner paired an action with a resource it cannot act on: a bug, reported, never guessed around.
fn mismatch(finding: &Finding) -> Error {
    Error::Internal(format!(
        "action {} cannot apply to {}",
        finding.action, finding.resource
    ))
}
