//! The client driven through every recorded flow against the replaying fake
//! node: each request line must be byte-identical to the recording (the
//! fake refuses anything else), and each recorded answer must come back as
//! the right typed result.

mod common;

use common::*;
use ian_tau::block::{BlockHeader, merkle_root};
use ian_tau::client::{SendOutcome, TauError};
use ian_tau::fake::ReplayNode;
use ian_tau::keys;
use ian_tau::protocol::{Command, ErrorCode, RejectionDetails, Response, TxStatus};
use ian_tau::tx::{self, FeeLimit, OperationsBuilder, SignedTx, UnsignedTx};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

fn rejection(r: Result<impl std::fmt::Debug, TauError>) -> ian_tau::protocol::NodeRejection {
    match r {
        Err(TauError::Rejected(rej)) => *rej,
        other => panic!("expected a node rejection, got {other:?}"),
    }
}

/// Checks every block of a `getblocks` answer: header hash, merkle root of
/// the tx ids, tx ids = hashes of the stored canonical txs, proposer
/// signature on non-genesis blocks. Returns the block hashes.
fn verify_blocks(data: &Map<String, Value>) -> Vec<String> {
    let mut hashes = Vec::new();
    for b in data["blocks"].as_array().unwrap() {
        let header: BlockHeader = serde_json::from_value(b["header"].clone()).unwrap();
        let hash = hex::encode(header.block_hash().unwrap());
        assert_eq!(
            hash,
            b["block_hash"].as_str().unwrap(),
            "block {}",
            header.block_number
        );
        let ids: Vec<String> = serde_json::from_value(b["tx_ids"].clone()).unwrap();
        for (tx, id) in b["transactions"].as_array().unwrap().iter().zip(&ids) {
            let stored = SignedTx::from_map(tx.as_object().unwrap().clone()).unwrap();
            assert_eq!(stored.tx_hash(), id);
            assert!(stored.verify_signature(), "stored tx {id} verifies");
        }
        if header.block_number > 0 {
            assert_eq!(hex::encode(merkle_root(&ids).unwrap()), header.merkle_root);
            let digest = Sha256::digest(header.canonical_bytes().unwrap());
            assert!(keys::verify(
                &header.proposer_pubkey,
                &digest,
                b["consensus_proof"].as_str().unwrap()
            ));
        }
        hashes.push(hash);
    }
    hashes
}

