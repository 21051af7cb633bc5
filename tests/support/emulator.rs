//! The moto server a test runs against, its test-only endpoints, and SDK
//! clients of it for the assertions.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::events::Queues;
use crate::warden::{Run, run_warden};
use crate::{python, root};

pub const TEST_KEY: &str = "testing";

/// What iam-warden signs with: long-term keys, or an assumed role's session.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub key_id: String,
    pub secret: String,
    pub session_token: Option<String>,
}

impl From<(&str, &str)> for Credentials {
    fn from((key_id, secret): (&str, &str)) -> Credentials {
        Credentials {
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
            session_token: None,
        }
    }
}

impl Credentials {
    /// Sets the standard AWS environment for a child process.
    pub(crate) fn apply(&self, command: &mut Command) {
        command
            .env("AWS_ACCESS_KEY_ID", &self.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret);
        match &self.session_token {
            Some(token) => command.env("AWS_SESSION_TOKEN", token),
            None => command.env_remove("AWS_SESSION_TOKEN"),
        };
    }
}

pub struct Moto {
    server: Child,
    pub endpoint: String,
    /// What the assertion clients sign with; see [`Moto::act_as`].
    credentials: std::sync::Mutex<(String, String)>,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::launch(&[])
    }

    /// An endpoint where nothing listens, for outage tests; it starts no server.
    pub fn unreachable(port: u16) -> Moto {
        Moto {
            server: Command::new("true").spawn().expect("a placeholder process"),
            endpoint: format!("http://127.0.0.1:{port}"),
            credentials: std::sync::Mutex::new((TEST_KEY.to_owned(), TEST_KEY.to_owned())),
        }
    }

    /// A server that checks IAM permissions once `free_actions` requests were served.
    pub fn start_enforcing_auth_after(free_actions: u32) -> Moto {
        Moto::launch(&[("INITIAL_NO_AUTH_ACTION_COUNT", free_actions.to_string())])
    }

    fn launch(env: &[(&str, String)]) -> Moto {
        let mut server = Command::new(python())
            .arg(root().join("tests/moto/launcher.py"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}; run scripts/setup", python().display()));
        let mut line = String::new();
        BufReader::new(server.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("moto's port line");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("moto printed {line:?}"));
        Moto {
            server,
            endpoint: format!("http://127.0.0.1:{port}"),
            credentials: std::sync::Mutex::new((TEST_KEY.to_owned(), TEST_KEY.to_owned())),
        }
    }

    /// Runs a scenario of `tests/moto/seed.py` and returns what it made.
    pub fn seed(&self, args: &[&str]) -> serde_json::Value {
        let output = Command::new(python())
            .arg(root().join("tests/moto/seed.py"))
            .arg(&self.endpoint)
            .args(args)
            .output()
            .expect("seed.py runs");
        assert!(
            output.status.success(),
            "seed failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("seed prints JSON")
    }

    /// Runs the real binary against this emulator with the test credentials.
    pub fn warden(&self, args: &[&str]) -> Run {
        self.warden_as((TEST_KEY, TEST_KEY), args)
    }

    pub fn warden_as(&self, credentials: impl Into<Credentials>, args: &[&str]) -> Run {
        run_warden(&self.endpoint, &credentials.into(), args)
    }

    /// The journal of the runs against this emulator.
    pub fn journal(&self) -> std::path::PathBuf {
        crate::journal_for(&self.endpoint)
    }

    /// Makes reads lag writes by `seconds`, as IAM's eventual consistency can
    /// (0: not at all): GetRole shows a role's previous trust policy, and
    /// ListAttachedUserPolicies leaves out a policy attached since.
    pub fn lag(&self, seconds: f64) {
        self.test_endpoint("lag", &serde_json::json!({ "seconds": seconds }));
    }

    /// Makes the next GenerateCredentialReport build a new report, as AWS
    /// does once the last one is four hours old.
    pub fn expire_credential_report(&self) {
        self.test_endpoint("credential-report", &serde_json::json!({"expire": true}));
    }

    /// Shows the root user with this MFA (`none`, `virtual` or `hardware`)
    /// and, or not, an access key, as AWS's account summary would.
    pub fn root(&self, mfa: &str, access_key: bool) {
        self.test_endpoint("root", &serde_json::json!({"mfa": mfa, "access_key": access_key}));
    }

    /// Gives `region` one IAM Access Analyzer with this status (`ACTIVE`,
    /// `DISABLED`, ...), or none; moto has no Access Analyzer.
    pub fn access_analyzer(&self, region: &str, status: Option<&str>) {
        self.test_endpoint(
            "access-analyzer",
            &serde_json::json!({"region": region, "status": status}),
        );
    }

    /// Back-dates a key (`create_date`, `last_used`) or a user (`create_date`)
    /// through the launcher's test-only endpoint.
    pub fn age(&self, body: &serde_json::Value) {
        self.test_endpoint("age", body);
    }

    fn test_endpoint(&self, name: &str, body: &serde_json::Value) {
        use std::io::{Read, Write};
        let address = self.endpoint.trim_start_matches("http://");
        let body = body.to_string();
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "POST /_warden_test/{name} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "{response}"
        );
    }

    /// The SDK settings every assertion client uses: this emulator, test keys.
    /// Makes the assertion clients sign as this IAM user, for a server that enforces IAM.
    pub fn act_as(&self, key_id: &str, secret: &str) {
        *self.credentials.lock().unwrap() = (key_id.to_owned(), secret.to_owned());
    }

    fn sdk_config(&self) -> aws_config::SdkConfig {
        let (key_id, secret) = self.credentials.lock().unwrap().clone();
        let credentials = aws_sdk_iam::config::Credentials::new(key_id, secret, None, None, "test");
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::v2026_01_12())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                credentials,
            ))
            .build()
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config())
    }

    pub fn cloudtrail(&self) -> aws_sdk_cloudtrail::Client {
        aws_sdk_cloudtrail::Client::new(&self.sdk_config())
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::new(&self.sdk_config())
    }

    /// A journal bucket as `deploy/aws/iam-warden.yaml` makes it: versioned,
    /// with Object Lock in governance mode. Returns its `s3://` location.
    pub async fn journal_bucket(&self, bucket: &str) -> String {
        use aws_sdk_s3::types::{
            DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
        };
        let s3 = self.s3();
        s3.create_bucket()
            .bucket(bucket)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .expect("the journal bucket");
        let retention = DefaultRetention::builder()
            .mode(ObjectLockRetentionMode::Governance)
            .days(1)
            .build();
        let lock = ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .rule(ObjectLockRule::builder().default_retention(retention).build())
            .build();
        s3.put_object_lock_configuration()
            .bucket(bucket)
            .object_lock_configuration(lock)
            .send()
            .await
            .expect("the journal bucket's lock");
        format!("s3://{bucket}/iam-warden/")
    }

    /// Every record under `location` (`s3://BUCKET/PREFIX/`), object by object in key order.
    pub async fn journal_objects(&self, location: &str) -> Vec<(String, Vec<serde_json::Value>)> {
        let (bucket, prefix) = location
            .trim_start_matches("s3://")
            .split_once('/')
            .expect("s3://BUCKET/PREFIX/");
        let s3 = self.s3();
        let listed = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
        let mut objects = Vec::new();
        for key in listed.contents().iter().filter_map(|o| o.key()) {
            let object = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
            let body = object.body.collect().await.unwrap().into_bytes();
            let records = String::from_utf8_lossy(&body)
                .lines()
                .map(|line| serde_json::from_str(line).expect("a JSON record per line"))
                .collect();
            objects.push((key.to_owned(), records));
        }
        objects
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_file(crate::journal_for(&self.endpoint));
    }
}

/// The outcome of one `iam-warden` invocation.
impl Moto {
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config())
    }

    /// A queue whose dead-letter queue takes a message after `max_receives`.
    pub async fn queue_with_dlq(&self, visibility_seconds: u32, max_receives: u32) -> Queues {
        let sqs = self.sqs();
        let dlq = sqs.create_queue().queue_name("iam-warden-dlq").send().await.unwrap();
        let dlq_url = dlq.queue_url().unwrap().to_owned();
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}).to_string();
        let main = sqs
            .create_queue()
            .queue_name("iam-warden-events")
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                visibility_seconds.to_string(),
            )
            .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .unwrap();
        Queues {
            sqs,
            url: main.queue_url().unwrap().to_owned(),
            dlq_url,
        }
    }
}
