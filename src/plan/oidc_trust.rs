//! Rule `oidc-trust`: a role that an OIDC identity may assume admits only the
//! subjects the policy lists for that identity's issuer.
//!
//! A role is judged by each `Allow` statement of its trust policy whose
//! action covers `sts:AssumeRoleWithWebIdentity` and whose `Federated`
//! principal is an OIDC provider. Such a statement admits the subjects named
//! by its conditions on `ISSUER:sub` with `StringEquals`,
//! `StringEqualsIgnoreCase` or `StringLike`; every one of them must be
//! covered by the patterns listed for the issuer. Without such a condition
//! (or with only `ForAllValues:`, `...IfExists` or negated operators, which
//! hold when the claim is absent or admit everything else) the statement lets
//! any identity of the issuer in. iam-warden never rewrites a trust policy:
//! the finding says what to change.

use serde::Serialize;

use super::coverage::{Glob, covered};
use super::{Change, Draft, Resource};
use crate::document::{self, Condition, Effect, Statement};
use crate::policy::{OidcTrustRule, Rule, TrustAction};
use crate::state::Role;

const WEB_IDENTITY: &str = "sts:assumerolewithwebidentity";

pub(super) fn evaluate(rule: &OidcTrustRule, roles: &[Role], draft: &mut Draft) {
    for role in roles {
        let resource = Resource::Role {
            name: role.name.clone(),
        };
        let document = match document::parse(&role.trust_policy) {
            Ok(document) => document,
            Err(why) => {
                let reason = format!("the trust policy cannot be judged, so it is reported: {why}");
                draft.violation(Rule::OidcTrust, resource, None, reason, role);
                continue;
            }
        };
        let problems: Vec<Problem> = document
            .statements
            .iter()
            .filter(|s| admits_web_identities(s))
            .flat_map(|s| judge(rule, s))
            .collect();
        let (breaches, audience): (Vec<Problem>, Vec<Problem>) =
            problems.into_iter().partition(|p| !matches!(p.kind, Kind::Audience));
        let quarantine = rule.action == TrustAction::Quarantine;
        if breaches.is_empty() && role.quarantined {
            let reason = "the trust policy admits only allowed subjects again: lift the quarantine".to_owned();
            let lift = Change::LiftQuarantine {
                role: role.name.clone(),
            };
            draft.violation(Rule::OidcTrust, resource.clone(), Some(lift), reason, role);
        }
        // A quarantined role with a breach is exactly what the policy asks for.
        let reported: Vec<Problem> = match (breaches.is_empty(), quarantine && role.quarantined) {
            (false, false) => breaches.into_iter().chain(audience).collect(),
            _ => audience,
        };
        if reported.is_empty() {
            continue;
        }
        let change = match reported.iter().any(|p| !matches!(p.kind, Kind::Audience)) {
            true if quarantine => Some(Change::QuarantineRole {
                role: role.name.clone(),
            }),
            _ => None,
        };
        let reason = reported.iter().map(Problem::explain).collect::<Vec<_>>().join("; ");
        let details = serde_json::to_value(&reported).unwrap_or_default();
        draft.violation(Rule::OidcTrust, resource, change, reason, role).details = Some(details);
    }
}

/// One thing wrong with one statement of a trust policy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Problem {
    statement: String,
    issuer: String,
    #[serde(flatten)]
    kind: Kind,
    allowed: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
enum Kind {
    /// No condition scopes the subject; `operators` are the ones that do not.
    Unscoped { operators: Vec<String> },
    /// A value admits subjects no allowed pattern matches, such as `witness`.
    Uncovered {
        operator: String,
        value: String,
        witness: String,
    },
    /// The policy lists no subject for this issuer.
    NoSubjects,
    /// `requireAudience` and the audience is not pinned.
    Audience,
}

impl Problem {
    fn explain(&self) -> String {
        let Problem {
            statement,
            issuer,
            kind,
            ..
        } = self;
        let allowed = match self.allowed.as_slice() {
            [] => "none".to_owned(),
            patterns => patterns.join(", "),
        };
        match kind {
            Kind::Unscoped { operators } if operators.is_empty() => format!(
                "{statement} lets any identity of {issuer} assume the role: it has no StringEquals or StringLike condition on {issuer}:sub (allowed subjects: {allowed})"
            ),
            Kind::Unscoped { operators } => format!(
                "{statement} lets any identity of {issuer} assume the role: its only conditions on {issuer}:sub are {}, which hold when the claim is absent or admit every other value; use StringEquals or StringLike (allowed subjects: {allowed})",
                operators.join(", ")
            ),
            Kind::Uncovered {
                operator,
                value,
                witness,
            } if witness == value => format!(
                "{statement}: {operator} on {issuer}:sub admits \"{value}\", which no allowed subject pattern matches (allowed subjects: {allowed})"
            ),
            Kind::Uncovered {
                operator,
                value,
                witness,
            } => format!(
                "{statement}: {operator} on {issuer}:sub admits \"{value}\", which also matches \"{witness}\", outside the allowed subjects ({allowed})"
            ),
            Kind::NoSubjects => format!(
                "{statement} trusts {issuer}, for which oidcTrust.subjects lists no subject, so no identity of it may assume roles"
            ),
            Kind::Audience => format!("{statement}: {issuer}:aud is not pinned with StringEquals (requireAudience)"),
        }
    }
}

