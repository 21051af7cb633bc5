//! Daemon settings: an optional YAML file, then `IAM_WARDEN_<KEY>`
//! environment variables, which win.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::account::{Account, AccountId};
use crate::error::Error;
use crate::shard::Shard;

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
    /// The accounts served: the caller's own unless the settings name others.
    pub accounts: AccountsSettings,
    /// Reconciles of one account at once, of `workers`.
    pub max_reconciles_per_account: usize,
    /// This replica's part of the accounts: the setting, else a StatefulSet's
    /// pod ordinal and replica count, else all of them.
    pub shard: Shard,
    /// IAM's reads lag its writes: a key reconciled because of an event that
    /// changed nothing is reconciled again this much later.
    #[serde(deserialize_with = "duration")]
    pub recheck_after: Duration,
    /// Where the record of every change is made durable before the change.
    pub journal: JournalLocation,
}

/// Where the journal is kept: a local file, appended and synced, or a
/// bucket prefix (`s3://BUCKET/PREFIX/`), which outlives the pod.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum JournalLocation {
    File(PathBuf),
    S3 {
        bucket: String,
        /// Empty, or ending in `/`.
        prefix: String,
    },
}

/// The journal of `apply` and `run` when no setting names one.
pub const DEFAULT_JOURNAL: &str = "iam-warden-journal.jsonl";

impl Default for JournalLocation {
    fn default() -> JournalLocation {
        JournalLocation::File(PathBuf::from(DEFAULT_JOURNAL))
    }
}

impl TryFrom<String> for JournalLocation {
    type Error = String;

    fn try_from(text: String) -> Result<JournalLocation, String> {
        text.parse()
    }
}

impl std::str::FromStr for JournalLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<JournalLocation, String> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return match text.is_empty() {
                true => Err("journal: a file path or s3://BUCKET/PREFIX/".to_owned()),
                false => Ok(JournalLocation::File(PathBuf::from(text))),
            };
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("journal `{text}` names no bucket: write s3://BUCKET/PREFIX/"));
        }
        let prefix = match prefix {
            "" => String::new(),
            p if p.ends_with('/') => p.to_owned(),
            p => format!("{p}/"),
        };
        Ok(JournalLocation::S3 {
            bucket: bucket.to_owned(),
            prefix,
        })
    }
}

impl std::fmt::Display for JournalLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalLocation::File(path) => write!(f, "{}", path.display()),
            JournalLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Which accounts, and how each is reached (design.md §7).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "AccountsFile")]
pub struct AccountsSettings {
    pub scope: Scope,
    /// The role to assume in each account; `{partition}` and `{account}` are filled in.
    pub role: String,
    pub external_id: Option<String>,
    /// How often the account list is read again.
    pub refresh: Duration,
}

/// Where the accounts served come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// The caller's own account, and no role to assume.
    Own,
    Listed(Vec<Account>),
    /// The Organization's active accounts, narrowed.
    Organization {
        /// OUs (with their children) or account ids; empty: every active account.
        include: Vec<String>,
        exclude: Vec<String>,
    },
}

impl Default for AccountsSettings {
    fn default() -> AccountsSettings {
        AccountsSettings {
            scope: Scope::Own,
            role: default_role(),
            external_id: None,
            refresh: default_refresh(),
        }
    }
}

/// `accounts` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AccountsFile {
    organization: Option<OrganizationFile>,
    list: Option<Vec<ListedAccount>>,
    #[serde(default = "default_role")]
    role: String,
    external_id: Option<String>,
    #[serde(default = "default_refresh", deserialize_with = "duration")]
    refresh: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationFile {
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListedAccount {
    id: String,
    #[serde(default)]
    name: String,
}

impl TryFrom<AccountsFile> for AccountsSettings {
    type Error = String;

    fn try_from(file: AccountsFile) -> Result<AccountsSettings, String> {
        let scope = match (file.list, file.organization) {
            (Some(list), None) => Scope::Listed(
                list.into_iter()
                    .map(|a| {
                        let id = AccountId::parse(&a.id).map_err(|e| format!("accounts.list: {e}"))?;
                        Ok(Account {
                            name: a.name,
                            ..Account::alone(id)
                        })
                    })
                    .collect::<Result<_, String>>()?,
            ),
            (None, Some(organization)) => Scope::Organization {
                include: organization.include,
                exclude: organization.exclude,
            },
            _ => return Err("accounts needs exactly one of `organization` and `list`".to_owned()),
        };
        if !file.role.contains("{account}") {
            return Err(format!(
                "accounts.role `{}` must name `{{account}}`: each account has its own role",
                file.role
            ));
        }
        Ok(AccountsSettings {
            scope,
            role: file.role,
            external_id: file.external_id,
            refresh: file.refresh,
        })
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
            accounts: AccountsSettings::default(),
            max_reconciles_per_account: 2,
            shard: Shard::ALL,
            recheck_after: Duration::from_secs(30),
            journal: JournalLocation::default(),
        }
    }
}

/// The keys a file or the environment may set.
const KEYS: [&str; 15] = [
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
    "recheck_after",
    "journal",
];

impl Settings {
    pub fn load(file: Option<&Path>) -> Result<Settings, Error> {
        Settings::from_sources(file, std::env::vars())
    }

