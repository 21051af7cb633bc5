//! The credential report: every user's password, MFA and key summary in one
//! call. AWS reuses a report for up to four hours, so it only picks the users
//! to read live; nothing acts on it alone.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::ReportStateType;
use chrono::{DateTime, Utc};

use super::to_utc;
use crate::aws::Call;
use crate::error::Error;
use crate::name::Name;
use crate::state::{AccessKey, Console, LastUse, LoginProfile, User};

const GENERATE_ATTEMPTS: u32 = 20;

/// The report's rows as users, and when AWS generated it: every row may be that old.
#[derive(Debug)]
pub(crate) struct Report {
    pub generated: DateTime<Utc>,
    pub users: Vec<User>,
}

pub(crate) async fn credential_report(iam: &Client) -> Result<Report, Error> {
    for attempt in 1..=GENERATE_ATTEMPTS {
        let state = iam
            .generate_credential_report()
            .send()
            .await
            .during("iam:GenerateCredentialReport")?;
        if state.state() == Some(&ReportStateType::Complete) {
            let report = iam
                .get_credential_report()
                .send()
                .await
                .during("iam:GetCredentialReport")?;
            let content = report.content().map(|blob| blob.as_ref()).unwrap_or_default();
            // Without a time, assume the oldest AWS serves, so newer users count as missing.
            let generated = report
                .generated_time()
                .map(to_utc)
                .unwrap_or_else(|| Utc::now() - chrono::TimeDelta::hours(4));
            return Ok(Report {
                generated,
                users: parse(content)?,
            });
        }
        tokio::time::sleep(Duration::from_millis(250) * attempt).await;
    }
    Err(Error::CredentialReportNotReady(GENERATE_ATTEMPTS))
}

/// Parses the report's CSV by column name, so added columns do no harm.
fn parse(csv_bytes: &[u8]) -> Result<Vec<User>, Error> {
    let mut reader = csv::Reader::from_reader(csv_bytes);
    let malformed = |e: csv::Error| Error::CredentialReport(e.to_string());
    let headers = reader.headers().map_err(malformed)?.clone();
    let mut users = Vec::new();
    for record in reader.records() {
        let record = record.map_err(malformed)?;
        let row: BTreeMap<&str, &str> = headers.iter().zip(record.iter()).collect();
        let field = |name: &str| row.get(name).copied().unwrap_or("");
        let name = field("user");
        if name == "<root_account>" || name.is_empty() {
            continue;
        }
        let Some(created) = timestamp(field("user_creation_time")) else {
            return Err(Error::CredentialReport(format!(
                "user {name} has no user_creation_time"
            )));
        };
        let access_keys = (1..=2)
            .filter_map(|n| {
                Some(AccessKey {
                    id: None,
                    active: field(&format!("access_key_{n}_active")) == "true",
                    created: timestamp(field(&format!("access_key_{n}_last_rotated")))?,
                    last_used: timestamp(field(&format!("access_key_{n}_last_used_date")))
                        .map_or(LastUse::Never, LastUse::At),
                })
            })
            .collect();
        // The profile's own creation time is not in the report; the user's is
        // earlier or equal, so a grace period never ends later than it should.
        let login_profile = (field("password_enabled") == "true").then(|| LoginProfile {
            created,
            reset_required: false,
            password_last_changed: timestamp(field("password_last_changed")),
            password_last_used: timestamp(field("password_last_used")).map_or(LastUse::Never, LastUse::At),
        });
        users.push(User {
            name: Name::from(name),
            created: Some(created),
            // Not in the report: the full scan fills these in from the authorization details.
            tags: None,
            permissions: None,
            console: Some(Console {
                login_profile,
                mfa_devices: usize::from(field("mfa_active") == "true"),
                quarantined: false,
            }),
            access_keys: Some(access_keys),
        });
    }
    Ok(users)
}

/// `N/A`, `no_information` and `not_supported` all mean "no time".
fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated
<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2026-01-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
alice,arn:aws:iam::123456789012:user/alice,2026-01-02T03:04:05+00:00,true,no_information,2026-01-02T03:04:05+00:00,N/A,false,true,2026-02-01T00:00:00+00:00,N/A,N/A,N/A,false,2026-03-01T00:00:00+00:00,2026-03-05T00:00:00+00:00,us-east-1,s3,false,N/A,false,N/A
bob,arn:aws:iam::123456789012:user/bob,2026-01-02T03:04:05+00:00,false,not_supported,N/A,N/A,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
";

    fn at(text: &str) -> DateTime<Utc> {
        timestamp(text).unwrap()
    }

    #[test]
    fn reads_users_keys_and_flags_without_root() {
        let users = parse(REPORT.as_bytes()).unwrap();
        assert_eq!(
            users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            ["alice", "bob"]
        );
        let alice = &users[0];
        let console = alice.console.as_ref().unwrap();
        assert_eq!(
            console.login_profile,
            Some(LoginProfile {
                created: at("2026-01-02T03:04:05Z"),
                reset_required: false,
                password_last_changed: Some(at("2026-01-02T03:04:05Z")),
                password_last_used: LastUse::Never,
            })
        );
        assert_eq!(console.mfa_devices, 0);
        let keys = alice.access_keys.as_ref().unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].active && keys[0].last_used == LastUse::Never);
        assert!(!keys[1].active);
        assert_eq!(keys[1].last_used, LastUse::At(at("2026-03-05T00:00:00Z")));
        let bob = &users[1];
        let console = bob.console.as_ref().unwrap();
        assert!(console.login_profile.is_none() && bob.access_keys.as_ref().unwrap().is_empty());
        assert_eq!(console.mfa_devices, 1);
    }

    #[test]
    fn rejects_a_row_without_creation_time() {
        let broken = "user,arn,user_creation_time\ncarol,arn:x,N/A\n";
        assert!(matches!(parse(broken.as_bytes()), Err(Error::CredentialReport(_))));
    }
}
