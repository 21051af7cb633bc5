//! `iam-warden run` against moto's SQS and IAM, asserting on what the
//! emulator holds: events get fixes, forged events get nothing, messages are
//! deleted only after success, and shutdown loses nothing.

use aws_sdk_iam::types::StatusType;
use serde_json::{Value, json};
use support::{Daemon, Moto, PolicyFile, Queues, TEST_KEY, eventbridge, key_event, reactivate_and_announce};

const THUMBPRINT: &str = "6938fd4d98bab03faadb97b34396831e3780aea1";

fn policy(oidc_action: &str) -> String {
    format!(
        "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {{name: daemon-test}}
spec:
  mfa: {{requireForConsoleUsers: true, gracePeriod: 24h, action: deny-until-mfa}}
  accessKeys: {{maxAge: 90d, maxUnused: 45d, deleteAfter: 180d, action: deactivate}}
  oidcProviders: {{allowedIssuers: [token.actions.githubusercontent.com], action: {oidc_action}}}
"
    )
}

async fn key_active(moto: &Moto, user: &str, key: &str) -> bool {
    let listed = moto.iam().list_access_keys().user_name(user).send().await.unwrap();
    let found = listed
        .access_key_metadata()
        .iter()
        .find(|k| k.access_key_id() == Some(key));
    found.is_some_and(|k| k.status() == Some(&StatusType::Active))
}

async fn set_key(moto: &Moto, user: &str, key: &str, status: StatusType) {
    moto.iam()
        .update_access_key()
        .user_name(user)
        .access_key_id(key)
        .status(status)
        .send()
        .await
        .unwrap();
}

async fn create_provider(moto: &Moto, host: &str) -> String {
    let created = moto
        .iam()
        .create_open_id_connect_provider()
        .url(format!("https://{host}"))
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list(THUMBPRINT)
        .send()
        .await
        .unwrap();
    created.open_id_connect_provider_arn().unwrap().to_owned()
}

fn provider_event(arn: &str) -> String {
    eventbridge(
        "CreateOpenIDConnectProvider",
        json!({"url": "https://..."}),
        json!({"openIDConnectProviderArn": arn}),
    )
}

async fn provider_exists(moto: &Moto, arn: &str) -> bool {
    moto.iam()
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .is_ok()
}

/// A daemon on a fresh `targets` account with an events queue.
async fn running(oidc_action: &str, visibility: u32, max_receives: u32) -> (Moto, Value, Queues, PolicyFile, Daemon) {
    let moto = Moto::start();
    let seeded = moto.seed(&["targets"]);
    let queues = moto.queue_with_dlq(visibility, max_receives).await;
    let policy = PolicyFile::new(&policy(oidc_action));
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path), ("queue_url", &queues.url)]).await;
    (moto, seeded, queues, policy, daemon)
}

