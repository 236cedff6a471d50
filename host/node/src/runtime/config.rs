//! Node configuration: one table of keys drives the TOML file, the `IAN_*`
//! environment overrides, validation and the operator documentation.
//!
//! Why a table instead of serde defaults: every limit must be documented with
//! its default and its environment variable, and a single source for all
//! three (default, env name, doc) cannot drift. `docs/OPERATOR.md` is checked
//! against [`KEYS`] by a test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A configuration key: its dotted TOML path, environment override, default
/// (as a TOML literal) and a one-line description.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    /// Dotted path in the TOML file, e.g. `limits.queue_capacity`.
    pub key: &'static str,
    /// Environment variable that overrides the file.
    pub env: &'static str,
    /// Default value as a TOML literal.
    pub default: &'static str,
    /// What the key controls and what it costs.
    pub doc: &'static str,
}

/// Instance-pool slots `serve` reserves per worker unless the operator
/// sets the pool's size: one evaluation's harness and agent, with room for
/// a language runtime (a componentize-py agent holds 14 core instances, 1
/// memory and 2 tables; a jco one 9, 2 and 2).
pub struct PoolPerWorker {
    /// Core module instances.
    pub core_instances: u32,
    /// Linear memories.
    pub memories: u32,
    /// Tables.
    pub tables: u32,
    /// Component instances.
    pub component_instances: u32,
}

/// The pool sizes a node derives from its workers when they are 0.
const POOL_VARS: [&str; 4] = [
    "IAN_SANDBOX_POOL_CORE_INSTANCES",
    "IAN_SANDBOX_POOL_MEMORIES",
    "IAN_SANDBOX_POOL_TABLES",
    "IAN_SANDBOX_POOL_COMPONENT_INSTANCES",
];

/// See [`PoolPerWorker`].
pub const POOL_PER_WORKER: PoolPerWorker = PoolPerWorker {
    core_instances: 32,
    memories: 4,
    tables: 4,
    component_instances: 4,
};

