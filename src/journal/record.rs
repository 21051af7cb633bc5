//! One line of the journal, typed: the intent to make a change, written and
//! made durable before the change, and its outcome after, with the same id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::plan::{Change, Resource};
use crate::policy::Rule;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The change's id: its intent and its outcome share it.
    pub id: String,
    pub time: DateTime<Utc>,
    pub account: AccountId,
    #[serde(flatten)]
    pub phase: Phase,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Phase {
    Intent(Box<Intent>),
    Outcome(Concluded),
}

/// A change about to be made, with all that `undo` needs to reverse it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub rule: Rule,
    pub resource: Resource,
    /// Carries whatever it destroys: a deleted document or provider is here.
    pub change: Change,
    pub reason: String,
    /// The resource as read right before the change.
    pub before: serde_json::Value,
    /// Every CloudTrail event that led to it, merged or retried.
    #[serde(default)]
    pub events: Vec<String>,
    /// The id of the change this one reverses, for a change `undo` made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concluded {
    pub outcome: Ended,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    Applied,
    Failed,
}

/// A change's place in the journal: its id, and the time its intent was
/// written, which is also the time (to the second) of any record the change
/// leaves on the resource.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub time: DateTime<Utc>,
    pub account: AccountId,
}

impl Entry {
    pub(super) fn new(account: AccountId) -> Entry {
        Entry {
            id: format!("{:016x}", rand::random::<u64>()),
            time: Utc::now(),
            account,
        }
    }

    pub(super) fn record(&self, phase: Phase) -> Record {
        let time = match phase {
            Phase::Intent(_) => self.time,
            Phase::Outcome(_) => Utc::now(),
        };
        Record {
            id: self.id.clone(),
            time,
            account: self.account.clone(),
            phase,
        }
    }
}

/// Records as journal lines: one JSON object per line.
pub(super) fn lines(records: &[Record]) -> String {
    let mut text = String::new();
    for record in records {
        // A record is plain data: it always serialises.
        if let Ok(line) = serde_json::to_string(record) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

/// The records in journal text; a line that is not one is named, not skipped silently.
pub(super) fn parse(text: &str, source: &str, records: &mut Vec<Record>) {
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<Record>(line) {
            Ok(record) => records.push(record),
            Err(error) => {
                tracing::warn!(source, line = number + 1, %error, "a journal line is not a record; it is ignored")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::Name;

    #[test]
    fn a_record_reads_back_as_written() {
        let entry = Entry::new(AccountId::parse("123456789012").unwrap());
        let intent = entry.record(Phase::Intent(Box::new(Intent {
            rule: Rule::UserPermissions,
            resource: Resource::InlinePolicy {
                user: Name::from("alice"),
                name: "admin".into(),
            },
            change: Change::DeleteUserPolicy {
                user: Name::from("alice"),
                name: "admin".into(),
                document: r#"{"Statement":[]}"#.into(),
            },
            reason: "admin".into(),
            before: serde_json::json!({"name": "admin"}),
            events: vec!["e1".into(), "e2".into()],
            undoes: None,
        })));
        let outcome = entry.record(Phase::Outcome(Concluded {
            outcome: Ended::Applied,
            detail: None,
        }));
        let text = lines(&[intent.clone(), outcome.clone()]);
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains(r#""phase":"intent""#), "{text}");
        let mut read = Vec::new();
        parse(&text, "test", &mut read);
        assert_eq!(read, vec![intent, outcome]);
    }
}
