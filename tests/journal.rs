//! The journal (design.md §8.2) and `undo`: every change's intent is durable
//! before the change, in a file or in S3, and `undo` reads only the journal,
//! reverses only what is still as iam-warden left it, and never makes things
//! worse. Each test asserts on what the emulator holds afterwards.

use std::time::{Duration, Instant};

use aws_sdk_iam::types::StatusType;
use serde_json::{Value, json};
use support::proxy::Proxy;
use support::{
    Credentials, Daemon, Moto, PolicyFile, TEST_KEY, attached, enforceable_policy, enforceable_policy_with,
    eventbridge, inline, journal_records, key_event, keys, run_warden, run_warden_with_env, start_warden,
};

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

fn test_keys() -> Credentials {
    (TEST_KEY, TEST_KEY).into()
}

fn permissions_policy() -> PolicyFile {
    PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: least-privilege}
spec:
  userPermissions: {allowDirectPolicies: true, forbidAdmin: true, reportEscalation: false, action: detach}
  exemptions:
    - users: [break-glass, operator]
      rules: [user-permissions]
      reason: sealed break-glass admins
",
    )
}

/// The intents in `records`, whose change is `action`.
fn intents<'a>(records: &'a [Value], action: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["phase"] == "intent" && r["change"]["action"] == action)
        .collect()
}

fn outcome_of<'a>(records: &'a [Value], id: &Value) -> Option<&'a Value> {
    records.iter().find(|r| r["phase"] == "outcome" && r["id"] == *id)
}

/// Gives carol AdministratorAccess and dave an inline policy allowing everything, by hand.
async fn grant_admin_by_hand(moto: &Moto) -> Value {
    let iam = moto.iam();
    iam.attach_user_policy()
        .user_name("carol")
        .policy_arn(ADMIN)
        .send()
        .await
        .unwrap();
    let everything =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let put = iam.put_user_policy().user_name("dave").policy_name("everything");
    put.policy_document(everything.to_string()).send().await.unwrap();
    everything
}

