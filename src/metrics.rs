//! Prometheus metrics. `Metrics` owns the registry; every series whose labels
//! are known in advance starts at 0, so alerts and rates work from the first
//! scrape. No label carries a user name, key id or ARN.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::execute::Outcome;
use crate::key::{AccountId, Facets, Key, Work};
use crate::plan::{Action, Plan, Resource};
use crate::policy::Rule;
use crate::reconcile::key_for;
use crate::runtime::queue::Trigger;

/// From a fast event path (50 ms) to a slow CloudTrail delivery (15 min).
const LATENCY_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
];
/// From one user read (10 ms) to a full scan of a large account (5 min).
const RECONCILE_BUCKETS: [f64; 12] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0];

pub const RECONCILE_KINDS: [&str; 7] = [
    "all",
    "password-policy",
    "user",
    "role",
    "oidc-provider",
    "trails",
    "quarantine-policies",
];
const SQS_OUTCOMES: [&str; 4] = ["acked", "ignored", "malformed", "retried"];
const DECISION_OUTCOMES: [&str; 6] = ["applied", "dry_run", "failed", "exempt", "protected", "rate_limited"];

/// Each rule with the actions it can take, for series that start at 0.
const RULE_ACTIONS: [(Rule, &[Action]); 8] = [
    (Rule::PasswordPolicy, &[Action::UpdatePasswordPolicy]),
    (Rule::PasswordReset, &[Action::RequirePasswordReset]),
    (
        Rule::Mfa,
        &[
            Action::AttachDenyPolicy,
            Action::DetachDenyPolicy,
            Action::DeleteLoginProfile,
            Action::RestoreQuarantinePolicy,
        ],
    ),
    (
        Rule::AccessKeys,
        &[Action::DeactivateAccessKey, Action::DeleteAccessKey],
    ),
    (
        Rule::UserPermissions,
        &[
            Action::DetachUserPolicy,
            Action::DeleteUserPolicy,
            Action::RemoveUserFromGroup,
        ],
    ),
    (Rule::OidcProviders, &[Action::DeleteOidcProvider]),
    (
        Rule::OidcTrust,
        &[
            Action::QuarantineRole,
            Action::LiftQuarantine,
            Action::RestoreQuarantinePolicy,
        ],
    ),
    (Rule::Cloudtrail, &[Action::StartLogging]),
];

pub struct Metrics {
    registry: Registry,
    violations: IntGaugeVec,
    remediations: IntCounterVec,
    sqs_messages: IntCounterVec,
    reconciles: IntCounterVec,
    reconcile_duration: HistogramVec,
    event_to_remediation: Histogram,
    event_delivery_lag: Histogram,
    aws_requests: IntCounterVec,
    pub workqueue_depth: IntGauge,
    last_full_sync: Gauge,
    policy_reloads: IntCounterVec,
    pub change_budget_exhausted: IntGauge,
    account_up: IntGaugeVec,
    pub shard_accounts: IntGauge,
    /// The drift each reconcile left, by rule and resource; the violations gauge counts it.
    /// Keyed by account too: two accounts may each have a user of one name.
    open: Mutex<BTreeSet<(AccountId, Rule, Resource)>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let name = |n: &str| format!("iam_warden_{n}");
        let counter = |n: &str, help: &str, labels: &[&str]| {
            let vec = IntCounterVec::new(Opts::new(name(n), help), labels).expect("valid metric");
            registry.register(Box::new(vec.clone())).expect("registered once");
            vec
        };
        let histogram = |n: &str, help: &str, buckets: &[f64]| {
            let h = Histogram::with_opts(HistogramOpts::new(name(n), help).buckets(buckets.to_vec()))
                .expect("valid metric");
            registry.register(Box::new(h.clone())).expect("registered once");
            h
        };
        let violations = IntGaugeVec::new(
            Opts::new(name("violations"), "Findings out of spec, by rule."),
            &["rule"],
        )
        .expect("valid");
        let reconcile_duration = HistogramVec::new(
            HistogramOpts::new(
                name("reconcile_duration_seconds"),
                "Time to observe, plan and execute one key.",
            )
            .buckets(RECONCILE_BUCKETS.to_vec()),
            &["kind"],
        )
        .expect("valid metric");
        let workqueue_depth =
            IntGauge::new(name("workqueue_depth"), "Keys due and waiting for a worker.").expect("valid");
        let last_full_sync = Gauge::new(
            name("last_full_sync_timestamp_seconds"),
            "When the last full reconcile succeeded.",
        )
        .expect("valid");
        let change_budget_exhausted = IntGauge::new(
            name("change_budget_exhausted"),
            "Accounts whose hourly change budget is spent: 1 or 0 for a single account.",
        )
        .expect("valid");
        // The account label is bounded by the Organization, never by its users.
        let account_up = IntGaugeVec::new(
            Opts::new(
                name("account_up"),
                "1 while the account's role can be assumed and read.",
            ),
            &["account"],
        )
        .expect("valid");
        let shard_accounts = IntGauge::new(
            name("shard_accounts"),
            "Accounts this replica resyncs and keeps deadlines for.",
        )
        .expect("valid");
        let build_info = IntGaugeVec::new(
            Opts::new(name("build_info"), "Always 1; the version as a label."),
            &["version"],
        )
        .expect("valid");
        for collector in [
            Box::new(violations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reconcile_duration.clone()),
            Box::new(workqueue_depth.clone()),
            Box::new(last_full_sync.clone()),
            Box::new(change_budget_exhausted.clone()),
            Box::new(account_up.clone()),
            Box::new(shard_accounts.clone()),
            Box::new(build_info.clone()),
        ] {
            registry.register(collector).expect("registered once");
        }
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

