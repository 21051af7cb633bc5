//! An HTTP proxy between the daemon and the emulator that adds what the
//! emulator lacks and the faults tests need.
//!
//! - **Event echo.** Every IAM or CloudTrail call that changes something is
//!   turned into the CloudTrail event EventBridge would deliver, and sent to
//!   the events queue, as AWS does. iam-warden then sees its own changes come
//!   back, as it will in production.
//! - **Accounts.** It learns which account each assumed role's keys act
//!   in, from AssumeRole's answers, and so which accounts made which calls.
//! - **Faults.** It can cut the link (dropping every open connection and each
//!   new one at once), answer a share of IAM calls with AWS's own `Throttling`
//!   error, refuse with `AccessDenied` any call a test picks, or hold the
//!   calls it picks unanswered until it releases them. A held call goes on to
//!   the emulator when released even if its caller is gone, as a request
//!   that reached AWS before its caller died does.
//!
//! One request per connection: the proxy reads each request and response
//! whole, so it can tell services and actions apart, and a cut drops a long
//! poll mid-wait as a real outage would.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The body IAM sends with HTTP 400 when it throttles a caller.
const THROTTLING: &str = r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <Error>
    <Type>Sender</Type>
    <Code>Throttling</Code>
    <Message>Rate exceeded</Message>
  </Error>
  <RequestId>5c2b7f7e-0000-4000-8000-000000000000</RequestId>
</ErrorResponse>
"#;

/// One AWS call as the proxy sees it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The SigV4 signing name: `iam`, `sts`, `sqs`, `cloudtrail`, ...
    pub service: String,
    pub action: String,
    /// Query parameters (IAM, STS) or top-level JSON fields (CloudTrail, SQS), as strings.
    pub params: BTreeMap<String, String>,
    pub access_key: String,
    /// Signed with a session token: temporary credentials, such as an assumed role's.
    pub session: bool,
}

impl Call {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Changes something in IAM or CloudTrail, so CloudTrail records it.
    fn is_recorded_write(&self) -> bool {
        let reads = ["Get", "List", "Generate", "Simulate", "Describe", "Lookup"];
        matches!(self.service.as_str(), "iam" | "cloudtrail") && !reads.iter().any(|r| self.action.starts_with(r))
    }
}

type Refusal = Box<dyn Fn(&Call) -> bool + Send + Sync>;

pub struct Proxy {
    pub endpoint: String,
    faults: Arc<Faults>,
    server: tokio::task::JoinHandle<()>,
}

struct Faults {
    cut: watch::Sender<bool>,
    /// Of every ten IAM calls, this many are throttled.
    throttle_per_ten: AtomicU32,
    iam_calls: AtomicU64,
    throttled: AtomicU64,
    refuse: Mutex<Vec<Refusal>>,
    refused: AtomicU64,
    hold: Mutex<Option<Refusal>>,
    held: AtomicU64,
    released: watch::Sender<bool>,
    echo: Mutex<Option<Echo>>,
    echoed: AtomicU64,
    /// The account of each assumed role's access key.
    assumed: Mutex<HashMap<String, String>>,
    /// Each action, with the accounts whose assumed roles called it.
    by_account: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

struct Echo {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let faults = Arc::new(Faults {
            cut: watch::channel(false).0,
            throttle_per_ten: AtomicU32::new(0),
            iam_calls: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            refuse: Mutex::default(),
            refused: AtomicU64::new(0),
            hold: Mutex::default(),
            held: AtomicU64::new(0),
            released: watch::channel(true).0,
            echo: Mutex::default(),
            echoed: AtomicU64::new(0),
            assumed: Mutex::default(),
            by_account: Mutex::default(),
        });
        let shared = faults.clone();
        let server = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *shared.cut.borrow() {
                    continue; // dropped: the caller sees the connection close
                }
                tokio::spawn(relay(client, upstream.clone(), shared.clone()));
            }
        });
        Proxy {
            endpoint,
            faults,
            server,
        }
    }

    /// Sends each recorded write's CloudTrail event to `queue_url` through `sqs`
    /// (a client of the emulator itself, not of this proxy).
    pub fn echo_to(&self, sqs: aws_sdk_sqs::Client, queue_url: &str) {
        *self.faults.echo.lock().unwrap() = Some(Echo {
            sqs,
            queue_url: queue_url.to_owned(),
        });
    }

    pub fn cut(&self) {
        self.faults.cut.send_replace(true);
    }

    pub fn heal(&self) {
        self.faults.cut.send_replace(false);
    }

    /// Throttles `per_ten` of every ten IAM calls from now on.
    pub fn throttle_iam(&self, per_ten: u32) {
        self.faults.throttle_per_ten.store(per_ten, Ordering::Relaxed);
    }

    /// IAM calls answered with `Throttling` so far.
    pub fn throttled(&self) -> u64 {
        self.faults.throttled.load(Ordering::Relaxed)
    }

    /// Answers every call that `refuse` picks with `AccessDenied`, from now on.
    pub fn refuse(&self, refuse: impl Fn(&Call) -> bool + Send + Sync + 'static) {
        self.faults.refuse.lock().unwrap().push(Box::new(refuse));
    }

    /// Lets every call through again, as when a missing role is created.
    pub fn stop_refusing(&self) {
        self.faults.refuse.lock().unwrap().clear();
    }

    /// Calls refused so far.
    pub fn refused(&self) -> u64 {
        self.faults.refused.load(Ordering::Relaxed)
    }

    /// Holds every call `pick` picks, unanswered, until [`Proxy::release`].
    pub fn hold(&self, pick: impl Fn(&Call) -> bool + Send + Sync + 'static) {
        *self.faults.hold.lock().unwrap() = Some(Box::new(pick));
        self.faults.released.send_replace(false);
    }

    /// Sends every held call on, and holds no more.
    pub fn release(&self) {
        self.faults.hold.lock().unwrap().take();
        self.faults.released.send_replace(true);
    }

    /// Calls held so far.
    pub fn held(&self) -> u64 {
        self.faults.held.load(Ordering::Relaxed)
    }

    /// The accounts whose assumed roles made `action` through this proxy, successfully.
    pub fn accounts_calling(&self, action: &str) -> BTreeSet<String> {
        self.faults
            .by_account
            .lock()
            .unwrap()
            .get(action)
            .cloned()
            .unwrap_or_default()
    }

    /// Events echoed to the queue so far.
    pub fn echoed(&self) -> u64 {
        self.faults.echoed.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_file(crate::journal_for(&self.endpoint));
    }
}

