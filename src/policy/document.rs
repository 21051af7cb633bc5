//! The policy file exactly as written, with source positions kept on every
//! value that semantic validation may reject, so each error can point at it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    CertificateAction, ConsoleAction, KeyAction, MfaAction, Mode, OidcAction, PermissionsAction, TrailAction,
    TrustAction,
};

/// A value with the line and column it was read from.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(super) struct Located<T>(pub Spanned<T>);

impl<T> Located<T> {
    pub fn value(&self) -> &T {
        &self.0.value
    }

    pub fn position(&self) -> (u64, u64) {
        (self.0.referenced.line(), self.0.referenced.column())
    }
}

// The schema describes the value; where it was written is not part of the file.
impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A mapping whose keys keep where they were written.
#[derive(Debug)]
pub(super) struct LocatedMap<V>(pub Vec<(Located<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for LocatedMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Entries<V> {
            type Value = LocatedMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(LocatedMap(entries))
            }
        }
        deserializer.deserialize_map(Entries(std::marker::PhantomData))
    }
}

impl<V: JsonSchema> JsonSchema for LocatedMap<V> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("MapOf{}", V::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = schemars::json_schema!({"type": "object"});
        schema.insert(
            "additionalProperties".to_owned(),
            generator.subschema_for::<V>().to_value(),
        );
        schema
    }
}

/// iam-warden's desired state for one AWS account.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "AccountPolicy")]
pub(super) struct Document {
    /// Always `iamwarden.dev/v1alpha1`.
    pub api_version: Located<String>,
    /// Always `AccountPolicy`.
    pub kind: Located<String>,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Metadata {
    pub name: String,
    // Accepted, not used: the same document can then be served as a Kubernetes
    // resource, whose tooling adds labels and annotations.
    #[serde(default)]
    #[allow(dead_code)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub annotations: BTreeMap<String, String>,
}

/// Every section is optional: an absent section is not managed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Spec {
    /// Which accounts of an Organization this file governs, in a directory of
    /// policies; absent: every account no other file selects.
    pub selector: Option<Located<SelectorSpec>>,
    /// `enforce` changes AWS; `audit` only finds and reports.
    #[serde(default)]
    pub mode: Mode,
    pub password_policy: Option<PasswordPolicySpec>,
    pub mfa: Option<MfaSpec>,
    pub console_access: Option<ConsoleAccessSpec>,
    pub access_keys: Option<AccessKeysSpec>,
    pub oidc_providers: Option<OidcProvidersSpec>,
    pub cloud_trail: Option<CloudTrailSpec>,
    pub oidc_trust: Option<OidcTrustSpec>,
    pub user_permissions: Option<UserPermissionsSpec>,
    pub group_permissions: Option<GroupPermissionsSpec>,
    pub role_permissions: Option<RolePermissionsSpec>,
    pub server_certificates: Option<ServerCertificatesSpec>,
    pub cis: Option<CisSpec>,
    #[serde(default)]
    pub exemptions: Vec<Located<ExemptionSpec>>,
}

/// The exact desired account password policy; any difference is drift.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct PasswordPolicySpec {
    #[schemars(range(min = 6, max = 128))]
    pub minimum_length: Located<u32>,
    #[serde(default)]
    pub require_symbols: bool,
    #[serde(default)]
    pub require_numbers: bool,
    #[serde(default)]
    pub require_uppercase: bool,
    #[serde(default)]
    pub require_lowercase: bool,
    #[serde(default)]
    pub allow_users_to_change_password: bool,
    /// Absent: passwords never expire.
    #[schemars(range(min = 1, max = 1095))]
    pub max_age_days: Option<Located<u32>>,
    /// Absent: no reuse prevention.
    #[schemars(range(min = 1, max = 24))]
    pub reuse_prevention: Option<Located<u32>>,
    #[serde(default)]
    pub hard_expiry: bool,
    /// `YYYY-MM-DD`: console users whose password was last set before this
    /// date must choose a new one (rule `password-reset`). Needs
    /// `allowUsersToChangePassword: true`.
    #[schemars(regex(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub reset_passwords_set_before: Option<Located<String>>,
}

