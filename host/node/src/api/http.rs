//! The HTTP API: `fn app(state) -> Router`, built in one place so tests can
//! drive it with `tower::ServiceExt::oneshot` and the binary can serve it.
//!
//! Layers, outermost first: per-IP token bucket, request timeout, body size
//! limit (per route), then the handler. Handlers never block the async
//! runtime: evaluation goes through the bounded queue, publishing through
//! `spawn_blocking`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::runtime::error::ApiError;
use crate::runtime::metrics::Metrics;
use crate::runtime::service::Node;
use ian_ratelimit::RateLimiter;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The node.
    pub node: Arc<Node>,
    /// Per-IP limiter over all routes.
    pub ip_limiter: Arc<RateLimiter<std::net::IpAddr>>,
    /// One `ian::access` log line per request (`server.access_log`).
    pub access_log: bool,
}

impl AppState {
    /// State for a node, with limits from its config.
    pub fn new(node: Arc<Node>) -> Self {
        let l = &node.config().limits;
        let ip_limiter = Arc::new(RateLimiter::new(
            l.ip_rate_per_sec,
            l.ip_burst,
            l.rate_table_entries as usize,
        ));
        AppState {
            node,
            ip_limiter,
            access_log: false,
        }
    }

    /// Logs every request (method, route template, status, latency, client
    /// address) at info under the target `ian::access`.
    pub fn with_access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }

    fn metrics(&self) -> &Metrics {
        self.node.metrics()
    }
}

/// Every route: method and path (axum syntax, same as OpenAPI templates).
/// [`app`] builds the router from exactly this list, and a test checks the
/// OpenAPI document against it.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/goals/{goal}"),
    ("GET", "/goals/{goal}/contributors/{key}"),
    ("GET", "/goals/{goal}/entries/{index}"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/node"),
    ("GET", "/api/v1/goals"),
    ("POST", "/api/v1/goals"),
    ("GET", "/api/v1/goals/{goal}"),
    ("POST", "/api/v1/goals/{goal}/retire"),
    ("POST", "/api/v1/goals/{goal}/reveal"),
    ("POST", "/api/v1/goals/{goal}/selections"),
    ("GET", "/api/v1/goals/{goal}/final"),
    ("POST", "/api/v1/admin/backup"),
    ("GET", "/api/v1/goals/{goal}/manifest"),
    ("POST", "/api/v1/goals/{goal}/contributions"),
    ("GET", "/api/v1/goals/{goal}/leaderboard"),
    ("GET", "/api/v1/goals/{goal}/contributors/{key}"),
    ("GET", "/api/v1/goals/{goal}/log"),
    ("GET", "/api/v1/goals/{goal}/log/{index}/proof"),
    ("GET", "/api/v1/goals/{goal}/receipts/{index}"),
    ("GET", "/api/v1/goals/{goal}/packs/{hash}/receipt"),
    ("GET", "/api/v1/goals/{goal}/checkpoint"),
    ("GET", "/api/v1/goals/{goal}/consistency"),
    ("GET", "/api/v1/blobs/{hash}"),
    ("GET", "/api/v1/packs/{hash}"),
    ("GET", "/api/v1/tau"),
    ("GET", "/api/v1/evidence"),
    ("GET", "/api/v1/peers"),
    ("GET", "/logs/{goal}/checkpoint"),
    ("GET", "/logs/{goal}/tile/{*path}"),
    ("POST", "/witness/add-checkpoint"),
    ("GET", "/witness/{origin_hash}/checkpoint"),
];

