//! A fault-injecting HTTP proxy between the daemon and the emulator. It can
//! cut the link, dropping every open connection and each new one at once, and
//! it can answer a share of IAM calls with AWS's own `Throttling` error.
//!
//! One request per connection: the proxy reads each request whole, so it can
//! tell IAM from SQS, and a cut drops a long poll mid-wait as a real outage would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

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
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.abort();
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
    if is_iam(&head) && faults.throttle_now() {
        let response = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{THROTTLING}",
            THROTTLING.len()
        );
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
    let _ = tokio::io::copy(&mut server, client.get_mut()).await;
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
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    client.read_exact(&mut body).await.ok()?;
    Some((head, body))
}

/// IAM is the only service the daemon calls whose signing scope is `iam`.
fn is_iam(head: &str) -> bool {
    head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("authorization") && value.contains("/iam/aws4_request")
        })
    })
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

impl Faults {
    fn throttle_now(&self) -> bool {
        let call = self.iam_calls.fetch_add(1, Ordering::Relaxed);
        let per_ten = u64::from(self.throttle_per_ten.load(Ordering::Relaxed));
        // Spread over each ten calls rather than in a run, so a share of 3
        // throttles calls 0, 4 and 7: reproducible, and no call is singled out.
        let throttle = call * per_ten % 10 < per_ten;
        self.throttled.fetch_add(u64::from(throttle), Ordering::Relaxed);
        throttle
    }
}
