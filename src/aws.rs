//! The edge to AWS: clients built from the standard environment, error
//! conversion, and the one place that counts every request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::Error;

/// IAM is global, but the SDK wants a region; us-east-1 is where IAM lives.
const FALLBACK_REGION: &str = "us-east-1";

#[derive(Clone, Debug)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub sts: aws_sdk_sts::Client,
    sdk_config: SdkConfig,
    requests: Arc<RequestCounts>,
}

impl Clients {
    /// Reads the credential chain, `AWS_REGION` and `AWS_ENDPOINT_URL` as every AWS tool does.
    pub async fn from_env() -> Clients {
        let region = RegionProviderChain::default_provider().or_else(FALLBACK_REGION);
        let sdk_config = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .load()
            .await;
        let requests = Arc::new(RequestCounts::default());
        let counter = CountRequests(requests.clone());
        Clients {
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&sdk_config)
                    .interceptor(counter.clone())
                    .build(),
            ),
            cloudtrail: aws_sdk_cloudtrail::Client::from_conf(
                aws_sdk_cloudtrail::config::Builder::from(&sdk_config)
                    .interceptor(counter.clone())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&sdk_config)
                    .interceptor(counter)
                    .build(),
            ),
            sdk_config,
            requests,
        }
    }

    /// A CloudTrail client for `region`: a trail can be started only from its home region.
    pub fn cloudtrail_in(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        if self
            .sdk_config
            .region()
            .is_some_and(|r| r.as_ref() == region)
        {
            return self.cloudtrail.clone();
        }
        let config = aws_sdk_cloudtrail::config::Builder::from(&self.sdk_config)
            .region(aws_config::Region::new(region.to_owned()))
            .interceptor(CountRequests(self.requests.clone()))
            .build();
        aws_sdk_cloudtrail::Client::from_conf(config)
    }

    /// The environment's settings, for clients of other services.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk_config
    }

    pub fn requests(&self) -> BTreeMap<RequestKey, u64> {
        self.requests.snapshot()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestOutcome {
    Ok,
    Error,
    Throttled,
}

impl RequestOutcome {
    pub fn label(self) -> &'static str {
        match self {
            RequestOutcome::Ok => "ok",
            RequestOutcome::Error => "error",
            RequestOutcome::Throttled => "throttled",
        }
    }
}

/// Service, operation and outcome of one HTTP attempt.
pub type RequestKey = (String, String, RequestOutcome);

#[derive(Debug, Default)]
struct RequestCounts(Mutex<BTreeMap<RequestKey, u64>>);

impl RequestCounts {
    fn record(&self, key: RequestKey) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    fn snapshot(&self) -> BTreeMap<RequestKey, u64> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// Counts every attempt, retries included, because each one is an API call
/// that AWS meters and throttles.
#[derive(Debug, Clone)]
struct CountRequests(Arc<RequestCounts>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let outcome = match context.response() {
            Some(response) if response.status().is_success() => RequestOutcome::Ok,
            Some(response) if is_throttle(response.status().as_u16(), response.body().bytes()) => {
                RequestOutcome::Throttled
            }
            _ => RequestOutcome::Error,
        };
        self.0.record((
            metadata.service().to_ascii_lowercase(),
            metadata.name().to_owned(),
            outcome,
        ));
        Ok(())
    }
}

/// The error body is already buffered when an attempt ends; its code is the
/// only service-independent sign of throttling.
fn is_throttle(status: u16, body: Option<&[u8]>) -> bool {
    const CODES: [&[u8]; 4] = [
        b"Throttling",
        b"RequestLimitExceeded",
        b"TooManyRequests",
        b"SlowDown",
    ];
    status == 429
        || body.is_some_and(|body| {
            CODES
                .iter()
                .any(|code| body.windows(code.len()).any(|w| w == *code))
        })
}

/// Converts SDK errors at the call site, where the operation is known.
pub(crate) trait Call<T> {
    /// `operation` is the IAM permission it needs, like `iam:GetUser`.
    fn during(self, operation: &str) -> Result<T, Error>;
    /// `Ok(None)` when AWS answers with `absent_code`: the resource does not exist.
    fn or_absent(self, operation: &str, absent_code: &str) -> Result<Option<T>, Error>;
}

impl<T, E> Call<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn during(self, operation: &str) -> Result<T, Error> {
        self.map_err(|error| Error::from_sdk(operation, error))
    }

    fn or_absent(self, operation: &str, absent_code: &str) -> Result<Option<T>, Error> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.code() == Some(absent_code) => Ok(None),
            Err(error) => Err(Error::from_sdk(operation, error)),
        }
    }
}
