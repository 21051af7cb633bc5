//! Rules user-permissions and password-reset against the emulator, and event
//! reconciles that read only the facets of a user their event can change.
//! Each test asserts on what the emulator holds, or on the request counters.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{Daemon, Moto, PolicyFile, attached, eventbridge, inline, key_event, total};

fn permissions_policy(allow_direct: bool) -> PolicyFile {
    PolicyFile::new(&format!(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {{name: least-privilege}}
spec:
  userPermissions:
    allowDirectPolicies: {allow_direct}
    forbidAdmin: true
    reportEscalation: true
    action: detach
  exemptions:
    - users: [break-glass]
      rules: [user-permissions]
      reason: sealed break-glass admin, audited monthly
"
    ))
}

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

async fn members(moto: &Moto, group: &str) -> BTreeSet<String> {
    let got = moto.iam().get_group().group_name(group).send().await.unwrap();
    got.users().iter().map(|u| u.user_name().to_owned()).collect()
}

/// The findings of `rule` in a JSON plan, as `resource action`.
fn findings(plan: &Value, rule: &str) -> Vec<String> {
    plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| {
            let resource = &f["resource"];
            let what = [
                &resource["user"],
                &resource["name"],
                &resource["arn"],
                &resource["group"],
            ]
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" ");
            format!(
                "{} {what} {}",
                resource["kind"].as_str().unwrap(),
                f["action"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn admin_access_and_direct_policies_are_taken_away_escalation_is_reported_and_undo_puts_it_back() {
    let moto = Moto::start();
    let seeded = moto.seed(&["permissions"]);
    let versions = seeded["versions_policy"].as_str().unwrap();
    let reader = seeded["reader_policy"].as_str().unwrap();

    // First with direct policies allowed: only admin access goes; escalation is reported, never acted on.
    let allowed = permissions_policy(true);
    let plan = moto.warden(&["plan", "--output", "json", "--policy", &allowed.path]);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap_or_else(|_| panic!("{}", plan.stderr));
    let mut judged = findings(&plan, "user-permissions");
    judged.sort();
    assert_eq!(
        judged,
        [
            "group-membership admin-grouped admins remove-user-from-group",
            "group-membership operator admins remove-user-from-group",
            "inline-policy admin-inline everything delete-user-policy",
            "user lambda-deployer report",
            "user versions report",
            format!("user-policy admin-attached {ADMIN} detach-user-policy").as_str(),
            format!("user-policy break-glass {ADMIN} detach-user-policy").as_str(),
        ]
    );
    let escalation: Vec<&str> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] == "report" && f["rule"] == "user-permissions")
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(
        escalation
            .iter()
            .any(|r| r.contains("pass-role-to-lambda (iam:passrole + lambda:createfunction)"))
    );
    assert!(
        escalation
            .iter()
            .any(|r| r.contains("create-policy-version (iam:createpolicyversion)"))
    );

    let first = moto.warden(&["apply", "--policy", &allowed.path]);
    assert_eq!(first.code, 2, "the escalation reports remain:\n{}", first.stdout);
    assert!(attached(&moto, "admin-attached").await.is_empty());
    assert!(inline(&moto, "admin-inline").await.is_empty());
    assert_eq!(
        members(&moto, "admins").await,
        BTreeSet::new(),
        "both admins left the group (operator is not exempt here)"
    );
    let group_policies = moto
        .iam()
        .list_attached_group_policies()
        .group_name("admins")
        .send()
        .await
        .unwrap();
    assert_eq!(
        group_policies.attached_policies().len(),
        1,
        "the group's own policy is never changed"
    );
    assert!(
        attached(&moto, "versions").await.contains(versions),
        "escalation is reported only"
    );
    assert_eq!(inline(&moto, "lambda-deployer").await, ["deploy"]);
    assert!(
        attached(&moto, "reader").await.contains(reader),
        "a harmless direct policy is allowed here"
    );
    assert!(
        attached(&moto, "break-glass").await.contains(ADMIN),
        "the exempt break-glass admin keeps it"
    );
    let deleted = &first.audit_for("delete-user-policy")[0];
    assert_eq!(deleted["outcome"], "applied");
    assert_eq!(
        serde_json::from_str::<Value>(deleted["before"]["document"].as_str().unwrap()).unwrap()["Statement"][0]["Action"],
        json!(["*"]),
        "the audit log holds the inline document"
    );

    // Then with direct policies forbidden (CIS 1.15): every direct policy goes, a group's stays.
    let strict = permissions_policy(false);
    let second = moto.warden(&["apply", "--policy", &strict.path]);
    assert!(
        attached(&moto, "reader").await.is_empty(),
        "the harmless direct policy too"
    );
    assert!(attached(&moto, "versions").await.is_empty());
    assert!(inline(&moto, "lambda-deployer").await.is_empty());
    assert!(attached(&moto, "break-glass").await.contains(ADMIN), "still exempt");
    assert_eq!(
        members(&moto, "developers").await,
        BTreeSet::from(["developer".to_owned()])
    );
    let inline_documents = second.audit_for("delete-user-policy");
    assert!(
        inline_documents[0]["before"]["document"]
            .as_str()
            .unwrap()
            .contains("lambda:CreateFunction")
    );

    // Everything comes back, from the journal both applies wrote.
    let undo = moto.warden(&["undo"]);
    assert_eq!(undo.code, 0, "every change reversed:\n{}\n{}", undo.stdout, undo.stderr);
    assert!(attached(&moto, "admin-attached").await.contains(ADMIN));
    assert_eq!(inline(&moto, "admin-inline").await, ["everything"]);
    assert_eq!(
        members(&moto, "admins").await,
        BTreeSet::from(["admin-grouped".to_owned(), "operator".to_owned()])
    );
    assert!(attached(&moto, "versions").await.contains(versions));
    assert!(attached(&moto, "reader").await.contains(reader));
    assert_eq!(inline(&moto, "lambda-deployer").await, ["deploy"]);
    let restored = moto
        .iam()
        .get_user_policy()
        .user_name("lambda-deployer")
        .policy_name("deploy")
        .send()
        .await
        .unwrap();
    assert!(
        restored.policy_document().contains("iam%3APassRole") || restored.policy_document().contains("iam:PassRole")
    );
}

#[tokio::test]
async fn passwords_set_before_the_date_must_be_chosen_again_and_nothing_else_changes() {
    let moto = Moto::start();
    moto.seed(&["passwords", "30"]);
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let policy = PolicyFile::new(&format!(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {{name: passwords}}
spec:
  passwordPolicy:
    minimumLength: 8
    allowUsersToChangePassword: true
    resetPasswordsSetBefore: {today}
"
    ));
    let plan = moto.warden(&["plan", "--output", "json", "--policy", &policy.path]);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap_or_else(|_| panic!("{}", plan.stderr));
    assert_eq!(
        findings(&plan, "password-reset"),
        [
            "user old-password-1 require-password-reset",
            "user old-password-2 require-password-reset"
        ]
    );
    let applied = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(
        applied.audit_for("require-password-reset").len(),
        2,
        "{}",
        applied.stdout
    );
    for (user, reset) in [
        ("old-password-1", true),
        ("old-password-2", true),
        ("new-password", false),
    ] {
        let profile = moto.iam().get_login_profile().user_name(user).send().await;
        let profile = profile.unwrap_or_else(|e| panic!("{user}'s login profile is gone: {e:?}"));
        assert_eq!(
            profile.login_profile().unwrap().password_reset_required(),
            reset,
            "{user}"
        );
    }
    assert_eq!(
        moto.warden(&["apply", "--policy", &policy.path])
            .audit_for("require-password-reset")
            .len(),
        0,
        "a profile that already requires a new password is left alone"
    );

    // The user chooses a new password. The credential report, hours old,
    // still shows the old one, and this process never saw the ChangePassword.
    let chosen = moto.iam().update_login_profile().user_name("old-password-1");
    chosen
        .password("A-new-Passw0rd-chosen!")
        .password_reset_required(false)
        .send()
        .await
        .unwrap();
    let again = moto.warden(&["apply", "--policy", &policy.path]);
    assert!(
        again.audit_for("require-password-reset").is_empty(),
        "required once: {}",
        again.stderr
    );
    let profile = moto
        .iam()
        .get_login_profile()
        .user_name("old-password-1")
        .send()
        .await
        .unwrap();
    assert!(!profile.login_profile().unwrap().password_reset_required());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_reads_only_the_facets_of_the_user_it_can_change() {
    let moto = Moto::start();
    let seeded = moto.seed(&["targets"]);
    let compliant_key = seeded["compliant_key"].as_str().unwrap();
    moto.seed(&["permissions"]);
    let queues = moto.queue_with_dlq(5, 5).await;
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: facets}
spec:
  mfa: {requireForConsoleUsers: true, gracePeriod: 24h, action: deny-until-mfa}
  accessKeys: {maxAge: 90d, maxUnused: 45d, deleteAfter: 30d, action: deactivate}
  userPermissions: {allowDirectPolicies: true, forbidAdmin: false, reportEscalation: true, action: report}
",
    );
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path), ("queue_url", &queues.url)]).await;

    let calls = async |operation: &str| {
        let page = daemon.get("/metrics").await.1;
        total(
            &page,
            "iam_warden_aws_requests_total",
            &[&format!("operation=\"{operation}\"")],
        )
    };
    let counters = async || {
        let mut counted = std::collections::BTreeMap::new();
        for operation in [
            "ListAccessKeys",
            "GetLoginProfile",
            "ListMFADevices",
            "ListAttachedUserPolicies",
            "ListUserPolicies",
            "ListGroupsForUser",
        ] {
            counted.insert(operation, calls(operation).await);
        }
        counted
    };
    let reconciled = |user: &str| daemon.records("reconciled", Some(&format!("user/{user}"))).len();

    let before = counters().await;
    let seen = reconciled("compliant");
    queues.send(&key_event("compliant", compliant_key)).await;
    daemon
        .until(10, "the key event reconciled", async || reconciled("compliant") > seen)
        .await;
    let after = counters().await;
    let grew = |operation: &str| after[operation] > before[operation];
    assert!(grew("ListAccessKeys"), "the keys are read live");
    for untouched in [
        "GetLoginProfile",
        "ListMFADevices",
        "ListAttachedUserPolicies",
        "ListUserPolicies",
        "ListGroupsForUser",
    ] {
        assert!(!grew(untouched), "an UpdateAccessKey event read {untouched}");
    }

    let before = counters().await;
    let seen = reconciled("developer");
    queues
        .send(&eventbridge(
            "AttachUserPolicy",
            json!({"userName": "developer", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
            Value::Null,
        ))
        .await;
    daemon
        .until(10, "the policy event reconciled", async || {
            reconciled("developer") > seen
        })
        .await;
    let after = counters().await;
    let grew = |operation: &str| after[operation] > before[operation];
    assert!(
        grew("ListAttachedUserPolicies") && grew("ListGroupsForUser"),
        "the permissions are read live"
    );
    assert!(!grew("ListAccessKeys"), "an AttachUserPolicy event read the keys");
}
