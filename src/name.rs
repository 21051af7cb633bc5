//! The name of an IAM user, group or role. IAM keeps them unique regardless
//! of case and finds one whatever the case asked for, so two spellings are
//! one name: compared, hashed and ordered without case, shown as written.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// IAM names are ASCII (`[\w+=,.@-]`); folding ASCII is folding all of it.
    fn folded(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.bytes().map(|b| b.to_ascii_lowercase())
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for byte in self.folded() {
            state.write_u8(byte);
        }
        state.write_u8(0xff);
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> Ordering {
        self.folded().cmp(other.folded())
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name(text.to_owned())
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name(text)
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;

    #[test]
    fn two_spellings_are_one_name_shown_as_written() {
        let (upper, lower) = (Name::from("BREAK-GLASS"), Name::from("break-glass"));
        assert_eq!(upper, lower);
        assert!(HashSet::from([upper.clone()]).contains(&lower));
        assert!(BTreeSet::from([lower.clone()]).contains(&upper));
        assert_eq!(upper.to_string(), "BREAK-GLASS");
        assert_ne!(Name::from("alice"), Name::from("alice2"));
        let (alice, bob) = (Name::from("Alice"), Name::from("bob"));
        assert!(alice < bob, "ordered without case");
    }
}
