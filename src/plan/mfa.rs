//! Rule `mfa`: console users have an MFA device once their grace period ends,
//! and the root user has one (reported only: no API can add it).

use std::collections::BTreeSet;

use super::{Change, Draft, Resource};
use crate::name::Name;
use crate::policy::{MfaAction, MfaRule, Rule};
use crate::state::Observed;

/// Judges every user, and returns those the rule holds in quarantine:
/// console users without MFA past their grace, under `deny-until-mfa`.
pub(super) fn evaluate(rule: &MfaRule, observed: &Observed, draft: &mut Draft) -> BTreeSet<Name> {
    if rule.require_for_root && observed.root.is_some_and(|root| !root.mfa) {
        let reason = "the root user has no MFA device; add one in the console".to_owned();
        draft.violation(Rule::Mfa, Resource::Root, None, reason, &observed.caller.account_id);
    }
    let mut held = BTreeSet::new();
    for user in &observed.users {
        let Some(console) = &user.console else { continue };
        let profile = console
            .login_profile
            .as_ref()
            .filter(|_| rule.require_for_console_users && console.mfa_devices == 0);
        let Some(profile) = profile else { continue };
        let resource = Resource::User {
            name: user.name.clone(),
        };
        let grace_ends = profile.created + rule.grace_period;
        if draft.now < grace_ends {
            draft.deadline(Rule::Mfa, &resource, grace_ends);
            continue;
        }
        let change = match rule.action {
            MfaAction::Report => None,
            MfaAction::DenyUntilMfa => {
                held.insert(user.name.clone());
                // Quarantined already: exactly the state the policy asks for.
                if console.quarantined {
                    continue;
                }
                Some(Change::AttachDenyPolicy {
                    user: user.name.clone(),
                })
            }
            MfaAction::DisableConsole => Some(Change::DeleteLoginProfile {
                user: user.name.clone(),
            }),
        };
        let reason = format!(
            "console user without MFA since {}",
            grace_ends.format("%Y-%m-%d %H:%M UTC")
        );
        draft.violation(Rule::Mfa, resource, change, reason, user);
    }
    held
}
