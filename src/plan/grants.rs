//! What a principal's policies grant: whether they are admin-equivalent, and
//! which actions they allow on every resource (for the escalation sets).
//!
//! Admin-equivalent means allowed every action that changes permissions
//! (attaching or putting a policy on a user, group or role, and making or
//! defaulting a policy version) on every resource: with those, an identity
//! grants itself the rest. Only unconditional `Allow` statements count; a
//! `Resource` list holding `*`, or a `NotResource`, counts as every resource.
//! A `Deny` of the same principal narrows the verdict only where it is
//! certain: unconditional, and on `*`. Judging matches a handful of concrete
//! actions against the document's patterns, so no document can make it slow.

use super::coverage::Glob;
use crate::document::{Document, Effect, Statement};

/// The actions that change what a principal may do, lower case as IAM
/// compares action names without case.
pub(super) const PERMISSION_CHANGING: [&str; 8] = [
    "iam:attachuserpolicy",
    "iam:attachgrouppolicy",
    "iam:attachrolepolicy",
    "iam:putuserpolicy",
    "iam:putgrouppolicy",
    "iam:putrolepolicy",
    "iam:createpolicyversion",
    "iam:setdefaultpolicyversion",
];

/// The statements that decide what some policies grant on every resource.
pub(super) struct Grants<'a> {
    allows: Vec<&'a Statement>,
    /// Certain denies: unconditional, on every resource.
    denies: Vec<&'a Statement>,
}

impl<'a> Grants<'a> {
    /// What `documents` allow, less what `denies` (the principal's other
    /// policies, and these) certainly deny.
    pub fn of(
        documents: impl IntoIterator<Item = &'a Document>,
        denies: impl IntoIterator<Item = &'a Document>,
    ) -> Grants<'a> {
        let documents: Vec<&Document> = documents.into_iter().collect();
        let statements = |d: &'a Document| d.statements.iter();
        Grants {
            allows: documents
                .iter()
                .flat_map(|d| statements(d))
                .filter(|s| s.effect == Effect::Allow && s.conditions.is_empty() && every_resource(s))
                .collect(),
            denies: documents
                .iter()
                .copied()
                .chain(denies)
                .flat_map(statements)
                .filter(|s| s.effect == Effect::Deny && s.conditions.is_empty() && s.resource.iter().any(|r| r == "*"))
                .collect(),
        }
    }

    /// Allowed on every resource, and not certainly denied.
    pub fn allows(&self, action: &str) -> bool {
        self.allows.iter().any(|s| names(s, action)) && !self.denies.iter().any(|s| names(s, action))
    }

    /// Why these grants are admin-equivalent, if they are.
    pub fn admin(&self) -> Option<String> {
        if !PERMISSION_CHANGING.iter().all(|action| self.allows(action)) {
            return None;
        }
        let names_exactly = |wanted: &str| {
            self.allows
                .iter()
                .any(|s| s.action.iter().any(|a| a.eq_ignore_ascii_case(wanted)))
        };
        let all_but = self.allows.iter().find(|s| !s.not_action.is_empty());
        Some(match all_but {
            _ if names_exactly("*") => "allows every action on every resource".to_owned(),
            _ if names_exactly("iam:*") => "allows every IAM action on every resource".to_owned(),
            Some(statement) => format!(
                "allows everything but {} on every resource, which leaves every permission-changing IAM action allowed",
                statement.not_action.join(", ")
            ),
            None => "allows every permission-changing IAM action (attaching or putting policies, making policy versions) on every resource".to_owned(),
        })
    }
}

/// A `Resource` list holding `*`, or a `NotResource`, is every resource.
fn every_resource(statement: &Statement) -> bool {
    statement.resource.iter().any(|r| r == "*") || !statement.not_resource.is_empty()
}

/// Whether the statement's `Action`, or what its `NotAction` leaves, names `action`.
fn names(statement: &Statement, action: &str) -> bool {
    let any = |patterns: &[String]| {
        patterns
            .iter()
            .any(|p| Glob::like(&p.to_ascii_lowercase()).matches(action))
    };
    any(&statement.action) || (!statement.not_action.is_empty() && !any(&statement.not_action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document;

    fn admin(text: &str) -> bool {
        let document = document::parse(text).unwrap();
        Grants::of([&document], []).admin().is_some()
    }

    #[test]
    fn admin_is_every_permission_changing_action_on_every_resource_without_condition() {
        let cases = [
            (
                r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#,
                true,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Action": ["s3:*", "IAM:*"], "Resource": "*"}}"#,
                true,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}}"#,
                true,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}}"#,
                false,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "NotAction": "iam:Get*", "Resource": "*"}}"#,
                true,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::bucket/*"}}"#,
                false,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": ["arn:aws:s3:::b", "*"]}}"#,
                true,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:iam::1:role/x"}}"#,
                true,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}}"#,
                false,
            ),
            (
                r#"{"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}"#,
                false,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}}"#,
                false,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Action": ["iam:Attach*", "iam:Put*", "iam:*PolicyVersion"], "Resource": "*"}}"#,
                true,
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Action": ["*", "iam:*a??????????????????????"], "Resource": "*"}}"#,
                true,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(admin(text), expected, "{text}");
        }
    }

    #[test]
    fn a_deny_narrows_only_where_it_is_certain() {
        let allow_all = r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#;
        let cases = [
            (
                r#"{"Statement": {"Effect": "Deny", "Action": "iam:PutUserPolicy", "Resource": "*"}}"#,
                false,
            ),
            (
                r#"{"Statement": {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}}"#,
                false,
            ),
            (
                r#"{"Statement": {"Effect": "Deny", "Action": "iam:*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}}"#,
                true,
            ),
            (
                r#"{"Statement": {"Effect": "Deny", "Action": "iam:*", "Resource": "arn:aws:iam::1:user/x"}}"#,
                true,
            ),
            (
                r#"{"Statement": {"Effect": "Deny", "Action": "iam:*", "NotResource": "arn:aws:iam::1:user/x"}}"#,
                true,
            ),
        ];
        let allow = document::parse(allow_all).unwrap();
        for (deny, admin) in cases {
            let deny = document::parse(deny).unwrap();
            assert_eq!(Grants::of([&allow], [&deny]).admin().is_some(), admin, "{deny:?}");
        }
    }
}
