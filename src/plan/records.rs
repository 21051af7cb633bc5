//! The records iam-warden keeps on a user, as tags, of what IAM does not
//! remember: when it deactivated each key (`deleteAfter` counts from it),
//! and when it required a password reset (so a reset is required once,
//! however old the credential report that still shows the old password).

use chrono::{DateTime, SecondsFormat, Utc};

use crate::state::User;

pub(super) const DEACTIVATION_PREFIX: &str = "iam-warden/deactivated/";
/// The tag that records when iam-warden required the user to choose a new password.
pub const PASSWORD_RESET_TAG: &str = "iam-warden/password-reset";

/// The tag that records when iam-warden saw key `id` deactivated.
pub fn deactivation_tag(id: &str) -> String {
    format!("{DEACTIVATION_PREFIX}{id}")
}

/// A record's value: the time, to the second, in UTC.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn parse(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&Utc))
}

/// When iam-warden last required the user to choose a new password, if its
/// tags were read and say so.
pub(super) fn password_reset(user: &User) -> Option<DateTime<Utc>> {
    user.tags.as_ref()?.get(PASSWORD_RESET_TAG).and_then(|v| parse(v))
}
