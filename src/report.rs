//! What `plan` and `apply` print for a person: one table row per finding.

use std::fmt::Write;

use crate::execute::Outcome;
use crate::plan::{Finding, Plan, Severity};

/// The plan as a table, with each finding's standing in the status column.
pub fn plan_table(plan: &Plan) -> String {
    let statuses: Vec<&str> = plan.findings.iter().map(standing).collect();
    let mut text = table(&plan.findings, "STATUS", &statuses);
    let count = |status: &str| statuses.iter().filter(|s| **s == status).count();
    if plan.in_spec() {
        text.push_str("In spec.");
    } else {
        let _ = write!(
            text,
            "Drift: {} to change, {} report-only.",
            count("change"),
            count("report")
        );
    }
    let _ = write!(text, " {} warning(s), {} exempt.", count("warning"), count("exempt"));
    if let Some(deadline) = plan.next_deadline {
        let _ = write!(text, " Next deadline: {}.", deadline.format("%Y-%m-%d %H:%M:%S UTC"));
    }
    text.push('\n');
    text
}

/// The findings with what became of each, after `apply`.
pub fn apply_table(plan: &Plan, outcomes: &[Outcome], remaining: usize) -> String {
    let labels: Vec<&str> = outcomes.iter().map(Outcome::label).collect();
    let mut text = table(&plan.findings, "OUTCOME", &labels);
    let count = |label: &str| labels.iter().filter(|l| **l == label).count();
    let _ = writeln!(
        text,
        "Applied {}, failed {}, dry-run {}, rate-limited {}. {}",
        count("applied"),
        count("failed"),
        count("dry_run"),
        count("rate_limited"),
        if remaining == 0 {
            "In spec.".to_owned()
        } else {
            format!("{remaining} finding(s) remain.")
        }
    );
    text
}

fn standing(finding: &Finding) -> &'static str {
    match (finding.severity, &finding.exempt) {
        (_, Some(_)) => "exempt",
        (Severity::Warning, None) => "warning",
        (Severity::Violation, None) if finding.is_actionable() => "change",
        (Severity::Violation, None) => "report",
    }
}

fn table(findings: &[Finding], status_title: &str, statuses: &[&str]) -> String {
    if findings.is_empty() {
        return String::new();
    }
    let rows: Vec<[String; 5]> = findings
        .iter()
        .zip(statuses)
        .map(|(f, status)| {
            let reason = match &f.exempt {
                Some(why) => format!("{} (exempt: {why})", f.reason),
                None => f.reason.clone(),
            };
            [
                f.rule.to_string(),
                f.resource.to_string(),
                f.action.to_string(),
                status.to_string(),
                reason,
            ]
        })
        .collect();
    let header = ["RULE", "RESOURCE", "ACTION", status_title, "REASON"].map(str::to_owned);
    let widths: Vec<usize> = (0..4)
        .map(|col| {
            rows.iter()
                .chain([&header])
                .map(|row| row[col].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in [&header].into_iter().chain(&rows) {
        for (col, width) in widths.iter().enumerate() {
            let _ = write!(text, "{:width$}  ", row[col]);
        }
        let _ = writeln!(text, "{}", row[4]);
    }
    text.push('\n');
    text
}
