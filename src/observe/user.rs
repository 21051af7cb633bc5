//! A user read live, facet by facet: a reconcile reads only the facets it
//! judges, and the tags only when a decision needs them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::StatusType;

use super::scan::Seen;
use super::to_utc;
use crate::aws::Call;
use crate::document;
use crate::error::Error;
use crate::quarantine;
use crate::state::{AccessKey, Console, Group, InlinePolicy, LastUse, LoginProfile, ManagedPolicy, Permissions, User};
use crate::work::Facets;

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// What to read of a user.
pub(super) struct UserRead<'a> {
    pub facets: Facets,
    /// The MFA quarantine policy, whose attachment is part of the console facet.
    pub deny_policy: &'a str,
    /// Keys no decision needs the last use of (they are past `maxAge`): it is not read.
    pub skip_last_used: &'a (dyn Fn(bool, chrono::DateTime<chrono::Utc>) -> bool + Sync),
    pub documents: &'a PolicyDocuments,
    /// What the full scan that named the user read of it, seconds ago, live:
    /// its tags and the quarantine's attachment need no second read.
    pub seen: Option<&'a Seen>,
}

impl UserRead<'_> {
    fn seen_quarantined(&self) -> Option<bool> {
        self.seen.map(|seen| seen.quarantined)
    }

    /// The quarantine policy whose attachment the console read must look up:
    /// none when the permissions or the scan tell.
    fn quarantine_to_read(&self, with_permissions: bool) -> Option<&str> {
        (!with_permissions && self.seen_quarantined().is_none()).then_some(self.deny_policy)
    }
}

/// Managed policy documents by policy and version. A version never changes,
/// so a document read once is good until the version is deleted; only the
/// default version id is read each time.
#[derive(Default)]
pub struct PolicyDocuments(Mutex<HashMap<(String, String), String>>);

/// Far more versions than an account's users are attached to; past it, the
/// cache starts again rather than grow.
const DOCUMENTS_KEPT: usize = 4096;

impl PolicyDocuments {
    /// The default version's document; `None` for a policy AWS manages.
    async fn default_document(&self, iam: &Client, arn: &str) -> Result<Option<String>, Error> {
        if arn.contains(":iam::aws:policy/") {
            return Ok(None);
        }
        let found = iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .or_absent("iam:GetPolicy", NO_SUCH_ENTITY)?;
        let Some(version) = found
            .as_ref()
            .and_then(|f| f.policy())
            .and_then(|p| p.default_version_id())
        else {
            return Ok(Some(String::new()));
        };
        let key = (arn.to_owned(), version.to_owned());
        if let Some(document) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Some(document.clone()));
        }
        let read = iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .or_absent("iam:GetPolicyVersion", NO_SUCH_ENTITY)?;
        let document = read
            .as_ref()
            .and_then(|r| r.policy_version())
            .and_then(|v| v.document())
            .map(document::decode)
            .unwrap_or_default();
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= DOCUMENTS_KEPT {
            kept.clear();
        }
        kept.insert(key, document.clone());
        Ok(Some(document))
    }
}

/// `None` when a read that names the user finds it gone.
pub(super) async fn user(iam: &Client, name: String, read: &UserRead<'_>) -> Result<Option<User>, Error> {
    let facets = read.facets;
    let wants = |facet| facets.contains(facet);
    let (console, access_keys, permissions) = tokio::try_join!(
        async {
            match wants(Facets::CONSOLE) {
                // With the permissions, the quarantine comes from the full list of attached policies.
                true => console(iam, &name, read.quarantine_to_read(wants(Facets::PERMISSIONS)))
                    .await
                    .map(|c| c.map(Some)),
                false => Ok(Some(None)),
            }
        },
        async {
            match wants(Facets::KEYS) {
                true => access_keys(iam, &name, read.skip_last_used).await.map(|k| k.map(Some)),
                false => Ok(Some(None)),
            }
        },
        async {
            match wants(Facets::PERMISSIONS) {
                true => permissions(iam, &name, read.documents).await.map(|p| p.map(Some)),
                false => Ok(Some(None)),
            }
        },
    )?;
    let (Some(mut console), Some(access_keys), Some(permissions)) = (console, access_keys, permissions) else {
        return Ok(None);
    };
    if let (Some(console), Some(permissions)) = (&mut console, &permissions) {
        console.deny_policy_attached = permissions.attached.iter().any(|p| p.arn == read.deny_policy);
    } else if let (Some(console), Some(quarantined)) = (&mut console, read.seen_quarantined()) {
        console.deny_policy_attached = quarantined;
    }
    Ok(Some(User {
        name,
        created: None,
        tags: read.seen.map(|seen| seen.tags.clone()),
        console,
        access_keys,
        permissions,
    }))
}

