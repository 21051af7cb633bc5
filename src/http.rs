//! `/metrics`, `/livez` and `/readyz`. Liveness asks only whether the work
//! loop moves: AWS being unreachable makes reconciles fail fast, not stop,
//! and a restart would not bring AWS back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::metrics::Metrics;

/// Work due for this long with no reconcile starting or ending means a stuck loop.
const STUCK_AFTER: Duration = Duration::from_secs(300);

pub struct Health {
    /// Every latch has been handed out: until then, the replica is not ready.
    latched: AtomicBool,
    /// Latches not yet dropped.
    open_latches: AtomicUsize,
    queue_reachable: AtomicBool,
    last_progress: Mutex<Instant>,
}

/// Holds readiness back while it lives: one per owned account, dropped once
/// that account's first resync was tried to the end.
#[derive(Debug)]
pub struct Latch(Arc<Health>);

impl Drop for Latch {
    fn drop(&mut self) {
        self.0.open_latches.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Health")
    }
}

impl Health {
    /// `uses_queue`: readiness then also needs the queue to answer.
    pub fn new(uses_queue: bool) -> Health {
        Health {
            latched: AtomicBool::new(false),
            open_latches: AtomicUsize::new(0),
            queue_reachable: AtomicBool::new(!uses_queue),
            last_progress: Mutex::new(Instant::now()),
        }
    }

    /// `count` latches, after which readiness waits on them alone.
    pub fn latches(self: &Arc<Health>, count: usize) -> Vec<Latch> {
        self.open_latches.fetch_add(count, Ordering::AcqRel);
        self.latched.store(true, Ordering::Release);
        (0..count).map(|_| Latch(self.clone())).collect()
    }

    /// A reconcile started or ended.
    pub fn progressed(&self) {
        *self.last_progress.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub fn queue_reachable(&self, reachable: bool) {
        self.queue_reachable.store(reachable, Ordering::Relaxed);
    }

    fn live(&self, due: i64) -> Result<(), String> {
        let idle = self.last_progress.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
        if due > 0 && idle > STUCK_AFTER {
            return Err(format!(
                "work loop stuck: {due} keys due and no reconcile for {}s",
                idle.as_secs()
            ));
        }
        Ok(())
    }

    fn ready(&self) -> Result<(), String> {
        if !self.latched.load(Ordering::Acquire) || self.open_latches.load(Ordering::Acquire) > 0 {
            return Err("the first full reconcile has not finished".to_owned());
        }
        if !self.queue_reachable.load(Ordering::Relaxed) {
            return Err("the SQS queue did not answer the last receive".to_owned());
        }
        Ok(())
    }
}

pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// Sets the gauges that are read, not counted, just before a scrape.
    pub refresh: Box<dyn Fn() + Send + Sync>,
}

/// Binds `listen` now, so a bad address fails start-up, and serves until cancelled.
pub async fn serve(listen: &str, endpoints: Endpoints, cancel: CancellationToken) -> Result<SocketAddr, Error> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Listen(format!("{listen}: {e}")))?;
    let address = listener.local_addr().map_err(|e| Error::Listen(e.to_string()))?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .with_state(Arc::new(endpoints));
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the HTTP server stopped");
        }
    });
    Ok(address)
}

async fn metrics(State(endpoints): State<Arc<Endpoints>>) -> impl IntoResponse {
    (endpoints.refresh)();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        endpoints.metrics.encode(),
    )
}

async fn livez(State(endpoints): State<Arc<Endpoints>>) -> impl IntoResponse {
    (endpoints.refresh)();
    probe(endpoints.health.live(endpoints.metrics.workqueue_depth.get()))
}

async fn readyz(State(endpoints): State<Arc<Endpoints>>) -> impl IntoResponse {
    probe(endpoints.health.ready())
}

fn probe(result: Result<(), String>) -> (StatusCode, String) {
    match result {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}
