//! What iam-warden holds, it releases. A quarantine is iam-warden's own
//! doing, not the account owner's: once the policy no longer asks for it
//! (the rule is fixed, relaxed to `report` or removed, or an exemption now
//! covers the principal), it is lifted. Lifting restores access iam-warden
//! took away, so no exemption ever blocks it; in audit mode it is reported.

use std::collections::BTreeSet;

use super::exempt::covering;
use super::{Change, Draft, Resource};
use crate::name::Name;
use crate::policy::{MfaAction, Policy, Rule, TrustAction};
use crate::state::{Console, Observed};

/// Lifts every quarantine observed that the rules did not hold, or that an
/// exemption covers. `held_users` and `held_roles` are the principals the
/// rules hold in quarantine.
pub(super) fn evaluate(
    policy: &Policy,
    observed: &Observed,
    held_users: &BTreeSet<Name>,
    held_roles: &BTreeSet<Name>,
    draft: &mut Draft,
) {
    for user in &observed.users {
        let Some(console) = user.console.as_ref().filter(|c| c.quarantined) else {
            continue;
        };
        let resource = Resource::User {
            name: user.name.clone(),
        };
        let why = match held_users.contains(&user.name) {
            false => user_reason(policy, console),
            true => match covering(&policy.exemptions, Rule::Mfa, &resource, user.tags.as_ref(), draft.now) {
                Some(exemption) => {
                    // When it lapses, the rule quarantines again.
                    if let Some(at) = exemption.expires {
                        draft.deadline(Rule::Mfa, &resource, at);
                    }
                    format!("an exemption covers the user ({})", exemption.reason)
                }
                None => continue,
            },
        };
        let lift = Change::DetachDenyPolicy {
            user: user.name.clone(),
        };
        draft.violation(
            Rule::Mfa,
            resource,
            Some(lift),
            format!("{why}: lift the quarantine"),
            user,
        );
    }
    for role in observed.roles.iter().flatten().filter(|r| r.quarantined) {
        let resource = Resource::Role {
            name: role.name.clone(),
        };
        let why = match held_roles.contains(&role.name) {
            false => role_reason(policy),
            true => match covering(
                &policy.exemptions,
                Rule::OidcTrust,
                &resource,
                Some(&role.tags),
                draft.now,
            ) {
                Some(exemption) => {
                    if let Some(at) = exemption.expires {
                        draft.deadline(Rule::OidcTrust, &resource, at);
                    }
                    format!("an exemption covers the role ({})", exemption.reason)
                }
                None => continue,
            },
        };
        let lift = Change::LiftQuarantine {
            role: role.name.clone(),
        };
        draft.violation(
            Rule::OidcTrust,
            resource,
            Some(lift),
            format!("{why}: lift the quarantine"),
            role,
        );
    }
}

fn user_reason(policy: &Policy, console: &Console) -> String {
    match &policy.mfa {
        None => "the policy no longer has an mfa section".to_owned(),
        Some(rule) if rule.action != MfaAction::DenyUntilMfa || !rule.require_for_console_users => {
            "rule mfa no longer quarantines users".to_owned()
        }
        Some(_) if console.login_profile.is_none() => "has no console password".to_owned(),
        Some(_) if console.mfa_devices > 0 => "now has MFA".to_owned(),
        Some(_) => "is within its grace period".to_owned(),
    }
}

fn role_reason(policy: &Policy) -> String {
    match &policy.oidc_trust {
        None => "the policy no longer has an oidcTrust section".to_owned(),
        Some(rule) if rule.action != TrustAction::Quarantine => {
            "rule oidc-trust no longer quarantines roles".to_owned()
        }
        Some(_) => "the trust policy admits only allowed subjects again".to_owned(),
    }
}
