//! Who iam-warden runs as, and what that identity depends on: iam-warden
//! never acts on either.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::aws::{Call, Clients};
use crate::document::{self, Effect};
use crate::error::Error;
use crate::quarantine::QuarantinePolicy;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Caller {
    pub account_id: String,
    pub arn: String,
    pub identity: Identity,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Identity {
    /// An IAM user, with long-term keys.
    User { name: String },
    /// An assumed role, as with IRSA or EKS Pod Identity.
    Role { name: String, trust: Trust },
    /// The root user or a federated session: nothing in IAM to protect.
    #[default]
    Other,
}

/// The OIDC providers the caller's role trusts. Deleting one would cut
/// iam-warden off (and, for a cluster's IRSA issuer, every pod beside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    Providers(BTreeSet<String>),
    /// The trust policy could not be read: every provider is then protected.
    Unknown(String),
}

impl Caller {
    pub fn partition(&self) -> &str {
        self.arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws")
    }

    pub fn quarantine_arn(&self, policy: QuarantinePolicy) -> String {
        policy.arn(self.partition(), &self.account_id)
    }
}

/// Asks STS who is calling; for a role, also reads the OIDC providers its
/// trust policy names.
pub(crate) async fn caller(clients: &Clients) -> Result<Caller, Error> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .during("sts:GetCallerIdentity")?;
    let arn = identity.arn().unwrap_or_default().to_owned();
    let identity = match parse_arn(&arn) {
        Parsed::User(name) => Identity::User { name },
        Parsed::Role(name) => {
            let trust = role_trust(&clients.iam, &name).await;
            if let Trust::Unknown(why) = &trust {
                tracing::warn!(role = %name, reason = %why, "cannot read the trust policy of the role iam-warden runs as; no OIDC provider will be deleted");
            }
            Identity::Role { name, trust }
        }
        Parsed::Other => Identity::Other,
    };
    Ok(Caller {
        account_id: identity_account(&arn),
        arn,
        identity,
    })
}

/// The providers `role` trusts, read live. Never an error: what cannot be
/// read is `Unknown`, which protects every provider.
pub(crate) async fn role_trust(iam: &aws_sdk_iam::Client, role: &str) -> Trust {
    let read = iam.get_role().role_name(role).send().await.during("iam:GetRole");
    let document = match read {
        Ok(output) => output
            .role()
            .map(|r| r.assume_role_policy_document().unwrap_or_default().to_owned()),
        Err(error) => return Trust::Unknown(error.to_string()),
    };
    match document.as_deref().map(trusted_providers) {
        Some(Ok(providers)) => Trust::Providers(providers),
        Some(Err(why)) => Trust::Unknown(format!("its trust policy cannot be read: {why}")),
        None => Trust::Unknown("GetRole returned no role".to_owned()),
    }
}

/// The OIDC provider ARNs that `Allow` statements of a trust policy name as `Federated`.
pub(crate) fn trusted_providers(trust_policy: &str) -> Result<BTreeSet<String>, String> {
    let document = document::parse(trust_policy)?;
    Ok(document
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
        .flat_map(|s| s.principals("Federated"))
        .filter(|p| p.contains(":oidc-provider/"))
        .cloned()
        .collect())
}

enum Parsed {
    User(String),
    Role(String),
    Other,
}

/// `arn:PARTITION:iam::ACCOUNT:user/PATH/NAME` or
/// `arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION`.
fn parse_arn(arn: &str) -> Parsed {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    if let Some(path) = resource.strip_prefix("user/") {
        return Parsed::User(path.rsplit('/').next().unwrap_or_default().to_owned());
    }
    if let Some(rest) = resource.strip_prefix("assumed-role/") {
        return Parsed::Role(rest.split('/').next().unwrap_or_default().to_owned());
    }
    Parsed::Other
}

fn identity_account(arn: &str) -> String {
    arn.split(':').nth(4).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_roles_and_others_from_their_arns() {
        assert!(matches!(parse_arn("arn:aws:iam::123456789012:user/ops/alice"), Parsed::User(n) if n == "alice"));
        assert!(matches!(
            parse_arn("arn:aws-us-gov:sts::123456789012:assumed-role/iam-warden/botocore-session-1"),
            Parsed::Role(n) if n == "iam-warden"
        ));
        assert!(matches!(parse_arn("arn:aws:iam::123456789012:root"), Parsed::Other));
        assert_eq!(
            identity_account("arn:aws:sts::123456789012:assumed-role/r/s"),
            "123456789012"
        );
    }

    #[test]
    fn trusted_providers_are_the_federated_oidc_principals_of_allow_statements() {
        let trust = r#"{"Statement": [
          {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"},
           "Action": "sts:AssumeRoleWithWebIdentity"},
          {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:saml-provider/okta"}, "Action": "sts:AssumeRoleWithSAML"},
          {"Effect": "Deny", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/denied.example.com"}, "Action": "*"},
          {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;
        assert_eq!(
            trusted_providers(trust).unwrap().into_iter().collect::<Vec<_>>(),
            ["arn:aws:iam::1:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"]
        );
        assert!(trusted_providers("{").is_err());
    }
}
