//! What `plan` and `apply` print for a person: one table row per finding.

use std::fmt::Write;
use std::path::PathBuf;

use crate::account::Account;
use crate::error::Error;
use crate::execute::undo::{Reversal, UndoResult};
use crate::outcome::Outcome;
use crate::plan::{Finding, Plan, Severity};
use crate::policy::Mode;
use crate::reconcile::Pass;

/// The plan as a table, with each finding's standing in the status column.
pub fn plan_table(plan: &Plan) -> String {
    // In audit mode a change is only ever reported: the table says so.
    let audit = |status: &'static str| match (plan.mode, status) {
        (Mode::Audit, "change") => "audit",
        _ => status,
    };
    let rows: Vec<(&Finding, &str, Option<String>)> =
        plan.findings.iter().map(|f| (f, audit(standing(f)), None)).collect();
    let statuses: Vec<&str> = rows.iter().map(|(_, status, _)| *status).collect();
    let mut text = table(&rows, "STATUS");
    let count = |status: &str| statuses.iter().filter(|s| **s == status).count();
    if plan.in_spec() {
        text.push_str("In spec.");
    } else {
        let _ = match plan.mode {
            Mode::Enforce => write!(
                text,
                "Drift: {} to change, {} report-only.",
                count("change"),
                count("report")
            ),
            Mode::Audit => write!(
                text,
                "Drift: {} that enforce mode would change, {} report-only. Audit mode: nothing is changed.",
                count("audit"),
                count("report")
            ),
        };
    }
    let _ = write!(
        text,
        " {} warning(s), {} exempt, {} record-keeping.",
        count("warning"),
        count("exempt"),
        count("record")
    );
    if let Some(deadline) = plan.next_deadline {
        let _ = write!(text, " Next deadline: {}.", deadline.format("%Y-%m-%d %H:%M:%S UTC"));
    }
    text.push('\n');
    text
}

/// The findings with what became of each, after `apply`.
pub fn apply_table(pass: &Pass) -> String {
    // Why a change did not happen, when the reason alone does not say.
    let rows: Vec<(&Finding, &str, Option<String>)> = pass
        .decided
        .iter()
        .map(|d| {
            let note = match d.outcome {
                Outcome::Failed(_) | Outcome::Protected(_) | Outcome::RateLimited(_) => d.outcome.detail(&d.finding),
                _ => None,
            };
            (&d.finding, d.outcome.label(), note)
        })
        .collect();
    let labels: Vec<&str> = rows.iter().map(|(_, label, _)| *label).collect();
    let remaining = pass.remaining();
    let mut text = table(&rows, "OUTCOME");
    let count = |label: &str| labels.iter().filter(|l| **l == label).count();
    let _ = writeln!(
        text,
        "Applied {}, failed {}, dry-run {}, rate-limited {}, protected {}. {}",
        count("applied"),
        count("failed"),
        count("dry_run"),
        count("rate_limited"),
        count("protected"),
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
        (Severity::Housekeeping, None) => "record",
        (Severity::Violation, None) if finding.is_actionable() => "change",
        (Severity::Violation, None) => "report",
    }
}