async fn relay(client: TcpStream, upstream: String, faults: Arc<Faults>) {
    let mut cut = faults.cut.subscribe();
    tokio::select! {
        () = forward(client, &upstream, &faults) => {}
        _ = cut.wait_for(|cut| *cut) => {} // both sockets drop here, mid-request
    }
}

async fn forward(client: TcpStream, upstream: &str, faults: &Faults) {
    let mut client = BufReader::new(client);
    let Some((head, body)) = read_request(&mut client).await else {
        return;
    };
    let call = parse_call(&head, &body);
    if call.as_ref().is_some_and(|call| faults.holds(call)) {
        faults.held.fetch_add(1, Ordering::Relaxed);
        let _ = faults.released.subscribe().wait_for(|released| *released).await;
    }
    if let Some(response) = call.as_ref().and_then(|call| faults.fault_for(call)) {
        let _ = client.get_mut().write_all(response.as_bytes()).await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    // The emulator closes after answering, so the reply ends at its EOF.
    let head = with_connection_close(&head);
    if server.write_all(head.as_bytes()).await.is_err() || server.write_all(&body).await.is_err() {
        return;
    }
    let mut response = Vec::new();
    if server.read_to_end(&mut response).await.is_err() {
        return;
    }
    let _ = client.get_mut().write_all(&response_closing(&response)).await;
    let Some(call) = call.filter(|_| succeeded(&response)) else {
        return;
    };
    faults.learn_account(&call, &String::from_utf8_lossy(&response));
    if call.is_recorded_write() {
        faults.echo(&call, &response).await;
    }
}

async fn read_request(client: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let before = head.len();
        if client.read_line(&mut head).await.ok()? == 0 {
            return None;
        }
        if head[before..] == *"\r\n" {
            break;
        }
    }
    let length = header(&head, "content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    client.read_exact(&mut body).await.ok()?;
    Some((head, body))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim())
}

/// The service from the SigV4 scope, the action and the parameters of either protocol.
fn parse_call(head: &str, body: &[u8]) -> Option<Call> {
    let authorization = header(head, "authorization")?;
    let credential = authorization.split("Credential=").nth(1)?.split(',').next()?;
    let mut scope = credential.split('/');
    let access_key = scope.next()?.to_owned();
    let service = scope.nth(2)?.to_owned();
    let session = header(head, "x-amz-security-token").is_some();
    let (action, params) = match header(head, "x-amz-target") {
        Some(target) => {
            let fields: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let params = fields
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect();
            (target.rsplit('.').next()?.to_owned(), params)
        }
        None => {
            let mut params: BTreeMap<String, String> = form_decode(body).collect();
            (params.remove("Action")?, params)
        }
    };
    Some(Call {
        service,
        action,
        params,
        access_key,
        session,
    })
}

