//! `plan` and `apply` against the emulator, asserting on what it holds afterwards.

use support::{Moto, PolicyFile, backdate_record, enforceable_policy, enforceable_policy_with, keys, tags};

async fn quarantined(moto: &Moto, user: &str) -> bool {
    let attached = moto
        .iam()
        .list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap();
    attached
        .attached_policies()
        .iter()
        .any(|p| p.policy_name() == Some("iam-warden-deny-without-mfa"))
}

async fn has_login_profile(moto: &Moto, user: &str) -> bool {
    moto.iam().get_login_profile().user_name(user).send().await.is_ok()
}

async fn provider_urls(moto: &Moto) -> Vec<String> {
    let iam = moto.iam();
    let listed = iam.list_open_id_connect_providers().send().await.unwrap();
    let mut urls = Vec::new();
    for provider in listed.open_id_connect_provider_list() {
        let got = iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(provider.arn().unwrap())
            .send()
            .await;
        urls.push(got.unwrap().url().unwrap().to_owned());
    }
    urls.sort();
    urls
}

async fn trail_logging(moto: &Moto, name: &str) -> bool {
    moto.cloudtrail()
        .get_trail_status()
        .name(name)
        .send()
        .await
        .unwrap()
        .is_logging()
        .unwrap()
}

fn key<'a>(seeded: &'a serde_json::Value, name: &str) -> &'a str {
    seeded["keys"][name].as_str().unwrap()
}

#[tokio::test]
async fn apply_brings_a_drifted_account_to_spec_and_then_changes_nothing() {
    let moto = Moto::start();
    let seeded = moto.seed(&["drifted"]);
    let policy = enforceable_policy();

    let before = moto.warden(&["plan", "--policy", &policy.path]);
    assert_eq!(before.code, 2, "drift:\n{}", before.stdout);

    let applied = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(
        applied.code, 0,
        "in spec afterwards:\n{}\n{}",
        applied.stdout, applied.stderr
    );
    assert_eq!(applied.outcomes("applied"), 9);

    // password-policy: the whole desired policy is in place.
    let current = moto.iam().get_account_password_policy().send().await.unwrap();
    let current = current.password_policy().unwrap();
    assert_eq!(current.minimum_password_length(), Some(14));
    assert!(current.require_symbols() && current.require_numbers());
    assert!(current.require_uppercase_characters() && current.require_lowercase_characters());
    assert_eq!(
        (current.max_password_age(), current.password_reuse_prevention()),
        (Some(90), Some(24))
    );

    // access-keys: exactly the violating keys, never their siblings or exempt ones.
    let alice = keys(&moto, "alice").await;
    assert!(!alice[key(&seeded, "alice-old")], "120-day-old key deactivated");
    assert!(alice[key(&seeded, "alice-fresh")], "its fresh sibling untouched");
    assert!(
        !keys(&moto, "dave").await[key(&seeded, "dave-never-used")],
        "never-used key deactivated"
    );
    let erin_key = key(&seeded, "erin-inactive-old");
    assert_eq!(
        keys(&moto, "erin").await.get(erin_key),
        Some(&false),
        "a 200-day-old inactive key is not deleted: when it was deactivated is not known"
    );
    assert!(
        tags(&moto, "erin")
            .await
            .contains_key(&format!("iam-warden/deactivated/{erin_key}")),
        "its deactivation is recorded now, and deleteAfter counts from that"
    );
    let alice_old = key(&seeded, "alice-old");
    assert!(
        tags(&moto, "alice")
            .await
            .contains_key(&format!("iam-warden/deactivated/{alice_old}")),
        "a key iam-warden deactivates is recorded at once"
    );
    assert!(
        keys(&moto, "gina").await[key(&seeded, "gina-expiring")],
        "a warning changes nothing"
    );
    assert!(
        keys(&moto, "svc-platform").await[key(&seeded, "svc-platform-old")],
        "tag-exempt key untouched"
    );

    // mfa: quarantine past grace, none within grace or when exempt, lifted once enrolled.
    assert!(quarantined(&moto, "bob").await);
    assert!(!quarantined(&moto, "carol").await, "still within the grace period");
    assert!(!quarantined(&moto, "break-glass").await, "exempt from mfa");
    assert!(
        !quarantined(&moto, "frank").await,
        "quarantine lifted after MFA enrolment"
    );
    assert!(
        has_login_profile(&moto, "bob").await,
        "deny-until-mfa keeps the console password"
    );

    // oidc-providers: only the rogue issuer is gone.
    assert_eq!(
        provider_urls(&moto).await,
        [
            "oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF",
            "token.actions.githubusercontent.com"
        ]
    );

    // cloudtrail: the stopped trail logs again.
    assert!(trail_logging(&moto, "org-trail").await);

    // oidc-trust: the role any GitHub repository could assume is quarantined, its scoped sibling is not.
    let quarantined_role = async |role: &str| {
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
            .any(|p| p.policy_name() == Some("iam-warden-deny-all"))
    };
    assert!(quarantined_role("deploy").await);
    assert!(!quarantined_role("ci").await);

    // The audit log keeps the full before-state of what was deleted.
    let deleted_provider = &applied.audit_for("delete-oidc-provider")[0];
    assert_eq!(deleted_provider["before"]["url"], "rogue.example.com");
    assert_eq!(
        deleted_provider["before"]["clientIds"],
        serde_json::json!(["sts.amazonaws.com"])
    );
    assert_eq!(
        deleted_provider["before"]["thumbprints"],
        serde_json::json!(["6938fd4d98bab03faadb97b34396831e3780aea1"])
    );
    assert_eq!(
        deleted_provider["before"]["tags"],
        serde_json::json!({"owner": "nobody"})
    );

    let again = moto.warden(&["plan", "--policy", &policy.path]);
    assert_eq!(again.code, 0, "in spec:\n{}", again.stdout);
    let second = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(second.code, 0);
    assert_eq!(second.outcomes("applied"), 0, "a second apply changes nothing");
    assert_eq!(keys(&moto, "alice").await, alice, "and leaves the keys as they were");

    // Once the recorded deactivation is past deleteAfter (30d), the key goes, and its record with it.
    backdate_record(&moto, "erin", erin_key, 31).await;
    backdate_record(&moto, "alice", alice_old, 31).await;
    let later = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(later.code, 0, "{}", later.stdout);
    assert!(
        keys(&moto, "erin").await.is_empty(),
        "inactive and unused for 31 days: deleted"
    );
    assert!(
        keys(&moto, "alice").await.contains_key(alice_old),
        "last used yesterday: deleteAfter counts from the later of the record and the last use"
    );
    assert!(
        !tags(&moto, "erin")
            .await
            .contains_key(&format!("iam-warden/deactivated/{erin_key}"))
    );
    let deleted_key = &later.audit_for("delete-access-key")[0];
    assert_eq!(deleted_key["before"]["id"], erin_key);
    assert_eq!(deleted_key["before"]["active"], serde_json::json!(false));
}

