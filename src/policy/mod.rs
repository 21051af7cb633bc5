//! The desired state: the policy file's model, its validation and its schema.

mod document;
mod duration;
mod issuer;
mod set;
mod validate;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::name::Name;

pub use duration::{display as display_duration, parse as parse_duration};
pub use issuer::IssuerPattern;
pub use set::PolicySet;

/// The rules a policy can turn on; their ids appear in plans, metrics and exemptions.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Rule {
    PasswordPolicy,
    PasswordReset,
    Mfa,
    ConsoleAccess,
    AccessKeys,
    UserPermissions,
    GroupPermissions,
    OidcProviders,
    OidcTrust,
    RolePermissions,
    Cloudtrail,
    ServerCertificates,
    Cis,
}

impl Rule {
    pub fn id(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MfaAction {
    #[default]
    Report,
    DenyUntilMfa,
    DisableConsole,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConsoleAction {
    #[default]
    Report,
    /// Deletes the login profile: the password cannot come back.
    DisableConsole,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAction {
    #[default]
    Report,
    Deactivate,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OidcAction {
    #[default]
    Report,
    Delete,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionsAction {
    #[default]
    Report,
    Detach,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TrustAction {
    #[default]
    Report,
    Quarantine,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateAction {
    #[default]
    Report,
    /// Deletes an expired certificate; its body and chain are journaled first.
    Delete,
}

/// The controls of CIS section 2 that no API can fix (rule `cis`): each
/// one on is judged and reported in `plan`, never changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CisReport {
    /// CIS 2.3: the root user has an access key (only root can delete it).
    pub root_access_keys: bool,
    /// CIS 2.5: the root user's MFA is not a hardware device.
    pub root_hardware_mfa: bool,
    /// CIS 2.16: no role has AWSSupportAccess.
    pub support_role: bool,
    /// CIS 2.19: where an active IAM Access Analyzer must be.
    pub access_analyzer: AnalyzerRegions,
}

/// The regions CIS 2.19 asks an active IAM Access Analyzer of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalyzerRegions {
    Off,
    /// The region iam-warden's clients use.
    Own,
    /// Each of these, checked to be region names.
    Listed(Vec<String>),
}

impl CisReport {
    /// Whether any control needs the root user read.
    pub fn reads_root(&self) -> bool {
        self.root_access_keys || self.root_hardware_mfa
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TrailAction {
    #[default]
    Report,
    StartLogging,
}

/// A validated policy: every value is in range and every name is real.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    /// `None`: the accounts no other file of the directory selects.
    pub selector: Option<AccountSelector>,
    pub mode: Mode,
    pub password_policy: Option<PasswordPolicy>,
    pub password_reset: Option<PasswordResetRule>,
    pub mfa: Option<MfaRule>,
    pub console_access: Option<ConsoleAccessRule>,
    pub access_keys: Option<AccessKeysRule>,
    pub oidc_providers: Option<OidcProvidersRule>,
    pub cloudtrail: Option<CloudTrailRule>,
    pub oidc_trust: Option<OidcTrustRule>,
    pub user_permissions: Option<UserPermissionsRule>,
    pub group_permissions: Option<GroupPermissionsRule>,
    pub role_permissions: Option<RolePermissionsRule>,
    /// CIS 2.18: expired server certificates go.
    pub server_certificates: Option<CertificateAction>,
    pub cis: Option<CisReport>,
    pub exemptions: Vec<Exemption>,
}

/// The account password policy, desired or observed: the two compare field by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordPolicy {
    pub minimum_length: u32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub allow_users_to_change_password: bool,
    pub max_age_days: Option<u32>,
    pub reuse_prevention: Option<u32>,
    pub hard_expiry: bool,
}

/// IAM never re-checks existing passwords against a new policy: passwords
/// set before this moment must be chosen again.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordResetRule {
    pub set_before: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserPermissionsRule {
    pub allow_direct_policies: bool,
    pub forbid_admin: bool,
    pub report_escalation: bool,
    /// Managed policies no user may have attached (CIS 2.21).
    pub forbidden_policies: ForbiddenPolicies,
    pub action: PermissionsAction,
}

/// What groups may give their members (CIS 2.15 for groups).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPermissionsRule {
    pub forbid_admin: bool,
    pub forbidden_policies: ForbiddenPolicies,
    pub action: PermissionsAction,
}

impl GroupPermissionsRule {
    /// Takes a group's admin policies away itself: its members need not leave it.
    pub fn fixes_admin_groups(&self) -> bool {
        self.forbid_admin && self.action == PermissionsAction::Detach
    }
}

/// What roles may do (CIS 2.15 for roles, least privilege).
#[derive(Debug, Clone, PartialEq)]
pub struct RolePermissionsRule {
    pub forbid_admin: bool,
    pub forbidden_policies: ForbiddenPolicies,
    pub report_escalation: bool,
    /// A role unused this long (never used: since its creation) is reported.
    pub max_unused: Option<TimeDelta>,
    pub action: PermissionsAction,
}

/// Managed policies, by ARN, that must not be attached. An ARN matches in
/// any partition: `arn:aws:iam::aws:policy/X` forbids X in GovCloud too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForbiddenPolicies(Vec<String>);

impl ForbiddenPolicies {
    /// Each ARN as written; `None` for the first that is not a managed policy's ARN.
    pub fn parse<'a>(arns: impl IntoIterator<Item = &'a str>) -> Result<ForbiddenPolicies, &'a str> {
        let mut ids = Vec::new();
        for arn in arns {
            ids.push(Self::id(arn).ok_or(arn)?.to_owned());
        }
        Ok(ForbiddenPolicies(ids))
    }

    pub fn forbids(&self, arn: &str) -> bool {
        Self::id(arn).is_some_and(|id| self.0.iter().any(|f| f == id))
    }

    /// What names the policy in every partition: `iam::ACCOUNT:policy/PATH/NAME`.
    fn id(arn: &str) -> Option<&str> {
        let rest = arn.strip_prefix("arn:")?;
        let (_partition, id) = rest.split_once(':')?;
        let (account, path) = id.strip_prefix("iam::")?.split_once(':')?;
        let account_ok = account == "aws" || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
        (account_ok && path.strip_prefix("policy/").is_some_and(|name| !name.is_empty())).then_some(id)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MfaRule {
    pub require_for_console_users: bool,
    pub grace_period: TimeDelta,
    pub action: MfaAction,
    pub require_for_root: bool,
}

/// CIS 2.11: a console password unused this long goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleAccessRule {
    pub max_unused: TimeDelta,
    pub action: ConsoleAction,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccessKeysRule {
    pub max_age: Option<TimeDelta>,
    pub max_unused: Option<TimeDelta>,
    pub delete_after: Option<TimeDelta>,
    pub warn_before: Option<TimeDelta>,
    pub max_active: Option<usize>,
    pub action: KeyAction,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OidcProvidersRule {
    pub allowed_issuers: Vec<IssuerPattern>,
    pub allowed_audiences: Option<BTreeSet<String>>,
    pub action: OidcAction,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloudTrailRule {
    pub require_logging: bool,
    pub trails: Vec<String>,
    pub action: TrailAction,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OidcTrustRule {
    /// Issuer patterns, each with the subject patterns it allows.
    pub subjects: Vec<(IssuerPattern, Vec<String>)>,
    pub require_audience: bool,
    pub action: TrustAction,
}

/// The accounts a policy file of a directory governs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSelector {
    pub accounts: BTreeSet<String>,
    pub organizational_units: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exemption {
    pub selector: Selector,
    /// `None`: every rule.
    pub rules: Option<BTreeSet<Rule>>,
    pub reason: String,
    /// The first instant the exemption no longer holds.
    pub expires: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// Names compare without case, as IAM's do.
    Users(BTreeSet<Name>),
    Roles(BTreeSet<Name>),
    Groups(BTreeSet<Name>),
    /// Resources whose tag with this key has the value `true`.
    Tag(String),
}

/// Everything wrong with a policy file, each error at its line and column.
#[derive(Debug)]
pub struct PolicyError {
    pub file: PathBuf,
    source_text: String,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, d) in self.diagnostics.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            let file = self.file.display();
            match d.line {
                // The file as a whole, such as one that cannot be read.
                0 => write!(f, "{file}: {}", d.message)?,
                line => write!(f, "{file}:{line}:{}: {}", d.column, d.message)?,
            }
            // A quoted source line with a caret, as compilers print, so the
            // error can be fixed without opening the file at that position.
            if let Some(text) = d
                .line
                .checked_sub(1)
                .and_then(|i| self.source_text.lines().nth(i as usize))
            {
                let caret_at = " ".repeat(d.column.saturating_sub(1) as usize);
                write!(f, "\n    | {text}\n    | {caret_at}^")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|error| PolicyError {
            file: path.to_owned(),
            source_text: String::new(),
            diagnostics: vec![Diagnostic {
                line: 0,
                column: 0,
                message: format!("cannot read the policy file: {error}"),
            }],
        })?;
        Policy::parse(path, &text)
    }

    /// `file` only names the source in error messages.
    pub fn parse(file: &Path, text: &str) -> Result<Policy, PolicyError> {
        validate::parse(text).map_err(|diagnostics| PolicyError {
            file: file.to_owned(),
            source_text: text.to_owned(),
            diagnostics,
        })
    }

    /// The JSON Schema of the policy file, for editors.
    pub fn json_schema() -> serde_json::Value {
        let mut schema = schemars::schema_for!(document::Document).to_value();
        schema["$id"] = "https://iamwarden.dev/schemas/v1alpha1/account-policy.json".into();
        schema
    }
}
