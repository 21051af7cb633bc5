//! `iam-warden undo`: reverses applied changes from their audit lines,
//! newest first, where AWS allows, and says plainly what cannot come back.
//!
//! The audit line of every change holds the resource and its before-state,
//! which is all a reversal needs. Record-keeping lines (deactivation tags)
//! are not reversed on their own: undoing a deactivation removes its record.

use aws_sdk_iam::types::{StatusType, Tag};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::aws::{Call, Clients};
use crate::error::Error;
use crate::plan::deactivation_tag;
use crate::quarantine::QuarantinePolicy;
use crate::state::Caller;

/// Which applied changes to reverse.
#[derive(Debug, Default)]
pub struct Selection {
    pub event: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// One applied change and what became of its reversal.
#[derive(Debug, Serialize)]
pub struct Reversal {
    pub time: String,
    pub action: String,
    pub resource: String,
    pub result: UndoResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UndoResult {
    Reversed,
    DryRun,
    /// AWS cannot give it back, or iam-warden will not.
    Irreversible,
    Failed,
}

/// The applied changes `audit_log` holds that `selection` picks, newest first.
pub fn applied_changes(audit_log: &str, selection: &Selection) -> Vec<Value> {
    let mut lines: Vec<Value> = audit_log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|r| r["log"] == "audit" && r["outcome"] == "applied")
        .filter(|r| {
            !matches!(
                r["action"].as_str(),
                Some("record-deactivation" | "clear-deactivation-record")
            )
        })
        .filter(|r| {
            selection
                .event
                .as_deref()
                .is_none_or(|id| r["event_id"].as_str() == Some(id))
        })
        .filter(|r| {
            selection.since.is_none_or(|since| {
                r["time"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t >= since)
            })
        })
        .collect();
    lines.reverse();
    lines
}

pub async fn undo(clients: &Clients, caller: &Caller, changes: &[Value], dry_run: bool) -> Vec<Reversal> {
    let mut reversals = Vec::with_capacity(changes.len());
    for change in changes {
        let action = change["action"].as_str().unwrap_or_default().to_owned();
        let step = match change["account"].as_str() {
            Some(account) if account != caller.account_id => Step::Cannot(format!(
                "made in account {account}, not {}: run undo with --config settings that serve it",
                caller.account_id
            )),
            _ => plan(change, caller),
        };
        let (result, detail) = match step {
            Step::Cannot(why) => (UndoResult::Irreversible, Some(why)),
            Step::Call(_) if dry_run => (UndoResult::DryRun, None),
            Step::Call(call) => match call.run(clients).await {
                Ok(()) => (UndoResult::Reversed, None),
                Err(error) => (UndoResult::Failed, Some(error.to_string())),
            },
        };
        let reversal = Reversal {
            time: change["time"].as_str().unwrap_or_default().to_owned(),
            resource: describe(&change["resource"]),
            action,
            result,
            detail,
        };
        if let Ok(line) = serde_json::to_string(&serde_json::json!({"log": "undo", "reversal": &reversal})) {
            eprintln!("{line}");
        }
        reversals.push(reversal);
    }
    reversals
}

enum Step {
    Call(Reverse),
    Cannot(String),
}

/// The AWS call that puts a change back.
enum Reverse {
    ReactivateKey {
        user: String,
        id: String,
    },
    DetachPolicy {
        user: String,
        arn: String,
    },
    AttachPolicy {
        user: String,
        arn: String,
    },
    DetachRolePolicy {
        role: String,
        arn: String,
    },
    AttachRolePolicy {
        role: String,
        arn: String,
    },
    ClearPasswordReset {
        user: String,
    },
    PutUserPolicy {
        user: String,
        name: String,
        document: String,
    },
    AddUserToGroup {
        user: String,
        group: String,
    },
    PasswordPolicy(Option<Value>),
    CreateProvider(Value),
    StopLogging {
        arn: String,
        region: String,
    },
}

fn plan(change: &Value, caller: &Caller) -> Step {
    let resource = &change["resource"];
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let user = text(&resource["user"]).or_else(|| text(&resource["name"]));
    let deny_policy = caller.quarantine_arn(QuarantinePolicy::DenyWithoutMfa);
    let deny_all = caller.quarantine_arn(QuarantinePolicy::DenyAll);
    let role = text(&resource["name"]).filter(|_| resource["kind"] == "role");
    let step = match (change["action"].as_str().unwrap_or_default(), user) {
        ("quarantine-role", _) => role.map(|role| Reverse::DetachRolePolicy { role, arn: deny_all }),
        ("require-password-reset", Some(user)) => Some(Reverse::ClearPasswordReset { user }),
        ("detach-user-policy", Some(user)) => text(&resource["arn"]).map(|arn| Reverse::AttachPolicy { user, arn }),
        ("delete-user-policy", Some(user)) => text(&resource["name"])
            .zip(text(&change["before"]["document"]))
            .map(|(name, document)| Reverse::PutUserPolicy { user, name, document }),
        ("remove-user-from-group", Some(user)) => {
            text(&resource["group"]).map(|group| Reverse::AddUserToGroup { user, group })
        }
        ("lift-quarantine", _) => role.map(|role| Reverse::AttachRolePolicy { role, arn: deny_all }),
        ("deactivate-access-key", Some(user)) => text(&resource["id"]).map(|id| Reverse::ReactivateKey { user, id }),
        ("attach-deny-policy", Some(user)) => Some(Reverse::DetachPolicy { user, arn: deny_policy }),
        ("detach-deny-policy", Some(user)) => Some(Reverse::AttachPolicy { user, arn: deny_policy }),
        ("update-password-policy", _) => Some(Reverse::PasswordPolicy(change["before"].get("present").cloned())),
        ("delete-oidc-provider", _) => Some(Reverse::CreateProvider(change["before"].clone())),
        ("start-logging", _) => text(&resource["arn"])
            .zip(text(&resource["region"]))
            .map(|(arn, region)| Reverse::StopLogging { arn, region }),
        ("delete-access-key", Some(user)) => {
            return Step::Cannot(format!(
                "a deleted key's secret cannot come back: create a new access key for {user}"
            ));
        }
        ("delete-login-profile", Some(user)) => {
            return Step::Cannot(format!(
                "a deleted console password cannot come back: give {user} a new login profile"
            ));
        }
        ("restore-quarantine-policy", _) => {
            return Step::Cannot("iam-warden never puts a tampered quarantine policy back".to_owned());
        }
        (action, _) => return Step::Cannot(format!("no reversal is known for {action}")),
    };
    step.map_or_else(
        || Step::Cannot("the audit line lacks what the reversal needs".to_owned()),
        Step::Call,
    )
}

impl Reverse {
    async fn run(self, clients: &Clients) -> Result<(), Error> {
        let iam = &clients.iam;
        match self {
            Reverse::ReactivateKey { user, id } => reactivate_key(iam, &user, &id).await?,
            Reverse::DetachPolicy { user, arn } => {
                let detach = iam.detach_user_policy().user_name(user).policy_arn(arn).send().await;
                detach.or_absent("iam:DetachUserPolicy", "NoSuchEntity")?;
            }
            Reverse::AttachPolicy { user, arn } => {
                iam.attach_user_policy()
                    .user_name(user)
                    .policy_arn(arn)
                    .send()
                    .await
                    .during("iam:AttachUserPolicy")?;
            }
            Reverse::DetachRolePolicy { role, arn } => {
                let detach = iam.detach_role_policy().role_name(role).policy_arn(arn).send().await;
                detach.or_absent("iam:DetachRolePolicy", "NoSuchEntity")?;
            }
            Reverse::AttachRolePolicy { role, arn } => {
                iam.attach_role_policy()
                    .role_name(role)
                    .policy_arn(arn)
                    .send()
                    .await
                    .during("iam:AttachRolePolicy")?;
            }
            Reverse::ClearPasswordReset { user } => {
                iam.update_login_profile()
                    .user_name(user)
                    .password_reset_required(false)
                    .send()
                    .await
                    .during("iam:UpdateLoginProfile")?;
            }
            Reverse::PutUserPolicy { user, name, document } => {
                iam.put_user_policy()
                    .user_name(user)
                    .policy_name(name)
                    .policy_document(document)
                    .send()
                    .await
                    .during("iam:PutUserPolicy")?;
            }
            Reverse::AddUserToGroup { user, group } => {
                iam.add_user_to_group()
                    .user_name(user)
                    .group_name(group)
                    .send()
                    .await
                    .during("iam:AddUserToGroup")?;
            }
            Reverse::PasswordPolicy(None) => {
                let delete = iam.delete_account_password_policy().send().await;
                delete.or_absent("iam:DeleteAccountPasswordPolicy", "NoSuchEntity")?;
            }
            Reverse::PasswordPolicy(Some(before)) => put_password_policy(iam, &before).await?,
            Reverse::CreateProvider(before) => create_provider(iam, &before).await?,
            Reverse::StopLogging { arn, region } => {
                clients
                    .cloudtrail_in(&region)
                    .stop_logging()
                    .name(arn)
                    .send()
                    .await
                    .during("cloudtrail:StopLogging")?;
            }
        }
        Ok(())
    }
}

async fn reactivate_key(iam: &aws_sdk_iam::Client, user: &str, id: &str) -> Result<(), Error> {
    iam.update_access_key()
        .user_name(user)
        .access_key_id(id)
        .status(StatusType::Active)
        .send()
        .await
        .during("iam:UpdateAccessKey")?;
    // The key is active again: its deactivation record no longer says anything true.
    let untag = iam
        .untag_user()
        .user_name(user)
        .tag_keys(deactivation_tag(id))
        .send()
        .await;
    untag.or_absent("iam:UntagUser", "NoSuchEntity").map(drop)
}

async fn put_password_policy(iam: &aws_sdk_iam::Client, before: &Value) -> Result<(), Error> {
    let number = |field: &str| before[field].as_i64().and_then(|n| i32::try_from(n).ok());
    let flag = |field: &str| before[field].as_bool().unwrap_or(false);
    iam.update_account_password_policy()
        .set_minimum_password_length(number("minimumLength").filter(|n| *n > 0))
        .require_symbols(flag("requireSymbols"))
        .require_numbers(flag("requireNumbers"))
        .require_uppercase_characters(flag("requireUppercase"))
        .require_lowercase_characters(flag("requireLowercase"))
        .allow_users_to_change_password(flag("allowUsersToChangePassword"))
        .set_max_password_age(number("maxAgeDays"))
        .set_password_reuse_prevention(number("reusePrevention"))
        .hard_expiry(flag("hardExpiry"))
        .send()
        .await
        .during("iam:UpdateAccountPasswordPolicy")
        .map(drop)
}

async fn create_provider(iam: &aws_sdk_iam::Client, before: &Value) -> Result<(), Error> {
    let strings = |field: &str| -> Vec<String> {
        before[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let tags = before["tags"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Tag::builder().key(key).value(value.as_str()?).build().ok())
        .collect();
    let url = before["url"].as_str().unwrap_or_default();
    let create = iam
        .create_open_id_connect_provider()
        .url(format!("https://{}", url.trim_start_matches("https://")))
        .set_client_id_list(Some(strings("clientIds")))
        .set_thumbprint_list(Some(strings("thumbprints")))
        .set_tags(Some(tags))
        .send()
        .await;
    create
        .or_absent("iam:CreateOpenIDConnectProvider", "EntityAlreadyExists")
        .map(drop)
}

/// The resource as `plan` prints it, from its JSON form in the audit line.
fn describe(resource: &Value) -> String {
    let field = |name: &str| resource[name].as_str().unwrap_or_default();
    match field("kind") {
        "user" => format!("user/{}", field("name")),
        "role" => format!("role/{}", field("name")),
        "user-policy" => format!(
            "user-policy/{}/{}",
            field("user"),
            field("arn").rsplit('/').next().unwrap_or_default()
        ),
        "inline-policy" => format!("inline-policy/{}/{}", field("user"), field("name")),
        "group-membership" => format!("group-membership/{}/{}", field("user"), field("group")),
        "access-key" => format!("access-key/{}/{}", field("user"), field("id")),
        "oidc-provider" => format!("oidc-provider/{}", field("url")),
        "trail" => format!("trail/{}", field("name")),
        kind => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"{"time":"2026-11-24T10:00:00.000Z","log":"audit","action":"deactivate-access-key","resource":{"kind":"access-key","user":"a","id":"AKIA1"},"outcome":"applied","event_id":"e1","before":{}}
not json at all
{"time":"2026-11-24T10:00:01.000Z","log":"audit","action":"record-deactivation","resource":{"kind":"access-key","user":"a","id":"AKIA1"},"outcome":"applied","before":{}}
{"time":"2026-11-24T10:00:02.000Z","log":"audit","action":"delete-access-key","resource":{"kind":"access-key","user":"b","id":"AKIA2"},"outcome":"applied","before":{}}
{"time":"2026-11-24T10:00:03.000Z","log":"audit","action":"attach-deny-policy","resource":{"kind":"user","name":"c"},"outcome":"dry_run","before":{}}
{"message":"reconciled","key":"all"}"#;

    #[test]
    fn picks_applied_changes_newest_first_and_skips_record_keeping() {
        let all = applied_changes(LOG, &Selection::default());
        let actions: Vec<&str> = all.iter().map(|c| c["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["delete-access-key", "deactivate-access-key"]);

        let by_event = applied_changes(
            LOG,
            &Selection {
                event: Some("e1".into()),
                since: None,
            },
        );
        assert_eq!(by_event.len(), 1);
        let since = applied_changes(
            LOG,
            &Selection {
                event: None,
                since: Some("2026-11-24T10:00:01Z".parse().unwrap()),
            },
        );
        assert_eq!(since[0]["action"], "delete-access-key");
        assert_eq!(since.len(), 1);
    }

    #[test]
    fn what_cannot_come_back_says_so() {
        let caller = Caller::default();
        let change = |action: &str| serde_json::json!({"action": action, "resource": {"kind": "user", "name": "u", "user": "u"}});
        for action in [
            "delete-access-key",
            "delete-login-profile",
            "restore-quarantine-policy",
            "mystery",
        ] {
            assert!(matches!(plan(&change(action), &caller), Step::Cannot(_)), "{action}");
        }
        assert!(matches!(
            plan(&change("attach-deny-policy"), &caller),
            Step::Call(Reverse::DetachPolicy { .. })
        ));
    }
}
