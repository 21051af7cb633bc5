//! The only place that changes AWS. Exemptions, self-protection, dry-run and
//! audit mode, the change budget, the fresh read before an irreversible
//! change, and the journal's intent before every change are all decided
//! here, once, for every rule. It takes only a plan made from a live read,
//! or, for `undo`, a reversal judged on one.

mod audit;
mod budget;
mod changes;
mod quarantine;
mod reversals;
pub mod undo;

use std::future::Future;
use std::sync::Arc;

pub use budget::ChangeBudget;

use crate::aws::Clients;
use crate::error::Error;
use crate::journal::{Ended, Entry, Intent, Journal};
use crate::observe::{LivePlan, LiveReversal};
use crate::outcome::{Decided, Outcome};
use crate::plan::{Change, Finding, Resource};
use crate::policy::Mode;
use crate::state::{Caller, Identity, Trust};

/// What a fresh read says of a finding about to be acted on irreversibly.
pub enum Fresh {
    /// The resource read and judged again, just now.
    Plan(LivePlan),
    /// It cannot be judged again, and why.
    Withdrawn(String),
}

/// Reads one finding's resource again and judges it again.
pub trait Rejudge {
    fn rejudge(&self, finding: &Finding) -> impl Future<Output = Result<Fresh, Error>> + Send;
}

/// What the executor does with the changes it decides to make.
#[derive(Clone)]
pub enum Writes {
    /// Nothing: each is logged as `dry_run`.
    DryRun,
    /// Each is made, its intent first made durable in the journal.
    Journaled(Journal),
}

pub struct Executor {
    clients: Clients,
    writes: Writes,
    budget: Arc<ChangeBudget>,
    checked: quarantine::Checked,
    /// The identity iam-warden started as, before it assumed an account's role:
    /// never changed either, in its own account.
    home: Option<Arc<Caller>>,
    /// One restore of a quarantine policy at a time, from the read to the
    /// audit line: a resync's reconcile of the policies and a user's attach
    /// may both find it tampered, and only one may delete a version.
    restoring: tokio::sync::Mutex<()>,
}

/// What a change is made under: the journal, its entry there (whose time is
/// that of any record the change leaves), and the events that led to it.
#[derive(Clone, Copy)]
struct Under<'a> {
    journal: &'a Journal,
    entry: &'a Entry,
    events: &'a [String],
}

impl Executor {
    pub fn new(clients: Clients, writes: Writes, budget: Arc<ChangeBudget>, home: Option<Arc<Caller>>) -> Executor {
        Executor {
            clients,
            writes,
            budget,
            home,
            checked: quarantine::Checked::default(),
            restoring: tokio::sync::Mutex::new(()),
        }
    }

    /// Forgets that the quarantine policies were checked: someone changed one.
    pub fn recheck_quarantine_policies(&self) {
        self.checked.forget();
    }

    /// Decides and carries out every finding, in order, one audit line each.
    /// `events`: every CloudTrail event that led to this pass.
    pub async fn execute(
        &self,
        plan: LivePlan,
        caller: &Caller,
        events: &[String],
        rejudge: &impl Rejudge,
    ) -> Vec<Decided> {
        let audit_mode = plan.mode == Mode::Audit;
        let mut decided: Vec<Decided> = Vec::with_capacity(plan.findings.len());
        for finding in plan.into_plan().findings {
            let _restoring = match finding.change {
                Some(Change::RestoreQuarantinePolicy { .. }) => Some(self.restoring.lock().await),
                _ => None,
            };
            // Two rules may ask for one change (rules mfa and console-access
            // both removing a password): made once, it fixes both.
            let made = |d: &Decided| matches!(d.outcome, Outcome::Applied) && d.finding.change == finding.change;
            let (finding, outcome) = match self.unchanged(&finding, caller, audit_mode) {
                Some(outcome) => (finding, outcome),
                None if decided.iter().any(made) => (finding, Outcome::Applied),
                None => self.change(finding, caller, events, rejudge).await,
            };
            audit::record(&caller.account_id, &finding, &outcome, events);
            decided.push(Decided { finding, outcome });
        }
        decided
    }

    /// Makes a reversal `undo` judged on a live read: the change that puts
    /// back the change `undoes`, journaled like any other.
    pub async fn reverse(&self, reversal: LiveReversal, caller: &Caller, undoes: &str) -> Decided {
        let finding = reversal.into_finding();
        let outcome = match self.protection(caller, &finding.resource) {
            Some(why) => Outcome::Protected(why),
            None => self.journaled(&finding, caller, &[], Some(undoes)).await,
        };
        audit::record(&caller.account_id, &finding, &outcome, &[]);
        Decided { finding, outcome }
    }

    /// The outcome of a finding that changes nothing; `None` for one to change.
    fn unchanged(&self, finding: &Finding, caller: &Caller, audit_mode: bool) -> Option<Outcome> {
        if finding.exempt.is_some() {
            Some(Outcome::Exempt)
        } else if !finding.is_actionable() {
            Some(Outcome::Reported)
        } else if let Some(why) = self.protection(caller, &finding.resource) {
            Some(Outcome::Protected(why))
        } else if matches!(self.writes, Writes::DryRun) || audit_mode {
            Some(Outcome::DryRun)
        } else {
            None
        }
    }

