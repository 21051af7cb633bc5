//! The edge to AWS: clients built from the standard environment, error
//! conversion, and the one place that counts every request.

use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::timeout::TimeoutConfig;
use prometheus::IntCounterVec;

use crate::error::{Error, one_line};

/// IAM is global, but the SDK wants a region; us-east-1 is where IAM lives.
const FALLBACK_REGION: &str = "us-east-1";
/// Pinned, so an SDK upgrade cannot change retry and timeout defaults unseen;
/// moving it is a reviewed change.
fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}
/// Longer than SQS's 20 s long poll, far shorter than a stuck worker.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub sts: aws_sdk_sts::Client,
    pub sqs: aws_sdk_sqs::Client,
    sdk_config: SdkConfig,
    requests: IntCounterVec,
}

impl Clients {
    /// Reads the credential chain, `AWS_REGION` and `AWS_ENDPOINT_URL` as
    /// every AWS tool does. Every attempt is counted in `requests`, labelled
    /// by service, operation and outcome.
    pub async fn from_env(requests: IntCounterVec) -> Clients {
        let region = RegionProviderChain::default_provider().or_else(FALLBACK_REGION);
        // A hung connection must fail a reconcile, not stall a worker forever.
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build();
        let sdk_config = aws_config::defaults(behavior_version())
            .region(region)
            .timeout_config(timeouts)
            .http_client(https_client())
            .load()
            .await;
        Clients::from_config(sdk_config, requests)
    }

    fn from_config(sdk_config: SdkConfig, requests: IntCounterVec) -> Clients {
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
                    .interceptor(counter.clone())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&sdk_config)
                    .interceptor(counter)
                    .build(),
            ),
            sdk_config,
            requests,
        }
    }

    /// Organizations lives in us-east-1 (of its partition) whatever the region.
    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&self.sdk_config)
                .interceptor(CountRequests(self.requests.clone()))
                .build(),
        )
    }

    /// S3, for the journal: always as the identity iam-warden started as.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk_config)
                .interceptor(CountRequests(self.requests.clone()))
                .build(),
        )
    }

    /// Clients acting in another account through `role_arn`, assumed from
    /// this identity. The credentials are cached and refreshed before they
    /// expire; the HTTP client and its connections are shared. Fails, with
    /// AWS's reason, when the role cannot be assumed.
    pub async fn assuming(&self, role_arn: &str, external_id: Option<&str>) -> Result<Clients, Error> {
        let mut provider = AssumeRoleProvider::builder(role_arn)
            .session_name("iam-warden")
            .configure(&self.sdk_config);
        if let Some(id) = external_id {
            provider = provider.external_id(id);
        }
        let provider = provider.build().await;
        // Asked once here, so an account that cannot be reached says why at once.
        provider
            .provide_credentials()
            .await
            .map_err(|error| Error::AssumeRole {
                role: role_arn.to_owned(),
                message: one_line(&DisplayErrorContext(&error)),
            })?;
        let sdk_config = self
            .sdk_config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        Ok(Clients::from_config(sdk_config, self.requests.clone()))
    }

    /// The SQS client for `queue_url`, in the queue's own region: EKS sets
    /// `AWS_REGION` to the cluster's, which need not be the queue's.
    pub fn sqs_for(&self, queue_url: &str) -> aws_sdk_sqs::Client {
        match queue_region(queue_url) {
            Some(region) if self.sdk_config.region().is_none_or(|r| r.as_ref() != region) => {
                let config = aws_sdk_sqs::config::Builder::from(&self.sdk_config)
                    .region(aws_config::Region::new(region.to_owned()))
                    .interceptor(CountRequests(self.requests.clone()))
                    .build();
                aws_sdk_sqs::Client::from_conf(config)
            }
            _ => self.sqs.clone(),
        }
    }

    /// The region the clients use.
    pub fn region(&self) -> String {
        self.sdk_config
            .region()
            .map_or(FALLBACK_REGION, |r| r.as_ref())
            .to_owned()
    }

    /// An IAM Access Analyzer client for `region`: analyzers are regional.
    pub fn access_analyzer_in(&self, region: &str) -> aws_sdk_accessanalyzer::Client {
        let config = aws_sdk_accessanalyzer::config::Builder::from(&self.sdk_config)
            .region(aws_config::Region::new(region.to_owned()))
            .interceptor(CountRequests(self.requests.clone()))
            .build();
        aws_sdk_accessanalyzer::Client::from_conf(config)
    }

    /// A CloudTrail client for `region`: a trail can be started only from its home region.
    pub fn cloudtrail_in(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        if self.sdk_config.region().is_some_and(|r| r.as_ref() == region) {
            return self.cloudtrail.clone();
        }
        let config = aws_sdk_cloudtrail::config::Builder::from(&self.sdk_config)
            .region(aws_config::Region::new(region.to_owned()))
            .interceptor(CountRequests(self.requests.clone()))
            .build();
        aws_sdk_cloudtrail::Client::from_conf(config)
    }
}

