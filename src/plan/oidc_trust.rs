//! Rule `oidc-trust`: a role that a web identity may assume admits only the
//! subjects the policy lists for that identity's issuer.
//!
//! A role is judged by each `Allow` statement of its trust policy whose
//! action covers `sts:AssumeRoleWithWebIdentity` and whose `Federated`
//! principal is an OIDC provider, or one of the web identity providers AWS
//! federates without one (Google, Facebook, Amazon, Cognito). Such a
//! statement admits the subjects every one of its conditions on the
//! issuer's subject claim admits (`StringEquals`, `StringEqualsIgnoreCase`,
//! `StringLike`, each value judged), and a `Deny` of the same issuer with a
//! negated condition on that claim narrows it too, since it certainly
//! applies. Every subject the statement admits must be matched by a pattern
//! listed for the issuer. Without such a condition (or with only
//! `ForAllValues:`, `...IfExists` or negated operators, which hold when the
//! claim is absent or admit everything else) the statement lets any identity
//! of the issuer in, and so does one too complex to judge. iam-warden never
//! rewrites a trust policy: the finding says what to change.

use std::collections::BTreeSet;

use serde::Serialize;

use super::coverage::{self, Budget, Coverage, Glob};
use super::{Change, Draft, Resource};
use crate::document::{self, Condition, Effect, Statement};
use crate::name::Name;
use crate::policy::{OidcTrustRule, Rule, TrustAction};
use crate::state::Role;

const WEB_IDENTITY: &str = "sts:assumerolewithwebidentity";

/// The identity providers a trust policy names by name, not by an OIDC provider's ARN.
const WEB_IDENTITY_PROVIDERS: [&str; 4] = [
    "accounts.google.com",
    "graph.facebook.com",
    "www.amazon.com",
    "cognito-identity.amazonaws.com",
];

/// Judges every role, and returns those the rule holds in quarantine: in
/// breach, under `action: quarantine`.
pub(super) fn evaluate(rule: &OidcTrustRule, roles: &[Role], draft: &mut Draft) -> BTreeSet<Name> {
    let mut held = BTreeSet::new();
    for role in roles.iter().filter(|role| !role.owned_by_aws()) {
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
        let narrowing = narrowing(&document.statements);
        let mut budget = Budget::new(coverage::STEPS);
        let problems: Vec<Problem> = document
            .statements
            .iter()
            .filter(|s| s.effect == Effect::Allow && names_web_identity(s))
            .flat_map(|s| judge(rule, s, &narrowing, &mut budget))
            .collect();
        let (breaches, audience): (Vec<Problem>, Vec<Problem>) =
            problems.into_iter().partition(|p| !matches!(p.kind, Kind::Audience));
        let quarantine = rule.action == TrustAction::Quarantine;
        if quarantine && !breaches.is_empty() {
            held.insert(role.name.clone());
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
    held
}

/// One thing wrong with one statement of a trust policy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Problem {
    statement: String,
    issuer: String,
    /// The condition key of the issuer's subject (`sub` for most).
    claim: String,
    #[serde(flatten)]
    kind: Kind,
    allowed: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
enum Kind {
    /// No condition scopes the subject; `operators` are the ones that do not.
    Unscoped { operators: Vec<String> },
    /// A value admits subjects no allowed pattern matches, such as `witness`,
    /// which every condition of the statement admits.
    Uncovered {
        operator: String,
        value: String,
        witness: String,
    },
    /// The conditions are too complex to judge in bounded time: taken as unscoped.
    Unjudged,
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
            claim,
            kind,
            ..
        } = self;
        let allowed = match self.allowed.as_slice() {
            [] => "none".to_owned(),
            patterns => patterns.join(", "),
        };
        let key = format!("{issuer}:{claim}");
        match kind {
            Kind::Unscoped { operators } if operators.is_empty() => format!(
                "{statement} lets any identity of {issuer} assume the role: it has no StringEquals or StringLike condition on {key} (allowed subjects: {allowed})"
            ),
            Kind::Unscoped { operators } => format!(
                "{statement} lets any identity of {issuer} assume the role: its only conditions on {key} are {}, which hold when the claim is absent or admit every other value; use StringEquals or StringLike (allowed subjects: {allowed})",
                operators.join(", ")
            ),
            Kind::Uncovered {
                operator,
                value,
                witness,
            } if witness == value => format!(
                "{statement}: {operator} on {key} admits \"{value}\", which no allowed subject pattern matches (allowed subjects: {allowed})"
            ),
            Kind::Uncovered {
                operator,
                value,
                witness,
            } => format!(
                "{statement}: {operator} on {key} admits \"{value}\", which also matches \"{witness}\", outside the allowed subjects ({allowed})"
            ),
            Kind::Unjudged => format!(
                "{statement}: its conditions on {key} are too complex to judge, so it is taken to let any identity of {issuer} in (allowed subjects: {allowed})"
            ),
            Kind::NoSubjects => format!(
                "{statement} trusts {issuer}, for which oidcTrust.subjects lists no subject, so no identity of it may assume roles"
            ),
            Kind::Audience => {
                let audience = claims(issuer).1;
                format!("{statement}: {issuer}:{audience} is not pinned with StringEquals (requireAudience)")
            }
        }
    }
}