fn handler_for(method: &str, path: &str, state: &AppState) -> MethodRouter<AppState> {
    let l = &state.node.config().limits;
    let small = DefaultBodyLimit::max(64 * 1024);
    let submit_limit = DefaultBodyLimit::max(l.max_body_bytes as usize);
    let publish_limit = DefaultBodyLimit::max(l.max_publish_bytes as usize);
    let get = MethodFilter::GET;
    let post = MethodFilter::POST;
    match (method, path) {
        ("GET", "/") => on(get, page),
        ("GET", "/goals/{goal}") => on(get, goal_page),
        ("GET", "/goals/{goal}/contributors/{key}") => on(get, contributor_page),
        ("GET", "/goals/{goal}/entries/{index}") => on(get, entry_page),
        ("GET", "/healthz") => on(get, healthz),
        ("GET", "/metrics") => on(get, metrics),
        ("GET", "/api/v1/openapi.json") => on(get, openapi),
        ("GET", "/api/v1/node") => on(get, node_info),
        ("GET", "/api/v1/goals") => on(get, list_goals),
        ("POST", "/api/v1/goals") => on(post, publish)
            .layer(publish_limit)
            .layer(declared_size_guard(
                l.max_publish_bytes,
                "limits.max_publish_bytes / IAN_MAX_PUBLISH_BYTES",
            ))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                operator_before_body,
            )),
        ("POST", "/api/v1/goals/{goal}/retire") => on(post, retire).layer(
            middleware::from_fn_with_state(state.clone(), operator_before_body),
        ),
        ("POST", "/api/v1/goals/{goal}/reveal") => on(post, reveal).layer(
            middleware::from_fn_with_state(state.clone(), operator_before_body),
        ),
        ("GET", "/api/v1/goals/{goal}/final") => on(get, final_board),
        ("POST", "/api/v1/goals/{goal}/selections") => on(post, select),
        ("POST", "/api/v1/admin/backup") => on(post, backup).layer(middleware::from_fn_with_state(
            state.clone(),
            operator_before_body,
        )),
        ("GET", "/api/v1/goals/{goal}") => on(get, goal_status),
        ("GET", "/api/v1/goals/{goal}/manifest") => on(get, goal_manifest),
        ("POST", "/api/v1/goals/{goal}/contributions") => on(post, submit)
            .layer(submit_limit)
            .layer(declared_size_guard(
                l.max_body_bytes,
                "limits.max_body_bytes / IAN_MAX_BODY_BYTES",
            )),
        ("GET", "/api/v1/goals/{goal}/leaderboard") => on(get, leaderboard),
        ("GET", "/api/v1/goals/{goal}/contributors/{key}") => on(get, contributor_history),
        ("GET", "/api/v1/goals/{goal}/log") => on(get, log_range),
        ("GET", "/api/v1/goals/{goal}/log/{index}/proof") => on(get, inclusion_proof),
        ("GET", "/api/v1/goals/{goal}/receipts/{index}") => on(get, receipt),
        ("GET", "/api/v1/goals/{goal}/packs/{hash}/receipt") => on(get, pack_receipt),
        ("GET", "/api/v1/goals/{goal}/checkpoint") => on(get, checkpoint),
        ("GET", "/api/v1/goals/{goal}/consistency") => on(get, consistency),
        ("GET", "/api/v1/blobs/{hash}") => on(get, blob),
        ("GET", "/api/v1/packs/{hash}") => on(get, pack),
        ("GET", "/api/v1/tau") => on(get, tau_status),
        ("GET", "/api/v1/evidence") => on(get, evidence),
        ("GET", "/api/v1/peers") => on(get, peers),
        ("GET", "/logs/{goal}/checkpoint") => on(get, log_checkpoint),
        ("GET", "/logs/{goal}/tile/{*path}") => on(get, log_tile),
        ("POST", "/witness/add-checkpoint") => on(post, add_checkpoint).layer(small),
        ("GET", "/witness/{origin_hash}/checkpoint") => on(get, witnessed_checkpoint),
        (m, p) => unreachable!("route {m} {p} listed in ROUTES without a handler"),
    }
    .layer(small_if_get(method, small))
}

/// Refuses a request whose declared `Content-Length` is over the route's
/// limit before a byte of the body is read, with a 413 that names both
/// sizes and the setting that raises the limit. Bodies without a declared
/// length are still cut off at the limit while reading.
fn declared_size_guard(
    limit: u64,
    setting: &'static str,
) -> axum::middleware::FromFnLayer<impl Fn(Request, Next) -> BoxedResponse + Clone, (), (Request,)>
{
    middleware::from_fn(move |req: Request, next: Next| {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Box::pin(async move {
            match declared {
                Some(len) if len > limit => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!(
                        "the request body is {len} bytes, over this route's limit of {limit} bytes ({setting})"
                    ),
                )
                .into_response(),
                _ => next.run(req).await,
            }
        }) as BoxedResponse
    })
}

