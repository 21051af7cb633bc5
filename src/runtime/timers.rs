//! What the daemon does on a clock: the periodic resync, and reading the
//! account list again.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::members::Members;
use super::queue::WorkQueue;

/// The backstop for anything events missed, jittered by ±10% so many
/// replicas or restarts do not call AWS in step.
pub async fn resync(queue: Arc<WorkQueue>, members: Arc<Members>, interval: Duration, cancel: CancellationToken) {
    loop {
        let jitter = 0.9 + rand::random::<f64>() * 0.2;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval.mul_f64(jitter)) => queue.resync_all(&members.owned()),
        }
    }
}

/// Reads the account list again; an account new to this replica is resynced at once.
pub async fn refresh(queue: Arc<WorkQueue>, members: Arc<Members>, interval: Duration, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => match members.refresh().await {
                Ok(added) => {
                    if !added.is_empty() {
                        tracing::info!(added = added.len(), "new accounts to serve; resyncing them");
                    }
                    queue.resync_all(&added);
                }
                Err(error) => tracing::warn!(%error, "reading the account list failed; the last one stays"),
            },
        }
    }
}
