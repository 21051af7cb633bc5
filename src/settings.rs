//! Daemon settings: an optional YAML file, then `IAM_WARDEN_<KEY>`
//! environment variables, which win.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::error::Error;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub policy: PathBuf,
    /// `None`: no events, resync only.
    pub queue_url: Option<String>,
    pub listen: String,
    #[serde(deserialize_with = "duration")]
    pub resync_interval: Duration,
    pub workers: usize,
    pub max_changes_per_hour: usize,
    /// The window `max_changes_per_hour` is counted over: an hour, but for tests.
    #[serde(deserialize_with = "duration")]
    pub change_budget_window: Duration,
    /// SQS messages held at once; no receive while all are taken.
    pub max_in_flight: usize,
    pub dry_run: bool,
    pub log_format: LogFormat,
    /// How long in-flight reconciles may run after SIGTERM before exit.
    #[serde(deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
    /// The accounts served; `None`: the caller's own account only.
    pub accounts: Option<AccountsSettings>,
    /// Reconciles of one account at once, of `workers`.
    pub max_reconciles_per_account: usize,
    /// This replica's part of the accounts; `None`: all of them, or the
    /// StatefulSet's pod ordinal when there is one.
    pub shard: Option<ShardSetting>,
}

/// Which accounts, and how each is reached (design.md §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccountsSettings {
    pub organization: Option<OrganizationSource>,
    pub list: Option<Vec<ListedAccount>>,
    /// The role to assume in each account; `{partition}` and `{account}` are filled in.
    #[serde(default = "default_role")]
    pub role: String,
    pub external_id: Option<String>,
    /// How often the account list is read again.
    #[serde(default = "default_refresh", deserialize_with = "duration")]
    pub refresh: Duration,
}

/// The Organization's active accounts, narrowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationSource {
    /// OUs (with their children) or account ids; empty: every active account.
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedAccount {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// `{index: 0, count: 3}` in a file, `0/3` in `IAM_WARDEN_SHARD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ShardForm")]
pub struct ShardSetting {
    pub index: u32,
    pub count: u32,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ShardForm {
    Fields { index: u32, count: u32 },
    Text(String),
}

impl TryFrom<ShardForm> for ShardSetting {
    type Error = String;

    fn try_from(form: ShardForm) -> Result<ShardSetting, String> {
        let (index, count) = match form {
            ShardForm::Fields { index, count } => (index, count),
            ShardForm::Text(text) => {
                let parsed = text
                    .split_once('/')
                    .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
                parsed.ok_or_else(|| format!("shard `{text}` is not INDEX/COUNT, like 0/3"))?
            }
        };
        if index >= count {
            return Err(format!("shard {index}/{count}: the index must be below the count"));
        }
        Ok(ShardSetting { index, count })
    }
}

fn default_role() -> String {
    "arn:{partition}:iam::{account}:role/iam-warden".to_owned()
}

fn default_refresh() -> Duration {
    Duration::from_secs(3600)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            policy: PathBuf::from("config/policy.yaml"),
            queue_url: None,
            listen: "0.0.0.0:8080".to_owned(),
            resync_interval: Duration::from_secs(600),
            workers: 4,
            max_changes_per_hour: 100,
            change_budget_window: Duration::from_secs(3600),
            max_in_flight: 100,
            dry_run: false,
            log_format: LogFormat::Json,
            shutdown_timeout: Duration::from_secs(20),
            accounts: None,
            max_reconciles_per_account: 2,
            shard: None,
        }
    }
}

/// The keys a file or the environment may set.
const KEYS: [&str; 13] = [
    "policy",
    "queue_url",
    "listen",
    "resync_interval",
    "workers",
    "max_changes_per_hour",
    "change_budget_window",
    "max_in_flight",
    "dry_run",
    "log_format",
    "shutdown_timeout",
    "max_reconciles_per_account",
    "shard",
];

impl Settings {
    pub fn load(file: Option<&Path>) -> Result<Settings, Error> {
        Settings::from_sources(file, std::env::vars())
    }

