//! Recovery paths, driven by recorded exchanges spliced into new orders
//! (every line served is still a real recording), and the fake node's own
//! refusal of anything that differs from the recording.

mod common;

use common::*;
use ian_tau::client::{ClientConfig, RetryPolicy, SendOutcome, TauClient, TauError};
use ian_tau::fake::{ReplayError, ReplayNode};
use ian_tau::protocol::{Command, ErrorCode, TxStatus};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn lost_sendtx_reply_is_resolved_by_gettxstatus_not_by_blind_resend() {
    let t = transcript("emulated/02-main-flow.jsonl");
    // getsequence -> 0; sendtx (a) -> connection dropped (reply lost);
    // the same bytes again -> INVALID_SEQUENCE expected 2 got 0;
    // gettxstatus (a) -> queued.
    let script = vec![
        t.exchange(2),
        t.exchange(3).drop_connection(),
        t.exchange(10),
        t.exchange(4),
    ];
    assert_eq!(
        t.exchange(3).request,
        t.exchange(10).request,
        "(d2) is an exact re-send"
    );
    let node = ReplayNode::start(script).await.unwrap();
    let c = client(&node);
    let mut s = sender(c.clone(), alice());
    let tx_a = s.sign(ops13()).await.unwrap();
    let out = s.send(&tx_a).await.unwrap();
    assert!(
        matches!(
            &out,
            SendOutcome::AlreadyHeld { tx_hash, status: TxStatus::Queued { sequence_number: 0, .. } }
                if tx_hash == tx_a.tx_hash()
        ),
        "{out:?}"
    );
    assert_eq!(
        s.tracked_sequence(),
        Some(2),
        "follows the node's expected number"
    );
    assert_eq!(node.connections(), 2);
    node.finish().unwrap();
}

#[tokio::test]
async fn sequence_gap_is_reported_stale_with_the_expected_number() {
    let t = transcript("emulated/02-main-flow.jsonl");
    let node = ReplayNode::start(vec![t.exchange(9)]).await.unwrap();
    let c = client(&node);
    let a = alice();
    let mut s = sender(c, a.clone());
    let tx5 = ian_tau::tx::sign_map(tx_map(&a, 5, serde_json::json!(ops13())), &a).unwrap();
    assert_eq!(
        s.send(&tx5).await.unwrap(),
        SendOutcome::StaleSequence {
            expected: 2,
            received: 5
        }
    );
    assert_eq!(s.tracked_sequence(), Some(2));
    node.finish().unwrap();
}

#[tokio::test]
async fn idempotent_query_is_retried_after_a_dropped_connection() {
    let t = transcript("emulated/02-main-flow.jsonl");
    let node = ReplayNode::start(vec![t.exchange(2).drop_connection(), t.exchange(2)])
        .await
        .unwrap();
    let c = client(&node);
    assert_eq!(c.get_sequence(alice().public_hex()).await.unwrap(), 0);
    assert_eq!(node.connections(), 2);
    node.finish().unwrap();
}

#[tokio::test]
async fn createblock_is_not_retried_after_a_dropped_connection() {
    let t = transcript("emulated/02-main-flow.jsonl");
    let node = ReplayNode::start(vec![t.exchange(17).drop_connection()])
        .await
        .unwrap();
    let c = client(&node);
    let err = c
        .call(&Command::CreateBlock { allow_empty: false })
        .await
        .unwrap_err();
    assert!(matches!(err, TauError::ConnectionClosed), "{err:?}");
    node.finish().unwrap();
}

