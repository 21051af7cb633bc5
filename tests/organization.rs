//! An AWS Organization served by one-shot commands: accounts found through
//! Organizations, each reached through its role; what each account holds
//! afterwards is read back from the emulator.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::proxy::Proxy;
use support::{Daemon, Moto, PolicyFile, TEST_KEY, eventbridge, run_warden, sample};

const MEMBERS: usize = 100;

const KEYS_POLICY: &str = "apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: organization}
spec:
  accessKeys:
    maxAge: 90d
    deleteAfter: 30d
    action: deactivate
";

/// Settings serving the OUs `workloads` (with its child `team-a`) and `sandbox`.
fn settings(organization: &Value, extra: &str) -> PolicyFile {
    let ous = &organization["ous"];
    PolicyFile::new(&format!(
        "accounts:\n  organization:\n    include: [{}, {}]\n{extra}  externalId: iam-warden\n",
        ous["workloads"].as_str().unwrap(),
        ous["sandbox"].as_str().unwrap(),
    ))
}

fn statuses(moto: &Moto) -> BTreeMap<String, String> {
    serde_json::from_value(moto.seed(&["organization-keys"])).unwrap()
}

fn members(organization: &Value) -> BTreeSet<String> {
    organization["accounts"].as_object().unwrap().keys().cloned().collect()
}

#[test]
fn one_apply_fixes_every_account_of_the_organization_and_only_those() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", &MEMBERS.to_string()]);
    let members = members(&organization);
    let outside = organization["outside"].as_str().unwrap().to_owned();
    let excluded = members.iter().next().unwrap().clone();
    let settings = settings(&organization, &format!("    exclude: [\"{excluded}\"]\n"));
    let policy = PolicyFile::new(KEYS_POLICY);
    let args = |command: &'static str| {
        vec![
            command,
            "--config",
            settings.path.as_str(),
            "--policy",
            policy.path.as_str(),
        ]
    };

    let plan = moto.warden(&[args("plan").as_slice(), &["--output", "json"]].concat());
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let sections: Vec<Value> = serde_json::from_str::<Value>(&plan.stdout).unwrap()["accounts"]
        .as_array()
        .unwrap()
        .clone();
    let judged: BTreeSet<String> = sections.iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    let expected: BTreeSet<String> = members.iter().filter(|id| **id != excluded).cloned().collect();
    assert_eq!(judged, expected, "every member under the OUs, less the excluded one");
    assert!(
        sections
            .iter()
            .all(|s| s["result"]["plan"]["findings"].as_array().unwrap().len() == 1),
        "each account's own drift, one finding each"
    );

    let apply = moto.warden(&args("apply"));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let audited: BTreeSet<String> = apply
        .audit_for("deactivate-access-key")
        .iter()
        .map(|line| line["account"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(audited, expected, "every audit line names its account");

    let after = statuses(&moto);
    for id in &expected {
        assert_eq!(after[id], "Inactive", "account {id}");
    }
    assert_eq!(after[&excluded], "Active", "the excluded account is untouched");
    assert_eq!(after[&outside], "Active", "an account outside the OUs is untouched");
    assert_eq!(
        moto.warden(&args("plan")).code,
        0,
        "a second plan finds every account in spec"
    );
}

#[test]
fn one_account_that_cannot_be_assumed_is_down_and_holds_up_no_other() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "6"]);
    let members = members(&organization);
    let refused = members.iter().next().unwrap().clone();
    let settings = settings(&organization, "");
    let policy = PolicyFile::new(KEYS_POLICY);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let proxy = runtime.block_on(Proxy::start(&moto.endpoint));
    let role = format!("arn:aws:iam::{refused}:role/iam-warden");
    proxy.refuse(move |call| call.action == "AssumeRole" && call.param("RoleArn") == Some(role.as_str()));
    let args = ["apply", "--config", &settings.path, "--policy", &policy.path];

    let apply = run_warden(&proxy.endpoint, &(TEST_KEY, TEST_KEY).into(), &args);
    assert_eq!(apply.code, 1, "an account down is an error:\n{}", apply.stdout);
    assert!(
        apply
            .stdout
            .contains(&format!("DOWN: cannot assume arn:aws:iam::{refused}:role/iam-warden")),
        "{}",
        apply.stdout
    );
    assert!(
        apply.stdout.contains("6 account(s): 5 in spec, 0 not, 1 down."),
        "{}",
        apply.stdout
    );
    let after = statuses(&moto);
    for id in members.iter().filter(|id| **id != refused) {
        assert_eq!(after[id], "Inactive", "account {id}");
    }
    assert_eq!(after[&refused], "Active");

    proxy.stop_refusing();
    let again = run_warden(&proxy.endpoint, &(TEST_KEY, TEST_KEY).into(), &args);
    assert_eq!(
        again.code, 0,
        "it recovers once the role can be assumed:\n{}",
        again.stdout
    );
    assert_eq!(statuses(&moto)[&refused], "Inactive");
}

