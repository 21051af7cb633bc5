//! Table tests: desired plus observed gives the expected actions.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::observe::{AccessKey, Caller, LoginProfile, Observation, OidcProvider, Source, Trail};
use crate::policy::PasswordPolicy;

fn now() -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn ago(span: TimeDelta) -> DateTime<Utc> {
    now() - span
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

fn policy(spec: &str) -> Policy {
    let text =
        format!("apiVersion: iamwarden.dev/v1alpha1\nkind: AccountPolicy\nmetadata:\n  name: test\nspec:\n{spec}");
    Policy::parse(Path::new("test.yaml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

fn user(name: &str) -> User {
    User {
        name: name.to_owned(),
        arn: format!("arn:aws:iam::123456789012:user/{name}"),
        created: ago(days(400)),
        tags: BTreeMap::new(),
        login_profile: None,
        mfa_devices: 0,
        access_keys: Vec::new(),
        deny_policy_attached: false,
        source: Source::Live,
    }
}

fn console_user(name: &str, profile_age: TimeDelta) -> User {
    User {
        login_profile: Some(LoginProfile {
            created: ago(profile_age),
        }),
        ..user(name)
    }
}

fn key(id: &str, age: TimeDelta, last_used: Option<TimeDelta>, active: bool) -> AccessKey {
    AccessKey {
        id: id.to_owned(),
        active,
        created: ago(age),
        last_used: last_used.map(ago),
    }
}

fn with_users(users: Vec<User>) -> Observed {
    Observed {
        users,
        ..Observed::default()
    }
}

/// `(rule, resource, action)` of each drift finding, for compact expectations.
fn actions(plan: &Plan) -> Vec<(Rule, String, Action)> {
    plan.findings
        .iter()
        .filter(|f| f.is_drift())
        .map(|f| (f.rule, f.resource.to_string(), f.action))
        .collect()
}

const MFA: &str = "  mfa:\n    requireForConsoleUsers: true\n    gracePeriod: 24h\n    action: deny-until-mfa\n";
const KEYS: &str = "  accessKeys:\n    maxAge: 90d\n    maxUnused: 45d\n    deleteAfter: 180d\n    warnBefore: 14d\n    action: deactivate\n";

// ---- password-policy ----

const PASSWORD: &str = "  passwordPolicy:\n    minimumLength: 14\n    requireSymbols: true\n    maxAgeDays: 90\n";

fn desired_password() -> PasswordPolicy {
    PasswordPolicy {
        minimum_length: 14,
        require_symbols: true,
        require_numbers: false,
        require_uppercase: false,
        require_lowercase: false,
        allow_users_to_change_password: false,
        max_age_days: Some(90),
        reuse_prevention: None,
        hard_expiry: false,
    }
}

#[test]
fn password_policy_absent_equal_different_and_unread() {
    let p = policy(PASSWORD);
    let observe = |current| Observed {
        password_policy: current,
        ..Observed::default()
    };
    let absent = plan(&p, &observe(Some(Observation::Absent)), now());
    assert_eq!(
        actions(&absent),
        [(
            Rule::PasswordPolicy,
            "password-policy".into(),
            Action::UpdatePasswordPolicy
        )]
    );

    let equal = plan(&p, &observe(Some(Observation::Present(desired_password()))), now());
    assert!(equal.findings.is_empty());

    let weaker = PasswordPolicy {
        minimum_length: 8,
        max_age_days: None,
        ..desired_password()
    };
    let differs = plan(&p, &observe(Some(Observation::Present(weaker))), now());
    assert_eq!(differs.findings.len(), 1);
    assert_eq!(
        differs.findings[0].reason,
        "differs in maxAgeDays is unset, want 90, minimumLength is 8, want 14"
    );

    assert!(
        plan(&p, &observe(None), now()).findings.is_empty(),
        "a reconcile that did not read it judges nothing"
    );
}

// ---- mfa ----

#[test]
fn mfa_quarantines_after_grace_and_not_before() {
    let p = policy(MFA);
    let past = plan(&p, &with_users(vec![console_user("late", days(2))]), now());
    assert_eq!(
        actions(&past),
        [(Rule::Mfa, "user/late".into(), Action::AttachDenyPolicy)]
    );

    let within = plan(&p, &with_users(vec![console_user("new", TimeDelta::hours(23))]), now());
    assert!(within.findings.is_empty());
    assert_eq!(
        within.next_deadline,
        Some(now() + TimeDelta::hours(1)),
        "grace end is the next deadline"
    );

    let exactly = plan(&p, &with_users(vec![console_user("edge", TimeDelta::hours(24))]), now());
    assert_eq!(actions(&exactly).len(), 1, "grace just passed is a violation");
}

#[test]
fn mfa_quarantine_is_kept_then_lifted_once_compliant() {
    let p = policy(MFA);
    let quarantined = User {
        deny_policy_attached: true,
        ..console_user("q", days(3))
    };
    assert!(
        plan(&p, &with_users(vec![quarantined.clone()]), now()).in_spec(),
        "quarantine is the desired state"
    );

    let enrolled = User {
        mfa_devices: 1,
        ..quarantined.clone()
    };
    let lifted = plan(&p, &with_users(vec![enrolled]), now());
    assert_eq!(
        actions(&lifted),
        [(Rule::Mfa, "user/q".into(), Action::DetachDenyPolicy)]
    );

    let no_console = User {
        login_profile: None,
        ..quarantined
    };
    assert_eq!(
        actions(&plan(&p, &with_users(vec![no_console]), now()))[0].2,
        Action::DetachDenyPolicy
    );
}

#[test]
fn mfa_action_variants_and_non_console_users() {
    let late = || with_users(vec![console_user("late", days(2))]);
    let disable = policy(&MFA.replace("deny-until-mfa", "disable-console"));
    assert_eq!(
        actions(&plan(&disable, &late(), now()))[0].2,
        Action::DeleteLoginProfile
    );
    let report = policy(&MFA.replace("deny-until-mfa", "report"));
    assert_eq!(actions(&plan(&report, &late(), now()))[0].2, Action::Report);

    let p = policy(MFA);
    let api_only = user("robot");
    let with_mfa = User {
        mfa_devices: 1,
        ..console_user("good", days(30))
    };
    assert!(
        plan(&p, &with_users(vec![api_only, with_mfa]), now())
            .findings
            .is_empty()
    );
}

#[test]
fn root_without_mfa_is_reported_only() {
    let p = policy("  mfa:\n    requireForRoot: true\n");
    let observed = Observed {
        root_mfa_enabled: Some(false),
        caller: Caller::default(),
        ..Observed::default()
    };
    assert_eq!(
        actions(&plan(&p, &observed, now())),
        [(Rule::Mfa, "account".into(), Action::Report)]
    );
    let enabled = Observed {
        root_mfa_enabled: Some(true),
        ..Observed::default()
    };
    assert!(plan(&p, &enabled, now()).findings.is_empty());
    assert!(
        plan(&p, &Observed::default(), now()).findings.is_empty(),
        "unread root state judges nothing"
    );
}

// ---- access-keys ----

#[test]
fn only_the_old_key_of_two_is_deactivated() {
    let p = policy(KEYS);
    let both = User {
        access_keys: vec![
            key("AKIAOLD", days(120), Some(days(1)), true),
            key("AKIAFRESH", days(3), Some(days(1)), true),
        ],
        ..user("alice")
    };
    let result = plan(&p, &with_users(vec![both]), now());
    assert_eq!(
        actions(&result),
        [(
            Rule::AccessKeys,
            "access-key/alice/AKIAOLD".into(),
            Action::DeactivateAccessKey
        )]
    );
    assert_eq!(result.findings[0].reason, "active key is 120d old, over maxAge 90d");
    assert_eq!(
        result.findings[0].before["id"], "AKIAOLD",
        "the audit log keeps the key as it was"
    );
}

#[test]
fn max_age_boundary_is_inclusive_and_scheduled() {
    let p = policy(KEYS);
    let at_limit = User {
        access_keys: vec![key("AKIAEDGE", days(90), Some(days(1)), true)],
        ..user("a")
    };
    assert_eq!(
        actions(&plan(&p, &with_users(vec![at_limit]), now())).len(),
        1,
        "exactly at maxAge violates"
    );

    let just_under = TimeDelta::days(90) - TimeDelta::seconds(1);
    let before = User {
        access_keys: vec![key("AKIAEDGE", just_under, Some(days(1)), true)],
        ..user("a")
    };
    let result = plan(&p, &with_users(vec![before]), now());
    assert!(result.in_spec());
    assert_eq!(
        result.next_deadline,
        Some(now() + TimeDelta::seconds(1)),
        "deactivated the moment it turns 90d"
    );
}

#[test]
fn unused_and_never_used_keys() {
    let p = policy(KEYS);
    let idle = User {
        access_keys: vec![key("AKIAIDLE", days(60), Some(days(50)), true)],
        ..user("idle")
    };
    let never = User {
        access_keys: vec![key("AKIANEVER", days(46), None, true)],
        ..user("never")
    };
    let young_never = User {
        access_keys: vec![key("AKIAYOUNG", days(10), None, true)],
        ..user("young")
    };
    let result = plan(&p, &with_users(vec![idle, never, young_never]), now());
    assert_eq!(
        actions(&result),
        [
            (
                Rule::AccessKeys,
                "access-key/idle/AKIAIDLE".into(),
                Action::DeactivateAccessKey
            ),
            (
                Rule::AccessKeys,
                "access-key/never/AKIANEVER".into(),
                Action::DeactivateAccessKey
            ),
        ]
    );
    assert!(
        result.findings[1]
            .reason
            .starts_with("active key never used in the 46d since creation")
    );
    assert_eq!(
        result.next_deadline,
        Some(now() + days(35)),
        "the young key becomes unused at 45d"
    );
}

#[test]
fn inactive_keys_are_deleted_only_after_delete_after() {
    let p = policy(KEYS);
    let old = key("AKIADEAD", days(181), None, false);
    let recent = key("AKIAOFF", days(100), None, false);
    let result = plan(
        &p,
        &with_users(vec![User {
            access_keys: vec![old, recent],
            ..user("u")
        }]),
        now(),
    );
    assert_eq!(
        actions(&result),
        [(
            Rule::AccessKeys,
            "access-key/u/AKIADEAD".into(),
            Action::DeleteAccessKey
        )]
    );
    assert_eq!(result.next_deadline, Some(now() + days(80)));
}

#[test]
fn warn_before_is_a_warning_not_drift() {
    let p = policy(KEYS);
    let soon = User {
        access_keys: vec![key("AKIASOON", days(80), Some(days(1)), true)],
        ..user("s")
    };
    let result = plan(&p, &with_users(vec![soon]), now());
    assert_eq!(result.findings.len(), 1);
    assert_eq!(result.findings[0].severity, Severity::Warning);
    assert!(result.in_spec());
    let calm = User {
        access_keys: vec![key("AKIACALM", days(70), Some(days(1)), true)],
        ..user("c")
    };
    assert!(plan(&p, &with_users(vec![calm]), now()).findings.is_empty());
}

#[test]
fn report_action_reports_keys_without_changing_them() {
    let p = policy(&KEYS.replace("deactivate", "report"));
    let old = User {
        access_keys: vec![key("AKIAOLD", days(100), Some(days(1)), true)],
        ..user("o")
    };
    assert_eq!(actions(&plan(&p, &with_users(vec![old]), now()))[0].2, Action::Report);
}

// ---- exemptions ----

#[test]
fn exemptions_by_user_rule_tag_and_expiry() {
    let exemptions = "  exemptions:
    - users: [break-glass]
      rules: [mfa]
      reason: sealed break-glass account
      expires: 2026-12-31
    - users: [gone]
      reason: expired long ago
      expires: 2026-01-01
    - tag: iam-warden/exempt
      reason: platform service accounts
";
    let p = policy(&format!("{MFA}{KEYS}{exemptions}"));
    let old_key = || vec![key("AKIAOLD", days(100), Some(days(1)), true)];
    let glass = User {
        access_keys: old_key(),
        ..console_user("break-glass", days(5))
    };
    let gone = console_user("gone", days(5));
    let tagged = User {
        tags: BTreeMap::from([("iam-warden/exempt".into(), "true".into())]),
        access_keys: old_key(),
        ..user("svc")
    };
    let untagged = User {
        tags: BTreeMap::from([("iam-warden/exempt".into(), "false".into())]),
        access_keys: old_key(),
        ..user("svc2")
    };
    let result = plan(&p, &with_users(vec![glass, gone, tagged, untagged]), now());

    let exempt: Vec<String> = result
        .findings
        .iter()
        .filter(|f| f.exempt.is_some())
        .map(|f| f.resource.to_string())
        .collect();
    assert_eq!(exempt, ["user/break-glass", "access-key/svc/AKIAOLD"]);
    assert_eq!(
        actions(&result).iter().map(|(_, r, _)| r.as_str()).collect::<Vec<_>>(),
        ["user/gone", "access-key/break-glass/AKIAOLD", "access-key/svc2/AKIAOLD"],
        "the mfa-only exemption leaves keys enforced; the expired one exempts nothing"
    );
    assert_eq!(
        result.next_deadline,
        Some("2027-01-01T00:00:00Z".parse().unwrap()),
        "the exemption lapses after its day"
    );
}

#[test]
fn lifting_a_quarantine_is_never_exempt() {
    let p = policy(&format!("{MFA}  exemptions:\n    - users: [q]\n      reason: r\n"));
    let enrolled = User {
        mfa_devices: 1,
        deny_policy_attached: true,
        ..console_user("q", days(3))
    };
    assert_eq!(
        actions(&plan(&p, &with_users(vec![enrolled]), now()))[0].2,
        Action::DetachDenyPolicy
    );
}

// ---- oidc-providers ----

fn provider(url: &str, client_ids: &[&str]) -> OidcProvider {
    OidcProvider {
        arn: format!("arn:aws:iam::123456789012:oidc-provider/{url}"),
        url: url.to_owned(),
        client_ids: client_ids.iter().map(|s| s.to_string()).collect(),
        thumbprints: vec!["a".repeat(40)],
        tags: BTreeMap::new(),
        created: None,
    }
}

const OIDC: &str = "  oidcProviders:
    allowedIssuers: [token.actions.githubusercontent.com, oidc.eks.*.amazonaws.com/id/*]
    allowedAudiences: [sts.amazonaws.com]
    action: delete
";

#[test]
fn oidc_issuers_and_audiences() {
    let p = policy(OIDC);
    let providers = vec![
        provider("token.actions.githubusercontent.com", &["sts.amazonaws.com"]),
        provider(
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC123",
            &["sts.amazonaws.com", "other"],
        ),
        provider("rogue.example.com", &["sts.amazonaws.com"]),
    ];
    let observed = Observed {
        oidc_providers: Some(providers),
        ..Observed::default()
    };
    assert_eq!(
        actions(&plan(&p, &observed, now())),
        [
            (
                Rule::OidcProviders,
                "oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123".into(),
                Action::Report
            ),
            (
                Rule::OidcProviders,
                "oidc-provider/rogue.example.com".into(),
                Action::DeleteOidcProvider
            ),
        ]
    );
    let report = policy(&OIDC.replace("action: delete", "action: report"));
    let rogue = Observed {
        oidc_providers: Some(vec![provider("rogue.example.com", &[])]),
        ..Observed::default()
    };
    assert_eq!(actions(&plan(&report, &rogue, now()))[0].2, Action::Report);
}

// ---- cloudtrail ----

fn trail(name: &str, multi_region: bool, logging: bool) -> Trail {
    Trail {
        name: name.to_owned(),
        arn: format!("arn:aws:cloudtrail:us-east-1:123456789012:trail/{name}"),
        home_region: "us-east-1".to_owned(),
        multi_region,
        logging,
        management_events: true,
    }
}

const TRAILS: &str = "  cloudTrail:\n    requireLogging: true\n    trails: [org-trail]\n    action: start-logging\n";

#[test]
fn cloudtrail_requirements() {
    let p = policy(TRAILS);
    let observe = |trails| Observed {
        trails: Some(trails),
        ..Observed::default()
    };

    let stopped = plan(&p, &observe(vec![trail("org-trail", true, false)]), now());
    assert_eq!(
        actions(&stopped),
        [(Rule::Cloudtrail, "trail/org-trail".into(), Action::StartLogging)],
        "one fix, not two"
    );

    let none = plan(&p, &observe(vec![]), now());
    assert_eq!(
        actions(&none),
        [
            (Rule::Cloudtrail, "account".into(), Action::Report),
            (Rule::Cloudtrail, "trail/org-trail".into(), Action::Report)
        ]
    );

    let regional_only = plan(&p, &observe(vec![trail("org-trail", false, true)]), now());
    assert_eq!(
        actions(&regional_only),
        [(Rule::Cloudtrail, "account".into(), Action::Report)]
    );

    let other_stopped = plan(
        &p,
        &observe(vec![trail("org-trail", false, true), trail("main", true, false)]),
        now(),
    );
    assert_eq!(
        actions(&other_stopped),
        [(Rule::Cloudtrail, "trail/main".into(), Action::StartLogging)]
    );

    let reads_only = Trail {
        management_events: false,
        ..trail("org-trail", true, true)
    };
    assert_eq!(actions(&plan(&p, &observe(vec![reads_only]), now()))[0].1, "account");

    assert!(plan(&p, &observe(vec![trail("org-trail", true, true)]), now()).in_spec());
}

// ---- whole plan ----

#[test]
fn audit_mode_plans_the_same_actions() {
    let enforce = policy(KEYS);
    let audit = policy(&format!("  mode: audit\n{KEYS}"));
    let observed = with_users(vec![User {
        access_keys: vec![key("AKIAOLD", days(100), None, true)],
        ..user("a")
    }]);
    let (e, a) = (plan(&enforce, &observed, now()), plan(&audit, &observed, now()));
    assert_eq!(a.mode, Mode::Audit);
    assert_eq!(
        a.findings, e.findings,
        "audit changes nothing in the plan, only in the executor"
    );
}

#[test]
fn plan_serialises_as_plain_json() {
    let p = policy(KEYS);
    let observed = with_users(vec![User {
        access_keys: vec![key("AKIAOLD", days(100), None, true)],
        ..user("a")
    }]);
    let json = serde_json::to_value(plan(&p, &observed, now())).unwrap();
    assert_eq!(json["findings"][0]["action"], "deactivate-access-key");
    assert_eq!(json["findings"][0]["rule"], "access-keys");
    assert_eq!(
        json["findings"][0]["resource"],
        serde_json::json!({"kind": "access-key", "user": "a", "id": "AKIAOLD"})
    );
}

#[test]
fn suspects_are_the_report_users_with_findings() {
    let p = policy(&format!("{MFA}{KEYS}"));
    let report = vec![
        User {
            access_keys: vec![key("", days(100), Some(days(1)), true)],
            source: Source::CredentialReport,
            ..user("old-key")
        },
        User {
            source: Source::CredentialReport,
            ..console_user("no-mfa", days(3))
        },
        User {
            mfa_devices: 1,
            deny_policy_attached: true,
            source: Source::CredentialReport,
            ..console_user("lift", days(3))
        },
        User {
            access_keys: vec![key("", days(10), Some(days(1)), true)],
            source: Source::CredentialReport,
            ..user("fine")
        },
    ];
    let (suspects, report) = suspects(&p, report, now());
    assert_eq!(suspects.into_iter().collect::<Vec<_>>(), ["lift", "no-mfa", "old-key"]);
    assert_eq!(report.len(), 4, "the report comes back for the users not read live");
}