#[tokio::test]
async fn unreachable_node_exhausts_retries_with_a_typed_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    drop(listener);
    let mut cfg = ClientConfig::new(endpoint);
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };
    let c = TauClient::new(cfg);
    match c.get_sequence(alice().public_hex()).await {
        Err(TauError::RetriesExhausted { attempts: 3, last }) => {
            assert!(matches!(*last, TauError::Connect { .. }), "{last:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn node_reporting_another_tx_hash_is_an_error() {
    // Recorded answer for tx (a), sent for a different tx: the hash check
    // catches any encoding drift. (The fake refuses the differing line, so
    // splice the recorded answer under the request we actually send.)
    let t = transcript("emulated/02-main-flow.jsonl");
    let a = alice();
    let other =
        ian_tau::tx::sign_map(tx_map(&a, 0, serde_json::json!({"17": "#x00"})), &a).unwrap();
    let mut ex = t.exchange(3);
    ex.request = Command::SendTx(other.clone()).to_line();
    let node = ReplayNode::start(vec![ex]).await.unwrap();
    let c = client(&node);
    match c.send_tx(&other).await {
        Err(TauError::HashMismatch { computed, reported }) => {
            assert_eq!(computed, other.tx_hash());
            assert_eq!(
                reported,
                "7e6ec7f428e72687675fca15164101f9f7b6e7ffba5e2f2089aac40a6a75acef"
            );
        }
        r => panic!("{r:?}"),
    }
    node.finish().unwrap();
}

async fn raw_roundtrip(endpoint: &str, bytes: &[u8]) -> String {
    let stream = tokio::net::TcpStream::connect(endpoint).await.unwrap();
    let (r, mut w) = stream.into_split();
    w.write_all(bytes).await.unwrap();
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await.unwrap();
    line
}

#[tokio::test]
async fn fake_node_refuses_a_request_that_differs_from_the_recording() {
    let t = transcript("emulated/01-handshake-and-basics.jsonl");
    let node = ReplayNode::start(vec![t.exchange(1)]).await.unwrap();
    let answer = raw_roundtrip(&node.endpoint(), b"hello version=2\r\n").await;
    assert!(answer.contains("REPLAY_MISMATCH"), "{answer}");
    match node.finish() {
        Err(ReplayError::Mismatch {
            index: 0,
            expected,
            got,
        }) => {
            assert_eq!(expected, "hello version=1\r\n");
            assert_eq!(got, "hello version=2\r\n");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn fake_node_refuses_a_bare_newline_terminator() {
    let t = transcript("emulated/01-handshake-and-basics.jsonl");
    let node = ReplayNode::start(vec![t.exchange(1)]).await.unwrap();
    let answer = raw_roundtrip(&node.endpoint(), b"hello version=1\n").await;
    assert!(answer.contains("REPLAY_MISMATCH"), "{answer}");
    assert!(matches!(node.finish(), Err(ReplayError::Mismatch { .. })));
}

#[tokio::test]
async fn fake_node_reports_exchanges_never_requested() {
    let t = transcript("emulated/01-handshake-and-basics.jsonl");
    let node = ReplayNode::start(vec![t.exchange(1), t.exchange(2)])
        .await
        .unwrap();
    let answer = raw_roundtrip(&node.endpoint(), b"hello version=1\r\n").await;
    assert_eq!(answer, "ok version=1 env=development node=tau-node\r\n");
    assert!(matches!(
        node.finish(),
        Err(ReplayError::Unconsumed { remaining: 1, .. })
    ));
}

#[tokio::test]
async fn client_refuses_an_answer_for_another_command() {
    // The recorded getsequence answer served under a getbalance request.
    let t = transcript("emulated/01-handshake-and-basics.jsonl");
    let mut ex = t.exchange(8);
    ex.request = Command::GetBalance(alice().public_hex().into()).to_line();
    let node = ReplayNode::start(vec![ex]).await.unwrap();
    let c = client(&node);
    match c.get_balance(alice().public_hex()).await {
        Err(TauError::CommandMismatch { sent, echoed }) => {
            assert_eq!(
                (sent.as_str(), echoed.as_str()),
                ("getbalance", "getsequence")
            )
        }
        r => panic!("{r:?}"),
    }
    node.finish().unwrap();
}

#[test]
fn every_error_code_round_trips_and_only_busy_codes_are_transient() {
    let all = [
        "INVALID_PARAMS",
        "PARSE_ERROR",
        "INVALID_SIGNATURE",
        "INVALID_SEQUENCE",
        "TX_EXPIRED",
        "TX_REJECTED",
        "TX_INVALID",
        "BLS_UNAVAILABLE",
        "FEE_LIMIT_TOO_LOW",
        "FEE_RULE_ERROR",
        "INSUFFICIENT_FUNDS",
        "DUPLICATE_UPDATE",
        "UNSCOPED_USER_RULE",
        "ADMISSION_TIMEOUT",
        "ADMISSION_UNAVAILABLE",
        "MINING_NOT_ELIGIBLE",
        "MINING_BUSY",
        "MEMPOOL_EMPTY",
        "MEMPOOL_FULL",
        "MINING_CONFIG_ERROR",
        "MINING_FAILED",
        "BLOCK_NOT_CREATED",
        "GOVERNANCE_ERROR",
        "FORBIDDEN",
        "COMM_TIMEOUT",
        "TIMEOUT",
        "UNKNOWN_COMMAND",
        "RATE_LIMITED",
        "INTERNAL_ERROR",
    ];
    for code in all {
        let parsed = ErrorCode::parse(code);
        assert!(!matches!(parsed, ErrorCode::Other(_)), "{code} is known");
        assert_eq!(parsed.as_str(), code);
    }
    assert_eq!(
        ErrorCode::parse("NEW_CODE"),
        ErrorCode::Other("NEW_CODE".into())
    );
    let transient: Vec<&str> = all
        .iter()
        .copied()
        .filter(|c| ErrorCode::parse(c).is_transient())
        .collect();
    assert_eq!(
        transient,
        [
            "BLS_UNAVAILABLE",
            "ADMISSION_TIMEOUT",
            "ADMISSION_UNAVAILABLE",
            "MINING_BUSY",
            "MEMPOOL_FULL",
            "COMM_TIMEOUT",
            "TIMEOUT",
            "RATE_LIMITED",
            "INTERNAL_ERROR"
        ]
    );
}

#[tokio::test]
async fn status_polling_stops_at_confirmation() {
    // Recorded: (a) queued, later (a) confirmed in block 1.
    let t = transcript("emulated/02-main-flow.jsonl");
    let node = ReplayNode::start(vec![t.exchange(4), t.exchange(18)])
        .await
        .unwrap();
    let c = client(&node);
    let status = c
        .wait_for_status(
            "7e6ec7f428e72687675fca15164101f9f7b6e7ffba5e2f2089aac40a6a75acef",
            Duration::from_millis(1),
            10,
        )
        .await
        .unwrap();
    assert!(
        matches!(
            status,
            TxStatus::Confirmed {
                block_number: 1,
                ..
            }
        ),
        "{status:?}"
    );
    node.finish().unwrap();
}
