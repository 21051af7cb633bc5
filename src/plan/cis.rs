//! Rule `cis`: the controls of the CIS AWS Foundations Benchmark's IAM
//! section that no API can fix, judged so that `plan` shows the whole
//! section. Each is a violation with no change: only the root user can
//! delete its keys or replace its MFA, which role should handle incidents
//! with AWS Support is a person's choice, and an analyzer's findings need
//! someone to read them.

use super::{Draft, Resource};
use crate::policy::{CisReport, Rule};
use crate::state::Observed;

pub(super) fn evaluate(rule: &CisReport, observed: &Observed, draft: &mut Draft) {
    if let Some(root) = &observed.root {
        if rule.root_access_keys && root.access_keys {
            let reason = "the root user has an access key (CIS 2.3); delete it, signed in as root".to_owned();
            draft.violation(Rule::Cis, Resource::Root, None, reason, root);
        }
        let not_hardware = match (root.mfa, root.virtual_mfa) {
            (false, _) => Some("no MFA device"),
            (true, Some(true)) => Some("a virtual MFA device"),
            (true, _) => None,
        };
        if let Some(found) = not_hardware.filter(|_| rule.root_hardware_mfa) {
            let reason = format!("the root user has {found}, not a hardware one (CIS 2.5)");
            draft.violation(Rule::Cis, Resource::Root, None, reason, root);
        }
    }
    if let Some(roles) = observed
        .support_roles
        .as_ref()
        .filter(|r| rule.support_role && r.is_empty())
    {
        let reason = "no role has AWSSupportAccess to handle incidents with AWS Support (CIS 2.16)".to_owned();
        draft.violation(Rule::Cis, Resource::SupportRole, None, reason, roles);
    }
    for analyzer in observed.access_analyzers.iter().flatten().filter(|a| !a.active) {
        let region = analyzer.region.clone();
        let reason = format!("no IAM Access Analyzer is active in {region} (CIS 2.19)");
        draft.violation(Rule::Cis, Resource::AccessAnalyzer { region }, None, reason, analyzer);
    }
}
