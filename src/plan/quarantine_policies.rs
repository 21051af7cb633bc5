//! iam-warden's own quarantine policies hold the document it ships. Whoever
//! could change a default version would decide what iam-warden attaches.

use super::{Change, Draft, Resource};
use crate::policy::Rule;
use crate::quarantine::QuarantinePolicy;
use crate::state::LiveQuarantinePolicy;

pub(super) fn evaluate(live: &[LiveQuarantinePolicy], partition: &str, draft: &mut Draft) {
    for policy in live.iter().filter(|p| !p.policy.is_shipped(partition, &p.document)) {
        let rule = match policy.policy {
            QuarantinePolicy::DenyWithoutMfa => Rule::Mfa,
            QuarantinePolicy::DenyAll => Rule::OidcTrust,
        };
        let reason = format!(
            "default version {} is not the document iam-warden ships; its own document becomes the default again",
            policy.default_version
        );
        let before = serde_json::json!({
            "defaultVersion": policy.default_version,
            "document": serde_json::from_str::<serde_json::Value>(&policy.document)
                .unwrap_or_else(|_| policy.document.clone().into()),
        });
        let resource = Resource::QuarantinePolicy {
            policy: policy.policy,
            arn: policy.arn.clone(),
        };
        let restore = Change::RestoreQuarantinePolicy {
            policy: policy.policy,
            arn: policy.arn.clone(),
        };
        draft.violation(rule, resource, Some(restore), reason, &before);
    }
}