#[tokio::test]
async fn dry_run_and_audit_mode_change_nothing() {
    let moto = Moto::start();
    let seeded = moto.seed(&["drifted"]);
    let policy = enforceable_policy();
    let audit = enforceable_policy_with(&[("mode: enforce", "mode: audit")]);

    for run in [
        moto.warden(&["apply", "--dry-run", "--policy", &policy.path]),
        moto.warden(&["apply", "--policy", &audit.path]),
    ] {
        assert_eq!(run.code, 2, "findings remain:\n{}", run.stdout);
        // Eight fixes and one record of a deactivation, all decided, none made.
        assert_eq!((run.outcomes("dry_run"), run.outcomes("applied")), (9, 0));
    }
    assert!(keys(&moto, "alice").await[key(&seeded, "alice-old")]);
    assert_eq!(keys(&moto, "erin").await.len(), 1);
    assert!(!quarantined(&moto, "bob").await && quarantined(&moto, "frank").await);
    assert!(provider_urls(&moto).await.contains(&"rogue.example.com".to_owned()));
    assert!(!trail_logging(&moto, "org-trail").await);
    let password = moto.iam().get_account_password_policy().send().await.unwrap();
    assert_eq!(password.password_policy().unwrap().minimum_password_length(), Some(8));
}

#[tokio::test]
async fn the_change_cap_stops_a_pass_after_that_many_changes() {
    let moto = Moto::start();
    let seeded = moto.seed(&["drifted"]);
    let keys_only = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1\nkind: AccountPolicy\nmetadata: {name: cap}\nspec:\n  accessKeys: {maxAge: 90d, maxUnused: 45d, deleteAfter: 180d, action: deactivate}\n",
    );
    // frank has enrolled MFA since an earlier pass quarantined him: with no mfa
    // section, this pass would lift the quarantine, one more change under the cap.
    let deny = seeded["deny_policy_arn"].as_str().unwrap();
    moto.iam()
        .detach_user_policy()
        .user_name("frank")
        .policy_arn(deny)
        .send()
        .await
        .unwrap();
    let run = moto.warden(&["apply", "--max-changes", "2", "--policy", &keys_only.path]);
    assert_eq!(run.code, 2);
    // Two of three deactivations; recording erin's inactive key is not a change anyone's access feels.
    assert_eq!(
        (
            run.audit_for("deactivate-access-key").len(),
            run.outcomes("rate_limited")
        ),
        (3, 1),
        "{}",
        run.stdout
    );
    assert_eq!(run.audit_for("record-deactivation")[0]["outcome"], "applied");
    let changed = [
        !keys(&moto, "alice").await[key(&seeded, "alice-old")],
        !keys(&moto, "dave").await[key(&seeded, "dave-never-used")],
        !keys(&moto, "svc-platform").await[key(&seeded, "svc-platform-old")],
    ];
    assert_eq!(
        changed.iter().filter(|c| **c).count(),
        2,
        "exactly two changes reached AWS: {changed:?}"
    );
}

