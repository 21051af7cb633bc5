//! Deleting handled messages in batches: one DeleteMessageBatch takes up to
//! ten receipts where DeleteMessage takes one, so under a stream of events
//! the queue costs about one call per message (the receive) instead of two.
//!
//! A handled message waits a moment for others to share its call, and its
//! handler waits for the answer about its own receipt: a message is still
//! deleted only after its reconciles succeeded, and a shutdown that waits
//! for the handlers waits for their deletions too.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use tokio::sync::{mpsc, oneshot};

use crate::aws::Call;

/// SQS's largest batch.
const BATCH: usize = 10;
/// The longest a handled message waits for others.
const MAX_LINGER: Duration = Duration::from_secs(1);

/// Why a message was not deleted; it will be received and handled again.
pub(super) type NotDeleted = String;

pub(super) struct Deletions {
    requests: mpsc::UnboundedSender<Request>,
}

struct Request {
    receipt: String,
    answer: oneshot::Sender<Result<(), NotDeleted>>,
}

impl Deletions {
    /// Starts the task that deletes; it ends once this is dropped. A message
    /// waits at most a tenth of the queue's `visibility`, far from the
    /// moment it would be received again.
    pub(super) fn start(client: aws_sdk_sqs::Client, queue_url: String, visibility: Duration) -> Deletions {
        let (requests, received) = mpsc::unbounded_channel();
        let linger = MAX_LINGER.min(visibility / 10);
        tokio::spawn(delete_in_batches(client, queue_url, linger, received));
        Deletions { requests }
    }

    /// Deletes the message of `receipt`, in a batch with those handled within the linger.
    pub(super) async fn delete(&self, receipt: &str) -> Result<(), NotDeleted> {
        let (answer, answered) = oneshot::channel();
        let request = Request {
            receipt: receipt.to_owned(),
            answer,
        };
        self.requests
            .send(request)
            .map_err(|_| "the deleting task has stopped".to_owned())?;
        answered
            .await
            .unwrap_or_else(|_| Err("the deleting task has stopped".to_owned()))
    }
}

async fn delete_in_batches(
    client: aws_sdk_sqs::Client,
    queue_url: String,
    linger: Duration,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    while let Some(first) = requests.recv().await {
        let mut batch = vec![first];
        let waited = tokio::time::sleep(linger);
        tokio::pin!(waited);
        while batch.len() < BATCH {
            tokio::select! {
                next = requests.recv() => match next {
                    Some(request) => batch.push(request),
                    None => break,
                },
                () = &mut waited => break,
            }
        }
        delete_batch(&client, &queue_url, batch).await;
    }
}

/// One DeleteMessageBatch; each request is answered for its own entry.
async fn delete_batch(client: &aws_sdk_sqs::Client, queue_url: &str, batch: Vec<Request>) {
    let entries: Result<Vec<_>, _> = batch
        .iter()
        .enumerate()
        .map(|(n, request)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(n.to_string())
                .receipt_handle(&request.receipt)
                .build()
        })
        .collect();
    let sent = match entries {
        Ok(entries) => client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            // DeleteMessageBatch needs the permission of DeleteMessage.
            .during("sqs:DeleteMessage")
            .map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    let failed: HashMap<String, NotDeleted> = match &sent {
        Ok(output) => output
            .failed()
            .iter()
            .map(|f| {
                (
                    f.id().to_owned(),
                    format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                )
            })
            .collect(),
        Err(_) => HashMap::new(),
    };
    for (n, request) in batch.into_iter().enumerate() {
        let result = match (&sent, failed.get(&n.to_string())) {
            (Err(why), _) | (Ok(_), Some(why)) => Err(why.clone()),
            (Ok(_), None) => Ok(()),
        };
        // A handler that stopped waiting has nothing left to do with the answer.
        let _ = request.answer.send(result);
    }
}
