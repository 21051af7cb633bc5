//! Table tests: desired plus observed gives the expected actions.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::name::Name;
use crate::policy::{AnalyzerRegions, PasswordPolicy};
use crate::quarantine::QuarantinePolicy;
use crate::state::{
    AccessKey, AnalyzerRegion, Caller, Console, Group, InlinePolicy, LastUse, LiveQuarantinePolicy, LoginProfile,
    ManagedPolicy, Observation, OidcProvider, Permissions, Role, RolePermissions, RootUser, ServerCertificate, Trail,
    User,
};

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

/// A user read live in every facet: no console, keys or policies, no tags.
fn user(name: &str) -> User {
    User {
        name: Name::from(name),
        created: Some(ago(days(400))),
        tags: Some(BTreeMap::new()),
        console: Some(Console {
            login_profile: None,
            mfa_devices: 0,
            quarantined: false,
        }),
        access_keys: Some(Vec::new()),
        permissions: Some(Permissions::default()),
    }
}

fn console_user(name: &str, profile_age: TimeDelta) -> User {
    user(name).login_profile(Some(LoginProfile {
        created: ago(profile_age),
        reset_required: false,
        password_last_changed: None,
        password_last_used: LastUse::NotRead,
    }))
}

/// Shapes a test user one facet at a time.
trait Shape {
    fn keys(self, keys: Vec<AccessKey>) -> User;
    fn mfa(self, devices: usize) -> User;
    fn quarantined(self, attached: bool) -> User;
    fn tags(self, tags: BTreeMap<String, String>) -> User;
    fn login_profile(self, profile: Option<LoginProfile>) -> User;
}

impl Shape for User {
    fn keys(self, keys: Vec<AccessKey>) -> User {
        User {
            access_keys: Some(keys),
            ..self
        }
    }
    fn mfa(mut self, devices: usize) -> User {
        self.console.as_mut().unwrap().mfa_devices = devices;
        self
    }
    fn quarantined(mut self, attached: bool) -> User {
        self.console.as_mut().unwrap().quarantined = attached;
        self
    }
    fn tags(self, tags: BTreeMap<String, String>) -> User {
        User {
            tags: Some(tags),
            ..self
        }
    }
    fn login_profile(mut self, profile: Option<LoginProfile>) -> User {
        self.console.as_mut().unwrap().login_profile = profile;
        self
    }
}

fn key(id: &str, age: TimeDelta, last_used: Option<TimeDelta>, active: bool) -> AccessKey {
    AccessKey {
        id: Some(id.to_owned()),
        active,
        created: ago(age),
        last_used: last_used.map_or(LastUse::Never, |span| LastUse::At(ago(span))),
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
        .map(|f| (f.rule, f.resource.to_string(), f.action()))
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
    let quarantined = console_user("q", days(3)).quarantined(true);
    assert!(
        plan(&p, &with_users(vec![quarantined.clone()]), now()).in_spec(),
        "quarantine is the desired state"
    );

    let enrolled = quarantined.clone().mfa(1);
    let lifted = plan(&p, &with_users(vec![enrolled]), now());
    assert_eq!(
        actions(&lifted),
        [(Rule::Mfa, "user/q".into(), Action::DetachDenyPolicy)]
    );

    let no_console = quarantined.login_profile(None);
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
    let with_mfa = console_user("good", days(30)).mfa(1);
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
        root: Some(root(false, false, None)),
        caller: Caller::default(),
        ..Observed::default()
    };
    assert_eq!(
        actions(&plan(&p, &observed, now())),
        [(Rule::Mfa, "root".into(), Action::Report)]
    );
    let enabled = Observed {
        root: Some(root(true, false, None)),
        ..Observed::default()
    };
    assert!(plan(&p, &enabled, now()).findings.is_empty());
    assert!(
        plan(&p, &Observed::default(), now()).findings.is_empty(),
        "unread root state judges nothing"
    );
}

fn root(mfa: bool, access_keys: bool, virtual_mfa: Option<bool>) -> RootUser {
    RootUser {
        mfa,
        access_keys,
        virtual_mfa,
    }
}

// ---- cis ----

/// The findings' reasons, for rules that report several things of one resource.
fn reasons(plan: &Plan) -> Vec<(Rule, String, String)> {
    let findings = plan.findings.iter();
    findings
        .map(|f| (f.rule, f.resource.to_string(), f.reason.clone()))
        .collect()
}

#[test]
fn cis_reports_root_keys_and_root_mfa_that_is_not_hardware_and_changes_nothing() {
    let p = policy("  cis: {}\n");
    let cases = [
        (root(true, false, Some(false)), vec![]),
        (
            root(true, true, Some(false)),
            vec!["the root user has an access key (CIS 2.3); delete it, signed in as root"],
        ),
        (
            root(true, false, Some(true)),
            vec!["the root user has a virtual MFA device, not a hardware one (CIS 2.5)"],
        ),
        (
            root(false, false, None),
            vec!["the root user has no MFA device, not a hardware one (CIS 2.5)"],
        ),
    ];
    for (root, expected) in cases {
        let observed = Observed {
            root: Some(root),
            ..Observed::default()
        };
        let plan = plan(&p, &observed, now());
        let expected: Vec<_> = expected
            .iter()
            .map(|r| (Rule::Cis, "root".to_owned(), r.to_string()))
            .collect();
        assert_eq!(reasons(&plan), expected, "{root:?}");
        assert!(plan.findings.iter().all(|f| f.change.is_none()), "report only");
    }
    let off = policy("  cis:\n    rootAccessKeys: false\n    rootHardwareMfa: false\n");
    let observed = Observed {
        root: Some(root(false, true, None)),
        ..Observed::default()
    };
    assert!(
        plan(&off, &observed, now()).findings.is_empty(),
        "each control can be turned off"
    );
}

#[test]
fn cis_reports_an_account_without_a_support_role() {
    let p = policy("  cis: {}\n");
    let with = |roles: Vec<&str>| Observed {
        support_roles: Some(roles.into_iter().map(Name::from).collect()),
        ..Observed::default()
    };
    assert_eq!(
        actions(&plan(&p, &with(vec![]), now())),
        [(Rule::Cis, "support-role".into(), Action::Report)]
    );
    assert!(plan(&p, &with(vec!["support"]), now()).findings.is_empty());
    assert!(
        plan(&p, &Observed::default(), now()).findings.is_empty(),
        "unread, judged nothing"
    );
    let off = policy("  cis:\n    supportRole: false\n");
    assert!(plan(&off, &with(vec![]), now()).findings.is_empty());
}

#[test]
fn cis_reports_each_region_without_an_active_access_analyzer() {
    let p = policy("  cis: {}\n");
    let with = |regions: &[(&str, bool)]| Observed {
        access_analyzers: Some(
            regions
                .iter()
                .map(|(region, active)| AnalyzerRegion {
                    region: region.to_string(),
                    active: *active,
                })
                .collect(),
        ),
        ..Observed::default()
    };
    assert_eq!(
        reasons(&plan(&p, &with(&[("eu-west-1", true), ("us-east-1", false)]), now())),
        [(
            Rule::Cis,
            "access-analyzer/us-east-1".into(),
            "no IAM Access Analyzer is active in us-east-1 (CIS 2.19)".into()
        )]
    );
    assert!(plan(&p, &with(&[("eu-west-1", true)]), now()).findings.is_empty());
    let plan = plan(&p, &with(&[("eu-west-1", false)]), now());
    assert!(plan.findings.iter().all(|f| f.change.is_none()), "report only");
}

