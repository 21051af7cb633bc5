//! `iam-warden check`: the exact text of the errors a person sees.

use std::process::Command;

fn check(yaml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, yaml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_iam-warden"))
        .arg("check")
        .arg("--policy")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&path.display().to_string(), "FILE");
    (output.status.code().unwrap(), stderr)
}

/// Only the `FILE:LINE:COLUMN: message` lines, without the quoted source.
fn errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("FILE:") || line.starts_with("FILE:"))
        .collect()
}

const HEAD: &str = "apiVersion: iamwarden.dev/v1alpha1\nkind: AccountPolicy\nmetadata:\n  name: t\nspec:\n";

#[test]
fn the_example_policy_is_valid() {
    let output = Command::new(env!("CARGO_BIN_EXE_iam-warden"))
        .arg("check")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "config/policy.yaml: valid policy `production`\n"
    );
}

#[test]
fn an_unknown_key_names_the_allowed_ones() {
    let (code, stderr) = check(&format!("{HEAD}  accessKeys:\n    maxAge: 90d\n    maxage: 30d\n"));
    assert_eq!(code, 1);
    assert_eq!(
        errors(&stderr),
        [
            "FILE:8:5: unknown field `maxage`, expected one of maxAge, maxUnused, deleteAfter, warnBefore, maxActive, action"
        ]
    );
    assert!(
        stderr.contains("    |     maxage: 30d\n    |     ^"),
        "the source line and a caret follow:\n{stderr}"
    );
}

#[test]
fn a_wrong_enum_value_names_the_allowed_ones() {
    let (code, stderr) = check(&format!("{HEAD}  mfa:\n    action: lock-out\n"));
    assert_eq!(code, 1);
    assert_eq!(
        errors(&stderr),
        ["FILE:7:13: unknown variant `lock-out`, expected one of report, deny-until-mfa, disable-console"]
    );
}

#[test]
fn every_semantic_error_is_reported_at_its_place() {
    let yaml = format!(
        "{HEAD}  passwordPolicy:
    minimumLength: 4
    reusePrevention: 25
  mfa:
    gracePeriod: 1 day
  accessKeys:
    maxAge: 0d
    warnBefore: 14d
  oidcProviders:
    allowedIssuers: [token.actions.githubusercontent.com, oidc.eks.*x.amazonaws.com]
  exemptions:
    - users: [bob]
      rules: [mfa, keys]
      reason: on leave
      expires: 2027-02-30
    - users: [carol]
"
    );
    let (code, stderr) = check(&yaml);
    assert_eq!(code, 1);
    assert_eq!(
        errors(&stderr),
        [
            "FILE:7:20: minimumLength must be between 6 and 128, not 4",
            "FILE:8:22: reusePrevention must be between 1 and 24, not 25",
            "FILE:10:18: invalid duration `1 day`: write a whole number and one unit of s, m, h or d, like `90d` or `24h`",
            "FILE:12:13: duration `0d` must be greater than zero",
            "FILE:15:59: invalid issuer pattern `oidc.eks.*x.amazonaws.com`: `*` must stand alone for a whole DNS label or path segment",
            "FILE:18:20: unknown rule `keys`, expected one of password-policy, password-reset, mfa, console-access, access-keys, user-permissions, group-permissions, oidc-providers, oidc-trust, role-permissions, cloudtrail, server-certificates, cis",
            "FILE:20:16: invalid date `2027-02-30`: write it as YYYY-MM-DD",
            "FILE:21:7: an exemption needs a `reason`, so the next reader knows why it exists",
        ]
    );
}

#[test]
fn access_analyzer_regions_are_region_names() {
    let (code, stderr) = check(&format!(
        "{HEAD}  cis:\n    accessAnalyzerRegions: [eu-west-1, us-gov-west-1, evil.example.com/x, us-east]\n"
    ));
    assert_eq!(code, 1);
    assert_eq!(
        errors(&stderr),
        [
            "FILE:7:55: `evil.example.com/x` is not a region name, like eu-west-1",
            "FILE:7:75: `us-east` is not a region name, like eu-west-1",
        ]
    );
}

#[test]
fn forbidden_policies_are_managed_policy_arns_and_max_active_fits_iam() {
    let (code, stderr) = check(&format!(
        "{HEAD}  accessKeys:\n    maxActive: 3\n  userPermissions:\n    forbiddenPolicies: [AWSCloudShellFullAccess]\n"
    ));
    assert_eq!(code, 1);
    assert_eq!(
        errors(&stderr),
        [
            "FILE:7:16: maxActive must be between 1 and 2, not 3",
            "FILE:9:25: `AWSCloudShellFullAccess` is not a managed policy's ARN, like arn:aws:iam::aws:policy/AWSCloudShellFullAccess",
        ]
    );
}

