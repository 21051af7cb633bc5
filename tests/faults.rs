//! Faults: a cut link, throttling, a crash mid-burst, hostile input, and a bad
//! policy on reload. Each asserts on what the emulator holds afterwards.

use std::time::{Duration, Instant};

use serde_json::json;
use support::proxy::Proxy;
use support::{
    Daemon, Moto, PolicyFile, Queues, TEST_KEY, active_keys, old_keys, reactivate_and_announce, sample, total,
};

const POLICY: &str = "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: fault-test}
spec:
  accessKeys: {maxAge: 90d, maxUnused: 45d, deleteAfter: 180d, action: deactivate}
  oidcProviders: {allowedIssuers: [token.actions.githubusercontent.com], action: ACTION}
";

/// Twenty users with an old inactive key each, and a daemon that reaches the
/// emulator only through a fault-injecting proxy.
struct BehindProxy {
    moto: Moto,
    keys: Vec<(String, String)>,
    queues: Queues,
    proxy: Proxy,
    _policy: PolicyFile,
    daemon: Daemon,
}

impl BehindProxy {
    /// `throttle_per_ten`: IAM calls the proxy throttles of every ten, from the start.
    async fn start(throttle_per_ten: u32) -> BehindProxy {
        let moto = Moto::start();
        let keys = old_keys(&moto.seed(&["old-keys", "20"]));
        let queues = moto.queue_with_dlq(2, 5).await;
        let proxy = Proxy::start(&moto.endpoint).await;
        proxy.echo_to(moto.sqs(), &queues.url);
        proxy.throttle_iam(throttle_per_ten);
        let policy = PolicyFile::new(&POLICY.replace("ACTION", "delete"));
        let settings = [("policy", policy.path.as_str()), ("queue_url", queues.url.as_str())];
        let daemon =
            Daemon::start_via(&proxy.endpoint, (TEST_KEY, TEST_KEY), &settings).watching(moto.sqs(), &queues.url);
        daemon.ready().await;
        BehindProxy {
            moto,
            keys,
            queues,
            proxy,
            _policy: policy,
            daemon,
        }
    }