    fn from_sources(file: Option<&Path>, env: impl Iterator<Item = (String, String)>) -> Result<Settings, Error> {
        let env: Vec<(String, String)> = env.collect();
        let variable = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        // On a StatefulSet, the pod ordinal and the replica count the manifest
        // passes; the `shard` setting, from a file or the environment, wins.
        let pod = Shard::of_pod(variable("HOSTNAME"), variable("IAM_WARDEN_REPLICAS")).map_err(Error::Settings)?;
        let mut builder = config::Config::builder()
            .set_default("shard", format!("{}/{}", pod.index, pod.count))
            .map_err(|e| Error::Settings(e.to_string()))?;
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Yaml));
        }
        // Only our own keys: other IAM_WARDEN_* variables are the deployment's business.
        let ours = env
            .iter()
            .filter_map(|(name, value)| Some((name.strip_prefix("IAM_WARDEN_")?.to_ascii_lowercase(), value.clone())))
            .filter(|(key, _)| KEYS.contains(&key.as_str()))
            .collect();
        let environment = config::Environment::default().source(Some(ours)).try_parsing(true);
        let settings: Settings = builder
            .add_source(environment)
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| Error::Settings(e.to_string()))?;
        for (name, value) in [
            ("workers", settings.workers),
            ("max_in_flight", settings.max_in_flight),
            ("max_reconciles_per_account", settings.max_reconciles_per_account),
        ] {
            if value == 0 {
                return Err(Error::Settings(format!("{name} must be at least 1")));
            }
        }
        if settings.max_changes_per_hour == 0 {
            return Err(Error::Settings(
                "max_changes_per_hour must be at least 1; to pause changes, set dry_run or the policy's mode: audit"
                    .to_owned(),
            ));
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
        let accounts = Settings::from_sources(Some(&file), env(&[])).unwrap().accounts;
        assert_eq!(
            accounts.scope,
            Scope::Organization {
                include: vec!["ou-ab12-prod".to_owned()],
                exclude: vec!["222222222222".to_owned()]
            }
        );
        assert_eq!(accounts.external_id.as_deref(), Some("iam-warden"));
        assert_eq!(accounts.role, "arn:{partition}:iam::{account}:role/iam-warden");

        let both = "accounts:\n  organization: {}\n  list: [{id: \"111111111111\"}]\n";
        let no_account = "accounts:\n  list: [{id: \"111111111111\"}]\n  role: arn:aws:iam::111111111111:role/x\n";
        let not_an_id = "accounts:\n  list: [{id: \"1111\"}]\n";
        for (text, expected) in [
            (both, "exactly one of"),
            (no_account, "must name `{account}`"),
            (not_an_id, "`1111` is not a 12-digit account id"),
        ] {
            std::fs::write(&file, text).unwrap();
            let error = Settings::from_sources(Some(&file), env(&[])).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn the_shard_is_index_over_count() {
        let from_env = Settings::from_sources(None, env(&[("IAM_WARDEN_SHARD", "1/3")])).unwrap();
        assert_eq!(from_env.shard, Shard { index: 1, count: 3 });
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.yaml");
        std::fs::write(&file, "shard: {index: 2, count: 3}\n").unwrap();
        let from_file = Settings::from_sources(Some(&file), env(&[])).unwrap();
        assert_eq!(from_file.shard, Shard { index: 2, count: 3 });
        let pod = [("HOSTNAME", "iam-warden-1"), ("IAM_WARDEN_REPLICAS", "3")];
        let from_pod = Settings::from_sources(None, env(&pod)).unwrap();
        assert_eq!(from_pod.shard, Shard { index: 1, count: 3 }, "the pod ordinal");
        let both = Settings::from_sources(Some(&file), env(&pod)).unwrap();
        assert_eq!(both.shard, Shard { index: 2, count: 3 }, "the setting wins");
        assert_eq!(Settings::from_sources(None, env(&[])).unwrap().shard, Shard::ALL);
        for bad in ["3/3", "one/3", "2"] {
            assert!(
                Settings::from_sources(None, env(&[("IAM_WARDEN_SHARD", bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_journal_is_a_file_or_an_s3_prefix() {
        let journal = |value: &str| Settings::from_sources(None, env(&[("IAM_WARDEN_JOURNAL", value)]));
        assert_eq!(
            Settings::from_sources(None, env(&[])).unwrap().journal,
            JournalLocation::File(PathBuf::from(DEFAULT_JOURNAL))
        );
        assert_eq!(
            journal("/var/lib/iam-warden/journal.jsonl").unwrap().journal,
            JournalLocation::File(PathBuf::from("/var/lib/iam-warden/journal.jsonl"))
        );
        for (value, prefix) in [("s3://records/iam-warden", "iam-warden/"), ("s3://records", "")] {
            let location = journal(value).unwrap().journal;
            assert_eq!(
                location,
                JournalLocation::S3 {
                    bucket: "records".to_owned(),
                    prefix: prefix.to_owned()
                }
            );
            assert_eq!(
                location.to_string(),
                format!("s3://records/{prefix}"),
                "printed as it is read"
            );
        }
        assert!(journal("s3:///iam-warden/").is_err(), "no bucket");
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
        let paused = Settings::from_sources(None, env(&[("IAM_WARDEN_MAX_CHANGES_PER_HOUR", "0")])).unwrap_err();
        assert!(paused.to_string().contains("max_changes_per_hour"), "{paused}");
        let beyond = [("HOSTNAME", "iam-warden-3"), ("IAM_WARDEN_REPLICAS", "3")];
        let error = Settings::from_sources(None, env(&beyond)).unwrap_err();
        assert!(error.to_string().contains("IAM_WARDEN_REPLICAS=3"), "{error}");
    }
}
