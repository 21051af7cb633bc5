//! Creating quarantine policies, and making the shipped document their
//! default version again when someone changed it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_iam::Client;

use crate::aws::Call;
use crate::error::Error;
use crate::observe;
use crate::quarantine::{self, QuarantinePolicy};
use crate::state::{Caller, LiveQuarantinePolicy};

/// IAM keeps at most five versions of a managed policy.
const MAX_VERSIONS: usize = 5;
/// How long a check before attaching stays good. A change to the policy in
/// the meantime is an event, which re-checks it at once.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// When each policy was last found holding the shipped document.
#[derive(Default)]
pub(super) struct Checked(Mutex<HashMap<QuarantinePolicy, Instant>>);

impl Checked {
    pub(super) fn recently(&self, policy: QuarantinePolicy) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&policy)
            .is_some_and(|at| at.elapsed() < CHECK_EVERY)
    }

    pub(super) fn mark(&self, policy: QuarantinePolicy) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(policy, Instant::now());
    }

    pub(super) fn forget(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Reads the policy, creating it if it does not exist. `Ok(None)`: it is
/// there with the shipped document; `Ok(Some(live))`: it is not, and must be restored.
pub(super) async fn create_or_read(
    iam: &Client,
    caller: &Caller,
    policy: QuarantinePolicy,
) -> Result<Option<LiveQuarantinePolicy>, Error> {
    // Twice at most: if another writer created it between our read and our
    // create, what it created is read and checked like any other.
    for _ in 0..2 {
        if let Some(live) = observe::quarantine_policy(iam, caller, policy).await? {
            let tampered = !policy.is_shipped(caller.partition(), &live.document);
            return Ok(tampered.then_some(live));
        }
        let created = iam
            .create_policy()
            .policy_name(policy.name())
            .path(quarantine::PATH)
            .description(policy.description())
            .policy_document(policy.document(caller.partition()))
            .send()
            .await
            .or_absent("iam:CreatePolicy", "EntityAlreadyExists")?;
        if created.is_some() {
            return Ok(None);
        }
    }
    Err(Error::Internal(format!(
        "{} exists and does not exist by turns",
        policy.name()
    )))
}

/// A version of a quarantine policy, with its document.
pub(super) struct Version {
    pub id: String,
    pub document: String,
}

/// The oldest non-default version, when IAM's five are taken and one must
/// go to make room for the shipped document.
pub(super) async fn oldest_if_full(iam: &Client, arn: &str) -> Result<Option<Version>, Error> {
    let versions = iam
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .during("iam:ListPolicyVersions")?;
    if versions.versions().len() < MAX_VERSIONS {
        return Ok(None);
    }
    let oldest = versions
        .versions()
        .iter()
        .filter(|v| !v.is_default_version())
        .min_by_key(|v| v.create_date().map(|d| (d.secs(), d.subsec_nanos())));
    let Some(id) = oldest.and_then(|v| v.version_id()) else {
        return Ok(None);
    };
    let version = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(id)
        .send()
        .await
        .during("iam:GetPolicyVersion")?;
    let document = version
        .policy_version()
        .and_then(|v| v.document())
        .map(crate::document::decode)
        .unwrap_or_default();
    Ok(Some(Version {
        id: id.to_owned(),
        document,
    }))
}

pub(super) async fn delete_version(iam: &Client, arn: &str, id: &str) -> Result<(), Error> {
    iam.delete_policy_version()
        .policy_arn(arn)
        .version_id(id)
        .send()
        .await
        .or_absent("iam:DeletePolicyVersion", "NoSuchEntity")
        .map(drop)
}

/// Makes the shipped document the policy's default version.
pub(super) async fn make_default(
    iam: &Client,
    caller: &Caller,
    policy: QuarantinePolicy,
    arn: &str,
) -> Result<(), Error> {
    iam.create_policy_version()
        .policy_arn(arn)
        .policy_document(policy.document(caller.partition()))
        .set_as_default(true)
        .send()
        .await
        .during("iam:CreatePolicyVersion")
        .map(drop)
}
