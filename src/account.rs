//! An AWS account as iam-warden serves it, as plain data: what a policy file
//! selects and what every unit of work is keyed by. Nothing here talks to AWS.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A twelve-digit AWS account id. Cheap to clone: every key of the work
/// queue carries one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct AccountId(Arc<str>);

impl TryFrom<String> for AccountId {
    type Error = String;

    fn try_from(text: String) -> Result<AccountId, String> {
        AccountId::parse(&text)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0.to_string()
    }
}

impl AccountId {
    pub fn parse(text: &str) -> Result<AccountId, String> {
        match text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
            true => Ok(AccountId(Arc::from(text))),
            false => Err(format!("`{text}` is not a 12-digit account id")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An account served, with where it sits in its Organization.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Account {
    pub id: AccountId,
    /// Empty where nothing names it: the caller's own account.
    pub name: String,
    /// The OUs above it, from the root down; empty outside an Organization.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organizational_units: Vec<String>,
}

impl Account {
    /// An account known only by its id, such as the caller's own.
    pub fn alone(id: AccountId) -> Account {
        Account {
            id,
            name: String::new(),
            organizational_units: Vec::new(),
        }
    }
}

/// The partition an ARN is in (`aws`, `aws-us-gov`, `aws-cn`); `aws` if it does not say.
pub fn partition(arn: &str) -> &str {
    arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws")
}

/// The account an ARN is in, such as a caller's.
pub fn account_of(arn: &str) -> Option<AccountId> {
    AccountId::parse(arn.split(':').nth(4)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twelve_digits_and_arns_name_their_partition_and_account() {
        assert!(AccountId::parse("123456789012").is_ok());
        for bad in ["12345678901", "1234567890123", "12345678901x", ""] {
            assert!(AccountId::parse(bad).is_err(), "{bad}");
        }
        let arn = "arn:aws-us-gov:sts::111111111111:assumed-role/iam-warden-central/pod";
        assert_eq!(partition(arn), "aws-us-gov");
        assert_eq!(account_of(arn).unwrap().as_str(), "111111111111");
        assert_eq!(partition("not an arn"), "aws");
        assert_eq!(account_of("not an arn"), None);
    }
}
