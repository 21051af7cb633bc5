//! The decision: `plan(policy, observed, now)` is pure, so every rule is
//! table-tested and dry-run is only a matter of not executing the result.

mod access_keys;
mod change;
mod cis;
mod cloudtrail;
mod console_access;
mod coverage;
mod escalation;
mod exempt;
mod grants;
mod group_permissions;
mod mfa;
mod oidc_providers;
mod oidc_trust;
mod password_policy;
mod password_reset;
mod permissions;
mod quarantine_policies;
mod records;
mod release;
mod reversal;
mod role_permissions;
mod server_certificates;
#[cfg(test)]
mod tests;
mod user_permissions;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use change::{Action, Change, Resource, actions_of};
pub use exempt::tags_could_change;
pub use records::{PASSWORD_RESET_TAG, deactivation_tag, stamp};
pub use reversal::{current, still_as_left};

use crate::name::Name;
use crate::policy::{Mode, Policy, Rule};
use crate::state::{Group, LiveQuarantinePolicy, Observed};

/// Plain data: printable as JSON, and all the executor needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub mode: Mode,
    pub findings: Vec<Finding>,
    /// The earliest moment something now compliant will violate, or an
    /// exemption in use will lapse: when to look again.
    pub next_deadline: Option<DateTime<Utc>>,
    /// Every such moment with its rule and resource, for scheduling one key
    /// (and the facets of it that rule judges), not a resync.
    #[serde(skip)]
    pub deadlines: Vec<(Rule, Resource, DateTime<Utc>)>,
    /// Groups, read live, whose policies could change rule
    /// `user-permissions`'s findings about their members: each member is to
    /// be judged again.
    #[serde(skip)]
    pub groups_judging_members: Vec<Name>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub rule: Rule,
    pub resource: Resource,
    pub severity: Severity,
    /// What it asks for; `None`: a report, no change.
    #[serde(rename = "action", serialize_with = "action_label")]
    pub change: Option<Change>,
    pub reason: String,
    /// The exemption's reason, when one covers this finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempt: Option<String>,
    /// The resource as observed, so the audit log keeps what a change replaced.
    pub before: serde_json::Value,
    /// The reason as data, where a rule has more to say than one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Out of spec now.
    Violation,
    /// In spec, but will not be for long (`warnBefore`); never drift.
    Warning,
    /// In spec; iam-warden keeps a record on the resource that a later
    /// decision depends on (when a key was deactivated). Never drift.
    Housekeeping,
}

fn action_label<S: serde::Serializer>(change: &Option<Change>, serializer: S) -> Result<S::Ok, S::Error> {
    change
        .as_ref()
        .map_or(Action::Report, Change::action)
        .serialize(serializer)
}

impl Finding {
    /// The name of what it asks for.
    pub fn action(&self) -> Action {
        self.change.as_ref().map_or(Action::Report, Change::action)
    }

    /// Out of spec and not exempt: what exit codes and alerts count.
    pub fn is_drift(&self) -> bool {
        self.severity == Severity::Violation && self.exempt.is_none()
    }

    /// Calls for a change in AWS: drift with a fix, or housekeeping.
    pub fn is_actionable(&self) -> bool {
        self.exempt.is_none() && self.change.is_some() && self.severity != Severity::Warning
    }

    /// Drift that a change fixes: what `remediations_total` counts.
    pub fn is_remediation(&self) -> bool {
        self.is_drift() && self.change.is_some()
    }

    /// The order findings are listed in: by rule, then resource, then action.
    pub fn order(&self) -> (Rule, &Resource, Action) {
        (self.rule, &self.resource, self.action())
    }

    /// The same decision about the same thing, as a fresh read may find it again.
    pub fn same_decision(&self, other: &Finding) -> bool {
        self.order() == other.order()
    }
}

impl Plan {
    pub fn new(mode: Mode, findings: Vec<Finding>, deadlines: Vec<(Rule, Resource, DateTime<Utc>)>) -> Plan {
        Plan {
            mode,
            findings,
            next_deadline: deadlines.iter().map(|(_, _, at)| *at).min(),
            deadlines,
            groups_judging_members: Vec::new(),
        }
    }

    pub fn in_spec(&self) -> bool {
        !self.findings.iter().any(Finding::is_drift)
    }
}

/// Rule `group-permissions` takes admin policies from `group` itself: it
/// detaches them, and no exemption covers the group.
/// Whether a change to `group`'s policies could change rule
/// `user-permissions`'s findings about its members, so that they must be
/// read and judged again.
pub fn judges_members(policy: &Policy, group: &Group, now: DateTime<Utc>) -> bool {
    let fixed = group_rule_fixes(policy, &group.name, now);
    let rule = policy.user_permissions.as_ref();
    rule.is_some_and(|rule| user_permissions::judges_members(rule, group, fixed))
}

fn group_rule_fixes(policy: &Policy, group: &Name, now: DateTime<Utc>) -> bool {
    let resource = Resource::GroupPolicy {
        group: group.clone(),
        arn: String::new(),
    };
    policy
        .group_permissions
        .as_ref()
        .is_some_and(|g| g.fixes_admin_groups())
        && exempt::covering(&policy.exemptions, Rule::GroupPermissions, &resource, None, now).is_none()
}