/// An `Allow` whose actions include `sts:AssumeRoleWithWebIdentity`.
fn admits_web_identities(statement: &Statement) -> bool {
    let names = |patterns: &[String]| {
        patterns
            .iter()
            .any(|p| Glob::like(&p.to_ascii_lowercase()).matches(WEB_IDENTITY))
    };
    statement.effect == Effect::Allow
        && (names(&statement.action) || (!statement.not_action.is_empty() && !names(&statement.not_action)))
}

/// How a condition operator on `sub` admits values; `None` when it does not
/// restrict them.
#[derive(Clone, Copy, PartialEq)]
enum Admits {
    Literal,
    LiteralIgnoringCase,
    Like,
}

fn admits(operator: &str) -> Option<Admits> {
    // A single-valued claim: ForAnyValue: holds when that one value matches.
    match operator.strip_prefix("ForAnyValue:").unwrap_or(operator) {
        "StringEquals" => Some(Admits::Literal),
        "StringEqualsIgnoreCase" => Some(Admits::LiteralIgnoringCase),
        "StringLike" => Some(Admits::Like),
        _ => None,
    }
}

fn judge(rule: &OidcTrustRule, statement: &Statement) -> Vec<Problem> {
    let mut problems = Vec::new();
    let issuers = statement
        .principals("Federated")
        .iter()
        .filter_map(|p| p.split_once(":oidc-provider/").map(|(_, issuer)| issuer));
    for issuer in issuers {
        let mut matched = rule
            .subjects
            .iter()
            .filter(|(pattern, _)| pattern.matches(issuer))
            .peekable();
        let no_entry = matched.peek().is_none();
        let allowed: Vec<String> = matched.flat_map(|(_, subjects)| subjects.iter().cloned()).collect();
        let problem = |kind| Problem {
            statement: label(statement),
            issuer: issuer.to_owned(),
            kind,
            allowed: allowed.clone(),
        };
        let on = |claim: &str| {
            let key = format!("{issuer}:{claim}");
            statement
                .conditions
                .iter()
                .filter(move |c| c.key.eq_ignore_ascii_case(&key))
        };
        if no_entry {
            problems.push(problem(Kind::NoSubjects));
        } else {
            let (scoping, loose): (Vec<&Condition>, Vec<&Condition>) =
                on("sub").partition(|c| admits(&c.operator).is_some());
            if scoping.is_empty() {
                let operators = loose.iter().map(|c| c.operator.clone()).collect();
                problems.push(problem(Kind::Unscoped { operators }));
            } else {
                // Conditions all hold at once: one whose every value is covered is enough.
                let uncovered: Vec<Vec<Problem>> = scoping
                    .iter()
                    .map(|c| {
                        uncovered_values(c, &allowed)
                            .into_iter()
                            .map(|(value, witness)| {
                                problem(Kind::Uncovered {
                                    operator: c.operator.clone(),
                                    value,
                                    witness,
                                })
                            })
                            .collect()
                    })
                    .collect();
                if uncovered.iter().all(|found| !found.is_empty()) {
                    problems.extend(uncovered.into_iter().flatten());
                }
            }
        }
        let pinned = on("aud").any(|c| matches!(c.operator.as_str(), "StringEquals" | "ForAnyValue:StringEquals"));
        if rule.require_audience && !pinned {
            problems.push(problem(Kind::Audience));
        }
    }
    problems
}

/// Each value of `condition` that admits a subject outside `allowed`, with such a subject.
fn uncovered_values(condition: &Condition, allowed: &[String]) -> Vec<(String, String)> {
    let kind = admits(&condition.operator).unwrap_or(Admits::Literal);
    let fold = |text: &str| match kind {
        Admits::LiteralIgnoringCase => text.to_lowercase(),
        _ => text.to_owned(),
    };
    let patterns: Vec<Glob> = allowed.iter().map(|p| Glob::like(&fold(p))).collect();
    condition
        .values
        .iter()
        .filter_map(|value| {
            let glob = match kind {
                Admits::Like => Glob::like(value),
                _ => Glob::literal(&fold(value)),
            };
            covered(&glob, &patterns).err().map(|witness| (value.clone(), witness))
        })
        .collect()
}

/// How a finding names the statement: its `Sid`, else its position.
fn label(statement: &Statement) -> String {
    match &statement.sid {
        Some(sid) => format!("statement {sid}"),
        None => format!("statement #{}", statement.index + 1),
    }
}
