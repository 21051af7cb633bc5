//! One reconcile of one key: read it live and judge it, then execute what the
//! judgement asks. A resync is the full scan, which names the keys to
//! reconcile; the CLI's `apply` is a resync followed by a reconcile of each
//! key it named, and `plan` the same without the changes.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::aws::Clients;
use crate::error::Error;
use crate::execute::undo::{self, Reversal};
use crate::execute::{ChangeBudget, Executor, Fresh, Rejudge, Writes};
use crate::journal::{History, Made};
use crate::name::Name;
use crate::observe::{Reader, Seen, Suspects};
use crate::outcome::{Decided, Outcome};
use crate::plan::{Finding, Plan, Resource};
use crate::policy::{Policy, Rule};
use crate::state::Caller;
use crate::work::{Facets, Key, Trigger, facets_of, key_for};

/// Keys the CLI's `apply` and `plan` judge at once: enough to hide latency,
/// few enough to stay far below IAM's request rate limits.
const KEYS_IN_FLIGHT: usize = 8;

/// What a reconcile decided, and what became of each finding.
#[derive(Debug)]
pub struct Pass {
    pub decided: Vec<Decided>,
    /// The moments something now compliant will violate, each with its key
    /// and the facets of it the rule judges.
    pub deadlines: Vec<(Key, Facets, DateTime<Utc>)>,
    /// Groups whose members are to be judged again for what the group grants.
    pub groups_judging_members: Vec<Name>,
    /// The read may have come before an event's write (see [`crate::written`]).
    pub behind_events: bool,
}

impl Pass {
    fn of(
        decided: Vec<Decided>,
        plan_deadlines: &[(Rule, Resource, DateTime<Utc>)],
        groups: Vec<Name>,
        behind_events: bool,
    ) -> Pass {
        let deadlines = plan_deadlines
            .iter()
            .map(|(rule, resource, at)| (key_for(resource), facets_of(*rule), *at))
            .collect();
        Pass {
            decided,
            deadlines,
            groups_judging_members: groups,
            behind_events,
        }
    }

    /// Drift findings not fixed by this pass.
    pub fn remaining(&self) -> usize {
        self.decided.iter().filter(|d| d.remains()).count()
    }

    pub fn failures(&self) -> usize {
        self.decided
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Failed(_)))
            .count()
    }

    /// When the change budget lets the changes it held back through.
    pub fn retry_at(&self) -> Option<Instant> {
        self.decided
            .iter()
            .filter_map(|d| match d.outcome {
                Outcome::RateLimited(at) => at,
                _ => None,
            })
            .min()
    }
}

pub struct Reconciler {
    reader: Reader,
    executor: Executor,
}

impl Reconciler {
    /// Asks AWS who iam-warden runs as: that identity is never changed, nor
    /// is `home`, the identity it started as before it assumed this account's
    /// role, in `home`'s own account.
    pub async fn new(
        clients: Clients,
        writes: Writes,
        budget: Arc<ChangeBudget>,
        home: Option<Arc<Caller>>,
    ) -> Result<Reconciler, Error> {
        let executor = Executor::new(clients.clone(), writes, budget, home);
        Ok(Reconciler {
            reader: Reader::new(clients).await?,
            executor,
        })
    }

    pub fn clients(&self) -> &Clients {
        self.reader.clients()
    }

    pub fn caller(&self) -> Arc<Caller> {
        self.reader.caller()
    }

    /// An event said the default version of the policy `arn` changed, or
    /// that the policy was deleted: its holders' reconciles read it live.
    pub fn policy_changed(&self, arn: &str) {
        self.reader.policy_changed(arn);
    }

    /// One key, read live in `facets` and judged whole, then executed.
    pub async fn reconcile(
        &self,
        policy: &Policy,
        key: &Key,
        facets: Facets,
        triggers: &[Trigger],
    ) -> Result<Pass, Error> {
        self.reconcile_seen(policy, key, facets, triggers, None).await
    }

    /// A reconcile that takes what the full scan, seconds ago, read live of
    /// the user as read: `apply` reconciles right after its scan.
    async fn reconcile_seen(
        &self,
        policy: &Policy,
        key: &Key,
        facets: Facets,
        triggers: &[Trigger],
        seen: Option<&Seen>,
    ) -> Result<Pass, Error> {
        match key {
            Key::QuarantinePolicies => self.executor.recheck_quarantine_policies(),
            Key::User(name) => {
                for trigger in triggers.iter().filter(|t| t.sets_password) {
                    let at = trigger.event_time.unwrap_or_else(Utc::now);
                    self.reader.note_password_set(name, at);
                }
            }
            _ => {}
        }
        let started = Utc::now();
        let plan = self.reader.judge(policy, key, facets, seen, triggers).await?;
        let behind_events = plan.behind_events();
        let deadlines = plan.deadlines.clone();
        let groups = plan.groups_judging_members.clone();
        let mut events: Vec<String> = triggers.iter().filter_map(|t| t.event_id.clone()).collect();
        events.sort();
        events.dedup();
        let judge = Judge {
            reader: &self.reader,
            executor: &self.executor,
            policy,
        };
        let decided = self.executor.execute(plan, &self.caller(), &events, &judge).await;
        for decision in &decided {
            // The user must choose a new password: once it no longer must, it has, after now.
            if let (Some(crate::plan::Change::RequirePasswordReset { user }), Outcome::Applied) =
                (&decision.finding.change, &decision.outcome)
            {
                self.reader.note_password_set(user, started);
            }
        }
        Ok(Pass::of(decided, &deadlines, groups, behind_events))
    }

