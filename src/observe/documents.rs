//! The documents of managed policies, read once per version.

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

impl PolicyDocuments {
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
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= DOCUMENTS_KEPT {
            kept.clear();
        }
        kept.insert(key, document.clone());
        Ok(Some(document))
    }
}
