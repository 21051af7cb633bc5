//! The work queue: one entry per task, duplicates merged, delayed entries,
//! never two runs of one task at once, and backoff per task on failure.
//!
//! A message waits on the keys it produced. A waiter joins the next
//! reconcile of its key that starts after it was added, because an event that
//! arrives mid-reconcile may describe a change that reconcile did not see.
//! A key in backoff stays in backoff when new events name it: a message
//! received again must not make a failing key hammer AWS.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::account::AccountId;
use crate::work::{Answer, Facets, Task, Trigger};

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    fn after(&self, failures: u32) -> Duration {
        let doubled = self
            .first
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)));
        doubled.min(self.max)
    }
}

pub struct WorkQueue {
    state: Mutex<State>,
    changed: Notify,
    backoff: Backoff,
    /// Reconciles of one account at once: a slow or throttled account
    /// cannot take every worker.
    per_account: usize,
}

#[derive(Default)]
struct State {
    pending: HashMap<Task, Pending>,
    /// `pending` ordered by due time: a resync leaves a deadline for nearly
    /// every user, and finding the next key must not scan them all.
    by_due: BTreeSet<(Instant, Task)>,
    running: HashSet<Task>,
    /// Failures in a row, and when the key may run again.
    failures: HashMap<Task, (u32, Instant)>,
    closed: bool,
}

struct Pending {
    due: Instant,
    /// Every part of the key that any merged entry wants read.
    facets: Facets,
    waiters: Vec<oneshot::Sender<Answer>>,
    triggers: Vec<Trigger>,
}

impl State {
    /// The entry for `key`, made due at `due` if new, else at `pick(old, due)`,
    /// and wanting `facets` too.
    fn pending_entry(
        &mut self,
        key: Task,
        facets: Facets,
        due: Instant,
        pick: fn(Instant, Instant) -> Instant,
    ) -> &mut Pending {
        let entry = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            due,
            facets,
            waiters: Vec::new(),
            triggers: Vec::new(),
        });
        entry.facets = entry.facets | facets;
        let old = entry.due;
        entry.due = pick(old, due);
        self.by_due.remove(&(old, key.clone()));
        self.by_due.insert((entry.due, key));
        entry
    }
}

/// A task handed to one worker; give it back with [`WorkQueue::done`].
pub struct Lease {
    pub task: Task,
    pub facets: Facets,
    pub triggers: Vec<Trigger>,
    waiters: Vec<oneshot::Sender<Answer>>,
}