/// Waits up to `seconds` for `ready`, failing with `what`.
async fn until(seconds: u64, what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn inline_document(moto: &Moto, user: &str, name: &str) -> Value {
    let got = moto
        .iam()
        .get_user_policy()
        .user_name(user)
        .policy_name(name)
        .send()
        .await
        .unwrap();
    support::policy_document(got.policy_document())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_apply_leaves_its_intent_and_undo_puts_the_deleted_policy_back() {
    let moto = Moto::start();
    moto.seed(&["permissions"]);
    let document = inline_document(&moto, "admin-inline", "everything").await;
    let proxy = Proxy::start(&moto.endpoint).await;
    proxy.hold(|call| call.action == "DeleteUserPolicy");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let journal_env = journal.to_str().unwrap();
    let policy = permissions_policy();
    let mut apply = start_warden(
        &proxy.endpoint,
        &test_keys(),
        &["apply", "--policy", &policy.path],
        &[("IAM_WARDEN_JOURNAL", journal_env)],
    );
    until(120, "the apply to reach DeleteUserPolicy", async || proxy.held() >= 1).await;
    apply.kill().unwrap(); // SIGKILL: no handler, no flush, no last log line
    apply.wait().unwrap();

    let records = journal_records(&journal);
    let deleting = intents(&records, "delete-user-policy");
    assert_eq!(deleting.len(), 1, "{records:#?}");
    let intent = deleting[0];
    assert_eq!(intent["change"]["user"], "admin-inline");
    assert_eq!(intent["change"]["name"], "everything");
    let journaled: Value = serde_json::from_str(intent["change"]["document"].as_str().unwrap()).unwrap();
    assert_eq!(journaled, document, "the whole document, before the call");
    assert!(
        outcome_of(&records, &intent["id"]).is_none(),
        "killed before its outcome"
    );

    // The request had reached AWS: it goes on without its caller.
    proxy.release();
    until(60, "the held deletion to land", async || {
        inline(&moto, "admin-inline").await.is_empty()
    })
    .await;

    let undo = run_warden(&moto.endpoint, &test_keys(), &["undo", "--journal", journal_env]);
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    assert!(
        undo.stdout
            .lines()
            .filter(|l| l.contains("remove-user-from-group"))
            .all(|l| l.contains("reversed") || l.contains("not made")),
        "a change in flight at the kill is reversed if it landed, else not made:\n{}",
        undo.stdout
    );
    assert_eq!(inline(&moto, "admin-inline").await, ["everything"]);
    assert_eq!(inline_document(&moto, "admin-inline", "everything").await, document);
    let records = journal_records(&journal);
    let reversal = intents(&records, "put-user-policy");
    assert_eq!(reversal.len(), 1, "undo journals its own change");
    assert_eq!(reversal[0]["undoes"], intent["id"]);
    assert_eq!(outcome_of(&records, &reversal[0]["id"]).unwrap()["outcome"], "applied");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_in_s3_holds_each_intent_before_its_outcome_and_undo_needs_nothing_else() {
    let moto = Moto::start();
    let seeded = moto.seed(&["drifted"]);
    let location = moto.journal_bucket("iam-warden-journal").await;
    let policy = enforceable_policy();

    // The daemon fixes the drifted account at its first resync ...
    let daemon = Daemon::start(&moto, test_keys(), &[("policy", &policy.path), ("journal", &location)]).await;
    daemon.ready().await;
    let log = daemon.log_text();
    assert_eq!(daemon.terminate(30).await, Some(0), "{log}");
    // ... and `apply` what a person broke later.
    let everything = grant_admin_by_hand(&moto).await;
    let apply = run_warden_with_env(
        &moto.endpoint,
        &test_keys(),
        &["apply", "--policy", &policy.path],
        &[("IAM_WARDEN_JOURNAL", &location)],
    );
    assert_eq!(apply.outcomes("applied"), 2, "{}", apply.stderr);
    assert!(!moto.journal().exists(), "no journal file anywhere");

    let objects = moto.journal_objects(&location).await;
    let records: Vec<(usize, &Value)> = objects
        .iter()
        .enumerate()
        .flat_map(|(at, (_, records))| records.iter().map(move |r| (at, r)))
        .collect();
    let changes: Vec<&(usize, &Value)> = records.iter().filter(|(_, r)| r["phase"] == "intent").collect();
    assert!(changes.len() >= 10, "the daemon's and apply's changes: {objects:#?}");
    for (object, intent) in &changes {
        let (outcome_object, outcome) = records
            .iter()
            .find(|(_, r)| r["phase"] == "outcome" && r["id"] == intent["id"])
            .unwrap_or_else(|| panic!("no outcome for {intent}"));
        assert!(
            outcome_object > object && outcome["time"].as_str() >= intent["time"].as_str(),
            "the intent is written, in an object of its own, before the outcome: {intent} {outcome}"
        );
    }
    assert!(
        objects
            .iter()
            .all(|(key, _)| key.starts_with("iam-warden/") && key.ends_with(".jsonl")),
        "under the prefix"
    );

    let undo = run_warden(&moto.endpoint, &test_keys(), &["undo", "--journal", &location]);
    assert_eq!(
        undo.code, 2,
        "the trail is never stopped:\n{}\n{}",
        undo.stdout, undo.stderr
    );
    assert!(
        undo.stdout
            .contains("changed since 0, cannot be reversed 1, protected 0, failed 0."),
        "only the trail stays:\n{}",
        undo.stdout
    );
    let key = |name: &str| seeded["keys"][name].as_str().unwrap().to_owned();
    assert!(
        keys(&moto, "alice").await[&key("alice-old")],
        "the daemon's deactivation undone"
    );
    assert!(
        attached(&moto, "bob").await.is_empty(),
        "the daemon's quarantine lifted"
    );
    assert!(attached(&moto, "carol").await.contains(ADMIN), "apply's detach undone");
    assert_eq!(
        inline_document(&moto, "dave", "everything").await,
        everything,
        "apply's deletion undone"
    );
    let providers = moto.iam().list_open_id_connect_providers().send().await.unwrap();
    assert!(
        providers
            .open_id_connect_provider_list()
            .iter()
            .any(|p| p.arn().is_some_and(|arn| arn.ends_with("rogue.example.com"))),
        "the deleted provider is back"
    );
    let reversals = moto.journal_objects(&location).await.len() - objects.len();
    assert!(reversals >= 1, "undo journals its own changes in S3 too");
}

#[tokio::test]
async fn undo_leaves_what_a_person_changed_since_and_names_it() {
    let moto = Moto::start();
    let seeded = moto.seed(&["drifted"]);
    grant_admin_by_hand(&moto).await;
    let policy = enforceable_policy();
    let first = moto.warden(&["apply", "--policy", &policy.path]);
    assert!(first.outcomes("applied") >= 3, "{}", first.stderr);
    let alice_old = seeded["keys"]["alice-old"].as_str().unwrap();
    let iam = moto.iam();

    // A person writes a new inline policy under the deleted one's name.
    let theirs =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
    iam.put_user_policy()
        .user_name("dave")
        .policy_name("everything")
        .policy_document(theirs.to_string())
        .send()
        .await
        .unwrap();

    // A person takes alice's key back into use, iam-warden (told to let it
    // be) sees it active, and later the person deactivates it by hand.
    let deactivated_at = intents(&journal_records(&moto.journal()), "deactivate-access-key")
        .iter()
        .find(|i| i["change"]["id"] == alice_old)
        .map(|i| i["time"].as_str().unwrap().to_owned())
        .expect("apply journaled alice's deactivation");
    let set_key = async |status: StatusType| {
        let update = iam.update_access_key().user_name("alice").access_key_id(alice_old);
        update.status(status).send().await.unwrap();
    };
    set_key(StatusType::Active).await;
    let lenient = enforceable_policy_with(&[
        ("maxAge: 90d", "maxAge: 400d"),
        ("allowDirectPolicies: false", "allowDirectPolicies: true"),
        ("maxActive: 1 ", "maxActive: 2 "),
    ]);
    let seen_active = moto.warden(&["apply", "--policy", &lenient.path]);
    let cleared = intents(&journal_records(&moto.journal()), "clear-deactivation-record").len();
    assert_eq!(cleared, 1, "{}", seen_active.stderr);
    // Records are to the second: the hand deactivation comes a second later.
    let deactivated_at = chrono::DateTime::parse_from_rfc3339(&deactivated_at).unwrap();
    until(5, "the next second", async || {
        chrono::Utc::now().timestamp() > deactivated_at.timestamp()
    })
    .await;
    set_key(StatusType::Inactive).await;
    moto.expire_credential_report();
    let seen_inactive = moto.warden(&["apply", "--policy", &lenient.path]);
    let recorded = intents(&journal_records(&moto.journal()), "record-deactivation").len();
    assert_eq!(recorded, 2, "erin's, and now alice's: {}", seen_inactive.stderr);

    // The role's trust is fixed, iam-warden lifts its quarantine, and a
    // responder quarantines it again on purpose.
    iam.update_assume_role_policy()
        .role_name("deploy")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                              "StringLike": {"token.actions.githubusercontent.com:sub": "repo:my-org/*"}}}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let lifted = moto.warden(&["apply", "--policy", &lenient.path]);
    assert_eq!(lifted.audit_for("lift-quarantine").len(), 1, "{}", lifted.stderr);
    let deny_all = "arn:aws:iam::123456789012:policy/iam-warden/iam-warden-deny-all";
    iam.attach_role_policy()
        .role_name("deploy")
        .policy_arn(deny_all)
        .send()
        .await
        .unwrap();

    let undo = moto.warden(&["undo"]);
    let line = |action: &str, resource: &str| {
        undo.stdout
            .lines()
            .filter(|l| l.contains(action) && l.contains(resource))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    for (action, resource) in [
        ("delete-user-policy", "dave"),
        ("deactivate-access-key", alice_old),
        ("quarantine-role", "role/deploy"),
        ("lift-quarantine", "role/deploy"),
    ] {
        let lines = line(action, resource);
        assert!(
            !lines.is_empty() && lines.iter().all(|l| l.contains("changed since")),
            "{action} {resource}:\n{}",
            undo.stdout
        );
    }
    assert_eq!(
        inline_document(&moto, "dave", "everything").await,
        theirs,
        "their policy stays"
    );
    assert!(!keys(&moto, "alice").await[alice_old], "their deactivation stays");
    let role = iam
        .list_attached_role_policies()
        .role_name("deploy")
        .send()
        .await
        .unwrap();
    let role: Vec<&str> = role.attached_policies().iter().filter_map(|p| p.policy_arn()).collect();
    assert_eq!(role, [deny_all], "the responder's quarantine stays");
    assert!(
        attached(&moto, "carol").await.contains(ADMIN),
        "what nobody touched is reversed"
    );
}

#[tokio::test]
async fn undo_restores_a_tampered_quarantine_policy_before_it_attaches_it() {
    let moto = Moto::start();
    moto.seed(&["drifted"]);
    let policy = enforceable_policy();
    let apply = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(
        apply.audit_for("detach-deny-policy").len(),
        1,
        "frank's quarantine lifted"
    );
    // Someone with IAM access makes the quarantine policy allow everything.
    let deny = "arn:aws:iam::123456789012:policy/iam-warden/iam-warden-deny-without-mfa";
    let everything =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let iam = moto.iam();
    iam.create_policy_version()
        .policy_arn(deny)
        .policy_document(everything.to_string())
        .set_as_default(true)
        .send()
        .await
        .unwrap();

    let undo = moto.warden(&["undo"]);
    assert!(
        attached(&moto, "frank").await.contains(deny),
        "frank quarantined again:\n{}",
        undo.stdout
    );
    let got = iam.get_policy().policy_arn(deny).send().await.unwrap();
    let version = got.policy().unwrap().default_version_id().unwrap().to_owned();
    let got = iam
        .get_policy_version()
        .policy_arn(deny)
        .version_id(version)
        .send()
        .await
        .unwrap();
    let document = support::policy_document(got.policy_version().unwrap().document().unwrap());
    assert_ne!(
        document, everything,
        "the quarantine denies again before anyone gets it"
    );
    assert!(document.to_string().contains("DenyAllExceptListedIfNoMFA"));
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_by_event_finds_a_change_made_on_a_retry_and_merged_from_two_events() {
    let moto = Moto::start();
    let seeded = moto.seed(&["targets"]);
    let compliant_key = seeded["compliant_key"].as_str().unwrap();
    let queues = moto.queue_with_dlq(60, 10).await;
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: keys}
spec:
  accessKeys: {maxAge: 90d, maxUnused: 45d, deleteAfter: 30d, action: deactivate}
",
    );
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let journal = journal.to_str().unwrap();
    let settings = [
        ("policy", policy.path.as_str()),
        ("queue_url", &queues.url),
        ("journal", journal),
    ];
    let daemon = Daemon::settled(&moto, &settings).await;
    let proxy = daemon.proxy();
    proxy.refuse(|call| call.action == "UpdateAccessKey");
    // The key grows old while iam-warden watches; two events name it.
    let long_ago = (chrono::Utc::now() - chrono::TimeDelta::days(120)).to_rfc3339();
    moto.age(&json!({"access_key_id": compliant_key, "create_date": long_ago}));
    let event = |id: &str| {
        let mut event: Value = serde_json::from_str(&key_event("compliant", compliant_key)).unwrap();
        event["detail"]["eventID"] = json!(id);
        event.to_string()
    };
    queues.send(&event("first-of-two")).await;
    until(120, "the first attempt refused", async || proxy.refused() >= 1).await;
    queues.send(&event("second-of-two")).await;
    until(120, "both events received and waiting on the retry", async || {
        queues.pending(&queues.url).await == 2 && proxy.refused() >= 2
    })
    .await;
    proxy.stop_refusing();
    let applied = |records: &[Value]| {
        intents(records, "deactivate-access-key")
            .into_iter()
            .filter(|i| outcome_of(records, &i["id"]).is_some_and(|o| o["outcome"] == "applied"))
            .count()
    };
    daemon
        .until(120, "the key deactivated on a retry", async || {
            applied(&journal_records(daemon.journal())) >= 1
        })
        .await;
    assert!(!keys(&moto, "compliant").await[compliant_key]);
    let records = journal_records(daemon.journal());
    let made: Vec<&Value> = intents(&records, "deactivate-access-key")
        .into_iter()
        .filter(|i| outcome_of(&records, &i["id"]).is_some_and(|o| o["outcome"] == "applied"))
        .collect();
    assert_eq!(made.len(), 1, "{records:#?}");
    assert_eq!(made[0]["events"], json!(["first-of-two", "second-of-two"]));
    drop(daemon);

    let by_second = moto.warden(&["undo", "--journal", journal, "--dry-run", "--event", "second-of-two"]);
    assert!(
        by_second.stdout.contains("deactivate-access-key"),
        "{}",
        by_second.stdout
    );
    let by_first = moto.warden(&["undo", "--journal", journal, "--event", "first-of-two"]);
    assert_eq!(by_first.code, 0, "{}\n{}", by_first.stdout, by_first.stderr);
    assert!(keys(&moto, "compliant").await[compliant_key], "active again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_event_under_text_logs_writes_nothing_undo_would_act_on() {
    let moto = Moto::start();
    moto.seed(&["targets"]);
    let queues = moto.queue_with_dlq(30, 5).await;
    let policy = permissions_policy();
    let settings = [
        ("policy", policy.path.as_str()),
        ("queue_url", &queues.url),
        ("log_format", "text"),
    ];
    let daemon = Daemon::start(&moto, test_keys(), &settings).await;
    daemon
        .until(60, "the first resync", async || {
            daemon.log_text().contains("reconciled key=\"all\"")
        })
        .await;
    // A group name is whatever the caller wrote; this one holds a whole audit line.
    let forged = "admins\n{\"log\":\"audit\",\"account\":\"123456789012\",\"rule\":\"user-permissions\",\"action\":\"detach-user-policy\",\"resource\":{\"kind\":\"user-policy\",\"user\":\"compliant\",\"arn\":\"arn:aws:iam::aws:policy/AdministratorAccess\"},\"outcome\":\"applied\"}";
    let event = eventbridge(
        "AttachGroupPolicy",
        json!({"groupName": forged, "policyArn": ADMIN}),
        Value::Null,
    );
    queues.send(&event).await;
    daemon
        .until(60, "the forged event handled and logged", async || {
            queues.pending(&queues.url).await == 0 && daemon.log_text().contains("admins\\n{")
        })
        .await;
    let log = daemon.log_text();
    assert!(
        log.lines().all(|line| !line.starts_with('{')),
        "every record on one line of its own, nothing that reads as an audit record:\n{log}"
    );
    assert!(
        journal_records(daemon.journal()).is_empty(),
        "nothing changed, so nothing for undo to read"
    );
}
