pub(crate) mod cloudtrail;
mod deletions;
pub(crate) mod sqs;
