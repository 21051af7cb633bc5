//! What a finding asks for: a change in AWS, carrying exactly what it acts
//! on, or none; and the resource the finding is about.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::policy::{PasswordPolicy, Rule};
use crate::quarantine::{self, QuarantinePolicy};
use crate::state::{OidcProvider, ServerCertificate};

/// One change in AWS. It names everything it acts on, and carries whatever
/// it destroys (an inline policy's document, a provider, the previous
/// password policy), so the executor needs nothing else to make it, the
/// journal holds all that `undo` needs, and [`Change::inverse`] is pure.
///
/// The plan makes the first group; `undo` makes the second, as inverses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum Change {
    /// The whole desired policy: fields left out would be reset.
    UpdatePasswordPolicy {
        desired: PasswordPolicy,
        /// The policy it replaces; `None` where the account had none.
        previous: Option<PasswordPolicy>,
    },
    AttachDenyPolicy {
        user: Name,
    },
    DetachDenyPolicy {
        user: Name,
    },
    DeleteLoginProfile {
        user: Name,
    },
    DeactivateAccessKey {
        user: Name,
        id: String,
    },
    DeleteAccessKey {
        user: Name,
        id: String,
    },
    /// Tags the user with when its key was deactivated; `deleteAfter` counts from it.
    RecordDeactivation {
        user: Name,
        id: String,
    },
    /// Removes that tag once the key is active again or gone.
    ClearDeactivationRecord {
        user: Name,
        id: String,
    },
    /// UpdateLoginProfile with `PasswordResetRequired`, no new password, and
    /// a record on the user of when.
    RequirePasswordReset {
        user: Name,
    },
    DetachUserPolicy {
        user: Name,
        arn: String,
    },
    /// Deletes an inline user policy.
    DeleteUserPolicy {
        user: Name,
        name: String,
        document: String,
    },
    /// For admin access through a group: the group's own policies are never changed.
    RemoveUserFromGroup {
        user: Name,
        group: Name,
    },
    DeleteOidcProvider {
        provider: OidcProvider,
    },
    /// Attaches `iam-warden-deny-all` to a role whose OIDC trust admits outsiders.
    QuarantineRole {
        role: Name,
    },
    /// Detaches it once the trust policy is in spec.
    LiftQuarantine {
        role: Name,
    },
    /// A trail is started from its home region.
    StartLogging {
        trail: String,
        region: String,
    },
    /// Makes the shipped document a quarantine policy's default version again.
    RestoreQuarantinePolicy {
        policy: QuarantinePolicy,
        arn: String,
    },
    DetachGroupPolicy {
        group: Name,
        arn: String,
    },
    /// Deletes an inline group policy.
    DeleteGroupPolicy {
        group: Name,
        name: String,
        document: String,
    },
    DetachRolePolicy {
        role: Name,
        arn: String,
    },
    /// Deletes an inline role policy.
    DeleteRolePolicy {
        role: Name,
        name: String,
        document: String,
    },
    /// Deletes an expired server certificate, carrying its body and chain.
    DeleteServerCertificate {
        certificate: ServerCertificate,
    },
    // Made only by `undo`, each the inverse of one above.
    /// The account had no password policy before iam-warden set one.
    DeletePasswordPolicy {
        previous: PasswordPolicy,
    },
    /// Reactivates a key, and removes its deactivation record.
    ActivateAccessKey {
        user: Name,
        id: String,
    },
    /// Lifts a required password reset, and removes its record.
    CancelPasswordReset {
        user: Name,
    },
    AttachUserPolicy {
        user: Name,
        arn: String,
    },
    PutUserPolicy {
        user: Name,
        name: String,
        document: String,
    },
    AddUserToGroup {
        user: Name,
        group: Name,
    },
    /// Creates the provider again with its URL, client ids, thumbprints and tags.
    CreateOidcProvider {
        provider: OidcProvider,
    },
    AttachGroupPolicy {
        group: Name,
        arn: String,
    },
    PutGroupPolicy {
        group: Name,
        name: String,
        document: String,
    },
    AttachRolePolicy {
        role: Name,
        arn: String,
    },
    PutRolePolicy {
        role: Name,
        name: String,
        document: String,
    },
}

