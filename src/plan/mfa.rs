//! Rule `mfa`: console users have an MFA device once their grace period ends,
//! and the root user has one (reported only: no API can add it).

use super::{Change, Draft, Resource};
use crate::policy::{MfaAction, MfaRule, Rule};
use crate::state::Observed;

pub(super) fn evaluate(rule: &MfaRule, observed: &Observed, draft: &mut Draft) {
    if rule.require_for_root && observed.root_mfa_enabled == Some(false) {
        let reason = "the root user has no MFA device; add one in the console".to_owned();
        draft.violation(Rule::Mfa, Resource::Root, None, reason, &observed.caller.account_id);
    }
    for user in &observed.users {
        let Some(console) = &user.console else { continue };
        let resource = || Resource::User {
            name: user.name.clone(),
        };
        let user_name = || user.name.clone();
        let profile = console
            .login_profile
            .as_ref()
            .filter(|_| rule.require_for_console_users && console.mfa_devices == 0);
        let Some(profile) = profile else {
            if console.deny_policy_attached {
                let reason = if console.login_profile.is_none() {
                    "has no console password"
                } else {
                    "now has MFA"
                };
                let reason = format!("{reason}: lift the quarantine");
                let lift = Change::DetachDenyPolicy { user: user_name() };
                draft.violation(Rule::Mfa, resource(), Some(lift), reason, user);
            }
            continue;
        };
        let grace_ends = profile.created + rule.grace_period;
        if draft.now < grace_ends {
            draft.deadline(Rule::Mfa, &resource(), grace_ends);
            continue;
        }
        let change = match rule.action {
            MfaAction::Report => None,
            // Quarantined already: exactly the state the policy asks for.
            MfaAction::DenyUntilMfa if console.deny_policy_attached => continue,
            MfaAction::DenyUntilMfa => Some(Change::AttachDenyPolicy { user: user_name() }),
            MfaAction::DisableConsole => Some(Change::DeleteLoginProfile { user: user_name() }),
        };
        let reason = format!(
            "console user without MFA since {}",
            grace_ends.format("%Y-%m-%d %H:%M UTC")
        );
        draft.violation(Rule::Mfa, resource(), change, reason, user);
    }
}