/// The user's tags; `None` if the user is gone.
pub(super) async fn tags(iam: &Client, name: &str) -> Result<Option<BTreeMap<String, String>>, Error> {
    let mut tags = BTreeMap::new();
    let mut pages = iam.list_user_tags().user_name(name).into_paginator().send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListUserTags", NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        tags.extend(page.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())));
    }
    Ok(Some(tags))
}

/// The users in `group`; none if the group is gone.
pub(crate) async fn group_members(iam: &Client, group: &str) -> Result<Vec<String>, Error> {
    let mut members = Vec::new();
    let mut pages = iam.get_group().group_name(group).into_paginator().send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:GetGroup", NO_SUCH_ENTITY)? else {
            break;
        };
        members.extend(page.users().iter().map(|u| u.user_name().to_owned()));
    }
    Ok(members)
}

/// The login profile, and MFA devices only if there is one: the MFA rule is
/// about console users. `deny_policy`: read whether the quarantine is attached.
/// `None` when the user is gone.
async fn console(iam: &Client, user: &str, deny_policy: Option<&str>) -> Result<Option<Console>, Error> {
    let (profile, quarantined) = tokio::try_join!(login_profile(iam, user), async {
        match deny_policy {
            Some(arn) => attached(iam, user, Some(quarantine::PATH))
                .await
                .map(|found| found.map(|arns| arns.iter().any(|a| a == arn))),
            None => Ok(Some(false)),
        }
    })?;
    let Some(deny_policy_attached) = quarantined else {
        return Ok(None);
    };
    let mfa_devices = match &profile {
        Some(_) => mfa_device_count(iam, user).await?,
        None => 0,
    };
    Ok(Some(Console {
        login_profile: profile,
        mfa_devices,
        deny_policy_attached,
    }))
}

async fn login_profile(iam: &Client, user: &str) -> Result<Option<LoginProfile>, Error> {
    let output = iam
        .get_login_profile()
        .user_name(user)
        .send()
        .await
        .or_absent("iam:GetLoginProfile", NO_SUCH_ENTITY)?;
    Ok(output
        .as_ref()
        .and_then(|o| o.login_profile())
        .map(|profile| LoginProfile {
            created: to_utc(profile.create_date()),
            reset_required: profile.password_reset_required(),
            password_last_changed: None,
        }))
}

async fn mfa_device_count(iam: &Client, user: &str) -> Result<usize, Error> {
    let devices: Vec<_> = iam
        .list_mfa_devices()
        .user_name(user)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .during("iam:ListMFADevices")?;
    Ok(devices.len())
}

/// `None` when the user is gone.
async fn access_keys(
    iam: &Client,
    user: &str,
    skip_last_used: &(dyn Fn(bool, chrono::DateTime<chrono::Utc>) -> bool + Sync),
) -> Result<Option<Vec<AccessKey>>, Error> {
    let mut listed = Vec::new();
    let mut pages = iam.list_access_keys().user_name(user).into_paginator().send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListAccessKeys", NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        listed.extend(page.access_key_metadata().iter().cloned());
    }
    let reads = listed.into_iter().filter_map(|key| {
        let id = key.access_key_id()?.to_owned();
        let active = key.status() == Some(&StatusType::Active);
        let created = key.create_date().map(to_utc).unwrap_or_default();
        Some(async move {
            let last_used = if skip_last_used(active, created) {
                LastUse::NotRead
            } else {
                let read = iam
                    .get_access_key_last_used()
                    .access_key_id(&id)
                    .send()
                    .await
                    .during("iam:GetAccessKeyLastUsed")?;
                match read.access_key_last_used().and_then(|used| used.last_used_date()) {
                    Some(at) => LastUse::At(to_utc(at)),
                    None => LastUse::Never,
                }
            };
            Ok::<_, Error>(AccessKey {
                id: Some(id),
                active,
                created,
                last_used,
            })
        })
    });
    let mut keys = futures::future::try_join_all(reads).await?;
    keys.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    Ok(Some(keys))
}