    async fn every_violation_fixed_and_every_message_deleted(&self) {
        let BehindProxy { moto, keys, queues, .. } = self;
        self.daemon
            .until(60, "every violation fixed and every message deleted", async || {
                queues.pending(&queues.url).await == 0 && active_keys(moto, keys).await == 0
            })
            .await;
        assert_eq!(
            queues.pending(&queues.dlq_url).await,
            0,
            "no event went to the dead-letter queue"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_link_delays_fixes_but_loses_none_and_acks_none_early() {
    let mut setup = BehindProxy::start(0).await;
    let BehindProxy {
        moto,
        keys,
        queues,
        proxy,
        daemon,
        ..
    } = &setup;

    // Cut while the first five are in flight, then keep events coming.
    reactivate_and_announce(moto, queues, &keys[..5]).await;
    proxy.cut();
    let cut_at = Instant::now();
    let mut announced = 5;
    // Every event announced, and the outage at least 20 s long: however slow
    // the machine, the loop waits on both, not on its own pace.
    while announced < keys.len() || cut_at.elapsed() < Duration::from_secs(20) {
        if announced < keys.len() {
            reactivate_and_announce(moto, queues, &keys[announced..=announced]).await;
            announced += 1;
        }
        assert_eq!(daemon.get("/livez").await.0, 200, "liveness failed during the outage");
        // The queue first: a fix landing between the two reads must not look like an early ack.
        let queued = queues.pending(&queues.url).await as usize;
        let unfixed = active_keys(moto, keys).await;
        assert!(
            queued >= unfixed,
            "{unfixed} unfixed but {queued} messages: one was acked without its fix"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(announced, keys.len());
    assert!(
        active_keys(moto, &keys[5..]).await == 15,
        "nothing announced during the cut can have been fixed: the link was not cut"
    );
    proxy.heal();

    setup.every_violation_fixed_and_every_message_deleted().await;
    assert!(setup.daemon.running(), "the daemon survived the outage");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_iam_calls_are_retried_counted_and_every_violation_fixed() {
    let setup = BehindProxy::start(3).await;
    reactivate_and_announce(&setup.moto, &setup.queues, &setup.keys).await;
    setup.every_violation_fixed_and_every_message_deleted().await;
    let (proxy, (_, page)) = (&setup.proxy, setup.daemon.get("/metrics").await);
    let counted = total(
        &page,
        "iam_warden_aws_requests_total",
        &["service=\"iam\"", "outcome=\"throttled\""],
    );
    assert!(proxy.throttled() > 0);
    assert_eq!(
        counted,
        proxy.throttled() as f64,
        "every throttled IAM call counted as throttled"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_burst_loses_nothing_because_messages_reappear() {
    let moto = Moto::start();
    let keys = old_keys(&moto.seed(&["old-keys", "50"]));
    let queues = moto.queue_with_dlq(2, 10).await;
    let policy = PolicyFile::new(&POLICY.replace("ACTION", "delete"));
    let settings = [("policy", policy.path.as_str()), ("queue_url", queues.url.as_str())];
    let daemon = Daemon::settled(&moto, &settings).await;

    reactivate_and_announce(&moto, &queues, &keys).await;
    daemon.until_first_fix(20).await;
    daemon.signal(libc::SIGKILL);
    drop(daemon);
    let unfixed = active_keys(&moto, &keys).await;
    let queued = queues.pending(&queues.url).await;
    assert!(
        queued as usize >= unfixed,
        "{unfixed} unfixed violations but {queued} messages: one was lost"
    );

    let restarted = Daemon::start(&moto, (TEST_KEY, TEST_KEY), &settings).await;
    restarted
        .until(60, "all 50 fixed and every message deleted", async || {
            active_keys(&moto, &keys).await == 0 && queues.pending(&queues.url).await == 0
        })
        .await;
    assert_eq!(queues.pending(&queues.dlq_url).await, 0, "nothing gave up on the way");
}

// Three receives, as in production (the template gives five): moto 5.2 races two
// concurrent ReceiveMessage calls moving the same message to the dead-letter
// queue, fails one of them with a 500, and the batch it had already marked
// received is delivered to nobody. Real SQS is at-least-once too, so a receipt
// lost in transit must only delay an event, never lose it; with a single
// receive allowed it would send a real event to the dead-letter queue unread.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_input_reaches_the_dead_letter_queue_and_real_events_are_fixed() {
    let moto = Moto::start();
    let keys = old_keys(&moto.seed(&["old-keys", "50"]));
    let queues = moto.queue_with_dlq(1, 3).await;
    let policy = PolicyFile::new(&POLICY.replace("ACTION", "delete"));
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path), ("queue_url", &queues.url)]).await;
    let rss_before = daemon.rss_kib();

    let nested = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let large = format!("{{\"Records\": [{}0]}}", "0,".repeat(87_000));
    let wrong_types = json!({"detail-type": 5, "detail": {"eventName": 7, "eventTime": [], "userIdentity": 1,
        "requestParameters": "x", "responseElements": false, "errorCode": {}}})
    .to_string();
    let binary: String = (0..4096u32)
        .map(|n| char::from_u32(0xA0 + (n * 7919) % 0x2F00).unwrap_or('x'))
        .collect();
    let hostile: [&str; 8] = [
        &binary,
        "{\"detail-type\": \"AWS API Call via CloudTrail\", \"detail\": {\"eventName\": \"CreateAcc",
        "{\"unrelated\": [1, 2, 3]}",
        &large,
        &nested,
        &wrong_types,
        "[]",
        "null",
    ];
    let (iam_key_events, mut malformed_sent) = (keys.len(), 0);
    for round in 0..25 {
        for body in hostile {
            queues.send(body).await;
            malformed_sent += 1;
        }
        reactivate_and_announce(&moto, &queues, &keys[round * 2..round * 2 + 2]).await;
    }
    assert_eq!((malformed_sent, iam_key_events), (200, 50));
    daemon
        .until(60, "every real event fixed", async || {
            active_keys(&moto, &keys).await == 0
        })
        .await;
    daemon
        .until(120, "the events queue drained", async || {
            queues.pending(&queues.url).await == 0
        })
        .await;
    assert_eq!(
        queues.pending(&queues.dlq_url).await,
        200,
        "exactly the hostile messages are dead letters"
    );
    let rss_after = daemon.rss_kib();
    assert!(
        rss_after < rss_before + 20 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    let (_, page) = daemon.get("/metrics").await;
    let malformed = sample(&page, "iam_warden_sqs_messages_total{outcome=\"malformed\"}");
    assert!(malformed >= 200.0, "every malformed receipt counted: {malformed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_policy_on_reload_is_counted_and_the_last_good_one_stays() {
    let moto = Moto::start();
    moto.seed(&["targets"]);
    let policy = PolicyFile::new(&POLICY.replace("ACTION", "delete"));
    let daemon = Daemon::settled(&moto, &[("policy", &policy.path)]).await;
    let staged = format!("{}.staged", policy.path);
    std::fs::write(
        &staged,
        POLICY.replace("ACTION", "delete").replace("90d", "ninety days"),
    )
    .unwrap();
    std::fs::rename(&staged, &policy.path).unwrap();
    daemon
        .until_sample(10, "iam_warden_policy_reloads_total{outcome=\"error\"} 1")
        .await;
    let rogue = moto
        .iam()
        .create_open_id_connect_provider()
        .url("https://rogue.example.com")
        .thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1")
        .send()
        .await
        .unwrap();
    let rogue = rogue.open_id_connect_provider_arn().unwrap().to_owned();
    // No queue here: a resync applies the policy in force. A valid reload triggers one.
    std::fs::write(&staged, POLICY.replace("ACTION", "delete").replace("45d", "46d")).unwrap();
    std::fs::rename(&staged, &policy.path).unwrap();
    daemon
        .until(10, "the rogue provider deleted under the good policy", async || {
            moto.iam()
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(&rogue)
                .send()
                .await
                .is_err()
        })
        .await;
    assert!(
        daemon
            .get("/metrics")
            .await
            .1
            .contains("iam_warden_policy_reloads_total{outcome=\"success\"} 1")
    );
}