/// Every configuration key the node understands. Order = documentation order.
pub const KEYS: &[KeyDoc] = &[
    KeyDoc {
        key: "server.listen",
        env: "IAN_LISTEN",
        default: "\"127.0.0.1:7878\"",
        doc: "Address the HTTP API binds to. Use a loopback address unless a reverse proxy terminates TLS in front of the node.",
    },
    KeyDoc {
        key: "server.data_dir",
        env: "IAN_DATA_DIR",
        default: "\"ian-data\"",
        doc: "Directory holding the store, the node key and the operator key. Relative paths are relative to the working directory.",
    },
    KeyDoc {
        key: "server.operator_key",
        env: "IAN_OPERATOR_KEY",
        default: "\"\"",
        doc: "Operator API key for admin routes (goal publish, goal retire, backup). Empty: a random key is generated on first start and kept in `<data_dir>/operator.key`.",
    },
    KeyDoc {
        key: "server.name",
        env: "IAN_NODE_NAME",
        default: "\"\"",
        doc: "The node's name: each goal's log origin is `<name>/<goal id>` and signs under that key name (c2sp.org/tlog-checkpoint), so it is part of the log's identity and cannot change once checkpoints are stored. A schema-less URL such as `ian.example.org` is recommended; no spaces or `+`. Empty: `ian-` and the first 8 hex digits of SHA-256 of the node's public key.",
    },
    KeyDoc {
        key: "server.forward_to",
        env: "IAN_FORWARD_TO",
        default: "\"\"",
        doc: "Base URL (`http://`) of a primary node: a submission for a goal this node does not hold is forwarded there, and the primary's answer (its receipt, or its rejection) is returned as is. Empty: such submissions get 404 `unknown_goal`.",
    },
    KeyDoc {
        key: "server.tls_cert",
        env: "IAN_TLS_CERT",
        default: "\"\"",
        doc: "PEM certificate chain: with `server.tls_key`, the node serves HTTPS itself (rustls, TLS 1.2 and 1.3, HTTP/1.1) and `node.addr` says `https://`. Reloaded on SIGHUP and when the file changes; a reload that fails keeps the certificate in use. Empty: plain HTTP (for loopback, or behind a TLS proxy).",
    },
    KeyDoc {
        key: "server.tls_key",
        env: "IAN_TLS_KEY",
        default: "\"\"",
        doc: "PEM private key (PKCS#8, PKCS#1 or SEC1) of `server.tls_cert`; both or neither must be set.",
    },
    KeyDoc {
        key: "server.access_log",
        env: "IAN_ACCESS_LOG",
        default: "\"auto\"",
        doc: "One log line per HTTP request (method, route template, status, latency, client address; target `ian::access`, level info). `auto`: on when logs are JSON (`--log-format json`), off in text mode; `on` / `off` force it.",
    },
    KeyDoc {
        key: "server.request_timeout_ms",
        env: "IAN_REQUEST_TIMEOUT_MS",
        default: "30000",
        doc: "Upper bound on one HTTP request, evaluation included; a slower request gets 503.",
    },
    KeyDoc {
        key: "server.shutdown_grace_ms",
        env: "IAN_SHUTDOWN_GRACE_MS",
        default: "30000",
        doc: "How long a graceful shutdown waits for queued contributions to finish before giving up on them (they were never acknowledged).",
    },
    KeyDoc {
        key: "server.max_connections",
        env: "IAN_MAX_CONNECTIONS",
        default: "512",
        doc: "Most open client connections. One more is answered 503 `too_many_connections` and closed. Keep it at least 128 below the open-file limit (`ulimit -n`) so the store and new connections always find a descriptor.",
    },
    KeyDoc {
        key: "server.max_connections_per_ip",
        env: "IAN_MAX_CONNECTIONS_PER_IP",
        default: "256",
        doc: "Most open connections from one client address (503 and closed beyond it). Behind a reverse proxy every connection comes from the proxy: raise it to `server.max_connections`.",
    },
    KeyDoc {
        key: "server.header_timeout_ms",
        env: "IAN_HEADER_TIMEOUT_MS",
        default: "10000",
        doc: "Time allowed from the first byte of a request to the end of its headers; a slower (slowloris) connection is closed.",
    },
    KeyDoc {
        key: "server.idle_timeout_ms",
        env: "IAN_IDLE_TIMEOUT_MS",
        default: "30000",
        doc: "How long a connection may stay silent with no request in progress (new, or kept alive between requests, or a response the client stopped reading) before it is closed.",
    },
    KeyDoc {
        key: "server.body_timeout_ms",
        env: "IAN_BODY_TIMEOUT_MS",
        default: "30000",
        doc: "Time allowed for a whole request body to arrive, counted from the end of the headers; a slower upload fails and its connection is closed.",
    },
    KeyDoc {
        key: "limits.max_body_bytes",
        env: "IAN_MAX_BODY_BYTES",
        default: "50331648",
        doc: "Largest request body accepted on the submission route (agent code is sent base64 in JSON, 4/3 of its size): the default 48 MiB fits a component of `limits.max_goal_component_bytes` (32 MiB, a Python agent).",
    },
    KeyDoc {
        key: "limits.max_publish_bytes",
        env: "IAN_MAX_PUBLISH_BYTES",
        default: "67108864",
        doc: "Largest request body accepted on the goal publish route (manifest plus all components).",
    },
    KeyDoc {
        key: "limits.queue_capacity",
        env: "IAN_QUEUE_CAPACITY",
        default: "1024",
        doc: "Contributions waiting for a worker. When full, submissions get 429 with Retry-After instead of queueing without bound.",
    },
    KeyDoc {
        key: "limits.workers",
        env: "IAN_WORKERS",
        default: "0",
        doc: "Evaluation worker threads; 0 means one per available core.",
    },
    KeyDoc {
        key: "limits.worker_stack_bytes",
        env: "IAN_WORKER_STACK_BYTES",
        default: "33554432",
        doc: "Native stack of each evaluation thread. Must exceed twice the wasm stack limit plus headroom, since agent frames nest under harness frames.",
    },
    KeyDoc {
        key: "limits.retry_after_secs",
        env: "IAN_RETRY_AFTER_SECS",
        default: "1",
        doc: "Seconds advertised in Retry-After on 429 responses.",
    },
    KeyDoc {
        key: "limits.contributor_rate_per_sec",
        env: "IAN_CONTRIBUTOR_RATE",
        default: "1000.0",
        doc: "Token-bucket refill rate per contributor key (submissions per second).",
    },
    KeyDoc {
        key: "limits.contributor_burst",
        env: "IAN_CONTRIBUTOR_BURST",
        default: "2000",
        doc: "Token-bucket size per contributor key.",
    },
    KeyDoc {
        key: "limits.contributor_compile_mib_per_hour",
        env: "IAN_CONTRIBUTOR_COMPILE_MIB_PER_HOUR",
        default: "256.0",
        doc: "Refill of each contributor's compile budget, in MiB of new agent code per hour. Sending code the node has not compiled costs its size in MiB (at least 1); code already compiled costs nothing. An 18 MB Python agent compiles for seconds, so this keeps one contributor's new components from holding the workers.",
    },
    KeyDoc {
        key: "limits.contributor_compile_burst_mib",
        env: "IAN_CONTRIBUTOR_COMPILE_BURST_MIB",
        default: "64",
        doc: "Size of each contributor's compile budget, in MiB: new code sent at once before the budget refuses (429 `compile_budget_exceeded`, with Retry-After).",
    },
    KeyDoc {
        key: "limits.ip_rate_per_sec",
        env: "IAN_IP_RATE",
        default: "5000.0",
        doc: "Token-bucket refill rate per client IP address, over all routes.",
    },
    KeyDoc {
        key: "limits.ip_burst",
        env: "IAN_IP_BURST",
        default: "10000",
        doc: "Token-bucket size per client IP address.",
    },
    KeyDoc {
        key: "limits.rate_table_entries",
        env: "IAN_RATE_TABLE_ENTRIES",
        default: "65536",
        doc: "Most buckets kept per rate-limit table; full buckets are dropped first, so memory stays bounded under key churn.",
    },
    KeyDoc {
        key: "limits.pow_bits",
        env: "IAN_POW_BITS",
        default: "0",
        doc: "Proof-of-work per submission: leading zero bits required of the work hash. 0 disables it unless a goal sets its own difficulty (the larger wins).",
    },
    KeyDoc {
        key: "limits.max_log_range",
        env: "IAN_MAX_LOG_RANGE",
        default: "1000",
        doc: "Most log entries returned by one log-range request.",
    },
    KeyDoc {
        key: "limits.stored_rejections",
        env: "IAN_STORED_REJECTIONS",
        default: "1000",
        doc: "Rejections kept per goal (reason code, step, message, time, pack, contributor), durable across restarts; the oldest is overwritten first. They back `GET /api/v1/goals/{goal}/contributors/{key}` and `ian-host history`. At most 1,000,000.",
    },
    KeyDoc {
        key: "limits.max_goals",
        env: "IAN_MAX_GOALS",
        default: "256",
        doc: "Most goals the node accepts.",
    },
    KeyDoc {
        key: "limits.dataset_max_files",
        env: "IAN_DATASET_MAX_FILES",
        default: "1024",
        doc: "Most files in one goal's dataset directory (hard cap 65536). A larger dataset is refused at publish with 413 `dataset_too_large`.",
    },
    KeyDoc {
        key: "limits.dataset_max_bytes",
        env: "IAN_DATASET_MAX_BYTES",
        default: "33554432",
        doc: "Most bytes over all files of one goal's dataset (hard cap 1 GiB). The files travel base64 in the publish body, so also raise `limits.max_publish_bytes` when raising this.",
    },
    KeyDoc {
        key: "limits.max_goal_fuel_per_evaluation",
        env: "IAN_MAX_GOAL_FUEL_PER_EVALUATION",
        default: "10000000000",
        doc: "Most agent fuel per evaluation a published goal may ask for (`[limits] fuel_per_evaluation`); a goal above it is refused at publish.",
    },
    KeyDoc {
        key: "limits.max_goal_harness_fuel",
        env: "IAN_MAX_GOAL_HARNESS_FUEL",
        default: "100000000000",
        doc: "Most harness fuel per run a published goal may ask for (`[limits] harness_fuel`).",
    },
    KeyDoc {
        key: "limits.max_goal_memory_bytes",
        env: "IAN_MAX_GOAL_MEMORY_BYTES",
        default: "268435456",
        doc: "Most linear memory a published goal may give its agent (`[limits] memory_bytes`); keep it at or below `sandbox.pool_max_memory_bytes`.",
    },
    KeyDoc {
        key: "limits.max_goal_component_bytes",
        env: "IAN_MAX_GOAL_COMPONENT_BYTES",
        default: "33554432",
        doc: "Largest agent component a published goal may accept (`[limits] max_component_bytes`); 32 MiB fits a Python agent (about 18 MB). The core's hard cap is 64 MiB.",
    },
    KeyDoc {
        key: "limits.max_goal_wall_backstop_ms",
        env: "IAN_MAX_GOAL_WALL_BACKSTOP_MS",
        default: "600000",
        doc: "Longest wall-clock backstop a published goal may set (`[limits] wall_backstop_ms`): bounds how long one evaluation can hold a worker.",
    },
    KeyDoc {
        key: "log.format",
        env: "IAN_LOG_FORMAT",
        default: "\"text\"",
        doc: "`text` for people, `json` for log collectors (one JSON object per line).",
    },
    KeyDoc {
        key: "log.filter",
        env: "IAN_LOG",
        default: "\"info\"",
        doc: "tracing filter directive, e.g. `info,ian_node=debug`.",
    },
    KeyDoc {
        key: "tau.endpoint",
        env: "IAN_TAU_ENDPOINT",
        default: "\"\"",
        doc: "Tau testnet node `host:port`. Empty disables Tau commitments.",
    },
    KeyDoc {
        key: "tau.key_file",
        env: "IAN_TAU_KEY_FILE",
        default: "\"\"",
        doc: "BLS secret key file for Tau transactions (made by `ian-host tau keygen`). Required when `tau.endpoint` is set.",
    },
    KeyDoc {
        key: "tau.network_id",
        env: "IAN_TAU_NETWORK_ID",
        default: "\"tau-testnet-v2\"",
        doc: "Id of the Tau network the key is bound to; a key already bound to another network is refused (override with IAN_TAU_ALLOW_KEY_REUSE=1).",
    },
    KeyDoc {
        key: "tau.commit_every_entries",
        env: "IAN_TAU_COMMIT_EVERY_ENTRIES",
        default: "64",
        doc: "Send a log-commit transaction once a goal's log is this many entries past its last commit.",
    },
    KeyDoc {
        key: "tau.commit_every_secs",
        env: "IAN_TAU_COMMIT_EVERY_SECS",
        default: "300",
        doc: "Also send a log-commit transaction when this many seconds have passed since the last one and the log grew.",
    },
    KeyDoc {
        key: "tau.fee_limit",
        env: "IAN_TAU_FEE_LIMIT",
        default: "100",
        doc: "`fee_limit` of each Tau transaction (the Tau node charges its actual fee, capped by this; at most 2^63-1).",
    },
    KeyDoc {
        key: "tau.tx_ttl_secs",
        env: "IAN_TAU_TX_TTL_SECS",
        default: "900",
        doc: "Lifetime of a Tau transaction: `expiration_time = now + ttl` (at least 30).",
    },
    KeyDoc {
        key: "tau.poll_ms",
        env: "IAN_TAU_POLL_MS",
        default: "2000",
        doc: "Interval of the bridge's status polling and planning, ms (at least 10).",
    },
    KeyDoc {
        key: "tau.binding_file",
        env: "IAN_TAU_BINDING_FILE",
        default: "\"\"",
        doc: "File recording which network each Tau key is bound to (empty: `<key file>.networks.json`).",
    },
    KeyDoc {
        key: "tau.allow_key_reuse",
        env: "IAN_TAU_ALLOW_KEY_REUSE",
        default: "false",
        doc: "Allow a Tau key already bound to another network (a transaction is valid on any network where the key is funded).",
    },
    KeyDoc {
        key: "sandbox.max_wasm_stack",
        env: "IAN_SANDBOX_MAX_WASM_STACK",
        default: "524288",
        doc: "Wasm stack limit per instance, bytes (the agent's frames nest under the harness's; evaluation threads get twice this plus 1 MiB).",
    },
    KeyDoc {
        key: "sandbox.eval_thread_stack",
        env: "IAN_SANDBOX_EVAL_THREAD_STACK",
        default: "8388608",
        doc: "Native stack of sandbox-owned evaluation threads, bytes.",
    },
    KeyDoc {
        key: "sandbox.pool_max_memory_bytes",
        env: "IAN_SANDBOX_POOL_MAX_MEMORY_BYTES",
        default: "268435456",
        doc: "Largest linear memory a pooled instance slot can hold, bytes (goal memory caps above it are refused).",
    },
    KeyDoc {
        key: "sandbox.pool_component_instances",
        env: "IAN_SANDBOX_POOL_COMPONENT_INSTANCES",
        default: "0",
        doc: "Component instances the pooling allocator keeps slots for (an evaluation holds 2: harness and agent). 0: the larger of 128 and 4 per worker. When the pool is full, evaluations wait for slots (sandbox.pool_wait_ms), then are inconclusive (503), never rejected.",
    },
    KeyDoc {
        key: "sandbox.pool_core_instances",
        env: "IAN_SANDBOX_POOL_CORE_INSTANCES",
        default: "0",
        doc: "Core module instances in the pool (a Rust agent holds 3, a jco agent 9, a componentize-py agent 14). 0: the larger of 1024 and 32 per worker.",
    },
    KeyDoc {
        key: "sandbox.pool_memories",
        env: "IAN_SANDBOX_POOL_MEMORIES",
        default: "0",
        doc: "Linear memories in the pool. 0: the larger of 256 and 4 per worker.",
    },
    KeyDoc {
        key: "sandbox.pool_tables",
        env: "IAN_SANDBOX_POOL_TABLES",
        default: "0",
        doc: "Tables in the pool. 0: the larger of 256 and 4 per worker.",
    },
    KeyDoc {
        key: "sandbox.pool_wait_ms",
        env: "IAN_SANDBOX_POOL_WAIT_MS",
        default: "60000",
        doc: "How long an evaluation waits in total for free instance slots when the pool is full before it is inconclusive (503). The evaluation runs again from the start once slots free up, so waiting changes no result.",
    },
    KeyDoc {
        key: "sandbox.pool_keep_resident",
        env: "IAN_SANDBOX_POOL_KEEP_RESIDENT",
        default: "2097152",
        doc: "Bytes of each freed memory slot kept resident for reuse.",
    },
    KeyDoc {
        key: "sandbox.max_table_elements",
        env: "IAN_SANDBOX_MAX_TABLE_ELEMENTS",
        default: "65536",
        doc: "Largest table a component may use.",
    },
    KeyDoc {
        key: "sandbox.epoch_tick_ms",
        env: "IAN_SANDBOX_EPOCH_TICK_MS",
        default: "10",
        doc: "Granularity of the wall-clock backstop, ms.",
    },
    KeyDoc {
        key: "sandbox.cache_dir",
        env: "IAN_SANDBOX_CACHE_DIR",
        default: "\"\"",
        doc: "Directory for compiled components, so a restart or another node on the same disk loads an 18 MB Python agent in 0.1 s instead of compiling it for 9 s. Empty: <server.data_dir>/compiled; `off`: in memory only. Artefacts are bound to the engine version and config hash and verified before use.",
    },
    KeyDoc {
        key: "sandbox.cache_max_bytes",
        env: "IAN_SANDBOX_CACHE_MAX_BYTES",
        default: "4294967296",
        doc: "Most bytes of compiled components kept in sandbox.cache_dir; past it the least recently used are deleted (a Python agent's takes tens of MB).",
    },
    KeyDoc {
        key: "sandbox.memory_cache_entries",
        env: "IAN_SANDBOX_MEMORY_CACHE_ENTRIES",
        default: "256",
        doc: "Compiled components kept in memory.",
    },
    KeyDoc {
        key: "sandbox.parallel_compilation",
        env: "IAN_SANDBOX_PARALLEL_COMPILATION",
        default: "true",
        doc: "Compile a component's functions on several threads.",
    },
    KeyDoc {
        key: "sandbox.max_concurrent_compiles",
        env: "IAN_SANDBOX_MAX_CONCURRENT_COMPILES",
        default: "1",
        doc: "Components compiled at once; other loads of new code wait, and a load of code being compiled waits for that compile instead of repeating it. Keeps a burst of new big components (a Python agent compiles for seconds) from holding every worker.",
    },
    KeyDoc {
        key: "sandbox.max_captured_output",
        env: "IAN_SANDBOX_MAX_CAPTURED_OUTPUT",
        default: "65536",
        doc: "Bytes of a WASI harness's stdout/stderr kept.",
    },
    KeyDoc {
        key: "sandbox.wasi_wall_clock_secs",
        env: "IAN_SANDBOX_WASI_WALL_CLOCK_SECS",
        default: "1704067200",
        doc: "The fixed wall-clock time WASI harnesses see (part of the config hash).",
    },
    KeyDoc {
        key: "witness.enabled",
        env: "IAN_WITNESS",
        default: "false",
        doc: "Act as a c2sp.org/tlog-witness for the logs in `witness.logs_file`: serve `POST /witness/add-checkpoint` and cosign (cosignature/v1) with a key derived from the node key.",
    },
    KeyDoc {
        key: "witness.reevaluate",
        env: "IAN_WITNESS_REEVALUATE",
        default: "false",
        doc: "Be a mirror: before cosigning a checkpoint, copy the log's new entries from its node (the URL on its `log` line) or, for `log <vkey> p2p`, from any libp2p peer that serves it, re-evaluate each in this node's sandbox and require the recorded bits and the signed root; an entry that differs is stored as evidence (`/api/v1/evidence`) and the checkpoint is refused.",
    },
    KeyDoc {
        key: "witness.logs_file",
        env: "IAN_WITNESS_LOGS_FILE",
        default: "\"\"",
        doc: "Logs this node witnesses: a file of c2sp.org/tlog-policy `log <vkey>` lines (comments allowed). Required when `witness.enabled` is true.",
    },
    KeyDoc {
        key: "witness.policy_file",
        env: "IAN_WITNESS_POLICY",
        default: "\"\"",
        doc: "Witness policy for this node's own logs: a c2sp.org/tlog-policy file whose `witness` lines carry submission URLs. A checkpoint is published as final (`/logs/<goal>/checkpoint`, receipts) only once its quorum has cosigned. Empty: no witnesses, every signed checkpoint is final.",
    },
    KeyDoc {
        key: "witness.timeout_ms",
        env: "IAN_WITNESS_TIMEOUT_MS",
        default: "5000",
        doc: "Upper bound on one add-checkpoint request to a witness (its connection included).",
    },
    KeyDoc {
        key: "witness.wait_ms",
        env: "IAN_WITNESS_WAIT_MS",
        default: "10000",
        doc: "How long a submission waits for its checkpoint to be cosigned by the quorum before it is answered with the log-signed receipt (`\"witnessed\": false`). Must be below `server.request_timeout_ms`, which the wait counts against.",
    },
    KeyDoc {
        key: "witness.retry_ms",
        env: "IAN_WITNESS_RETRY_MS",
        default: "1000",
        doc: "Pause before asking witnesses again after a round that did not reach the quorum.",
    },
    KeyDoc {
        key: "p2p.enabled",
        env: "IAN_P2P",
        default: "false",
        doc: "Join the libp2p network (docs/FEDERATION.md): the node key is the libp2p identity; the node serves its logs over `/ian/sync/1`, announces each published checkpoint on gossipsub and hears other logs' checkpoints. Off: HTTP only.",
    },
    KeyDoc {
        key: "p2p.listen",
        env: "IAN_P2P_LISTEN",
        default: "\"/ip4/127.0.0.1/tcp/0\"",
        doc: "Multiaddrs to listen on, comma-separated, e.g. `/ip4/0.0.0.0/tcp/7879`. The bound addresses, with `/p2p/<peer id>`, are written to `<data_dir>/node.p2p`.",
    },
    KeyDoc {
        key: "p2p.bootstrap",
        env: "IAN_P2P_BOOTSTRAP",
        default: "\"\"",
        doc: "Peers to dial at start and seed Kademlia with: comma-separated multiaddrs, each ending in `/p2p/<peer id>`. Other peers are found through them.",
    },
    KeyDoc {
        key: "p2p.request_timeout_ms",
        env: "IAN_P2P_REQUEST_TIMEOUT_MS",
        default: "10000",
        doc: "Upper bound on one sync request to a peer, its answer included.",
    },
    KeyDoc {
        key: "p2p.max_response_bytes",
        env: "IAN_P2P_MAX_RESPONSE_BYTES",
        default: "67108864",
        doc: "Largest sync answer accepted from a peer (a component is the largest thing asked for); larger answers fail with an error naming the limit.",
    },
    KeyDoc {
        key: "p2p.requests_per_sec",
        env: "IAN_P2P_REQUESTS_PER_SEC",
        default: "500.0",
        doc: "Sync requests one peer may make per second, sustained (token bucket). Over it the peer is answered `rate_limited` at once, without reading the store.",
    },
    KeyDoc {
        key: "p2p.request_burst",
        env: "IAN_P2P_REQUEST_BURST",
        default: "2000",
        doc: "Sync requests one peer may make in a burst (a mirror catching up asks for one pack and one code blob per new agent).",
    },
    KeyDoc {
        key: "p2p.discovery_ms",
        env: "IAN_P2P_DISCOVERY_MS",
        default: "30000",
        doc: "How often to redial bootstrap peers that are not connected and refresh Kademlia.",
    },
    KeyDoc {
        key: "store.queue_capacity",
        env: "IAN_STORE_QUEUE_CAPACITY",
        default: "65536",
        doc: "Writes queued for the store's writer before callers wait.",
    },
    KeyDoc {
        key: "store.max_batch",
        env: "IAN_STORE_MAX_BATCH",
        default: "8192",
        doc: "Most writes in one group commit (one fsync).",
    },
    KeyDoc {
        key: "store.max_batch_bytes",
        env: "IAN_STORE_MAX_BATCH_BYTES",
        default: "16777216",
        doc: "Most bytes in one group commit.",
    },
    KeyDoc {
        key: "store.cache_bytes",
        env: "IAN_STORE_CACHE_BYTES",
        default: "67108864",
        doc: "Page cache of the embedded store, bytes.",
    },
    KeyDoc {
        key: "store.max_value_bytes",
        env: "IAN_STORE_MAX_VALUE_BYTES",
        default: "1048576",
        doc: "Largest log entry, checkpoint or record, bytes.",
    },
    KeyDoc {
        key: "store.max_blob_bytes",
        env: "IAN_STORE_MAX_BLOB_BYTES",
        default: "67108864",
        doc: "Largest content-addressed blob, bytes.",
    },
    KeyDoc {
        key: "store.quick_repair",
        env: "IAN_STORE_QUICK_REPAIR",
        default: "false",
        doc: "Faster recovery after a crash at some write cost (redb quick-repair).",
    },
    KeyDoc {
        key: "workers.nats",
        env: "IAN_WORKERS_NATS",
        default: "\"\"",
        doc: "NATS server URL (e.g. `nats://10.0.0.5:4222`, JetStream enabled) to hand evaluations to `ian-host worker` processes (docs/OPERATOR.md, \"Evaluation workers\"). Empty: the node evaluates everything itself in its embedded pool.",
    },
    KeyDoc {
        key: "workers.keys",
        env: "IAN_WORKERS_KEYS",
        default: "\"\"",
        doc: "Public keys (hex, comma-separated) of the workers whose results the node accepts (`ian-host worker` prints its key). Required with `workers.nats`; a result signed by any other key is refused and counted.",
    },
    KeyDoc {
        key: "workers.in_flight",
        env: "IAN_WORKERS_IN_FLIGHT",
        default: "64",
        doc: "Submissions the node has out with workers at once (threads that wait for results; the sandbox pool is still sized from `limits.workers`).",
    },
    KeyDoc {
        key: "workers.result_timeout_ms",
        env: "IAN_WORKERS_RESULT_TIMEOUT_MS",
        default: "60000",
        doc: "How long a submission waits for a worker's result (or the goal's worst case, up to `workers.max_ack_wait_ms`, when longer); then it is inconclusive (`host_busy`, retry) and nothing is recorded. A retry of the same pack finds a result stored meanwhile instead of evaluating again.",
    },
    KeyDoc {
        key: "workers.ack_wait_ms",
        env: "IAN_WORKERS_ACK_WAIT_MS",
        default: "30000",
        doc: "JetStream `ack_wait`: a job whose worker goes silent this long (no result, no progress ack; workers send one every third of it) is handed to another worker. The node raises it (up to `workers.max_ack_wait_ms`) to each goal's worst case: (seeds + invariants + 1) x the goal's `wall_backstop_ms`, plus 1 s.",
    },
    KeyDoc {
        key: "workers.max_ack_wait_ms",
        env: "IAN_WORKERS_MAX_ACK_WAIT_MS",
        default: "3600000",
        doc: "Most the node raises the queue's `ack_wait` to for a goal's worst case. A longer ack_wait also means a crashed worker's job waits that long before another worker gets it; goals longer than this rely on progress acks alone.",
    },
    KeyDoc {
        key: "workers.max_deliver",
        env: "IAN_WORKERS_MAX_DELIVER",
        default: "5",
        doc: "JetStream `max_deliver`: deliveries of one job before the queue gives up on it (its submission then ends inconclusive).",
    },
    KeyDoc {
        key: "workers.duplicate_window_ms",
        env: "IAN_WORKERS_DUPLICATE_WINDOW_MS",
        default: "120000",
        doc: "JetStream de-duplication window: a job published again within it (same goal and pack) is dropped and its stored result used.",
    },
    KeyDoc {
        key: "workers.verify_sample",
        env: "IAN_WORKERS_VERIFY_SAMPLE",
        default: "0.0",
        doc: "Fraction (0 to 1) of worker results the node re-evaluates itself before committing. A result whose bits differ is replaced by the node's own, and its worker is flagged: its later results are refused (`/metrics` `ian_workers_mismatches_total`).",
    },
];

