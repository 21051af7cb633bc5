//! Rule `oidc-providers`: every provider's issuer is allowed, and its client
//! ids are allowed audiences (that part is reported only).

use super::{Action, Draft, Resource};
use crate::observe::OidcProvider;
use crate::policy::{OidcAction, OidcProvidersRule, Rule};

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
            let action = if rule.action == OidcAction::Delete {
                Action::DeleteOidcProvider
            } else {
                Action::Report
            };
            let reason = format!("issuer {} matches no allowedIssuers pattern", provider.url);
            draft.violation(Rule::OidcProviders, resource, action, reason, provider);
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
            draft.violation(Rule::OidcProviders, resource, Action::Report, reason, provider);
        }
    }
}
