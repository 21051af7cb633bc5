//! What the daemon's queue carries: reconciles keyed by resource, so a burst
//! of events about one user becomes one reconcile, and the two control
//! messages that are not about one resource: a full resync of an account,
//! and reading who is in a group whose policies changed.

use std::fmt;
use std::ops::BitOr;

use chrono::{DateTime, Utc};

use crate::account::AccountId;
use crate::name::Name;
use crate::plan::Resource;
use crate::policy::Rule;
use crate::written::Written;

/// One resource of one account: what a reconcile is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Work {
    pub account: AccountId,
    pub key: Key,
}

/// A resource a reconcile reads live, judges and fixes on its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    PasswordPolicy,
    /// The root user, and the account-wide facts rule `cis` reports.
    Root,
    User(Name),
    Role(Name),
    /// A group's own policies (rule `group-permissions`).
    Group(Name),
    OidcProvider(String),
    /// The whole provider list, for a provider created without a known ARN.
    OidcProviders,
    Trails,
    /// iam-warden's own quarantine policies, whose default version is checked.
    QuarantinePolicies,
    /// The server certificates stored in IAM.
    ServerCertificates,
}

/// An item of the daemon's queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    Reconcile(Work),
    /// The full scan of an account, which names the keys to reconcile.
    Resync(AccountId),
    /// Something that changed what several identities may do, each of which
    /// only a read can name.
    Expand(AccountId, Expansion),
}

/// A change to many identities' permissions at once: the event names what
/// changed, and a read names whom it changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expansion {
    /// A group's policies changed: each member's permissions did.
    GroupMembers(String),
    /// A managed policy has a new default version: each user, group and
    /// role it is attached to (and each such group's members) may do otherwise.
    PolicyHolders(String),
}

/// A fixed label per kind of task, for metrics; never a name or an ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "kebab-case")]
pub enum Kind {
    All,
    PasswordPolicy,
    Root,
    User,
    Role,
    Group,
    OidcProvider,
    Trails,
    QuarantinePolicies,
    ServerCertificates,
    Policy,
}

impl Key {
    pub fn kind(&self) -> Kind {
        match self {
            Key::PasswordPolicy => Kind::PasswordPolicy,
            Key::Root => Kind::Root,
            Key::User(_) => Kind::User,
            Key::Role(_) => Kind::Role,
            Key::Group(_) => Kind::Group,
            Key::OidcProvider(_) | Key::OidcProviders => Kind::OidcProvider,
            Key::Trails => Kind::Trails,
            Key::QuarantinePolicies => Kind::QuarantinePolicies,
            Key::ServerCertificates => Kind::ServerCertificates,
        }
    }
}

impl Task {
    pub fn account(&self) -> &AccountId {
        match self {
            Task::Reconcile(work) => &work.account,
            Task::Resync(account) | Task::Expand(account, _) => account,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::User(name) => write!(f, "user/{name}"),
            Key::Role(name) => write!(f, "role/{name}"),
            Key::Group(name) => write!(f, "group/{name}"),
            Key::OidcProvider(arn) => write!(f, "oidc-provider/{arn}"),
            Key::OidcProviders => f.write_str("oidc-provider"),
            other => f.write_str(other.kind().into()),
        }
    }
}

/// How a log line names the task; its account is a field of its own.
impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Task::Reconcile(work) => work.key.fmt(f),
            Task::Resync(_) => f.write_str("all"),
            Task::Expand(_, Expansion::GroupMembers(group)) => write!(f, "group-members/{group}"),
            Task::Expand(_, Expansion::PolicyHolders(arn)) => write!(f, "policy/{arn}"),
        }
    }
}

/// The parts of a user a reconcile reads and judges. An event names the parts
/// it can change (UpdateAccessKey: the keys), and its reconcile reads only
/// those, live, and judges them whole; a resync names the parts its findings
/// are about. Other keys have a single part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Facets(u8);

impl Facets {
    /// The login profile, its MFA devices and its MFA quarantine.
    pub const CONSOLE: Facets = Facets(1);
    pub const KEYS: Facets = Facets(2);
    /// Attached and inline policies, and groups.
    pub const PERMISSIONS: Facets = Facets(4);
    pub const ALL: Facets = Facets(7);

    pub fn contains(self, other: Facets) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Facets {
    type Output = Facets;
    fn bitor(self, other: Facets) -> Facets {
        Facets(self.0 | other.0)
    }
}

impl fmt::Display for Facets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Facets::CONSOLE, "console"),
            (Facets::KEYS, "keys"),
            (Facets::PERMISSIONS, "permissions"),
        ];
        let parts: Vec<&str> = names
            .iter()
            .filter(|(p, _)| self.contains(*p))
            .map(|(_, n)| *n)
            .collect();
        f.write_str(&parts.join("+"))
    }
}

/// The CloudTrail event behind a queued task, for the audit log and latency.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub event_id: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    /// The call set the user's password, at `event_time`.
    pub sets_password: bool,
    /// Carried by the reconcile again a while later, as IAM's reads may lag
    /// its writes: that one is not rechecked again.
    pub recheck: bool,
    /// What the event wrote, when it says: a read that shows it came after.
    pub written: Option<Written>,
}

/// What a waiter on a task is told: it (and whatever it led to) succeeded,
/// or failed and is retried after this long.
pub type Answer = Result<(), std::time::Duration>;

/// The key whose reconcile re-judges `resource`.
pub fn key_for(resource: &Resource) -> Key {
    match resource {
        Resource::PasswordPolicy => Key::PasswordPolicy,
        Resource::User { name }
        | Resource::AccessKey { user: name, .. }
        | Resource::UserPolicy { user: name, .. }
        | Resource::InlinePolicy { user: name, .. }
        | Resource::GroupMembership { user: name, .. } => Key::User(name.clone()),
        Resource::Role { name } => Key::Role(name.clone()),
        Resource::RolePolicy { role, .. } | Resource::RoleInlinePolicy { role, .. } => Key::Role(role.clone()),
        Resource::GroupPolicy { group, .. } | Resource::GroupInlinePolicy { group, .. } => Key::Group(group.clone()),
        Resource::OidcProvider { arn, .. } => Key::OidcProvider(arn.clone()),
        Resource::Trail { .. } | Resource::Account => Key::Trails,
        Resource::ServerCertificate { .. } => Key::ServerCertificates,
        Resource::QuarantinePolicy { .. } => Key::QuarantinePolicies,
        Resource::Root | Resource::SupportRole | Resource::AccessAnalyzer { .. } => Key::Root,
    }
}

/// The facets of a user that a rule judges.
pub fn facets_of(rule: Rule) -> Facets {
    match rule {
        Rule::AccessKeys => Facets::KEYS,
        Rule::Mfa | Rule::PasswordReset | Rule::ConsoleAccess => Facets::CONSOLE,
        Rule::UserPermissions => Facets::PERMISSIONS,
        _ => Facets::ALL,
    }
}
