//! What a finding asks for, and the resource it names.

use std::fmt;

use serde::Serialize;

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
    DeleteOidcProvider,
    StartLogging,
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
            Action::DeleteOidcProvider => "delete-oidc-provider",
            Action::StartLogging => "start-logging",
            Action::Report => "report",
        }
    }

    /// Restores access iam-warden itself took away; an exemption never blocks it.
    pub fn restores(self) -> bool {
        self == Action::DetachDenyPolicy
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
    /// The account itself: its root user, or its trails as a whole.
    Account,
    PasswordPolicy,
    User {
        name: String,
    },
    AccessKey {
        user: String,
        id: String,
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
}

impl Resource {
    /// The IAM user this resource belongs to, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            Resource::User { name } => Some(name),
            Resource::AccessKey { user, .. } => Some(user),
            _ => None,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Account => f.write_str("account"),
            Resource::PasswordPolicy => f.write_str("password-policy"),
            Resource::User { name } => write!(f, "user/{name}"),
            Resource::AccessKey { user, id } => write!(f, "access-key/{user}/{id}"),
            Resource::OidcProvider { url, .. } => write!(f, "oidc-provider/{url}"),
            Resource::Trail { name, .. } => write!(f, "trail/{name}"),
        }
    }
}
