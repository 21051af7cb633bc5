//! Each change as AWS calls: one arm per change, each idempotent (a
//! resource already gone counts as done).

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{StatusType, Tag};
use chrono::Utc;

use super::{Executor, Under, audit, quarantine, reversals};
use crate::aws::Call;
use crate::error::Error;
use crate::journal::Ended;
use crate::name::Name;
use crate::outcome::Outcome;
use crate::plan::{self, Change, Finding};
use crate::policy::PasswordPolicy;
use crate::quarantine::QuarantinePolicy;
use crate::state::Caller;

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// Who a quarantine policy is attached to.
#[derive(Clone, Copy)]
enum Holder<'a> {
    User(&'a Name),
    Role(&'a Name),
}

impl Executor {
    pub(super) async fn make(
        &self,
        change: &Change,
        finding: &Finding,
        caller: &Caller,
        under: Under<'_>,
    ) -> Result<(), Error> {
        let iam = &self.clients.iam;
        let stamp = plan::stamp(under.entry.time);
        let deny_without_mfa = || caller.quarantine_arn(QuarantinePolicy::DenyWithoutMfa);
        let deny_all = || caller.quarantine_arn(QuarantinePolicy::DenyAll);
        match change {
            Change::UpdatePasswordPolicy { desired, .. } => update_password_policy(iam, desired).await,
            Change::DeletePasswordPolicy { .. } => reversals::delete_password_policy(iam).await,
            Change::AttachDenyPolicy { user } => {
                let holder = Holder::User(user);
                self.quarantine(QuarantinePolicy::DenyWithoutMfa, holder, caller, under)
                    .await
            }
            Change::DetachDenyPolicy { user } => {
                let holder = Holder::User(user);
                lift(iam, holder, QuarantinePolicy::DenyWithoutMfa, &deny_without_mfa()).await
            }
            Change::DeleteLoginProfile { user } => delete_login_profile(iam, user).await,
            Change::DeactivateAccessKey { user, id } => deactivate_access_key(iam, user, id, &stamp).await,
            Change::ActivateAccessKey { user, id } => activate_access_key(iam, user, id).await,
            Change::DeleteAccessKey { user, id } => delete_access_key(iam, user, id).await,
            Change::RecordDeactivation { user, id } => tag(iam, user, &plan::deactivation_tag(id), &stamp).await,
            Change::ClearDeactivationRecord { user, id } => untag(iam, user, &plan::deactivation_tag(id)).await,
            Change::RequirePasswordReset { user } => require_password_reset(iam, user, &stamp).await,
            Change::CancelPasswordReset { user } => cancel_password_reset(iam, user).await,
            Change::DetachUserPolicy { user, arn } => detach_user_policy(iam, user, arn).await,
            Change::AttachUserPolicy { user, arn } => attach_user_policy(iam, user, arn).await,
            Change::DeleteUserPolicy { user, name, .. } => delete_user_policy(iam, user, name).await,
            Change::PutUserPolicy { user, name, document } => {
                reversals::put_user_policy(iam, user, name, document).await
            }
            Change::RemoveUserFromGroup { user, group } => remove_user_from_group(iam, user, group).await,
            Change::AddUserToGroup { user, group } => reversals::add_user_to_group(iam, user, group).await,
            Change::DeleteOidcProvider { provider } => delete_oidc_provider(iam, &provider.arn).await,
            Change::CreateOidcProvider { provider } => reversals::create_oidc_provider(iam, provider).await,
            Change::QuarantineRole { role } => {
                let holder = Holder::Role(role);
                self.quarantine(QuarantinePolicy::DenyAll, holder, caller, under).await
            }
            Change::LiftQuarantine { role } => {
                lift(iam, Holder::Role(role), QuarantinePolicy::DenyAll, &deny_all()).await
            }
            Change::StartLogging { trail, region } => {
                let start = self
                    .clients
                    .cloudtrail_in(region)
                    .start_logging()
                    .name(trail)
                    .send()
                    .await;
                start.during("cloudtrail:StartLogging").map(drop)
            }
            Change::DetachGroupPolicy { group, arn } => detach_group_policy(iam, group, arn).await,
            Change::DeleteGroupPolicy { group, name, .. } => delete_group_policy(iam, group, name).await,
            Change::AttachGroupPolicy { group, arn } => reversals::attach_group_policy(iam, group, arn).await,
            Change::PutGroupPolicy { group, name, document } => {
                reversals::put_group_policy(iam, group, name, document).await
            }
            Change::DetachRolePolicy { role, arn } => detach_role_policy(iam, role, arn).await,
            Change::DeleteRolePolicy { role, name, .. } => delete_role_policy(iam, role, name).await,
            Change::AttachRolePolicy { role, arn } => attach_role_policy(iam, role, arn).await,
            Change::PutRolePolicy { role, name, document } => {
                reversals::put_role_policy(iam, role, name, document).await
            }
            Change::DeleteServerCertificate { certificate } => delete_server_certificate(iam, &certificate.name).await,
            Change::RestoreQuarantinePolicy { policy, arn } => {
                self.restore(change, finding, (*policy, arn), caller, under).await
            }
        }
    }

    /// Attaches a quarantine policy once it is known to hold the shipped document.
    async fn quarantine(
        &self,
        quarantine: QuarantinePolicy,
        holder: Holder<'_>,
        caller: &Caller,
        under: Under<'_>,
    ) -> Result<(), Error> {
        self.ensure(quarantine, caller, under).await?;
        let iam = &self.clients.iam;
        let arn = caller.quarantine_arn(quarantine);
        let attached = match holder {
            Holder::User(user) => attach_user_policy(iam, user, &arn).await,
            Holder::Role(role) => attach_role_policy(iam, role, &arn).await,
        };
        match attached {
            // Ten managed policies already: the same document, inline, under the policy's name.
            Err(Error::LimitExceeded { .. }) => put_inline(iam, holder, quarantine, caller.partition()).await,
            // Perhaps the policy was deleted since the check: check again next time.
            other => other.inspect_err(|_| self.checked.forget()),
        }
    }

    /// Before attaching a quarantine policy: it exists, and its default
    /// version is the shipped document. A tampered one is restored first,
    /// through the same decision, journal and audit line as any finding.
    async fn ensure(&self, quarantine: QuarantinePolicy, caller: &Caller, under: Under<'_>) -> Result<(), Error> {
        if self.checked.recently(quarantine) {
            return Ok(());
        }
        let _restoring = self.restoring.lock().await;
        if let Some(tampered) = quarantine::create_or_read(&self.clients.iam, caller, quarantine).await? {
            for finding in plan::quarantine_policy_findings(&[tampered], caller.partition(), Utc::now()) {
                let outcome = Box::pin(self.journaled(&finding, caller, under.events, None)).await;
                audit::record(&caller.account_id, &finding, &outcome, under.events);
                if let Outcome::Failed(error) = outcome {
                    return Err(error);
                }
            }
        }
        self.checked.mark(quarantine);
        Ok(())
    }

    /// Makes the shipped document the policy's default version again; the
    /// replaced document is the finding's before-state. A version deleted to
    /// make room has an intent of its own, with its document, written first.
    async fn restore(
        &self,
        change: &Change,
        finding: &Finding,
        (policy, arn): (QuarantinePolicy, &str),
        caller: &Caller,
        under: Under<'_>,
    ) -> Result<(), Error> {
        let iam = &self.clients.iam;
        if let Some(oldest) = quarantine::oldest_if_full(iam, arn).await? {
            let making_room = Finding {
                reason: "IAM keeps five versions: the oldest non-default one is deleted to make room".to_owned(),
                before: serde_json::json!({
                    "deletedVersion": oldest.id,
                    "document": serde_json::from_str::<serde_json::Value>(&oldest.document)
                        .unwrap_or_else(|_| oldest.document.clone().into()),
                }),
                ..finding.clone()
            };
            let intent = super::intent_of(&making_room, change, under.events, None);
            let entry = under.journal.intend(&caller.account_id, intent).await?;
            let outcome = match quarantine::delete_version(iam, arn, &oldest.id).await {
                Ok(()) => Outcome::Applied,
                Err(error) => Outcome::Failed(error),
            };
            let ended = match &outcome {
                Outcome::Failed(_) => Ended::Failed,
                _ => Ended::Applied,
            };
            under
                .journal
                .conclude(&entry, ended, outcome.detail(&making_room))
                .await;
            audit::record(&caller.account_id, &making_room, &outcome, under.events);
            if let Outcome::Failed(error) = outcome {
                return Err(error);
            }
        }
        quarantine::make_default(iam, caller, policy, arn).await?;
        self.checked.mark(policy);
        Ok(())
    }
}

async fn update_password_policy(iam: &Client, desired: &PasswordPolicy) -> Result<(), Error> {
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
        .during("iam:UpdateAccountPasswordPolicy")
        .map(drop)
}

async fn attach_user_policy(iam: &Client, user: &str, arn: &str) -> Result<(), Error> {
    let attach = iam.attach_user_policy().user_name(user).policy_arn(arn).send().await;
    attach.during("iam:AttachUserPolicy").map(drop)
}

/// The quarantine's attach, and undo's of a detached role policy.
async fn attach_role_policy(iam: &Client, role: &Name, arn: &str) -> Result<(), Error> {
    let attach = iam
        .attach_role_policy()
        .role_name(role.as_str())
        .policy_arn(arn)
        .send()
        .await;
    attach.during("iam:AttachRolePolicy").map(drop)
}

async fn detach_user_policy(iam: &Client, user: &str, arn: &str) -> Result<(), Error> {
    let detach = iam.detach_user_policy().user_name(user).policy_arn(arn).send().await;
    detach.or_absent("iam:DetachUserPolicy", NO_SUCH_ENTITY).map(drop)
}

/// The quarantine's document as an inline policy of the holder, under the policy's name.
async fn put_inline(
    iam: &Client,
    holder: Holder<'_>,
    quarantine: QuarantinePolicy,
    partition: &str,
) -> Result<(), Error> {
    let document = quarantine.document(partition);
    match holder {
        Holder::User(user) => {
            let put = iam
                .put_user_policy()
                .user_name(user.as_str())
                .policy_name(quarantine.name());
            put.policy_document(document)
                .send()
                .await
                .during("iam:PutUserPolicy")
                .map(drop)
        }
        Holder::Role(role) => {
            let put = iam
                .put_role_policy()
                .role_name(role.as_str())
                .policy_name(quarantine.name());
            put.policy_document(document)
                .send()
                .await
                .during("iam:PutRolePolicy")
                .map(drop)
        }
    }
}

/// Takes the quarantine off: the managed policy, and the inline one of its name.
async fn lift(iam: &Client, holder: Holder<'_>, quarantine: QuarantinePolicy, arn: &str) -> Result<(), Error> {
    match holder {
        Holder::User(user) => {
            detach_user_policy(iam, user, arn).await?;
            let delete = iam
                .delete_user_policy()
                .user_name(user.as_str())
                .policy_name(quarantine.name())
                .send()
                .await;
            delete.or_absent("iam:DeleteUserPolicy", NO_SUCH_ENTITY).map(drop)
        }
        Holder::Role(role) => {
            let detach = iam
                .detach_role_policy()
                .role_name(role.as_str())
                .policy_arn(arn)
                .send()
                .await;
            detach.or_absent("iam:DetachRolePolicy", NO_SUCH_ENTITY)?;
            let delete = iam
                .delete_role_policy()
                .role_name(role.as_str())
                .policy_name(quarantine.name())
                .send()
                .await;
            delete.or_absent("iam:DeleteRolePolicy", NO_SUCH_ENTITY).map(drop)
        }
    }
}

async fn delete_login_profile(iam: &Client, user: &str) -> Result<(), Error> {
    let delete = iam.delete_login_profile().user_name(user).send().await;
    delete.or_absent("iam:DeleteLoginProfile", NO_SUCH_ENTITY).map(drop)
}

/// Deactivates the key, and records when: `deleteAfter` counts from it.
async fn deactivate_access_key(iam: &Client, user: &str, id: &str, stamp: &str) -> Result<(), Error> {
    match set_key_status(iam, user, id, StatusType::Inactive).await? {
        // The key is inactive whatever becomes of its record; a user at its 50
        // tags keeps the key, never deleted without one, and the plan says so.
        Some(()) => match tag(iam, user, &plan::deactivation_tag(id), stamp).await {
            Err(Error::LimitExceeded { .. }) => Ok(()),
            recorded => recorded,
        },
        None => Ok(()),
    }
}

/// `None` when the key is gone.
async fn set_key_status(iam: &Client, user: &str, id: &str, status: StatusType) -> Result<Option<()>, Error> {
    let update = iam
        .update_access_key()
        .user_name(user)
        .access_key_id(id)
        .status(status)
        .send()
        .await;
    update
        .or_absent("iam:UpdateAccessKey", NO_SUCH_ENTITY)
        .map(|done| done.map(drop))
}

async fn delete_access_key(iam: &Client, user: &str, id: &str) -> Result<(), Error> {
    let delete = iam.delete_access_key().user_name(user).access_key_id(id).send().await;
    delete.or_absent("iam:DeleteAccessKey", NO_SUCH_ENTITY)?;
    untag(iam, user, &plan::deactivation_tag(id)).await
}

/// No new password: the user chooses one at the next sign-in. Recorded on
/// the user, so the reset is required once, whatever the credential report says.
async fn require_password_reset(iam: &Client, user: &str, stamp: &str) -> Result<(), Error> {
    if set_password_reset(iam, user, true).await?.is_none() {
        return Ok(());
    }
    match tag(iam, user, plan::PASSWORD_RESET_TAG, stamp).await {
        // The reset holds; without its record it may be required again once.
        Err(Error::LimitExceeded { .. }) => Ok(()),
        recorded => recorded,
    }
}

/// `None` when the user has no login profile.
async fn set_password_reset(iam: &Client, user: &str, required: bool) -> Result<Option<()>, Error> {
    let update = iam
        .update_login_profile()
        .user_name(user)
        .password_reset_required(required)
        .send()
        .await;
    update
        .or_absent("iam:UpdateLoginProfile", NO_SUCH_ENTITY)
        .map(|done| done.map(drop))
}

async fn delete_user_policy(iam: &Client, user: &str, name: &str) -> Result<(), Error> {
    let delete = iam.delete_user_policy().user_name(user).policy_name(name).send().await;
    delete.or_absent("iam:DeleteUserPolicy", NO_SUCH_ENTITY).map(drop)
}

async fn remove_user_from_group(iam: &Client, user: &str, group: &str) -> Result<(), Error> {
    let remove = iam
        .remove_user_from_group()
        .user_name(user)
        .group_name(group)
        .send()
        .await;
    remove.or_absent("iam:RemoveUserFromGroup", NO_SUCH_ENTITY).map(drop)
}

async fn delete_oidc_provider(iam: &Client, arn: &str) -> Result<(), Error> {
    let delete = iam
        .delete_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await;
    delete
        .or_absent("iam:DeleteOpenIDConnectProvider", NO_SUCH_ENTITY)
        .map(drop)
}

/// One of the records iam-warden keeps on a user.
async fn tag(iam: &Client, user: &str, key: &str, value: &str) -> Result<(), Error> {
    let tag = Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let tag_user = iam.tag_user().user_name(user).tags(tag).send().await;
    tag_user.or_absent("iam:TagUser", NO_SUCH_ENTITY).map(drop)
}

async fn untag(iam: &Client, user: &str, key: &str) -> Result<(), Error> {
    let untag = iam.untag_user().user_name(user).tag_keys(key).send().await;
    untag.or_absent("iam:UntagUser", NO_SUCH_ENTITY).map(drop)
}

/// Reactivates the key, and removes its deactivation record.
async fn activate_access_key(iam: &Client, user: &str, id: &str) -> Result<(), Error> {
    set_key_status(iam, user, id, StatusType::Active).await?;
    untag(iam, user, &plan::deactivation_tag(id)).await
}

async fn cancel_password_reset(iam: &Client, user: &str) -> Result<(), Error> {
    set_password_reset(iam, user, false).await?;
    untag(iam, user, plan::PASSWORD_RESET_TAG).await
}

async fn detach_role_policy(iam: &Client, role: &Name, arn: &str) -> Result<(), Error> {
    let detach = iam.detach_role_policy().role_name(role.as_str()).policy_arn(arn);
    let detached = detach.send().await;
    detached.or_absent("iam:DetachRolePolicy", NO_SUCH_ENTITY).map(drop)
}

async fn delete_role_policy(iam: &Client, role: &Name, name: &str) -> Result<(), Error> {
    let delete = iam.delete_role_policy().role_name(role.as_str()).policy_name(name);
    let deleted = delete.send().await;
    deleted.or_absent("iam:DeleteRolePolicy", NO_SUCH_ENTITY).map(drop)
}

async fn delete_server_certificate(iam: &Client, name: &str) -> Result<(), Error> {
    let delete = iam.delete_server_certificate().server_certificate_name(name);
    let deleted = delete.send().await;
    deleted
        .or_absent("iam:DeleteServerCertificate", NO_SUCH_ENTITY)
        .map(drop)
}

async fn detach_group_policy(iam: &Client, group: &Name, arn: &str) -> Result<(), Error> {
    let detach = iam.detach_group_policy().group_name(group.as_str()).policy_arn(arn);
    let detached = detach.send().await;
    detached.or_absent("iam:DetachGroupPolicy", NO_SUCH_ENTITY).map(drop)
}

async fn delete_group_policy(iam: &Client, group: &Name, name: &str) -> Result<(), Error> {
    let delete = iam.delete_group_policy().group_name(group.as_str()).policy_name(name);
    let deleted = delete.send().await;
    deleted.or_absent("iam:DeleteGroupPolicy", NO_SUCH_ENTITY).map(drop)
}
