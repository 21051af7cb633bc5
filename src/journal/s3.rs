//! The journal in S3, under `s3://BUCKET/PREFIX/`: it outlives the pod, and
//! every replica writes to it. An intent is its own object, written before
//! the change; outcomes wait (2 s at most) to ride with the next intent, so
//! while changes come a change costs one `PutObject`, a burst's last
//! outcomes one more, and a reconcile that changes nothing costs none.
//!
//! Objects are named `PREFIX/YYYY/MM/DD/HHMMSS.mmmZ-ID.jsonl`, so they list
//! in time order and `undo --since` starts where it should.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use super::record::{self, Record};
use crate::aws::Call;
use crate::error::Error;

/// Objects fetched at once when the journal is read.
const READS_IN_FLIGHT: usize = 8;

/// How long an outcome waits for an intent to ride with.
const OUTCOME_WAITS: Duration = Duration::from_secs(2);

pub(super) struct S3Sink {
    client: Client,
    bucket: String,
    prefix: String,
    /// Outcomes not yet written, oldest first.
    pending: Mutex<Vec<Record>>,
    /// A task waits to write outcomes no intent carried.
    flush_waiting: AtomicBool,
}

impl S3Sink {
    /// Checks that the prefix can be listed, so a journal that cannot be
    /// written stops the start, not the first change.
    pub(super) async fn open(client: Client, bucket: &str, prefix: &str) -> Result<S3Sink, Error> {
        client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(1)
            .send()
            .await
            .during("s3:ListBucket")
            .map_err(|e| Error::Journal(format!("s3://{bucket}/{prefix}: {e}")))?;
        Ok(S3Sink {
            client,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            pending: Mutex::new(Vec::new()),
            flush_waiting: AtomicBool::new(false),
        })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<Record>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `intent`, with the outcomes waiting, as one object. On an
    /// error the outcomes wait on.
    pub(super) async fn intend(&self, intent: Record) -> Result<(), Error> {
        let mut batch = std::mem::take(&mut *self.pending());
        let waiting = batch.len();
        batch.push(intent);
        let written = self.put(&batch).await;
        if written.is_err() {
            batch.truncate(waiting);
            self.pending().splice(0..0, batch);
        }
        written
    }

    /// Keeps an outcome until the next intent carries it; `true` if no task
    /// waits to write it otherwise, and one ([`S3Sink::flush_when_stale`]) must start.
    pub(super) fn conclude(&self, outcome: Record) -> bool {
        self.pending().push(outcome);
        !self.flush_waiting.swap(true, Ordering::AcqRel)
    }

    /// Writes the outcomes that waited `OUTCOME_WAITS` with no intent to
    /// carry them; returns once none waits.
    pub(super) async fn flush_when_stale(&self) {
        loop {
            let oldest = self.pending().first().map(|outcome| outcome.time);
            let Some(oldest) = oldest else {
                self.flush_waiting.store(false, Ordering::Release);
                // An outcome kept in between saw this task waiting, and started none.
                if self.pending().is_empty() || self.flush_waiting.swap(true, Ordering::AcqRel) {
                    return;
                }
                continue;
            };
            let waited = (Utc::now() - oldest).to_std().unwrap_or_default();
            if waited < OUTCOME_WAITS {
                tokio::time::sleep(OUTCOME_WAITS - waited).await;
            } else if let Err(error) = self.flush().await {
                tracing::error!(%error, "the journal did not take the outcomes waiting; they are tried again");
                tokio::time::sleep(OUTCOME_WAITS).await;
            }
        }
    }

    /// Writes the outcomes waiting, if any.
    pub(super) async fn flush(&self) -> Result<(), Error> {
        let batch = std::mem::take(&mut *self.pending());
        if batch.is_empty() {
            return Ok(());
        }
        let written = self.put(&batch).await;
        if written.is_err() {
            self.pending().splice(0..0, batch);
        }
        written
    }

    async fn put(&self, batch: &[Record]) -> Result<(), Error> {
        let Some(last) = batch.last() else { return Ok(()) };
        let key = format!("{}{}", self.prefix, object_name(last.time, &last.id));
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .body(ByteStream::from(record::lines(batch).into_bytes()))
            .send()
            .await
            .during("s3:PutObject")
            .map_err(|e| Error::Journal(format!("s3://{}/{}: {e}", self.bucket, self.prefix)))
            .map(drop)
    }
}

fn object_name(time: DateTime<Utc>, id: &str) -> String {
    format!("{}-{id}.jsonl", time.format("%Y/%m/%d/%H%M%S%.3fZ"))
}

/// Every record under the prefix, of objects written at or after `since`.
pub(super) async fn read(
    client: &Client,
    bucket: &str,
    prefix: &str,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Record>, Error> {
    let start_after = since.map(|at| format!("{prefix}{}", at.format("%Y/%m/%d/%H%M%S%.3fZ")));
    let mut keys: Vec<String> = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_start_after(start_after)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.during("s3:ListBucket")?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
    }
    let texts: Vec<(String, String)> = futures::stream::iter(keys)
        .map(|key| async move {
            let object = client
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .during("s3:GetObject")?;
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|e| Error::Journal(format!("s3://{bucket}/{key}: {e}")))?;
            Ok::<_, Error>((key, String::from_utf8_lossy(&bytes.into_bytes()).into_owned()))
        })
        .buffered(READS_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut records = Vec::new();
    for (key, text) in texts {
        record::parse(&text, &key, &mut records);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_list_in_time_order() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let earlier = object_name(at("2026-11-29T09:59:59.999Z"), "ffff");
        let later = object_name(at("2026-11-29T10:00:00.001Z"), "0000");
        assert!(earlier < later, "{earlier} < {later}");
        assert_eq!(later, "2026/11/29/100000.001Z-0000.jsonl");
    }
}
