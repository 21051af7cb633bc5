//! The Organization's active accounts, from Organizations: every one, or
//! those under the `include` OUs (their child OUs too) and the `include`
//! account ids.

use std::collections::BTreeMap;

use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{Account as OrgAccount, AccountState, AccountStatus};

use super::Account;
use crate::aws::Call;
use crate::error::Error;
use crate::settings::OrganizationSource;

pub(super) async fn accounts(organizations: &Client, source: &OrganizationSource) -> Result<Vec<Account>, Error> {
    let every = all_accounts(organizations).await?;
    if source.include.is_empty() {
        return Ok(every.into_values().collect());
    }
    let mut chosen = BTreeMap::new();
    for entry in &source.include {
        if is_account_id(entry) {
            let account = every.get(entry).ok_or_else(|| unknown("account", entry))?;
            chosen.insert(account.id.clone(), account.clone());
            continue;
        }
        for id in under(organizations, entry).await? {
            // Suspended or closing accounts are listed under their OU too.
            if let Some(account) = every.get(&id) {
                chosen.insert(id, account.clone());
            }
        }
    }
    Ok(chosen.into_values().collect())
}

pub(super) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn unknown(what: &str, name: &str) -> Error {
    Error::Settings(format!(
        "accounts.organization.include: no {what} `{name}` in the Organization"
    ))
}

/// Every active account, by id.
async fn all_accounts(organizations: &Client) -> Result<BTreeMap<String, Account>, Error> {
    let mut pages = organizations.list_accounts().into_paginator().send();
    let mut every = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.during("organizations:ListAccounts")?;
        every.extend(page.accounts().iter().filter(|a| active(a)).filter_map(account));
    }
    Ok(every)
}

fn active(account: &OrgAccount) -> bool {
    // `State` replaces the deprecated `Status`; an older answer has only the latter.
    #[allow(deprecated)]
    match (account.state(), account.status()) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    }
}

fn account(found: &OrgAccount) -> Option<(String, Account)> {
    let id = found.id()?.to_owned();
    let name = found.name().unwrap_or_default().to_owned();
    Some((id.clone(), Account { id, name }))
}

/// The ids of the accounts in `parent` and every OU below it.
async fn under(organizations: &Client, parent: &str) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    let mut parents = vec![parent.to_owned()];
    while let Some(parent) = parents.pop() {
        let mut pages = organizations
            .list_accounts_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .or_absent("organizations:ListAccountsForParent", "ParentNotFoundException")?
                .ok_or_else(|| unknown("organizational unit", &parent))?;
            ids.extend(page.accounts().iter().filter_map(|a| a.id().map(str::to_owned)));
        }
        let mut children = organizations
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = children.next().await {
            let page = page.during("organizations:ListOrganizationalUnitsForParent")?;
            parents.extend(
                page.organizational_units()
                    .iter()
                    .filter_map(|ou| ou.id().map(str::to_owned)),
            );
        }
    }
    Ok(ids)
}
