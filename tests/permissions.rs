//! The least-privilege policy in deploy/ grants exactly the AWS actions the code calls.

use std::collections::BTreeSet;
use std::path::Path;

/// `undo` runs as the person who asks for it, not as the daemon: the calls
/// that reverse a change are not the daemon's to make.
const RUN_BY_A_PERSON: &str = "reversals.rs";

/// Every `service:Operation` the source names where it calls AWS.
fn called_actions(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            called_actions(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with(RUN_BY_A_PERSON) {
            let text = std::fs::read_to_string(&path).unwrap();
            for call in [".during(\"", ".or_absent(\""] {
                for (at, _) in text.match_indices(call) {
                    let rest = &text[at + call.len()..];
                    found.insert(rest[..rest.find('"').unwrap()].to_owned());
                }
            }
        }
    }
}

#[test]
fn the_deploy_policy_grants_exactly_what_the_code_calls() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut called = BTreeSet::new();
    called_actions(&root.join("src"), &mut called);
    // GetCallerIdentity needs no permission: AWS answers it for every identity.
    called.remove("sts:GetCallerIdentity");
    assert!(called.len() > 20, "the scan found the calls: {called:?}");

    let mut granted = deploy_policy_actions();
    // An Organization's central identity also finds the accounts and assumes their roles.
    granted.extend(policy_actions("deploy/iam-policy-organization.json"));
    // aws-config's AssumeRoleProvider makes that call, not a call site of ours.
    assert!(granted.remove("sts:AssumeRole"));
    assert_eq!(granted, called);
}

/// The CloudFormation template's IRSA role grants what deploy/iam-policy.json
/// does, and a member account's role the same, less the queue's.
#[test]
fn the_cloudformation_roles_grant_the_same_actions() {
    let central = role_actions("deploy/aws/iam-warden.yaml", "  WardenRole:", "\nOutputs:");
    assert_eq!(central, deploy_policy_actions());
    let member = role_actions("deploy/aws/iam-warden-member.yaml", "  WardenRole:", "  ForwardRole:");
    // The central identity keeps the journal, and reads the queue.
    let without_queue: BTreeSet<String> = deploy_policy_actions()
        .into_iter()
        .filter(|a| !a.starts_with("sqs:") && !a.starts_with("s3:"))
        .collect();
    assert_eq!(member, without_queue);
}

/// The IAM, SQS, CloudTrail, S3 and Access Analyzer actions listed between two lines of a template.
fn role_actions(template: &str, from: &str, to: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(root.join(template)).unwrap();
    let role = &template[template.find(from).unwrap()..template.find(to).unwrap()];
    role.lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter(|item| {
            ["iam:", "sqs:", "cloudtrail:", "s3:", "access-analyzer:"]
                .iter()
                .any(|p| item.starts_with(p))
        })
        .map(str::to_owned)
        .collect()
}

/// Every action deploy/iam-policy.json allows (its `Deny` only fences what it allows).
fn deploy_policy_actions() -> BTreeSet<String> {
    policy_actions("deploy/iam-policy.json")
}

fn policy_actions(file: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let policy: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let actions = |statement: &serde_json::Value| match &statement["Action"] {
        serde_json::Value::String(one) => vec![one.clone()],
        many => many
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect(),
    };
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|statement| statement["Effect"] == "Allow")
        .flat_map(actions)
        .collect()
}
