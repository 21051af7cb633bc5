//! Live reads from IAM, one resource at a time.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{AssignmentStatusType, EntityType, SummaryKeyType};

use super::documents::Reading;
use super::held::{self, Holder};
use super::permissions;
use super::{tag_map, to_utc};
use crate::aws::Call;
use crate::document;
use crate::error::Error;
use crate::name::Name;
use crate::policy::{PasswordPolicy, Policy};
use crate::quarantine::QuarantinePolicy;
use crate::state::{
    Caller, InlinePolicy, Observation, OidcProvider, Role, RolePermissions, RootUser, ServerCertificate,
};

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

pub(super) async fn password_policy(iam: &Client) -> Result<Observation<PasswordPolicy>, Error> {
    let output = iam
        .get_account_password_policy()
        .send()
        .await
        .or_absent("iam:GetAccountPasswordPolicy", NO_SUCH_ENTITY)?;
    let Some(current) = output.as_ref().and_then(|o| o.password_policy()) else {
        return Ok(Observation::Absent);
    };
    let positive = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0);
    Ok(Observation::Present(PasswordPolicy {
        minimum_length: positive(current.minimum_password_length()).unwrap_or(0),
        require_symbols: current.require_symbols(),
        require_numbers: current.require_numbers(),
        require_uppercase: current.require_uppercase_characters(),
        require_lowercase: current.require_lowercase_characters(),
        allow_users_to_change_password: current.allow_users_to_change_password(),
        max_age_days: positive(current.max_password_age()),
        reuse_prevention: positive(current.password_reuse_prevention()),
        hard_expiry: current.hard_expiry().unwrap_or(false),
    }))
}

/// The root user, when a rule judges it: its MFA and access keys from the
/// account summary, and whether its MFA is virtual when rule `cis` asks.
pub(super) async fn root(iam: &Client, policy: &Policy) -> Result<Option<RootUser>, Error> {
    let cis = policy.cis.as_ref().filter(|c| c.reads_root());
    if cis.is_none() && !policy.mfa.as_ref().is_some_and(|m| m.require_for_root) {
        return Ok(None);
    }
    let summary = iam.get_account_summary().send().await.during("iam:GetAccountSummary")?;
    let present = |key: SummaryKeyType| {
        summary
            .summary_map()
            .and_then(|map| map.get(&key))
            .is_some_and(|n| *n > 0)
    };
    let mfa = present(SummaryKeyType::AccountMfaEnabled);
    let virtual_mfa = match mfa && cis.is_some_and(|c| c.root_hardware_mfa) {
        true => Some(root_has_virtual_mfa(iam).await?),
        false => None,
    };
    Ok(Some(RootUser {
        mfa,
        access_keys: present(SummaryKeyType::AccountAccessKeysPresent),
        virtual_mfa,
    }))
}

/// Whether a virtual MFA device is assigned to the root user: one that
/// names root as its user, or carries the name the console gives root's.
async fn root_has_virtual_mfa(iam: &Client) -> Result<bool, Error> {
    let devices: Vec<_> = iam
        .list_virtual_mfa_devices()
        .assignment_status(AssignmentStatusType::Assigned)
        // Every user's device is listed too: in pages as large as IAM allows.
        .max_items(1000)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .during("iam:ListVirtualMFADevices")?;
    Ok(devices.iter().any(|device| {
        device.user().is_some_and(|user| user.arn().ends_with(":root"))
            || device.serial_number().ends_with(":mfa/root-account-mfa-device")
    }))
}

/// The roles AWSSupportAccess is attached to, when rule `cis` asks (CIS 2.16).
pub(super) async fn support_roles(iam: &Client, caller: &Caller, policy: &Policy) -> Result<Option<Vec<Name>>, Error> {
    if !policy.cis.as_ref().is_some_and(|c| c.support_role) {
        return Ok(None);
    }
    let arn = format!("arn:{}:iam::aws:policy/AWSSupportAccess", caller.partition());
    let pages: Vec<_> = iam
        .list_entities_for_policy()
        .policy_arn(arn)
        .entity_filter(EntityType::Role)
        .max_items(1000)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .during("iam:ListEntitiesForPolicy")?;
    let roles = pages
        .iter()
        .flat_map(|page| page.policy_roles())
        .filter_map(|role| role.role_name());
    Ok(Some(roles.map(Name::from).collect()))
}

/// The server certificates stored in IAM; the body and chain of each
/// expired one, which its deletion journals. A certificate deleted between
/// the list and its read is left out.
pub(crate) async fn server_certificates(iam: &Client) -> Result<Vec<ServerCertificate>, Error> {
    let listed: Vec<_> = iam
        .list_server_certificates()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .during("iam:ListServerCertificates")?;
    let now = chrono::Utc::now();
    let mut certificates = Vec::with_capacity(listed.len());
    for metadata in listed {
        let mut certificate = ServerCertificate {
            name: metadata.server_certificate_name().to_owned(),
            arn: metadata.arn().to_owned(),
            expiration: metadata.expiration().map_or(now, to_utc),
            body: None,
            chain: None,
        };
        if certificate.expiration <= now {
            let got = iam
                .get_server_certificate()
                .server_certificate_name(&certificate.name)
                .send()
                .await;
            let Some(got) = got.or_absent("iam:GetServerCertificate", NO_SUCH_ENTITY)? else {
                continue;
            };
            let stored = got.server_certificate();
            certificate.body = stored.map(|s| s.certificate_body().to_owned());
            certificate.chain = stored.and_then(|s| s.certificate_chain()).map(str::to_owned);
        }
        certificates.push(certificate);
    }
    Ok(certificates)
}

