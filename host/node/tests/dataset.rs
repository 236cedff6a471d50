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
use ian_node::api::http::{AppState, app};
use ian_node::cli::client::Client;
use ian_node::cli::ops::{SubmitOutcome, publish_request, sign, submit, submit_request};
use ian_node::runtime::config::Config;
use ian_node::runtime::service::Node;
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
    let digest = ian_core::pow::contribution_digest(&c);
    let weak = (0u64..)
        .find(|n| !ian_core::pow::check("pow-goal", &digest, *n, 8))
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
    assert_eq!(v.status, "accepted");
    assert_eq!(v.receipt.entry.log_index, 0);
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

// ---------------------------------------------------------------- datasets

fn example_goal(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/goals/{name}.toml"))
}

fn ma_crossover() -> PackFile {
    let code = std::fs::read(component("ma-crossover")).unwrap();
    let meta = Metadata::new([("name", "ma-crossover")]).unwrap();
    PackFile::new(code, b"short=5,long=20".to_vec(), meta).unwrap()
}

/// The data dir's materialised copy of the example dataset.
fn materialised(data: &Path, node: &Node, goal: &str) -> PathBuf {
    let m = node.goal(goal).unwrap().manifest.clone();
    let h = m.harness.dataset.expect("goal has a dataset");
    data.join("datasets").join(h.to_hex())
}

fn bits(v: &ian_node::runtime::service::SubmitAccepted, field: &str) -> u64 {
    let m = &v.receipt.entry.metrics;
    match field {
        "reward" => m.reward.get(),
        "risk" => m.risk.get(),
        "complexity" => m.complexity.get(),
        other => panic!("no metric {other}"),
    }
    .to_bits()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_goal_over_http_gives_the_embedded_harness_metrics_bit_for_bit_and_replays() {
    let tmp = tempfile::tempdir().unwrap();
    let node = open_node(&tmp.path().join("data"), &[]);
    let client = serve(&node).await;
    let mut accepted = Vec::new();
    for (file, id) in [
        ("trading-wasi", "trading-wasi-v1"),
        ("trading", "trading-v1"),
    ] {
        let req = publish_request(&example_goal(file)).unwrap();
        assert_eq!(req.dataset.is_empty(), file == "trading", "{file}");
        let v: Value = client
            .json(axum::http::Method::POST, "/api/v1/goals", Some(&req))
            .await
            .unwrap();
        assert_eq!(v["id"], id);
        let out = submit(&client, id, &ma_crossover().to_bytes(), &key(3), true)
            .await
            .unwrap();
        let SubmitOutcome::Accepted(v) = out else {
            panic!("{id}: expected acceptance, got {out:?}");
        };
        accepted.push(v);
    }
    for field in ["reward", "risk", "complexity"] {
        assert_eq!(
            bits(&accepted[0], field),
            bits(&accepted[1], field),
            "{field} differs between the dataset harness and the embedded harness"
        );
    }
    let dir = materialised(&tmp.path().join("data"), &node, "trading-wasi-v1");
    assert_eq!(
        std::fs::read(dir.join("prices.csv")).unwrap(),
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../example-harnesses/trading-harness/data/prices.csv")
        )
        .unwrap()
    );
    assert!(
        std::fs::metadata(dir.join("prices.csv"))
            .unwrap()
            .permissions()
            .readonly()
    );
    // Replay rebuilds the dataset from the node's blobs in the CLI's cache.
    let r = ian_node::cli::ops::replay(&client, "trading-wasi-v1", 0, None, false)
        .await
        .unwrap();
    assert!(r.identical, "{r:?}");
    assert!(
        ian_node::cli::ops::dataset_cache_dir()
            .join(dir.file_name().unwrap())
            .is_dir()
    );
}

