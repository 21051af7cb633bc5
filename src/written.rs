//! What a read shows once it has caught up with an event's write.
//!
//! IAM's reads lag its writes, so a reconcile that finds nothing to change
//! reads its key again a while later. That second read is needed only when
//! the first may have come before the write: an event that says what it
//! wrote (the policy it attached, the document it put) lets the first read
//! prove it came after. A write the read does not show, or an event that
//! does not say what it wrote, keeps the second read: this only ever saves
//! a read, never skips one that could find something.

use serde_json::Value;

use crate::document;
use crate::name::Name;
use crate::state::{AccessKey, InlinePolicy, ManagedPolicy, Observed};

/// One identity's state as an event left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub principal: Principal,
    pub fact: Fact,
}

/// The identity an event wrote to.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    User(Name),
    Group(Name),
    Role(Name),
}

/// What the write left, each compared as IAM compares: policy names and
/// ARNs without case, documents as JSON (IAM keeps neither the spacing nor
/// the order of keys one wrote).
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    /// The role trusts exactly this document.
    Trusts(Value),
    /// This managed policy is attached.
    Attached(String),
    /// This managed policy is not attached.
    Detached(String),
    /// The inline policy of this name holds exactly this document.
    Inline { name: String, document: Value },
    /// No inline policy has this name.
    NoInline(String),
    /// The user's access key of this id is active, or inactive.
    Key { id: String, active: bool },
    /// The user has no access key of this id.
    NoKey(String),
}

/// An identity's own policies, as far as a read shows them.
struct Policies<'a> {
    attached: &'a [ManagedPolicy],
    inline: &'a [InlinePolicy],
}

impl Written {
    /// Whether `observed` shows the write: `false` whenever it cannot tell,
    /// as when the identity or the facet the write changed was not read.
    pub fn shown_by(&self, observed: &Observed) -> bool {
        match (&self.principal, &self.fact) {
            (Principal::Role(name), Fact::Trusts(document)) => {
                role(observed, name).is_some_and(|r| same_document(&r.trust_policy, document))
            }
            (Principal::User(name), Fact::Key { id, active }) => keys(observed, name)
                .is_some_and(|keys| keys.iter().any(|k| k.id.as_ref() == Some(id) && k.active == *active)),
            (Principal::User(name), Fact::NoKey(id)) => {
                keys(observed, name).is_some_and(|keys| keys.iter().all(|k| k.id.as_ref().is_some_and(|k| k != id)))
            }
            _ => self.policies(observed).is_some_and(|p| p.show(&self.fact)),
        }
    }

    fn policies<'a>(&self, observed: &'a Observed) -> Option<Policies<'a>> {
        match &self.principal {
            Principal::User(name) => {
                let user = observed.users.iter().find(|u| u.name == *name)?;
                let permissions = user.permissions.as_ref()?;
                Some(Policies {
                    attached: &permissions.attached,
                    inline: &permissions.inline,
                })
            }
            Principal::Group(name) => {
                // The group itself, or as a member's read holds it.
                let members = observed.users.iter().filter_map(|u| u.permissions.as_ref());
                let mut groups = observed.groups.iter().flatten().chain(members.flat_map(|p| &p.groups));
                let group = groups.find(|g| g.name == *name)?;
                Some(Policies {
                    attached: &group.attached,
                    inline: &group.inline,
                })
            }
            Principal::Role(name) => {
                let permissions = role(observed, name)?.permissions.as_ref()?;
                Some(Policies {
                    attached: &permissions.attached,
                    inline: &permissions.inline,
                })
            }
        }
    }
}

impl Policies<'_> {
    fn show(&self, fact: &Fact) -> bool {
        let attached = |arn: &str| self.attached.iter().any(|p| p.arn.eq_ignore_ascii_case(arn));
        let inline = |name: &str| self.inline.iter().find(|p| p.name.eq_ignore_ascii_case(name));
        match fact {
            Fact::Trusts(_) | Fact::Key { .. } | Fact::NoKey(_) => false,
            Fact::Attached(arn) => attached(arn),
            Fact::Detached(arn) => !attached(arn),
            Fact::Inline { name, document } => inline(name).is_some_and(|p| same_document(&p.document, document)),
            Fact::NoInline(name) => inline(name).is_none(),
        }
    }
}

/// A user's access keys as a live read listed them: the credential
/// report's, which name no ids, show nothing.
fn keys<'a>(observed: &'a Observed, name: &Name) -> Option<&'a [AccessKey]> {
    observed.users.iter().find(|u| u.name == *name)?.access_keys.as_deref()
}

fn role<'a>(observed: &'a Observed, name: &Name) -> Option<&'a crate::state::Role> {
    observed.roles.iter().flatten().find(|r| r.name == *name)
}