/// Validated node configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener, data dir, operator key, timeouts.
    pub server: ServerConfig,
    /// Every resource limit.
    pub limits: LimitsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Tau Net commitments.
    pub tau: TauConfig,
    /// Witnessing: as a witness for other logs, and the policy for ours.
    pub witness: WitnessConfig,
    /// The libp2p network.
    pub p2p: P2pSection,
    /// Evaluation workers over NATS JetStream.
    pub workers: WorkersSection,
    /// Engine and pool settings handed to `ian-sandbox` (see
    /// [`Config::sandbox_config`]); keys as in [`KEYS`].
    pub sandbox: toml::Table,
    /// Group-commit and size settings handed to `ian-store` (see
    /// [`Config::store_config`]).
    pub store: toml::Table,
}

/// `[server]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// See [`KEYS`].
    pub listen: String,
    /// See [`KEYS`].
    pub name: String,
    /// See [`KEYS`].
    pub forward_to: String,
    /// See [`KEYS`].
    pub tls_cert: String,
    /// See [`KEYS`].
    pub tls_key: String,
    /// See [`KEYS`].
    pub data_dir: PathBuf,
    /// See [`KEYS`].
    pub operator_key: String,
    /// See [`KEYS`].
    pub access_log: String,
    /// See [`KEYS`].
    pub request_timeout_ms: u64,
    /// See [`KEYS`].
    pub shutdown_grace_ms: u64,
    /// See [`KEYS`].
    pub max_connections: u64,
    /// See [`KEYS`].
    pub max_connections_per_ip: u64,
    /// See [`KEYS`].
    pub header_timeout_ms: u64,
    /// See [`KEYS`].
    pub idle_timeout_ms: u64,
    /// See [`KEYS`].
    pub body_timeout_ms: u64,
}