/// The name of what a finding asks for, as plans, logs and metrics print it
/// (design.md's table of actions); `report` for no change.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, strum::IntoStaticStr, strum::EnumIter,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Action {
    UpdatePasswordPolicy,
    AttachDenyPolicy,
    DetachDenyPolicy,
    DeleteLoginProfile,
    DeactivateAccessKey,
    DeleteAccessKey,
    RecordDeactivation,
    RequirePasswordReset,
    DetachUserPolicy,
    DeleteUserPolicy,
    RemoveUserFromGroup,
    ClearDeactivationRecord,
    DeleteOidcProvider,
    QuarantineRole,
    LiftQuarantine,
    StartLogging,
    RestoreQuarantinePolicy,
    DetachGroupPolicy,
    DeleteGroupPolicy,
    DetachRolePolicy,
    DeleteRolePolicy,
    DeleteServerCertificate,
    DeletePasswordPolicy,
    ActivateAccessKey,
    CancelPasswordReset,
    AttachUserPolicy,
    PutUserPolicy,
    AddUserToGroup,
    CreateOidcProvider,
    AttachGroupPolicy,
    PutGroupPolicy,
    AttachRolePolicy,
    PutRolePolicy,
    Report,
}

impl Change {
    pub fn action(&self) -> Action {
        match self {
            Change::UpdatePasswordPolicy { .. } => Action::UpdatePasswordPolicy,
            Change::AttachDenyPolicy { .. } => Action::AttachDenyPolicy,
            Change::DetachDenyPolicy { .. } => Action::DetachDenyPolicy,
            Change::DeleteLoginProfile { .. } => Action::DeleteLoginProfile,
            Change::DeactivateAccessKey { .. } => Action::DeactivateAccessKey,
            Change::DeleteAccessKey { .. } => Action::DeleteAccessKey,
            Change::RecordDeactivation { .. } => Action::RecordDeactivation,
            Change::ClearDeactivationRecord { .. } => Action::ClearDeactivationRecord,
            Change::RequirePasswordReset { .. } => Action::RequirePasswordReset,
            Change::DetachUserPolicy { .. } => Action::DetachUserPolicy,
            Change::DeleteUserPolicy { .. } => Action::DeleteUserPolicy,
            Change::RemoveUserFromGroup { .. } => Action::RemoveUserFromGroup,
            Change::DeleteOidcProvider { .. } => Action::DeleteOidcProvider,
            Change::QuarantineRole { .. } => Action::QuarantineRole,
            Change::LiftQuarantine { .. } => Action::LiftQuarantine,
            Change::StartLogging { .. } => Action::StartLogging,
            Change::DeleteServerCertificate { .. } => Action::DeleteServerCertificate,
            Change::DetachGroupPolicy { .. } => Action::DetachGroupPolicy,
            Change::DeleteGroupPolicy { .. } => Action::DeleteGroupPolicy,
            Change::AttachGroupPolicy { .. } => Action::AttachGroupPolicy,
            Change::PutGroupPolicy { .. } => Action::PutGroupPolicy,
            Change::DetachRolePolicy { .. } => Action::DetachRolePolicy,
            Change::DeleteRolePolicy { .. } => Action::DeleteRolePolicy,
            Change::AttachRolePolicy { .. } => Action::AttachRolePolicy,
            Change::PutRolePolicy { .. } => Action::PutRolePolicy,
            Change::RestoreQuarantinePolicy { .. } => Action::RestoreQuarantinePolicy,
            Change::DeletePasswordPolicy { .. } => Action::DeletePasswordPolicy,
            Change::ActivateAccessKey { .. } => Action::ActivateAccessKey,
            Change::CancelPasswordReset { .. } => Action::CancelPasswordReset,
            Change::AttachUserPolicy { .. } => Action::AttachUserPolicy,
            Change::PutUserPolicy { .. } => Action::PutUserPolicy,
            Change::AddUserToGroup { .. } => Action::AddUserToGroup,
            Change::CreateOidcProvider { .. } => Action::CreateOidcProvider,
        }
    }