fn form_decode(body: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(&text.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    body.split(|b| *b == b'&').filter_map(move |pair| {
        let pair = std::str::from_utf8(pair).ok()?;
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        Some((decode(key), decode(value)))
    })
}

fn succeeded(response: &[u8]) -> bool {
    response.starts_with(b"HTTP/1.1 2") || response.starts_with(b"HTTP/1.0 2")
}

fn with_connection_close(head: &str) -> String {
    let mut lines: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

/// The response with `Connection: close`, so the client never reuses a socket this proxy closes.
fn response_closing(response: &[u8]) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out = with_connection_close(&head).into_bytes();
    out.extend_from_slice(&response[end + 4..]);
    out
}

fn error_response(status: &str, code: &str, message: &str) -> String {
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>5c2b7f7e-0000-4000-8000-000000000001</RequestId></ErrorResponse>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

impl Faults {
    fn holds(&self, call: &Call) -> bool {
        self.hold.lock().unwrap().as_ref().is_some_and(|pick| pick(call))
    }

    fn fault_for(&self, call: &Call) -> Option<String> {
        if self.refuse.lock().unwrap().iter().any(|refuse| refuse(call)) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            let message = format!("not authorized to perform: {}:{}", call.service, call.action);
            return Some(error_response("403 Forbidden", "AccessDenied", &message));
        }
        if call.service == "iam" && self.throttle_now() {
            return Some(format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{THROTTLING}",
                THROTTLING.len()
            ));
        }
        None
    }

    /// Notes whose keys an AssumeRole handed out, and which account each call was made in.
    fn learn_account(&self, call: &Call, response: &str) {
        if call.action == "AssumeRole" {
            let account = call.param("RoleArn").and_then(|arn| arn.split(':').nth(4));
            let key = response
                .split("<AccessKeyId>")
                .nth(1)
                .and_then(|rest| rest.split('<').next());
            if let (Some(account), Some(key)) = (account, key) {
                self.assumed.lock().unwrap().insert(key.to_owned(), account.to_owned());
            }
            return;
        }
        if let Some(account) = self.assumed.lock().unwrap().get(&call.access_key) {
            let mut by_account = self.by_account.lock().unwrap();
            by_account
                .entry(call.action.clone())
                .or_default()
                .insert(account.clone());
        }
    }

    fn throttle_now(&self) -> bool {
        let call = self.iam_calls.fetch_add(1, Ordering::Relaxed);
        let per_ten = u64::from(self.throttle_per_ten.load(Ordering::Relaxed));
        // Spread over each ten calls rather than in a run, so a share of 3
        // throttles calls 0, 4 and 7: reproducible, and no call is singled out.
        let throttle = call * per_ten % 10 < per_ten;
        self.throttled.fetch_add(u64::from(throttle), Ordering::Relaxed);
        throttle
    }

    async fn echo(&self, call: &Call, response: &[u8]) {
        let Some((sqs, queue_url)) = self
            .echo
            .lock()
            .unwrap()
            .as_ref()
            .map(|e| (e.sqs.clone(), e.queue_url.clone()))
        else {
            return;
        };
        let body = recorded_event(call, &String::from_utf8_lossy(response));
        let sent = sqs.send_message().queue_url(queue_url).message_body(body).send().await;
        match sent {
            Ok(_) => {
                self.echoed.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => eprintln!("proxy: echoing {} failed: {error}", call.action),
        }
    }
}

/// The CloudTrail record of `call` in the EventBridge envelope.
fn recorded_event(call: &Call, response: &str) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let camel = |name: &str| {
        let mut chars = name.chars();
        chars
            .next()
            .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
            .unwrap_or_default()
    };
    // Only scalar parameters: list members (`Tags.member.1.Key`) are not needed by any key.
    let request: serde_json::Map<String, serde_json::Value> = call
        .params
        .iter()
        .filter(|(name, _)| !name.contains('.') && *name != "Version")
        .map(|(name, value)| (camel(name), value.clone().into()))
        .collect();
    let element = |name: &str| {
        let start = response.find(&format!("<{name}>"))? + name.len() + 2;
        let end = response[start..].find('<')? + start;
        Some(response[start..end].to_owned())
    };
    let response_elements = match element("OpenIDConnectProviderArn") {
        Some(arn) => serde_json::json!({"openIDConnectProviderArn": arn}),
        None => serde_json::Value::Null,
    };
    let identity_type = if call.session { "AssumedRole" } else { "IAMUser" };
    serde_json::json!({
        "version": "0",
        "id": format!("echo-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{}", call.service),
        "account": "123456789012",
        "time": now,
        "region": "us-east-1",
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"type": identity_type, "accessKeyId": call.access_key},
            "eventTime": now,
            "eventSource": format!("{}.amazonaws.com", call.service),
            "eventName": call.action,
            "awsRegion": "us-east-1",
            "requestParameters": request,
            "responseElements": response_elements,
            "eventID": format!("echo-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()),
            "eventType": "AwsApiCall",
        }
    })
    .to_string()
}
