//! The integration-test harness: a moto server per test on a free loopback
//! port, the seed script, the real `iam-warden` binary, and SDK clients to
//! assert on what the emulator holds afterwards.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod proxy;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use proxy::Proxy;

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
    fn apply(&self, command: &mut Command) {
        command
            .env("AWS_ACCESS_KEY_ID", &self.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret);
        match &self.session_token {
            Some(token) => command.env("AWS_SESSION_TOKEN", token),
            None => command.env_remove("AWS_SESSION_TOKEN"),
        };
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python that has moto: `IAM_WARDEN_PYTHON`, else the project's `.venv`.
fn python() -> PathBuf {
    std::env::var_os("IAM_WARDEN_PYTHON").map_or_else(|| root().join(".venv/bin/python"), PathBuf::from)
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

    /// Makes the next GenerateCredentialReport build a new report, as AWS
    /// does once the last one is four hours old.
    pub fn expire_credential_report(&self) {
        self.test_endpoint("credential-report", &serde_json::json!({"expire": true}));
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
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The outcome of one `iam-warden` invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The audit log's JSON lines.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        self.stderr
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|record| record["log"] == "audit")
            .collect()
    }

    pub fn audit_for(&self, action: &str) -> Vec<serde_json::Value> {
        self.audit().into_iter().filter(|r| r["action"] == action).collect()
    }

    pub fn outcomes(&self, outcome: &str) -> usize {
        self.audit().iter().filter(|r| r["outcome"] == outcome).count()
    }
}

pub fn run_warden(endpoint: &str, credentials: &Credentials, args: &[&str]) -> Run {
    run_warden_with_input(endpoint, credentials, args, None)
}

/// Runs the binary with `input` on its standard input, as `undo` reads an audit log.
pub fn run_warden_with_input(endpoint: &str, credentials: &Credentials, args: &[&str], input: Option<&str>) -> Run {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_iam-warden"));
    command
        .current_dir(root())
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    credentials.apply(&mut command);
    let mut child = command.spawn().expect("iam-warden runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input.unwrap_or_default().as_bytes()).unwrap();
    drop(stdin);
    let output: Output = child.wait_with_output().expect("iam-warden runs");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "iam-warden panicked:\n{}", run.stderr);
    run
}

/// A policy file in a temporary directory, from `config/policy.yaml` with edits.
pub struct PolicyFile {
    _dir: tempfile::TempDir,
    pub path: String,
}

impl PolicyFile {
    pub fn example_with(edits: &[(&str, &str)]) -> PolicyFile {
        let mut text = std::fs::read_to_string(root().join("config/policy.yaml")).expect("example policy");
        for (from, to) in edits {
            assert!(text.contains(from), "the example policy has no `{from}`");
            text = text.replace(from, to);
        }
        PolicyFile::new(&text)
    }

    pub fn new(text: &str) -> PolicyFile {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, text).expect("policy written");
        PolicyFile {
            path: path.to_string_lossy().into_owned(),
            _dir: dir,
        }
    }
}

/// The example policy with its report-only root check off: moto always says
/// root has no MFA, and no API can change that.
pub fn enforceable_policy() -> PolicyFile {
    PolicyFile::example_with(&[("requireForRoot: true", "requireForRoot: false")])
}

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

pub struct Queues {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
    pub dlq_url: String,
}

impl Queues {
    pub async fn send(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    /// Messages in the queue, visible or in flight.
    pub async fn pending(&self, url: &str) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName::{
            ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
        };
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(ApproximateNumberOfMessages)
            .attribute_names(ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attributes = attributes.attributes().unwrap();
        [ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible]
            .iter()
            .map(|name| attributes[name].parse::<u64>().unwrap())
            .sum()
    }
}

/// A CloudTrail record for an IAM call, wrapped as EventBridge delivers it.
pub fn eventbridge(event_name: &str, request: serde_json::Value, response: serde_json::Value) -> String {
    serde_json::json!({
        "version": "0",
        "id": "6f1e3c1a-0000-4000-8000-000000000000",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "time": chrono_now(),
        "region": "us-east-1",
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "userName": "someone", "arn": "arn:aws:iam::123456789012:user/someone"},
            "eventTime": chrono_now(),
            "eventSource": "iam.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "requestParameters": request,
            "responseElements": response,
            "eventID": format!("evt-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()),
            "eventType": "AwsApiCall",
        }
    })
    .to_string()
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `iam-warden run` as a child process, its JSON log in a file.
pub struct Daemon {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// Between the daemon and moto when it reads a queue, echoing its changes.
    proxy: Option<Proxy>,
    /// The events queue it reads, to tell when the start-up work has settled.
    queue: Option<(aws_sdk_sqs::Client, String)>,
}

impl Daemon {
    /// `iam-warden run` against `moto`. With a `queue_url` setting it goes
    /// through a proxy that sends every change it makes back to that queue as
    /// its CloudTrail event, as AWS does: iam-warden always sees its own echo.
    pub async fn start(moto: &Moto, credentials: impl Into<Credentials>, settings: &[(&str, &str)]) -> Daemon {
        let Some((_, queue_url)) = settings.iter().find(|(key, _)| *key == "queue_url") else {
            return Daemon::start_via(&moto.endpoint, credentials, settings);
        };
        let proxy = Proxy::start(&moto.endpoint).await;
        proxy.echo_to(moto.sqs(), queue_url);
        let mut daemon = Daemon::start_via(&proxy.endpoint, credentials, settings);
        daemon.proxy = Some(proxy);
        daemon.queue = Some((moto.sqs(), (*queue_url).to_owned()));
        daemon
    }

