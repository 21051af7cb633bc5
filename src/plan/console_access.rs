//! Rule `console-access` (CIS 2.11): a console password not used for
//! `maxUnused` goes. Only GetUser says when a password was last used (the
//! credential report says it too, hours late): the report makes a user a
//! suspect, and the live read decides. A password never used, or last used
//! before its login profile was created again, counts from the profile.

use super::{Change, Draft, Resource};
use crate::policy::{ConsoleAccessRule, ConsoleAction, Rule, display_duration};
use crate::state::{LastUse, User};

pub(super) fn evaluate(rule: &ConsoleAccessRule, user: &User, draft: &mut Draft) {
    let Some(profile) = user.console.as_ref().and_then(|c| c.login_profile.as_ref()) else {
        return;
    };
    let since = match profile.password_last_used {
        LastUse::At(at) => at.max(profile.created),
        LastUse::Never => profile.created,
        LastUse::NotRead => return,
    };
    let resource = Resource::User {
        name: user.name.clone(),
    };
    let due = since + rule.max_unused;
    if draft.now < due {
        draft.deadline(Rule::ConsoleAccess, &resource, due);
        return;
    }
    let used = match profile.password_last_used.time() {
        Some(at) if at >= profile.created => format!("last used {}", at.format("%Y-%m-%d")),
        _ => format!(
            "never used since the login profile was created {}",
            profile.created.format("%Y-%m-%d")
        ),
    };
    let reason = format!(
        "console password {used}: {}d unused, over maxUnused {}",
        (draft.now - since).num_days(),
        display_duration(rule.max_unused)
    );
    let change = (rule.action == ConsoleAction::DisableConsole).then(|| Change::DeleteLoginProfile {
        user: user.name.clone(),
    });
    draft.violation(Rule::ConsoleAccess, resource, change, reason, profile);
}
