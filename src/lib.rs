//! iam-warden keeps an AWS account's IAM hygiene at the state a policy file declares.
//!
//! # Layout
//!
//! - `policy`: the policy file's model, validation and JSON Schema.
mod policy;
pub use policy::*;
mod aws;
mod error;
mod observe;
mod plan;
pub use aws::Clients;
pub use error::Error;
