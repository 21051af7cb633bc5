//! Exemptions: a finding on an exempt user or role, or a tagged resource, is
//! kept in the plan, marked with the exemption's reason, and never acted on.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::{Action, Draft, Finding, Resource};
use crate::name::Name;
use crate::policy::{Exemption, Rule, Selector};
use crate::state::Observed;

/// Whether reading the user's tags could change `finding`, planned without
/// them: an exemption by tag could cover it, or it hangs on a record
/// iam-warden keeps (of a deactivation, or of a password reset required).
/// Deactivating a key writes its record whatever was there, so with no tag
/// exemption in the policy a key event needs no tag read.
pub fn tags_could_change(exemptions: &[Exemption], finding: &Finding, now: DateTime<Utc>) -> bool {
    let on_records = matches!(
        finding.action(),
        Action::DeleteAccessKey
            | Action::RecordDeactivation
            | Action::ClearDeactivationRecord
            | Action::RequirePasswordReset
    );
    let by_tag = !finding.change.as_ref().is_some_and(|c| c.restores())
        && exemptions.iter().any(|e| {
            matches!(e.selector, Selector::Tag(_))
                && e.expires.is_none_or(|expires| now < expires)
                && e.rules.as_ref().is_none_or(|rules| rules.contains(&finding.rule))
        });
    on_records || by_tag
}

pub(super) fn apply(exemptions: &[Exemption], observed: &Observed, draft: &mut Draft) {
    if exemptions.is_empty() {
        return;
    }
    // A user whose tags were not read is exempt by no tag; a reconcile reads
    // them before it acts on any of its findings.
    let user_tags: HashMap<&Name, &BTreeMap<String, String>> = observed
        .users
        .iter()
        .filter_map(|u| Some((&u.name, u.tags.as_ref()?)))
        .collect();
    let role_tags: HashMap<&Name, &BTreeMap<String, String>> =
        observed.roles.iter().flatten().map(|r| (&r.name, &r.tags)).collect();
    let provider_tags: HashMap<&str, &BTreeMap<String, String>> = observed
        .oidc_providers
        .iter()
        .flatten()
        .map(|p| (p.arn.as_str(), &p.tags))
        .collect();
    let now = draft.now;
    let mut lapses = Vec::new();
    for finding in draft
        .findings
        .iter_mut()
        .filter(|f| !f.change.as_ref().is_some_and(|c| c.restores()))
    {
        let tags = match &finding.resource {
            Resource::OidcProvider { arn, .. } => provider_tags.get(arn.as_str()).copied(),
            Resource::Role { name } => role_tags.get(name).copied(),
            resource => resource.user().and_then(|name| user_tags.get(name).copied()),
        };
        if let Some(exemption) = covering(exemptions, finding.rule, &finding.resource, tags, now) {
            finding.exempt = Some(exemption.reason.clone());
            lapses.extend(exemption.expires.map(|at| (finding.rule, finding.resource.clone(), at)));
        }
    }
    for (rule, resource, at) in lapses {
        draft.deadline(rule, &resource, at);
    }
}

/// The exemption in force at `now` that covers `rule` on `resource`, whose
/// tags are `tags` (`None`: not read, so no tag exemption is known to apply).
/// Names compare without case, as IAM's do.
pub(super) fn covering<'a>(
    exemptions: &'a [Exemption],
    rule: Rule,
    resource: &Resource,
    tags: Option<&BTreeMap<String, String>>,
    now: DateTime<Utc>,
) -> Option<&'a Exemption> {
    exemptions.iter().find(|e| {
        e.expires.is_none_or(|expires| now < expires)
            && e.rules.as_ref().is_none_or(|rules| rules.contains(&rule))
            && match &e.selector {
                Selector::Users(users) => resource.user().is_some_and(|u| users.contains(u)),
                Selector::Roles(roles) => resource.role().is_some_and(|r| roles.contains(r)),
                Selector::Groups(groups) => resource.group().is_some_and(|g| groups.contains(g)),
                Selector::Tag(key) => tags.and_then(|t| t.get(key)).is_some_and(|v| v == "true"),
            }
    })
}