#[test]
fn undo_puts_back_each_account_s_changes_in_that_account() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "3"]);
    let members = members(&organization);
    let settings = settings(&organization, "");
    let policy = PolicyFile::new(KEYS_POLICY);
    let apply = moto.warden(&["apply", "--config", &settings.path, "--policy", &policy.path]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);

    let alone = moto.warden(&["undo"]);
    assert_eq!(
        alone.code, 2,
        "without the settings, another account's change cannot come back"
    );
    assert_eq!(
        alone.stderr.matches("made in account").count(),
        members.len(),
        "{}",
        alone.stderr
    );
    let untouched = statuses(&moto);
    assert!(members.iter().all(|id| untouched[id] == "Inactive"), "{untouched:?}");

    let first = members.iter().next().unwrap();
    let one = moto.warden(&["undo", "--config", &settings.path, "--account", first]);
    assert_eq!(one.code, 0, "{}\n{}", one.stdout, one.stderr);
    let after = statuses(&moto);
    assert_eq!(after[first], "Active", "the named account's key is active again");
    for id in members.iter().filter(|id| *id != first) {
        assert_eq!(after[id], "Inactive", "account {id} was not named");
    }
}

fn policy_file(dir: &std::path::Path, name: &str, selector: &str, mode: &str) {
    let text = KEYS_POLICY.replace("spec:\n", &format!("spec:\n{selector}  mode: {mode}\n"));
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn each_account_is_governed_by_its_most_specific_policy_file() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "6"]);
    let ous = &organization["ous"];
    let ou_of = |id: &str| organization["accounts"][id].as_str().unwrap().to_owned();
    let members = members(&organization);
    let settings = settings(&organization, "");
    let dir = tempfile::tempdir().unwrap();
    // Everything enforced, but the sandbox OU only audited, and one account
    // of team-a enforced by a file of its own.
    policy_file(dir.path(), "default.yaml", "", "enforce");
    let sandbox = ous["sandbox"].as_str().unwrap();
    policy_file(
        dir.path(),
        "sandbox.yaml",
        &format!("  selector: {{organizationalUnits: [{sandbox}]}}\n"),
        "audit",
    );
    let team = ous["team-a"].as_str().unwrap();
    policy_file(
        dir.path(),
        "team-a.yaml",
        &format!("  selector: {{organizationalUnits: [{team}]}}\n"),
        "audit",
    );
    let pinned = members.iter().find(|id| ou_of(id) == team).unwrap().clone();
    policy_file(
        dir.path(),
        "pinned.yaml",
        &format!("  selector: {{accounts: [\"{pinned}\"]}}\n"),
        "enforce",
    );
    let policies = dir.path().to_str().unwrap();

    let check = moto.warden(&["check", "--policy", policies, "--config", &settings.path]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    let apply = moto.warden(&["apply", "--policy", policies, "--config", &settings.path]);
    assert_eq!(
        apply.code, 2,
        "the audited accounts keep their drift:\n{}",
        apply.stdout
    );
    assert!(
        apply.stdout.contains(&format!("Policy: {policies}/sandbox.yaml")),
        "{}",
        apply.stdout
    );

    let after = statuses(&moto);
    for id in &members {
        let audited = id != &pinned && (ou_of(id) == sandbox || ou_of(id) == team);
        let expected = if audited { "Active" } else { "Inactive" };
        assert_eq!(after[id], expected, "account {id} in {}", ou_of(id));
    }
}