#[test]
fn warn_before_must_fit_inside_max_age() {
    let (_, stderr) = check(&format!("{HEAD}  accessKeys:\n    maxAge: 10d\n    warnBefore: 14d\n"));
    assert_eq!(errors(&stderr), ["FILE:8:17: warnBefore must be shorter than maxAge"]);
    let (_, stderr) = check(&format!("{HEAD}  accessKeys:\n    warnBefore: 14d\n"));
    assert_eq!(
        errors(&stderr),
        ["FILE:7:17: warnBefore needs maxAge: it warns of keys about to reach maxAge"]
    );
}

#[test]
fn header_and_syntax_errors() {
    let (_, stderr) = check("apiVersion: v1\nkind: Policy\nmetadata: {name: t}\nspec: {}\n");
    assert_eq!(
        errors(&stderr),
        [
            "FILE:1:13: apiVersion must be `iamwarden.dev/v1alpha1`",
            "FILE:2:7: kind must be `AccountPolicy`"
        ]
    );
    let (code, stderr) = check(&format!("{HEAD}  mfa: [unclosed\n"));
    assert_eq!(code, 1);
    assert_eq!(errors(&stderr).len(), 1, "{stderr}");
    assert!(errors(&stderr)[0].starts_with("FILE:6:8: "), "{stderr}");
}

#[test]
fn an_exemption_names_users_or_a_tag() {
    let (_, stderr) = check(&format!(
        "{HEAD}  exemptions:\n    - users: [a]\n      tag: t\n      reason: r\n"
    ));
    assert_eq!(
        errors(&stderr),
        ["FILE:7:7: an exemption names exactly one of `users`, `roles` or `groups` (a non-empty list) or a `tag`"]
    );
}

#[test]
fn a_missing_file_is_one_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_iam-warden"))
        .args(["check", "--policy", "/nonexistent/policy.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("/nonexistent/policy.yaml: cannot read the policy file: No such file"),
        "{stderr}"
    );
}

#[test]
fn the_schema_describes_the_policy_file() {
    let output = Command::new(env!("CARGO_BIN_EXE_iam-warden"))
        .arg("schema")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["title"], "AccountPolicy");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(
        schema["$defs"]["AccessKeysSpec"]["properties"]["maxAge"]["pattern"],
        "^[0-9]+[smhd]$"
    );
    assert_eq!(
        schema["$defs"]["MfaAction"]["enum"],
        serde_json::json!(["report", "deny-until-mfa", "disable-console"])
    );
}

#[test]
fn oidc_trust_errors_point_at_the_issuer_and_the_subject() {
    let yaml = format!(
        "{HEAD}  oidcTrust:
    subjects:
      token.actions.githubusercontent.com: [\"repo:my-org/*\", \"\"]
      oidc.*x.example.com: [\"a\"]
    action: lock
"
    );
    let (code, stderr) = check(&yaml);
    assert_eq!(code, 1);
    assert_eq!(
        errors(&stderr),
        ["FILE:10:13: unknown variant `lock`, expected one of report, quarantine"]
    );
    let yaml = yaml.replace("action: lock", "action: quarantine");
    let (code, stderr) = check(&yaml);
    assert_eq!(code, 1);
    assert_eq!(
        errors(&stderr),
        [
            "FILE:8:62: a subject pattern cannot be empty",
            "FILE:9:7: invalid issuer pattern `oidc.*x.example.com`: `*` must stand alone for a whole DNS label or path segment",
        ]
    );
}

#[test]
fn a_password_reset_needs_users_able_to_change_their_password() {
    let (code, stderr) = check(&format!(
        "{HEAD}  passwordPolicy:\n    minimumLength: 14\n    resetPasswordsSetBefore: 2026-11-24\n"
    ));
    assert_eq!(code, 1);
    assert_eq!(
        errors(&stderr),
        [
            "FILE:8:30: resetPasswordsSetBefore needs allowUsersToChangePassword: true, or users could not choose a new password"
        ]
    );
    let (code, _) = check(&format!(
        "{HEAD}  passwordPolicy:\n    minimumLength: 14\n    allowUsersToChangePassword: true\n    resetPasswordsSetBefore: 2026-11-24\n"
    ));
    assert_eq!(code, 0);
}