/// One HTTPS client for every service and account. Left to itself, each SDK
/// client builds its own, with its own connection pool and its own copy of
/// the trusted roots: a quarter of a megabyte per client, five clients per
/// account of an Organization. The same as the SDK's default otherwise:
/// rustls on aws-lc, and the proxy from the environment.
fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The region in an SQS queue URL: `https://sqs.REGION.amazonaws.com[.cn]/...`
/// or the legacy `https://REGION.queue.amazonaws.com/...`. `None` for any
/// other host, such as an emulator's.
fn queue_region(queue_url: &str) -> Option<&str> {
    let host = queue_url.split("://").nth(1)?.split('/').next()?;
    let host = host.split(':').next()?;
    if let Some(rest) = host.strip_prefix("sqs.") {
        let region = rest.split('.').next()?;
        return (rest.starts_with(&format!("{region}.amazonaws.com")) && !region.is_empty()).then_some(region);
    }
    let (region, rest) = host.split_once('.')?;
    (rest.starts_with("queue.amazonaws.com") && !region.is_empty()).then_some(region)
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

/// Counts every attempt, retries included, because each one is an API call
/// that AWS meters and throttles.
#[derive(Debug, Clone)]
struct CountRequests(IntCounterVec);

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
        let service = metadata.service().to_ascii_lowercase();
        self.0
            .with_label_values(&[service.as_str(), metadata.name(), outcome.label()])
            .inc();
        Ok(())
    }
}

/// The error body is already buffered when an attempt ends; its code is the
/// only service-independent sign of throttling.
fn is_throttle(status: u16, body: Option<&[u8]>) -> bool {
    const CODES: [&[u8]; 4] = [b"Throttling", b"RequestLimitExceeded", b"TooManyRequests", b"SlowDown"];
    status == 429 || body.is_some_and(|body| CODES.iter().any(|code| body.windows(code.len()).any(|w| w == *code)))
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

#[cfg(test)]
mod tests {
    use super::queue_region;

    #[test]
    fn the_queue_region_comes_from_its_url() {
        let cases = [
            (
                "https://sqs.eu-west-1.amazonaws.com/123456789012/iam-warden-events",
                Some("eu-west-1"),
            ),
            (
                "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
                Some("cn-north-1"),
            ),
            (
                "https://sqs.us-gov-west-1.amazonaws.com/123456789012/q",
                Some("us-gov-west-1"),
            ),
            (
                "https://ap-southeast-2.queue.amazonaws.com/123456789012/q",
                Some("ap-southeast-2"),
            ),
            ("https://queue.amazonaws.com/123456789012/q", None),
            ("http://127.0.0.1:5000/123456789012/q", None),
            ("not a url", None),
        ];
        for (url, region) in cases {
            assert_eq!(queue_region(url), region, "{url}");
        }
    }
}
