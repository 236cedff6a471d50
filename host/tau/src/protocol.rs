//! The node's line protocol: request lines, response envelopes, error codes.
//!
//! One request per line, one response per line terminated by `\r\n`. The
//! handshake is plain text (`hello version=N` -> `ok version=N env=.. node=..`);
//! every other response is compact JSON
//! `{"status":"ok","command":..,"data":{..}}` or
//! `{"status":"error","command":..,"error":{"code":..,"message":..[,"details":{..}]}}`.
//! Callers branch on [`ErrorCode`] and typed [`RejectionDetails`], never on
//! message text.

use crate::tx::SignedTx;
use serde::Deserialize;
use serde_json::{Map, Value};

/// A request the client can send.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `hello version=N` (optional handshake).
    Hello(u32),
    /// `getsequence <addr>`: next sequence number for the account.
    GetSequence(String),
    /// `getbalance <addr>`.
    GetBalance(String),
    /// `getaccountstate <addr>`.
    GetAccountState(String),
    /// `gettxstatus <64-hex>`.
    GetTxStatus(String),
    /// `getmempool`.
    GetMempool,
    /// `gettimestamp`.
    GetTimestamp,
    /// `getblocks`.
    GetBlocks,
    /// `getgovernance`.
    GetGovernance,
    /// `gettaustate`.
    GetTauState,
    /// `getallaccounts`.
    GetAllAccounts,
    /// `history <addr>` (mempool entries only).
    History(String),
    /// `sendtx '<canonical json>'`.
    SendTx(SignedTx),
    /// `checktx '<canonical json>'`: dry run (own, slower rate limit).
    CheckTx(SignedTx),
    /// `createblock [allow-empty]` (loopback-only on the node).
    CreateBlock {
        /// Seal a block even with an empty mempool.
        allow_empty: bool,
    },
    /// A verbatim line, for probing the node (tests, diagnostics).
    Raw(String),
}

impl Command {
    /// The exact request line, without the line terminator.
    pub fn to_line(&self) -> String {
        match self {
            Command::Hello(v) => format!("hello version={v}"),
            Command::GetSequence(a) => format!("getsequence {a}"),
            Command::GetBalance(a) => format!("getbalance {a}"),
            Command::GetAccountState(a) => format!("getaccountstate {a}"),
            Command::GetTxStatus(h) => format!("gettxstatus {h}"),
            Command::GetMempool => "getmempool".into(),
            Command::GetTimestamp => "gettimestamp".into(),
            Command::GetBlocks => "getblocks".into(),
            Command::GetGovernance => "getgovernance".into(),
            Command::GetTauState => "gettaustate".into(),
            Command::GetAllAccounts => "getallaccounts".into(),
            Command::History(a) => format!("history {a}"),
            Command::SendTx(tx) => format!("sendtx '{}'", tx.canonical_json()),
            Command::CheckTx(tx) => format!("checktx '{}'", tx.canonical_json()),
            Command::CreateBlock { allow_empty: true } => "createblock allow-empty".into(),
            Command::CreateBlock { allow_empty: false } => "createblock".into(),
            Command::Raw(line) => line.clone(),
        }
    }

    /// The command word the node echoes back (lower case).
    pub fn word(&self) -> String {
        let line = self.to_line();
        line.split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    }

    /// Whether running the command twice has the same effect as once, so a
    /// transport-level retry cannot double anything. `sendtx` is not (a
    /// re-sent queued tx answers INVALID_SEQUENCE) and `createblock` is not.
    pub fn is_idempotent(&self) -> bool {
        !matches!(
            self,
            Command::SendTx(_) | Command::CreateBlock { .. } | Command::Raw(_)
        )
    }
}

