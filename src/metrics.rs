//! Prometheus metrics. `Metrics` owns the registry; every series whose labels
//! are known in advance starts at 0, so alerts and rates work from the first
//! scrape. No label carries a user name, key id or ARN.

use std::time::Duration;

use chrono::Utc;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use strum::IntoEnumIterator;

use crate::outcome::OutcomeKind;
use crate::plan::{Action, actions_of};
use crate::policy::Rule;
use crate::work::Kind;

/// From a fast event path (50 ms) to a slow CloudTrail delivery (15 min).
const LATENCY_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
];
/// From one user read (10 ms) to a full scan of a large account (5 min).
const RECONCILE_BUCKETS: [f64; 12] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0];

/// What became of an SQS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum SqsOutcome {
    Acked,
    Ignored,
    Malformed,
    Retried,
}

/// How a reconcile, a policy reload, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum Success {
    Success,
    Error,
}

impl From<bool> for Success {
    fn from(succeeded: bool) -> Success {
        if succeeded { Success::Success } else { Success::Error }
    }
}

pub struct Metrics {
    registry: Registry,
    violations: IntGaugeVec,
    remediations: IntCounterVec,
    sqs_messages: IntCounterVec,
    reconciles: IntCounterVec,
    reconcile_errors: IntCounterVec,
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
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// Registers each series as it is made.
struct Registering(Registry);

impl Registering {
    fn register<C: prometheus::core::Collector + Clone + 'static>(&self, collector: C) -> C {
        self.0.register(Box::new(collector.clone())).expect("registered once");
        collector
    }

    fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.register(IntCounterVec::new(Opts::new(full(name), help), labels).expect("valid metric"))
    }

    fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.register(IntGauge::new(full(name), help).expect("valid metric"))
    }

    fn gauges(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.register(IntGaugeVec::new(Opts::new(full(name), help), labels).expect("valid metric"))
    }

    fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        let options = HistogramOpts::new(full(name), help).buckets(buckets.to_vec());
        self.register(Histogram::with_opts(options).expect("valid metric"))
    }
}