    /// Spends the budget, reads again before an irreversible change, and
    /// changes AWS. Returns the finding as freshly read, when it was.
    async fn change(
        &self,
        finding: Finding,
        caller: &Caller,
        events: &[String],
        rejudge: &impl Rejudge,
    ) -> (Finding, Outcome) {
        let Some(change) = &finding.change else {
            return (finding, Outcome::Reported);
        };
        if change.budgeted()
            && let Err(retry_at) = self.budget.try_spend()
        {
            return (finding, Outcome::RateLimited(retry_at));
        }
        let finding = match change.irreversible() {
            true => match self.confirm(finding, rejudge).await {
                (fresh, None) => fresh,
                (finding, Some(refused)) => {
                    self.budget.refund();
                    return (finding, refused);
                }
            },
            false => finding,
        };
        let outcome = self.journaled(&finding, caller, events, None).await;
        (finding, outcome)
    }

    /// Writes the intent of the finding's change, makes the change, and
    /// writes its outcome. No intent on record, no change.
    async fn journaled(&self, finding: &Finding, caller: &Caller, events: &[String], undoes: Option<&str>) -> Outcome {
        let (Writes::Journaled(journal), Some(change)) = (&self.writes, &finding.change) else {
            return Outcome::DryRun;
        };
        let entry = match journal
            .intend(&caller.account_id, intent_of(finding, change, events, undoes))
            .await
        {
            Ok(entry) => entry,
            Err(error) => return Outcome::Failed(error),
        };
        let under = Under {
            journal,
            entry: &entry,
            events,
        };
        let made = self.make(change, finding, caller, under).await;
        let (ended, detail) = match &made {
            Ok(()) => (Ended::Applied, None),
            Err(error) => (Ended::Failed, Some(error.to_string())),
        };
        journal.conclude(&entry, ended, detail).await;
        made.map_or_else(Outcome::Failed, |()| Outcome::Applied)
    }

    /// The finding as a fresh read judges it, if it still calls for the same
    /// change; else the finding as it was, with why no change is made.
    async fn confirm(&self, finding: Finding, rejudge: &impl Rejudge) -> (Finding, Option<Outcome>) {
        let fresh = match rejudge.rejudge(&finding).await {
            Ok(Fresh::Plan(fresh)) => fresh,
            Ok(Fresh::Withdrawn(why)) => return (finding, Some(Outcome::Protected(why))),
            Err(error) => return (finding, Some(Outcome::Failed(error))),
        };
        let same = fresh
            .into_plan()
            .findings
            .into_iter()
            .find(|f| f.same_decision(&finding) && f.is_actionable());
        match same {
            Some(confirmed) => (confirmed, None),
            None => {
                let why = format!(
                    "read again right before acting, {} no longer calls for {}",
                    finding.resource,
                    finding.action()
                );
                (finding, Some(Outcome::Protected(why)))
            }
        }
    }
}

/// The journal's record of what `finding` is about to change.
fn intent_of(finding: &Finding, change: &Change, events: &[String], undoes: Option<&str>) -> Intent {
    Intent {
        rule: finding.rule,
        resource: finding.resource.clone(),
        change: change.clone(),
        reason: finding.reason.clone(),
        before: finding.before.clone(),
        events: events.to_vec(),
        undoes: undoes.map(str::to_owned),
    }
}

impl Executor {
    /// Why iam-warden must never act on `resource`: it is the identity
    /// iam-warden acts as, or the one it started as (in that one's account),
    /// or something either depends on.
    pub fn protection(&self, caller: &Caller, resource: &Resource) -> Option<String> {
        let home = self.home.as_deref().filter(|home| home.account_id == caller.account_id);
        protection(caller, resource).or_else(|| home.and_then(|home| protection(home, resource)))
    }
}

fn protection(caller: &Caller, resource: &Resource) -> Option<String> {
    match (&caller.identity, resource) {
        (Identity::User { name }, resource) if resource.user() == Some(name) => {
            Some("the identity iam-warden runs as is never changed".to_owned())
        }
        (Identity::Role { name, .. }, resource) if resource.role() == Some(name) => {
            Some("the role iam-warden runs as is never changed".to_owned())
        }
        (Identity::Role { name, trust }, Resource::OidcProvider { arn, .. }) => match trust {
            Trust::Providers(trusted) if trusted.contains(arn) => Some(format!(
                "the role iam-warden runs as ({name}) trusts this provider; deleting it would cut iam-warden, and every workload using it, off"
            )),
            Trust::Providers(_) => None,
            Trust::Unknown(why) => Some(format!(
                "the trust policy of the role iam-warden runs as ({name}) could not be read, so no provider is deleted: {why}"
            )),
        },
        _ => None,
    }
}