#[test]
fn check_names_ties_and_selectors_that_match_nothing() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "3"]);
    let settings = settings(&organization, "");
    let sandbox = organization["ous"]["sandbox"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    policy_file(
        dir.path(),
        "a.yaml",
        &format!("  selector: {{organizationalUnits: [{sandbox}]}}\n"),
        "audit",
    );
    policy_file(
        dir.path(),
        "b.yaml",
        &format!("  selector: {{organizationalUnits: [{sandbox}]}}\n"),
        "enforce",
    );
    let policies = dir.path().to_str().unwrap().to_owned();
    let tie = moto.warden(&["check", "--policy", &policies]);
    assert_eq!(tie.code, 1);
    assert!(
        tie.stderr.contains(&format!("b.yaml: both select {sandbox}, as ")),
        "{}",
        tie.stderr
    );

    std::fs::remove_file(dir.path().join("b.yaml")).unwrap();
    policy_file(
        dir.path(),
        "ghost.yaml",
        "  selector: {accounts: [\"999999999999\"], organizationalUnits: [ou-zzzz-nothere1]}\n",
        "audit",
    );
    let unmatched = moto.warden(&["check", "--policy", &policies, "--config", &settings.path]);
    assert_eq!(unmatched.code, 1, "{}", unmatched.stdout);
    for expected in [
        "ghost.yaml: selects account 999999999999, which the settings do not serve",
        "ghost.yaml: selects ou-zzzz-nothere1, which holds no account the settings serve",
        "ghost.yaml: governs no account",
    ] {
        assert!(unmatched.stderr.contains(expected), "{expected}:\n{}", unmatched.stderr);
    }
}

/// A key event as a member account's EventBridge rule forwards it: the
/// envelope names the account.
fn forwarded(account: &str, key: &str) -> String {
    let request = serde_json::json!({"userName": "drifted", "accessKeyId": key, "status": "Active"});
    let mut event: Value = serde_json::from_str(&eventbridge("UpdateAccessKey", request, Value::Null)).unwrap();
    event["account"] = account.into();
    event["detail"]["recipientAccountId"] = account.into();
    event.to_string()
}