/// One role, read live: its trust policy and tags, whether the quarantine
/// holds it, and with `documents` its policies, boundary and use.
pub(super) async fn role(
    iam: &Client,
    name: &Name,
    caller: &Caller,
    documents: Option<&Reading<'_>>,
) -> Result<Option<Role>, Error> {
    let get_role = async {
        let got = iam.get_role().role_name(name.as_str()).send().await;
        got.or_absent("iam:GetRole", NO_SUCH_ENTITY)
    };
    let Some(documents) = documents else {
        let held = held::by(iam, Holder::Role(name), QuarantinePolicy::DenyAll, caller);
        let (found, quarantined) = tokio::try_join!(get_role, held)?;
        let (Some(role), Some(quarantined)) = (found.as_ref().and_then(|f| f.role()), quarantined) else {
            return Ok(None);
        };
        return Ok(Some(role_of(role, quarantined, None)));
    };
    let found = get_role.await?;
    let Some(role) = found.as_ref().and_then(|f| f.role()) else {
        return Ok(None);
    };
    // Its policies, read whole, show the quarantine too: no second listing.
    let Some(permissions) = role_permissions(iam, role, documents).await? else {
        return Ok(None);
    };
    Ok(Some(role_of(
        role,
        holds_deny_all(&permissions, caller),
        Some(permissions),
    )))
}

fn role_of(role: &aws_sdk_iam::types::Role, quarantined: bool, permissions: Option<RolePermissions>) -> Role {
    Role {
        name: Name::from(role.role_name()),
        arn: role.arn().to_owned(),
        tags: tag_map(role.tags().iter().map(|t| (t.key(), t.value()))),
        trust_policy: document::decode(role.assume_role_policy_document().unwrap_or_default()),
        quarantined,
        permissions,
    }
}

/// Whether the role's policies hold iam-warden's quarantine: the managed
/// policy, or the inline one of its name where a quota left no room.
fn holds_deny_all(permissions: &RolePermissions, caller: &Caller) -> bool {
    let policy = QuarantinePolicy::DenyAll;
    permissions
        .attached
        .iter()
        .any(|p| p.arn == caller.quarantine_arn(policy))
        || permissions
            .inline
            .iter()
            .any(|p| p.name == policy.name() && policy.is_shipped(caller.partition(), &p.document))
}

/// What `role` (as GetRole gave it) may do; `None` if it is gone.
async fn role_permissions(
    iam: &Client,
    role: &aws_sdk_iam::types::Role,
    documents: &Reading<'_>,
) -> Result<Option<RolePermissions>, Error> {
    let name = role.role_name();
    let (attached, names) = tokio::try_join!(
        async {
            let pages = iam
                .list_attached_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send();
            let listed: Result<Vec<_>, _> = pages.try_collect().await;
            listed.or_absent("iam:ListAttachedRolePolicies", NO_SUCH_ENTITY)
        },
        async {
            let pages = iam.list_role_policies().role_name(name).into_paginator().items().send();
            let listed: Result<Vec<String>, _> = pages.try_collect().await;
            listed.or_absent("iam:ListRolePolicies", NO_SUCH_ENTITY)
        },
    )?;
    let (Some(attached), Some(names)) = (attached, names) else {
        return Ok(None);
    };
    let inline = names.into_iter().map(|policy| async move {
        let got = iam.get_role_policy().role_name(name).policy_name(&policy).send().await;
        let got = got.or_absent("iam:GetRolePolicy", NO_SUCH_ENTITY)?;
        Ok::<_, Error>(got.map(|g| InlinePolicy {
            name: policy,
            document: document::decode(g.policy_document()),
        }))
    });
    let arns = attached
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    let boundary: Vec<String> = role
        .permissions_boundary()
        .and_then(|b| b.permissions_boundary_arn())
        .map(str::to_owned)
        .into_iter()
        .collect();
    let (attached, boundary, inline) = tokio::try_join!(
        permissions::managed_policies(iam, arns, documents),
        permissions::managed_policies(iam, boundary, documents),
        futures::future::try_join_all(inline),
    )?;
    Ok(Some(RolePermissions {
        attached,
        inline: inline.into_iter().flatten().collect(),
        boundary: boundary.into_iter().next(),
        created: to_utc(role.create_date()),
        last_used: role.role_last_used().and_then(|u| u.last_used_date()).map(to_utc),
    }))
}

pub(super) async fn oidc_providers(iam: &Client) -> Result<Vec<OidcProvider>, Error> {
    let listed = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .during("iam:ListOpenIDConnectProviders")?;
    let reads = listed
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .map(|arn| oidc_provider(iam, arn));
    let found = futures::future::try_join_all(reads).await?;
    Ok(found.into_iter().flatten().collect())
}

pub(super) async fn oidc_provider(iam: &Client, arn: &str) -> Result<Option<OidcProvider>, Error> {
    let output = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .or_absent("iam:GetOpenIDConnectProvider", NO_SUCH_ENTITY)?;
    Ok(output.map(|p| OidcProvider {
        arn: arn.to_owned(),
        url: p.url().unwrap_or_default().to_owned(),
        client_ids: p.client_id_list().to_vec(),
        thumbprints: p.thumbprint_list().to_vec(),
        tags: tag_map(p.tags().iter().map(|t| (t.key(), t.value()))),
        created: p.create_date().map(to_utc),
    }))
}
