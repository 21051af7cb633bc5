//! CloudTrail events to resource keys, as a pure function of the message body.
//!
//! Real events are untidy: fields go missing, arrive as `null` or `"null"`,
//! booleans come as strings, and times lack fractions. The parser reads a
//! generic JSON value and asks only for what it needs, so none of that can
//! make a valid event fail, and nothing in a body can make it panic.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use crate::document;
use crate::name::Name;
use crate::work::{Expansion, Facets, Key};
use crate::written::{Fact, Principal, Written};

/// One CloudTrail record and what it means for iam-warden.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Option<String>,
    /// The account the call was made in: EventBridge's `account`, else the
    /// record's `recipientAccountId`.
    pub account: Option<String>,
    pub name: String,
    pub time: Option<DateTime<Utc>>,
    pub effect: Effect,
    /// The call set a user's password.
    pub sets_password: bool,
    /// What the call wrote, when its record says.
    pub written: Option<Written>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// These resources may have changed: reconcile them.
    Reconcile(Vec<Target>),
    /// The call failed, so it changed nothing.
    Failed,
    /// Nothing iam-warden manages.
    Unmanaged,
}

/// What an event may have changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A resource, in these facets.
    Key(Key, Facets),
    /// What several identities may do, which only a read can name.
    Expand(Expansion),
}

/// Why a body is not a CloudTrail message; it goes to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// Accepts the EventBridge envelope, an SNS notification wrapping it, a bare
/// record, and the log-file form `{"Records": [...]}`.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, Malformed> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Malformed(format!("not JSON: {e}")))?;
    let value = match sns_message(&value) {
        Some(inner) => serde_json::from_str(inner).map_err(|e| Malformed(format!("SNS Message is not JSON: {e}")))?,
        None => value,
    };
    let envelope_account = text(&value, &["account"]);
    records(&value)?
        .into_iter()
        .map(|record| event(record, envelope_account.clone()))
        .collect()
}

fn sns_message(value: &Value) -> Option<&str> {
    (value.get("Type")?.as_str()? == "Notification").then(|| value.get("Message")?.as_str())?
}

fn records(value: &Value) -> Result<Vec<&Value>, Malformed> {
    // EventBridge. The record itself decides, not `detail-type`: ConsoleLogin
    // arrives as "AWS Console Sign In via CloudTrail", and captures vary.
    if let Some(detail) = value.get("detail") {
        return match detail.get("eventName") {
            Some(_) => Ok(vec![detail]),
            None => Err(Malformed(
                "EventBridge event carries no CloudTrail record in detail".to_owned(),
            )),
        };
    }
    if let Some(records) = value.get("Records") {
        let records = records
            .as_array()
            .ok_or_else(|| Malformed("Records is not a list".to_owned()))?;
        return Ok(records.iter().collect());
    }
    if value.get("eventName").is_some() {
        return Ok(vec![value]);
    }
    Err(Malformed(
        "neither an EventBridge, SNS, log-file nor bare CloudTrail record".to_owned(),
    ))
}

fn event(record: &Value, envelope_account: Option<String>) -> Result<Event, Malformed> {
    let name = text(record, &["eventName"]).ok_or_else(|| Malformed("record has no eventName".to_owned()))?;
    let effect = if text(record, &["errorCode"]).is_some() || failed_sign_in(record) {
        Effect::Failed
    } else {
        match keys(&name, record) {
            keys if keys.is_empty() => Effect::Unmanaged,
            keys => Effect::Reconcile(keys),
        }
    };
    Ok(Event {
        id: text(record, &["eventID"]),
        account: envelope_account.or_else(|| text(record, &["recipientAccountId"])),
        time: text(record, &["eventTime"]).and_then(|t| timestamp(&t)),
        sets_password: matches!(effect, Effect::Reconcile(_)) && sets_password(&name, record),
        written: matches!(effect, Effect::Reconcile(_))
            .then(|| written(&name, record))
            .flatten(),
        name,
        effect,
    })
}

/// A failed console sign-in has an `errorMessage` and no `errorCode`.
fn failed_sign_in(record: &Value) -> bool {
    text(record, &["responseElements", "ConsoleLogin"]).is_some_and(|r| r == "Failure")
}

