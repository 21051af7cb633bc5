//! Rule `cloudtrail`: named trails exist and log, and at least one
//! multi-region trail logs management events, where IAM changes are recorded.

use std::collections::BTreeSet;

use super::{Change, Draft, Resource};
use crate::policy::{CloudTrailRule, Rule, TrailAction};
use crate::state::Trail;

pub(super) fn evaluate(rule: &CloudTrailRule, trails: &[Trail], draft: &mut Draft) {
    let fix = |t: &Trail| {
        (rule.action == TrailAction::StartLogging).then(|| Change::StartLogging {
            trail: t.arn.clone(),
            region: t.home_region.clone(),
        })
    };
    let resource = |t: &Trail| Resource::Trail {
        name: t.name.clone(),
        arn: Some(t.arn.clone()),
        region: Some(t.home_region.clone()),
    };
    let mut named_stopped = BTreeSet::new();
    for name in &rule.trails {
        match trails.iter().find(|t| &t.name == name || &t.arn == name) {
            None => {
                let missing = Resource::Trail {
                    name: name.clone(),
                    arn: None,
                    region: None,
                };
                let reason = "trail does not exist; iam-warden does not create trails".to_owned();
                draft.violation(Rule::Cloudtrail, missing, None, reason, &serde_json::Value::Null);
            }
            Some(trail) if !trail.logging => {
                named_stopped.insert(trail.arn.as_str());
                let reason = "trail is not logging".to_owned();
                draft.violation(Rule::Cloudtrail, resource(trail), fix(trail), reason, trail);
            }
            Some(_) => {}
        }
    }
    if !rule.require_logging {
        return;
    }
    let qualifies = |t: &&Trail| t.multi_region && t.management_events;
    // A named trail found stopped above already carries the fix for this requirement.
    if trails
        .iter()
        .filter(qualifies)
        .any(|t| t.logging || named_stopped.contains(t.arn.as_str()))
    {
        return;
    }
    match trails.iter().find(qualifies) {
        Some(stopped) => {
            let reason = "no multi-region trail is logging management events; this one is stopped".to_owned();
            draft.violation(Rule::Cloudtrail, resource(stopped), fix(stopped), reason, stopped);
        }
        None => {
            let reason = "no multi-region trail logs management events; create one".to_owned();
            draft.violation(Rule::Cloudtrail, Resource::Account, None, reason, trails);
        }
    }
}
