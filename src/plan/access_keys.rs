//! Rule `access-keys`: judged key by key, so an old key is acted on and its
//! fresh sibling is never touched.
//!
//! IAM does not record when a key was deactivated, so iam-warden records it
//! on the user as the tag `iam-warden/deactivated/<AccessKeyId>`: when it
//! deactivates a key, and when it first sees an inactive key without one.
//! `deleteAfter` counts from the later of that time and the key's last use,
//! so a key is never deleted in the pass that deactivated it, nor the next.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Change, Draft, Resource, records};
use crate::name::Name;
use crate::policy::{AccessKeysRule, KeyAction, Rule, display_duration};
use crate::state::{AccessKey, LastUse, User};

/// IAM's quota of tags on a user.
const TAGS_PER_USER: usize = 50;

pub(super) fn evaluate(rule: &AccessKeysRule, user: &User, draft: &mut Draft) {
    let Some(keys) = &user.access_keys else { return };
    let records = Records::of(user);
    // Records matter only where keys are deleted, and are kept only where iam-warden may change things.
    let keeps_records = rule.action == KeyAction::Deactivate && rule.delete_after.is_some();
    let mut surplus = surplus(rule, keys, draft.now);
    for (at, key) in keys.iter().enumerate() {
        let resource = Resource::AccessKey {
            user: user.name.clone(),
            id: key.id.clone().unwrap_or_default(),
        };
        // A key the credential report describes has no id: it can be a
        // finding, which makes its user a suspect, but never a change.
        let change = |fix: Fix| Some(fix.change(user.name.clone(), key.id.clone()?));
        let mut limits = Limits {
            now: draft.now,
            ahead: Vec::new(),
        };
        let recorded = records.deactivated(user, key);
        let reason = if key.active {
            active_violation(rule, key, &mut limits).or_else(|| Some((surplus.remove(&at)?, Fix::Deactivate)))
        } else {
            // Where no record is kept, creation is the earliest the key can have been deactivated.
            let since = if keeps_records { recorded } else { Some(key.created) };
            inactive_violation(rule, key, since.unwrap_or(draft.now), &mut limits)
        };
        if let Some((reason, fix)) = reason {
            let change = if rule.action == KeyAction::Report {
                None
            } else {
                change(fix)
            };
            draft.violation(Rule::AccessKeys, resource, change, reason, key);
            continue;
        }
        // Only a compliant key's limits are deadlines: a violating one is acted on now.
        limits
            .ahead
            .into_iter()
            .for_each(|at| draft.deadline(Rule::AccessKeys, &resource, at));
        if let Some(reason) = warning(rule, key, draft.now) {
            draft.warning(Rule::AccessKeys, resource.clone(), reason, key);
        }
        if !keeps_records {
            continue;
        }
        let housekeeping = if key.active && records.names(user, key) {
            let reason = "the key is active again: its deactivation record goes";
            Some((Fix::ClearRecord, reason))
        } else if !key.active && recorded.is_none() && full_of_tags(user) {
            let reason = format!(
                "inactive key with no deactivation record, and no room for one: the user holds {TAGS_PER_USER} tags, the most IAM allows; the key is never deleted until one can be written"
            );
            draft.warning(Rule::AccessKeys, resource.clone(), reason, key);
            None
        } else if !key.active && recorded.is_none() {
            let reason = "inactive key with no deactivation record: deleteAfter counts from now";
            Some((Fix::Record, reason))
        } else {
            None
        };
        if let Some((fix, reason)) = housekeeping {
            draft.housekeeping(Rule::AccessKeys, resource, change(fix), reason.to_owned(), key);
        }
    }
    if keeps_records {
        for id in records.orphans(user) {
            let resource = Resource::AccessKey {
                user: user.name.clone(),
                id: id.to_owned(),
            };
            let reason = "records a key the user no longer has".to_owned();
            let clear = Fix::ClearRecord.change(user.name.clone(), id.to_owned());
            draft.housekeeping(Rule::AccessKeys, resource, Some(clear), reason, &id);
        }
    }
}

/// The user's deactivation records: key id to its time, `None` when the tag's
/// value is not a time (it is then written again). With the tags not read,
/// there are none known: the key looks unrecorded, which calls for a record,
/// and a reconcile reads the tags before it acts on that.
struct Records(BTreeMap<String, Option<DateTime<Utc>>>);

impl Records {
    fn of(user: &User) -> Records {
        Records(
            user.tags
                .iter()
                .flatten()
                .filter_map(|(key, value)| {
                    let id = key.strip_prefix(records::DEACTIVATION_PREFIX)?;
                    let at = records::parse(value);
                    Some((id.to_owned(), at))
                })
                .collect(),
        )
    }

    /// When `key` was recorded as deactivated. The credential report names no
    /// key ids, so a key from it gets the earliest record, and none if the user
    /// has fewer records than inactive keys: either can only make it a suspect
    /// sooner, and suspects are read live.
    fn deactivated(&self, user: &User, key: &AccessKey) -> Option<DateTime<Utc>> {
        if let Some(id) = &key.id {
            return self.0.get(id).copied().flatten();
        }
        let valid: Vec<DateTime<Utc>> = self.0.values().filter_map(|at| *at).collect();
        (valid.len() >= inactive_keys(user))
            .then(|| valid.into_iter().min())
            .flatten()
    }

