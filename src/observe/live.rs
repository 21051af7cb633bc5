//! What a reconcile read live, just now, and the plans made from it: the
//! only plans the executor takes. Both are made here and nowhere else, so
//! "only live reads may act" is a fact of the types, not a convention.

use std::ops::Deref;

use chrono::{DateTime, Utc};

use crate::plan::{self, Plan};
use crate::policy::Policy;
use crate::state::Observed;

/// State read live from AWS, of the keys a reconcile is about.
#[derive(Debug)]
pub struct Live(Observed);

/// A plan made from a [`Live`] observation.
#[derive(Debug)]
pub struct LivePlan(Plan);

impl Live {
    pub(super) fn new(observed: Observed) -> Live {
        Live(observed)
    }

    /// For what a reconcile reads on top of a first read, such as tags.
    pub(super) fn observed_mut(&mut self) -> &mut Observed {
        &mut self.0
    }

    pub fn plan(&self, policy: &Policy, now: DateTime<Utc>) -> LivePlan {
        LivePlan(plan::plan(policy, &self.0, now))
    }
}

impl LivePlan {
    pub fn into_plan(self) -> Plan {
        self.0
    }
}

impl Deref for LivePlan {
    type Target = Plan;

    fn deref(&self) -> &Plan {
        &self.0
    }
}