const DURATION_PATTERN: &str = "^[0-9]+[smhd]$";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct MfaSpec {
    #[serde(default)]
    pub require_for_console_users: bool,
    /// Counted from the login profile's creation, like `24h`.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub grace_period: Option<Located<String>>,
    #[serde(default)]
    pub action: MfaAction,
    /// Reported only: root's MFA cannot be fixed through an API.
    #[serde(default)]
    pub require_for_root: bool,
}

/// CIS 2.11: console passwords that are not used are removed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ConsoleAccessSpec {
    /// A console password unused this long, like `45d`; one never used
    /// counts from the login profile's creation.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub max_unused: Located<String>,
    /// `report`, or `disable-console`: delete the login profile (the
    /// password cannot come back; `undo` says so).
    #[serde(default)]
    pub action: ConsoleAction,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct AccessKeysSpec {
    /// An active key older than this is deactivated, like `90d`.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub max_age: Option<Located<String>>,
    /// An active key unused this long is deactivated; a never-used key counts from creation.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub max_unused: Option<Located<String>>,
    /// An inactive key older than this is deleted.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub delete_after: Option<Located<String>>,
    /// Report keys that reach maxAge within this window.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub warn_before: Option<Located<String>>,
    /// At most this many active keys per user (CIS 2.12: 1). Past it, the
    /// active keys used least recently are deactivated; never used counts as
    /// the oldest use. IAM allows two keys per user.
    #[schemars(range(min = 1, max = 2))]
    pub max_active: Option<Located<u32>>,
    #[serde(default)]
    pub action: KeyAction,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct OidcProvidersSpec {
    /// Issuer host and path; `*` matches exactly one DNS label or one path segment.
    pub allowed_issuers: Vec<Located<String>>,
    /// Client ids a provider may list; a violation is reported only.
    pub allowed_audiences: Option<Vec<String>>,
    #[serde(default)]
    pub action: OidcAction,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct CloudTrailSpec {
    /// At least one multi-region trail logging management events.
    #[serde(default)]
    pub require_logging: bool,
    /// These trails must exist and be logging.
    #[serde(default)]
    pub trails: Vec<Located<String>>,
    #[serde(default)]
    pub action: TrailAction,
}

/// Roles that an OIDC identity may assume (`sts:AssumeRoleWithWebIdentity`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct OidcTrustSpec {
    /// Issuer pattern (as in `allowedIssuers`) to the subjects allowed to assume
    /// roles through it, such as `repo:my-org/*`; `*` is any run of characters,
    /// `?` any one. An issuer that matches no entry allows no subject.
    pub subjects: LocatedMap<Vec<Located<String>>>,
    /// Each statement must pin the `aud` claim with `StringEquals`; a violation is reported only.
    #[serde(default)]
    pub require_audience: bool,
    #[serde(default)]
    pub action: TrustAction,
}

/// What groups may give their members (rule `group-permissions`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct GroupPermissionsSpec {
    /// An admin-equivalent managed or inline policy of the group is a finding.
    #[serde(default)]
    pub forbid_admin: bool,
    /// Managed policies, by ARN, no group may have attached.
    #[serde(default)]
    pub forbidden_policies: Vec<Located<String>>,
    /// `report`, or `detach`: detach a managed policy, delete an inline one
    /// (its document journaled first). Members then stay in the group.
    #[serde(default)]
    pub action: PermissionsAction,
}

