//! The OpenAPI document against a live node: every route's real answers
//! (successes and errors) validate against the schema the document gives
//! for their status (with `jsonschema_rs`, from the schemathesis
//! install), with the documented content type; and schemathesis fuzzes
//! every operation for a bounded number of examples without a 5xx or a
//! schema violation.

use std::path::Path;
use std::process::Command;

use ian_tests::*;
use serde_json::{Value, json};

/// The Python that schemathesis runs in: it carries `jsonschema_rs`, the
/// JSON Schema validator schemathesis itself checks responses with
/// (Draft 2020-12, what OpenAPI 3.1 uses).
fn python() -> Option<std::path::PathBuf> {
    schemathesis().map(|st| st.with_file_name("python"))
}

/// Errors of `value` against `schema` (whose `$ref`s point into its own
/// `components`), from `jsonschema_rs.Draft202012Validator`.
fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let Some(py) = python() else {
        return Vec::new();
    };
    let input = json!({"schema": schema, "value": value}).to_string();
    let mut child = Command::new(py)
        .args([
            "-c",
            "import json, sys, jsonschema_rs\n\
             d = json.load(sys.stdin)\n\
             v = jsonschema_rs.Draft202012Validator(d['schema'])\n\
             for e in v.iter_errors(d['value']):\n    \
                 print(e.message, 'at', '/'.join(map(str, e.instance_path)))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "the validator failed: {}", stderr(&o));
    stdout(&o).lines().map(str::to_string).collect()
}

/// The document, checked against real answers.
struct Doc(Value);

impl Doc {
    fn fetch(node: &NodeProc) -> Doc {
        Doc(node.get_json("/api/v1/openapi.json"))
    }

    /// Checks one real answer of `method template` against the document:
    /// the status is documented, the content type is the documented one,
    /// and a JSON body validates against the documented schema.
    fn check(&self, method: &str, template: &str, status: u16, ctype: &str, body: &[u8]) {
        let responses = &self.0["paths"][template][method]["responses"];
        assert!(
            responses.is_object(),
            "{method} {template} is not documented"
        );
        let r = &responses[status.to_string()];
        assert!(
            r.is_object(),
            "{method} {template} answered {status}, which is not documented: {}",
            String::from_utf8_lossy(body)
        );
        let content = r["content"].as_object().cloned().unwrap_or_default();
        if content.is_empty() {
            return;
        }
        let media = ctype.split(';').next().unwrap_or("").trim();
        let Some(spec) = content.get(media) else {
            panic!("{method} {template} {status}: content type {ctype} not in {content:?}");
        };
        if spec["schema"].is_null() {
            return;
        }
        let value: Value = if media == "application/json" {
            serde_json::from_slice(body).unwrap_or_else(|e| {
                panic!(
                    "{method} {template} {status}: not JSON ({e}): {}",
                    String::from_utf8_lossy(body)
                )
            })
        } else {
            Value::String(String::from_utf8_lossy(body).into_owned())
        };
        let mut schema = spec["schema"].clone();
        schema["components"] = self.0["components"].clone();
        let errors = validate(&schema, &value);
        assert!(
            errors.is_empty(),
            "{method} {template} {status} does not match its schema:\n{}\n{value:#}",
            errors.join("\n")
        );
    }

    /// GETs `path` and checks the answer against `template`; the status.
    fn get(&self, node: &NodeProc, template: &str, path: &str) -> u16 {
        let (status, head, body) = http_get_raw(&node.url, path);
        let ctype = head
            .lines()
            .find_map(|l| l.strip_prefix("content-type: "))
            .unwrap_or("")
            .to_string();
        self.check("get", template, status, &ctype, &body);
        status
    }
}

/// A node with one goal, two accepted entries and one rejection; the
/// goal id and the first contributor's submit reply.
fn node_with_entries(tmp: &Path) -> (NodeProc, Value) {
    let node = NodeProc::start(&tmp.join("data"), &[]);
    node.publish(&trading_goal(tmp, "api", true));
    let first = submit_as_new_contributor(&node, tmp, "api", "alice", "position=0.5");
    submit_as_new_contributor(&node, tmp, "api", "bob", "position=1.0");
    let bad = pack(tmp, "hostile-panic", "", "bad.ianpack");
    let o = node.cli(&[
        "submit",
        bad.to_str().unwrap(),
        "--goal",
        "api",
        "--key",
        tmp.join("alice.key").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    (node, first)
}

#[test]
fn every_route_answers_as_the_document_says() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, first) = node_with_entries(tmp.path());
    let doc = Doc::fetch(&node);
    let pack = first["entry"]["pack_hash"].as_str().unwrap().to_string();
    let key = first["entry"]["contributor"].as_str().unwrap().to_string();
    let code = first["entry"]["harness_hash"].as_str().unwrap().to_string();
    // What the CLI printed is the node's reply, as the same types.
    doc.check(
        "post",
        "/api/v1/goals/{goal}/contributions",
        200,
        "application/json",
        first.to_string().as_bytes(),
    );
    let zero = "0".repeat(64);
    for (template, path, status) in [
        ("/", "/".to_string(), 200),
        ("/healthz", "/healthz".into(), 200),
        ("/metrics", "/metrics".into(), 200),
        ("/api/v1/openapi.json", "/api/v1/openapi.json".into(), 200),
        ("/api/v1/node", "/api/v1/node".into(), 200),
        ("/api/v1/goals", "/api/v1/goals".into(), 200),
        ("/api/v1/goals/{goal}", "/api/v1/goals/api".into(), 200),
        ("/api/v1/goals/{goal}", "/api/v1/goals/nope".into(), 404),
        (
            "/api/v1/goals/{goal}/manifest",
            "/api/v1/goals/api/manifest".into(),
            200,
        ),
        (
            "/api/v1/goals/{goal}/leaderboard",
            "/api/v1/goals/api/leaderboard".into(),
            200,
        ),
        (
            "/api/v1/goals/{goal}/contributors/{key}",
            format!("/api/v1/goals/api/contributors/{key}"),
            200,
        ),
        (
            "/api/v1/goals/{goal}/contributors/{key}",
            "/api/v1/goals/api/contributors/zz".into(),
            400,
        ),
        (
            "/api/v1/goals/{goal}/log",
            "/api/v1/goals/api/log?start=0&limit=10".into(),
            200,
        ),
        (
            "/api/v1/goals/{goal}/log/{index}/proof",
            "/api/v1/goals/api/log/0/proof".into(),
            200,
        ),
        (
            "/api/v1/goals/{goal}/log/{index}/proof",
            "/api/v1/goals/api/log/9/proof".into(),
            404,
        ),
        (
            "/api/v1/goals/{goal}/receipts/{index}",
            "/api/v1/goals/api/receipts/1".into(),
            200,
        ),
        (
            "/api/v1/goals/{goal}/receipts/{index}",
            "/api/v1/goals/api/receipts/x".into(),
            400,
        ),
        (
            "/api/v1/goals/{goal}/packs/{hash}/receipt",
            format!("/api/v1/goals/api/packs/{pack}/receipt"),
            200,
        ),
        (
            "/api/v1/goals/{goal}/packs/{hash}/receipt",
            format!("/api/v1/goals/api/packs/{zero}/receipt"),
            404,
        ),
        (
            "/api/v1/goals/{goal}/checkpoint",
            "/api/v1/goals/api/checkpoint".into(),
            200,
        ),
        (
            "/api/v1/goals/{goal}/consistency",
            "/api/v1/goals/api/consistency?from=1&to=2".into(),
            200,
        ),
        (
            "/api/v1/goals/{goal}/consistency",
            "/api/v1/goals/api/consistency?from=3&to=2".into(),
            400,
        ),
        ("/api/v1/blobs/{hash}", format!("/api/v1/blobs/{code}"), 200),
        ("/api/v1/blobs/{hash}", "/api/v1/blobs/xyz".into(), 400),
        ("/api/v1/packs/{hash}", format!("/api/v1/packs/{pack}"), 200),
        ("/api/v1/packs/{hash}", format!("/api/v1/packs/{zero}"), 404),
        ("/api/v1/tau", "/api/v1/tau".into(), 200),
        ("/api/v1/evidence", "/api/v1/evidence".into(), 200),
        ("/api/v1/peers", "/api/v1/peers".into(), 200),
        (
            "/logs/{goal}/checkpoint",
            "/logs/api/checkpoint".into(),
            200,
        ),
        (
            "/logs/{goal}/tile/{path}",
            "/logs/api/tile/0/000.p/2".into(),
            200,
        ),
        (
            "/logs/{goal}/tile/{path}",
            "/logs/api/tile/0/999".into(),
            404,
        ),
        ("/goals/{goal}", "/goals/api".into(), 200),
        ("/goals/{goal}", "/goals/nope".into(), 404),
        (
            "/goals/{goal}/contributors/{key}",
            format!("/goals/api/contributors/{key}"),
            200,
        ),
        (
            "/goals/{goal}/entries/{index}",
            "/goals/api/entries/0".into(),
            200,
        ),
        (
            "/goals/{goal}/entries/{index}",
            "/goals/api/entries/7".into(),
            404,
        ),
        (
            "/witness/{origin_hash}/checkpoint",
            format!("/witness/{zero}/checkpoint"),
            404,
        ),
    ] {
        assert_eq!(doc.get(&node, template, &path), status, "GET {path}");
    }
    // The operator's routes, through the CLI (same types on the wire).
    let o = node.cli(&[
        "goal",
        "retire",
        "api",
        "--operator-key",
        &node.operator_key(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    doc.check(
        "post",
        "/api/v1/goals/{goal}/retire",
        200,
        "application/json",
        stdout(&o).as_bytes(),
    );
    for (template, path, want) in [
        ("/api/v1/admin/backup", "/api/v1/admin/backup", 401),
        ("/witness/add-checkpoint", "/witness/add-checkpoint", 404),
    ] {
        let (status, ctype, body) = http_post(&node.url, path, "old 0\n\nnot a note\n");
        doc.check("post", template, status, &ctype, body.as_bytes());
        assert_eq!(status, want, "POST {path}: {body}");
    }
    let (status, ctype, body) = http_post(&node.url, "/api/v1/goals", "{}");
    doc.check("post", "/api/v1/goals", status, &ctype, body.as_bytes());
    assert_eq!(status, 401);
    let (status, ctype, body) = http_post(
        &node.url,
        "/api/v1/goals/api/contributions",
        &json!({"contribution": {}}).to_string(),
    );
    doc.check(
        "post",
        "/api/v1/goals/{goal}/contributions",
        status,
        &ctype,
        body.as_bytes(),
    );
}

/// The schemathesis CLI `scripts/test.sh` installs (PyPI, pinned).
fn schemathesis() -> Option<std::path::PathBuf> {
    let p = repo_path("target/tools/schemathesis/bin/schemathesis");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("IAN_REQUIRE_SCHEMATHESIS").is_none(),
        "IAN_REQUIRE_SCHEMATHESIS is set but {} is missing",
        p.display()
    );
    eprintln!("SKIPPED: schemathesis is not installed (scripts/test.sh installs it)");
    None
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let Some(st) = schemathesis() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = node_with_entries(tmp.path());
    let o = Command::new(st)
        .current_dir(tmp.path())
        .env("NO_COLOR", "1")
        .args([
            "run",
            &format!("{}/api/v1/openapi.json", node.url),
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--request-timeout",
            "20",
            "--header",
            &format!("Authorization: Bearer {}", node.operator_key()),
        ])
        .output()
        .unwrap();
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}");
    assert!(out.contains("passed"), "{out}");
    // The node stays up and healthy after the run.
    assert!(http_get(&node.url, "/healthz").contains("ok"));
}

#[test]
fn a_body_that_breaks_its_schema_is_caught() {
    if python().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("data"), &[]);
    let doc = Doc::fetch(&node);
    let wrong = json!({"status": "ok", "goals": "three"}).to_string();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        doc.check("get", "/healthz", 200, "application/json", wrong.as_bytes())
    }));
    assert!(
        caught.is_err(),
        "a string where the schema says integer passed"
    );
    let right = json!({"status": "ok", "goals": 3}).to_string();
    doc.check("get", "/healthz", 200, "application/json", right.as_bytes());
}