impl WorkQueue {
    pub fn new(backoff: Backoff, per_account: usize) -> WorkQueue {
        WorkQueue {
            state: Mutex::default(),
            changed: Notify::new(),
            backoff,
            per_account: per_account.max(1),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `key` to run no later than `due`, reading `facets` of it; an
    /// earlier entry for it stands, and reads these too.
    pub fn schedule(&self, key: Task, facets: Facets, due: Instant) {
        self.merge(key, facets, due, None, Vec::new());
    }

    /// The same, for the events behind it: a recheck after an event keeps
    /// them, so a change it makes is the events' doing.
    pub fn schedule_for(&self, key: Task, facets: Facets, due: Instant, triggers: Vec<Trigger>) {
        self.merge(key, facets, due, None, triggers);
    }

    /// Queues `key` now, or when its backoff ends; the receiver says whether
    /// the next run of it succeeded, and is dropped unanswered if the queue
    /// closes first.
    pub fn wait_for(&self, key: Task, facets: Facets, triggers: Vec<Trigger>) -> oneshot::Receiver<Answer> {
        let (sender, receiver) = oneshot::channel();
        self.merge(key, facets, Instant::now(), Some(sender), triggers);
        receiver
    }

    fn merge(
        &self,
        key: Task,
        facets: Facets,
        due: Instant,
        waiter: Option<oneshot::Sender<Answer>>,
        triggers: Vec<Trigger>,
    ) {
        let mut state = self.state();
        if state.closed {
            return;
        }
        let due = state.failures.get(&key).map_or(due, |(_, retry_at)| due.max(*retry_at));
        let entry = state.pending_entry(key, facets, due, Instant::min);
        entry.waiters.extend(waiter);
        entry.triggers.extend(triggers);
        drop(state);
        self.changed.notify_waiters();
    }

    /// The next due key that is not running; `None` once the queue is closed.
    pub async fn next(&self) -> Option<Lease> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let mut state = self.state();
                if state.closed {
                    return None;
                }
                let busy = |account: &AccountId| {
                    state.running.iter().filter(|t| t.account() == account).count() >= self.per_account
                };
                let earliest = state
                    .by_due
                    .iter()
                    .find(|(_, task)| !state.running.contains(task) && !busy(task.account()))
                    .cloned();
                match earliest {
                    Some((due, key)) if due <= Instant::now() => {
                        state.by_due.remove(&(due, key.clone()));
                        let pending = state.pending.remove(&key).expect("indexed keys are pending");
                        state.running.insert(key.clone());
                        return Some(Lease {
                            task: key,
                            facets: pending.facets,
                            triggers: pending.triggers,
                            waiters: pending.waiters,
                        });
                    }
                    other => other.map(|(due, _)| due),
                }
            };
            match wake_at {
                Some(at) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = &mut notified => {}
                },
                None => notified.await,
            }
        }
    }

    /// Ends a run. A failure answers its waiters with the backoff and
    /// retries the task after it; the backoff doubles with each failure in a row.
    pub fn done(&self, lease: Lease, succeeded: bool) {
        let (waiters, answer) = self.finish(lease, succeeded);
        for waiter in waiters {
            let _ = waiter.send(answer);
        }
    }

    /// Ends a run that succeeded by handing its work on to `followers` (a
    /// group's members): its waiters are answered once every follower is,
    /// with the longest backoff of any that failed.
    pub fn done_after(&self, lease: Lease, followers: Vec<oneshot::Receiver<Answer>>) {
        let (waiters, _) = self.finish(lease, true);
        tokio::spawn(async move {
            let mut answer = Ok(());
            for follower in followers {
                match follower.await {
                    Ok(Ok(())) => {}
                    Ok(Err(backoff)) => answer = Err(answer.err().map_or(backoff, |b: Duration| b.max(backoff))),
                    // The queue closed first: the waiters go unanswered too.
                    Err(_) => return,
                }
            }
            for waiter in waiters {
                let _ = waiter.send(answer);
            }
        });
    }

    /// Marks the run over, and schedules its retry when it failed.
    fn finish(&self, lease: Lease, succeeded: bool) -> (Vec<oneshot::Sender<Answer>>, Answer) {
        let mut state = self.state();
        state.running.remove(&lease.task);
        let answer = if succeeded {
            state.failures.remove(&lease.task);
            Ok(())
        } else {
            let failures = state.failures.get(&lease.task).map_or(1, |(n, _)| n + 1);
            let delay = self.backoff.after(failures);
            let retry_at = Instant::now() + delay;
            state.failures.insert(lease.task.clone(), (failures, retry_at));
            if !state.closed {
                // A retry is still the events' doing.
                let entry = state.pending_entry(lease.task, lease.facets, retry_at, Instant::max);
                entry.triggers.extend(lease.triggers);
            }
            Err(delay)
        };
        drop(state);
        self.changed.notify_waiters();
        (lease.waiters, answer)
    }

    /// Queues a full resync of each account, now.
    pub fn resync_all(&self, accounts: &[AccountId]) {
        for account in accounts {
            self.schedule(Task::Resync(account.clone()), Facets::ALL, Instant::now());
        }
    }

    /// Entries due now, waiting for a worker.
    pub fn depth(&self) -> usize {
        let now = Instant::now();
        self.state().by_due.iter().take_while(|(due, _)| *due <= now).count()
    }

    /// Keys being reconciled now.
    pub fn running(&self) -> usize {
        self.state().running.len()
    }

    /// Hands out no more work; pending waiters are dropped unanswered.
    pub fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.pending.clear();
        state.by_due.clear();
        drop(state);
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::name::Name;
    use crate::work::{Expansion, Key, Work};

    fn queue() -> WorkQueue {
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(8),
        };
        WorkQueue::new(backoff, 4)
    }

    fn own(key: Key) -> Task {
        Task::Reconcile(Work {
            account: AccountId::parse("123456789012").unwrap(),
            key,
        })
    }

    fn user(name: &str) -> Task {
        own(Key::User(Name::from(name)))
    }

    fn trigger(id: &str) -> Trigger {
        Trigger {
            recheck: false,
            event_id: Some(id.to_owned()),
            event_time: None,
            sets_password: false,
            written: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_busy_account_does_not_take_every_worker() {
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(8),
        };
        let queue = WorkQueue::new(backoff, 2);
        let in_account = |account: &str, name: &str| {
            Task::Reconcile(Work {
                account: AccountId::parse(account).unwrap(),
                key: Key::User(Name::from(name)),
            })
        };
        let start = Instant::now();
        for (n, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            queue.schedule(
                in_account("111111111111", name),
                Facets::ALL,
                start + Duration::from_millis(n as u64),
            );
        }
        queue.schedule(
            in_account("222222222222", "z"),
            Facets::ALL,
            start + Duration::from_secs(1),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let leases = [
            queue.next().await.unwrap(),
            queue.next().await.unwrap(),
            queue.next().await.unwrap(),
        ];
        let keys: Vec<String> = leases
            .iter()
            .map(|l| format!("{}/{}", l.task.account(), l.task))
            .collect();
        assert_eq!(
            keys,
            ["111111111111/user/a", "111111111111/user/b", "222222222222/user/z"],
            "the third worker skips the account already at its limit"
        );
        assert_eq!(queue.depth(), 2, "the busy account's other keys wait");
    }

    #[tokio::test(start_paused = true)]
    async fn duplicate_keys_merge_into_one_reconcile() {
        let queue = queue();
        let receivers: Vec<_> = (0..500)
            .map(|n| queue.wait_for(user("alice"), Facets::KEYS, vec![trigger(&n.to_string())]))
            .collect();
        let lease = queue.next().await.unwrap();
        assert_eq!((lease.task.clone(), lease.triggers.len()), (user("alice"), 500));
        assert_eq!(queue.depth(), 0, "nothing else is queued");
        queue.done(lease, true);
        for receiver in receivers {
            assert_eq!(receiver.await, Ok(Ok(())));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_never_runs_twice_at_once_and_late_waiters_wait_for_the_next_run() {
        let queue = queue();
        let _first = queue.wait_for(user("bob"), Facets::ALL, vec![trigger("1")]);
        let running = queue.next().await.unwrap();
        let mut late = queue.wait_for(user("bob"), Facets::ALL, vec![trigger("2")]);
        let other = queue.wait_for(user("carol"), Facets::ALL, vec![trigger("3")]);
        let next = queue.next().await.unwrap();
        assert_eq!(next.task, user("carol"), "bob is running, so carol goes first");
        queue.done(next, true);
        assert_eq!(other.await, Ok(Ok(())));

        queue.done(running, true);
        assert!(late.try_recv().is_err(), "the run that ended began before this event");
        let rerun = queue.next().await.unwrap();
        assert_eq!(rerun.triggers, [trigger("2")]);
        queue.done(rerun, true);
        assert_eq!(late.await, Ok(Ok(())));
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_entries_run_at_their_time_and_an_event_brings_them_forward() {
        let queue = queue();
        let start = Instant::now();
        queue.schedule(user("dave"), Facets::KEYS, start + Duration::from_secs(3600));
        queue.schedule(own(Key::Trails), Facets::ALL, start + Duration::from_secs(60));
        let lease = queue.next().await.unwrap();
        assert_eq!(
            (lease.task.clone(), Instant::now() - start),
            (own(Key::Trails), Duration::from_secs(60))
        );
        queue.done(lease, true);

        let _dave = queue.wait_for(user("dave"), Facets::ALL, vec![trigger("now")]);
        let lease = queue.next().await.unwrap();
        assert_eq!(
            (lease.task.clone(), Instant::now() - start),
            (user("dave"), Duration::from_secs(60))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn thousands_of_deadlines_hand_out_in_due_order_and_each_key_once() {
        let queue = queue();
        let start = Instant::now();
        for n in (0..5000u64).rev() {
            queue.schedule(
                user(&format!("u{n}")),
                Facets::KEYS,
                start + Duration::from_secs(10 + n),
            );
        }
        queue.schedule(user("u7"), Facets::KEYS, start + Duration::from_secs(1)); // brought forward
        queue.schedule(user("u3"), Facets::KEYS, start + Duration::from_secs(9000)); // an earlier entry stands
        let mut order = Vec::new();
        for _ in 0..4 {
            let lease = queue.next().await.unwrap();
            order.push((lease.task.clone(), (Instant::now() - start).as_secs()));
            queue.done(lease, true);
        }
        let expected = [("u7", 1), ("u0", 10), ("u1", 11), ("u2", 12)];
        assert_eq!(order, expected.map(|(name, at)| (user(name), at)));
        tokio::time::advance(Duration::from_secs(5000)).await;
        assert_eq!(queue.depth(), 4996, "the other 4,996 keys are due, each once");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_and_success_resets() {
        let queue = queue();
        let receiver = queue.wait_for(user("erin"), Facets::ALL, vec![trigger("1")]);
        let mut gaps = Vec::new();
        let mut last = Instant::now();
        for _ in 0..5 {
            let lease = queue.next().await.unwrap();
            gaps.push((Instant::now() - last).as_secs());
            last = Instant::now();
            queue.done(lease, false);
        }
        assert_eq!(gaps, [0, 1, 2, 4, 8], "doubling, capped at the maximum");
        assert_eq!(
            receiver.await,
            Ok(Err(Duration::from_secs(1))),
            "the message is told its key failed, and when it is retried"
        );

        let lease = queue.next().await.unwrap();
        queue.done(lease, true);
        let _erin = queue.wait_for(user("erin"), Facets::ALL, vec![trigger("2")]);
        let lease = queue.next().await.unwrap();
        queue.done(lease, false);
        let before = Instant::now();
        let _retry = queue.next().await.unwrap();
        assert_eq!(
            Instant::now() - before,
            Duration::from_secs(1),
            "a success reset the backoff"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_for_a_key_in_backoff_waits_for_the_backoff() {
        let queue = queue();
        let _first = queue.wait_for(user("gus"), Facets::ALL, vec![trigger("1")]);
        for _ in 0..3 {
            let lease = queue.next().await.unwrap();
            queue.done(lease, false);
        }
        let backoff_ends = Instant::now() + Duration::from_secs(4);
        // The same message, received again, names the key once more.
        let again = queue.wait_for(user("gus"), Facets::ALL, vec![trigger("1")]);
        let lease = queue.next().await.unwrap();
        assert_eq!(Instant::now(), backoff_ends, "not at once: the backoff stands");
        queue.done(lease, true);
        assert_eq!(again.await, Ok(Ok(())));
        let after_success = queue.wait_for(user("gus"), Facets::ALL, vec![trigger("2")]);
        let before = Instant::now();
        let lease = queue.next().await.unwrap();
        assert_eq!(Instant::now(), before, "a success ends the backoff");
        queue.done(lease, true);
        assert_eq!(after_success.await, Ok(Ok(())));
    }

    #[tokio::test(start_paused = true)]
    async fn merged_entries_read_every_facet_any_of_them_wants() {
        let queue = queue();
        let _keys = queue.wait_for(user("hal"), Facets::KEYS, vec![trigger("1")]);
        let _console = queue.wait_for(user("hal"), Facets::CONSOLE, vec![trigger("2")]);
        let lease = queue.next().await.unwrap();
        assert_eq!(lease.facets, Facets::KEYS | Facets::CONSOLE);
        queue.done(lease, false);
        let retry = queue.next().await.unwrap();
        assert_eq!(
            retry.facets,
            Facets::KEYS | Facets::CONSOLE,
            "a retry reads what failed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn closing_drops_pending_waiters_and_ends_next() {
        let queue = queue();
        let receiver = queue.wait_for(user("frank"), Facets::ALL, vec![trigger("1")]);
        queue.close();
        assert!(receiver.await.is_err(), "unanswered: the message is not acked");
        assert!(queue.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn two_spellings_of_a_name_are_one_key_never_run_twice_at_once() {
        let queue = queue();
        let _upper = queue.wait_for(user("BREAK-GLASS"), Facets::KEYS, vec![trigger("1")]);
        let _lower = queue.wait_for(user("break-glass"), Facets::CONSOLE, vec![trigger("2")]);
        let lease = queue.next().await.unwrap();
        assert_eq!(lease.triggers.len(), 2, "merged");
        assert_eq!(lease.facets, Facets::KEYS | Facets::CONSOLE);
        assert_eq!(queue.depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_done_after_its_followers_answers_once_they_have() {
        let queue = queue();
        let account = AccountId::parse("123456789012").unwrap();
        let expand = Task::Expand(account, Expansion::GroupMembers("admins".to_owned()));
        let message = queue.wait_for(expand, Facets::PERMISSIONS, vec![trigger("1")]);
        let lease = queue.next().await.unwrap();
        let followers = vec![
            queue.wait_for(user("a"), Facets::PERMISSIONS, lease.triggers.clone()),
            queue.wait_for(user("b"), Facets::PERMISSIONS, lease.triggers.clone()),
        ];
        queue.done_after(lease, followers);
        let first = queue.next().await.unwrap();
        assert_eq!(first.triggers, [trigger("1")], "the event goes on to each member");
        queue.done(first, true);
        let second = queue.next().await.unwrap();
        queue.done(second, false);
        assert_eq!(
            message.await,
            Ok(Err(Duration::from_secs(1))),
            "one member failed: retried after its backoff"
        );
    }
}
