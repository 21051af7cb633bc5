//! The judge: Prowler's CIS checks for the IAM controls iam-warden enforces
//! (design.md §8.3) fail on a seeded account before one `apply` and pass
//! after it. Prowler reads what the emulator holds, not what iam-warden says.

use support::{Moto, prowler};

/// Prowler 5.46's checks for CIS section 2 that iam-warden enforces. Its
/// privilege-escalation checks pass every policy (their pinned py-iam-expand
/// fails on a retired service, and the error is swallowed), so iam-warden's
/// own tests judge escalation.
const CHECKS: [&str; 15] = [
    "iam_password_policy_minimum_length_14",
    "iam_password_policy_reuse_24",
    "iam_user_mfa_enabled_console_access",
    "iam_user_console_access_unused",
    "iam_user_accesskey_unused",
    "iam_user_two_active_access_key",
    "iam_rotate_access_key_90_days",
    "iam_policy_attached_only_to_group_or_roles",
    "iam_aws_attached_policy_no_administrative_privileges",
    "iam_customer_attached_policy_no_administrative_privileges",
    "iam_inline_policy_no_administrative_privileges",
    "iam_group_administrator_access_policy",
    "iam_role_administratoraccess_policy",
    "iam_no_expired_server_certificates_stored",
    "iam_policy_cloudshell_admin_not_attached",
];

#[test]
fn prowler_fails_each_enforced_cis_check_before_one_apply_and_none_after() {
    let prowler = match prowler() {
        Ok(prowler) => prowler,
        Err(reason) => {
            eprintln!("SKIPPED: Prowler cannot be installed on this machine, so it cannot judge: {reason}");
            return;
        }
    };
    let moto = Moto::start();
    moto.seed(&["cis"]);
    let before = moto.prowler_failures(&prowler, &CHECKS);
    let unbroken: Vec<_> = CHECKS.iter().filter(|c| !before.contains_key(**c)).collect();
    assert!(
        unbroken.is_empty(),
        "the seed breaks every check; these pass: {unbroken:?}"
    );

    let policy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cis-enforced.yaml");
    let apply = moto.warden(&["apply", "--policy", policy.to_str().unwrap()]);
    assert!(
        apply.stdout.contains(", failed 0,"),
        "{}\n{}",
        apply.stdout,
        apply.stderr
    );

    // Prowler reads the credential report, which AWS makes anew only once
    // the last one is four hours old; the emulator is told they have passed.
    moto.expire_credential_report();
    let after = moto.prowler_failures(&prowler, &CHECKS);
    assert!(
        after.is_empty(),
        "still failing after one apply: {after:#?}\n{}",
        apply.stdout
    );
}
