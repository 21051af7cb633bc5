//! The state of an account as iam-warden reads it, as plain structs: what
//! the planner judges. `observe` fills them in from AWS; nothing here talks to it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::policy::PasswordPolicy;
use crate::quarantine::QuarantinePolicy;

/// What one reconcile saw. A section that was not read is `None`, and the
/// planner leaves its rules alone, so a reconcile of one user judges only it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    pub caller: Caller,
    pub password_policy: Option<Observation<PasswordPolicy>>,
    /// The root user, read when rule `mfa` asks for its MFA or rule `cis` judges it.
    pub root: Option<RootUser>,
    /// The roles AWSSupportAccess is attached to, read when rule `cis` asks (CIS 2.16).
    pub support_roles: Option<Vec<Name>>,
    /// Whether each region rule `cis` names has an active IAM Access Analyzer (CIS 2.19).
    pub access_analyzers: Option<Vec<AnalyzerRegion>>,
    pub users: Vec<User>,
    pub oidc_providers: Option<Vec<OidcProvider>>,
    pub trails: Option<Vec<Trail>>,
    pub roles: Option<Vec<Role>>,
    pub quarantine_policies: Option<Vec<LiveQuarantinePolicy>>,
    pub server_certificates: Option<Vec<ServerCertificate>>,
    /// Groups with their policies, read when rule `group-permissions` judges them.
    pub groups: Option<Vec<Group>>,
}

/// A region and whether IAM Access Analyzer is active in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyzerRegion {
    pub region: String,
    /// An analyzer of any type whose status is ACTIVE.
    pub active: bool,
}

/// The root user, as the account summary shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RootUser {
    pub mfa: bool,
    pub access_keys: bool,
    /// Whether its MFA is a virtual device; `None` when not read (it has
    /// no MFA, or no rule asks).
    pub virtual_mfa: Option<bool>,
}

/// An SSL/TLS certificate stored in IAM (rule `server-certificates`). The
/// body and chain are read only for an expired one, to be journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerCertificate {
    pub name: String,
    pub arn: String,
    pub expiration: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
}

/// Something that may be read and found absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Observation<T> {
    Absent,
    Present(T),
}

/// A user, as far as it was read: each facet is `None` when this reconcile
/// did not read it, and the planner then leaves its rules alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub name: Name,
    /// When the user was created, where known (the credential report says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// `None` when not read: tag exemptions and deactivation records are
    /// then unknown, and a reconcile reads them before it acts.
    pub tags: Option<BTreeMap<String, String>>,
    pub console: Option<Console>,
    pub access_keys: Option<Vec<AccessKey>>,
    pub permissions: Option<Permissions>,
}

/// Console access: the login profile, MFA, and the MFA quarantine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Console {
    pub login_profile: Option<LoginProfile>,
    /// Counted only for console users: read live, it is 0 without a login profile.
    pub mfa_devices: usize,
    /// iam-warden's MFA quarantine holds the user: its managed policy, or
    /// the inline policy of the same name where a quota left no room.
    pub quarantined: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginProfile {
    pub created: DateTime<Utc>,
    /// The user must choose a new password at the next sign-in.
    pub reset_required: bool,
    /// When the password was last set, as best known: IAM says it only in the
    /// credential report, so this is the later of the report's time, the
    /// profile's creation and any password change seen in an event since.
    pub password_last_changed: Option<DateTime<Utc>>,
    /// When the password was last used to sign in: from GetUser when rule
    /// `console-access` needs it, else not read; from the report, as it was
    /// hours ago.
    pub password_last_used: LastUse,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    /// `None` when read from the credential report, which names no key ids:
    /// no change can be made to such a key, only a suspect named.
    pub id: Option<String>,
    pub active: bool,
    pub created: DateTime<Utc>,
    pub last_used: LastUse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LastUse {
    Never,
    At(DateTime<Utc>),
    /// Not read: no decision about the key depends on it (it is past `maxAge`).
    NotRead,
}

impl LastUse {
    /// The time of the last use, if it is known to have been used.
    pub fn time(self) -> Option<DateTime<Utc>> {
        match self {
            LastUse::At(at) => Some(at),
            _ => None,
        }
    }
}

/// What a user may do: its own policies and its groups'.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    pub attached: Vec<ManagedPolicy>,
    pub inline: Vec<InlinePolicy>,
    pub groups: Vec<Group>,
    /// The permissions boundary: the most the user may do, whatever its policies say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boundary: Option<ManagedPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedPolicy {
    pub arn: String,
    pub name: String,
    /// The default version's document, decoded; `None` for a policy AWS
    /// manages, which is judged by its name.
    pub document: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InlinePolicy {
    pub name: String,
    /// Decoded.
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub name: Name,
    pub attached: Vec<ManagedPolicy>,
    pub inline: Vec<InlinePolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcProvider {
    pub arn: String,
    pub url: String,
    pub client_ids: Vec<String>,
    pub thumbprints: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub created: Option<DateTime<Utc>>,
}

/// A role, with what rule `oidc-trust` judges: who may assume it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub name: Name,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    /// The trust policy, decoded: IAM returns it URL-encoded from some calls and raw from others.
    pub trust_policy: String,
    /// `iam-warden-deny-all` holds the role: the managed policy, or the inline
    /// policy of the same name where a quota left no room.
    pub quarantined: bool,
    /// What the role may do, read when rule `role-permissions` judges it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<RolePermissions>,
}

/// A role's own policies, boundary and use (rule `role-permissions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolePermissions {
    pub attached: Vec<ManagedPolicy>,
    pub inline: Vec<InlinePolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boundary: Option<ManagedPolicy>,
    pub created: DateTime<Utc>,
    /// `None`: not used within what IAM tracks (the last 400 days).
    pub last_used: Option<DateTime<Utc>>,
}

impl Role {
    /// A role AWS creates and owns: a service-linked role (`/aws-service-role/`)
    /// or an IAM Identity Center role (`/aws-reserved/`). AWS refuses changes
    /// to them and their trust is its own, so no rule judges or touches them.
    pub fn owned_by_aws(&self) -> bool {
        let path = self.arn.split_once(":role/").map_or("", |(_, path)| path);
        ["aws-service-role/", "aws-reserved/"]
            .iter()
            .any(|owned| path.starts_with(owned))
    }
}

/// A quarantine policy as it is in IAM, when it exists.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveQuarantinePolicy {
    pub policy: QuarantinePolicy,
    pub arn: String,
    pub default_version: String,
    /// The default version's document, decoded.
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trail {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    pub logging: bool,
    /// Logs management write events, which is where IAM changes are recorded.
    pub management_events: bool,
}

/// Who iam-warden runs as: iam-warden never acts on it, nor on what it depends on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Caller {
    pub account_id: String,
    pub arn: String,
    pub identity: Identity,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Identity {
    /// An IAM user, with long-term keys.
    User { name: Name },
    /// An assumed role, as with IRSA or EKS Pod Identity.
    Role { name: Name, trust: Trust },
    /// The root user or a federated session: nothing in IAM to protect.
    #[default]
    Other,
}

/// The OIDC providers the caller's role trusts. Deleting one would cut
/// iam-warden off (and, for a cluster's IRSA issuer, every pod beside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    Providers(BTreeSet<String>),
    /// The trust policy could not be read: every provider is then protected.
    Unknown(String),
}

impl Caller {
    pub fn partition(&self) -> &str {
        crate::account::partition(&self.arn)
    }

    pub fn quarantine_arn(&self, policy: QuarantinePolicy) -> String {
        policy.arn(self.partition(), &self.account_id)
    }
}
