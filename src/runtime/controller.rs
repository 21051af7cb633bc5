//! The daemon, from parts that each start and hand back what stops them:
//! the probes and metrics, the accounts served, the SQS receivers, the
//! workers and the timers (resync, account refresh, policy reload). A
//! resync at start-up and every `resync_interval` names the keys to
//! reconcile; each event names one more. Shutdown is graceful and bounded.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ledger::Ledger;
use super::members::Members;
use super::queue::{Backoff, WorkQueue};
use super::reload::PolicyWatch;
use super::{timers, workers};
use crate::account::AccountId;
use crate::accounts::Accounts;
use crate::aws::Clients;
use crate::error::Error;
use crate::execute::Writes;
use crate::http::{self, Endpoints, Health};
use crate::ingest::sqs::{Dispatch, Ingest};
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::observe;
use crate::policy::PolicySet;
use crate::settings::Settings;
use crate::work::{Answer, Facets, Task, Trigger};

/// Two long polls in flight keep a message waiting at most a few ms even
/// while one receiver is handing out its batch.
const RECEIVERS: usize = 2;
/// For reconciles, and for start-up calls that need AWS.
const BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(300),
};

/// What every part is built from.
struct Core {
    settings: Settings,
    metrics: Arc<Metrics>,
    clients: Clients,
    queue: Arc<WorkQueue>,
    health: Arc<Health>,
    cancel: CancellationToken,
}

/// Runs until `shutdown` resolves, then stops receiving, lets in-flight
/// reconciles finish within `shutdown_timeout`, and returns. Messages not
/// yet handled are left on the queue to be received again.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let mut shutdown = std::pin::pin!(shutdown);
    let policy = PolicySet::load(&settings.policy)?;
    let metrics = Arc::new(Metrics::new());
    let core = Core {
        clients: Clients::from_env(metrics.aws_requests()).await,
        queue: Arc::new(WorkQueue::new(BACKOFF, settings.max_reconciles_per_account)),
        health: Arc::new(Health::new(settings.queue_url.is_some())),
        cancel: CancellationToken::new(),
        metrics,
        settings,
    };
    // Probes first: while AWS is unreachable the pod is alive but not ready.
    let members_slot = Arc::new(OnceLock::new());
    core.serve_probes(members_slot.clone()).await?;
    let Some(members) = core.members(&mut shutdown).await else {
        return stopped(&core.cancel);
    };
    let _ = members_slot.set(members.clone());
    let Some(ingest) = core.ingest(&members, &mut shutdown).await else {
        return stopped(&core.cancel);
    };
    let (policy_sender, policy) = watch::channel(Arc::new(policy));
    let workers = core.workers(&members, policy);
    let timers = core.timers(&members, policy_sender)?;
    let handlers = TaskTracker::new();
    for _ in 0..ingest.as_ref().map_or(0, |_| RECEIVERS) {
        let ingest = ingest.clone().expect("counted above");
        timers.spawn(ingest.receive(core.cancel.clone(), handlers.clone()));
    }
    tracing::info!(
        workers = core.settings.workers,
        queue = core.settings.queue_url.as_deref().unwrap_or("none: resync only"),
        dry_run = core.settings.dry_run,
        journal = %core.settings.journal,
        "iam-warden running"
    );
    shutdown.await;
    core.drain([&timers, &workers, &handlers]).await;
    if let Writes::Journaled(journal) = members.writes() {
        journal.flush().await;
    }
    Ok(())
}

fn stopped(cancel: &CancellationToken) -> Result<(), Error> {
    cancel.cancel();
    tracing::info!("stopped before start-up finished");
    Ok(())
}

impl Core {
    async fn serve_probes(&self, members: Arc<OnceLock<Arc<Members>>>) -> Result<(), Error> {
        let (queue, metrics) = (self.queue.clone(), self.metrics.clone());
        let refresh = Box::new(move || {
            metrics
                .workqueue_depth
                .set(i64::try_from(queue.depth()).unwrap_or(i64::MAX));
            let exhausted = members.get().map_or(0, |m| m.budgets_exhausted());
            metrics
                .change_budget_exhausted
                .set(i64::try_from(exhausted).unwrap_or(i64::MAX));
        });
        let endpoints = Endpoints {
            metrics: self.metrics.clone(),
            health: self.health.clone(),
            refresh,
        };
        let address = http::serve(&self.settings.listen, endpoints, self.cancel.clone()).await?;
        tracing::info!(listen = %address, "serving /metrics, /livez and /readyz");
        Ok(())
    }

