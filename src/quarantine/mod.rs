//! The managed policies iam-warden attaches to quarantine an identity, and the
//! documents it ships for them. Anyone who could change such a policy's
//! default version would decide what iam-warden attaches, so the live
//! document is compared with the shipped one before every attach.

use serde::Serialize;

/// Every quarantine policy lives under this path, so the deploy policy can
/// grant attach and detach for exactly these.
pub const PATH: &str = "/iam-warden/";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuarantinePolicy {
    /// AWS's documented force-MFA pattern: everything is denied without MFA
    /// except managing one's own MFA device and password.
    DenyWithoutMfa,
    /// Everything is denied, for a role whose OIDC trust admits outsiders.
    /// Permissions are evaluated on every request, so it cuts live sessions too.
    DenyAll,
}

impl QuarantinePolicy {
    pub const ALL: [QuarantinePolicy; 2] = [QuarantinePolicy::DenyWithoutMfa, QuarantinePolicy::DenyAll];

    pub fn name(self) -> &'static str {
        match self {
            QuarantinePolicy::DenyWithoutMfa => "iam-warden-deny-without-mfa",
            QuarantinePolicy::DenyAll => "iam-warden-deny-all",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            QuarantinePolicy::DenyWithoutMfa => {
                "iam-warden: denies everything but MFA enrolment until the user signs in with MFA"
            }
            QuarantinePolicy::DenyAll => {
                "iam-warden: denies everything to a role whose OIDC trust admits subjects outside the policy"
            }
        }
    }

    /// The shipped document, with ARNs in the caller's partition (`aws`,
    /// `aws-us-gov`, `aws-cn`).
    pub fn document(self, partition: &str) -> String {
        let template = match self {
            QuarantinePolicy::DenyWithoutMfa => include_str!("deny-without-mfa.json"),
            QuarantinePolicy::DenyAll => include_str!("deny-all.json"),
        };
        template.replace("arn:{partition}:", &format!("arn:{partition}:"))
    }

    pub fn arn(self, partition: &str, account_id: &str) -> String {
        format!("arn:{partition}:iam::{account_id}:policy{PATH}{}", self.name())
    }

    /// The quarantine an inline policy is, if it is one of iam-warden's: the
    /// name of a quarantine policy (as it falls back to one where a quota
    /// leaves no room for the managed policy) and the shipped document.
    pub fn inline(name: &str, document: &str, partition: &str) -> Option<QuarantinePolicy> {
        QuarantinePolicy::ALL
            .into_iter()
            .find(|q| q.name() == name && q.is_shipped(partition, document))
    }

    /// Whether `live`, a document as IAM returns it (URL-encoded or raw),
    /// grants exactly what the shipped one does. Compared as JSON, so
    /// whitespace and key order do not matter.
    pub fn is_shipped(self, partition: &str, live: &str) -> bool {
        let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
        let shipped = parse(&self.document(partition));
        shipped.is_some() && parse(&crate::document::decode(live)) == shipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_partition() {
        let gov = QuarantinePolicy::DenyWithoutMfa.document("aws-us-gov");
        assert!(gov.contains("arn:aws-us-gov:iam::*:user/${aws:username}"), "{gov}");
        assert!(!gov.contains("arn:aws:") && !gov.contains("{partition}"));
        assert_eq!(
            QuarantinePolicy::DenyWithoutMfa.arn("aws-cn", "123456789012"),
            "arn:aws-cn:iam::123456789012:policy/iam-warden/iam-warden-deny-without-mfa"
        );
    }

    #[test]
    fn the_shipped_document_matches_itself_in_any_encoding_and_nothing_else() {
        let policy = QuarantinePolicy::DenyWithoutMfa;
        let shipped = policy.document("aws");
        let compact = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&shipped).unwrap()).unwrap();
        let encoded: String =
            percent_encoding::utf8_percent_encode(&compact, percent_encoding::NON_ALPHANUMERIC).collect();
        assert!(policy.is_shipped("aws", &shipped));
        assert!(policy.is_shipped("aws", &encoded));
        let tampered =
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;
        assert!(!policy.is_shipped("aws", tampered));
        assert!(
            !policy.is_shipped("aws-cn", &shipped),
            "another partition's ARNs differ"
        );
        assert!(!policy.is_shipped("aws", "not json"));
    }
}
