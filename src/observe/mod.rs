//! Live state read from AWS, as plain structs: no SDK type leaves this module.

mod authorization;
mod caller;
mod cloudtrail;
mod credential_report;
mod iam;
mod quarantine;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::policy::PasswordPolicy;
use crate::quarantine::QuarantinePolicy;

pub(crate) use authorization::{UserDetails, authorization_details};
pub use caller::{Caller, Identity, Trust};
pub(crate) use caller::{caller, role_trust};
pub(crate) use cloudtrail::trails;
pub(crate) use credential_report::credential_report;
pub(crate) use iam::{oidc_provider, oidc_providers, password_policy, role, root_mfa, users};
pub(crate) use quarantine::{quarantine_policies, quarantine_policy};

/// What one reconcile saw. A section that was not read is `None`, and the
/// planner leaves its rules alone, so a reconcile of one user judges only it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    pub caller: Caller,
    pub password_policy: Option<Observation<PasswordPolicy>>,
    pub root_mfa_enabled: Option<bool>,
    pub users: Vec<User>,
    pub oidc_providers: Option<Vec<OidcProvider>>,
    pub trails: Option<Vec<Trail>>,
    pub roles: Option<Vec<Role>>,
    pub quarantine_policies: Option<Vec<LiveQuarantinePolicy>>,
}

/// Something that may be read and found absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Observation<T> {
    Absent,
    Present(T),
}

/// Where a user's state came from. Only live reads may lead to a change; the
/// credential report, up to four hours old, only says whom to read live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Live,
    CredentialReport,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub name: String,
    pub arn: String,
    pub created: DateTime<Utc>,
    pub tags: BTreeMap<String, String>,
    pub login_profile: Option<LoginProfile>,
    /// Counted only for console users: read live, it is 0 without a login profile.
    pub mfa_devices: usize,
    pub access_keys: Vec<AccessKey>,
    pub deny_policy_attached: bool,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginProfile {
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    /// Empty when read from the credential report, which names no key ids.
    pub id: String,
    pub active: bool,
    pub created: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub name: String,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    /// The trust policy, decoded: IAM returns it URL-encoded from some calls and raw from others.
    pub trust_policy: String,
    /// `iam-warden-deny-all` is attached.
    pub quarantined: bool,
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

fn to_utc(time: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos()).unwrap_or_default()
}

fn tag_map<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    tags.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}
