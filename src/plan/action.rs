//! What a finding asks for, and the resource it names.

use std::fmt;

use serde::Serialize;

use crate::quarantine::{self, QuarantinePolicy};

/// One change in AWS, or `report` for none; names match design.md's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    UpdatePasswordPolicy,
    AttachDenyPolicy,
    DetachDenyPolicy,
    DeleteLoginProfile,
    DeactivateAccessKey,
    DeleteAccessKey,
    /// Tags the user with when its key was deactivated; `deleteAfter` counts from it.
    RecordDeactivation,
    /// UpdateLoginProfile with `PasswordResetRequired`, no new password.
    RequirePasswordReset,
    DetachUserPolicy,
    /// Deletes an inline user policy; the audit log keeps its document.
    DeleteUserPolicy,
    /// For admin access through a group: the group's own policies are never changed.
    RemoveUserFromGroup,
    /// Removes that tag once the key is active again or gone.
    ClearDeactivationRecord,
    DeleteOidcProvider,
    /// Attaches `iam-warden-deny-all` to a role whose OIDC trust admits outsiders.
    QuarantineRole,
    /// Detaches it once the trust policy is in spec.
    LiftQuarantine,
    StartLogging,
    /// Makes the shipped document a quarantine policy's default version again.
    RestoreQuarantinePolicy,
    Report,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::UpdatePasswordPolicy => "update-password-policy",
            Action::AttachDenyPolicy => "attach-deny-policy",
            Action::DetachDenyPolicy => "detach-deny-policy",
            Action::DeleteLoginProfile => "delete-login-profile",
            Action::DeactivateAccessKey => "deactivate-access-key",
            Action::DeleteAccessKey => "delete-access-key",
            Action::RecordDeactivation => "record-deactivation",
            Action::RequirePasswordReset => "require-password-reset",
            Action::DetachUserPolicy => "detach-user-policy",
            Action::DeleteUserPolicy => "delete-user-policy",
            Action::RemoveUserFromGroup => "remove-user-from-group",
            Action::ClearDeactivationRecord => "clear-deactivation-record",
            Action::DeleteOidcProvider => "delete-oidc-provider",
            Action::QuarantineRole => "quarantine-role",
            Action::LiftQuarantine => "lift-quarantine",
            Action::StartLogging => "start-logging",
            Action::RestoreQuarantinePolicy => "restore-quarantine-policy",
            Action::Report => "report",
        }
    }

    /// Restores access iam-warden itself took away; an exemption never blocks it.
    pub fn restores(self) -> bool {
        matches!(self, Action::DetachDenyPolicy | Action::LiftQuarantine)
    }

    /// What this action destroys cannot be put back as it was, so the
    /// resource is read again and the finding re-judged right before it.
    /// (A restore may delete the oldest version of the policy to make room.)
    pub fn irreversible(self) -> bool {
        matches!(
            self,
            Action::DeleteAccessKey
                | Action::DeleteLoginProfile
                | Action::DeleteOidcProvider
                | Action::RestoreQuarantinePolicy
                | Action::DetachUserPolicy
                | Action::DeleteUserPolicy
                | Action::RemoveUserFromGroup
        )
    }

    /// Counts against the change budget. Record-keeping and repairing
    /// iam-warden's own quarantine policies do not: neither changes anyone's access.
    pub fn budgeted(self) -> bool {
        !matches!(
            self,
            Action::RecordDeactivation
                | Action::ClearDeactivationRecord
                | Action::RestoreQuarantinePolicy
                | Action::Report
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Resource {
    /// The account's trails as a whole.
    Account,
    /// The account's root user.
    Root,
    PasswordPolicy,
    User {
        name: String,
    },
    Role {
        name: String,
    },
    AccessKey {
        user: String,
        id: String,
    },
    /// A managed policy attached to a user.
    UserPolicy {
        user: String,
        arn: String,
    },
    /// A policy embedded in a user.
    InlinePolicy {
        user: String,
        name: String,
    },
    /// A user's membership of a group.
    GroupMembership {
        user: String,
        group: String,
    },
    OidcProvider {
        arn: String,
        url: String,
    },
    /// `arn` and `region` are `None` for a trail that does not exist.
    Trail {
        name: String,
        arn: Option<String>,
        region: Option<String>,
    },
    QuarantinePolicy {
        policy: QuarantinePolicy,
        arn: String,
    },
}

impl Resource {
    /// The IAM user this resource belongs to, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            Resource::User { name } => Some(name),
            Resource::AccessKey { user, .. }
            | Resource::UserPolicy { user, .. }
            | Resource::InlinePolicy { user, .. }
            | Resource::GroupMembership { user, .. } => Some(user),
            _ => None,
        }
    }

    pub fn role(&self) -> Option<&str> {
        match self {
            Resource::Role { name } => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Account => f.write_str("account"),
            Resource::Root => f.write_str("root"),
            Resource::PasswordPolicy => f.write_str("password-policy"),
            Resource::User { name } => write!(f, "user/{name}"),
            Resource::Role { name } => write!(f, "role/{name}"),
            Resource::AccessKey { user, id } => write!(f, "access-key/{user}/{id}"),
            Resource::UserPolicy { user, arn } => {
                write!(f, "user-policy/{user}/{}", arn.rsplit('/').next().unwrap_or(arn))
            }
            Resource::InlinePolicy { user, name } => write!(f, "inline-policy/{user}/{name}"),
            Resource::GroupMembership { user, group } => write!(f, "group-membership/{user}/{group}"),
            Resource::OidcProvider { url, .. } => write!(f, "oidc-provider/{url}"),
            Resource::Trail { name, .. } => write!(f, "trail/{name}"),
            Resource::QuarantinePolicy { policy, .. } => write!(f, "policy{}{}", quarantine::PATH, policy.name()),
        }
    }
}
