//! The daemon: a resync at start-up and every `resync_interval`, which names
//! the keys to reconcile; one reconcile per key named by an event; deadlines
//! and held-back changes as delayed keys; hot reload of the policy; probes
//! and metrics; and a graceful, bounded shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::members::Members;
use super::queue::{Backoff, Lease, WorkQueue};
use super::reload::PolicyWatch;
use crate::accounts::shard::Shard;
use crate::aws::Clients;
use crate::error::Error;
use crate::http::{self, Endpoints, Health};
use crate::ingest::sqs::Ingest;
use crate::key::{AccountId, Facets, Key, Work};
use crate::metrics::Metrics;
use crate::policy::{Placement, Policy, PolicySet};
use crate::reconcile::Reconciler;
use crate::settings::Settings;

/// Two long polls in flight keep a message waiting at most a few ms even
/// while one receiver is handing out its batch.
const RECEIVERS: usize = 2;
const BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(300),
};

/// What every worker shares.
struct Shared {
    work: Arc<WorkQueue>,
    members: Arc<Members>,
    policy: watch::Receiver<Arc<PolicySet>>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    /// Owned accounts whose first resync has not been tried to the end:
    /// the replica is ready once there are none.
    first_syncs: std::sync::Mutex<Option<std::collections::BTreeSet<AccountId>>>,
}

/// Runs until `shutdown` resolves, then stops receiving, lets in-flight
/// reconciles finish within `shutdown_timeout`, and returns. Messages not
/// yet handled are left on the queue to be received again.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let mut shutdown = std::pin::pin!(shutdown);
    let policy = PolicySet::load(&settings.policy)?;
    let metrics = Arc::new(Metrics::new());
    let clients = Clients::from_env(metrics.aws_requests()).await;
    let work = Arc::new(WorkQueue::new(BACKOFF, settings.max_reconciles_per_account));
    let health = Arc::new(Health::new(settings.queue_url.is_some()));
    let cancel = CancellationToken::new();
    let members_slot: Arc<std::sync::OnceLock<Arc<Members>>> = Arc::default();

    // Probes first: while AWS is unreachable the pod is alive but not ready.
    let refresh = {
        let (work, members, metrics) = (work.clone(), members_slot.clone(), metrics.clone());
        Box::new(move || {
            metrics
                .workqueue_depth
                .set(i64::try_from(work.depth()).unwrap_or(i64::MAX));
            let exhausted = members.get().map_or(0, |m| m.budgets_exhausted());
            metrics
                .change_budget_exhausted
                .set(i64::try_from(exhausted).unwrap_or(i64::MAX));
        })
    };
    let endpoints = Endpoints {
        metrics: metrics.clone(),
        health: health.clone(),
        refresh,
    };
    let address = http::serve(&settings.listen, endpoints, cancel.clone()).await?;
    tracing::info!(listen = %address, "serving /metrics, /livez and /readyz");

    let shard = Shard::resolve(
        settings.shard,
        std::env::var("HOSTNAME").ok().as_deref(),
        std::env::var("IAM_WARDEN_REPLICAS").ok().as_deref(),
    );
    let started = retry_until_shutdown("reading the accounts to serve", &mut shutdown, || {
        Members::start(clients.clone(), &settings, shard, metrics.clone())
    });
    let Some(members) = started.await else {
        return stop(&cancel);
    };
    let members = Arc::new(members);
    let _ = members_slot.set(members.clone());
    if settings.accounts.is_none() {
        // Alone, start-up waits until AWS says who iam-warden runs as, as it always has.
        let own = retry_until_shutdown("asking AWS who iam-warden runs as", &mut shutdown, || {
            members.reconciler(&None)
        });
        if own.await.is_none() {
            return stop(&cancel);
        }
    }
    let ingest = match settings.queue_url.clone() {
        Some(url) => {
            let connect = || {
                let (work, metrics, health, members) = (work.clone(), metrics.clone(), health.clone(), members.clone());
                Ingest::connect(
                    &clients,
                    url.clone(),
                    settings.max_in_flight,
                    work,
                    members,
                    metrics,
                    health,
                )
            };
            match retry_until_shutdown("reading the queue's settings", &mut shutdown, connect).await {
                Some(ingest) => Some(Arc::new(ingest)),
                None => return stop(&cancel),
            }
        }
        None => None,
    };

    let tasks = TaskTracker::new();
    let handlers = TaskTracker::new();
    let (policy_sender, policy) = watch::channel(Arc::new(policy));
    let owned = members.owned();
    tracing::info!(
        shard = shard.index,
        replicas = shard.count,
        accounts = owned.len(),
        // Which ones, so a shard's share can be checked from its log.
        ids = %owned.iter().flatten().map(|id| id.as_ref()).collect::<Vec<_>>().join(","),
        "serving accounts"
    );
    resync_all(&work, &owned);
    tasks.spawn(resync_timer(
        work.clone(),
        members.clone(),
        settings.resync_interval,
        cancel.clone(),
    ));
    if let Some(interval) = members.refresh_interval() {
        tasks.spawn(refresh_timer(work.clone(), members.clone(), interval, cancel.clone()));
    }
    let watch = PolicyWatch::start(&settings.policy)?;
    tasks.spawn(watch.run(
        policy_sender,
        work.clone(),
        members.clone(),
        metrics.clone(),
        cancel.clone(),
    ));
    for _ in 0..ingest.as_ref().map_or(0, |_| RECEIVERS) {
        let ingest = ingest.clone().expect("counted above");
        tasks.spawn(ingest.receive(cancel.clone(), handlers.clone()));
    }
    // A replica that owns no account (more replicas than accounts) has nothing to wait for.
    if owned.is_empty() {
        health.first_sync_done();
    }
    let shared = Arc::new(Shared {
        work: work.clone(),
        members,
        policy,
        metrics,
        health,
        first_syncs: std::sync::Mutex::new((!owned.is_empty()).then(|| owned.into_iter().collect())),
    });
    let workers = TaskTracker::new();
    for _ in 0..settings.workers {
        workers.spawn(worker(shared.clone()));
    }
    tracing::info!(
        workers = settings.workers,
        queue = settings.queue_url.as_deref().unwrap_or("none: resync only"),
        dry_run = settings.dry_run,
        "iam-warden running"
    );

    shutdown.await;
    tracing::info!(timeout_seconds = settings.shutdown_timeout.as_secs(), "shutting down");
    cancel.cancel();
    work.close();
    for tracker in [&tasks, &workers, &handlers] {
        tracker.close();
    }
    let drained = async {
        tasks.wait().await;
        workers.wait().await;
        handlers.wait().await;
    };
    if tokio::time::timeout(settings.shutdown_timeout, drained).await.is_err() {
        tracing::warn!("in-flight work did not finish in time; its messages will be received again");
    }
    tracing::info!("stopped");
    Ok(())
}

