//! SQS: long-poll CloudTrail events and delete each message only once every
//! key it named has reconciled successfully, or once it is known to be
//! irrelevant. A body that cannot be parsed is never deleted: the queue's
//! redrive policy moves it to the dead-letter queue.
//!
//! At most `max_in_flight` messages are held at once: a receiver takes its
//! permits before it asks SQS for messages, so a backlog after an outage
//! waits in SQS, not in memory.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{Message, QueueAttributeName};
use futures::future::join_all;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::cloudtrail::{self, Effect};
use crate::aws::{Call, Clients};
use crate::error::Error;
use crate::http::Health;
use crate::key::{AccountId, Key, Work};
use crate::metrics::Metrics;
use crate::observe;
use crate::runtime::members::Members;
use crate::runtime::queue::{Trigger, WorkQueue};

const WAIT_SECONDS: i32 = 20;
const BATCH: usize = 10;
/// SQS's longest visibility timeout.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);
/// When a group's members cannot be read, its message comes back after this long.
const GROUP_RETRY: Duration = Duration::from_secs(5);

pub struct Ingest {
    client: aws_sdk_sqs::Client,
    /// Which accounts are served, and each one's clients, to read who is in
    /// a group whose policies an event changed.
    members: Arc<Members>,
    queue_url: String,
    /// The queue's visibility timeout; a message in work is kept invisible for this long again and again.
    visibility: Duration,
    in_flight: Arc<Semaphore>,
    work: Arc<WorkQueue>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

impl Ingest {
    /// Reads the queue's settings, and warns when nothing would catch a poison message.
    pub async fn connect(
        clients: &Clients,
        queue_url: String,
        max_in_flight: usize,
        work: Arc<WorkQueue>,
        members: Arc<Members>,
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
            client,
            members,
            queue_url,
            visibility,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            work,
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
                self.metrics.sqs_message("malformed");
                return;
            }
        };
        let mut waits = Vec::new();
        let mut unread_group = None;
        for event in &events {
            self.metrics.delivery_lag(event.time);
            let trigger = Trigger {
                event_id: event.id.clone(),
                event_time: event.time,
                sets_password: event.sets_password,
            };
            let account = self.members.account_of(event.account.as_deref());
            match (&event.effect, account) {
                (Effect::Reconcile(keys), Some(account)) => {
                    for (key, facets) in keys {
                        let keys = match key {
                            // A group's policies changed: what its members may do changed.
                            Key::Group(group) => match self.group_members(&account, group).await {
                                Ok(members) => members.into_iter().map(Key::User).collect(),
                                Err(error) => {
                                    tracing::warn!(message_id = id, %group, %error, "reading a group's members failed");
                                    unread_group = Some(GROUP_RETRY);
                                    Vec::new()
                                }
                            },
                            key => vec![key.clone()],
                        };
                        waits.extend(
                            keys.into_iter()
                                .map(|key| self.work.wait_for(Work::new(&account, key), *facets, trigger.clone())),
                        );
                    }
                }
                (Effect::Reconcile(_), None) => {
                    tracing::info!(message_id = id, event = %event.name, account = event.account.as_deref(), "event of an account not served: ignored");
                }
                (Effect::Failed | Effect::Unmanaged, _) => {
                    tracing::debug!(message_id = id, event = %event.name, effect = ?event.effect, "event ignored");
                }
            }
        }
        let outcome = if waits.is_empty() && unread_group.is_none() {
            "ignored"
        } else {
            "acked"
        };
        let mut all_done = std::pin::pin!(join_all(waits));
        let answers = loop {
            tokio::select! {
                answers = &mut all_done => break answers,
                () = tokio::time::sleep(self.visibility / 3) => self.keep_invisible(receipt, self.visibility).await,
            }
        };
        // A failed key is retried after its backoff; so is its message, which
        // otherwise would come back sooner and find the key still in backoff.
        // A message whose keys were dropped at shutdown comes back at its visibility timeout.
        let mut retry = unread_group;
        for answer in answers {
            match answer {
                Ok(Ok(())) => {}
                Ok(Err(backoff)) => retry = Some(retry.map_or(backoff, |r: Duration| r.max(backoff))),
                Err(_) => retry = Some(retry.unwrap_or_default()),
            }
        }
        if let Some(backoff) = retry {
            tracing::info!(
                message_id = id,
                retry_in_seconds = backoff.as_secs(),
                "not every reconcile succeeded; the message will be received again"
            );
            if !backoff.is_zero() {
                self.keep_invisible(receipt, backoff).await;
            }
            self.metrics.sqs_message("retried");
            return;
        }
        let deleted = self
            .client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await;
        match deleted.during("sqs:DeleteMessage") {
            Ok(_) => self.metrics.sqs_message(outcome),
            Err(error) => {
                tracing::warn!(message_id = id, %error, "deleting a handled message failed; it will be handled again");
            }
        }
    }

    async fn group_members(&self, account: &AccountId, group: &str) -> Result<Vec<String>, Error> {
        let reconciler = self.members.reconciler(account).await?;
        observe::group_members(&reconciler.clients().iam, group).await
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