    /// The change that puts this one back, or why nothing can.
    pub fn inverse(&self) -> Result<Change, &'static str> {
        use Change::*;
        Ok(match self.clone() {
            UpdatePasswordPolicy {
                desired,
                previous: Some(previous),
            } => UpdatePasswordPolicy {
                desired: previous,
                previous: Some(desired),
            },
            UpdatePasswordPolicy {
                desired,
                previous: None,
            } => DeletePasswordPolicy { previous: desired },
            DeletePasswordPolicy { previous } => UpdatePasswordPolicy {
                desired: previous,
                previous: None,
            },
            AttachDenyPolicy { user } => DetachDenyPolicy { user },
            DetachDenyPolicy { user } => AttachDenyPolicy { user },
            DeactivateAccessKey { user, id } => ActivateAccessKey { user, id },
            ActivateAccessKey { user, id } => DeactivateAccessKey { user, id },
            RequirePasswordReset { user } => CancelPasswordReset { user },
            CancelPasswordReset { user } => RequirePasswordReset { user },
            DetachUserPolicy { user, arn } => AttachUserPolicy { user, arn },
            AttachUserPolicy { user, arn } => DetachUserPolicy { user, arn },
            DeleteUserPolicy { user, name, document } => PutUserPolicy { user, name, document },
            PutUserPolicy { user, name, document } => DeleteUserPolicy { user, name, document },
            RemoveUserFromGroup { user, group } => AddUserToGroup { user, group },
            AddUserToGroup { user, group } => RemoveUserFromGroup { user, group },
            DeleteOidcProvider { provider } => CreateOidcProvider { provider },
            CreateOidcProvider { provider } => DeleteOidcProvider { provider },
            DetachGroupPolicy { group, arn } => AttachGroupPolicy { group, arn },
            AttachGroupPolicy { group, arn } => DetachGroupPolicy { group, arn },
            DeleteGroupPolicy { group, name, document } => PutGroupPolicy { group, name, document },
            PutGroupPolicy { group, name, document } => DeleteGroupPolicy { group, name, document },
            DetachRolePolicy { role, arn } => AttachRolePolicy { role, arn },
            AttachRolePolicy { role, arn } => DetachRolePolicy { role, arn },
            DeleteRolePolicy { role, name, document } => PutRolePolicy { role, name, document },
            PutRolePolicy { role, name, document } => DeleteRolePolicy { role, name, document },
            QuarantineRole { role } => LiftQuarantine { role },
            LiftQuarantine { role } => QuarantineRole { role },
            DeleteLoginProfile { .. } => {
                return Err("a deleted console password cannot come back: give the user a new login profile");
            }
            DeleteAccessKey { .. } => {
                return Err("a deleted key's secret cannot come back: create a new access key for the user");
            }
            StartLogging { .. } => return Err("iam-warden never stops a trail: stop it yourself if you must"),
            DeleteServerCertificate { .. } => {
                return Err(
                    "IAM never gives a certificate's private key back: upload it again with its key (the journal has the body and chain)",
                );
            }
            RestoreQuarantinePolicy { .. } => return Err("iam-warden never puts a tampered quarantine policy back"),
            RecordDeactivation { .. } | ClearDeactivationRecord { .. } => {
                return Err("a record iam-warden keeps goes and comes with the change it records");
            }
        })
    }

    /// The user it changes, if it changes one.
    pub fn user(&self) -> Option<&Name> {
        use Change::*;
        match self {
            AttachDenyPolicy { user }
            | DetachDenyPolicy { user }
            | DeleteLoginProfile { user }
            | DeactivateAccessKey { user, .. }
            | DeleteAccessKey { user, .. }
            | RecordDeactivation { user, .. }
            | ClearDeactivationRecord { user, .. }
            | RequirePasswordReset { user }
            | DetachUserPolicy { user, .. }
            | DeleteUserPolicy { user, .. }
            | RemoveUserFromGroup { user, .. }
            | ActivateAccessKey { user, .. }
            | CancelPasswordReset { user }
            | AttachUserPolicy { user, .. }
            | PutUserPolicy { user, .. }
            | AddUserToGroup { user, .. } => Some(user),
            UpdatePasswordPolicy { .. }
            | DeleteOidcProvider { .. }
            | QuarantineRole { .. }
            | LiftQuarantine { .. }
            | StartLogging { .. }
            | RestoreQuarantinePolicy { .. }
            | DeleteServerCertificate { .. }
            | DetachGroupPolicy { .. }
            | DeleteGroupPolicy { .. }
            | AttachGroupPolicy { .. }
            | PutGroupPolicy { .. }
            | DetachRolePolicy { .. }
            | DeleteRolePolicy { .. }
            | AttachRolePolicy { .. }
            | PutRolePolicy { .. }
            | DeletePasswordPolicy { .. }
            | CreateOidcProvider { .. } => None,
        }
    }

    /// Restores access iam-warden itself took away; an exemption never blocks it.
    pub fn restores(&self) -> bool {
        matches!(self, Change::DetachDenyPolicy { .. } | Change::LiftQuarantine { .. })
    }

    /// What this change destroys cannot be put back as it was, so the
    /// resource is read again and the finding re-judged right before it.
    /// (A restore may delete the oldest version of the policy to make room.)
    pub fn irreversible(&self) -> bool {
        matches!(
            self,
            Change::DeleteAccessKey { .. }
                | Change::DeleteLoginProfile { .. }
                | Change::DeleteOidcProvider { .. }
                | Change::RestoreQuarantinePolicy { .. }
                | Change::DetachUserPolicy { .. }
                | Change::DeleteUserPolicy { .. }
                | Change::RemoveUserFromGroup { .. }
        )
    }

    /// Counts against the change budget. Record-keeping and repairing
    /// iam-warden's own quarantine policies do not: neither changes anyone's access.
    pub fn budgeted(&self) -> bool {
        !matches!(
            self,
            Change::RecordDeactivation { .. }
                | Change::ClearDeactivationRecord { .. }
                | Change::RestoreQuarantinePolicy { .. }
        )
    }
}