#[tokio::test]
async fn a_tampered_dataset_directory_is_rebuilt_from_blobs_on_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let node = open_node(&data, &[]);
    let (s, v) = publish_in_process(&node, &example_goal("trading-wasi")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let goal_hash = v["goal_hash"].clone();
    let dir = materialised(&data, &node, "trading-wasi-v1");
    let original = std::fs::read(dir.join("prices.csv")).unwrap();
    node.shutdown(std::time::Duration::from_secs(5));
    drop(node);

    let mut perms = std::fs::metadata(&dir).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&dir, perms.clone()).unwrap();
    std::fs::set_permissions(dir.join("prices.csv"), perms).unwrap();
    std::fs::write(dir.join("prices.csv"), "day,price\n0,1.0\n1,2.0\n").unwrap();
    std::fs::write(dir.join("extra.csv"), "planted").unwrap();

    let node = open_node(&data, &[]);
    assert_eq!(std::fs::read(dir.join("prices.csv")).unwrap(), original);
    assert!(!dir.join("extra.csv").exists());
    let (s, v) = call(
        &node,
        Request::get("/api/v1/goals/trading-wasi-v1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["goal_hash"], goal_hash);
}

#[test]
fn materialise_refuses_a_blob_that_does_not_match_the_listing() {
    use ian_core::dataset::{DatasetFile, DatasetLimits, DatasetListing};
    use ian_node::runtime::datasets::{DatasetIoError, materialise};
    let tmp = tempfile::tempdir().unwrap();
    let good = b"day,price\n0,1.0\n".to_vec();
    let listing = DatasetListing::new(
        vec![DatasetFile {
            path: "prices.csv".into(),
            sha256: ian_core::sha256(&good),
            size: good.len() as u64,
        }],
        &DatasetLimits::default(),
    )
    .unwrap();
    let err = materialise(tmp.path(), &listing, &|_| Some(b"doctored".to_vec())).unwrap_err();
    assert!(
        matches!(&err, DatasetIoError::BlobMismatch { path, .. } if path == "prices.csv"),
        "{err}"
    );
    assert!(!tmp.path().join(listing.hash().to_hex()).exists());
    let dir = materialise(tmp.path(), &listing, &|_| Some(good.clone())).unwrap();
    assert_eq!(std::fs::read(dir.join("prices.csv")).unwrap(), good);
}

#[tokio::test]
async fn dataset_path_with_dotdot_is_refused_with_400_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let node = open_node(&tmp.path().join("data"), &[]);
    let mut req = publish_request(&example_goal("trading-wasi")).unwrap();
    req.dataset[0].path = "../escape.csv".into();
    let (s, v) = call(&node, post("/api/v1/goals", &req, true)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "invalid_dataset");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("../escape.csv") && msg.contains("`..`"),
        "{msg}"
    );
    assert!(!tmp.path().join("escape.csv").exists());
}

#[tokio::test]
async fn dataset_over_the_byte_limit_is_refused_with_413() {
    let tmp = tempfile::tempdir().unwrap();
    let node = open_node(
        &tmp.path().join("data"),
        &[("IAN_DATASET_MAX_BYTES", "1000")],
    );
    let req = publish_request(&example_goal("trading-wasi")).unwrap();
    let (s, v) = call(&node, post("/api/v1/goals", &req, true)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"]["code"], "dataset_too_large");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the limit is 1000"),
        "{v}"
    );
    assert_eq!(node.goal_count(), 0);
}

#[tokio::test]
async fn dataset_files_are_required_exactly_when_the_goal_names_a_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let node = open_node(&tmp.path().join("data"), &[]);
    let mut req = publish_request(&example_goal("trading-wasi")).unwrap();
    let files = std::mem::take(&mut req.dataset);
    let (s, v) = call(&node, post("/api/v1/goals", &req, true)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "missing_dataset");
    let mut plain = publish_request(&trading_goal(tmp.path(), "plain", "")).unwrap();
    plain.dataset = files;
    let (s, v) = call(&node, post("/api/v1/goals", &plain, true)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "unexpected_dataset");
}

#[test]
fn a_symlink_in_a_dataset_directory_is_refused_when_reading_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("prices.csv"), "day,price\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", data.join("passwd")).unwrap();
    let goal = tmp.path().join("g.toml");
    std::fs::write(
        &goal,
        format!(
            "id = \"g\"\ntitle = \"t\"\n[harness]\ncomponent = \"{}\"\ndataset = \"data\"\nseeds = [1]\n",
            component("trading-harness-wasi").display()
        ),
    )
    .unwrap();
    let err = publish_request(&goal).unwrap_err().to_string();
    assert!(
        err.contains("\"passwd\"") && err.contains("symlink"),
        "{err}"
    );
}

#[test]
fn cli_eval_runs_a_dataset_goal_locally_with_the_embedded_harness_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("ma.ianpack");
    std::fs::write(&pack, ma_crossover().to_bytes()).unwrap();
    let wasi =
        ian_node::cli::ops::eval_local(&example_goal("trading-wasi"), &pack, &[], false).unwrap();
    let embedded =
        ian_node::cli::ops::eval_local(&example_goal("trading"), &pack, &[], false).unwrap();
    assert_eq!(wasi.verdict, "accepted", "{wasi:?}");
    let (w, e) = (wasi.metrics.unwrap(), embedded.metrics.unwrap());
    for (field, a, b) in [
        ("reward", w.reward, e.reward),
        ("risk", w.risk, e.risk),
        ("complexity", w.complexity, e.complexity),
    ] {
        assert_eq!(a.to_bits(), b.to_bits(), "{field}");
    }
}
