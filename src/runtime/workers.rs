//! The workers: each takes a task from the queue and runs it to the end, in
//! its account, under the policy file that governs that account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant as StdInstant;

use chrono::Utc;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::ledger::Ledger;
use super::members::Members;
use super::queue::{Lease, WorkQueue};
use crate::account::AccountId;
use crate::error::Error;
use crate::http::{Health, Latch};
use crate::metrics::Metrics;
use crate::name::Name;
use crate::observe;
use crate::outcome::Outcome;
use crate::policy::{Policy, PolicySet};
use crate::reconcile::Reconciler;
use crate::work::{Expansion, Facets, Key, Kind, Task, Trigger, Work};

/// What every worker shares.
pub struct Shared {
    pub queue: Arc<WorkQueue>,
    pub members: Arc<Members>,
    pub policy: watch::Receiver<Arc<PolicySet>>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub ledger: Ledger,
    /// Owned accounts whose first resync has not been tried to the end;
    /// readiness waits for each latch to go.
    pub latches: Mutex<HashMap<AccountId, Latch>>,
    /// How long after an event that changed nothing its key is read again.
    pub recheck_after: std::time::Duration,
}

/// `count` workers, until the queue closes.
pub fn start(shared: Arc<Shared>, count: usize) -> TaskTracker {
    let workers = TaskTracker::new();
    for _ in 0..count {
        workers.spawn(worker(shared.clone()));
    }
    workers.close();
    workers
}

async fn worker(shared: Arc<Shared>) {
    while let Some(lease) = shared.queue.next().await {
        shared.health.progressed();
        let account = lease.task.account().clone();
        // Down: logged and counted where the role was refused; retried with backoff.
        let Ok(reconciler) = shared.members.reconciler(&account).await else {
            shared.first_sync_tried(&lease.task);
            shared.queue.done(lease, false);
            continue;
        };
        let policies = shared.policy.borrow().clone();
        let governing = shared
            .members
            .account(&account)
            .and_then(|a| policies.governing(&a).cloned());
        let Some((_, policy)) = governing else {
            tracing::info!(key = %lease.task, account = %account, "no policy file governs this account: nothing judged");
            shared.first_sync_tried(&lease.task);
            shared.queue.done(lease, true);
            continue;
        };
        match lease.task.clone() {
            Task::Resync(_) => {
                let succeeded = shared.resync(&reconciler, &policy, &account).await;
                shared.queue.done(lease, succeeded);
            }
            Task::Reconcile(work) => match shared.reconcile(&reconciler, &policy, &work, &lease).await {
                Some(groups) if !groups.is_empty() => {
                    let expansions = groups.into_iter().map(|g| Expansion::GroupMembers(g.to_string()));
                    shared.follow(&account, expansions.map(Follower::Expand).collect(), lease);
                }
                judged => shared.queue.done(lease, judged.is_some()),
            },
            Task::Expand(_, expansion) => shared.expand(&reconciler, &account, &expansion, lease).await,
        }
        shared.health.progressed();
    }
}

impl Shared {
    /// One more owned account's first resync was tried to the end.
    fn first_sync_tried(&self, task: &Task) {
        if let Task::Resync(account) = task {
            self.latches.lock().unwrap_or_else(|p| p.into_inner()).remove(account);
        }
    }

    /// The full scan of one account: every key it names is queued to reconcile
    /// on its own, so one failing fix never holds back the others, readiness or
    /// `last_full_sync`.
    async fn resync(&self, reconciler: &Reconciler, policy: &Policy, account: &AccountId) -> bool {
        let started = StdInstant::now();
        let result = reconciler.resync(policy).await;
        let elapsed = started.elapsed();
        self.members.reached(account, result.is_ok());
        // One account of many that cannot be read is down, in its metric, and
        // the replica still serves the others; alone, it is not ready.
        if result.is_ok() || !self.members.alone() {
            self.first_sync_tried(&Task::Resync(account.clone()));
        }
        let error = result.as_ref().err().map(|e| e.metric_label());
        self.metrics.reconciled(Kind::All, elapsed, error);
        let suspects = match result {
            Ok(suspects) => suspects,
            Err(error) => {
                tracing::warn!(key = "all", account = %account, %error, "resync failed; retrying with backoff");
                return false;
            }
        };
        let now = Instant::now();
        let work = |key: &Key| {
            Task::Reconcile(Work {
                account: account.clone(),
                key: key.clone(),
            })
        };
        for (key, facets) in &suspects.keys {
            self.queue.schedule(work(key), *facets, now);
        }
        for (key, facets, at) in &suspects.deadlines {
            self.queue.schedule(work(key), *facets, at_instant(*at));
        }
        self.ledger.resynced(account, &suspects);
        tracing::info!(
            key = "all",
            account = %account,
            suspects = suspects.keys.len(),
            deadlines = suspects.deadlines.len(),
            queue_depth = self.queue.depth(),
            running = self.queue.running(),
            seconds = elapsed.as_secs_f64(),
            "reconciled"
        );
        true
    }

