//! The audit log: one JSON line on stderr per decision, with the before-state
//! of the resource, for log pipelines. `undo` never reads it: it reads the
//! journal, written before each change.

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
    /// The CloudTrail events behind it, if any.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    events: &'a [String],
}

pub(super) fn record(account: &str, finding: &Finding, outcome: &Outcome, events: &[String]) {
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
        events,
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