#[test]
fn cis_access_analyzer_regions_are_the_own_region_a_list_or_none() {
    let regions = |yaml: &str| policy(yaml).cis.map(|c| c.access_analyzer);
    assert_eq!(regions("  cis: {}\n"), Some(AnalyzerRegions::Own));
    assert_eq!(
        regions("  cis:\n    accessAnalyzerRegions: []\n"),
        Some(AnalyzerRegions::Off)
    );
    assert_eq!(
        regions("  cis:\n    accessAnalyzerRegions: [eu-west-1, us-gov-west-1]\n"),
        Some(AnalyzerRegions::Listed(vec![
            "eu-west-1".into(),
            "us-gov-west-1".into()
        ]))
    );
}

// ---- console-access ----

const CONSOLE_ACCESS: &str = "  consoleAccess:\n    maxUnused: 45d\n    action: disable-console\n";

fn signing_in(name: &str, profile_age: TimeDelta, last_used: LastUse) -> User {
    user(name).login_profile(Some(LoginProfile {
        created: ago(profile_age),
        reset_required: false,
        password_last_changed: None,
        password_last_used: last_used,
    }))
}

#[test]
fn a_console_password_unused_past_max_unused_goes() {
    let p = policy(CONSOLE_ACCESS);
    let users = vec![
        signing_in("idle", days(400), LastUse::At(ago(days(60)))),
        signing_in("never", days(46), LastUse::Never),
        signing_in("recent", days(400), LastUse::At(ago(days(2)))),
        signing_in("young", days(10), LastUse::Never),
        // Used before the profile was deleted and made again: the new one counts from its creation.
        signing_in("remade", days(5), LastUse::At(ago(days(300)))),
        signing_in("unread", days(400), LastUse::NotRead),
        user("no-console"),
    ];
    let result = plan(&p, &with_users(users), now());
    assert_eq!(
        actions(&result),
        [
            (Rule::ConsoleAccess, "user/idle".into(), Action::DeleteLoginProfile),
            (Rule::ConsoleAccess, "user/never".into(), Action::DeleteLoginProfile),
        ]
    );
    assert_eq!(
        result.findings[0].reason,
        format!(
            "console password last used {}: 60d unused, over maxUnused 45d",
            ago(days(60)).format("%Y-%m-%d")
        )
    );
    assert!(
        result.findings[1]
            .reason
            .starts_with("console password never used since the login profile was created")
    );
    assert_eq!(
        result.next_deadline,
        Some(ago(days(10)) + days(45)),
        "when the first compliant password reaches maxUnused: the young one never used"
    );

    let reported = policy(&CONSOLE_ACCESS.replace("disable-console", "report"));
    let result = plan(
        &reported,
        &with_users(vec![signing_in("idle", days(400), LastUse::Never)]),
        now(),
    );
    assert!(result.findings[0].change.is_none(), "report only");
}

// ---- access-keys ----