/// The ARNs of the user's attached policies (under `path`, if given); `None` when the user is gone.
async fn attached(iam: &Client, user: &str, path: Option<&str>) -> Result<Option<Vec<String>>, Error> {
    let mut arns = Vec::new();
    let mut pages = iam
        .list_attached_user_policies()
        .user_name(user)
        .set_path_prefix(path.map(str::to_owned))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListAttachedUserPolicies", NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        arns.extend(
            page.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned)),
        );
    }
    Ok(Some(arns))
}

/// `None` when the user is gone.
async fn permissions(iam: &Client, user: &str, documents: &PolicyDocuments) -> Result<Option<Permissions>, Error> {
    let (attached, inline, groups) = tokio::try_join!(
        attached(iam, user, None),
        user_inline_policies(iam, user),
        groups_of(iam, user),
    )?;
    let (Some(attached), Some(inline), Some(groups)) = (attached, inline, groups) else {
        return Ok(None);
    };
    let attached = managed_policies(iam, attached, documents).await?;
    let groups = futures::future::try_join_all(groups.into_iter().map(|name| group(iam, name, documents))).await?;
    Ok(Some(Permissions {
        attached,
        inline,
        groups,
    }))
}

async fn managed_policies(
    iam: &Client,
    arns: Vec<String>,
    documents: &PolicyDocuments,
) -> Result<Vec<ManagedPolicy>, Error> {
    futures::future::try_join_all(arns.into_iter().map(|arn| async move {
        let document = documents.default_document(iam, &arn).await?;
        Ok::<_, Error>(ManagedPolicy {
            name: arn.rsplit('/').next().unwrap_or(&arn).to_owned(),
            arn,
            document,
        })
    }))
    .await
}

/// `None` when the user is gone.
async fn user_inline_policies(iam: &Client, user: &str) -> Result<Option<Vec<InlinePolicy>>, Error> {
    let mut names = Vec::new();
    let mut pages = iam.list_user_policies().user_name(user).into_paginator().send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListUserPolicies", NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        names.extend(page.policy_names().iter().cloned());
    }
    let reads = names.into_iter().map(|name| async move {
        let got = iam
            .get_user_policy()
            .user_name(user)
            .policy_name(&name)
            .send()
            .await
            .or_absent("iam:GetUserPolicy", NO_SUCH_ENTITY)?;
        Ok::<_, Error>(got.map(|g| InlinePolicy {
            name,
            document: document::decode(g.policy_document()),
        }))
    });
    Ok(Some(
        futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect(),
    ))
}

/// `None` when the user is gone.
async fn groups_of(iam: &Client, user: &str) -> Result<Option<Vec<String>>, Error> {
    let mut groups = Vec::new();
    let mut pages = iam.list_groups_for_user().user_name(user).into_paginator().send();
    while let Some(page) = pages.next().await {
        let Some(page) = page.or_absent("iam:ListGroupsForUser", NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        groups.extend(page.groups().iter().map(|g| g.group_name().to_owned()));
    }
    Ok(Some(groups))
}

async fn group(iam: &Client, name: String, documents: &PolicyDocuments) -> Result<Group, Error> {
    let attached: Vec<String> = iam
        .list_attached_group_policies()
        .group_name(&name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .during("iam:ListAttachedGroupPolicies")?
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    let names: Vec<String> = iam
        .list_group_policies()
        .group_name(&name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .during("iam:ListGroupPolicies")?;
    let inline = futures::future::try_join_all(names.into_iter().map(|policy| {
        let group = name.clone();
        async move {
            let got = iam
                .get_group_policy()
                .group_name(&group)
                .policy_name(&policy)
                .send()
                .await
                .during("iam:GetGroupPolicy")?;
            Ok::<_, Error>(InlinePolicy {
                name: policy,
                document: document::decode(got.policy_document()),
            })
        }
    }))
    .await?;
    Ok(Group {
        attached: managed_policies(iam, attached, documents).await?,
        inline,
        name,
    })
}