        let metrics = Metrics {
            remediations: counter(
                "remediations_total",
                "Decisions on findings that call for a change.",
                &["rule", "action", "outcome"],
            ),
            sqs_messages: counter(
                "sqs_messages_total",
                "SQS messages by what became of them.",
                &["outcome"],
            ),
            reconciles: counter(
                "reconciles_total",
                "Reconciles by key kind and outcome.",
                &["kind", "outcome"],
            ),
            event_to_remediation: histogram(
                "event_to_remediation_seconds",
                "From a CloudTrail event's time to the change it caused.",
                &LATENCY_BUCKETS,
            ),
            event_delivery_lag: histogram(
                "event_delivery_lag_seconds",
                "From a CloudTrail event's time to its message's receipt.",
                &LATENCY_BUCKETS,
            ),
            aws_requests: counter(
                "aws_requests_total",
                "AWS API attempts, retries included.",
                &["service", "operation", "outcome"],
            ),
            policy_reloads: counter("policy_reloads_total", "Policy file reloads.", &["outcome"]),
            registry,
            violations,
            reconcile_duration,
            workqueue_depth,
            last_full_sync,
            change_budget_exhausted,
            account_up,
            shard_accounts,
            open: Mutex::default(),
        };
        metrics.start_at_zero();
        metrics
    }

    pub fn account_up(&self, account: &str, up: bool) {
        self.account_up.with_label_values(&[account]).set(i64::from(up));
    }

    /// An account no longer served leaves no stale series behind.
    pub fn account_gone(&self, account: &str) {
        let _ = self.account_up.remove_label_values(&[account]);
    }

    fn start_at_zero(&self) {
        for (rule, actions) in RULE_ACTIONS {
            self.violations.with_label_values(&[rule.id()]).set(0);
            for action in actions {
                for outcome in DECISION_OUTCOMES {
                    self.remediations
                        .with_label_values(&[rule.id(), action.name(), outcome]);
                }
            }
        }
        for outcome in SQS_OUTCOMES {
            self.sqs_messages.with_label_values(&[outcome]);
        }
        for kind in RECONCILE_KINDS {
            self.reconcile_duration.with_label_values(&[kind]);
            for outcome in ["success", "error"] {
                self.reconciles.with_label_values(&[kind, outcome]);
            }
        }
        for outcome in ["success", "error"] {
            self.policy_reloads.with_label_values(&[outcome]);
        }
    }

    /// The interceptor's counter: every AWS attempt is counted in this one place.
    pub fn aws_requests(&self) -> IntCounterVec {
        self.aws_requests.clone()
    }

    pub fn sqs_message(&self, outcome: &str) {
        self.sqs_messages.with_label_values(&[outcome]).inc();
    }

    pub fn delivery_lag(&self, event_time: Option<chrono::DateTime<Utc>>) {
        if let Some(lag) = event_time.and_then(|t| (Utc::now() - t).to_std().ok()) {
            self.event_delivery_lag.observe(lag.as_secs_f64());
        }
    }

    pub fn policy_reload(&self, succeeded: bool) {
        self.policy_reloads
            .with_label_values(&[if succeeded { "success" } else { "error" }])
            .inc();
    }

    /// Records one finished reconcile of one key: its outcome and time, its
    /// decisions, the latency from event to change, and the drift it left.
    pub fn reconciled(
        &self,
        work: &Work,
        elapsed: Duration,
        result: Option<(&Plan, &[Outcome])>,
        triggers: &[Trigger],
    ) {
        let key = &work.key;
        self.record(work, elapsed, result, triggers, |rule, resource| {
            covers(key, rule, resource)
        });
    }

    /// Records a resync. It judged every resource; those it named as suspects
    /// are judged again by their own reconciles, and the rest are in spec.
    pub fn resynced(
        &self,
        account: &AccountId,
        elapsed: Duration,
        result: Option<(&Plan, &[Outcome], &BTreeMap<Key, Facets>)>,
    ) {
        let suspects = result.map(|(_, _, suspects)| suspects);
        let judged = |_: Rule, resource: &Resource| match (key_for(resource), suspects) {
            (Some(key), Some(suspects)) => !suspects.contains_key(&key),
            (None, _) => true,
            (Some(_), None) => false,
        };
        let result = result.map(|(plan, outcomes, _)| (plan, outcomes));
        self.record(&Work::new(account, Key::All), elapsed, result, &[], judged);
        if result.is_some() {
            self.last_full_sync.set(Utc::now().timestamp_millis() as f64 / 1000.0);
        }
    }

    fn record(
        &self,
        work: &Work,
        elapsed: Duration,
        result: Option<(&Plan, &[Outcome])>,
        triggers: &[Trigger],
        judged: impl Fn(Rule, &Resource) -> bool,
    ) {
        let kind = work.key.kind();
        self.reconcile_duration
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
        let succeeded = result.is_some_and(|(_, outcomes)| !outcomes.iter().any(|o| matches!(o, Outcome::Failed(_))));
        self.reconciles
            .with_label_values(&[kind, if succeeded { "success" } else { "error" }])
            .inc();
        let Some((plan, outcomes)) = result else { return };
        let earliest_event = triggers.iter().filter_map(|t| t.event_time).min();
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        open.retain(|(account, rule, resource)| *account != work.account || !judged(*rule, resource));
        for (finding, outcome) in plan.findings.iter().zip(outcomes) {
            if finding.is_remediation() {
                self.remediations
                    .with_label_values(&[finding.rule.id(), finding.action.name(), outcome.label()])
                    .inc();
            }
            if let (Outcome::Applied, Some(at)) = (outcome, earliest_event) {
                self.event_to_remediation
                    .observe((Utc::now() - at).to_std().unwrap_or_default().as_secs_f64());
            }
            if finding.is_drift() && !matches!(outcome, Outcome::Applied) {
                open.insert((work.account.clone(), finding.rule, finding.resource.clone()));
            }
        }
        for (rule, _) in RULE_ACTIONS {
            let count = open.iter().filter(|(_, r, _)| *r == rule).count();
            self.violations
                .with_label_values(&[rule.id()])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// The Prometheus text format.
    pub fn encode(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// Total AWS attempts and each `service:operation:outcome=n`, for a CLI log line.
    pub fn aws_request_summary(&self) -> (u64, String) {
        let mut total = 0;
        let mut each = Vec::new();
        for family in self
            .registry
            .gather()
            .iter()
            .filter(|f| f.name() == "iam_warden_aws_requests_total")
        {
            for metric in family.get_metric() {
                let label = |n: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|l| l.name() == n)
                        .map(|l| l.value().to_owned())
                };
                let count = metric.get_counter().get_value() as u64;
                total += count;
                each.push(format!(
                    "{}:{}:{}={count}",
                    label("service").unwrap_or_default(),
                    label("operation").unwrap_or_default(),
                    label("outcome").unwrap_or_default()
                ));
            }
        }
        (total, each.join(" "))
    }
}

/// Whether a reconcile of `key` re-judged this finding.
fn covers(key: &Key, rule: Rule, resource: &Resource) -> bool {
    match key {
        Key::All => true,
        Key::PasswordPolicy => *resource == Resource::PasswordPolicy,
        Key::User(name) => resource.user() == Some(name),
        Key::Role(name) => resource.role() == Some(name),
        Key::Group(_) => false,
        Key::OidcProvider(arn) => matches!(resource, Resource::OidcProvider { arn: a, .. } if a == arn),
        Key::OidcProviders => matches!(resource, Resource::OidcProvider { .. }),
        Key::Trails => rule == Rule::Cloudtrail,
        Key::QuarantinePolicies => matches!(resource, Resource::QuarantinePolicy { .. }),
    }
}