pub fn plan(policy: &Policy, observed: &Observed, now: DateTime<Utc>) -> Plan {
    let mut draft = Draft {
        now,
        findings: Vec::new(),
        deadlines: Vec::new(),
    };
    if let (Some(desired), Some(current)) = (&policy.password_policy, &observed.password_policy) {
        password_policy::evaluate(desired, current, &mut draft);
    }
    let held_users = match &policy.mfa {
        Some(rule) => mfa::evaluate(rule, observed, &mut draft),
        None => Default::default(),
    };
    for user in &observed.users {
        if let Some(rule) = &policy.access_keys {
            access_keys::evaluate(rule, user, &mut draft);
        }
        if let Some(rule) = &policy.password_reset {
            password_reset::evaluate(rule, user, &mut draft);
        }
        if let Some(rule) = &policy.console_access {
            console_access::evaluate(rule, user, &mut draft);
        }
        if let Some(rule) = &policy.user_permissions {
            let fixed = |group: &Name| group_rule_fixes(policy, group, now);
            user_permissions::evaluate(rule, user, &observed.caller, &fixed, &mut draft);
        }
    }
    if let (Some(rule), Some(providers)) = (&policy.oidc_providers, &observed.oidc_providers) {
        oidc_providers::evaluate(rule, providers, &mut draft);
    }
    if let (Some(rule), Some(trails)) = (&policy.cloudtrail, &observed.trails) {
        cloudtrail::evaluate(rule, trails, &mut draft);
    }
    if let (Some(action), Some(certificates)) = (policy.server_certificates, &observed.server_certificates) {
        server_certificates::evaluate(action, certificates, &mut draft);
    }
    if let Some(rule) = &policy.cis {
        cis::evaluate(rule, observed, &mut draft);
    }
    if let (Some(rule), Some(groups)) = (&policy.group_permissions, &observed.groups) {
        group_permissions::evaluate(rule, groups, &mut draft);
    }
    if let (Some(rule), Some(roles)) = (&policy.role_permissions, &observed.roles) {
        role_permissions::evaluate(rule, roles, &observed.caller, &mut draft);
    }
    let held_roles = match (&policy.oidc_trust, &observed.roles) {
        (Some(rule), Some(roles)) => oidc_trust::evaluate(rule, roles, &mut draft),
        _ => Default::default(),
    };
    release::evaluate(policy, observed, &held_users, &held_roles, &mut draft);
    if let Some(live) = &observed.quarantine_policies {
        quarantine_policies::evaluate(live, observed.caller.partition(), &mut draft);
    }
    exempt::apply(&policy.exemptions, observed, &mut draft);
    draft.findings.sort_by(|a, b| a.order().cmp(&b.order()));
    let mut plan = Plan::new(policy.mode, draft.findings, draft.deadlines);
    let groups = observed.groups.iter().flatten();
    let judging = groups.filter(|group| judges_members(policy, group, now));
    plan.groups_judging_members = judging.map(|group| group.name.clone()).collect();
    plan
}

/// The findings about iam-warden's own quarantine policies alone: the
/// executor's check before it attaches one.
pub fn quarantine_policy_findings(live: &[LiveQuarantinePolicy], partition: &str, now: DateTime<Utc>) -> Vec<Finding> {
    let mut draft = Draft {
        now,
        findings: Vec::new(),
        deadlines: Vec::new(),
    };
    quarantine_policies::evaluate(live, partition, &mut draft);
    draft.findings
}

/// Rule `oidc-trust`'s reasons about one role with `trust_policy`, under
/// `policy`: the planner end to end on one untrusted document. Public, through
/// the crate root, for the fuzz targets.
pub fn judge_trust_policy(policy: &Policy, trust_policy: &str) -> Vec<String> {
    let role = crate::state::Role {
        name: crate::name::Name::from("fuzzed"),
        arn: "arn:aws:iam::123456789012:role/fuzzed".to_owned(),
        tags: Default::default(),
        trust_policy: crate::document::decode(trust_policy),
        quarantined: false,
        permissions: None,
    };
    let observed = Observed {
        roles: Some(vec![role]),
        ..Observed::default()
    };
    plan(policy, &observed, Utc::now())
        .findings
        .into_iter()
        .map(|f| f.reason)
        .collect()
}

/// Findings and deadlines as the rules produce them.
struct Draft {
    now: DateTime<Utc>,
    findings: Vec<Finding>,
    deadlines: Vec<(Rule, Resource, DateTime<Utc>)>,
}

impl Draft {
    fn violation(
        &mut self,
        rule: Rule,
        resource: Resource,
        change: Option<Change>,
        reason: String,
        before: &(impl Serialize + ?Sized),
    ) -> &mut Finding {
        self.push(rule, resource, Severity::Violation, change, reason, before)
    }

    fn warning(&mut self, rule: Rule, resource: Resource, reason: String, before: &(impl Serialize + ?Sized)) {
        self.push(rule, resource, Severity::Warning, None, reason, before);
    }

    /// `change` is `None` only where no change can be named (a key the
    /// credential report describes): the finding then names a suspect.
    fn housekeeping(
        &mut self,
        rule: Rule,
        resource: Resource,
        change: Option<Change>,
        reason: String,
        before: &(impl Serialize + ?Sized),
    ) {
        self.push(rule, resource, Severity::Housekeeping, change, reason, before);
    }

    fn push(
        &mut self,
        rule: Rule,
        resource: Resource,
        severity: Severity,
        change: Option<Change>,
        reason: String,
        before: &(impl Serialize + ?Sized),
    ) -> &mut Finding {
        let before = serde_json::to_value(before).unwrap_or(serde_json::Value::Null);
        self.findings.push(Finding {
            rule,
            resource,
            severity,
            change,
            reason,
            exempt: None,
            before,
            details: None,
        });
        self.findings.last_mut().expect("just pushed")
    }

    /// Remembers a future moment at which the state will change on its own.
    fn deadline(&mut self, rule: Rule, resource: &Resource, at: DateTime<Utc>) {
        if at > self.now {
            self.deadlines.push((rule, resource.clone(), at));
        }
    }
}
