//! The accounts one controller serves (design.md §7): the caller's own, or
//! a list, or an Organization's, each reached through a role of its own.

mod organization;
pub mod shard;

use std::collections::BTreeSet;

use futures::StreamExt;
use serde::Serialize;

use crate::aws::{Call, Clients};
use crate::error::Error;
use crate::settings::AccountsSettings;

/// Accounts worked on at once by a one-shot command: each is mostly waiting
/// on its own API calls, and IAM's rate limits are per account.
const ACCOUNTS_IN_FLIGHT: usize = 8;

/// What a one-shot command works on: the caller's own account, or the
/// accounts the settings serve, each through its role.
pub struct Fleet {
    base: Clients,
    external_id: Option<String>,
    /// `None`: the caller's own account.
    pub targets: Vec<Option<(Account, String)>>,
}

impl Fleet {
    pub async fn new(base: Clients, settings: Option<&AccountsSettings>, only: &[String]) -> Result<Fleet, Error> {
        let Some(settings) = settings else {
            if !only.is_empty() {
                return Err(Error::Settings(
                    "--account needs settings that name accounts (--config)".to_owned(),
                ));
            }
            return Ok(Fleet {
                base,
                external_id: None,
                targets: vec![None],
            });
        };
        let partition = caller_partition(&base).await?;
        let accounts = discover(settings, &base, only).await?;
        Ok(Fleet {
            targets: accounts
                .into_iter()
                .map(|account| {
                    let role = role_arn(&settings.role, &partition, &account.id);
                    Some((account, role))
                })
                .collect(),
            external_id: settings.external_id.clone(),
            base,
        })
    }

    /// Only the caller's own account: output as before there were many.
    pub fn is_own_account(&self) -> bool {
        matches!(self.targets.as_slice(), [None])
    }

    /// `work` on every target with its clients, a few accounts at a time;
    /// results in target order. An account whose role cannot be assumed
    /// gets that error and holds up no other.
    pub async fn each<T>(
        &self,
        work: impl AsyncFn(Option<&Account>, Clients) -> Result<T, Error>,
    ) -> Vec<Result<T, Error>> {
        let work = &work;
        futures::stream::iter(&self.targets)
            .map(|target| async move {
                let clients = match target {
                    None => self.base.clone(),
                    Some((account, role)) => {
                        let assumed = self.base.assuming(role, self.external_id.as_deref()).await;
                        assumed.inspect_err(|error| tracing::error!(account = %account.id, %error, "account down"))?
                    }
                };
                work(target.as_ref().map(|(account, _)| account), clients).await
            })
            .buffered(ACCOUNTS_IN_FLIGHT)
            .collect()
            .await
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// The OUs above it, from the root down; empty for a listed account.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organizational_units: Vec<String>,
}

/// The accounts the settings name, less `exclude`, by id; narrowed to
/// `only` when it is not empty (an id there that is not served is an error).
pub async fn discover(settings: &AccountsSettings, clients: &Clients, only: &[String]) -> Result<Vec<Account>, Error> {
    let mut accounts = match (&settings.list, &settings.organization) {
        (Some(list), _) => list
            .iter()
            .map(|a| Account {
                id: a.id.clone(),
                name: a.name.clone(),
                organizational_units: Vec::new(),
            })
            .collect(),
        (None, Some(source)) => {
            let mut accounts = organization::accounts(&clients.organizations(), source).await?;
            accounts.retain(|a| !source.exclude.contains(&a.id));
            accounts
        }
        (None, None) => Vec::new(),
    };
    accounts.sort();
    accounts.dedup_by(|a, b| a.id == b.id);
    if let Some(bad) = accounts.iter().find(|a| !organization::is_account_id(&a.id)) {
        return Err(Error::Settings(format!(
            "accounts: `{}` is not a 12-digit account id",
            bad.id
        )));
    }
    if only.is_empty() {
        return Ok(accounts);
    }
    let served: BTreeSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    if let Some(missing) = only.iter().find(|id| !served.contains(id.as_str())) {
        return Err(Error::Settings(format!(
            "--account {missing}: not an account the settings serve"
        )));
    }
    accounts.retain(|a| only.contains(&a.id));
    Ok(accounts)
}

/// The role to assume in `account`, from the settings' template.
pub fn role_arn(template: &str, partition: &str, account: &str) -> String {
    template.replace("{partition}", partition).replace("{account}", account)
}

/// The partition of an ARN: `aws`, `aws-us-gov`, `aws-cn`.
fn partition(arn: &str) -> &str {
    arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws")
}

/// The partition iam-warden runs in, which the member roles' ARNs share.
pub async fn caller_partition(base: &Clients) -> Result<String, Error> {
    let caller = base
        .sts
        .get_caller_identity()
        .send()
        .await
        .during("sts:GetCallerIdentity")?;
    Ok(partition(caller.arn().unwrap_or_default()).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_template_is_filled_in() {
        let template = "arn:{partition}:iam::{account}:role/iam-warden";
        let caller = "arn:aws-us-gov:sts::111111111111:assumed-role/iam-warden-central/pod";
        assert_eq!(
            role_arn(template, partition(caller), "222222222222"),
            "arn:aws-us-gov:iam::222222222222:role/iam-warden"
        );
    }
}