/// A managed policy's event: iam-warden's own quarantine policy is checked
/// again; a new default version of any other changes what every holder of
/// the policy may do. So may a deletion: under its ARN a policy may already
/// have been made again, and attached.
fn managed_policy(name: &str, record: &Value) -> Option<Target> {
    let arn = text(record, &["requestParameters", "policyArn"])?;
    if arn.contains(&format!(":policy{}", crate::quarantine::PATH)) {
        return Some(Target::Key(Key::QuarantinePolicies, Facets::ALL));
    }
    let set_as_default = record
        .pointer("/requestParameters/setAsDefault")
        .and_then(Value::as_bool);
    let made_default = match name {
        "SetDefaultPolicyVersion" | "DeletePolicy" => true,
        "CreatePolicyVersion" => set_as_default == Some(true),
        _ => false,
    };
    made_default.then_some(Target::Expand(Expansion::PolicyHolders(arn)))
}

/// What an event names, each key with the facets it can change (all, for
/// keys that have no facets).
fn keys(name: &str, record: &Value) -> Vec<Target> {
    let user = |facets: Facets| {
        let named = text(record, &["requestParameters", "userName"]);
        // Without userName, an IAM user acted on itself.
        named
            .or_else(|| iam_user(record))
            .map(|name| Target::Key(Key::User(Name::from(name)), facets))
    };
    let whole = |key: Key| Target::Key(key, Facets::ALL);
    let provider_arn =
        |section: &str| text(record, &[section, "openIDConnectProviderArn"]).map(|arn| whole(Key::OidcProvider(arn)));
    let key = match name {
        "UpdateAccountPasswordPolicy" | "DeleteAccountPasswordPolicy" => Some(whole(Key::PasswordPolicy)),
        // Tags can exempt a user from any rule, and hold its deactivation records.
        "CreateUser" | "TagUser" | "UntagUser" => user(Facets::ALL),
        "CreateLoginProfile"
        | "UpdateLoginProfile"
        | "DeleteLoginProfile"
        | "EnableMFADevice"
        | "DeactivateMFADevice"
        | "ResyncMFADevice"
        | "ChangePassword" => user(Facets::CONSOLE),
        "CreateAccessKey" | "UpdateAccessKey" | "DeleteAccessKey" => user(Facets::KEYS),
        // The MFA quarantine is an attached policy too.
        "AttachUserPolicy" | "DetachUserPolicy" => user(Facets::PERMISSIONS | Facets::CONSOLE),
        "PutUserPolicy" | "DeleteUserPolicy" | "AddUserToGroup" | "RemoveUserFromGroup" => user(Facets::PERMISSIONS),
        // The group (rule group-permissions); its reconcile names the members
        // when what it now grants could change their findings.
        "AttachGroupPolicy" | "DetachGroupPolicy" | "PutGroupPolicy" | "DeleteGroupPolicy" => {
            text(record, &["requestParameters", "groupName"]).map(|group| whole(Key::Group(Name::from(group))))
        }
        "ConsoleLogin" => iam_user(record).map(|name| Target::Key(Key::User(Name::from(name)), Facets::CONSOLE)),
        "CreateOpenIDConnectProvider" => provider_arn("responseElements").or(Some(whole(Key::OidcProviders))),
        // Untagging can remove an exemption tag, so it is watched like tagging.
        "AddClientIDToOpenIDConnectProvider"
        | "RemoveClientIDFromOpenIDConnectProvider"
        | "UpdateOpenIDConnectProviderThumbprint"
        | "TagOpenIDConnectProvider"
        | "UntagOpenIDConnectProvider" => provider_arn("requestParameters"),
        "CreateTrail" | "StopLogging" | "DeleteTrail" | "UpdateTrail" | "PutEventSelectors" => Some(whole(Key::Trails)),
        "UploadServerCertificate" | "UpdateServerCertificate" => Some(whole(Key::ServerCertificates)),
        // A rename: the old name is gone, the new one is judged afresh.
        "UpdateUser" => {
            let renamed =
                text(record, &["requestParameters", "newUserName"]).map(|name| whole(Key::User(Name::from(name))));
            return user(Facets::ALL).into_iter().chain(renamed).collect();
        }
        "CreatePolicyVersion" | "SetDefaultPolicyVersion" | "DeletePolicy" | "DeletePolicyVersion" => {
            managed_policy(name, record)
        }
        // Tagging and untagging can add or remove an exemption.
        "CreateRole"
        | "UpdateAssumeRolePolicy"
        | "AttachRolePolicy"
        | "DetachRolePolicy"
        | "PutRolePolicy"
        | "DeleteRolePolicy"
        | "TagRole"
        | "UntagRole" => {
            text(record, &["requestParameters", "roleName"]).map(|role| whole(Key::Role(Name::from(role))))
        }
        _ => None,
    };
    key.into_iter().collect()
}

