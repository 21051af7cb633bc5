//! Reading AWS: the account's state as the plain structs of `state`, in two
//! kinds that types keep apart. A [`Live`] observation is read live, just
//! now, of the keys a reconcile is about; only a plan made from one can be
//! executed. [`Suspects`] come from the full scan (the credential report,
//! up to four hours old, and the authorization details): keys to read live,
//! their facets and their deadlines, never a plan. No SDK type leaves here.

mod access_analyzer;
mod authorization;
mod caller;
mod cloudtrail;
mod console;
mod credential_report;
mod documents;
mod held;
mod iam;
mod keys;
mod live;
mod passwords;
mod permissions;
mod quarantine;
mod reader;
mod scan;
mod user;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use live::{LivePlan, LiveReversal, Made, Refusal};
pub(crate) use quarantine::quarantine_policy;
pub use reader::Reader;
pub use scan::{Seen, Suspects};
pub(crate) use user::{group_members, policy_holders};

fn to_utc(time: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos()).unwrap_or_default()
}

fn tag_map<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    tags.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// Who `clients` act as, and the OIDC providers that identity trusts.
pub async fn who(clients: &crate::aws::Clients) -> Result<crate::state::Caller, crate::error::Error> {
    caller::caller(clients).await
}

/// Reads only what the policy manages.
async fn when<T>(
    wanted: bool,
    read: impl std::future::Future<Output = Result<T, crate::error::Error>>,
) -> Result<Option<T>, crate::error::Error> {
    if wanted { read.await.map(Some) } else { Ok(None) }
}
