//! Turns the file as written into a [`Policy`], collecting every semantic
//! error with its position rather than stopping at the first.

use std::collections::BTreeSet;
use std::fmt::Display;
use strum::IntoEnumIterator;

use chrono::{NaiveDate, TimeDelta};
use serde_saphyr::{DefaultMessageFormatter, MessageFormatter};

use crate::name::Name;

use super::document::{
    AccessKeysSpec, CisSpec, CloudTrailSpec, ConsoleAccessSpec, Document, ExemptionSpec, GroupPermissionsSpec, Located,
    MfaSpec, OidcProvidersSpec, OidcTrustSpec, PasswordPolicySpec, RolePermissionsSpec, SelectorSpec,
    UserPermissionsSpec,
};
use super::{
    AccessKeysRule, AccountSelector, AnalyzerRegions, CisReport, CloudTrailRule, ConsoleAccessRule, Diagnostic,
    Exemption, ForbiddenPolicies, GroupPermissionsRule, IssuerPattern, MfaRule, OidcProvidersRule, OidcTrustRule,
    PasswordPolicy, PasswordResetRule, Policy, RolePermissionsRule, Rule, Selector, UserPermissionsRule, duration,
};

const API_VERSION: &str = "iamwarden.dev/v1alpha1";
const KIND: &str = "AccountPolicy";

pub(super) fn parse(text: &str) -> Result<Policy, Vec<Diagnostic>> {
    let document: Document = serde_saphyr::from_str(text).map_err(|error| {
        let (line, column) = error.location().map_or((1, 1), |at| (at.line(), at.column()));
        vec![Diagnostic {
            line,
            column,
            message: DefaultMessageFormatter.format_message(&error).into_owned(),
        }]
    })?;
    let mut check = Checker::default();
    let policy = check.document(document);
    if check.diagnostics.is_empty() {
        Ok(policy)
    } else {
        Err(check.diagnostics)
    }
}

#[derive(Default)]
struct Checker {
    diagnostics: Vec<Diagnostic>,
}

impl Checker {
    fn error<T>(&mut self, at: &Located<T>, message: impl Display) {
        let (line, column) = at.position();
        self.diagnostics.push(Diagnostic {
            line,
            column,
            message: message.to_string(),
        });
    }

    fn document(&mut self, document: Document) -> Policy {
        if document.api_version.value() != API_VERSION {
            self.error(
                &document.api_version,
                format_args!("apiVersion must be `{API_VERSION}`"),
            );
        }
        if document.kind.value() != KIND {
            self.error(&document.kind, format_args!("kind must be `{KIND}`"));
        }
        let spec = document.spec;
        let password_reset = spec.password_policy.as_ref().and_then(|p| self.password_reset(p));
        Policy {
            name: document.metadata.name,
            selector: spec.selector.as_ref().map(|s| self.selector(s)),
            mode: spec.mode,
            password_reset,
            password_policy: spec.password_policy.map(|p| self.password_policy(p)),
            mfa: spec.mfa.map(|m| self.mfa(m)),
            console_access: spec.console_access.and_then(|c| self.console_access(c)),
            access_keys: spec.access_keys.map(|k| self.access_keys(k)),
            oidc_providers: spec.oidc_providers.map(|o| self.oidc_providers(o)),
            cloudtrail: spec.cloud_trail.map(|c| self.cloudtrail(c)),
            oidc_trust: spec.oidc_trust.map(|t| self.oidc_trust(t)),
            user_permissions: spec.user_permissions.map(|u| self.user_permissions(u)),
            group_permissions: spec.group_permissions.map(|g| self.group_permissions(g)),
            role_permissions: spec.role_permissions.map(|r| self.role_permissions(r)),
            server_certificates: spec.server_certificates.map(|c| c.action),
            cis: spec.cis.map(|c| self.cis(c)),
            exemptions: spec.exemptions.iter().filter_map(|e| self.exemption(e)).collect(),
        }
    }

    fn in_range(&mut self, field: &str, value: &Located<u32>, min: u32, max: u32) -> u32 {
        let n = *value.value();
        if !(min..=max).contains(&n) {
            self.error(value, format_args!("{field} must be between {min} and {max}, not {n}"));
        }
        n
    }

    /// `None` after reporting an invalid duration, so checks that depend on
    /// it stay quiet instead of piling up errors about one value.
    fn duration(&mut self, value: &Located<String>) -> Option<TimeDelta> {
        duration::parse(value.value())
            .map_err(|message| self.error(value, message))
            .ok()
    }

    fn password_policy(&mut self, spec: PasswordPolicySpec) -> PasswordPolicy {
        PasswordPolicy {
            minimum_length: self.in_range("minimumLength", &spec.minimum_length, 6, 128),
            require_symbols: spec.require_symbols,
            require_numbers: spec.require_numbers,
            require_uppercase: spec.require_uppercase,
            require_lowercase: spec.require_lowercase,
            allow_users_to_change_password: spec.allow_users_to_change_password,
            max_age_days: spec.max_age_days.map(|v| self.in_range("maxAgeDays", &v, 1, 1095)),
            reuse_prevention: spec
                .reuse_prevention
                .map(|v| self.in_range("reusePrevention", &v, 1, 24)),
            hard_expiry: spec.hard_expiry,
        }
    }