fn resynced_accounts(daemon: &Daemon) -> Vec<String> {
    daemon
        .records("reconciled", Some("all"))
        .iter()
        .filter_map(|r| r["account"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_share_the_organization_and_any_of_them_handles_an_event() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "9"]);
    let members = members(&organization);
    let outside = organization["outside"].as_str().unwrap().to_owned();
    let settings = settings(&organization, "");
    let policy = PolicyFile::new(KEYS_POLICY);
    let queues = moto.queue_with_dlq(5, 5).await;
    // Each replica through a proxy of its own, which sees which accounts it works in.
    let proxies = [
        Proxy::start(&moto.endpoint).await,
        Proxy::start(&moto.endpoint).await,
        Proxy::start(&moto.endpoint).await,
    ];
    let start = |index: usize| {
        let shard = format!("{index}/3");
        Daemon::start_via(
            &proxies[index].endpoint,
            (TEST_KEY, TEST_KEY),
            &[
                ("config", &settings.path),
                ("policy", &policy.path),
                ("queue_url", &queues.url),
                ("shard", &shard),
            ],
        )
    };
    let mut replicas = [start(0), start(1), start(2)];
    for replica in &replicas {
        replica.until_ready().await;
    }
    // Only a resync generates a credential report.
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    for (index, proxy) in proxies.iter().enumerate() {
        for account in proxy.accounts_calling("GenerateCredentialReport") {
            assert!(
                owners.insert(account.clone(), index).is_none(),
                "{account} resynced twice"
            );
        }
    }
    assert_eq!(
        owners.keys().cloned().collect::<BTreeSet<_>>(),
        members,
        "every account by exactly one replica"
    );
    assert!(
        owners.values().collect::<BTreeSet<_>>().len() > 1,
        "the accounts are spread: {owners:?}"
    );
    replicas[0]
        .until(60, "every account fixed by its owner's resync", async || {
            members.iter().all(|id| statuses(&moto)[id] == "Inactive")
        })
        .await;

    // Keys active again by hand, then their events: whichever replica receives one fixes it.
    let keys: BTreeMap<String, String> = serde_json::from_value(moto.seed(&["organization-reactivate"])).unwrap();
    queues.send(&forwarded(&outside, "AKIAOUTSIDE0000000000")).await;
    for (account, key) in &keys {
        queues.send(&forwarded(account, key)).await;
    }
    replicas[0]
        .until(60, "every member's key deactivated again", async || {
            let now = statuses(&moto);
            members.iter().all(|id| now[id] == "Inactive")
        })
        .await;
    assert_eq!(
        statuses(&moto)[&outside],
        "Active",
        "an account not served is never touched"
    );
    let by_another = proxies.iter().enumerate().any(|(index, proxy)| {
        proxy
            .accounts_calling("UpdateAccessKey")
            .iter()
            .any(|account| owners.get(account) != Some(&index))
    });
    assert!(
        by_another,
        "some event was fixed by a replica that does not own its account"
    );
    let mut ignored = 0.0;
    for replica in &replicas {
        let page = replica.get("/metrics").await.1;
        ignored += sample(&page, "iam_warden_sqs_messages_total{outcome=\"ignored\"}");
    }
    // At least once: SQS (and moto, with three consumers) may deliver a message twice.
    assert!(
        ignored >= 1.0,
        "the event of an account outside the Organization is acked and ignored"
    );

    // A replica lost and started again: its accounts are resynced, nothing is lost.
    replicas[1].kill();
    let reactivated: BTreeMap<String, String> =
        serde_json::from_value(moto.seed(&["organization-reactivate"])).unwrap();
    assert_eq!(reactivated.len(), keys.len());
    replicas[1] = start(1);
    replicas[1].until_ready().await;
    let theirs: Vec<&String> = owners.iter().filter(|(_, i)| **i == 1).map(|(a, _)| a).collect();
    replicas[1]
        .until(60, "the restarted replica's accounts fixed again", async || {
            let now = statuses(&moto);
            theirs.iter().all(|id| now[*id] == "Inactive")
        })
        .await;
    replicas[0]
        .until(60, "every event's message deleted once its key was fixed", async || {
            queues.pending(&queues.url).await == 0
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_whose_role_is_refused_is_down_alone_and_recovers() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "4"]);
    let members = members(&organization);
    let refused = members.iter().next().unwrap().clone();
    let settings = settings(&organization, "");
    let policy = PolicyFile::new(KEYS_POLICY);
    let proxy = Proxy::start(&moto.endpoint).await;
    let role = format!("arn:aws:iam::{refused}:role/iam-warden");
    proxy.refuse(move |call| call.action == "AssumeRole" && call.param("RoleArn") == Some(role.as_str()));
    let daemon = Daemon::start_via(
        &proxy.endpoint,
        (TEST_KEY, TEST_KEY),
        &[("config", &settings.path), ("policy", &policy.path)],
    );
    daemon.until_ready().await;
    let up = |account: &str| format!("iam_warden_account_up{{account=\"{account}\"}} ");
    daemon.until_sample(60, &format!("{}0", up(&refused))).await;
    daemon
        .until(60, "every other account fixed", async || {
            let now = statuses(&moto);
            members
                .iter()
                .filter(|id| **id != refused)
                .all(|id| now[id] == "Inactive")
        })
        .await;
    assert_eq!(statuses(&moto)[&refused], "Active");
    let down = daemon.records("account down; retrying with backoff", None);
    assert!(
        down[0]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("cannot assume arn:aws:iam::{refused}:role/iam-warden")),
        "{down:?}"
    );

    proxy.stop_refusing();
    daemon.until_sample(60, &format!("{}1", up(&refused))).await;
    daemon
        .until(60, "the recovered account fixed", async || {
            statuses(&moto)[&refused] == "Inactive"
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_enforces_only_where_its_policy_directory_says_so() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "6"]);
    let members = members(&organization);
    let sandbox = organization["ous"]["sandbox"].as_str().unwrap().to_owned();
    let in_sandbox = |id: &str| organization["accounts"][id] == sandbox.as_str();
    let settings = settings(&organization, "");
    let dir = tempfile::tempdir().unwrap();
    policy_file(dir.path(), "default.yaml", "", "enforce");
    policy_file(
        dir.path(),
        "sandbox.yaml",
        &format!("  selector: {{organizationalUnits: [{sandbox}]}}\n"),
        "audit",
    );
    let daemon = Daemon::start_via(
        &moto.endpoint,
        (TEST_KEY, TEST_KEY),
        &[("config", &settings.path), ("policy", dir.path().to_str().unwrap())],
    );
    daemon.until_ready().await;
    daemon
        .until(60, "the enforced accounts fixed", async || {
            let now = statuses(&moto);
            members
                .iter()
                .filter(|id| !in_sandbox(id))
                .all(|id| now[id] == "Inactive")
        })
        .await;
    let after = statuses(&moto);
    for id in members.iter().filter(|id| in_sandbox(id)) {
        assert_eq!(after[id], "Active", "account {id} of the audited OU");
    }
    let dry_runs = daemon
        .log()
        .into_iter()
        .filter(|r| r["log"] == "audit" && r["outcome"] == "dry_run")
        .count();
    assert_eq!(
        dry_runs,
        members.iter().filter(|id| in_sandbox(id)).count(),
        "audited, not changed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_joins_an_included_ou_is_served_at_the_next_refresh() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "2"]);
    let settings = settings(&organization, "  refresh: 2s\n");
    let policy = PolicyFile::new(KEYS_POLICY);
    let daemon = Daemon::start_via(
        &moto.endpoint,
        (TEST_KEY, TEST_KEY),
        &[("config", &settings.path), ("policy", &policy.path)],
    );
    daemon.until_ready().await;
    let workloads = organization["ous"]["workloads"].as_str().unwrap();
    let joined = moto.seed(&["organization-join", workloads])["account"]
        .as_str()
        .unwrap()
        .to_owned();
    daemon
        .until(60, "the new account resynced and fixed", async || {
            statuses(&moto).get(&joined).is_some_and(|s| s == "Inactive")
        })
        .await;
    assert!(resynced_accounts(&daemon).contains(&joined));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_owns_no_account_is_ready_too() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "1"]);
    let settings = settings(&organization, "");
    let policy = PolicyFile::new(KEYS_POLICY);
    let start = |shard: &str| {
        Daemon::start_via(
            &moto.endpoint,
            (TEST_KEY, TEST_KEY),
            &[("config", &settings.path), ("policy", &policy.path), ("shard", shard)],
        )
    };
    let replicas = [start("0/2"), start("1/2")];
    let mut owned = 0.0;
    for replica in &replicas {
        replica.until_ready().await;
        owned += sample(&replica.get("/metrics").await.1, "iam_warden_shard_accounts");
    }
    assert_eq!(
        owned, 1.0,
        "one replica owns the only account, the other none, and both are ready"
    );
}

