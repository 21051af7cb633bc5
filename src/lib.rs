//! iam-warden keeps an AWS account's IAM hygiene at the state a policy file declares.
//!
//! A pass observes live state, plans the difference from the policy as plain
//! data, and executes that plan; nothing but the executor changes AWS.
//!
//! # Layout
//!
//! - `policy`: the policy file's model, its validation with line and column,
//!   and its JSON Schema.
//! - `observe`: live state from IAM, STS and CloudTrail as plain structs; a
//!   user in facets (console, keys, permissions), read only as asked.
//! - `document`: IAM policy documents, URL-encoded or raw, parsed without panics.
//! - `scan`: the full scan, a fan-out: account-wide facts, judged, and the
//!   suspect keys (and facets) they name.
//! - `reconcile`: one reconcile of one key: observe it live, plan, execute;
//!   a resync; `plan` and `apply` over the account.
//! - `plan`: the pure decision, one file per rule, plus exemptions, pattern
//!   coverage (`coverage`) and the privilege-escalation sets (`escalation`).
//! - `execute`: the only code that changes AWS, with dry-run, audit mode, the
//!   change budget, self-protection, the fresh read before an irreversible
//!   action, the audit log, and `undo`.
//! - `quarantine`: the managed policies iam-warden quarantines with, and the
//!   documents it ships for them.
//! - `aws`: clients from the standard AWS environment, error conversion and
//!   request counting.
//! - `ingest`: CloudTrail events to resource keys (pure), and the SQS
//!   receivers that delete a message only after its keys reconciled.
//! - `runtime`: the daemon: the keyed work queue with deadlines and backoff,
//!   the controller, policy hot reload, and the shutdown signal.
//! - `key`: what a reconcile is about, and the facets of a user;
//!   `settings`: the daemon's settings.
//! - `metrics`, `http`: Prometheus metrics and the `/metrics`, `/livez` and
//!   `/readyz` endpoints.
//! - `cli`, `report`: the command line and its tables.

mod accounts;
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