/// A response produced later, by middleware.
type BoxedResponse = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// Admin routes check the operator key before a byte of the (large) body
/// is read, so an outsider cannot make the node buffer megabytes.
async fn operator_before_body(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !s.node.operator_key().check_header(auth) {
        return ApiError::unauthorized().into_response();
    }
    next.run(req).await
}

fn small_if_get(method: &str, small: DefaultBodyLimit) -> DefaultBodyLimit {
    if method == "GET" {
        small
    } else {
        DefaultBodyLimit::max(usize::MAX)
    }
}

/// The router.
pub fn app(state: AppState) -> Router {
    let mut router: Router<AppState> = Router::new();
    for (m, p) in ROUTES {
        router = router.route(p, handler_for(m, p, &state));
    }
    let timeout = Duration::from_millis(state.node.config().server.request_timeout_ms);
    // The guard (rate limit, response metrics, access log) is the outer
    // layer, so it also sees the 503s the timeout produces.
    router
        .fallback(not_found)
        .layer(middleware::from_fn(
            move |req: Request, next: Next| async move {
                let submission = req.method() == Method::POST
                    && req.uri().path().ends_with("/contributions");
                // A backup copies the whole store before it answers: its
                // time grows with the store, not with anything a client
                // controls (and only the operator may ask for one).
                if req.method() == Method::POST && req.uri().path() == "/api/v1/admin/backup" {
                    return next.run(req).await;
                }
                match tokio::time::timeout(timeout, next.run(req)).await {
                    Ok(r) => r,
                    Err(_) if submission => ApiError::unavailable(
                        "the request took longer than server.request_timeout_ms; the submission may \
                         still be recorded: GET /api/v1/goals/{goal}/packs/{pack hash}/receipt \
                         answers with its receipt once it is (404 while it is not)",
                    )
                    .into_response(),
                    Err(_) => ApiError::unavailable(
                        "the request took longer than server.request_timeout_ms",
                    )
                    .into_response(),
                }
            },
        ))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Per-IP rate limit and response accounting.
async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let started = Instant::now();
    let resp = match state.ip_limiter.check(&ip) {
        Ok(()) => next.run(req).await,
        Err(secs) => {
            ApiError::too_many("rate_limited", "too many requests from this address", secs)
                .into_response()
        }
    };
    state
        .metrics()
        .http_responses
        .inc(&[&route, resp.status().as_str()]);
    if state.access_log {
        tracing::info!(
            target: "ian::access",
            method = %method,
            route = %route,
            status = resp.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            client = %ip,
            "request"
        );
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("no_such_route", "no such route; see /api/v1/openapi.json")
}

/// JSON extractor whose rejections are typed API errors (never axum's
/// plain-text bodies).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => ApiError::bad_request(
            "invalid_request",
            format!(
                "the JSON does not match the request schema: {}",
                e.body_text()
            ),
        ),
        JsonRejection::BytesRejection(e) => {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the request body is larger than this route's size limit (limits.max_body_bytes for submissions, limits.max_publish_bytes for goals)",
                )
            } else {
                ApiError::bad_request("unreadable_body", "the request body could not be read")
            }
        }
        _ => ApiError::bad_request(
            "invalid_request",
            "the request body could not be read as JSON",
        ),
    }
}

fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            b,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize response");
            ApiError::internal().into_response()
        }
    }
}

