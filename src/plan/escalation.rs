//! Known privilege-escalation sets: each is a set of IAM actions that, all
//! allowed on `*` together, let an identity give itself more access than it
//! was granted. Reported, never acted on: the set names what to take away.
//!
//! Sources: Spencer Gietzen, "AWS IAM Privilege Escalation – Methods and
//! Mitigation", Rhino Security Labs (2018), whose numbered methods are cited
//! below; and the same methods as catalogued by Bishop Fox's iam-vulnerable
//! and by pathfinding.cloud.

use super::coverage::Glob;
use crate::document::{Document, Effect, Statement};

pub(super) struct EscalationSet {
    pub name: &'static str,
    /// Lower case, as IAM compares action names without case.
    pub actions: &'static [&'static str],
}

pub(super) const SETS: &[EscalationSet] = &[
    // Rhino 1: make a new default version of a policy attached to oneself.
    EscalationSet {
        name: "create-policy-version",
        actions: &["iam:createpolicyversion"],
    },
    // Rhino 2: make an older, more permissive version the default.
    EscalationSet {
        name: "set-default-policy-version",
        actions: &["iam:setdefaultpolicyversion"],
    },
    // Rhino 3: launch an instance with a more privileged role.
    EscalationSet {
        name: "pass-role-to-ec2",
        actions: &["iam:passrole", "ec2:runinstances"],
    },
    // Rhino 4: create access keys for another, more privileged user.
    EscalationSet {
        name: "create-access-key",
        actions: &["iam:createaccesskey"],
    },
    // Rhino 5: give another user a console password.
    EscalationSet {
        name: "create-login-profile",
        actions: &["iam:createloginprofile"],
    },
    // Rhino 6: change another user's console password.
    EscalationSet {
        name: "update-login-profile",
        actions: &["iam:updateloginprofile"],
    },
    // Rhino 7: attach any managed policy to oneself.
    EscalationSet {
        name: "attach-user-policy",
        actions: &["iam:attachuserpolicy"],
    },
    // Rhino 8: attach any managed policy to one's group.
    EscalationSet {
        name: "attach-group-policy",
        actions: &["iam:attachgrouppolicy"],
    },
    // Rhino 9: attach a policy to a role one can assume.
    EscalationSet {
        name: "attach-role-policy",
        actions: &["iam:attachrolepolicy", "sts:assumerole"],
    },
    // Rhino 10: write any inline policy into oneself.
    EscalationSet {
        name: "put-user-policy",
        actions: &["iam:putuserpolicy"],
    },
    // Rhino 11: write any inline policy into one's group.
    EscalationSet {
        name: "put-group-policy",
        actions: &["iam:putgrouppolicy"],
    },
    // Rhino 12: write an inline policy into a role one can assume.
    EscalationSet {
        name: "put-role-policy",
        actions: &["iam:putrolepolicy", "sts:assumerole"],
    },
    // Rhino 13: join a more privileged group.
    EscalationSet {
        name: "add-user-to-group",
        actions: &["iam:addusertogroup"],
    },
    // Rhino 14: let oneself assume a privileged role.
    EscalationSet {
        name: "update-assume-role-policy",
        actions: &["iam:updateassumerolepolicy", "sts:assumerole"],
    },
    // Rhino 15 and 16: run code as a more privileged role through a new
    // function (invoked directly or by an event source, which other grants often supply).
    EscalationSet {
        name: "pass-role-to-lambda",
        actions: &["iam:passrole", "lambda:createfunction"],
    },
    // Rhino 17: replace the code of a function that runs as a privileged role.
    EscalationSet {
        name: "update-function-code",
        actions: &["lambda:updatefunctioncode"],
    },
    // Rhino 18: a Glue development endpoint with a privileged role.
    EscalationSet {
        name: "pass-role-to-glue",
        actions: &["iam:passrole", "glue:createdevendpoint"],
    },
    // Rhino 19: take over an existing Glue development endpoint.
    EscalationSet {
        name: "update-glue-dev-endpoint",
        actions: &["glue:updatedevendpoint"],
    },
    // Rhino 20: a CloudFormation stack that runs as a privileged role.
    EscalationSet {
        name: "pass-role-to-cloudformation",
        actions: &["iam:passrole", "cloudformation:createstack"],
    },
    // Rhino 21: a Data Pipeline that runs as a privileged role.
    EscalationSet {
        name: "pass-role-to-data-pipeline",
        actions: &[
            "iam:passrole",
            "datapipeline:createpipeline",
            "datapipeline:putpipelinedefinition",
        ],
    },
];

