//! Nothing disarms the guard or turns it on its owner (design.md §8.1): a
//! hostile document judged in bounded time and memory, names without case,
//! AWS's quotas, reads that lag writes, quarantines released, and settings
//! that cannot work refused. Each test asserts on what the emulator holds,
//! which the launcher makes behave like AWS in each of these.

use std::collections::BTreeSet;

use aws_sdk_iam::types::Tag;
use serde_json::{Value, json};
use support::{Daemon, Moto, PolicyFile, TEST_KEY, attached, eventbridge, inline, keys, run_warden_with_env};

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const GITHUB: &str = "token.actions.githubusercontent.com";

fn policy(sections: &str) -> PolicyFile {
    PolicyFile::new(&format!(
        "apiVersion: iamwarden.dev/v1alpha1\nkind: AccountPolicy\nmetadata: {{name: guard}}\nspec:\n{sections}"
    ))
}

const PERMISSIONS: &str = "  userPermissions: {forbidAdmin: true, allowDirectPolicies: true, action: detach}\n";
const TRUST: &str =
    "  oidcTrust:\n    subjects: {token.actions.githubusercontent.com: [\"repo:my-org/*\"]}\n    action: quarantine\n";

async fn user(moto: &Moto, name: &str) {
    moto.iam().create_user().user_name(name).send().await.unwrap();
}

async fn attach(moto: &Moto, user: &str, arn: &str) {
    let iam = moto.iam();
    iam.attach_user_policy()
        .user_name(user)
        .policy_arn(arn)
        .send()
        .await
        .unwrap();
}

async fn put_inline(moto: &Moto, user: &str, name: &str, document: &Value) {
    let iam = moto.iam();
    let put = iam.put_user_policy().user_name(user).policy_name(name);
    put.policy_document(document.to_string()).send().await.unwrap();
}

fn github_trust(sub: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{GITHUB}")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {format!("{GITHUB}:aud"): "sts.amazonaws.com"},
            "StringLike": {format!("{GITHUB}:sub"): sub},
        },
    }]})
    .to_string()
}

async fn role(moto: &Moto, name: &str, trust: &str) {
    let iam = moto.iam();
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
}

