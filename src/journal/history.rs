//! The journal read back as history: each change with what became of it,
//! which changes `undo` may reverse, and which a later change overtook.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::record::{Ended, Intent, Phase, Record};
use crate::account::AccountId;
use crate::plan::Action;

/// One change from the journal: its intent, and its outcome if one was written.
#[derive(Debug, Clone)]
pub struct Made {
    pub id: String,
    pub time: DateTime<Utc>,
    pub account: AccountId,
    pub intent: Intent,
    /// `None`: the process stopped before it wrote one; what AWS holds decides.
    pub ended: Option<Ended>,
}

/// Which changes to reverse.
#[derive(Debug, Default)]
pub struct Selection {
    /// Only the changes any of whose events is this one.
    pub event: Option<String>,
    /// Only changes made at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Exactly this change, by its id: the only way to select a change
    /// `undo` made, and so to undo an undo.
    pub id: Option<String>,
}

/// Every change in the journal, oldest first, and how they chain: a change
/// `undo` made reverses the one it names, and may be reversed in turn.
#[derive(Debug, Default)]
pub struct History {
    changes: Vec<Made>,
    index: HashMap<String, usize>,
    /// For each change an applied (or possibly applied) reversal names, that reversal.
    reversed_by: HashMap<String, usize>,
}

impl History {
    pub fn of(mut records: Vec<Record>) -> History {
        records.sort_by_key(|r| r.time);
        let mut outcomes: HashMap<String, Ended> = HashMap::new();
        for record in &records {
            if let Phase::Outcome(concluded) = &record.phase {
                outcomes.insert(record.id.clone(), concluded.outcome);
            }
        }
        let changes: Vec<Made> = records
            .into_iter()
            .filter_map(|record| match record.phase {
                Phase::Intent(intent) => Some(Made {
                    ended: outcomes.get(&record.id).copied(),
                    id: record.id,
                    time: record.time,
                    account: record.account,
                    intent: *intent,
                }),
                Phase::Outcome(_) => None,
            })
            .collect();
        let index = changes.iter().enumerate().map(|(at, m)| (m.id.clone(), at)).collect();
        let reversed_by = changes
            .iter()
            .enumerate()
            .filter(|(_, m)| m.may_have_happened())
            .filter_map(|(at, m)| Some((m.intent.undoes.clone()?, at)))
            .collect();
        History {
            changes,
            index,
            reversed_by,
        }
    }

    /// What stands of `made`: itself, or the last of the reversals that
    /// followed it if they cancel out; `None` if it is undone.
    fn standing<'a>(&'a self, made: &'a Made) -> Option<&'a Made> {
        let (mut current, mut undone) = (made, false);
        while let Some(&next) = self.reversed_by.get(&current.id) {
            (current, undone) = (&self.changes[next], !undone);
        }
        (!undone).then_some(current)
    }

    /// The change at the start of `made`'s chain of reversals.
    fn root<'a>(&'a self, made: &'a Made) -> &'a Made {
        let mut current = made;
        while let Some(&at) = current.intent.undoes.as_ref().and_then(|id| self.index.get(id)) {
            current = &self.changes[at];
        }
        current
    }

    /// The changes `selection` picks, as what stands of each, newest first.
    /// Records iam-warden keeps go with the change they record, and are not
    /// reversed on their own.
    pub fn select(&self, selection: &Selection) -> Vec<&Made> {
        let mut picked: Vec<&Made> = self
            .changes
            .iter()
            .filter(|m| m.may_have_happened() && !m.is_record_keeping())
            .filter(|m| match &selection.id {
                Some(id) => m.id == *id,
                None => m.intent.undoes.is_none(),
            })
            .filter(|m| {
                let event = &selection.event;
                event.as_ref().is_none_or(|e| m.intent.events.contains(e))
            })
            .filter(|m| selection.since.is_none_or(|since| m.time >= since))
            .filter_map(|m| self.standing(m))
            .collect();
        picked.sort_by_key(|m| std::cmp::Reverse(m.time));
        picked.dedup_by_key(|m| m.id.clone());
        picked
    }

    /// A later change to the same resource that still stands, of another
    /// chain and not among `reversed` (this run's reversals): `made` is then
    /// no longer what the resource shows, whatever a read says.
    pub fn overtaken(&self, made: &Made, reversed: &HashSet<String>) -> Option<&Made> {
        let root = self.root(made);
        self.changes
            .iter()
            .filter(|m| m.intent.undoes.is_none() && m.id != root.id && m.may_have_happened())
            .filter_map(|m| self.standing(m))
            .find(|later| {
                later.time > made.time
                    && later.account == made.account
                    && later.intent.resource == made.intent.resource
                    && !later.is_record_keeping()
                    && !reversed.contains(&later.id)
            })
    }
}

