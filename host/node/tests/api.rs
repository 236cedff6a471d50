//! The HTTP API driven in-process with `tower::ServiceExt::oneshot` on
//! `app(state)`: routing, typed errors, limits, auth, OpenAPI coverage.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ian_node::api::http::{AppState, ROUTES, app};
use ian_node::runtime::config::Config;
use ian_node::runtime::service::Node;
use serde_json::Value;
use tower::ServiceExt;

struct T {
    _tmp: tempfile::TempDir,
    node: Arc<Node>,
}

fn node_with(env: &[(&str, &str)]) -> T {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data").display().to_string();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| -> Option<String> {
        if k == "IAN_DATA_DIR" {
            return Some(data.clone());
        }
        if k == "IAN_OPERATOR_KEY" {
            return Some("operator-key-for-tests-0123".into());
        }
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    };
    let cfg = Config::build(None, &lookup).unwrap();
    let node = Node::open(cfg).unwrap();
    T { _tmp: tmp, node }
}

async fn call(t: &T, req: Request<Body>) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
    let resp = app(AppState::new(t.node.clone()))
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, body, headers)
}

fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("error body is not JSON: {}", String::from_utf8_lossy(body)));
    v["error"]["code"].as_str().unwrap().to_string()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_json(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn openapi_documents_every_route_and_only_real_routes() {
    let t = node_with(&[]);
    let (s, body, _) = call(&t, get("/api/v1/openapi.json")).await;
    assert_eq!(s, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (m, p) in ROUTES {
        // An axum catch-all `{*name}` is the OpenAPI parameter `{name}`.
        let p = &p.replace("{*", "{");
        let op = &paths
            .get(p)
            .unwrap_or_else(|| panic!("{p} missing from OpenAPI"))[m.to_lowercase()];
        assert!(op.is_object(), "{m} {p} missing from OpenAPI");
    }
    let documented: usize = paths.values().map(|v| v.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "OpenAPI documents operations that are not routes"
    );
}

#[tokio::test]
async fn healthz_answers_ok() {
    let t = node_with(&[]);
    let (s, body, _) = call(&t, get("/healthz")).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "ok");
}

#[tokio::test]
async fn healthz_is_unhealthy_while_the_node_refuses_submissions() {
    let t = node_with(&[]);
    t.node.shutdown(std::time::Duration::ZERO);
    let (s, body, _) = call(&t, get("/healthz")).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "unhealthy");
    assert!(
        v["reason"].as_str().unwrap().contains("shutting down"),
        "{v}"
    );
}

#[tokio::test]
async fn goal_publish_without_the_operator_key_is_refused_before_the_body_is_read() {
    let t = node_with(&[]);
    // A body far over the publish limit, declared but never sent in full:
    // the key is checked first, so this is a 401, not a 413 or a hang.
    let req = Request::post("/api/v1/goals")
        .header("content-type", "application/json")
        .header("content-length", "60000000000")
        .header("authorization", "Bearer wrong-key")
        .body(Body::from("{"))
        .unwrap();
    let (s, body, _) = call(&t, req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "unauthorized");
}

