//! Any trust policy document, as IAM might return it (URL-encoded or raw):
//! rule oidc-trust reports or passes it, never panics, never hangs.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

static POLICY: LazyLock<iam_warden::Policy> = LazyLock::new(|| {
    let text = r#"apiVersion: iamwarden.dev/v1alpha1
kind: AccountPolicy
metadata: {name: fuzz}
spec:
  oidcTrust:
    subjects:
      token.actions.githubusercontent.com: ["repo:my-org/*", "repo:other/?x*:ref:*"]
      oidc.eks.*.amazonaws.com/id/*: ["system:serviceaccount:*:*"]
    requireAudience: true
    action: quarantine
"#;
    iam_warden::Policy::parse(Path::new("fuzz.yaml"), text).expect("the fuzz policy is valid")
});

fuzz_target!(|document: &str| {
    let _ = iam_warden::judge_trust_policy(&POLICY, document);
});
