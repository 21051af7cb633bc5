//! Known privilege-escalation sets: each is a set of IAM actions that, all
//! allowed on `*` together, let an identity give itself more access than it
//! was granted. Reported, never acted on: the set names what to take away.
//!
//! Sources: Spencer Gietzen, "AWS IAM Privilege Escalation – Methods and
//! Mitigation", Rhino Security Labs (2018), whose numbered methods are cited
//! below; and the same methods as catalogued by Bishop Fox's iam-vulnerable
//! and by pathfinding.cloud.

use super::grants::Grants;

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

/// The known escalation sets `grants` allow in full.
pub(super) fn escalations(grants: &Grants) -> Vec<&'static EscalationSet> {
    SETS.iter()
        .filter(|set| set.actions.iter().all(|a| grants.allows(a)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document;

    fn sets(text: &str) -> Vec<String> {
        let document = document::parse(text).unwrap();
        escalations(&Grants::of([&document], []))
            .iter()
            .map(|s| s.name.to_owned())
            .collect()
    }

    #[test]
    fn escalation_sets_are_reported_only_when_every_action_is_allowed() {
        let one = sets(r#"{"Statement": {"Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": "*"}}"#);
        assert_eq!(one, ["create-policy-version"]);
        let two = sets(
            r#"{"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
                              {"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*"}]}"#,
        );
        assert_eq!(two, ["pass-role-to-lambda"]);
        let half = sets(r#"{"Statement": {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}}"#);
        assert!(half.is_empty(), "PassRole alone is one half of several sets");
        assert!(sets(r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#).is_empty());
        let denied = sets(
            r#"{"Statement": [{"Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": "*"},
                              {"Effect": "Deny", "Action": "iam:Create*", "Resource": "*"}]}"#,
        );
        assert!(denied.is_empty(), "a certain deny takes the set away");
    }
}
