//! What a reconcile is about. Work is keyed by resource, not by event, so a
//! burst of events about one user becomes one reconcile.

use std::fmt;
use std::ops::BitOr;
use std::sync::Arc;

/// An account id, or `None` for the caller's own when no accounts are set.
pub type AccountId = Option<Arc<str>>;

/// A key in its account: the unit of work of the daemon's queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Work {
    pub account: AccountId,
    pub key: Key,
}

impl Work {
    pub fn new(account: &AccountId, key: Key) -> Work {
        Work {
            account: account.clone(),
            key,
        }
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.account {
            Some(account) => write!(f, "{account}/{}", self.key),
            None => self.key.fmt(f),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A full resync of everything the policy manages.
    All,
    PasswordPolicy,
    User(String),
    Role(String),
    /// Each member of a group, whose policies changed.
    Group(String),
    OidcProvider(String),
    /// The whole provider list, for a provider created without a known ARN.
    OidcProviders,
    Trails,
    /// iam-warden's own quarantine policies, whose default version is checked.
    QuarantinePolicies,
}

impl Key {
    /// A fixed label per variant, for metrics; never a name or an ARN.
    pub fn kind(&self) -> &'static str {
        match self {
            Key::All => "all",
            Key::PasswordPolicy => "password-policy",
            Key::User(_) => "user",
            Key::Role(_) => "role",
            Key::Group(_) => "group",
            Key::OidcProvider(_) | Key::OidcProviders => "oidc-provider",
            Key::Trails => "trails",
            Key::QuarantinePolicies => "quarantine-policies",
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
            other => f.write_str(other.kind()),
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