/// Each finding with its status and a note on why, when there is one.
fn table(findings: &[(&Finding, &str, Option<String>)], status_title: &str) -> String {
    if findings.is_empty() {
        return String::new();
    }
    let rows: Vec<[String; 5]> = findings
        .iter()
        .map(|(f, status, note)| {
            let reason = match (&f.exempt, note) {
                (Some(why), _) => format!("{} (exempt: {why})", f.reason),
                (None, Some(note)) => format!("{} ({note})", f.reason),
                (None, None) => f.reason.clone(),
            };
            [
                f.rule.to_string(),
                f.resource.to_string(),
                f.action().to_string(),
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

/// What `undo` did with each applied change, newest first.
pub fn undo_table(reversals: &[Reversal]) -> String {
    if reversals.is_empty() {
        return "No change in the journal matches.\n".to_owned();
    }
    let mut text = String::new();
    let width = |column: fn(&Reversal) -> &str, title: &str| {
        reversals
            .iter()
            .map(|r| column(r).chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let (action, resource) = (width(|r| &r.action, "ACTION"), width(|r| &r.resource, "RESOURCE"));
    let _ = writeln!(
        text,
        "{:16}  {:action$}  {:resource$}  {:13}  DETAIL",
        "ID", "ACTION", "RESOURCE", "RESULT"
    );
    for r in reversals {
        let result = <&str>::from(r.result).replace('_', " ");
        let _ = writeln!(
            text,
            "{:16}  {:action$}  {:resource$}  {result:13}  {}",
            r.id,
            r.action,
            r.resource,
            r.detail.as_deref().unwrap_or("")
        );
    }
    let count = |result: UndoResult| reversals.iter().filter(|r| r.result == result).count();
    let _ = writeln!(
        text,
        "\nReversed {}, dry-run {}, not made {}, changed since {}, cannot be reversed {}, protected {}, failed {}.",
        count(UndoResult::Reversed),
        count(UndoResult::DryRun),
        count(UndoResult::NotMade),
        count(UndoResult::ChangedSince),
        count(UndoResult::Irreversible),
        count(UndoResult::Protected),
        count(UndoResult::Failed)
    );
    text
}

/// One account's result under the policy file that governs it; for many
/// accounts, the file is named.
pub fn governed<T>(governed: &Option<(PathBuf, T)>, many: bool, table: impl Fn(&T) -> String) -> String {
    match governed {
        None => "No policy file governs this account: nothing judged.\n".to_owned(),
        Some((file, value)) if many => format!("Policy: {}\n{}", file.display(), table(value)),
        Some((_, value)) => table(value),
    }
}

/// [`governed`], as JSON: `{"policy": FILE, "plan": ...}` for many accounts.
pub fn governed_json<T>(
    governed: &Option<(PathBuf, T)>,
    many: bool,
    section: impl Fn(&T) -> serde_json::Value,
) -> serde_json::Value {
    match governed {
        None => serde_json::json!({ "policy": null }),
        Some((file, value)) if many => serde_json::json!({ "policy": file, "plan": section(value) }),
        Some((_, value)) => section(value),
    }
}

/// A one-shot command's results, one per account, in the fleet's order. For
/// the caller's own account alone, the output is what it always was.
pub struct Accounts<T> {
    own: bool,
    rows: Vec<(Account, Result<T, Error>, bool)>,
}

impl<T> Accounts<T> {
    /// `own`: the caller's own account alone, whose error is the command's error.
    pub fn new(
        own: bool,
        accounts: &[Account],
        results: Vec<Result<T, Error>>,
        in_spec: impl Fn(&T) -> bool,
    ) -> Result<Accounts<T>, Error> {
        let mut rows = Vec::with_capacity(results.len());
        for (account, result) in accounts.iter().zip(results) {
            let result = match (own, result) {
                (true, Err(error)) => return Err(error),
                (_, result) => result,
            };
            let fine = result.as_ref().is_ok_and(&in_spec);
            rows.push((account.clone(), result, fine));
        }
        Ok(Accounts { own, rows })
    }

    /// Each account's table under its heading, down accounts with why, then a tally.
    pub fn text(&self, table: impl Fn(&T) -> String) -> String {
        let mut text = String::new();
        for (account, result, _) in &self.rows {
            if !self.own {
                let _ = writeln!(text, "== account {}", heading(account));
            }
            match result {
                Ok(value) => text.push_str(&table(value)),
                Err(error) => {
                    let _ = writeln!(text, "DOWN: {error}");
                }
            }
            if !self.own {
                text.push('\n');
            }
        }
        if !self.own {
            let down = self.down();
            let in_spec = self.rows.iter().filter(|(_, _, fine)| *fine).count();
            let _ = writeln!(
                text,
                "{} account(s): {in_spec} in spec, {} not, {down} down.",
                self.rows.len(),
                self.rows.len() - in_spec - down
            );
        }
        text
    }

    /// One document: for many accounts, `{"accounts": [{"account", "name", "result" | "error"}]}`.
    pub fn json(&self, section: impl Fn(&T) -> serde_json::Value) -> serde_json::Value {
        if self.own {
            return self
                .rows
                .first()
                .and_then(|(_, r, _)| r.as_ref().ok())
                .map(&section)
                .unwrap_or_default();
        }
        let accounts: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|(account, result, _)| {
                let mut entry = serde_json::json!(account);
                match result {
                    Ok(value) => entry["result"] = section(value),
                    Err(error) => entry["error"] = error.to_string().into(),
                }
                entry
            })
            .collect();
        serde_json::json!({ "accounts": accounts })
    }

    pub fn down(&self) -> usize {
        self.rows.iter().filter(|(_, r, _)| r.is_err()).count()
    }

    pub fn any(&self, test: impl Fn(&T) -> bool) -> bool {
        self.rows.iter().any(|(_, r, _)| r.as_ref().is_ok_and(&test))
    }

    pub fn all_in_spec(&self) -> bool {
        self.rows.iter().all(|(_, _, fine)| *fine)
    }
}

fn heading(account: &Account) -> String {
    match account.name.as_str() {
        "" => account.id.to_string(),
        name => format!("{} ({name})", account.id),
    }
}
