//! The controls of the CIS AWS Foundations Benchmark's IAM section that
//! iam-warden enforces (design.md §8.3), against the emulator. Each test
//! asserts on what the emulator holds afterwards.

use serde_json::json;
use support::{Daemon, Moto, PolicyFile, attached, eventbridge, keys, tags};

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::TimeDelta::days(days)).to_rfc3339()
}

async fn console_user(moto: &Moto, name: &str, profile_days: i64, last_used_days: Option<i64>) {
    let iam = moto.iam();
    iam.create_user().user_name(name).send().await.unwrap();
    let profile = iam
        .create_login_profile()
        .user_name(name)
        .password("An-Initial-Passw0rd!");
    profile.send().await.unwrap();
    moto.age(&json!({"user": name, "create_date": days_ago(profile_days)}));
    if let Some(days) = last_used_days {
        moto.age(&json!({"user": name, "password_last_used": days_ago(days)}));
    }
}

async fn has_console(moto: &Moto, user: &str) -> bool {
    moto.iam().get_login_profile().user_name(user).send().await.is_ok()
}

/// A user with two active keys, the first last used `first_used_days` ago.
async fn two_keys(moto: &Moto, user: &str, first_used_days: i64, second_used_days: i64) -> (String, String) {
    let iam = moto.iam();
    iam.create_user().user_name(user).send().await.unwrap();
    let mut made = Vec::new();
    for used in [first_used_days, second_used_days] {
        let created = iam.create_access_key().user_name(user).send().await.unwrap();
        let id = created.access_key().unwrap().access_key_id().to_owned();
        moto.age(&json!({"access_key_id": id, "create_date": days_ago(30), "last_used": days_ago(used)}));
        made.push(id);
    }
    (made[0].clone(), made[1].clone())
}

#[tokio::test]
async fn an_unused_console_password_is_removed_and_one_in_use_stays() {
    let moto = Moto::start();
    console_user(&moto, "idle", 400, Some(60)).await;
    console_user(&moto, "never-signed-in", 50, None).await;
    console_user(&moto, "in-use", 400, Some(1)).await;
    console_user(&moto, "new-joiner", 10, None).await;
    console_user(&moto, "break-glass", 400, Some(200)).await;
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: cis-2-11}
spec:
  consoleAccess: {maxUnused: 45d, action: disable-console}
  exemptions:
    - users: [BREAK-GLASS]
      rules: [console-access]
      reason: sealed break-glass account, audited monthly
",
    );
    let plan = moto.warden(&["plan", "--policy", &policy.path]);
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert!(plan.stdout.contains("console password last used"), "{}", plan.stdout);

    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(!has_console(&moto, "idle").await, "unused for 60 days");
    assert!(!has_console(&moto, "never-signed-in").await, "never used in 50 days");
    assert!(has_console(&moto, "in-use").await);
    assert!(has_console(&moto, "new-joiner").await, "not yet 45 days");
    assert!(has_console(&moto, "break-glass").await, "exempt, in other letters");
    let deleted = apply.audit_for("delete-login-profile");
    assert_eq!(deleted.iter().filter(|r| r["outcome"] == "applied").count(), 2);
    assert_eq!(deleted.iter().filter(|r| r["outcome"] == "exempt").count(), 1);

    let undo = moto.warden(&["undo"]);
    assert_eq!(undo.code, 2, "a password cannot come back:\n{}", undo.stdout);
    assert!(!has_console(&moto, "idle").await);
}

/// Rules mfa and console-access both remove an idle password with no MFA:
/// the one deletion fixes both findings, and `apply` leaves nothing open.
#[tokio::test]
async fn a_password_two_rules_remove_is_removed_once_and_both_findings_are_fixed() {
    let moto = Moto::start();
    console_user(&moto, "idle", 400, Some(60)).await;
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: two-rules-one-change}
spec:
  mfa: {requireForConsoleUsers: true, gracePeriod: 24h, action: disable-console}
  consoleAccess: {maxUnused: 45d, action: disable-console}
