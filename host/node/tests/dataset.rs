//! Goals that carry their own rules beyond components: a per-goal
//! proof-of-work difficulty and a dataset directory. Driven in-process with
//! `tower::ServiceExt::oneshot` on `app(state)` and over real HTTP on a
//! loopback port with the same library calls the CLI makes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ed25519_dalek::SigningKey;
use http_body_util::BodyExt;
use ian_core::{Metadata, PackFile};
use ian_node::client::Client;
use ian_node::config::Config;
use ian_node::http::{AppState, app};
use ian_node::ops::{SubmitOutcome, publish_request, sign, submit, submit_request};
use ian_node::service::Node;
use serde_json::Value;
use tower::ServiceExt;

const OPERATOR_KEY: &str = "operator-key-for-tests-0123";

/// Directory of built guest components.
fn components() -> PathBuf {
    let dir = std::env::var_os("IAN_COMPONENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/components"));
    assert!(
        dir.join("trading-harness.wasm").is_file(),
        "guest components missing in {}: run scripts/build-guests.sh",
        dir.display()
    );
    dir
}

fn component(name: &str) -> PathBuf {
    let p = components().join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "{} missing: run scripts/build-guests.sh",
        p.display()
    );
    p
}

/// A node on a temp data dir, with extra `IAN_*` settings.
fn open_node(data: &Path, env: &[(&str, &str)]) -> Arc<Node> {
    let data = data.display().to_string();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| -> Option<String> {
        match k {
            "IAN_DATA_DIR" => Some(data.clone()),
            "IAN_OPERATOR_KEY" => Some(OPERATOR_KEY.into()),
            "IAN_WORKERS" => Some("1".into()),
            _ => env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        }
    };
    Node::open(Config::build(None, &lookup).unwrap()).unwrap()
}

/// A trading goal file (absolute component paths) with `extra_limits`
/// lines under `[limits]`.
fn trading_goal(dir: &Path, id: &str, extra_limits: &str) -> PathBuf {
    let t = format!(
        "id = \"{id}\"\ntitle = \"Trading test goal\"\n[harness]\ncomponent = \"{}\"\nconfig = \"steps=64,fee_bps=5\"\nseeds = [1, 2]\n[limits]\n{extra_limits}\n",
        component("trading-harness").display()
    );
    let p = dir.join(format!("{id}.toml"));
    std::fs::write(&p, t).unwrap();
    p
}

async fn call(node: &Arc<Node>, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app(AppState::new(node.clone())).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&body).unwrap_or_else(|_| {
        panic!(
            "{status}: body is not JSON: {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, v)
}

fn post(uri: &str, body: &impl serde::Serialize, operator: bool) -> Request<Body> {
    let mut r = Request::post(uri).header("content-type", "application/json");
    if operator {
        r = r.header("authorization", format!("Bearer {OPERATOR_KEY}"));
    }
    r.body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

async fn publish_in_process(node: &Arc<Node>, goal: &Path) -> (StatusCode, Value) {
    let req = publish_request(goal).unwrap();
    call(node, post("/api/v1/goals", &req, true)).await
}

/// Serves `app(state)` on a real loopback listener.
async fn serve(node: &Arc<Node>) -> Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(AppState::new(node.clone()));
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Client::new(&format!("http://{addr}"))
        .unwrap()
        .with_operator_key(Some(OPERATOR_KEY.into()))
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn buy_and_hold() -> PackFile {
    let code = std::fs::read(component("buy-and-hold")).unwrap();
    PackFile::new(code, Vec::new(), Metadata::empty()).unwrap()
}

// ---------------------------------------------------------------- proof-of-work

#[tokio::test]
async fn goal_pow_bits_refuse_a_submission_without_work() {
    let tmp = tempfile::tempdir().unwrap();
    let node = open_node(&tmp.path().join("data"), &[]);
    let goal = trading_goal(tmp.path(), "pow-goal", "pow_bits = 8");
    let (s, v) = publish_in_process(&node, &goal).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["pow_bits"], 8);

    let (pack, code) = buy_and_hold().into_parts();
    let c = sign("pow-goal", pack, 1, &key(1)).unwrap();
    let no_work = submit_request("pow-goal", c.clone(), Some(&code), 0);
    assert_eq!(no_work.pow_nonce, None);
    let (s, v) = call(
        &node,
        post("/api/v1/goals/pow-goal/contributions", &no_work, false),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], "work_required");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("8 bits"),
        "{v}"
    );
}

#[tokio::test]
async fn goal_pow_bits_refuse_a_nonce_that_is_not_enough_work() {
    let tmp = tempfile::tempdir().unwrap();
    let node = open_node(&tmp.path().join("data"), &[]);
    let goal = trading_goal(tmp.path(), "pow-goal", "pow_bits = 8");
    assert_eq!(
        publish_in_process(&node, &goal).await.0,
        StatusCode::CREATED
    );
    let (pack, code) = buy_and_hold().into_parts();
    let c = sign("pow-goal", pack, 1, &key(1)).unwrap();
    let digest = ian_node::ops::contribution_digest(&c);
    let weak = (0u64..)
        .find(|n| !ian_node::pow::check("pow-goal", &digest, *n, 8))
        .unwrap();
    let mut req = submit_request("pow-goal", c, Some(&code), 0);
    req.pow_nonce = Some(weak);
    let (s, v) = call(
        &node,
        post("/api/v1/goals/pow-goal/contributions", &req, false),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], "insufficient_work");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_submit_does_the_work_a_goal_demands_and_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let node = open_node(&tmp.path().join("data"), &[]);
    let client = serve(&node).await;
    let goal = trading_goal(tmp.path(), "pow-goal", "pow_bits = 8");
    let req = publish_request(&goal).unwrap();
    let v: Value = client
        .json(axum::http::Method::POST, "/api/v1/goals", Some(&req))
        .await
        .unwrap();
    assert_eq!(v["pow_bits"], 8);
    let out = submit(
        &client,
        "pow-goal",
        &buy_and_hold().to_bytes(),
        &key(2),
        true,
    )
    .await
    .unwrap();
    let SubmitOutcome::Accepted(v) = out else {
        panic!("expected acceptance, got {out:?}");
    };
    assert_eq!(v["status"], "accepted");
    assert_eq!(v["receipt"]["entry"]["log_index"], 0);
}

#[tokio::test]
async fn the_larger_of_node_and_goal_difficulty_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let node = open_node(&tmp.path().join("data"), &[("IAN_POW_BITS", "4")]);
    for (id, line, want) in [
        ("goal-zero", "", 4),
        ("goal-eight", "pow_bits = 8", 8),
        ("goal-two", "pow_bits = 2", 4),
    ] {
        let goal = trading_goal(tmp.path(), id, line);
        let (s, v) = publish_in_process(&node, &goal).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["pow_bits"], want, "{id}");
    }
}

#[tokio::test]
async fn goal_pow_bits_above_the_maximum_are_refused_at_publish() {
    let tmp = tempfile::tempdir().unwrap();
    let node = open_node(&tmp.path().join("data"), &[]);
    let goal = trading_goal(tmp.path(), "pow-goal", "pow_bits = 40");
    let text = std::fs::read_to_string(&goal).unwrap();
    let body = serde_json::json!({"goal_toml": text, "components": {}});
    let (s, v) = call(&node, post("/api/v1/goals", &body, true)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid_goal");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limits.pow_bits 40 exceeds the maximum of 32"),
        "{v}"
    );
}
