//! The full scan, as a fan-out: read the cheap account-wide facts, screen
//! them, and name the keys worth reading live, one by one.
//!
//! Users are screened through the credential report, which AWS reuses for
//! up to four hours; tags and attached policies come from the account's
//! authorization details, read live. A user the report cannot describe
//! (created since it was generated, or deleted and created again under the
//! same name) is a suspect without being screened. The screen's plan never
//! leaves this module: only keys, facets and deadlines do.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::authorization::{self, UserDetails};
use super::documents::PolicyDocuments;
use super::passwords::PasswordChanges;
use super::{access_analyzer, cloudtrail, credential_report, iam, quarantine, when};
use crate::aws::Clients;
use crate::error::Error;
use crate::name::Name;
use crate::plan;
use crate::policy::Policy;
use crate::state::{Caller, Console, Group, Observed, Role, User};
use crate::work::{Facets, Key, facets_of, key_for};

/// What the full scan names: each key to read live and reconcile on its own.
#[derive(Debug, Default)]
pub struct Suspects {
    /// Every key the screen has a finding about, with the facets its findings
    /// are about, and every user the report does not describe, whole.
    pub keys: BTreeMap<Key, Facets>,
    /// Every deadline the screen saw, each with its key and the facets its rule judges.
    pub deadlines: Vec<(Key, Facets, DateTime<Utc>)>,
    /// What the authorization details showed of each user, live: a
    /// reconcile right after the scan need not read it again.
    pub seen: HashMap<Name, Seen>,
}

/// A user's tags and MFA quarantine, as the authorization details showed them.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub tags: BTreeMap<String, String>,
    pub quarantined: bool,
}

pub(super) async fn scan(
    clients: &Clients,
    caller: &Caller,
    policy: &Policy,
    passwords: &PasswordChanges,
    documents: &PolicyDocuments,
    now: DateTime<Utc>,
) -> Result<Suspects, Error> {
    let iam = &clients.iam;
    let (
        password_policy,
        root,
        support_roles,
        access_analyzers,
        oidc_providers,
        trails,
        server_certificates,
        quarantine_policies,
        accounts,
    ) = tokio::try_join!(
        when(policy.password_policy.is_some(), iam::password_policy(iam)),
        iam::root(iam, policy),
        iam::support_roles(iam, caller, policy),
        access_analyzer::analyzers(clients, policy),
        when(policy.oidc_providers.is_some(), iam::oidc_providers(iam)),
        when(policy.cloudtrail.is_some(), cloudtrail::trails(clients)),
        when(policy.server_certificates.is_some(), iam::server_certificates(iam)),
        // Whatever the policy, a quarantine policy still attached somewhere must not be tampered with.
        when(true, quarantine::quarantine_policies(iam, caller)),
        identities(iam, caller, policy, documents),
    )?;
    let Identities {
        users,
        unscreened,
        roles,
        groups,
    } = accounts;
    passwords.learn(&users);
    let seen = users
        .iter()
        .filter_map(|u| {
            let tags = u.tags.clone()?;
            let quarantined = u.console.as_ref().is_some_and(|c| c.quarantined);
            Some((u.name.clone(), Seen { tags, quarantined }))
        })
        .collect();
    let screened = Observed {
        caller: caller.clone(),
        password_policy,
        root,
        support_roles,
        access_analyzers,
        users,
        oidc_providers,
        trails,
        roles,
        quarantine_policies,
        server_certificates,
        groups,
    };
    let plan = plan::plan(policy, &screened, now);
    let mut keys: BTreeMap<Key, Facets> = BTreeMap::new();
    let named = plan
        .findings
        .iter()
        .map(|f| (key_for(&f.resource), facets_of(f.rule)))
        .chain(unscreened.into_iter().map(|name| (Key::User(name), Facets::ALL)));
    for (key, facets) in named {
        let entry = keys.entry(key).or_default();
        *entry = *entry | facets;
    }
    // A suspect keeps its deadlines too: a rule it is not a suspect for may
    // have one, and the queue merges them into one reconcile of every facet.
    let deadlines = plan
        .deadlines
        .into_iter()
        .map(|(rule, resource, at)| (key_for(&resource), facets_of(rule), at))
        .collect();
    Ok(Suspects { keys, deadlines, seen })
}

pub fn manages_users(policy: &Policy) -> bool {
    policy.mfa.as_ref().is_some_and(|m| m.require_for_console_users)
        || policy.access_keys.is_some()
        || policy.password_reset.is_some()
        || policy.console_access.is_some()
        || policy.user_permissions.is_some()
}

/// The identities, as the scan sees them.
#[derive(Default)]
struct Identities {
    /// Users as the credential report describes them, completed with their
    /// tags, their quarantine and their permissions from the live details;
    /// or, when no rule judges users, as the details alone show them.
    users: Vec<User>,
    /// Users the report cannot describe.
    unscreened: Vec<Name>,
    roles: Option<Vec<Role>>,
    /// With rule `group-permissions`, every group and its policies.
    groups: Option<Vec<Group>>,
}

