//! The audit log: one JSON line on stderr per decision, with the before-state
//! of the resource, so any change can be traced, and undone by `iam-warden undo`.

use std::io::Write;

use chrono::Utc;
use serde::Serialize;

use crate::outcome::Outcome;
use crate::plan::{Action, Finding, Resource};
use crate::policy::Rule;

#[derive(Serialize)]
struct Record<'a> {
    time: String,
    log: &'static str,
    account: &'a str,
    rule: Rule,
    action: Action,
    resource: &'a Resource,
    reason: &'a str,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    before: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
}

pub(super) fn record(account: &str, finding: &Finding, outcome: &Outcome, event_id: Option<&str>) {
    write(&Record {
        time: now(),
        log: "audit",
        account,
        rule: finding.rule,
        action: finding.action(),
        resource: &finding.resource,
        reason: &finding.reason,
        outcome: outcome.label(),
        detail: outcome.detail(finding),
        before: &finding.before,
        event_id,
    });
}

/// A policy version deleted to make room for a restore: its document is gone
/// from IAM, so the audit log keeps it.
pub(super) fn deleted_version(account: &str, finding: &Finding, version: &str, document: &str, event_id: Option<&str>) {
    let before = serde_json::json!({
        "deletedVersion": version,
        "document": serde_json::from_str::<serde_json::Value>(document).unwrap_or_else(|_| document.into()),
    });
    write(&Record {
        time: now(),
        log: "audit",
        account,
        rule: finding.rule,
        action: finding.action(),
        resource: &finding.resource,
        reason: "IAM keeps five versions: the oldest non-default one was deleted to make room",
        outcome: "applied",
        detail: None,
        before: &before,
        event_id,
    });
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn write(line: &Record<'_>) {
    if let Ok(mut text) = serde_json::to_string(line) {
        text.push('\n');
        // One write per line, so concurrent reconciles never interleave a record.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}
