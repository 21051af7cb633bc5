//! iam-warden keeps an AWS account's IAM hygiene at the state a policy file declares.
//!
//! A pass observes live state, plans the difference from the policy as plain
//! data, and executes that plan; nothing but the executor changes AWS.
//!
//! # Layout
//!
//! - `policy`: the policy file's model, its validation with line and column,
//!   and its JSON Schema.
//! - `observe`: live state from IAM, STS and CloudTrail as plain structs.
//! - `scan`: what a pass observes; a full scan screens users through the
//!   credential report and reads only the suspects live.
//! - `plan`: the pure decision, one file per rule, plus exemptions.
//! - `execute`: the only code that changes AWS, with dry-run, audit mode, the
//!   change budget, self-protection and the audit log.
//! - `aws`: clients from the standard AWS environment, error conversion and
//!   request counting.
//! - `cli`, `report`: the command line and its tables.

mod aws;
pub mod cli;
mod error;
mod execute;
mod observe;
mod plan;
mod policy;
mod report;
mod scan;

pub use error::Error;
pub use policy::{Policy, PolicyError};

/// Logs go to stderr, so stdout carries only a command's own output.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(filter)
        .init();
}
