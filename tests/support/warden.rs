//! One-shot runs of the real binary, and policy files for it.

use std::process::{Child, Command, Output, Stdio};

use crate::emulator::Credentials;
use crate::{binary, journal_for, root};

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
        self.audit().into_iter().filter(|r| r["action"] == action).collect()
    }

    pub fn outcomes(&self, outcome: &str) -> usize {
        self.audit().iter().filter(|r| r["outcome"] == outcome).count()
    }
}

pub fn run_warden(endpoint: &str, credentials: &Credentials, args: &[&str]) -> Run {
    run_warden_with_env(endpoint, credentials, args, &[])
}

/// Runs the binary with more environment variables, such as a pod's.
pub fn run_warden_with_env(endpoint: &str, credentials: &Credentials, args: &[&str], env: &[(&str, &str)]) -> Run {
    let output: Output = command(endpoint, credentials, args, env)
        .output()
        .expect("iam-warden runs");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "iam-warden panicked:\n{}", run.stderr);
    run
}

/// Starts the binary without waiting for it, to stop it mid-way.
pub fn start_warden(endpoint: &str, credentials: &Credentials, args: &[&str], env: &[(&str, &str)]) -> Child {
    command(endpoint, credentials, args, env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iam-warden starts")
}

fn command(endpoint: &str, credentials: &Credentials, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    command
        .current_dir(root())
        .args(args)
        .env("IAM_WARDEN_JOURNAL", journal_for(endpoint))
        .envs(env.iter().copied())
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null());
    credentials.apply(&mut command);
    command
}

/// A policy file in a temporary directory, from `config/policy.yaml` with edits.
pub struct PolicyFile {
    _dir: tempfile::TempDir,
    pub path: String,
}

impl PolicyFile {
    pub fn example_with(edits: &[(&str, &str)]) -> PolicyFile {
        let mut text = std::fs::read_to_string(root().join("config/policy.yaml")).expect("example policy");
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

/// The example policy with its report-only checks of root's MFA, of a
/// support role and of IAM Access Analyzer off: an account seeded without
/// them could never reach spec, and no API can add root's MFA.
pub fn enforceable_policy() -> PolicyFile {
    enforceable_policy_with(&[])
}

/// The enforceable policy with more edits of the example's text.
pub fn enforceable_policy_with(edits: &[(&str, &str)]) -> PolicyFile {
    let enforceable = [
        ("requireForRoot: true", "requireForRoot: false"),
        (
            "cis: {}",
            "cis: {rootHardwareMfa: false, supportRole: false, accessAnalyzerRegions: []}",
        ),
    ];
    PolicyFile::example_with(&[&enforceable[..], edits].concat())
}
