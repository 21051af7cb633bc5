//! The quarantine policies as they are in IAM: their default version's document.

use aws_sdk_iam::Client;

use crate::aws::Call;
use crate::document;
use crate::error::Error;
use crate::quarantine::QuarantinePolicy;
use crate::state::{Caller, LiveQuarantinePolicy};

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

pub(crate) async fn quarantine_policies(iam: &Client, caller: &Caller) -> Result<Vec<LiveQuarantinePolicy>, Error> {
    let reads = QuarantinePolicy::ALL.map(|policy| quarantine_policy(iam, caller, policy));
    let found = futures::future::try_join_all(reads).await?;
    Ok(found.into_iter().flatten().collect())
}

/// `None` when the policy does not exist (yet).
pub(crate) async fn quarantine_policy(
    iam: &Client,
    caller: &Caller,
    policy: QuarantinePolicy,
) -> Result<Option<LiveQuarantinePolicy>, Error> {
    let arn = caller.quarantine_arn(policy);
    let found = iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .or_absent("iam:GetPolicy", NO_SUCH_ENTITY)?;
    let Some(default_version) = found
        .as_ref()
        .and_then(|f| f.policy())
        .and_then(|p| p.default_version_id())
        .map(str::to_owned)
    else {
        return Ok(None);
    };
    let version = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(&default_version)
        .send()
        .await
        .or_absent("iam:GetPolicyVersion", NO_SUCH_ENTITY)?;
    let document = version
        .as_ref()
        .and_then(|v| v.policy_version())
        .and_then(|v| v.document())
        .map(document::decode)
        .unwrap_or_default();
    Ok(Some(LiveQuarantinePolicy {
        policy,
        arn,
        default_version,
        document,
    }))
}
