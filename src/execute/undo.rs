//! `iam-warden undo`: reverses changes from the journal, newest first. Each
//! is reversed only if a live read finds the resource still as iam-warden
//! left it, and through the same executor and journal as any change, so an
//! undo is itself journaled and can be undone. What cannot come back, and
//! what someone changed since, is said, and left alone.

use std::collections::HashSet;

use chrono::SecondsFormat;
use serde::Serialize;

use super::Executor;
use crate::journal::{History, Made};
use crate::observe::{self, Reader, Refusal};
use crate::outcome::Outcome;
use crate::work::key_for;

/// One change from the journal, and what became of its reversal.
#[derive(Debug, Serialize)]
pub struct Reversal {
    pub time: String,
    /// The change's id in the journal: `undo --id` picks it.
    pub id: String,
    pub action: String,
    pub resource: String,
    pub result: UndoResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum UndoResult {
    Reversed,
    DryRun,
    /// No outcome was written (the process stopped mid-change), and AWS
    /// does not show the change: it never landed, so nothing is reversed.
    NotMade,
    /// The resource is no longer as iam-warden left it: left alone.
    ChangedSince,
    /// AWS cannot give it back, or iam-warden never will.
    Irreversible,
    /// It would change the identity iam-warden runs as.
    Protected,
    Failed,
}

/// Reverses `picked`, what stands of each change selected in one account,
/// newest first.
pub async fn undo(reader: &Reader, executor: &Executor, history: &History, picked: &[&Made]) -> Vec<Reversal> {
    let mut reversed: HashSet<String> = HashSet::new();
    let mut reversals = Vec::with_capacity(picked.len());
    for made in picked {
        let (result, detail) = match history.overtaken(made, &reversed) {
            Some(later) => (
                UndoResult::ChangedSince,
                Some(format!(
                    "iam-warden changed it again at {} ({}, {})",
                    later.time.to_rfc3339_opts(SecondsFormat::Secs, true),
                    later.intent.change.action(),
                    later.id
                )),
            ),
            None => reverse(reader, executor, made).await,
        };
        if matches!(result, UndoResult::Reversed | UndoResult::DryRun) {
            reversed.insert(made.id.clone());
        }
        let reversal = Reversal {
            time: made.time.to_rfc3339_opts(SecondsFormat::Millis, true),
            id: made.id.clone(),
            action: made.intent.change.action().to_string(),
            resource: made.intent.resource.to_string(),
            result,
            detail,
        };
        tracing::info!(
            log = "undo",
            id = %reversal.id,
            action = %reversal.action,
            resource = %reversal.resource,
            result = <&str>::from(result),
            detail = reversal.detail.as_deref().unwrap_or_default(),
            "undo"
        );
        reversals.push(reversal);
    }
    reversals
}

/// Reads the resource, judges the reversal on it, and makes it.
async fn reverse(reader: &Reader, executor: &Executor, made: &Made) -> (UndoResult, Option<String>) {
    if let Err(why) = made.intent.change.inverse() {
        return (UndoResult::Irreversible, Some(why.to_owned()));
    }
    let live = match reader.current(&key_for(&made.intent.resource)).await {
        Ok(live) => live,
        Err(error) => return (UndoResult::Failed, Some(error.to_string())),
    };
    let change = observe::Made {
        rule: made.intent.rule,
        resource: &made.intent.resource,
        change: &made.intent.change,
        time: made.time,
    };
    let reversal = match live.reversal(&change) {
        Ok(reversal) => reversal,
        Err(Refusal::Never(why)) => return (UndoResult::Irreversible, Some(why.to_owned())),
        Err(Refusal::ChangedSince(why)) if made.ended.is_none() => {
            let why = format!("no outcome was written, and AWS does not show the change ({why})");
            return (UndoResult::NotMade, Some(why));
        }
        Err(Refusal::ChangedSince(why)) => return (UndoResult::ChangedSince, Some(why)),
    };
    let decided = executor.reverse(reversal, &reader.caller(), &made.id).await;
    match decided.outcome {
        Outcome::Applied => (UndoResult::Reversed, None),
        Outcome::DryRun => (UndoResult::DryRun, None),
        Outcome::Protected(why) => (UndoResult::Protected, Some(why)),
        Outcome::Failed(error) => (UndoResult::Failed, Some(error.to_string())),
        other => (
            UndoResult::Failed,
            Some(format!("unexpected outcome {}", other.label())),
        ),
    }
}
