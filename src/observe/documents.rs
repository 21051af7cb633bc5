//! The documents of managed policies, and which version of each is the
//! default.
//!
//! A version never changes, so its document is read once. Which version is
//! the default can change, but only by an event iam-warden watches
//! (CreatePolicyVersion made default, SetDefaultPolicyVersion, DeletePolicy).
//! So the default the last scan read stands in for a live `GetPolicy` in a
//! reconcile, under three rules that keep it from ever causing a change:
//! - an event that says a policy's default changed forgets it, and its
//!   holders are reconciled; a scan begun less than [`LAG`] after such an
//!   event is not believed about that policy, as IAM's reads lag its writes;
//! - a policy an event behind the reconcile attached is read live: under its
//!   ARN may be a policy deleted and made again;
//! - a judgement that used one and finds anything at all is made again from
//!   live reads only ([`Reading::remembered`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_iam::Client;

use crate::aws::Call;
use crate::document;
use crate::error::Error;

const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// How long after an event says a policy's default changed a scan's read
/// of that policy is not believed: well past IAM's usual propagation.
const LAG: Duration = Duration::from_secs(60);

/// Far more versions than an account's users are attached to; past it, the
/// cache starts again rather than grow.
const DOCUMENTS_KEPT: usize = 4096;

/// Managed policy documents by policy and version, and the scan's defaults.
#[derive(Default)]
pub struct PolicyDocuments(Mutex<Kept>);

#[derive(Default)]
struct Kept {
    /// By policy id (not ARN: a policy made again under the same name has
    /// a new id and starts again at v1) and version id.
    documents: HashMap<(String, String), String>,
    /// The default version of each of the account's own policies, by ARN,
    /// as the last scan read it.
    defaults: HashMap<String, DefaultVersion>,
    /// When an event last said the default of the policy of this ARN changed.
    changed: HashMap<String, Instant>,
}

/// A managed policy's default version, as the scan read it.
#[derive(Debug, Clone)]
pub(super) struct DefaultVersion {
    pub policy_id: String,
    pub id: String,
    pub document: String,
}

impl PolicyDocuments {
    /// The defaults a scan begun at `began` read, in place of the last
    /// scan's, but for policies an event changed within [`LAG`] of it.
    pub(super) fn remember(&self, began: Instant, mut versions: HashMap<String, DefaultVersion>) {
        let mut kept = self.lock();
        kept.changed.retain(|_, at| *at + LAG > began);
        versions.retain(|arn, _| !kept.changed.contains_key(arn));
        kept.defaults = versions;
    }

    /// An event said the default version of `arn` changed, or the policy was
    /// deleted: reconciles read it live until a later scan.
    pub fn changed(&self, arn: &str) {
        let mut kept = self.lock();
        kept.defaults.remove(arn);
        kept.changed.insert(arn.to_owned(), Instant::now());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remembered(&self, arn: &str) -> Option<String> {
        self.lock().defaults.get(arn).map(|v| v.document.clone())
    }

    /// The document of `version` of the policy `policy_id`, if read before.
    fn document(&self, arn: &str, policy_id: &str, version: &str) -> Option<String> {
        let kept = self.lock();
        let scanned = kept
            .defaults
            .get(arn)
            .filter(|v| v.policy_id == policy_id && v.id == version);
        let read = kept.documents.get(&(policy_id.to_owned(), version.to_owned()));
        scanned.map(|v| &v.document).or(read).cloned()
    }

    fn keep(&self, policy_id: &str, version: &str, document: String) {
        let mut kept = self.lock();
        if kept.documents.len() >= DOCUMENTS_KEPT {
            kept.documents.clear();
        }
        kept.documents
            .insert((policy_id.to_owned(), version.to_owned()), document);
    }
}

/// How one read learns policies' default versions, and whether it used one
/// the scan read.
pub(super) struct Reading<'a> {
    kept: &'a PolicyDocuments,
    /// `None`: every default is read live. Otherwise the ARNs read live all
    /// the same: policies an event behind the read attached.
    attached: Option<Vec<String>>,
    remembered: AtomicBool,
}

