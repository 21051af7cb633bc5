//! The only place that changes AWS. Dry-run, audit mode, exemptions, the
//! change budget and self-protection are all decided here, once, for every rule.

mod audit;
mod budget;

use std::sync::Arc;

use aws_sdk_iam::types::StatusType;
use tokio::sync::OnceCell;

pub use budget::ChangeBudget;

use crate::aws::{Call, Clients};
use crate::error::Error;
use crate::observe::{Caller, DENY_POLICY_NAME, DENY_POLICY_PATH};
use crate::plan::{Action, Finding, Plan, Resource};
use crate::policy::{Mode, Policy};

const DENY_POLICY_DOCUMENT: &str = include_str!("deny-without-mfa.json");
const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// What became of one finding.
#[derive(Debug)]
pub enum Outcome {
    Applied,
    DryRun,
    Failed(Error),
    Exempt,
    /// The finding names the identity iam-warden runs as, which it never changes.
    Protected,
    RateLimited,
    /// Nothing to do: the finding is report-only or a warning.
    Reported,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::DryRun => "dry_run",
            Outcome::Failed(_) => "failed",
            Outcome::Exempt | Outcome::Protected => "exempt",
            Outcome::RateLimited => "rate_limited",
            Outcome::Reported => "reported",
        }
    }

    fn detail(&self, finding: &Finding) -> Option<String> {
        match self {
            Outcome::Failed(error) => Some(error.to_string()),
            Outcome::Exempt => finding.exempt.clone(),
            Outcome::Protected => Some("the identity iam-warden runs as is never changed".to_owned()),
            _ => None,
        }
    }
}

pub struct Executor {
    clients: Clients,
    dry_run: bool,
    budget: Arc<ChangeBudget>,
    deny_policy_exists: OnceCell<()>,
}

impl Executor {
    pub fn new(clients: Clients, dry_run: bool, budget: Arc<ChangeBudget>) -> Executor {
        Executor {
            clients,
            dry_run,
            budget,
            deny_policy_exists: OnceCell::new(),
        }
    }

    /// Decides and carries out every finding, in order, one audit line each.
    /// The outcomes line up with `plan.findings`.
    pub async fn execute(&self, plan: &Plan, policy: &Policy, caller: &Caller, event_id: Option<&str>) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(plan.findings.len());
        for finding in &plan.findings {
            let outcome = if finding.exempt.is_some() {
                Outcome::Exempt
            } else if !finding.is_actionable() {
                Outcome::Reported
            } else if caller.user_name().is_some_and(|me| finding.resource.user() == Some(me)) {
                Outcome::Protected
            } else if self.dry_run || plan.mode == Mode::Audit {
                Outcome::DryRun
            } else if !self.budget.try_spend() {
                Outcome::RateLimited
            } else {
                match self.apply(finding, policy, caller).await {
                    Ok(()) => Outcome::Applied,
                    Err(error) => Outcome::Failed(error),
                }
            };
            audit::record(finding, &outcome, event_id);
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Each change is idempotent: a resource already gone counts as done.
    async fn apply(&self, finding: &Finding, policy: &Policy, caller: &Caller) -> Result<(), Error> {
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
                let arn = caller.deny_policy_arn();
                self.deny_policy_exists
                    .get_or_try_init(|| self.create_deny_policy(&arn))
                    .await?;
                iam.attach_user_policy()
                    .user_name(name)
                    .policy_arn(&arn)
                    .send()
                    .await
                    .during("iam:AttachUserPolicy")?;
            }
            (Action::DetachDenyPolicy, Resource::User { name }) => {
                let arn = caller.deny_policy_arn();
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
                update.send().await.or_absent("iam:UpdateAccessKey", NO_SUCH_ENTITY)?;
            }
            (Action::DeleteAccessKey, Resource::AccessKey { user, id }) => {
                let delete = iam.delete_access_key().user_name(user).access_key_id(id).send().await;
                delete.or_absent("iam:DeleteAccessKey", NO_SUCH_ENTITY)?;
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
            _ => return Err(mismatch(finding)),
        }
        Ok(())
    }

    /// Creates the quarantine policy unless it is there already.
    async fn create_deny_policy(&self, arn: &str) -> Result<(), Error> {
        let iam = &self.clients.iam;
        if iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .or_absent("iam:GetPolicy", NO_SUCH_ENTITY)?
            .is_some()
        {
            return Ok(());
        }
        let create = iam
            .create_policy()
            .policy_name(DENY_POLICY_NAME)
            .path(DENY_POLICY_PATH)
            .description("iam-warden: denies everything but MFA enrolment until the user signs in with MFA")
            .policy_document(DENY_POLICY_DOCUMENT)
            .send()
            .await;
        // Another iam-warden may have created it a moment ago.
        create.or_absent("iam:CreatePolicy", "EntityAlreadyExists")?;
        Ok(())
    }
}

/// The planner paired an action with a resource it cannot act on: a bug, reported, never guessed around.
fn mismatch(finding: &Finding) -> Error {
    Error::Internal(format!(
        "action {} cannot apply to {}",
        finding.action, finding.resource
    ))
}