impl Action {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// The changes a rule can make.
pub fn actions_of(rule: Rule) -> &'static [Action] {
    match rule {
        Rule::PasswordPolicy => &[Action::UpdatePasswordPolicy],
        Rule::PasswordReset => &[Action::RequirePasswordReset],
        Rule::Mfa => &[
            Action::AttachDenyPolicy,
            Action::DetachDenyPolicy,
            Action::DeleteLoginProfile,
            Action::RestoreQuarantinePolicy,
        ],
        Rule::ConsoleAccess => &[Action::DeleteLoginProfile],
        Rule::AccessKeys => &[Action::DeactivateAccessKey, Action::DeleteAccessKey],
        Rule::UserPermissions => &[
            Action::DetachUserPolicy,
            Action::DeleteUserPolicy,
            Action::RemoveUserFromGroup,
        ],
        Rule::OidcProviders => &[Action::DeleteOidcProvider],
        Rule::OidcTrust => &[
            Action::QuarantineRole,
            Action::LiftQuarantine,
            Action::RestoreQuarantinePolicy,
        ],
        Rule::Cloudtrail => &[Action::StartLogging],
        Rule::ServerCertificates => &[Action::DeleteServerCertificate],
        Rule::RolePermissions => &[Action::DetachRolePolicy, Action::DeleteRolePolicy],
        Rule::GroupPermissions => &[Action::DetachGroupPolicy, Action::DeleteGroupPolicy],
        Rule::Cis => &[],
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Resource {
    /// The account's trails as a whole.
    Account,
    /// The account's root user.
    Root,
    /// The role for AWS Support that CIS 2.16 asks for, when none exists.
    SupportRole,
    /// The IAM Access Analyzer CIS 2.19 asks for in a region, when none is active.
    AccessAnalyzer {
        region: String,
    },
    PasswordPolicy,
    User {
        name: Name,
    },
    Role {
        name: Name,
    },
    AccessKey {
        user: Name,
        id: String,
    },
    /// A managed policy attached to a user.
    UserPolicy {
        user: Name,
        arn: String,
    },
    /// A policy embedded in a user.
    InlinePolicy {
        user: Name,
        name: String,
    },
    /// A user's membership of a group.
    GroupMembership {
        user: Name,
        group: Name,
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
    ServerCertificate {
        name: String,
    },
    /// A managed policy attached to a group.
    GroupPolicy {
        group: Name,
        arn: String,
    },
    /// A policy embedded in a group.
    GroupInlinePolicy {
        group: Name,
        name: String,
    },
    /// A managed policy attached to a role.
    RolePolicy {
        role: Name,
        arn: String,
    },
    /// A policy embedded in a role.
    RoleInlinePolicy {
        role: Name,
        name: String,
    },
}

impl Resource {
    /// The IAM user this resource belongs to, if any.
    pub fn user(&self) -> Option<&Name> {
        match self {
            Resource::User { name } => Some(name),
            Resource::AccessKey { user, .. }
            | Resource::UserPolicy { user, .. }
            | Resource::InlinePolicy { user, .. }
            | Resource::GroupMembership { user, .. } => Some(user),
            _ => None,
        }
    }

    pub fn group(&self) -> Option<&Name> {
        match self {
            Resource::GroupPolicy { group, .. } | Resource::GroupInlinePolicy { group, .. } => Some(group),
            _ => None,
        }
    }

    pub fn role(&self) -> Option<&Name> {
        match self {
            Resource::Role { name } => Some(name),
            Resource::RolePolicy { role, .. } | Resource::RoleInlinePolicy { role, .. } => Some(role),
            _ => None,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Account => f.write_str("account"),
            Resource::Root => f.write_str("root"),
            Resource::SupportRole => f.write_str("support-role"),
            Resource::AccessAnalyzer { region } => write!(f, "access-analyzer/{region}"),
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
            Resource::ServerCertificate { name } => write!(f, "server-certificate/{name}"),
            Resource::GroupPolicy { group, arn } => {
                write!(f, "group-policy/{group}/{}", arn.rsplit('/').next().unwrap_or(arn))
            }
            Resource::GroupInlinePolicy { group, name } => write!(f, "group-inline-policy/{group}/{name}"),
            Resource::RolePolicy { role, arn } => {
                write!(f, "role-policy/{role}/{}", arn.rsplit('/').next().unwrap_or(arn))
            }
            Resource::RoleInlinePolicy { role, name } => write!(f, "role-inline-policy/{role}/{name}"),
            Resource::QuarantinePolicy { policy, .. } => write!(f, "policy{}{}", quarantine::PATH, policy.name()),
        }
    }
}