    /// Whether it succeeded (`Some`), with the groups whose members are to be
    /// judged again for what the group grants.
    async fn reconcile(
        &self,
        reconciler: &Reconciler,
        policy: &Policy,
        work: &Work,
        lease: &Lease,
    ) -> Option<Vec<Name>> {
        let started = StdInstant::now();
        let result = reconciler
            .reconcile(policy, &work.key, lease.facets, &lease.triggers)
            .await;
        let elapsed = started.elapsed();
        let pass = match result {
            Ok(pass) => pass,
            Err(error) => {
                self.metrics
                    .reconciled(work.key.kind(), elapsed, Some(error.metric_label()));
                tracing::warn!(key = %work.key, account = %work.account, %error, "reconcile failed; retrying with backoff");
                return None;
            }
        };
        let failed = pass.failures();
        let cause = pass.decided.iter().find_map(|d| match &d.outcome {
            Outcome::Failed(error) => Some(error.metric_label()),
            _ => None,
        });
        self.metrics.reconciled(work.key.kind(), elapsed, cause);
        let owned = self.members.owns(&work.account);
        self.ledger
            .reconciled(work, lease.facets, owned, &pass, &lease.triggers);
        // Deadlines belong to the replica that owns the account; an event may
        // have brought the account's key here.
        if owned {
            for (key, facets, at) in &pass.deadlines {
                let task = Task::Reconcile(Work {
                    account: work.account.clone(),
                    key: key.clone(),
                });
                self.queue.schedule(task, *facets, at_instant(*at));
            }
        }
        // Held back by the change budget: the key comes back when it refills.
        let deferred = pass.retry_at().map(Instant::from_std);
        if let Some(at) = deferred {
            self.queue.schedule(lease.task.clone(), lease.facets, at);
        }
        // IAM's reads lag its writes: an event whose reconcile found nothing
        // to change may have been read before its change showed, unless the
        // read showed what the event wrote.
        let applied = pass.decided.iter().any(|d| matches!(d.outcome, Outcome::Applied));
        if pass.behind_events && !applied {
            let again = Instant::now() + self.recheck_after;
            let triggers = lease
                .triggers
                .iter()
                .map(|t| Trigger {
                    recheck: true,
                    written: None,
                    ..t.clone()
                })
                .collect();
            self.queue
                .schedule_for(lease.task.clone(), lease.facets, again, triggers);
        }
        tracing::info!(
            key = %work.key,
            account = %work.account,
            facets = %lease.facets,
            findings = pass.decided.len(),
            remaining = pass.remaining(),
            failed,
            deferred_seconds = deferred.map(|at| at.saturating_duration_since(Instant::now()).as_secs()),
            queue_depth = self.queue.depth(),
            running = self.queue.running(),
            seconds = elapsed.as_secs_f64(),
            "reconciled"
        );
        (failed == 0).then_some(pass.groups_judging_members)
    }

    /// Something changed what several identities may do: each is
    /// reconciled, and the event is done once they are.
    async fn expand(&self, reconciler: &Reconciler, account: &AccountId, expansion: &Expansion, lease: Lease) {
        let started = StdInstant::now();
        let iam = &reconciler.clients().iam;
        let (kind, followers) = match expansion {
            Expansion::GroupMembers(group) => (Kind::Group, group_members(iam, group).await),
            Expansion::PolicyHolders(arn) => {
                reconciler.policy_changed(arn);
                (Kind::Policy, policy_holders(iam, arn).await)
            }
        };
        let error = followers.as_ref().err().map(|e| e.metric_label());
        self.metrics.reconciled(kind, started.elapsed(), error);
        match followers {
            Ok(followers) => {
                tracing::info!(account = %account, task = %lease.task, identities = followers.len(), "permissions changed: each identity is reconciled");
                self.follow(account, followers, lease);
            }
            Err(error) => {
                tracing::warn!(account = %account, task = %lease.task, %error, "reading whose permissions changed failed");
                self.queue.done(lease, false);
            }
        }
    }
}

impl Shared {
    /// Queues each follower with the lease's triggers; the lease is done
    /// once they are.
    fn follow(&self, account: &AccountId, followers: Vec<Follower>, lease: Lease) {
        let answers = followers
            .into_iter()
            .map(|follower| {
                let (task, facets) = match follower {
                    Follower::Key(key) => (
                        Task::Reconcile(Work {
                            account: account.clone(),
                            key,
                        }),
                        lease.facets,
                    ),
                    // A member's permissions are all a group's policies can change.
                    Follower::Expand(expansion) => (Task::Expand(account.clone(), expansion), Facets::PERMISSIONS),
                };
                self.queue.wait_for(task, facets, lease.triggers.clone())
            })
            .collect();
        self.queue.done_after(lease, answers);
    }
}

/// What an expansion names: a key to reconcile, or a group whose members to name in turn.
enum Follower {
    Key(Key),
    Expand(Expansion),
}

async fn group_members(iam: &aws_sdk_iam::Client, group: &str) -> Result<Vec<Follower>, Error> {
    let members = observe::group_members(iam, group).await?;
    Ok(members.into_iter().map(|user| Follower::Key(Key::User(user))).collect())
}

/// Each holder of a policy; a holding group's reconcile names its members
/// in turn when what the group now grants could change their findings.
async fn policy_holders(iam: &aws_sdk_iam::Client, arn: &str) -> Result<Vec<Follower>, Error> {
    let holders = observe::policy_holders(iam, arn).await?;
    let users = holders.users.into_iter().map(Key::User);
    let roles = holders.roles.into_iter().map(Key::Role);
    let groups = holders.groups.into_iter().map(Key::Group);
    Ok(users.chain(roles).chain(groups).map(Follower::Key).collect())
}

fn at_instant(at: chrono::DateTime<Utc>) -> Instant {
    Instant::now() + (at - Utc::now()).to_std().unwrap_or_default()
}
