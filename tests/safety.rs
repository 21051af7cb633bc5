//! Safe on a real account: what AWS does that the emulator hides, and what
//! iam-warden must never do. Each test asserts on what the emulator holds.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::proxy::Proxy;
use support::{
    Credentials, Daemon, Moto, PolicyFile, Queues, TEST_KEY, backdate_record, enforceable_policy, eventbridge,
    key_event, keys, sample, tags,
};

const KEYS_POLICY: &str = "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: safety}
spec:
  accessKeys: {maxAge: 90d, maxUnused: 45d, deleteAfter: 30d, action: deactivate}
";

fn policy_with(sections: &str) -> PolicyFile {
    PolicyFile::new(&format!(
        "apiVersion: iamwarden.dev/v1alpha1\nkind: AccountPolicy\nmetadata: {{name: safety}}\nspec:\n{sections}"
    ))
}

/// One seeded key of the `rollout` scenario.
struct Seeded {
    user: String,
    key: String,
    age_days: f64,
    last_used_days: Option<f64>,
    active: bool,
}

impl Seeded {
    fn all(seeded: &Value) -> Vec<Seeded> {
        seeded["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| Seeded {
                user: k["user"].as_str().unwrap().to_owned(),
                key: k["key"].as_str().unwrap().to_owned(),
                age_days: k["age_days"].as_f64().unwrap(),
                last_used_days: k["last_used_days"].as_f64(),
                active: k["active"].as_bool().unwrap(),
            })
            .collect()
    }

    /// Out of `KEYS_POLICY` while active: older than 90 days or unused for 45.
    fn violates_while_active(&self) -> bool {
        self.age_days >= 90.0 || self.last_used_days.unwrap_or(self.age_days) >= 45.0
    }

    fn inactive_after_rollout(&self) -> bool {
        !self.active || self.violates_while_active()
    }
}