fn full(name: &str) -> String {
    format!("iam_warden_{name}")
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registering(Registry::new());
        let duration = HistogramOpts::new(
            full("reconcile_duration_seconds"),
            "Time to observe, plan and execute one key.",
        )
        .buckets(RECONCILE_BUCKETS.to_vec());
        let build_info = r.gauges("build_info", "Always 1; the version as a label.", &["version"]);
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let metrics = Metrics {
            violations: r.gauges("violations", "Findings out of spec, by rule.", &["rule"]),
            remediations: r.counter(
                "remediations_total",
                "Decisions on findings that call for a change.",
                &["rule", "action", "outcome"],
            ),
            sqs_messages: r.counter(
                "sqs_messages_total",
                "SQS messages by what became of them.",
                &["outcome"],
            ),
            reconciles: r.counter(
                "reconciles_total",
                "Reconciles by key kind and outcome.",
                &["kind", "outcome"],
            ),
            reconcile_errors: r.counter(
                "reconcile_errors_total",
                "Reconciles that failed, by key kind and cause.",
                &["kind", "error"],
            ),
            reconcile_duration: r.register(HistogramVec::new(duration, &["kind"]).expect("valid metric")),
            event_to_remediation: r.histogram(
                "event_to_remediation_seconds",
                "From a CloudTrail event's time to the change it caused.",
                &LATENCY_BUCKETS,
            ),
            event_delivery_lag: r.histogram(
                "event_delivery_lag_seconds",
                "From a CloudTrail event's time to its message's receipt.",
                &LATENCY_BUCKETS,
            ),
            aws_requests: r.counter(
                "aws_requests_total",
                "AWS API attempts, retries included.",
                &["service", "operation", "outcome"],
            ),
            workqueue_depth: r.gauge("workqueue_depth", "Keys due and waiting for a worker."),
            last_full_sync: r.register(
                Gauge::new(
                    full("last_full_sync_timestamp_seconds"),
                    "When the last full reconcile succeeded.",
                )
                .expect("valid metric"),
            ),
            policy_reloads: r.counter("policy_reloads_total", "Policy file reloads.", &["outcome"]),
            change_budget_exhausted: r.gauge(
                "change_budget_exhausted",
                "Accounts whose hourly change budget is spent: 1 or 0 for a single account.",
            ),
            // The account label is bounded by the Organization, never by its users.
            account_up: r.gauges(
                "account_up",
                "1 while the account's role can be assumed and read.",
                &["account"],
            ),
            shard_accounts: r.gauge(
                "shard_accounts",
                "Accounts this replica resyncs and keeps deadlines for.",
            ),
            registry: r.0,
        };
        metrics.start_at_zero();
        metrics
    }

    /// Every series whose labels are known in advance, at 0.
    fn start_at_zero(&self) {
        for rule in Rule::iter() {
            self.violations.with_label_values(&[rule.id()]).set(0);
            for action in actions_of(rule) {
                for outcome in OutcomeKind::iter().filter(|o| *o != OutcomeKind::Reported) {
                    let outcome: &str = outcome.into();
                    self.remediations
                        .with_label_values(&[rule.id(), action.name(), outcome]);
                }
            }
        }
        for outcome in SqsOutcome::iter() {
            self.sqs_messages.with_label_values(&[<&str>::from(outcome)]);
        }
        for kind in Kind::iter() {
            let kind: &str = kind.into();
            self.reconcile_duration.with_label_values(&[kind]);
            for outcome in Success::iter() {
                self.reconciles.with_label_values(&[kind, outcome.into()]);
            }
        }
        for outcome in Success::iter() {
            self.policy_reloads.with_label_values(&[<&str>::from(outcome)]);
        }
    }

    pub fn account_up(&self, account: &str, up: bool) {
        self.account_up.with_label_values(&[account]).set(i64::from(up));
    }

    /// An account no longer served leaves no stale series behind.
    pub fn account_gone(&self, account: &str) {
        let _ = self.account_up.remove_label_values(&[account]);
    }

    /// The interceptor's counter: every AWS attempt is counted in this one place.
    pub fn aws_requests(&self) -> IntCounterVec {
        self.aws_requests.clone()
    }

    pub fn sqs_message(&self, outcome: SqsOutcome) {
        self.sqs_messages.with_label_values(&[<&str>::from(outcome)]).inc();
    }

    pub fn delivery_lag(&self, event_time: Option<chrono::DateTime<Utc>>) {
        if let Some(lag) = event_time.and_then(|t| (Utc::now() - t).to_std().ok()) {
            self.event_delivery_lag.observe(lag.as_secs_f64());
        }
    }

    pub fn policy_reload(&self, outcome: Success) {
        self.policy_reloads.with_label_values(&[<&str>::from(outcome)]).inc();
    }

    /// One finished reconcile: its kind, time and outcome, and its cause if it failed.
    pub fn reconciled(&self, kind: Kind, elapsed: Duration, error: Option<&'static str>) {
        let kind: &str = kind.into();
        self.reconcile_duration
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
        let outcome: &str = Success::from(error.is_none()).into();
        self.reconciles.with_label_values(&[kind, outcome]).inc();
        if let Some(error) = error {
            self.reconcile_errors.with_label_values(&[kind, error]).inc();
        }
    }

    /// A decision on a finding that calls for a change.
    pub fn remediation(&self, rule: Rule, action: Action, outcome: OutcomeKind) {
        self.remediations
            .with_label_values(&[rule.id(), action.name(), outcome.into()])
            .inc();
    }

    /// A change applied, `seconds` after the event that asked for it.
    pub fn event_to_remediation(&self, seconds: f64) {
        self.event_to_remediation.observe(seconds);
    }

    pub fn set_violations(&self, rule: Rule, count: usize) {
        self.violations
            .with_label_values(&[rule.id()])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn full_sync_done(&self) {
        self.last_full_sync.set(Utc::now().timestamp_millis() as f64 / 1000.0);
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
