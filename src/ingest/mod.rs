pub(crate) mod cloudtrail;
pub(crate) mod sqs;