/// Every error code this node version can send (PROTOCOL.md section 3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Malformed request or field.
    InvalidParams,
    /// JSON could not be parsed (or the line was too long).
    ParseError,
    /// BLS verification failed.
    InvalidSignature,
    /// Sequence number is not the expected one.
    InvalidSequence,
    /// Past `expiration_time`.
    TxExpired,
    /// Refused by admission policy (reserved keys, limits, tx_type ...).
    TxRejected,
    /// Structurally invalid (pubkey length, transfers, value types ...).
    TxInvalid,
    /// The node has no BLS support loaded.
    BlsUnavailable,
    /// `fee_limit` below the required fee.
    FeeLimitTooLow,
    /// The fee rule failed to evaluate.
    FeeRuleError,
    /// Balance cannot cover transfers plus fee.
    InsufficientFunds,
    /// Governance update already exists.
    DuplicateUpdate,
    /// User rule writes o5/o8 without scoping to i12/i3.
    UnscopedUserRule,
    /// Tau evaluation at admission timed out.
    AdmissionTimeout,
    /// Tau evaluation at admission unavailable.
    AdmissionUnavailable,
    /// Not this node's turn to mine.
    MiningNotEligible,
    /// Another mining round is running.
    MiningBusy,
    /// Nothing to put in a block.
    MempoolEmpty,
    /// Mempool at capacity.
    MempoolFull,
    /// No miner key configured.
    MiningConfigError,
    /// Mining failed.
    MiningFailed,
    /// Block not created (e.g. proposer not a validator).
    BlockNotCreated,
    /// Governance command failed.
    GovernanceError,
    /// Command not allowed for this client.
    Forbidden,
    /// Internal communication timed out.
    CommTimeout,
    /// Generic timeout.
    Timeout,
    /// Unknown command word.
    UnknownCommand,
    /// Per-connection rate limit hit; the command was dropped.
    RateLimited,
    /// Node-side bug.
    InternalError,
    /// A code this client does not know (newer node).
    Other(String),
}

impl ErrorCode {
    /// Parses the wire code.
    pub fn parse(code: &str) -> Self {
        use ErrorCode::*;
        match code {
            "INVALID_PARAMS" => InvalidParams,
            "PARSE_ERROR" => ParseError,
            "INVALID_SIGNATURE" => InvalidSignature,
            "INVALID_SEQUENCE" => InvalidSequence,
            "TX_EXPIRED" => TxExpired,
            "TX_REJECTED" => TxRejected,
            "TX_INVALID" => TxInvalid,
            "BLS_UNAVAILABLE" => BlsUnavailable,
            "FEE_LIMIT_TOO_LOW" => FeeLimitTooLow,
            "FEE_RULE_ERROR" => FeeRuleError,
            "INSUFFICIENT_FUNDS" => InsufficientFunds,
            "DUPLICATE_UPDATE" => DuplicateUpdate,
            "UNSCOPED_USER_RULE" => UnscopedUserRule,
            "ADMISSION_TIMEOUT" => AdmissionTimeout,
            "ADMISSION_UNAVAILABLE" => AdmissionUnavailable,
            "MINING_NOT_ELIGIBLE" => MiningNotEligible,
            "MINING_BUSY" => MiningBusy,
            "MEMPOOL_EMPTY" => MempoolEmpty,
            "MEMPOOL_FULL" => MempoolFull,
            "MINING_CONFIG_ERROR" => MiningConfigError,
            "MINING_FAILED" => MiningFailed,
            "BLOCK_NOT_CREATED" => BlockNotCreated,
            "GOVERNANCE_ERROR" => GovernanceError,
            "FORBIDDEN" => Forbidden,
            "COMM_TIMEOUT" => CommTimeout,
            "TIMEOUT" => Timeout,
            "UNKNOWN_COMMAND" => UnknownCommand,
            "RATE_LIMITED" => RateLimited,
            "INTERNAL_ERROR" => InternalError,
            other => Other(other.to_string()),
        }
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        use ErrorCode::*;
        match self {
            InvalidParams => "INVALID_PARAMS",
            ParseError => "PARSE_ERROR",
            InvalidSignature => "INVALID_SIGNATURE",
            InvalidSequence => "INVALID_SEQUENCE",
            TxExpired => "TX_EXPIRED",
            TxRejected => "TX_REJECTED",
            TxInvalid => "TX_INVALID",
            BlsUnavailable => "BLS_UNAVAILABLE",
            FeeLimitTooLow => "FEE_LIMIT_TOO_LOW",
            FeeRuleError => "FEE_RULE_ERROR",
            InsufficientFunds => "INSUFFICIENT_FUNDS",
            DuplicateUpdate => "DUPLICATE_UPDATE",
            UnscopedUserRule => "UNSCOPED_USER_RULE",
            AdmissionTimeout => "ADMISSION_TIMEOUT",
            AdmissionUnavailable => "ADMISSION_UNAVAILABLE",
            MiningNotEligible => "MINING_NOT_ELIGIBLE",
            MiningBusy => "MINING_BUSY",
            MempoolEmpty => "MEMPOOL_EMPTY",
            MempoolFull => "MEMPOOL_FULL",
            MiningConfigError => "MINING_CONFIG_ERROR",
            MiningFailed => "MINING_FAILED",
            BlockNotCreated => "BLOCK_NOT_CREATED",
            GovernanceError => "GOVERNANCE_ERROR",
            Forbidden => "FORBIDDEN",
            CommTimeout => "COMM_TIMEOUT",
            Timeout => "TIMEOUT",
            UnknownCommand => "UNKNOWN_COMMAND",
            RateLimited => "RATE_LIMITED",
            InternalError => "INTERNAL_ERROR",
            Other(s) => s,
        }
    }