    /// Tells [`Daemon::ready`] which queue to watch drain, for a daemon started with [`Daemon::start_via`].
    pub fn watching(mut self, sqs: aws_sdk_sqs::Client, queue_url: &str) -> Daemon {
        self.queue = Some((sqs, queue_url.to_owned()));
        self
    }

    /// The echoing proxy in front of moto, for faults.
    pub fn proxy(&self) -> &Proxy {
        self.proxy.as_ref().expect("a daemon started with a queue has a proxy")
    }

    /// A daemon whose AWS endpoint is `endpoint`, such as a [`proxy::Proxy`] in front of moto.
    pub fn start_via(endpoint: &str, credentials: impl Into<Credentials>, settings: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("daemon.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_iam-warden"));
        credentials.into().apply(&mut command);
        // A settings file, for what the environment cannot say (the accounts).
        if let Some((_, file)) = settings.iter().find(|(key, _)| *key == "config") {
            command.args(["run", "--config", file]);
        } else {
            command.arg("run");
        }
        let child = command
            .current_dir(root())
            .env_remove("AWS_PROFILE")
            .env("RUST_LOG", "info")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("IAM_WARDEN_LOG_FORMAT", "json")
            .env("IAM_WARDEN_RESYNC_INTERVAL", "1h")
            .env("IAM_WARDEN_LISTEN", "127.0.0.1:0")
            .envs(
                settings
                    .iter()
                    .filter(|(k, _)| *k != "config")
                    .map(|(k, v)| (format!("IAM_WARDEN_{}", k.to_ascii_uppercase()), v)),
            )
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            log,
            _dir: dir,
            proxy: None,
            queue: None,
        }
    }

    /// Stops the process at once, as a node failure would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Log records whose `message` is `message` (and, if given, whose `key` is `key`).
    pub fn records(&self, message: &str, key: Option<&str>) -> Vec<serde_json::Value> {
        self.log()
            .into_iter()
            .filter(|r| r["message"] == message && key.is_none_or(|k| r["key"] == k))
            .collect()
    }

    /// Waits until `ready` holds, or panics after `seconds` with the log.
    pub async fn until(&self, seconds: u64, what: &str, mut ready: impl AsyncFnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while std::time::Instant::now() < deadline {
            if ready().await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "{what} did not happen in {seconds}s; daemon log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Waits until `/metrics` has the sample `line`, such as `name{labels} 1`.
    pub async fn until_sample(&self, seconds: u64, line: &str) {
        self.until(seconds, &format!("the sample `{line}`"), async || {
            self.get("/metrics").await.1.lines().any(|l| l == line)
        })
        .await;
    }

    /// Waits for the first audit line of `action` with `outcome`, and returns it.
    /// The change shows in AWS a moment before its line is written.
    pub async fn audit_line(&self, seconds: u64, action: &str, outcome: &str) -> serde_json::Value {
        let find = || {
            self.log()
                .into_iter()
                .find(|r| r["log"] == "audit" && r["action"] == action && r["outcome"] == outcome)
        };
        self.until(seconds, &format!("an audit line of {action}, {outcome}"), async || {
            find().is_some()
        })
        .await;
        find().expect("waited for")
    }

    /// Waits until the audit log shows a change applied.
    pub async fn until_first_fix(&self, seconds: u64) {
        self.until(seconds, "the first fix", async || {
            self.log()
                .iter()
                .any(|r| r["log"] == "audit" && r["outcome"] == "applied")
        })
        .await;
    }

    /// Waits for the start-up resync.
    pub async fn resynced(&self) {
        self.until(30, "the first full reconcile", async || {
            !self.records("reconciled", Some("all")).is_empty()
        })
        .await;
    }

    /// Waits until the start-up work has settled: the first resync read the
    /// account, every key it named was reconciled, and the echoes of what
    /// those reconciles changed were handled too.
    pub async fn ready(&self) {
        self.resynced().await;
        let mut quiet_since = None;
        self.until(60, "the start-up work to settle", async || {
            let idle = self.idle().await;
            match (idle, quiet_since) {
                (false, _) => quiet_since = None,
                (true, None) => quiet_since = Some(std::time::Instant::now()),
                (true, Some(since)) => return since.elapsed() > std::time::Duration::from_millis(300),
            }
            false
        })
        .await;
    }

    /// Waits until `/readyz` answers 200: this replica's first resyncs were tried.
    pub async fn until_ready(&self) {
        self.until(60, "/readyz to answer 200", async || self.get("/readyz").await.0 == 200)
            .await;
    }

    /// Nothing due, nothing running but the one that logged, and no message waiting.
    async fn idle(&self) -> bool {
        let last = self.records("reconciled", None).into_iter().last();
        let work_done = last.is_some_and(|r| r["queue_depth"] == 0 && r["running"] == 1);
        let queue_empty = match &self.queue {
            Some((sqs, url)) => {
                Queues {
                    sqs: sqs.clone(),
                    url: url.clone(),
                    dlq_url: String::new(),
                }
                .pending(url)
                .await
                    == 0
            }
            None => true,
        };
        work_done && queue_empty
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// SIGTERM, then the exit code within `seconds`.
    pub async fn terminate(mut self, seconds: u64) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// The address the daemon's HTTP endpoints bound, from its log.
    pub async fn address(&self) -> String {
        self.until(30, "the HTTP endpoints", async || {
            !self.records("serving /metrics, /livez and /readyz", None).is_empty()
        })
        .await;
        self.records("serving /metrics, /livez and /readyz", None)[0]["listen"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A plain HTTP/1.1 GET: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let address = self.address().await;
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Daemon {
    /// Resident memory of the daemon, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.memory_kib("VmRSS:")
    }

    /// The most resident memory the daemon has used, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.memory_kib("VmHWM:")
    }

    fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// The value of the sample `series` (name and labels exactly as printed) on a metrics page.
pub fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{page}"))
        .parse()
        .unwrap()
}

/// The sum of every series of `metric` whose labels include all of `labels`.
pub fn total(page: &str, metric: &str, labels: &[&str]) -> f64 {
    page.lines()
        .filter_map(|line| line.strip_prefix(metric)?.strip_prefix('{')?.split_once("} "))
        .filter(|(series, _)| labels.iter().all(|label| series.split(',').any(|l| l == *label)))
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

/// The `(user, key id)` pairs the `old-keys` seed scenario made.
pub fn old_keys(seeded: &serde_json::Value) -> Vec<(String, String)> {
    let keys = seeded["keys"].as_object().unwrap();
    keys.iter()
        .map(|(user, key)| (user.clone(), key.as_str().unwrap().to_owned()))
        .collect()
}

/// Reactivates each key by hand and sends its event, as an intruder would leave them.
pub async fn reactivate_and_announce(moto: &Moto, queues: &Queues, keys: &[(String, String)]) {
    for (user, key) in keys {
        let iam = moto.iam();
        iam.update_access_key()
            .user_name(user)
            .access_key_id(key)
            .status(aws_sdk_iam::types::StatusType::Active)
            .send()
            .await
            .unwrap();
        queues.send(&key_event(user, key)).await;
    }
}

/// The CloudTrail event of a key set active, as EventBridge delivers it.
pub fn key_event(user: &str, key: &str) -> String {
    eventbridge(
        "UpdateAccessKey",
        serde_json::json!({"userName": user, "accessKeyId": key, "status": "Active"}),
        serde_json::Value::Null,
    )
}

/// How many of `keys` are still active in the emulator.
pub async fn active_keys(moto: &Moto, keys: &[(String, String)]) -> usize {
    let mut active = 0;
    for (user, key) in keys {
        let listed = moto.iam().list_access_keys().user_name(user).send().await.unwrap();
        let found = listed
            .access_key_metadata()
            .iter()
            .find(|k| k.access_key_id() == Some(key.as_str()));
        active += usize::from(found.is_some_and(|k| k.status() == Some(&aws_sdk_iam::types::StatusType::Active)));
    }
    active
}

/// Each of the user's keys by id, `true` when active.
pub async fn keys(moto: &Moto, user: &str) -> std::collections::BTreeMap<String, bool> {
    let listed = moto.iam().list_access_keys().user_name(user).send().await.unwrap();
    listed
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap().to_owned(),
                k.status() == Some(&aws_sdk_iam::types::StatusType::Active),
            )
        })
        .collect()
}

pub async fn tags(moto: &Moto, user: &str) -> std::collections::BTreeMap<String, String> {
    let listed = moto.iam().list_user_tags().user_name(user).send().await.unwrap();
    listed
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// Moves the record of `key`'s deactivation `days` back, as if it were that old.
pub async fn backdate_record(moto: &Moto, user: &str, key: &str, days: i64) {
    let then = chrono::Utc::now() - chrono::TimeDelta::days(days);
    let tag = aws_sdk_iam::types::Tag::builder()
        .key(format!("iam-warden/deactivated/{key}"))
        .value(then.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .build()
        .unwrap();
    moto.iam().tag_user().user_name(user).tags(tag).send().await.unwrap();
}
