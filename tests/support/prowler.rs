//! Prowler, the scanner security teams judge the CIS AWS Foundations
//! Benchmark with, run against the emulator as it would run against AWS.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use crate::{Moto, root};

/// Where `scripts/setup` records why Prowler could not be installed.
const UNAVAILABLE: &str = ".venv/.prowler-unavailable";

/// Prowler, installed by `scripts/setup` beside moto; `Err` with the reason
/// only where setup found it cannot be installed on this machine.
pub fn prowler() -> Result<PathBuf, String> {
    let binary = root().join(".venv/bin/prowler");
    if binary.exists() {
        return Ok(binary);
    }
    match std::fs::read_to_string(root().join(UNAVAILABLE)) {
        Ok(reason) => Err(reason),
        Err(_) => panic!("Prowler is not installed: run scripts/setup"),
    }
}

impl Moto {
    /// Runs `checks` with Prowler against this emulator; the resources each
    /// failed check names, by check. A check that broke fails the test; one
    /// with nothing to judge (no policy attached anywhere) names nothing.
    pub fn prowler_failures(&self, prowler: &PathBuf, checks: &[&str]) -> BTreeMap<String, Vec<String>> {
        let output = tempfile::tempdir().unwrap();
        let run = Command::new(prowler)
            .args([
                "aws",
                "--region",
                "us-east-1",
                "--no-banner",
                "--output-formats",
                "json-ocsf",
            ])
            .args(["--output-filename", "judged", "--output-directory"])
            .arg(output.path())
            .arg("--checks")
            .args(checks)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("prowler runs");
        // 3: some check failed; anything else but 0 is Prowler's own failure.
        let code = run.status.code();
        let log = String::from_utf8_lossy(&run.stdout);
        assert!(matches!(code, Some(0 | 3)), "prowler exited {code:?}:\n{log}");
        assert!(!log.contains("Something went wrong"), "a check broke:\n{log}");
        let text = std::fs::read_to_string(output.path().join("judged.ocsf.json")).unwrap_or_default();
        let findings: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
        let mut failed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for finding in findings.iter().filter(|f| f["status_code"] == "FAIL") {
            let check = finding["metadata"]["event_code"].as_str().unwrap_or_default();
            let resource = &finding["resources"][0];
            let name = resource["name"]
                .as_str()
                .or(resource["uid"].as_str())
                .unwrap_or_default();
            failed.entry(check.to_owned()).or_default().push(name.to_owned());
        }
        failed
    }
}