    /// `iam-warden undo` in this account: `picked` reversed, newest first.
    pub async fn undo(&self, history: &History, picked: &[&Made]) -> Vec<Reversal> {
        undo::undo(&self.reader, &self.executor, history, picked).await
    }

    /// The full scan: the keys to reconcile, and the deadlines of the others.
    pub async fn resync(&self, policy: &Policy) -> Result<Suspects, Error> {
        self.reader.scan(policy).await
    }

    /// `iam-warden apply`: a resync, then every key it named, reconciled
    /// live, as one pass.
    pub async fn apply(&self, policy: &Policy) -> Result<Pass, Error> {
        let suspects = self.resync(policy).await?;
        // A tampered quarantine policy is restored before any user is
        // reconciled: else a quarantine's own check restores it first, and the
        // policy's reconcile, planned from the earlier read, finds nothing left.
        let (first, rest): (Vec<_>, Vec<_>) = suspects
            .keys
            .iter()
            .partition(|(key, _)| **key == Key::QuarantinePolicies);
        let mut passes = Vec::new();
        for (key, facets) in first {
            passes.push(self.reconcile(policy, key, *facets, &[]).await?);
        }
        let others: Vec<Result<Pass, Error>> = futures::stream::iter(rest)
            .map(|(key, facets)| self.reconcile_seen(policy, key, *facets, &[], seen(&suspects, key)))
            .buffer_unordered(KEYS_IN_FLIGHT)
            .collect()
            .await;
        for pass in others {
            passes.push(pass?);
        }
        let mut decided: Vec<Decided> = Vec::new();
        let mut deadlines = suspects.deadlines;
        for pass in passes {
            decided.extend(pass.decided);
            deadlines.extend(pass.deadlines);
        }
        decided.sort_by(|a, b| a.finding.order().cmp(&b.finding.order()));
        // The whole account was judged: every member with it.
        Ok(Pass {
            decided,
            deadlines,
            groups_judging_members: Vec::new(),
            behind_events: false,
        })
    }

    /// `iam-warden plan`: the scan, and each key it named judged live, as one plan.
    pub async fn plan(&self, policy: &Policy) -> Result<Plan, Error> {
        let suspects = self.resync(policy).await?;
        let plans: Vec<Result<_, Error>> = futures::stream::iter(&suspects.keys)
            .map(|(key, facets)| self.reader.judge(policy, key, *facets, seen(&suspects, key), &[]))
            .buffer_unordered(KEYS_IN_FLIGHT)
            .collect()
            .await;
        let mut findings: Vec<Finding> = Vec::new();
        let mut deadlines = Vec::new();
        for plan in plans {
            let plan = plan?.into_plan();
            findings.extend(plan.findings);
            deadlines.extend(plan.deadlines);
        }
        findings.sort_by(|a, b| a.order().cmp(&b.order()));
        let mut plan = Plan::new(policy.mode, findings, deadlines);
        let others = suspects.deadlines.iter().map(|(_, _, at)| *at);
        plan.next_deadline = plan.next_deadline.into_iter().chain(others).min();
        Ok(plan)
    }
}

/// What the scan showed of a user key, live.
fn seen<'a>(suspects: &'a Suspects, key: &Key) -> Option<&'a Seen> {
    match key {
        Key::User(name) => suspects.seen.get(name),
        _ => None,
    }
}

/// Reads the finding's resource again and judges it again, for the executor,
/// right before an irreversible change.
struct Judge<'a> {
    reader: &'a Reader,
    executor: &'a Executor,
    policy: &'a Policy,
}

impl Rejudge for Judge<'_> {
    async fn rejudge(&self, finding: &Finding) -> Result<Fresh, Error> {
        if let Resource::OidcProvider { .. } = finding.resource {
            let caller = self.reader.refresh_trust().await;
            if let Some(why) = self.executor.protection(&caller, &finding.resource) {
                return Ok(Fresh::Withdrawn(why));
            }
        }
        let key = key_for(&finding.resource);
        let plan = self
            .reader
            .judge(self.policy, &key, facets_of(finding.rule), None, &[])
            .await?;
        Ok(Fresh::Plan(plan))
    }
}
