//! Rule `server-certificates` (CIS 2.18): an SSL/TLS certificate stored in
//! IAM that has expired is removed, so it is never deployed by mistake. The
//! change carries the certificate's body and chain, journaled before the
//! deletion; IAM never gives its private key back, so `undo` cannot upload
//! it again, and says so.

use super::{Change, Draft, Resource};
use crate::policy::{CertificateAction, Rule};
use crate::state::ServerCertificate;

pub(super) fn evaluate(action: CertificateAction, certificates: &[ServerCertificate], draft: &mut Draft) {
    for certificate in certificates {
        let resource = Resource::ServerCertificate {
            name: certificate.name.clone(),
        };
        if draft.now < certificate.expiration {
            draft.deadline(Rule::ServerCertificates, &resource, certificate.expiration);
            continue;
        }
        let reason = format!(
            "server certificate expired {}",
            certificate.expiration.format("%Y-%m-%d %H:%M UTC")
        );
        let change = (action == CertificateAction::Delete).then(|| Change::DeleteServerCertificate {
            certificate: certificate.clone(),
        });
        draft.violation(Rule::ServerCertificates, resource, change, reason, certificate);
    }
}
