//! What became of a finding: the executor's verdict, as data that reports,
//! the audit log and metrics read. Nothing here changes AWS.

use std::time::Instant;

use crate::error::Error;
use crate::plan::Finding;

#[derive(Debug, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(OutcomeKind),
    derive(strum::IntoStaticStr, strum::EnumIter),
    strum(serialize_all = "snake_case")
)]
pub enum Outcome {
    Applied,
    DryRun,
    Failed(Error),
    Exempt,
    /// iam-warden never does this: it is itself, what it runs on, or what a
    /// fresh read no longer supports. The reason says which.
    Protected(String),
    /// Held back by the change budget until the given time (`None`: this
    /// pass's cap, which never refills).
    RateLimited(Option<Instant>),
    /// Nothing to do: the finding is report-only or a warning.
    Reported,
}

/// A finding, as it was when acted on, and what became of it.
#[derive(Debug)]
pub struct Decided {
    pub finding: Finding,
    pub outcome: Outcome,
}

impl Outcome {
    pub fn kind(&self) -> OutcomeKind {
        self.into()
    }

    /// As the audit log and the tables print it: `applied`, `dry_run`, ...
    pub fn label(&self) -> &'static str {
        self.kind().into()
    }

    pub fn detail(&self, finding: &Finding) -> Option<String> {
        match self {
            Outcome::Failed(error) => Some(error.to_string()),
            Outcome::Exempt => finding.exempt.clone(),
            Outcome::Protected(why) => Some(why.clone()),
            Outcome::RateLimited(Some(at)) => Some(format!(
                "held back by the change budget; tried again in {}s",
                at.saturating_duration_since(Instant::now()).as_secs()
            )),
            Outcome::RateLimited(None) => Some("over this pass's change cap".to_owned()),
            _ => None,
        }
    }
}

impl Decided {
    /// Drift this decision did not fix.
    pub fn remains(&self) -> bool {
        self.finding.is_drift() && !matches!(self.outcome, Outcome::Applied)
    }
}
