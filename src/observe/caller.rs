//! Who iam-warden runs as, and what that identity depends on: iam-warden
//! never acts on either.

use std::collections::BTreeSet;

use crate::account;
use crate::aws::{Call, Clients};
use crate::document::{self, Effect};
use crate::error::Error;
use crate::name::Name;
use crate::state::{Caller, Identity, Trust};

/// Asks STS who is calling; for a role, also reads the OIDC providers its
/// trust policy names.
pub(super) async fn caller(clients: &Clients) -> Result<Caller, Error> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .during("sts:GetCallerIdentity")?;
    let arn = identity.arn().unwrap_or_default().to_owned();
    let identity = match parse_arn(&arn) {
        Parsed::User(name) => Identity::User { name: Name::from(name) },
        Parsed::Role(name) => {
            let trust = role_trust(&clients.iam, &name).await;
            if let Trust::Unknown(why) = &trust {
                tracing::warn!(role = %name, reason = %why, "cannot read the trust policy of the role iam-warden runs as; no OIDC provider will be deleted");
            }
            Identity::Role {
                name: Name::from(name),
                trust,
            }
        }
        Parsed::Other => Identity::Other,
    };
    Ok(Caller {
        account_id: account::account_of(&arn).map(|id| id.to_string()).unwrap_or_default(),
        arn,
        identity,
    })
}

/// The providers `role` trusts, read live. Never an error: what cannot be
/// read is `Unknown`, which protects every provider.
pub(super) async fn role_trust(iam: &aws_sdk_iam::Client, role: &str) -> Trust {
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
fn trusted_providers(trust_policy: &str) -> Result<BTreeSet<String>, String> {
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
