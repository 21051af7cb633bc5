//! The journal: what iam-warden is about to change, made durable before the
//! change (design.md §8.2), and what became of it. The audit lines on stderr
//! are for log pipelines; this is what `undo` trusts, and all it reads.
//!
//! A file (appended and synced) or an S3 prefix (which outlives the pod).
//! No journal, no change: an intent that cannot be written fails its change.

mod file;
mod history;
mod record;
mod s3;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use history::{History, Made, Selection};
pub use record::{Concluded, Ended, Entry, Intent, Phase, Record};

use crate::account::AccountId;
use crate::aws::Clients;
use crate::error::Error;
use crate::settings::JournalLocation;

#[derive(Clone)]
pub struct Journal(Arc<Sink>);

enum Sink {
    File(file::FileSink),
    S3(s3::S3Sink),
}

impl Journal {
    /// Opens the journal at `location`; S3 is reached with `clients`, the
    /// identity iam-warden started as.
    pub async fn open(location: &JournalLocation, clients: &Clients) -> Result<Journal, Error> {
        let sink = match location {
            JournalLocation::File(path) => Sink::File(file::FileSink::open(path)?),
            JournalLocation::S3 { bucket, prefix } => Sink::S3(s3::S3Sink::open(clients.s3(), bucket, prefix).await?),
        };
        Ok(Journal(Arc::new(sink)))
    }

    /// Writes the intent of a change in `account`; on `Ok` it is durable,
    /// and the change may be made.
    pub async fn intend(&self, account: &str, intent: Intent) -> Result<Entry, Error> {
        let entry = Entry::new(AccountId::parse(account).map_err(Error::Journal)?);
        let record = entry.record(Phase::Intent(Box::new(intent)));
        match &*self.0 {
            Sink::File(file) => file.append(&[record]).await?,
            Sink::S3(s3) => s3.intend(record).await?,
        }
        Ok(entry)
    }

    /// Records what became of the change. An outcome that cannot be written
    /// is logged: the change is made, and `undo` judges an intent without
    /// an outcome by what AWS holds.
    pub async fn conclude(&self, entry: &Entry, outcome: Ended, detail: Option<String>) {
        let record = entry.record(Phase::Outcome(Concluded { outcome, detail }));
        match &*self.0 {
            Sink::File(file) => {
                if let Err(error) = file.append(&[record]).await {
                    tracing::error!(%error, id = %entry.id, "the journal did not take a change's outcome");
                }
            }
            Sink::S3(s3) => {
                if s3.conclude(record) {
                    let journal = self.clone();
                    tokio::spawn(async move {
                        if let Sink::S3(s3) = &*journal.0 {
                            s3.flush_when_stale().await;
                        }
                    });
                }
            }
        }
    }

    /// Writes whatever waits: at the end of a command, and at shutdown.
    pub async fn flush(&self) {
        if let Sink::S3(s3) = &*self.0
            && let Err(error) = s3.flush().await
        {
            tracing::error!(%error, "the journal did not take the outcomes waiting; they are tried again with the next change");
        }
    }
}

/// Every record in the journal at `location`, of changes made at or after
/// `since` where the sink can skip older ones.
pub async fn read(
    location: &JournalLocation,
    clients: &Clients,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Record>, Error> {
    match location {
        JournalLocation::File(path) => file::read(path),
        JournalLocation::S3 { bucket, prefix } => s3::read(&clients.s3(), bucket, prefix, since).await,
    }
}
