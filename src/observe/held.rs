//! Whether iam-warden's quarantine holds a user or a role: its managed
//! policy attached, or the inline policy of the same name (where a quota left
//! no room for the managed one) holding the document iam-warden ships.

use aws_sdk_iam::Client;

use crate::aws::Call;
use crate::document;
use crate::error::Error;
use crate::name::Name;
use crate::quarantine::{self, QuarantinePolicy};
use crate::state::Caller;

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

#[derive(Clone, Copy)]
pub(super) enum Holder<'a> {
    User(&'a Name),
    Role(&'a Name),
}

/// `None` when the user or role is gone.
pub(super) async fn by(
    iam: &Client,
    holder: Holder<'_>,
    policy: QuarantinePolicy,
    caller: &Caller,
) -> Result<Option<bool>, Error> {
    let (attached, inline) = tokio::try_join!(attached(iam, holder), inline_names(iam, holder))?;
    let (Some(attached), Some(inline)) = (attached, inline) else {
        return Ok(None);
    };
    if attached.contains(&caller.quarantine_arn(policy)) {
        return Ok(Some(true));
    }
    if !inline.iter().any(|name| name == policy.name()) {
        return Ok(Some(false));
    }
    let text = inline_document(iam, holder, policy.name()).await?;
    Ok(Some(text.is_some_and(|t| policy.is_shipped(caller.partition(), &t))))
}

/// The ARNs of the quarantine policies attached; `None` when the principal is gone.
async fn attached(iam: &Client, holder: Holder<'_>) -> Result<Option<Vec<String>>, Error> {
    let arns = |policies: &[aws_sdk_iam::types::AttachedPolicy]| -> Vec<String> {
        policies
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect()
    };
    Ok(match holder {
        Holder::User(user) => {
            let listed = iam
                .list_attached_user_policies()
                .user_name(user.as_str())
                .path_prefix(quarantine::PATH)
                .send()
                .await;
            listed
                .or_absent("iam:ListAttachedUserPolicies", NO_SUCH_ENTITY)?
                .map(|o| arns(o.attached_policies()))
        }
        Holder::Role(role) => {
            let listed = iam
                .list_attached_role_policies()
                .role_name(role.as_str())
                .path_prefix(quarantine::PATH)
                .send()
                .await;
            listed
                .or_absent("iam:ListAttachedRolePolicies", NO_SUCH_ENTITY)?
                .map(|o| arns(o.attached_policies()))
        }
    })
}

/// The names of the principal's inline policies; `None` when it is gone.
async fn inline_names(iam: &Client, holder: Holder<'_>) -> Result<Option<Vec<String>>, Error> {
    Ok(match holder {
        Holder::User(user) => {
            let listed = iam.list_user_policies().user_name(user.as_str()).send().await;
            listed
                .or_absent("iam:ListUserPolicies", NO_SUCH_ENTITY)?
                .map(|o| o.policy_names().to_vec())
        }
        Holder::Role(role) => {
            let listed = iam.list_role_policies().role_name(role.as_str()).send().await;
            listed
                .or_absent("iam:ListRolePolicies", NO_SUCH_ENTITY)?
                .map(|o| o.policy_names().to_vec())
        }
    })
}

async fn inline_document(iam: &Client, holder: Holder<'_>, name: &str) -> Result<Option<String>, Error> {
    Ok(match holder {
        Holder::User(user) => {
            let got = iam
                .get_user_policy()
                .user_name(user.as_str())
                .policy_name(name)
                .send()
                .await;
            got.or_absent("iam:GetUserPolicy", NO_SUCH_ENTITY)?
                .map(|o| document::decode(o.policy_document()))
        }
        Holder::Role(role) => {
            let got = iam
                .get_role_policy()
                .role_name(role.as_str())
                .policy_name(name)
                .send()
                .await;
            got.or_absent("iam:GetRolePolicy", NO_SUCH_ENTITY)?
                .map(|o| document::decode(o.policy_document()))
        }
    })
}
