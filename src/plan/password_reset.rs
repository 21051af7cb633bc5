//! Rule `password-reset`: IAM never re-checks existing passwords against a
//! new password policy. Console users whose password was last set before
//! `resetPasswordsSetBefore` must choose a new one at their next sign-in.
//!
//! When a password was last set, IAM says only in the credential report. A
//! user is judged only where that is known: from the report, from a password
//! change seen in an event since, or from a login profile created after the
//! date (which set a password then). A reset iam-warden required is recorded
//! on the user: a password has been chosen since then (or must be), so a
//! report still showing the old one, or a replica that did not see the
//! `ChangePassword`, never requires it twice.

use super::{Change, Draft, Resource, records};
use crate::policy::{PasswordResetRule, Rule};
use crate::state::User;

pub(super) fn evaluate(rule: &PasswordResetRule, user: &User, draft: &mut Draft) {
    let Some(profile) = user.console.as_ref().and_then(|c| c.login_profile.as_ref()) else {
        return;
    };
    if profile.reset_required {
        // Already bound to choose a new password: exactly what the rule asks.
        return;
    }
    let known = profile.password_last_changed.max(records::password_reset(user));
    let last_set = match known {
        Some(changed) => changed.max(profile.created),
        None if profile.created >= rule.set_before => profile.created,
        None => return,
    };
    if last_set >= rule.set_before {
        return;
    }
    let reason = format!(
        "console password last set {}, before resetPasswordsSetBefore {}: the user must choose a new one at the next sign-in",
        last_set.format("%Y-%m-%d"),
        rule.set_before.format("%Y-%m-%d")
    );
    let resource = Resource::User {
        name: user.name.clone(),
    };
    let change = Change::RequirePasswordReset {
        user: user.name.clone(),
    };
    draft.violation(Rule::PasswordReset, resource, Some(change), reason, profile);
}