/// What the call left on the identity it wrote to, from its request: the
/// trust a role was given, a policy attached to or detached from a user,
/// group or role, an inline policy put (with its document) or deleted, an
/// access key made, set active or inactive, or deleted.
/// `None` where the record does not say, as when CloudTrail leaves out a
/// large document.
fn written(name: &str, record: &Value) -> Option<Written> {
    let param = |field: &str| text(record, &["requestParameters", field]);
    let document = |field: &str| param(field).and_then(|d| document::json(&d));
    let role = || param("roleName").map(|n| Principal::Role(Name::from(n)));
    let user = || param("userName").map(|n| Principal::User(Name::from(n)));
    let (principal, fact) = match name {
        "CreateAccessKey" => {
            let key = |field: &str| text(record, &["responseElements", "accessKey", field]);
            let id = key("accessKeyId")?;
            let owner = key("userName").map(|n| Principal::User(Name::from(n)));
            (owner.or_else(user)?, Fact::Key { id, active: true })
        }
        "UpdateAccessKey" => {
            let active = match param("status")?.as_str() {
                "Active" => true,
                "Inactive" => false,
                _ => return None,
            };
            (
                user()?,
                Fact::Key {
                    id: param("accessKeyId")?,
                    active,
                },
            )
        }
        "DeleteAccessKey" => (user()?, Fact::NoKey(param("accessKeyId")?)),
        "CreateRole" => (role()?, Fact::Trusts(document("assumeRolePolicyDocument")?)),
        "UpdateAssumeRolePolicy" => (role()?, Fact::Trusts(document("policyDocument")?)),
        _ => {
            // {Attach,Detach,Put,Delete}{User,Group,Role}Policy
            let rest = name.strip_suffix("Policy")?;
            let (verb, holder) = ["Attach", "Detach", "Put", "Delete"]
                .iter()
                .find_map(|verb| Some((*verb, rest.strip_prefix(verb)?)))?;
            let principal = match holder {
                "User" => user()?,
                "Group" => Principal::Group(Name::from(param("groupName")?)),
                "Role" => role()?,
                _ => return None,
            };
            let fact = match verb {
                "Attach" => Fact::Attached(param("policyArn")?),
                "Detach" => Fact::Detached(param("policyArn")?),
                "Put" => Fact::Inline {
                    name: param("policyName")?,
                    document: document("policyDocument")?,
                },
                _ => Fact::NoInline(param("policyName")?),
            };
            (principal, fact)
        }
    };
    Some(Written { principal, fact })
}

/// Whether the call set a user's password: IAM says when a password was last
/// set only in the credential report, up to four hours old.
fn sets_password(name: &str, record: &Value) -> bool {
    match name {
        "ChangePassword" | "CreateLoginProfile" => true,
        // Without a password, it only sets the flag that forces a new one.
        "UpdateLoginProfile" => record
            .get("requestParameters")
            .and_then(|p| p.get("password"))
            .is_some_and(|p| !p.is_null()),
        _ => false,
    }
}

fn iam_user(record: &Value) -> Option<String> {
    (text(record, &["userIdentity", "type"])? == "IAMUser").then(|| text(record, &["userIdentity", "userName"]))?
}