    fn password_reset(&mut self, spec: &PasswordPolicySpec) -> Option<PasswordResetRule> {
        let date = spec.reset_passwords_set_before.as_ref()?;
        if !spec.allow_users_to_change_password {
            self.error(
                date,
                "resetPasswordsSetBefore needs allowUsersToChangePassword: true, or users could not choose a new password",
            );
        }
        let set_before = self.date(date)?.and_hms_opt(0, 0, 0)?.and_utc();
        Some(PasswordResetRule { set_before })
    }

    fn mfa(&mut self, spec: MfaSpec) -> MfaRule {
        MfaRule {
            require_for_console_users: spec.require_for_console_users,
            grace_period: spec.grace_period.and_then(|g| self.duration(&g)).unwrap_or_default(),
            action: spec.action,
            require_for_root: spec.require_for_root,
        }
    }

    fn user_permissions(&mut self, spec: UserPermissionsSpec) -> UserPermissionsRule {
        UserPermissionsRule {
            allow_direct_policies: spec.allow_direct_policies,
            forbid_admin: spec.forbid_admin,
            report_escalation: spec.report_escalation,
            forbidden_policies: self.forbidden_policies(&spec.forbidden_policies),
            action: spec.action,
        }
    }

    fn group_permissions(&mut self, spec: GroupPermissionsSpec) -> GroupPermissionsRule {
        GroupPermissionsRule {
            forbid_admin: spec.forbid_admin,
            forbidden_policies: self.forbidden_policies(&spec.forbidden_policies),
            action: spec.action,
        }
    }

    fn role_permissions(&mut self, spec: RolePermissionsSpec) -> RolePermissionsRule {
        RolePermissionsRule {
            forbid_admin: spec.forbid_admin,
            forbidden_policies: self.forbidden_policies(&spec.forbidden_policies),
            report_escalation: spec.report_escalation,
            max_unused: spec.max_unused.as_ref().and_then(|m| self.duration(m)),
            action: spec.action,
        }
    }

    fn forbidden_policies(&mut self, arns: &[Located<String>]) -> ForbiddenPolicies {
        let mut valid = Vec::new();
        for arn in arns {
            match ForbiddenPolicies::parse([arn.value().as_str()]) {
                Ok(_) => valid.push(arn.value().as_str()),
                Err(bad) => self.error(
                    arn,
                    format!(
                        "`{bad}` is not a managed policy's ARN, like arn:aws:iam::aws:policy/AWSCloudShellFullAccess"
                    ),
                ),
            }
        }
        ForbiddenPolicies::parse(valid).unwrap_or_default()
    }

    fn cis(&mut self, spec: CisSpec) -> CisReport {
        let access_analyzer = match spec.access_analyzer_regions {
            None => AnalyzerRegions::Own,
            Some(listed) if listed.is_empty() => AnalyzerRegions::Off,
            Some(listed) => {
                for region in listed.iter().filter(|r| !is_region(r.value())) {
                    self.error(
                        region,
                        format_args!("`{}` is not a region name, like eu-west-1", region.value()),
                    );
                }
                AnalyzerRegions::Listed(listed.iter().map(|r| r.value().clone()).collect())
            }
        };
        CisReport {
            root_access_keys: spec.root_access_keys,
            root_hardware_mfa: spec.root_hardware_mfa,
            support_role: spec.support_role,
            access_analyzer,
        }
    }

    fn console_access(&mut self, spec: ConsoleAccessSpec) -> Option<ConsoleAccessRule> {
        Some(ConsoleAccessRule {
            max_unused: self.duration(&spec.max_unused)?,
            action: spec.action,
        })
    }

    fn access_keys(&mut self, spec: AccessKeysSpec) -> AccessKeysRule {
        let max_active = spec
            .max_active
            .as_ref()
            .map(|m| self.in_range("maxActive", m, 1, 2) as usize);
        let mut duration = |v: &Option<Located<String>>| v.as_ref().and_then(|v| self.duration(v));
        let rule = AccessKeysRule {
            max_age: duration(&spec.max_age),
            max_unused: duration(&spec.max_unused),
            delete_after: duration(&spec.delete_after),
            warn_before: duration(&spec.warn_before),
            max_active,
            action: spec.action,
        };
        if let (Some(warn), None) = (&spec.warn_before, &spec.max_age) {
            self.error(warn, "warnBefore needs maxAge: it warns of keys about to reach maxAge");
        }
        if let (Some(warn_text), Some(warn), Some(max_age)) = (&spec.warn_before, rule.warn_before, rule.max_age)
            && warn >= max_age
        {
            self.error(warn_text, "warnBefore must be shorter than maxAge");
        }
        rule
    }

    fn oidc_providers(&mut self, spec: OidcProvidersSpec) -> OidcProvidersRule {
        let allowed_issuers = spec.allowed_issuers.iter().filter_map(|p| self.issuer(p)).collect();
        OidcProvidersRule {
            allowed_issuers,
            allowed_audiences: spec.allowed_audiences.map(BTreeSet::from_iter),
            action: spec.action,
        }
    }