/// `[witness]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// See [`KEYS`].
    pub enabled: bool,
    /// See [`KEYS`].
    pub reevaluate: bool,
    /// See [`KEYS`].
    pub logs_file: String,
    /// See [`KEYS`].
    pub policy_file: String,
    /// See [`KEYS`].
    pub timeout_ms: u64,
    /// See [`KEYS`].
    pub wait_ms: u64,
    /// See [`KEYS`].
    pub retry_ms: u64,
}

/// `[p2p]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// See [`KEYS`].
    pub enabled: bool,
    /// See [`KEYS`].
    pub listen: String,
    /// See [`KEYS`].
    pub bootstrap: String,
    /// See [`KEYS`].
    pub request_timeout_ms: u64,
    /// See [`KEYS`].
    pub max_response_bytes: u64,
    /// See [`KEYS`].
    pub requests_per_sec: f64,
    /// See [`KEYS`].
    pub request_burst: u64,
    /// See [`KEYS`].
    pub discovery_ms: u64,
}

/// `[workers]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersSection {
    /// See [`KEYS`].
    pub nats: String,
    /// See [`KEYS`].
    pub keys: String,
    /// See [`KEYS`].
    pub in_flight: u64,
    /// See [`KEYS`].
    pub result_timeout_ms: u64,
    /// See [`KEYS`].
    pub ack_wait_ms: u64,
    /// See [`KEYS`].
    pub max_ack_wait_ms: u64,
    /// See [`KEYS`].
    pub max_deliver: u64,
    /// See [`KEYS`].
    pub duplicate_window_ms: u64,
    /// See [`KEYS`].
    pub verify_sample: f64,
}