impl Made {
    /// Applied, or of unknown outcome.
    fn may_have_happened(&self) -> bool {
        self.ended != Some(Ended::Failed)
    }

    fn is_record_keeping(&self) -> bool {
        matches!(
            self.intent.change.action(),
            Action::RecordDeactivation | Action::ClearDeactivationRecord
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::{Concluded, Entry};
    use crate::name::Name;
    use crate::plan::{Change, Resource};
    use crate::policy::Rule;

    fn account() -> AccountId {
        AccountId::parse("123456789012").unwrap()
    }

    fn key_change(change: Change, events: &[&str], undoes: Option<&str>) -> (Entry, Record) {
        let entry = Entry::new(account());
        let record = entry.record(Phase::Intent(Box::new(Intent {
            rule: Rule::AccessKeys,
            resource: Resource::AccessKey {
                user: Name::from("u"),
                id: "AKIA1".into(),
            },
            change,
            reason: String::new(),
            before: serde_json::Value::Null,
            events: events.iter().map(|e| e.to_string()).collect(),
            undoes: undoes.map(str::to_owned),
        })));
        // Entries made in one instant still sort in the order written.
        std::thread::sleep(std::time::Duration::from_millis(2));
        (entry, record)
    }

    fn ended(entry: &Entry, outcome: Ended) -> Record {
        entry.record(Phase::Outcome(Concluded { outcome, detail: None }))
    }

    fn deactivate() -> Change {
        Change::DeactivateAccessKey {
            user: Name::from("u"),
            id: "AKIA1".into(),
        }
    }

    fn ids(picked: &[&Made]) -> Vec<String> {
        picked.iter().map(|m| m.id.clone()).collect()
    }

    #[test]
    fn applied_and_unknown_changes_are_picked_newest_first_failed_ones_never() {
        let (first, first_intent) = key_change(deactivate(), &["e1"], None);
        let (failed, failed_intent) = key_change(deactivate(), &["e2"], None);
        let (_, unknown_intent) = key_change(deactivate(), &["e2", "e3"], None);
        let history = History::of(vec![
            first_intent,
            ended(&first, Ended::Applied),
            failed_intent,
            ended(&failed, Ended::Failed),
            unknown_intent.clone(),
        ]);
        let all = history.select(&Selection::default());
        assert_eq!(ids(&all), vec![unknown_intent.id.clone(), first.id.clone()]);
        let by_event = Selection {
            event: Some("e3".into()),
            ..Selection::default()
        };
        assert_eq!(ids(&history.select(&by_event)), vec![unknown_intent.id.clone()]);
        // The later change overtook the first, unless this run reversed it.
        let overtaking = history.overtaken(all[1], &HashSet::new()).map(|m| m.id.clone());
        assert_eq!(overtaking, Some(unknown_intent.id.clone()));
        assert!(history.overtaken(all[1], &HashSet::from([unknown_intent.id])).is_none());
    }

    #[test]
    fn an_undone_change_is_not_picked_again_and_an_undo_is_undone_only_by_its_id() {
        let (change, change_intent) = key_change(deactivate(), &["e1"], None);
        let (undo, undo_intent) = key_change(deactivate().inverse().unwrap(), &[], Some(&change.id));
        let records = vec![
            change_intent,
            ended(&change, Ended::Applied),
            undo_intent,
            ended(&undo, Ended::Applied),
        ];
        let history = History::of(records.clone());
        assert!(history.select(&Selection::default()).is_empty(), "undone already");
        let the_undo = Selection {
            id: Some(undo.id.clone()),
            ..Selection::default()
        };
        assert_eq!(ids(&history.select(&the_undo)), vec![undo.id.clone()]);

        // Undoing the undo puts the change back: what stands of it is the
        // redo, which may be undone again, and overtakes nothing of its own chain.
        let (redo, redo_intent) = key_change(deactivate(), &[], Some(&undo.id));
        let mut records = records;
        records.extend([redo_intent, ended(&redo, Ended::Applied)]);
        let history = History::of(records);
        let standing = history.select(&Selection::default());
        assert_eq!(ids(&standing), vec![redo.id]);
        assert!(history.overtaken(standing[0], &HashSet::new()).is_none());
    }
}