/// A non-empty string at `path`; anything else, `null` and `"null"` included, is absent.
fn text(value: &Value, path: &[&str]) -> Option<String> {
    let found = path.iter().try_fold(value, |at, field| at.get(field))?.as_str()?;
    (!found.is_empty() && found != "null").then(|| found.to_owned())
}

/// RFC 3339, or `2022-09-15 13:45:24` as some captures write it (UTC).
fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").map(|t| t.and_utc()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, extra: Value) -> Value {
        let mut record = serde_json::json!({
            "eventVersion": "1.08",
            "eventID": "11111111-2222-3333-4444-555555555555",
            "eventTime": "2026-11-23T14:03:00Z",
            "eventName": name,
            "eventSource": "iam.amazonaws.com",
            "userIdentity": {"type": "IAMUser", "userName": "caller"},
        });
        for (k, v) in extra.as_object().unwrap() {
            record[k] = v.clone();
        }
        record
    }

    fn keys_of(body: &Value) -> Vec<Key> {
        named(body)
            .into_iter()
            .filter_map(|target| match target {
                Target::Key(key, _) => Some(key),
                Target::Expand(_) => None,
            })
            .collect()
    }

    fn named(body: &Value) -> Vec<Target> {
        match &parse(body.to_string().as_bytes()).unwrap()[..] {
            [
                Event {
                    effect: Effect::Reconcile(keys),
                    ..
                },
            ] => keys.clone(),
            other => panic!("expected one reconcilable event, got {other:?}"),
        }
    }

    const TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;
    const LOGS: &str = "arn:aws:iam::123456789012:policy/logs";

    fn written_by(name: &str, request: Value) -> Option<Written> {
        let body = record(name, serde_json::json!({"requestParameters": request}));
        parse(body.to_string().as_bytes()).unwrap().remove(0).written
    }

    fn wrote(principal: Principal, fact: Fact) -> Option<Written> {
        Some(Written { principal, fact })
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// What a policy event wrote is what its request says.
    #[test]
    fn what_a_policy_event_wrote_is_what_its_request_says() {
        let (ci, ops, dev) = (
            || Principal::Role("ci".into()),
            || Principal::Group("ops".into()),
            || Principal::User("dev".into()),
        );
        let cases = [
            (
                "UpdateAssumeRolePolicy",
                serde_json::json!({"roleName": "ci", "policyDocument": TRUST}),
                wrote(ci(), Fact::Trusts(json(TRUST))),
            ),
            (
                "CreateRole",
                serde_json::json!({"roleName": "ci", "assumeRolePolicyDocument": TRUST}),
                wrote(ci(), Fact::Trusts(json(TRUST))),
            ),
            (
                "AttachRolePolicy",
                serde_json::json!({"roleName": "ci", "policyArn": LOGS}),
                wrote(ci(), Fact::Attached(LOGS.into())),
            ),
            (
                "DetachGroupPolicy",
                serde_json::json!({"groupName": "ops", "policyArn": LOGS}),
                wrote(ops(), Fact::Detached(LOGS.into())),
            ),
            (
                "PutGroupPolicy",
                serde_json::json!({"groupName": "ops", "policyName": "logs", "policyDocument": TRUST}),
                wrote(
                    ops(),
                    Fact::Inline {
                        name: "logs".into(),
                        document: json(TRUST),
                    },
                ),
            ),
            (
                "DeleteUserPolicy",
                serde_json::json!({"userName": "dev", "policyName": "logs"}),
                wrote(dev(), Fact::NoInline("logs".into())),
            ),
        ];
        for (name, request, expected) in cases {
            assert_eq!(written_by(name, request.clone()), expected, "{name} {request}");
        }
    }

    /// A key's event names the key in its request, or in its response when
    /// the call made it.
    #[test]
    fn what_a_key_event_wrote_is_what_its_request_or_response_says() {
        let dev = || Principal::User("dev".into());
        let inactive = serde_json::json!({"userName": "dev", "accessKeyId": "AKIA1", "status": "Inactive"});
        let key = |id: &str, active| Fact::Key { id: id.into(), active };
        assert_eq!(
            written_by("UpdateAccessKey", inactive),
            wrote(dev(), key("AKIA1", false))
        );
        let deleted = serde_json::json!({"userName": "dev", "accessKeyId": "AKIA1"});
        assert_eq!(
            written_by("DeleteAccessKey", deleted),
            wrote(dev(), Fact::NoKey("AKIA1".into()))
        );
        let created = record(
            "CreateAccessKey",
            serde_json::json!({"requestParameters": null, "responseElements": {"accessKey": {"accessKeyId": "AKIA2", "status": "Active", "userName": "dev"}}}),
        );
        let made = parse(created.to_string().as_bytes()).unwrap().remove(0).written;
        assert_eq!(made, wrote(dev(), key("AKIA2", true)));
    }

    /// An event whose request does not say what it wrote, whole, is read
    /// again as any other.
    #[test]
    fn an_event_that_does_not_say_what_it_wrote_proves_nothing() {
        let cases = [
            // The name without the document: the read may hold the one before.
            (
                "PutRolePolicy",
                serde_json::json!({"roleName": "ci", "policyName": "logs"}),
            ),
            (
                "UpdateAssumeRolePolicy",
                serde_json::json!({"roleName": "ci", "policyDocument": "{not json"}),
            ),
            ("UpdateAssumeRolePolicy", serde_json::json!({"policyDocument": TRUST})),
            (
                "PutRolePermissionsBoundary",
                serde_json::json!({"roleName": "ci", "permissionsBoundary": LOGS}),
            ),
            (
                "UpdateAccessKey",
                serde_json::json!({"userName": "dev", "accessKeyId": "AKIA1"}),
            ),
            (
                "TagUser",
                serde_json::json!({"userName": "dev", "tags": [{"key": "a", "value": "b"}]}),
            ),
        ];
        for (name, request) in cases {
            assert_eq!(written_by(name, request.clone()), None, "{name} {request}");
        }
        let mut failed = record(
            "AttachRolePolicy",
            serde_json::json!({"requestParameters": {"roleName": "ci", "policyArn": LOGS}}),
        );
        failed["errorCode"] = "AccessDenied".into();
        let written = parse(failed.to_string().as_bytes()).unwrap().remove(0).written;
        assert_eq!(written, None, "a failed call wrote nothing");
    }

    #[test]
    fn maps_each_event_to_its_key() {
        let arn = "arn:aws:iam::123456789012:oidc-provider/rogue.example.com";
        let cases = [
            (
                record("DeleteAccountPasswordPolicy", serde_json::json!({})),
                Key::PasswordPolicy,
            ),
            (
                record(
                    "UpdateAccessKey",
                    serde_json::json!({"requestParameters": {"userName": "alice"}}),
                ),
                Key::User("alice".into()),
            ),
            (
                record("CreateAccessKey", serde_json::json!({"requestParameters": null})),
                Key::User("caller".into()),
            ),
            (
                record(
                    "ConsoleLogin",
                    serde_json::json!({"responseElements": {"ConsoleLogin": "Success"}}),
                ),
                Key::User("caller".into()),
            ),
            (
                record(
                    "CreateOpenIDConnectProvider",
                    serde_json::json!({"responseElements": {"openIDConnectProviderArn": arn}}),
                ),
                Key::OidcProvider(arn.into()),
            ),
            (
                record(
                    "CreateOpenIDConnectProvider",
                    serde_json::json!({"responseElements": "null"}),
                ),
                Key::OidcProviders,
            ),
            (
                record(
                    "UpdateOpenIDConnectProviderThumbprint",
                    serde_json::json!({"requestParameters": {"openIDConnectProviderArn": arn}}),
                ),
                Key::OidcProvider(arn.into()),
            ),
            (
                record(
                    "StopLogging",
                    serde_json::json!({"eventSource": "cloudtrail.amazonaws.com"}),
                ),
                Key::Trails,
            ),
            (
                record(
                    "CreatePolicyVersion",
                    serde_json::json!({"requestParameters": {
                        "policyArn": "arn:aws:iam::123456789012:policy/iam-warden/iam-warden-deny-without-mfa",
                        "setAsDefault": true}}),
                ),
                Key::QuarantinePolicies,
            ),
        ];
        for (body, key) in cases {
            assert_eq!(keys_of(&body), [key], "{body}");
        }
    }

    #[test]
    fn user_events_name_the_facets_they_can_change() {
        let user = |name: &str| record(name, serde_json::json!({"requestParameters": {"userName": "u"}}));
        let cases = [
            ("UpdateAccessKey", Facets::KEYS),
            ("EnableMFADevice", Facets::CONSOLE),
            ("AttachUserPolicy", Facets::PERMISSIONS | Facets::CONSOLE),
            ("PutUserPolicy", Facets::PERMISSIONS),
            ("AddUserToGroup", Facets::PERMISSIONS),
            ("TagUser", Facets::ALL),
        ];
        for (name, facets) in cases {
            assert_eq!(
                named(&user(name)),
                [Target::Key(Key::User("u".into()), facets)],
                "{name}"
            );
        }
        let group = record(
            "PutGroupPolicy",
            serde_json::json!({"requestParameters": {"groupName": "admins"}}),
        );
        assert_eq!(
            named(&group),
            [Target::Key(Key::Group("admins".into()), Facets::ALL)],
            "the group, whose reconcile names its members when they need judging"
        );
        let own = record("ChangePassword", serde_json::json!({}));
        assert_eq!(named(&own), [Target::Key(Key::User("caller".into()), Facets::CONSOLE)]);
    }

    #[test]
    fn password_changes_are_told_apart_from_a_forced_reset() {
        let event = |name: &str, request| parse(record(name, request).to_string().as_bytes()).unwrap().remove(0);
        assert!(event("ChangePassword", serde_json::json!({})).sets_password);
        let set =
            serde_json::json!({"requestParameters": {"userName": "u", "password": "HIDDEN_DUE_TO_SECURITY_REASONS"}});
        assert!(event("UpdateLoginProfile", set).sets_password);
        let reset = serde_json::json!({"requestParameters": {"userName": "u", "passwordResetRequired": true}});
        assert!(
            !event("UpdateLoginProfile", reset).sets_password,
            "iam-warden's own reset sets no password"
        );
        let failed = serde_json::json!({"errorCode": "EntityTemporarilyUnmodifiable"});
        assert!(!event("ChangePassword", failed).sets_password);
    }

    #[test]
    fn a_rename_names_both_users() {
        let rename = record(
            "UpdateUser",
            serde_json::json!({"requestParameters": {"userName": "old", "newUserName": "new"}}),
        );
        assert_eq!(keys_of(&rename), [Key::User("old".into()), Key::User("new".into())]);
    }

    #[test]
    fn a_new_default_version_or_deletion_of_another_policy_names_its_holders() {
        let arn = "arn:aws:iam::123456789012:policy/team/app";
        let holders = [Target::Expand(Expansion::PolicyHolders(arn.to_owned()))];
        let set = record(
            "SetDefaultPolicyVersion",
            serde_json::json!({"requestParameters": {"policyArn": arn, "versionId": "v2"}}),
        );
        assert_eq!(named(&set), holders);
        let made = |default: bool| {
            let request = serde_json::json!({"policyArn": arn, "policyDocument": "{}", "setAsDefault": default});
            record(
                "CreatePolicyVersion",
                serde_json::json!({ "requestParameters": request }),
            )
        };
        assert_eq!(named(&made(true)), holders);
        let deleted = record(
            "DeletePolicy",
            serde_json::json!({"requestParameters": {"policyArn": arn}}),
        );
        assert_eq!(named(&deleted), holders, "a policy made again under its ARN is judged");
        let kept = parse(made(false).to_string().as_bytes()).unwrap().remove(0);
        assert_eq!(
            kept.effect,
            Effect::Unmanaged,
            "a version not made default changes no one"
        );
    }

    #[test]
    fn accepts_all_four_envelopes() {
        let bare = record(
            "DeleteLoginProfile",
            serde_json::json!({"requestParameters": {"userName": "bob"}}),
        );
        let eventbridge = serde_json::json!({
            "version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "detail": bare,
        });
        let sns = serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": eventbridge.to_string()});
        let file = serde_json::json!({"Records": [bare]});
        for body in [&bare, &eventbridge, &sns, &file] {
            assert_eq!(keys_of(body), [Key::User("bob".into())], "{body}");
        }
    }

    #[test]
    fn the_account_is_the_envelope_s_else_the_record_s() {
        let mut bare = record(
            "DeleteLoginProfile",
            serde_json::json!({"requestParameters": {"userName": "bob"}}),
        );
        bare["recipientAccountId"] = "222222222222".into();
        let forwarded = serde_json::json!({"account": "333333333333", "detail": bare});
        let account = |body: &Value| parse(body.to_string().as_bytes()).unwrap()[0].account.clone();
        assert_eq!(account(&bare).as_deref(), Some("222222222222"));
        assert_eq!(account(&forwarded).as_deref(), Some("333333333333"));
        assert_eq!(account(&record("DeleteLoginProfile", serde_json::json!({}))), None);
    }

    #[test]
    fn failed_and_foreign_events_are_not_reconciled() {
        let failed = record("DeleteAccessKey", serde_json::json!({"errorCode": "AccessDenied"}));
        let bad_login = record(
            "ConsoleLogin",
            serde_json::json!({"responseElements": {"ConsoleLogin": "Failure"}, "errorMessage": "Failed authentication"}),
        );
        let foreign = record("DescribeInstances", serde_json::json!({}));
        let root_login = record("ConsoleLogin", serde_json::json!({"userIdentity": {"type": "Root"}}));
        let effects: Vec<Effect> = [failed, bad_login, foreign, root_login]
            .iter()
            .map(|body| parse(body.to_string().as_bytes()).unwrap().remove(0).effect)
            .collect();
        assert_eq!(
            effects,
            [Effect::Failed, Effect::Failed, Effect::Unmanaged, Effect::Unmanaged]
        );
    }

    #[test]
    fn reads_id_and_time_in_both_spellings() {
        let spaced = record(
            "TagUser",
            serde_json::json!({"eventTime": "2022-09-15 13:45:24", "requestParameters": {"userName": "u"}}),
        );
        let event = parse(spaced.to_string().as_bytes()).unwrap().remove(0);
        assert_eq!(event.time, Some("2022-09-15T13:45:24Z".parse().unwrap()));
        assert_eq!(event.id.as_deref(), Some("11111111-2222-3333-4444-555555555555"));
    }

    #[test]
    fn rejects_what_is_not_cloudtrail() {
        let bodies: [&[u8]; 7] = [
            b"\xff\xfe binary",
            b"{\"detail-type\": \"AWS API Call via CloudTrail\", \"detail\": ",
            b"[1, 2, 3]",
            b"{\"Records\": {\"not\": \"a list\"}}",
            b"{\"detail-type\": \"Scheduled Event\", \"detail\": {}}",
            b"{\"Type\": \"Notification\", \"Message\": \"not json\"}",
            b"{\"eventName\": 42}",
        ];
        for body in bodies {
            assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
    }
}

#[cfg(test)]
mod samples {
    use std::path::Path;

    use super::*;

    /// 142 published CloudTrail events, copied unedited from their sources
    /// (see PROVENANCE.tsv beside them).
    fn samples() -> Vec<(String, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cloudtrail-samples");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_published_sample_parses() {
        let samples = samples();
        assert_eq!(samples.len(), 142);
        for (name, body) in &samples {
            let events = parse(body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!events.is_empty(), "{name}");
            let expected = name.split("__").next().unwrap();
            assert!(events.iter().all(|e| e.name == expected), "{name}: {events:?}");
        }
    }

    #[test]
    fn samples_map_to_the_keys_of_the_design_table() {
        let mut by_effect = std::collections::BTreeMap::<&str, usize>::new();
        for (name, body) in &samples() {
            for event in parse(body).unwrap() {
                let all = |keys: &[Target], test: fn(&Key) -> bool| {
                    keys.iter().all(|t| matches!(t, Target::Key(k, _) if test(k)))
                };
                let effect = match &event.effect {
                    Effect::Reconcile(keys) if all(keys, |k| matches!(k, Key::User(_))) => "user",
                    Effect::Reconcile(keys) if all(keys, |k| matches!(k, Key::Role(_))) => "role",
                    Effect::Reconcile(keys) if all(keys, |k| *k == Key::Trails) => "trails",
                    Effect::Reconcile(_) => "oidc",
                    Effect::Failed => "failed",
                    Effect::Unmanaged => "unmanaged",
                };
                if name.starts_with("StopLogging") && effect != "failed" {
                    assert_eq!(effect, "trails", "{name}");
                }
                if name.starts_with("AssumeRole") {
                    assert!(matches!(effect, "unmanaged" | "failed"), "{name}");
                }
                if name.starts_with("CreateRole") && effect != "failed" {
                    assert_eq!(effect, "role", "{name}");
                }
                *by_effect.entry(effect).or_default() += 1;
            }
        }
        assert!(
            by_effect["user"] > 50 && by_effect["trails"] > 10 && by_effect["failed"] > 10,
            "{by_effect:?}"
        );
    }
}

#[cfg(test)]
mod eventbridge_rule {
    use super::*;

    fn rule_events(template: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/aws")
            .join(template);
        let text = std::fs::read_to_string(path).unwrap();
        let listed = &text[text.find("eventName:").unwrap()..text.find("Targets:").unwrap()];
        listed
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- "))
            .map(str::to_owned)
            .collect()
    }

    fn record() -> serde_json::Value {
        serde_json::json!({
            "userIdentity": {"type": "IAMUser", "userName": "u"},
            "requestParameters": {
                "userName": "u",
                "roleName": "r",
                "groupName": "g",
                "openIDConnectProviderArn": "arn",
                "policyArn": "arn:aws:iam::123456789012:policy/iam-warden/iam-warden-deny-without-mfa",
            },
        })
    }

    /// The AWS template's rule sends exactly the events that name a key.
    #[test]
    fn every_event_the_rule_sends_maps_to_a_key() {
        let names = rule_events("iam-warden.yaml");
        assert_eq!(names.len(), 52);
        for name in names {
            assert!(
                !keys(&name, &record()).is_empty(),
                "the rule sends {name}, which maps to no key"
            );
        }
    }

    /// The regional forwarder sends the trail events of its region, all of which the main rule passes on.
    #[test]
    fn the_regional_forwarder_sends_trail_events_only() {
        let main = rule_events("iam-warden.yaml");
        for name in rule_events("iam-warden-region.yaml") {
            assert_eq!(
                keys(&name, &record()),
                [Target::Key(Key::Trails, Facets::ALL)],
                "{name}"
            );
            assert!(main.contains(&name), "the us-east-1 rule drops the forwarded {name}");
        }
    }
}

#[cfg(test)]
mod never_panics {
    use proptest::prelude::*;

    use super::parse;

    proptest! {
        #[test]
        fn on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse(&body);
        }

        #[test]
        fn on_json_shaped_text(body in r#"[\[\]{}",:0-9a-zA-Z \-]{0,512}"#) {
            let _ = parse(body.as_bytes());
        }

        #[test]
        fn on_records_with_wrong_types(
            name in prop_oneof![Just(serde_json::json!("CreateAccessKey")), Just(serde_json::json!(7)), Just(serde_json::Value::Null)],
            params in prop_oneof![Just(serde_json::json!({"userName": 5})), Just(serde_json::json!("null")), Just(serde_json::json!([]))],
            identity in prop_oneof![Just(serde_json::json!({"type": "IAMUser", "userName": false})), Just(serde_json::json!("x"))],
            time in prop_oneof![Just(serde_json::json!("not a time")), Just(serde_json::json!(12)), Just(serde_json::json!("2022-09-15 13:45:24"))],
        ) {
            let record = serde_json::json!({"eventName": name, "requestParameters": params, "userIdentity": identity, "eventTime": time});
            for body in [record.clone(), serde_json::json!({"Records": [record.clone()]}), serde_json::json!({"detail-type": "AWS API Call via CloudTrail", "detail": record})] {
                let _ = parse(body.to_string().as_bytes());
            }
        }
    }
}
