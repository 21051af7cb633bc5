//! iam-warden keeps an AWS account's IAM hygiene at the state a policy file declares.
//!
//! A pass reads live state, plans the difference from the policy as plain
//! data, and executes that plan; nothing but the executor changes AWS, and
//! it takes only a plan made from a live read.
//!
//! # Layout
//!
//! Arrows run down this list: a module uses only those below it, and no two
//! modules use each other (`tests/architecture.rs` checks both).
//!
//! - `cli`, `report`, `log`: the command line, its tables, and logging to
//!   stderr with every record on one line.
//! - `runtime`: the daemon, from parts: the keyed work queue with deadlines
//!   and backoff, the workers, the timers (resync, account refresh, policy
//!   reload), the drift ledger, the controller that starts them, and the
//!   shutdown signal.
//! - `ingest`: CloudTrail events to the resources they name (pure), and the
//!   SQS receivers that delete a message only after its work succeeded; they
//!   hand work to the runtime through a trait of their own.
//! - `http`, `metrics`: the `/metrics`, `/livez` and `/readyz` endpoints, with
//!   readiness latches; the Prometheus series, which take plain label enums.
//! - `reconcile`: one reconcile of one key (judged live, then executed), a
//!   resync, and the `plan` and `apply` commands over an account.
//! - `execute`: the only code that changes AWS, one arm per change, with
//!   dry-run, audit mode, the change budget, self-protection, the fresh read
//!   before an irreversible change, the journal's intent before each change,
//!   the audit log, and `undo`, which reverses through the same arms.
//! - `journal`: the record of every change, durable before the change, in a
//!   file or S3, and read back as history for `undo`.
//! - `observe`: reading AWS, in two kinds the types keep apart: a live read
//!   of one key and the plans made from it, or the full scan's suspects
//!   (keys, facets and deadlines, never a plan).
//! - `accounts`: the accounts served (the caller's own, a list, or an
//!   Organization's) and the clients for each, for commands and daemon alike.
//! - `aws`: clients from the standard AWS environment, error conversion and
//!   request counting.
//! - `settings`: the daemon's settings, with the accounts' scope and the
//!   replica's shard resolved.
//! - `outcome`: what became of a finding, as data.
//! - `work`: what the daemon's queue carries: keys of resources, and the
//!   control messages `Resync` and `Expand` (a group's members, a policy's
//!   holders); which key re-judges a finding, and which facets of a user a
//!   rule judges.
//! - `written`: what an event says it wrote, which a read shows once it has
//!   caught up with the write; it spares the read again a while later.
//! - `plan`: the pure decision, one file per rule, plus exemptions, pattern
//!   coverage and the privilege-escalation sets, and the `Change` type every
//!   fix is made of.
//! - `state`: the account's state as plain structs: what the planner judges.
//! - `error`: the one error type, with a fixed metric label per variant.
//! - `policy`: the policy file's model, its validation with line and column,
//!   and its JSON Schema.
//! - `quarantine`: the managed policies iam-warden quarantines with, and the
//!   documents it ships for them.
//! - `document`: IAM policy documents, URL-encoded or raw, parsed without panics.
//! - `shard`, `account`, `name`: which replica serves an account, an account
//!   as plain data, and the names of IAM users, groups and roles, which have
//!   no case.

mod account;
mod accounts;
mod aws;
pub mod cli;
mod document;
mod error;
mod execute;
mod http;
mod ingest;
mod journal;
mod log;
mod metrics;
mod name;
mod observe;
mod outcome;
mod plan;
mod policy;
mod quarantine;
mod reconcile;
mod report;
mod runtime;
mod settings;
mod shard;
mod state;
mod work;
mod written;

pub use error::Error;
/// The CloudTrail event parser: envelope and record to resource keys. Public
/// for the fuzz targets and for tools that pre-check a queue's messages.
pub use ingest::cloudtrail::{Effect, Event, Malformed, Target, parse as parse_cloudtrail};
/// Rule `oidc-trust` on one trust policy document. Public for the fuzz targets.
pub use plan::judge_trust_policy;
pub use policy::{Policy, PolicyError};
pub use work::{Facets, Key};