#[tokio::test]
async fn a_large_blob_downloads_whole_in_pieces_with_its_length_declared() {
    let t = node_with(&[]);
    // 3 MiB and a bit: many 64 KiB pieces, the last one short.
    let bytes: Vec<u8> = (0..(3 << 20) + 12_345u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let hash = ian_core::sha256(&bytes);
    t.node
        .store()
        .put_blob(hash.0, bytes.clone())
        .unwrap()
        .wait()
        .unwrap();
    let (s, body, headers) = call(&t, get(&format!("/api/v1/blobs/{}", hash.to_hex()))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(body.len(), bytes.len());
    assert!(body == bytes, "downloaded bytes differ");
    let (s, body, _) = call(&t, get(&format!("/api/v1/blobs/{}", "cd".repeat(32)))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "unknown_blob");
}

#[tokio::test]
async fn unknown_route_is_a_typed_404() {
    let t = node_with(&[]);
    let (s, body, _) = call(&t, get("/api/v1/nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "no_such_route");
}

#[tokio::test]
async fn unknown_goal_is_a_typed_404() {
    let t = node_with(&[]);
    let (s, body, _) = call(&t, get("/api/v1/goals/missing/leaderboard")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "unknown_goal");
}

#[tokio::test]
async fn publish_without_operator_key_is_401() {
    let t = node_with(&[]);
    let (s, body, _) = call(&t, post_json("/api/v1/goals", "{}")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "unauthorized");
}

#[tokio::test]
async fn publish_with_wrong_operator_key_is_401() {
    let t = node_with(&[]);
    let req = Request::post("/api/v1/goals")
        .header("content-type", "application/json")
        .header("authorization", "Bearer operator-key-for-tests-0124")
        .body(Body::from("{}"))
        .unwrap();
    let (s, body, _) = call(&t, req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "unauthorized");
}

#[tokio::test]
async fn publish_with_invalid_goal_file_is_400_naming_the_problem() {
    let t = node_with(&[]);
    let req = Request::post("/api/v1/goals")
        .header("content-type", "application/json")
        .header("authorization", "Bearer operator-key-for-tests-0123")
        .body(Body::from(
            r#"{"goal_toml": "id = \"Bad Id\"", "components": {}}"#,
        ))
        .unwrap();
    let (s, body, _) = call(&t, req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_goal");
}

#[tokio::test]
async fn malformed_json_submission_is_400() {
    let t = node_with(&[]);
    let (s, body, _) = call(&t, post_json("/api/v1/goals/g/contributions", "{not json")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "malformed_json");
}

#[tokio::test]
async fn submission_with_wrong_schema_is_400() {
    let t = node_with(&[]);
    let (s, body, _) = call(
        &t,
        post_json("/api/v1/goals/g/contributions", r#"{"contribution": 5}"#),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_request");
}

#[tokio::test]
async fn submission_without_json_content_type_is_415() {
    let t = node_with(&[]);
    let req = Request::post("/api/v1/goals/g/contributions")
        .body(Body::from("{}"))
        .unwrap();
    let (s, body, _) = call(&t, req).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&body), "unsupported_media_type");
}

#[tokio::test]
async fn oversized_submission_body_is_413() {
    let t = node_with(&[("IAN_MAX_BODY_BYTES", "1024")]);
    let big = format!(r#"{{"code": "{}"}}"#, "A".repeat(4096));
    let (s, body, _) = call(&t, post_json("/api/v1/goals/g/contributions", big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body), "body_too_large");
}

#[tokio::test]
async fn declared_oversized_submission_is_refused_naming_its_size_and_the_limit() {
    let t = node_with(&[("IAN_MAX_BODY_BYTES", "1024")]);
    // The body itself is small: only the declared length is looked at, so
    // a huge upload is refused before any of it is read.
    let req = Request::post("/api/v1/goals/g/contributions")
        .header("content-type", "application/json")
        .header("content-length", "6000000000")
        .body(Body::from("{}"))
        .unwrap();
    let (s, body, _) = call(&t, req).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "body_too_large");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("6000000000 bytes"), "{msg}");
    assert!(msg.contains("limit of 1024 bytes"), "{msg}");
    assert!(msg.contains("IAN_MAX_BODY_BYTES"), "{msg}");
}

#[tokio::test]
async fn metrics_exposes_prometheus_series() {
    let t = node_with(&[]);
    let _ = call(&t, get("/healthz")).await;
    let (s, body, headers) = call(&t, get("/metrics")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("# TYPE ian_checkpoints_signed_total counter"),
        "{text}"
    );
    assert!(text.contains("ian_queue_capacity 1024"));
    assert!(text.contains("ian_http_responses_total{route=\"/healthz\",status=\"200\"} 1"));
    assert!(text.contains("ian_build_info{version=\""), "{text}");
    assert!(text.contains("ian_store_commits_total "), "{text}");
    assert!(text.contains("ian_store_failed 0\n"), "{text}");
}

#[tokio::test]
async fn metrics_are_openmetrics_when_the_scraper_asks_for_it() {
    let t = node_with(&[]);
    let req = Request::builder()
        .uri("/metrics")
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .body(Body::empty())
        .unwrap();
    let (s, body, headers) = call(&t, req).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("# TYPE ian_checkpoints_signed counter"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn error_bodies_do_not_leak_internals() {
    let t = node_with(&[]);
    let (_, body, _) = call(&t, get("/api/v1/blobs/zz")).await;
    let text = String::from_utf8(body).unwrap();
    assert_eq!(error_code(text.as_bytes()), "invalid_hash");
    assert!(!text.contains("/tmp") && !text.contains("redb") && !text.contains("panicked"));
}

#[tokio::test]
async fn per_ip_rate_limit_answers_429_with_retry_after() {
    let t = node_with(&[("IAN_IP_RATE", "0.001"), ("IAN_IP_BURST", "2")]);
    let router = app(AppState::new(t.node.clone()));
    let mut last = StatusCode::OK;
    let mut retry = None;
    for _ in 0..3 {
        let resp = router.clone().oneshot(get("/healthz")).await.unwrap();
        last = resp.status();
        retry = resp.headers().get("retry-after").cloned();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry.is_some());
}

#[tokio::test]
async fn node_page_is_html_without_scripts() {
    let t = node_with(&[]);
    let (s, body, headers) = call(&t, get("/")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("IAN node"));
    assert!(page.contains("No goals published yet."));
    assert!(!page.contains("<script"));
}