    fn from_sources(file: Option<&Path>, env: impl Iterator<Item = (String, String)>) -> Result<Settings, Error> {
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Yaml));
        }
        // Only our own keys: other IAM_WARDEN_* variables are the deployment's business.
        let ours = env
            .filter_map(|(name, value)| Some((name.strip_prefix("IAM_WARDEN_")?.to_ascii_lowercase(), value)))
            .filter(|(key, _)| KEYS.contains(&key.as_str()))
            .collect();
        let environment = config::Environment::default().source(Some(ours)).try_parsing(true);
        let settings: Settings = builder
            .add_source(environment)
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| Error::Settings(e.to_string()))?;
        if settings.workers == 0 {
            return Err(Error::Settings("workers must be at least 1".to_owned()));
        }
        if settings.max_in_flight == 0 {
            return Err(Error::Settings("max_in_flight must be at least 1".to_owned()));
        }
        if settings.max_reconciles_per_account == 0 {
            return Err(Error::Settings(
                "max_reconciles_per_account must be at least 1".to_owned(),
            ));
        }
        if let Some(accounts) = &settings.accounts {
            if accounts.organization.is_some() == accounts.list.is_some() {
                return Err(Error::Settings(
                    "accounts needs exactly one of `organization` and `list`".to_owned(),
                ));
            }
            if !accounts.role.contains("{account}") {
                return Err(Error::Settings(format!(
                    "accounts.role `{}` must name `{{account}}`: each account has its own role",
                    accounts.role
                )));
            }
        }
        Ok(settings)
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    let span = crate::policy::parse_duration(&text).map_err(serde::de::Error::custom)?;
    span.to_std().map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let defaults = Settings::from_sources(None, env(&[])).unwrap();
        assert_eq!(
            (defaults.workers, defaults.resync_interval, defaults.log_format),
            (4, Duration::from_secs(600), LogFormat::Json)
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.yaml");
        std::fs::write(&file, "workers: 8\nresync_interval: 1h\nqueue_url: https://sqs/q\n").unwrap();
        let overridden = env(&[
            ("IAM_WARDEN_WORKERS", "2"),
            ("IAM_WARDEN_DRY_RUN", "true"),
            ("IAM_WARDEN_PYTHON", "ignored"),
        ]);
        let settings = Settings::from_sources(Some(&file), overridden).unwrap();
        assert_eq!(settings.workers, 2, "the environment wins");
        assert_eq!(settings.resync_interval, Duration::from_secs(3600));
        assert_eq!(settings.queue_url.as_deref(), Some("https://sqs/q"));
        assert!(settings.dry_run);
    }

    #[test]
    fn accounts_come_from_a_list_or_the_organization_never_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.yaml");
        let organization = "accounts:\n  organization:\n    include: [ou-ab12-prod]\n    exclude: [\"222222222222\"]\n  externalId: iam-warden\n";
        std::fs::write(&file, organization).unwrap();
        let accounts = Settings::from_sources(Some(&file), env(&[])).unwrap().accounts.unwrap();
        let source = accounts.organization.unwrap();
        assert_eq!(
            (source.include, source.exclude),
            (vec!["ou-ab12-prod".to_owned()], vec!["222222222222".to_owned()])
        );
        assert_eq!(accounts.external_id.as_deref(), Some("iam-warden"));
        assert_eq!(accounts.role, "arn:{partition}:iam::{account}:role/iam-warden");

        let both = "accounts:\n  organization: {}\n  list: [{id: \"111111111111\"}]\n";
        let no_account = "accounts:\n  list: [{id: \"111111111111\"}]\n  role: arn:aws:iam::111111111111:role/x\n";
        for (text, expected) in [(both, "exactly one of"), (no_account, "must name `{account}`")] {
            std::fs::write(&file, text).unwrap();
            let error = Settings::from_sources(Some(&file), env(&[])).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn the_shard_is_index_over_count() {
        let from_env = Settings::from_sources(None, env(&[("IAM_WARDEN_SHARD", "1/3")])).unwrap();
        assert_eq!(from_env.shard, Some(ShardSetting { index: 1, count: 3 }));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.yaml");
        std::fs::write(&file, "shard: {index: 2, count: 3}\n").unwrap();
        let from_file = Settings::from_sources(Some(&file), env(&[])).unwrap();
        assert_eq!(from_file.shard, Some(ShardSetting { index: 2, count: 3 }));
        for bad in ["3/3", "one/3", "2"] {
            assert!(
                Settings::from_sources(None, env(&[("IAM_WARDEN_SHARD", bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_values_and_unknown_file_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.yaml");
        std::fs::write(&file, "wokers: 8\n").unwrap();
        assert!(
            Settings::from_sources(Some(&file), env(&[]))
                .unwrap_err()
                .to_string()
                .contains("wokers")
        );
        let bad = Settings::from_sources(None, env(&[("IAM_WARDEN_RESYNC_INTERVAL", "soon")])).unwrap_err();
        assert!(bad.to_string().contains("invalid duration `soon`"), "{bad}");
        assert!(Settings::from_sources(None, env(&[("IAM_WARDEN_WORKERS", "0")])).is_err());
        assert!(Settings::from_sources(None, env(&[("IAM_WARDEN_MAX_IN_FLIGHT", "0")])).is_err());
    }
}