/// Users and roles from one paginated read of the authorization details,
/// and users screened through the credential report. Every user and role is
/// read whatever the policy: a quarantine iam-warden holds must be found to
/// be released.
async fn identities(
    iam: &aws_sdk_iam::Client,
    caller: &Caller,
    policy: &Policy,
    documents: &PolicyDocuments,
) -> Result<Identities, Error> {
    let judged = authorization::Judged {
        user_permissions: policy.user_permissions.is_some(),
        group_permissions: policy.group_permissions.is_some(),
        role_permissions: policy.role_permissions.is_some(),
    };
    let permissions = judged.user_permissions;
    let began = std::time::Instant::now();
    let (report, details) = tokio::try_join!(
        when(manages_users(policy), credential_report::credential_report(iam)),
        authorization::authorization_details(iam, judged, caller),
    )?;
    // Reconciles after the scan read no default version it read.
    documents.remember(began, details.default_versions);
    let roles = Some(details.roles);
    let groups = judged.group_permissions.then_some(details.groups);
    let Some(report) = report else {
        let users = details.users.into_iter().map(bare).collect();
        return Ok(Identities {
            users,
            unscreened: Vec::new(),
            roles,
            groups,
        });
    };
    let (users, unscreened) = screen(report.users, details.users, permissions);
    tracing::info!(
        report_age_seconds = (Utc::now() - report.generated).num_seconds(),
        users = users.len(),
        not_in_report = unscreened.len(),
        "credential report read"
    );
    Ok(Identities {
        users,
        unscreened,
        roles,
        groups,
    })
}

/// A user as the details alone show it: its tags and whether the quarantine holds it.
fn bare(detail: UserDetails) -> User {
    User {
        name: detail.name,
        created: Some(detail.created),
        tags: Some(detail.tags),
        console: Some(Console {
            login_profile: None,
            mfa_devices: 0,
            quarantined: detail.quarantined,
        }),
        access_keys: None,
        permissions: None,
    }
}

/// Pairs each live user with its report row. A row describes the user it was
/// written for: the same name, created at the same second (the report's
/// precision). A user with no such row was created since the report, or
/// deleted and created again under the same name; rows of users that no
/// longer exist are dropped. The live details complete the row: tags, the
/// MFA quarantine, and the permissions when they are judged.
fn screen(rows: Vec<User>, details: Vec<UserDetails>, permissions: bool) -> (Vec<User>, Vec<Name>) {
    let mut rows: HashMap<Name, User> = rows.into_iter().map(|u| (u.name.clone(), u)).collect();
    let (mut users, mut unscreened) = (Vec::new(), Vec::new());
    for detail in details {
        match rows.remove(&detail.name) {
            Some(mut user) if user.created.map(|c| c.timestamp()) == Some(detail.created.timestamp()) => {
                if let Some(console) = &mut user.console {
                    console.quarantined = detail.quarantined;
                }
                user.tags = Some(detail.tags);
                user.permissions = permissions.then_some(detail.permissions);
                users.push(user);
            }
            _ => unscreened.push(detail.name),
        }
    }
    (users, unscreened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Permissions;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn row(name: &str, created: &str) -> User {
        User {
            name: Name::from(name),
            created: Some(at(created)),
            tags: None,
            console: Some(Console {
                login_profile: None,
                mfa_devices: 0,
                quarantined: false,
            }),
            access_keys: Some(Vec::new()),
            permissions: None,
        }
    }

    fn live(name: &str, created: &str, quarantined: bool) -> UserDetails {
        UserDetails {
            name: Name::from(name),
            created: at(created),
            tags: BTreeMap::from([("team".to_owned(), "a".to_owned())]),
            permissions: Permissions::default(),
            quarantined,
        }
    }

    #[test]
    fn a_row_describes_the_user_created_at_its_second_and_no_other() {
        let rows = vec![
            row("same-second", "2026-11-24T10:00:05Z"),
            row("recreated", "2026-11-01T00:00:00Z"),
            row("deleted", "2026-11-01T00:00:00Z"),
        ];
        let details = vec![
            // The report's times have whole seconds; IAM's have fractions.
            live("same-second", "2026-11-24T10:00:05.734Z", true),
            live("recreated", "2026-11-24T09:00:00.1Z", false),
            live("newcomer", "2026-11-24T10:00:06Z", false),
        ];
        let (users, unscreened) = screen(rows, details, true);
        assert_eq!(users.len(), 1);
        assert!(
            users[0].console.as_ref().unwrap().quarantined,
            "completed from the live details"
        );
        assert_eq!(users[0].tags.as_ref().unwrap()["team"], "a");
        assert!(users[0].permissions.is_some());
        assert_eq!(unscreened, ["recreated", "newcomer"]);
    }
}