/// What the unconditional `Allow` statements on every resource of some
/// policies grant: the statements that matter for admin access and escalation.
pub(super) struct Grants<'a>(Vec<&'a Statement>);

impl<'a> Grants<'a> {
    pub fn of(documents: impl IntoIterator<Item = &'a Document>) -> Grants<'a> {
        let on_everything =
            |s: &Statement| s.resource.iter().any(|r| r == "*") && s.not_resource.is_empty() && s.conditions.is_empty();
        Grants(
            documents
                .into_iter()
                .flat_map(|d| &d.statements)
                .filter(|s| s.effect == Effect::Allow && on_everything(s))
                .collect(),
        )
    }

    pub fn allows(&self, action: &str) -> bool {
        self.0.iter().any(|s| allows(s, action))
    }

    /// Why these grants amount to administrator access, if they do: every
    /// action, or every IAM action, which is a step away from every action.
    pub fn admin(&self) -> Option<String> {
        self.0.iter().find_map(|s| {
            let patterns: Vec<Glob> = s.action.iter().map(|a| Glob::like(&a.to_ascii_lowercase())).collect();
            let covers = |action: &str| super::coverage::covered(&Glob::like(action), &patterns).is_ok();
            if covers("*") {
                return Some("allows every action on every resource".to_owned());
            }
            if covers("iam:*") {
                return Some("allows every IAM action on every resource".to_owned());
            }
            let leaves_iam = !s.not_action.is_empty() && !s.not_action.iter().any(|p| touches_iam(p));
            leaves_iam.then(|| {
                format!(
                    "allows everything but {} on every resource, which leaves every IAM action allowed",
                    s.not_action.join(", ")
                )
            })
        })
    }

    /// The known escalation sets these grants allow in full.
    pub fn escalations(&self) -> Vec<&'static EscalationSet> {
        SETS.iter()
            .filter(|set| set.actions.iter().all(|a| self.allows(a)))
            .collect()
    }
}

fn allows(statement: &Statement, action: &str) -> bool {
    let names = |patterns: &[String]| {
        patterns
            .iter()
            .any(|p| Glob::like(&p.to_ascii_lowercase()).matches(action))
    };
    names(&statement.action) || (!statement.not_action.is_empty() && !names(&statement.not_action))
}

/// Whether a `NotAction` pattern excludes at least one IAM action.
fn touches_iam(pattern: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let literal = pattern.split(['*', '?']).next().unwrap_or_default();
    "iam:".starts_with(literal) || literal.starts_with("iam:")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document;

    fn grants(text: &str) -> (Vec<String>, Option<String>) {
        let document = document::parse(text).unwrap();
        let grants = Grants::of([&document]);
        (
            grants.escalations().iter().map(|s| s.name.to_owned()).collect(),
            grants.admin(),
        )
    }

    #[test]
    fn admin_is_every_action_or_every_iam_action_on_everything_without_condition() {
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
                r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::bucket/*"}}"#,
                false,
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
        ];
        for (text, admin) in cases {
            assert_eq!(grants(text).1.is_some(), admin, "{text}");
        }
    }

    #[test]
    fn escalation_sets_are_reported_only_when_every_action_is_allowed() {
        let (sets, _) =
            grants(r#"{"Statement": {"Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": "*"}}"#);
        assert_eq!(sets, ["create-policy-version"]);
        let (sets, _) = grants(
            r#"{"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
                                                 {"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*"}]}"#,
        );
        assert_eq!(sets, ["pass-role-to-lambda"]);
        let (sets, _) = grants(r#"{"Statement": {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}}"#);
        assert!(sets.is_empty(), "PassRole alone is one half of several sets");
        let (sets, _) = grants(r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#);
        assert!(sets.is_empty());
    }
}