",
    );
    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(apply.code, 0, "nothing left open:\n{}\n{}", apply.stdout, apply.stderr);
    assert!(!has_console(&moto, "idle").await);
    let deleted = apply.audit_for("delete-login-profile");
    let rules: Vec<_> = deleted
        .iter()
        .map(|r| (r["rule"].clone(), r["outcome"].clone()))
        .collect();
    assert_eq!(
        rules,
        [
            (json!("mfa"), json!("applied")),
            (json!("console-access"), json!("applied"))
        ]
    );
    let undo = moto.warden(&["undo", "--dry-run"]);
    assert!(
        undo.stdout.contains("cannot be reversed 1,"),
        "one change journaled:\n{}",
        undo.stdout
    );
}

#[tokio::test]
async fn the_console_password_is_judged_on_its_live_last_use_not_the_report_s() {
    let moto = Moto::start();
    console_user(&moto, "returning", 400, Some(60)).await;
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: cis-2-11}
spec:
  consoleAccess: {maxUnused: 45d, action: disable-console}
",
    );
    let plan = moto.warden(&["plan", "--policy", &policy.path]);
    assert_eq!(plan.code, 2, "the report shows 60 days unused:\n{}", plan.stdout);
    // The user signs in; the credential report, generated already, still shows the old date.
    moto.age(&json!({"user": "returning", "password_last_used": days_ago(0)}));
    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(
        has_console(&moto, "returning").await,
        "judged on GetUser's PasswordLastUsed"
    );
}

#[tokio::test]
async fn past_max_active_the_key_used_least_recently_is_deactivated_and_recorded() {
    let moto = Moto::start();
    let (stale, recent) = two_keys(&moto, "alice", 20, 1).await;
    let (fresh, old_use) = two_keys(&moto, "bob", 2, 10).await;
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: cis-2-12}
spec:
  accessKeys: {maxAge: 90d, maxActive: 1, deleteAfter: 30d, action: deactivate}
",
    );
    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let alice = keys(&moto, "alice").await;
    assert!(!alice[&stale] && alice[&recent], "{alice:?}");
    let bob = keys(&moto, "bob").await;
    assert!(bob[&fresh] && !bob[&old_use], "{bob:?}");
    assert!(
        tags(&moto, "alice")
            .await
            .contains_key(&format!("iam-warden/deactivated/{stale}")),
        "the deletion grace counts from the recorded deactivation"
    );
    let again = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(again.outcomes("applied"), 0, "one active key each: in spec");

    let undo = moto.warden(&["undo"]);
    assert_eq!(undo.code, 0, "{}", undo.stdout);
    assert!(keys(&moto, "alice").await[&stale], "reactivated");
}

#[tokio::test]
async fn a_forbidden_policy_is_detached_and_undo_attaches_it_again() {
    let moto = Moto::start();
    let shell = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess";
    let reader = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    let iam = moto.iam();
    iam.create_user().user_name("dev").send().await.unwrap();
    for arn in [shell, reader] {
        iam.attach_user_policy()
            .user_name("dev")
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    }
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: cis-2-21}
spec:
  userPermissions:
    forbiddenPolicies: [arn:aws:iam::aws:policy/AWSCloudShellFullAccess]
    action: detach
",
    );
    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert_eq!(
        attached(&moto, "dev").await,
        std::collections::BTreeSet::from([reader.to_owned()]),
        "only the forbidden one goes"
    );
    let undo = moto.warden(&["undo"]);
    assert_eq!(undo.code, 0, "{}", undo.stdout);
    assert!(attached(&moto, "dev").await.contains(shell));
}

#[tokio::test]
async fn an_expired_server_certificate_is_deleted_with_its_body_journaled_and_a_valid_one_stays() {
    let moto = Moto::start();
    let seeded = moto.seed(&["certificates"]);
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: cis-2-18}
spec:
  serverCertificates: {action: delete}
",
    );
    let plan = moto.warden(&["plan", "--policy", &policy.path]);
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let listed = moto.iam().list_server_certificates().send().await.unwrap();
    let names: Vec<&str> = listed
        .server_certificate_metadata_list()
        .iter()
        .map(|c| c.server_certificate_name())
        .collect();
    assert_eq!(names, ["valid"], "only the expired one goes");
    let intent = support::journal_records(&moto.journal())
        .into_iter()
        .find(|r| r["phase"] == "intent" && r["change"]["action"] == "delete-server-certificate")
        .expect("journaled before the deletion");
    let journaled = |field: &str| {
        intent["change"]["certificate"][field]
            .as_str()
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(journaled("body"), seeded["expired"].as_str().unwrap());
    assert_eq!(journaled("chain"), seeded["expired"].as_str().unwrap());

    let undo = moto.warden(&["undo"]);
    assert_eq!(undo.code, 2, "{}", undo.stdout);
    assert!(
        undo.stdout.contains("IAM never gives a certificate's private key back"),
        "{}",
        undo.stdout
    );
}

