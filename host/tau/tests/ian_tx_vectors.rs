//! IAN's three transaction kinds, pinned: payload layout, signing payload,
//! digest, signature and hash (`tests/data/ian-tx-vectors.json`, also
//! listed in docs/TAU.md).

use ian_tau::keys::TauKey;
use ian_tau::payload::IanTx;
use ian_tau::tx::{self, FeeLimit, UnsignedTx};
use serde_json::Value;

#[test]
fn ian_transactions_match_the_pinned_vectors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ian-tx-vectors.json"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let alice = TauKey::from_seed("ian-tau-reference/alice").unwrap();
    let txs = [
        IanTx::GoalRegistration {
            goal_id: "trading-v1".into(),
            goal_hash: [0x11; 32],
        },
        IanTx::LogCommit {
            goal_id: "trading-v1".into(),
            size: 64,
            root: [0x22; 32],
            signature: vec![0x33; 64],
        },
        IanTx::PolicyUpgrade {
            goal_id: "trading-v1".into(),
            policy_hash: [0x44; 32],
            entry_index: 17,
        },
    ];
    let vectors = v["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for (seq, (ian, want)) in txs.iter().zip(vectors).enumerate() {
        assert_eq!(want["kind"], ian.kind_name());
        let unsigned = UnsignedTx {
            sender_pubkey: alice.public_hex().into(),
            sequence_number: seq as u64,
            expiration_time: 1_900_000_000,
            fee_limit: FeeLimit::DecimalString(100),
            operations: ian.to_operations().unwrap(),
        };
        assert_eq!(unsigned.signing_payload().unwrap(), want["signing_payload"]);
        let digest = tx::signing_digest(&unsigned.to_map().unwrap()).unwrap();
        assert_eq!(hex::encode(digest), want["message_sha256"]);
        let signed = unsigned.sign(&alice).unwrap();
        assert_eq!(signed.signature().unwrap(), want["signature"]);
        assert_eq!(signed.tx_hash(), want["tx_hash"]);
    }
}
