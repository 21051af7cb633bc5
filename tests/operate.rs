//! What an operator scrapes and probes, on a running daemon.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use support::{Daemon, Moto, PolicyFile, TEST_KEY, reactivate_and_announce, sample};

const POLICY: &str = "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: operate-test}
spec:
  accessKeys: {maxAge: 90d, maxUnused: 45d, deleteAfter: 180d, action: deactivate}
  oidcProviders: {allowedIssuers: [token.actions.githubusercontent.com], action: delete}
";

/// Every metric of design.md §5, with its type.
const METRICS: [(&str, &str); 13] = [
    ("iam_warden_violations", "gauge"),
    ("iam_warden_remediations_total", "counter"),
    ("iam_warden_sqs_messages_total", "counter"),
    ("iam_warden_reconciles_total", "counter"),
    ("iam_warden_reconcile_duration_seconds", "histogram"),
    ("iam_warden_event_to_remediation_seconds", "histogram"),
    ("iam_warden_event_delivery_lag_seconds", "histogram"),
    ("iam_warden_aws_requests_total", "counter"),
    ("iam_warden_workqueue_depth", "gauge"),
    ("iam_warden_last_full_sync_timestamp_seconds", "gauge"),
    ("iam_warden_policy_reloads_total", "counter"),
    ("iam_warden_change_budget_exhausted", "gauge"),
    ("iam_warden_build_info", "gauge"),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_designed_metric_is_exported_and_the_page_passes_promtool() {
    let moto = Moto::start();
    let seeded = moto.seed(&["targets"]);
    let queues = moto.queue_with_dlq(5, 3).await;
    let policy = PolicyFile::new(POLICY);
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path), ("queue_url", &queues.url)]).await;

    let key = seeded["mallory_key"].as_str().unwrap().to_owned();
    reactivate_and_announce(&moto, &queues, &[("mallory".to_owned(), key.clone())]).await;
    queues.send("not a CloudTrail event").await;
    daemon
        .until(10, "the event and every echo acked", async || {
            let page = daemon.get("/metrics").await.1;
            let acked = sample(&page, "iam_warden_sqs_messages_total{outcome=\"acked\"}");
            queues.pending(&queues.url).await <= 1 && acked == 1.0 + daemon.proxy().echoed() as f64
        })
        .await;
    daemon
        .until_sample(10, "iam_warden_sqs_messages_total{outcome=\"malformed\"} 1")
        .await;

    let (status, page) = daemon.get("/metrics").await;
    assert_eq!(status, 200);
    for (name, kind) in METRICS {
        assert!(
            page.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} as a {kind} is missing"
        );
    }
    assert!(
        daemon.proxy().echoed() >= 2,
        "the deactivation and its record came back as events"
    );
    assert_eq!(
        sample(&page, "iam_warden_sqs_messages_total{outcome=\"retried\"}"),
        0.0,
        "known series start at 0"
    );
    assert_eq!(
        sample(
            &page,
            "iam_warden_remediations_total{action=\"deactivate-access-key\",outcome=\"applied\",rule=\"access-keys\"}"
        ),
        1.0
    );
    assert_eq!(sample(&page, "iam_warden_event_to_remediation_seconds_count"), 1.0);
    assert!(
        page.contains("iam_warden_event_to_remediation_seconds_bucket{le=\"0.05\"}"),
        "buckets from 50 ms"
    );
    assert!(
        page.contains("iam_warden_event_to_remediation_seconds_bucket{le=\"900\"}"),
        "to 15 min"
    );
    assert!(
        sample(
            &page,
            "iam_warden_aws_requests_total{operation=\"UpdateAccessKey\",outcome=\"ok\",service=\"iam\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &page,
            "iam_warden_aws_requests_total{operation=\"ReceiveMessage\",outcome=\"ok\",service=\"sqs\"}"
        ) >= 1.0
    );
    assert!(sample(&page, "iam_warden_last_full_sync_timestamp_seconds") > 1.7e9);
    assert_eq!(
        sample(&page, "iam_warden_violations{rule=\"access-keys\"}"),
        0.0,
        "the one violation was fixed"
    );
    assert_eq!(sample(&page, "iam_warden_build_info{version=\"0.1.0\"}"), 1.0);
    for secret in ["mallory", "AKIA", "arn:", &key] {
        assert!(!page.contains(secret), "a label carries `{secret}`");
    }
    dashboard_uses_only_exported_metrics(&page);
    alerts_use_only_exported_metrics(&page);

    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool, from Debian's prometheus package: run scripts/setup");
    use std::io::Write;
    promtool.stdin.as_ref().unwrap().write_all(page.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_are_live_and_ready_once_the_first_full_reconcile_is_done() {
    let moto = Moto::start();
    moto.seed(&["targets"]);
    let policy = PolicyFile::new(POLICY);
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path)]).await;
    assert_eq!(daemon.get("/livez").await, (200, "ok\n".to_owned()));
    assert_eq!(daemon.get("/readyz").await, (200, "ok\n".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_aws_keeps_the_daemon_alive_but_not_ready() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Moto::unreachable(port);
    let policy = PolicyFile::new(POLICY);
    let mut daemon = Daemon::start(&nowhere, (TEST_KEY, TEST_KEY), &[("policy", &policy.path)]).await;
    let (live, _) = daemon.get("/livez").await;
    let (ready, why) = daemon.get("/readyz").await;
    assert_eq!((live, ready), (200, 503));
    assert_eq!(why, "the first full reconcile has not finished\n");
    daemon
        .until(10, "a retry", async || {
            !daemon
                .records("asking AWS who iam-warden runs as failed; retrying", None)
                .is_empty()
        })
        .await;
    assert!(daemon.running(), "no crash, so no restart storm");
    assert_eq!(daemon.terminate(10).await, Some(0));
}

/// The series names a scrape of `page` can return: histograms as their parts.
fn exported(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .flat_map(|declaration| {
            let (name, kind) = declaration.split_once(' ').unwrap();
            match kind {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .map(|part| format!("{name}{part}"))
                    .collect(),
                _ => vec![name.to_owned()],
            }
        })
        .collect()
}

/// Every `iam_warden_*` name in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("iam_warden_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

fn deploy_file(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// Series that exist only when iam-warden serves many accounts, one per account.
const ORGANIZATION_ONLY: [&str; 1] = ["iam_warden_account_up"];

fn dashboard_uses_only_exported_metrics(page: &str) {
    let exported = exported(page);
    let dashboard: Value = serde_json::from_str(&deploy_file("deploy/grafana/iam-warden.json")).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 7);
    let mut used = BTreeSet::new();
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} queries nothing", panel["title"]);
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {} ignores the datasource variable",
            panel["title"]
        );
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            assert!(
                expr.contains("namespace=\"$namespace\""),
                "not scoped to $namespace: {expr}"
            );
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr}");
            for name in names {
                assert!(
                    exported.contains(&name) || ORGANIZATION_ONLY.contains(&name.as_str()),
                    "the dashboard uses {name}, which the binary does not export"
                );
                used.insert(name);
            }
        }
    }
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "namespace", "account"]);
    assert!(used.len() >= 10, "the dashboard shows most metrics: {used:?}");
}

fn alerts_use_only_exported_metrics(page: &str) {
    let exported = exported(page);
    let rules = deploy_file("deploy/prometheus/rules.yaml");
    let runbook = deploy_file("docs/runbook.md");
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(|heading| heading.to_lowercase().replace(' ', "-"))
        .collect();
    let mut alerts = 0;
    for line in rules.lines().map(str::trim) {
        if let Some(expr) = line.strip_prefix("expr: ") {
            for name in metric_names(expr) {
                assert!(
                    exported.contains(&name),
                    "an alert uses {name}, which the binary does not export"
                );
            }
        }
        if let Some(url) = line.strip_prefix("runbook_url: ") {
            let anchor = url.trim_matches('"').rsplit_once('#').unwrap().1;
            assert!(anchors.contains(anchor), "no runbook section for #{anchor}");
            alerts += 1;
        }
    }
    assert_eq!(alerts, 8, "every alert links its runbook section");
}
