//! The documents of managed policies, read once per version, or taken from
//! the scan, which reads every default version of the account's own policies.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_iam::Client;

use crate::aws::Call;
use crate::document;
use crate::error::Error;

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// Managed policy documents by policy and version. A version never changes,
/// so a document read once is good until the version is deleted; only the
/// default version id is read each time.
#[derive(Default)]
pub struct PolicyDocuments(Mutex<HashMap<(String, String), String>>);

/// Far more versions than an account's users are attached to; past it, the
/// cache starts again rather than grow.
const DOCUMENTS_KEPT: usize = 4096;

/// A managed policy's default version, as the scan read it.
#[derive(Debug, Clone)]
pub(super) struct DefaultVersion {
    pub id: String,
    pub document: String,
}

impl PolicyDocuments {
    /// Keeps the versions a scan read, so that a reconcile soon after reads
    /// only which version is the default.
    pub(super) fn remember(&self, versions: impl IntoIterator<Item = (String, DefaultVersion)>) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (arn, version) in versions {
            keep(&mut kept, (arn, version.id), version.document);
        }
    }

    /// The default version's document; `None` for a policy AWS manages.
    pub(super) async fn default_document(&self, iam: &Client, arn: &str) -> Result<Option<String>, Error> {
        if arn.contains(":iam::aws:policy/") {
            return Ok(None);
        }
        let found = iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .or_absent("iam:GetPolicy", NO_SUCH_ENTITY)?;
        let Some(version) = found
            .as_ref()
            .and_then(|f| f.policy())
            .and_then(|p| p.default_version_id())
        else {
            return Ok(Some(String::new()));
        };
        let key = (arn.to_owned(), version.to_owned());
        if let Some(document) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Some(document.clone()));
        }
        let read = iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .or_absent("iam:GetPolicyVersion", NO_SUCH_ENTITY)?;
        let document = read
            .as_ref()
            .and_then(|r| r.policy_version())
            .and_then(|v| v.document())
            .map(document::decode)
            .unwrap_or_default();
        keep(
            &mut self.0.lock().unwrap_or_else(|p| p.into_inner()),
            key,
            document.clone(),
        );
        Ok(Some(document))
    }
}

fn keep(kept: &mut HashMap<(String, String), String>, key: (String, String), document: String) {
    if kept.len() >= DOCUMENTS_KEPT {
        kept.clear();
    }
    kept.insert(key, document);
}
