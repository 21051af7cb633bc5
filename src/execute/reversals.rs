//! The changes only `undo` makes, each putting back one the daemon made.
//! They run as whoever runs `undo`, with that person's permissions: the
//! daemon's own policy grants none of them (`tests/permissions.rs`).

use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;

use crate::aws::Call;
use crate::error::Error;
use crate::name::Name;
use crate::state::OidcProvider;

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

pub(super) async fn delete_password_policy(iam: &Client) -> Result<(), Error> {
    let delete = iam.delete_account_password_policy().send().await;
    delete
        .or_absent("iam:DeleteAccountPasswordPolicy", NO_SUCH_ENTITY)
        .map(drop)
}

pub(super) async fn put_user_policy(iam: &Client, user: &str, name: &str, document: &str) -> Result<(), Error> {
    let put = iam
        .put_user_policy()
        .user_name(user)
        .policy_name(name)
        .policy_document(document)
        .send()
        .await;
    put.during("iam:PutUserPolicy").map(drop)
}

pub(super) async fn attach_group_policy(iam: &Client, group: &Name, arn: &str) -> Result<(), Error> {
    let attach = iam
        .attach_group_policy()
        .group_name(group.as_str())
        .policy_arn(arn)
        .send()
        .await;
    attach.during("iam:AttachGroupPolicy").map(drop)
}

pub(super) async fn put_group_policy(iam: &Client, group: &Name, name: &str, document: &str) -> Result<(), Error> {
    let put = iam
        .put_group_policy()
        .group_name(group.as_str())
        .policy_name(name)
        .policy_document(document)
        .send()
        .await;
    put.during("iam:PutGroupPolicy").map(drop)
}

pub(super) async fn put_role_policy(iam: &Client, role: &Name, name: &str, document: &str) -> Result<(), Error> {
    let put = iam
        .put_role_policy()
        .role_name(role.as_str())
        .policy_name(name)
        .policy_document(document)
        .send()
        .await;
    put.during("iam:PutRolePolicy").map(drop)
}

pub(super) async fn add_user_to_group(iam: &Client, user: &str, group: &str) -> Result<(), Error> {
    let add = iam.add_user_to_group().user_name(user).group_name(group).send().await;
    add.during("iam:AddUserToGroup").map(drop)
}

pub(super) async fn create_oidc_provider(iam: &Client, provider: &OidcProvider) -> Result<(), Error> {
    let tags = provider
        .tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(e.to_string()))?;
    // IAM reports a provider's URL without its scheme, and creates one only with it.
    let url = match provider.url.starts_with("https://") {
        true => provider.url.clone(),
        false => format!("https://{}", provider.url),
    };
    let create = iam
        .create_open_id_connect_provider()
        .url(url)
        .set_client_id_list(Some(provider.client_ids.clone()))
        .set_thumbprint_list(Some(provider.thumbprints.clone()))
        .set_tags(Some(tags))
        .send()
        .await;
    create.during("iam:CreateOpenIDConnectProvider").map(drop)
}