fn ok<T: serde::Serialize>(v: Result<T, ApiError>) -> Response {
    match v {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

async fn healthz(State(s): State<AppState>) -> Response {
    match s.node.refusing() {
        None => json(
            StatusCode::OK,
            &crate::runtime::views::Health {
                status: "ok".into(),
                goals: s.node.goal_count(),
                reason: None,
            },
        ),
        // Load balancers and supervisors see a node that refuses
        // submissions as what it is.
        Some(reason) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &crate::runtime::views::Health {
                status: "unhealthy".into(),
                goals: s.node.goal_count(),
                reason: Some(reason.to_string()),
            },
        ),
    }
}

/// OpenMetrics for scrapers that ask for it (Prometheus does), the
/// Prometheus text format otherwise.
async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    use crate::runtime::metrics::{CONTENT_TYPE, TEXT_CONTENT_TYPE, to_text_format};
    s.node.refresh_gauges();
    let text = s.metrics().render();
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (ctype, body) = if openmetrics {
        (CONTENT_TYPE, text)
    } else {
        (TEXT_CONTENT_TYPE, to_text_format(&text))
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(ctype))],
        body,
    )
        .into_response()
}

async fn openapi() -> Response {
    json(StatusCode::OK, &crate::api::openapi::document())
}

async fn page(State(s): State<AppState>) -> Response {
    let node = s.node.clone();
    crate::api::page::build(move || crate::api::page::node_page(&node)).await
}

async fn goal_page(State(s): State<AppState>, Path(goal): Path<String>) -> Response {
    let node = s.node.clone();
    crate::api::page::build(move || crate::api::page::goal_page(&node, &goal)).await
}

async fn contributor_page(
    State(s): State<AppState>,
    Path((goal, key)): Path<(String, String)>,
) -> Response {
    let node = s.node.clone();
    crate::api::page::build(move || crate::api::page::contributor_page(&node, &goal, &key)).await
}

