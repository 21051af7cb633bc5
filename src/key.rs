//! What a reconcile is about. Work is keyed by resource, not by event, so a
//! burst of events about one user becomes one reconcile.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A full resync of everything the policy manages.
    All,
    PasswordPolicy,
    User(String),
    Role(String),
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
            Key::OidcProvider(arn) => write!(f, "oidc-provider/{arn}"),
            other => f.write_str(other.kind()),
        }
    }
}