    /// The accounts to serve: who iam-warden runs as, then the account list.
    async fn members(&self, shutdown: &mut Pin<&mut impl Future<Output = ()>>) -> Option<Arc<Members>> {
        let connect = || Accounts::connect(self.clients.clone(), self.settings.accounts.clone());
        let accounts = until_shutdown("asking AWS who iam-warden runs as", shutdown, connect).await?;
        let home = match accounts.is_own() {
            true => None,
            false => Some(Arc::new(
                until_shutdown("reading the identity iam-warden runs as", shutdown, || {
                    observe::who(&self.clients)
                })
                .await?,
            )),
        };
        let writes = match self.settings.dry_run {
            true => Writes::DryRun,
            false => Writes::Journaled(
                until_shutdown("opening the journal", shutdown, || {
                    Journal::open(&self.settings.journal, &self.clients)
                })
                .await?,
            ),
        };
        let members = Arc::new(Members::new(
            accounts,
            &self.settings,
            writes,
            self.metrics.clone(),
            home,
        ));
        until_shutdown("reading the accounts to serve", shutdown, || members.refresh()).await?;
        let owned = members.owned();
        tracing::info!(
            shard = self.settings.shard.index,
            replicas = self.settings.shard.count,
            accounts = owned.len(),
            // Which ones, so a shard's share can be checked from its log.
            ids = %owned.iter().map(AccountId::as_str).collect::<Vec<_>>().join(","),
            "serving accounts"
        );
        Some(members)
    }

    /// The SQS receivers' shared state, once the queue's settings are read; `Some(None)` without a queue.
    async fn ingest(
        &self,
        members: &Arc<Members>,
        shutdown: &mut Pin<&mut impl Future<Output = ()>>,
    ) -> Option<Option<Arc<Ingest>>> {
        let Some(url) = self.settings.queue_url.clone() else {
            return Some(None);
        };
        let dispatch: Arc<dyn Dispatch> = Arc::new(Router {
            queue: self.queue.clone(),
            members: members.clone(),
        });
        let connect = || {
            let (metrics, health) = (self.metrics.clone(), self.health.clone());
            let max_in_flight = self.settings.max_in_flight;
            Ingest::connect(
                &self.clients,
                url.clone(),
                max_in_flight,
                dispatch.clone(),
                metrics,
                health,
            )
        };
        let ingest = until_shutdown("reading the queue's settings", shutdown, connect).await?;
        Some(Some(Arc::new(ingest)))
    }

    /// The workers, with every owned account's first resync queued, and a
    /// readiness latch for each.
    fn workers(&self, members: &Arc<Members>, policy: watch::Receiver<Arc<PolicySet>>) -> TaskTracker {
        let owned = members.owned();
        let latches = owned.iter().cloned().zip(self.health.latches(owned.len())).collect();
        self.queue.resync_all(&owned);
        let shared = Arc::new(workers::Shared {
            queue: self.queue.clone(),
            members: members.clone(),
            policy,
            metrics: self.metrics.clone(),
            health: self.health.clone(),
            ledger: Ledger::new(self.metrics.clone()),
            latches: Mutex::new(latches),
            recheck_after: self.settings.recheck_after,
        });
        workers::start(shared, self.settings.workers)
    }

    /// The periodic resync, the account refresh and the policy reload.
    fn timers(&self, members: &Arc<Members>, policy: watch::Sender<Arc<PolicySet>>) -> Result<TaskTracker, Error> {
        let timers = TaskTracker::new();
        let (queue, cancel) = (self.queue.clone(), self.cancel.clone());
        let interval = self.settings.resync_interval;
        timers.spawn(timers::resync(queue.clone(), members.clone(), interval, cancel.clone()));
        if let Some(interval) = members.refresh_interval() {
            timers.spawn(timers::refresh(
                queue.clone(),
                members.clone(),
                interval,
                cancel.clone(),
            ));
        }
        let watch = PolicyWatch::start(&self.settings.policy)?;
        timers.spawn(watch.run(policy, queue, members.clone(), self.metrics.clone(), cancel));
        Ok(timers)
    }

    /// Stops every part, and waits for in-flight work within `shutdown_timeout`.
    async fn drain(&self, parts: [&TaskTracker; 3]) {
        let timeout = self.settings.shutdown_timeout;
        tracing::info!(timeout_seconds = timeout.as_secs(), "shutting down");
        self.cancel.cancel();
        self.queue.close();
        for part in parts {
            part.close();
        }
        let drained = async {
            for part in parts {
                part.wait().await;
            }
        };
        if tokio::time::timeout(timeout, drained).await.is_err() {
            tracing::warn!("in-flight work did not finish in time; its messages will be received again");
        }
        tracing::info!("stopped");
    }
}

/// Events go to the work queue, in the accounts served.
struct Router {
    queue: Arc<WorkQueue>,
    members: Arc<Members>,
}

impl Dispatch for Router {
    fn account_of(&self, event_account: Option<&str>) -> Option<AccountId> {
        self.members.account_of(event_account)
    }

    fn submit(&self, task: Task, facets: Facets, trigger: Trigger) -> oneshot::Receiver<Answer> {
        self.queue.wait_for(task, facets, vec![trigger])
    }
}

/// Start-up calls that need AWS are retried with backoff, not fatal: a
/// restart would not bring AWS back. `None` if shutdown came first.
async fn until_shutdown<T, F: Future<Output = Result<T, Error>>>(
    what: &str,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
    attempt: impl FnMut() -> F,
) -> Option<T> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(BACKOFF.first)
        .with_max_delay(BACKOFF.max)
        .without_max_times();
    let retried = attempt
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .notify(|error: &Error, wait: Duration| {
            tracing::warn!(%error, retry_in_seconds = wait.as_secs(), "{what} failed; retrying");
        });
    tokio::select! {
        () = shutdown.as_mut() => None,
        result = retried => result.ok(),
    }
}
