//! The integration-test harness: a moto server per test on a free loopback
//! port that behaves like AWS where it matters (`tests/moto/launcher.py`),
//! the seed script, the real `iam-warden` binary, and SDK clients to assert
//! on what the emulator holds afterwards. A library of its own, so each test
//! uses what it needs of it.
//!
//! - `emulator`: the moto server, its test-only endpoints, and clients of it.
//! - `warden`: one-shot runs of the binary, and policy files.
//! - `daemon`: `iam-warden run` as a child process, and waiting on what it does.
//! - `events`: the queue, and CloudTrail events as EventBridge delivers them.
//! - `accounts`: what the seeded accounts hold, and changes made by hand.
//! - `proxy`: an HTTP proxy that echoes changes as events and injects faults.
//! - `prowler`: the CIS scanner, run against the emulator.

mod accounts;
mod daemon;
mod emulator;
mod events;
mod prowler;
pub mod proxy;
mod warden;

use std::path::{Path, PathBuf};

pub use accounts::{active_keys, attached, backdate_record, inline, keys, old_keys, reactivate_and_announce, tags};
pub use daemon::{Daemon, sample, total};
pub use emulator::{Credentials, Moto, TEST_KEY};
pub use events::{Queues, eventbridge, key_event};
pub use prowler::prowler;
pub use warden::{
    PolicyFile, Run, enforceable_policy, enforceable_policy_with, run_warden, run_warden_with_env, start_warden,
};

/// The project's root directory.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("tests/support is two levels below the root")
}

/// The journal of every iam-warden run against `endpoint` that names no
/// other: one file per endpoint, removed with the emulator or proxy there.
pub fn journal_for(endpoint: &str) -> PathBuf {
    let dir = root().join("target/test-journals");
    std::fs::create_dir_all(&dir).expect("the test journals' directory");
    let port = endpoint.rsplit(':').next().unwrap_or(endpoint);
    dir.join(format!("journal-{port}.jsonl"))
}

/// The records of the journal at `path`, in the order written; none if there is none.
pub fn journal_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("every journal line is a JSON record"))
        .collect()
}

/// A policy document as IAM returns it (URL-encoded JSON), parsed.
pub fn policy_document(encoded: &str) -> serde_json::Value {
    let text = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
    serde_json::from_str(&text).expect("a policy document is JSON")
}

/// The Python that has moto: `IAM_WARDEN_PYTHON`, else the project's `.venv`.
fn python() -> PathBuf {
    std::env::var_os("IAM_WARDEN_PYTHON").map_or_else(|| root().join(".venv/bin/python"), PathBuf::from)
}

/// The `iam-warden` binary cargo built beside the test that runs, or the one
/// `IAM_WARDEN_BINARY` names (to hold another build to the same tests).
fn binary() -> PathBuf {
    if let Some(other) = std::env::var_os("IAM_WARDEN_BINARY") {
        return PathBuf::from(other);
    }
    let test = std::env::current_exe().expect("the test's own path");
    // target/debug/deps/TEST-HASH: the binary is target/debug/iam-warden.
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("a test in target/PROFILE/deps");
    profile.join("iam-warden")
}