/// The claims that scope an issuer's identities: its subject, and its audience.
fn claims(issuer: &str) -> (&'static str, &'static str) {
    match issuer {
        "graph.facebook.com" => ("id", "app_id"),
        "www.amazon.com" => ("user_id", "app_id"),
        "cognito-identity.amazonaws.com" => ("amr", "aud"),
        _ => ("sub", "aud"),
    }
}

/// The issuer a `Federated` principal names: an OIDC provider's, or a web
/// identity provider's own name.
fn issuer(principal: &str) -> Option<&str> {
    if let Some((_, issuer)) = principal.split_once(":oidc-provider/") {
        return Some(issuer);
    }
    WEB_IDENTITY_PROVIDERS
        .iter()
        .find(|p| principal.eq_ignore_ascii_case(p))
        .copied()
}

/// Whether the statement's actions include `sts:AssumeRoleWithWebIdentity`.
fn names_web_identity(statement: &Statement) -> bool {
    let names = |patterns: &[String]| {
        patterns
            .iter()
            .any(|p| Glob::like(&p.to_ascii_lowercase()).matches(WEB_IDENTITY))
    };
    names(&statement.action) || (!statement.not_action.is_empty() && !names(&statement.not_action))
}

/// How a condition operator on the subject admits values; `None` when it does
/// not restrict them.
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

/// One condition that scopes the subject: every value, as a glob.
struct Scoping {
    /// How a finding names it: its operator, or the `Deny` it comes from.
    operator: String,
    values: Vec<String>,
    globs: Vec<Glob>,
}

impl Scoping {
    fn of(operator: &str, admits: Admits, values: &[String]) -> Scoping {
        let globs = values
            .iter()
            .map(|v| match admits {
                Admits::Like => Glob::like(v),
                Admits::Literal => Glob::literal(v),
                Admits::LiteralIgnoringCase => Glob::literal(v).ignoring_case(),
            })
            .collect();
        Scoping {
            operator: operator.to_owned(),
            values: values.to_vec(),
            globs,
        }
    }
}