fn stop(cancel: &CancellationToken) -> Result<(), Error> {
    cancel.cancel();
    tracing::info!("stopped before start-up finished");
    Ok(())
}

/// Start-up calls that need AWS are retried, not fatal: a restart would not
/// bring AWS back. `None` if shutdown came first.
async fn retry_until_shutdown<T, F: Future<Output = Result<T, Error>>>(
    what: &str,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    mut attempt: impl FnMut() -> F,
) -> Option<T> {
    let mut wait = Duration::from_secs(1);
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(error) => tracing::warn!(%error, retry_in_seconds = wait.as_secs(), "{what} failed; retrying"),
        }
        tokio::select! {
            () = shutdown.as_mut() => return None,
            () = tokio::time::sleep(wait) => wait = (wait * 2).min(BACKOFF.max),
        }
    }
}

async fn worker(shared: Arc<Shared>) {
    while let Some(lease) = shared.work.next().await {
        shared.health.progressed();
        let policies = shared.policy.borrow().clone();
        let account = &lease.key.account;
        let succeeded = match shared.members.reconciler(account).await {
            Ok(reconciler) => match governing(&shared, &policies, &reconciler, account) {
                Some(policy) if lease.key.key == Key::All => resync(&shared, &reconciler, policy, account).await,
                Some(policy) => reconcile(&shared, &reconciler, policy, &lease).await,
                None => {
                    tracing::info!(key = %lease.key, "no policy file governs this account: nothing judged");
                    if lease.key.key == Key::All {
                        first_sync_tried(&shared, account);
                    }
                    true
                }
            },
            // Down: logged and counted where the role was refused; retried with backoff.
            Err(_) => {
                if lease.key.key == Key::All {
                    first_sync_tried(&shared, account);
                }
                false
            }
        };
        shared.health.progressed();
        shared.work.done(lease, succeeded);
    }
}

/// The policy file that governs the account; `None` when no file of a directory does.
fn governing<'p>(
    shared: &Shared,
    policies: &'p PolicySet,
    reconciler: &Reconciler,
    account: &AccountId,
) -> Option<&'p Policy> {
    let caller = reconciler.caller();
    let organizational_units = shared.members.organizational_units(account);
    let place = Placement {
        account: account.as_deref().unwrap_or(&caller.account_id),
        organizational_units: &organizational_units,
    };
    policies.governing(&place).map(|(_, policy)| policy)
}

/// One more owned account's first resync was tried to the end.
fn first_sync_tried(shared: &Shared, account: &AccountId) {
    let mut pending = shared.first_syncs.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(accounts) = pending.as_mut() {
        accounts.remove(account);
        if accounts.is_empty() {
            *pending = None;
            shared.health.first_sync_done();
        }
    }
}

