//! Rule `access-keys`: judged key by key, so an old key is acted on and its
//! fresh sibling is never touched.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Action, Draft, Resource};
use crate::observe::{AccessKey, User};
use crate::policy::{AccessKeysRule, KeyAction, Rule, display_duration};

pub(super) fn evaluate(rule: &AccessKeysRule, user: &User, draft: &mut Draft) {
    for key in &user.access_keys {
        let resource = Resource::AccessKey {
            user: user.name.clone(),
            id: key.id.clone(),
        };
        let mut limits = Limits {
            now: draft.now,
            ahead: Vec::new(),
        };
        let reason = if key.active {
            active_violation(rule, key, &mut limits)
        } else {
            inactive_violation(rule, key, &mut limits)
        };
        let Some((reason, fix)) = reason else {
            // Only a compliant key's limits are deadlines: a violating one is acted on now.
            limits.ahead.into_iter().for_each(|at| draft.deadline(&resource, at));
            if let Some(reason) = warning(rule, key, draft.now) {
                draft.warning(Rule::AccessKeys, resource, reason, key);
            }
            continue;
        };
        let action = if rule.action == KeyAction::Report {
            Action::Report
        } else {
            fix
        };
        draft.violation(Rule::AccessKeys, resource, action, reason, key);
    }
}

struct Limits {
    now: DateTime<Utc>,
    /// Moments at which a limit not yet reached will be.
    ahead: Vec<DateTime<Utc>>,
}

impl Limits {
    /// A limit is reached at `since + limit`; reaching it exactly is a violation.
    fn reached(&mut self, since: DateTime<Utc>, limit: Option<TimeDelta>) -> Option<TimeDelta> {
        let limit = limit?;
        if self.now - since >= limit {
            return Some(limit);
        }
        self.ahead.push(since + limit);
        None
    }
}

fn active_violation(rule: &AccessKeysRule, key: &AccessKey, limits: &mut Limits) -> Option<(String, Action)> {
    let age = limits.now - key.created;
    let last_use = key.last_used.unwrap_or(key.created);
    let too_old = limits.reached(key.created, rule.max_age).map(|limit| {
        format!(
            "active key is {} old, over maxAge {}",
            days(age),
            display_duration(limit)
        )
    });
    let unused = limits.reached(last_use, rule.max_unused).map(|limit| {
        let idle = days(limits.now - last_use);
        match key.last_used {
            Some(_) => format!(
                "active key unused for {idle}, over maxUnused {}",
                display_duration(limit)
            ),
            None => format!(
                "active key never used in the {idle} since creation, over maxUnused {}",
                display_duration(limit)
            ),
        }
    });
    let reasons: Vec<String> = too_old.into_iter().chain(unused).collect();
    (!reasons.is_empty()).then(|| (reasons.join("; "), Action::DeactivateAccessKey))
}

fn inactive_violation(rule: &AccessKeysRule, key: &AccessKey, limits: &mut Limits) -> Option<(String, Action)> {
    limits.reached(key.created, rule.delete_after).map(|limit| {
        let age = days(limits.now - key.created);
        let reason = format!(
            "inactive key is {age} old, over deleteAfter {}",
            display_duration(limit)
        );
        (reason, Action::DeleteAccessKey)
    })
}

fn warning(rule: &AccessKeysRule, key: &AccessKey, now: DateTime<Utc>) -> Option<String> {
    let (max_age, window) = (rule.max_age?, rule.warn_before?);
    let due = key.created + max_age;
    (key.active && now >= due - window).then(|| {
        format!(
            "active key reaches maxAge {} on {}",
            display_duration(max_age),
            due.format("%Y-%m-%d %H:%M UTC")
        )
    })
}

fn days(span: TimeDelta) -> String {
    format!("{}d", span.num_days())
}