async fn entry_page(
    State(s): State<AppState>,
    Path((goal, index)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let node = s.node.clone();
    let scheme = if node.config().server.tls_cert.is_empty() {
        "http"
    } else {
        "https"
    };
    // The host the client used, for the `curl` line the page shows (only
    // ever rendered escaped); the node's own address when none was sent.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| node.config().server.listen.clone());
    let base = format!("{scheme}://{host}");
    crate::api::page::build(move || crate::api::page::entry_page(&node, &goal, &index, base)).await
}

async fn node_info(State(s): State<AppState>) -> Response {
    json(StatusCode::OK, &s.node.info())
}

async fn list_goals(State(s): State<AppState>) -> Response {
    json(StatusCode::OK, &s.node.goal_statuses())
}

/// Streams a consistent copy of the store (operator key): what `ian-host
/// backup` saves and `ian-host restore` checks.
async fn backup(State(s): State<AppState>) -> Response {
    use std::io::Read as _;
    let node = s.node.clone();
    let (mut file, len) = match tokio::task::spawn_blocking(move || node.backup()).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return e.into_response(),
        Err(_) => return ApiError::internal().into_response(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; BLOB_CHUNK];
        loop {
            match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(bytes::Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "backup download aborted");
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        Body::new(BlobBody { rx, len }),
    )
        .into_response()
}

async fn contributor_history(
    State(s): State<AppState>,
    Path((goal, key)): Path<(String, String)>,
) -> Response {
    let node = s.node.clone();
    let r = tokio::task::spawn_blocking(move || node.contributor_history(&goal, &key)).await;
    ok(r.unwrap_or_else(|_| Err(ApiError::internal())))
}

async fn retire(State(s): State<AppState>, Path(goal): Path<String>) -> Response {
    let node = s.node.clone();
    match tokio::task::spawn_blocking(move || node.retire(&goal)).await {
        Ok(Ok(status)) => json(StatusCode::OK, &status),
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}

/// `POST /api/v1/goals/{goal}/reveal` (operator key): `{"secret": hex}`.
async fn reveal(
    State(s): State<AppState>,
    Path(goal): Path<String>,
    body: Result<ApiJson<crate::runtime::service::RevealRequest>, ApiError>,
) -> Response {
    let ApiJson(req) = match body {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let node = s.node.clone();
    match tokio::task::spawn_blocking(move || node.reveal(&goal, &req.secret)).await {
        Ok(Ok(v)) => json(StatusCode::OK, &v),
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}

/// `POST /api/v1/goals/{goal}/selections`: a signed selection.
async fn select(
    State(s): State<AppState>,
    Path(goal): Path<String>,
    body: Result<ApiJson<crate::runtime::service::SelectRequest>, ApiError>,
) -> Response {
    let ApiJson(req) = match body {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let node = s.node.clone();
    match tokio::task::spawn_blocking(move || node.select(&goal, req)).await {
        Ok(Ok(v)) => json(StatusCode::OK, &v),
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}

async fn final_board(State(s): State<AppState>, Path(goal): Path<String>) -> Response {
    ok(s.node.final_board(&goal))
}

async fn publish(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<ApiJson<crate::runtime::service::PublishRequest>, ApiError>,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !s.node.operator_key().check_header(auth) {
        return ApiError::unauthorized().into_response();
    }
    let ApiJson(req) = match body {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let node = s.node.clone();
    match tokio::task::spawn_blocking(move || node.publish(req)).await {
        Ok(Ok((status, created))) => json(
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            &status,
        ),
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}

/// Set on forwarded requests: a node never forwards a request it received
/// forwarded, so two nodes pointing at each other cannot loop.
const FORWARDED: &str = "x-ian-forwarded";

/// Whether a request about `goal` goes to `server.forward_to`: the node
/// does not hold the goal, the id is a valid goal id, and the request was
/// not itself forwarded.
fn forwards(s: &AppState, headers: &HeaderMap, goal: &str) -> bool {
    !s.node.config().server.forward_to.is_empty()
        && !s.node.has_goal(goal)
        && !headers.contains_key(FORWARDED)
        && ian_core::GoalId::new(goal).is_ok()
}

async fn goal_status(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(goal): Path<String>,
) -> Response {
    let forward = &s.node.config().server.forward_to;
    if forwards(&s, &headers, &goal) {
        // What a client reads before it submits (proof-of-work bits), from
        // the primary the submission will be forwarded to.
        return forward_request(forward, Method::GET, &format!("/api/v1/goals/{goal}"), None).await;
    }
    ok(s.node.goal_status(&goal))
}

async fn goal_manifest(State(s): State<AppState>, Path(goal): Path<String>) -> Response {
    ok(s.node.manifest(&goal))
}

async fn submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(goal): Path<String>,
    body: Result<ApiJson<crate::runtime::service::SubmitRequest>, ApiError>,
) -> Response {
    let started = Instant::now();
    let ApiJson(req) = match body {
        Ok(b) => b,
        Err(e) => {
            s.metrics()
                .submissions
                .inc(&[&goal_label(&s, &goal), "invalid"]);
            return e.into_response();
        }
    };
    let forward = &s.node.config().server.forward_to;
    if forwards(&s, &headers, &goal) {
        return match serde_json::to_vec(&req) {
            Ok(body) => {
                forward_request(
                    forward,
                    Method::POST,
                    &format!("/api/v1/goals/{goal}/contributions"),
                    Some(body),
                )
                .await
            }
            Err(_) => ApiError::internal().into_response(),
        };
    }
    let rx = match s.node.enqueue(&goal, req, started) {
        Ok(rx) => rx,
        Err(e) => return e.into_response(),
    };
    let resp = match rx.await {
        Ok(Ok(accepted)) => json(StatusCode::OK, &witnessed(&s, &goal, accepted).await),
        Ok(Err(e)) => e.into_response(),
        Err(_) => {
            ApiError::unavailable("the node is shutting down; the contribution was not recorded")
                .into_response()
        }
    };
    s.metrics()
        .observe_submit(&goal_label(&s, &goal), started.elapsed().as_secs_f64());
    resp
}

/// Sends a request about a goal this node does not hold to the primary
/// (`server.forward_to`) and relays its answer, status and body, as is: a
/// submission's receipt is the primary's, signed by its key.
async fn forward_request(
    primary: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Response {
    use http_body_util::BodyExt;
    static CLIENT: std::sync::OnceLock<
        hyper_util::client::legacy::Client<
            hyper_util::client::legacy::connect::HttpConnector,
            http_body_util::Full<bytes::Bytes>,
        >,
    > = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        let mut conn = hyper_util::client::legacy::connect::HttpConnector::new();
        conn.set_connect_timeout(Some(Duration::from_secs(5)));
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(conn)
    });
    let unavailable = |m: String| {
        ApiError::unavailable(format!("forwarding to the primary {primary}: {m}")).into_response()
    };
    let url = format!("{}{path}", primary.trim_end_matches('/'));
    let request = match axum::http::Request::builder()
        .method(method)
        .uri(&url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(FORWARDED, "1")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.unwrap_or_default(),
        ))) {
        Ok(r) => r,
        Err(e) => return unavailable(e.to_string()),
    };
    let resp = match client.request(request).await {
        Ok(r) => r,
        Err(e) => return unavailable(e.to_string()),
    };
    let status = resp.status();
    let retry = resp.headers().get(header::RETRY_AFTER).cloned();
    let bytes = match http_body_util::Limited::new(resp.into_body(), 16 << 20)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => return unavailable(e.to_string()),
    };
    let mut out = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response();
    if let Some(r) = retry {
        out.headers_mut().insert(header::RETRY_AFTER, r);
    }
    out
}

/// Under a witness policy, waits (bounded) for the entry's checkpoint to
/// be cosigned by the quorum and answers with that receipt; otherwise, or
/// on timeout, the log-signed receipt stands, marked `witnessed: false`.
async fn witnessed(
    s: &AppState,
    goal: &str,
    mut accepted: crate::runtime::service::SubmitAccepted,
) -> crate::runtime::service::SubmitAccepted {
    if !s.node.has_witness_policy() {
        return accepted;
    }
    let index = accepted.receipt.entry.log_index;
    if s.node.wait_witnessed(goal, index).await
        && let Ok(r) = s.node.receipt(goal, index)
    {
        accepted.receipt = r;
        accepted.witnessed = true;
    }
    accepted
}

/// A text/plain answer with cache headers.
fn text(status: StatusCode, body: String, cache: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// `GET /logs/{goal}/checkpoint` (c2sp.org/tlog-tiles): the published
/// checkpoint note; mutable, so cached for a second at most.
async fn log_checkpoint(State(s): State<AppState>, Path(goal): Path<String>) -> Response {
    match s.node.published_checkpoint(&goal) {
        Ok(cp) => text(StatusCode::OK, cp.to_text(), "no-cache, max-age=1"),
        Err(e) => e.into_response(),
    }
}

/// `GET /logs/{goal}/tile/...` (c2sp.org/tlog-tiles): hash tiles and entry
/// bundles; immutable once served.
async fn log_tile(
    State(s): State<AppState>,
    Path((goal, path)): Path<(String, String)>,
) -> Response {
    let node = s.node.clone();
    let r = tokio::task::spawn_blocking(move || node.tile(&goal, &path)).await;
    match r.unwrap_or_else(|_| Err(ApiError::internal())) {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/evidence`: what this node, as a mirror, found a log doing
/// wrong (empty on a node that is not a mirror).
async fn evidence(State(s): State<AppState>) -> Response {
    let node = s.node.clone();
    let list = tokio::task::spawn_blocking(move || node.evidence().list())
        .await
        .unwrap_or_default();
    json(StatusCode::OK, &serde_json::json!({ "evidence": list }))
}

/// `GET /api/v1/peers`: this node's libp2p identity, its peers with their
/// verifier keys and scores, and the logs it has heard of.
async fn peers(State(s): State<AppState>) -> Response {
    match s.node.p2p() {
        Some(p) => json(
            StatusCode::OK,
            &serde_json::json!({"enabled": true, "status": p.status()}),
        ),
        None => json(StatusCode::OK, &serde_json::json!({"enabled": false})),
    }
}

/// `POST /witness/add-checkpoint` (c2sp.org/tlog-witness): cosignature
/// lines, or 400/403/404/409/422 with a plain-text reason.
async fn add_checkpoint(State(s): State<AppState>, body: axum::body::Bytes) -> Response {
    use crate::runtime::witness::WitnessError as W;
    let node = s.node.clone();
    let r = tokio::task::spawn_blocking(move || {
        let w = node.witness()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Some(w.add_checkpoint(&body, now))
    })
    .await;
    let no_cache = "no-store";
    match r {
        Err(_) => ApiError::internal().into_response(),
        Ok(None) => ApiError::not_found(
            "not_a_witness",
            "this node is not configured as a witness (witness.enabled)",
        )
        .into_response(),
        Ok(Some(Ok(lines))) => {
            s.metrics().witness_cosigned.inc();
            text(StatusCode::OK, lines, no_cache)
        }
        Ok(Some(Err(e))) => {
            let status = match &e {
                W::BadRequest(_) => StatusCode::BAD_REQUEST,
                W::Forbidden(_) => StatusCode::FORBIDDEN,
                W::UnknownLog(_) => StatusCode::NOT_FOUND,
                W::Conflict(_) => StatusCode::CONFLICT,
                W::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
                W::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                W::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            match e {
                W::Conflict(n) => (
                    status,
                    [(header::CONTENT_TYPE, "text/x.tlog.size")],
                    format!("{n}\n"),
                )
                    .into_response(),
                e => text(status, format!("{e}\n"), no_cache),
            }
        }
    }
}

/// `GET /witness/{origin_hash}/checkpoint` (tlog-witness monitoring): the
/// latest checkpoint this witness cosigned for that origin.
async fn witnessed_checkpoint(
    State(s): State<AppState>,
    Path(origin_hash): Path<String>,
) -> Response {
    let Some(w) = s.node.witness() else {
        return ApiError::not_found(
            "not_a_witness",
            "this node is not configured as a witness (witness.enabled)",
        )
        .into_response();
    };
    if origin_hash.len() != 64 || !origin_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return ApiError::not_found("unknown_origin", "expected the SHA-256 of an origin, hex")
            .into_response();
    }
    match w.latest(&origin_hash.to_ascii_lowercase()) {
        Ok(Some(note)) => text(StatusCode::OK, note, "no-cache, max-age=60"),
        Ok(None) => ApiError::not_found(
            "unknown_origin",
            "this witness has cosigned no checkpoint for that origin",
        )
        .into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "witness_store",
            e.to_string(),
        )
        .into_response(),
    }
}

/// The goal label for metrics: the id if the goal exists, else `unknown`
/// (so arbitrary path text cannot create metric series).
pub fn goal_label(s: &AppState, goal: &str) -> String {
    if s.node.has_goal(goal) {
        goal.to_string()
    } else {
        "unknown".to_string()
    }
}

async fn leaderboard(State(s): State<AppState>, Path(goal): Path<String>) -> Response {
    ok(s.node.leaderboard(&goal))
}

#[derive(Debug, Deserialize)]
struct RangeQuery {
    start: Option<u64>,
    limit: Option<u64>,
}

fn query<T: DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!("invalid query string: {}", e.body_text()),
        )
    })
}

async fn log_range(
    State(s): State<AppState>,
    Path(goal): Path<String>,
    q: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let node = s.node.clone();
    let r =
        tokio::task::spawn_blocking(move || node.log_range(&goal, q.start.unwrap_or(0), q.limit))
            .await;
    ok(r.unwrap_or_else(|_| Err(ApiError::internal())))
}

#[derive(Debug, Deserialize)]
struct SizeQuery {
    size: Option<u64>,
}

async fn inclusion_proof(
    State(s): State<AppState>,
    Path((goal, index)): Path<(String, String)>,
    q: Result<Query<SizeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let Ok(index) = index.parse::<u64>() else {
        return ApiError::bad_request(
            "invalid_index",
            "the entry index must be a non-negative integer",
        )
        .into_response();
    };
    ok(s.node.inclusion_proof(&goal, index, q.size))
}

async fn pack_receipt(
    State(s): State<AppState>,
    Path((goal, hash)): Path<(String, String)>,
) -> Response {
    let node = s.node.clone();
    let r = tokio::task::spawn_blocking(move || {
        node.receipt_for_pack(&goal, &hash)
            .map(|r| node.receipt_view(r))
    })
    .await;
    ok(r.unwrap_or_else(|_| Err(ApiError::internal())))
}

async fn receipt(
    State(s): State<AppState>,
    Path((goal, index)): Path<(String, String)>,
) -> Response {
    let Ok(index) = index.parse::<u64>() else {
        return ApiError::bad_request(
            "invalid_index",
            "the entry index must be a non-negative integer",
        )
        .into_response();
    };
    let node = s.node.clone();
    let r = tokio::task::spawn_blocking(move || {
        node.receipt(&goal, index).map(|r| node.receipt_view(r))
    })
    .await;
    ok(r.unwrap_or_else(|_| Err(ApiError::internal())))
}

async fn checkpoint(State(s): State<AppState>, Path(goal): Path<String>) -> Response {
    ok(s.node.checkpoint(&goal))
}

#[derive(Debug, Deserialize)]
struct ConsistencyQuery {
    from: Option<u64>,
    to: Option<u64>,
}

async fn consistency(
    State(s): State<AppState>,
    Path(goal): Path<String>,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let Some(from) = q.from else {
        return ApiError::bad_request(
            "invalid_query",
            "query parameter `from` (old log size) is required",
        )
        .into_response();
    };
    ok(s.node.consistency(&goal, from, q.to))
}

/// Bytes handed over by the blocking reader of a blob, as an HTTP body.
struct BlobBody {
    rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
    len: u64,
}

impl hyper::body::Body for BlobBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(hyper::body::Frame::data)))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.len)
    }
}

/// Pieces a blob download is cut into: what one request holds in memory
/// (times the channel's depth), however large the blob.
const BLOB_CHUNK: usize = 64 << 10;

/// Streams a blob from the store: memory per download stays a few chunks,
/// not the blob. The hash is checked on the way; a blob that no longer
/// matches its name aborts the download instead of finishing it.
async fn blob(State(s): State<AppState>, Path(hash): Path<String>) -> Response {
    let Ok(h) = ian_core::Hash32::from_hex(&hash) else {
        return ApiError::bad_request(
            "invalid_hash",
            "expected a SHA-256 hash as 64 lowercase hex digits",
        )
        .into_response();
    };
    let store = s.node.store().clone();
    let head = tokio::task::spawn_blocking(move || {
        let snap = store.snapshot()?;
        let Some(len) = snap.blob_len(&h.0)? else {
            return Ok(None);
        };
        let mut magic = Vec::new();
        snap.blob_chunks(&h.0, 4, &mut |c| {
            magic.extend_from_slice(c);
            false
        })?;
        Ok::<_, ian_store::StoreError>(Some((len, magic == b"\0asm")))
    })
    .await;
    let (len, wasm) = match head {
        Ok(Ok(Some(x))) => x,
        Ok(Ok(None)) => {
            return ApiError::not_found("unknown_blob", "no blob with this hash").into_response();
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading a blob");
            return ApiError::internal().into_response();
        }
        Err(_) => return ApiError::internal().into_response(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let store = s.node.store().clone();
    tokio::task::spawn_blocking(move || {
        let sent = store.snapshot().and_then(|snap| {
            snap.blob_chunks(&h.0, BLOB_CHUNK, &mut |c| {
                tx.blocking_send(Ok(bytes::Bytes::copy_from_slice(c)))
                    .is_ok()
            })
        });
        if let Err(e) = sent {
            tracing::error!(blob = %h, error = %e, "blob download aborted");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    // Components are wasm; dataset files and listings are opaque bytes.
    let kind = if wasm {
        "application/wasm"
    } else {
        "application/octet-stream"
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
        Body::new(BlobBody { rx, len }),
    )
        .into_response()
}

async fn pack(State(s): State<AppState>, Path(hash): Path<String>) -> Response {
    let node = s.node.clone();
    let r = tokio::task::spawn_blocking(move || node.pack(&hash)).await;
    ok(r.unwrap_or_else(|_| Err(ApiError::internal())))
}

async fn tau_status(State(s): State<AppState>) -> Response {
    json(StatusCode::OK, &s.node.tau_status())
}

/// Whether a method string is one axum can route (used by the route test).
pub fn method_of(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).expect("valid method")
}

/// Every error body has the same JSON shape; `Retry-After` goes out with
/// 429 and 503.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
