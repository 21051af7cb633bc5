//! The accounts one iam-warden serves (design.md §7), for the one-shot
//! commands and the daemon alike: the caller's own, a list, or an
//! Organization's, each reached through a role of its own.

mod organization;

use futures::StreamExt;

use crate::account::{self, Account, AccountId};
use crate::aws::{Call, Clients};
use crate::error::Error;
use crate::settings::{AccountsSettings, Scope};

/// Accounts worked on at once by a one-shot command: each is mostly waiting
/// on its own API calls, and IAM's rate limits are per account.
const ACCOUNTS_IN_FLIGHT: usize = 8;

pub struct Accounts {
    base: Clients,
    settings: AccountsSettings,
    /// The partition iam-warden runs in, which the member roles' ARNs share.
    partition: String,
    /// The account iam-warden runs in.
    own: AccountId,
}

impl Accounts {
    /// Asks AWS who iam-warden runs as: its partition and its own account.
    pub async fn connect(base: Clients, settings: AccountsSettings) -> Result<Accounts, Error> {
        let caller = base
            .sts
            .get_caller_identity()
            .send()
            .await
            .during("sts:GetCallerIdentity")?;
        let arn = caller.arn().unwrap_or_default();
        let own = account::account_of(arn)
            .ok_or_else(|| Error::Internal(format!("GetCallerIdentity named no account: `{arn}`")))?;
        Ok(Accounts {
            partition: account::partition(arn).to_owned(),
            own,
            base,
            settings,
        })
    }

    /// Only the caller's own account: no roles, and output as before there were many.
    pub fn is_own(&self) -> bool {
        self.settings.scope == Scope::Own
    }

    pub fn settings(&self) -> &AccountsSettings {
        &self.settings
    }

    /// The accounts served, by id, less `exclude`. An `include` entry that
    /// names nothing in the Organization any more is a warning: the others
    /// are still served.
    pub async fn discover(&self) -> Result<Vec<Account>, Error> {
        let (accounts, missing) = self.discover_all().await?;
        for entry in missing {
            tracing::warn!(%entry, "accounts.organization.include names no active account and no OU of the Organization; the others are served");
        }
        Ok(accounts)
    }

    /// The accounts served, and the `include` entries that name nothing.
    pub async fn discover_all(&self) -> Result<(Vec<Account>, Vec<String>), Error> {
        let (mut accounts, missing) = match &self.settings.scope {
            Scope::Own => (vec![Account::alone(self.own.clone())], Vec::new()),
            Scope::Listed(list) => (list.clone(), Vec::new()),
            Scope::Organization { include, exclude } => {
                let (mut found, missing) = organization::accounts(&self.base.organizations(), include).await?;
                found.retain(|a| !exclude.iter().any(|id| id == a.id.as_str()));
                (found, missing)
            }
        };
        accounts.sort();
        accounts.dedup_by(|a, b| a.id == b.id);
        Ok((accounts, missing))
    }

    /// The accounts served, narrowed to `only` when it is not empty: an id
    /// there that is not served is an error.
    pub async fn discover_only(&self, only: &[String]) -> Result<Vec<Account>, Error> {
        let accounts = self.discover().await?;
        self.narrow(accounts, only)
    }

    /// `accounts`, narrowed to `only` when it is not empty.
    pub fn narrow(&self, mut accounts: Vec<Account>, only: &[String]) -> Result<Vec<Account>, Error> {
        if !only.is_empty() && self.is_own() {
            return Err(Error::Usage(
                "--account needs settings that name accounts (--config)".to_owned(),
            ));
        }
        if let Some(missing) = only.iter().find(|id| !accounts.iter().any(|a| a.id.as_str() == *id)) {
            return Err(Error::Usage(format!(
                "--account {missing}: not an account the settings serve"
            )));
        }
        if !only.is_empty() {
            accounts.retain(|a| only.iter().any(|id| id == a.id.as_str()));
        }
        Ok(accounts)
    }

    /// Clients acting in `account`: iam-warden's own in its own account
    /// alone, else through the account's role. Fails, with AWS's reason,
    /// when the role cannot be assumed: that account is down.
    pub async fn clients(&self, account: &AccountId) -> Result<Clients, Error> {
        if self.is_own() {
            return Ok(self.base.clone());
        }
        let role = role_arn(&self.settings.role, &self.partition, account);
        self.base.assuming(&role, self.settings.external_id.as_deref()).await
    }

    /// `work` on every account with its clients, a few accounts at a time;
    /// results in account order. An account whose role cannot be assumed
    /// gets that error and holds up no other.
    pub async fn each<T>(
        &self,
        accounts: &[Account],
        work: impl AsyncFn(&Account, Clients) -> Result<T, Error>,
    ) -> Vec<Result<T, Error>> {
        let work = &work;
        futures::stream::iter(accounts)
            .map(|account| async move {
                let clients = self.clients(&account.id).await;
                let clients =
                    clients.inspect_err(|error| tracing::error!(account = %account.id, %error, "account down"))?;
                work(account, clients).await
            })
            .buffered(ACCOUNTS_IN_FLIGHT)
            .collect()
            .await
    }
}

/// The role to assume in `account`, from the settings' template.
fn role_arn(template: &str, partition: &str, account: &AccountId) -> String {
    template
        .replace("{partition}", partition)
        .replace("{account}", account.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_template_is_filled_in() {
        let template = "arn:{partition}:iam::{account}:role/iam-warden";
        let caller = "arn:aws-us-gov:sts::111111111111:assumed-role/iam-warden-central/pod";
        let member = AccountId::parse("222222222222").unwrap();
        assert_eq!(
            role_arn(template, account::partition(caller), &member),
            "arn:aws-us-gov:iam::222222222222:role/iam-warden"
        );
    }
}
