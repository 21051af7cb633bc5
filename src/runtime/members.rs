//! The accounts the daemon serves, and each one's reconciler and change
//! budget, each account reached through its role when first needed. An
//! account whose role cannot be assumed is down: its work fails and backs
//! off, and no other account waits for it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::account::{Account, AccountId};
use crate::accounts::Accounts;
use crate::error::Error;
use crate::execute::{ChangeBudget, Writes};
use crate::metrics::Metrics;
use crate::reconcile::Reconciler;
use crate::settings::Settings;
use crate::shard::Shard;
use crate::state::Caller;

pub struct Members {
    accounts: Accounts,
    shard: Shard,
    writes: Writes,
    max_changes_per_hour: usize,
    change_budget_window: Duration,
    metrics: Arc<Metrics>,
    served: RwLock<BTreeMap<AccountId, Arc<Member>>>,
    /// The identity the daemon started as, where it differs from each
    /// account's role: protected in its own account.
    home: Option<Arc<Caller>>,
}

struct Member {
    account: Account,
    /// Resynced, and its deadlines kept, by this replica.
    owned: bool,
    /// The account's own: one account's drift never holds back another's fixes.
    budget: Arc<ChangeBudget>,
    reconciler: tokio::sync::Mutex<Option<Arc<Reconciler>>>,
}

impl Members {
    /// None served until the first [`Members::refresh`].
    pub fn new(
        accounts: Accounts,
        settings: &Settings,
        writes: Writes,
        metrics: Arc<Metrics>,
        home: Option<Arc<Caller>>,
    ) -> Members {
        Members {
            home,
            accounts,
            shard: settings.shard,
            writes,
            max_changes_per_hour: settings.max_changes_per_hour,
            change_budget_window: settings.change_budget_window,
            metrics,
            served: RwLock::default(),
        }
    }

    /// What every account's changes go through: the journal, or nothing in a dry run.
    pub fn writes(&self) -> &Writes {
        &self.writes
    }

    /// Reads the account list again; returns the accounts this replica now
    /// owns that it did not before. Accounts gone are dropped.
    pub async fn refresh(&self) -> Result<Vec<AccountId>, Error> {
        let found = self.accounts.discover().await?;
        let mut served = self.served.write().unwrap_or_else(|p| p.into_inner());
        let mut added = Vec::new();
        let mut next = BTreeMap::new();
        for account in found {
            let id = account.id.clone();
            let kept = served.remove(&id).filter(|m| m.account == account);
            let member = kept.unwrap_or_else(|| {
                let owned = self.shard.owns(&id);
                if owned {
                    added.push(id.clone());
                }
                Arc::new(Member {
                    account,
                    owned,
                    budget: Arc::new(ChangeBudget::per_window(
                        self.max_changes_per_hour,
                        self.change_budget_window,
                    )),
                    reconciler: tokio::sync::Mutex::new(None),
                })
            });
            next.insert(id, member);
        }
        for gone in served.keys() {
            self.metrics.account_gone(gone.as_str());
        }
        *served = next;
        let owned = served.values().filter(|m| m.owned).count();
        self.metrics
            .shard_accounts
            .set(i64::try_from(owned).unwrap_or(i64::MAX));
        Ok(added)
    }

    /// Only the caller's own account is served.
    pub fn alone(&self) -> bool {
        self.accounts.is_own()
    }

    /// How often the account list is read again; `None` for the caller's own account.
    pub fn refresh_interval(&self) -> Option<Duration> {
        (!self.accounts.is_own()).then(|| self.accounts.settings().refresh)
    }

    fn member(&self, id: &AccountId) -> Option<Arc<Member>> {
        self.served.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
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

    pub fn owns(&self, id: &AccountId) -> bool {
        self.member(id).is_some_and(|m| m.owned)
    }

    /// A served account, with where it sits, for choosing its policy.
    pub fn account(&self, id: &AccountId) -> Option<Account> {
        self.member(id).map(|m| m.account.clone())
    }

    /// The account an event is about, if it is served: any replica handles
    /// any served account's events. Alone, every event is about the caller's
    /// own account, as its queue receives only that account's events.
    pub fn account_of(&self, event_account: Option<&str>) -> Option<AccountId> {
        let served = self.served.read().unwrap_or_else(|p| p.into_inner());
        if self.accounts.is_own() {
            return served.keys().next().cloned();
        }
        let id = AccountId::parse(event_account?).ok()?;
        served.contains_key(&id).then_some(id)
    }

    /// The account's reconciler, made on first use: its role assumed, who it
    /// acts as read, its own change budget. A failure says which role and
    /// why, and marks the account down until a later attempt succeeds.
    pub async fn reconciler(&self, id: &AccountId) -> Result<Arc<Reconciler>, Error> {
        let member = self.member(id).ok_or_else(|| Error::NotServed(id.clone()))?;
        let mut slot = member.reconciler.lock().await;
        if let Some(reconciler) = slot.as_ref() {
            return Ok(reconciler.clone());
        }
        let made = match self.accounts.clients(id).await {
            Ok(clients) => {
                let writes = self.writes.clone();
                Reconciler::new(clients, writes, member.budget.clone(), self.home.clone()).await
            }
            Err(error) => Err(error),
        };
        self.reached(id, made.is_ok());
        let reconciler = Arc::new(made.inspect_err(|error| {
            tracing::error!(account = %id, %error, "account down; retrying with backoff");
        })?);
        *slot = Some(reconciler.clone());
        Ok(reconciler)
    }

    /// Accounts whose change budget is spent.
    pub fn budgets_exhausted(&self) -> usize {
        let served = self.served.read().unwrap_or_else(|p| p.into_inner());
        served.values().filter(|m| m.budget.exhausted()).count()
    }

    /// Marks the account reachable or not: alone, the caller's own account
    /// has no such series.
    pub fn reached(&self, id: &AccountId, up: bool) {
        if !self.accounts.is_own() {
            self.metrics.account_up(id.as_str(), up);
        }
    }
}