impl WorkersSection {
    /// Whether evaluations go to workers.
    pub fn enabled(&self) -> bool {
        !self.nats.trim().is_empty()
    }

    /// The worker keys results are accepted from.
    pub fn key_list(&self) -> Result<Vec<ian_core::PublicKeyBytes>, String> {
        self.keys
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                ian_core::PublicKeyBytes::from_hex(k)
                    .map_err(|e| format!("`{k}` is not a worker public key: {e}"))
            })
            .collect()
    }
}

/// `[limits]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// See [`KEYS`].
    pub max_body_bytes: u64,
    /// See [`KEYS`].
    pub max_publish_bytes: u64,
    /// See [`KEYS`].
    pub queue_capacity: u64,
    /// See [`KEYS`].
    pub workers: u64,
    /// See [`KEYS`].
    pub worker_stack_bytes: u64,
    /// See [`KEYS`].
    pub retry_after_secs: u64,
    /// See [`KEYS`].
    pub contributor_rate_per_sec: f64,
    /// See [`KEYS`].
    pub contributor_burst: u64,
    /// See [`KEYS`].
    pub contributor_compile_mib_per_hour: f64,
    /// See [`KEYS`].
    pub contributor_compile_burst_mib: u64,
    /// See [`KEYS`].
    pub ip_rate_per_sec: f64,
    /// See [`KEYS`].
    pub ip_burst: u64,
    /// See [`KEYS`].
    pub rate_table_entries: u64,
    /// See [`KEYS`].
    pub pow_bits: u64,
    /// See [`KEYS`].
    pub max_log_range: u64,
    /// See [`KEYS`].
    pub max_goals: u64,
    /// See [`KEYS`].
    pub stored_rejections: u64,
    /// See [`KEYS`].
    pub dataset_max_files: u64,
    /// See [`KEYS`].
    pub dataset_max_bytes: u64,
    /// See [`KEYS`].
    pub max_goal_fuel_per_evaluation: u64,
    /// See [`KEYS`].
    pub max_goal_harness_fuel: u64,
    /// See [`KEYS`].
    pub max_goal_memory_bytes: u64,
    /// See [`KEYS`].
    pub max_goal_component_bytes: u64,
    /// See [`KEYS`].
    pub max_goal_wall_backstop_ms: u64,
}

impl LimitsConfig {
    /// The dataset bounds in the core's terms.
    pub fn dataset_limits(&self) -> ian_core::dataset::DatasetLimits {
        ian_core::dataset::DatasetLimits {
            max_files: self.dataset_max_files,
            max_bytes: self.dataset_max_bytes,
        }
    }

    /// The first of a goal's limits above what this operator allows, as
    /// (goal field, its value, the bound, the setting that raises it).
    pub fn goal_limit_over(
        &self,
        l: &ian_core::Limits,
    ) -> Option<(&'static str, u64, u64, &'static str)> {
        [
            (
                "fuel_per_evaluation",
                l.fuel_per_evaluation,
                self.max_goal_fuel_per_evaluation,
                "limits.max_goal_fuel_per_evaluation / IAN_MAX_GOAL_FUEL_PER_EVALUATION",
            ),
            (
                "harness_fuel",
                l.harness_fuel,
                self.max_goal_harness_fuel,
                "limits.max_goal_harness_fuel / IAN_MAX_GOAL_HARNESS_FUEL",
            ),
            (
                "memory_bytes",
                l.memory_bytes,
                self.max_goal_memory_bytes,
                "limits.max_goal_memory_bytes / IAN_MAX_GOAL_MEMORY_BYTES",
            ),
            (
                "max_component_bytes",
                l.max_component_bytes,
                self.max_goal_component_bytes,
                "limits.max_goal_component_bytes / IAN_MAX_GOAL_COMPONENT_BYTES",
            ),
            (
                "wall_backstop_ms",
                l.wall_backstop_ms,
                self.max_goal_wall_backstop_ms,
                "limits.max_goal_wall_backstop_ms / IAN_MAX_GOAL_WALL_BACKSTOP_MS",
            ),
        ]
        .into_iter()
        .find(|(_, v, max, _)| v > max)
    }
}

/// `[log]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// See [`KEYS`].
    pub format: String,
    /// See [`KEYS`].
    pub filter: String,
}

/// `[tau]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TauConfig {
    /// See [`KEYS`].
    pub endpoint: String,
    /// See [`KEYS`].
    pub key_file: String,
    /// See [`KEYS`].
    pub network_id: String,
    /// See [`KEYS`].
    pub commit_every_entries: u64,
    /// See [`KEYS`].
    pub commit_every_secs: u64,
    /// See [`KEYS`].
    pub fee_limit: u64,
    /// See [`KEYS`].
    pub tx_ttl_secs: u64,
    /// See [`KEYS`].
    pub poll_ms: u64,
    /// See [`KEYS`].
    pub binding_file: String,
    /// See [`KEYS`].
    pub allow_key_reuse: bool,
}

