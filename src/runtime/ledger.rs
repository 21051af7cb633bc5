//! The drift ledger: what each pass left out of spec, by account, rule and
//! resource, which the violations gauge counts; and what each pass decided,
//! as metrics.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use strum::IntoEnumIterator;

use crate::account::AccountId;
use crate::metrics::Metrics;
use crate::observe::Suspects;
use crate::outcome::Outcome;
use crate::plan::Resource;
use crate::policy::Rule;
use crate::reconcile::Pass;
use crate::work::{Facets, Key, Trigger, Work, facets_of, key_for};

pub struct Ledger {
    metrics: Arc<Metrics>,
    /// Keyed by account too: two accounts may each have a user of one name.
    open: Mutex<BTreeSet<(AccountId, Rule, Resource)>>,
}

impl Ledger {
    pub fn new(metrics: Arc<Metrics>) -> Ledger {
        Ledger {
            metrics,
            open: Mutex::default(),
        }
    }

    /// One reconcile of `work` in `facets`: its decisions, the latency from
    /// event to change, and, where this replica owns the account, the drift
    /// it left in place of what it judged. A replica that handled an event of
    /// an account another owns counts no drift of it: the owner does.
    pub fn reconciled(&self, work: &Work, facets: Facets, owned: bool, pass: &Pass, triggers: &[Trigger]) {
        let earliest_event = triggers.iter().filter_map(|t| t.event_time).min();
        for decided in &pass.decided {
            let finding = &decided.finding;
            if finding.is_remediation() {
                self.metrics
                    .remediation(finding.rule, finding.action(), decided.outcome.kind());
            }
            if let (Outcome::Applied, Some(at)) = (&decided.outcome, earliest_event) {
                let seconds = (Utc::now() - at).to_std().unwrap_or_default().as_secs_f64();
                self.metrics.event_to_remediation(seconds);
            }
        }
        if !owned {
            return;
        }
        let remaining = pass
            .decided
            .iter()
            .filter(|d| d.remains())
            .map(|d| (d.finding.rule, d.finding.resource.clone()));
        let judged = |rule, resource: &Resource| covers(&work.key, facets, rule, resource);
        self.settle(&work.account, judged, remaining);
    }

    /// A resync of `account`. It judged every resource; those it named as
    /// suspects are judged again by their own reconciles, and the rest are in spec.
    pub fn resynced(&self, account: &AccountId, suspects: &Suspects) {
        let judged = |_: Rule, resource: &Resource| !suspects.keys.contains_key(&key_for(resource));
        self.settle(account, judged, std::iter::empty());
        self.metrics.full_sync_done();
    }

    /// Forgets the account's drift that `judged` says was judged again, and
    /// records what `remaining` says is still open.
    fn settle(
        &self,
        account: &AccountId,
        judged: impl Fn(Rule, &Resource) -> bool,
        remaining: impl Iterator<Item = (Rule, Resource)>,
    ) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|(a, rule, resource)| a != account || !judged(*rule, resource));
        open.extend(remaining.map(|(rule, resource)| (account.clone(), rule, resource)));
        for rule in Rule::iter() {
            let count = open.iter().filter(|(_, r, _)| *r == rule).count();
            self.metrics.set_violations(rule, count);
        }
    }
}

/// Whether a reconcile of `key` in `facets` re-judged this finding: of a
/// user, only the rules whose facets it read.
fn covers(key: &Key, facets: Facets, rule: Rule, resource: &Resource) -> bool {
    match key {
        Key::PasswordPolicy => *resource == Resource::PasswordPolicy,
        Key::Root => matches!(
            resource,
            Resource::Root | Resource::SupportRole | Resource::AccessAnalyzer { .. }
        ),
        Key::User(name) => resource.user() == Some(name) && facets.contains(facets_of(rule)),
        Key::Role(name) => resource.role() == Some(name),
        Key::Group(name) => resource.group() == Some(name),
        Key::OidcProvider(arn) => matches!(resource, Resource::OidcProvider { arn: a, .. } if a == arn),
        Key::OidcProviders => matches!(resource, Resource::OidcProvider { .. }),
        Key::Trails => rule == Rule::Cloudtrail,
        Key::QuarantinePolicies => matches!(resource, Resource::QuarantinePolicy { .. }),
        Key::ServerCertificates => rule == Rule::ServerCertificates,
    }
}
