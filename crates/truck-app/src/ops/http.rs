//! The page's HTTP side: the page, its view as JSON and as server-sent events, and the planner.
//!
//! Served on 127.0.0.1 by default. A request must name the server by its address (`Host`), so a
//! site that re-points its own name at this machine (DNS rebinding) reads nothing; the planner
//! takes JSON only, from this page's own origin, one run at a time.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use store_model::{PlanningEvent, PlanningResult};
use store_planning_app::PlanningError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify, Semaphore, oneshot, watch};

use super::{Ops, page};

/// Most event streams open at once; a new one ends the oldest.
pub const MAX_WATCHERS: usize = 64;

/// Most connections served at once. Past it, new ones wait in the listen backlog until one
/// ends, so idle sockets cannot take every file descriptor the process has (the page's own
/// queries need some).
pub const MAX_CONNECTIONS: usize = 256;

/// How long a client has to send a request's headers, and between requests on a kept-alive
/// connection to start the next: an idle socket is closed after it.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write may make no progress before its connection is dropped: a client that
/// stopped reading (its event stream backed up) frees its slot.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The longest one event stream lives; the page's `EventSource` reconnects by itself, so a
/// forgotten tab does not hold a slot for days.
pub const MAX_STREAM_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// How long open connections get to finish once the server is asked to stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest planning request body.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Everything a request handler needs.
struct App {
    ops: Arc<Ops>,
    /// The latest view as JSON; empty until the first look.
    views: watch::Receiver<Arc<str>>,
    /// Asks the watcher for a fresh look (after a planning run).
    wake: Arc<Notify>,
    /// One sender per open event stream, oldest first: dropping one ends its stream.
    watchers: std::sync::Mutex<std::collections::VecDeque<oneshot::Sender<()>>>,
    /// Held by the planning run under way.
    planning: Mutex<()>,
    /// The map, drawn once.
    map: String,
    /// Where the server listens.
    listen: SocketAddr,
}

/// Serves the page on `listener` until `shutdown` completes: the watcher stops, every event
/// stream ends, and the server returns once the open requests are answered.
pub async fn serve(
    listener: TcpListener,
    ops: Arc<Ops>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listen = listener.local_addr()?;
    let (views_tx, views) = watch::channel::<Arc<str>>(Arc::from(""));
    let (stop_tx, stop) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let watcher = {
        let (ops, wake, stop) = (ops.clone(), wake.clone(), stop.clone());
        tokio::spawn(async move { ops.watch(views_tx, wake, stop).await })
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let app = Arc::new(App {
        map: ops.map(),
        ops,
        views,
        wake,
        watchers: std::sync::Mutex::default(),
        planning: Mutex::new(()),
        listen,
    });
    let router = Router::new()
        .route("/", get(page_handler))
        .route("/api/view", get(view_handler))
        .route("/api/events", get(events_handler))
        .route("/api/plan", post(plan_handler))
        .route("/simulation", get(simulation_handler))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app);
    accept_until_stopped(listener, router, stop).await;
    let _ = watcher.await;
    Ok(())
}