/// How iam-warden's deny-all holds the role: `managed`, `inline`, or `none`.
async fn held(moto: &Moto, role: &str) -> &'static str {
    let iam = moto.iam();
    let managed = iam.list_attached_role_policies().role_name(role).send().await.unwrap();
    if managed
        .attached_policies()
        .iter()
        .any(|p| p.policy_name() == Some("iam-warden-deny-all"))
    {
        return "managed";
    }
    let inline = iam.list_role_policies().role_name(role).send().await.unwrap();
    match inline.policy_names().iter().any(|n| n == "iam-warden-deny-all") {
        true => "inline",
        false => "none",
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_statement_is_judged_admin_and_its_policy_deleted_in_bounded_memory() {
    let moto = Moto::start();
    user(&moto, "intruder").await;
    // Subset construction over `iam:*a` and 22 `?` needs 2^22 states: the
    // statement is an admin grant in its first action already.
    let hostile = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["*", format!("iam:*a{}", "?".repeat(22))], "Resource": "*"}]});
    put_inline(&moto, "intruder", "takeover", &hostile).await;
    let rules = policy(PERMISSIONS);
    let plan = moto.warden(&["plan", "--output", "json", "--policy", &rules.path]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let findings: Value = serde_json::from_str(&plan.stdout).unwrap();
    assert!(
        findings["findings"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("admin-equivalent"),
        "{findings}"
    );

    let daemon = Daemon::settled(&moto, &[("policy", &rules.path)]).await;
    daemon
        .until(60, "the hostile policy deleted", async || {
            inline(&moto, "intruder").await.is_empty()
        })
        .await;
    let peak = daemon.peak_rss_kib();
    assert!(peak < 64 * 1024, "the daemon peaked at {peak} KiB judging one document");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_in_other_letters_is_the_same_user_to_exemptions_events_and_protection() {
    let moto = Moto::start();
    for name in ["break-glass", "mallory", "Warden-Bot"] {
        user(&moto, name).await;
        attach(&moto, name, ADMIN).await;
    }
    // iam-warden runs as the IAM user Warden-Bot.
    let key = moto
        .iam()
        .create_access_key()
        .user_name("Warden-Bot")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let credentials = (key.access_key_id(), key.secret_access_key());
    let rules = policy(&format!(
        "{PERMISSIONS}  exemptions:\n    - users: [BREAK-GLASS]\n      reason: sealed break-glass account\n"
    ));
    let queues = moto.queue_with_dlq(5, 5).await;
    let settings = [("policy", rules.path.as_str()), ("queue_url", queues.url.as_str())];
    let daemon = Daemon::start(&moto, credentials, &settings).await;
    daemon.ready().await;
    for name in ["BREAK-GLASS", "MALLORY", "warden-bot"] {
        let request = json!({"userName": name, "policyArn": ADMIN});
        queues
            .send(&eventbridge("AttachUserPolicy", request, Value::Null))
            .await;
    }
    daemon
        .until(30, "MALLORY's event fixed mallory", async || {
            attached(&moto, "mallory").await.is_empty()
        })
        .await;
    daemon.ready().await;
    assert!(
        attached(&moto, "break-glass").await.contains(ADMIN),
        "the exemption covers BREAK-GLASS"
    );
    assert!(
        attached(&moto, "Warden-Bot").await.contains(ADMIN),
        "iam-warden never changes itself"
    );
    let decided = |outcome: &str| {
        daemon
            .log()
            .into_iter()
            .filter(|r| r["log"] == "audit" && r["outcome"] == outcome)
            .map(|r| r["resource"]["user"].as_str().unwrap_or_default().to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert!(decided("exempt").contains("break-glass"), "judged under its own name");
    assert!(decided("protected").contains("Warden-Bot"));
}

#[tokio::test]
async fn a_full_quota_neither_stops_a_quarantine_nor_fails_a_deactivation_forever() {
    let moto = Moto::start();
    role(&moto, "wide", &github_trust("repo:*")).await;
    let iam = moto.iam();
    for n in 0..10 {
        let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
        let created = iam
            .create_policy()
            .policy_name(format!("team-{n}"))
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap();
        let arn = created.policy().unwrap().arn().unwrap().to_owned();
        iam.attach_role_policy()
            .role_name("wide")
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    }
    user(&moto, "tagged").await;
    let tags: Vec<Tag> = (0..50)
        .map(|n| Tag::builder().key(format!("team-{n}")).value("x").build().unwrap())
        .collect();
    iam.tag_user()
        .user_name("tagged")
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
    let created = iam.create_access_key().user_name("tagged").send().await.unwrap();
    let key = created.access_key().unwrap().access_key_id().to_owned();
    let long_ago = (chrono::Utc::now() - chrono::TimeDelta::days(100)).to_rfc3339();
    moto.age(&json!({"access_key_id": key, "create_date": long_ago}));

    let keys_rule = "  accessKeys: {maxAge: 90d, deleteAfter: 1d, action: deactivate}\n";
    let rules = policy(&format!("{TRUST}{keys_rule}"));
    let first = moto.warden(&["apply", "--policy", &rules.path]);
    assert_eq!(
        held(&moto, "wide").await,
        "inline",
        "ten managed policies: the same document, inline"
    );
    let document = iam
        .get_role_policy()
        .role_name("wide")
        .policy_name("iam-warden-deny-all")
        .send()
        .await
        .unwrap();
    let document = support::policy_document(document.policy_document());
    assert_eq!(document["Statement"][0]["Effect"], "Deny");
    assert!(
        !keys(&moto, "tagged").await[&key],
        "the key is inactive though its record is not written"
    );
    assert_eq!(first.audit_for("deactivate-access-key")[0]["outcome"], "applied");
    assert_eq!(first.outcomes("failed"), 0, "{}", first.stdout);

    for _ in 0..2 {
        let again = moto.warden(&["apply", "--policy", &rules.path]);
        assert_eq!(
            again.outcomes("failed"),
            0,
            "no pass fails on the full quota: {}",
            again.stdout
        );
        assert!(
            again.stdout.contains("no room for one"),
            "the missing record is reported: {}",
            again.stdout
        );
    }
    assert!(
        keys(&moto, "tagged").await.contains_key(&key),
        "a key without a record is never deleted"
    );

    iam.update_assume_role_policy()
        .role_name("wide")
        .policy_document(github_trust("repo:my-org/*"))
        .send()
        .await
        .unwrap();
    moto.warden(&["apply", "--policy", &rules.path]);
    assert_eq!(held(&moto, "wide").await, "none", "lifted the way it was held");
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_read_before_they_show_are_read_again_and_fixed_within_a_minute() {
    let moto = Moto::start();
    role(&moto, "ci", &github_trust("repo:my-org/*")).await;
    user(&moto, "dev").await;
    let rules = policy(&format!("{PERMISSIONS}{TRUST}"));
    let queues = moto.queue_with_dlq(30, 5).await;
    let daemon = Daemon::settled(&moto, &[("policy", &rules.path), ("queue_url", &queues.url)]).await;
    // From now on, every read shows the state of five seconds ago.
    moto.lag(5.0);
    let iam = moto.iam();
    iam.update_assume_role_policy()
        .role_name("ci")
        .policy_document(github_trust("repo:*"))
        .send()
        .await
        .unwrap();
    attach(&moto, "dev", ADMIN).await;
    let events = [
        eventbridge(
            "UpdateAssumeRolePolicy",
            json!({"roleName": "ci", "policyDocument": github_trust("repo:*")}),
            Value::Null,
        ),
        eventbridge(
            "AttachUserPolicy",
            json!({"userName": "dev", "policyArn": ADMIN}),
            Value::Null,
        ),
    ];
    for event in &events {
        queues.send(event).await;
    }
    daemon
        .until(60, "both fixed, with the resync an hour away", async || {
            held(&moto, "ci").await == "managed" && attached(&moto, "dev").await.is_empty()
        })
        .await;
}

/// The read again is for a read that may have come before the event's
/// write: once the first read shows what the event says it wrote, it is not
/// needed. An event that does not say (`deploy`'s) is read again.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_whose_write_the_first_read_shows_is_not_read_again() {
    let moto = Moto::start();
    let trust = github_trust("repo:my-org/*");
    role(&moto, "ci", &trust).await;
    role(&moto, "deploy", &trust).await;
    let logs =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:Get*", "Resource": "*"}]});
    let iam = moto.iam();
    iam.create_group().group_name("ops").send().await.unwrap();
    let put = iam.put_group_policy().group_name("ops").policy_name("logs");
    put.policy_document(logs.to_string()).send().await.unwrap();
    let groups = "  groupPermissions: {forbidAdmin: true, action: detach}\n";
    let rules = policy(&format!("{TRUST}{groups}"));
    let queues = moto.queue_with_dlq(30, 5).await;
    // One worker takes the queue's due work in order: a read again of `ci`
    // or `ops` would come before `deploy`'s.
    let settings = [
        ("policy", rules.path.as_str()),
        ("queue_url", queues.url.as_str()),
        ("workers", "1"),
        ("recheck_after", "1s"),
    ];
    let daemon = Daemon::settled(&moto, &settings).await;
    let reconciles = |key: &str| daemon.records("reconciled", Some(key)).len();
    let (ci, ops) = (
        json!({"roleName": "ci", "policyDocument": trust}),
        json!({"groupName": "ops", "policyName": "logs", "policyDocument": logs.to_string()}),
    );
    queues
        .send(&eventbridge("UpdateAssumeRolePolicy", ci, Value::Null))
        .await;
    queues.send(&eventbridge("PutGroupPolicy", ops, Value::Null)).await;
    daemon
        .until(60, "both read", async || {
            reconciles("role/ci") == 1 && reconciles("group/ops") == 1
        })
        .await;
    let deploy = json!({"roleName": "deploy"});
    queues
        .send(&eventbridge("UpdateAssumeRolePolicy", deploy, Value::Null))
        .await;
    daemon
        .until(60, "deploy read again", async || reconciles("role/deploy") == 2)
        .await;
    assert_eq!(
        reconciles("role/ci"),
        1,
        "ci's trust, as its event wrote it, was read once"
    );
    assert_eq!(
        reconciles("group/ops"),
        1,
        "ops's inline policy, as its event put it, was read once"
    );
}

fn allowing(action: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}).to_string()
}

async fn group_holding(moto: &Moto, group: &str, inline: &str) {
    let iam = moto.iam();
    iam.create_group().group_name(group).send().await.unwrap();
    let put = iam.put_group_policy().group_name(group).policy_name("logs");
    put.policy_document(inline).send().await.unwrap();
}

async fn customer_policy(moto: &Moto, name: &str, document: &str) -> String {
    let created = moto.iam().create_policy().policy_name(name).policy_document(document);
    let created = created.send().await.unwrap();
    created.policy().unwrap().arn().unwrap().to_owned()
}

async fn group_attached(moto: &Moto, group: &str) -> Vec<String> {
    let listed = moto.iam().list_attached_group_policies().group_name(group).send().await;
    let listed = listed.unwrap();
    listed
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .map(str::to_owned)
        .collect()
}

/// A group event reads which version of a customer policy is the default no
/// more: the start-up scan read it. When what the scan read makes the group
/// a finding, the group is read again live before anything is changed: here
/// the policy's default went back to a harmless version, and its event
/// never came. The group keeps the policy.
#[tokio::test(flavor = "multi_thread")]
async fn a_default_version_only_the_scan_read_never_leads_to_a_change() {
    let moto = Moto::start();
    let logs = allowing("logs:Get*");
    group_holding(&moto, "team", &logs).await;
    let arn = customer_policy(&moto, "team-tools", &allowing("*")).await;
    let rules = policy("  groupPermissions: {forbidAdmin: true, action: detach}\n");
    let queues = moto.queue_with_dlq(30, 5).await;
    let settings = [("policy", rules.path.as_str()), ("queue_url", queues.url.as_str())];
    let daemon = Daemon::settled(&moto, &settings).await;

    let iam = moto.iam();
    let harmless = iam.create_policy_version().policy_arn(&arn).set_as_default(true);
    harmless.policy_document(allowing("s3:GetObject")).send().await.unwrap();
    let attach = iam.attach_group_policy().group_name("team").policy_arn(&arn);
    attach.send().await.unwrap();
    let put = json!({"groupName": "team", "policyName": "logs", "policyDocument": logs});
    queues.send(&eventbridge("PutGroupPolicy", put, Value::Null)).await;
    daemon
        .until(60, "the group reconciled", async || {
            !daemon.records("reconciled", Some("group/team")).is_empty()
        })
        .await;
    assert_eq!(
        group_attached(&moto, "team").await,
        [arn],
        "judged live, the policy is harmless: {}",
        daemon.log_text()
    );
}

/// A policy deleted and made again under the same ARN is a new policy: a
/// group its event attached it to is judged on the new one, read live,
/// though the scan read the old one and the deletion's event never came.
#[tokio::test(flavor = "multi_thread")]
async fn a_policy_made_again_under_its_arn_is_judged_afresh_when_attached() {
    let moto = Moto::start();
    group_holding(&moto, "team", &allowing("logs:Get*")).await;
    let arn = customer_policy(&moto, "team-tools", &allowing("s3:GetObject")).await;
    let rules = policy("  groupPermissions: {forbidAdmin: true, action: detach}\n");
    let queues = moto.queue_with_dlq(30, 5).await;
    let settings = [("policy", rules.path.as_str()), ("queue_url", queues.url.as_str())];
    let daemon = Daemon::settled(&moto, &settings).await;

    moto.iam().delete_policy().policy_arn(&arn).send().await.unwrap();
    assert_eq!(customer_policy(&moto, "team-tools", &allowing("*")).await, arn);
    let attach = moto.iam().attach_group_policy().group_name("team").policy_arn(&arn);
    attach.send().await.unwrap();
    let request = json!({"groupName": "team", "policyArn": arn});
    queues
        .send(&eventbridge("AttachGroupPolicy", request, Value::Null))
        .await;
    daemon
        .until(60, "the admin policy detached", async || {
            group_attached(&moto, "team").await.is_empty()
        })
        .await;
}

#[tokio::test]
async fn every_way_of_relaxing_a_rule_lifts_the_quarantine_iam_warden_holds() {
    let moto = Moto::start();
    role(&moto, "wide", &github_trust("repo:*")).await;
    user(&moto, "ops").await;
    let iam = moto.iam();
    iam.create_login_profile()
        .user_name("ops")
        .password("Initial-Passw0rd!")
        .send()
        .await
        .unwrap();
    let long_ago = (chrono::Utc::now() - chrono::TimeDelta::days(10)).to_rfc3339();
    moto.age(&json!({"user": "ops", "create_date": long_ago}));
    let mfa = "  mfa: {requireForConsoleUsers: true, gracePeriod: 24h, action: deny-until-mfa}\n";
    let apply = |sections: &str| {
        let rules = policy(sections);
        let run = moto.warden(&["apply", "--policy", &rules.path]);
        assert_ne!(run.code, 1, "{}", run.stderr);
        run
    };
    let deny_without_mfa = "arn:aws:iam::123456789012:policy/iam-warden/iam-warden-deny-without-mfa";
    apply(&format!("{TRUST}{mfa}"));
    assert_eq!(held(&moto, "wide").await, "managed");
    assert!(attached(&moto, "ops").await.contains(deny_without_mfa));

    let audit = apply(&format!("  mode: audit\n{mfa}"));
    assert_eq!(held(&moto, "wide").await, "managed", "audit mode changes nothing");
    assert_eq!(
        audit.audit_for("lift-quarantine")[0]["outcome"],
        "dry_run",
        "and reports the lift"
    );

    let exempt = "  exemptions:\n    - roles: [WIDE]\n      reason: under investigation\n";
    apply(&format!("{TRUST}{mfa}{exempt}"));
    assert_eq!(held(&moto, "wide").await, "none", "an exemption now covers the role");
    apply(&format!("{TRUST}{mfa}"));
    assert_eq!(held(&moto, "wide").await, "managed", "quarantined again without it");
    apply(&format!(
        "{}{mfa}",
        TRUST.replace("action: quarantine", "action: report")
    ));
    assert_eq!(held(&moto, "wide").await, "none", "the rule relaxed to report");
    apply(&format!("{TRUST}{mfa}"));
    apply(mfa);
    assert_eq!(held(&moto, "wide").await, "none", "its section removed");
    apply("  accessKeys: {maxAge: 90d, action: report}\n");
    assert!(
        !attached(&moto, "ops").await.contains(deny_without_mfa),
        "the mfa section removed"
    );
}

#[test]
fn settings_that_cannot_work_are_refused_at_start_up_with_the_setting_named() {
    let moto = Moto::start();
    let paused = run_warden_with_env(
        &moto.endpoint,
        &(TEST_KEY, TEST_KEY).into(),
        &["run"],
        &[
            ("IAM_WARDEN_MAX_CHANGES_PER_HOUR", "0"),
            ("IAM_WARDEN_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert_eq!(paused.code, 1);
    assert!(paused.stderr.contains("max_changes_per_hour"), "{}", paused.stderr);
    let beyond = run_warden_with_env(
        &moto.endpoint,
        &(TEST_KEY, TEST_KEY).into(),
        &["run"],
        &[
            ("HOSTNAME", "iam-warden-3"),
            ("IAM_WARDEN_REPLICAS", "3"),
            ("IAM_WARDEN_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert_eq!(beyond.code, 1, "a fourth replica of three would serve every account");
    assert!(beyond.stderr.contains("IAM_WARDEN_REPLICAS=3"), "{}", beyond.stderr);
}

#[tokio::test]
async fn admin_grants_in_every_form_are_found_and_only_a_certain_deny_narrows_them() {
    let moto = Moto::start();
    let statement = |fields: Value| json!({"Version": "2012-10-17", "Statement": [fields]});
    let grants = [
        (
            "not-action",
            statement(json!({"Effect": "Allow", "NotAction": "iam:Get*", "Resource": "*"})),
        ),
        (
            "not-resource",
            statement(json!({"Effect": "Allow", "Action": "iam:*", "NotResource": "arn:aws:s3:::logs"})),
        ),
        (
            "star-in-a-list",
            statement(json!({"Effect": "Allow", "Action": "*", "Resource": ["arn:aws:s3:::b", "*"]})),
        ),
    ];
    for (name, document) in &grants {
        user(&moto, name).await;
        put_inline(&moto, name, "grant", document).await;
    }
    // Under iam-warden's path, but not one of its own quarantine policies.
    let iam = moto.iam();
    let lookalike = iam
        .create_policy()
        .policy_name("iam-warden-helper")
        .path("/iam-warden/")
        .policy_document(statement(json!({"Effect": "Allow", "Action": "*", "Resource": "*"})).to_string())
        .send()
        .await
        .unwrap();
    let lookalike = lookalike.policy().unwrap().arn().unwrap().to_owned();
    user(&moto, "path-trick").await;
    attach(&moto, "path-trick", &lookalike).await;
    // Admin, certainly denied every permission-changing action: not admin.
    user(&moto, "fenced").await;
    attach(&moto, "fenced", ADMIN).await;
    let fence = statement(
        json!({"Effect": "Deny", "Action": ["iam:Attach*", "iam:Put*", "iam:*PolicyVersion"], "Resource": "*"}),
    );
    put_inline(&moto, "fenced", "fence", &fence).await;

    let rules = policy(PERMISSIONS);
    let run = moto.warden(&["apply", "--policy", &rules.path]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    for (name, _) in &grants {
        assert!(inline(&moto, name).await.is_empty(), "{name}: {}", run.stdout);
    }
    assert!(attached(&moto, "path-trick").await.is_empty(), "{}", run.stdout);
    assert!(
        attached(&moto, "fenced").await.contains(ADMIN),
        "the deny is certain: {}",
        run.stdout
    );
}

#[tokio::test]
async fn a_user_whose_boundary_is_not_admin_keeps_its_admin_policy_and_is_reported() {
    let moto = Moto::start();
    let iam = moto.iam();
    let s3_only =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    let created = iam
        .create_policy()
        .policy_name("ci-boundary")
        .policy_document(s3_only.to_string())
        .send()
        .await
        .unwrap();
    let boundary = created.policy().unwrap().arn().unwrap().to_owned();
    for name in ["ci-bot", "unbounded"] {
        user(&moto, name).await;
        attach(&moto, name, ADMIN).await;
    }
    iam.put_user_permissions_boundary()
        .user_name("ci-bot")
        .permissions_boundary(&boundary)
        .send()
        .await
        .unwrap();
    let rules = policy(PERMISSIONS);
    let run = moto.warden(&["apply", "--policy", &rules.path]);
    assert!(
        attached(&moto, "ci-bot").await.contains(ADMIN),
        "bounded, it was never admin"
    );
    assert!(attached(&moto, "unbounded").await.is_empty());
    let reported = run
        .audit()
        .into_iter()
        .find(|r| r["resource"]["user"] == "ci-bot")
        .unwrap();
    assert_eq!(reported["outcome"], "reported");
    assert!(
        reported["reason"].as_str().unwrap().contains("permissions boundary"),
        "{reported}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspect_for_one_rule_keeps_its_deadline_for_another() {
    let moto = Moto::start();
    // A key that reaches maxAge 90d in 8 s, of a console user without MFA:
    // a suspect for rule mfa, with a deadline for rule access-keys.
    let seeded = moto.seed(&["expiring", "8"]);
    let key = seeded["key"].as_str().unwrap().to_owned();
    let iam = moto.iam();
    iam.create_login_profile()
        .user_name("soon")
        .password("Initial-Passw0rd!")
        .send()
        .await
        .unwrap();
    let long_ago = (chrono::Utc::now() - chrono::TimeDelta::days(10)).to_rfc3339();
    moto.age(&json!({"user": "soon", "create_date": long_ago}));
    let rules = policy(
        "  accessKeys: {maxAge: 90d, action: deactivate}\n  mfa: {requireForConsoleUsers: true, gracePeriod: 24h, action: report}\n",
    );
    let daemon = Daemon::settled(&moto, &[("policy", &rules.path)]).await;
    daemon
        .until(
            40,
            "the key deactivated at its deadline, with no event and no resync",
            async || !keys(&moto, "soon").await[&key],
        )
        .await;
    assert_eq!(
        daemon.records("reconciled", Some("all")).len(),
        1,
        "no second resync ran"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconcile_of_one_facet_keeps_the_drift_of_the_others_in_the_gauge() {
    let moto = Moto::start();
    let seeded = moto.seed(&["targets"]);
    let iam = moto.iam();
    // mallory: a console user without MFA, reported; its old key, inactive.
    iam.create_login_profile()
        .user_name("mallory")
        .password("Initial-Passw0rd!")
        .send()
        .await
        .unwrap();
    let long_ago = (chrono::Utc::now() - chrono::TimeDelta::days(10)).to_rfc3339();
    moto.age(&json!({"user": "mallory", "create_date": long_ago}));
    let rules = policy(
        "  accessKeys: {maxAge: 90d, action: deactivate}\n  mfa: {requireForConsoleUsers: true, gracePeriod: 24h, action: report}\n",
    );
    let queues = moto.queue_with_dlq(5, 5).await;
    let daemon = Daemon::settled(&moto, &[("policy", &rules.path), ("queue_url", &queues.url)]).await;
    let mfa = "iam_warden_violations{rule=\"mfa\"} 1";
    daemon.until_sample(10, mfa).await;
    let key = seeded["mallory_key"].as_str().unwrap();
    queues.send(&support::key_event("mallory", key)).await;
    daemon
        .until(30, "the key event reconciled", async || {
            !daemon.records("reconciled", Some("user/mallory")).is_empty()
        })
        .await;
    daemon.ready().await;
    let page = daemon.get("/metrics").await.1;
    assert!(page.lines().any(|l| l == mfa), "a key reconcile judged no MFA:\n{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_field_cannot_write_a_line_of_its_own_in_text_logs() {
    let moto = Moto::start();
    moto.seed(&["targets"]);
    let rules = policy(PERMISSIONS);
    let queues = moto.queue_with_dlq(5, 5).await;
    let settings = [
        ("policy", rules.path.as_str()),
        ("queue_url", queues.url.as_str()),
        ("log_format", "text"),
    ];
    let daemon = Daemon::start(&moto, (TEST_KEY, TEST_KEY), &settings).await;
    let forged = "admins\n{\"log\":\"audit\",\"forged\":true,\"outcome\":\"applied\"}";
    queues
        .send(&eventbridge(
            "PutGroupPolicy",
            json!({"groupName": forged}),
            Value::Null,
        ))
        .await;
    daemon
        .until(30, "the event's group read", async || {
            daemon.log_text().contains("forged")
        })
        .await;
    let text = daemon.log_text();
    assert!(
        !text
            .lines()
            .any(|line| line.starts_with("{\"log\":\"audit\",\"forged\"")),
        "a forged line:\n{text}"
    );
}
