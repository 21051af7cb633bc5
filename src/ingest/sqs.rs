//! SQS: long-poll CloudTrail events and delete each message only once every
//! key it named has reconciled successfully, or once it is known to be
//! irrelevant (in batches: `deletions`). A body that cannot be parsed is never deleted: the queue's
//! redrive policy moves it to the dead-letter queue.
//!
//! At most `max_in_flight` messages are held at once: a receiver takes its
//! permits before it asks SQS for messages, so a backlog after an outage
//! waits in SQS, not in memory.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{Message, QueueAttributeName};
use futures::future::join_all;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::cloudtrail::{self, Effect, Event, Target};
use super::deletions::Deletions;
use crate::account::AccountId;
use crate::aws::{Call, Clients};
use crate::error::Error;
use crate::http::Health;
use crate::metrics::{Metrics, SqsOutcome};
use crate::work::{Answer, Facets, Key, Task, Trigger, Work};

const WAIT_SECONDS: i32 = 20;
const BATCH: usize = 10;
/// SQS's longest visibility timeout.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

/// Where events go: the daemon's work queue, and which accounts it serves.
pub trait Dispatch: Send + Sync {
    /// The served account an event is about; `None` if it is not served.
    fn account_of(&self, event_account: Option<&str>) -> Option<AccountId>;
    /// Queues `task`; the receiver says whether it, and what it led to, succeeded.
    fn submit(&self, task: Task, facets: Facets, trigger: Trigger) -> oneshot::Receiver<Answer>;
}