/// Serves connections from `listener` until `stop` turns true, at most [`MAX_CONNECTIONS`] at
/// once, each with a header-read timeout and a write-stall timeout; then asks each open
/// connection to finish its request and waits up to [`DRAIN_TIMEOUT`] for them.
async fn accept_until_stopped(
    listener: TcpListener,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            () = stopped(&mut stop) => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let tcp = tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors or a connection reset before it was taken:
                    // pause rather than spin, and go on.
                    tracing::warn!(error = %e, "the operations page could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let mut stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let io = hyper_util::rt::TokioIo::new(WriteDeadline::new(tcp, WRITE_STALL_TIMEOUT));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(io, service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN_TIMEOUT, connection).await;
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT * 2, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// Completes once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A connection whose writes must make progress: a write or flush that stays pending for
/// `limit` fails with `TimedOut`, which ends the connection (and frees what it held).
struct WriteDeadline<T> {
    inner: T,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> WriteDeadline<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
        }
    }

    /// `poll`'s answer, or `TimedOut` once it has been pending for the limit.
    fn deadline<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<R>>,
    ) -> Poll<std::io::Result<R>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.deadline(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.deadline(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.deadline(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A JSON error the page shows as it is.
fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Refuses a request that names the server by another name; marks every response as not to be
/// sniffed, cached or referred.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if !host_allowed(host, app.listen) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this server answers requests made to its own address only (see --listen)",
        );
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Whether `host` (a `Host` header) names the server listening on `listen`: any name when it
/// listens on every address; otherwise its own address, or `localhost` for a loopback one.
pub fn host_allowed(host: Option<&str>, listen: SocketAddr) -> bool {
    if listen.ip().is_unspecified() {
        return true;
    }
    let Some(host) = host else { return false };
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name.eq_ignore_ascii_case("localhost") {
        return listen.ip().is_loopback();
    }
    name.parse::<IpAddr>()
        .is_ok_and(|ip| ip == listen.ip() || (ip.is_loopback() && listen.ip().is_loopback()))
}

impl App {
    /// A slot for a new event stream: the receiver completes when the stream must end. With
    /// [`MAX_WATCHERS`] streams open, the oldest is ended to make room, so a new viewer is
    /// always served and streams that stopped reading cannot lock every viewer out.
    fn watch_slot(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut open = self
            .watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.retain(|s| !s.is_closed());
        while open.len() >= MAX_WATCHERS {
            open.pop_front();
        }
        open.push_back(tx);
        rx
    }

    /// The latest view, waiting for the first look if there is none yet.
    async fn current(&self) -> Option<Arc<str>> {
        let mut views = self.views.clone();
        views
            .wait_for(|v| !v.is_empty())
            .await
            .ok()
            .map(|v| v.clone())
    }
}

async fn page_handler(State(app): State<Arc<App>>) -> Response {
    let Some(view) = app.current().await else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
    };
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let policy = page::content_security_policy(&nonce);
    let page = page::html(&app.map, &view, &nonce, epoch_ms());
    let mut response = Html(page).into_response();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// The KPIs of a finished simulation: the report `store-sim` wrote, as it is. It runs no
/// script and loads nothing, and its policy says so.
async fn simulation_handler(State(app): State<Arc<App>>) -> Response {
    let Some(report) = app.ops.simulation.clone() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "no simulation report: start serve with --simulation DIR/report.html (or compare.html) from store-sim",
        );
    };
    let mut response = Html(report.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox",
        ),
    );
    response
}

