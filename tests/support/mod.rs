//! The integration-test harness: a moto server per test on a free loopback
//! port, the seed script, the real `iam-warden` binary, and SDK clients to
//! assert on what the emulator holds afterwards.
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const TEST_KEY: &str = "testing";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python that has moto: `IAM_WARDEN_PYTHON`, else the project's `.venv`.
fn python() -> PathBuf {
    std::env::var_os("IAM_WARDEN_PYTHON")
        .map_or_else(|| root().join(".venv/bin/python"), PathBuf::from)
}

pub struct Moto {
    server: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::launch(&[])
    }

    /// A server that checks IAM permissions once `free_actions` requests were served.
    pub fn start_enforcing_auth_after(free_actions: u32) -> Moto {
        Moto::launch(&[("INITIAL_NO_AUTH_ACTION_COUNT", free_actions.to_string())])
    }

    fn launch(env: &[(&str, String)]) -> Moto {
        let mut server = Command::new(python())
            .arg(root().join("tests/moto/launcher.py"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto with {}: {e}; run scripts/setup",
                    python().display()
                )
            });
        let mut line = String::new();
        BufReader::new(server.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("moto's port line");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("moto printed {line:?}"));
        Moto {
            server,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Runs a scenario of `tests/moto/seed.py` and returns what it made.
    pub fn seed(&self, args: &[&str]) -> serde_json::Value {
        let output = Command::new(python())
            .arg(root().join("tests/moto/seed.py"))
            .arg(&self.endpoint)
            .args(args)
            .output()
            .expect("seed.py runs");
        assert!(
            output.status.success(),
            "seed failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("seed prints JSON")
    }

    /// Runs the real binary against this emulator with the test credentials.
    pub fn warden(&self, args: &[&str]) -> Run {
        self.warden_as(TEST_KEY, TEST_KEY, args)
    }

    pub fn warden_as(&self, key_id: &str, secret: &str, args: &[&str]) -> Run {
        run_warden(&self.endpoint, key_id, secret, args)
    }

    /// The SDK settings every assertion client uses: this emulator, test keys.
    fn sdk_config(&self) -> aws_config::SdkConfig {
        let credentials =
            aws_sdk_iam::config::Credentials::new(TEST_KEY, TEST_KEY, None, None, "test");
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .build()
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config())
    }

    pub fn cloudtrail(&self) -> aws_sdk_cloudtrail::Client {
        aws_sdk_cloudtrail::Client::new(&self.sdk_config())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The outcome of one `iam-warden` invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The audit log's JSON lines.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        self.stderr
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|record| record["log"] == "audit")
            .collect()
    }

    pub fn audit_for(&self, action: &str) -> Vec<serde_json::Value> {
        self.audit()
            .into_iter()
            .filter(|r| r["action"] == action)
            .collect()
    }

    pub fn outcomes(&self, outcome: &str) -> usize {
        self.audit()
            .iter()
            .filter(|r| r["outcome"] == outcome)
            .count()
    }
}

pub fn run_warden(endpoint: &str, key_id: &str, secret: &str, args: &[&str]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_iam-warden"))
        .current_dir(root())
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("RUST_LOG")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("iam-warden runs");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "iam-warden panicked:\n{}",
        run.stderr
    );
    run
}

/// A policy file in a temporary directory, from `config/policy.yaml` with edits.
pub struct PolicyFile {
    _dir: tempfile::TempDir,
    pub path: String,
}

impl PolicyFile {
    pub fn example_with(edits: &[(&str, &str)]) -> PolicyFile {
        let mut text =
            std::fs::read_to_string(root().join("config/policy.yaml")).expect("example policy");
        for (from, to) in edits {
            assert!(text.contains(from), "the example policy has no `{from}`");
            text = text.replace(from, to);
        }
        PolicyFile::new(&text)
    }

    pub fn new(text: &str) -> PolicyFile {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, text).expect("policy written");
        PolicyFile {
            path: path.to_string_lossy().into_owned(),
            _dir: dir,
        }
    }
}

/// The example policy with its report-only root check off: moto always says
/// root has no MFA, and no API can change that.
pub fn enforceable_policy() -> PolicyFile {
    PolicyFile::example_with(&[("requireForRoot: true", "requireForRoot: false")])
}