#[tokio::test]
async fn never_touches_the_identity_it_runs_as() {
    let moto = Moto::start();
    let runner = moto.seed(&["runner"]);
    let (id, secret) = (
        runner["access_key_id"].as_str().unwrap(),
        runner["secret_access_key"].as_str().unwrap(),
    );
    let policy = enforceable_policy();
    let run = moto.warden_as((id, secret), &["apply", "--policy", &policy.path]);
    let own = run.audit_for("deactivate-access-key");
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["outcome"], "protected");
    assert_eq!(own[0]["detail"], "the identity iam-warden runs as is never changed");
    assert_eq!(run.code, 2, "its own old key is still drift, and said so");
    assert!(keys(&moto, "warden-runner").await[id]);
}

#[tokio::test]
async fn the_quarantine_policy_is_created_when_missing() {
    let moto = Moto::start();
    moto.seed(&["quarantine"]);
    let policy = PolicyFile::new(
        "apiVersion: iamwarden.dev/v1alpha1\nkind: AccountPolicy\nmetadata: {name: mfa}\nspec:\n  mfa: {requireForConsoleUsers: true, action: deny-until-mfa}\n",
    );
    assert_eq!(moto.warden(&["apply", "--policy", &policy.path]).code, 0);
    assert!(quarantined(&moto, "bob").await);
    let listed = moto
        .iam()
        .list_policies()
        .path_prefix("/iam-warden/")
        .send()
        .await
        .unwrap();
    let created = &listed.policies()[0];
    let version = moto
        .iam()
        .get_policy_version()
        .policy_arn(created.arn().unwrap())
        .version_id(created.default_version_id().unwrap())
        .send()
        .await
        .unwrap();
    let document = version.policy_version().unwrap().document().unwrap();
    let document = document.replace("%22", "\"").replace("%3A", ":");
    assert!(document.contains("aws:MultiFactorAuthPresent"), "{document}");
    assert!(document.contains("iam:EnableMFADevice"), "users can still enrol MFA");
}

#[tokio::test]
async fn disable_console_deletes_only_the_login_profile() {
    let moto = Moto::start();
    moto.seed(&["drifted"]);
    let policy = enforceable_policy_with(&[("action: deny-until-mfa", "action: disable-console")]);
    let run = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(!has_login_profile(&moto, "bob").await);
    assert!(has_login_profile(&moto, "carol").await, "within grace");
    assert!(has_login_profile(&moto, "break-glass").await, "exempt");
    assert!(
        moto.iam().get_user().user_name("bob").send().await.is_ok(),
        "the user itself stays"
    );
    assert!(run.audit_for("delete-login-profile")[0]["before"]["console"]["loginProfile"]["created"].is_string());
}

#[tokio::test]
async fn report_only_findings_are_drift_that_apply_leaves_alone() {
    let moto = Moto::start();
    moto.seed(&["drifted"]);
    let policy = PolicyFile::example_with(&[
        ("trails: [org-trail]", "trails: [org-trail, missing-trail]"),
        ("allowedAudiences: [sts.amazonaws.com]", "allowedAudiences: [sigstore]"),
    ]);
    let plan = moto.warden(&["plan", "--output", "json", "--policy", &policy.path]);
    assert_eq!(plan.code, 2);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).expect("plan JSON on stdout");
    let reports: Vec<String> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] == "report" && f["severity"] == "violation")
        .map(|f| {
            format!(
                "{} {}",
                f["rule"].as_str().unwrap(),
                f["resource"]["kind"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        reports,
        [
            "mfa root",
            "oidc-providers oidc-provider",
            "oidc-providers oidc-provider",
            "cloudtrail trail",
            "cis root",
            "cis support-role",
            "cis access-analyzer"
        ],
        "root MFA, two providers' audiences, the missing trail, root's MFA not hardware, no support role, \
         no IAM Access Analyzer in the region iam-warden runs in"
    );
    let applied = moto.warden(&["apply", "--policy", &policy.path]);
    assert_eq!(applied.code, 2, "report-only findings remain");
    assert_eq!(
        provider_urls(&moto).await.len(),
        2,
        "audiences are reported, not acted on"
    );
}

#[test]
fn an_unreachable_endpoint_is_one_clear_line_and_exit_1() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let policy = enforceable_policy();
    let run = support::run_warden(
        &format!("http://127.0.0.1:{port}"),
        &("k", "s").into(),
        &["plan", "--policy", &policy.path],
    );
    assert_eq!(run.code, 1);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot reach AWS for sts:GetCallerIdentity: "),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn access_denied_names_the_missing_permission() {
    // moto enforces IAM once the seed's three calls are served: CreateUser,
    // CreateAccessKey and PutUserPolicy, which denies only the credential report.
    let moto = Moto::start_enforcing_auth_after(3);
    let runner = moto.seed(&["restricted-runner"]);
    let (id, secret) = (
        runner["access_key_id"].as_str().unwrap(),
        runner["secret_access_key"].as_str().unwrap(),
    );
    let policy = enforceable_policy();
    let run = moto.warden_as((id, secret), &["plan", "--policy", &policy.path]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "error: access denied for iam:GetCredentialReport: grant it to the identity iam-warden runs as (AWS said: "
        ),
        "{last}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "one line, no dump: {}", run.stderr);
}