    /// Whether waiting and sending the very same request again can succeed:
    /// the node was busy, limited or temporarily unable, and nothing about
    /// the request itself was wrong.
    pub fn is_transient(&self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            RateLimited
                | MempoolFull
                | AdmissionTimeout
                | AdmissionUnavailable
                | BlsUnavailable
                | CommTimeout
                | Timeout
                | MiningBusy
                | InternalError
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The machine-readable part of a rejection, typed where the node documents
/// its `details`.
#[derive(Debug, Clone, PartialEq)]
pub enum RejectionDetails {
    /// No details sent.
    None,
    /// INVALID_SEQUENCE: what the node expected and what it got.
    Sequence {
        /// Next sequence number the node accepts.
        expected: u64,
        /// Sequence number of the refused tx.
        received: u64,
    },
    /// TX_EXPIRED: expiry and the node's clock.
    Expired {
        /// The tx's `expiration_time`.
        expires_at: u64,
        /// Node time when it refused.
        current: u64,
    },
    /// INSUFFICIENT_FUNDS.
    Funds {
        /// Sender balance.
        balance: u128,
        /// Transfers plus estimated fee.
        required: u128,
    },
    /// FEE_LIMIT_TOO_LOW.
    Fee {
        /// Fee the node requires.
        required_fee: u64,
    },
    /// Reserved or mistyped custom stream.
    Stream {
        /// Stream number.
        stream: u64,
    },
    /// Any other `details` object, kept verbatim.
    Other(Map<String, Value>),
}

/// An error response from the node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRejection {
    /// Echoed command word (`rate_limit` for rate-limit drops).
    pub command: String,
    /// Error code.
    pub code: ErrorCode,
    /// Human-readable text; never branch on it.
    pub message: String,
    /// Typed details.
    pub details: RejectionDetails,
}

impl std::fmt::Display for NodeRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.command, self.message)
    }
}

/// A response that is not what the protocol promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed node response: {reason}: {line}")]
pub struct MalformedResponse {
    /// What is wrong.
    pub reason: String,
    /// The line (cut to 300 characters).
    pub line: String,
}

fn malformed(reason: impl Into<String>, line: &str) -> MalformedResponse {
    let mut cut: String = line.chars().take(300).collect();
    if cut.len() < line.len() {
        cut.push_str("...");
    }
    MalformedResponse {
        reason: reason.into(),
        line: cut,
    }
}

/// A parsed response line.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// `ok version=.. env=.. node=..`.
    HelloOk {
        /// Negotiated version.
        version: String,
        /// Node's TAU_ENV.
        env: String,
        /// Node implementation name.
        node: String,
    },
    /// `error unsupported_version expected=.. got=..`.
    HelloUnsupported {
        /// Versions the node speaks (`1|2`).
        expected: String,
        /// What was asked.
        got: String,
    },
    /// JSON success: the `data` object.
    Ok {
        /// Echoed command word.
        command: String,
        /// The `data` object.
        data: Map<String, Value>,
    },
    /// JSON error.
    Error(NodeRejection),
}

/// Parses one response line (terminator already stripped).
pub fn parse_response(line: &str) -> Result<Response, MalformedResponse> {
    if let Some(rest) = line.strip_prefix("ok ") {
        let kv = kv_pairs(rest);
        return Ok(Response::HelloOk {
            version: kv.get("version").cloned().unwrap_or_default(),
            env: kv.get("env").cloned().unwrap_or_default(),
            node: kv.get("node").cloned().unwrap_or_default(),
        });
    }
    if let Some(rest) = line.strip_prefix("error unsupported_version") {
        let kv = kv_pairs(rest);
        return Ok(Response::HelloUnsupported {
            expected: kv.get("expected").cloned().unwrap_or_default(),
            got: kv.get("got").cloned().unwrap_or_default(),
        });
    }
    #[derive(Deserialize)]
    struct Envelope {
        status: String,
        #[serde(default)]
        command: String,
        data: Option<Map<String, Value>>,
        error: Option<ErrorBody>,
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        code: String,
        #[serde(default)]
        message: String,
        details: Option<Map<String, Value>>,
    }
    let env: Envelope = serde_json::from_str(line)
        .map_err(|e| malformed(format!("not a JSON envelope ({e})"), line))?;
    match env.status.as_str() {
        "ok" => Ok(Response::Ok {
            command: env.command,
            data: env.data.ok_or_else(|| malformed("ok without data", line))?,
        }),
        "error" => {
            let body = env
                .error
                .ok_or_else(|| malformed("error without error object", line))?;
            let code = ErrorCode::parse(&body.code);
            let details = typed_details(&code, body.details);
            Ok(Response::Error(NodeRejection {
                command: env.command,
                code,
                message: body.message,
                details,
            }))
        }
        other => Err(malformed(format!("unknown status '{other}'"), line)),
    }
}