    /// Whether a record may name `key`; for a report user, whether any record is left over.
    fn names(&self, user: &User, key: &AccessKey) -> bool {
        match &key.id {
            Some(id) => self.0.contains_key(id),
            None => self.0.len() > inactive_keys(user),
        }
    }

    /// Records of keys the user does not have (only a live read knows the ids).
    fn orphans<'a>(&'a self, user: &'a User) -> impl Iterator<Item = &'a str> {
        self.0
            .keys()
            .filter(move |id| {
                let keys = user.access_keys.iter().flatten();
                keys.clone().all(|k| k.id.is_some()) && !keys.clone().any(|k| k.id.as_ref() == Some(*id))
            })
            .map(String::as_str)
    }
}

/// The user's tags are read, and full.
fn full_of_tags(user: &User) -> bool {
    user.tags.as_ref().is_some_and(|tags| tags.len() >= TAGS_PER_USER)
}

/// What a finding about a key asks for.
#[derive(Clone, Copy)]
enum Fix {
    Deactivate,
    Delete,
    Record,
    ClearRecord,
}

impl Fix {
    fn change(self, user: Name, id: String) -> Change {
        match self {
            Fix::Deactivate => Change::DeactivateAccessKey { user, id },
            Fix::Delete => Change::DeleteAccessKey { user, id },
            Fix::Record => Change::RecordDeactivation { user, id },
            Fix::ClearRecord => Change::ClearDeactivationRecord { user, id },
        }
    }
}

fn inactive_keys(user: &User) -> usize {
    user.access_keys.iter().flatten().filter(|k| !k.active).count()
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

fn active_violation(rule: &AccessKeysRule, key: &AccessKey, limits: &mut Limits) -> Option<(String, Fix)> {
    let age = limits.now - key.created;
    let too_old = limits.reached(key.created, rule.max_age).map(|limit| {
        format!(
            "active key is {} old, over maxAge {}",
            days(age),
            display_duration(limit)
        )
    });
    // A last use not read is one no decision needs: the key is past maxAge.
    let last_use = match key.last_used {
        LastUse::At(at) => Some((at, "unused for")),
        LastUse::Never => Some((key.created, "never used in the")),
        LastUse::NotRead => None,
    };
    let unused = last_use.and_then(|(since, how)| {
        limits.reached(since, rule.max_unused).map(|limit| {
            let idle = days(limits.now - since);
            let since_creation = if key.last_used == LastUse::Never {
                " since creation"
            } else {
                ""
            };
            format!(
                "active key {how} {idle}{since_creation}, over maxUnused {}",
                display_duration(limit)
            )
        })
    });
    let reasons: Vec<String> = too_old.into_iter().chain(unused).collect();
    (!reasons.is_empty()).then(|| (reasons.join("; "), Fix::Deactivate))
}

/// CIS 2.12: past `maxActive`, the active keys that no other limit
/// deactivates, used least recently first, each with its reason. Never used
/// counts as the oldest use; a last use not read counts as the newest, so a
/// key is never deactivated on a guess.
fn surplus(rule: &AccessKeysRule, keys: &[AccessKey], now: DateTime<Utc>) -> BTreeMap<usize, String> {
    let Some(max) = rule.max_active else {
        return BTreeMap::new();
    };
    let mut scratch = Limits { now, ahead: Vec::new() };
    let mut staying: Vec<(usize, &AccessKey)> = keys
        .iter()
        .enumerate()
        .filter(|(_, key)| key.active && active_violation(rule, key, &mut scratch).is_none())
        .collect();
    let count = staying.len();
    staying.sort_by_key(|(_, key)| {
        let used = match key.last_used {
            LastUse::Never => (0, None),
            LastUse::At(at) => (1, Some(at)),
            LastUse::NotRead => (2, None),
        };
        (used, key.created, key.id.clone())
    });
    staying
        .into_iter()
        .take(count.saturating_sub(max))
        .map(|(at, key)| {
            let used = match key.last_used.time() {
                Some(used) => format!("last used {}", used.format("%Y-%m-%d")),
                None => "never used".to_owned(),
            };
            let reason = format!("{count} active keys, over maxActive {max}: this one is used least recently ({used})");
            (at, reason)
        })
        .collect()
}

/// Due once it has been both inactive and unused for `deleteAfter`.
fn inactive_violation(
    rule: &AccessKeysRule,
    key: &AccessKey,
    deactivated: DateTime<Utc>,
    limits: &mut Limits,
) -> Option<(String, Fix)> {
    let since = key.last_used.time().map_or(deactivated, |used| used.max(deactivated));
    limits.reached(since, rule.delete_after).map(|limit| {
        let used = match key.last_used.time() {
            Some(at) => format!("last used {}", at.format("%Y-%m-%d")),
            None => "never used".to_owned(),
        };
        let reason = format!(
            "inactive since {} and {used}: {} over deleteAfter {}",
            deactivated.format("%Y-%m-%d"),
            days(limits.now - since),
            display_duration(limit)
        );
        (reason, Fix::Delete)
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