#[test]
fn the_hub_s_own_role_and_its_cluster_issuer_are_protected_in_the_hub() {
    let moto = Moto::start();
    let hub = moto.seed(&["hub"]);
    let central = support::Credentials {
        key_id: hub["access_key_id"].as_str().unwrap().to_owned(),
        secret: hub["secret_access_key"].as_str().unwrap().to_owned(),
        session_token: hub["session_token"].as_str().map(str::to_owned),
    };
    // The hub is served like any member, through its iam-warden role.
    let settings = PolicyFile::new("accounts:\n  list: [{id: \"123456789012\", name: hub}]\n");
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1\nkind: AccountPolicy\nmetadata: {name: hub}\nspec:\n  oidcProviders: {allowedIssuers: [token.actions.githubusercontent.com], action: delete}\n  oidcTrust:\n    subjects: {token.actions.githubusercontent.com: [\"repo:my-org/*\"]}\n    action: quarantine\n",
    );
    let apply = moto.warden_as(
        central,
        &["apply", "--config", &settings.path, "--policy", &policy.path],
    );
    assert_ne!(apply.code, 1, "{}\n{}", apply.stdout, apply.stderr);
    let protected: BTreeSet<String> = apply
        .audit()
        .into_iter()
        .filter(|r| r["outcome"] == "protected")
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        protected,
        BTreeSet::from(["delete-oidc-provider".to_owned(), "quarantine-role".to_owned()]),
        "{}",
        apply.stdout
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let providers = runtime
        .block_on(moto.iam().list_open_id_connect_providers().send())
        .unwrap();
    assert_eq!(
        providers.open_id_connect_provider_list().len(),
        1,
        "the cluster's issuer stays"
    );
    let attached = runtime
        .block_on(
            moto.iam()
                .list_attached_role_policies()
                .role_name("iam-warden-central")
                .send(),
        )
        .unwrap();
    assert!(
        attached.attached_policies().is_empty(),
        "the hub's own role is never quarantined"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_include_entry_that_names_nothing_any_more_is_a_warning_and_the_rest_are_served() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "3"]);
    let workloads = organization["ous"]["workloads"].as_str().unwrap();
    // An OU deleted and an account closed since the settings were written.
    let settings = PolicyFile::new(&format!(
        "accounts:\n  organization:\n    include: [{workloads}, ou-gone-00000000, \"999999999999\"]\n  externalId: iam-warden\n"
    ));
    let policy = PolicyFile::new(KEYS_POLICY);
    let check = moto.warden(&["check", "--policy", &policy.path, "--config", &settings.path]);
    assert_eq!(check.code, 1, "check names what the settings name in vain");
    assert!(
        check.stderr.contains("ou-gone-00000000") && check.stderr.contains("999999999999"),
        "{}",
        check.stderr
    );

    let daemon = Daemon::start_via(
        &moto.endpoint,
        (TEST_KEY, TEST_KEY),
        &[("config", &settings.path), ("policy", &policy.path)],
    );
    daemon.until_ready().await;
    let in_workloads: Vec<String> = organization["accounts"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, ou)| ou.as_str() == Some(workloads))
        .map(|(id, _)| id.clone())
        .collect();
    daemon
        .until(60, "the accounts of the OU that exists fixed", async || {
            let now = statuses(&moto);
            in_workloads.iter().all(|id| now[id] == "Inactive")
        })
        .await;
    let warned = daemon.records(
        "accounts.organization.include names no active account and no OU of the Organization; the others are served",
        None,
    );
    assert!(warned.iter().any(|r| r["entry"] == "ou-gone-00000000"), "{warned:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_replica_that_owns_an_account_counts_its_drift() {
    let moto = Moto::start();
    let organization = moto.seed(&["organization", "4"]);
    let members = members(&organization);
    let settings = settings(&organization, "");
    // Drift that stays: every account's old key, reported.
    let policy = PolicyFile::new(&KEYS_POLICY.replace("action: deactivate", "action: report"));
    let queues = moto.queue_with_dlq(5, 5).await;
    let start = |shard: &str| {
        Daemon::start_via(
            &moto.endpoint,
            (TEST_KEY, TEST_KEY),
            &[
                ("config", &settings.path),
                ("policy", &policy.path),
                ("queue_url", &queues.url),
                ("shard", shard),
            ],
        )
    };
    let replicas = [start("0/2"), start("1/2")];
    for replica in &replicas {
        replica.until_ready().await;
    }
    let keys: BTreeMap<String, String> = serde_json::from_value(moto.seed(&["organization-reactivate"])).unwrap();
    for (account, key) in &keys {
        queues.send(&forwarded(account, key)).await;
    }
    replicas[0]
        .until(60, "every event handled", async || {
            queues.pending(&queues.url).await == 0
        })
        .await;
    let counted = async || {
        let mut total = 0.0;
        for replica in &replicas {
            total += sample(
                &replica.get("/metrics").await.1,
                "iam_warden_violations{rule=\"access-keys\"}",
            );
        }
        total
    };
    replicas[0]
        .until(30, "each account's drift counted by its owner", async || {
            counted().await == members.len() as f64
        })
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(counted().await, members.len() as f64, "and by no other replica");
}
