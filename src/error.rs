//! The one error type; every variant renders as a single line a person can act on.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::policy::PolicyError;

/// Each variant has a fixed metric label ([`Error::metric_label`]), so errors
/// are counted by cause without a label ever carrying a name.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Error {
    #[error("{0}")]
    Policy(#[from] PolicyError),
    /// `permission` is the IAM action that was refused, like `iam:ListUsers`.
    #[error("access denied for {permission}: grant it to the identity iam-warden runs as (AWS said: {message})")]
    AccessDenied { permission: String, message: String },
    #[error("{operation} failed: {code}: {message}")]
    Aws {
        operation: String,
        code: String,
        message: String,
    },
    /// A quota of AWS's is full, such as 10 managed policies on a principal or
    /// 50 tags on a user.
    #[error("{operation}: a quota is full: {message}")]
    LimitExceeded { operation: String, message: String },
    /// AWS asked us to slow down, and the SDK's retries did not get through.
    #[error("{operation} was throttled: {message}")]
    Throttled { operation: String, message: String },
    #[error("cannot reach AWS for {operation}: {message}")]
    Unreachable { operation: String, message: String },
    #[error("the credential report is not ready after {0} attempts; try again in a minute")]
    CredentialReportNotReady(u32),
    #[error("the credential report cannot be read: {0}")]
    CredentialReport(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("settings: {0}")]
    Settings(String),
    /// A command was asked for something it cannot do as asked.
    #[error("{0}")]
    Usage(String),
    /// Work for an account this iam-warden no longer serves.
    #[error("account {0} is no longer served")]
    NotServed(crate::account::AccountId),
    /// The journal cannot be opened, written or read: no change is made
    /// without its intent on record.
    #[error("journal: {0}")]
    Journal(String),
    #[error("cannot watch the policy file: {0}")]
    Watch(String),
    #[error("cannot listen on {0}")]
    Listen(String),
    /// An account's role could not be assumed: that account is down.
    #[error("cannot assume {role}: {message}")]
    AssumeRole { role: String, message: String },
}

impl Error {
    /// The error's cause as a metric label: one fixed word per variant.
    pub fn metric_label(&self) -> &'static str {
        self.into()
    }

    pub(crate) fn from_sdk<E>(operation: &str, error: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (code, message) = match (&error, error.code()) {
            (_, Some(code)) => (Some(code.to_owned()), error.message().map(str::to_owned)),
            (SdkError::ServiceError(context), None) => from_raw(context.raw()),
            _ => (None, None),
        };
        match (&error, code) {
            (SdkError::ServiceError(_), Some(code)) if is_access_denied(&code) => Error::AccessDenied {
                permission: operation.to_owned(),
                message: message.unwrap_or(code),
            },
            (SdkError::ServiceError(_), Some(code)) if code == "LimitExceeded" => Error::LimitExceeded {
                operation: operation.to_owned(),
                message: message.unwrap_or(code),
            },
            (SdkError::ServiceError(_), Some(code)) if is_throttling(&code) => Error::Throttled {
                operation: operation.to_owned(),
                message: message.unwrap_or(code),
            },
            (SdkError::ServiceError(_), Some(code)) => Error::Aws {
                operation: operation.to_owned(),
                message: message.unwrap_or_else(|| "no message".to_owned()),
                code,
            },
            (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_), _) => Error::Unreachable {
                operation: operation.to_owned(),
                message: one_line(&DisplayErrorContext(&error)),
            },
            _ => Error::Aws {
                operation: operation.to_owned(),
                code: "Unknown".to_owned(),
                message: one_line(&DisplayErrorContext(&error)),
            },
        }
    }
}

/// The code and message of an error body the SDK could not model, such as
/// one from a proxy or an emulator, so the message stays one readable line.
fn from_raw(response: &HttpResponse) -> (Option<String>, Option<String>) {
    let body = response.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
    let element = |name: &str| {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].trim().to_owned())
    };
    let status = response.status().as_u16();
    let code = element("Code").or_else(|| (status == 403).then(|| "AccessDenied".to_owned()));
    (code.or_else(|| Some(format!("HTTP {status}"))), element("Message"))
}

fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "NotAuthorized"
    )
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException"
    )
}

pub(crate) fn one_line(text: &impl std::fmt::Display) -> String {
    text.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_has_a_fixed_label_that_names_no_resource() {
        let denied = Error::AccessDenied {
            permission: "iam:ListUsers".to_owned(),
            message: "user/alice is not authorized".to_owned(),
        };
        assert_eq!(denied.metric_label(), "access_denied");
        assert_eq!(Error::Internal("x".to_owned()).metric_label(), "internal");
        assert_eq!(
            Error::CredentialReportNotReady(3).metric_label(),
            "credential_report_not_ready"
        );
    }
}
