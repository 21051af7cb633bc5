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
//! - `reconcile`: one reconcile of one key: observe it live (a full scan
//!   screens users through the credential report), plan, execute.
//! - `plan`: the pure decision, one file per rule, plus exemptions.
//! - `execute`: the only code that changes AWS, with dry-run, audit mode, the
//!   change budget, self-protection and the audit log.
//! - `aws`: clients from the standard AWS environment, error conversion and
//!   request counting.
//! - `ingest`: CloudTrail events to resource keys (pure), and the SQS
//!   receivers that delete a message only after its keys reconciled.
//! - `runtime`: the daemon: the keyed work queue with deadlines and backoff,
//!   the controller, policy hot reload, and the shutdown signal.
//! - `key`: what a reconcile is about; `settings`: the daemon's settings.
//! - `metrics`, `http`: Prometheus metrics and the `/metrics`, `/livez` and
//!   `/readyz` endpoints.
//! - `cli`, `report`: the command line and its tables.

mod aws;
pub mod cli;
mod document;
mod error;
mod execute;
mod http;
mod ingest;
mod key;
mod metrics;
mod observe;
mod plan;
mod policy;
mod quarantine;
mod reconcile;
mod report;
mod runtime;
mod scan;
mod settings;

pub use error::Error;
/// The CloudTrail event parser: envelope and record to resource keys. Public
/// for the fuzz targets and for tools that pre-check a queue's messages.
pub use ingest::cloudtrail::{Effect, Event, Malformed, parse as parse_cloudtrail};
pub use key::Key;
/// Rule `oidc-trust` on one trust policy document. Public for the fuzz targets.
pub use plan::judge_trust_policy;
pub use policy::{Policy, PolicyError};