pub struct Ingest {
    client: aws_sdk_sqs::Client,
    dispatch: Arc<dyn Dispatch>,
    queue_url: String,
    /// The queue's visibility timeout; a message in work is kept invisible for this long again and again.
    visibility: Duration,
    in_flight: Arc<Semaphore>,
    deletions: Deletions,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

impl Ingest {
    /// Reads the queue's settings, and warns when nothing would catch a poison message.
    pub async fn connect(
        clients: &Clients,
        queue_url: String,
        max_in_flight: usize,
        dispatch: Arc<dyn Dispatch>,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Result<Ingest, Error> {
        let client = clients.sqs_for(&queue_url);
        let attributes = client
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .during("sqs:GetQueueAttributes")?;
        let attributes = attributes.attributes();
        let visibility = attributes
            .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout))
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(30), Duration::from_secs);
        if attributes
            .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
            .is_none()
        {
            tracing::warn!(
                queue_url,
                "the queue has no redrive policy: a malformed message will be received again forever; give it a dead-letter queue"
            );
        }
        health.queue_reachable(true);
        Ok(Ingest {
            deletions: Deletions::start(client.clone(), queue_url.clone(), visibility),
            client,
            dispatch,
            queue_url,
            visibility,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            metrics,
            health,
        })
    }

    /// One long-polling receiver; each message is handled on its own task,
    /// holding one of the `max_in_flight` permits until it is done.
    pub async fn receive(self: Arc<Self>, cancel: CancellationToken, handlers: TaskTracker) {
        while !cancel.is_cancelled() {
            let first = tokio::select! {
                () = cancel.cancelled() => break,
                permit = self.in_flight.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let mut permits = vec![first];
            while permits.len() < BATCH {
                match self.in_flight.clone().try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            let request = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(i32::try_from(permits.len()).unwrap_or(1))
                .wait_time_seconds(WAIT_SECONDS)
                .send();
            let received = tokio::select! {
                () = cancel.cancelled() => break,
                received = request => received.during("sqs:ReceiveMessage"),
            };
            self.health.queue_reachable(received.is_ok());
            match received {
                Ok(output) => {
                    for message in output.messages.unwrap_or_default() {
                        let Some(permit) = permits.pop() else { break };
                        handlers.spawn(self.clone().handle(message, permit));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "receiving from SQS failed; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    async fn handle(self: Arc<Self>, message: Message, _permit: OwnedSemaphorePermit) {
        let (Some(receipt), id) = (message.receipt_handle(), message.message_id().unwrap_or_default()) else {
            return;
        };
        let events = match cloudtrail::parse(message.body().unwrap_or_default().as_bytes()) {
            Ok(events) => events,
            Err(malformed) => {
                tracing::warn!(message_id = id, reason = %malformed, "malformed message left for the dead-letter queue");
                self.metrics.sqs_message(SqsOutcome::Malformed);
                return;
            }
        };
        let waits: Vec<_> = events.iter().flat_map(|event| self.submit(event, id)).collect();
        let outcome = if waits.is_empty() {
            SqsOutcome::Ignored
        } else {
            SqsOutcome::Acked
        };
        if let Some(backoff) = self.answers(receipt, waits).await {
            tracing::info!(
                message_id = id,
                retry_in_seconds = backoff.as_secs(),
                "not every reconcile succeeded; the message will be received again"
            );
            if !backoff.is_zero() {
                self.keep_invisible(receipt, backoff).await;
            }
            self.metrics.sqs_message(SqsOutcome::Retried);
            return;
        }
        match self.deletions.delete(receipt).await {
            Ok(()) => self.metrics.sqs_message(outcome),
            Err(error) => {
                tracing::warn!(message_id = id, %error, "deleting a handled message failed; it will be handled again");
            }
        }
    }

    /// Queues what one event names, in its account; a receiver for each.
    fn submit(&self, event: &Event, message_id: &str) -> Vec<oneshot::Receiver<Answer>> {
        self.metrics.delivery_lag(event.time);
        let trigger = Trigger {
            event_id: event.id.clone(),
            event_time: event.time,
            sets_password: event.sets_password,
            recheck: false,
            written: event.written.clone(),
        };
        let targets = match &event.effect {
            Effect::Reconcile(targets) => targets,
            Effect::Failed | Effect::Unmanaged => {
                tracing::debug!(message_id, event = %event.name, effect = ?event.effect, "event ignored");
                return Vec::new();
            }
        };
        let Some(account) = self.dispatch.account_of(event.account.as_deref()) else {
            tracing::info!(message_id, event = %event.name, account = event.account.as_deref(), "event of an account not served: ignored");
            return Vec::new();
        };
        let task = |target: &Target| match target {
            Target::Key(key, facets) => (work(&account, key), *facets),
            Target::Expand(expansion) => (Task::Expand(account.clone(), expansion.clone()), Facets::PERMISSIONS),
        };
        targets
            .iter()
            .map(|target| {
                let (task, facets) = task(target);
                self.dispatch.submit(task, facets, trigger.clone())
            })
            .collect()
    }

    /// Waits for every answer, keeping the message invisible meanwhile; the
    /// backoff after which to receive it again if any failed. A failed key is
    /// retried after its backoff; so is its message, which otherwise would
    /// come back sooner and find the key still in backoff. A message whose
    /// keys were dropped at shutdown comes back at its visibility timeout.
    async fn answers(&self, receipt: &str, waits: Vec<oneshot::Receiver<Answer>>) -> Option<Duration> {
        let mut all_done = std::pin::pin!(join_all(waits));
        let answers = loop {
            tokio::select! {
                answers = &mut all_done => break answers,
                () = tokio::time::sleep(self.visibility / 3) => self.keep_invisible(receipt, self.visibility).await,
            }
        };
        answers.into_iter().fold(None, |retry, answer| match answer {
            Ok(Ok(())) => retry,
            Ok(Err(backoff)) => Some(retry.map_or(backoff, |r: Duration| r.max(backoff))),
            Err(_) => Some(retry.unwrap_or_default()),
        })
    }

    /// Keeps the message invisible for `how_long` from now: a long reconcile
    /// must not let it reappear for another receiver.
    async fn keep_invisible(&self, receipt: &str, how_long: Duration) {
        let seconds = i32::try_from(how_long.min(MAX_VISIBILITY).as_secs()).unwrap_or(i32::MAX);
        let extend = self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await;
        if let Err(error) = extend.during("sqs:ChangeMessageVisibility") {
            tracing::warn!(%error, "changing a message's visibility failed");
        }
    }
}

fn work(account: &AccountId, key: &Key) -> Task {
    Task::Reconcile(Work {
        account: account.clone(),
        key: key.clone(),
    })
}