fn same_document(read: &str, written: &Value) -> bool {
    document::json(read).is_some_and(|read| read == *written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Group, Role};
    use serde_json::json;

    const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

    fn observed_group(attached: &[&str], inline: &[(&str, &str)]) -> Observed {
        Observed {
            groups: Some(vec![Group {
                name: "Ops".into(),
                attached: attached
                    .iter()
                    .map(|arn| ManagedPolicy {
                        arn: (*arn).to_owned(),
                        name: "p".to_owned(),
                        document: None,
                    })
                    .collect(),
                inline: inline
                    .iter()
                    .map(|(name, document)| InlinePolicy {
                        name: (*name).to_owned(),
                        document: (*document).to_owned(),
                    })
                    .collect(),
            }]),
            ..Observed::default()
        }
    }

    fn group(fact: Fact) -> Written {
        wrote(Principal::Group("ops".into()), fact)
    }

    fn wrote(principal: Principal, fact: Fact) -> Written {
        Written { principal, fact }
    }

    #[test]
    fn a_read_shows_a_write_only_when_it_holds_what_was_written() {
        let logs =
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:Get*", "Resource": "*"}]}"#;
        let written = json!({"Statement": [{"Resource": "*", "Action": "logs:Get*", "Effect": "Allow"}], "Version": "2012-10-17"});
        let wider =
            json!({"Statement": [{"Resource": "*", "Action": "*", "Effect": "Allow"}], "Version": "2012-10-17"});
        let read = observed_group(&[ADMIN], &[("Logs", logs)]);
        let cases = [
            (Fact::Attached(ADMIN.to_lowercase()), true),
            (Fact::Attached("arn:aws:iam::aws:policy/ReadOnlyAccess".into()), false),
            (Fact::Detached(ADMIN.into()), false),
            (Fact::Detached("arn:aws:iam::aws:policy/ReadOnlyAccess".into()), true),
            (
                Fact::Inline {
                    name: "logs".into(),
                    document: written.clone(),
                },
                true,
            ),
            // The name alone would let a read of the document before the put pass.
            (
                Fact::Inline {
                    name: "logs".into(),
                    document: wider,
                },
                false,
            ),
            (Fact::NoInline("LOGS".into()), false),
            (Fact::NoInline("other".into()), true),
            (Fact::Trusts(written), false),
        ];
        for (fact, shown) in cases {
            assert_eq!(group(fact.clone()).shown_by(&read), shown, "{fact:?}");
        }
    }

    #[test]
    fn a_key_write_shows_in_the_key_read_by_its_id() {
        let key = |id: Option<&str>, active| AccessKey {
            id: id.map(str::to_owned),
            active,
            created: chrono::Utc::now(),
            last_used: crate::state::LastUse::Never,
        };
        let read = |keys: Option<Vec<AccessKey>>| Observed {
            users: vec![crate::state::User {
                name: "Dev".into(),
                created: None,
                tags: None,
                console: None,
                access_keys: keys,
                permissions: None,
            }],
            ..Observed::default()
        };
        let dev = |fact| wrote(Principal::User("dev".into()), fact);
        let listed = read(Some(vec![key(Some("AKIA1"), false)]));
        let inactive = dev(Fact::Key {
            id: "AKIA1".into(),
            active: false,
        });
        assert!(inactive.shown_by(&listed));
        let active = dev(Fact::Key {
            id: "AKIA1".into(),
            active: true,
        });
        assert!(!active.shown_by(&listed), "the status read before the update");
        assert!(!dev(Fact::NoKey("AKIA1".into())).shown_by(&listed));
        assert!(dev(Fact::NoKey("AKIA2".into())).shown_by(&listed));
        let reported = read(Some(vec![key(None, true)]));
        assert!(
            !dev(Fact::NoKey("AKIA2".into())).shown_by(&reported),
            "the credential report names no key ids"
        );
        assert!(!inactive.shown_by(&read(None)), "keys not read");
    }

    #[test]
    fn what_was_not_read_never_shows_a_write() {
        let detached = group(Fact::Detached(ADMIN.into()));
        assert!(!detached.shown_by(&Observed::default()), "the group was not read");
        let role_read_without_permissions = Observed {
            roles: Some(vec![Role {
                name: "ci".into(),
                arn: "arn:aws:iam::123456789012:role/ci".into(),
                tags: Default::default(),
                trust_policy: r#"{"Statement": []}"#.into(),
                quarantined: false,
                permissions: None,
            }]),
            ..Observed::default()
        };
        let role = |fact| wrote(Principal::Role("CI".into()), fact);
        assert!(!role(Fact::Detached(ADMIN.into())).shown_by(&role_read_without_permissions));
        assert!(role(Fact::Trusts(json!({"Statement": []}))).shown_by(&role_read_without_permissions));
        assert!(!role(Fact::Trusts(json!({"Statement": [{}]}))).shown_by(&role_read_without_permissions));
    }
}
