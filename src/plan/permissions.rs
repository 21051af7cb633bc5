//! One principal's policies, judged together: which are admin-equivalent
//! once the principal's certain denies are counted, whether its permissions
//! boundary lets it be admin at all, and which escalation sets its own
//! policies allow. The rules for users (and, through them, groups and roles)
//! decide what to do about it.

use super::escalation::{self, EscalationSet};
use super::grants::Grants;
use super::{Change, Resource};
use crate::document::{self, Document};
use crate::state::{InlinePolicy, ManagedPolicy};

/// AWS's own admin-equivalent policies, which iam-warden judges by name
/// rather than read, as the documents AWS publishes for them.
const AWS_ADMIN: [(&str, &str); 2] = [
    (
        "AdministratorAccess",
        r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#,
    ),
    (
        "IAMFullAccess",
        r#"{"Statement": {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}}"#,
    ),
];

/// One policy, parsed.
pub(super) struct Parsed {
    /// `Ok(None)`: a policy of AWS's that grants nothing iam-warden judges.
    pub document: Result<Option<Document>, String>,
    /// One of AWS's own admin policies, judged by name.
    pub aws_admin: bool,
}

impl Parsed {
    pub fn managed(policy: &ManagedPolicy) -> Parsed {
        match &policy.document {
            Some(text) => Parsed::text(text),
            None => {
                let known = AWS_ADMIN.iter().find(|(name, _)| *name == policy.name);
                Parsed {
                    document: Ok(known.and_then(|(_, text)| document::parse(text).ok())),
                    aws_admin: known.is_some(),
                }
            }
        }
    }

    pub fn inline(policy: &InlinePolicy) -> Parsed {
        Parsed::text(&policy.document)
    }

    fn text(text: &str) -> Parsed {
        Parsed {
            document: document::parse(text).map(Some),
            aws_admin: false,
        }
    }

    pub fn unreadable(&self) -> bool {
        self.document.is_err()
    }

    /// Whether it has a Deny statement.
    pub fn denies(&self) -> bool {
        let statements = self.parsed().map(|d| d.statements.as_slice()).unwrap_or_default();
        statements.iter().any(|s| s.effect == document::Effect::Deny)
    }

    fn parsed(&self) -> Option<&Document> {
        self.document.as_ref().ok().and_then(Option::as_ref)
    }
}

/// One of a principal's own policies, as a rule judges it: parsed, the
/// resource it is, and the change that takes it away.
pub(super) struct OwnPolicy<'a> {
    pub parsed: Parsed,
    pub resource: Resource,
    /// How a reason calls it.
    pub what: String,
    pub name: &'a str,
    /// A managed policy's ARN; `None` for an inline policy.
    pub arn: Option<&'a str>,
    pub change: Change,
    /// The policy as observed, for the audit log and the journal.
    pub before: serde_json::Value,
}

impl<'a> OwnPolicy<'a> {
    pub fn managed(policy: &'a ManagedPolicy, resource: Resource, change: Change) -> OwnPolicy<'a> {
        OwnPolicy {
            parsed: Parsed::managed(policy),
            resource,
            what: format!("attached policy {}", policy.name),
            name: &policy.name,
            arn: Some(&policy.arn),
            change,
            before: serde_json::to_value(policy).unwrap_or_default(),
        }
    }

    pub fn inline(policy: &'a InlinePolicy, resource: Resource, change: Change) -> OwnPolicy<'a> {
        OwnPolicy {
            parsed: Parsed::inline(policy),
            resource,
            what: format!("inline policy {}", policy.name),
            name: &policy.name,
            arn: None,
            change,
            before: serde_json::to_value(policy).unwrap_or_default(),
        }
    }
}

/// What every policy of a principal adds up to.
pub(super) struct Principal<'a> {
    /// Every document of the principal (its own and its groups'): their
    /// certain denies narrow any one policy's verdict.
    all: Vec<&'a Document>,
    /// Why the principal cannot be admin whatever its policies say: a
    /// permissions boundary that is not itself admin-equivalent.
    pub bounded: Option<String>,
}

impl<'a> Principal<'a> {
    pub fn new(
        all: impl IntoIterator<Item = &'a Parsed>,
        boundary: Option<(&ManagedPolicy, &Parsed)>,
    ) -> Principal<'a> {
        let bounded = boundary.and_then(|(policy, parsed)| {
            let admin = parsed.parsed().is_some_and(|d| Grants::of([d], []).admin().is_some());
            (!admin).then(|| {
                format!(
                    "its permissions boundary {} is not admin-equivalent, so it is reported, not changed",
                    policy.name
                )
            })
        });
        Principal {
            all: all.into_iter().filter_map(Parsed::parsed).collect(),
            bounded,
        }
    }

    /// Why `policy` is admin-equivalent for this principal, if it is.
    pub fn admin(&self, policy: &Parsed) -> Option<String> {
        let why = Grants::of(policy.parsed(), self.all.iter().copied()).admin()?;
        Some(match policy.aws_admin {
            true => "is AWS's own admin-equivalent policy".to_owned(),
            false => why,
        })
    }

    /// The escalation sets `own` allow together, less this principal's denies.
    pub fn escalations(&self, own: impl IntoIterator<Item = &'a Parsed>) -> Vec<&'static EscalationSet> {
        let own: Vec<&Document> = own.into_iter().filter_map(Parsed::parsed).collect();
        escalation::escalations(&Grants::of(own, self.all.iter().copied()))
    }
}