/// Why a configuration was refused. Every variant names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// A key in the file is not one the node knows.
    #[error("unknown config key `{key}` (known keys are listed in docs/OPERATOR.md)")]
    UnknownKey {
        /// The dotted key.
        key: String,
    },
    /// A value has the wrong type or is out of range.
    #[error("config key `{key}` (env {env}): {message}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// Its environment variable.
        env: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Defaults only: no file, no environment. Used by tests and `eval`.
    pub fn defaults() -> Config {
        Self::build(None, &|_| None).expect("built-in defaults are valid")
    }

    /// Load: defaults, then the TOML file (if given), then `IAN_*` variables
    /// from the process environment; validate.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match file {
            Some(p) => Some((
                p.to_path_buf(),
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?,
            )),
            None => None,
        };
        Self::build(
            text.as_ref().map(|(p, t)| (p.as_path(), t.as_str())),
            &|k| std::env::var(k).ok(),
        )
    }

    /// Build from an optional file text and an environment lookup function
    /// (injected so tests need not mutate the process environment).
    pub fn build(
        file: Option<(&Path, &str)>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut root = toml::Table::new();
        for k in KEYS {
            let v: toml::Value = parse_literal(k.default).expect("default literal parses");
            set_path(&mut root, k.key, v);
        }
        if let Some((path, text)) = file {
            let file_table: toml::Table =
                toml::from_str(text).map_err(|e| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: e.message().to_string(),
                })?;
            merge_file(&mut root, &file_table, "")?;
        }
        for k in KEYS {
            if let Some(raw) = env(k.env) {
                let default: toml::Value =
                    parse_literal(k.default).expect("default literal parses");
                let v =
                    parse_env_value(&default, &raw).map_err(|message| ConfigError::Invalid {
                        key: k.key,
                        env: k.env,
                        message,
                    })?;
                set_path(&mut root, k.key, v);
            }
        }
        let cfg: Config = toml::Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid {
                key: "config",
                env: "-",
                message: e.message().to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The value of the `section.field` key whose environment variable is
    /// `var`, as the text a library's parser expects.
    fn section_value(&self, section: &str, var: &str) -> Option<String> {
        let key = KEYS.iter().find(|k| k.env == var)?.key;
        let field = key.strip_prefix(section)?.strip_prefix('.')?;
        let table = match section {
            "sandbox" => &self.sandbox,
            _ => &self.store,
        };
        Some(match table.get(field)? {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// A sandbox setting in the library's terms: a pool size of 0 (the
    /// node's "size it from the workers") is the library's default, and a
    /// `cache_dir` of `off` is no disk cache.
    fn sandbox_value(&self, var: &str) -> Option<String> {
        let v = self.section_value("sandbox", var)?;
        match (var, v.as_str()) {
            (v, "0") if POOL_VARS.contains(&v) => None,
            ("IAN_SANDBOX_CACHE_DIR", "off") => Some(String::new()),
            _ => Some(v),
        }
    }

    /// The sandbox's configuration, from this node's file and `IAN_*`
    /// table only: the library never reads the process environment.
    pub fn sandbox_config(&self) -> Result<ian_sandbox::SandboxConfig, ConfigError> {
        ian_sandbox::SandboxConfig::from_lookup(|var| self.sandbox_value(var)).map_err(|e| {
            ConfigError::Invalid {
                key: "sandbox",
                env: "IAN_SANDBOX_*",
                message: e.to_string(),
            }
        })
    }

    /// The sandbox configuration `serve` runs with: as
    /// [`Config::sandbox_config`], plus the node's defaults where the
    /// operator set nothing. The instance pool grows with the worker count
    /// (per worker: [`POOL_PER_WORKER`]), so every worker can hold a
    /// language-runtime agent and its harness at once; compiled components
    /// are cached on disk under `<data_dir>/compiled` (`cache_dir = "off"`:
    /// memory only).
    pub fn node_sandbox_config(&self) -> Result<ian_sandbox::SandboxConfig, ConfigError> {
        let mut c = self.sandbox_config()?;
        let value = |var: &str| self.section_value("sandbox", var).unwrap_or_default();
        let unset = |var: &str| value(var) == "0";
        let workers = u32::try_from(self.worker_count()).unwrap_or(u32::MAX);
        let per = POOL_PER_WORKER;
        for (var, field, need) in [
            (
                "IAN_SANDBOX_POOL_CORE_INSTANCES",
                &mut c.pool_core_instances,
                per.core_instances,
            ),
            (
                "IAN_SANDBOX_POOL_MEMORIES",
                &mut c.pool_memories,
                per.memories,
            ),
            ("IAN_SANDBOX_POOL_TABLES", &mut c.pool_tables, per.tables),
            (
                "IAN_SANDBOX_POOL_COMPONENT_INSTANCES",
                &mut c.pool_component_instances,
                per.component_instances,
            ),
        ] {
            if unset(var) {
                *field = (*field).max(workers.saturating_mul(need));
            }
        }
        if value("IAN_SANDBOX_CACHE_DIR").is_empty() {
            c.cache_dir = Some(self.server.data_dir.join("compiled"));
        }
        Ok(c)
    }

    /// The store's configuration, likewise.
    pub fn store_config(&self) -> Result<ian_store::StoreConfig, ConfigError> {
        ian_store::StoreConfig::from_lookup(|var| self.section_value("store", var)).map_err(|e| {
            ConfigError::Invalid {
                key: "store",
                env: "IAN_STORE_*",
                message: e.to_string(),
            }
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.sandbox_config()?;
        self.store_config()?;
        fn bad(key: &'static str, message: impl Into<String>) -> ConfigError {
            let env = KEYS.iter().find(|k| k.key == key).map_or("-", |k| k.env);
            ConfigError::Invalid {
                key,
                env,
                message: message.into(),
            }
        }
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return Err(bad(
                "server.listen",
                format!("`{}` is not an IP:port address", self.server.listen),
            ));
        }
        if self.server.tls_cert.is_empty() != self.server.tls_key.is_empty() {
            return Err(bad(
                "server.tls_cert",
                "server.tls_cert and server.tls_key must be set together (or neither)",
            ));
        }
        if self.server.data_dir.as_os_str().is_empty() {
            return Err(bad("server.data_dir", "must not be empty"));
        }
        if !self.server.operator_key.is_empty() && self.server.operator_key.len() < 16 {
            return Err(bad("server.operator_key", "must be at least 16 characters"));
        }
        let l = &self.limits;
        if l.stored_rejections > 1_000_000 {
            return Err(bad("limits.stored_rejections", "must be at most 1000000"));
        }
        let positive: [(&'static str, u64); 11] = [
            (
                "limits.contributor_compile_burst_mib",
                l.contributor_compile_burst_mib,
            ),
            ("limits.stored_rejections", l.stored_rejections),
            ("limits.max_body_bytes", l.max_body_bytes),
            ("limits.max_publish_bytes", l.max_publish_bytes),
            ("limits.queue_capacity", l.queue_capacity),
            ("limits.contributor_burst", l.contributor_burst),
            ("limits.ip_burst", l.ip_burst),
            ("limits.rate_table_entries", l.rate_table_entries),
            ("limits.max_log_range", l.max_log_range),
            ("limits.max_goals", l.max_goals),
            ("server.request_timeout_ms", self.server.request_timeout_ms),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(bad(key, "must be at least 1"));
            }
        }
        if l.worker_stack_bytes < 4 * 1024 * 1024 {
            return Err(bad(
                "limits.worker_stack_bytes",
                "must be at least 4194304 (4 MiB)",
            ));
        }
        if l.workers > 1024 {
            return Err(bad("limits.workers", "must be at most 1024"));
        }
        if l.queue_capacity > 1 << 20 {
            return Err(bad("limits.queue_capacity", "must be at most 1048576"));
        }
        if l.dataset_max_files == 0
            || l.dataset_max_files > ian_core::dataset::HARD_MAX_DATASET_FILES
        {
            return Err(bad(
                "limits.dataset_max_files",
                format!("must be 1..={}", ian_core::dataset::HARD_MAX_DATASET_FILES),
            ));
        }
        if l.dataset_max_bytes == 0
            || l.dataset_max_bytes > ian_core::dataset::HARD_MAX_DATASET_BYTES
        {
            return Err(bad(
                "limits.dataset_max_bytes",
                format!("must be 1..={}", ian_core::dataset::HARD_MAX_DATASET_BYTES),
            ));
        }
        if l.pow_bits > 64 {
            return Err(bad("limits.pow_bits", "must be at most 64"));
        }
        for (key, v) in [
            (
                "limits.contributor_rate_per_sec",
                l.contributor_rate_per_sec,
            ),
            ("limits.ip_rate_per_sec", l.ip_rate_per_sec),
            (
                "limits.contributor_compile_mib_per_hour",
                l.contributor_compile_mib_per_hour,
            ),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(key, "must be a finite number > 0"));
            }
        }
        if !self.server.name.is_empty() && !ian_core::note::valid_key_name(&self.server.name) {
            return Err(bad(
                "server.name",
                format!(
                    "`{}` is not a valid key name: no spaces or `+` allowed",
                    self.server.name
                ),
            ));
        }
        if !matches!(self.server.access_log.as_str(), "auto" | "on" | "off") {
            return Err(ConfigError::Invalid {
                key: "server.access_log",
                env: "IAN_ACCESS_LOG",
                message: format!(
                    "`{}` is not one of `auto`, `on`, `off`",
                    self.server.access_log
                ),
            });
        }
        if !self.server.forward_to.is_empty() && !self.server.forward_to.starts_with("http://") {
            return Err(bad(
                "server.forward_to",
                format!("`{}` is not an http:// URL", self.server.forward_to),
            ));
        }
        if self.witness.reevaluate && !self.witness.enabled {
            return Err(bad(
                "witness.reevaluate",
                "needs witness.enabled: a mirror is a witness that re-evaluates",
            ));
        }
        if self.witness.enabled && self.witness.logs_file.is_empty() {
            return Err(bad(
                "witness.logs_file",
                "required when witness.enabled is true",
            ));
        }
        let p = &self.p2p;
        if !(p.requests_per_sec.is_finite() && p.requests_per_sec > 0.0) {
            return Err(bad("p2p.requests_per_sec", "must be a finite number > 0"));
        }
        for (key, v) in [
            ("p2p.request_timeout_ms", p.request_timeout_ms),
            ("p2p.max_response_bytes", p.max_response_bytes),
            ("p2p.request_burst", p.request_burst),
            ("p2p.discovery_ms", p.discovery_ms),
        ] {
            if v == 0 {
                return Err(bad(key, "must be at least 1"));
            }
        }
        if p.request_burst > u64::from(u32::MAX) {
            return Err(bad("p2p.request_burst", "must be at most 4294967295"));
        }
        if self.witness.timeout_ms == 0 {
            return Err(bad("witness.timeout_ms", "must be at least 1"));
        }
        if self.witness.wait_ms >= self.server.request_timeout_ms {
            return Err(bad(
                "witness.wait_ms",
                format!(
                    "must be below server.request_timeout_ms ({}): a submission waits for its cosignatures within its request",
                    self.server.request_timeout_ms
                ),
            ));
        }
        if self.log.format != "text" && self.log.format != "json" {
            return Err(bad(
                "log.format",
                format!("must be `text` or `json`, got `{}`", self.log.format),
            ));
        }
        if !self.tau.endpoint.is_empty() && self.tau.key_file.is_empty() {
            return Err(bad("tau.key_file", "required when tau.endpoint is set"));
        }
        if self.tau.commit_every_entries == 0 {
            return Err(bad("tau.commit_every_entries", "must be at least 1"));
        }
        if self.tau.commit_every_secs == 0 {
            return Err(bad("tau.commit_every_secs", "must be at least 1"));
        }
        if self.tau_enabled() && self.tau.network_id.trim().is_empty() {
            return Err(bad("tau.network_id", "required when tau.endpoint is set"));
        }
        let w = &self.workers;
        let keys = w.key_list().map_err(|m| bad("workers.keys", m))?;
        if w.enabled() && keys.is_empty() {
            return Err(bad(
                "workers.keys",
                "required when workers.nats is set: the keys `ian-host worker` prints",
            ));
        }
        if !(0.0..=1.0).contains(&w.verify_sample) {
            return Err(bad("workers.verify_sample", "must be between 0 and 1"));
        }
        for (key, v) in [
            ("workers.in_flight", w.in_flight),
            ("workers.result_timeout_ms", w.result_timeout_ms),
            ("workers.ack_wait_ms", w.ack_wait_ms),
            ("workers.max_deliver", w.max_deliver),
            ("workers.duplicate_window_ms", w.duplicate_window_ms),
        ] {
            if v == 0 {
                return Err(bad(key, "must be at least 1"));
            }
        }
        if w.max_ack_wait_ms < w.ack_wait_ms {
            return Err(bad(
                "workers.max_ack_wait_ms",
                "must be at least workers.ack_wait_ms",
            ));
        }
        if w.in_flight > 4096 {
            return Err(bad("workers.in_flight", "must be at most 4096"));
        }
        Ok(())
    }

    /// Worker threads to start: the configured number, or one per core.
    pub fn worker_count(&self) -> usize {
        if self.limits.workers > 0 {
            self.limits.workers as usize
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    /// Threads that take submissions off the queue: the evaluation
    /// workers, or with `[workers]` the submissions out with workers.
    pub fn processing_threads(&self) -> usize {
        if self.workers.enabled() {
            self.workers.in_flight as usize
        } else {
            self.worker_count()
        }
    }

    /// The listen address (validated at load).
    pub fn listen_addr(&self) -> SocketAddr {
        self.server.listen.parse().expect("validated at load")
    }

    /// Whether Tau commitments are on.
    pub fn tau_enabled(&self) -> bool {
        !self.tau.endpoint.is_empty()
    }
}

fn parse_literal(s: &str) -> Result<toml::Value, toml::de::Error> {
    let t: toml::Table = toml::from_str(&format!("v = {s}"))?;
    Ok(t["v"].clone())
}

fn parse_env_value(default: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    match default {
        toml::Value::String(_) => Ok(toml::Value::String(raw.to_string())),
        toml::Value::Integer(_) => {
            let cleaned: String = raw.chars().filter(|c| *c != '_').collect();
            cleaned
                .trim()
                .parse::<u64>()
                .ok()
                .and_then(|v| i64::try_from(v).ok())
                .map(toml::Value::Integer)
                .ok_or_else(|| format!("`{raw}` is not a non-negative integer"))
        }
        toml::Value::Float(_) => raw
            .trim()
            .parse::<f64>()
            .map(toml::Value::Float)
            .map_err(|_| format!("`{raw}` is not a number")),
        toml::Value::Boolean(_) => match raw.trim() {
            "true" | "1" => Ok(toml::Value::Boolean(true)),
            "false" | "0" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("`{raw}` is not true/false")),
        },
        _ => Err("unsupported key type".to_string()),
    }
}

fn set_path(root: &mut toml::Table, dotted: &str, v: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().expect("non-empty key");
    let mut t = root;
    for p in parts {
        t = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("config sections are tables");
    }
    t.insert(last.to_string(), v);
}

fn merge_file(root: &mut toml::Table, file: &toml::Table, prefix: &str) -> Result<(), ConfigError> {
    for (k, v) in file {
        let dotted = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(sub) => {
                if !KEYS
                    .iter()
                    .any(|kd| kd.key.starts_with(&format!("{dotted}.")))
                {
                    return Err(ConfigError::UnknownKey { key: dotted });
                }
                merge_file(root, sub, &dotted)?;
            }
            other => {
                let Some(kd) = KEYS.iter().find(|kd| kd.key == dotted) else {
                    return Err(ConfigError::UnknownKey { key: dotted });
                };
                let default = parse_literal(kd.default).expect("default literal parses");
                let value = match (&default, other) {
                    (toml::Value::Float(_), toml::Value::Integer(i)) => {
                        toml::Value::Float(*i as f64)
                    }
                    (d, o) if std::mem::discriminant(d) == std::mem::discriminant(o) => o.clone(),
                    (d, o) => {
                        return Err(ConfigError::Invalid {
                            key: kd.key,
                            env: kd.env,
                            message: format!("expected a {}, got a {}", d.type_str(), o.type_str()),
                        });
                    }
                };
                if let toml::Value::Integer(i) = value
                    && i < 0
                {
                    return Err(ConfigError::Invalid {
                        key: kd.key,
                        env: kd.env,
                        message: format!("must not be negative, got {i}"),
                    });
                }
                set_path(root, kd.key, value);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_are_valid_and_match_the_key_table() {
        let c = Config::defaults();
        assert_eq!(c.limits.queue_capacity, 1024);
        assert_eq!(c.server.listen, "127.0.0.1:7878");
        assert!(!c.tau_enabled());
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "[limits]\nqueue_capacity = 7\n";
        let env = |k: &str| (k == "IAN_QUEUE_CAPACITY").then(|| "9".to_string());
        let c = Config::build(Some((Path::new("x.toml"), file)), &env).unwrap();
        assert_eq!(c.limits.queue_capacity, 9);
        let c = Config::build(Some((Path::new("x.toml"), file)), &no_env).unwrap();
        assert_eq!(c.limits.queue_capacity, 7);
    }

    #[test]
    fn a_witness_wait_that_outlasts_the_request_is_refused() {
        let file = "[server]\nrequest_timeout_ms = 5000\n[witness]\nwait_ms = 5000\n";
        let err = Config::build(Some((Path::new("x.toml"), file)), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("witness.wait_ms"), "{err}");
        assert!(err.contains("request_timeout_ms (5000)"), "{err}");
    }

    #[test]
    fn a_node_name_with_a_space_plus_or_control_character_is_refused() {
        for bad in ["a b", "a+b", "a\u{1}b"] {
            let env = |k: &str| (k == "IAN_NODE_NAME").then(|| bad.to_string());
            let err = Config::build(None, &env).unwrap_err().to_string();
            assert!(err.contains("server.name"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn rejects_zero_queue_capacity_naming_key_and_env() {
        let env = |k: &str| (k == "IAN_QUEUE_CAPACITY").then(|| "0".to_string());
        let err = Config::build(None, &env).unwrap_err().to_string();
        assert_eq!(
            err,
            "config key `limits.queue_capacity` (env IAN_QUEUE_CAPACITY): must be at least 1"
        );
    }

    #[test]
    fn rejects_non_numeric_env_value_naming_key() {
        let env = |k: &str| (k == "IAN_WORKERS").then(|| "many".to_string());
        let err = Config::build(None, &env).unwrap_err().to_string();
        assert_eq!(
            err,
            "config key `limits.workers` (env IAN_WORKERS): `many` is not a non-negative integer"
        );
    }

    #[test]
    fn rejects_unknown_file_key() {
        let err = Config::build(
            Some((Path::new("x.toml"), "[limits]\nqueue_size = 3\n")),
            &no_env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown config key `limits.queue_size`"),
            "{err}"
        );
    }

    #[test]
    fn rejects_wrong_type_in_file() {
        let err = Config::build(
            Some((Path::new("x.toml"), "[server]\nlisten = 80\n")),
            &no_env,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "config key `server.listen` (env IAN_LISTEN): expected a string, got a integer"
        );
    }

    #[test]
    fn rejects_bad_listen_address() {
        let env = |k: &str| (k == "IAN_LISTEN").then(|| "localhost".to_string());
        let err = Config::build(None, &env).unwrap_err().to_string();
        assert!(
            err.starts_with("config key `server.listen` (env IAN_LISTEN)"),
            "{err}"
        );
    }

    #[test]
    fn the_nodes_instance_pool_grows_with_its_workers_unless_the_operator_sizes_it() {
        let env = |k: &str| (k == "IAN_WORKERS").then(|| "64".to_string());
        let s = Config::build(None, &env)
            .unwrap()
            .node_sandbox_config()
            .unwrap();
        assert_eq!(s.pool_core_instances, 64 * POOL_PER_WORKER.core_instances);
        assert_eq!(s.pool_memories, 64 * POOL_PER_WORKER.memories);
        assert_eq!(
            s.pool_component_instances,
            64 * POOL_PER_WORKER.component_instances
        );
        // Two workers keep the library's defaults, which are larger.
        let env = |k: &str| (k == "IAN_WORKERS").then(|| "2".to_string());
        let s = Config::build(None, &env)
            .unwrap()
            .node_sandbox_config()
            .unwrap();
        assert_eq!(s.pool_core_instances, 1024);
        // An operator's own size wins, even a smaller one.
        let env = |k: &str| match k {
            "IAN_WORKERS" => Some("64".to_string()),
            "IAN_SANDBOX_POOL_CORE_INSTANCES" => Some("512".to_string()),
            _ => None,
        };
        let s = Config::build(None, &env)
            .unwrap()
            .node_sandbox_config()
            .unwrap();
        assert_eq!(s.pool_core_instances, 512);
    }

    #[test]
    fn compiled_components_are_cached_under_the_data_dir_unless_turned_off() {
        let env = |k: &str| (k == "IAN_DATA_DIR").then(|| "/srv/ian".to_string());
        let c = Config::build(None, &env).unwrap();
        assert_eq!(
            c.node_sandbox_config().unwrap().cache_dir,
            Some(PathBuf::from("/srv/ian/compiled"))
        );
        assert_eq!(
            c.sandbox_config().unwrap().cache_dir,
            None,
            "eval and replay cache nothing"
        );
        let env = |k: &str| (k == "IAN_SANDBOX_CACHE_DIR").then(|| "off".to_string());
        let c = Config::build(None, &env).unwrap();
        assert_eq!(c.node_sandbox_config().unwrap().cache_dir, None);
    }

    #[test]
    fn tau_endpoint_requires_key_file() {
        let env = |k: &str| (k == "IAN_TAU_ENDPOINT").then(|| "127.0.0.1:4242".to_string());
        let err = Config::build(None, &env).unwrap_err().to_string();
        assert_eq!(
            err,
            "config key `tau.key_file` (env IAN_TAU_KEY_FILE): required when tau.endpoint is set"
        );
    }

    #[test]
    fn a_goal_asking_for_a_component_above_the_operators_maximum_is_over_its_limits() {
        let c = Config::defaults();
        let python_sized = ian_core::Limits {
            max_component_bytes: 32 << 20,
            ..ian_core::Limits::default()
        };
        assert_eq!(c.limits.goal_limit_over(&python_sized), None);
        let bigger = ian_core::Limits {
            max_component_bytes: 48 << 20,
            ..ian_core::Limits::default()
        };
        let (field, value, max, setting) = c.limits.goal_limit_over(&bigger).unwrap();
        assert_eq!(
            (field, value, max),
            ("max_component_bytes", 48 << 20, 32 << 20)
        );
        assert!(
            setting.contains("IAN_MAX_GOAL_COMPONENT_BYTES"),
            "{setting}"
        );
    }

    #[test]
    fn every_key_has_a_distinct_env_name_with_ian_prefix() {
        let mut seen = std::collections::HashSet::new();
        for k in KEYS {
            assert!(k.env.starts_with("IAN_"), "{}", k.key);
            assert!(seen.insert(k.env), "duplicate env {}", k.env);
        }
    }

    #[test]
    fn sandbox_and_store_defaults_are_the_libraries_defaults() {
        let c = Config::defaults();
        assert_eq!(
            c.sandbox_config().unwrap(),
            ian_sandbox::SandboxConfig::default()
        );
        assert_eq!(c.store_config().unwrap(), ian_store::StoreConfig::default());
    }

    #[test]
    fn sandbox_settings_come_from_the_node_table_and_its_env_overrides() {
        let file = "[sandbox]\nepoch_tick_ms = 25\ncache_dir = \"/var/cache/ian\"\n";
        let env = |k: &str| (k == "IAN_SANDBOX_POOL_COMPONENT_INSTANCES").then(|| "64".to_string());
        let c = Config::build(Some((Path::new("node.toml"), file)), &env).unwrap();
        let s = c.sandbox_config().unwrap();
        assert_eq!(s.epoch_tick_ms, 25);
        assert_eq!(s.pool_component_instances, 64);
        assert_eq!(s.cache_dir, Some(PathBuf::from("/var/cache/ian")));
    }

    #[test]
    fn an_invalid_store_setting_is_refused_at_start_naming_it() {
        let env = |k: &str| (k == "IAN_STORE_MAX_BATCH").then(|| "0".to_string());
        let e = Config::build(None, &env).unwrap_err().to_string();
        assert!(e.contains("IAN_STORE_MAX_BATCH"), "{e}");
    }

    #[test]
    fn operator_guide_documents_every_key_and_env_name() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/OPERATOR.md"
        ))
        .unwrap();
        for k in KEYS {
            assert!(
                doc.contains(&format!("`{}`", k.env)),
                "docs/OPERATOR.md lacks {}",
                k.env
            );
            assert!(
                doc.contains(&format!("`{}`", k.key)),
                "docs/OPERATOR.md lacks {}",
                k.key
            );
        }
    }
}