fn kv_pairs(s: &str) -> std::collections::BTreeMap<String, String> {
    s.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn typed_details(code: &ErrorCode, details: Option<Map<String, Value>>) -> RejectionDetails {
    let Some(d) = details else {
        return RejectionDetails::None;
    };
    let u = |k: &str| d.get(k).and_then(Value::as_u64);
    let big = |k: &str| match d.get(k) {
        Some(Value::Number(n)) => n.as_u64().map(u128::from),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let typed = match code {
        ErrorCode::InvalidSequence => u("expected")
            .zip(u("received"))
            .map(|(expected, received)| RejectionDetails::Sequence { expected, received }),
        ErrorCode::TxExpired => u("expires_at")
            .zip(u("current"))
            .map(|(expires_at, current)| RejectionDetails::Expired {
                expires_at,
                current,
            }),
        ErrorCode::InsufficientFunds => big("balance")
            .zip(big("required"))
            .map(|(balance, required)| RejectionDetails::Funds { balance, required }),
        ErrorCode::FeeLimitTooLow => {
            u("required_fee").map(|required_fee| RejectionDetails::Fee { required_fee })
        }
        _ => u("stream").map(|stream| RejectionDetails::Stream { stream }),
    };
    typed.unwrap_or(RejectionDetails::Other(d))
}

/// `sendtx` success.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SendTxAccepted {
    /// "Transaction queued." (text; informational).
    pub message: String,
    /// The node's tx hash.
    pub tx_hash: String,
}

/// `checktx` success (dry run).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckTxResult {
    /// Whether the tx would be admitted.
    pub admissible: bool,
    /// The node's tx hash.
    pub tx_hash: String,
    /// Transaction type.
    pub tx_type: String,
    /// Whether Tau rules were evaluated (never, in this node version).
    pub tau_evaluated: bool,
    /// Checks the dry run skipped.
    #[serde(default)]
    pub checks_skipped: Vec<String>,
}

/// Status of a transaction as `gettxstatus` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    /// In the mempool.
    Queued {
        /// Sequence number.
        sequence_number: u64,
        /// Node's fee estimate.
        estimated_fee: u64,
    },
    /// Included in a block.
    Confirmed {
        /// Block hash.
        block_hash: String,
        /// Block height.
        block_number: u64,
        /// Confirmations so far.
        confirmations: u64,
    },
    /// Dropped because invalid at block build.
    Rejected,
    /// Dropped from the mempool.
    Evicted,
    /// Expired before inclusion.
    Expired,
    /// Never seen (not an error).
    Unknown,
}

impl TxStatus {
    /// Parses `gettxstatus` data.
    pub fn from_data(data: &Map<String, Value>) -> Result<Self, String> {
        let status = data
            .get("status")
            .and_then(Value::as_str)
            .ok_or("missing status")?;
        let u = |k: &str| data.get(k).and_then(Value::as_u64);
        Ok(match status {
            "queued" => TxStatus::Queued {
                sequence_number: u("sequence_number").ok_or("queued without sequence_number")?,
                estimated_fee: u("estimated_fee").unwrap_or(0),
            },
            "confirmed" => TxStatus::Confirmed {
                block_hash: data
                    .get("block_hash")
                    .and_then(Value::as_str)
                    .ok_or("confirmed without block_hash")?
                    .to_string(),
                block_number: u("block_number").ok_or("confirmed without block_number")?,
                confirmations: u("confirmations").unwrap_or(0),
            },
            "rejected" => TxStatus::Rejected,
            "evicted" => TxStatus::Evicted,
            "expired" => TxStatus::Expired,
            "unknown" => TxStatus::Unknown,
            other => return Err(format!("unknown tx status '{other}'")),
        })
    }

    /// Whether the node holds the tx (queued or in a block).
    pub fn is_held(&self) -> bool {
        matches!(self, TxStatus::Queued { .. } | TxStatus::Confirmed { .. })
    }

    /// Whether the tx is gone for good without being included.
    pub fn is_dropped(&self) -> bool {
        matches!(
            self,
            TxStatus::Rejected | TxStatus::Evicted | TxStatus::Expired
        )
    }
}
