//! Rule `oidc-providers`: every provider's issuer is allowed, and its client
//! ids are allowed audiences (that part is reported only).

use super::{Change, Draft, Resource};
use crate::policy::{OidcAction, OidcProvidersRule, Rule};
use crate::state::OidcProvider;

pub(super) fn evaluate(rule: &OidcProvidersRule, providers: &[OidcProvider], draft: &mut Draft) {
    for provider in providers {
        let resource = Resource::OidcProvider {
            arn: provider.arn.clone(),
            url: provider.url.clone(),
        };
        if !rule
            .allowed_issuers
            .iter()
            .any(|pattern| pattern.matches(&provider.url))
        {
            let change = (rule.action == OidcAction::Delete).then(|| Change::DeleteOidcProvider {
                provider: provider.clone(),
            });
            let reason = format!("issuer {} matches no allowedIssuers pattern", provider.url);
            draft.violation(Rule::OidcProviders, resource, change, reason, provider);
            continue;
        }
        let Some(allowed) = &rule.allowed_audiences else {
            continue;
        };
        let unexpected: Vec<&str> = provider
            .client_ids
            .iter()
            .filter(|id| !allowed.contains(*id))
            .map(String::as_str)
            .collect();
        if !unexpected.is_empty() {
            let reason = format!("audiences not in allowedAudiences: {}", unexpected.join(", "));
            draft.violation(Rule::OidcProviders, resource, None, reason, provider);
        }
    }
}