/// `(user, key)` of every key the emulator still holds, with its status.
async fn existing(moto: &Moto, seeded: &[Seeded]) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    for key in seeded {
        if let Some(active) = keys(moto, &key.user).await.get(&key.key) {
            found.push((key.key.clone(), *active));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_rollout_deletes_no_key_until_its_recorded_deactivation_is_past_delete_after() {
    let moto = Moto::start();
    let seeded = Seeded::all(&moto.seed(&["rollout"]));
    assert_eq!(seeded.len(), 40);
    let queues = moto.queue_with_dlq(5, 5).await;
    let policy = PolicyFile::new(KEYS_POLICY);
    // Resyncs every 10 s, and every change comes back as an event: plenty of passes that follow.
    let settings = [
        ("policy", policy.path.as_str()),
        ("queue_url", queues.url.as_str()),
        ("resync_interval", "10s"),
    ];
    let daemon = Daemon::settled(&moto, &settings).await;

    let watching = Instant::now();
    while watching.elapsed() < Duration::from_secs(60) {
        assert_eq!(
            existing(&moto, &seeded).await.len(),
            40,
            "a key was deleted during the rollout"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(daemon.proxy().echoed() > 0, "iam-warden saw its own changes come back");
    assert!(
        daemon.records("reconciled", Some("all")).len() >= 5,
        "several resyncs ran"
    );
    for key in &seeded {
        let status = keys(&moto, &key.user).await[&key.key];
        assert_eq!(status, !key.inactive_after_rollout(), "{}: active {status}", key.user);
        let recorded = tags(&moto, &key.user)
            .await
            .contains_key(&format!("iam-warden/deactivated/{}", key.key));
        assert_eq!(
            recorded,
            key.inactive_after_rollout(),
            "{}: every inactive key is recorded",
            key.user
        );
    }

    // Thirty-one days on, as far as the records say; EventBridge would deliver each TagUser.
    for key in seeded.iter().filter(|k| k.inactive_after_rollout()) {
        backdate_record(&moto, &key.user, &key.key, 31).await;
        queues
            .send(&eventbridge("TagUser", json!({"userName": key.user}), Value::Null))
            .await;
    }
    let due = |key: &Seeded| key.inactive_after_rollout() && key.last_used_days.is_none_or(|days| days >= 30.0);
    let expected: Vec<(String, bool)> = seeded
        .iter()
        .filter(|k| !due(k))
        .map(|k| (k.key.clone(), !k.inactive_after_rollout()))
        .collect();
    daemon
        .until(60, "exactly the keys due deleted", async || {
            existing(&moto, &seeded).await == expected
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(existing(&moto, &seeded).await, expected, "and no more afterwards");
    let deleted = seeded.iter().filter(|k| due(k)).count();
    assert!(deleted >= 10, "{deleted} keys were due");
    for key in seeded
        .iter()
        .filter(|k| k.last_used_days.is_some_and(|days| days < 30.0))
    {
        assert!(
            existing(&moto, &seeded).await.iter().any(|(id, _)| *id == key.key),
            "{} was used {:?} days ago and was deleted",
            key.user,
            key.last_used_days
        );
    }
}

#[tokio::test]
async fn running_as_a_role_it_never_deletes_the_oidc_provider_that_role_trusts() {
    let moto = Moto::start();
    let seeded = moto.seed(&["irsa"]);
    let text = |field: &str| seeded[field].as_str().unwrap().to_owned();
    let session = Credentials {
        key_id: text("access_key_id"),
        secret: text("secret_access_key"),
        session_token: Some(text("session_token")),
    };
    let policy =
        policy_with("  oidcProviders: {allowedIssuers: [token.actions.githubusercontent.com], action: delete}\n");
    let run = moto.warden_as(session, &["apply", "--policy", &policy.path]);

    let exists = async |arn: &str| {
        moto.iam()
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .is_ok()
    };
    assert!(
        exists(&text("cluster_provider")).await,
        "the cluster's IRSA issuer survives"
    );
    assert!(
        !exists(&text("rogue_provider")).await,
        "the unrelated rogue provider is deleted"
    );
    let decisions = run.audit_for("delete-oidc-provider");
    let outcome = |url: &str| {
        decisions
            .iter()
            .find(|r| r["resource"]["url"].as_str().is_some_and(|u| u.contains(url)))
            .unwrap_or_else(|| panic!("no decision about {url}: {decisions:?}"))
            .clone()
    };
    let protected = outcome("CLUSTER");
    assert_eq!(protected["outcome"], "protected");
    assert!(
        protected["detail"]
            .as_str()
            .unwrap()
            .contains("role iam-warden runs as (iam-warden) trusts this provider"),
        "{protected}"
    );
    assert_eq!(outcome("rogue.example.com")["outcome"], "applied");
    assert_eq!(run.code, 2, "the protected provider is still drift, and said so");
}

/// The default version of the quarantine policy, as JSON.
async fn default_document(moto: &Moto, arn: &str) -> Value {
    let policy = moto.iam().get_policy().policy_arn(arn).send().await.unwrap();
    let version = policy.policy().unwrap().default_version_id().unwrap().to_owned();
    let got = moto
        .iam()
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .unwrap();
    support::policy_document(got.policy_version().unwrap().document().unwrap())
}

fn shipped_document() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/quarantine/deny-without-mfa.json"
    ))
    .unwrap()
    .replace("{partition}", "aws");
    serde_json::from_str(&text).unwrap()
}

const MFA_POLICY: &str = "  mfa: {requireForConsoleUsers: true, gracePeriod: 24h, action: deny-until-mfa}\n";

#[tokio::test]
async fn a_tampered_quarantine_policy_is_restored_before_it_is_attached() {
    let moto = Moto::start();
    // Five versions, IAM's limit: the restore must first make room.
    let arn = moto.seed(&["tampered", "5"])["policy_arn"].as_str().unwrap().to_owned();
    assert_eq!(default_document(&moto, &arn).await["Statement"][0]["Action"], "*");
    let policy = policy_with(MFA_POLICY);
    let run = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    assert_eq!(default_document(&moto, &arn).await, shipped_document());
    let versions = moto.iam().list_policy_versions().policy_arn(&arn).send().await.unwrap();
    assert_eq!(versions.versions().len(), 5, "the oldest non-default version made room");
    let attached = moto
        .iam()
        .list_attached_user_policies()
        .user_name("bob")
        .send()
        .await
        .unwrap();
    assert_eq!(attached.attached_policies()[0].policy_arn(), Some(arn.as_str()));

    let audit = run.audit();
    let position = |action: &str| audit.iter().position(|r| r["action"] == action).unwrap();
    assert!(
        position("restore-quarantine-policy") < position("attach-deny-policy"),
        "restored before any attach"
    );
    let restores = run.audit_for("restore-quarantine-policy");
    let tampered = restores.iter().find(|r| r["before"]["defaultVersion"] == "v5").unwrap();
    assert_eq!(
        tampered["before"]["document"]["Statement"][0]["Action"], "*",
        "the tampered document is kept"
    );
    let made_room = restores.iter().find(|r| r["before"]["deletedVersion"] == "v1").unwrap();
    assert!(
        made_room["before"]["document"]["Statement"].is_array(),
        "so is the version deleted to make room"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_version_of_a_quarantine_policy_is_undone_by_its_event() {
    let moto = Moto::start();
    moto.seed(&["quarantine"]);
    let queues = moto.queue_with_dlq(5, 5).await;
    let policy = policy_with(MFA_POLICY);
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path), ("queue_url", &queues.url)]).await;
    let arn = "arn:aws:iam::123456789012:policy/iam-warden/iam-warden-deny-without-mfa";
    assert_eq!(
        default_document(&moto, arn).await,
        shipped_document(),
        "created at start-up"
    );

    let allow_all =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    moto.iam()
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(allow_all.to_string())
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    queues
        .send(&eventbridge(
            "CreatePolicyVersion",
            json!({"policyArn": arn, "setAsDefault": true}),
            Value::Null,
        ))
        .await;
    daemon
        .until(10, "the shipped document the default again", async || {
            default_document(&moto, arn).await == shipped_document()
        })
        .await;
    let restored = daemon.audit_line(5, "restore-quarantine-policy", "applied").await;
    assert_eq!(restored["before"]["document"], allow_all);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_change_budget_holds_changes_back_and_makes_them_when_it_refills() {
    let moto = Moto::start();
    let seeded = moto.seed(&["old-active-keys", "5"]);
    let old: Vec<(String, String)> = seeded["keys"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(user, key)| (user.clone(), key.as_str().unwrap().to_owned()))
        .collect();
    let queues = moto.queue_with_dlq(5, 5).await;
    let policy = PolicyFile::new(KEYS_POLICY);
    let daemon = Daemon::settled(
        &moto,
        &[
            ("policy", &policy.path),
            ("queue_url", &queues.url),
            ("max_changes_per_hour", "2"),
            ("change_budget_window", "10s"),
        ],
    )
    .await;
    daemon.resynced().await;
    let started = Instant::now();
    daemon
        .until(5, "two deactivations at once", async || {
            support::active_keys(&moto, &old).await == 3
        })
        .await;
    let held = || -> Vec<Value> {
        daemon
            .log()
            .into_iter()
            .filter(|r| r["log"] == "audit" && r["outcome"] == "rate_limited")
            .collect()
    };
    daemon
        .until(5, "three changes held back", async || held().len() >= 3)
        .await;
    let held = held();
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(held.iter().all(|r| {
        r["detail"]
            .as_str()
            .unwrap()
            .starts_with("held back by the change budget")
    }));
    assert!(started.elapsed() < Duration::from_secs(9), "before the window refills");
    assert_eq!(
        support::active_keys(&moto, &old).await,
        3,
        "no third change inside the window"
    );

    daemon
        .until(40, "the other three once the window refills", async || {
            support::active_keys(&moto, &old).await == 0
        })
        .await;
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "not before the window refilled"
    );
    let (_, page) = daemon.get("/metrics").await;
    assert!(
        sample(
            &page,
            "iam_warden_remediations_total{action=\"deactivate-access-key\",outcome=\"rate_limited\",rule=\"access-keys\"}"
        ) >= 3.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_is_received_no_more_than_max_in_flight_at_a_time() {
    let moto = Moto::start();
    let seeded = moto.seed(&["targets"]);
    let compliant_key = seeded["compliant_key"].as_str().unwrap();
    let queues = moto.queue_with_dlq(30, 5).await;
    // The backlog of an outage: 1,000 events about a compliant user, queued before the daemon starts.
    for batch in 0..100 {
        let entries = (0..10).map(|n| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(format!("m{batch}-{n}"))
                .message_body(key_event("compliant", compliant_key))
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
    let policy = PolicyFile::new(KEYS_POLICY);
    let daemon = Daemon::start(
        &moto,
        (TEST_KEY, TEST_KEY),
        &[
            ("policy", &policy.path),
            ("queue_url", &queues.url),
            ("max_in_flight", "50"),
        ],
    )
    .await;
    let mut most_in_flight = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let in_flight = not_visible(&queues).await;
        most_in_flight = most_in_flight.max(in_flight);
        if queues.pending(&queues.url).await == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backlog did not drain; {most_in_flight} at most in flight"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(most_in_flight > 10, "the daemon did work in parallel: {most_in_flight}");
    assert!(most_in_flight <= 50, "{most_in_flight} messages in flight at once");
    // A deletion is counted right after SQS confirms it.
    let acked = async || {
        let page = daemon.get("/metrics").await.1;
        sample(&page, "iam_warden_sqs_messages_total{outcome=\"acked\"}")
    };
    daemon
        .until(5, "every message counted as handled", async || acked().await >= 1000.0)
        .await;
    assert_eq!(queues.pending(&queues.dlq_url).await, 0);
    eprintln!(
        "1,000-message backlog, max_in_flight 50: peak RSS {} KiB, at most {most_in_flight} in flight",
        daemon.peak_rss_kib()
    );
}

async fn not_visible(queues: &Queues) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible;
    let attributes = queues
        .sqs
        .get_queue_attributes()
        .queue_url(&queues.url)
        .attribute_names(ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    attributes.attributes().unwrap()[&ApproximateNumberOfMessagesNotVisible]
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_whose_fix_always_fails_holds_back_no_one_else() {
    let moto = Moto::start();
    let seeded = moto.seed(&["old-active-keys", "10"]);
    let old: Vec<(String, String)> = seeded["keys"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(user, key)| (user.clone(), key.as_str().unwrap().to_owned()))
        .collect();
    let (victim, others) = old.split_first().unwrap();
    let queues = moto.queue_with_dlq(5, 5).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    proxy.echo_to(moto.sqs(), &queues.url);
    let name = victim.0.clone();
    proxy.refuse(move |call| call.service == "iam" && call.param("UserName") == Some(name.as_str()));
    let policy = PolicyFile::new(KEYS_POLICY);
    let daemon = Daemon::start_via(
        &proxy.endpoint,
        (TEST_KEY, TEST_KEY),
        &[
            ("policy", &policy.path),
            ("queue_url", &queues.url),
            ("resync_interval", "2s"),
        ],
    );
    daemon
        .until(30, "every other user fixed", async || {
            support::active_keys(&moto, others).await == 0
        })
        .await;
    assert_eq!(
        daemon.get("/readyz").await.0,
        200,
        "ready although one fix keeps failing"
    );
    let synced = |page: &str| sample(page, "iam_warden_last_full_sync_timestamp_seconds");
    let first = synced(&daemon.get("/metrics").await.1);
    daemon
        .until(10, "last_full_sync to move on", async || {
            synced(&daemon.get("/metrics").await.1) > first
        })
        .await;
    assert_eq!(
        support::active_keys(&moto, std::slice::from_ref(victim)).await,
        1,
        "AWS refused every call about it"
    );
    assert!(proxy.refused() > 0);
    assert!(
        !daemon
            .records(
                "reconcile failed; retrying with backoff",
                Some(&format!("user/{}", victim.0))
            )
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_created_after_the_credential_report_is_found_by_the_next_resync() {
    let moto = Moto::start();
    moto.seed(&["targets"]);
    let policy = PolicyFile::new(KEYS_POLICY);
    let daemon = Daemon::start(
        &moto,
        (TEST_KEY, TEST_KEY),
        &[("policy", &policy.path), ("resync_interval", "2s")],
    )
    .await;
    daemon.resynced().await;

    // Created now, after the report AWS will keep serving for four hours; no event is sent.
    moto.iam().create_user().user_name("latecomer").send().await.unwrap();
    let created = moto
        .iam()
        .create_access_key()
        .user_name("latecomer")
        .send()
        .await
        .unwrap();
    let key = created.access_key().unwrap().access_key_id().to_owned();
    let long_ago = (chrono::Utc::now() - chrono::TimeDelta::days(120)).to_rfc3339();
    moto.age(&json!({"access_key_id": key, "create_date": long_ago}));

    daemon
        .until(15, "the latecomer's old key deactivated", async || {
            !keys(&moto, "latecomer").await[&key]
        })
        .await;
    let screened = daemon.records("credential report read", None);
    assert!(
        screened.iter().any(|r| r["not_in_report"].as_u64() >= Some(1)),
        "found because the report did not know it: {screened:?}"
    );
}

#[tokio::test]
async fn undo_puts_back_what_aws_allows_and_names_the_rest() {
    let moto = Moto::start();
    let seeded = moto.seed(&["drifted"]);
    let policy = enforceable_policy();
    let first = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(first.code, 0, "{}", first.stdout);
    let erin_key = seeded["keys"]["erin-inactive-old"].as_str().unwrap();
    backdate_record(&moto, "erin", erin_key, 31).await;
    assert_eq!(first.audit_for("quarantine-role")[0]["outcome"], "applied");
    let second = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(second.audit_for("delete-access-key").len(), 1);

    let dry = moto.warden(&["undo", "--dry-run"]);
    assert_eq!(dry.code, 2, "{}", dry.stdout);
    assert!(
        keys(&moto, "erin").await.is_empty()
            && !keys(&moto, "alice").await[seeded["keys"]["alice-old"].as_str().unwrap()],
        "a dry run changes nothing"
    );

    let undo = moto.warden(&["undo"]);
    assert_eq!(
        undo.code, 2,
        "something cannot come back:\n{}\n{}",
        undo.stdout, undo.stderr
    );
    assert!(
        undo.stdout
            .contains("a deleted key's secret cannot come back: create a new access key for the user"),
        "{}",
        undo.stdout
    );

    let key = |name: &str| seeded["keys"][name].as_str().unwrap().to_owned();
    assert!(
        keys(&moto, "alice").await[&key("alice-old")],
        "deactivated key active again"
    );
    assert!(keys(&moto, "dave").await[&key("dave-never-used")]);
    assert!(
        !tags(&moto, "alice")
            .await
            .keys()
            .any(|t| t.starts_with("iam-warden/deactivated/")),
        "and no longer recorded as deactivated"
    );
    let attached = async |user: &str| !support::attached(&moto, user).await.is_empty();
    assert!(!attached("bob").await, "bob's quarantine lifted");
    let role_policies = moto
        .iam()
        .list_attached_role_policies()
        .role_name("deploy")
        .send()
        .await
        .unwrap();
    assert!(
        role_policies.attached_policies().is_empty(),
        "the role's quarantine lifted"
    );
    assert!(attached("frank").await, "frank's lifted quarantine back");
    let password = moto.iam().get_account_password_policy().send().await.unwrap();
    let password = password.password_policy().unwrap();
    assert_eq!(
        (password.minimum_password_length(), password.require_symbols()),
        (Some(8), false),
        "the seeded password policy back"
    );
    let providers = moto.iam().list_open_id_connect_providers().send().await.unwrap();
    let rogue = providers
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .find(|arn| arn.ends_with("rogue.example.com"))
        .expect("the deleted provider re-created");
    let rogue = moto
        .iam()
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(rogue)
        .send()
        .await
        .unwrap();
    assert_eq!(rogue.client_id_list(), ["sts.amazonaws.com"]);
    assert_eq!(rogue.thumbprint_list(), ["6938fd4d98bab03faadb97b34396831e3780aea1"]);
    assert_eq!(rogue.tags()[0].key(), "owner");
    let trail = moto
        .cloudtrail()
        .get_trail_status()
        .name("org-trail")
        .send()
        .await
        .unwrap();
    assert_eq!(trail.is_logging(), Some(true), "undo never stops a trail");
    assert!(
        undo.stdout
            .contains("iam-warden never stops a trail: stop it yourself if you must"),
        "{}",
        undo.stdout
    );

    let plan = moto.warden(&["plan", "--policy", &policy.path]);
    assert_eq!(plan.code, 2, "the account is back in its drifted state");
}