async fn view_handler(State(app): State<Arc<App>>) -> Response {
    match app.current().await {
        Some(view) => (
            [(header::CONTENT_TYPE, "application/json")],
            view.to_string(),
        )
            .into_response(),
        None => refuse(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping"),
    }
}

/// The current view, then every new one, as `view` events, and the server's clock (epoch
/// milliseconds) as a `clock` event at once and every [`CLOCK_EVERY`], so the page moves trucks
/// by this machine's time whatever the viewer's clock says. Ends when the server stops.
async fn events_handler(State(app): State<Arc<App>>) -> Response {
    let evicted = app.watch_slot();
    let mut views = app.views.clone();
    views.mark_changed();
    let clock = tokio::time::interval(CLOCK_EVERY);
    let end = tokio::time::Instant::now() + MAX_STREAM_LIFETIME;
    let stream = futures::stream::unfold(
        (views, clock, evicted),
        move |(mut views, mut clock, mut evicted)| async move {
            let event = loop {
                tokio::select! {
                    // The browser reconnects: no slot is held for ever by a forgotten tab or a
                    // client that stopped reading.
                    () = tokio::time::sleep_until(end) => return None,
                    _ = &mut evicted => return None,
                    changed = views.changed() => {
                        changed.ok()?;
                        let view = views.borrow_and_update().clone();
                        if !view.is_empty() {
                            break Event::default().event("view").data(&*view);
                        }
                    }
                    _ = clock.tick() => {
                        break Event::default().event("clock").data(epoch_ms().to_string());
                    }
                }
            };
            Some((Ok::<_, Infallible>(event), (views, clock, evicted)))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// How often an event stream sends the server's clock.
const CLOCK_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// This machine's clock, epoch milliseconds.
fn epoch_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs the planner with the posted event, as `invoke` does, and returns its result.
async fn plan_handler(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(planner) = &app.ops.planner else {
        return refuse(
            StatusCode::FORBIDDEN,
            "running the planner from the page is off; start `store-truck-app serve --allow-invoke`",
        );
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json);
    if !json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the planning event as application/json",
        );
    }
    if !same_origin(&headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the planner runs for this page only, not for other sites",
        );
    }
    let event = match std::str::from_utf8(&body)
        .map_err(|e| e.to_string())
        .and_then(|text| PlanningEvent::from_json(text).map_err(|e| e.to_string()))
    {
        Ok(event) => event,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e),
    };
    let Ok(_running) = app.planning.try_lock() else {
        return refuse(
            StatusCode::CONFLICT,
            "a planning run started from this page is under way; wait for its result",
        );
    };
    match planner.handle(event).await {
        Ok(result) => {
            app.wake.notify_one();
            axum::Json(with_reasons(&result)).into_response()
        }
        Err(e) => {
            let status = match e {
                PlanningError::InvalidEvent(_) => StatusCode::BAD_REQUEST,
                PlanningError::OutOfTime(_) => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            refuse(status, &e.to_string())
        }
    }
}

/// A planning result as JSON, each alert with `why`, its reason in words ([`store_model::Alert::why`]), for
/// the page to show as it is.
fn with_reasons(result: &PlanningResult) -> serde_json::Value {
    let mut value = serde_json::to_value(result).unwrap_or_default();
    if let Some(alerts) = value
        .get_mut("alerts")
        .and_then(serde_json::Value::as_array_mut)
    {
        for (json, alert) in alerts.iter_mut().zip(&result.alerts) {
            if let Some(object) = json.as_object_mut() {
                object.insert("why".to_owned(), alert.why().into());
            }
        }
    }
    value
}

/// Whether a `Content-Type` names JSON: the media type without its parameters, in any case
/// (RFC 9110: types are case-insensitive, `; charset=utf-8` and the like may follow).
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether a request comes from a page of this server: its `Origin`, when sent, is the host it
/// was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(origin), Some(host)) => origin == format!("http://{host}"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_planning_result_gives_each_alert_its_reason() {
        let alerts = vec![
            store_model::contract::alert(1, 1_764_000_000),
            store_model::contract::alert(2, 1_764_000_000),
        ];
        let result: PlanningResult = serde_json::from_value(serde_json::json!({
            "query_id": "q", "engine": "datafusion", "readings_scanned": 2, "bytes_scanned": 10,
            "malformed_skipped": 0, "alerts_sent": 2, "alerts_suppressed": 0, "dry_run": true,
            "alerts": alerts, "suppressed": [], "messages": [],
        }))
        .unwrap();
        let json = with_reasons(&result);
        let listed = json["alerts"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        for (j, a) in listed.iter().zip(&alerts) {
            assert_eq!(j["why"].as_str(), Some(a.why().as_str()));
            assert_eq!(j["alert_id"].as_str(), Some(a.alert_id.as_str()));
        }
        assert!(
            listed[0]["why"]
                .as_str()
                .unwrap()
                .starts_with("stock 1, below the threshold 10; 19 ordered")
        );
    }

    #[test]
    fn only_the_servers_own_names_are_answered() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "127.0.0.1",
        ] {
            assert!(host_allowed(Some(ok), loopback), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "evil.example",
            "10.0.0.1:8080",
            "",
            "localhost.evil:80",
        ] {
            assert!(!host_allowed(Some(refused), loopback), "{refused}");
        }
        assert!(!host_allowed(None, loopback));
        let lan: SocketAddr = "192.168.1.5:80".parse().unwrap();
        assert!(host_allowed(Some("192.168.1.5"), lan));
        assert!(!host_allowed(Some("localhost"), lan));
        let every: SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert!(host_allowed(Some("ops.example"), every));
    }

    #[test]
    fn json_is_recognised_in_any_case_with_parameters() {
        for ok in [
            "application/json",
            "APPLICATION/JSON",
            "application/json ; charset=utf-8",
            "Application/Json;charset=UTF-8",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for refused in [
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
            "",
        ] {
            assert!(!is_json(refused), "{refused}");
        }
    }

    #[tokio::test]
    async fn a_write_that_makes_no_progress_times_out() {
        // A pipe nobody reads: its buffer fills, then every write stays pending.
        let (ours, _theirs) = tokio::io::duplex(64);
        let mut io = WriteDeadline::new(ours, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = loop {
            match tokio::io::AsyncWriteExt::write(&mut io, &[0; 64]).await {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[test]
    fn a_post_from_another_site_is_not_this_pages() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&headers), "no Origin: not from a browser page");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&headers));
    }
}
