//! The HTTP side: `/metrics` for Prometheus, `/healthz` (the process
//! serves) and `/readyz` (the broker accepts Kafka traffic) for Kubernetes.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use parking_lot::Mutex;

use crate::metrics::Metrics;

/// Readiness shared between the broker and its probes.
#[derive(Debug, Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
    /// Conditions that make the broker unable to do its job although it
    /// runs (a full disk), by what reports them; `/readyz` lists them.
    problems: Arc<Mutex<BTreeMap<String, String>>>,
    /// Conditions worth knowing that do not make the broker unready.
    details: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Health {
    /// Marks the broker ready (listener bound, logs loaded) or not (starting,
    /// shutting down); `/readyz` answers 200 or 503 accordingly.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Sets (`Some(reason)`) or clears the problem reported as `key`;
    /// returns whether that changed anything.
    pub fn set_problem(&self, key: &str, reason: Option<String>) -> bool {
        let mut problems = self.problems.lock();
        match reason {
            Some(reason) => problems.insert(key.to_owned(), reason.clone()) != Some(reason),
            None => problems.remove(key).is_some(),
        }
    }

    /// The current problems' reasons.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().values().cloned().collect()
    }

    /// Sets or clears a detail reported as `key`: listed by `/readyz` but not
    /// making it fail (a damaged partition is offline, the broker is not).
    pub fn set_detail(&self, key: &str, detail: Option<String>) {
        let mut details = self.details.lock();
        match detail {
            Some(detail) => details.insert(key.to_owned(), detail),
            None => details.remove(key),
        };
    }

    /// Whether `/readyz` answers 200: ready, and no problem reported.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && self.problems.lock().is_empty()
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Health,
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until
/// `shutdown` resolves, then finishes the requests in flight and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health });
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%error, "HTTP server failed");
    }
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.encode_text(),
    )
}

/// 200 `ready`, or 503 `not ready` followed by one line per reason.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let health = &state.health;
    let (status, mut body) = if health.is_ready() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_owned())
    };
    let details = health.details.lock().values().cloned().collect::<Vec<_>>();
    for line in health.problems().into_iter().chain(details) {
        body.push_str(&line);
        body.push('\n');
    }
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One HTTP/1.1 request over a fresh connection; returns status and body.
    async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    #[tokio::test]
    async fn probes_follow_readiness_and_metrics_are_served() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::new());
        metrics.connection_opened();
        let health = Health::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, metrics, health.clone(), async {
            let _ = stopped.await;
        }));

        assert_eq!(get(addr, "/healthz").await.0, 200);
        assert_eq!(get(addr, "/readyz").await.0, 503);
        health.set_ready(true);
        assert_eq!(get(addr, "/readyz").await.0, 200);
        assert!(health.set_problem("disk", Some("disk full".into())));
        assert_eq!(
            get(addr, "/readyz").await,
            (503, "not ready\ndisk full\n".into())
        );
        assert!(health.set_problem("disk", None));
        health.set_detail("t-0", Some("partition t-0 damaged".into()));
        assert_eq!(
            get(addr, "/readyz").await,
            (200, "ready\npartition t-0 damaged\n".into())
        );
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("karst_connections 1"), "{body}");
        assert_eq!(get(addr, "/nope").await.0, 404);

        stop.send(()).unwrap();
        server.await.unwrap();
    }
}
