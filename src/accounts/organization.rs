//! The Organization's active accounts, each with the OUs above it, from one
//! walk down from the root: every account, or those under the `include` OUs
//! and the `include` account ids.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{Account as OrgAccount, AccountState, AccountStatus};

use crate::account::{Account, AccountId};
use crate::aws::Call;
use crate::error::Error;

/// The active accounts under `include` (OUs, with their children, and
/// account ids); every active account when it is empty. Also the entries of
/// `include` that name no active account and no OU of the Organization: an
/// account closed or an OU deleted since the settings were written.
pub(super) async fn accounts(organizations: &Client, include: &[String]) -> Result<(Vec<Account>, Vec<String>), Error> {
    let walk = walk(organizations).await?;
    let missing = include
        .iter()
        .filter(|entry| !walk.accounts.contains_key(*entry) && !walk.units.contains(*entry))
        .cloned()
        .collect();
    let included = |account: &Account| {
        include.is_empty()
            || include.iter().any(|entry| entry == account.id.as_str())
            || account.organizational_units.iter().any(|ou| include.contains(ou))
    };
    Ok((walk.accounts.into_values().filter(included).collect(), missing))
}

struct Walk {
    /// Active accounts by id.
    accounts: BTreeMap<String, Account>,
    units: BTreeSet<String>,
}

/// Every OU from the root down, and the active accounts directly in each.
async fn walk(organizations: &Client) -> Result<Walk, Error> {
    let mut roots = organizations.list_roots().into_paginator().send();
    let mut parents: Vec<(String, Vec<String>)> = Vec::new();
    while let Some(page) = roots.next().await {
        let page = page.during("organizations:ListRoots")?;
        parents.extend(
            page.roots()
                .iter()
                .filter_map(|r| Some((r.id()?.to_owned(), Vec::new()))),
        );
    }
    let mut walk = Walk {
        accounts: BTreeMap::new(),
        units: BTreeSet::new(),
    };
    while let Some((parent, above)) = parents.pop() {
        let mut pages = organizations
            .list_accounts_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.during("organizations:ListAccountsForParent")?;
            for found in page.accounts().iter().filter(|a| active(a)) {
                if let Some(id) = found.id().and_then(|id| AccountId::parse(id).ok()) {
                    let account = Account {
                        id: id.clone(),
                        name: found.name().unwrap_or_default().to_owned(),
                        organizational_units: above.clone(),
                    };
                    walk.accounts.insert(id.to_string(), account);
                }
            }
        }
        let mut children = organizations
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = children.next().await {
            let page = page.during("organizations:ListOrganizationalUnitsForParent")?;
            for unit in page.organizational_units().iter().filter_map(|ou| ou.id()) {
                walk.units.insert(unit.to_owned());
                let mut path = above.clone();
                path.push(unit.to_owned());
                parents.push((unit.to_owned(), path));
            }
        }
    }
    Ok(walk)
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