impl<'a> Reading<'a> {
    /// Every default read live: for a judgement that may act.
    pub fn live(kept: &'a PolicyDocuments) -> Reading<'a> {
        Reading {
            kept,
            attached: None,
            remembered: AtomicBool::new(false),
        }
    }

    /// The scan's defaults stand in, but for the policies in `attached`.
    pub fn remembering(kept: &'a PolicyDocuments, attached: Vec<String>) -> Reading<'a> {
        Reading {
            attached: Some(attached),
            ..Reading::live(kept)
        }
    }

    /// Whether a default the scan read stood in for a live read.
    pub fn remembered(&self) -> bool {
        self.remembered.load(Ordering::Relaxed)
    }

    fn may_remember(&self, arn: &str) -> bool {
        let attached = |a: &String| a.eq_ignore_ascii_case(arn);
        self.attached.as_ref().is_some_and(|a| !a.iter().any(attached))
    }

    /// The default version's document; `None` for a policy AWS manages.
    pub async fn default_document(&self, iam: &Client, arn: &str) -> Result<Option<String>, Error> {
        if arn.contains(":iam::aws:policy/") {
            return Ok(None);
        }
        if self.may_remember(arn)
            && let Some(document) = self.kept.remembered(arn)
        {
            self.remembered.store(true, Ordering::Relaxed);
            return Ok(Some(document));
        }
        let found = iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .or_absent("iam:GetPolicy", NO_SUCH_ENTITY)?;
        let policy = found.as_ref().and_then(|f| f.policy());
        let Some(version) = policy.and_then(|p| p.default_version_id()) else {
            return Ok(Some(String::new()));
        };
        let policy_id = policy.and_then(|p| p.policy_id()).unwrap_or(arn);
        if let Some(document) = self.kept.document(arn, policy_id, version) {
            return Ok(Some(document));
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
        self.kept.keep(policy_id, version, document.clone());
        Ok(Some(document))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(arn: &str, document: &str) -> HashMap<String, DefaultVersion> {
        let version = DefaultVersion {
            policy_id: "ANPA1".into(),
            id: "v1".into(),
            document: document.into(),
        };
        HashMap::from([(arn.to_owned(), version)])
    }

    const ARN: &str = "arn:aws:iam::123456789012:policy/team";

    #[test]
    fn a_scan_after_the_lag_is_believed_and_one_within_it_is_not() {
        let kept = PolicyDocuments::default();
        kept.remember(Instant::now(), scanned(ARN, "read"));
        assert_eq!(kept.remembered(ARN).as_deref(), Some("read"));

        kept.changed(ARN);
        assert_eq!(kept.remembered(ARN), None, "forgotten by the event");
        kept.remember(Instant::now(), scanned(ARN, "stale"));
        assert_eq!(kept.remembered(ARN), None, "a scan right after the event may lag it");
        kept.remember(Instant::now() + LAG, scanned(ARN, "caught up"));
        assert_eq!(kept.remembered(ARN).as_deref(), Some("caught up"));
    }

    #[test]
    fn a_scan_replaces_the_last_scans_defaults() {
        let kept = PolicyDocuments::default();
        kept.remember(Instant::now(), scanned(ARN, "read"));
        kept.remember(Instant::now(), HashMap::new());
        assert_eq!(
            kept.remembered(ARN),
            None,
            "a policy gone from the scan is not remembered"
        );
    }

    #[test]
    fn a_document_is_known_by_policy_id_so_a_policy_made_again_is_read_afresh() {
        let kept = PolicyDocuments::default();
        kept.remember(Instant::now(), scanned(ARN, "read"));
        assert_eq!(kept.document(ARN, "ANPA1", "v1").as_deref(), Some("read"));
        assert_eq!(
            kept.document(ARN, "ANPA2", "v1"),
            None,
            "same ARN and version, new policy"
        );
        kept.keep("ANPA2", "v1", "admin".into());
        assert_eq!(kept.document(ARN, "ANPA2", "v1").as_deref(), Some("admin"));
    }

    #[test]
    fn only_a_remembering_read_uses_the_scan_and_never_for_a_policy_just_attached() {
        let kept = PolicyDocuments::default();
        assert!(!Reading::live(&kept).may_remember(ARN));
        assert!(Reading::remembering(&kept, vec![]).may_remember(ARN));
        let attached = Reading::remembering(&kept, vec![ARN.to_uppercase()]);
        assert!(!attached.may_remember(ARN), "ARNs compared without case");
    }
}
