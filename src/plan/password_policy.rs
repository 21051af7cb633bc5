//! Rule `password-policy`: the account policy equals the desired one exactly.

use super::{Change, Draft, Resource};
use crate::policy::{PasswordPolicy, Rule};
use crate::state::Observation;

pub(super) fn evaluate(desired: &PasswordPolicy, current: &Observation<PasswordPolicy>, draft: &mut Draft) {
    let reason = match current {
        Observation::Absent => "the account has no password policy".to_owned(),
        Observation::Present(current) if current == desired => return,
        Observation::Present(current) => {
            format!("differs in {}", differences(desired, current).join(", "))
        }
    };
    let previous = match current {
        Observation::Absent => None,
        Observation::Present(current) => Some(current.clone()),
    };
    let change = Change::UpdatePasswordPolicy {
        desired: desired.clone(),
        previous,
    };
    draft.violation(
        Rule::PasswordPolicy,
        Resource::PasswordPolicy,
        Some(change),
        reason,
        current,
    );
}

/// Each differing field as `name is X, want Y`, named as in the policy file.
fn differences(desired: &PasswordPolicy, current: &PasswordPolicy) -> Vec<String> {
    let (serde_json::Value::Object(want), serde_json::Value::Object(have)) =
        (serde_json::json!(desired), serde_json::json!(current))
    else {
        return Vec::new();
    };
    want.iter()
        .filter(|(field, value)| have.get(*field) != Some(value))
        .map(|(field, value)| {
            let shown = |v: Option<&serde_json::Value>| match v {
                Some(serde_json::Value::Null) | None => "unset".to_owned(),
                Some(v) => v.to_string(),
            };
            format!("{field} is {}, want {}", shown(have.get(field)), shown(Some(value)))
        })
        .collect()
}