async fn role_with(moto: &Moto, name: &str, path: &str, admin: bool) {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let iam = moto.iam();
    let create = iam.create_role().role_name(name).path(path);
    create
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    if admin {
        let attach = iam.attach_role_policy().role_name(name);
        attach
            .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
            .send()
            .await
            .unwrap();
    }
}

async fn role_policies(moto: &Moto, role: &str) -> (Vec<String>, Vec<String>) {
    let iam = moto.iam();
    let attached = iam.list_attached_role_policies().role_name(role).send().await.unwrap();
    let inline = iam.list_role_policies().role_name(role).send().await.unwrap();
    let attached = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_name())
        .map(str::to_owned);
    (attached.collect(), inline.policy_names().to_vec())
}

#[tokio::test]
async fn a_role_s_admin_policies_go_unless_a_boundary_holds_it_or_aws_owns_it_and_undo_puts_them_back() {
    let moto = Moto::start();
    role_with(&moto, "ci", "/", true).await;
    role_with(&moto, "etl", "/", false).await;
    let everything =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let put = moto.iam().put_role_policy().role_name("etl").policy_name("star");
    put.policy_document(everything.to_string()).send().await.unwrap();
    role_with(&moto, "bounded", "/", true).await;
    let bound = moto.iam().put_role_permissions_boundary().role_name("bounded");
    bound
        .permissions_boundary("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    role_with(
        &moto,
        "AWSServiceRoleForTest",
        "/aws-service-role/test.amazonaws.com/",
        true,
    )
    .await;
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: cis-2-15-roles}
spec:
  rolePermissions: {forbidAdmin: true, action: detach}
",
    );
    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(
        apply.code, 2,
        "the bounded role is reported:\n{}\n{}",
        apply.stdout, apply.stderr
    );
    assert_eq!(role_policies(&moto, "ci").await, (vec![], vec![]), "admin detached");
    assert_eq!(
        role_policies(&moto, "etl").await,
        (vec![], vec![]),
        "inline admin deleted"
    );
    assert_eq!(
        role_policies(&moto, "bounded").await.0,
        ["AdministratorAccess"],
        "its boundary holds it"
    );
    assert_eq!(
        role_policies(&moto, "AWSServiceRoleForTest").await.0,
        ["AdministratorAccess"],
        "AWS owns it"
    );
    let deleted = support::journal_records(&moto.journal())
        .into_iter()
        .find(|r| r["phase"] == "intent" && r["change"]["action"] == "delete-role-policy")
        .expect("journaled before the deletion");
    let journaled: serde_json::Value = serde_json::from_str(deleted["change"]["document"].as_str().unwrap()).unwrap();
    assert_eq!(journaled, everything);

    let undo = moto.warden(&["undo"]);
    assert_eq!(undo.code, 0, "{}", undo.stdout);
    assert_eq!(role_policies(&moto, "ci").await.0, ["AdministratorAccess"]);
    assert_eq!(role_policies(&moto, "etl").await.1, ["star"]);
}

#[tokio::test]
async fn a_group_s_admin_policy_goes_its_members_stay_an_exempt_group_keeps_it_and_undo_puts_it_back() {
    let moto = Moto::start();
    let iam = moto.iam();
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    for group in ["admins", "break-glass"] {
        iam.create_group().group_name(group).send().await.unwrap();
        iam.attach_group_policy()
            .group_name(group)
            .policy_arn(admin)
            .send()
            .await
            .unwrap();
        let user = format!("{group}-member");
        iam.create_user().user_name(&user).send().await.unwrap();
        iam.add_user_to_group()
            .group_name(group)
            .user_name(&user)
            .send()
            .await
            .unwrap();
    }
    let everything =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let put = iam.put_group_policy().group_name("admins").policy_name("star");
    put.policy_document(everything.to_string()).send().await.unwrap();
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: cis-2-15-groups}
spec:
  userPermissions: {forbidAdmin: true, action: detach}
  groupPermissions: {forbidAdmin: true, action: detach}
  exemptions:
    - groups: [BREAK-GLASS]
      rules: [group-permissions]
      reason: sealed break-glass group, audited monthly
