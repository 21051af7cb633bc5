//! What the seeded accounts hold, and changes made to them by hand.

use crate::emulator::Moto;
use crate::events::{Queues, key_event};

/// The `(user, key id)` pairs the `old-keys` seed scenario made.
pub fn old_keys(seeded: &serde_json::Value) -> Vec<(String, String)> {
    let keys = seeded["keys"].as_object().unwrap();
    keys.iter()
        .map(|(user, key)| (user.clone(), key.as_str().unwrap().to_owned()))
        .collect()
}

/// Reactivates each key by hand and sends its event, as an intruder would leave them.
pub async fn reactivate_and_announce(moto: &Moto, queues: &Queues, keys: &[(String, String)]) {
    for (user, key) in keys {
        let iam = moto.iam();
        iam.update_access_key()
            .user_name(user)
            .access_key_id(key)
            .status(aws_sdk_iam::types::StatusType::Active)
            .send()
            .await
            .unwrap();
        queues.send(&key_event(user, key)).await;
    }
}

/// How many of `keys` are still active in the emulator.
pub async fn active_keys(moto: &Moto, keys: &[(String, String)]) -> usize {
    let mut active = 0;
    for (user, key) in keys {
        let listed = moto.iam().list_access_keys().user_name(user).send().await.unwrap();
        let found = listed
            .access_key_metadata()
            .iter()
            .find(|k| k.access_key_id() == Some(key.as_str()));
        active += usize::from(found.is_some_and(|k| k.status() == Some(&aws_sdk_iam::types::StatusType::Active)));
    }
    active
}

/// Each of the user's keys by id, `true` when active.
pub async fn keys(moto: &Moto, user: &str) -> std::collections::BTreeMap<String, bool> {
    let listed = moto.iam().list_access_keys().user_name(user).send().await.unwrap();
    listed
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap().to_owned(),
                k.status() == Some(&aws_sdk_iam::types::StatusType::Active),
            )
        })
        .collect()
}

pub async fn tags(moto: &Moto, user: &str) -> std::collections::BTreeMap<String, String> {
    let listed = moto.iam().list_user_tags().user_name(user).send().await.unwrap();
    listed
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// Moves the record of `key`'s deactivation `days` back, as if it were that old.
pub async fn backdate_record(moto: &Moto, user: &str, key: &str, days: i64) {
    let then = chrono::Utc::now() - chrono::TimeDelta::days(days);
    let tag = aws_sdk_iam::types::Tag::builder()
        .key(format!("iam-warden/deactivated/{key}"))
        .value(then.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .build()
        .unwrap();
    moto.iam().tag_user().user_name(user).tags(tag).send().await.unwrap();
}

/// The ARNs of the managed policies attached to `user`.
pub async fn attached(moto: &Moto, user: &str) -> std::collections::BTreeSet<String> {
    let listed = moto
        .iam()
        .list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap();
    listed
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect()
}

/// The names of `user`'s inline policies.
pub async fn inline(moto: &Moto, user: &str) -> Vec<String> {
    let listed = moto.iam().list_user_policies().user_name(user).send().await.unwrap();
    listed.policy_names().to_vec()
}
