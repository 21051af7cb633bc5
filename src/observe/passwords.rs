//! When each user's password was last set, as best known. IAM says it only
//! in the credential report, which may be four hours old; a password change
//! seen in an event since, or a reset iam-warden required, is newer.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::state::User;

#[derive(Default)]
pub(super) struct PasswordChanges(Mutex<HashMap<String, DateTime<Utc>>>);

impl PasswordChanges {
    pub(super) fn note(&self, user: &str, at: DateTime<Utc>) {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = known.entry(user.to_owned()).or_insert(at);
        *entry = (*entry).max(at);
    }

    fn get(&self, user: &str) -> Option<DateTime<Utc>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(user).copied()
    }

    /// Fills in what is known of each console user's password.
    pub(super) fn complete(&self, users: &mut [User]) {
        for user in users {
            let name = user.name.clone();
            if let Some(profile) = user.console.as_mut().and_then(|c| c.login_profile.as_mut()) {
                let known = self.get(&name);
                profile.password_last_changed = profile.password_last_changed.max(known);
            }
        }
    }

    /// Learns from users as the credential report describes them.
    pub(super) fn learn(&self, users: &[User]) {
        for user in users {
            let changed = user
                .console
                .as_ref()
                .and_then(|c| c.login_profile.as_ref())
                .and_then(|p| p.password_last_changed);
            if let Some(changed) = changed {
                self.note(&user.name, changed);
            }
        }
    }
}