/// The full scan of one account: every key it names is queued to reconcile
/// on its own, so one failing fix never holds back the others, readiness or
/// `last_full_sync`.
async fn resync(shared: &Shared, reconciler: &Reconciler, policy: &Policy, account: &AccountId) -> bool {
    let started = std::time::Instant::now();
    let result = reconciler.resync(policy).await;
    let elapsed = started.elapsed();
    shared.members.reached(account, result.is_ok());
    match &result {
        Ok(resync) => {
            let now = Instant::now();
            for (key, facets) in &resync.suspects {
                shared.work.schedule(Work::new(account, key.clone()), *facets, now);
            }
            for (key, facets, at) in &resync.deadlines {
                shared
                    .work
                    .schedule(Work::new(account, key.clone()), *facets, at_instant(*at));
            }
            first_sync_tried(shared, account);
            tracing::info!(
                key = %Key::All,
                account = account.as_deref(),
                suspects = resync.suspects.len(),
                deadlines = resync.deadlines.len(),
                queue_depth = shared.work.depth(),
                running = shared.work.running(),
                seconds = elapsed.as_secs_f64(),
                "reconciled"
            );
        }
        Err(error) => {
            tracing::warn!(key = %Key::All, account = account.as_deref(), %error, "resync failed; retrying with backoff");
            // One account of many that cannot be read is down, in its metric;
            // the replica still serves the others.
            if account.is_some() {
                first_sync_tried(shared, account);
            }
        }
    }
    let outcome = result
        .as_ref()
        .ok()
        .map(|r| (&r.pass.plan, r.pass.outcomes.as_slice(), &r.suspects));
    shared.metrics.resynced(account, elapsed, outcome);
    result.is_ok()
}

async fn reconcile(shared: &Shared, reconciler: &Reconciler, policy: &Policy, lease: &Lease) -> bool {
    let started = std::time::Instant::now();
    let Work { account, key } = &lease.key;
    let result = reconciler.reconcile(policy, key, lease.facets, &lease.triggers).await;
    let elapsed = started.elapsed();
    let succeeded = match &result {
        Ok(pass) => {
            // Deadlines belong to the replica that owns the account; an
            // event may have brought the account's key here.
            if shared.members.owns(account) {
                for (key, facets, at) in pass.deadlines() {
                    shared.work.schedule(Work::new(account, key), facets, at_instant(at));
                }
            }
            // Held back by the change budget: the key comes back when it refills.
            let deferred = pass.retry_at().map(Instant::from_std);
            if let Some(at) = deferred {
                shared.work.schedule(lease.key.clone(), lease.facets, at);
            }
            tracing::info!(
                key = %lease.key,
                facets = %lease.facets,
                findings = pass.plan.findings.len(),
                remaining = pass.remaining(),
                failed = pass.failures(),
                deferred_seconds = deferred.map(|at| at.saturating_duration_since(Instant::now()).as_secs()),
                queue_depth = shared.work.depth(),
                running = shared.work.running(),
                seconds = elapsed.as_secs_f64(),
                "reconciled"
            );
            pass.failures() == 0
        }
        Err(error) => {
            tracing::warn!(key = %lease.key, %error, "reconcile failed; retrying with backoff");
            false
        }
    };
    let outcome = result.as_ref().ok().map(|pass| (&pass.plan, pass.outcomes.as_slice()));
    shared.metrics.reconciled(&lease.key, elapsed, outcome, &lease.triggers);
    succeeded
}

fn at_instant(at: chrono::DateTime<Utc>) -> Instant {
    Instant::now() + (at - Utc::now()).to_std().unwrap_or_default()
}

/// Queues a full resync of each account.
pub(super) fn resync_all(work: &WorkQueue, accounts: &[AccountId]) {
    for account in accounts {
        work.schedule(Work::new(account, Key::All), Facets::ALL, Instant::now());
    }
}

/// The backstop for anything events missed, jittered by ±10% so many
/// replicas or restarts do not call AWS in step.
async fn resync_timer(work: Arc<WorkQueue>, members: Arc<Members>, interval: Duration, cancel: CancellationToken) {
    loop {
        let jitter = 0.9 + rand::random::<f64>() * 0.2;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval.mul_f64(jitter)) => resync_all(&work, &members.owned()),
        }
    }
}

/// Reads the account list again; an account new to this replica is resynced at once.
async fn refresh_timer(work: Arc<WorkQueue>, members: Arc<Members>, interval: Duration, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => match members.refresh().await {
                Ok(added) => {
                    if !added.is_empty() {
                        tracing::info!(added = added.len(), "new accounts to serve; resyncing them");
                    }
                    resync_all(&work, &added);
                }
                Err(error) => tracing::warn!(%error, "reading the account list failed; the last one stays"),
            },
        }
    }
}
