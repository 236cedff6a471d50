//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`.
//!
//! Hand-written next to the router: a test walks the router's route table
//! ([`crate::api::http::ROUTES`]) and requires every route to appear here with the
//! same method, and every path here to be a real route, so the document
//! cannot drift from the code.

use serde_json::{Value, json};

fn err_ref() -> Value {
    json!({"description": "Typed error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(desc: &str, schema: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn html(desc: &str) -> Value {
    json!({"description": desc, "content": {"text/html": {"schema": {"type": "string"}}}})
}

fn goal_param() -> Value {
    json!({"name": "goal", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"}})
}

fn q(name: &str, desc: &str, required: bool) -> Value {
    json!({"name": name, "in": "query", "required": required, "description": desc, "schema": {"type": "integer", "minimum": 0}})
}

/// Build the document.
pub fn document() -> Value {
    json!({
      "openapi": "3.1.0",
      "info": {
        "title": "IAN node API",
        "version": "1.0.0",
        "description": "Publish goals, submit signed agent packs, read the verifiable log, leaderboards, proofs and signed checkpoints. Every error body is {\"error\": {\"code\", \"message\"}}."
      },
      "paths": {
        "/healthz": {"get": {"summary": "Liveness: 200 while the node serves requests.", "operationId": "healthz",
            "responses": {"200": ok("Healthy", "Health")}}},
        "/metrics": {"get": {"summary": "Prometheus text exposition.", "operationId": "metrics",
            "responses": {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/": {"get": {"summary": "The node's web page: health and goals (HTML, no scripts).", "operationId": "page",
            "responses": {"200": html("Page")}}},
        "/goals/{goal}": {"get": {"summary": "A goal's web page: description, rules, board, frontier and best-score charts, recent entries and rejections.", "operationId": "goalPage",
            "parameters": [goal_param()], "responses": {"200": html("Page"), "404": html("No such goal")}}},
        "/goals/{goal}/contributors/{key}": {"get": {"summary": "A contributor's web page: accepted entries with rank, stored rejections.", "operationId": "contributorPage",
            "parameters": [goal_param(), {"name": "key", "in": "path", "required": true, "description": "The contributor's Ed25519 public key, 64 hex digits.", "schema": {"type": "string"}}],
            "responses": {"200": html("Page"), "400": html("Not a key"), "404": html("No such goal")}}},
        "/goals/{goal}/entries/{index}": {"get": {"summary": "An entry's web page: metrics, per-seed results, fuel, the receipt and the command that verifies it.", "operationId": "entryPage",
            "parameters": [goal_param(), {"name": "index", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
            "responses": {"200": html("Page"), "400": html("Not an index"), "404": html("No such entry")}}},
        "/api/v1/openapi.json": {"get": {"summary": "This document.", "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI document", "content": {"application/json": {}}}}}},
        "/api/v1/node": {"get": {"summary": "Node identity: public key that signs checkpoints, engine and ABI versions.", "operationId": "nodeInfo",
            "responses": {"200": ok("Node info", "NodeInfo")}}},
        "/api/v1/goals": {
          "get": {"summary": "List goals.", "operationId": "listGoals", "responses": {"200": ok("Goals", "GoalList")}},
          "post": {"summary": "Publish a goal with its components (operator key).", "operationId": "publishGoal",
            "security": [{"operatorKey": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PublishRequest"}}}},
            "responses": {"201": ok("Published", "GoalStatus"), "400": err_ref(), "401": err_ref(), "409": err_ref(), "413": err_ref()}}
        },
        "/api/v1/goals/{goal}": {"get": {"summary": "Goal status: log size, latest checkpoint, top entry, Tau state.", "operationId": "goalStatus",
            "parameters": [goal_param()], "responses": {"200": ok("Status", "GoalStatus"), "404": err_ref()}}},
        "/api/v1/admin/backup": {"post": {"summary": "A consistent online copy of the node's store (operator key), streamed; `ian-host backup` saves it and `ian-host restore` checks every checkpoint and root before the copy is usable. Holds no secret: node.key is backed up separately.", "operationId": "backup",
            "security": [{"operatorKey": []}],
            "responses": {"200": {"description": "The store file", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}, "401": err_ref()}}},
        "/api/v1/goals/{goal}/contributors/{key}": {"get": {"summary": "One contributor's submissions to a goal: accepted entries (with their place on the board) and stored rejections (reason, step, message, time).", "operationId": "contributorHistory",
            "parameters": [goal_param(), {"name": "key", "in": "path", "required": true, "description": "The contributor's Ed25519 public key, 64 hex digits.", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "History", "content": {"application/json": {"schema": {"type": "object", "required": ["goal", "contributor", "log_size", "accepted", "rejected"]}}}}, "400": err_ref(), "404": err_ref()}}},
        "/api/v1/goals/{goal}/retire": {"post": {"summary": "Retire a goal (operator key): submissions are refused with `goal_retired`; the log, board and proofs stay readable. Idempotent.", "operationId": "retireGoal",
            "security": [{"operatorKey": []}],
            "parameters": [goal_param()], "responses": {"200": ok("Status with retired_at", "GoalStatus"), "401": err_ref(), "404": err_ref()}}},
        "/api/v1/goals/{goal}/manifest": {"get": {"summary": "The goal file as published and its component hashes.", "operationId": "goalManifest",
            "parameters": [goal_param()], "responses": {"200": ok("Manifest", "Manifest"), "404": err_ref()}}},
        "/api/v1/goals/{goal}/contributions": {"post": {"summary": "Submit a signed contribution. Replies only after the entry is durable, with a receipt; or a typed rejection.", "operationId": "submit",
            "parameters": [goal_param()],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitRequest"}}}},
            "responses": {"200": ok("Accepted and durable", "SubmitAccepted"), "400": err_ref(), "403": err_ref(), "404": err_ref(),
                          "409": err_ref(), "413": err_ref(), "422": ok("Rejected by the pipeline", "SubmitRejected"),
                          "429": {"description": "Rate limited or queue full; see Retry-After", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                          "503": err_ref()}}},
        "/api/v1/goals/{goal}/leaderboard": {"get": {"summary": "Top-K and the Pareto frontier.", "operationId": "leaderboard",
            "parameters": [goal_param()], "responses": {"200": ok("Leaderboard", "Leaderboard"), "404": err_ref()}}},
        "/api/v1/goals/{goal}/log": {"get": {"summary": "Log entries by index range [start, start+limit).", "operationId": "logRange",
            "parameters": [goal_param(), q("start", "first index", false), q("limit", "most entries (capped by limits.max_log_range)", false)],
            "responses": {"200": ok("Entries", "LogRange"), "400": err_ref(), "404": err_ref()}}},
        "/api/v1/goals/{goal}/log/{index}/proof": {"get": {"summary": "Inclusion proof of an entry against the tree of `size` entries (default: current size).", "operationId": "inclusionProof",
            "parameters": [goal_param(), {"name": "index", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}, q("size", "tree size", false)],
            "responses": {"200": ok("Proof", "InclusionProof"), "400": err_ref(), "404": err_ref()}}},
        "/api/v1/goals/{goal}/receipts/{index}": {"get": {"summary": "Receipt of an entry: entry + inclusion proof + signed checkpoint; verifies offline.", "operationId": "receipt",
            "parameters": [goal_param(), {"name": "index", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
            "responses": {"200": ok("Receipt", "ReceiptView"), "404": err_ref()}}},
        "/api/v1/goals/{goal}/packs/{hash}/receipt": {"get": {"summary": "Receipt of the entry that logged this pack (404 while it is not logged): how a client whose submission timed out learns whether it was recorded.", "operationId": "packReceipt",
            "parameters": [goal_param(), {"name": "hash", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}],
            "responses": {"200": ok("Receipt", "ReceiptView"), "400": err_ref(), "404": err_ref()}}},
        "/api/v1/goals/{goal}/checkpoint": {"get": {"summary": "Latest signed checkpoint.", "operationId": "checkpoint",
            "parameters": [goal_param()], "responses": {"200": ok("Checkpoint", "SignedCheckpoint"), "404": err_ref()}}},
        "/api/v1/goals/{goal}/consistency": {"get": {"summary": "Consistency proof from an older log size to a newer one.", "operationId": "consistencyProof",
            "parameters": [goal_param(), q("from", "old size", true), q("to", "new size (default: current)", false)],
            "responses": {"200": ok("Proof", "ConsistencyProof"), "400": err_ref(), "404": err_ref()}}},
        "/api/v1/blobs/{hash}": {"get": {"summary": "A content-addressed blob by SHA-256: component bytes, a dataset file, or a dataset listing (named by the dataset hash).", "operationId": "blob",
            "parameters": [{"name": "hash", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}],
            "responses": {"200": {"description": "Bytes", "content": {"application/wasm": {}}}, "400": err_ref(), "404": err_ref()}}},
        "/api/v1/packs/{hash}": {"get": {"summary": "An accepted agent pack (code hash, params, metadata) by pack hash.", "operationId": "pack",
            "parameters": [{"name": "hash", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}],
            "responses": {"200": ok("Pack", "Pack"), "400": err_ref(), "404": err_ref()}}},
        "/api/v1/tau": {"get": {"summary": "Tau commitments: enabled, last committed checkpoint per goal, pending transactions.", "operationId": "tauStatus",
            "responses": {"200": ok("Tau status", "TauStatus")}}},
        "/api/v1/evidence": {"get": {"summary": "Evidence a mirror stored: entries that re-evaluated differently (with the log's own receipt for them) and entry ranges that did not rebuild a signed root.", "operationId": "evidence",
            "responses": {"200": {"description": "`{\"evidence\": [...]}`", "content": {"application/json": {}}}}}},
        "/api/v1/peers": {"get": {"summary": "The node on the libp2p network: its peer id and listen addresses, each peer (agent, addresses, public key, log verifier keys, gossipsub score, invalid announcements, rate-limited and served sync requests) and each log heard of (newest checkpoint, holders, forked). `{\"enabled\": false}` without `p2p.enabled`.", "operationId": "peers",
            "responses": {"200": {"description": "`{\"enabled\": bool, \"status\": {...}}`", "content": {"application/json": {}}}}}},
        "/logs/{goal}/checkpoint": {"get": {"summary": "c2sp.org/tlog-tiles checkpoint: the published (under a witness policy: quorum-cosigned) checkpoint note, text/plain.", "operationId": "tlogCheckpoint",
            "parameters": [goal_param()], "responses": {"200": {"description": "c2sp.org/tlog-checkpoint signed note", "content": {"text/plain": {}}}, "404": err_ref()}}},
        "/logs/{goal}/tile/{*path}": {"get": {"summary": "c2sp.org/tlog-tiles: `tile/<L>/<N>[.p/<W>]` hash tiles and `tile/entries/<N>[.p/<W>]` entry bundles (u16-length-framed entries), immutable.", "operationId": "tlogTile",
            "parameters": [goal_param(), {"name": "path", "in": "path", "required": true, "schema": {"type": "string"}, "description": "`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, N as x001/x234/067"}],
            "responses": {"200": {"description": "Tile bytes", "content": {"application/octet-stream": {}}}, "404": err_ref()}}},
        "/witness/add-checkpoint": {"post": {"summary": "c2sp.org/tlog-witness add-checkpoint: `old <size>`, consistency proof lines, a blank line, the checkpoint note. 200: cosignature/v1 lines; 400, 403, 404, 409 (text/x.tlog.size), 422 as the spec says.", "operationId": "witnessAddCheckpoint",
            "requestBody": {"required": true, "content": {"text/plain": {}}},
            "responses": {"200": {"description": "Cosignature lines", "content": {"text/plain": {}}}, "400": {"description": "Malformed"}, "403": {"description": "Not signed by the log's key"}, "404": {"description": "Unknown origin, or not a witness"}, "409": {"description": "Stale old size; body is the cosigned size", "content": {"text/x.tlog.size": {}}}, "422": {"description": "Inconsistent"}}}},
        "/witness/{origin_hash}/checkpoint": {"get": {"summary": "tlog-witness monitoring: the latest checkpoint this witness cosigned for the origin whose SHA-256 (hex) is given.", "operationId": "witnessCheckpoint",
            "parameters": [{"name": "origin_hash", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}],
            "responses": {"200": {"description": "Checkpoint note with cosignatures", "content": {"text/plain": {}}}, "404": err_ref()}}}
      },
      "components": {
        "securitySchemes": {"operatorKey": {"type": "http", "scheme": "bearer", "description": "Operator API key (server.operator_key)."}},
        "schemas": {
          "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"],
              "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
          "Health": {"type": "object", "properties": {"status": {"type": "string"}, "goals": {"type": "integer"}}},
          "NodeInfo": {"type": "object", "properties": {"public_key": {"type": "string"}, "engine_version": {"type": "string"}, "abi_version": {"type": "string"}, "config_hash": {"type": "string"}, "version": {"type": "string"}, "name": {"type": "string"}, "witness_vkey": {"type": "string"}, "reevaluates": {"type": "boolean"}, "key_rotations": {"type": "array", "items": {"type": "string"}, "description": "Key rotation statements (signed notes), oldest first."}}},
          "GoalList": {"type": "object", "properties": {"goals": {"type": "array", "items": {"$ref": "#/components/schemas/GoalStatus"}}}},
          "GoalStatus": {"type": "object", "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "goal_hash": {"type": "string"}, "log_size": {"type": "integer"}, "root": {"type": "string"},
              "checkpoint": {"$ref": "#/components/schemas/SignedCheckpoint"}, "origin": {"type": "string"}, "log_vkey": {"type": "string"}, "tiles": {"type": "string"}, "top": {"type": "object"}, "pow_bits": {"type": "integer"}, "tau": {"type": "object"}, "retired_at": {"type": "string", "format": "date-time", "description": "When the operator retired the goal; absent while it takes submissions."}}},
          "PublishRequest": {"type": "object", "required": ["goal_toml", "components"], "properties": {
              "goal_toml": {"type": "string", "description": "The goal file text."},
              "components": {"type": "object", "additionalProperties": {"type": "string", "description": "base64 bytes"}, "description": "Component path as written in the goal file -> base64 bytes."},
              "dataset": {"type": "array", "description": "Files of the goal's harness.dataset directory; required exactly when the goal file names one, omitted otherwise.", "items": {"$ref": "#/components/schemas/DatasetUpload"}}}},
          "DatasetUpload": {"type": "object", "required": ["path", "bytes"], "properties": {
              "path": {"type": "string", "description": "Path relative to the dataset directory, '/'-separated; no '..', '.', empty components, leading '/', backslash or control characters."},
              "bytes": {"type": "string", "description": "The file's bytes, base64."}}},
          "Manifest": {"type": "object", "properties": {"goal_toml": {"type": "string"}, "components": {"type": "object", "additionalProperties": {"type": "string", "description": "sha256 hex"}}}},
          "SubmitRequest": {"type": "object", "required": ["contribution"], "properties": {
              "contribution": {"type": "object", "description": "Signed contribution (ian-core JSON form)."},
              "code": {"type": "string", "description": "base64 component bytes; may be omitted when the node already holds the code hash."},
              "pow_nonce": {"type": "integer", "description": "Proof-of-work nonce when the goal or node requires work."}}},
          "SubmitAccepted": {"type": "object", "properties": {"status": {"const": "accepted"}, "receipt": {"$ref": "#/components/schemas/Receipt"}, "rank": {"type": "integer"}, "witnessed": {"type": "boolean", "description": "Whether the receipt's checkpoint carries the witness policy's quorum."}}},
          "SubmitRejected": {"type": "object", "properties": {"status": {"const": "rejected"}, "reason": {"type": "string"}, "detail": {"type": "string"}, "step": {"type": "string"}}},
          "Leaderboard": {"type": "object", "properties": {"top": {"type": "array", "items": {"type": "object"}}, "pareto": {"type": "array", "items": {"type": "object"}}}},
          "LogRange": {"type": "object", "properties": {"start": {"type": "integer"}, "entries": {"type": "array", "items": {"type": "object"}}, "size": {"type": "integer"}}},
          "InclusionProof": {"type": "object", "description": "`proof` is the RFC 6962 audit path: hex hashes, leaf sibling first."},
          "ConsistencyProof": {"type": "object", "description": "`proof` is the RFC 6962 consistency proof: hex hashes."},
          "SignedCheckpoint": {"type": "string", "description": "A c2sp.org/tlog-checkpoint signed note."},
          "Receipt": {"type": "string", "description": "A c2sp.org/tlog-proof: `extra` is the log entry's canonical bytes (base64), then index, audit path and the checkpoint note."},
          "ReceiptView": {"type": "object", "properties": {"entry": {"type": "object"}, "receipt": {"$ref": "#/components/schemas/Receipt"}, "witnessed": {"type": "boolean"}}},
          "Pack": {"type": "object"},
          "TauStatus": {"type": "object", "properties": {"enabled": {"type": "boolean"}, "goals": {"type": "array"}, "pending": {"type": "integer"}}}
        }
      }
    })
}