#[test]
fn only_the_old_key_of_two_is_deactivated() {
    let p = policy(KEYS);
    let both = user("alice").keys(vec![
        key("AKIAOLD", days(120), Some(days(1)), true),
        key("AKIAFRESH", days(3), Some(days(1)), true),
    ]);
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
fn past_max_active_the_key_used_least_recently_is_deactivated() {
    let p = policy(&KEYS.replace("    action: deactivate\n", "    maxActive: 1\n    action: deactivate\n"));
    let key_ids = |result: &Plan| {
        actions(result)
            .into_iter()
            .map(|(_, resource, _)| resource)
            .collect::<Vec<_>>()
    };
    let two_used = user("alice").keys(vec![
        key("AKIARECENT", days(20), Some(days(1)), true),
        key("AKIASTALE", days(10), Some(days(9)), true),
    ]);
    let result = plan(&p, &with_users(vec![two_used]), now());
    assert_eq!(key_ids(&result), ["access-key/alice/AKIASTALE"]);
    assert_eq!(
        result.findings[0].reason,
        format!(
            "2 active keys, over maxActive 1: this one is used least recently (last used {})",
            ago(days(9)).format("%Y-%m-%d")
        )
    );

    let never_used = user("bob").keys(vec![
        key("AKIAUSED", days(20), Some(days(30)), true),
        key("AKIANEVER", days(2), None, true),
    ]);
    let result = plan(&p, &with_users(vec![never_used]), now());
    assert_eq!(
        key_ids(&result),
        ["access-key/bob/AKIANEVER"],
        "never used is the oldest use"
    );

    // A key another limit deactivates already brings the user down to one.
    let one_old = user("carol").keys(vec![
        key("AKIAOLD", days(120), Some(days(1)), true),
        key("AKIANEW", days(3), Some(days(2)), true),
    ]);
    let result = plan(&p, &with_users(vec![one_old]), now());
    assert_eq!(key_ids(&result), ["access-key/carol/AKIAOLD"], "not its sibling too");

    let one_active = user("dave").keys(vec![
        key("AKIAACTIVE", days(20), Some(days(1)), true),
        key("AKIAOFF", days(10), Some(days(9)), false),
    ]);
    assert!(
        plan(&p, &with_users(vec![one_active]), now()).in_spec(),
        "inactive keys do not count"
    );

    let under_report = policy(&KEYS.replace("    action: deactivate\n", "    maxActive: 1\n    action: report\n"));
    let both = user("erin").keys(vec![
        key("AKIAONE", days(20), Some(days(1)), true),
        key("AKIATWO", days(10), Some(days(2)), true),
    ]);
    let result = plan(&under_report, &with_users(vec![both]), now());
    assert!(result.findings[0].change.is_none(), "report only");
}

#[test]
fn max_age_boundary_is_inclusive_and_scheduled() {
    let p = policy(KEYS);
    let at_limit = user("a").keys(vec![key("AKIAEDGE", days(90), Some(days(1)), true)]);
    assert_eq!(
        actions(&plan(&p, &with_users(vec![at_limit]), now())).len(),
        1,
        "exactly at maxAge violates"
    );

    let just_under = TimeDelta::days(90) - TimeDelta::seconds(1);
    let before = user("a").keys(vec![key("AKIAEDGE", just_under, Some(days(1)), true)]);
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
    let idle = user("idle").keys(vec![key("AKIAIDLE", days(60), Some(days(50)), true)]);
    let never = user("never").keys(vec![key("AKIANEVER", days(46), None, true)]);
    let young_never = user("young").keys(vec![key("AKIAYOUNG", days(10), None, true)]);
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

/// `(action, resource)` of every finding that changes AWS, housekeeping included.
fn changes(plan: &Plan) -> Vec<(Action, String)> {
    plan.findings
        .iter()
        .filter(|f| f.is_actionable())
        .map(|f| (f.action(), f.resource.to_string()))
        .collect()
}

fn recorded(user: User, records: &[(&str, TimeDelta)]) -> User {
    let mut tags = user.tags.clone().unwrap_or_default();
    for (id, ago_) in records {
        tags.insert(
            deactivation_tag(id),
            ago(*ago_).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
    }
    user.tags(tags)
}

#[test]
fn an_inactive_key_without_a_record_is_recorded_not_deleted() {
    let p = policy(KEYS);
    let unrecorded = user("u").keys(vec![key("AKIAOLD", days(400), None, false)]);
    let result = plan(&p, &with_users(vec![unrecorded]), now());
    assert_eq!(
        changes(&result),
        [(Action::RecordDeactivation, "access-key/u/AKIAOLD".into())],
        "a 400-day-old inactive key is not deleted: nobody knows when it was deactivated"
    );
    assert!(result.in_spec(), "record-keeping is not drift");
    assert_eq!(result.findings[0].severity, Severity::Housekeeping);
    assert_eq!(
        result.next_deadline,
        Some(now() + days(180)),
        "deleteAfter counts from the record, written now"
    );
}

#[test]
fn delete_after_counts_from_the_later_of_the_record_and_the_last_use() {
    let p = policy(KEYS);
    let keys = vec![
        key("AKIADUE", days(400), Some(days(300)), false),
        key("AKIAUSED", days(400), Some(days(10)), false),
        key("AKIAFRESH", days(400), None, false),
    ];
    let u = recorded(
        user("u").keys(keys),
        &[("AKIADUE", days(181)), ("AKIAUSED", days(181)), ("AKIAFRESH", days(1))],
    );
    let result = plan(&p, &with_users(vec![u]), now());
    assert_eq!(
        changes(&result),
        [(Action::DeleteAccessKey, "access-key/u/AKIADUE".into())],
        "used 10 days ago, or recorded yesterday: not due"
    );
    assert!(
        result.findings[0].reason.starts_with("inactive since"),
        "{}",
        result.findings[0].reason
    );
    assert_eq!(
        result.next_deadline,
        Some(now() + days(170)),
        "the recently used key is due 180 days after its last use"
    );
}

#[test]
fn a_deactivated_key_is_not_deleted_in_the_pass_that_follows() {
    let p = policy(&KEYS.replace("deleteAfter: 180d", "deleteAfter: 30d"));
    // The first pass deactivated it and wrote the record a moment ago.
    let just_deactivated = recorded(
        user("u").keys(vec![key("AKIAOLD", days(200), Some(TimeDelta::hours(1)), false)]),
        &[("AKIAOLD", TimeDelta::seconds(1))],
    );
    assert!(changes(&plan(&p, &with_users(vec![just_deactivated]), now())).is_empty());
}

#[test]
fn records_go_when_the_key_is_active_again_or_gone_and_stay_out_of_report_mode() {
    let p = policy(KEYS);
    let reactivated = recorded(
        user("u").keys(vec![key("AKIABACK", days(10), Some(days(1)), true)]),
        &[("AKIABACK", days(5)), ("AKIAGONE", days(5))],
    );
    assert_eq!(
        changes(&plan(&p, &with_users(vec![reactivated.clone()]), now())),
        [
            (Action::ClearDeactivationRecord, "access-key/u/AKIABACK".into()),
            (Action::ClearDeactivationRecord, "access-key/u/AKIAGONE".into()),
        ]
    );
    let report = policy(&KEYS.replace("action: deactivate", "action: report"));
    assert!(changes(&plan(&report, &with_users(vec![reactivated]), now())).is_empty());
    let old_inactive = user("v").keys(vec![key("AKIAOLD", days(200), None, false)]);
    let reported = plan(&report, &with_users(vec![old_inactive]), now());
    assert_eq!(
        actions(&reported),
        [(Rule::AccessKeys, "access-key/v/AKIAOLD".into(), Action::Report)],
        "report mode judges from creation, the earliest the key can have been deactivated"
    );
}

#[test]
fn a_garbled_record_is_written_again() {
    let p = policy(KEYS);
    let mut garbled = user("u").keys(vec![key("AKIAOLD", days(400), None, false)]);
    garbled
        .tags
        .as_mut()
        .unwrap()
        .insert(deactivation_tag("AKIAOLD"), "yesterday".into());
    assert_eq!(
        changes(&plan(&p, &with_users(vec![garbled]), now())),
        [(Action::RecordDeactivation, "access-key/u/AKIAOLD".into())]
    );
}

#[test]
fn report_users_are_suspects_when_their_records_cannot_account_for_their_keys() {
    let p = policy(KEYS);
    let from_report = |records: &[(&str, TimeDelta)]| {
        // The credential report names no key ids.
        let unnamed = AccessKey {
            id: None,
            ..key("", days(400), None, false)
        };
        let u = user("r").keys(vec![unnamed]);
        plan(&p, &with_users(vec![recorded(u, records)]), now())
    };
    assert!(!from_report(&[]).findings.is_empty(), "no record: read it live");
    assert!(
        from_report(&[("AKIAX", days(1))]).findings.is_empty(),
        "recorded yesterday: nothing to do"
    );
    assert!(
        !from_report(&[("AKIAX", days(200))]).findings.is_empty(),
        "due: read it live"
    );
}

#[test]
fn warn_before_is_a_warning_not_drift() {
    let p = policy(KEYS);
    let soon = user("s").keys(vec![key("AKIASOON", days(80), Some(days(1)), true)]);
    let result = plan(&p, &with_users(vec![soon]), now());
    assert_eq!(result.findings.len(), 1);
    assert_eq!(result.findings[0].severity, Severity::Warning);
    assert!(result.in_spec());
    let calm = user("c").keys(vec![key("AKIACALM", days(70), Some(days(1)), true)]);
    assert!(plan(&p, &with_users(vec![calm]), now()).findings.is_empty());
}

#[test]
fn report_action_reports_keys_without_changing_them() {
    let p = policy(&KEYS.replace("deactivate", "report"));
    let old = user("o").keys(vec![key("AKIAOLD", days(100), Some(days(1)), true)]);
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
    let glass = console_user("break-glass", days(5)).keys(old_key());
    let gone = console_user("gone", days(5));
    let tagged = user("svc")
        .tags(BTreeMap::from([("iam-warden/exempt".into(), "true".into())]))
        .keys(old_key());
    let untagged = user("svc2")
        .tags(BTreeMap::from([("iam-warden/exempt".into(), "false".into())]))
        .keys(old_key());
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
fn tags_are_read_only_when_they_could_change_the_decision() {
    let by_name = "  exemptions:\n    - users: [x]\n      reason: r\n";
    let by_tag_for_mfa = "  exemptions:\n    - tag: t\n      rules: [mfa]\n      reason: r\n";
    let lapsed_tag = "  exemptions:\n    - tag: t\n      reason: r\n      expires: 2026-01-01\n";
    let untagged = |u: User| User { tags: None, ..u };
    let old_active = untagged(user("u").keys(vec![key("AKIAOLD", days(100), Some(days(1)), true)]));
    let inactive = untagged(user("u").keys(vec![key("AKIAOFF", days(100), Some(days(1)), false)]));
    let no_mfa = untagged(console_user("u", days(5)));
    let cases = [
        (
            "deactivating a key, exemptions by name only",
            by_name,
            old_active.clone(),
            false,
        ),
        (
            "deactivating a key, a tag exemption for mfa only",
            by_tag_for_mfa,
            old_active.clone(),
            false,
        ),
        (
            "deactivating a key, a lapsed tag exemption",
            lapsed_tag,
            old_active,
            false,
        ),
        ("an inactive key's record", by_name, inactive, true),
        ("a quarantine, a tag exemption for mfa", by_tag_for_mfa, no_mfa, true),
    ];
    for (case, exemptions, user, expected) in cases {
        let p = policy(&format!("{MFA}{KEYS}{exemptions}"));
        let result = plan(&p, &with_users(vec![user]), now());
        let finding = result.findings.iter().find(|f| f.is_actionable()).expect(case);
        assert_eq!(tags_could_change(&p.exemptions, finding, now()), expected, "{case}");
    }
}

#[test]
fn lifting_a_quarantine_is_never_exempt() {
    let p = policy(&format!("{MFA}  exemptions:\n    - users: [q]\n      reason: r\n"));
    let enrolled = console_user("q", days(3)).mfa(1).quarantined(true);
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
fn an_expired_server_certificate_is_deleted_and_a_valid_one_is_a_deadline() {
    let p = policy("  serverCertificates:\n    action: delete\n");
    let certificate = |name: &str, expiration: DateTime<Utc>| ServerCertificate {
        name: name.to_owned(),
        arn: format!("arn:aws:iam::123456789012:server-certificate/{name}"),
        expiration,
        body: Some("BODY".to_owned()),
        chain: None,
    };
    let observed = Observed {
        server_certificates: Some(vec![
            certificate("expired", ago(days(1))),
            certificate("valid", now() + days(30)),
        ]),
        ..Observed::default()
    };
    let result = plan(&p, &observed, now());
    assert_eq!(
        actions(&result),
        [(
            Rule::ServerCertificates,
            "server-certificate/expired".into(),
            Action::DeleteServerCertificate
        )]
    );
    assert_eq!(
        result.next_deadline,
        Some(now() + days(30)),
        "deleted the moment it expires"
    );
    let Some(Change::DeleteServerCertificate { certificate }) = &result.findings[0].change else {
        panic!("{:?}", result.findings[0].change)
    };
    assert_eq!(
        certificate.body.as_deref(),
        Some("BODY"),
        "the body goes to the journal"
    );

    let reported = plan(&policy("  serverCertificates:\n    action: report\n"), &observed, now());
    assert!(reported.findings[0].change.is_none());
}

fn role_with(name: &str, path: &str, permissions: RolePermissions) -> Role {
    Role {
        name: name.into(),
        arn: format!("arn:aws:iam::123456789012:role{path}{name}"),
        tags: BTreeMap::new(),
        trust_policy: String::new(),
        quarantined: false,
        permissions: Some(permissions),
    }
}

fn role_policies(attached: Vec<ManagedPolicy>, inline: Vec<InlinePolicy>) -> RolePermissions {
    RolePermissions {
        attached,
        inline,
        boundary: None,
        created: ago(days(400)),
        last_used: Some(ago(days(1))),
    }
}

#[test]
fn role_permissions_detach_admin_and_forbidden_report_the_bounded_and_skip_aws_roles() {
    let p = policy(
        "  rolePermissions:\n    forbidAdmin: true\n    forbiddenPolicies: [arn:aws:iam::aws:policy/AWSCloudShellFullAccess]\n    reportEscalation: true\n    maxUnused: 180d\n    action: detach\n",
    );
    let bounded = RolePermissions {
        boundary: Some(aws_policy("ReadOnlyAccess")),
        ..role_policies(vec![aws_policy("AdministratorAccess")], vec![])
    };
    let idle = RolePermissions {
        last_used: None,
        ..role_policies(vec![aws_policy("ReadOnlyAccess")], vec![])
    };
    let roles = vec![
        role_with(
            "ci",
            "/",
            role_policies(vec![aws_policy("AdministratorAccess")], vec![]),
        ),
        role_with(
            "etl",
            "/",
            role_policies(vec![], vec![inline("star", &allowing(&["*"]))]),
        ),
        role_with(
            "shell",
            "/",
            role_policies(vec![aws_policy("AWSCloudShellFullAccess")], vec![]),
        ),
        role_with("bounded", "/", bounded),
        role_with(
            "deployer",
            "/",
            role_policies(
                vec![],
                vec![inline("pass", &allowing(&["iam:PassRole", "lambda:CreateFunction"]))],
            ),
        ),
        role_with("idle", "/", idle),
        role_with(
            "AWSServiceRoleForSupport",
            "/aws-service-role/support.amazonaws.com/",
            role_policies(vec![aws_policy("AdministratorAccess")], vec![]),
        ),
    ];
    let observed = Observed {
        roles: Some(roles),
        ..Observed::default()
    };
    let result = plan(&p, &observed, now());
    let found: Vec<(String, Action)> = result
        .findings
        .iter()
        .filter(|f| f.rule == Rule::RolePermissions)
        .map(|f| (f.resource.to_string(), f.action()))
        .collect();
    assert_eq!(
        found,
        [
            ("role/deployer".to_owned(), Action::Report),
            ("role/idle".to_owned(), Action::Report),
            ("role-policy/bounded/AdministratorAccess".to_owned(), Action::Report),
            (
                "role-policy/ci/AdministratorAccess".to_owned(),
                Action::DetachRolePolicy
            ),
            (
                "role-policy/shell/AWSCloudShellFullAccess".to_owned(),
                Action::DetachRolePolicy
            ),
            ("role-inline-policy/etl/star".to_owned(), Action::DeleteRolePolicy),
        ]
    );
    let reasons: Vec<&str> = result.findings.iter().map(|f| f.reason.as_str()).collect();
    assert!(reasons[0].contains("pass-role-to-lambda"), "{reasons:?}");
    assert!(reasons[1].starts_with("role never used since its creation"));
    assert!(reasons[2].contains("permissions boundary ReadOnlyAccess is not admin-equivalent"));
}

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

// ---- user-permissions ----

const PERMISSIONS: &str = "  userPermissions:\n    allowDirectPolicies: false\n    forbidAdmin: true\n    reportEscalation: true\n    action: detach\n";

fn allowing(actions: &[&str]) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
        .to_string()
}

fn aws_policy(name: &str) -> ManagedPolicy {
    ManagedPolicy {
        arn: format!("arn:aws:iam::aws:policy/{name}"),
        name: name.to_owned(),
        document: None,
    }
}

fn inline(name: &str, document: &str) -> InlinePolicy {
    InlinePolicy {
        name: name.to_owned(),
        document: document.to_owned(),
    }
}

fn with_permissions(name: &str, permissions: Permissions) -> User {
    User {
        permissions: Some(permissions),
        ..user(name)
    }
}

/// `(resource, action)` of every finding of rule user-permissions.
fn permission_findings(plan: &Plan) -> Vec<(String, Action)> {
    plan.findings
        .iter()
        .filter(|f| f.rule == Rule::UserPermissions)
        .map(|f| (f.resource.to_string(), f.action()))
        .collect()
}

#[test]
fn a_forbidden_policy_is_detached_in_any_partition_even_where_direct_policies_are_allowed() {
    let p = policy(
        "  userPermissions:\n    forbidAdmin: true\n    forbiddenPolicies: [arn:aws:iam::aws:policy/AWSCloudShellFullAccess]\n    action: detach\n",
    );
    let gov_cloud = ManagedPolicy {
        arn: "arn:aws-us-gov:iam::aws:policy/AWSCloudShellFullAccess".into(),
        ..aws_policy("AWSCloudShellFullAccess")
    };
    let users = vec![
        with_permissions(
            "shell",
            Permissions {
                attached: vec![aws_policy("AWSCloudShellFullAccess"), aws_policy("ReadOnlyAccess")],
                ..Default::default()
            },
        ),
        with_permissions(
            "gov",
            Permissions {
                attached: vec![gov_cloud],
                ..Default::default()
            },
        ),
        // A policy of the same name in a customer account is another policy.
        with_permissions(
            "lookalike",
            Permissions {
                attached: vec![ManagedPolicy {
                    arn: "arn:aws:iam::123456789012:policy/AWSCloudShellFullAccess".into(),
                    ..aws_policy("AWSCloudShellFullAccess")
                }],
                ..Default::default()
            },
        ),
    ];
    let result = plan(&p, &with_users(users), now());
    assert_eq!(
        permission_findings(&result),
        [
            (
                "user-policy/gov/AWSCloudShellFullAccess".to_owned(),
                Action::DetachUserPolicy
            ),
            (
                "user-policy/shell/AWSCloudShellFullAccess".to_owned(),
                Action::DetachUserPolicy
            ),
        ]
    );
    assert_eq!(
        result.findings[0].reason,
        "attached policy AWSCloudShellFullAccess is forbidden by forbiddenPolicies"
    );
}

#[test]
fn group_permissions_take_the_admin_policy_from_the_group_and_its_members_stay() {
    let p = policy(&format!(
        "{PERMISSIONS}  groupPermissions:\n    forbidAdmin: true\n    forbiddenPolicies: [arn:aws:iam::aws:policy/AWSCloudShellFullAccess]\n    action: detach\n"
    ));
    let admins = Group {
        name: "admins".into(),
        attached: vec![aws_policy("AdministratorAccess"), aws_policy("ReadOnlyAccess")],
        inline: vec![inline("star", &allowing(&["*"]))],
    };
    let shell = Group {
        name: "shell".into(),
        attached: vec![aws_policy("AWSCloudShellFullAccess")],
        inline: vec![],
    };
    let member = with_permissions(
        "operator",
        Permissions {
            groups: vec![admins.clone()],
            ..Default::default()
        },
    );
    let observed = Observed {
        groups: Some(vec![admins, shell]),
        ..with_users(vec![member])
    };
    let result = plan(&p, &observed, now());
    let found: Vec<(String, Action)> = result
        .findings
        .iter()
        .map(|f| (f.resource.to_string(), f.action()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "group-policy/admins/AdministratorAccess".to_owned(),
                Action::DetachGroupPolicy
            ),
            (
                "group-policy/shell/AWSCloudShellFullAccess".to_owned(),
                Action::DetachGroupPolicy
            ),
            ("group-inline-policy/admins/star".to_owned(), Action::DeleteGroupPolicy),
        ],
        "the group loses its admin policies; operator stays in it"
    );
    let reported = policy(&format!(
        "{PERMISSIONS}  groupPermissions:\n    forbidAdmin: true\n    action: report\n"
    ));
    let result = plan(&reported, &observed, now());
    assert!(
        result
            .findings
            .iter()
            .any(|f| f.action() == Action::RemoveUserFromGroup),
        "a group rule that only reports leaves user-permissions to act"
    );
}

#[test]
fn a_group_s_members_are_judged_again_only_when_what_it_grants_could_change_their_findings() {
    let group = |attached: Vec<ManagedPolicy>, inline: Vec<InlinePolicy>| Group {
        name: "team".into(),
        attached,
        inline,
    };
    let reader = group(
        vec![aws_policy("ReadOnlyAccess")],
        vec![inline("s3", &allowing(&["s3:Get*"]))],
    );
    let admin = group(vec![aws_policy("AdministratorAccess")], vec![]);
    let star = group(vec![], vec![inline("star", &allowing(&["*"]))]);
    let deny = serde_json::json!({"Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]});
    let denying = group(vec![], vec![inline("no-iam", &deny.to_string())]);
    let unreadable = group(vec![], vec![inline("broken", "{not json")]);
    let forbid = policy("  userPermissions: {forbidAdmin: true, action: detach}\n");
    let allow = policy("  userPermissions: {forbidAdmin: false, reportEscalation: true}\n");
    let group_rule =
        policy("  userPermissions: {forbidAdmin: true}\n  groupPermissions: {forbidAdmin: true, action: detach}\n");
    let cases = [
        (&forbid, &reader, false, "grants nothing judged of a member"),
        (&forbid, &admin, true, "admin through the group"),
        (&forbid, &star, true, "an inline policy allowing everything"),
        (
            &allow,
            &admin,
            false,
            "admin is not judged; escalation sets are a member's own",
        ),
        (
            &group_rule,
            &admin,
            false,
            "the group rule takes the admin policy from the group itself",
        ),
        (&allow, &denying, true, "a deny can narrow a member's own admin policy"),
        (&allow, &unreadable, true, "unreadable, judged towards the safer answer"),
        (
            &policy("  mfa: {requireForConsoleUsers: true}\n"),
            &admin,
            false,
            "no user-permissions rule",
        ),
    ];
    for (policy, group, expected, why) in cases {
        assert_eq!(super::judges_members(policy, group, now()), expected, "{why}");
    }
    let observed = |group: &Group| Observed {
        groups: Some(vec![group.clone()]),
        ..Observed::default()
    };
    let named = |group: &Group| plan(&forbid, &observed(group), now()).groups_judging_members;
    assert_eq!(
        named(&admin),
        [Name::from("team")],
        "a group read live names its members"
    );
    assert!(named(&reader).is_empty());
}

#[test]
fn user_permissions_detach_admin_and_direct_policies_and_leave_groups_alone() {
    let admins = Group {
        name: "admins".into(),
        attached: vec![aws_policy("AdministratorAccess")],
        inline: vec![],
    };
    let readers = Group {
        name: "readers".into(),
        attached: vec![aws_policy("ReadOnlyAccess")],
        inline: vec![inline("s3", &allowing(&["s3:Get*"]))],
    };
    let users = vec![
        with_permissions(
            "admin",
            Permissions {
                attached: vec![aws_policy("AdministratorAccess")],
                ..Default::default()
            },
        ),
        with_permissions(
            "star",
            Permissions {
                inline: vec![inline("everything", &allowing(&["*"]))],
                ..Default::default()
            },
        ),
        with_permissions(
            "grouped",
            Permissions {
                groups: vec![admins.clone()],
                ..Default::default()
            },
        ),
        with_permissions(
            "reader",
            Permissions {
                groups: vec![readers],
                ..Default::default()
            },
        ),
        with_permissions(
            "direct",
            Permissions {
                inline: vec![inline("s3", &allowing(&["s3:GetObject"]))],
                ..Default::default()
            },
        ),
    ];
    let result = plan(&policy(PERMISSIONS), &with_users(users), now());
    assert_eq!(
        permission_findings(&result),
        [
            (
                "user-policy/admin/AdministratorAccess".to_owned(),
                Action::DetachUserPolicy
            ),
            ("inline-policy/direct/s3".to_owned(), Action::DeleteUserPolicy),
            ("inline-policy/star/everything".to_owned(), Action::DeleteUserPolicy),
            (
                "group-membership/grouped/admins".to_owned(),
                Action::RemoveUserFromGroup
            ),
        ],
        "the reader's group grants no admin, and is nobody's to change; a quarantine is not the user's own"
    );
    let star = result
        .findings
        .iter()
        .find(|f| f.resource.to_string().starts_with("inline-policy/star"))
        .unwrap();
    assert_eq!(
        star.reason,
        "inline policy everything is admin-equivalent: it allows every action on every resource"
    );
    assert_eq!(
        star.before["document"],
        allowing(&["*"]),
        "the document goes to the audit log before the delete"
    );
}

#[test]
fn escalation_sets_are_reported_with_their_names_and_never_acted_on() {
    let allowed = PERMISSIONS.replace("allowDirectPolicies: false", "allowDirectPolicies: true");
    let users = vec![
        with_permissions(
            "versions",
            Permissions {
                inline: vec![inline("p", &allowing(&["iam:CreatePolicyVersion"]))],
                ..Default::default()
            },
        ),
        with_permissions(
            "lambda",
            Permissions {
                inline: vec![inline("p", &allowing(&["iam:PassRole", "lambda:CreateFunction"]))],
                ..Default::default()
            },
        ),
        with_permissions(
            "harmless",
            Permissions {
                inline: vec![inline("p", &allowing(&["s3:GetObject"]))],
                ..Default::default()
            },
        ),
        with_permissions(
            "garbled",
            Permissions {
                inline: vec![inline("p", "{not json")],
                ..Default::default()
            },
        ),
    ];
    let result = plan(&policy(&allowed), &with_users(users), now());
    assert_eq!(
        permission_findings(&result),
        [
            ("user/garbled".to_owned(), Action::Report),
            ("user/lambda".to_owned(), Action::Report),
            ("user/versions".to_owned(), Action::Report),
        ]
    );
    let reasons: Vec<&str> = result.findings.iter().map(|f| f.reason.as_str()).collect();
    assert!(reasons[0].starts_with("policy p cannot be judged"), "{reasons:?}");
    assert_eq!(
        reasons[1],
        "the user's own policies allow known privilege-escalation sets: pass-role-to-lambda (iam:passrole + lambda:createfunction)"
    );
    assert!(reasons[2].contains("create-policy-version (iam:createpolicyversion)"));

    let report = policy(&PERMISSIONS.replace("action: detach", "action: report"));
    let admin = with_permissions(
        "admin",
        Permissions {
            attached: vec![aws_policy("IAMFullAccess")],
            ..Default::default()
        },
    );
    assert_eq!(
        permission_findings(&plan(&report, &with_users(vec![admin]), now())),
        [("user-policy/admin/IAMFullAccess".to_owned(), Action::Report)]
    );
}

// ---- password-reset ----

const RESET: &str = "  passwordPolicy:\n    minimumLength: 14\n    allowUsersToChangePassword: true\n    resetPasswordsSetBefore: 2026-11-01\n";

fn with_password(name: &str, created: &str, changed: Option<&str>, reset_required: bool) -> User {
    user(name).login_profile(Some(LoginProfile {
        created: created.parse().unwrap(),
        reset_required,
        password_last_changed: changed.map(|c| c.parse().unwrap()),
        password_last_used: LastUse::NotRead,
    }))
}

#[test]
fn passwords_set_before_the_date_must_be_chosen_again() {
    let users = vec![
        with_password("old", "2025-01-01T00:00:00Z", Some("2026-10-01T00:00:00Z"), false),
        with_password("changed", "2025-01-01T00:00:00Z", Some("2026-11-10T00:00:00Z"), false),
        with_password("already", "2025-01-01T00:00:00Z", Some("2026-10-01T00:00:00Z"), true),
        with_password("unknown", "2025-01-01T00:00:00Z", None, false),
        with_password("new-profile", "2026-11-05T00:00:00Z", None, false),
        user("no-console"),
    ];
    let result = plan(&policy(RESET), &with_users(users), now());
    let flagged: Vec<(String, Action)> = result
        .findings
        .iter()
        .filter(|f| f.rule == Rule::PasswordReset)
        .map(|f| (f.resource.to_string(), f.action()))
        .collect();
    assert_eq!(
        flagged,
        [("user/old".to_owned(), Action::RequirePasswordReset)],
        "a password changed since, a reset already required, an unknown change, a newer profile: none"
    );
    assert_eq!(
        result
            .findings
            .iter()
            .find(|f| f.rule == Rule::PasswordReset)
            .unwrap()
            .reason,
        "console password last set 2026-10-01, before resetPasswordsSetBefore 2026-11-01: the user must choose a new one at the next sign-in"
    );
}

// ---- oidc-trust ----

const TRUST: &str = r#"  oidcTrust:
    subjects:
      token.actions.githubusercontent.com: ["repo:my-org/*"]
      app.terraform.io: ["organization:my-org:*"]
      oidc.eks.*.amazonaws.com/id/*: ["system:serviceaccount:*:*"]
    requireAudience: true
    action: quarantine
"#;

const GITHUB: &str = "token.actions.githubusercontent.com";

/// A trust policy letting `issuer`'s identities assume the role under `conditions`.
fn web_identity(issuer: &str, conditions: serde_json::Value) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{issuer}")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": conditions,
    }]})
    .to_string()
}

/// GitHub with the audience pinned and `sub` under `operator`.
fn github(operator: &str, sub: serde_json::Value) -> String {
    let mut conditions = serde_json::json!({"StringEquals": {format!("{GITHUB}:aud"): "sts.amazonaws.com"}});
    conditions[operator][format!("{GITHUB}:sub")] = sub;
    web_identity(GITHUB, conditions)
}

fn role(name: &str, trust_policy: String) -> Role {
    Role {
        name: Name::from(name),
        arn: format!("arn:aws:iam::123456789012:role/{name}"),
        tags: BTreeMap::new(),
        trust_policy,
        quarantined: false,
        permissions: None,
    }
}

fn judged(p: &Policy, roles: Vec<Role>) -> Plan {
    let observed = Observed {
        roles: Some(roles),
        ..Observed::default()
    };
    plan(p, &observed, now())
}

/// Trust policies with what rule `oidc-trust` asks of each: one per operator and case.
fn trust_cases() -> [(&'static str, String, Option<Action>); 14] {
    [
        (
            "no-condition",
            web_identity(
                GITHUB,
                serde_json::json!({"StringEquals": {format!("{GITHUB}:aud"): "sts.amazonaws.com"}}),
            ),
            Some(Action::QuarantineRole),
        ),
        ("any", github("StringLike", "*".into()), Some(Action::QuarantineRole)),
        (
            "any-repo",
            github("StringLike", "repo:*".into()),
            Some(Action::QuarantineRole),
        ),
        (
            "prefix",
            github("StringLike", "repo:my-org*".into()),
            Some(Action::QuarantineRole),
        ),
        ("allowed", github("StringLike", "repo:my-org/*".into()), None),
        (
            "exact",
            github("StringEquals", "repo:my-org/app:ref:refs/heads/main".into()),
            None,
        ),
        (
            "other-org",
            github("StringLike", "repo:other-org/app:*".into()),
            Some(Action::QuarantineRole),
        ),
        (
            "for-all-values",
            github("ForAllValues:StringLike", "repo:my-org/*".into()),
            Some(Action::QuarantineRole),
        ),
        (
            "if-exists",
            github("StringLikeIfExists", "repo:my-org/*".into()),
            Some(Action::QuarantineRole),
        ),
        (
            "negated",
            github("StringNotEquals", "repo:evil/x:ref:main".into()),
            Some(Action::QuarantineRole),
        ),
        (
            "third-bad",
            github(
                "StringLike",
                serde_json::json!(["repo:my-org/a:*", "repo:my-org/b:*", "repo:*"]),
            ),
            Some(Action::QuarantineRole),
        ),
        (
            "any-value",
            github("ForAnyValue:StringLike", "repo:my-org/*".into()),
            None,
        ),
        (
            "no-audience",
            web_identity(
                GITHUB,
                serde_json::json!({"StringLike": {format!("{GITHUB}:sub"): "repo:my-org/*"}}),
            ),
            Some(Action::Report),
        ),
        (
            "unknown-issuer",
            web_identity(
                "oidc.example.com",
                serde_json::json!({"StringEquals": {"oidc.example.com:sub": "me", "oidc.example.com:aud": "x"}}),
            ),
            Some(Action::QuarantineRole),
        ),
    ]
}

#[test]
fn oidc_trust_judges_every_value_and_operator() {
    let p = policy(TRUST);
    for (name, trust, expected) in trust_cases() {
        let result = judged(&p, vec![role(name, trust)]);
        let got = result.findings.first().map(|f| f.action());
        assert_eq!(
            got,
            expected,
            "{name}: {:?}",
            result.findings.first().map(|f| &f.reason)
        );
    }
}

#[test]
fn oidc_trust_findings_say_what_to_change() {
    let p = policy(TRUST);
    let third = github(
        "StringLike",
        serde_json::json!(["repo:my-org/a:*", "repo:my-org/b:*", "repo:*"]),
    );
    let finding = &judged(&p, vec![role("r", third)]).findings[0];
    assert_eq!(
        finding.reason,
        "statement #1: StringLike on token.actions.githubusercontent.com:sub admits \"repo:*\", which also matches \"repo:x\", outside the allowed subjects (repo:my-org/*)",
        "only the third value, with the operator, a subject it lets in, and the allowed patterns"
    );
    let details = &finding.details.as_ref().unwrap()[0];
    assert_eq!(details["problem"], "uncovered");
    assert_eq!(details["value"], "repo:*");
    assert_eq!(details["allowed"], serde_json::json!(["repo:my-org/*"]));

    let loose = judged(
        &p,
        vec![role("r", github("StringLikeIfExists", "repo:my-org/*".into()))],
    );
    assert!(
        loose.findings[0].reason.contains("its only conditions on token.actions.githubusercontent.com:sub are StringLikeIfExists, which hold when the claim is absent"),
        "{}",
        loose.findings[0].reason
    );
}

#[test]
fn oidc_trust_leaves_other_issuers_and_principals_to_their_owners() {
    let p = policy(TRUST);
    let eks = web_identity(
        "oidc.eks.eu-west-1.amazonaws.com/id/ABC",
        serde_json::json!({"StringEquals": {
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:ci:deployer",
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com"}}),
    );
    let terraform = web_identity(
        "app.terraform.io",
        serde_json::json!({"StringEquals": {"app.terraform.io:aud": "aws.workload.identity"},
                           "StringLike": {"app.terraform.io:sub": "organization:my-org:project:*:workspace:*:run_phase:*"}}),
    );
    let service = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}).to_string();
    let denied = serde_json::json!({"Statement": [{"Effect": "Deny",
        "Principal": {"Federated": format!("arn:aws:iam::1:oidc-provider/{GITHUB}")}, "Action": "sts:AssumeRoleWithWebIdentity"}]}).to_string();
    let unscoped = github("StringLike", serde_json::json!("repo:*"));
    let mut owned_by_aws = [
        role("AWSServiceRoleForCI", unscoped.clone()),
        role("AWSReservedSSO_Admin_0123", unscoped.clone()),
    ];
    owned_by_aws[0].arn = "arn:aws:iam::123456789012:role/aws-service-role/ci.amazonaws.com/AWSServiceRoleForCI".into();
    owned_by_aws[1].arn =
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123".into();
    let mut roles = vec![
        role("eks", eks),
        role("terraform", terraform),
        role("lambda", service),
        role("deny", denied),
    ];
    roles.extend(owned_by_aws);
    let result = judged(&p, roles);
    assert!(result.findings.is_empty(), "{:?}", result.findings);
    // The same trust on a role of the account's own is a finding.
    assert_eq!(judged(&p, vec![role("mine", unscoped)]).findings.len(), 1);
}

#[test]
fn oidc_trust_quarantine_is_kept_lifted_exempt_and_never_taken_on_a_malformed_document() {
    let p = policy(&format!(
        "{TRUST}  exemptions:\n    - roles: [legacy]\n      reason: migrating off repo:* by March\n"
    ));
    let bad = || github("StringLike", "repo:*".into());
    let good = || github("StringLike", "repo:my-org/*".into());
    let quarantined = |name: &str, trust: String| Role {
        quarantined: true,
        ..role(name, trust)
    };
    let result = judged(
        &p,
        vec![
            quarantined("still-bad", bad()),
            quarantined("fixed", good()),
            role("legacy", bad()),
            role("garbled", "{\"Statement\": 7}".into()),
        ],
    );
    let summary: Vec<(String, Action, bool)> = result
        .findings
        .iter()
        .map(|f| (f.resource.to_string(), f.action(), f.exempt.is_some()))
        .collect();
    assert_eq!(
        summary,
        [
            ("role/fixed".to_owned(), Action::LiftQuarantine, false),
            ("role/garbled".to_owned(), Action::Report, false),
            ("role/legacy".to_owned(), Action::QuarantineRole, true),
        ],
        "a quarantined bad role is in spec"
    );
    assert!(
        result.findings[1]
            .reason
            .starts_with("the trust policy cannot be judged")
    );
}

// ---- quarantine policies ----

#[test]
fn a_tampered_quarantine_policy_is_restored_and_the_shipped_one_left_alone() {
    let p = policy(MFA);
    let live = |document: String| LiveQuarantinePolicy {
        policy: QuarantinePolicy::DenyWithoutMfa,
        arn: "arn:aws:iam::123456789012:policy/iam-warden/iam-warden-deny-without-mfa".into(),
        default_version: "v2".into(),
        document,
    };
    let observe = |policies| Observed {
        caller: Caller {
            arn: "arn:aws:iam::123456789012:user/warden".into(),
            ..Caller::default()
        },
        quarantine_policies: Some(policies),
        ..Observed::default()
    };
    let shipped = QuarantinePolicy::DenyWithoutMfa.document("aws");
    assert!(plan(&p, &observe(vec![live(shipped)]), now()).findings.is_empty());

    let allow_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let tampered = plan(&p, &observe(vec![live(allow_all.into())]), now());
    assert_eq!(
        actions(&tampered),
        [(
            Rule::Mfa,
            "policy/iam-warden/iam-warden-deny-without-mfa".into(),
            Action::RestoreQuarantinePolicy
        )]
    );
    assert_eq!(
        tampered.findings[0].before["document"]["Statement"][0]["Action"], "*",
        "the audit log keeps the tampered document"
    );
}

// ---- whole plan ----

#[test]
fn audit_mode_plans_the_same_actions() {
    let enforce = policy(KEYS);
    let audit = policy(&format!("  mode: audit\n{KEYS}"));
    let observed = with_users(vec![user("a").keys(vec![key("AKIAOLD", days(100), None, true)])]);
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
    let observed = with_users(vec![user("a").keys(vec![key("AKIAOLD", days(100), None, true)])]);
    let json = serde_json::to_value(plan(&p, &observed, now())).unwrap();
    assert_eq!(json["findings"][0]["action"], "deactivate-access-key");
    assert_eq!(json["findings"][0]["rule"], "access-keys");
    assert_eq!(
        json["findings"][0]["resource"],
        serde_json::json!({"kind": "access-key", "user": "a", "id": "AKIAOLD"})
    );
}

// ---- oidc-trust, judged exactly ----

mod trust_witnesses {
    use proptest::prelude::*;

    use super::*;
    use crate::plan::coverage::Glob;

    /// The admitted subjects of one condition value under `operator`.
    fn admits(operator: &str, value: &str, subject: &str) -> bool {
        match operator {
            "StringLike" => Glob::like(value).matches(subject),
            "StringEqualsIgnoreCase" => value.eq_ignore_ascii_case(subject),
            _ => value == subject,
        }
    }

    fn sub_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("repo:"),
                Just("my-org/"),
                Just("a"),
                Just("*"),
                Just("?"),
                Just("X")
            ],
            0..5,
        )
        .prop_map(|parts| parts.concat())
    }

    fn operator() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("StringLike"), Just("StringEquals"), Just("StringEqualsIgnoreCase")]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every witness a finding names, every condition of its statement
        /// admits and no allowed pattern matches; a statement whose
        /// conditions no subject meets together is no finding.
        #[test]
        fn every_witness_meets_every_condition_and_no_allowed_pattern(
            conditions in proptest::collection::btree_map(operator(), proptest::collection::vec(sub_text(), 1..3), 1..3),
        ) {
            let p = policy(TRUST);
            let mut json = serde_json::json!({"StringEquals": {format!("{GITHUB}:aud"): "sts.amazonaws.com"}});
            for (operator, values) in &conditions {
                json[*operator][format!("{GITHUB}:sub")] = serde_json::json!(values);
            }
            let result = judged(&p, vec![role("r", web_identity(GITHUB, json))]);
            let admitted = |subject: &str| {
                conditions.iter().all(|(op, values)| values.iter().any(|v| admits(op, v, subject)))
            };
            let allowed = |subject: &str| Glob::like("repo:my-org/*").matches(subject);
            for finding in &result.findings {
                for detail in finding.details.as_ref().and_then(|d| d.as_array()).into_iter().flatten() {
                    if let Some(witness) = detail["witness"].as_str() {
                        prop_assert!(admitted(witness), "{witness:?} is not admitted by {conditions:?}");
                        prop_assert!(!allowed(witness), "{witness:?} is allowed");
                    }
                }
            }
            // Every breach here is a value with a witness every condition
            // admits: a statement no subject meets makes none.
            for finding in result.findings.iter().filter(|f| f.change.is_some()) {
                let details = finding.details.as_ref().and_then(|d| d.as_array()).cloned().unwrap_or_default();
                prop_assert!(
                    details.iter().any(|d| d["problem"] == "uncovered" && d["witness"].is_string()),
                    "{:?}", finding.reason
                );
            }
        }
    }
}

#[test]
fn oidc_trust_judges_google_and_a_deny_that_scopes_the_subject() {
    let p = policy(&TRUST.replace(
        "      oidc.eks",
        "      accounts.google.com: [\"1234567890\"]\n      oidc.eks",
    ));
    let google = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"accounts.google.com:aud": "app"}}}]});
    let provider = format!("arn:aws:iam::123456789012:oidc-provider/{GITHUB}");
    let denied = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": {"StringEquals": {format!("{GITHUB}:aud"): "sts.amazonaws.com"}}},
        {"Effect": "Deny", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": {"StringNotLike": {format!("{GITHUB}:sub"): "repo:my-org/*"}}}]});
    let uncertain = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": {"StringEquals": {format!("{GITHUB}:aud"): "sts.amazonaws.com"}}},
        {"Effect": "Deny", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": {"StringNotLike": {format!("{GITHUB}:sub"): "repo:my-org/*"}, "Bool": {"aws:SecureTransport": "false"}}}]});
    let cases = [
        ("google", google.to_string(), Some(Action::QuarantineRole)),
        ("denied", denied.to_string(), None),
        ("uncertain", uncertain.to_string(), Some(Action::QuarantineRole)),
    ];
    for (name, trust, expected) in cases {
        let result = judged(&p, vec![role(name, trust)]);
        assert_eq!(
            result.findings.first().map(Finding::action),
            expected,
            "{name}: {:?}",
            result.findings
        );
    }
}

// ---- releasing quarantines ----

#[test]
fn a_quarantine_is_lifted_once_no_rule_holds_it() {
    let held = |mut r: Role| {
        r.quarantined = true;
        r
    };
    let bad = || held(role("bad", github("StringLike", serde_json::json!("repo:*"))));
    let exempt = "  exemptions:\n    - roles: [BAD]\n      reason: investigating\n";
    let cases = [
        (TRUST.to_owned(), bad(), None),
        (
            TRUST.replace("quarantine", "report"),
            bad(),
            Some("no longer quarantines"),
        ),
        (format!("{TRUST}{exempt}"), bad(), Some("an exemption covers the role")),
        (
            "  mfa: {requireForConsoleUsers: true, action: report}\n".to_owned(),
            bad(),
            Some("no longer has an oidcTrust section"),
        ),
        (
            TRUST.to_owned(),
            held(role("fixed", github("StringLike", serde_json::json!("repo:my-org/*")))),
            Some("admits only allowed subjects again"),
        ),
    ];
    for (spec, role, lifted) in cases {
        let result = judged(&policy(&spec), vec![role]);
        let lift = result.findings.iter().find(|f| f.action() == Action::LiftQuarantine);
        assert_eq!(lift.is_some(), lifted.is_some(), "{spec}: {:?}", result.findings);
        if let (Some(lift), Some(why)) = (lift, lifted) {
            assert!(lift.reason.contains(why) && lift.exempt.is_none(), "{}", lift.reason);
        }
    }
}