async fn handshake_and_basics(set: &str) {
    let t = transcript(&format!("{set}/01-handshake-and-basics.jsonl"));
    let node = ReplayNode::start(t.exchanges.clone()).await.unwrap();
    let c = client(&node);
    let a = alice();
    let hello = c.hello(1).await.unwrap();
    assert_eq!(
        (hello.version.as_str(), hello.node.as_str()),
        ("1", "tau-node")
    );
    assert_eq!(c.hello(2).await.unwrap().version, "2");
    match c.hello(3).await {
        Err(TauError::UnsupportedVersion { expected, got }) => {
            assert_eq!((expected.as_str(), got.as_str()), ("1|2", "3"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.request(&Command::Raw("hello version=".into()))
            .await
            .unwrap(),
        Response::HelloUnsupported {
            expected: "1|2".into(),
            got: String::new()
        }
    );
    let unknown = rejection(c.call(&Command::Raw("frobnicate".into())).await);
    assert_eq!(unknown.code, ErrorCode::UnknownCommand);
    let upper = c
        .call(&Command::Raw(format!("GETSEQUENCE {}", a.public_hex())))
        .await
        .unwrap();
    assert_eq!(upper["sequence_number"], 0);
    let usage = rejection(c.call(&Command::Raw("getsequence".into())).await);
    assert_eq!(usage.code, ErrorCode::InvalidParams);
    assert_eq!(c.get_sequence(a.public_hex()).await.unwrap(), 0);
    assert_eq!(c.get_balance(a.public_hex()).await.unwrap(), 1_000_000);
    assert_eq!(c.get_balance(bob().public_hex()).await.unwrap(), 100_000);
    assert_eq!(
        c.tx_status(&"0".repeat(64)).await.unwrap(),
        TxStatus::Unknown
    );
    assert_eq!(
        rejection(c.tx_status("abc").await).code,
        ErrorCode::InvalidParams
    );
    assert!(c.timestamp().await.unwrap().ends_with("+00:00"));
    assert_eq!(c.call(&Command::GetMempool).await.unwrap()["count"], 0);
    let blocks = c.call(&Command::GetBlocks).await.unwrap();
    assert_eq!(verify_blocks(&blocks).len(), 1);
    let cb = rejection(c.call(&Command::CreateBlock { allow_empty: false }).await);
    let expected_cb = if set == "emulated" {
        ErrorCode::MempoolEmpty
    } else {
        ErrorCode::MiningNotEligible
    };
    assert_eq!(cb.code, expected_cb);
    let arg = rejection(c.call(&Command::Raw("createblock now".into())).await);
    assert_eq!(arg.code, ErrorCode::InvalidParams);
    let accounts = c.call(&Command::GetAllAccounts).await.unwrap();
    assert_eq!(accounts["accounts"].as_array().unwrap().len(), 2);
    let state = c.call(&Command::GetTauState).await.unwrap();
    assert!(state["rules_state"].as_str().unwrap().contains("o0[t]"));
    let gov = c.call(&Command::GetGovernance).await.unwrap();
    assert_eq!(gov["eligibility_mode"], "validator_set");
    node.finish().unwrap();
}

#[tokio::test]
async fn handshake_and_basics_emulated() {
    handshake_and_basics("emulated").await;
}

#[tokio::test]
async fn handshake_and_basics_fallback() {
    handshake_and_basics("fallback").await;
}

async fn main_flow(set: &str) {
    let emulated = set == "emulated";
    let t = transcript(&format!("{set}/02-main-flow.jsonl"));
    let node = ReplayNode::start(t.exchanges.clone()).await.unwrap();
    let c = client(&node);
    let (a, b) = (alice(), bob());
    c.hello(1).await.unwrap();
    let mut s = sender(c.clone(), a.clone());
    // (a) custom data at the fetched sequence.
    assert_eq!(s.next_sequence().await.unwrap(), 0);
    let tx_a = s.sign(ops13()).await.unwrap();
    let out = s.send(&tx_a).await.unwrap();
    let hash_a = "7e6ec7f428e72687675fca15164101f9f7b6e7ffba5e2f2089aac40a6a75acef";
    assert_eq!(
        out,
        SendOutcome::Queued {
            tx_hash: hash_a.into()
        }
    );
    assert_eq!(s.tracked_sequence(), Some(1));
    assert!(matches!(
        c.tx_status(hash_a).await.unwrap(),
        TxStatus::Queued {
            sequence_number: 0,
            ..
        }
    ));
    assert_eq!(c.get_sequence(a.public_hex()).await.unwrap(), 1);
    // (b) transfer through the checked builder.
    let ops_b = OperationsBuilder::new()
        .transfers(a.public_hex(), &[(b.public_hex(), 1234)])
        .unwrap()
        .build();
    let tx_b = s.sign(ops_b).await.unwrap();
    assert_eq!(
        s.send(&tx_b).await.unwrap(),
        SendOutcome::Queued {
            tx_hash: "e6d2d6d0787b656d783b697526c343df177bbb7a73e645d9a9344b3081476843".into()
        }
    );
    // (c) signed with the wrong key; (c2) signature not a G2 point.
    let tx_c = tx::sign_map(tx_map(&a, 2, json!(ops13())), &b).unwrap();
    assert_eq!(
        tx_c.tx_hash(),
        "c4c4c59d3981e192b03e6aa033723f680b0535b2ad0e017a08572bf215799486"
    );
    assert!(!tx_c.verify_signature());
    assert_eq!(
        rejection(c.send_tx(&tx_c).await).code,
        ErrorCode::InvalidSignature
    );
    let mut m = tx_map(&a, 2, json!(ops13()));
    m.insert("signature".into(), json!(zero_sig()));
    let tx_c2 = SignedTx::from_map(m).unwrap();
    assert_eq!(
        rejection(c.send_tx(&tx_c2).await).code,
        ErrorCode::InvalidSignature
    );
    // (d) a gap: sequence 5 while the node expects 2. The sender follows
    // the node's number without a further request.
    let tx_d = tx::sign_map(tx_map(&a, 5, json!(ops13())), &a).unwrap();
    assert_eq!(
        s.send(&tx_d).await.unwrap(),
        SendOutcome::StaleSequence {
            expected: 2,
            received: 5
        }
    );
    assert_eq!(s.tracked_sequence(), Some(2));
    // (d2) exact re-send of (a): INVALID_SEQUENCE, typed.
    let d2 = rejection(c.send_tx(&tx_a).await);
    assert_eq!(d2.code, ErrorCode::InvalidSequence);
    assert_eq!(
        d2.details,
        RejectionDetails::Sequence {
            expected: 2,
            received: 0
        }
    );
    // (e) malformed payloads.
    let e1 = rejection(
        c.call(&Command::Raw(
            r#"sendtx '{"tx_type":"user_tx","sender_pubkey":'"#.into(),
        ))
        .await,
    );
    assert_eq!(e1.code, ErrorCode::ParseError);
    let e2 = rejection(c.call(&Command::Raw("sendtx '[1,2,3]'".into())).await);
    assert_eq!(e2.code, ErrorCode::InvalidParams);
    let e3 = rejection(c.call(&Command::Raw("sendtx".into())).await);
    assert_eq!(e3.code, ErrorCode::InvalidParams);
    // (f) expired.
    let tx_f = UnsignedTx {
        sender_pubkey: a.public_hex().into(),
        sequence_number: 2,
        expiration_time: 1_700_000_000,
        fee_limit: FeeLimit::DecimalString(10),
        operations: ops13(),
    }
    .sign(&a)
    .unwrap();
    let f = rejection(c.send_tx(&tx_f).await);
    assert_eq!(f.code, ErrorCode::TxExpired);
    assert!(matches!(
        f.details,
        RejectionDetails::Expired { expires_at: 1_700_000_000, current } if current > 1_700_000_000
    ));
    let mempool = c.call(&Command::GetMempool).await.unwrap();
    assert_eq!(mempool["count"], 2);
    let acct = c
        .call(&Command::GetAccountState(a.public_hex().into()))
        .await
        .unwrap();
    assert_eq!(acct["pending_outgoing"], "1234");
    // createblock and what follows differ between the two recordings.
    let cb = c.call(&Command::CreateBlock { allow_empty: false }).await;
    if emulated {
        let block = cb.unwrap();
        assert_eq!(block["block_number"], 1);
        let root = merkle_root(&[tx_a.tx_hash().into(), tx_b.tx_hash().into()]).unwrap();
        assert_eq!(block["merkle_root"], hex::encode(root));
        for h in [tx_a.tx_hash(), tx_b.tx_hash()] {
            assert!(matches!(
                c.tx_status(h).await.unwrap(),
                TxStatus::Confirmed {
                    block_number: 1,
                    confirmations: 1,
                    ..
                }
            ));
        }
    } else {
        assert_eq!(rejection(cb).code, ErrorCode::MiningNotEligible);
        for h in [tx_a.tx_hash(), tx_b.tx_hash()] {
            assert!(matches!(
                c.tx_status(h).await.unwrap(),
                TxStatus::Queued { .. }
            ));
        }
    }
    assert_eq!(
        c.tx_status(tx_c.tx_hash()).await.unwrap(),
        TxStatus::Unknown
    );
    assert_eq!(c.get_sequence(a.public_hex()).await.unwrap(), 2);
    let (bal_a, bal_b) = if emulated {
        (998_746, 101_234)
    } else {
        (1_000_000, 100_000)
    };
    assert_eq!(c.get_balance(a.public_hex()).await.unwrap(), bal_a);
    assert_eq!(c.get_balance(b.public_hex()).await.unwrap(), bal_b);
    let count = if emulated { 0 } else { 2 };
    assert_eq!(c.call(&Command::GetMempool).await.unwrap()["count"], count);
    let again = rejection(c.call(&Command::CreateBlock { allow_empty: false }).await);
    let code = if emulated {
        ErrorCode::MempoolEmpty
    } else {
        ErrorCode::MiningNotEligible
    };
    assert_eq!(again.code, code);
    // Dry run at sequence 2 does not consume it.
    let check = s.sign(ops13()).await.unwrap();
    let dry = c.check_tx(&check).await.unwrap();
    assert!(dry.admissible && !dry.tau_evaluated);
    assert_eq!(
        dry.tx_hash,
        "f573e4f73c226df43cded2ddd40c3cf27ee9d01b7b292e29e52ae029301fd0e3"
    );
    assert_eq!(c.get_sequence(a.public_hex()).await.unwrap(), 2);
    let blocks = c.call(&Command::GetBlocks).await.unwrap();
    assert_eq!(verify_blocks(&blocks).len(), if emulated { 2 } else { 1 });
    if emulated {
        let empty = c
            .call(&Command::CreateBlock { allow_empty: true })
            .await
            .unwrap();
        assert_eq!(empty["tx_count"], 0);
        assert_eq!(empty["merkle_root"], hex::encode(merkle_root(&[]).unwrap()));
        assert_eq!(c.get_sequence(a.public_hex()).await.unwrap(), 2);
    }
    node.finish().unwrap();
}

#[tokio::test]
async fn main_flow_emulated() {
    main_flow("emulated").await;
}

#[tokio::test]
async fn main_flow_fallback() {
    main_flow("fallback").await;
}

/// Bob's recorded edge-case transactions, rebuilt here field by field.
fn edge_case_txs() -> Vec<(SignedTx, &'static str)> {
    let (a, b) = (alice(), bob());
    let bob_signed = |m: Map<String, Value>| tx::sign_map(m, &b).unwrap();
    let with_zero_sig = |mut m: Map<String, Value>| {
        m.insert("signature".into(), json!(zero_sig()));
        SignedTx::from_map(m).unwrap()
    };
    let base = |ops: Value| tx_map(&b, 0, ops);
    let mut v = Vec::new();
    for k in ["2", "5", "7", "11", "12", "14", "15"] {
        v.push((bob_signed(base(json!({ k: ROOT }))), "reserved"));
    }
    let mut many = Map::new();
    for k in 13..=29 {
        many.insert(k.to_string(), json!("1"));
    }
    v.push((bob_signed(base(Value::Object(many))), "too many streams"));
    let mut m = base(json!(ops13()));
    m.remove("fee_limit");
    v.push((with_zero_sig(m), "missing fee_limit"));
    // The recording client signed this one as if `operations` were `{}`
    // and then left the field out (the node refuses it before verifying).
    let signed_empty = bob_signed(base(json!({})));
    let mut m = signed_empty.as_map().clone();
    m.remove("operations");
    v.push((SignedTx::from_map(m).unwrap(), "missing operations"));
    let mut m = base(json!(ops13()));
    m.remove("sequence_number");
    v.push((with_zero_sig(m), "missing sequence_number"));
    let mut m = base(json!(ops13()));
    m.remove("expiration_time");
    v.push((with_zero_sig(m), "missing expiration_time"));
    let mut m = base(json!(ops13()));
    m.remove("sender_pubkey");
    v.push((with_zero_sig(m), "missing sender_pubkey"));
    v.push((
        SignedTx::from_map(base(json!(ops13()))).unwrap(),
        "missing signature",
    ));
    let mut m = base(json!(ops13()));
    m.insert("sequence_number".into(), json!("0"));
    v.push((with_zero_sig(m), "sequence as string"));
    for fee in ["-1", "abc"] {
        let mut m = base(json!(ops13()));
        m.insert("fee_limit".into(), json!(fee));
        v.push((bob_signed(m), "bad fee_limit"));
    }
    let mut m = base(json!(ops13()));
    m.insert("tx_type".into(), json!("transfer"));
    v.push((bob_signed(m), "unknown tx_type"));
    let mut m = base(json!(ops13()));
    m.insert("update_id".into(), json!("0".repeat(64)));
    v.push((bob_signed(m), "governance field"));
    v.push((bob_signed(base(json!("x"))), "operations not an object"));
    let mut m = base(json!(ops13()));
    m.insert("sender_pubkey".into(), json!(&b.public_hex()[..94]));
    v.push((bob_signed(m), "short pubkey"));
    let tr = |from: &str, to: &str, amount: Value| json!({"1": [[from, to, amount]]});
    v.push((
        bob_signed(base(tr(a.public_hex(), b.public_hex(), json!("5")))),
        "from != sender",
    ));
    v.push((
        bob_signed(base(tr(b.public_hex(), a.public_hex(), json!("16777216")))),
        "amount > bv[24]",
    ));
    v.push((
        bob_signed(base(tr(b.public_hex(), a.public_hex(), json!("200000")))),
        "insufficient funds",
    ));
    v
}

async fn admission_edge_cases(set: &str) {
    let emulated = set == "emulated";
    let t = transcript(&format!("{set}/03-admission-edge-cases.jsonl"));
    let node = ReplayNode::start(t.exchanges.clone()).await.unwrap();
    let c = client(&node);
    let (a, b) = (alice(), bob());
    assert_eq!(c.get_sequence(b.public_hex()).await.unwrap(), 0);
    let mut rejections = Vec::new();
    for (tx, what) in edge_case_txs() {
        match c.send_tx(&tx).await {
            Err(TauError::Rejected(r)) => rejections.push((*r, what)),
            other => panic!("{what}: {other:?}; replay: {:?}", node.finish()),
        }
    }
    let codes: Vec<&str> = rejections.iter().map(|(r, _)| r.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "TX_INVALID",
            "TX_INVALID",
            "TX_REJECTED",
            "TX_REJECTED",
            "TX_REJECTED",
            "TX_REJECTED",
            "TX_REJECTED",
            "TX_REJECTED",
            "INVALID_PARAMS",
            "INVALID_PARAMS",
            "INVALID_PARAMS",
            "INVALID_PARAMS",
            "INVALID_PARAMS",
            "INVALID_PARAMS",
            "INVALID_PARAMS",
            "INVALID_PARAMS",
            "INVALID_PARAMS",
            "TX_REJECTED",
            "TX_REJECTED",
            "INVALID_PARAMS",
            "TX_INVALID",
            "TX_INVALID",
            "TX_INVALID",
            "INSUFFICIENT_FUNDS"
        ]
    );
    assert_eq!(
        rejections[0].0.details,
        RejectionDetails::Stream { stream: 2 }
    );
    assert_eq!(
        rejections[1].0.details,
        RejectionDetails::Stream { stream: 5 }
    );
    // The fallback node estimates a fee of 0; the emulated one 10.
    let (balance, required) = if emulated {
        (101_234, 200_010)
    } else {
        (100_000, 200_000)
    };
    assert_eq!(
        rejections[23].0.details,
        RejectionDetails::Funds { balance, required }
    );
    // A list value for a custom stream passes the dry run.
    let list = tx::sign_map(
        tx_map(&b, 0, json!({"13": [ROOT, format!("#x{ROOT}")]})),
        &b,
    )
    .unwrap();
    assert!(c.check_tx(&list).await.unwrap().admissible);
    let nested = tx::sign_map(tx_map(&b, 0, json!({"13": {"nested": 1}})), &b).unwrap();
    let r = rejection(c.send_tx(&nested).await);
    assert_eq!(
        (r.code, r.details),
        (
            ErrorCode::TxInvalid,
            RejectionDetails::Stream { stream: 13 }
        )
    );
    // Accepted quirks: a non-numeric key, integer fee_limit with '#x' on 17,
    // an integer amount, a recipient that is not a curve point, no operations.
    let mut s = sender(c.clone(), b.clone());
    let quirk = tx::sign_map(tx_map(&b, 0, json!({"ian_root": ROOT})), &b).unwrap();
    assert!(matches!(
        s.send(&quirk).await.unwrap(),
        SendOutcome::Queued { .. }
    ));
    let int_fee = UnsignedTx {
        sender_pubkey: b.public_hex().into(),
        sequence_number: 1,
        expiration_time: EXPIRES,
        fee_limit: FeeLimit::Integer(10),
        operations: OperationsBuilder::new()
            .custom_value(17, format!("#x{ROOT}"))
            .unwrap()
            .build(),
    }
    .sign(&b)
    .unwrap();
    assert!(matches!(
        s.send(&int_fee).await.unwrap(),
        SendOutcome::Queued { .. }
    ));
    let int_amount = tx::sign_map(
        tx_map(&b, 2, json!({"1": [[b.public_hex(), a.public_hex(), 5]]})),
        &b,
    )
    .unwrap();
    assert!(matches!(
        s.send(&int_amount).await.unwrap(),
        SendOutcome::Queued { .. }
    ));
    let bogus = "ab".repeat(48);
    assert_eq!(
        OperationsBuilder::new().transfers(b.public_hex(), &[(&bogus, 7)]),
        Err(tx::TxError::InvalidRecipient(bogus.clone())),
        "the checked builder refuses what the node would accept"
    );
    let to_bogus = tx::sign_map(
        tx_map(&b, 3, json!({"1": [[b.public_hex(), bogus, "7"]]})),
        &b,
    )
    .unwrap();
    assert!(matches!(
        s.send(&to_bogus).await.unwrap(),
        SendOutcome::Queued { .. }
    ));
    let empty = s.sign(OperationsBuilder::new().build()).await.unwrap();
    assert_eq!(empty.sequence_number(), Some(4));
    assert_eq!(
        s.send(&empty).await.unwrap(),
        SendOutcome::Queued {
            tx_hash: "ad00315c21154a6affa7da4b51c67f8e9518a1135db3715bd3f051f6a38ea682".into()
        }
    );
    assert_eq!(c.get_sequence(b.public_hex()).await.unwrap(), 5);
    let pool = c.call(&Command::GetMempool).await.unwrap();
    assert_eq!(pool["count"], if emulated { 5 } else { 7 });
    let cb = c.call(&Command::CreateBlock { allow_empty: false }).await;
    if emulated {
        let ids =
            [&quirk, &int_fee, &int_amount, &to_bogus, &empty].map(|t| t.tx_hash().to_string());
        assert_eq!(
            cb.unwrap()["merkle_root"],
            hex::encode(merkle_root(&ids).unwrap())
        );
    } else {
        assert_eq!(rejection(cb).code, ErrorCode::MiningNotEligible);
    }
    assert_eq!(c.get_sequence(b.public_hex()).await.unwrap(), 5);
    let bob_balance = if emulated { 101_172 } else { 100_000 };
    assert_eq!(c.get_balance(b.public_hex()).await.unwrap(), bob_balance);
    let bogus_balance = if emulated { 100_007 } else { 100_000 };
    assert_eq!(
        c.get_balance(&"ab".repeat(48)).await.unwrap(),
        bogus_balance
    );
    node.finish().unwrap();
}

#[tokio::test]
async fn admission_edge_cases_emulated() {
    admission_edge_cases("emulated").await;
}

#[tokio::test]
async fn admission_edge_cases_fallback() {
    admission_edge_cases("fallback").await;
}

async fn rate_limit(set: &str) {
    let t = transcript(&format!("{set}/04-rate-limit.jsonl"));
    let node = ReplayNode::start(t.exchanges.clone()).await.unwrap();
    let c = client(&node);
    let a = alice();
    let mut results = Vec::new();
    for _ in 0..14 {
        results.push(c.get_sequence(a.public_hex()).await);
    }
    for r in &results[..10] {
        assert!(r.is_ok(), "{r:?}");
    }
    for r in results.into_iter().skip(10) {
        let rej = rejection(r);
        assert_eq!(rej.code, ErrorCode::RateLimited);
        assert_eq!(rej.command, "rate_limit");
        assert!(rej.code.is_transient());
    }
    node.finish().unwrap();
}

#[tokio::test]
async fn rate_limit_emulated() {
    rate_limit("emulated").await;
}

#[tokio::test]
async fn rate_limit_fallback() {
    rate_limit("fallback").await;
}

#[tokio::test]
async fn post_state_confirms_the_edge_case_txs_and_blocks_verify() {
    let t = transcript("emulated/05-post-state.jsonl");
    let node = ReplayNode::start(t.exchanges.clone()).await.unwrap();
    let c = client(&node);
    let miner = "81db33470b96b3d2eb840cb7b618a2f593bb79eecaf40c7a930ddd92420873c86af93d3ae7483f8ea5a6975951d44dbb";
    assert_eq!(
        c.get_balance(miner).await.unwrap(),
        100_070,
        "7 txs x fee 10"
    );
    assert_eq!(c.get_balance(alice().public_hex()).await.unwrap(), 998_751);
    assert_eq!(c.get_balance(bob().public_hex()).await.unwrap(), 101_172);
    assert_eq!(c.get_balance(&"ab".repeat(48)).await.unwrap(), 100_007);
    let st = c
        .call(&Command::GetAccountState(bob().public_hex().into()))
        .await
        .unwrap();
    assert_eq!(st["pending_txs"], json!([]));
    for h in [
        "1a214b71cc9455306e1a38c146574976c7678a1ab3834a32ee7ec1797bbae324",
        "71964e0bb31da276cf5775aa678db5eb18294b738cc628dc627c96bd0ccaf926",
        "c0fadc86409654863210b9ed4b278c3ae533504a52846d8ecdee614d2dac6a5b",
        "617971a28e1e9009b9eee962dba7665302fa53d5ff690e5d80fb73a7f9bf0f26",
        "ad00315c21154a6affa7da4b51c67f8e9518a1135db3715bd3f051f6a38ea682",
    ] {
        assert!(matches!(
            c.tx_status(h).await.unwrap(),
            TxStatus::Confirmed {
                block_number: 3,
                ..
            }
        ));
    }
    c.call(&Command::GetAllAccounts).await.unwrap();
    assert_eq!(
        c.call(&Command::GetGovernance).await.unwrap()["head_number"],
        3
    );
    let hist = c
        .call(&Command::History(bob().public_hex().into()))
        .await
        .unwrap();
    assert_eq!(hist["transactions"], json!([]));
    let blocks = c.call(&Command::GetBlocks).await.unwrap();
    assert_eq!(verify_blocks(&blocks).len(), 4);
    node.finish().unwrap();
}

#[tokio::test]
async fn wire_probes_extra_field_and_omitted_tx_type_change_the_hash() {
    let t = transcript("emulated/07-wire-probes.jsonl");
    let node = ReplayNode::start(t.exchanges.clone()).await.unwrap();
    let c = client(&node);
    let a = alice();
    let base = tx::sign_map(tx_map(&a, 0, json!(ops13())), &a).unwrap();
    assert_eq!(c.check_tx(&base).await.unwrap().tx_hash, base.tx_hash());
    let mut memo = base.as_map().clone();
    memo.insert("memo".into(), json!("not covered by the signature"));
    let memo = SignedTx::from_map(memo).unwrap();
    assert!(memo.verify_signature(), "memo is not signed");
    assert_eq!(
        c.check_tx(&memo).await.unwrap().tx_hash,
        "77d54dc107df2f61a81c12440ef804abb2b89ecc5872d895d7cfb64d1e8215db"
    );
    let mut no_type = base.as_map().clone();
    no_type.remove("tx_type");
    let no_type = SignedTx::from_map(no_type).unwrap();
    assert!(
        no_type.verify_signature(),
        "tx_type defaults to user_tx when signing"
    );
    let limited = rejection(c.check_tx(&no_type).await);
    assert_eq!(limited.code, ErrorCode::RateLimited);
    assert_eq!(
        c.check_tx(&no_type).await.unwrap().tx_hash,
        "613e219b53ed502a2103e10f141104bbf50430088e656ba84068a4bb1cc56aeb"
    );
    // The node re-canonicalises non-canonical JSON: same hash as ours.
    let loose = format!(
        "sendtx {{\"tx_type\": \"user_tx\", \"sender_pubkey\": \"{}\", \"sequence_number\": 0, \"expiration_time\": 1900000000, \"fee_limit\": \"10\", \"operations\": {{\"13\": \"{ROOT}\"}}, \"signature\": \"{}\"}}",
        a.public_hex(),
        base.signature().unwrap()
    );
    let sent = c.call(&Command::Raw(loose)).await.unwrap();
    assert_eq!(sent["tx_hash"], base.tx_hash());
    let block = c
        .call(&Command::CreateBlock { allow_empty: false })
        .await
        .unwrap();
    assert_eq!(
        block["merkle_root"],
        base.tx_hash(),
        "one leaf is its own root"
    );
    assert!(matches!(
        c.tx_status(base.tx_hash()).await.unwrap(),
        TxStatus::Confirmed {
            block_number: 1,
            ..
        }
    ));
    verify_blocks(&c.call(&Command::GetBlocks).await.unwrap());
    node.finish().unwrap();
}

#[tokio::test]
async fn public_genesis_is_read_and_a_foreign_miner_cannot_seal() {
    let t = transcript("public-genesis/06-public-genesis-readonly.jsonl");
    let node = ReplayNode::start(t.exchanges.clone()).await.unwrap();
    let c = client(&node);
    let a = alice();
    c.hello(2).await.unwrap();
    let blocks = c.call(&Command::GetBlocks).await.unwrap();
    assert_eq!(
        verify_blocks(&blocks),
        ["2da3767f9c3be834919ccb1f7d6fd6f87655dd1e1e611dd17ff8cffa3585afec"],
        "tau-testnet-v2 genesis hash"
    );
    let gov = c.call(&Command::GetGovernance).await.unwrap();
    assert_eq!(gov["active_validator_count"], 1);
    c.call(&Command::GetTauState).await.unwrap();
    c.call(&Command::GetAllAccounts).await.unwrap();
    let funded = "f427fbf4cb8cc5ebcfc50add98ba574b94c03b1e32626e2e50cf60ba5e0a6d0c42d3ed702c2e0eeef7fae29bc4f3d2f9";
    assert_eq!(c.get_balance(funded).await.unwrap(), 1_000_000);
    assert_eq!(c.get_balance(a.public_hex()).await.unwrap(), 100_000);
    let mut s = sender(c.clone(), a.clone());
    assert_eq!(s.next_sequence().await.unwrap(), 0);
    let tx_a = s.sign(ops13()).await.unwrap();
    assert!(c.check_tx(&tx_a).await.unwrap().admissible);
    assert!(matches!(
        s.send(&tx_a).await.unwrap(),
        SendOutcome::Queued { .. }
    ));
    assert_eq!(
        c.tx_status(tx_a.tx_hash()).await.unwrap(),
        TxStatus::Queued {
            sequence_number: 0,
            estimated_fee: 0
        }
    );
    let cb = rejection(c.call(&Command::CreateBlock { allow_empty: false }).await);
    assert_eq!(cb.code, ErrorCode::BlockNotCreated);
    node.finish().unwrap();
}
