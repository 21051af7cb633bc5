//! Rule `oidc-trust` against the emulator: a table of trust policies, each a
//! role in moto; `apply` quarantines exactly the bad ones; fixing a trust
//! policy lifts its quarantine; hostile documents are findings, not crashes.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};
use support::{Credentials, Daemon, Moto, PolicyFile, eventbridge};

const POLICY: &str = r#"apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: oidc-trust}
spec:
  oidcTrust:
    subjects:
      token.actions.githubusercontent.com: ["repo:my-org/*"]
      app.terraform.io: ["organization:my-org:*"]
      oidc.eks.*.amazonaws.com/id/*: ["system:serviceaccount:*:*"]
    requireAudience: true
    action: quarantine
  exemptions:
    - roles: [legacy]
      reason: moving off repo:* by March
"#;

const GITHUB: &str = "token.actions.githubusercontent.com";
const EKS: &str = "oidc.eks.eu-west-1.amazonaws.com/id/CLUSTER";
const TERRAFORM: &str = "app.terraform.io";
const DENY_ALL: &str = "arn:aws:iam::123456789012:policy/iam-warden/iam-warden-deny-all";

fn trust(issuer: &str, conditions: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{issuer}")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": conditions,
    }]})
    .to_string()
}

fn github(operator: &str, sub: Value) -> String {
    let mut conditions = json!({"StringEquals": {format!("{GITHUB}:aud"): "sts.amazonaws.com"}});
    conditions[operator][format!("{GITHUB}:sub")] = sub;
    trust(GITHUB, conditions)
}

/// Each role of the table: its trust policy and the action the plan must take (`None`: in spec).
fn table() -> Vec<(&'static str, String, Option<&'static str>)> {
    vec![
        ("github-no-condition", trust(GITHUB, json!({"StringEquals": {format!("{GITHUB}:aud"): "sts.amazonaws.com"}})), Some("quarantine-role")),
        ("sub-star", github("StringLike", json!("*")), Some("quarantine-role")),
        ("repo-star", github("StringLike", json!("repo:*")), Some("quarantine-role")),
        ("org-prefix", github("StringLike", json!("repo:my-org*")), Some("quarantine-role")),
        ("org-repos", github("StringLike", json!("repo:my-org/*")), None),
        ("other-org", github("StringLike", json!("repo:other-org/app:*")), Some("quarantine-role")),
        ("for-all-values", github("ForAllValues:StringLike", json!("repo:my-org/*")), Some("quarantine-role")),
        ("if-exists", github("StringLikeIfExists", json!("repo:my-org/*")), Some("quarantine-role")),
        ("not-equals", github("StringNotEquals", json!("repo:evil/x:ref:refs/heads/main")), Some("quarantine-role")),
        ("third-value-bad", github("StringLike", json!(["repo:my-org/a:*", "repo:my-org/b:*", "repo:*"])), Some("quarantine-role")),
        ("no-audience", trust(GITHUB, json!({"StringLike": {format!("{GITHUB}:sub"): "repo:my-org/*"}})), Some("report")),
        ("eks-irsa", trust(EKS, json!({"StringEquals": {format!("{EKS}:sub"): "system:serviceaccount:ci:deployer", format!("{EKS}:aud"): "sts.amazonaws.com"}})), None),
        ("terraform", trust(TERRAFORM, json!({"StringEquals": {format!("{TERRAFORM}:aud"): "aws.workload.identity"}, "StringLike": {format!("{TERRAFORM}:sub"): "organization:my-org:project:*:workspace:*:run_phase:*"}})), None),
        ("lambda", json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}).to_string(), None),
        ("legacy", github("StringLike", json!("repo:*")), Some("quarantine-role")),
    ]
}

async fn create_role(moto: &Moto, name: &str, trust_policy: &str) {
    moto.iam()
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy)
        .send()
        .await
        .unwrap();
}

async fn quarantined(moto: &Moto, role: &str) -> bool {
    let attached = moto
        .iam()
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    attached
        .attached_policies()
        .iter()
        .any(|p| p.policy_arn() == Some(DENY_ALL))
}

#[tokio::test]
async fn a_table_of_trust_policies_is_judged_and_exactly_the_bad_roles_quarantined() {
    let moto = Moto::start();
    let table = table();
    for (name, trust_policy, _) in &table {
        create_role(&moto, name, trust_policy).await;
    }
    let policy = PolicyFile::new(POLICY);

    let plan = moto.warden(&["plan", "--output", "json", "--policy", &policy.path]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let judged: BTreeMap<String, (String, bool)> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "oidc-trust")
        .map(|f| {
            let role = f["resource"]["name"].as_str().unwrap().to_owned();
            (
                role,
                (f["action"].as_str().unwrap().to_owned(), f.get("exempt").is_some()),
            )
        })
        .collect();
    for (name, _, expected) in &table {
        assert_eq!(
            judged.get(*name).map(|(action, _)| action.as_str()),
            *expected,
            "{name}: {}",
            plan["findings"]
        );
    }
    assert!(judged["legacy"].1, "the exempt role's finding is marked exempt");
    let third = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource"]["name"] == "third-value-bad")
        .unwrap();
    assert_eq!(third["details"][0]["value"], "repo:*", "only the third value is named");
    assert_eq!(third["details"].as_array().unwrap().len(), 1);

    let applied = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(
        applied.code, 2,
        "the audience finding is report-only and stays:\n{}\n{}",
        applied.stdout, applied.stderr
    );
    for (name, _, expected) in &table {
        let bad = *expected == Some("quarantine-role") && *name != "legacy";
        assert_eq!(quarantined(&moto, name).await, bad, "{name}\n{}", applied.stdout);
    }
    let version = moto.iam().get_policy().policy_arn(DENY_ALL).send().await.unwrap();
    assert_eq!(
        version.policy().unwrap().path(),
        Some("/iam-warden/"),
        "created where it belongs"
    );
    assert_eq!(
        moto.warden(&["apply", "--policy", &policy.path]).outcomes("applied"),
        0,
        "and a second pass changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fixing_a_trust_policy_lifts_its_quarantine_and_a_detached_quarantine_comes_back() {
    let moto = Moto::start();
    create_role(&moto, "deploy", &github("StringLike", json!("repo:*"))).await;
    let queues = moto.queue_with_dlq(5, 5).await;
    let policy = PolicyFile::new(POLICY);
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path), ("queue_url", &queues.url)]).await;
    assert!(quarantined(&moto, "deploy").await, "quarantined at start-up");

    // Someone detaches the quarantine by hand: it comes back on the event.
    moto.iam()
        .detach_role_policy()
        .role_name("deploy")
        .policy_arn(DENY_ALL)
        .send()
        .await
        .unwrap();
    queues
        .send(&eventbridge(
            "DetachRolePolicy",
            json!({"roleName": "deploy", "policyArn": DENY_ALL}),
            Value::Null,
        ))
        .await;
    daemon
        .until(10, "the quarantine back", async || quarantined(&moto, "deploy").await)
        .await;

    // The owner fixes the trust policy; its event lifts the quarantine.
    moto.iam()
        .update_assume_role_policy()
        .role_name("deploy")
        .policy_document(github("StringLike", json!("repo:my-org/deploy:ref:refs/heads/main")))
        .send()
        .await
        .unwrap();
    let sent = Instant::now();
    queues
        .send(&eventbridge(
            "UpdateAssumeRolePolicy",
            json!({"roleName": "deploy"}),
            Value::Null,
        ))
        .await;
    daemon
        .until(10, "the quarantine lifted", async || {
            !quarantined(&moto, "deploy").await
        })
        .await;
    eprintln!(
        "quarantine lifted {} ms after the event was sent",
        sent.elapsed().as_millis()
    );
    let lifted = daemon.audit_line(5, "lift-quarantine", "applied").await;
    assert!(lifted["events"][0].as_str().is_some(), "caused by the event");
}

#[tokio::test]
async fn hostile_trust_documents_are_findings_not_crashes() {
    let moto = Moto::start();
    let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
    let subjects: Vec<String> = (0..5000).map(|n| format!("repo:my-org/r{n}:*")).collect();
    let huge = github("StringLike", json!(subjects));
    assert!(huge.len() > 100_000);
    let hostile = [
        ("deep", deep),
        ("huge", huge.clone()),
        (
            "wrong-types",
            r#"{"Statement": [{"Effect": 7, "Principal": [], "Condition": "x"}]}"#.to_owned(),
        ),
        ("not-json", "this is not a policy".to_owned()),
        ("no-statement", "{}".to_owned()),
    ];
    for (name, document) in &hostile {
        create_role(&moto, name, document).await;
    }
    let policy = PolicyFile::new(POLICY);
    let plan = moto.warden(&["plan", "--output", "json", "--policy", &policy.path]);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap_or_else(|_| panic!("{}", plan.stderr));
    let reported: BTreeMap<String, String> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["resource"]["name"].as_str().unwrap().to_owned(),
                f["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (name, _) in &hostile[..] {
        if *name == "huge" {
            assert!(
                !reported.contains_key("huge"),
                "5,000 allowed values are judged, and pass"
            );
        } else {
            assert!(
                reported[*name].starts_with("the trust policy cannot be judged"),
                "{name}: {:?}",
                reported.get(*name)
            );
        }
    }
    let applied = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(
        applied.outcomes("applied"),
        0,
        "nothing is quarantined on a document that cannot be read"
    );
}

#[tokio::test]
async fn the_role_iam_warden_runs_as_is_never_quarantined() {
    let moto = Moto::start();
    let seeded = moto.seed(&["irsa"]);
    // Its trust policy now admits any repository: still never quarantined.
    moto.iam()
        .update_assume_role_policy()
        .role_name("iam-warden")
        .policy_document(github("StringLike", json!("repo:*")))
        .send()
        .await
        .unwrap();
    let text = |field: &str| seeded[field].as_str().unwrap().to_owned();
    let session = Credentials {
        key_id: text("access_key_id"),
        secret: text("secret_access_key"),
        session_token: Some(text("session_token")),
    };
    let policy = PolicyFile::new(POLICY);
    let run = moto.warden_as(session, &["apply", "--policy", &policy.path]);
    let decision = &run.audit_for("quarantine-role")[0];
    assert_eq!(decision["outcome"], "protected");
    assert_eq!(decision["detail"], "the role iam-warden runs as is never changed");
    assert!(!quarantined(&moto, "iam-warden").await);
}

/// A trust policy of one statement for `principal`, with `conditions`, and more statements.
fn statements(principal: Value, conditions: Value, more: &[Value]) -> String {
    let first = json!({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": conditions});
    let all: Vec<Value> = std::iter::once(first).chain(more.iter().cloned()).collect();
    json!({"Version": "2012-10-17", "Statement": all}).to_string()
}

#[tokio::test]
async fn web_identities_and_certain_denies_and_exact_conditions_are_judged_as_they_admit() {
    let moto = Moto::start();
    let provider = json!({"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{GITHUB}")});
    let aud = json!({format!("{GITHUB}:aud"): "sts.amazonaws.com"});
    let sub = format!("{GITHUB}:sub");
    let deny_others = json!({"Effect": "Deny", "Principal": provider, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringNotLike": {sub.clone(): "repo:my-org/*"}}});
    let roles = [
        // Google identities, any of them: nothing scopes the subject.
        (
            "google",
            statements(
                json!({"Federated": "accounts.google.com"}),
                json!({"StringEquals": {"accounts.google.com:aud": "my-app.apps.googleusercontent.com"}}),
                &[],
            ),
            true,
        ),
        // Unscoped, but a Deny of everything else scopes it exactly.
        (
            "denied-others",
            statements(provider.clone(), json!({"StringEquals": aud}), &[deny_others]),
            false,
        ),
        // In any case: REPO:MY-ORG/APP, which repo:my-org/* does not cover.
        (
            "ignoring-case",
            statements(
                provider.clone(),
                json!({"StringEquals": aud, "StringEqualsIgnoreCase": {sub.clone(): "repo:my-org/app"}}),
                &[],
            ),
            true,
        ),
        // No subject meets both conditions: nothing can assume the role.
        (
            "unsatisfiable",
            statements(
                provider.clone(),
                json!({"StringEquals": {format!("{GITHUB}:aud"): "sts.amazonaws.com", sub.clone(): "repo:my-org*"},
            "StringLike": {sub.clone(): ["repo:my-org/app:*", "repo:my-or*/x"]}}),
                &[],
            ),
            false,
        ),
    ];
    for (name, document, _) in &roles {
        create_role(&moto, name, document).await;
    }
    let policy = PolicyFile::new(&POLICY.replace(
        "      oidc.eks",
        "      accounts.google.com: [\"1234567890\"]\n      oidc.eks",
    ));
    let plan = moto.warden(&["plan", "--output", "json", "--policy", &policy.path]);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap_or_else(|_| panic!("{}", plan.stderr));
    let ignoring_case = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource"]["name"] == "ignoring-case")
        .unwrap();
    assert_eq!(
        ignoring_case["details"][0]["witness"], "REPO:MY-ORG/APP",
        "{ignoring_case}"
    );
    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    assert_ne!(apply.code, 1, "{}", apply.stderr);
    for (name, _, expected) in &roles {
        assert_eq!(quarantined(&moto, name).await, *expected, "{name}: {}", apply.stdout);
    }
}