/// What roles may do (rule `role-permissions`). Roles AWS owns
/// (`/aws-service-role/`, `/aws-reserved/`) are never judged.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RolePermissionsSpec {
    /// An admin-equivalent policy of the role's own is a finding.
    #[serde(default)]
    pub forbid_admin: bool,
    /// Managed policies, by ARN, no role may have attached.
    #[serde(default)]
    pub forbidden_policies: Vec<Located<String>>,
    /// Report roles whose own policies allow a known privilege-escalation set.
    #[serde(default)]
    pub report_escalation: bool,
    /// Report a role unused this long, like `180d` (never used: since its creation).
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub max_unused: Option<Located<String>>,
    /// `report`, or `detach`: detach a managed policy, delete an inline one
    /// (its document journaled first).
    #[serde(default)]
    pub action: PermissionsAction,
}

/// CIS 2.18: expired SSL/TLS certificates stored in IAM (rule `server-certificates`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ServerCertificatesSpec {
    /// `report`, or `delete` an expired certificate (its body and chain are
    /// journaled first; its private key IAM never gives back).
    #[serde(default)]
    pub action: CertificateAction,
}

/// The controls of CIS section 2 that no API can fix (rule `cis`): each
/// one on is judged and reported in `plan`, never changed. `cis: {}` turns
/// every one on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct CisSpec {
    /// CIS 2.3: the root user has an access key (only root can delete it).
    pub root_access_keys: bool,
    /// CIS 2.5: the root user's MFA is not a hardware device (a virtual
    /// one, or none).
    pub root_hardware_mfa: bool,
    /// CIS 2.16: no role has AWSSupportAccess to manage incidents with AWS Support.
    pub support_role: bool,
    /// CIS 2.19: the regions each of which must have an active IAM Access
    /// Analyzer. Absent: the region iam-warden runs in; `[]` turns the
    /// control off. CIS asks for every region the account uses: list them.
    pub access_analyzer_regions: Option<Vec<Located<String>>>,
}

impl Default for CisSpec {
    fn default() -> Self {
        CisSpec {
            root_access_keys: true,
            root_hardware_mfa: true,
            support_role: true,
            access_analyzer_regions: None,
        }
    }
}

/// What users may do (rule `user-permissions`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct UserPermissionsSpec {
    /// `false`: users get permissions through groups only (CIS 1.15); attached
    /// or inline user policies are findings.
    #[serde(default = "yes")]
    pub allow_direct_policies: bool,
    /// Admin-equivalent access, directly or through a group, is a finding.
    #[serde(default)]
    pub forbid_admin: bool,
    /// Report users whose own policies allow a known privilege-escalation set.
    #[serde(default)]
    pub report_escalation: bool,
    /// Managed policies, by ARN, no user may have attached (CIS 2.21:
    /// `arn:aws:iam::aws:policy/AWSCloudShellFullAccess`).
    #[serde(default)]
    pub forbidden_policies: Vec<Located<String>>,
    #[serde(default)]
    pub action: PermissionsAction,
}

fn yes() -> bool {
    true
}

/// Accounts by id, and OUs with every account below them. The most specific
/// file wins: an account id over an OU, a deeper OU over its parent.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct SelectorSpec {
    #[serde(default)]
    #[schemars(inner(regex(pattern = "^[0-9]{12}$")))]
    pub accounts: Vec<String>,
    #[serde(default)]
    #[schemars(inner(regex(pattern = "^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")))]
    pub organizational_units: Vec<String>,
}

/// Users or roles left alone, with a reason, optionally for some rules and until a date.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ExemptionSpec {
    pub users: Option<Vec<String>>,
    pub roles: Option<Vec<String>>,
    /// Groups, by name (rule `group-permissions`).
    pub groups: Option<Vec<String>>,
    /// Users, roles and OIDC providers whose tag of this key has the value `true`.
    pub tag: Option<String>,
    /// Rule ids; all rules when absent.
    pub rules: Option<Vec<Located<String>>>,
    pub reason: Option<Located<String>>,
    /// `YYYY-MM-DD`; the exemption holds through that day (UTC).
    #[schemars(regex(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub expires: Option<Located<String>>,
}
