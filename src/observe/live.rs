//! What a reconcile read live, just now, and the plans made from it: the
//! only plans the executor takes; and for `undo`, the reversals judged on
//! one. All are made here and nowhere else, so "only live reads may act" is
//! a fact of the types, not a convention.

use std::ops::Deref;

use chrono::{DateTime, Utc};

use crate::plan::{self, Change, Finding, Plan, Resource, Severity};
use crate::policy::{Policy, Rule};
use crate::state::Observed;
use crate::work::Trigger;

/// State read live from AWS, of the keys a reconcile is about.
#[derive(Debug)]
pub struct Live(Observed);

/// A plan made from a [`Live`] observation.
#[derive(Debug)]
pub struct LivePlan {
    plan: Plan,
    /// An event behind the reconcile may have written after the read.
    behind_events: bool,
}

impl Live {
    pub(super) fn new(observed: Observed) -> Live {
        Live(observed)
    }

    /// For what a reconcile reads on top of a first read, such as tags.
    pub(super) fn observed_mut(&mut self) -> &mut Observed {
        &mut self.0
    }

    /// The plan, and whether each event in `triggers` (rechecks aside) is
    /// proven older than the read: the read shows what it wrote.
    pub fn plan(&self, policy: &Policy, now: DateTime<Utc>, triggers: &[Trigger]) -> LivePlan {
        let shown = |t: &Trigger| t.written.as_ref().is_some_and(|w| w.shown_by(&self.0));
        LivePlan {
            plan: plan::plan(policy, &self.0, now),
            behind_events: triggers.iter().any(|t| !t.recheck && !shown(t)),
        }
    }
}

/// The change that reverses one iam-warden made, on a resource a live read
/// found still as that change left it.
#[derive(Debug)]
pub struct LiveReversal(Finding);

/// Why a change is not reversed.
#[derive(Debug)]
pub enum Refusal {
    /// Nothing can, or iam-warden never will, put it back.
    Never(&'static str),
    /// The resource is no longer as the change left it: someone changed it since.
    ChangedSince(String),
}

/// A change from the journal: what it did, to what, and when.
pub struct Made<'a> {
    pub rule: Rule,
    pub resource: &'a Resource,
    pub change: &'a Change,
    pub time: DateTime<Utc>,
}

impl Live {
    /// The reversal of `made`, if the resource is still as it left it.
    pub fn reversal(&self, made: &Made<'_>) -> Result<LiveReversal, Refusal> {
        let inverse = made.change.inverse().map_err(Refusal::Never)?;
        plan::still_as_left(made.change, &self.0, made.time).map_err(Refusal::ChangedSince)?;
        Ok(LiveReversal(Finding {
            rule: made.rule,
            resource: made.resource.clone(),
            severity: Severity::Violation,
            reason: format!(
                "undo of {} made {}",
                made.change.action(),
                made.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            change: Some(inverse),
            exempt: None,
            before: plan::current(made.resource, &self.0),
            details: None,
        }))
    }
}

impl LiveReversal {
    pub fn into_finding(self) -> Finding {
        self.0
    }
}

impl LivePlan {
    pub fn into_plan(self) -> Plan {
        self.plan
    }

    /// Whether the read may have come before an event's write, so that
    /// finding nothing to change proves nothing yet.
    pub fn behind_events(&self) -> bool {
        self.behind_events
    }
}

impl Deref for LivePlan {
    type Target = Plan;

    fn deref(&self) -> &Plan {
        &self.plan
    }
}