#[tokio::test(flavor = "multi_thread")]
async fn events_get_their_violations_fixed_within_seconds() {
    let (moto, seeded, queues, _policy, daemon) = running("delete", 5, 3).await;
    let mallory_key = seeded["mallory_key"].as_str().unwrap();
    let settled = daemon.log().len();

    let rogue = create_provider(&moto, "rogue.example.com").await;
    set_key(&moto, "mallory", mallory_key, StatusType::Active).await;
    queues.send(&provider_event(&rogue)).await;
    queues.send(&key_event("mallory", mallory_key)).await;

    daemon
        .until(
            10,
            "the rogue provider deleted and the old key deactivated",
            async || !provider_exists(&moto, &rogue).await && !key_active(&moto, "mallory", mallory_key).await,
        )
        .await;
    daemon
        .until(10, "both messages deleted", async || {
            queues.pending(&queues.url).await == 0
        })
        .await;
    let fixed: Vec<Value> = daemon.log()[settled..]
        .iter()
        .filter(|r| r["log"] == "audit" && r["outcome"] == "applied")
        .cloned()
        .collect();
    assert_eq!(fixed.len(), 2, "{fixed:?}");
    assert!(
        fixed.iter().all(|r| {
            let events = r["events"].as_array().into_iter().flatten();
            events.filter_map(Value::as_str).any(|id| id.starts_with("evt-"))
        }),
        "the audit names the event, among any merged with it: {fixed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_events_about_compliant_resources_change_nothing() {
    let (moto, seeded, queues, _policy, daemon) = running("delete", 5, 3).await;
    let compliant_key = seeded["compliant_key"].as_str().unwrap();
    let github = seeded["github"].as_str().unwrap();
    let settled = daemon.log().len();

    queues.send(&key_event("compliant", compliant_key)).await;
    queues
        .send(&eventbridge(
            "DeactivateMFADevice",
            json!({"userName": "compliant"}),
            Value::Null,
        ))
        .await;
    queues.send(&provider_event(github)).await;
    daemon
        .until(10, "the forged messages handled", async || {
            queues.pending(&queues.url).await == 0
        })
        .await;

    assert!(
        !daemon.records("reconciled", Some("user/compliant")).is_empty(),
        "the events were acted on"
    );
    assert!(key_active(&moto, "compliant", compliant_key).await);
    assert!(provider_exists(&moto, github).await);
    let changes = daemon.log()[settled..]
        .iter()
        .filter(|r| r["log"] == "audit" && r["outcome"] == "applied")
        .count();
    assert_eq!(changes, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_about_one_user_is_coalesced() {
    let (moto, seeded, queues, _policy, daemon) = running("delete", 5, 3).await;
    let mallory_key = seeded["mallory_key"].as_str().unwrap();
    set_key(&moto, "mallory", mallory_key, StatusType::Active).await;

    for batch in 0..10 {
        let entries = (0..10).map(|n| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(format!("m{batch}-{n}"))
                .message_body(key_event("mallory", mallory_key))
                .build()
                .unwrap()
        });
        queues
            .sqs
            .send_message_batch()
            .queue_url(&queues.url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .unwrap();
    }
    daemon
        .until(30, "all 100 messages deleted", async || {
            queues.pending(&queues.url).await == 0
        })
        .await;
    assert!(!key_active(&moto, "mallory", mallory_key).await);
    let reconciles = daemon.records("reconciled", Some("user/mallory")).len();
    eprintln!("100 events about one user gave {reconciles} reconciles");
    assert!(
        (1..=10).contains(&reconciles),
        "100 events gave {reconciles} reconciles"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_reconcile_leaves_its_message_to_come_back_until_the_dead_letter_queue() {
    // moto enforces IAM after the seed's five calls; the runner may do anything but UpdateAccessKey.
    let moto = Moto::start_enforcing_auth_after(5);
    let seeded = moto.seed(&["unfixable"]);
    let (id, secret) = (
        seeded["access_key_id"].as_str().unwrap(),
        seeded["secret_access_key"].as_str().unwrap(),
    );
    moto.act_as(id, secret);
    let queues = moto.queue_with_dlq(1, 2).await;
    let policy = PolicyFile::new(&policy("delete"));
    let daemon = Daemon::start(
        &moto,
        (id, secret),
        &[("policy", &policy.path), ("queue_url", &queues.url)],
    )
    .await;
    let victim_key = seeded["victim_key"].as_str().unwrap();

    let body = key_event("victim", victim_key);
    queues.send(&body).await;
    daemon
        .until(30, "the message in the dead-letter queue", async || {
            queues.pending(&queues.dlq_url).await == 1
        })
        .await;

    let dead = queues
        .sqs
        .receive_message()
        .queue_url(&queues.dlq_url)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let dead = &dead.messages()[0];
    assert_eq!(dead.body(), Some(body.as_str()), "the very message, intact");
    let receives = dead.attributes().unwrap()[&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount]
        .parse::<u32>()
        .unwrap();
    assert!(
        receives >= 2,
        "it came back after the failure: received {receives} times"
    );
    assert!(key_active(&moto, "victim", victim_key).await, "AWS refused the fix");
    assert!(
        !daemon
            .records(
                "not every reconcile succeeded; the message will be received again",
                None
            )
            .is_empty()
    );
    let refused: Vec<Value> = daemon
        .log()
        .into_iter()
        .filter(|r| r["log"] == "audit" && r["outcome"] == "failed" && r["resource"]["id"] == victim_key)
        .collect();
    assert!(!refused.is_empty(), "the audit log shows the failed fix");
    assert!(
        refused[0]["detail"]
            .as_str()
            .unwrap()
            .contains("access denied for iam:UpdateAccessKey"),
        "{}",
        refused[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_message_reaches_the_dead_letter_queue_and_the_daemon_carries_on() {
    let (moto, seeded, queues, _policy, daemon) = running("delete", 1, 2).await;
    queues.send("{\"Records\": [ this is not json").await;
    daemon
        .until(20, "the malformed message in the dead-letter queue", async || {
            queues.pending(&queues.dlq_url).await == 1
        })
        .await;
    assert!(
        !daemon
            .records("malformed message left for the dead-letter queue", None)
            .is_empty()
    );

    let mallory_key = seeded["mallory_key"].as_str().unwrap();
    reactivate_and_announce(&moto, &queues, &[("mallory".to_owned(), mallory_key.to_owned())]).await;
    daemon
        .until(10, "a good event still fixed", async || {
            !key_active(&moto, "mallory", mallory_key).await
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_reload_applies_a_valid_policy_and_keeps_the_last_good_one() {
    let (moto, _seeded, queues, policy_file, daemon) = running("report", 5, 3).await;
    let rogue = create_provider(&moto, "rogue.example.com").await;
    queues.send(&provider_event(&rogue)).await;
    daemon
        .until(10, "the event handled", async || queues.pending(&queues.url).await == 0)
        .await;
    assert!(provider_exists(&moto, &rogue).await, "report only");

    // As Kubernetes updates a ConfigMap: a new file swapped in by rename.
    let swap = |text: String| {
        let staged = format!("{}.staged", policy_file.path);
        std::fs::write(&staged, text).unwrap();
        std::fs::rename(&staged, &policy_file.path).unwrap();
    };
    swap(policy("delete"));
    daemon
        .until(10, "the reloaded policy enforced", async || {
            !provider_exists(&moto, &rogue).await
        })
        .await;
    assert_eq!(daemon.records("policy reloaded; reconciling everything", None).len(), 1);

    swap(policy("delete").replace("action: delete", "action: obliterate"));
    daemon
        .until(10, "the bad policy rejected", async || {
            !daemon
                .records("policy reload rejected; the last good policy stays in force", None)
                .is_empty()
        })
        .await;
    let rejected = &daemon.records("policy reload rejected; the last good policy stays in force", None)[0];
    assert!(
        rejected["errors"]
            .as_str()
            .unwrap()
            .contains("unknown variant `obliterate`"),
        "{rejected}"
    );

    let second = create_provider(&moto, "another-rogue.example.com").await;
    queues.send(&provider_event(&second)).await;
    daemon
        .until(10, "the last good policy still enforced", async || {
            !provider_exists(&moto, &second).await
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_burst_exits_cleanly_and_loses_nothing() {
    let moto = Moto::start();
    let seeded = moto.seed(&["old-keys", "20"]);
    let keys: Vec<(String, String)> = seeded["keys"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(u, k)| (u.clone(), k.as_str().unwrap().to_owned()))
        .collect();
    let queues = moto.queue_with_dlq(3, 10).await;
    let policy = PolicyFile::new(&policy("delete"));
    let settings = [
        ("policy", policy.path.as_str()),
        ("queue_url", queues.url.as_str()),
        ("shutdown_timeout", "10s"),
    ];
    let daemon = Daemon::settled(&moto, &settings).await;

    reactivate_and_announce(&moto, &queues, &keys).await;
    daemon.until_first_fix(10).await;
    assert_eq!(
        daemon.terminate(15).await,
        Some(0),
        "a clean exit within the shutdown bound"
    );

    let mut unfixed = 0;
    for (user, key) in &keys {
        unfixed += u64::from(key_active(&moto, user, key).await);
    }
    let queued = queues.pending(&queues.url).await;
    assert!(
        queued >= unfixed,
        "{unfixed} violations unfixed but only {queued} messages left: one was lost"
    );

    let restarted = Daemon::start(&moto, (TEST_KEY, TEST_KEY), &settings).await;
    restarted
        .until(30, "every violation fixed and every message deleted", async || {
            let mut any_active = false;
            for (user, key) in &keys {
                any_active |= key_active(&moto, user, key).await;
            }
            !any_active && queues.pending(&queues.url).await == 0
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_is_deactivated_the_moment_it_reaches_max_age_without_any_event() {
    let moto = Moto::start();
    let seeded = moto.seed(&["expiring", "8"]);
    let key = seeded["key"].as_str().unwrap();
    let policy = PolicyFile::new(&policy("delete"));
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path)]).await;
    assert!(key_active(&moto, "soon", key).await, "compliant at start-up");

    daemon
        .until(20, "deactivation at maxAge", async || {
            !key_active(&moto, "soon", key).await
        })
        .await;
    let fix = daemon.records("reconciled", Some("user/soon"));
    assert!(
        !fix.is_empty(),
        "a reconcile of that one user, scheduled from the deadline, not a resync"
    );
    assert_eq!(daemon.records("reconciled", Some("all")).len(), 1, "no resync ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_without_a_dead_letter_queue_is_warned_about_at_start_up() {
    let moto = Moto::start();
    moto.seed(&["targets"]);
    let bare = moto.sqs().create_queue().queue_name("no-redrive").send().await.unwrap();
    let policy = PolicyFile::new(&policy("delete"));
    let url = bare.queue_url().unwrap();
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path), ("queue_url", url)]).await;
    let warned = daemon.log().into_iter().any(|r| {
        r["level"] == "WARN"
            && r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("the queue has no redrive policy"))
    });
    assert!(warned, "no warning about the missing dead-letter queue");
}
