//! Cost of the per-transaction work the bridge does: encoding, signing,
//! hashing, verifying, and the rule pre-checks.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use ian_tau::canonical::to_canonical_string;
use ian_tau::keys::{self, TauKey};
use ian_tau::payload::IanTx;
use ian_tau::rules::{LogCommitInput, check_log_commit};
use ian_tau::tx::{FeeLimit, SignedTx, UnsignedTx};
use serde_json::Value;

fn commit_tx(key: &TauKey) -> UnsignedTx {
    UnsignedTx {
        sender_pubkey: key.public_hex().to_string(),
        sequence_number: 42,
        expiration_time: 1_900_000_000,
        fee_limit: FeeLimit::DecimalString(100),
        operations: IanTx::LogCommit {
            goal_id: "trading-v1".into(),
            size: 1_000_000,
            root: [7; 32],
            signature: vec![9; 64],
        }
        .to_operations()
        .unwrap(),
    }
}

fn benches(c: &mut Criterion) {
    let key = TauKey::from_seed("ian-tau-reference/alice").unwrap();
    let unsigned = commit_tx(&key);
    let signed = unsigned.sign(&key).unwrap();
    let value = Value::Object(signed.as_map().clone());
    c.bench_function("canonical_json_log_commit_tx", |b| {
        b.iter(|| to_canonical_string(black_box(&value)).unwrap())
    });
    c.bench_function("sign_log_commit_tx", |b| {
        b.iter(|| black_box(&unsigned).sign(&key).unwrap())
    });
    c.bench_function("hash_signed_tx", |b| {
        b.iter(|| SignedTx::from_map(black_box(signed.as_map().clone())).unwrap())
    });
    let digest = [3u8; 32];
    let sig = key.sign_hex(&digest);
    c.bench_function("bls_verify", |b| {
        b.iter(|| keys::verify(black_box(key.public_hex()), &digest, &sig))
    });
    let input = LogCommitInput {
        registered: 1,
        signature_ok: 1,
        consistent: 1,
        prev_size: 10,
        new_size: 20,
        prev_root: [1; 32],
        new_root: [2; 32],
    };
    c.bench_function("rule_check_log_commit", |b| {
        b.iter(|| check_log_commit(black_box(&input)))
    });
}

criterion_group!(tau, benches);
criterion_main!(tau);