",
    );
    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    let group_policies = async |group: &str| {
        let attached = iam
            .list_attached_group_policies()
            .group_name(group)
            .send()
            .await
            .unwrap();
        let inline = iam.list_group_policies().group_name(group).send().await.unwrap();
        let attached = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_name())
            .map(str::to_owned);
        (attached.collect::<Vec<_>>(), inline.policy_names().to_vec())
    };
    assert_eq!(group_policies("admins").await, (vec![], vec![]), "{}", apply.stderr);
    let members = iam.get_group().group_name("admins").send().await.unwrap();
    assert_eq!(members.users().len(), 1, "the member stays in the group");
    assert_eq!(
        group_policies("break-glass").await.0,
        ["AdministratorAccess"],
        "exempt, in other letters"
    );
    let exempt = iam.get_group().group_name("break-glass").send().await.unwrap();
    assert!(
        exempt.users().is_empty(),
        "group-permissions leaves the exempt group as it is, so user-permissions takes its member out"
    );

    let undo = moto.warden(&["undo"]);
    assert!(undo.stdout.contains("Reversed 3"), "{}", undo.stdout);
    assert_eq!(
        group_policies("admins").await,
        (vec!["AdministratorAccess".to_owned()], vec!["star".to_owned()])
    );
}

/// The report-only controls: root's access key and MFA, and the support
/// role. `plan` shows them; nothing changes them, whatever the mode.
#[tokio::test]
async fn the_report_only_controls_are_findings_of_plan_and_apply_changes_nothing() {
    let moto = Moto::start();
    moto.root("virtual", true);
    role_with(&moto, "support", "/", false).await;
    // Analyzers are regional: eu-west-1's must be read in eu-west-1.
    moto.access_analyzer("us-east-1", Some("DISABLED"));
    moto.access_analyzer("eu-west-1", Some("ACTIVE"));
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: cis-report}
spec:
  cis: {accessAnalyzerRegions: [us-east-1, eu-west-1]}
",
    );
    let plan = moto.warden(&["plan", "--policy", &policy.path, "--output", "json"]);
    assert_eq!(plan.code, 2, "{}\n{}", plan.stdout, plan.stderr);
    for reported in [
        "(CIS 2.3)",
        "a virtual MFA device, not a hardware one (CIS 2.5)",
        "(CIS 2.16)",
        "no IAM Access Analyzer is active in us-east-1 (CIS 2.19)",
    ] {
        assert!(plan.stdout.contains(reported), "{reported}:\n{}", plan.stdout);
    }
    assert!(
        !plan.stdout.contains("active in eu-west-1"),
        "eu-west-1 has an active analyzer:\n{}",
        plan.stdout
    );

    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(
        apply.code, 2,
        "only a person can fix them:\n{}\n{}",
        apply.stdout, apply.stderr
    );
    assert!(apply.stdout.contains("Applied 0,"), "{}", apply.stdout);
    let iam = moto.iam();
    let summary = iam.get_account_summary().send().await.unwrap();
    let present = summary.summary_map().unwrap();
    assert_eq!(
        present[&aws_sdk_iam::types::SummaryKeyType::AccountAccessKeysPresent],
        1,
        "only root can delete it"
    );
    assert_eq!(
        role_policies(&moto, "support").await,
        (vec![], vec![]),
        "no role was given AWSSupportAccess"
    );

    moto.root("hardware", false);
    moto.access_analyzer("us-east-1", Some("ACTIVE"));
    let attach = iam.attach_role_policy().role_name("support");
    attach
        .policy_arn("arn:aws:iam::aws:policy/AWSSupportAccess")
        .send()
        .await
        .unwrap();
    let plan = moto.warden(&["plan", "--policy", &policy.path]);
    assert_eq!(
        plan.code, 0,
        "a hardware MFA, no key, a support role and an analyzer in each region:\n{}",
        plan.stdout
    );
}

