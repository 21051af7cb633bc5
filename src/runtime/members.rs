//! The accounts the daemon serves, and the reconciler of each: the caller's
//! own account alone, or every account the settings name, each reached
//! through its role when first needed. An account whose role cannot be
//! assumed is down: its work fails and backs off, and no other account waits
//! for it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::accounts::shard::Shard;
use crate::accounts::{self, Account};
use crate::aws::Clients;
use crate::error::Error;
use crate::execute::ChangeBudget;
use crate::key::AccountId;
use crate::metrics::Metrics;
use crate::reconcile::Reconciler;
use crate::settings::{AccountsSettings, Settings};

pub struct Members {
    base: Clients,
    accounts: Option<AccountsSettings>,
    shard: Shard,
    partition: String,
    dry_run: bool,
    max_changes_per_hour: usize,
    change_budget_window: Duration,
    metrics: Arc<Metrics>,
    served: RwLock<BTreeMap<AccountId, Arc<Member>>>,
}

struct Member {
    /// Resynced, and its deadlines kept, by this replica.
    owned: bool,
    /// The OUs above it, from the root down, for choosing its policy file.
    organizational_units: Vec<String>,
    /// The account's own: one account's drift never holds back another's fixes.
    budget: Arc<ChangeBudget>,
    reconciler: tokio::sync::Mutex<Option<Arc<Reconciler>>>,
}

impl Members {
    /// Reads the account list when the settings name accounts; the caller's
    /// own account otherwise.
    pub async fn start(
        base: Clients,
        settings: &Settings,
        shard: Shard,
        metrics: Arc<Metrics>,
    ) -> Result<Members, Error> {
        let partition = match &settings.accounts {
            Some(_) => accounts::caller_partition(&base).await?,
            None => String::new(),
        };
        let members = Members {
            base,
            accounts: settings.accounts.clone(),
            shard,
            partition,
            dry_run: settings.dry_run,
            max_changes_per_hour: settings.max_changes_per_hour,
            change_budget_window: settings.change_budget_window,
            metrics,
            served: RwLock::default(),
        };
        members.refresh().await?;
        Ok(members)
    }

    /// Reads the account list again; returns the accounts this replica now
    /// owns that it did not before. Accounts gone are dropped.
    pub async fn refresh(&self) -> Result<Vec<AccountId>, Error> {
        let found: Vec<Account> = match &self.accounts {
            Some(settings) => accounts::discover(settings, &self.base, &[]).await?,
            None => Vec::new(),
        };
        let ids: Vec<(AccountId, Vec<String>)> = match &self.accounts {
            Some(_) => found
                .into_iter()
                .map(|a| (Some(Arc::from(a.id.as_str())), a.organizational_units))
                .collect(),
            None => vec![(None, Vec::new())],
        };
        let mut served = self.served.write().unwrap_or_else(|p| p.into_inner());
        let mut added = Vec::new();
        let mut next = BTreeMap::new();
        for (id, organizational_units) in ids {
            let owned = id.as_deref().is_none_or(|account| self.shard.owns(account));
            let kept = served
                .remove(&id)
                .filter(|m| m.organizational_units == organizational_units);
            let member = kept.unwrap_or_else(|| {
                if owned {
                    added.push(id.clone());
                }
                Arc::new(Member {
                    owned,
                    organizational_units,
                    budget: Arc::new(ChangeBudget::per_window(
                        self.max_changes_per_hour,
                        self.change_budget_window,
                    )),
                    reconciler: tokio::sync::Mutex::new(None),
                })
            });
            next.insert(id, member);
        }
        for gone in served.keys().flatten() {
            self.metrics.account_gone(gone);
        }
        *served = next;
        let owned = served.values().filter(|m| m.owned).count();
        self.metrics
            .shard_accounts
            .set(i64::try_from(owned).unwrap_or(i64::MAX));
        Ok(added)
    }

    /// How often the account list is read again; `None` for the caller's own account.
    pub fn refresh_interval(&self) -> Option<Duration> {
        self.accounts.as_ref().map(|a| a.refresh)
    }

    /// The accounts this replica resyncs and keeps deadlines for.
    pub fn owned(&self) -> Vec<AccountId> {
        let served = self.served.read().unwrap_or_else(|p| p.into_inner());
        served
            .iter()
            .filter(|(_, m)| m.owned)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn owns(&self, account: &AccountId) -> bool {
        let served = self.served.read().unwrap_or_else(|p| p.into_inner());
        served.get(account).is_some_and(|m| m.owned)
    }

    /// The OUs above a served account, from the root down.
    pub fn organizational_units(&self, account: &AccountId) -> Vec<String> {
        let served = self.served.read().unwrap_or_else(|p| p.into_inner());
        served
            .get(account)
            .map(|m| m.organizational_units.clone())
            .unwrap_or_default()
    }

    /// The account an event is about, if it is served: any replica handles
    /// any served account's events. Alone, every event is about the caller's
    /// own account, as its queue receives only that account's events.
    pub fn account_of(&self, event_account: Option<&str>) -> Option<AccountId> {
        if self.accounts.is_none() {
            return Some(None);
        }
        let id: AccountId = Some(Arc::from(event_account?));
        let served = self.served.read().unwrap_or_else(|p| p.into_inner());
        served.contains_key(&id).then_some(id)
    }

    /// The account's reconciler, made on first use: its role assumed, who it
    /// acts as read, its own change budget. A failure says which role and
    /// why, and marks the account down until a later attempt succeeds.
    pub async fn reconciler(&self, account: &AccountId) -> Result<Arc<Reconciler>, Error> {
        let member = {
            let served = self.served.read().unwrap_or_else(|p| p.into_inner());
            served.get(account).cloned()
        };
        let Some(member) = member else {
            return Err(Error::Settings(format!(
                "account {} is no longer served",
                account.as_deref().unwrap_or("(own)")
            )));
        };
        let mut slot = member.reconciler.lock().await;
        if let Some(reconciler) = slot.as_ref() {
            return Ok(reconciler.clone());
        }
        let made = self.make(account, member.budget.clone()).await;
        if let Some(id) = account {
            self.metrics.account_up(id, made.is_ok());
        }
        let reconciler = Arc::new(made.inspect_err(|error| {
            tracing::error!(account = account.as_deref(), %error, "account down; retrying with backoff");
        })?);
        *slot = Some(reconciler.clone());
        Ok(reconciler)
    }

    async fn make(&self, account: &AccountId, budget: Arc<ChangeBudget>) -> Result<Reconciler, Error> {
        let clients = match (account, &self.accounts) {
            (Some(id), Some(settings)) => {
                let role = accounts::role_arn(&settings.role, &self.partition, id);
                self.base.assuming(&role, settings.external_id.as_deref()).await?
            }
            _ => self.base.clone(),
        };
        Reconciler::new(clients, self.dry_run, budget).await
    }

    /// Accounts whose change budget is spent.
    pub fn budgets_exhausted(&self) -> usize {
        let served = self.served.read().unwrap_or_else(|p| p.into_inner());
        served.values().filter(|m| m.budget.exhausted()).count()
    }

    /// Marks the account reachable or not after a resync of it.
    pub fn reached(&self, account: &AccountId, up: bool) {
        if let Some(id) = account {
            self.metrics.account_up(id, up);
        }
    }
}
