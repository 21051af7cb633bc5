//! `iam-warden run` as a child process, its JSON log in a file, and ways to
//! wait on what it does.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::emulator::{Credentials, Moto};
use crate::events::Queues;
use crate::proxy::Proxy;
use crate::{binary, root};

pub struct Daemon {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// Between the daemon and moto when it reads a queue, echoing its changes.
    proxy: Option<Proxy>,
    /// The events queue it reads, to tell when the start-up work has settled.
    queue: Option<(aws_sdk_sqs::Client, String)>,
    /// Its journal: the `journal` setting, else a file beside its endpoint.
    journal: PathBuf,
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

    /// `iam-warden run` against `moto` with the test keys, as [`Daemon::start`]
    /// starts it, once its start-up work has settled ([`Daemon::ready`]).
    pub async fn settled(moto: &Moto, settings: &[(&str, &str)]) -> Daemon {
        let daemon = Daemon::start(moto, (crate::TEST_KEY, crate::TEST_KEY), settings).await;
        daemon.ready().await;
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
        let mut command = Command::new(binary());
        credentials.into().apply(&mut command);
        // A settings file, for what the environment cannot say (the accounts).
        if let Some((_, file)) = settings.iter().find(|(key, _)| *key == "config") {
            command.args(["run", "--config", file]);
        } else {
            command.arg("run");
        }
        let named = settings.iter().find(|(key, _)| *key == "journal");
        let journal = named.map_or_else(|| crate::journal_for(endpoint), |(_, path)| PathBuf::from(path));
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
            .env("IAM_WARDEN_JOURNAL", &journal)
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
            journal,
        }
    }

    /// Stops the process at once, as a node failure would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The journal it writes: the `journal` setting, else a file beside its endpoint.
    pub fn journal(&self) -> &std::path::Path {
        &self.journal
    }

    /// The log as written, every line.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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