    fn issuer(&mut self, pattern: &Located<String>) -> Option<IssuerPattern> {
        IssuerPattern::parse(pattern.value())
            .map_err(|m| self.error(pattern, m))
            .ok()
    }

    fn oidc_trust(&mut self, spec: OidcTrustSpec) -> OidcTrustRule {
        let mut subjects = Vec::new();
        for (issuer, patterns) in spec.subjects.0 {
            for pattern in &patterns {
                if pattern.value().is_empty() {
                    self.error(pattern, "a subject pattern cannot be empty");
                }
            }
            if let Some(issuer) = self.issuer(&issuer) {
                subjects.push((issuer, patterns.into_iter().map(|p| p.value().clone()).collect()));
            }
        }
        OidcTrustRule {
            subjects,
            require_audience: spec.require_audience,
            action: spec.action,
        }
    }

    fn cloudtrail(&mut self, spec: CloudTrailSpec) -> CloudTrailRule {
        for name in &spec.trails {
            if name.value().trim().is_empty() {
                self.error(name, "a trail name cannot be empty");
            }
        }
        CloudTrailRule {
            require_logging: spec.require_logging,
            trails: spec.trails.iter().map(|t| t.value().clone()).collect(),
            action: spec.action,
        }
    }

    fn selector(&mut self, located: &Located<SelectorSpec>) -> AccountSelector {
        let spec = located.value();
        if spec.accounts.is_empty() && spec.organizational_units.is_empty() {
            self.error(
                located,
                "a selector names `accounts` or `organizationalUnits`; to govern the rest, leave it out",
            );
        }
        for bad in spec
            .accounts
            .iter()
            .filter(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            self.error(located, format_args!("`{bad}` is not a 12-digit account id"));
        }
        for bad in spec.organizational_units.iter().filter(|ou| !ou.starts_with("ou-")) {
            self.error(located, format_args!("`{bad}` is not an OU id, like ou-ab12-34cd56ef"));
        }
        AccountSelector {
            accounts: spec.accounts.iter().cloned().collect(),
            organizational_units: spec.organizational_units.iter().cloned().collect(),
        }
    }

    fn exemption(&mut self, located: &Located<ExemptionSpec>) -> Option<Exemption> {
        let spec = located.value();
        let names = |names: &[String]| names.iter().map(|n| Name::from(n.as_str())).collect();
        let selector = match (&spec.users, &spec.roles, &spec.groups, &spec.tag) {
            (Some(users), None, None, None) if !users.is_empty() => Some(Selector::Users(names(users))),
            (None, Some(roles), None, None) if !roles.is_empty() => Some(Selector::Roles(names(roles))),
            (None, None, Some(groups), None) if !groups.is_empty() => Some(Selector::Groups(names(groups))),
            (None, None, None, Some(tag)) if !tag.is_empty() => Some(Selector::Tag(tag.clone())),
            _ => {
                self.error(
                    located,
                    "an exemption names exactly one of `users`, `roles` or `groups` (a non-empty list) or a `tag`",
                );
                None
            }
        };
        let reason = match &spec.reason {
            Some(reason) if !reason.value().trim().is_empty() => reason.value().clone(),
            Some(reason) => {
                self.error(reason, "an exemption's reason cannot be empty");
                String::new()
            }
            None => {
                self.error(
                    located,
                    "an exemption needs a `reason`, so the next reader knows why it exists",
                );
                String::new()
            }
        };
        let rules = spec
            .rules
            .as_ref()
            .map(|rules| rules.iter().filter_map(|r| self.rule(r)).collect());
        let expires = spec.expires.as_ref().and_then(|date| self.expiry(date));
        Some(Exemption {
            selector: selector?,
            rules,
            reason,
            expires,
        })
    }

    fn rule(&mut self, name: &Located<String>) -> Option<Rule> {
        let found = Rule::iter().find(|rule| rule.id() == name.value());
        if found.is_none() {
            let known: Vec<_> = Rule::iter().map(Rule::id).collect();
            self.error(
                name,
                format_args!("unknown rule `{}`, expected one of {}", name.value(), known.join(", ")),
            );
        }
        found
    }

    /// An exemption holds through its expiry day, so it ends at the next midnight UTC.
    fn expiry(&mut self, date: &Located<String>) -> Option<chrono::DateTime<chrono::Utc>> {
        self.date(date)?
            .succ_opt()
            .and_then(|next| next.and_hms_opt(0, 0, 0))
            .map(|midnight| midnight.and_utc())
    }

    fn date(&mut self, date: &Located<String>) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(date.value(), "%Y-%m-%d")
            .map_err(|_| {
                self.error(
                    date,
                    format_args!("invalid date `{}`: write it as YYYY-MM-DD", date.value()),
                )
            })
            .ok()
    }
}

/// A region's name as AWS spells them in every partition: eu-west-1,
/// us-gov-west-1, cn-north-1. Anything else would be an endpoint's host.
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let letters = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    match parts.split_last() {
        Some((number, words)) => {
            words.len() >= 2
                && words.iter().all(letters)
                && !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}