/// What the trust policy's `Deny` statements certainly take away: a `Deny`
/// of web identities, with one negated condition on an issuer's subject and
/// no other, denies every subject its values do not match. Each comes with
/// its issuer and the principals it applies to (`*`: every one).
fn narrowing(statements: &[Statement]) -> Vec<(String, Vec<String>, Scoping)> {
    let mut found = Vec::new();
    for statement in statements
        .iter()
        .filter(|s| s.effect == Effect::Deny && names_web_identity(s))
    {
        let [condition] = statement.conditions.as_slice() else {
            continue;
        };
        let admits = match condition.operator.as_str() {
            "StringNotEquals" => Admits::Literal,
            "StringNotEqualsIgnoreCase" => Admits::LiteralIgnoringCase,
            "StringNotLike" => Admits::Like,
            _ => continue,
        };
        let Some((issuer, claim)) = condition.key.rsplit_once(':') else {
            continue;
        };
        if !claims(issuer).0.eq_ignore_ascii_case(claim) {
            continue;
        }
        let principals: Vec<String> = match statement.principals("*") {
            [] => statement.principals("Federated").to_vec(),
            _ => vec!["*".to_owned()],
        };
        let operator = format!("a Deny's {}", condition.operator);
        found.push((
            issuer.to_owned(),
            principals,
            Scoping::of(&operator, admits, &condition.values),
        ));
    }
    found
}

fn judge(
    rule: &OidcTrustRule,
    statement: &Statement,
    narrowing: &[(String, Vec<String>, Scoping)],
    budget: &mut Budget,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for principal in statement.principals("Federated") {
        let Some(issuer) = issuer(principal) else { continue };
        let (subject, audience) = claims(issuer);
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
            claim: subject.to_owned(),
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
            let narrowed = narrowing
                .iter()
                .filter(|(i, principals, _)| {
                    i.eq_ignore_ascii_case(issuer) && principals.iter().any(|p| p == "*" || p == principal)
                })
                .map(|(_, _, scoping)| scoping);
            let (scoping, loose): (Vec<&Condition>, Vec<&Condition>) =
                on(subject).partition(|c| admits(&c.operator).is_some());
            let scoping: Vec<Scoping> = scoping
                .iter()
                .map(|c| Scoping::of(&c.operator, admits(&c.operator).expect("partitioned"), &c.values))
                .collect();
            let conditions: Vec<&Scoping> = scoping.iter().chain(narrowed).collect();
            if conditions.is_empty() {
                let operators = loose.iter().map(|c| c.operator.clone()).collect();
                problems.push(problem(Kind::Unscoped { operators }));
            } else {
                problems.extend(uncovered(&conditions, &allowed, budget).into_iter().map(problem));
            }
        }
        let pinned = on(audience).any(|c| matches!(c.operator.as_str(), "StringEquals" | "ForAnyValue:StringEquals"));
        if rule.require_audience && !pinned {
            problems.push(problem(Kind::Audience));
        }
    }
    problems
}

/// Each value that, together with every other condition, admits a subject
/// outside `allowed`, with such a subject; or that the statement is too
/// complex to judge.
fn uncovered(conditions: &[&Scoping], allowed: &[String], budget: &mut Budget) -> Vec<Kind> {
    let patterns: Vec<Glob> = allowed.iter().map(|p| Glob::like(p)).collect();
    let mut found = Vec::new();
    for (index, condition) in conditions.iter().enumerate() {
        for (value, glob) in condition.values.iter().zip(&condition.globs) {
            let mut together: Vec<&[Glob]> = vec![std::slice::from_ref(glob)];
            together.extend(
                conditions
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != index)
                    .map(|(_, c)| c.globs.as_slice()),
            );
            match coverage::covered(&together, &patterns, budget) {
                Coverage::Covered => {}
                Coverage::Uncovered(witness) => found.push(Kind::Uncovered {
                    operator: condition.operator.clone(),
                    value: value.clone(),
                    witness,
                }),
                Coverage::Unknown => return vec![Kind::Unjudged],
            }
        }
    }
    found
}

/// How a finding names the statement: its `Sid`, else its position.
fn label(statement: &Statement) -> String {
    match &statement.sid {
        Some(sid) => format!("statement {sid}"),
        None => format!("statement #{}", statement.index + 1),
    }
}