/// A customer policy made admin by a new default version: the daemon reads
/// whom it is attached to and detaches it from the group and the role, from
/// the event alone (the first resync saw it harmless).
#[tokio::test(flavor = "multi_thread")]
async fn a_new_admin_version_of_a_policy_is_detached_from_its_group_and_role_from_the_event() {
    let moto = Moto::start();
    let iam = moto.iam();
    let narrow =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
    let created = iam
        .create_policy()
        .policy_name("deploy")
        .policy_document(narrow.to_string());
    let arn = created
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    iam.create_group().group_name("deployers").send().await.unwrap();
    let attach = iam.attach_group_policy().group_name("deployers").policy_arn(&arn);
    attach.send().await.unwrap();
    iam.create_user().user_name("dev").send().await.unwrap();
    let join = iam.add_user_to_group().group_name("deployers").user_name("dev");
    join.send().await.unwrap();
    role_with(&moto, "ci", "/", false).await;
    let attach = iam.attach_role_policy().role_name("ci").policy_arn(&arn);
    attach.send().await.unwrap();
    let queues = moto.queue_with_dlq(30, 5).await;
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: cis-2-15-events}
spec:
  userPermissions: {forbidAdmin: true, action: detach}
  groupPermissions: {forbidAdmin: true, action: detach}
  rolePermissions: {forbidAdmin: true, action: detach}
",
    );
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path), ("queue_url", &queues.url)]).await;

    let everything =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let version = iam.create_policy_version().policy_arn(&arn).set_as_default(true);
    version.policy_document(everything.to_string()).send().await.unwrap();
    let request = json!({"policyArn": arn, "policyDocument": everything.to_string(), "setAsDefault": true});
    queues
        .send(&eventbridge(
            "CreatePolicyVersion",
            request,
            json!({"policyVersion": {"versionId": "v2"}}),
        ))
        .await;

    let held = async || {
        let group = iam
            .list_attached_group_policies()
            .group_name("deployers")
            .send()
            .await
            .unwrap();
        !group.attached_policies().is_empty() || !role_policies(&moto, "ci").await.0.is_empty()
    };
    daemon
        .until(60, "the policy detached from the group and the role", async || {
            !held().await
        })
        .await;
    let members = iam.get_group().group_name("deployers").send().await.unwrap();
    assert_eq!(
        members.users().len(),
        1,
        "the group rule fixed the group, so its member stays"
    );
    let version = iam.get_policy().policy_arn(&arn).send().await.unwrap();
    assert_eq!(
        version.policy().unwrap().default_version_id(),
        Some("v2"),
        "the policy itself is left alone"
    );
}

/// A group event reads the group; its members are read and judged again
/// only when what the group now grants could change their findings.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_event_judges_the_members_only_when_the_group_could_change_their_findings() {
    let moto = Moto::start();
    let iam = moto.iam();
    iam.create_group().group_name("readers").send().await.unwrap();
    for member in ["reader-1", "reader-2"] {
        iam.create_user().user_name(member).send().await.unwrap();
        let join = iam.add_user_to_group().group_name("readers").user_name(member);
        join.send().await.unwrap();
    }
    let read =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]});
    let put = iam.put_group_policy().group_name("readers").policy_name("s3");
    put.policy_document(read.to_string()).send().await.unwrap();
    let queues = moto.queue_with_dlq(30, 5).await;
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: group-events}
spec:
  userPermissions: {forbidAdmin: true, action: detach}
",
    );
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path), ("queue_url", &queues.url)]).await;
    let member_reads = async || {
        let page = daemon.get("/metrics").await.1;
        support::total(
            &page,
            "iam_warden_aws_requests_total",
            &["operation=\"ListGroupsForUser\""],
        )
    };
    let before = member_reads().await;
    let request = json!({"groupName": "readers", "policyName": "s3", "policyDocument": read.to_string()});
    queues.send(&eventbridge("PutGroupPolicy", request, json!(null))).await;
    daemon
        .until(60, "the event handled", async || queues.pending(&queues.url).await == 0)
        .await;
    assert_eq!(
        member_reads().await,
        before,
        "a group that grants nothing judged of its members reads none"
    );

    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    let attach = iam.attach_group_policy().group_name("readers").policy_arn(admin);
    attach.send().await.unwrap();
    let request = json!({"groupName": "readers", "policyArn": admin});
    queues
        .send(&eventbridge("AttachGroupPolicy", request, json!(null)))
        .await;
    let members = async || {
        iam.get_group()
            .group_name("readers")
            .send()
            .await
            .unwrap()
            .users()
            .len()
    };
    daemon
        .until(60, "each member taken out of the admin group", async || {
            members().await == 0
        })
        .await;
}
